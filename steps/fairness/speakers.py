"""Per-speaker tables read from CutSets: where a speaker lives, their zip, errors and embedding.

Cohorts are sets of speakers, so every method works on one row per speaker.  A speaker's
location and zip attributes are constant over their utterances (the first one is used); error
counts are summed, so a cohort's WER is pooled errors over pooled words.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
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


def speaker_table(rows: Iterable[tuple[str, dict[str, Any], dict[str, Any] | None]]) -> Speakers:
    """One row per speaker from utterance rows ``(speaker, metadata, counts or None)``, in order.

    The in-memory entry point: stage 7 feeds it decoded cuts, the audit Kaldi text files.  A
    speaker's location and attributes are their first utterance's; counts are summed.
    """
    idx: dict[str, int] = {}
    lat: list[float] = []
    lon: list[float] = []
    attrs: list[dict[str, Any]] = []
    counts: list[list[int]] = []
    for spk, meta, c in rows:
        if spk not in idx:
            idx[spk] = len(idx)
            lat.append(_float(meta.get("lat")))
            lon.append(_float(meta.get("lon")))
            attrs.append(dict(meta))
            counts.append([0, 0, 0])
        row = counts[idx[spk]]
        if c is not None:
            row[0] += int(c["ins"]) + int(c["del"]) + int(c["sub"])
            row[1] += int(c["ref_len"])
        row[2] += 1
    k = np.asarray(counts, dtype=np.int64).reshape(-1, 3)
    return Speakers(
        ids=list(idx),
        lat=np.asarray(lat, dtype=np.float64),
        lon=np.asarray(lon, dtype=np.float64),
        attrs=attrs,
        errors=k[:, 0],
        words=k[:, 1],
        utts=k[:, 2],
    )


def _cut_rows(
    cuts: Iterable, path: str | Path, scored: bool
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any] | None]]:
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
            yield spk, custom, custom if scored else None


def speakers_from_cuts(cuts: Iterable, path: str | Path, scored: bool) -> Speakers:
    """Aggregate cuts by supervision speaker; ``scored`` requires decode results (hyp, counts)."""
    sp = speaker_table(_cut_rows(cuts, path, scored))
    if not len(sp):
        raise FairstreamError(f"{path}: no supervisions")
    return sp


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


def mean_embeddings(pairs: Iterable[tuple[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Mean of length-normalised utterance embeddings per speaker, length-normalised again.

    Normalising before averaging keeps a loud utterance's norm from dominating; normalising
    after makes Euclidean k-means equivalent to clustering by cosine similarity.
    """
    sums: dict[str, np.ndarray] = {}
    for spk, x in pairs:
        v = _unit(np.asarray(x, dtype=np.float64).reshape(-1))
        sums[spk] = sums[spk] + v if spk in sums else v
    return {s: _unit(v) for s, v in sums.items()}


def speaker_embeddings(cuts: CutSet) -> dict[str, np.ndarray]:
    """``mean_embeddings`` of the cuts that carry an embedding, by their first supervision's speaker."""
    return mean_embeddings(
        (cut.supervisions[0].speaker, cut.load_custom(EMBEDDING_KEY))
        for cut in cuts
        if cut.has_custom(EMBEDDING_KEY)
    )


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
