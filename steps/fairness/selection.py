"""Fine-tuning data from cohort labels: the bottom cohort alone, or everything with it oversampled.

Oversampling (Dheram et al., 2022) is done by **repeating** bottom-cohort cuts in the manifest
(copies get distinct ids ``<id>_rep<k>``), not by a weighted sampler: the trainer's bucketing
sampler, its resumable state and its duration buckets stay untouched, every epoch draws the
bottom cohort at exactly the configured rate (counted in utterances), and the choice is visible
in the written manifest.  Features are referenced by the copies, never duplicated.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

from lhotse import CutSet
from lhotse.cut import Cut
from lhotse.utils import fastcopy

from steps.utils import FairstreamError


def is_bottom(cut: Cut) -> bool:
    """The cohort stage's ``cohort_bottom`` flag; a cut without one is a wrong input."""
    custom = (cut.supervisions[0].custom or {}) if cut.supervisions else {}
    if "cohort_bottom" not in custom:
        raise FairstreamError(f"cut {cut.id} carries no cohort_bottom; is this a cohort stage's output?")
    return bool(custom["cohort_bottom"])


def split_bottom(cuts: Iterable[Cut]) -> tuple[list[Cut], list[Cut]]:
    bottom, rest = [], []
    for c in cuts:
        (bottom if is_bottom(c) else rest).append(c)
    if not bottom:
        raise FairstreamError("no training cut is in a bottom cohort; nothing to fine-tune on")
    return bottom, rest


def bottom_only(cuts: Iterable[Cut]) -> CutSet:
    return CutSet.from_cuts(split_bottom(cuts)[0])


def repeat(cut: Cut, k: int) -> Cut:
    """Copy ``k`` (k >= 1) of a cut: new cut and supervision ids, same features."""
    sups = [fastcopy(s, id=f"{s.id}_rep{k}") for s in cut.supervisions]
    return fastcopy(cut, id=f"{cut.id}_rep{k}", supervisions=sups)


def copies_needed(n_bottom: int, n_rest: int, rate: float) -> int:
    """Bottom utterances (originals included) so that they make up ``rate`` of the whole."""
    return max(n_bottom, round(rate * n_rest / (1 - rate)))


def oversample(cuts: Iterable[Cut], rate: float, seed: int) -> CutSet:
    """All cuts, with bottom-cohort cuts repeated until they are ``rate`` of the utterances.

    Each bottom cut is repeated equally often; the remainder goes to a seeded random subset.
    A natural share already above ``rate`` is left as it is (this never drops data).
    """
    if not 0 < rate < 1:
        raise FairstreamError(f"oversample rate must be in (0, 1), got {rate}")
    bottom, rest = split_bottom(cuts)
    total = copies_needed(len(bottom), len(rest), rate)
    per_cut = math.floor(total / len(bottom))
    extra = set(random.Random(seed).sample(range(len(bottom)), total - per_cut * len(bottom)))
    out = list(rest)
    for i, c in enumerate(bottom):
        out.append(c)
        out.extend(repeat(c, k) for k in range(1, per_cut + (i in extra)))
    return CutSet.from_cuts(out)
