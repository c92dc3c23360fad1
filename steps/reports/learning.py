"""Time to accuracy: learning curves of every trained transducer and the core-minutes each
needed to reach fixed dev WERs.

Reads ``exp/<model>/valid.jsonl`` (written by the trainer's validation) and
``train_stats.json``; never rebuilds a model.  A threshold counts as reached at the first
validation at or below it, so the resolution is the validation interval.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from steps.nnet.validation import VALID_LOG, read_valid_log

THRESHOLDS = (30.0, 15.0)  # dev WER (%) whose core-minutes the table reports


def load_curves(exp_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Model directory name -> its validation records, for every run with a learning curve."""
    curves = {}
    for log in sorted(exp_dir.glob(f"*/{VALID_LOG}")):
        records = read_valid_log(log)
        if records and records[0].get("valid_split", "dev") == "dev":
            curves[log.parent.name] = records
    return curves


def time_to(records: list[dict[str, Any]], threshold: float) -> dict[str, Any] | None:
    """The first validation at or below ``threshold`` % WER, or None."""
    return next((r for r in records if r["wer"] <= threshold), None)


def curve_table(curves: dict[str, list[dict[str, Any]]]) -> list[str]:
    head = "| model | updates | core-min | audio h | last dev WER | best dev WER | " + " | ".join(
        f"core-min to {t:g}%" for t in THRESHOLDS
    ) + " |"
    rows = [head, "|---" * (6 + len(THRESHOLDS)) + "|"]
    for name, recs in curves.items():
        last = recs[-1]
        best = min(recs, key=lambda r: r["wer"])
        cells = []
        for t in THRESHOLDS:
            hit = time_to(recs, t)
            cells.append(f"{hit['core_minutes']:.1f} (step {hit['step']})" if hit else "not reached")
        rows.append(
            f"| {name} | {last['step']} | {last['core_minutes']:.1f} | {last['audio_seconds'] / 3600:.1f} | "
            f"{last['wer']:.1f} | {best['wer']:.1f} (step {best['step']}) | " + " | ".join(cells) + " |"
        )
    return rows


def curve_plot(curves: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Dev WER against training core-minutes and against hours of audio processed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for name, recs in curves.items():
        wers = [r["wer"] for r in recs]
        axes[0].plot([r["core_minutes"] for r in recs], wers, marker=".", label=name)
        axes[1].plot([r["audio_seconds"] / 3600 for r in recs], wers, marker=".", label=name)
    axes[0].set_xlabel("training core-minutes")
    axes[1].set_xlabel("hours of audio processed")
    axes[0].set_ylabel("dev greedy WER (%), fixed subset")
    for ax in axes:
        for t in THRESHOLDS:
            ax.axhline(t, color="grey", lw=0.8, ls="--")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle("Time to accuracy")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def learning_section(exp_dir: Path, fig_dir: Path, md_dir: Path | None = None) -> str | None:
    """Markdown with the time-to-accuracy table and figure; None when no run has a curve."""
    curves = load_curves(exp_dir)
    if not curves:
        return None
    n = {r["cuts"] for recs in curves.values() for r in recs}
    png = fig_dir / "asr_learning_curves.png"
    curve_plot(curves, png)
    rel = png.relative_to(md_dir) if md_dir is not None and png.is_relative_to(md_dir) else png
    return "\n".join([
        "## Time to accuracy",
        "",
        f"Greedy WER on a fixed, evenly spaced subset of dev ({'/'.join(map(str, sorted(n)))} cuts, offline, "
        "batched), measured during training. Core-minutes = training wall time x threads x processes, "
        "validation excluded; a threshold counts at the first validation at or below it.",
        "",
        *curve_table(curves),
        "",
        f"![learning curves]({rel})",
        "",
    ])  # fmt: skip
