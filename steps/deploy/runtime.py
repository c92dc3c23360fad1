"""Streaming decoding with onnxruntime sessions of an export (``steps.deploy.export``).

The searches of ``steps.nnet.search`` run unchanged: :class:`OnnxScorer` gives them the three
calls they make (project encoder frames, predict from a context, joiner logits), here graph calls.
:class:`OnnxDecoder` has the interface of ``steps.nnet.streaming.TransducerDecoder``, so the decode
step's per-split writer takes either.  The encoder graph takes fixed chunks: the last chunk of an
utterance is padded with zero frames (the padding the torch decoder's ``flush`` uses) and only the
utterance's own encoder frames are searched.  Every encoder state starts at zero
(``states_start_at``), so the initial state comes from the metadata's shapes alone.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from steps.nnet.search import Scorer, Search
from steps.nnet.streaming import BatchResult
from steps.utils import FairstreamError

DTYPES = {"float32": np.float32, "int64": np.int64}


def graph_path(onnx_dir: Path, name: str, int8: bool) -> Path:
    path = onnx_dir / f"{name}{'.int8' if int8 else ''}.onnx"
    if not path.is_file():
        raise FairstreamError(f"{path} does not exist; export the model with steps.export_onnx first")
    return path


class OnnxTransducer:
    """The three sessions of an export and the encoder's metadata."""

    def __init__(self, onnx_dir: Path, int8: bool = False, num_threads: int = 1) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = num_threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3

        def session(name: str) -> Any:
            path = graph_path(onnx_dir, name, int8)
            try:
                return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            except Exception as e:  # noqa: BLE001 - onnxruntime raises its own error types
                raise FairstreamError(
                    f"{path}: onnxruntime cannot load it ({str(e).splitlines()[0][:160]})"
                ) from e

        self.encoder, self.decoder, self.joiner = session("encoder"), session("decoder"), session("joiner")
        self.meta = dict(self.encoder.get_modelmeta().custom_metadata_map)
        need = (
            "chunk_frames",
            "subsampling",
            "state_names",
            "state_shapes",
            "state_batch_axes",
            "vocab_size",
        )
        missing = [k for k in need if k not in self.meta]
        if missing:
            raise FairstreamError(
                f"{onnx_dir}/encoder.onnx has no {', '.join(missing)} metadata; not our export"
            )
        self.chunk_frames = int(self.meta["chunk_frames"])
        self.subsampling = int(self.meta["subsampling"])
        self.num_features = int(self.meta["num_features"])
        self.vocab_size = int(self.meta["vocab_size"])
        self.context_size = int(self.meta["context_size"])
        self.blank_id = int(self.meta["blank_id"])
        self.state_names = self.meta["state_names"].split(",")
        self.state_shapes = [
            tuple(int(d) for d in s.split("x")) if s else () for s in self.meta["state_shapes"].split(";")
        ]
        self.batch_axes = [None if a == "-" else int(a) for a in self.meta["state_batch_axes"].split(";")]
        self.state_dtypes = [DTYPES[d] for d in self.meta["state_dtypes"].split(";")]
        self.enc_inputs = [i.name for i in self.encoder.get_inputs()]
        self.enc_outputs = [o.name for o in self.encoder.get_outputs()]

    def init_state(self, batch: int) -> list[np.ndarray]:
        out = []
        for shape, axis, dtype in zip(self.state_shapes, self.batch_axes, self.state_dtypes, strict=True):
            s = list(shape)
            if axis is not None:
                s[axis] = batch
            out.append(np.zeros(s, dtype=dtype))
        return out

    def encode(self, x: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """One chunk (N, chunk_frames, F) -> projected encoder frames and the new states."""
        feed = dict(zip(self.enc_inputs, [x.astype(np.float32, copy=False), *states], strict=True))
        out = self.encoder.run(self.enc_outputs, feed)
        return out[0], out[1:]

    def decoder_out(self, y: np.ndarray) -> np.ndarray:
        return self.decoder.run(None, {"y": y.astype(np.int64, copy=False)})[0]

    def logits(self, enc: np.ndarray, dec: np.ndarray) -> np.ndarray:
        return self.joiner.run(None, {"encoder_out": enc, "decoder_out": dec})[0]

    def model_bytes(self, onnx_dir: Path, int8: bool) -> int:
        return sum(graph_path(onnx_dir, n, int8).stat().st_size for n in ("encoder", "decoder", "joiner"))


class OnnxScorer(Scorer):
    """``steps.nnet.search.Scorer`` backed by the decoder and joiner graphs (encoder frames
    arrive projected already)."""

    def __init__(self, rt: OnnxTransducer) -> None:  # no torch model behind it: Scorer's init is not called
        self.rt = rt
        self.blank_id = rt.blank_id
        self.context_size = rt.context_size
        self.vocab_size = rt.vocab_size
        self.device = torch.device("cpu")

    def project_encoder(self, enc: Tensor) -> Tensor:
        return enc

    def predict(self, contexts: Tensor) -> Tensor:
        return torch.from_numpy(self.rt.decoder_out(contexts.numpy()))

    def logits(self, enc_p: Tensor, pred_p: Tensor) -> Tensor:
        enc = np.ascontiguousarray(enc_p.numpy(), dtype=np.float32)
        dec = np.ascontiguousarray(pred_p.numpy(), dtype=np.float32)
        return torch.from_numpy(self.rt.logits(enc, dec))


class NoCohort:
    """What the per-split decode writer asks of a model: exported models take no cohort input."""

    cohort = None


class OnnxDecoder:
    """Chunked encoder graph + a search over its frames, like ``TransducerDecoder``."""

    def __init__(self, rt: OnnxTransducer, search: Search) -> None:
        self.rt = rt
        self.search = search
        self.chunk_frames = rt.chunk_frames
        self.model = NoCohort()

    def decode(self, feats: Tensor, feat_lens: Tensor, cohort: Tensor | None = None) -> BatchResult:
        if cohort is not None:
            raise FairstreamError("exported models take no cohort input")
        if feats.size(2) != self.rt.num_features:
            raise FairstreamError(
                f"features are {feats.size(2)}-dim, the export expects {self.rt.num_features}"
            )
        t_chunk, batch = self.chunk_frames, feats.size(0)
        total = int(feat_lens.max()) if feat_lens.numel() else 0
        n_chunks = math.ceil(total / t_chunk)
        x = np.zeros((batch, n_chunks * t_chunk, feats.size(2)), dtype=np.float32)
        x[:, :total] = feats[:, :total].numpy()
        want = [math.ceil(int(n) / self.rt.subsampling) for n in feat_lens]
        done = [0] * batch
        chunk_ms: list[float] = []
        start = time.perf_counter()
        states = self.search.init(batch)
        enc_state = self.rt.init_state(batch)
        for i in range(n_chunks):
            t0 = time.perf_counter()
            out, enc_state = self.rt.encode(x[:, i * t_chunk : (i + 1) * t_chunk], enc_state)
            n = [max(0, min(out.shape[1], w - d)) for w, d in zip(want, done, strict=True)]
            self.search.advance(torch.from_numpy(out), n, states)
            done = [d + out.shape[1] for d in done]
            chunk_ms.append(1000 * (time.perf_counter() - t0))
        hyps = [self.search.best(s) for s in states]
        return BatchResult(hyps, time.perf_counter() - start, chunk_ms)
