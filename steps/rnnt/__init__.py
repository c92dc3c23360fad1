"""Pruned RNN-T loss (k2 / fast_rnnt API) with interchangeable k2, fast_rnnt and native backends.

Typical training step (pruned RNN-T)::

    from steps.rnnt import (rnnt_loss_smoothed, get_rnnt_prune_ranges, do_rnnt_pruning,
                            rnnt_loss_pruned)
    simple_loss, (px_grad, py_grad) = rnnt_loss_smoothed(
        lm, am, symbols, blank, boundary=boundary, reduction="sum", return_grad=True)
    ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range=5)
    am_p, lm_p = do_rnnt_pruning(am, lm, ranges)
    logits = joiner(am_p, lm_p)  # (B, T, s_range, C)
    pruned_loss = rnnt_loss_pruned(logits, symbols, ranges, blank, boundary, reduction="sum")

Every function takes ``backend="auto" | "k2" | "fast_rnnt" | "native"``; see
:mod:`steps.rnnt.api` for shapes and :mod:`steps.rnnt.backends` for the choice.
"""

from steps.rnnt.api import (
    do_rnnt_pruning,
    get_rnnt_prune_ranges,
    mutual_information_recursion,
    rnnt_loss,
    rnnt_loss_pruned,
    rnnt_loss_simple,
    rnnt_loss_smoothed,
)
from steps.rnnt.backends import (
    BACKENDS,
    BackendUnavailableError,
    available_backends,
    resolve_backend,
)

__all__ = [
    "BACKENDS",
    "BackendUnavailableError",
    "available_backends",
    "do_rnnt_pruning",
    "get_rnnt_prune_ranges",
    "mutual_information_recursion",
    "resolve_backend",
    "rnnt_loss",
    "rnnt_loss_pruned",
    "rnnt_loss_simple",
    "rnnt_loss_smoothed",
]
