"""Writing one decoded split: per-cut resume, hyps and error counts in the cuts, WER reports, timing.

Shared by the decode steps (torch: ``steps.decode_transducer``; onnxruntime: ``steps.decode_onnx``):
any decoder with ``search``, ``chunk_frames``, ``model`` (for its optional ``cohort`` input) and
``decode(feats, lens, cohort)`` returning a :class:`~steps.nnet.streaming.BatchResult` fits.
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from lhotse import CutSet, load_manifest
from lhotse.cut import Cut
from lhotse.utils import fastcopy
from tqdm import tqdm

from steps.data.scoring import error_counts, results_from_cuts, wer_line, write_reports
from steps.data.tokenizer import Tokenizer
from steps.utils import FairstreamError, StageDir, atomic_path

from .cohort_input import cohort_rows
from .streaming import TransducerDecoder, load_features

log = logging.getLogger(__name__)


# ---- per-cut resume ------------------------------------------------------------------------
def _gunzip_tolerant(raw: bytes) -> tuple[bytes, bool]:
    """Decompress every gzip member; a truncated or corrupt last member ends the data early."""
    out, clean = [], True
    while raw:
        d = zlib.decompressobj(wbits=31)
        try:
            out.append(d.decompress(raw))
        except zlib.error:
            return b"".join(out), False
        if not d.eof:
            return b"".join(out), False
        raw = d.unused_data
    return b"".join(out), clean


def salvage_jsonl(path: Path) -> int:
    """Cut the torn tail a killed writer leaves in a JSONL(.gz) file; return the lines kept.

    Lhotse's ``open_writer(overwrite=False)`` must read the file to resume, and a gzip stream
    cut off by ``kill -9`` cannot be read to its end, so only complete lines are kept.
    """
    if not path.is_file():
        return 0
    raw = path.read_bytes()
    data, clean = _gunzip_tolerant(raw) if path.name.endswith(".gz") else (raw, True)
    lines = data.split(b"\n")
    tail = lines.pop()
    good = []
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            clean = False
            break
        good.append(line)
    if clean and not tail:
        return len(good)
    log.warning("%s: a killed run left a torn tail; keeping its %d complete lines", path, len(good))
    if not good:
        path.unlink()
        return 0
    with atomic_path(path) as tmp:
        payload = b"\n".join(good) + b"\n"
        if path.name.endswith(".gz"):
            with gzip.open(tmp, "wb") as f:
                f.write(payload)
        else:
            tmp.write_bytes(payload)
    return len(good)


# ---- one split -----------------------------------------------------------------------------
def annotate(cut: Cut, hyp: str) -> Cut:
    """The input cut with ``hyp`` and its error counts added to the supervision's ``custom``."""
    sup = cut.supervisions[0]
    custom = {**(sup.custom or {}), "hyp": hyp, **error_counts(sup.text or "", hyp)}
    return fastcopy(cut, supervisions=[fastcopy(sup, custom=custom)])


def batches(cuts: Sequence[Cut], size: int) -> Iterator[list[Cut]]:
    for i in range(0, len(cuts), size):
        yield list(cuts[i : i + size])


def timing_summary(path: Path, ids: set[str], streaming: bool) -> dict[str, Any]:
    """RTF and chunk latency over every batch of the finished split, across resumed runs."""
    wall = audio = 0.0
    timed = 0
    chunk_ms: list[float] = []
    seen: set[str] = set()
    lines = path.read_text().splitlines() if path.is_file() else []
    for line in reversed(lines):  # the latest timing of a cut wins (a cut re-decoded after a kill)
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a torn last line of a killed run
        batch = set(rec["ids"])
        if not batch <= ids or batch & seen:
            continue
        seen |= batch
        wall += rec["wall_s"]
        audio += rec["audio_s"]
        timed += len(batch)
        chunk_ms += rec["chunk_ms"]
    out: dict[str, Any] = {
        "rtf": round(wall / audio, 4) if audio else None,
        "decode_seconds": round(wall, 3),
        "audio_seconds": round(audio, 3),
        "timed_utts": timed,
        "num_chunks": len(chunk_ms),
        "latency_ms_mean": None,
        "latency_ms_p90": None,
    }
    if streaming and chunk_ms:
        out["latency_ms_mean"] = round(float(np.mean(chunk_ms)), 3)
        out["latency_ms_p90"] = round(float(np.percentile(chunk_ms, 90)), 3)
    return out


def decode_split(
    split: str,
    cuts: CutSet,
    decoder: TransducerDecoder,
    tokenizer: Tokenizer,
    out: StageDir,
    batch_size: int,
    num_features: int,
) -> dict[str, Any]:
    """Decode the cuts not yet in ``cuts_<split>.jsonl.gz``, then score the whole split."""
    path = out / f"cuts_{split}.jsonl.gz"
    timing_path = out / f"timing-{split}.jsonl"
    salvage_jsonl(path)
    all_cuts = list(cuts)
    for c in all_cuts:
        if len(c.supervisions) != 1:
            raise FairstreamError(
                f"{split}: cut {c.id} has {len(c.supervisions)} supervisions; decoding expects "
                "one utterance per cut (trim_to_supervisions first)"
            )
    if not all_cuts:
        raise FairstreamError(f"split {split} has no cuts")
    _end_line(timing_path)
    context = decoder.search.context_size
    with CutSet.open_writer(path, overwrite=False) as writer, open(timing_path, "a") as timing:
        todo = [c for c in all_cuts if not writer.contains(c.id)]
        if len(todo) < len(all_cuts):
            log.info(
                "%s: %d of %d cuts already decoded; resuming", split, len(all_cuts) - len(todo), len(all_cuts)
            )
        bar = tqdm(total=len(todo), desc=f"decode {split}", unit="utt")
        wall = audio = 0.0
        for batch in batches(todo, batch_size):
            feats, lens = load_features(batch, num_features)
            cohort = getattr(decoder.model, "cohort", None)
            rows = cohort_rows(batch, cohort.num_cohorts) if cohort is not None else None
            result = decoder.decode(feats, lens, rows)
            for cut, hyp in zip(batch, result.hyps, strict=True):
                writer.write(annotate(cut, tokenizer.decode(hyp.tokens(context))), flush=True)
            batch_audio = sum(c.duration for c in batch)
            rec = {
                "ids": [c.id for c in batch],
                "wall_s": result.wall_s,
                "audio_s": batch_audio,
                "chunk_ms": [round(x, 3) for x in result.chunk_ms],
            }
            timing.write(json.dumps(rec) + "\n")
            timing.flush()
            wall, audio = wall + result.wall_s, audio + batch_audio
            bar.update(len(batch))
            bar.set_postfix(rtf=f"{wall / max(audio, 1e-9):.3f}")
        bar.close()
    decoded = load_manifest(path)
    results = results_from_cuts(decoded)
    summary = write_reports(out.path, split, results)
    ids = {r.id for r in results}
    summary.update(timing_summary(timing_path, ids, decoder.chunk_frames is not None))
    if summary["timed_utts"] < len(ids):
        log.warning("%s: timing covers %d of %d utterances", split, summary["timed_utts"], len(ids))
    log.info(
        "%s: %s, RTF %s, chunk latency mean %s ms, p90 %s ms",
        split,
        wer_line(r.counts for r in results),
        summary["rtf"],
        summary["latency_ms_mean"],
        summary["latency_ms_p90"],
    )
    return summary


def _end_line(path: Path) -> None:
    """Terminate a torn last line so that appended records stay parseable."""
    if path.is_file() and path.stat().st_size:
        with open(path, "rb+") as f:
            f.seek(-1, 2)
            if f.read(1) != b"\n":
                f.write(b"\n")
