"""Public pruned RNN-T loss API: k2's function names, arguments and defaults, plus ``backend``.

Each function forwards to the chosen backend's function of the same name (see
:mod:`steps.rnnt.backends`).  Shapes, with B batch, T frames, S symbols, C classes:

* ``mutual_information_recursion(px, py, boundary=None, return_grad=False)`` -- px (B, S, T+1)
  for the regular recursion or (B, S, T) for the modified one, py (B, S+1, T); ``boundary``
  int64 (B, 4) rows ``[s_begin, t_begin, s_end, t_end]`` (default ``[0, 0, S, T]``).
  Returns the total log-scores (B,), with ``return_grad`` also ``(px_grad, py_grad)`` =
  d(scores.sum())/d(px, py) (arc occupation probabilities).
* ``rnnt_loss(logits (B, T, S+1, C), symbols (B, S), termination_symbol, ...)``
* ``rnnt_loss_simple / rnnt_loss_smoothed(lm (B, S+1, C), am (B, T, C), symbols, ...)``
* ``get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range) -> (B, T, s_range)``
* ``do_rnnt_pruning(am, lm, ranges) -> (am, lm)`` both (B, T, s_range, C)
* ``rnnt_loss_pruned(logits (B, T, s_range, C), symbols, ranges, termination_symbol, ...)``

``rnnt_type``: "regular" (a symbol keeps the frame), "modified" (every symbol consumes a
frame) or "constrained" (like modified, scored with the next context's blank).
``reduction``: "mean" (mean over the batch of per-sequence losses), "sum" or "none".
``return_grad`` (losses): also return the occupation probabilities of px and py, as used
for the pruning ranges.  Known difference: k2 and fast_rnnt assert S >= 1 in the losses; the
native backend also accepts empty transcripts.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from steps.rnnt.backends import backend_module, resolve_for

LossOutput = Tensor | tuple[Tensor, tuple[Tensor, Tensor]]


def _dispatch(function: str, backend: str, **kwargs: Any) -> Any:
    on_cuda = any(isinstance(v, Tensor) and v.is_cuda for v in kwargs.values())
    name = resolve_for(backend, on_cuda)
    if name != "native" and kwargs.get("return_grad") is False:
        # Some k2 releases have no return_grad on rnnt_loss / rnnt_loss_pruned.
        del kwargs["return_grad"]
    return getattr(backend_module(name), function)(**kwargs)


def mutual_information_recursion(
    px: Tensor,
    py: Tensor,
    boundary: Tensor | None = None,
    return_grad: bool = False,
    *,
    backend: str = "auto",
) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
    """Log-sum over monotone lattice paths of px (s-moves) and py (t-moves) scores."""
    return _dispatch(
        "mutual_information_recursion",
        backend,
        px=px,
        py=py,
        boundary=boundary,
        return_grad=return_grad,
    )


def rnnt_loss(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
    return_grad: bool = False,
    *,
    backend: str = "auto",
) -> LossOutput:
    """Full RNN-T loss from joiner output (B, T, S+1, C); memory grows with T * S * C."""
    return _dispatch(
        "rnnt_loss",
        backend,
        logits=logits,
        symbols=symbols,
        termination_symbol=termination_symbol,
        boundary=boundary,
        rnnt_type=rnnt_type,
        delay_penalty=delay_penalty,
        reduction=reduction,
        return_grad=return_grad,
    )


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
    *,
    backend: str = "auto",
) -> LossOutput:
    """RNN-T loss of the additive joiner lm + am, cheap enough to run on every batch."""
    return _dispatch(
        "rnnt_loss_simple",
        backend,
        lm=lm,
        am=am,
        symbols=symbols,
        termination_symbol=termination_symbol,
        boundary=boundary,
        rnnt_type=rnnt_type,
        delay_penalty=delay_penalty,
        reduction=reduction,
        return_grad=return_grad,
    )


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
    *,
    backend: str = "auto",
) -> LossOutput:
    """Additive-joiner loss interpolated with LM-only and AM-only models; with
    ``return_grad=True`` its occupancies feed :func:`get_rnnt_prune_ranges`."""
    return _dispatch(
        "rnnt_loss_smoothed",
        backend,
        lm=lm,
        am=am,
        symbols=symbols,
        termination_symbol=termination_symbol,
        lm_only_scale=lm_only_scale,
        am_only_scale=am_only_scale,
        boundary=boundary,
        rnnt_type=rnnt_type,
        delay_penalty=delay_penalty,
        reduction=reduction,
        return_grad=return_grad,
    )


def get_rnnt_prune_ranges(
    px_grad: Tensor,
    py_grad: Tensor,
    boundary: Tensor,
    s_range: int,
    *,
    backend: str = "auto",
) -> Tensor:
    """Per-frame windows of ``s_range`` symbol positions (B, T, s_range) worth keeping."""
    return _dispatch(
        "get_rnnt_prune_ranges",
        backend,
        px_grad=px_grad,
        py_grad=py_grad,
        boundary=boundary,
        s_range=s_range,
    )


def do_rnnt_pruning(
    am: Tensor, lm: Tensor, ranges: Tensor, *, backend: str = "auto"
) -> tuple[Tensor, Tensor]:
    """Encoder (B, T, C) and predictor (B, S+1, C) outputs at the kept positions, both
    (B, T, s_range, C)."""
    return _dispatch("do_rnnt_pruning", backend, am=am, lm=lm, ranges=ranges)


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
    *,
    backend: str = "auto",
) -> LossOutput:
    """RNN-T loss from the pruned joiner output (B, T, s_range, C)."""
    return _dispatch(
        "rnnt_loss_pruned",
        backend,
        logits=logits,
        symbols=symbols,
        ranges=ranges,
        termination_symbol=termination_symbol,
        boundary=boundary,
        rnnt_type=rnnt_type,
        delay_penalty=delay_penalty,
        reduction=reduction,
        return_grad=return_grad,
    )
