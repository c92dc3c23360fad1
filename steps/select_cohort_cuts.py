"""Fine-tuning data for mitigation: the bottom cohort's training cuts, all with it oversampled, or
all of them untouched (the untargeted control: as many extra updates, no targeting).

    python -m steps.select_cohort_cuts exp/cohorts exp/mitigate/data/bottom --mode bottom
    python -m steps.select_cohort_cuts exp/cohorts exp/mitigate/data/oversample \
        --mode oversample --rate 0.5
    python -m steps.select_cohort_cuts exp/cohorts exp/mitigate/data/all --mode all

COHORTS_DIR is the cohort stage's output; COHORTS_DIR/<method>/cuts_<split>.jsonl.gz
supervisions carry ``cohort`` and ``cohort_bottom``.  OUT_DIR gets cuts_<split>.jsonl.gz (features
referenced, never copied; for --split train the trainer reads nothing else) and stats.json.
``--mode all --split test`` gives the cohort-labelled test cuts a model with a cohort input
decodes.  See
steps/fairness/selection.py for why oversampling repeats cuts.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from steps.data.manifests import load_cuts
from steps.fairness.selection import bottom_only, is_bottom, oversample
from steps.utils import FairstreamError, require_complete, save_manifest_atomic, stage_output
from steps.utils.atomic import write_json_atomic
from steps.utils.cli import CONTEXT, step_main

log = logging.getLogger(__name__)


@click.command(context_settings=CONTEXT)
@click.argument("cohorts_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--mode", type=click.Choice(["bottom", "oversample", "all"]), required=True)
@click.option(
    "--rate", type=float, default=0.5, help="oversample: share of utterances from the bottom cohort."
)
@click.option("--method", default="geo", help="Cohort method: COHORTS_DIR/<method>/.")
@click.option("--split", default="train", help="COHORT_DIR/cuts_<split>.jsonl.gz to select from.")
@click.option("--seed", type=int, default=42, help="Which bottom cuts get the remainder copies.")
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete or holds another config.")
@step_main
def main(
    cohorts_dir: Path, out_dir: Path, mode: str, rate: float, method: str, split: str, seed: int, force: bool
) -> None:
    """Write OUT_DIR/cuts_<split>.jsonl.gz selected from the labelled cuts of COHORTS_DIR/<method>."""
    require_complete(cohorts_dir, "cohort")
    cfg = {
        "input": str(cohorts_dir),
        "input_digest": (cohorts_dir / ".done").read_text().strip(),
        "method": method,
        "split": split,
        "mode": mode,
        "rate": rate if mode == "oversample" else None,
        "seed": seed if mode == "oversample" else None,
    }
    cuts = load_cuts(cohorts_dir / method, split).to_eager()
    if mode == "all":
        selected = cuts
    else:
        selected = bottom_only(cuts) if mode == "bottom" else oversample(cuts, rate, seed)
    n_bottom = sum(is_bottom(c) for c in selected)
    if not len(selected):
        raise FairstreamError("the selection is empty")
    with stage_output(out_dir, cfg, force) as out:
        save_manifest_atomic(selected, out / f"cuts_{split}.jsonl.gz")
        stats = {
            "input_utts": len(cuts),
            "input_bottom_utts": sum(is_bottom(c) for c in cuts),
            "utts": len(selected),
            "bottom_utts": n_bottom,
            "bottom_share": round(n_bottom / len(selected), 4),
            "hours": round(sum(c.duration for c in selected) / 3600, 3),
        }
        write_json_atomic(out / "stats.json", stats)
        log.info(
            "%s: %d utterances, %.1f%% from the bottom cohort",
            mode,
            len(selected),
            100 * stats["bottom_share"],
        )


if __name__ == "__main__":
    main()
