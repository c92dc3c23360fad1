"""The one trainer: every architecture trains here, chosen by its YAML config.

Resumable by itself from ``checkpoint-latest.pt`` (model, optimiser, scheduler, sampler, RNG
states, counters); distributed through ``torchrun`` (gloo on CPU, NCCL on GPUs) with a
rank-sharded sampler.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from steps.data.manifests import load_cuts
from steps.data.tokenizer import Tokenizer
from steps.utils import (
    FairstreamError,
    file_digest,
    rng_state,
    seed_everything,
    set_rng_state,
    write_json_atomic,
)
from steps.utils.config import from_dict
from steps.utils.device import autocast, set_job_threads

from .checkpoint import LATEST, epoch_checkpoints, load_checkpoint, save_checkpoint
from .data import DataConf, make_train_loader
from .distributed import DistInfo
from .model_info import MODEL_INFO, model_info
from .normalization import feature_stats, set_feature_stats
from .schedule import warmup_stable_decay
from .task import Task
from .validation import Validator, append_record, fixed_subset

log = logging.getLogger(__name__)


@dataclass
class TrainConf:
    """A training YAML: model, data, optimisation, loss and bookkeeping in one place."""

    model: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    seed: int = 42
    max_steps: int = 2000  # updates; the same for every architecture in a comparison
    lr: float = 2e-3
    # learning-rate multipliers by parameter-name prefix, e.g. {"cohort.": 100}: modules that start
    # fresh inside a fine-tuned model (at the fine-tuning's small LR they would barely move)
    lr_scale: dict[str, float] = field(default_factory=dict)
    weight_decay: float = 1e-3
    warmup_steps: int = 300
    final_lr_fraction: float = 0.05  # cosine decay to this fraction of lr at max_steps
    # the cosine decay spans the last ``decay_fraction`` of the updates after warm-up; before it the
    # rate stays at its peak (1.0: decay from the end of warm-up on, the classic cosine schedule)
    decay_fraction: float = 1.0
    grad_clip: float = 5.0
    prune_range: int = 5
    am_scale: float = 0.0
    lm_scale: float = 0.25
    simple_loss_scale: float = 0.5  # after the loss warm-up
    loss_warmup_steps: int = 500  # shift weight from the simple to the pruned loss
    loss_backend: str = "auto"
    checkpoint_every: int = 200
    keep_epochs: int = 5  # epoch checkpoints kept for averaging
    log_every: int = 20
    max_bad_batches: int = 20
    num_threads: int = 2
    regularizers: dict[str, Any] = field(default_factory=dict)  # e.g. {"ewc": {...}}
    init_from: str | None = None  # fine-tuning: start from these weights (a resume wins)
    # False: the init model may differ in modules (e.g. CCA arbitrators added to a plain Transformer);
    # shared weights must still match in shape, new ones keep their initialisation (both logged)
    init_strict: bool = True
    ctc_scale: float = 0.0  # weight of the auxiliary CTC loss (needs model.ctc_head: true)
    feature_norm_cuts: int = 1000  # training cuts the global feature mean / std come from (0: none)
    # with init_from the init model's mean / std are kept, unless this is true: then they are computed
    # afresh from this run's training data (inputs the init model never saw, e.g. stage 10's sessions)
    feature_norm_refresh: bool = False
    valid_every: int = 200  # updates between validations (loss + greedy WER on dev; 0: none)
    valid_cuts: int = 128  # size of the fixed, evenly spaced dev subset validation decodes
    valid_split: str = "dev"
    # what is trained (steps/tasks.py): "transducer", one target per utterance (IN_DIR/cuts_train),
    # or "multitalker", the separator-transducer-segmenter on sessions (IN_DIR/sessions_train);
    # task_conf: the task's own options (multitalker: latency_weight)
    task: str = "transducer"
    task_conf: dict[str, Any] = field(default_factory=dict)

    def data_conf(self) -> DataConf:
        return from_dict(DataConf, self.data, where="data")


def lr_factor(step: int, conf: TrainConf) -> float:
    """The run's learning-rate factor (:func:`~steps.nnet.schedule.warmup_stable_decay`)."""
    c = conf
    return warmup_stable_decay(step, c.warmup_steps, c.max_steps, c.final_lr_fraction, c.decay_fraction)


def param_groups(model: torch.nn.Module, lr: float, lr_scale: dict[str, float]) -> list[dict[str, Any]]:
    """Optimiser groups: the parameters under each ``lr_scale`` prefix at ``lr`` x its factor (the
    first matching prefix wins), the rest at ``lr``.  A prefix that matches nothing is an error."""
    groups: dict[str, list[torch.nn.Parameter]] = {prefix: [] for prefix in lr_scale}
    rest = []
    for name, param in model.named_parameters():
        prefix = next((k for k in lr_scale if name.startswith(k)), None)
        (groups[prefix] if prefix is not None else rest).append(param)
    empty = [k for k, v in groups.items() if not v]
    if empty:
        raise FairstreamError(f"lr_scale: no parameters start with {', '.join(map(repr, empty))}")
    out: list[dict[str, Any]] = [{"params": rest, "lr": lr}] if rest else []
    return out + [{"params": v, "lr": lr * float(lr_scale[k])} for k, v in groups.items()]


def loss_scales(step: int, conf: TrainConf) -> tuple[float, float]:
    """(simple, pruned) weights: the pruned loss is trusted only once alignments settle."""
    t = min(1.0, step / max(1, conf.loss_warmup_steps))
    return 1.0 - t * (1.0 - conf.simple_loss_scale), 0.1 + 0.9 * t


class Trainer:
    def __init__(
        self,
        conf: TrainConf,
        task: Task,
        fbank_dir: Path,
        lang_dir: Path,
        out_dir: Path,
        dist: DistInfo,
        device: torch.device | None = None,
        precision: str = "fp32",
        num_workers: int = 0,
    ) -> None:
        self.conf = conf
        self.task = task
        self.out = out_dir
        self.dist = dist
        set_job_threads(conf.num_threads)
        self.tokenizer = Tokenizer(lang_dir / "bpe.model")
        self.bpe_digest = file_digest(lang_dir / "bpe.model")
        seed_everything(conf.seed)
        self.model = task.build_model(conf.model, self.tokenizer.vocab_size)
        if conf.ctc_scale > 0 and getattr(self.model, "ctc_proj", None) is None:
            raise FairstreamError("ctc_scale > 0 needs a CTC head: set model.ctc_head: true")
        if conf.init_from and not (out_dir / LATEST).exists():
            self.init_weights(Path(conf.init_from))
        # the device and precision are how a run executes, not what it trains: not in the config
        self.device = device or torch.device("cpu")
        self.precision = precision
        autocast(self.device, precision)  # refuses fp16/bf16 off a GPU before any work
        self.model.to(self.device)
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.num_params = sum(p.numel() for p in self.model.parameters())
        self.opt = torch.optim.AdamW(
            param_groups(self.model, conf.lr, conf.lr_scale), lr=conf.lr, weight_decay=conf.weight_decay
        )
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: lr_factor(s, conf))
        cuts = load_cuts(fbank_dir, "train", prefix=task.manifest)
        fresh = not conf.init_from or conf.feature_norm_refresh
        if conf.feature_norm_cuts and fresh and not (out_dir / LATEST).exists():
            set_feature_stats(self.model, *feature_stats(cuts, conf.feature_norm_cuts))
        self.loader, self.sampler = make_train_loader(
            cuts, conf.data_conf(), conf.seed, dist.world_size, dist.rank,
            num_workers=num_workers, pin_memory=self.device.type == "cuda",
        )  # fmt: skip
        self.step = 0
        self.epoch = 0
        self.counters = {
            "skipped_short": 0,
            "skipped_bad_loss": 0,
            "frames": 0,
            "train_seconds": 0.0,
            "audio_seconds": 0.0,
        }
        self.threads = torch.get_num_threads()
        self.validator = self.make_validator(fbank_dir) if dist.main else None
        self.regularizers = build_regularizers(conf.regularizers, self.model)
        self.ddp_model: nn.Module = self.model
        if dist.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp_model = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    def make_validator(self, fbank_dir: Path) -> Validator | None:
        """The fixed dev subset of the learning curve (single-talker transducers only)."""
        c = self.conf
        if c.valid_every <= 0 or not self.task.validates:
            return None
        try:
            cuts = load_cuts(fbank_dir, c.valid_split)
        except FairstreamError:
            log.warning("no %s cuts in %s: training without validation", c.valid_split, fbank_dir)
            return None
        subset = fixed_subset(cuts, c.valid_cuts)
        log.info("validation every %d updates on %d %s cuts", c.valid_every, len(subset), c.valid_split)
        return Validator(subset, self.tokenizer, prune_range=c.prune_range)

    def core_minutes(self) -> float:
        """Training compute so far: wall time x threads x processes (validation excluded)."""
        return self.counters["train_seconds"] * self.threads * self.dist.world_size / 60

    def validate(self, writer: Any) -> None:
        """Log the dev loss and greedy WER with the training clock (core-minutes, audio seconds)."""
        assert self.validator is not None
        res = self.validator.run(self.model, self.conf.loss_backend)
        core_minutes = self.core_minutes()
        record = {
            "step": self.step,
            "epoch": self.epoch,
            "valid_split": self.conf.valid_split,
            "train_seconds": round(self.counters["train_seconds"], 1),
            "threads": self.threads,
            "core_minutes": round(core_minutes, 3),
            "audio_seconds": round(self.counters["audio_seconds"], 1),
            **res,
        }
        append_record(self.out, record)
        if writer is not None:
            writer.add_scalar("valid/loss", res["loss"], self.step)
            writer.add_scalar("valid/wer", res["wer"], self.step)
            writer.add_scalar("valid/wer_vs_core_minutes", res["wer"], round(core_minutes * 60))
        log.info("step %d: valid loss %.4f, greedy WER %.2f%% (%d cuts), %.1f core-min, %.0f s audio",
                 self.step, res["loss"], res["wer"], res["cuts"], core_minutes,
                 self.counters["audio_seconds"])  # fmt: skip

    # ---- checkpoints -------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "sampler": self.sampler.state_dict(),
            "rng": rng_state(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "step": self.step,
            "epoch": self.epoch,
            "counters": dict(self.counters),
            "model_conf": self.conf.model,
            "task": self.task.name,
            "vocab_size": self.tokenizer.vocab_size,
            "bpe_digest": self.bpe_digest,
        }

    def save(self, name: str = LATEST) -> None:
        if self.dist.main:
            save_checkpoint(self.out / name, self.state())

    def save_epoch(self) -> None:
        """``epoch-N.pt`` for averaging (only the last ``keep_epochs``), then the latest state."""
        self.save(f"epoch-{self.epoch}.pt")
        if self.dist.main:
            for old in epoch_checkpoints(self.out)[: -self.conf.keep_epochs]:
                old.unlink()
        self.save()

    def init_weights(self, path: Path) -> None:
        """Fine-tuning starts from another run's weights, with a fresh optimiser and schedule."""
        if not path.is_file():
            raise FairstreamError(f"init_from: {path} does not exist")
        ck = load_checkpoint(path)
        if "model" not in ck:
            raise FairstreamError(f"init_from: {path} holds no 'model' weights")
        if ck.get("bpe_digest", self.bpe_digest) != self.bpe_digest:
            raise FairstreamError(f"init_from: {path} was trained with another BPE model")
        if self.conf.init_strict and ck.get("model_conf", self.conf.model) != self.conf.model:
            raise FairstreamError(f"init_from: {path} has another model config than this run's model block")
        if self.conf.init_strict:
            self.model.load_state_dict(ck["model"])
        else:
            own = self.model.state_dict()
            bad = [k for k, v in ck["model"].items() if k in own and own[k].shape != v.shape]
            if bad:
                raise FairstreamError(f"init_from: {path}: {len(bad)} weights differ in shape, e.g. {bad[0]}")
            missing, unexpected = self.model.load_state_dict(ck["model"], strict=False)
            log.info("init_from (non-strict): %d new weights kept their init (%s), %d unused", len(missing),
                     ", ".join(missing[:4]) + (" ..." if len(missing) > 4 else ""), len(unexpected))
        log.info("initialised from %s", path)

    def maybe_resume(self) -> bool:
        path = self.out / LATEST
        if not path.exists():
            return False
        ck = load_checkpoint(path)
        if ck.get("bpe_digest") != self.bpe_digest:
            raise FairstreamError(f"{path} was trained with another BPE model; use --force to restart")
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        self.sampler.load_state_dict(ck["sampler"])
        set_rng_state(ck["rng"])
        if self.scaler is not None and ck.get("scaler"):
            self.scaler.load_state_dict(ck["scaler"])
        self.step, self.epoch = ck["step"], ck["epoch"]
        self.counters.update(ck["counters"])
        log.info("resumed from %s at step %d (epoch %d)", path, self.step, self.epoch)
        return True

    # ---- one update --------------------------------------------------------------------
    def train_step(self, batch: dict) -> dict[str, float] | None:
        self.ddp_model.train()
        x, x_lens, targets, skipped = self.task.prepare(batch, self.model, self.tokenizer)
        self.counters["skipped_short"] += skipped
        if x is None:
            return None
        x, x_lens = self.to_device(x, x_lens)
        with autocast(self.device, self.precision):
            out = self.ddp_model(x, x_lens, *targets, **self.task.loss_kwargs(self.conf))
        return self.update(out, x_lens)

    def to_device(self, x: torch.Tensor, x_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch's features and lengths on the model's device (asynchronous from pinned memory)."""
        pinned = self.device.type == "cuda"
        return x.to(self.device, non_blocking=pinned), x_lens.to(self.device, non_blocking=pinned)

    def update(self, out: tuple[torch.Tensor, ...], x_lens: torch.Tensor) -> dict[str, float]:
        """One optimiser step from the model's (simple, pruned, encoder lengths[, ctc]) sums."""
        simple, pruned, enc_lens = out[:3]
        s_scale, p_scale = loss_scales(self.step, self.conf)
        n_frames = float(enc_lens.sum())
        loss = (s_scale * simple + p_scale * pruned) / n_frames
        extra = {}
        aux = getattr(self.model.encoder, "aux_loss", None)  # e.g. CCA's weighted compute cost
        if aux is not None:
            loss = loss + aux
            extra["aux"] = float(aux.detach())
            extra.update(getattr(self.model.encoder, "aux_stats", {}))
        if self.conf.ctc_scale > 0:
            loss = loss + self.conf.ctc_scale * out[3] / n_frames
            extra["ctc"] = float(out[3]) / n_frames
        penalty = loss.new_zeros(())
        for name, reg in self.regularizers.items():
            r = reg(self.model)
            extra[name] = float(r.detach())
            penalty = penalty + r
        if not torch.isfinite(loss + penalty):
            return {"bad": 1.0}
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:  # fp16: scale the loss so that small gradients survive
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.opt)
        else:
            loss.backward()
        gnorm = nn.utils.clip_grad_norm_(self.model.parameters(), self.conf.grad_clip)
        if not torch.isfinite(gnorm):
            self.opt.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.update()  # an fp16 overflow: lower the loss scale and go on
            return {"bad": 1.0}
        if self.regularizers:  # after the clip, which guards against exploding *data* gradients (a stiff
            add_gradient(self.model, penalty)  # penalty inside it would scale them down to nothing)
        loss = loss + penalty.detach()
        if self.scaler is not None:
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            self.opt.step()
        self.sched.step()
        self.counters["frames"] += int(x_lens.sum())
        return {
            "loss": float(loss),
            "simple": float(simple) / n_frames,
            "pruned": float(pruned) / n_frames,
            "grad_norm": float(gnorm),
            "lr": self.sched.get_last_lr()[0],
            **extra,
        }

    # ---- the loop ----------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        writer = None
        if self.dist.main:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.out / "tensorboard"), purge_step=self.step)
            log.info("%s: %.2fM parameters", self.conf.model.get("encoder"), self.num_params / 1e6)
        bar = tqdm(
            total=self.conf.max_steps,
            initial=self.step,
            desc="train",
            unit="step",
            disable=not self.dist.main or not sys.stderr.isatty(),  # log lines instead in a log file
        )
        bad_in_row = 0
        t_last = time.time()  # the training clock excludes validation
        audio_seconds = 0.0
        t_start = time.time()
        while self.step < self.conf.max_steps:
            self.sampler.set_epoch(self.epoch)
            step_at_epoch_start = self.step
            for batch in self.loader:
                stats = self.train_step(batch)
                if stats is None:
                    continue
                if "bad" in stats:
                    bad_in_row += 1
                    self.counters["skipped_bad_loss"] += 1
                    log.warning("step %d: non-finite loss or gradient, batch skipped", self.step)
                    if bad_in_row >= self.conf.max_bad_batches:
                        raise FairstreamError(
                            f"{bad_in_row} non-finite losses in a row at step {self.step}; stopping"
                        )
                    continue
                bad_in_row = 0
                self.step += 1
                batch_audio = float(batch["supervisions"]["num_frames"].sum()) * 0.01
                audio_seconds += batch_audio
                self.counters["audio_seconds"] += batch_audio * self.dist.world_size
                now = time.time()
                self.counters["train_seconds"] += now - t_last
                t_last = now
                elapsed = now - t_start
                bar.update(1)
                bar.set_postfix(
                    loss=f"{stats['loss']:.3f}",
                    audio_s_per_s=f"{audio_seconds / max(elapsed, 1e-9):.0f}",
                )
                if writer is not None and self.step % self.conf.log_every == 0:
                    for k, v in stats.items():
                        writer.add_scalar(f"train/{k}", v, self.step)
                    if bar.disable:
                        log.info("step %d/%d: loss %.3f, lr %.2e, %.0f s of audio per s",
                                 self.step, self.conf.max_steps, stats["loss"], stats["lr"],
                                 audio_seconds / max(elapsed, 1e-9))  # fmt: skip
                if self.validator is not None and (
                    self.step % self.conf.valid_every == 0 or self.step == self.conf.max_steps
                ):
                    self.validate(writer)
                    t_last = time.time()
                if self.step % self.conf.checkpoint_every == 0:
                    self.save()
                if self.step >= self.conf.max_steps:
                    break
            else:
                if self.step == step_at_epoch_start:
                    raise FairstreamError(
                        "an epoch over the training cuts gave no usable batch; "
                        "lower data.max_duration or check the data"
                    )
                self.epoch += 1
                self.save_epoch()
                continue
            break
        # the last (possibly partial) epoch counts as an epoch for averaging
        self.epoch += 1
        self.save_epoch()
        bar.close()
        if writer is not None:
            writer.close()
        summary = {
            "steps": self.step,
            "epochs": self.epoch,
            "parameters": self.num_params,
            "train_seconds": round(self.counters["train_seconds"], 1),
            "threads": self.threads,
            "core_minutes": round(self.core_minutes(), 2),
            "audio_seconds": round(self.counters["audio_seconds"], 1),
            "skipped_short_utterances": self.counters["skipped_short"],
            "skipped_bad_batches": self.counters["skipped_bad_loss"],
            "world_size": self.dist.world_size,
        }
        if self.dist.main:
            write_json_atomic(self.out / "train_stats.json", summary)
            info = model_info(self.model, self.task, self.conf.model, self.tokenizer.vocab_size, summary,
                              device=self.device, precision=self.precision)  # fmt: skip
            write_json_atomic(self.out / MODEL_INFO, info)
            if summary["skipped_short_utterances"]:
                log.warning(
                    "skipped %d utterance(s) with fewer frames than tokens",
                    summary["skipped_short_utterances"],
                )
        return summary


def add_gradient(model: nn.Module, term: torch.Tensor) -> None:
    """Add ``term``'s gradient to ``.grad`` without a second backward (which DDP would refuse)."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p, g in zip(params, torch.autograd.grad(term, params, allow_unused=True), strict=True):
        if g is not None:
            p.grad = g if p.grad is None else p.grad + g


def build_regularizers(conf: dict[str, Any], model: nn.Module) -> dict[str, Any]:
    """Extra loss terms from the YAML (``ewc: {fisher: PATH, lambda: X}``); none by default."""
    if not conf:
        return {}
    from .ewc import EwcPenalty  # lazy: only runs with a regularizer need it

    registry = {"ewc": EwcPenalty.from_conf}
    unknown = sorted(set(conf) - set(registry))
    if unknown:
        raise FairstreamError(
            f"unknown regularizer(s) {', '.join(unknown)}; registered: {', '.join(registry)}"
        )
    return {name: registry[name](spec, model) for name, spec in conf.items()}
