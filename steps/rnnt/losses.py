"""RNN-T losses of the native backend: arc scores (``logprobs``) + recursion + reduction.

Semantics follow k2/fast_rnnt: the loss of a sequence is minus its total log-prob over all
alignments; ``reduction="mean"`` is the plain mean of those per-sequence losses over the
batch (not normalised by frames or symbols), ``"sum"`` their sum, ``"none"`` the (B,) vector.
"""

from __future__ import annotations

from torch import Tensor

from steps.rnnt.logprobs import (
    add_delay_penalty,
    get_rnnt_logprobs,
    get_rnnt_logprobs_joint,
    get_rnnt_logprobs_pruned,
    get_rnnt_logprobs_smoothed,
)
from steps.rnnt.mutual_information import mutual_information_recursion

LossOutput = Tensor | tuple[Tensor, tuple[Tensor, Tensor]]


def reduce_loss(scores: Tensor, reduction: str | None) -> Tensor:
    """Negated total log-probs (B,) -> loss, as k2 reduces it."""
    if reduction == "none":
        return -scores
    if reduction == "mean":
        return -scores.mean()
    if reduction == "sum":
        return -scores.sum()
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _loss_from_logprobs(
    px: Tensor,
    py: Tensor,
    boundary: Tensor | None,
    rnnt_type: str,
    delay_penalty: float,
    reduction: str | None,
    return_grad: bool,
) -> LossOutput:
    px = add_delay_penalty(px, boundary, rnnt_type, delay_penalty)
    if return_grad:
        scores, grads = mutual_information_recursion(px, py, boundary, return_grad=True)
        return reduce_loss(scores, reduction), grads
    return reduce_loss(mutual_information_recursion(px, py, boundary), reduction)


def rnnt_loss(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
    return_grad: bool = False,
) -> LossOutput:
    """Full RNN-T loss from joiner output ``logits`` (B, T, S+1, C)."""
    px, py = get_rnnt_logprobs_joint(logits, symbols, termination_symbol, boundary, rnnt_type)
    return _loss_from_logprobs(px, py, boundary, rnnt_type, delay_penalty, reduction, return_grad)


def rnnt_loss_simple(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
    return_grad: bool = False,
) -> LossOutput:
    """RNN-T loss of the additive joiner lm[b, s] + am[b, t] (no (B, T, S+1, C) tensor)."""
    px, py = get_rnnt_logprobs(lm, am, symbols, termination_symbol, rnnt_type, boundary)
    return _loss_from_logprobs(px, py, boundary, rnnt_type, delay_penalty, reduction, return_grad)


def rnnt_loss_smoothed(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    lm_only_scale: float = 0.1,
    am_only_scale: float = 0.1,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
    return_grad: bool = False,
) -> LossOutput:
    """Additive-joiner loss smoothed with LM-only and AM-only terms (the pruning pass)."""
    px, py = get_rnnt_logprobs_smoothed(
        lm, am, symbols, termination_symbol, lm_only_scale, am_only_scale, boundary, rnnt_type
    )
    return _loss_from_logprobs(px, py, boundary, rnnt_type, delay_penalty, reduction, return_grad)


def rnnt_loss_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
    return_grad: bool = False,
) -> LossOutput:
    """RNN-T loss from pruned joiner output ``logits`` (B, T, s_range, C) and its ``ranges``."""
    px, py = get_rnnt_logprobs_pruned(
        logits, symbols, ranges, termination_symbol, boundary, rnnt_type
    )
    return _loss_from_logprobs(px, py, boundary, rnnt_type, delay_penalty, reduction, return_grad)
