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


def _take_until(order: list[int], assign: np.ndarray, share: float, limit: int) -> list[int]:
    """Cohorts from the front of ``order`` until they hold ``share`` of the assigned speakers
    (at least one cohort, at most ``limit``)."""
    n = int((assign >= 0).sum())
    chosen: list[int] = []
    covered = 0
    for c in order[:limit]:
        chosen.append(c)
        covered += int((assign == c).sum())
        if n == 0 or covered / n >= share:
            break
    return chosen


def select(order: list[int], assign: np.ndarray, share: float) -> tuple[set[int], set[int]]:
    """The one selection rule every method uses: (bottom, top) cohort ids.

    Bottom: the worst cohorts (by dev WER, ``order``) until they hold ``share`` of the dev
    speakers; top: the best cohorts not in the bottom, likewise.  The bottom never takes every
    cohort, so a binary partition gives its worse side against its better side whatever ``share``
    is (and a partition's side is as large as the partition makes it: that is the method's cut).
    """
    if len(order) < 2:
        return set(order), set()
    bottom = _take_until(order, assign, share, len(order) - 1)
    rest = [c for c in reversed(order) if c not in bottom]
    top = _take_until(rest, assign, share, len(rest))
    return set(bottom), set(top)


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
