"""Automatic cohorts (Dheram et al.): k-means "virtual regions" of speaker embeddings.

Each speaker is their mean length-normalised embedding (``speakers.speaker_embeddings``), so
Euclidean k-means on the unit sphere clusters by cosine similarity.  k comes from the YAML
(``k``); with ``k: 0`` it is the k in [2, k_max] with the best silhouette on dev, i.e. the most
clearly separated clusters -- not the one with the largest WER gap, which would peek at errors.
The rule is the centroids: any speaker goes to the nearest one; speakers without an embedding
get -1 and are counted, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from steps.utils import FairstreamError

from .speakers import Speakers


@dataclass
class CentroidRule:
    centroids: np.ndarray  # (k, dim)
    sizes: list[int]

    def assign(self, sp: Speakers) -> np.ndarray:
        if sp.emb is None:
            return np.full(len(sp), -1, dtype=np.int64)
        out = np.full(len(sp), -1, dtype=np.int64)
        ok = np.isfinite(sp.emb).all(axis=1)
        if ok.any():
            d = ((sp.emb[ok][:, None, :] - self.centroids[None]) ** 2).sum(-1)
            out[ok] = d.argmin(axis=1)
        return out

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"centroid": i, "dev_speakers_fit": n, "centroid_norm": round(float(np.linalg.norm(c)), 4)}
            for i, (c, n) in enumerate(zip(self.centroids, self.sizes, strict=True))
        ]


def _kmeans(x: np.ndarray, k: int, seed: int) -> KMeans:
    return KMeans(n_clusters=k, n_init=10, random_state=seed % 2**31).fit(x)


def fit_kmeans(sp: Speakers, k: int, seed: int, k_max: int = 12) -> tuple[CentroidRule, int]:
    """k-means on dev speakers with embeddings; returns the rule and the k used."""
    if sp.emb is None:
        raise FairstreamError("automatic cohorts need speaker embeddings")
    x = sp.emb[np.isfinite(sp.emb).all(axis=1)]
    if len(x) < 2:
        raise FairstreamError(f"only {len(x)} dev speaker(s) have embeddings; k-means needs >= 2")
    if k == 0:
        best = None
        for kk in range(2, min(k_max, len(x) - 1) + 1):
            km = _kmeans(x, kk, seed)
            if len(set(km.labels_)) < 2:
                continue
            s = silhouette_score(x, km.labels_)
            if best is None or s > best[0]:
                best = (s, km)
        km = best[1] if best is not None else _kmeans(x, 2, seed)
    else:
        km = _kmeans(x, min(k, len(x)), seed)
    sizes = np.bincount(km.labels_, minlength=km.n_clusters).tolist()
    return CentroidRule(np.asarray(km.cluster_centers_, np.float64), sizes), int(km.n_clusters)
