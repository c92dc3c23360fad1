"""Pruning bounds for the pruned RNN-T loss (native backend).

The training recipe: a cheap "simple" loss (additive joiner) is run with ``return_grad=True``;
its arc occupation probabilities show, frame by frame, which few symbol positions the
alignment can plausibly be at.  ``get_rnnt_prune_ranges`` turns them into a window of
``s_range`` consecutive positions per frame, ``do_rnnt_pruning`` gathers the encoder and
predictor outputs for just those positions, and the real joiner then runs on a
(B, T, s_range, C) tensor instead of (B, T, S+1, C).

Same algorithm as k2/fast_rnnt so that ranges (and hence losses) agree.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from steps.rnnt.logprobs import check_lengths

logger = logging.getLogger("steps.rnnt")


def _suffix_min(x: Tensor) -> Tensor:
    """out[..., i] = min(x[..., i:]): the largest non-decreasing sequence below x."""
    return torch.cummin(x.flip(-1), dim=-1).values.flip(-1)


def _make_window_starts_valid(s_begin: Tensor, max_step: int) -> Tensor:
    """Lower s_begin (B, T) as little as possible so that it starts at 0, never decreases and
    never rises by more than ``max_step`` per frame: otherwise some symbol position would be
    skipped between two frames and no alignment could survive the pruning."""
    s_begin = _suffix_min(s_begin)
    ramp = max_step * torch.arange(s_begin.shape[1], device=s_begin.device)
    # s_begin[t+1] - s_begin[t] <= max_step  <=>  ramp - s_begin is non-decreasing;
    # clamping it at 0 also forces s_begin[t] <= ramp[t], hence s_begin[0] = 0.
    slack = _suffix_min(ramp - s_begin).clamp_(min=0)
    return ramp - slack


def get_rnnt_prune_ranges(
    px_grad: Tensor, py_grad: Tensor, boundary: Tensor, s_range: int
) -> Tensor:
    """Symbol positions to keep per frame, shape (B, T, s_range): ``ranges[b, t]`` is
    ``s_begin[b, t] + arange(s_range)``.

    For each frame the window start maximises the blank occupancy inside the window minus
    the symbol occupancy entering it from below.  Near the end of each sequence the window
    is pinned to the last ``s_range`` positions, and the starts are then made monotone.
    """
    B, S, T1 = px_grad.shape
    T = py_grad.shape[2]
    if T1 not in (T, T + 1) or tuple(py_grad.shape) != (B, S + 1, T):
        raise ValueError(
            f"px_grad {tuple(px_grad.shape)} / py_grad {tuple(py_grad.shape)} are "
            f"not (B, S, T+1 or T) / (B, S+1, T)"
        )
    if tuple(boundary.shape) != (B, 4):
        raise ValueError(f"boundary must be (B, 4) = {(B, 4)}, got {tuple(boundary.shape)}")
    regular = T1 == T + 1
    check_lengths(S, T, "regular" if regular else "modified", boundary)
    s_end, t_end = boundary[:, 2], boundary[:, 3]

    if regular:
        # A window of fewer than (S-1) // T + 2 positions cannot cover the S symbols that
        # T frames must emit (the smallest useful s_range, as in k2).
        frames_per_seq = t_end.clamp(min=1)
        needed = int(torch.div(s_end - 1, frames_per_seq, rounding_mode="trunc").add(2).max())
        if s_range < needed:
            logger.warning(
                "get_rnnt_prune_ranges: s_range=%d is too small for S=%s, T=%s; using %d",
                s_range,
                s_end.tolist(),
                t_end.tolist(),
                needed,
            )
            s_range = needed
    if s_range > S:
        s_range = S + 1
    # A window narrower than 2 (regular) / 1 (modified) rows lets no path through, unless it
    # already spans all S+1 rows (S = 0).
    if s_range < min(2 if regular else 1, S + 1):
        raise ValueError(
            f"s_range must be >= {2 if regular else 1} for the "
            f"{'regular' if regular else 'modified'} transducer, got {s_range}"
        )

    n_starts = S + 2 - s_range  # window starts 0 .. S+1-s_range
    window = py_grad[:, :n_starts, :].clone()
    for i in range(1, s_range):  # blank occupancy summed over each window
        window += py_grad[:, i : i + n_starts, :]
    entering = torch.cat((px_grad.new_zeros((B, 1, T1)), px_grad), dim=1)[:, :n_starts, :T]
    s_begin = (window - entering).argmax(dim=1)  # (B, T)

    frames = torch.arange(T, device=px_grad.device)
    near_end = frames[None, :] >= (t_end - 1)[:, None]
    pinned = (s_end - s_range + 1).clamp(min=0)
    s_begin = torch.where(near_end, pinned[:, None], s_begin)
    # The modified transducer moves at most one symbol per frame.
    s_begin = _make_window_starts_valid(s_begin, 1 if not regular else s_range - 1)
    return s_begin.unsqueeze(2) + torch.arange(s_range, device=px_grad.device)


def do_rnnt_pruning(am: Tensor, lm: Tensor, ranges: Tensor) -> tuple[Tensor, Tensor]:
    """Encoder output ``am`` (B, T, C) and predictor output ``lm`` (B, S+1, C) restricted to
    the kept positions: both returned as (B, T, s_range, C), ready for the joiner.
    ``am`` is only expanded (no copy)."""
    B, T, R = ranges.shape
    if am.shape[0] != B or lm.shape[0] != B or am.shape[1] != T:
        raise ValueError(
            f"ranges {tuple(ranges.shape)} do not match am {tuple(am.shape)} "
            f"and lm {tuple(lm.shape)}"
        )
    am_pruned = am.unsqueeze(2).expand(B, T, R, am.shape[2])
    lm_pruned = lm[torch.arange(B, device=lm.device).view(B, 1, 1), ranges]
    return am_pruned, lm_pruned
