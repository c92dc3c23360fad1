"""EWC's anchor: the baseline weights theta* and their diagonal Fisher on the original training data.

    python -m steps.compute_fisher exp/lstm data/fbank exp/mitigate/fisher --avg 2 --num-utts 300

OUT_DIR gets ``fisher.pt`` (``fisher`` and ``theta_star`` per parameter, + how they were made),
``baseline.pt`` (the averaged baseline as a checkpoint, for a fine-tuning conf's ``init_from``,
so fine-tuning starts exactly at theta*) and ``stats.json``.  Computed once, reused by every
EWC run.  See steps/nnet/ewc.py for which Fisher and why.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from pathlib import Path

import click
import torch

from steps.data.manifests import load_cuts
from steps.nnet.checkpoint import save_checkpoint
from steps.nnet.ewc import diagonal_fisher, fisher_examples, save_fisher, transducer_objective
from steps.nnet.loading import load_model
from steps.nnet.trainer import TrainConf
from steps.utils import (
    FairstreamError,
    file_digest,
    read_config,
    require_complete,
    stage_output,
    write_json_atomic,
)
from steps.utils.cli import CONTEXT, step_main
from steps.utils.config import from_dict

log = logging.getLogger(__name__)


def baseline_train_conf(model_dir: Path) -> TrainConf:
    """The baseline's resolved training config (its loss settings define the Fisher's objective)."""
    cfg = read_config(model_dir)
    known = {f.name for f in dataclasses.fields(TrainConf)}
    return from_dict(
        TrainConf, {k: v for k, v in cfg.items() if k in known}, where=f"{model_dir}/config.yaml"
    )


@click.command(context_settings=CONTEXT)
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("fbank_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--avg", type=int, default=2, help="Average the baseline's last K epochs (as its decode did).")
@click.option("--num-utts", type=int, default=300, help="Training utterances sampled for the Fisher.")
@click.option("--split", default="train", help="The original training data: FBANK_DIR/cuts_<split>.")
@click.option("--lang-dir", type=click.Path(path_type=Path), default=None, help="Default: the baseline's.")
@click.option("--seed", type=int, default=42, help="Which utterances are sampled.")
@click.option("--num-threads", type=int, default=2)
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete or holds another config.")
@step_main
def main(
    model_dir: Path,
    fbank_dir: Path,
    out_dir: Path,
    avg: int,
    num_utts: int,
    split: str,
    lang_dir: Path | None,
    seed: int,
    num_threads: int,
    force: bool,
) -> None:
    """Empirical diagonal Fisher of MODEL_DIR's (averaged) weights on FBANK_DIR's training cuts."""
    require_complete(model_dir, "model")
    require_complete(fbank_dir, "feature")
    if num_utts < 1:
        raise FairstreamError("--num-utts must be >= 1")
    lang_dir = lang_dir or Path(read_config(model_dir)["lang_dir"])
    tconf = baseline_train_conf(model_dir)
    cfg = {
        "model_dir": str(model_dir),
        "model_digest": (model_dir / ".done").read_text().strip(),
        "input": str(fbank_dir),
        "split": split,
        "lang_dir": str(lang_dir),
        "avg": avg,
        "num_utts": num_utts,
        "seed": seed,
        "fisher": "empirical, per-utterance squared gradients of the trainer's per-frame objective",
    }
    torch.set_num_threads(num_threads)
    model, tokenizer, num_features = load_model(model_dir, lang_dir, avg)
    cuts = load_cuts(fbank_dir, split).filter(lambda c: c.duration <= tconf.data_conf().max_cut_duration)
    cuts = cuts.to_eager()
    ids = sorted(cuts.ids)
    chosen = random.Random(seed).sample(ids, min(num_utts, len(ids)))
    subset = cuts.subset(cut_ids=chosen)
    loss_fn = transducer_objective(
        tconf.prune_range, tconf.am_scale, tconf.lm_scale, tconf.simple_loss_scale, tconf.loss_backend
    )
    with stage_output(out_dir, cfg, force) as out:
        examples = fisher_examples(subset, tokenizer, num_features)
        fisher, n = diagonal_fisher(model, examples, loss_fn, total=len(subset))
        theta = {k: p.detach().clone() for k, p in model.named_parameters() if k in fisher}
        meta = {"num_utts": n, "config": cfg, "model_conf": tconf.model}
        save_fisher(out / "fisher.pt", fisher, theta, meta)
        save_checkpoint(
            out / "baseline.pt",
            {
                "model": model.state_dict(),
                "model_conf": tconf.model,
                "vocab_size": tokenizer.vocab_size,
                "bpe_digest": file_digest(lang_dir / "bpe.model"),
            },
        )
        flat = torch.cat([f.flatten() for f in fisher.values()])
        stats = {
            "num_utts": n,
            "num_params": int(flat.numel()),
            "fisher_mean": float(flat.mean()),
            "fisher_max": float(flat.max()),
            "fisher_median": float(flat.median()),
            "fisher_sum_per_module": {
                m: float(sum(f.sum() for k, f in fisher.items() if k.split(".")[0] == m))
                for m in sorted({k.split(".")[0] for k in fisher})
            },
        }
        write_json_atomic(out / "stats.json", stats)
        log.info(
            "Fisher over %d utterances: mean %.3g, max %.3g", n, stats["fisher_mean"], stats["fisher_max"]
        )


if __name__ == "__main__":
    main()
