"""``model_info.json``: what reports need about a trained model, so that they never rebuild it
from a config: its size, the encoder's compute per second of audio and what the training cost."""

from __future__ import annotations

import logging
from typing import Any

from torch import nn

from .flops import encoder_flops_per_second
from .task import Task

log = logging.getLogger(__name__)

MODEL_INFO = "model_info.json"
SUMMARY_KEYS = ("steps", "epochs", "train_seconds", "threads", "core_minutes", "audio_seconds", "world_size")


def model_info(
    model: nn.Module,
    task: Task,
    model_conf: dict[str, Any],
    vocab_size: int,
    summary: dict[str, Any],
    **run: Any,
) -> dict[str, Any]:
    """The record for ``model`` (built by ``task`` from ``model_conf``) after a training whose
    ``summary`` holds SUMMARY_KEYS; ``run`` adds how it ran (device, precision)."""
    encoder = getattr(model, "encoder", None)
    flops = None
    if encoder is not None:
        try:  # a fresh CPU copy of the architecture: the dense cost, whatever gates were learnt
            flops = encoder_flops_per_second(task.build_model(model_conf, vocab_size).encoder)
        except Exception as e:  # noqa: BLE001 - a FLOP count must not lose a finished training
            log.warning("no encoder FLOP count: %s", e)
    return {
        "encoder": model_conf.get("encoder"),
        "task": task.name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "encoder_parameters": sum(p.numel() for p in encoder.parameters()) if encoder is not None else None,
        "encoder_flops_per_second": flops,
        "subsampling": getattr(encoder, "subsampling", None),
        **{k: str(v) for k, v in run.items()},
        **{k: summary[k] for k in SUMMARY_KEYS},
    }
