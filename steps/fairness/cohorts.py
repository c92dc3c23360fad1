"""From a rule's cohort ids to ranked, labelled cohorts and labelled CutSets.

Cohorts are ranked by dev WER (rank 1 = worst) and labelled ``<method>-<rank>``; speakers the
rule cannot place (no location, no embedding) get ``<method>-none`` and are never bottom.
Every supervision of the output cuts gains ``cohort`` (label) and ``cohort_bottom`` (bool).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from lhotse import CutSet
from lhotse.utils import fastcopy

from .metrics import cohort_wer
from .speakers import Speakers


def rank_cohorts(assign: np.ndarray, sp: Speakers, n_cohorts: int) -> list[int]:
    """Cohort ids, worst dev WER first (ties and empty cohorts by id, empty last)."""

    def key(c: int) -> tuple[int, float, int]:
        sel = assign == c
        w = cohort_wer(sp.errors[sel].sum(), sp.words[sel].sum())
        return (0, -w, c) if np.isfinite(w) else (1, 0.0, c)

    return sorted(range(n_cohorts), key=key)


def bottom_by_share(order: list[int], assign: np.ndarray, share: float) -> set[int]:
    """The worst cohorts whose cumulative share of (assigned) dev speakers reaches ``share``."""
    n = int((assign >= 0).sum())
    chosen: set[int] = set()
    covered = 0
    for c in order:
        chosen.add(c)
        covered += int((assign == c).sum())
        if n == 0 or covered / n >= share:
            break
    return chosen


def cohort_labels(method: str, order: list[int]) -> dict[int, str]:
    return {c: f"{method}-{rank}" for rank, c in enumerate(order, start=1)}


def speaker_labels(
    sp: Speakers, assign: np.ndarray, labels: dict[int, str], bottom: set[int], method: str
) -> dict[str, tuple[str, bool]]:
    return {
        s: (labels[int(a)], int(a) in bottom) if a >= 0 else (f"{method}-none", False)
        for s, a in zip(sp.ids, assign, strict=True)
    }


def label_cuts(cuts: Iterable, by_speaker: dict[str, tuple[str, bool]]) -> CutSet:
    """The input cuts with ``cohort`` and ``cohort_bottom`` in every supervision's custom."""

    def one(cut):  # noqa: ANN001, ANN202 - any lhotse cut type
        sups = []
        for s in cut.supervisions:
            label, bottom = by_speaker[s.speaker or (s.custom or {}).get("speaker")]
            sups.append(fastcopy(s, custom={**(s.custom or {}), "cohort": label, "cohort_bottom": bottom}))
        return fastcopy(cut, supervisions=sups)

    return CutSet.from_cuts(one(c) for c in cuts)
