"""The transducer as three ONNX graphs (streaming encoder, stateless predictor, joiner) + tokens.

The split follows the one deployment runtimes expect (icefall's export, sherpa-onnx): the joiner's
input projections move into the other two graphs, so the encoder emits projected frames, the
"decoder" (our stateless predictor) maps the last ``context_size`` tokens to a projected vector,
and the joiner is ``out(tanh(encoder_out + decoder_out))``: per search step one small graph call.

The encoder graph runs one fixed chunk of fbank frames and carries every piece of its state as
inputs and outputs, in one of two layouts (:data:`LAYOUTS`):

- ``named``: one tensor per piece of our nested state (``steps.deploy.state``), names and
  shapes in the metadata; any encoder that exports.
- ``sherpa``: sherpa-onnx's ``lstm`` model type (``model_type=lstm``: inputs ``x, h, c``, states
  (layers, N, size) stacked by the runtime along axis 1).  The runtime never looks inside h and c,
  so every piece of our state is packed into them, one row per stream (metadata
  ``packed_states``).  Needs state that belongs to each stream alone: the LSTM, ConvRNN-T and
  ContextNet (their running-mean frame counters become per-stream numbers); the Conformer's
  position is shared by the batch, so it is ``named`` only.

The int8 copies come from onnxruntime's dynamic quantisation (weights of MatMul/Gemm/LSTM in
int8, activations quantised on the fly).
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from steps.nnet.encoders.base import StreamingEncoder
from steps.nnet.encoders.cca import CcaTransformer
from steps.nnet.encoders.contextnet import ContextNetEncoder
from steps.nnet.encoders.convrnnt import ConvRnnEncoder
from steps.nnet.encoders.lstm import LstmEncoder
from steps.nnet.encoders.registry import ENCODERS
from steps.nnet.transducer import Transducer
from steps.utils import FairstreamError

from .state import Leaf, StateSpec, describe

log = logging.getLogger(__name__)

LAYOUTS = ("auto", "named", "sherpa")
SHERPA_ENCODERS = (LstmEncoder, ConvRnnEncoder, ContextNetEncoder)
OPSET = 17
FILES = ("encoder", "decoder", "joiner")
QUANTIZED_OPS = ["MatMul", "Gemm", "LSTM"]
VERIFY_TOLERANCE = 1e-3  # max |torch - onnxruntime| of any graph output on random input


def encoder_name(encoder: StreamingEncoder) -> str:
    return next((k for k, v in ENCODERS.items() if type(encoder) is v), type(encoder).__name__)


def check_exportable(model: Transducer, layout: str) -> str:
    """The layout to use (``auto`` resolved); an encoder or model we cannot export is one line."""
    enc = model.encoder
    if layout not in LAYOUTS:
        raise FairstreamError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
    if not isinstance(enc, StreamingEncoder) or type(enc).stream is StreamingEncoder.stream:
        raise FairstreamError(
            f"encoder {encoder_name(enc)} cannot stream (no init_state/stream); not exported"
        )
    if isinstance(enc, CcaTransformer):
        raise FairstreamError(
            f"encoder {encoder_name(enc)} streams by gathering the frames each sub-block keeps "
            "(data-dependent shapes); no fixed-shape graph of it yet"
        )
    if getattr(model, "cohort", None) is not None:
        raise FairstreamError(
            "this model takes a per-utterance cohort input; export covers plain transducers"
        )
    fits = isinstance(enc, SHERPA_ENCODERS)
    if layout == "sherpa" and not fits:
        raise FairstreamError(
            f"encoder {encoder_name(enc)} keeps state shared by the batch (a position); sherpa-onnx's lstm "
            "layout needs per-stream state: use --layout named"
        )
    return layout if layout != "auto" else ("sherpa" if fits else "named")


# ---- the graphs ---------------------------------------------------------------------------------
class NamedEncoder(nn.Module):
    """One chunk: ``x`` (N, T, F) and every carried state tensor -> projected frames, new states."""

    def __init__(self, model: Transducer, spec: StateSpec) -> None:
        super().__init__()
        self.encoder, self.proj, self.spec = model.encoder, model.joiner.enc_proj, spec

    def forward(self, x: Tensor, *states: Tensor) -> tuple[Tensor, ...]:
        out, new = self.encoder.stream(x, self.spec.unflatten(list(states), x))
        return (self.proj(out), *self.spec.flatten(new))


@dataclass(frozen=True)
class Packing:
    """Where each carried leaf sits in the rows of sherpa's ``h`` and ``c`` (``layers`` rows each)."""

    leaves: list[Leaf]
    layers: int

    @property
    def offsets(self) -> list[int]:
        out, pos = [], 0
        for leaf in self.leaves:
            out.append(pos)
            pos += leaf.per_stream()
        return out

    @property
    def total(self) -> int:
        return sum(leaf.per_stream() for leaf in self.leaves)

    @property
    def width(self) -> int:
        return max(1, math.ceil(self.total / (2 * self.layers)))

    def describe(self) -> str:
        return ";".join(
            f"{leaf.name}:{o}:{leaf.per_stream()}" for leaf, o in zip(self.leaves, self.offsets, strict=True)
        )

    def pack(self, values: list[Tensor], batch: int) -> tuple[Tensor, Tensor]:
        rows = []
        for leaf, v in zip(self.leaves, values, strict=True):
            if leaf.kind == "int":
                rows.append(v.to(torch.float32).reshape(batch, 1))
            else:
                rows.append(v.movedim(leaf.batch_axis, 0).reshape(batch, -1))
        flat = torch.cat(rows, dim=1)
        flat = nn.functional.pad(flat, (0, 2 * self.layers * self.width - self.total))
        both = flat.reshape(batch, 2 * self.layers, self.width).transpose(0, 1)
        return both[: self.layers], both[self.layers :]

    def unpack(self, h: Tensor, c: Tensor) -> list[Tensor]:
        batch = h.size(1)
        flat = torch.cat([h, c], dim=0).transpose(0, 1).reshape(batch, -1)
        out = []
        for leaf, o in zip(self.leaves, self.offsets, strict=True):
            part = flat[:, o : o + leaf.per_stream()]
            if leaf.kind == "int":  # a per-stream counter (the running means accept one per stream)
                out.append(part.reshape(batch))
            else:
                assert leaf.batch_axis is not None
                shape = list(leaf.shape)
                shape.pop(leaf.batch_axis)
                out.append(part.reshape(batch, *shape).movedim(0, leaf.batch_axis))
        return out


class PackedEncoder(nn.Module):
    """sherpa-onnx's lstm layout: ``x, h, c`` -> ``encoder_out, new_h, new_c``."""

    def __init__(self, model: Transducer, spec: StateSpec, packing: Packing) -> None:
        super().__init__()
        self.encoder, self.proj, self.spec, self.packing = model.encoder, model.joiner.enc_proj, spec, packing

    def forward(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        state = self.spec.unflatten(self.packing.unpack(h, c), x)
        out, new = self.encoder.stream(x, state)
        h2, c2 = self.packing.pack(self.spec.flatten(new), x.size(0))
        return self.proj(out), h2, c2


class DecoderGraph(nn.Module):
    """``y`` (N, context_size) token ids -> the projected predictor output (N, joiner_dim).

    A negative id is blank: sherpa-onnx starts a stream's context as ``[-1, ..., -1, blank]``
    (icefall's predictor embeds -1 as zeros), where training and our searches start with blanks;
    left as it is, -1 would pick the last row of the embedding (ONNX ``Gather`` counts from the end).
    """

    def __init__(self, model: Transducer) -> None:
        super().__init__()
        self.predictor, self.proj = model.predictor, model.joiner.pred_proj

    def forward(self, y: Tensor) -> Tensor:
        return self.proj(self.predictor(y.clamp(min=0))[:, -1])


class JoinerGraph(nn.Module):
    """Projected encoder and decoder frames (N, joiner_dim) each -> logits (N, vocab)."""

    def __init__(self, model: Transducer) -> None:
        super().__init__()
        self.joiner = model.joiner

    def forward(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return self.joiner(encoder_out, decoder_out, projected=True)


# ---- export --------------------------------------------------------------------------------------
@dataclass
class EncoderPlan:
    module: nn.Module
    inputs: list[str]
    outputs: list[str]
    example: tuple[Tensor, ...]
    dynamic: dict[str, dict[int, str]]
    meta: dict[str, str]


def _state_meta(
    names: list[str], shapes: list[tuple[int, ...]], axes: list[int | None], dtypes: list[str]
) -> dict:
    return {
        "state_names": ",".join(names),
        "state_shapes": ";".join("x".join(map(str, s)) for s in shapes),
        "state_batch_axes": ";".join("-" if a is None else str(a) for a in axes),
        "state_dtypes": ";".join(dtypes),
    }


def plan_encoder(
    model: Transducer, spec: StateSpec, layout: str, chunk_frames: int, num_features: int
) -> EncoderPlan:
    x = torch.randn(1, chunk_frames, num_features)
    dyn: dict[str, dict[int, str]] = {"x": {0: "N"}, "encoder_out": {0: "N"}}
    if layout == "sherpa":
        packing = Packing(spec.carried, int(getattr(model.encoder, "num_layers", 1)))
        h, c = packing.pack(spec.zeros(1), 1)
        dyn.update({"h": {1: "N"}, "c": {1: "N"}, "new_h": {1: "N"}, "new_c": {1: "N"}})
        meta = {
            "model_type": "lstm",
            "num_encoder_layers": str(packing.layers),
            "d_model": str(packing.width),
            "rnn_hidden_size": str(packing.width),
            "packed_states": packing.describe(),
            **_state_meta(["h", "c"], [tuple(h.shape)] * 2, [1, 1], ["float32"] * 2),
        }
        return EncoderPlan(
            PackedEncoder(model, spec, packing),
            ["x", "h", "c"],
            ["encoder_out", "new_h", "new_c"],
            (x, h, c),
            dyn,
            meta,
        )
    names = [leaf.name for leaf in spec.carried]
    for leaf in spec.carried:
        if leaf.batch_axis is not None:
            dyn[leaf.name] = {leaf.batch_axis: "N"}
            dyn[f"new_{leaf.name}"] = {leaf.batch_axis: "N"}
    meta = {
        "model_type": "fairstream",
        **_state_meta(
            names,
            [leaf.shape for leaf in spec.carried],
            [leaf.batch_axis for leaf in spec.carried],
            [str(leaf.dtype).removeprefix("torch.") for leaf in spec.carried],
        ),
    }
    return EncoderPlan(
        NamedEncoder(model, spec), ["x", *names], ["encoder_out", *(f"new_{n}" for n in names)],
        (x, *spec.zeros(1)), dyn, meta,
    )  # fmt: skip


def _onnx_export(
    module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], dyn: dict
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # tracer warnings about Python ints: the chunk size is fixed on purpose
        torch.onnx.export(
            module, args, str(path), dynamo=False, input_names=inputs, output_names=outputs,
            dynamic_axes=dyn, opset_version=OPSET, do_constant_folding=True,
        )  # fmt: skip


def add_metadata(path: Path, meta: dict[str, str]) -> None:
    import onnx

    m = onnx.load(str(path))
    del m.metadata_props[:]
    for k, v in sorted(meta.items()):
        m.metadata_props.add(key=k, value=str(v))
    onnx.save(m, str(path))


def quantize(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process the graph is logged as a warning every time
    try:
        quantize_dynamic(str(src), str(dst), op_types_to_quantize=QUANTIZED_OPS, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)


@torch.no_grad()
def export_transducer(
    model: Transducer,
    tokens: list[str],
    out: Path,
    chunk_frames: int,
    layout: str = "auto",
    num_features: int = 80,
    extra_meta: dict[str, str] | None = None,
    int8: bool = True,
) -> dict[str, Any]:
    """Write encoder/decoder/joiner ``.onnx`` (+ ``.int8.onnx``) and ``tokens.txt`` into ``out``;
    returns what was written and the largest difference from torch found by :func:`verify`."""
    model = model.eval()
    layout = check_exportable(model, layout)
    spec = describe(model.encoder, chunk_frames, num_features)
    plan = plan_encoder(model, spec, layout, chunk_frames, num_features)
    joiner_dim = model.joiner.enc_proj.out_features
    common = {
        "vocab_size": str(model.vocab_size),
        "context_size": str(model.predictor.context_size),
        "blank_id": str(model.blank_id),
        "joiner_dim": str(joiner_dim),
        **(extra_meta or {}),
    }
    frames_out = chunk_frames // model.encoder.subsampling
    enc_meta = {
        **common,
        **plan.meta,
        "layout": layout,
        "encoder": encoder_name(model.encoder),
        "T": str(chunk_frames),  # sherpa-onnx: frames per encoder call ...
        "decode_chunk_len": str(chunk_frames),  # ... and the shift between calls (no overlap)
        "chunk_frames": str(chunk_frames),
        "frames_out": str(frames_out),
        "subsampling": str(model.encoder.subsampling),
        "num_features": str(num_features),
        "feature_normalization": "inside the graph (training mean/std)",
        "states_start_at": "zero",
    }
    out.mkdir(parents=True, exist_ok=True)
    _onnx_export(plan.module, plan.example, out / "encoder.onnx", plan.inputs, plan.outputs, plan.dynamic)
    add_metadata(out / "encoder.onnx", enc_meta)
    ctx = model.predictor.context_size
    y = torch.zeros(1, ctx, dtype=torch.int64)
    _onnx_export(DecoderGraph(model), (y,), out / "decoder.onnx", ["y"], ["decoder_out"],
                 {"y": {0: "N"}, "decoder_out": {0: "N"}})  # fmt: skip
    add_metadata(out / "decoder.onnx", common)
    e = torch.zeros(1, joiner_dim)
    _onnx_export(JoinerGraph(model), (e, e), out / "joiner.onnx", ["encoder_out", "decoder_out"], ["logit"],
                 {"encoder_out": {0: "N"}, "decoder_out": {0: "N"}, "logit": {0: "N"}})  # fmt: skip
    add_metadata(out / "joiner.onnx", common)
    (out / "tokens.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(tokens)))
    if int8:
        for name in FILES:
            quantize(out / f"{name}.onnx", out / f"{name}.int8.onnx")
    diff = verify(model, out, spec, layout, chunk_frames, num_features)
    if diff > VERIFY_TOLERANCE:
        raise FairstreamError(f"the exported graphs differ from torch by {diff:.2e} (> {VERIFY_TOLERANCE})")
    return {"layout": layout, "encoder_meta": enc_meta, "max_abs_diff": diff, "states": len(spec.carried)}


def verify(
    model: Transducer, out: Path, spec: StateSpec, layout: str, chunk_frames: int, num_features: int
) -> float:
    """Largest |torch - onnxruntime| over a few chunks of random features (encoder frames after
    projection, state carried by each side itself) and the decoder and joiner on random input."""
    from .runtime import OnnxTransducer

    rt = OnnxTransducer(out, int8=False)
    g = torch.Generator().manual_seed(0)
    chunks = 3 + math.ceil(64 / max(1, chunk_frames // model.encoder.subsampling))  # fill attention caches
    state, ort_state, diff = model.encoder.init_state(2), rt.init_state(2), 0.0
    for _ in range(chunks):
        x = torch.randn(2, chunk_frames, num_features, generator=g)
        ref, state = model.encoder.stream(x, state)
        got, ort_state = rt.encode(x.numpy(), ort_state)
        diff = max(diff, float(np.abs(model.joiner.enc_proj(ref).numpy() - got).max()))
    y = torch.randint(0, model.vocab_size, (5, model.predictor.context_size), generator=g)
    ref_d = DecoderGraph(model)(y)
    got_d = rt.decoder_out(y.numpy())
    diff = max(diff, float(np.abs(ref_d.numpy() - got_d).max()))
    e = torch.randn(5, ref_d.size(1), generator=g)
    ref_j = JoinerGraph(model)(e, ref_d)
    diff = max(diff, float(np.abs(ref_j.numpy() - rt.logits(e.numpy(), ref_d.numpy())).max()))
    return diff
