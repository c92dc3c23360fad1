"""Pseudo-groups for the adversary: k-means on a memory of recent training embeddings.

ARW has no demographic labels; it gives the adversary a coarse "where in embedding space" cue
instead.  Every training step writes its (detached, length-normalised) embeddings into a
memory with one row per training utterance; every ``refit_every`` steps k-means is refit on the
filled rows, and a sample's cluster is its nearest centroid.  This costs no extra forward pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans


class ClusterMemory:
    def __init__(self, num_items: int, embed_dim: int, num_clusters: int, seed: int) -> None:
        self.memory = torch.zeros(num_items, embed_dim)
        self.filled = torch.zeros(num_items, dtype=torch.bool)
        self.num_clusters = num_clusters
        self.seed = seed
        self.centroids: torch.Tensor | None = None
        self.fits = 0

    def update(self, index: torch.Tensor, emb: torch.Tensor) -> None:
        """Store a batch's embeddings (memory and k-means stay on the CPU, whatever the model's device)."""
        index = index.cpu()
        self.memory[index] = F.normalize(emb.detach().float(), dim=1).cpu()
        self.filled[index] = True

    def refit(self) -> None:
        """k-means on the filled memory rows (deterministic given the seed and the fit count)."""
        x = self.memory[self.filled].numpy()
        k = min(self.num_clusters, len(x))
        if k < 1:
            return
        km = KMeans(n_clusters=k, n_init=1, max_iter=100, random_state=(self.seed + self.fits) % 2**31)
        km.fit(x.astype(np.float64))
        self.centroids = F.normalize(torch.from_numpy(km.cluster_centers_).float(), dim=1)
        self.fits += 1

    def assign(self, emb: torch.Tensor) -> torch.Tensor:
        """Nearest-centroid cluster of each embedding (all zeros before the first fit)."""
        if self.centroids is None:
            return torch.zeros(len(emb), dtype=torch.int64, device=emb.device)
        return (F.normalize(emb.detach().float(), dim=1) @ self.centroids.to(emb.device).t()).argmax(dim=1)

    def state_dict(self) -> dict[str, Any]:
        return {"memory": self.memory, "filled": self.filled, "centroids": self.centroids, "fits": self.fits}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.memory, self.filled = s["memory"], s["filled"]
        self.centroids, self.fits = s["centroids"], s["fits"]
