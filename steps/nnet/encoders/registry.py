"""Encoder registry: an architecture is a name here plus a YAML file, never a new trainer."""

from __future__ import annotations

import inspect
from typing import Any

from steps.utils import FairstreamError

from .base import StreamingEncoder
from .cca import CcaTransformer, SlidingWindowTransformer
from .conformer import StreamingConformer
from .contextnet import ContextNetEncoder
from .convrnnt import ConvRnnEncoder
from .lstm import LstmEncoder

ENCODERS: dict[str, type[StreamingEncoder]] = {
    "lstm": LstmEncoder,
    "convrnnt": ConvRnnEncoder,
    "conformer": StreamingConformer,
    "contextnet": ContextNetEncoder,
    "cca": CcaTransformer,
    "sliding_window": SlidingWindowTransformer,
}


def build_encoder(name: str, conf: dict[str, Any] | None = None) -> StreamingEncoder:
    """Instantiate a registered encoder; unknown names or keys give one-line errors."""
    if name not in ENCODERS:
        raise FairstreamError(f"unknown encoder {name!r}; registered: {', '.join(sorted(ENCODERS))}")
    cls = ENCODERS[name]
    conf = dict(conf or {})
    params = inspect.signature(cls.__init__).parameters
    bad = sorted(k for k in conf if k not in params or k == "self")
    if bad:
        known = ", ".join(p for p in params if p != "self")
        raise FairstreamError(f"encoder {name!r} does not accept {', '.join(bad)}; it takes: {known}")
    return cls(**conf)
