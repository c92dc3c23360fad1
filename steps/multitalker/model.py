"""Separator-transducer-segmenter: one streaming transducer, two output channels, turn tokens.

Layout (Sklyar et al.'s diagram): a shared lower encoder (any streaming encoder of the registry,
``encoder:`` + ``encoder_conf:`` as in a training YAML) -> a separator with one branch per channel
(``branch_layers`` residual LSTM layers each, *not* shared: this is where the talkers part ways)
-> a shared upper encoder (``upper_layers`` residual LSTM layers, the same weights for every
channel) -> the shared stateless predictor and joiner.  Every channel is decoded by the same
predictor/joiner; the channel identity lives only in its branch.

Training loss per channel: k2's simple + pruned transducer losses on that channel's targets
(``<sot> w... <eot>`` per turn, from :mod:`steps.multitalker.targets`), summed over channels,
plus a latency penalty on the turn tokens: an arc emitting a ``<sot>``/``<eot>`` at encoder frame
``t`` later than its reference frame ``r`` loses ``latency_weight * (t - r)`` nats
(:func:`turn_latency_penalty`).  Added to the pruned lattice before the recursion, it moves
probability mass to alignments that close and open turns on time, like k2's delay penalty but
only for turn tokens and measured against the reference boundary; weight 0 turns it off.

Streaming state = the lower encoder's state + one (h, c) per LSTM layer of each branch and of the
upper encoder per channel; ``stream`` and ``flush`` give exactly ``forward``'s frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from steps.nnet.encoders.lstm_stack import LstmState, NormLstmStack
from steps.nnet.encoders.registry import build_encoder
from steps.nnet.transducer import ModelConf, Transducer

from .targets import EOT_ID, SOT_ID


@dataclass
class SeparatorConf:
    """``model:`` block of a multi-talker training YAML."""

    encoder: str = "lstm"
    encoder_conf: dict[str, Any] = field(default_factory=dict)
    num_channels: int = 2
    branch_layers: int = 1
    upper_layers: int = 1
    dropout: float = 0.1
    predictor_dim: int = 320
    context_size: int = 2
    joiner_dim: int = 320

    def transducer_conf(self) -> ModelConf:
        return ModelConf(
            encoder=self.encoder,
            encoder_conf=self.encoder_conf,
            predictor_dim=self.predictor_dim,
            context_size=self.context_size,
            joiner_dim=self.joiner_dim,
        )


def turn_latency_penalty(
    symbols: Tensor, ref_frames: Tensor, num_frames: int, weight: float
) -> Tensor:
    """(B, S, T+1) additive px term: ``-weight * max(0, t - ref)`` on turn-token arcs, 0 elsewhere.

    ``symbols`` (B, S) are the padded targets and ``ref_frames`` (B, S) the reference encoder frame
    of each turn token (any value elsewhere; only ``<sot>``/``<eot>`` positions are read).
    """
    t = torch.arange(num_frames + 1, device=symbols.device).view(1, 1, -1)
    late = (t - ref_frames.unsqueeze(-1)).clamp(min=0).to(torch.float32)
    is_turn = ((symbols == SOT_ID) | (symbols == EOT_ID)).unsqueeze(-1)
    return torch.where(is_turn, -weight * late, torch.zeros_like(late))


class SeparatorTransducer(Transducer):
    """A :class:`Transducer` whose encoder output is split into ``num_channels`` streams."""

    def __init__(self, conf: SeparatorConf, vocab_size: int, num_features: int = 80) -> None:
        lower = build_encoder(conf.encoder, {"num_features": num_features, **conf.encoder_conf})
        super().__init__(lower, vocab_size, conf.transducer_conf())
        d = lower.output_dim
        self.sep_conf = conf
        self.branches = nn.ModuleList(
            NormLstmStack(d, conf.branch_layers, conf.dropout) for _ in range(conf.num_channels)
        )
        self.upper = NormLstmStack(d, conf.upper_layers, conf.dropout)

    @property
    def num_channels(self) -> int:
        return self.sep_conf.num_channels

    # ---- encoding ------------------------------------------------------------------------
    def _split(
        self, shared: Tensor, state: list[tuple[LstmState, LstmState]] | None = None
    ) -> tuple[list[Tensor], list[tuple[LstmState, LstmState]]]:
        outs, new_state = [], []
        for c, branch in enumerate(self.branches):
            b_state, u_state = (None, None) if state is None else state[c]
            h, b_state = branch(shared, b_state)
            h, u_state = self.upper(h, u_state)
            outs.append(h)
            new_state.append((b_state, u_state))
        return outs, new_state

    def encode_channels(self, x: Tensor, x_lens: Tensor) -> tuple[list[Tensor], Tensor]:
        """(B, T, F) features -> one (B, T', D) encoder output per channel and the lengths T'."""
        shared, lens = self.encoder(x, x_lens)
        outs, _ = self._split(shared)
        return outs, lens

    def init_channel_state(self, batch: int) -> dict[str, Any]:
        return {
            "lower": self.encoder.init_state(batch),
            "split": [(br.init_state(batch), self.upper.init_state(batch)) for br in self.branches],
        }

    def stream_channels(self, chunk: Tensor, state: dict[str, Any]) -> tuple[list[Tensor], dict[str, Any]]:
        """Streaming: a chunk of features -> the new encoder frames of every channel."""
        shared, state["lower"] = self.encoder.stream(chunk, state["lower"])
        if shared.size(1) == 0:
            return [shared for _ in self.branches], state
        outs, state["split"] = self._split(shared, state["split"])
        return outs, state

    def flush_channels(self, state: dict[str, Any]) -> list[Tensor]:
        shared = self.encoder.flush(state["lower"])
        if shared.size(1) == 0:
            return [shared for _ in self.branches]
        outs, state["split"] = self._split(shared, state["split"])
        return outs

    # ---- training ------------------------------------------------------------------------
    def forward(
        self, x: Tensor, x_lens: Tensor, ys: list, ref_frames: list | None = None, **kw: Any
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The trainer's entry point (so DDP sees the call): :meth:`multitalker_losses`."""
        return self.multitalker_losses(x, x_lens, ys, ref_frames, **kw)

    def multitalker_losses(
        self,
        x: Tensor,
        x_lens: Tensor,
        ys: list[list[list[int]]],
        ref_frames: list[list[list[int]]] | None = None,
        *,
        latency_weight: float = 0.0,
        prune_range: int = 5,
        am_scale: float = 0.0,
        lm_scale: float = 0.25,
        loss_backend: str = "auto",
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Simple and pruned losses summed over channels and utterances, and encoder lengths.

        ``ys[c][b]``: channel ``c``'s token ids for utterance ``b``; ``ref_frames[c][b]``: the
        reference encoder frame of each of those tokens (read at ``<sot>``/``<eot>`` only).
        """
        if len(ys) != self.num_channels:
            raise ValueError(f"expected targets for {self.num_channels} channels, got {len(ys)}")
        if latency_weight > 0 and ref_frames is None:
            raise ValueError("latency_weight > 0 needs the reference turn frames")
        encs, lens = self.encode_channels(x, x_lens)
        simple_sum = pruned_sum = x.new_zeros(())
        for c, enc in enumerate(encs):
            full = [b for b, y in enumerate(ys[c]) if y]
            empty = [b for b, y in enumerate(ys[c]) if not y]
            if empty:  # a silent channel: every frame must say blank (no lattice with S = 0)
                simple, pruned = self._blank_losses(enc[empty], lens[empty])
                simple_sum, pruned_sum = simple_sum + simple, pruned_sum + pruned
            if not full:
                continue
            idx = torch.tensor(full, device=enc.device)
            enc_c, lens_c, ys_c = enc[idx], lens[idx], [ys[c][b] for b in full]
            penalty = None
            if latency_weight > 0:
                refs_c = [ref_frames[c][b] for b in full]  # type: ignore[index]
                penalty = self._penalty(ys_c, refs_c, enc_c.size(1), latency_weight, enc.device)
            simple, pruned = self.losses(
                enc_c, lens_c, ys_c, prune_range, am_scale, lm_scale, loss_backend, px_penalty=penalty
            )
            simple_sum, pruned_sum = simple_sum + simple, pruned_sum + pruned
        return simple_sum, pruned_sum, lens

    def _blank_losses(self, enc: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        """Summed -log P(blank) over the valid frames of channels without any token: with the full
        joiner, exactly the transducer loss of an empty target (fast_rnnt refuses S = 0); with the
        simple projections (unsmoothed; with no symbol there is no alignment to find) for the simple one."""
        no_tokens = torch.zeros(enc.size(0), 0, dtype=torch.int64, device=enc.device)
        pred = self.predictor(self.predictor.prepend_context(no_tokens))[:, :1]  # (B, 1, P)
        valid = torch.arange(enc.size(1), device=enc.device).unsqueeze(0) < lens.unsqueeze(1)
        simple = (self.simple_am_proj(enc) + self.simple_lm_proj(pred)).float().log_softmax(-1)
        full = self.joiner(enc, pred).float().log_softmax(-1)
        return (
            -(simple[..., self.blank_id] * valid).sum(),
            -(full[..., self.blank_id] * valid).sum(),
        )

    @staticmethod
    def _penalty(
        ys: list[list[int]], refs: list[list[int]], num_frames: int, weight: float, device: torch.device
    ) -> Tensor:
        s_max = max(1, max(len(y) for y in ys))
        symbols = torch.zeros(len(ys), s_max, dtype=torch.int64, device=device)
        ref = torch.zeros(len(ys), s_max, dtype=torch.int64, device=device)
        for b, (y, r) in enumerate(zip(ys, refs, strict=True)):
            if len(r) != len(y):
                raise ValueError(f"utterance {b}: {len(y)} tokens but {len(r)} reference frames")
            if y:
                symbols[b, : len(y)] = torch.tensor(y, dtype=torch.int64)
                ref[b, : len(r)] = torch.tensor(r, dtype=torch.int64)
        return turn_latency_penalty(symbols, ref, num_frames, weight)


def token_ref_frames(tokens: list[int], sot_frames: list[int], eot_frames: list[int]) -> list[int]:
    """Per-token reference frame list for :meth:`SeparatorTransducer.multitalker_losses`: the
    turn frames at ``<sot>``/``<eot>`` positions (in order), -1 for word pieces."""
    if tokens.count(SOT_ID) != len(sot_frames) or tokens.count(EOT_ID) != len(eot_frames):
        raise ValueError("turn frames do not match the <sot>/<eot> tokens")
    out, si, ei = [], 0, 0
    for tok in tokens:
        if tok == SOT_ID:
            out.append(sot_frames[si])
            si += 1
        elif tok == EOT_ID:
            out.append(eot_frames[ei])
            ei += 1
        else:
            out.append(-1)
    return out
