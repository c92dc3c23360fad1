"""Elastic weight consolidation (Kirkpatrick et al., 2017) for fine-tuning a transducer.

The penalty ``lambda/2 * sum_i F_i (theta_i - theta*_i)^2`` keeps the parameters that mattered
for the original training data near the baseline ``theta*`` while the rest adapt to new data.

``F`` is the **empirical** diagonal Fisher: the mean over *individual utterances* of the squared
gradient of the utterance's training objective, at ``theta*``, on the original training data.
Why empirical (observed transcripts) rather than the true Fisher (transcripts sampled from the
model): sampling label sequences from a transducer needs a decoding pass per sample, and EWC
only needs a per-parameter importance, for which the empirical Fisher is the common stand-in.
Why per utterance rather than per batch: the Fisher is an expectation of squared per-example
gradients; squaring a batch-mean gradient instead would shrink it by about the batch size
and let cancelling gradients of different utterances look unimportant.  So every utterance
gets its own forward and backward pass (batch size 1: no padding, exact).

The objective of an utterance is the trainer's after its loss warm-up,
``(simple_loss_scale * simple + pruned) / encoder_frames``, so that ``lambda`` is measured in
units of the per-frame training loss the penalty is added to.  The model is in eval mode (no
dropout, no SpecAugment): the Fisher describes ``theta*`` itself, not a noisy copy of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from lhotse import CutSet
from torch import Tensor, nn
from tqdm import tqdm

from steps.data.tokenizer import Tokenizer
from steps.nnet.streaming import load_features
from steps.utils import FairstreamError, atomic_path

log = logging.getLogger(__name__)

Example = tuple[Tensor, Tensor, list[int]]  # (1, T, F) features, (1,) lengths, token ids
LossFn = Callable[[nn.Module, Tensor, Tensor, list[list[int]]], Tensor]


def transducer_objective(
    prune_range: int, am_scale: float, lm_scale: float, simple_scale: float, backend: str = "auto"
) -> LossFn:
    """The trainer's per-frame objective (loss warm-up over) as a function of one batch."""

    def loss(model: nn.Module, x: Tensor, x_lens: Tensor, ys: list[list[int]]) -> Tensor:
        simple, pruned, enc_lens = model(x, x_lens, ys, prune_range, am_scale, lm_scale, backend)
        return (simple_scale * simple + pruned) / enc_lens.sum()

    return loss


def diagonal_fisher(
    model: nn.Module, examples: Iterable[Example], loss_fn: LossFn, total: int | None = None
) -> tuple[dict[str, Tensor], int]:
    """Mean over examples of each parameter's squared per-example gradient, and the count."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    acc = {n: torch.zeros_like(p) for n, p in params.items()}
    was_training = model.training
    model.eval()
    n = 0
    for x, x_lens, y in tqdm(examples, total=total, desc="fisher", unit="utt"):
        loss = loss_fn(model, x, x_lens, [y])
        if not torch.isfinite(loss):
            log.warning("non-finite loss on one utterance; left out of the Fisher")
            continue
        grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        for (name, _), g in zip(params.items(), grads, strict=True):
            if g is not None:
                acc[name] += g.detach() ** 2
        n += 1
    model.train(was_training)
    if n == 0:
        raise FairstreamError("no usable utterance for the Fisher estimate")
    return {k: v / n for k, v in acc.items()}, n


def fisher_examples(cuts: CutSet, tokenizer: Tokenizer, num_features: int) -> Iterator[Example]:
    """One utterance at a time; those with more tokens than encoder frames are skipped (as in training)."""
    for c in cuts:
        x, x_lens = load_features([c], num_features)
        y = tokenizer.encode(c.supervisions[0].text or "", where=f"fisher/{c.id}")
        if not y or len(y) > ((int(x_lens[0]) + 1) // 2 + 1) // 2:
            continue
        yield x, x_lens, y


def save_fisher(path: Path, fisher: dict[str, Tensor], theta_star: dict[str, Tensor], meta: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save({"fisher": fisher, "theta_star": theta_star, **meta}, tmp)


def load_fisher(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FairstreamError(f"ewc: Fisher file {path} does not exist; run steps.compute_fisher first")
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        raise FairstreamError(f"ewc: Fisher file {path} is unreadable ({type(e).__name__})") from e
    if not isinstance(data, dict) or "fisher" not in data or "theta_star" not in data:
        raise FairstreamError(f"ewc: {path} holds no 'fisher' and 'theta_star'; not a compute_fisher output")
    return data


class EwcPenalty:
    """``lambda/2 * sum F (theta - theta*)^2`` over the parameters the Fisher covers."""

    def __init__(self, fisher: dict[str, Tensor], theta_star: dict[str, Tensor], lam: float) -> None:
        self.fisher = fisher
        self.theta_star = theta_star
        self.lam = float(lam)

    def __call__(self, model: nn.Module) -> Tensor:
        params = dict(model.named_parameters())
        terms = [(self.fisher[n] * (params[n] - self.theta_star[n]) ** 2).sum() for n in self.fisher]
        return 0.5 * self.lam * torch.stack(terms).sum()

    @classmethod
    def from_conf(cls, spec: Any, model: nn.Module) -> EwcPenalty:
        """From the YAML ``ewc: {fisher: PATH, lambda: X}``; a mismatching model is one line."""
        if not isinstance(spec, dict) or set(spec) != {"fisher", "lambda"}:
            raise FairstreamError(f"regularizer ewc takes exactly {{fisher: PATH, lambda: X}}, got {spec!r}")
        lam = spec["lambda"]
        if isinstance(lam, bool) or not isinstance(lam, int | float) or lam < 0:
            raise FairstreamError(f"ewc: lambda must be a number >= 0, got {lam!r}")
        path = Path(spec["fisher"])
        data = load_fisher(path)
        params = dict(model.named_parameters())
        for name, f in data["fisher"].items():
            p = params.get(name)
            if p is None or p.shape != f.shape or data["theta_star"][name].shape != f.shape:
                raise FairstreamError(f"ewc: {path} does not fit this model (parameter {name})")
        fisher = {n: f.to(params[n].device) for n, f in data["fisher"].items()}
        star = {n: data["theta_star"][n].to(params[n].device) for n in fisher}
        log.info("ewc: lambda %g, Fisher from %s (%s utterances)", lam, path, data.get("num_utts"))
        return cls(fisher, star, lam)
