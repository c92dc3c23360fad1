"""Geographic cohorts (Trinh et al.): a regression tree over speakers' (lat, lon).

Why scikit-learn's ``DecisionTreeRegressor`` optimises the right quantity: we fit it on one
row per *speaker* with target = speaker WER (errors / words) and ``sample_weight`` = words.

- A leaf's weighted mean is sum(words_s * errors_s / words_s) / sum(words_s) = pooled WER of
  the region, exactly the cohort WER of ``metrics.py``.
- The split criterion is the word-weighted squared error.  At the utterance level (target
  errors/ref_len per utterance, weight ref_len) the same criterion splits into a within-speaker
  term, which no split can change because all of a speaker's utterances share one (lat, lon),
  plus this speaker-level term.  So both fits choose the same splits; minimising it maximises
  the word-weighted between-region variance of WER, i.e. the WER differences between regions.
- With one row per speaker ``min_samples_leaf`` counts *speakers*, which enforces
  ``min_speakers_per_region`` per leaf.  ``max_leaf_nodes`` (best-first growth) caps regions.

The fitted tree is kept as its leaves' boxes (``lo < x <= hi``, sklearn's "go left if
x <= threshold"), a rule that applies to any speaker with a location.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.tree import DecisionTreeRegressor

from steps.utils import FairstreamError

from .speakers import Speakers

INF = float("inf")


@dataclass
class Box:
    lat_lo: float
    lat_hi: float
    lon_lo: float
    lon_hi: float

    def contains(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        # sklearn compares float32 features with its thresholds; do the same
        la = np.asarray(lat, np.float32).astype(np.float64)
        lo = np.asarray(lon, np.float32).astype(np.float64)
        return (la > self.lat_lo) & (la <= self.lat_hi) & (lo > self.lon_lo) & (lo <= self.lon_hi)

    def describe(self) -> dict[str, Any]:
        def b(x: float) -> float | None:
            return None if np.isinf(x) else round(float(x), 4)

        return {"lat": [b(self.lat_lo), b(self.lat_hi)], "lon": [b(self.lon_lo), b(self.lon_hi)]}


@dataclass
class GeoTree:
    """Cohort i = speakers inside ``boxes[i]``; speakers without a location get -1."""

    boxes: list[Box]

    def assign(self, sp: Speakers) -> np.ndarray:
        out = np.full(len(sp), -1, dtype=np.int64)
        for i, box in enumerate(self.boxes):
            out[box.contains(sp.lat, sp.lon)] = i
        return out

    def describe(self) -> list[dict[str, Any]]:
        return [{"box": b.describe()} for b in self.boxes]


def _leaf_boxes(tree: Any) -> list[tuple[int, Box]]:
    t = tree.tree_
    out: list[tuple[int, Box]] = []
    stack = [(0, Box(-INF, INF, -INF, INF))]
    while stack:
        node, box = stack.pop()
        left, right = t.children_left[node], t.children_right[node]
        if left == -1:
            out.append((node, box))
            continue
        thr, f = float(t.threshold[node]), int(t.feature[node])
        lb, rb = Box(**vars(box)), Box(**vars(box))
        if f == 0:
            lb.lat_hi, rb.lat_lo = thr, thr
        else:
            lb.lon_hi, rb.lon_lo = thr, thr
        stack += [(right, rb), (left, lb)]
    return sorted(out, key=lambda nb: nb[0])


def fit_tree(sp: Speakers, min_speakers: int, max_regions: int, max_depth: int, seed: int = 0) -> GeoTree:
    """Regions maximising WER differences, each holding at least ``min_speakers`` speakers."""
    ok = np.isfinite(sp.lat) & np.isfinite(sp.lon) & (sp.words > 0)
    if ok.sum() < 2 * min_speakers:
        return GeoTree([Box(-INF, INF, -INF, INF)]) if ok.any() else _no_tree()
    x = np.stack([sp.lat[ok], sp.lon[ok]], axis=1)
    y = sp.errors[ok] / sp.words[ok]
    reg = DecisionTreeRegressor(
        criterion="squared_error",
        min_samples_leaf=min_speakers,
        max_leaf_nodes=max_regions,
        max_depth=max_depth,
        random_state=seed,
    )
    reg.fit(x, y, sample_weight=sp.words[ok].astype(np.float64))
    return GeoTree([b for _, b in _leaf_boxes(reg)])


def _no_tree() -> GeoTree:
    raise FairstreamError("no dev speaker has a location (lat, lon) and reference words")
