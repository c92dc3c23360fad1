"""Per-speaker tables read from CutSets: where a speaker lives, their zip, errors and embedding.

Cohorts are sets of speakers, so every method works on one row per speaker.  A speaker's
location and zip attributes are constant over their utterances (the first one is used); error
counts are summed, so a cohort's WER is pooled errors over pooled words.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from lhotse import CutSet

from steps.utils import FairstreamError

COUNTS = ("ref_len", "ins", "del", "sub")
EMBEDDING_KEY = "xvector"


@dataclass
class Speakers:
    """One row per speaker, in first-seen order; ``emb`` rows are NaN where no embedding exists."""

    ids: list[str]
    lat: np.ndarray
    lon: np.ndarray
    attrs: list[dict[str, Any]]
    errors: np.ndarray
    words: np.ndarray
    utts: np.ndarray
    emb: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.ids)}

    def take(self, rows: np.ndarray) -> Speakers:
        """The speakers at ``rows`` (repeats allowed: a bootstrap resample)."""
        rows = np.asarray(rows, dtype=np.int64)
        return Speakers(
            [self.ids[i] for i in rows],
            self.lat[rows],
            self.lon[rows],
            [self.attrs[i] for i in rows],
            self.errors[rows],
            self.words[rows],
            self.utts[rows],
            None if self.emb is None else self.emb[rows],
        )


def _float(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def speakers_from_cuts(cuts: Iterable, path: str | Path, scored: bool) -> Speakers:
    """Aggregate cuts by supervision speaker; ``scored`` requires decode results (hyp, counts)."""
    idx: dict[str, int] = {}
    lat: list[float] = []
    lon: list[float] = []
    attrs: list[dict[str, Any]] = []
    counts: list[list[int]] = []
    for cut in cuts:
        for sup in cut.supervisions:
            custom = sup.custom or {}
            if scored and ("hyp" not in custom or any(k not in custom for k in COUNTS)):
                raise FairstreamError(
                    f"{path}: cut {cut.id} has no decode results (hyp, ref_len, ins, del, sub); "
                    "pass a decode stage's output directory"
                )
            spk = sup.speaker or custom.get("speaker")
            if spk is None:
                raise FairstreamError(f"{path}: cut {cut.id} has a supervision without a speaker")
            if spk not in idx:
                idx[spk] = len(idx)
                lat.append(_float(custom.get("lat")))
                lon.append(_float(custom.get("lon")))
                attrs.append(dict(custom))
                counts.append([0, 0, 0])
            row = counts[idx[spk]]
            if scored:
                row[0] += int(custom["ins"]) + int(custom["del"]) + int(custom["sub"])
                row[1] += int(custom["ref_len"])
            row[2] += 1
    if not idx:
        raise FairstreamError(f"{path}: no supervisions")
    c = np.asarray(counts, dtype=np.int64)
    return Speakers(
        ids=list(idx),
        lat=np.asarray(lat, dtype=np.float64),
        lon=np.asarray(lon, dtype=np.float64),
        attrs=attrs,
        errors=c[:, 0],
        words=c[:, 1],
        utts=c[:, 2],
    )


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


def speaker_embeddings(cuts: CutSet) -> dict[str, np.ndarray]:
    """Mean of length-normalised utterance embeddings per speaker, length-normalised again.

    Normalising before averaging keeps a loud utterance's norm from dominating; normalising
    after makes Euclidean k-means equivalent to clustering by cosine similarity.
    """
    sums: dict[str, np.ndarray] = {}
    for cut in cuts:
        if not cut.has_custom(EMBEDDING_KEY):
            continue
        v = _unit(np.asarray(cut.load_custom(EMBEDDING_KEY), dtype=np.float64).reshape(-1))
        spk = cut.supervisions[0].speaker
        sums[spk] = sums[spk] + v if spk in sums else v
    return {s: _unit(v) for s, v in sums.items()}


def attach_embeddings(sp: Speakers, emb: dict[str, np.ndarray]) -> int:
    """Fill ``sp.emb`` (NaN rows where missing); returns how many speakers have none."""
    if not emb:
        sp.emb = np.full((len(sp), 1), np.nan)
        return len(sp)
    dim = len(next(iter(emb.values())))
    sp.emb = np.full((len(sp), dim), np.nan)
    for i, s in enumerate(sp.ids):
        if s in emb:
            if len(emb[s]) != dim:
                raise FairstreamError(f"speaker {s}: embedding dimension {len(emb[s])} != {dim}")
            sp.emb[i] = emb[s]
    return int(np.isnan(sp.emb[:, 0]).sum())
