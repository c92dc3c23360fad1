"""Bootstrap resampling and percentile intervals: the one rule every interval of the reports follows.

:data:`RULE` states it (RESULTS.md prints it once): 95% percentile intervals over resamples with
replacement; a replicate that is undefined (no word or trial of a group in that resample) is
dropped, and fewer than :data:`MIN_REPLICATES` defined replicates give no interval.  WERs resample
**speakers** (a speaker's utterances share a voice and are correlated, so resampling utterances
gives intervals that are too narrow), and so do EERs: a drawn speaker brings every trial it takes
part in (:func:`pair_cluster_indices`).  A comparison of two systems is paired: one resample
serves both, over the same units, and different unit sets are refused rather than silently
intersected.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .errors import FairstreamError

LEVEL = 0.95
MIN_REPLICATES = 10
RULE = (
    "Intervals: 95% percentile bootstrap; WERs resample speakers (1000 resamples unless stated), "
    "EERs resample speakers too (a drawn speaker brings all its trials); comparisons are paired (the "
    "same resample for both systems); a resample in which a group has no words or trials is dropped."
)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile-bootstrap interval."""

    estimate: float
    low: float | None
    high: float | None
    prob_below_zero: float | None = None  # paired differences: share of resamples below zero

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def percentile_interval(samples: Sequence[float] | np.ndarray, level: float = LEVEL) -> list[float] | None:
    """``[low, high]`` of the defined (finite) replicates, or None with fewer than MIN_REPLICATES."""
    x = np.asarray(samples, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) < MIN_REPLICATES:
        return None
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(x, [tail, 100 - tail])
    return [float(lo), float(hi)]


def resample_counts(n: int, replicates: int, seed: int) -> np.ndarray:
    """(replicates, n): how often each of ``n`` units is drawn in each resample with replacement.

    A statistic that is a sum over units becomes ``counts @ values`` for every resample at once."""
    return stratified_counts(np.zeros(n, dtype=np.int64), replicates, seed)


def stratified_counts(strata: Sequence[int] | np.ndarray, replicates: int, seed: int) -> np.ndarray:
    """(replicates, n): resample counts of ``n`` units, each stratum (one label per unit) drawn
    with replacement to its own size, strata in sorted order from one generator."""
    strata = np.asarray(strata)
    rng = np.random.default_rng(seed)
    counts = np.zeros((replicates, len(strata)))
    for k in np.unique(strata):
        idx = np.flatnonzero(strata == k)
        counts[:, idx] = rng.multinomial(len(idx), np.full(len(idx), 1.0 / len(idx)), size=replicates)
    return counts


def pair_cluster_indices(rng: np.random.Generator, unit_a: np.ndarray, unit_b: np.ndarray) -> np.ndarray:
    """One cluster resample of pair trials whose sides belong to units (speakers, codes 0..U-1).

    The U units are drawn with replacement; a trial between units a != b is then repeated
    count(a) * count(b) times and a trial within unit a count(a) times, so a replicate holds every
    trial among the drawn copies and, on average, as many trials as the original."""
    n_units = int(max(unit_a.max(), unit_b.max())) + 1
    counts = np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)
    reps = np.where(unit_a == unit_b, counts[unit_a], counts[unit_a] * counts[unit_b])
    return np.repeat(np.arange(len(unit_a)), reps)


def unit_totals(
    values: Sequence[np.ndarray], units: Sequence[Hashable]
) -> tuple[list[Hashable], list[np.ndarray]]:
    """Per-utterance columns summed per unit (speaker); units in sorted order."""
    keys = sorted(set(units), key=str)
    pos = {k: i for i, k in enumerate(keys)}
    idx = np.array([pos[u] for u in units], dtype=np.int64)
    return keys, [np.bincount(idx, weights=np.asarray(v, np.float64), minlength=len(keys)) for v in values]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def ratio_interval(
    num: Sequence[float],
    den: Sequence[float],
    units: Sequence[Hashable],
    replicates: int = 1000,
    seed: int = 0,
) -> Interval:
    """A corpus ratio (WER = errors / reference words) with its interval, resampling ``units``."""
    _, (n, d) = unit_totals([np.asarray(num), np.asarray(den)], units)
    m = resample_counts(len(n), replicates, seed)
    ci = percentile_interval(_ratio(m @ n, m @ d))
    return Interval(float(_ratio(n.sum(), d.sum())), *(ci or (None, None)))


def paired_ratio_difference(
    num_a: Sequence[float],
    num_b: Sequence[float],
    den: Sequence[float],
    units: Sequence[Hashable],
    replicates: int = 1000,
    seed: int = 0,
    relative: bool = False,
) -> Interval:
    """ratio(B) - ratio(A) over the same utterances (one denominator: the same references), with
    a paired interval resampling ``units``; ``relative``: ratio(B) / ratio(A) - 1 instead (a
    relative WER change; a resample where A has no errors is undefined).  ``prob_below_zero`` is
    the share of resamples where B has the lower ratio."""
    if not len(num_a) == len(num_b) == len(den) == len(units) or not len(den):
        raise FairstreamError(
            f"a paired comparison needs the same, non-empty utterances: {len(num_a)}, {len(num_b)}, "
            f"{len(den)} values and {len(units)} speakers"
        )
    _, (a, b, d) = unit_totals([np.asarray(num_a), np.asarray(num_b), np.asarray(den)], units)
    m = resample_counts(len(d), replicates, seed)
    md = m @ d
    deltas = _change(_ratio(m @ b, md), _ratio(m @ a, md), relative)
    return _difference(_change(_ratio(b.sum(), d.sum()), _ratio(a.sum(), d.sum()), relative), deltas)


def _difference(estimate: float | np.ndarray, deltas: np.ndarray) -> Interval:
    """A difference's estimate, the 95% interval of its resampled ``deltas`` and the share of
    (defined) resamples below zero."""
    ci = percentile_interval(deltas)
    defined = deltas[np.isfinite(deltas)]
    below = float(np.mean(defined < 0)) if len(defined) else None
    return Interval(float(estimate), *(ci or (None, None)), below)


def _change(rb: np.ndarray, ra: np.ndarray, relative: bool) -> np.ndarray:
    return _ratio(rb, ra) - 1 if relative else rb - ra


def group_ratio_difference(
    num: Sequence[float],
    den: Sequence[float],
    in_a: Sequence[bool],
    in_b: Sequence[bool],
    units: Sequence[Hashable],
    replicates: int = 1000,
    seed: int = 0,
) -> Interval:
    """ratio over group B's utterances minus ratio over group A's, one system (e.g. the share of
    compute skipped on noisy minus on clean utterances), with an interval resampling ``units``:
    a drawn speaker brings its utterances of both groups.  ``prob_below_zero`` as above."""
    n = len(num)
    if not n == len(den) == len(in_a) == len(in_b) == len(units) or not n:
        raise FairstreamError(
            f"a group comparison needs one value per utterance: {len(num)}, {len(den)}, {len(in_a)}, "
            f"{len(in_b)} values and {len(units)} speakers"
        )
    a, b = np.asarray(in_a, dtype=bool), np.asarray(in_b, dtype=bool)
    if not a.any() or not b.any():
        raise FairstreamError("a group comparison needs utterances in both groups")
    x, y = np.asarray(num, np.float64), np.asarray(den, np.float64)
    _, (na, da, nb, db) = unit_totals([x * a, y * a, x * b, y * b], units)
    m = resample_counts(len(na), replicates, seed)
    deltas = _ratio(m @ nb, m @ db) - _ratio(m @ na, m @ da)
    return _difference(_ratio(nb.sum(), db.sum()) - _ratio(na.sum(), da.sum()), deltas)


def permuted_group_totals(
    values: Sequence[np.ndarray], labels: Sequence[Hashable], replicates: int, seed: int
) -> tuple[list[Hashable], list[np.ndarray]]:
    """Per-unit columns (e.g. a speaker's errors and words) summed per group when the units'
    group labels are shuffled among the units: one (replicates, groups) array per column, each
    row one random permutation (groups keep their sizes), groups in sorted order.

    The null distribution of a between-group statistic: what the groups would show if the label
    made no difference to the units (a permutation test; units stay whole, so a speaker's
    correlated utterances move together)."""
    keys = sorted(set(labels), key=str)
    pos = {k: i for i, k in enumerate(keys)}
    codes = np.array([pos[x] for x in labels], dtype=np.int64)
    if replicates < 1 or not len(codes):
        raise FairstreamError(
            f"a permutation test needs units and replicates >= 1, got {len(codes)}, {replicates}"
        )
    rng = np.random.default_rng(seed)
    perms = np.stack([rng.permutation(codes) for _ in range(replicates)])
    flat = (perms + len(keys) * np.arange(replicates)[:, None]).ravel()
    weights = [np.tile(np.asarray(v, np.float64), replicates) for v in values]
    size = len(keys) * replicates
    return keys, [np.bincount(flat, w, size).reshape(replicates, len(keys)) for w in weights]


def permutation_p_value(observed: float, null: np.ndarray) -> float:
    """One-sided p of a statistic against its permutation distribution, counting the observed
    labelling as one of the permutations ((1 + #null >= observed) / (1 + #null)); ties within
    float rounding count as ``>=``."""
    null = np.asarray(null, np.float64)
    at_least = int(np.sum(null >= observed - 1e-12 * max(1.0, abs(observed))))
    return (1 + at_least) / (1 + len(null))
