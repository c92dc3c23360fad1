"""Global feature normalisation: the training set's per-dimension mean / std, set once in the
front ends before the first update and saved with the weights."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from steps.utils import FairstreamError

log = logging.getLogger(__name__)


def feature_stats(cuts: Any, max_cuts: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and std of the features of up to ``max_cuts`` evenly spaced cuts."""
    cuts = list(cuts)
    step = max(1, len(cuts) // max_cuts)
    total, total_sq, frames = 0.0, 0.0, 0
    for cut in cuts[::step][:max_cuts]:
        f = torch.from_numpy(cut.load_features()).double()
        total = total + f.sum(0)
        total_sq = total_sq + (f * f).sum(0)
        frames += f.shape[0]
    if frames == 0:
        raise FairstreamError("no training features to compute the feature mean / std from")
    mean = total / frames
    std = (total_sq / frames - mean * mean).clamp(min=0).sqrt()
    log.info("feature normalisation from %d frames: mean %.2f, std %.2f (averaged over dims)",
             frames, float(mean.mean()), float(std.mean()))  # fmt: skip
    return mean.float(), std.float()


def set_feature_stats(model: nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
    """Hand the statistics to every front end that normalises its input."""
    for m in model.modules():
        if hasattr(m, "set_feature_stats") and m is not model:
            m.set_feature_stats(mean, std)
