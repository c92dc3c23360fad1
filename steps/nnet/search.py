"""Transducer search over encoder frames: greedy and modified beam search, resumable by chunk.

Both searches are frame-synchronous: ``advance`` consumes any number of new encoder frames per
stream and keeps everything it needs (hypotheses, the predictor context and its cached output)
in a per-stream state.  Feeding the frames of an utterance in one call (offline) or chunk by
chunk (streaming) therefore gives exactly the same result.

The predictor is stateless (:class:`~steps.nnet.predictor.StatelessPredictor`): its "state" is
the last ``context_size`` tokens, so a hypothesis is just its token sequence.  Sequences start
with ``context_size`` blanks, as in training (``prepend_context``).

Decoding-time options: ``blank_penalty`` (both searches) subtracts a constant from the blank
logit before the softmax (a diagnostic for recognisers that delete too much); ``token_bonus``
(both searches) adds a constant to the logits of chosen tokens (the multi-talker decoder's
``<sot>``/``<eot>``, tuned on dev); ``lm``
(:class:`~steps.lm.fusion.LmFusion`, modified beam search only) is shallow fusion of a token
n-gram LM with optional LODR: each hypothesis carries its LM state and every non-blank token adds
``lm_scale * log P_lm - lodr_scale * log P_lodr`` to the score it is ranked by.  With both at 0
(or no LM) the searches are exactly the plain ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import Tensor

from steps.utils import FairstreamError

from .transducer import Transducer

if TYPE_CHECKING:
    from steps.lm.fusion import LmFusion

METHODS = ("greedy", "modified_beam")


@dataclass
class Hyp:
    """One hypothesis: tokens (after the blank context), log-probability, emission frames.

    With LM fusion ``score`` is the ranking score, the transducer's log-probability plus
    ``lm_score`` (the fusion terms of its tokens); ``lm`` is its LM state.
    """

    ys: list[int]
    score: float = 0.0
    frames: list[int] = field(default_factory=list)  # encoder frame at which each token came out
    pred: Tensor | None = None  # projected predictor output for the last ``context_size`` tokens
    lm: Any = None  # LM fusion state (None without an LM)
    lm_score: float = 0.0  # sum of the LM fusion terms included in ``score``

    def tokens(self, context_size: int) -> list[int]:
        return self.ys[context_size:]


@dataclass
class StreamState:
    """Search state of one utterance, carried from chunk to chunk."""

    hyps: list[Hyp]
    num_frames: int = 0  # encoder frames consumed so far (to time-stamp tokens)


class Scorer:
    """The three joiner/predictor calls a search needs, on projected (N, J) activations.

    Projecting encoder frames once per chunk and predictor outputs once per new context is what
    makes the per-frame loop cheap: each step is then one ``tanh`` and one output layer.
    """

    def __init__(self, model: Transducer) -> None:
        self.model = model
        self.blank_id = model.blank_id
        self.context_size = model.predictor.context_size
        self.device = next(model.parameters()).device

    def project_encoder(self, enc: Tensor) -> Tensor:
        return self.model.joiner.enc_proj(enc)

    def predict(self, contexts: Tensor) -> Tensor:
        """(N, context_size) token ids -> (N, J) projected predictor outputs."""
        out = self.model.predictor(contexts)  # (N, 1, D)
        return self.model.joiner.pred_proj(out[:, -1])

    def logits(self, enc_p: Tensor, pred_p: Tensor) -> Tensor:
        return self.model.joiner(enc_p, pred_p, projected=True)

    def fill_pred(self, hyps: Sequence[Hyp]) -> None:
        """Compute the cached predictor output of every hypothesis that lacks one, in one batch."""
        todo = [h for h in hyps if h.pred is None]
        if not todo:
            return
        ctx = torch.tensor([h.ys[-self.context_size :] for h in todo], dtype=torch.int64, device=self.device)
        out = self.predict(ctx)
        for h, p in zip(todo, out, strict=True):
            h.pred = p


class Search(Protocol):
    """What the streaming driver needs from a search method."""

    context_size: int

    def init(self, batch: int) -> list[StreamState]: ...

    def advance(self, enc: Tensor, num_frames: Sequence[int], states: list[StreamState]) -> None: ...

    def best(self, state: StreamState) -> Hyp: ...


class _Base:
    def __init__(
        self,
        model: Transducer | Scorer,
        blank_penalty: float = 0.0,
        token_bonus: Mapping[int, float] | None = None,
    ) -> None:
        # a Scorer instead of a model: the same search over other graph calls (steps.deploy.runtime)
        self.scorer = model if isinstance(model, Scorer) else Scorer(model)
        self.blank_id = self.scorer.blank_id
        self.context_size = self.scorer.context_size
        self.blank_penalty = float(blank_penalty)
        self.token_bonus = {int(k): float(v) for k, v in (token_bonus or {}).items() if v}

    def log_probs(self, enc_p: Tensor, pred_p: Tensor) -> Tensor:
        """Joiner log-softmax, with ``blank_penalty`` subtracted from the blank logit and each
        ``token_bonus`` added to its token's logit first."""
        logits = self.scorer.logits(enc_p, pred_p)
        if self.blank_penalty or self.token_bonus:
            logits = logits.clone()
            logits[:, self.blank_id] -= self.blank_penalty
            for tok, bonus in self.token_bonus.items():
                logits[:, tok] += bonus
        return logits.log_softmax(dim=-1)

    def init(self, batch: int) -> list[StreamState]:
        return [StreamState([Hyp([self.blank_id] * self.context_size)]) for _ in range(batch)]

    def best(self, state: StreamState) -> Hyp:
        return max(state.hyps, key=lambda h: h.score)


class GreedySearch(_Base):
    """Most likely token per step, up to ``max_sym_per_frame`` tokens on one frame.

    A frame is left when blank wins or after ``max_sym_per_frame`` tokens (without consuming a
    blank), which bounds the work on frames where an untrained model never predicts blank.
    """

    def __init__(
        self,
        model: Transducer | Scorer,
        max_sym_per_frame: int = 3,
        blank_penalty: float = 0.0,
        token_bonus: Mapping[int, float] | None = None,
    ) -> None:
        super().__init__(model, blank_penalty, token_bonus)
        if max_sym_per_frame < 1:
            raise FairstreamError(f"max_sym_per_frame must be >= 1, got {max_sym_per_frame}")
        self.max_sym = max_sym_per_frame

    def advance(self, enc: Tensor, num_frames: Sequence[int], states: list[StreamState]) -> None:
        """Consume frames ``enc[b, :num_frames[b]]`` of each stream ``b`` (batched over streams)."""
        enc_p = self.scorer.project_encoder(enc)
        hyps = [s.hyps[0] for s in states]
        self.scorer.fill_pred(hyps)
        for t in range(max(num_frames, default=0)):
            rows = [b for b, n in enumerate(num_frames) if n > t]
            for _ in range(self.max_sym):
                if not rows:
                    break
                logp = self.log_probs(enc_p[rows, t], torch.stack([hyps[b].pred for b in rows]))
                best_lp, best = logp.max(dim=-1)
                emitted = []
                for b, tok, lp in zip(rows, best.tolist(), best_lp.tolist(), strict=True):
                    h = hyps[b]
                    h.score += lp
                    if tok != self.blank_id:
                        h.ys.append(tok)
                        h.frames.append(states[b].num_frames + t)
                        h.pred = None
                        emitted.append(b)
                self.scorer.fill_pred([hyps[b] for b in emitted])
                rows = emitted
        for s, n in zip(states, num_frames, strict=True):
            s.num_frames += n


class ModifiedBeamSearch(_Base):
    """Beam search with at most one token per frame (icefall's "modified beam search").

    Per frame every hypothesis is extended by blank (same tokens) or by one token.  Extensions
    that end in the same token sequence are merged by log-add *before* pruning, so the beam
    always holds ``beam`` distinct sequences and, with a beam wider than the number of
    sequences, the scores are the exact log-probabilities of the sequences (tests check this
    against brute force).  Only a blank extension of ``A+[v]`` and the ``v`` extension of ``A``
    can collide, which makes the merge a dictionary look-up per hypothesis.

    With ``lm`` (an active :class:`~steps.lm.fusion.LmFusion`) the candidates are ranked by
    transducer + fusion score; merged alignments share one token sequence and so one LM score,
    which keeps the merge exact.  ``best`` then adds the fusion's end-of-sentence term.

    ``symbols_per_frame`` K > 1 lets a hypothesis emit up to K tokens on one frame (needed when
    frames are long, e.g. x8 subsampling with 100 BPE pieces: about 0.6 tokens per 80-ms frame
    on average, more in bursts): a token emitted at sub-step k < K keeps the hypothesis on the
    frame, where it may emit again or leave with blank; the K-th token leaves the frame, as the
    single token does for K = 1.  Hypotheses leaving the frame with the same tokens are merged
    by log-add; each sub-step keeps the ``beam`` best token extensions per stream.
    """

    def __init__(
        self,
        model: Transducer | Scorer,
        beam: int = 4,
        lm: LmFusion | None = None,
        blank_penalty: float = 0.0,
        symbols_per_frame: int = 1,
        token_bonus: Mapping[int, float] | None = None,
    ) -> None:
        super().__init__(model, blank_penalty, token_bonus)
        if beam < 1:
            raise FairstreamError(f"beam must be >= 1, got {beam}")
        if symbols_per_frame < 1:
            raise FairstreamError(f"symbols_per_frame must be >= 1, got {symbols_per_frame}")
        self.beam = beam
        self.symbols_per_frame = symbols_per_frame
        self.lm = lm if lm is not None and lm.active else None
        if self.lm is not None:
            vocab = getattr(model, "vocab_size", None)
            if vocab is not None and vocab != self.lm.vocab_size:
                raise FairstreamError(f"the LM has {self.lm.vocab_size} tokens, the transducer {vocab}")

    def init(self, batch: int) -> list[StreamState]:
        if self.lm is None:
            return super().init(batch)
        lm0 = self.lm.init_state()
        return [StreamState([Hyp([self.blank_id] * self.context_size, lm=lm0)]) for _ in range(batch)]

    def best(self, state: StreamState) -> Hyp:
        if self.lm is None:
            return super().best(state)
        lm = self.lm
        return max(state.hyps, key=lambda h: h.score + lm.final(h.lm))

    def advance(self, enc: Tensor, num_frames: Sequence[int], states: list[StreamState]) -> None:
        enc_p = self.scorer.project_encoder(enc)
        self.scorer.fill_pred([h for s in states for h in s.hyps])
        for t in range(max(num_frames, default=0)):
            active = [b for b, n in enumerate(num_frames) if n > t]
            if active and self.symbols_per_frame == 1:
                self._step(enc_p, t, [states[b] for b in active], active)
            elif active:
                self._step_multi(enc_p, t, [states[b] for b in active], active)
        for s, n in zip(states, num_frames, strict=True):
            s.num_frames += n

    def _step_multi(self, enc_p: Tensor, t: int, states: list[StreamState], rows: list[int]) -> None:
        """One frame with up to ``symbols_per_frame`` tokens per hypothesis (see the class doc)."""
        left: list[dict[tuple[int, ...], Hyp]] = [{} for _ in states]  # hypotheses leaving the frame
        active = [list(s.hyps) for s in states]
        for k in range(self.symbols_per_frame):
            last = k == self.symbols_per_frame - 1
            live = [i for i, hs in enumerate(active) if hs]
            if not live:
                break
            flat = [h for i in live for h in active[i]]
            self.scorer.fill_pred(flat)
            owner = torch.tensor([rows[i] for i in live for _ in active[i]])
            logp = self.log_probs(enc_p[owner, t], torch.stack([h.pred for h in flat])).double().cpu()
            bonus = torch.stack([self.lm.bonus(h.lm) for h in flat]) if self.lm is not None else None
            pos = 0
            nxt: list[list[Hyp]] = [[] for _ in states]
            for i in live:
                hs = active[i]
                block = logp[pos : pos + len(hs)]
                extra = bonus[pos : pos + len(hs)] if bonus is not None else None
                pos += len(hs)
                for j, h in enumerate(hs):  # blank: the hypothesis leaves the frame as it is
                    _merge_into(left[i], Hyp(h.ys, h.score + float(block[j, self.blank_id]), h.frames,
                                             h.pred, h.lm, h.lm_score))  # fmt: skip
                cand = block + torch.tensor([h.score for h in hs], dtype=torch.float64)[:, None]
                if extra is not None:
                    cand = cand + extra
                cand[:, self.blank_id] = -math.inf
                top_scores, top_idx = cand.reshape(-1).topk(min(self.beam, cand.numel()))
                frame = states[i].num_frames + t
                for score, idx in zip(top_scores.tolist(), top_idx.tolist(), strict=True):
                    if score == -math.inf:
                        break
                    h, tok = hs[idx // cand.size(1)], idx % cand.size(1)
                    lm_state, lm_score = h.lm, h.lm_score
                    if extra is not None and self.lm is not None:
                        lm_score += float(extra[idx // cand.size(1), tok])
                        lm_state = self.lm.advance(h.lm, tok)
                    new = Hyp([*h.ys, tok], score, [*h.frames, frame], None, lm_state, lm_score)
                    if last:
                        _merge_into(left[i], new)  # the K-th token leaves the frame
                    else:
                        nxt[i].append(new)
            active = nxt
        for s, pool in zip(states, left, strict=True):
            s.hyps = sorted(pool.values(), key=lambda h: h.score, reverse=True)[: self.beam]
        self.scorer.fill_pred([h for s in states for h in s.hyps])

    def _step(self, enc_p: Tensor, t: int, states: list[StreamState], rows: list[int]) -> None:
        flat = [h for s in states for h in s.hyps]
        owner = torch.tensor([i for i, s in enumerate(states) for _ in s.hyps])
        logp = self.log_probs(enc_p[torch.tensor(rows)[owner], t], torch.stack([h.pred for h in flat]))
        logp = logp.double().cpu()  # (H, V); the beam's bookkeeping stays on the CPU
        vocab = logp.size(1)
        cand = logp + torch.tensor([h.score for h in flat], dtype=torch.float64)[:, None]
        bonus = None
        if self.lm is not None:
            bonus = torch.stack([self.lm.bonus(h.lm) for h in flat])  # (H, V), 0 for blank
            if bonus.size(1) != vocab:
                raise FairstreamError(f"the LM has {bonus.size(1)} tokens, the transducer {vocab}")
            cand = cand + bonus
        # merge "A+[v] then blank" with "A then v": log-add into the blank entry, drop the other
        offset = 0
        for s in states:
            index = {tuple(h.ys): offset + i for i, h in enumerate(s.hyps)}
            for i, h in enumerate(s.hyps):
                if len(h.ys) > self.context_size:
                    parent = index.get(tuple(h.ys[:-1]))
                    if parent is not None:
                        v = h.ys[-1]
                        cand[offset + i, self.blank_id] = torch.logaddexp(
                            cand[offset + i, self.blank_id], cand[parent, v]
                        )
                        cand[parent, v] = -math.inf
            offset += len(s.hyps)
        # per stream: top ``beam`` of its (hyps x vocab) candidates, batched with -inf padding
        width = max(len(s.hyps) for s in states) * vocab
        padded = torch.full((len(states), width), -math.inf, dtype=torch.float64)
        offset = 0
        for i, s in enumerate(states):
            n = len(s.hyps) * vocab
            padded[i, :n] = cand[offset : offset + len(s.hyps)].reshape(-1)
            offset += len(s.hyps)
        k = min(self.beam, width)
        top_scores, top_idx = padded.topk(k, dim=1)
        offsets = [0]
        for s in states:
            offsets.append(offsets[-1] + len(s.hyps))
        for i, s in enumerate(states):
            new: list[Hyp] = []
            for score, idx in zip(top_scores[i].tolist(), top_idx[i].tolist(), strict=True):
                if score == -math.inf:
                    break
                h = s.hyps[idx // vocab]
                tok = idx % vocab
                if tok == self.blank_id:
                    new.append(Hyp(h.ys, score, h.frames, h.pred, h.lm, h.lm_score))
                elif self.lm is None:
                    frame = s.num_frames + t
                    new.append(Hyp([*h.ys, tok], score, [*h.frames, frame], None))
                else:
                    frame = s.num_frames + t
                    assert bonus is not None
                    lm_score = h.lm_score + float(bonus[offsets[i] + idx // vocab, tok])
                    lm_state = self.lm.advance(h.lm, tok)
                    new.append(Hyp([*h.ys, tok], score, [*h.frames, frame], None, lm_state, lm_score))
            s.hyps = new
        self.scorer.fill_pred([h for s in states for h in s.hyps])


def _merge_into(pool: dict[tuple[int, ...], Hyp], h: Hyp) -> None:
    """Add ``h`` to ``pool``; the same token sequence reached twice is one hypothesis whose
    probability is the sum (log-add) of both, keeping the time stamps of the likelier."""
    key = tuple(h.ys)
    old = pool.get(key)
    if old is None:
        pool[key] = h
        return
    keep = old if old.score >= h.score else h
    hi, lo = max(old.score, h.score), min(old.score, h.score)
    total = hi + math.log1p(math.exp(lo - hi)) if lo > -math.inf else hi
    pool[key] = Hyp(keep.ys, total, keep.frames, keep.pred, keep.lm, keep.lm_score)


def default_symbols_per_frame(model: Transducer) -> int:
    """Tokens a beam hypothesis may emit per frame: one per 40 ms of encoder frame (x4 subsampling
    of 10-ms features: 1, icefall's search; x8: 2), as long frames hold more tokens."""
    return max(1, getattr(model.encoder, "subsampling", 4) // 4)


def make_search(
    method: str,
    model: Transducer | Scorer,
    beam: int = 4,
    max_sym_per_frame: int = 3,
    lm: LmFusion | None = None,
    blank_penalty: float = 0.0,
    beam_symbols_per_frame: int = 1,
) -> Search:
    """The search ``method`` names; ``lm`` (shallow fusion) only with modified beam search."""
    if method == "greedy":
        if lm is not None and lm.active:
            raise FairstreamError("LM fusion needs modified_beam search, not greedy")
        return GreedySearch(model, max_sym_per_frame, blank_penalty)
    if method == "modified_beam":
        return ModifiedBeamSearch(model, beam, lm, blank_penalty, beam_symbols_per_frame)
    raise FairstreamError(f"unknown search method {method!r}; known: {', '.join(METHODS)}")


@torch.no_grad()
def search_offline(search: Search, enc: Tensor, enc_lens: Tensor) -> list[Hyp]:
    """Best hypothesis per utterance of a padded (B, T, D) batch of encoder output."""
    states = search.init(enc.size(0))
    search.advance(enc, [int(n) for n in enc_lens], states)
    return [search.best(s) for s in states]
