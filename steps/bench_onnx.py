"""Stage 11: torch streaming against onnxruntime fp32 and int8 on the same cuts, one thread each.

    python -m steps.bench_onnx exp/lstm exp/lstm/onnx data/fbank exp/onnx

Every system decodes the same cuts one at a time with streaming greedy search and the export's
chunk (torch: ``steps.nnet.streaming``; onnxruntime: ``steps.deploy.runtime``).  Measured: RTF
(encoder + search, features loaded beforehand), chunk latency (mean and 90th percentile of one
chunk's encoder + search), model size (torch: the float32 parameters the decoder uses; ONNX: the
three files), WER, and the share of cuts whose words are identical to torch's.  OUT_DIR gets
``report.json`` and ``report.md``, a RESULTS.md fragment (``steps.write_results`` pastes every
``exp/*/report.md``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

from steps.data.manifests import load_cuts
from steps.data.scoring import error_counts, wer, words
from steps.deploy import sherpa
from steps.deploy.runtime import OnnxDecoder, OnnxScorer, OnnxTransducer
from steps.nnet.loading import load_model, training_lang_dir
from steps.nnet.search import GreedySearch
from steps.nnet.streaming import TransducerDecoder, load_features
from steps.reports.format import pct
from steps.utils import FairstreamError, require_complete, stage_output, write_text_atomic
from steps.utils.atomic import write_json_atomic
from steps.utils.cli import CONTEXT, step_main

log = logging.getLogger(__name__)

SYSTEMS = ("torch", "onnx_fp32", "onnx_int8")


def torch_bytes(model: torch.nn.Module) -> int:
    """Bytes of the float32 parameters streaming decoding uses (encoder, predictor, joiner)."""
    parts = (model.encoder, model.predictor, model.joiner)
    return sum(p.numel() * 4 for m in parts for p in m.parameters())


def run_system(decoder: Any, cuts: list, tokenizer: Any, num_features: int) -> dict[str, Any]:
    """Decode ``cuts`` one by one; hyps, wall time and per-chunk latency."""
    hyps, wall, audio, chunk_ms = [], 0.0, 0.0, []
    context = decoder.search.context_size
    for cut in cuts:
        feats, lens = load_features([cut], num_features)
        res = decoder.decode(feats, lens)
        hyps.append(tokenizer.decode(res.hyps[0].tokens(context)))
        wall += res.wall_s
        audio += cut.duration
        chunk_ms += res.chunk_ms
    return {"hyps": hyps, "wall_s": wall, "audio_s": audio, "chunk_ms": chunk_ms}


def run_sherpa(onnx_dir: Path, cuts: list) -> dict[str, Any] | None:
    """The export decoded by sherpa-onnx's own ``OnlineRecognizer`` (its kaldi-native-fbank features
    from the audio, greedy search): hyps and wall time; None when sherpa-onnx is not installed.
    The export must be in the sherpa layout (the caller checks)."""
    try:
        rec = sherpa.recognizer(onnx_dir)
    except ImportError:
        log.warning("sherpa-onnx is not installed: no sherpa-onnx row")
        return None
    hyps, wall, audio = [], 0.0, 0.0
    for cut in cuts:
        samples = cut.resample(sherpa.SAMPLE_RATE).load_audio()[0]
        t0 = time.perf_counter()
        hyps.append(sherpa.decode(rec, samples).text.strip())
        wall += time.perf_counter() - t0
        audio += cut.duration
    return {"hyps": hyps, "wall_s": wall, "audio_s": audio, "chunk_ms": [float("nan")]}


def summarise(
    name: str, run: dict[str, Any], refs: list[str], torch_hyps: list[str], size: int
) -> dict[str, Any]:
    counts = [error_counts(r, h) for r, h in zip(refs, run["hyps"], strict=True)]
    same = [words(a) == words(b) for a, b in zip(run["hyps"], torch_hyps, strict=True)]
    return {
        "system": name,
        "rtf": run["wall_s"] / run["audio_s"],
        "latency_ms_mean": float(np.mean(run["chunk_ms"])),
        "latency_ms_p90": float(np.percentile(run["chunk_ms"], 90)),
        "size_mb": size / 2**20,
        "wer": wer(counts),
        "identical_to_torch": sum(same) / len(same),
    }


def _ms(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{x:.2f}"


def report_md(rows: list[dict[str, Any]], info: dict[str, Any]) -> str:
    lines = [
        "## Deployment: ONNX export and onnxruntime (stage 11)",
        "",
        f"`{info['model_dir']}` exported by `steps.export_onnx` ({info['layout']} layout, model type "
        f"`{info['model_type']}`, {info['chunk_ms']} ms chunks); {info['cuts']} {info['split']} cuts "
        f"({info['audio_s']:.0f} s of audio) decoded one at a time by streaming greedy search on one thread "
        "by each system. RTF and chunk latency: encoder + search, features loaded beforehand. Identical: "
        "share of cuts whose words equal the torch decoder's. `sherpa_onnx_fp32`: the same fp32 files "
        "decoded by sherpa-onnx's `OnlineRecognizer` from the audio (its own kaldi-native-fbank features, "
        "its greedy search: at most one token per encoder frame; RTF includes its features).",
        "",
        "| system | RTF | chunk latency mean / p90 (ms) | size (MB) | WER | identical to torch |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['system']} | {r['rtf']:.4f} | {_ms(r['latency_ms_mean'])} / {_ms(r['latency_ms_p90'])} | "
            f"{r['size_mb']:.2f} | {pct(r['wer'])} | {pct(r['identical_to_torch'])} |"
        )
    return "\n".join(lines) + "\n"


@click.command(context_settings=CONTEXT)
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("onnx_dir", type=click.Path(path_type=Path))
@click.argument("fbank_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--split", default="test", help="FBANK_DIR/cuts_<split>.jsonl.gz.")
@click.option("--max-cuts", type=click.IntRange(min=1), default=200, help="Evenly spaced cuts of the split.")
@click.option("--max-sym-per-frame", type=int, default=3, help="Greedy: most tokens emitted on one frame.")
@click.option("--avg", type=int, default=1, help="The torch model's --avg (as exported).")
@click.option(
    "--lang-dir", type=click.Path(path_type=Path), default=None, help="BPE directory [MODEL_DIR's]."
)
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete.")
@step_main
def main(
    model_dir: Path,
    onnx_dir: Path,
    fbank_dir: Path,
    out_dir: Path,
    split: str,
    max_cuts: int,
    max_sym_per_frame: int,
    avg: int,
    lang_dir: Path | None,
    force: bool,
) -> None:
    """Benchmark MODEL_DIR's torch model against its export ONNX_DIR on FBANK_DIR's split."""
    require_complete(model_dir, "model")
    require_complete(onnx_dir, "export")
    require_complete(fbank_dir, "feature")
    torch.set_num_threads(1)
    model, tokenizer, num_features = load_model(model_dir, training_lang_dir(model_dir, lang_dir), avg)
    fp32 = OnnxTransducer(onnx_dir, int8=False, num_threads=1)
    int8 = OnnxTransducer(onnx_dir, int8=True, num_threads=1)
    if fp32.vocab_size != model.vocab_size:
        raise FairstreamError(
            f"{onnx_dir} holds a {fp32.vocab_size}-token model, {model_dir} {model.vocab_size}"
        )
    all_cuts = list(load_cuts(fbank_dir, split))
    if not all_cuts:
        raise FairstreamError(f"{fbank_dir}: split {split} has no cuts")
    step = max(1, len(all_cuts) // max_cuts)
    cuts = all_cuts[::step][:max_cuts]
    refs = [c.supervisions[0].text or "" for c in cuts]
    cfg = {
        "model_dir": str(model_dir),
        "model_digest": (model_dir / ".done").read_text().strip(),
        "onnx_digest": (onnx_dir / ".done").read_text().strip(),
        "input_digest": (fbank_dir / ".done").read_text().strip(),
        "split": split,
        "max_cuts": max_cuts,
        "max_sym_per_frame": max_sym_per_frame,
        "avg": avg,
    }
    decoders = {
        "torch": TransducerDecoder(model, GreedySearch(model, max_sym_per_frame), fp32.chunk_frames),
        "onnx_fp32": OnnxDecoder(fp32, GreedySearch(OnnxScorer(fp32), max_sym_per_frame)),
        "onnx_int8": OnnxDecoder(int8, GreedySearch(OnnxScorer(int8), max_sym_per_frame)),
    }
    sizes = {"torch": torch_bytes(model), "onnx_fp32": fp32.model_bytes(onnx_dir, False),
             "onnx_int8": int8.model_bytes(onnx_dir, True)}  # fmt: skip
    with stage_output(out_dir, cfg, force) as out:
        runs = {}
        for name in SYSTEMS:
            t0 = time.perf_counter()
            runs[name] = run_system(decoders[name], cuts, tokenizer, num_features)
            log.info("%s: %d cuts in %.1f s", name, len(cuts), time.perf_counter() - t0)
        rows = [summarise(n, runs[n], refs, runs["torch"]["hyps"], sizes[n]) for n in SYSTEMS]
        if fp32.meta.get("layout") == "sherpa" and (sherpa_run := run_sherpa(onnx_dir, cuts)) is not None:
            torch_hyps = runs["torch"]["hyps"]
            rows.append(summarise("sherpa_onnx_fp32", sherpa_run, refs, torch_hyps, sizes["onnx_fp32"]))
        info = {
            "model_dir": str(model_dir),
            "layout": fp32.meta.get("layout", "?"),
            "model_type": fp32.meta.get("model_type", "?"),
            "chunk_ms": fp32.meta.get("chunk_ms", "?"),
            "split": split,
            "cuts": len(cuts),
            "audio_s": runs["torch"]["audio_s"],
        }
        write_json_atomic(out / "report.json", {"info": info, "systems": rows})
        write_text_atomic(out / "report.md", report_md(rows, info))
        for r in rows:
            log.info("%s: RTF %.4f, WER %s, identical %s", r["system"], r["rtf"], pct(r["wer"]),
                     pct(r["identical_to_torch"]))  # fmt: skip


if __name__ == "__main__":
    main()
