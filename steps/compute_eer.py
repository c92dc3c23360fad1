"""Stage 6: EER and minDCF overall and per gender / country / accent, with a DET plot.

    python -m steps.compute_eer exp/sv/none/scores exp/sv/none/eer \
        --trials exp/sv/trials/trials --cuts exp/sv/none/xvectors/cuts_test.jsonl.gz

Writes OUT_DIR/metrics.json (overall, per group, gender gap, country/accent std, bootstrap
intervals, counts of unevaluated trials), OUT_DIR/scored_trials.tsv (+ .meta.json: what
report_sv reads) and OUT_DIR/det.png.  NaN or constant scores stop with a one-line error.
"""

from __future__ import annotations

from pathlib import Path

import click
from lhotse import load_manifest

from steps.sv.det import plot_det
from steps.sv.evaluate import bootstrap, evaluate, join_scores
from steps.sv.groups import metadata
from steps.sv.scoring import read_scores
from steps.sv.trials import read_trials
from steps.utils import FairstreamError, require_complete, stage_output, write_json_atomic
from steps.utils.cli import CONTEXT, step_main


@click.command(context_settings=CONTEXT)
@click.argument("in_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--trials", "trials_path", type=click.Path(path_type=Path), required=True, help="Kaldi trials file."
)
@click.option(
    "--cuts",
    "cuts_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Cuts with the trial utterances' metadata.",
)
@click.option(
    "--bootstrap", "n_boot", type=int, default=200, help="Bootstrap resamples over speakers (0 = none)."
)
@click.option("--seed", type=int, default=42, help="Bootstrap seed.")
@click.option("--min-group-trials", type=int, default=10, help="Targets and non-targets a group needs.")
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete.")
@step_main
def main(
    in_dir: Path,
    out_dir: Path,
    trials_path: Path,
    cuts_path: Path,
    n_boot: int,
    seed: int,
    min_group_trials: int,
    force: bool,
) -> None:
    """Evaluate IN_DIR/scores (score_trials output) against TRIALS into OUT_DIR."""
    require_complete(in_dir, "scores")
    if not cuts_path.is_file():
        raise FairstreamError(f"cuts manifest {cuts_path} does not exist")
    resolved = {
        "input": str(in_dir),
        "trials": str(trials_path),
        "cuts": str(cuts_path),
        "bootstrap": n_boot,
        "seed": seed,
        "min_group_trials": min_group_trials,
    }
    with stage_output(out_dir, resolved, force) as out:
        st, counts = join_scores(
            read_trials(trials_path), read_scores(in_dir / "scores"), metadata(load_manifest(cuts_path))
        )
        results = evaluate(st, min_group_trials=min_group_trials)
        name = in_dir.resolve().parent.name
        results["bootstrap"] = bootstrap(
            {name: st.scores}, st, n_boot, seed, min_group_trials=min_group_trials
        )
        results["trials"] = counts
        st.save(out.path / "scored_trials.tsv")
        plot_det({name: st}, out.path / "det.png", min_trials=min_group_trials)
        write_json_atomic(out.path / "metrics.json", results)
        o = results["overall"]
        click.echo(
            f"{name}: EER {100 * o['eer']:.2f}%  minDCF(0.01) {o['mindcf_0.01']:.3f}  "
            f"minDCF(0.05) {o['mindcf_0.05']:.3f}  gender gap {_fmt(results['fairness']['gender_gap'])}  "
            f"country std {_fmt(results['fairness']['country_std'])}  ({counts['evaluated']} trials, "
            f"{counts['unknown_utterance']} unknown-utterance, {counts['missing_score']} unscored)",
            err=True,
        )


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


if __name__ == "__main__":
    main()
