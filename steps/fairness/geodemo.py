"""Geodemographic cohorts (Dheram et al.): a binary partition of zip codes by attribute values.

Every speaker carries their zip code's majority attributes (income, urbanicity, age, home
language ...).  A partition is a conjunction of conditions ``attribute in {values}``: zips (and
so speakers) matching all of them form one side, the rest the other.  The search is exhaustive
over single conditions (every attribute, every proper subset of its dev values) and greedy
beyond: each further condition is kept only if it increases the discrepancy, and both sides
must hold at least ``min_speakers`` dev speakers.  The discrepancy is the relative WER gap of
the higher-WER side over the lower one, the metric reported; the higher side is the bottom
cohort.  Numeric attributes are cut into dev quantile bins first so they become categorical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from steps.utils import FairstreamError

from .metrics import cohort_wer
from .speakers import Speakers

UNKNOWN = "unknown"


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


@dataclass
class AttributeRule:
    """Cohort 0 = speakers matching every condition, cohort 1 = everyone else."""

    conditions: list[tuple[str, list[str]]]
    bins: dict[str, list[float]] = field(default_factory=dict)

    def values(self, sp: Speakers, attributes: list[str]) -> list[dict[str, str]]:
        return [{a: categorical(row.get(a), self.bins.get(a)) for a in attributes} for row in sp.attrs]

    def assign(self, sp: Speakers) -> np.ndarray:
        vals = self.values(sp, [a for a, _ in self.conditions])
        match = np.array([all(v[a] in set(s) for a, s in self.conditions) for v in vals], dtype=bool)
        return np.where(match, 0, 1).astype(np.int64)

    def text(self) -> str:
        return " AND ".join(f"{a} in {{{', '.join(s)}}}" for a, s in self.conditions) or "everyone"

    def describe(self) -> list[dict[str, Any]]:
        cond = [{"attribute": a, "values": list(s)} for a, s in self.conditions]
        return [
            {"match": True, "conditions": cond, "rule": self.text()},
            {"match": False, "conditions": cond, "rule": f"NOT ({self.text()})"},
        ]


def categorical(v: Any, edges: list[float] | None) -> str:
    """A value as a category: numbers go to their quantile bin (``q1`` lowest), missing to unknown."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return UNKNOWN
    if edges is not None and _is_number(v):
        return f"q{int(np.searchsorted(edges, float(v), side='right')) + 1}"
    return str(v)


def fit_bins(sp: Speakers, attributes: list[str], n_bins: int) -> dict[str, list[float]]:
    """Interior quantile edges for attributes whose present dev values are all numbers."""
    bins = {}
    for a in attributes:
        vals = [row.get(a) for row in sp.attrs if row.get(a) is not None]
        if vals and all(_is_number(v) for v in vals):
            q = np.quantile(np.asarray(vals, float), np.linspace(0, 1, n_bins + 1)[1:-1])
            bins[a] = sorted({float(x) for x in q})
    return bins


def _discrepancy(match: np.ndarray, errors: np.ndarray, words: np.ndarray) -> float:
    a = cohort_wer(errors[match].sum(), words[match].sum())
    b = cohort_wer(errors[~match].sum(), words[~match].sum())
    if not (np.isfinite(a) and np.isfinite(b)):
        return -np.inf
    lo, hi = min(a, b), max(a, b)
    return (hi - lo) / lo if lo > 0 else (np.inf if hi > 0 else 0.0)


def search_partition(
    sp: Speakers, attributes: list[str], min_speakers: int, max_conditions: int = 2, n_bins: int = 3
) -> tuple[AttributeRule, float]:
    """The attribute partition of dev speakers with the largest relative WER gap."""
    missing = [a for a in attributes if all(a not in row for row in sp.attrs)]
    if missing:
        raise FairstreamError(f"no speaker carries the zip attribute(s) {', '.join(missing)}")
    rule = AttributeRule([], fit_bins(sp, attributes, n_bins))
    vals = rule.values(sp, attributes)
    column = {a: np.array([v[a] for v in vals]) for a in attributes}
    match = np.ones(len(sp), bool)
    best = -np.inf
    for _ in range(max_conditions):
        step = None
        for a in attributes:
            if any(a == c for c, _ in rule.conditions):
                continue
            levels = sorted(set(column[a][match].tolist()))
            for r in range(1, len(levels)):
                for subset in combinations(levels, r):
                    m = match & np.isin(column[a], subset)
                    if m.sum() < min_speakers or (~m).sum() < min_speakers:
                        continue
                    d = _discrepancy(m, sp.errors, sp.words)
                    if d > best:
                        best, step = d, (a, list(subset), m)
        if step is None:
            break
        rule.conditions.append((step[0], step[1]))
        match = step[2]
    if not rule.conditions:
        raise FairstreamError(
            f"no attribute partition leaves {min_speakers} dev speakers on each side; "
            "lower min_partition_speakers"
        )
    return rule, float(best)
