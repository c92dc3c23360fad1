"""Stage 6: cosine scores for a trial list from stored embeddings (Kaldi ``scores`` file).

    python -m steps.score_trials exp/sv/none/xvectors exp/sv/none/scores \
        --trials exp/sv/trials/trials --split test --mean-norm-split train

Trials naming an utterance without an embedding are not scored; they are counted, listed in
OUT_DIR/report.json and reported on one line (never dropped silently).
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from steps.data.manifests import load_cuts
from steps.sv.scoring import cosine_scores, load_embeddings, mean_vector, write_scores
from steps.sv.trials import check_known, read_trials
from steps.utils import FairstreamError, require_complete, stage_output, write_json_atomic
from steps.utils.cli import CONTEXT, step_main

log = logging.getLogger(__name__)


@click.command(context_settings=CONTEXT)
@click.argument("in_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--trials", "trials_path", type=click.Path(path_type=Path), required=True, help="Kaldi trials file."
)
@click.option("--split", default="test", help="Split of IN_DIR holding the trial utterances.")
@click.option(
    "--mean-norm-split",
    default="",
    help="Subtract this split's mean embedding first ('' = no normalisation).",
)
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete.")
@step_main
def main(
    in_dir: Path, out_dir: Path, trials_path: Path, split: str, mean_norm_split: str, force: bool
) -> None:
    """Score TRIALS with embeddings from IN_DIR (extract_embeddings output) into OUT_DIR/scores."""
    require_complete(in_dir, "embedding")
    resolved = {
        "input": str(in_dir),
        "trials": str(trials_path),
        "split": split,
        "mean_norm_split": mean_norm_split,
    }
    with stage_output(out_dir, resolved, force) as out:
        trials = read_trials(trials_path)
        embs = load_embeddings(load_cuts(in_dir, split), f"load {split} embeddings")
        mean = None
        if mean_norm_split:
            mean = mean_vector(
                load_embeddings(load_cuts(in_dir, mean_norm_split), f"load {mean_norm_split} embeddings")
            )
        ok, unknown = check_known(trials, embs)
        if unknown:
            log.warning(
                "%d of %d trial(s) name an utterance with no embedding in %s/%s (e.g. %s); not scored",
                len(unknown),
                len(trials),
                in_dir,
                split,
                unknown[0].line(),
            )
        if not ok:
            raise FairstreamError(f"none of the {len(trials)} trials in {trials_path} can be scored")
        scores = cosine_scores(ok, embs, mean)
        write_scores(out.path / "scores", ok, scores)
        write_json_atomic(
            out.path / "report.json",
            {
                "trials": len(trials),
                "scored": len(ok),
                "unknown_utterance": len(unknown),
                "unknown_examples": [t.line() for t in unknown[:20]],
                "mean_norm_split": mean_norm_split or None,
            },
        )


if __name__ == "__main__":
    main()
