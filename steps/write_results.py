"""Stage 99: assemble RESULTS.md (and results/*.png) from the finished stages of one run.

    python -m steps.write_results exp RESULTS.md --command "./run.sh" --started 1764000000

Every table is computed from stage outputs by report code; nothing is typed by hand.
"""

from __future__ import annotations

import logging
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from steps.reports.accents import accents_section
from steps.reports.asr import asr_section
from steps.reports.claims import claims_section
from steps.reports.compare import compare_claims, compare_section
from steps.reports.learning import learning_section
from steps.reports.machine import describe
from steps.reports.paper_sizes import paper_size_section
from steps.utils import write_text_atomic
from steps.utils.cli import CONTEXT, step_main
from steps.utils.stats import RULE

log = logging.getLogger(__name__)

PAPER_CONF_DIR = Path(__file__).resolve().parents[1] / "conf" / "train" / "paper"


def fragment_sections(exp_dir: Path, fig_dir: Path, out_md: Path) -> list[str]:
    """Self-contained ``report.md`` fragments written by other stages (e.g. ``exp/sv``), with their PNGs."""
    sections = []
    for frag in sorted(exp_dir.glob("*/report.md")):
        text = frag.read_text()
        for png in sorted(frag.parent.glob("*.png")):
            target = fig_dir / f"{frag.parent.name}_{png.name}"
            fig_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(png, target)
            rel = target.relative_to(out_md.parent) if target.is_relative_to(out_md.parent) else target
            text = text.replace(f"({png.name})", f"({rel})")
        sections.append(text.strip() + "\n")
    return sections


@click.command(context_settings=CONTEXT)
@click.argument("exp_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.argument("out_md", type=click.Path(path_type=Path))
@click.option("--fig-dir", type=click.Path(path_type=Path), default=Path("results"))
@click.option("--command", "command", default="./run.sh", help="The command that produced EXP_DIR.")
@click.option("--reference", default="convrnnt", help="Model the comparison tests the others against.")
@click.option("--started", type=float, default=None, help="Unix time the run started (for its duration).")
@click.option(
    "--wall-seconds", type=float, default=None, help="The run's wall time, when re-writing the report later."
)
@step_main
def main(
    exp_dir: Path,
    out_md: Path,
    fig_dir: Path,
    command: str,
    reference: str,
    started: float | None,
    wall_seconds: float | None,
) -> None:
    """Write OUT_MD from the results found in EXP_DIR."""
    now = datetime.now(UTC)
    if wall_seconds is None and started:
        wall_seconds = time.time() - started
    took = f"{wall_seconds / 60:.1f} min" if wall_seconds is not None else "unknown"
    parts = [
        "# RESULTS",
        "",
        "Written by `python -m steps.write_results` (stage 99) from the outputs of one run; "
        "regenerate it by running the command below. Figures are in `results/`.",
        "",
        f"- command: `{command}`",
        f"- date: {now:%Y-%m-%d %H:%M} UTC",
        f"- machine: {describe()}",
        f"- wall time of the run: {took}",
        f"- {RULE}",
        "",
    ]
    sections = [
        s
        for s in [
            claims_section(exp_dir, compare_claims(exp_dir, reference)),
            asr_section(exp_dir),
            learning_section(exp_dir, fig_dir, out_md.parent),
            compare_section(exp_dir, fig_dir, out_md.parent, reference),
            accents_section(exp_dir),
        ]
        if s
    ]
    paper = paper_size_section(PAPER_CONF_DIR) if sections else None  # beside a run's own sizes
    sections += [paper] if paper else []
    sections += fragment_sections(exp_dir, fig_dir, out_md)
    if not sections:
        parts.append("No finished results were found in this run's experiment directory.\n")
    write_text_atomic(out_md, "\n".join(parts + sections))
    log.info("wrote %s with %d section(s)", out_md, len(sections))


if __name__ == "__main__":
    main()
