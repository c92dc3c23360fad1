"""Stage 6: speaker-verification trials from one split's speakers (Kaldi format).

    python -m steps.make_trials data/fbank exp/sv/trials --split test --conf conf/sv/trials.yaml

Writes OUT_DIR/trials (``enroll test target|nontarget``) and summary.json.  With --given FILE
(e.g. VoxCeleb1-O from local/prepare_voxceleb.py) the list is adopted instead of generated;
trials naming an utterance that is not in the split are counted in summary.json and kept, so
scoring reports them too.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from steps.data.manifests import load_cuts
from steps.sv.groups import metadata
from steps.sv.trials import TrialsConf, check_known, make_trials, read_trials, write_trials
from steps.utils import require_complete, stage_output, write_json_atomic
from steps.utils.cli import CONTEXT, step_main
from steps.utils.config import load_dataclass, to_dict


@click.command(context_settings=CONTEXT)
@click.argument("in_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--conf", type=click.Path(path_type=Path), default=None, help="Trials YAML (defaults if absent)."
)
@click.option("--split", default="test", help="Split of IN_DIR whose speakers make the trials.")
@click.option("--seed", type=int, default=None, help="Override the config's seed.")
@click.option(
    "--given", type=click.Path(path_type=Path), default=None, help="Adopt this Kaldi trial list instead."
)
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete.")
@step_main
def main(
    in_dir: Path,
    out_dir: Path,
    conf: Path | None,
    split: str,
    seed: int | None,
    given: Path | None,
    force: bool,
) -> None:
    """Make trials over IN_DIR/cuts_<split>.jsonl.gz speakers into OUT_DIR/trials."""
    require_complete(in_dir, "input")
    cfg = (
        load_dataclass(TrialsConf, conf, seed=seed)
        if conf
        else TrialsConf(**({"seed": seed} if seed is not None else {}))
    )
    resolved = {"input": str(in_dir), "split": split, "given": str(given) if given else None, **to_dict(cfg)}
    with stage_output(out_dir, resolved, force) as out:
        meta = metadata(load_cuts(in_dir, split))
        if given is not None:
            trials = read_trials(given)
            ok, unknown = check_known(trials, meta)
            labels = Counter("target" if t.target else "nontarget" for t in trials)
            summary = {
                "given": str(given),
                **labels,
                "unknown_utterance": len(unknown),
                "unknown_examples": [t.line() for t in unknown[:10]],
            }
        else:
            trials, summary = make_trials(meta, cfg)
        write_trials(out.path / "trials", trials)
        write_json_atomic(out.path / "summary.json", summary)
        click.echo(f"{len(trials)} trials: {summary}", err=True)


if __name__ == "__main__":
    main()
