"""The transducer: a registered encoder, a stateless predictor and a joiner, trained with k2's
recipe — a cheap "simple" loss on linear projections finds where the alignment lives, then the
full joiner is evaluated only inside those pruned ranges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from steps.rnnt import (
    do_rnnt_pruning,
    get_rnnt_prune_ranges,
    mutual_information_recursion,
    rnnt_loss_pruned,
    rnnt_loss_smoothed,
)
from steps.rnnt.logprobs import get_rnnt_logprobs_pruned

from .cohort_input import CohortInput
from .encoders.base import StreamingEncoder
from .encoders.registry import build_encoder
from .joiner import Joiner
from .predictor import StatelessPredictor


@dataclass
class ModelConf:
    """Architecture part of a training YAML (``encoder: lstm`` + ``encoder_conf: {...}``)."""

    encoder: str = "lstm"
    encoder_conf: dict[str, Any] = field(default_factory=dict)
    predictor_dim: int = 320
    context_size: int = 2
    joiner_dim: int = 320
    ctc_head: bool = False  # a linear CTC head on the encoder (an auxiliary loss; see TrainConf.ctc_scale)
    cohorts: int = 0  # > 0: the utterance's cohort (1..cohorts, 0 = unknown) is an input (cohort_input.py)
    cohort_dim: int = 2  # size of the learned cohort embedding (the paper's: 2)


class Transducer(nn.Module):
    def __init__(
        self,
        encoder: StreamingEncoder,
        vocab_size: int,
        conf: ModelConf,
        blank_id: int = 0,
        num_features: int = 80,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.cohort = CohortInput(conf.cohorts, conf.cohort_dim, num_features) if conf.cohorts > 0 else None
        self.predictor = StatelessPredictor(vocab_size, conf.predictor_dim, blank_id, conf.context_size)
        self.joiner = Joiner(encoder.output_dim, conf.predictor_dim, conf.joiner_dim, vocab_size)
        self.simple_am_proj = nn.Linear(encoder.output_dim, vocab_size)
        self.simple_lm_proj = nn.Linear(conf.predictor_dim, vocab_size)
        self.blank_id = blank_id
        self.vocab_size = vocab_size
        self.ctc_proj = nn.Linear(encoder.output_dim, vocab_size) if conf.ctc_head else None

    @classmethod
    def from_conf(cls, conf: ModelConf, vocab_size: int, num_features: int = 80) -> Transducer:
        enc_conf = {"num_features": num_features, **conf.encoder_conf}
        return cls(build_encoder(conf.encoder, enc_conf), vocab_size, conf, num_features=num_features)

    def forward(
        self,
        x: Tensor,
        x_lens: Tensor,
        y: list[list[int]],
        prune_range: int = 5,
        am_scale: float = 0.0,
        lm_scale: float = 0.25,
        loss_backend: str = "auto",
        with_ctc: bool = False,
    ) -> tuple[Tensor, ...]:
        """Summed simple and pruned losses over the batch, the encoder output lengths and, with
        ``with_ctc``, the summed CTC loss of the auxiliary head."""
        enc, enc_lens = self.encoder(x, x_lens)
        out = (*self.losses(enc, enc_lens, y, prune_range, am_scale, lm_scale, loss_backend), enc_lens)
        return (*out, self.ctc_loss(enc, enc_lens, y)) if with_ctc else out

    def ctc_loss(self, enc: Tensor, enc_lens: Tensor, y: list[list[int]]) -> Tensor:
        """CTC on the encoder frames: a direct, alignment-free signal that gets the encoder to
        listen early in training, before the transducer's joiner has learned to use it."""
        if self.ctc_proj is None:
            raise RuntimeError("this model has no CTC head (model.ctc_head: false)")
        log_probs = self.ctc_proj(enc).float().log_softmax(-1).transpose(0, 1)  # (T, B, V)
        targets = torch.tensor([t for seq in y for t in seq], dtype=torch.int64, device=enc.device)
        y_lens = torch.tensor([len(seq) for seq in y], dtype=torch.int64, device=enc.device)
        return nn.functional.ctc_loss(
            log_probs, targets, enc_lens, y_lens, blank=self.blank_id, reduction="sum", zero_infinity=True
        )

    def losses(
        self,
        enc: Tensor,
        enc_lens: Tensor,
        y: list[list[int]],
        prune_range: int = 5,
        am_scale: float = 0.0,
        lm_scale: float = 0.25,
        loss_backend: str = "auto",
        px_penalty: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Summed simple and pruned losses.  ``px_penalty`` (B, S, T+1), if given, is added to the
        pruned lattice's symbol arcs before the recursion (e.g. a latency penalty on turn tokens)."""
        # the lattice sums underflow in half precision: the loss runs in fp32 under autocast too
        with torch.autocast(enc.device.type, enabled=False):
            args = (prune_range, am_scale, lm_scale, loss_backend, px_penalty)
            half = enc.dtype in (torch.float16, torch.bfloat16)
            return self._losses(enc.float() if half else enc, enc_lens, y, *args)

    def _losses(
        self,
        enc: Tensor,
        enc_lens: Tensor,
        y: list[list[int]],
        prune_range: int,
        am_scale: float,
        lm_scale: float,
        loss_backend: str,
        px_penalty: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        device = enc.device
        y_lens = torch.tensor([len(t) for t in y], device=device, dtype=torch.int64)
        s_max = max(1, int(y_lens.max()))
        symbols = torch.full((len(y), s_max), self.blank_id, dtype=torch.int64, device=device)
        for i, t in enumerate(y):
            symbols[i, : len(t)] = torch.tensor(t, dtype=torch.int64)
        pred = self.predictor(self.predictor.prepend_context(symbols))  # (B, S+1, D)
        boundary = torch.zeros(len(y), 4, dtype=torch.int64, device=device)
        boundary[:, 2] = y_lens
        boundary[:, 3] = enc_lens
        lm = self.simple_lm_proj(pred)
        am = self.simple_am_proj(enc)
        simple, (px_grad, py_grad) = rnnt_loss_smoothed(
            lm=lm.float(),
            am=am.float(),
            symbols=symbols,
            termination_symbol=self.blank_id,
            lm_only_scale=lm_scale,
            am_only_scale=am_scale,
            boundary=boundary,
            reduction="sum",
            return_grad=True,
            backend=loss_backend,
        )
        ranges = get_rnnt_prune_ranges(
            px_grad=px_grad,
            py_grad=py_grad,
            boundary=boundary,
            s_range=prune_range,
            backend=loss_backend,
        )
        am_p, lm_p = do_rnnt_pruning(
            am=self.joiner.enc_proj(enc),
            lm=self.joiner.pred_proj(pred),
            ranges=ranges,
            backend=loss_backend,
        )
        logits = self.joiner(am_p, lm_p, projected=True)
        if px_penalty is not None:
            px, py = get_rnnt_logprobs_pruned(logits.float(), symbols, ranges, self.blank_id, boundary)
            if px_penalty.shape != px.shape:
                want, got = tuple(px.shape), tuple(px_penalty.shape)
                raise ValueError(f"px_penalty must be {want} (B, S, T+1), got {got}")
            px = px + px_penalty.to(px)
            scores = mutual_information_recursion(px, py, boundary, backend=loss_backend)
            return simple, -scores.sum()
        pruned = rnnt_loss_pruned(
            logits=logits.float(),
            symbols=symbols,
            ranges=ranges,
            termination_symbol=self.blank_id,
            boundary=boundary,
            reduction="sum",
            backend=loss_backend,
        )
        return simple, pruned
