"""Stage 4: train a transducer whose architecture comes from the YAML config.

    python -m steps.train_transducer data/fbank exp/lstm --conf conf/train/lstm.yaml \
        --lang-dir data/lang_bpe_100
    torchrun --nproc-per-node 2 -m steps.train_transducer ...   # distributed, same code

A rerun resumes from OUT_DIR's checkpoint-latest.pt; a different config refuses unless --force.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from steps.nnet.distributed import barrier, init_distributed
from steps.nnet.trainer import Trainer
from steps.tasks import load_train_conf
from steps.utils import FairstreamError, StageComplete, require_complete, stage_output
from steps.utils.cli import CONTEXT, step_main
from steps.utils.config import to_dict
from steps.utils.device import PRECISIONS, autocast, device_option, resolve_device
from steps.utils.stage import config_digest, is_complete, partial_dir

log = logging.getLogger(__name__)


@click.command(context_settings=CONTEXT)
@click.argument("in_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--conf", type=click.Path(path_type=Path), required=True, help="Training YAML.")
@click.option("--lang-dir", type=click.Path(path_type=Path), required=True, help="BPE directory.")
@click.option("--seed", type=int, default=None, help="Override the config's seed.")
@click.option("--max-steps", type=int, default=None, help="Override the config's max_steps.")
@click.option("--force", is_flag=True, help="Start afresh even if OUT_DIR holds another config.")
@device_option
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True,
              help="Forward pass in bf16 / fp16 autocast (GPU only; fp16 with loss scaling).")  # fmt: skip
@click.option("--num-workers", type=int, default=0, show_default=True,
              help="Data-loading processes (features, SpecAugment) beside the training loop.")  # fmt: skip
@step_main
def main(
    in_dir: Path,
    out_dir: Path,
    conf: Path,
    lang_dir: Path,
    seed: int | None,
    max_steps: int | None,
    force: bool,
    device: str,
    precision: str,
    num_workers: int,
) -> None:
    """Train on IN_DIR/cuts_train.jsonl.gz (fbank) into OUT_DIR (checkpoints, logs); with
    ``task: multitalker`` on IN_DIR/sessions_train.jsonl.gz (local/make_sessions.py)."""
    require_complete(in_dir, "feature")
    require_complete(lang_dir, "lang")
    cfg, task = load_train_conf(conf, seed, max_steps)
    resolved = {"input": str(in_dir), "lang_dir": str(lang_dir), **to_dict(cfg)}
    dev = resolve_device(device)  # device, precision, workers: how the run executes, not in its config
    autocast(dev, precision)  # fp16 / bf16 off a GPU: refused before anything is written
    if num_workers < 0:
        raise FairstreamError(f"--num-workers must be >= 0, got {num_workers}")
    dist = init_distributed(dev)
    run = {"device": dev, "precision": precision, "num_workers": num_workers}
    if dist.world_size > 1 and not force and is_complete(out_dir, config_digest(resolved)):
        raise StageComplete(f"{out_dir} is complete; nothing to do")  # on every rank
    if dist.main:
        with stage_output(out_dir, resolved, force) as out:
            barrier(dist)
            trainer = Trainer(cfg, task, in_dir, lang_dir, out.path, dist, **run)
            trainer.maybe_resume()
            trainer.train()
            barrier(dist)
    else:
        barrier(dist)
        trainer = Trainer(cfg, task, in_dir, lang_dir, partial_dir(out_dir), dist, **run)
        trainer.maybe_resume()
        trainer.train()
        barrier(dist)


if __name__ == "__main__":
    main()
