"""One seed for everything: global RNGs for training, derived seeds for sharded work."""

from __future__ import annotations

import hashlib
import random

import numpy as np


def derive_seed(seed: int, *keys: object) -> int:
    """A stable 32-bit seed for (seed, keys...), independent of process, order and job count.

    Sharded steps seed each item from its own key, so ``--nj`` never changes the output.
    """
    text = "\x1f".join([str(seed), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (if imported) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return
    torch.manual_seed(seed)
