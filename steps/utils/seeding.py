"""One seed for everything: global RNGs for training, derived seeds for sharded work, and the
RNG states a resumable trainer saves and restores."""

from __future__ import annotations

import hashlib
import random
from typing import Any

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


def rng_state() -> dict[str, Any]:
    """The python, numpy and torch global generator states (saved with every checkpoint)."""
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(s: dict[str, Any]) -> None:
    """Restore :func:`rng_state`'s generators: a resumed run draws what the killed one would have."""
    import torch

    random.setstate(s["python"])
    np.random.set_state(s["numpy"])
    torch.set_rng_state(s["torch"])
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])
