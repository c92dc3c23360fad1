"""The learning-rate schedule both trainers use: linear warm-up, a constant peak, cosine decay."""

from __future__ import annotations

import math


def warmup_stable_decay(
    step: int, warmup: int, max_steps: int, final_fraction: float, decay_fraction: float = 1.0
) -> float:
    """Factor of the peak rate at ``step``: linear warm-up over ``warmup`` updates, the peak until
    the last ``decay_fraction`` of the updates after warm-up, then a cosine down to
    ``final_fraction`` at ``max_steps`` (``decay_fraction=1``: the classic warm-up + cosine).

    Why not cosine from the start: a short CPU budget is spent mostly underfitting, and a cosine
    from update 0 halves the rate before the model has learned much."""
    if step < warmup:
        return (step + 1) / warmup
    span = max(1, max_steps - warmup)
    decay = max(1, round(decay_fraction * span))
    p = min(1.0, max(0.0, (step - max_steps + decay) / decay))
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * p))
