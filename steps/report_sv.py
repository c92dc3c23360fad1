"""Stage 6: the baseline-vs-ARW markdown fragment and DET figure (later pasted into RESULTS.md).

    python -m steps.report_sv exp/sv/none/eer exp/sv/pairwise_sum/eer exp/sv/report.md

Each EER_DIR is a compute_eer output; the system name is its parent directory's name
(exp/sv/<name>/eer) unless --names is given.  All systems must be scored on the same trials, so
the bootstrap is paired.  Writes REPORT (markdown) and, next to it, <REPORT stem>_det.png.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from steps.reports.claims import write_claims
from steps.reports.sv import claims, render
from steps.sv.det import plot_det
from steps.sv.evaluate import ScoredTrials, bootstrap, evaluate
from steps.utils import FairstreamError, require_complete, write_json_atomic, write_text_atomic
from steps.utils.cli import CONTEXT, step_main


@click.command(context_settings=CONTEXT)
@click.argument("eer_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.argument("report", type=click.Path(path_type=Path))
@click.option("--names", default="", help="Comma-separated system names (default: parent directory names).")
@click.option("--baseline", default="none", help="The system the others are compared with.")
@click.option("--bootstrap", "n_boot", type=int, default=200, help="Paired speaker resamples.")
@click.option("--seed", type=int, default=42, help="Bootstrap seed.")
@click.option("--split", default="test", help="The split the trials come from (named in the report).")
@click.option("--min-group-trials", type=int, default=10, help="Targets and non-targets a group needs.")
@click.option("--figure-prefix", default="", help="Prefix of the figure link (e.g. 'results/' once copied).")
@step_main
def main(
    eer_dirs: tuple[Path, ...],
    report: Path,
    names: str,
    baseline: str,
    n_boot: int,
    seed: int,
    min_group_trials: int,
    figure_prefix: str,
    split: str,
) -> None:
    """Compare the systems in EER_DIRS (compute_eer outputs) and write the markdown REPORT."""
    labels = [n for n in names.split(",") if n] or [d.resolve().parent.name for d in eer_dirs]
    if len(labels) != len(eer_dirs) or len(set(labels)) != len(labels):
        raise FairstreamError(f"need one distinct name per EER_DIR, got {labels}")
    if baseline not in labels:
        raise FairstreamError(f"baseline {baseline!r} is not among the systems {labels}")
    systems: dict[str, ScoredTrials] = {}
    counts = {}
    for name, d in zip(labels, eer_dirs, strict=True):
        require_complete(d, "EER")
        systems[name] = ScoredTrials.load(d / "scored_trials.tsv")
        counts[name] = json.loads((d / "metrics.json").read_text())["trials"]
    ref = systems[baseline]
    for name, st in systems.items():
        if st.enroll != ref.enroll or st.test != ref.test or not np.array_equal(st.is_target, ref.is_target):
            raise FairstreamError(
                f"{name} and {baseline} were not evaluated on the same trials; cannot pair them"
            )
    results = {n: evaluate(st, min_group_trials=min_group_trials) for n, st in systems.items()}
    scores = {n: st.scores for n, st in systems.items()}
    boot = bootstrap(scores, ref, n_boot, seed, baseline, min_group_trials)
    figure = report.with_name(report.stem + "_det.png")
    plot_det(systems, figure, min_trials=min_group_trials)
    trial_info = {
        "n_target": int(ref.is_target.sum()),
        "n_nontarget": int((~ref.is_target).sum()),
        "speakers": len({ref.meta[u].speaker for u in ref.enroll + ref.test}),
        "split": split,
        "unknown": max(c["unknown_utterance"] for c in counts.values()),
        "missing": max(c["missing_score"] for c in counts.values()),
    }
    write_json_atomic(
        report.with_suffix(".json"), {"results": results, "bootstrap": boot, "trials": trial_info}
    )
    write_claims(report.parent, claims(results, boot, baseline))
    write_text_atomic(report, render(results, boot, baseline, figure_prefix + figure.name, trial_info))
    click.echo(f"wrote {report} and {figure}", err=True)


if __name__ == "__main__":
    main()
