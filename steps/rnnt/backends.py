"""Choosing the implementation behind ``steps.rnnt``: k2, fast_rnnt or native PyTorch.

k2 and fast_rnnt ship the same compiled recursion (C++/CUDA); the native backend is the
pure-PyTorch one in this package and is always available.  "auto" takes the first
importable of :data:`BACKENDS` (fastest first) and logs its choice once.
"""

from __future__ import annotations

import functools
import importlib
import logging
from types import ModuleType

logger = logging.getLogger("steps.rnnt")

BACKENDS = ("k2", "fast_rnnt", "native")  # preference order of "auto"
_EXTERNAL = ("k2", "fast_rnnt")
_auto_announced = False
_cuda_fallback_announced = False


class BackendUnavailableError(ImportError):
    """The requested backend's package cannot be imported here."""


@functools.cache
def _import_problem(module_name: str) -> str | None:
    """None if ``module_name`` imports, else a one-line reason (cached: imports are slow)."""
    try:
        importlib.import_module(module_name)
    except Exception as exc:  # a broken build raises more than ImportError (OSError, ...)
        first_line = (str(exc).strip().splitlines() or [""])[0]
        return f"{type(exc).__name__}: {first_line}"
    return None


def available_backends() -> list[str]:
    """Importable backends, fastest first; always ends with "native"."""
    return [name for name in _EXTERNAL if _import_problem(name) is None] + ["native"]


def resolve_backend(name: str = "auto") -> str:
    """Map "auto" to the fastest available backend and check that a named one is importable."""
    global _auto_announced
    if name == "auto":
        chosen = available_backends()[0]
        if not _auto_announced:
            logger.info(
                "RNN-T loss backend: %s (auto; available: %s)",
                chosen,
                ", ".join(available_backends()),
            )
            _auto_announced = True
        return chosen
    if name not in BACKENDS:
        raise ValueError(f"unknown RNN-T backend {name!r}; choose 'auto' or one of {BACKENDS}")
    if name != "native" and (problem := _import_problem(name)) is not None:
        raise BackendUnavailableError(
            f"RNN-T backend {name!r} is not importable ({problem}); available: "
            f"{', '.join(available_backends())}"
        )
    return name


def backend_module(name: str) -> ModuleType:
    """The module holding the k2-style functions of an already resolved backend."""
    if name == "native":
        return importlib.import_module("steps.rnnt.native")
    return importlib.import_module(name)


@functools.cache
def supports_cuda(name: str) -> bool:
    """Whether a resolved backend computes on CUDA tensors (a CPU-only build of k2 or fast_rnnt
    does not; the native backend runs wherever PyTorch does)."""
    if name == "native":
        return True
    with_cuda = getattr(backend_module(name), "with_cuda", None)
    if callable(with_cuda):
        return bool(with_cuda())
    return bool(with_cuda)


def resolve_for(name: str, on_cuda: bool) -> str:
    """``resolve_backend``, then for CUDA tensors a backend that runs there: "auto" falls back to
    the native loss (logged once), a named CPU-only backend is a one-line error."""
    global _cuda_fallback_announced
    chosen = resolve_backend(name)
    if not on_cuda or supports_cuda(chosen):
        return chosen
    if name != "auto":
        raise BackendUnavailableError(
            f"RNN-T backend {name!r} was built without CUDA; use backend 'native' or 'auto' on a GPU"
        )
    if not _cuda_fallback_announced:
        logger.warning("RNN-T loss backend %s has no CUDA build: the native loss runs on the GPU", chosen)
        _cuda_fallback_announced = True
    return "native"
