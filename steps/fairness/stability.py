"""How stable is a method's bottom cohort?  Refit it on bootstrap resamples of the dev speakers.

Each resample draws dev speakers with replacement, refits the method's rule on them (tree,
attribute partition or centroids), ranks its cohorts and picks the bottom with the same share
rule (``cohorts.select``), all on the resample, exactly as the full fit did on dev.  The
refitted rule then places the original dev speakers, and the bottom speaker set is compared with
the full fit's by Jaccard similarity (|A ∩ B| / |A ∪ B|; 1 = the same speakers every time).
A cohort found by chance on 128 speakers moves from resample to resample; a real one stays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from steps.utils import FairstreamError
from steps.utils.stats import percentile_interval

from .cohorts import rank_cohorts, select
from .speakers import Speakers


class Rule(Protocol):
    def assign(self, sp: Speakers) -> np.ndarray: ...
    def describe(self) -> list[dict[str, Any]]: ...


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|a ∩ b| / |a ∪ b| of two boolean membership vectors; 1.0 when both are empty."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union


def bottom_of(rule: Rule, fit_on: Speakers, place: Speakers, share: float) -> np.ndarray:
    """Which speakers of ``place`` fall in the bottom cohort that ``rule`` and ``fit_on`` define."""
    a_fit = rule.assign(fit_on)
    bottom, _ = select(rank_cohorts(a_fit, fit_on, len(rule.describe())), a_fit, share)
    return np.isin(rule.assign(place), list(bottom))


def bottom_stability(
    fit: Callable[[Speakers], Rule],
    dev: Speakers,
    share: float,
    reference: np.ndarray,
    resamples: int,
    seed: int,
    core: float = 0.8,
) -> dict[str, Any]:
    """Jaccard similarity of the refitted bottom to ``reference`` (bool per dev speaker), its mean
    and 95% interval over ``resamples``, and the share of reference-bottom speakers that are
    bottom in at least ``core`` of the resamples.  Resamples whose fit fails are counted."""
    if resamples <= 0:
        return {"resamples": 0}
    rng = np.random.default_rng(seed)
    scores, hits, failed = [], np.zeros(len(dev)), 0
    for _ in range(resamples):
        sample = dev.take(rng.integers(0, len(dev), len(dev)))
        try:
            rule = fit(sample)
        except FairstreamError:
            failed += 1
            continue
        member = bottom_of(rule, sample, dev, share)
        hits += member
        scores.append(jaccard(member, reference))
    done = len(scores)
    ref = np.asarray(reference, bool)
    return {
        "resamples": resamples,
        "failed": failed,
        "jaccard_mean": float(np.mean(scores)) if done else None,
        "jaccard_ci": percentile_interval(scores),
        "core_share": float((hits[ref] / done >= core).mean()) if done and ref.any() else None,
        "core": core,
    }
