"""Stage 6: train a speaker-embedding extractor (baseline or ARW, chosen by the YAML).

    python -m steps.train_speaker_embedder data/fbank exp/sv/pairwise_sum/model \
        --conf conf/sv/pairwise_sum.yaml

Trains on IN_DIR/cuts_train.jsonl.gz (its speakers are the classes).  A rerun resumes from the
output's checkpoint-latest.pt; a different config refuses unless --force.  The inference
artefact is OUT_DIR/extractor.pt (see ``steps.sv.load_extractor``).
"""

from __future__ import annotations

from pathlib import Path

import click

from steps.data.manifests import load_cuts
from steps.sv.data import FeatureBank
from steps.sv.train import SvTrainConf, SvTrainer
from steps.utils import require_complete, stage_output
from steps.utils.cli import CONTEXT, step_main
from steps.utils.config import load_dataclass, to_dict
from steps.utils.device import device_option, resolve_device


@click.command(context_settings=CONTEXT)
@click.argument("in_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--conf",
    type=click.Path(path_type=Path),
    default=Path("conf/sv/pairwise_sum.yaml"),
    help="Training YAML.",
)
@click.option("--split", default="train", help="Split of IN_DIR to train on.")
@click.option("--seed", type=int, default=None, help="Override the config's seed.")
@click.option("--max-steps", type=int, default=None, help="Override the config's max_steps.")
@click.option("--force", is_flag=True, help="Start afresh even if OUT_DIR holds another config.")
@device_option
@step_main
def main(
    in_dir: Path,
    out_dir: Path,
    conf: Path,
    split: str,
    seed: int | None,
    max_steps: int | None,
    force: bool,
    device: str,
) -> None:
    """Train a speaker embedder on IN_DIR (fbank cuts) into OUT_DIR (checkpoints, extractor.pt)."""
    require_complete(in_dir, "feature")
    cfg = load_dataclass(SvTrainConf, conf, seed=seed, max_steps=max_steps)
    cfg.validate()
    dev = resolve_device(device)  # where it runs, not what it trains: not in the config
    # sub-blocks fully resolved, so a changed default also changes the digest
    resolved = {
        "input": str(in_dir),
        "split": split,
        **to_dict(cfg),
        "model": to_dict(cfg.model_conf()),
        "data": to_dict(cfg.batch_conf()),
        "arw": to_dict(cfg.arw_conf()),
    }
    with stage_output(out_dir, resolved, force) as out:
        bank = FeatureBank(load_cuts(in_dir, split), cfg.batch_conf().min_utt_frames)
        trainer = SvTrainer(cfg, bank, out.path, device=dev)
        trainer.maybe_resume()
        trainer.train()


if __name__ == "__main__":
    main()
