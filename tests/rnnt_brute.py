"""Brute-force RNN-T references for tests/test_rnnt_loss.py: the lattice recursions written out
cell by cell (float64, so autograd through them gives reference gradients), and the random
boundaries and shapes the tests feed both sides."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

BLANK = 0


# ---------------------------------------------------------------------------------------------
# Brute force: the lattice recursions written out cell by cell with 0-d tensors (float64), so
# that autograd through them gives reference gradients.
# ---------------------------------------------------------------------------------------------


def reference_grads(output: Tensor, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """d output / d inputs, zeros for inputs the output does not depend on."""
    return torch.autograd.grad(output, inputs, allow_unused=True, materialize_grads=True)


def _lse(terms: list[Tensor]) -> Tensor:
    return torch.logsumexp(torch.stack(terms), dim=0)


def _total(cells: dict[tuple[int, int], Tensor], end: tuple[int, int]) -> Tensor:
    return cells.get(end, torch.tensor(float("-inf"), dtype=torch.float64))


def brute_mutual_information(px: Tensor, py: Tensor, boundary: Tensor | None) -> Tensor:
    """p[s0, t0] = 0; p[s, t] = lse(p[s-1, t(-1)] + px[s-1, t(-1)], p[s, t-1] + py[s, t-1]).

    Only reachable cells are stored, so autograd never sees a logsumexp of -infs."""
    B, S, T1 = px.shape
    T = py.shape[2]
    modified = T1 == T
    scores = []
    for b in range(B):
        s0, t0, s1, t1 = boundary[b].tolist() if boundary is not None else (0, 0, S, T)
        p: dict[tuple[int, int], Tensor] = {(s0, t0): px.new_zeros(())}
        for s in range(s0, s1 + 1):
            for t in range(t0, t1 + 1):
                terms = []
                if (s, t - 1) in p:
                    terms.append(p[s, t - 1] + py[b, s, t - 1])
                source = (s - 1, t - 1) if modified else (s - 1, t)
                if source in p:
                    terms.append(p[source] + px[b, source[0], source[1]])
                if terms and (s, t) != (s0, t0):
                    p[s, t] = _lse(terms)
        scores.append(_total(p, (s1, t1)))
    return torch.stack(scores)


def brute_transducer(
    blank: Callable[[int, int], Tensor],
    emit: Callable[[int, int], Tensor],
    region: tuple[int, int, int, int],
    rnnt_type: str,
) -> Tensor:
    """Total log-prob of all alignments, in the textbook (Graves) form.

    ``blank(s, t)`` / ``emit(s, t)``: log-prob of blank / of the next symbol at frame t after
    s symbols.  Regular: alpha over (symbols so far, current frame); a blank advances the
    frame and the last frame ends with a blank.  Modified: every emission also advances the
    frame.  Constrained: like modified, and an emission is followed by the next context's
    blank on the same frame.
    """
    s0, t0, s1, t1 = region
    alpha: dict[tuple[int, int], Tensor] = {(s0, t0): torch.tensor(0.0, dtype=torch.float64)}
    if rnnt_type == "regular":
        if t1 == t0:  # no frames: only the empty transcript has an (empty) alignment
            return _total(alpha, (s1, t0))
        for t in range(t0, t1):
            for s in range(s0, s1 + 1):
                terms = []
                if (s, t - 1) in alpha:
                    terms.append(alpha[s, t - 1] + blank(s, t - 1))
                if (s - 1, t) in alpha:
                    terms.append(alpha[s - 1, t] + emit(s - 1, t))
                if terms and (s, t) != (s0, t0):
                    alpha[s, t] = _lse(terms)
        return alpha[s1, t1 - 1] + blank(s1, t1 - 1)
    for t in range(t0 + 1, t1 + 1):  # t = frames consumed
        for s in range(s0, s1 + 1):
            terms = []
            if (s, t - 1) in alpha:
                terms.append(alpha[s, t - 1] + blank(s, t - 1))
            if (s - 1, t - 1) in alpha:
                step = emit(s - 1, t - 1)
                if rnnt_type == "constrained":
                    step = step + blank(s, t - 1)
                terms.append(alpha[s - 1, t - 1] + step)
            if terms:
                alpha[s, t] = _lse(terms)
    return _total(alpha, (s1, t1))


def _region(boundary: Tensor | None, b: int, S: int, T: int) -> tuple[int, int, int, int]:
    return tuple(boundary[b].tolist()) if boundary is not None else (0, 0, S, T)


def _penalty(delay_penalty: float, t_end: int, t: int) -> float:
    return delay_penalty * ((t_end - 1) / 2 - t)


def brute_rnnt_loss(
    log_probs: Tensor,
    symbols: Tensor,
    boundary: Tensor | None,
    rnnt_type: str,
    delay_penalty: float = 0.0,
) -> Tensor:
    """Per-sequence losses from normalised log-probs (B, T, S+1, C)."""
    B, T, S1, _ = log_probs.shape
    losses = []
    for b in range(B):
        region = _region(boundary, b, S1 - 1, T)

        def blank(s: int, t: int, b: int = b) -> Tensor:
            return log_probs[b, t, s, BLANK]

        def emit(s: int, t: int, b: int = b, t_end: int = region[3]) -> Tensor:
            return log_probs[b, t, s, symbols[b, s]] + _penalty(delay_penalty, t_end, t)

        losses.append(-brute_transducer(blank, emit, region, rnnt_type))
    return torch.stack(losses)


def brute_smoothed_log_probs(
    lm: Tensor, am: Tensor, lm_only_scale: float, am_only_scale: float
) -> Tensor:
    """(B, T, S+1, C) log-linear interpolation of the additive joiner with an LM-only model and
    an AM-only model that uses the batch-average LM distribution as a unigram prior."""
    combined = (lm[:, None] + am[:, :, None]).log_softmax(-1)
    lm_only = lm.log_softmax(-1)[:, None]
    unigram = lm.softmax(-1).mean(dim=(0, 1))
    am_only = (am + unigram.log()).log_softmax(-1)[:, :, None]
    scale = 1.0 - lm_only_scale - am_only_scale
    return scale * combined + lm_only_scale * lm_only + am_only_scale * am_only


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


def _random_boundary(B: int, S: int, T: int, rnnt_type: str, begins: bool, seed: int) -> Tensor:
    """Ragged [s_begin, t_begin, s_end, t_end] rows; the first row is full length."""
    g = torch.Generator().manual_seed(seed)
    s_end = torch.randint(0, S + 1, (B,), generator=g)
    t_end = torch.randint(1, T + 1, (B,), generator=g)
    s_end[0], t_end[0] = S, T
    if rnnt_type != "regular":
        s_end = torch.minimum(s_end, t_end)
    s_begin = torch.zeros(B, dtype=torch.int64)
    t_begin = torch.zeros(B, dtype=torch.int64)
    if begins:
        s_begin = torch.minimum(torch.randint(0, 2, (B,), generator=g), s_end)
        t_begin = torch.minimum(torch.randint(0, 2, (B,), generator=g), t_end - 1)
        if rnnt_type != "regular":
            s_begin = torch.maximum(s_begin, s_end - (t_end - t_begin))
    return torch.stack([s_begin, t_begin, s_end, t_end], dim=1)


def boundary_case(kind: str, B: int, S: int, T: int, rnnt_type: str, seed: int) -> Tensor | None:
    if kind == "none":
        return None
    return _random_boundary(B, S, T, rnnt_type, begins=kind == "begins", seed=seed)


SHAPES = [(2, 3, 4), (3, 4, 6), (1, 1, 1), (2, 2, 5)]  # (B, S, T)
