"""Where a step runs its model: ``--device auto|cpu|cuda`` and mixed precision on GPUs.

``auto`` takes a GPU when there is one, one per process by ``LOCAL_RANK`` (as ``torchrun``
sets it), and the CPU otherwise.  Asking for ``cuda`` on a machine without one is a one-line
error, never a silent fall-back.
"""

from __future__ import annotations

import contextlib
import os

import click
import torch

from .errors import FairstreamError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "fp16")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` -> a torch device this process may use."""
    if name == "cpu":
        return torch.device("cpu")
    if name == "auto" and not torch.cuda.is_available():
        return torch.device("cpu")
    if name not in ("auto", "cuda") and not name.startswith("cuda:"):
        raise FairstreamError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)} (or cuda:N)")
    if not torch.cuda.is_available():
        raise FairstreamError(f"--device {name}: no CUDA GPU is available here; use --device cpu or auto")
    if name.startswith("cuda:"):
        return torch.device(name)
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())


def device_option(f: click.decorators.FC) -> click.decorators.FC:
    """The ``--device`` option every model-running step shares."""
    return click.option(
        "--device", default="auto", show_default=True,
        help="auto (a GPU when there is one, one per rank by LOCAL_RANK), cpu, cuda or cuda:N.",
    )(f)  # fmt: skip


def to_device(tree: object, device: torch.device) -> object:
    """Every tensor in a nest of lists, tuples and dicts (e.g. a streaming state) moved to ``device``."""
    if isinstance(tree, torch.Tensor):
        return tree.to(device)
    if isinstance(tree, dict):
        return {k: to_device(v, device) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        moved = [to_device(v, device) for v in tree]
        return moved if isinstance(tree, list) else tuple(moved)
    return tree


def autocast(device: torch.device, precision: str = "fp32") -> contextlib.AbstractContextManager:
    """Mixed precision for the forward pass on a GPU (``bf16`` or ``fp16``); a no-op for fp32."""
    if precision not in PRECISIONS:
        raise FairstreamError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return contextlib.nullcontext()
    if device.type != "cuda":
        raise FairstreamError(f"--precision {precision} needs a CUDA device (got {device})")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


def set_job_threads(default: int) -> int:
    """torch threads of a training or an extraction: ``FAIRSTREAM_THREADS`` when a driver runs
    several jobs side by side (``steps.run_jobs`` sets it to cores / jobs), else the config's
    ``default``.  The budget comes from the environment so that it is not part of the config a
    resume checks (a decode's --num-threads is, as its timings depend on it)."""
    threads = int(os.environ.get("FAIRSTREAM_THREADS", default))
    torch.set_num_threads(threads)
    return threads
