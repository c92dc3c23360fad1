"""Decoding an export with sherpa-onnx's own ``OnlineRecognizer`` (its features, its greedy search).

One place for how we drive it, shared by the benchmark and the tests: a recognizer over the
export's four files, and an utterance decoded from audio with half a second of silence after it,
because sherpa-onnx decodes a chunk only once more than a chunk of features is waiting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16000
TAIL_SECONDS = 0.5


def recognizer(onnx_dir: Path, sample_rate: int = SAMPLE_RATE) -> Any:
    """sherpa-onnx's streaming transducer recognizer (greedy, one thread) over an export in the
    sherpa layout (``tokens.txt``, ``encoder/decoder/joiner.onnx``); ImportError without sherpa-onnx."""
    import sherpa_onnx

    return sherpa_onnx.OnlineRecognizer.from_transducer(
        tokens=str(onnx_dir / "tokens.txt"), encoder=str(onnx_dir / "encoder.onnx"),
        decoder=str(onnx_dir / "decoder.onnx"), joiner=str(onnx_dir / "joiner.onnx"), num_threads=1,
        sample_rate=sample_rate, feature_dim=80, decoding_method="greedy_search",
    )  # fmt: skip


def tail(sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The silence fed after an utterance so that its last chunk is decoded."""
    return np.zeros(int(TAIL_SECONDS * sample_rate), dtype=np.float32)


def decode(rec: Any, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Any:
    """Decode one utterance (float32 samples) to the end; sherpa-onnx's result object
    (``.text``, ``.tokens``)."""
    stream = rec.create_stream()
    stream.accept_waveform(sample_rate, samples.astype(np.float32))
    stream.accept_waveform(sample_rate, tail(sample_rate))
    stream.input_finished()
    while rec.is_ready(stream):
        rec.decode_stream(stream)
    return rec.get_result_all(stream)
