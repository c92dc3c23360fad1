"""Encoder registry: an architecture is a name here plus a YAML file, never a new trainer."""

from __future__ import annotations

import inspect
from typing import Any

from steps.utils import FairstreamError

from .encoders.base import StreamingEncoder
from .encoders.cca import CcaTransformer, SlidingWindowTransformer
from .encoders.conformer import StreamingConformer
from .encoders.contextnet import ContextNetEncoder
from .encoders.convrnnt import ConvRnnEncoder
from .encoders.lstm import LstmEncoder

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


# ---- tasks: what a training YAML's model block builds --------------------------------------------
TASKS = {"transducer": "cuts", "multitalker": "sessions"}  # task -> training manifest prefix


def model_block(task: str, model: dict[str, Any], where: str = "model") -> Any:
    """The typed ``model:`` block of a task (ModelConf or SeparatorConf); unknown keys fail in one line."""
    from steps.utils.config import from_dict

    if task == "multitalker":
        from steps.multitalker.model import SeparatorConf

        return from_dict(SeparatorConf, model, where=where)
    from .transducer import ModelConf

    return from_dict(ModelConf, model, where=where)


def build_model(
    task: str, model: dict[str, Any], vocab_size: int, num_features: int = 80, where: str = "model"
) -> Any:
    """The model of a task: a Transducer, or the two-channel separator for sessions."""
    conf = model_block(task, model, where)
    if task == "multitalker":
        from steps.multitalker.model import SeparatorTransducer

        return SeparatorTransducer(conf, vocab_size, num_features)
    from .transducer import Transducer

    return Transducer.from_conf(conf, vocab_size, num_features)
