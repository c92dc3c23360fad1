"""Training loop of the speaker embedder, with or without the ARW adversary.

Schedule: ``am_fraction`` of the steps with additive-margin softmax only (a quick, stable start), then the
pairwise loss (re-weighted by the adversary for ARW variants; ``pair_balance`` says how the
weights are normalised) plus ``am_weight`` x AM-softmax until ``max_steps``.  The defaults are the
paper's: the weighted metric-learning loss alone (``am_weight: 0``), weights normalised over all
pairs of the batch (``pair_balance: joint``).  Baseline and ARW share seed, batches and step
count: the sampler and the extractor are seeded independently of the adversary, so the first
``am_steps`` are identical and the only difference afterwards is the pair weighting.

Resumable from ``checkpoint-latest.pt`` (extractor, heads, optimisers, scheduler, adversary,
cluster memory, sampler and RNG states, step counter); a rerun continues where it stopped.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from steps.nnet.checkpoint import LATEST, load_checkpoint, save_checkpoint
from steps.nnet.schedule import warmup_stable_decay
from steps.utils import (
    FairstreamError,
    atomic_path,
    derive_seed,
    rng_state,
    seed_everything,
    set_rng_state,
    write_json_atomic,
)
from steps.utils.config import from_dict, to_dict
from steps.utils.device import set_job_threads

from .arw import ArwConf, adversary_step, build_adversary
from .clusters import ClusterMemory
from .data import BatchConf, FeatureBank, SpeakerBatchSampler
from .losses import BALANCES, AmSoftmaxHead, PairScorer, batch_pairs, pair_losses, weighted_pair_loss
from .model import ExtractorConf, TdnnExtractor, count_parameters

log = logging.getLogger(__name__)

FINAL = "extractor.pt"


@dataclass
class SvTrainConf:
    """A conf/sv training YAML: extractor, batches, ARW and optimisation in one place."""

    model: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    arw: dict[str, Any] = field(default_factory=dict)
    seed: int = 42
    max_steps: int = 800
    am_fraction: float = 0.375  # AM-softmax-only warm-up, as a fraction of max_steps
    am_weight: float = 0.0  # AM-softmax weight once the pairwise loss is on (paper: 0, the
    # weighted metric-learning loss alone)
    pair_balance: str = "joint"  # joint (paper: one weighted mean over all pairs) | per_class
    am_margin: float = 0.2
    am_scale: float = 30.0
    lr: float = 3e-3
    weight_decay: float = 1e-4
    lr_warmup_steps: int = 50
    final_lr_fraction: float = 0.05
    grad_clip: float = 5.0
    checkpoint_every: int = 100
    log_every: int = 20
    num_threads: int = 2

    def model_conf(self) -> ExtractorConf:
        return from_dict(ExtractorConf, self.model, where="model")

    def batch_conf(self) -> BatchConf:
        return from_dict(BatchConf, self.data, where="data")

    def arw_conf(self) -> ArwConf:
        return from_dict(ArwConf, self.arw, where="arw")

    def validate(self) -> None:
        self.model_conf(), self.batch_conf(), self.arw_conf()
        if not 0.0 <= self.am_fraction <= 1.0:
            raise FairstreamError(f"am_fraction must be within [0, 1], got {self.am_fraction}")
        if self.pair_balance not in BALANCES:
            raise FairstreamError(f"pair_balance must be one of {BALANCES}, got {self.pair_balance!r}")

    @property
    def am_steps(self) -> int:
        return round(self.am_fraction * self.max_steps)


def lr_factor(step: int, conf: SvTrainConf) -> float:
    """Linear warm-up, then cosine decay to ``final_lr_fraction`` at ``max_steps`` (the shared schedule)."""
    return warmup_stable_decay(step, conf.lr_warmup_steps, conf.max_steps, conf.final_lr_fraction)


class SvTrainer:
    def __init__(
        self, conf: SvTrainConf, bank: FeatureBank, out_dir: Path, device: torch.device | None = None
    ) -> None:
        conf.validate()
        self.conf = conf
        self.device = device or torch.device("cpu")  # how the run executes: not in the config
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        set_job_threads(conf.num_threads)
        seed_everything(conf.seed)
        mconf = conf.model_conf()
        if mconf.feat_dim != bank.feat_dim:
            raise FairstreamError(
                f"model.feat_dim={mconf.feat_dim} but the features have {bank.feat_dim} dims"
            )
        self.bank = bank
        self.arw = conf.arw_conf()
        self.model = TdnnExtractor(mconf)
        self.head = AmSoftmaxHead(mconf.embed_dim, len(bank.speakers), conf.am_margin, conf.am_scale)
        self.scorer = PairScorer()
        for m in (self.model, self.head, self.scorer):
            m.to(self.device)
        params = [*self.model.parameters(), *self.head.parameters(), *self.scorer.parameters()]
        self.opt = torch.optim.AdamW(params, lr=conf.lr, weight_decay=conf.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: lr_factor(s, conf))
        self.sampler = SpeakerBatchSampler(bank, conf.batch_conf(), derive_seed(conf.seed, "sv-sampler"))
        # the adversary gets its own generator so the extractor's RNG stream matches the baseline
        gen_state = torch.get_rng_state()
        torch.manual_seed(derive_seed(conf.seed, "sv-adversary"))
        self.adversary = build_adversary(self.arw, mconf.embed_dim)
        torch.set_rng_state(gen_state)
        if self.adversary is not None:
            self.adversary.to(self.device)
        self.adv_opt = (
            torch.optim.Adam(self.adversary.parameters(), lr=self.arw.lr)
            if self.adversary is not None
            else None
        )
        self.clusters = ClusterMemory(
            len(bank), mconf.embed_dim, self.arw.num_clusters, derive_seed(conf.seed, "sv-kmeans")
        )
        self.step = 0
        self.counters: dict[str, float] = {"train_seconds": 0.0, "skipped_bad_loss": 0}

    # ---- checkpoints ---------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "head": self.head.state_dict(),
            "scorer": self.scorer.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "adversary": self.adversary.state_dict() if self.adversary is not None else None,
            "adv_optimizer": self.adv_opt.state_dict() if self.adv_opt is not None else None,
            "clusters": self.clusters.state_dict(),
            "sampler": self.sampler.state_dict(),
            "rng": rng_state(),
            "step": self.step,
            "counters": dict(self.counters),
            "model_conf": to_dict(self.conf.model_conf()),
            "speakers": self.bank.speakers,
        }

    def save(self) -> None:
        save_checkpoint(self.out / LATEST, self.state())

    def maybe_resume(self) -> bool:
        path = self.out / LATEST
        if not path.exists():
            return False
        ck = load_checkpoint(path)
        if ck["speakers"] != self.bank.speakers:
            raise FairstreamError(f"{path} was trained on other speakers; use --force to restart")
        self.model.load_state_dict(ck["model"])
        self.head.load_state_dict(ck["head"])
        self.scorer.load_state_dict(ck["scorer"])
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        if self.adversary is not None:
            self.adversary.load_state_dict(ck["adversary"])
            self.adv_opt.load_state_dict(ck["adv_optimizer"])
        self.clusters.load_state_dict(ck["clusters"])
        self.sampler.load_state_dict(ck["sampler"])
        set_rng_state(ck["rng"])
        self.step = ck["step"]
        self.counters.update(ck["counters"])
        log.info("resumed from %s at step %d", path, self.step)
        return True

    # ---- one update ----------------------------------------------------------------------
    def train_step(self) -> dict[str, float] | None:
        conf = self.conf
        batch = self.sampler.next()
        self.model.train()
        feats, labels = batch.feats.to(self.device), batch.labels.to(self.device)
        emb = self.model(feats)
        am_loss, acc = self.head(emb, labels)
        stats = {"am_loss": am_loss.item(), "acc": acc.item()}
        pairwise = self.step >= conf.am_steps
        if (
            pairwise
            and self.adversary is not None
            and (self.clusters.centroids is None or (self.step - conf.am_steps) % self.arw.refit_every == 0)
        ):
            self.clusters.refit()
        loss = am_loss
        if pairwise:
            i, j, same = batch_pairs(labels)
            losses = pair_losses(emb, i, j, same, self.scorer)
            weights = None
            cluster = None
            if self.adversary is not None:
                cluster = self.clusters.assign(emb)
                with torch.no_grad():
                    weights = self.adversary(emb.detach(), cluster, i, j)
                stats["weight_max"] = weights.max().item()
                stats["weight_std"] = weights.std().item()
            pl = weighted_pair_loss(losses, weights, same, conf.pair_balance)
            loss = conf.am_weight * am_loss + pl
            stats["pair_loss"] = pl.item()
            unweighted = weighted_pair_loss(losses.detach(), None, same, conf.pair_balance)
            stats["pair_loss_unweighted"] = unweighted.item()
        if not torch.isfinite(loss):
            return None
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = nn.utils.clip_grad_norm_(self.model.parameters(), conf.grad_clip)
        if not torch.isfinite(gnorm):
            self.opt.zero_grad(set_to_none=True)
            return None
        self.opt.step()
        self.sched.step()
        self.clusters.update(batch.index, emb)
        if pairwise and self.adversary is not None and self.step % self.arw.adversary_every == 0:
            stats["adv_objective"] = adversary_step(
                self.adversary, self.adv_opt, emb, cluster, i, j, same, losses, conf.pair_balance
            )
        stats["loss"] = loss.item()
        stats["lr"] = self.sched.get_last_lr()[0]
        return stats

    # ---- the loop ------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        conf = self.conf
        n_params = count_parameters(self.model)
        log.info(
            "speaker embedder: %.2fM parameters, %d speakers, arw=%s, %d steps",
            n_params / 1e6,
            len(self.bank.speakers),
            self.arw.variant,
            conf.max_steps,
        )
        bar = tqdm(
            total=conf.max_steps, initial=self.step, desc=f"train sv ({self.arw.variant})", unit="step"
        )
        t0, base = time.time(), self.counters["train_seconds"]
        bad_in_row = 0
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(self.out / "tensorboard"), purge_step=self.step)
        with open(self.out / "train_log.jsonl", "a") as logf, writer:
            while self.step < conf.max_steps:
                stats = self.train_step()
                if stats is None:
                    bad_in_row += 1
                    self.counters["skipped_bad_loss"] += 1
                    log.warning("step %d: non-finite loss or gradient, batch skipped", self.step)
                    if bad_in_row >= 20:
                        raise FairstreamError(f"20 non-finite losses in a row at step {self.step}; stopping")
                    continue
                bad_in_row = 0
                self.step += 1
                self.counters["train_seconds"] = base + time.time() - t0
                bar.update(1)
                bar.set_postfix(loss=f"{stats['loss']:.3f}", acc=f"{stats['acc']:.2f}")
                if self.step % conf.log_every == 0 or self.step == conf.max_steps:
                    logf.write(
                        json.dumps({"step": self.step, **{k: round(v, 5) for k, v in stats.items()}}) + "\n"
                    )
                    logf.flush()
                    for k, v in stats.items():
                        writer.add_scalar(f"train/{k}", v, self.step)
                if self.step % conf.checkpoint_every == 0:
                    self.save()
        bar.close()
        self.save()
        save_extractor(self.out / FINAL, self.model)
        summary = {
            "steps": self.step,
            "parameters": n_params,
            "speakers": len(self.bank.speakers),
            "train_cuts": len(self.bank),
            "skipped_short_cuts": len(self.bank.skipped),
            "padded_crops": self.sampler.padded,
            "kmeans_fits": self.clusters.fits,
            "arw": self.arw.variant,
            "train_seconds": round(self.counters["train_seconds"], 1),
            "skipped_bad_batches": int(self.counters["skipped_bad_loss"]),
        }
        write_json_atomic(self.out / "train_stats.json", summary)
        return summary


def save_extractor(path: Path, model: TdnnExtractor) -> None:
    """The inference artefact: architecture config + weights, nothing about training."""
    with atomic_path(path) as tmp:
        torch.save({"model_conf": to_dict(model.conf), "model": model.state_dict()}, tmp)
