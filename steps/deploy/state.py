"""An encoder's nested streaming state as the flat list of named tensors an ONNX graph carries.

Our encoders keep their state as nested dicts, lists and tuples of tensors and Python ints
(``init_state``/``stream``).  A graph needs a fixed list of fixed-shape inputs and outputs, so
:func:`describe` streams zero chunks through the encoder until every piece of state stops changing
shape (caches that fill up, e.g. the Conformer's keys and values, reach their full length) and
records each piece as a :class:`Leaf`:

- ``tensor``: carried with its steady shape.  One that grows in torch (an attention cache) starts
  in the graph at its full length, zero on the left; every encoder here masks or ignores those
  positions (the Conformer masks keys at negative positions), which the export tests check.
- ``int``: a counter (frames seen by a running mean, the Conformer's position), a 0-d int64
  tensor in the graph, shared by every stream of a batch.
- ``empty``: a tensor that stays empty with chunks of this size (frames waiting for a whole
  subsampling group): no graph input, rebuilt empty inside the graph.

Every piece starts at zero, so a runtime makes the initial state from the shapes alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

import torch
from torch import Tensor

from steps.nnet.encoders.base import StreamingEncoder
from steps.utils import FairstreamError

MAX_WARMUP_CHUNKS = 256  # chunks streamed to find the steady state shapes


@dataclass(frozen=True)
class Leaf:
    name: str  # path in the nested state, e.g. "lstm.0.1" (layer 0's cell state)
    kind: str  # "tensor" | "int" | "empty"
    shape: tuple[int, ...]  # steady shape with a batch of one; () for an int
    dtype: torch.dtype
    batch_axis: int | None  # None for ints (shared by the batch)

    def per_stream(self) -> int:
        """Numbers of one stream (the batch axis left out); 1 for an int."""
        return 1 if self.kind == "int" else prod(self.shape)


def _paths(state: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(state, dict):
        return [p for k, v in state.items() for p in _paths(v, f"{prefix}{k}.")]
    if isinstance(state, (list, tuple)):
        return [p for i, v in enumerate(state) for p in _paths(v, f"{prefix}{i}.")]
    return [(prefix[:-1], state)]


def _rebuild(skeleton: Any, values: dict[str, Any], prefix: str = "") -> Any:
    if isinstance(skeleton, dict):
        return {k: _rebuild(v, values, f"{prefix}{k}.") for k, v in skeleton.items()}
    if isinstance(skeleton, (list, tuple)):
        items = [_rebuild(v, values, f"{prefix}{i}.") for i, v in enumerate(skeleton)]
        return items if isinstance(skeleton, list) else tuple(items)
    return values[prefix[:-1]]


def _batch_axis(one: Tensor, two: Tensor, name: str) -> int:
    axes = [i for i, (a, b) in enumerate(zip(one.shape, two.shape, strict=True)) if a != b]
    if len(axes) != 1 or one.shape[axes[0]] != 1:
        raise FairstreamError(
            f"encoder state {name}: cannot tell its batch axis ({one.shape} vs {two.shape})"
        )
    return axes[0]


def _is_zero(v: Any) -> bool:
    return v == 0 if isinstance(v, int) else not bool(v.ne(0).any())


class StateSpec:
    """The leaves of an encoder's state and how to go between the nested and the flat form."""

    def __init__(self, skeleton: Any, leaves: list[Leaf]) -> None:
        self.skeleton = skeleton
        self.leaves = leaves
        self.carried = [leaf for leaf in leaves if leaf.kind != "empty"]

    def flatten(self, state: Any) -> list[Tensor]:
        """The carried leaves of a nested state, in ``carried`` order (ints as 0-d tensors)."""
        values = dict(_paths(state))
        out = []
        for leaf in self.carried:
            v = values[leaf.name]
            out.append(torch.as_tensor(v, dtype=torch.int64) if leaf.kind == "int" else v)
        return out

    def unflatten(self, flat: list[Tensor], like: Tensor) -> Any:
        """A nested state from carried tensors; empty leaves are rebuilt with ``like``'s batch."""
        values: dict[str, Any] = {}
        it = iter(flat)
        for leaf in self.leaves:
            if leaf.kind == "empty":
                assert leaf.batch_axis is not None
                shape = list(leaf.shape)
                shape[leaf.batch_axis] = like.size(0)
                values[leaf.name] = like.new_zeros(shape, dtype=leaf.dtype)
            else:
                values[leaf.name] = next(it)
        return _rebuild(self.skeleton, values)

    def zeros(self, batch: int) -> list[Tensor]:
        """The initial carried state: zeros of the steady shapes."""
        out = []
        for leaf in self.carried:
            shape = list(leaf.shape)
            if leaf.batch_axis is not None:
                shape[leaf.batch_axis] = batch
            out.append(torch.zeros(shape, dtype=leaf.dtype))
        return out


def frames_multiple(encoder: StreamingEncoder) -> int:
    """Input frames a chunk must be a multiple of for the state to keep a fixed shape: the
    subsampling factor, times the attention chunk of a chunked-attention encoder."""
    return int(encoder.subsampling) * int(getattr(encoder, "chunk_size", 1))


@torch.no_grad()
def describe(encoder: StreamingEncoder, chunk_frames: int, num_features: int) -> StateSpec:
    """The state leaves of ``encoder`` streaming chunks of ``chunk_frames`` frames."""
    multiple = frames_multiple(encoder)
    if chunk_frames < 1 or chunk_frames % multiple:
        raise FairstreamError(
            f"a chunk of {chunk_frames} frames leaves frames waiting in the encoder's state; "
            f"export needs a multiple of {multiple} (subsampling x attention chunk)"
        )
    init1, init2 = encoder.init_state(1), encoder.init_state(2)
    state = init1
    zeros = torch.zeros(1, chunk_frames, num_features)
    prev = None
    for _ in range(MAX_WARMUP_CHUNKS):
        _, state = encoder.stream(zeros, state)
        shapes = [(k, tuple(v.shape) if isinstance(v, Tensor) else ()) for k, v in _paths(state)]
        if shapes == prev:
            break
        prev = shapes
    else:
        raise FairstreamError(
            f"the encoder's state does not settle to fixed shapes with chunks of {chunk_frames} frames"
        )
    first, second = dict(_paths(init1)), dict(_paths(init2))
    leaves = []
    for name, v in _paths(state):
        start = first[name]
        if not _is_zero(start):
            raise FairstreamError(f"encoder state {name} does not start at zero; cannot export it")
        if isinstance(v, int) or (isinstance(v, Tensor) and v.dim() == 0):
            if not isinstance(start, int):
                raise FairstreamError(f"encoder state {name}: a 0-d tensor state is not supported")
            leaves.append(Leaf(name, "int", (), torch.int64, None))
            continue
        axis = _batch_axis(start, second[name], name)
        kind = "empty" if v.numel() == 0 else "tensor"
        if kind == "tensor" and v.dtype not in (torch.float32, torch.int64):
            raise FairstreamError(f"encoder state {name} is {v.dtype}; export carries float32 and int64")
        grows = [i for i, (a, b) in enumerate(zip(start.shape, v.shape, strict=True)) if a != b]
        if kind == "tensor" and grows and (len(grows) > 1 or grows[0] == axis):
            raise FairstreamError(
                f"encoder state {name} changes shape {tuple(start.shape)} -> {tuple(v.shape)}"
            )
        leaves.append(Leaf(name, kind, tuple(v.shape), v.dtype, axis))
    skeleton = _rebuild_skeleton(state)
    return StateSpec(skeleton, leaves)


def _rebuild_skeleton(state: Any) -> Any:
    """The container structure of a state with leaves replaced by None."""
    if isinstance(state, dict):
        return {k: _rebuild_skeleton(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        items = [_rebuild_skeleton(v) for v in state]
        return items if isinstance(state, list) else tuple(items)
    return None
