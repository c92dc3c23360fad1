"""Decode a batch of fbank features chunk by chunk (streaming) or whole (offline), timed.

Streaming runs the encoder's ``init_state``/``stream``/``flush`` on fixed-size chunks and hands
each chunk's encoder frames to the search, whose state (hypotheses, predictor context) carries
over; the result therefore equals offline decoding of the same encoder frames.  A batch holds
several utterances streamed side by side, as a server would; shorter ones are padded with zero
frames, which is exactly the padding ``flush`` and the offline forward use, so padding never
changes an utterance's own frames.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from lhotse.cut import Cut
from torch import Tensor

from steps.utils import FairstreamError
from steps.utils.device import to_device

from .encoders.base import StreamingEncoder
from .search import Hyp, Search
from .transducer import Transducer


@dataclass
class BatchResult:
    hyps: list[Hyp]
    wall_s: float  # encoder + search, feature loading excluded
    chunk_ms: list[float] = field(default_factory=list)  # one entry per chunk step (streaming only)


def encoder_output_lengths(encoder: StreamingEncoder, lens: Tensor) -> Tensor:
    """Encoder frames per utterance: the encoder's own rule if it has one, else ceil(T / factor)."""
    rule = getattr(encoder, "output_lengths", None)
    if rule is not None:
        return rule(lens)
    return (lens + encoder.subsampling - 1) // encoder.subsampling


def load_features(cuts: Sequence[Cut], num_features: int | None = None) -> tuple[Tensor, Tensor]:
    """Zero-padded (B, T, F) features and their lengths; a wrong feature dimension is one line."""
    mats = []
    for c in cuts:
        if not c.has_features:
            raise FairstreamError(f"cut {c.id} has no features; decode the fbank stage's output")
        m = torch.from_numpy(c.load_features())
        if num_features is not None and m.size(1) != num_features:
            raise FairstreamError(
                f"cut {c.id} has {m.size(1)}-dim features but the model expects {num_features}"
            )
        mats.append(m)
    lens = torch.tensor([m.size(0) for m in mats], dtype=torch.int64)
    feats = torch.zeros(len(mats), int(lens.max()), mats[0].size(1))
    for i, m in enumerate(mats):
        feats[i, : m.size(0)] = m
    return feats, lens


def _clock(device: torch.device) -> float:
    """The clock, after the GPU has finished what was queued (CUDA kernels run asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


class TransducerDecoder:
    """Encoder + search over a batch; ``chunk_frames=None`` decodes offline."""

    def __init__(self, model: Transducer, search: Search, chunk_frames: int | None = 32) -> None:
        if chunk_frames is not None and chunk_frames < 1:
            raise FairstreamError(f"chunk size must be at least one frame, got {chunk_frames}")
        self.model = model.eval()
        self.search = search
        self.chunk_frames = chunk_frames

    @torch.inference_mode()
    def decode(self, feats: Tensor, feat_lens: Tensor, cohort: Tensor | None = None) -> BatchResult:
        """``cohort``: row ids of the utterances' cohorts, for a model with a cohort input (a
        per-utterance constant added to the features, so it streams as it trains)."""
        device = next(self.model.parameters()).device
        feats, feat_lens = feats.to(device), feat_lens.to(device)
        if getattr(self.model, "cohort", None) is not None:
            if cohort is None:
                raise FairstreamError("this model takes each utterance's cohort; none was given")
            feats = self.model.cohort(feats, cohort)
        if self.chunk_frames is None:
            return self._offline(feats, feat_lens)
        return self._streaming(feats, feat_lens)

    def _offline(self, feats: Tensor, feat_lens: Tensor) -> BatchResult:
        t0 = _clock(feats.device)
        enc, enc_lens = self.model.encoder(feats, feat_lens)
        states = self.search.init(feats.size(0))
        self.search.advance(enc, [int(n) for n in enc_lens], states)
        hyps = [self.search.best(s) for s in states]
        return BatchResult(hyps, _clock(feats.device) - t0)

    def _streaming(self, feats: Tensor, feat_lens: Tensor) -> BatchResult:
        encoder = self.model.encoder
        total = int(feat_lens.max()) if feat_lens.numel() else 0
        feats = feats[:, :total]  # frames past the longest utterance are only padding
        batch = feats.size(0)
        want = [int(n) for n in encoder_output_lengths(encoder, feat_lens)]
        done = [0] * batch
        chunk_ms: list[float] = []
        start = _clock(feats.device)
        enc_state = to_device(encoder.init_state(batch), feats.device)
        states = self.search.init(batch)

        def consume(out: Tensor) -> None:
            n = [max(0, min(out.size(1), w - d)) for w, d in zip(want, done, strict=True)]
            self.search.advance(out, n, states)
            for b in range(batch):
                done[b] += out.size(1)

        n_chunks = math.ceil(total / self.chunk_frames)
        for i in range(n_chunks):
            t0 = _clock(feats.device)
            chunk = feats[:, i * self.chunk_frames : (i + 1) * self.chunk_frames]
            out, enc_state = encoder.stream(chunk, enc_state)
            consume(out)
            if i == n_chunks - 1:  # the end of the input: the last chunk's answer includes the flush
                consume(encoder.flush(enc_state))
            chunk_ms.append(1000 * (_clock(feats.device) - t0))
        hyps = [self.search.best(s) for s in states]
        return BatchResult(hyps, _clock(feats.device) - start, chunk_ms)
