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
(``supervision.custom["accent"]``) and per SNR bin (``cut.custom["snr_db"]``).  Savings and the
relative WER change are against ``--reference``.
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
from steps.utils import FairstreamError, atomic_path, read_config, require_complete, write_json_atomic
from steps.utils.atomic import write_text_atomic
from steps.utils.cli import CONTEXT, step_main

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


def read_wers(decode_dir: Path) -> dict[str, float]:
    """WER per split from a finished decode directory's metrics.json."""
    require_complete(decode_dir, "decode")
    p = decode_dir / "metrics.json"
    if not p.is_file():
        raise FairstreamError(f"{p} does not exist; is {decode_dir} a decode directory?")
    metrics = json.loads(p.read_text())
    return {split: float(m["wer"]) for split, m in metrics.items() if m.get("wer") is not None}


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
    if isinstance(encoder, CcaTransformer) and encoder.arbitrator is not None:
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
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            t0 = time.perf_counter()
            encoder(feats, lens)
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
    cca = isinstance(encoder, CcaTransformer)
    warm = False
    for cut in tqdm(cuts, desc=desc, unit="utt"):
        feats, lens = load_features([cut], num_features)
        if not warm:  # first-call allocations and lazy kernels are not the model's cost
            time_forward(encoder, feats, lens, 1)
            warm = True
        wall = time_forward(encoder, feats, lens, repeats)
        if cca:
            rep = encoder.flop_report()  # the gates of the timed forward
            flops, frames = rep["flops"][0], rep["frames"][0]
            blocks, mha, ffn = frames * rep["blocks_per_type"], rep["kept_mha"][0], rep["kept_ffn"][0]
        else:
            flops, blocks, mha, ffn = count_flops(encoder, feats, lens), 0, 0, 0
        sup = cut.supervisions[0] if cut.supervisions else None
        accent = str(((sup.custom or {}) if sup is not None else {}).get("accent") or "unknown")
        snr = (cut.custom or {}).get("snr_db")
        row = (cut.duration, float(flops), wall, blocks, mha, ffn)
        overall.add(*row)
        accents[accent].add(*row)
        snrs[snr_bin(None if snr is None else float(snr), snr_edges)].add(*row)
    return {
        **overall.summary(),
        "per_accent": {k: v.summary() for k, v in sorted(accents.items())},
        "per_snr": {k: v.summary() for k, v in sorted(snrs.items(), key=lambda kv: _bin_key(kv[0]))},
    }


def _bin_key(name: str) -> float:
    if name == "unknown":
        return float("inf")
    if name.startswith("<"):
        return float("-inf")
    return float(name.removeprefix(">=").split("-")[0])


def add_comparisons(results: dict[str, Any], reference: str) -> None:
    """Compute and wall-clock saved and relative WER change of every model vs the reference."""
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


# ---- output ----------------------------------------------------------------------------------
def _pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "–"
    return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"


def format_tables(results: dict[str, Any], reference: str) -> str:
    """The main table, then skip rates per accent and per SNR bin (gated models only)."""
    lines = [
        f"| model | kind | split | utts | enc MFLOPs/s | compute saved vs {reference} (%) "
        "| enc ms/s audio | time saved (%) | MHA skipped (%) | FFN skipped (%) | WER (%) "
        f"| rel. WER change vs {reference} (%) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, model in results.items():
        for split, m in model["splits"].items():
            wer = m.get("wer")
            lines.append(
                f"| {name} | {model['kind']} | {split} | {m['utts']} | {m['flops_per_second'] / 1e6:.1f} "
                f"| {_pct(m.get('compute_saved'))} | {m['wall_ms_per_second']:.2f} "
                f"| {_pct(m.get('wall_saved'))} | {_pct(m['skip_mha'])} | {_pct(m['skip_ffn'])} "
                f"| {'–' if wer is None else f'{wer:.2f}'} | {_pct(m.get('rel_wer_change'), signed=True)} |"
            )
    for key, title in (("per_accent", "accent"), ("per_snr", "SNR bin (dB)")):
        gated = [
            (n, s, m) for n, mod in results.items() if mod["kind"] == "cca" for s, m in mod["splits"].items()
        ]
        groups = sorted({g for _, _, m in gated for g in m[key]}, key=_bin_key if key == "per_snr" else str)
        if not gated or not groups:
            continue
        lines += [
            "",
            f"Skipped MHA / FFN frame-blocks (%) per {title}:",
            "",
            "| model | split | " + " | ".join(groups) + " |",
            "|---|---|" + "---:|" * len(groups),
        ]
        for name, split, m in gated:
            cells = []
            for g in groups:
                s = m[key].get(g)
                cells.append("–" if s is None else f"{_pct(s['skip_mha'])} / {_pct(s['skip_ffn'])}")
            lines.append(f"| {name} | {split} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_tradeoff(results: dict[str, Any], reference: str, split: str, path: Path) -> bool:
    """Relative WER increase vs compute saved, CCA and sliding-window points; False if no WERs."""
    points = [
        (name, mod["kind"], mod["splits"][split])
        for name, mod in results.items()
        if split in mod["splits"] and mod["splits"][split].get("rel_wer_change") is not None
    ]
    if not points:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = {"cca": ("o", "tab:blue", "CCA"), "sliding_window": ("s", "tab:orange", "sliding window")}
    fig, ax = plt.subplots(figsize=(5.5, 4))
    seen: set[str] = set()
    for name, kind, m in points:
        marker, color, label = style.get(kind, ("*", "black", "dense"))
        if name == reference:
            marker, color, label = "*", "black", f"reference ({reference})"
        x, y = 100 * m["compute_saved"], 100 * m["rel_wer_change"]
        ax.scatter(x, y, marker=marker, color=color, s=60, label=None if label in seen else label)
        seen.add(label)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel(f"encoder compute saved vs {reference} (%)")
    ax.set_ylabel(f"relative {split} WER increase (%)")
    ax.set_title("CCA vs sliding-window attention")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return True


UNCONVERGED_WER = 50.0  # a reference above this recognises little: its relative WER changes say nothing


def convergence_note(results: dict[str, Any], reference: str) -> str:
    """A plain warning when the reference recogniser is far from usable: skipping encoder work then
    costs little WER because the encoder contributes little, not because the arbitrators are good."""
    wers = {s: m.get("wer") for s, m in results[reference]["splits"].items() if m.get("wer") is not None}
    bad = {s: w for s, w in wers.items() if w >= UNCONVERGED_WER}
    if not bad:
        return ""
    shown = ", ".join(f"{s} {w:.1f}%" for s, w in sorted(bad.items()))
    return (
        f"**The reference `{reference}` is not converged** (WER {shown}): at this accuracy the encoder "
        "adds little over the text prior, so switching its blocks off costs little WER and the arbitrators "
        "learn to skip almost everything. The compute and wall-clock columns measure the mechanism; the "
        "WER columns do not test the seed's accuracy claim."
    )


def report_fragment(command: str, settings: str, tables: str, plot: str | None, note: str = "") -> str:
    """The benchmark as a RESULTS.md section (steps/write_results.py pastes ``exp/*/report.md``)."""
    from steps.reports.machine import describe

    parts = [
        "## CCA Transformer: per-frame skipping vs sliding-window attention",
        "",
        f"`{command}` on {describe()}. Encoder only, one utterance at a time, eval mode (skipped "
        "sub-blocks are not computed). MFLOPs/s = 2 × multiply-adds of the matmuls the applied gates "
        "need, per second of audio (attention over the kept keys actually visible); ms/s = measured "
        "encoder wall-clock per second of audio; skipped = fraction of (frame, sub-block) pairs "
        "switched off by the arbitrators.",
        "",
        settings,
        "",
        tables,
        "",
    ]
    if note:
        parts += [note, ""]
    if plot:
        parts += [f"![relative WER increase vs compute saved]({plot})", ""]
    return "\n".join(parts)


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
@click.option("--plot-split", default="test", help="Split whose WERs the plot shows.")
@click.option("--out-json", type=click.Path(path_type=Path), default=None, help="Write all results here.")
@click.option("--report-md", type=click.Path(path_type=Path), default=None, help="Write a markdown section.")
@click.option("--plot", type=click.Path(path_type=Path), default=None, help="PNG: rel. WER vs compute saved.")
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
    plot_split: str,
    out_json: Path | None,
    report_md: Path | None,
    plot: Path | None,
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
    split_names = [s.strip() for s in splits.split(",") if s.strip()]
    if not split_names:
        raise FairstreamError("--splits names no split")
    if num_threads < 1 or repeats < 1 or max_utts < 0:
        raise FairstreamError("--num-threads and --repeats must be >= 1, --max-utts >= 0")
    try:
        edges = sorted(float(e) for e in snr_edges.split(",") if e.strip())
    except ValueError as e:
        raise FairstreamError(f"--snr-edges {snr_edges!r}: expected comma-separated numbers") from e
    if not edges:
        raise FairstreamError("--snr-edges names no edge")
    torch.set_num_threads(num_threads)
    split_cuts = {}
    for s in split_names:
        cuts = list(load_cuts(fbank_dir, s))
        split_cuts[s] = cuts[:max_utts] if max_utts else cuts

    results: dict[str, Any] = {}
    for name, path in model_dirs.items():
        model_dir, model_avg, decode_dir = resolve_model(path, avg)
        require_complete(model_dir, "model")
        lang = lang_dir or Path(read_config(model_dir).get("lang_dir") or "")
        model, _, num_features = load_model(model_dir, lang, model_avg)
        encoder = model.encoder.eval()
        wer_dir = decode_dirs.get(name, decode_dir)
        wers = read_wers(wer_dir) if wer_dir is not None else {}
        entry: dict[str, Any] = {
            "model_dir": str(model_dir),
            "avg": model_avg,
            "decode_dir": None if wer_dir is None else str(wer_dir),
            "kind": kind_of(encoder),
            "encoder_parameters": sum(p.numel() for p in encoder.parameters()),
            "splits": {},
        }
        for s, cuts in split_cuts.items():
            m = measure_split(encoder, cuts, num_features, repeats, edges, f"{name} {s}")
            m["wer"] = wers.get(s)
            entry["splits"][s] = m
        results[name] = entry
    add_comparisons(results, reference)

    settings = (
        f"threads={num_threads} repeats={repeats} splits={','.join(split_names)}"
        f"{f' (first {max_utts} cuts each)' if max_utts else ''}; reference = {reference}"
    )
    tables = format_tables(results, reference)
    click.echo(f"\n{settings}\n")
    click.echo(tables)
    plotted = None
    if plot is not None:
        if plot_tradeoff(results, reference, plot_split, plot):
            plotted = plot
        else:
            log.warning("no %s WERs to plot (pass decode directories); %s not written", plot_split, plot)
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
        write_text_atomic(report_md, report_fragment(command, settings, tables, rel, note))


if __name__ == "__main__":
    main()
