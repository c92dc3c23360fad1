"""Training objectives: additive-margin softmax (warm-up) and a pairwise metric-learning loss.

The AM-softmax head gives the extractor a well-spread embedding space quickly; the pairwise
loss is what ARW re-weights, because its unit is a pair of samples, the thing a verification
trial scores.  Each pair's loss is a logistic loss on its scaled cosine similarity,
``softplus(-y * (scale * cos + bias))`` with ``y = +1`` for same-speaker pairs.  The batch loss
is the weighted mean of the pair losses under the pair weights, either over all pairs at once
(``joint``: the paper's weighted metric-learning loss, so the adversary's weights compete across
every pair of the batch) or separately within target and non-target pairs, then averaged
(``per_class``: a batch of M speakers x K utterances has many more non-target pairs, and this
keeps the two kinds at equal mass).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AmSoftmaxHead(nn.Module):
    """Cosine classifier with an additive margin on the true class (CosFace / AM-softmax)."""

    def __init__(self, embed_dim: int, num_classes: int, margin: float = 0.2, scale: float = 30.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_classes, embed_dim) * 0.01)
        self.margin = margin
        self.scale = scale

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, accuracy) for embeddings (B, E) and integer labels (B,)."""
        cos = F.normalize(emb, dim=1) @ F.normalize(self.weight, dim=1).t()
        onehot = F.one_hot(labels, cos.shape[1]).to(cos.dtype)
        logits = self.scale * (cos - self.margin * onehot)
        acc = (cos.argmax(dim=1) == labels).float().mean()
        return F.cross_entropy(logits, labels), acc


class PairScorer(nn.Module):
    """Learnable affine map from cosine to a same-speaker logit (GE2E-style scale and bias)."""

    def __init__(self, init_scale: float = 10.0, init_bias: float = -5.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(init_scale)))
        self.bias = nn.Parameter(torch.tensor(float(init_bias)))

    def forward(self, cos: torch.Tensor) -> torch.Tensor:
        return self.scale.clamp(min=1e-2) * cos + self.bias


def batch_pairs(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Indices (i, j), i < j, of every pair in the batch and whether it is a target pair."""
    i, j = torch.triu_indices(len(labels), len(labels), offset=1, device=labels.device)
    return i, j, labels[i] == labels[j]


def pair_losses(
    emb: torch.Tensor, i: torch.Tensor, j: torch.Tensor, same: torch.Tensor, scorer: PairScorer
) -> torch.Tensor:
    """Per-pair logistic loss on the scaled cosine similarity."""
    z = F.normalize(emb, dim=1)
    cos = (z[i] * z[j]).sum(dim=1)
    y = same.to(cos.dtype) * 2 - 1
    return F.softplus(-y * scorer(cos))


BALANCES = ("joint", "per_class")


def weighted_pair_loss(
    losses: torch.Tensor, weights: torch.Tensor | None, same: torch.Tensor, balance: str = "joint"
) -> torch.Tensor:
    """Weighted mean of the pair losses (uniform when ``weights`` is None): over all pairs
    (``joint``) or the mean of the target-pair and non-target-pair weighted means (``per_class``)."""
    if balance not in BALANCES:
        raise ValueError(f"balance must be one of {BALANCES}, got {balance!r}")
    if weights is None:
        weights = torch.ones_like(losses)
    groups = [torch.ones_like(same)] if balance == "joint" else [same, ~same]
    parts = []
    for m in groups:
        if m.any():
            w = weights[m]
            parts.append((w * losses[m]).sum() / w.sum().clamp(min=1e-12))
    return torch.stack(parts).mean()
