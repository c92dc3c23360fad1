"""Training data for the embedder: all train features in memory, M speakers x K utterances.

The demo train set is a few hours of 80-dim fbank (well under 1 GB as float16), so holding it
in memory removes the loader from the step time and makes crops trivially reproducible: the
sampler owns one numpy ``Generator`` whose state goes into the checkpoint.  Each batch draws
``speakers_per_batch`` speakers and ``utts_per_speaker`` utterances of each (so every batch has
target and non-target pairs for the pairwise loss) and one crop length for the whole batch, from
a handful of lengths (every new input shape costs oneDNN memory and set-up time);
utterances shorter than the crop are repeated to length (counted, never dropped).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from lhotse import CutSet
from tqdm import tqdm

from steps.utils import FairstreamError

log = logging.getLogger(__name__)


@dataclass
class BatchConf:
    """Batch composition and crops (the ``data:`` block of a conf/sv YAML)."""

    speakers_per_batch: int = 32
    utts_per_speaker: int = 2
    min_crop_frames: int = 100
    max_crop_frames: int = 200
    crop_step: int = 25  # crop lengths are min + k * step: few shapes keep oneDNN's cache small
    min_utt_frames: int = 20  # shorter cuts are skipped (counted): nothing to learn from


@dataclass
class Batch:
    feats: torch.Tensor  # (B, T, F)
    labels: torch.Tensor  # (B,) speaker index
    index: torch.Tensor  # (B,) utterance index in the bank (for the embedding memory)


class FeatureBank:
    """Every usable train cut's features (float16) with its speaker index."""

    def __init__(self, cuts: CutSet, min_frames: int) -> None:
        feats, spk, ids, skipped = [], [], [], []
        for cut in tqdm(cuts, desc="load train features", unit="cut", leave=False):
            if not cut.supervisions:
                skipped.append(cut.id)
                continue
            f = cut.load_features()
            if f.shape[0] < min_frames:
                skipped.append(cut.id)
                continue
            feats.append(f.astype(np.float16))
            spk.append(cut.supervisions[0].speaker or cut.id)
            ids.append(cut.id)
        if not feats:
            raise FairstreamError("no usable training cuts (all missing supervisions or too short)")
        self.speakers = sorted(set(spk))
        index = {s: i for i, s in enumerate(self.speakers)}
        self.feats = feats
        self.ids = ids
        self.labels = np.array([index[s] for s in spk], dtype=np.int64)
        self.by_speaker = [np.flatnonzero(self.labels == i) for i in range(len(self.speakers))]
        self.skipped = skipped
        self.feat_dim = int(feats[0].shape[1])
        if skipped:
            log.warning(
                "skipped %d train cut(s) shorter than %d frames or without supervision",
                len(skipped),
                min_frames,
            )
        log.info("train bank: %d cuts, %d speakers", len(ids), len(self.speakers))

    def __len__(self) -> int:
        return len(self.feats)


class SpeakerBatchSampler:
    """M x K batches with random crops; its whole state is one numpy bit-generator state."""

    def __init__(self, bank: FeatureBank, conf: BatchConf, seed: int) -> None:
        if len(bank.speakers) < 2:
            raise FairstreamError(f"need at least 2 training speakers, got {len(bank.speakers)}")
        self.bank = bank
        self.conf = conf
        self.rng = np.random.default_rng(seed)
        self.padded = 0

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "padded": self.padded}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.rng.bit_generator.state = s["rng"]
        self.padded = s["padded"]

    def _crop(self, f: np.ndarray, n: int) -> np.ndarray:
        if f.shape[0] < n:
            self.padded += 1
            reps = -(-n // f.shape[0])
            f = np.concatenate([f] * reps, axis=0)
            start = 0
        else:
            start = int(self.rng.integers(0, f.shape[0] - n + 1))
        return f[start : start + n]

    def next(self) -> Batch:
        c = self.conf
        n_spk = min(c.speakers_per_batch, len(self.bank.speakers))
        spk = self.rng.choice(len(self.bank.speakers), size=n_spk, replace=False)
        n_lengths = (c.max_crop_frames - c.min_crop_frames) // max(1, c.crop_step) + 1
        n = c.min_crop_frames + max(1, c.crop_step) * int(self.rng.integers(0, n_lengths))
        idx = []
        for s in spk:
            pool = self.bank.by_speaker[s]
            idx.extend(self.rng.choice(pool, size=c.utts_per_speaker, replace=len(pool) < c.utts_per_speaker))
        feats = np.stack([self._crop(self.bank.feats[i], n) for i in idx]).astype(np.float32)
        return Batch(
            feats=torch.from_numpy(feats),
            labels=torch.from_numpy(self.bank.labels[idx]),
            index=torch.as_tensor(idx, dtype=torch.int64),
        )
