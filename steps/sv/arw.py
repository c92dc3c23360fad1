"""Adversarial re-weighting (ARW) of the pairwise loss, after Jin et al. (Interspeech 2022).

An adversary looks at each training sample (its embedding and its k-means cluster, see
:mod:`steps.sv.clusters`) and outputs a positive weight; weights are normalised over the batch
so the adversary can only move emphasis between samples, not inflate the loss.  A pair's weight
is the sum of its two sample weights (``pairwise_sum``, the seed's best variant), or comes from
an adversary that scores the pair directly (``pair_direct``).  The extractor minimises the
weighted pairwise loss and the adversary maximises it, in alternating updates, so training
focuses on the samples (and through the clusters, the regions of speaker space) it serves
worst — without demographic labels.

Normalisation: ``w_i = floor + (1 - floor) * B * a_i / sum(a)`` with ``a_i = sigmoid(f(x_i))``.
The weights average exactly 1 over the batch and never fall below ``floor`` (Lahoti et al.'s
ARL uses the same form with floor 1/2, up to a factor 2), which keeps every sample in play and
stops the adversary from zeroing out whole groups.  ``none`` is the baseline: uniform weights,
the same recipe and the same number of steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from steps.utils import FairstreamError

from .losses import weighted_pair_loss

VARIANTS = ("none", "pairwise_sum", "pair_direct")


@dataclass
class ArwConf:
    """The ``arw:`` block of a conf/sv YAML."""

    variant: str = "none"  # none | pairwise_sum | pair_direct
    num_clusters: int = 8
    refit_every: int = 100  # steps between k-means refits of the embedding memory
    hidden_dim: int = 64
    lr: float = 1e-3
    weight_floor: float = 0.5
    adversary_every: int = 1  # adversary update every N extractor updates

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise FairstreamError(f"arw.variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        if not 0.0 <= self.weight_floor < 1.0:
            raise FairstreamError(f"arw.weight_floor must be in [0, 1), got {self.weight_floor}")


def normalise(a: torch.Tensor, floor: float) -> torch.Tensor:
    """Positive scores -> weights with mean exactly 1 and minimum ``floor``."""
    return floor + (1.0 - floor) * len(a) * a / a.sum().clamp(min=1e-12)


def pair_sum(w: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """Pair weight = w_i + w_j."""
    return w[i] + w[j]


class SampleAdversary(nn.Module):
    """f(embedding, cluster one-hot) -> a per-sample weight; pairs get w_i + w_j."""

    def __init__(self, embed_dim: int, num_clusters: int, hidden_dim: int, floor: float) -> None:
        super().__init__()
        self.num_clusters = num_clusters
        self.floor = floor
        self.net = nn.Sequential(
            nn.Linear(embed_dim + num_clusters, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 1)
        )

    def features(self, emb: torch.Tensor, cluster: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [F.normalize(emb, dim=1), F.one_hot(cluster, self.num_clusters).to(emb.dtype)], dim=1
        )

    def sample_weights(self, emb: torch.Tensor, cluster: torch.Tensor) -> torch.Tensor:
        a = torch.sigmoid(self.net(self.features(emb, cluster)).squeeze(1))
        return normalise(a, self.floor)

    def forward(
        self, emb: torch.Tensor, cluster: torch.Tensor, i: torch.Tensor, j: torch.Tensor
    ) -> torch.Tensor:
        return pair_sum(self.sample_weights(emb, cluster), i, j)


class PairAdversary(nn.Module):
    """f(pair) -> a weight per pair directly, from symmetric pair features; normalised over pairs."""

    def __init__(self, embed_dim: int, num_clusters: int, hidden_dim: int, floor: float) -> None:
        super().__init__()
        self.num_clusters = num_clusters
        self.floor = floor
        self.net = nn.Sequential(
            nn.Linear(2 * embed_dim + num_clusters, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 1)
        )

    def forward(
        self, emb: torch.Tensor, cluster: torch.Tensor, i: torch.Tensor, j: torch.Tensor
    ) -> torch.Tensor:
        z = F.normalize(emb, dim=1)
        oh = F.one_hot(cluster, self.num_clusters).to(emb.dtype)
        x = torch.cat([z[i] + z[j], (z[i] - z[j]).abs(), oh[i] + oh[j]], dim=1)
        a = torch.sigmoid(self.net(x).squeeze(1))
        return 2.0 * normalise(a, self.floor)  # mean 2, like w_i + w_j


def build_adversary(conf: ArwConf, embed_dim: int) -> nn.Module | None:
    if conf.variant == "none":
        return None
    cls = SampleAdversary if conf.variant == "pairwise_sum" else PairAdversary
    return cls(embed_dim, conf.num_clusters, conf.hidden_dim, conf.weight_floor)


def adversary_step(
    adversary: nn.Module,
    opt: torch.optim.Optimizer,
    emb: torch.Tensor,
    cluster: torch.Tensor,
    i: torch.Tensor,
    j: torch.Tensor,
    same: torch.Tensor,
    losses: torch.Tensor,
    balance: str = "joint",
) -> float:
    """One gradient-ascent step of the adversary on the (fixed) per-pair losses; returns the
    weighted loss before the step (``balance`` as in the extractor's loss)."""
    weights = adversary(emb.detach(), cluster, i, j)
    objective = weighted_pair_loss(losses.detach(), weights, same, balance)
    opt.zero_grad(set_to_none=True)
    (-objective).backward()
    opt.step()
    return objective.item()
