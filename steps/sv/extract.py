"""Embedding extraction: the inference API later stages use, and the per-split extraction step.

``load_extractor(model_dir)`` and ``embed_features(extractor, feats)`` embed any (T, 80) fbank
segment — diarization calls them on its own segments.  ``extract_split`` embeds every cut of a
CutSet one by one (no padding inside a batch, so a stored embedding equals
``embed_features`` on the same features), stores it with Lhotse's ``LilcomChunkyWriter`` (a
fine ``tick_power``: embeddings are not spectra) and references it as ``cut.custom["xvector"]``,
so ``cut.load_custom("xvector")`` works anywhere.  The cut is otherwise kept as it was, with
every supervision's metadata.

Resume is per cut: the array file is opened for appending and the cut manifest in progress is
a plain JSONL written through ``CutSet.open_writer(..., overwrite=False)``; an array is flushed
before its manifest line, so a kill leaves at worst an unreferenced array, never a dangling
reference.  Cuts shorter than ``min_frames`` are padded by repetition (``short_policy: pad``)
or skipped (``skip``); either way they are counted in ``report.json``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lhotse import CutSet, LilcomChunkyWriter
from lhotse.utils import fastcopy
from tqdm import tqdm

from steps.utils import FairstreamError, StageDir, save_manifest_atomic, write_json_atomic

from .model import ExtractorConf, TdnnExtractor
from .train import FINAL

log = logging.getLogger(__name__)

KEY = "xvector"


@dataclass
class ExtractConf:
    """How to embed cuts (``conf/sv/extract.yaml``)."""

    min_frames: int = 50  # shorter cuts are padded by repetition or skipped
    short_policy: str = "pad"  # pad | skip
    max_frames: int = 6000  # longer cuts: length-weighted mean over windows of this size
    tick_power: int = -16  # lilcom precision (2^-16): near-lossless for embeddings
    num_threads: int = 2

    def __post_init__(self) -> None:
        if self.short_policy not in ("pad", "skip"):
            raise FairstreamError(f"short_policy must be pad or skip, got {self.short_policy!r}")


def load_extractor(model_dir: str | Path) -> TdnnExtractor:
    """The trained extractor of a ``train_speaker_embedder`` output directory, in eval mode."""
    path = Path(model_dir) / FINAL
    if not path.is_file():
        raise FairstreamError(f"no extractor in {model_dir} ({FINAL} missing); train it first")
    ck = torch.load(path, map_location="cpu", weights_only=False)
    model = TdnnExtractor(ExtractorConf(**ck["model_conf"]))
    model.load_state_dict(ck["model"])
    return model.eval()


def _pad_to(feats: np.ndarray, n: int) -> np.ndarray:
    reps = -(-n // feats.shape[0])
    return np.concatenate([feats] * reps, axis=0)[:n]


@contextmanager
def _native_conv() -> Iterator[None]:
    """oneDNN off: for batch-1 inference on ever-changing lengths it is faster, and its
    per-shape primitive cache would otherwise grow by megabytes with every new length."""
    old = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = old


@torch.inference_mode()
def embed_features(extractor: TdnnExtractor, feats: np.ndarray, max_frames: int = 6000) -> np.ndarray:
    """Embedding (E,) of one (T, F) fbank segment; too-short input is padded by repetition."""
    feats = np.asarray(feats, dtype=np.float32)
    if feats.ndim != 2 or feats.shape[1] != extractor.conf.feat_dim:
        raise FairstreamError(f"expected (T, {extractor.conf.feat_dim}) features, got shape {feats.shape}")
    if feats.shape[0] == 0:
        raise FairstreamError("cannot embed an empty segment (0 frames)")
    if not np.isfinite(feats).all():
        raise FairstreamError("cannot embed a segment with NaN or infinite features")
    if feats.shape[0] < extractor.min_frames:
        feats = _pad_to(feats, extractor.min_frames)
    parts, weights = [], []
    with _native_conv():
        for s in range(0, feats.shape[0], max_frames):
            w = feats[s : s + max_frames]
            if w.shape[0] < extractor.min_frames:
                w = _pad_to(w, extractor.min_frames)
            x = torch.from_numpy(w)[None].to(next(extractor.parameters()).device)
            parts.append(extractor(x)[0].cpu().numpy())
            weights.append(min(max_frames, feats.shape[0] - s))
    if len(parts) == 1:
        return parts[0]
    return np.average(np.stack(parts), axis=0, weights=weights).astype(np.float32)


def _trim_torn_tail(path: Path) -> None:
    """Drop a partial last line left by a kill, so the resumed writer can parse the file."""
    if not path.is_file():
        return
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end != len(data):
        with open(path, "r+b") as f:
            f.truncate(end)


def extract_split(
    cuts: CutSet, split: str, extractor: TdnnExtractor, out: StageDir, conf: ExtractConf
) -> dict[str, Any]:
    """Embed every cut of one split into ``out`` (resumable); returns counts."""
    final_cuts = out.path / f"cuts_{split}.jsonl.gz"
    report = out.path / f"report_{split}.json"
    if final_cuts.is_file() and report.is_file():  # finished before a kill
        return json.loads(report.read_text())
    progress = out.path / f"cuts_{split}.inprogress.jsonl"
    arrays = out.path / f"{KEY}s_{split}.lca"
    final_arrays = str(out.final(arrays))
    _trim_torn_tail(progress)
    counts = {
        "cuts": 0,
        "embedded": 0,
        "resumed": 0,
        "padded_short": 0,
        "skipped_short": 0,
        "skipped_no_features": 0,
    }
    skipped: list[str] = []
    with (
        CutSet.open_writer(progress, overwrite=False) as writer,
        LilcomChunkyWriter(arrays, tick_power=conf.tick_power, mode="ab") as arr_writer,
    ):
        for cut in tqdm(cuts, desc=f"embed {split}", unit="cut", leave=False):
            counts["cuts"] += 1
            if writer.contains(cut.id):
                counts["resumed"] += 1
                continue
            if not cut.has_features:
                counts["skipped_no_features"] += 1
                skipped.append(cut.id)
                log.warning("skipping cut %s: it has no features", cut.id)
                continue
            feats = cut.load_features()
            if feats.shape[0] < conf.min_frames:
                if conf.short_policy == "skip":
                    counts["skipped_short"] += 1
                    skipped.append(cut.id)
                    continue
                feats = _pad_to(feats, conf.min_frames)
                counts["padded_short"] += 1
            emb = embed_features(extractor, feats, conf.max_frames)
            array = arr_writer.store_array(cut.id, emb)
            arr_writer.file.flush()  # the array reaches the OS before its manifest line
            writer.write(
                fastcopy(cut).with_custom(KEY, fastcopy(array, storage_path=final_arrays)), flush=True
            )
            counts["embedded"] += 1
    done = CutSet.from_file(progress).to_eager() if progress.is_file() else CutSet.from_cuts([])
    counts["written"] = len(done)
    counts["skipped_ids"] = skipped[:50]
    write_json_atomic(report, counts)
    save_manifest_atomic(done, final_cuts)  # the split's completion marker: written last
    progress.unlink(missing_ok=True)
    if counts["padded_short"] or counts["skipped_short"]:
        log.warning(
            "%s: %d cut(s) shorter than %d frames %s",
            split,
            counts["padded_short"] + counts["skipped_short"],
            conf.min_frames,
            "padded by repetition" if conf.short_policy == "pad" else "skipped",
        )
    log.info("%s: %d embeddings (%d resumed)", split, counts["written"], counts["resumed"])
    return counts
