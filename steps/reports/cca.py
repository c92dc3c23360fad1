"""The stage-9 report: the CCA Transformer against the dense and sliding-window Transformers
(compute, wall clock, skip rates by accent and SNR, WER) as tables, a trade-off plot and the
RESULTS.md section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from steps.utils import atomic_path

from .format import pct, signed_pct


def snr_bin_order(name: str) -> float:
    """Sort key of the SNR bins of ``steps.bench_cca.snr_bin`` ("<0", "0-10", ..., ">=30", "unknown")."""
    if name == "unknown":
        return float("inf")
    if name.startswith("<"):
        return float("-inf")
    return float(name.removeprefix(">=").split("-")[0])


def _pct(x: float | None, signed: bool = False) -> str:
    """A fraction in % with one decimal; ``signed``: with its sign, without the % (a table column)."""
    return signed_pct(x).removesuffix("%") if signed else pct(x)


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
        order = snr_bin_order if key == "per_snr" else str
        groups = sorted({g for _, _, m in gated for g in m[key]}, key=order)
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
