"""Checkpoints that make training resumable and decoding reproducible."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from steps.utils import FairstreamError, atomic_path

log = logging.getLogger(__name__)

LATEST = "checkpoint-latest.pt"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Atomic: a kill during the write leaves the previous checkpoint intact."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load, or fail in one line: a corrupt checkpoint never turns into a silent fresh start."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise FairstreamError(f"checkpoint {path} is corrupt ({msg[:120]}); delete it or use --force") from e


def average_state_dicts(paths: list[Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of the models in ``paths`` (icefall's epoch averaging)."""
    avg: dict[str, torch.Tensor] = {}
    for p in paths:
        sd = load_checkpoint(p)["model"]
        for k, v in sd.items():
            if v.is_floating_point():
                avg[k] = avg.get(k, 0) + v.double() / len(paths)
            else:
                avg[k] = v
    first = load_checkpoint(paths[0])["model"]
    return {k: v.to(first[k].dtype) for k, v in avg.items()}


def epoch_checkpoints(exp_dir: Path) -> list[Path]:
    return sorted(exp_dir.glob("epoch-*.pt"), key=lambda p: int(p.stem.split("-")[1]))
