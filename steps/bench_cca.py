"""Benchmark CCA Transformers against the dense and sliding-window ones: compute, time, skips, WER.

    python -m steps.bench_cca data/fbank --model transformer=exp/decode/transformer_greedy \
        --model cca_0.1=exp/decode/cca_0.1_greedy --model sw_8=exp/decode/sliding_window_8_greedy \
        --reference transformer --out-json exp/bench_cca/results.json \
        --report-md exp/bench_cca/report.md --plot exp/bench_cca/wer_vs_compute.png

A ``--model NAME=DIR`` is a training directory (``checkpoint-latest.pt``; ``--avg`` epochs
averaged) or a decode directory (its ``config.yaml`` names the model directory and the ``avg``
it decoded with, and its ``metrics.json`` gives the WERs); ``--decode NAME=DIR`` adds or replaces
the WERs of a model.  Per model and split, over every cut, one utterance at a time in eval mode
(the encoder skips for real): counted encoder FLOPs per second of audio (``cca_flops``'s count
for the gates actually applied; other encoders: ``steps/nnet/flops.py``), encoder wall-clock per
second of audio on ``--num-threads`` threads (the minimum of ``--repeats`` runs per utterance,
after one warm-up), the fraction of MHA and FFN frame-blocks skipped, overall, per accent
(``supervision.custom["accent"]``) and per SNR bin (``cut.custom["snr_db"]``), and per utterance
(with its errors from the decode's ``cuts_<split>.jsonl.gz``) in ``--out-json``.  Savings and the
relative WER change (with a paired 95% interval over speakers) are against ``--reference``.  On
``--compare-split`` the report adds each CCA variant against the sliding-window variant closest to
it in compute, whether skipping depends on SNR and accent, and the paper's claim, which it also
writes as ``claims.json`` next to ``--report-md`` (``steps.reports.claims``).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import click
import torch
from tqdm import tqdm

from steps.data.manifests import load_cuts
from steps.nnet.encoders.cca import CcaTransformer, SlidingWindowTransformer
from steps.nnet.flops import count_flops
from steps.nnet.loading import load_model
from steps.nnet.streaming import load_features
from steps.reports.asr import search_label
from steps.reports.cca import (
    UTTERANCE_COLUMNS,
    analysis_sections,
    cca_claim,
    convergence_note,
    format_tables,
    paired_wer_change,
    plot_tradeoff,
    report_fragment,
    snr_bin_order,
)
from steps.reports.claims import write_claims
from steps.reports.compare import utterance_errors
from steps.utils import FairstreamError, read_config, require_complete, write_json_atomic
from steps.utils.atomic import write_text_atomic
from steps.utils.cli import CONTEXT, split_names, step_main
from steps.utils.device import device_option, resolve_device

log = logging.getLogger(__name__)


# ---- inputs ----------------------------------------------------------------------------------
def parse_pairs(pairs: tuple[str, ...], option: str) -> dict[str, Path]:
    """``NAME=DIR`` pairs in order; a malformed or repeated name is a one-line error."""
    out: dict[str, Path] = {}
    for item in pairs:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise FairstreamError(f"{option} {item!r}: expected NAME=DIR")
        if name in out:
            raise FairstreamError(f"{option}: name {name!r} given twice")
        out[name] = Path(path)
    return out


def resolve_model(path: Path, avg: int) -> tuple[Path, int, Path | None]:
    """(model dir, epochs to average, decode dir or None) of a training or decode directory."""
    cfg = read_config(path) if (path / "config.yaml").is_file() else {}
    if cfg.get("model_dir"):  # a decode directory: bench the model it decoded, as it decoded it
        return Path(cfg["model_dir"]), int(cfg.get("avg") or 1), path
    return path, avg, None


def read_wers(decode_dir: Path) -> tuple[dict[str, float], str]:
    """WER per split and the search that gave them, from a finished decode directory's metrics.json."""
    require_complete(decode_dir, "decode")
    p = decode_dir / "metrics.json"
    if not p.is_file():
        raise FairstreamError(f"{p} does not exist; is {decode_dir} a decode directory?")
    metrics = json.loads(p.read_text())
    wers = {split: float(m["wer"]) for split, m in metrics.items() if m.get("wer") is not None}
    searches = sorted({search_label(m) for m in metrics.values()})
    return wers, " / ".join(searches)


def snr_bin(snr: float | None, edges: list[float]) -> str:
    """``<e0``, ``e0-e1``, ..., ``>=eN`` (dB); ``unknown`` without an SNR."""
    if snr is None:
        return "unknown"
    if snr < edges[0]:
        return f"<{edges[0]:g}"
    for lo, hi in zip(edges, edges[1:], strict=False):
        if snr < hi:
            return f"{lo:g}-{hi:g}"
    return f">={edges[-1]:g}"


def kind_of(encoder: torch.nn.Module) -> str:
    if isinstance(encoder, SlidingWindowTransformer):
        return "sliding_window"
    if isinstance(encoder, CcaTransformer) and encoder.gated:
        return "cca"
    return "dense"


# ---- measuring -------------------------------------------------------------------------------
class Tally:
    """Sums over utterances: audio, FLOPs, time, frames and kept blocks."""

    def __init__(self) -> None:
        self.utts = 0
        self.audio = self.flops = self.wall = 0.0
        self.blocks = self.kept_mha = self.kept_ffn = 0

    def add(self, audio: float, flops: float, wall: float, blocks: int, mha: int, ffn: int) -> None:
        self.utts += 1
        self.audio += audio
        self.flops += flops
        self.wall += wall
        self.blocks += blocks
        self.kept_mha += mha
        self.kept_ffn += ffn

    def summary(self) -> dict[str, Any]:
        audio = max(self.audio, 1e-9)
        skip = self.blocks > 0
        return {
            "utts": self.utts,
            "audio_seconds": round(self.audio, 3),
            "flops_per_second": self.flops / audio,
            "wall_ms_per_second": 1000 * self.wall / audio,
            "skip_mha": 1 - self.kept_mha / self.blocks if skip else None,
            "skip_ffn": 1 - self.kept_ffn / self.blocks if skip else None,
        }


def time_forward(encoder: torch.nn.Module, feats: torch.Tensor, lens: torch.Tensor, repeats: int) -> float:
    """Best wall time of ``repeats`` forward passes (a GPU is synchronised before the clock stops)."""
    sync = torch.cuda.synchronize if feats.is_cuda else (lambda: None)
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            t0 = time.perf_counter()
            encoder(feats, lens)
            sync()
            best = min(best, time.perf_counter() - t0)
    return best


def measure_split(
    encoder: torch.nn.Module,
    cuts: list[Any],
    num_features: int,
    repeats: int,
    snr_edges: list[float],
    desc: str,
) -> dict[str, Any]:
    """Overall, per-accent and per-SNR-bin tallies of one split, one utterance at a time."""
    overall = Tally()
    accents: dict[str, Tally] = defaultdict(Tally)
    snrs: dict[str, Tally] = defaultdict(Tally)
    utts: dict[str, list] = {k: [] for k in UTTERANCE_COLUMNS}
    cca = isinstance(encoder, CcaTransformer)
    warm = False
    device = next(encoder.parameters()).device
    for cut in tqdm(cuts, desc=desc, unit="utt"):
        feats, lens = (t.to(device) for t in load_features([cut], num_features))
        if not warm:  # first-call allocations and lazy kernels are not the model's cost
            time_forward(encoder, feats, lens, 1)
            warm = True
        wall = time_forward(encoder, feats, lens, repeats)
        if cca:
            rep = encoder.flop_report()  # the gates of the timed forward
            flops, dense, frames = rep["flops"][0], rep["dense_flops"][0], rep["frames"][0]
            blocks, mha, ffn = frames * rep["blocks_per_type"], rep["kept_mha"][0], rep["kept_ffn"][0]
        else:
            flops, blocks, mha, ffn = count_flops(encoder, feats, lens), 0, 0, 0
            dense = flops
        sup = cut.supervisions[0] if cut.supervisions else None
        accent = str(((sup.custom or {}) if sup is not None else {}).get("accent") or "unknown")
        snr = (cut.custom or {}).get("snr_db")
        group = snr_bin(None if snr is None else float(snr), snr_edges)
        row = (cut.duration, float(flops), wall, blocks, mha, ffn)
        overall.add(*row)
        accents[accent].add(*row)
        snrs[group].add(*row)
        ident = (sup.id, str(sup.speaker)) if sup is not None else (cut.id, cut.id)
        values = (*ident, accent, group, float(flops), float(dense))
        for key, value in zip(UTTERANCE_COLUMNS, values, strict=True):
            utts[key].append(value)
    return {
        **overall.summary(),
        "per_accent": {k: v.summary() for k, v in sorted(accents.items())},
        "per_snr": {k: v.summary() for k, v in sorted(snrs.items(), key=lambda kv: snr_bin_order(kv[0]))},
        "utterances": utts,
    }


def attach_errors(utts: dict[str, list], errors: dict[str, tuple[int, int, str, str]]) -> None:
    """Add each utterance's decoding errors and reference words (None where the decode lacks it)."""
    found = [errors.get(i) for i in utts["id"]]
    utts["errors"] = [None if e is None else e[0] for e in found]
    utts["ref_words"] = [None if e is None else e[1] for e in found]


def add_comparisons(results: dict[str, Any], reference: str) -> None:
    """Compute and wall-clock saved and relative WER change of every model vs the reference, the
    latter with its paired 95% interval over speakers when both decodes have per-utterance errors."""
    ref = results[reference]
    for model in results.values():
        for split, m in model["splits"].items():
            r = ref["splits"].get(split)
            if r is None:
                continue
            m["compute_saved"] = 1 - m["flops_per_second"] / r["flops_per_second"]
            m["wall_saved"] = 1 - m["wall_ms_per_second"] / r["wall_ms_per_second"]
            wer, ref_wer = m.get("wer"), r.get("wer")
            m["rel_wer_change"] = (wer - ref_wer) / ref_wer if wer is not None and ref_wer else None
            iv = paired_wer_change(r, m, relative=True)
            m["rel_wer_ci"] = None if iv is None or iv.low is None else [iv.low, iv.high]


# ---- the command -----------------------------------------------------------------------------
@click.command(context_settings=CONTEXT)
@click.argument("fbank_dir", type=click.Path(path_type=Path))
@click.option("--model", "models", multiple=True, required=True, help="NAME=DIR (training or decode dir).")
@click.option("--decode", "decodes", multiple=True, help="NAME=DIR: WERs from this decode's metrics.json.")
@click.option("--reference", default="transformer", help="The model savings and WER changes are against.")
@click.option(
    "--splits", default="dev,test", help="Comma-separated splits (FBANK_DIR/cuts_<split>.jsonl.gz)."
)
@click.option("--max-utts", type=int, default=0, help="At most this many cuts per split (0: all).")
@click.option("--avg", type=int, default=1, help="Epochs averaged for training dirs (decode dirs: theirs).")
@click.option(
    "--lang-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="BPE directory; default: the lang_dir in each model's config.yaml.",
)
@click.option("--num-threads", type=int, default=1, help="torch threads for the timing.")
@click.option("--repeats", type=int, default=1, help="Timed runs per utterance (the minimum is kept).")
@click.option("--snr-edges", default="10,20", help="SNR bin edges in dB (bins <10, 10-20, >=20).")
@click.option(
    "--compare-split",
    default="test",
    help="Split of the plot, the comparison at equal compute, the difficulty analysis and the claim.",
)
@click.option("--out-json", type=click.Path(path_type=Path), default=None, help="Write all results here.")
@click.option("--report-md", type=click.Path(path_type=Path), default=None, help="Write a markdown section.")
@click.option("--plot", type=click.Path(path_type=Path), default=None, help="PNG: rel. WER vs compute saved.")
@device_option
@step_main
def main(
    fbank_dir: Path,
    models: tuple[str, ...],
    decodes: tuple[str, ...],
    reference: str,
    splits: str,
    max_utts: int,
    avg: int,
    lang_dir: Path | None,
    num_threads: int,
    repeats: int,
    snr_edges: str,
    compare_split: str,
    out_json: Path | None,
    report_md: Path | None,
    plot: Path | None,
    device: str,
) -> None:
    """Measure the encoders of --model NAME=DIR on FBANK_DIR's splits and compare them."""
    require_complete(fbank_dir, "feature")
    model_dirs = parse_pairs(models, "--model")
    decode_dirs = parse_pairs(decodes, "--decode")
    if reference not in model_dirs:
        raise FairstreamError(f"--reference {reference!r} is not one of the --model names")
    unknown = sorted(set(decode_dirs) - set(model_dirs))
    if unknown:
        raise FairstreamError(f"--decode names {', '.join(unknown)} are not --model names")
    names = split_names(splits)
    if compare_split not in names:
        raise FairstreamError(f"--compare-split {compare_split!r} is not one of --splits {splits!r}")
    if num_threads < 1 or repeats < 1 or max_utts < 0:
        raise FairstreamError("--num-threads and --repeats must be >= 1, --max-utts >= 0")
    try:
        edges = sorted(float(e) for e in snr_edges.split(",") if e.strip())
    except ValueError as e:
        raise FairstreamError(f"--snr-edges {snr_edges!r}: expected comma-separated numbers") from e
    if not edges:
        raise FairstreamError("--snr-edges names no edge")
    torch.set_num_threads(num_threads)
    dev = resolve_device(device)
    split_cuts = {}
    for s in names:
        cuts = list(load_cuts(fbank_dir, s))
        split_cuts[s] = cuts[:max_utts] if max_utts else cuts

    results: dict[str, Any] = {}
    for name, path in model_dirs.items():
        model_dir, model_avg, decode_dir = resolve_model(path, avg)
        require_complete(model_dir, "model")
        lang = lang_dir or Path(read_config(model_dir).get("lang_dir") or "")
        model, _, num_features = load_model(model_dir, lang, model_avg)
        encoder = model.encoder.eval().to(dev)
        wer_dir = decode_dirs.get(name, decode_dir)
        wers, search = read_wers(wer_dir) if wer_dir is not None else ({}, "")
        entry: dict[str, Any] = {
            "model_dir": str(model_dir),
            "avg": model_avg,
            "decode_dir": None if wer_dir is None else str(wer_dir),
            "search": search,
            "kind": kind_of(encoder),
            "encoder_parameters": sum(p.numel() for p in encoder.parameters()),
            "splits": {},
        }
        for s, cuts in split_cuts.items():
            m = measure_split(encoder, cuts, num_features, repeats, edges, f"{name} {s}")
            m["wer"] = wers.get(s)
            if wer_dir is not None:
                attach_errors(m["utterances"], utterance_errors(wer_dir / f"cuts_{s}.jsonl.gz"))
            entry["splits"][s] = m
        results[name] = entry
    add_comparisons(results, reference)

    settings = (
        f"device={dev} threads={num_threads} repeats={repeats} splits={','.join(names)}"
        f"{f' (first {max_utts} cuts each)' if max_utts else ''}; reference = {reference}"
    )
    searches = sorted({e["search"] for e in results.values() if e["search"]})
    if searches:
        settings += f"; WERs: {' / '.join(searches)}"
    tables = format_tables(results, reference)
    analysis = analysis_sections(results, reference, compare_split)
    click.echo(f"\n{settings}\n")
    click.echo(tables + "\n\n" + analysis)
    plotted = None
    if plot is not None:
        if plot_tradeoff(results, reference, compare_split, plot):
            plotted = plot
        else:
            log.warning("no %s WERs to plot (pass decode directories); %s not written", compare_split, plot)
    if out_json is not None:
        write_json_atomic(out_json, {"reference": reference, "settings": settings, "models": results})
    if report_md is not None:
        rel = None
        if plotted is not None:
            here = report_md.resolve().parent
            rel = (
                str(plotted.resolve().relative_to(here))
                if plotted.resolve().is_relative_to(here)
                else str(plotted)
            )
        command = "python -m steps.bench_cca " + " ".join(sys.argv[1:])
        note = convergence_note(results, reference)
        write_text_atomic(report_md, report_fragment(command, settings, tables, rel, note, analysis))
        write_claims(report_md.parent, [cca_claim(results, reference, compare_split)])


if __name__ == "__main__":
    main()
