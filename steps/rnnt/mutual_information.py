"""Pure-PyTorch mutual-information recursion: the numeric core of the native RNN-T backend.

The recursion is the one k2 and fast_rnnt call ``mutual_information_recursion``::

    p[b, s_begin, t_begin] = 0
    regular  (px is (B, S, T+1)): p[b,s,t] = logaddexp(p[b,s-1,t]   + px[b,s-1,t],
                                                       p[b,s,t-1]   + py[b,s,t-1])
    modified (px is (B, S, T)):   p[b,s,t] = logaddexp(p[b,s-1,t-1] + px[b,s-1,t-1],
                                                       p[b,s,t-1]   + py[b,s,t-1])
    score[b] = p[b, s_end, t_end]

How it is made fast in eager PyTorch: every cell on one "wavefront" depends only on the
previous wavefront, so the whole batch and the whole wavefront are one vectorised step.
A wavefront is an anti-diagonal ``k = s + t`` for the regular recursion and a column
``k = t`` for the modified one (there an s-move also consumes a frame).  The arc scores are
copied once into a wavefront-major buffer of shape (K, 2, B*W) (W = longest s-range + 1),
so each step is two kernels on contiguous rows (one add for both arcs, one logaddexp)
writing into preallocated memory, with all row views made up front: no per-step allocation
and almost no per-step Python work.

Ragged batches: each sequence is first moved so that its region starts at (0, 0), cells
outside its region get a huge negative score, and its end cell is joined to the last
wavefront by zero-cost blank moves.  Every sequence then starts on wavefront 0 and ends on
wavefront K-1, so neither recursion needs per-step masking.

The backward pass is the matching recursion over wavefronts in reverse (log "beta"
scores); occupation probabilities exp(alpha + arc + beta - total) are the gradients of the
scores w.r.t. px and py, and are also what ``return_grad=True`` hands back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

# Float types the recursion runs in; anything else is upcast to float32 and cast back.
_NATIVE_DTYPES = (torch.float32, torch.float64)


def neg_value(dtype: torch.dtype) -> float:
    """A finite stand-in for -inf: far below any real log-prob, yet summing it along a path
    of up to 10^7 steps still does not overflow, so no inf - inf = NaN can appear."""
    return float(torch.finfo(dtype).min) * 1e-8


@dataclass(frozen=True)
class _Lattice:
    """Geometry of the wavefront-major layout shared by the forward and backward pass."""

    regular: bool
    batch: int
    width: int  # W: cells per wavefront per sequence (longest s-range + 1)
    waves: int  # K: number of wavefronts
    col0: int  # column of t = 0 in the (B, W, L) staging grids (W-1 when skewing)
    length: int  # L: columns of the staging grids

    def wave_view(self, grid: Tensor) -> Tensor:
        """(B, K, W) strided view of a contiguous (B, W, L) grid with [b, k, s] = cell (s, t(k, s)).

        Regular: t = k - s, i.e. each row is read with a shift of one per s; modified: t = k.
        """
        step = self.length - 1 if self.regular else self.length
        return grid.as_strided(
            (self.batch, self.waves, self.width),
            (self.width * self.length, 1, step),
            grid.storage_offset() + self.col0,
        )


def validate_inputs(px: Tensor, py: Tensor, boundary: Tensor | None) -> None:
    """Same preconditions k2/fast_rnnt assert, as readable ValueErrors."""
    if px.ndim != 3 or py.ndim != 3:
        raise ValueError(f"px and py must be 3-D, got {tuple(px.shape)} and {tuple(py.shape)}")
    B, S, T1 = px.shape
    T = py.shape[2]
    if T1 not in (T, T + 1):
        raise ValueError(
            f"px must be (B, S, T+1) (regular) or (B, S, T) (modified); T={T}, px {tuple(px.shape)}"
        )
    if tuple(py.shape) != (B, S + 1, T):
        raise ValueError(f"py must be (B, S+1, T) = {(B, S + 1, T)}, got {tuple(py.shape)}")
    if px.dtype != py.dtype or not px.dtype.is_floating_point:
        raise ValueError(f"px and py must share a float dtype, got {px.dtype} and {py.dtype}")
    if boundary is None:
        return
    if boundary.dtype != torch.int64 or tuple(boundary.shape) != (B, 4):
        raise ValueError(
            f"boundary must be int64 of shape {(B, 4)}, "
            f"got {boundary.dtype} {tuple(boundary.shape)}"
        )
    s_begin, t_begin, s_end, t_end = boundary.unbind(1)
    ok = (s_begin >= 0) & (s_begin <= s_end) & (s_end <= S)
    ok &= (t_begin >= 0) & (t_begin <= t_end) & (t_end <= T)
    if not bool(ok.all()):
        raise ValueError(
            f"boundary rows must satisfy 0 <= s_begin <= s_end <= S={S} and "
            f"0 <= t_begin <= t_end <= T={T}; got {boundary.tolist()}"
        )


def _shift_to_origin(x: Tensor, s_begin: Tensor, t_begin: Tensor) -> Tensor:
    """x'[b, s, t] = x[b, s + s_begin[b], t + t_begin[b]] (indices clamped; clamped cells lie
    outside the sequence's region and are masked later)."""
    B, R, C = x.shape
    rows = (torch.arange(R, device=x.device) + s_begin[:, None]).clamp_(max=R - 1)
    cols = (torch.arange(C, device=x.device) + t_begin[:, None]).clamp_(max=C - 1)
    x = x.gather(1, rows[:, :, None].expand(B, R, C))
    return x.gather(2, cols[:, None, :].expand(B, R, C))


def _shift_back(g: Tensor, s_begin: Tensor, t_begin: Tensor) -> Tensor:
    """Inverse of :func:`_shift_to_origin` for gradients (zero outside the region)."""
    B, R, C = g.shape
    rows = (torch.arange(R, device=g.device) + s_begin[:, None]).clamp_(max=R - 1)
    cols = (torch.arange(C, device=g.device) + t_begin[:, None]).clamp_(max=C - 1)
    g = torch.zeros_like(g).scatter_add_(2, cols[:, None, :].expand(B, R, C), g)
    return torch.zeros_like(g).scatter_add_(1, rows[:, :, None].expand(B, R, C), g)


def _exp_occupancy_(x: Tensor) -> Tensor:
    """In-place exp for log-occupancies, with everything below ~exp(-80) flushed to exactly 0.

    Besides giving exact zeros off the lattice, this matters for speed: CPU exp kernels take
    a ~10x slower path for arguments that underflow, and most cells of the wavefront buffers
    are off-lattice (scores near ``neg_value``)."""
    floor = -80.0 if x.dtype == torch.float32 else -700.0
    off = x < floor
    return x.clamp_(min=floor).exp_().masked_fill_(off, 0.0)


def _recursion(
    px: Tensor, py: Tensor, boundary: Tensor | None, need_grad: bool
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Scores (B,) and, if ``need_grad``, d(scores.sum())/d(px, py)."""
    B, S, T1 = px.shape
    T = py.shape[2]
    regular = T1 == T + 1
    device = px.device
    neg = neg_value(px.dtype)
    if B == 0:
        return px.new_zeros((0,)), torch.zeros_like(px), torch.zeros_like(py)

    ragged = shifted = False
    if boundary is None:
        s_len = torch.full((B,), S, dtype=torch.int64, device=device)
        t_len = torch.full((B,), T, dtype=torch.int64, device=device)
    else:
        s_begin, t_begin, s_end, t_end = boundary.unbind(1)
        s_len, t_len = s_end - s_begin, t_end - t_begin
        ragged = bool((s_len != S).any() or (t_len != T).any())
        if bool((s_begin != 0).any() or (t_begin != 0).any()):
            shifted = True
            px = _shift_to_origin(px, s_begin, t_begin)
            py = _shift_to_origin(py, s_begin, t_begin)

    s_max = int(s_len.max())
    t_max = int(t_len.max())
    W = s_max + 1
    k_last = int((s_len + t_len).max()) if regular else t_max
    col0 = W - 1 if regular else 0
    lat = _Lattice(regular, B, W, k_last + 1, col0, col0 + k_last + 1)
    K, L, BW = lat.waves, lat.length, B * W
    batch = torch.arange(B, device=device)

    # ---- staging grids (B, W, L): out-going arc score of cell (s, t) at column col0 + t ----
    # s-moves (px) leave (s, t) for s < s_len and t <= t_len (regular) / t < t_len (modified).
    x_cols = t_max + 1 if regular else t_max
    x_grid = px.new_full((B, W, L), neg)
    x_region = x_grid[:, : W - 1, col0 : col0 + x_cols]
    torch.clamp(px[:, : W - 1, :x_cols], min=neg, out=x_region)  # -inf -> finite stand-in
    # t-moves (py) leave (s, t) for s <= s_len and t < t_len.
    y_grid = py.new_full((B, W, L), neg)
    y_region = y_grid[:, :, col0 : col0 + t_max]
    torch.clamp(py[:, :W, :t_max], min=neg, out=y_region)
    if ragged:
        rows = torch.arange(W, device=device).view(1, W, 1)
        x_cols_idx = torch.arange(x_cols, device=device).view(1, 1, x_cols)
        x_region.masked_fill_(rows[:, : W - 1] >= s_len.view(B, 1, 1), neg)
        x_past = x_cols_idx > t_len.view(B, 1, 1) if regular else x_cols_idx >= t_len.view(B, 1, 1)
        x_region.masked_fill_(x_past, neg)
        y_region.masked_fill_(rows > s_len.view(B, 1, 1), neg)
        y_region.masked_fill_(x_cols_idx[:, :, :t_max] >= t_len.view(B, 1, 1), neg)
    # Zero-cost t-moves along s = s_len after t_len carry each end cell to the last wavefront.
    past_end = torch.arange(K, device=device).view(1, K) >= t_len.view(B, 1)
    end_row = y_grid[batch, s_len, col0:]
    y_grid[batch, s_len, col0:] = end_row.masked_fill_(past_end, 0.0)

    # ---- wavefront-major arcs: arcs[k] = [y-arc, x-arc] out of the B*W cells j = b*W + s ----
    arcs = px.new_empty((K, 2, BW))
    arcs[:, 0].view(K, B, W).copy_(lat.wave_view(y_grid).transpose(0, 1))
    arcs[:, 1].view(K, B, W).copy_(lat.wave_view(x_grid).transpose(0, 1))
    add, logaddexp = torch.add, torch.logaddexp
    # unbind() makes all per-wavefront views in one call; indexing inside the loops would
    # cost more than the arithmetic at these sizes.
    arc_rows = arcs.unbind(0)

    # ---- forward: alpha[k, j] = log-score of cell j on wavefront k -------------------------
    alpha = px.new_empty((K, BW))
    alpha[0] = neg
    alpha[0, ::W] = 0.0  # every sequence starts at s = 0 on wavefront 0
    # step[:, 1 + j] = [alpha + y-arc, alpha + x-arc] of cell j.  step[1, 0] is a pad, so
    # step[1, j] is what reaches cell j from cell j-1 (neg across sequence borders: the x-arc
    # out of s = W-1 is always off the lattice).
    step = px.new_full((2, BW + 1), neg)
    step_body, into_by_t, into_by_s = step[:, 1:], step[0, 1:], step[1, :BW]
    alpha_rows = alpha.unbind(0)
    for k in range(K - 1):
        add(alpha_rows[k], arc_rows[k], out=step_body)
        logaddexp(into_by_s, into_by_t, out=alpha_rows[k + 1])

    end_cell = batch * W + s_len
    total = alpha[K - 1, end_cell]
    dead = total < 0.5 * neg  # no path survives (e.g. every arc is -inf)
    scores = total.masked_fill(dead, float("-inf"))
    if not need_grad:
        return scores, None, None

    # ---- backward: beta[k, j] = log-score of all paths from cell j to the end --------------
    beta = px.new_empty((K, BW + 1))
    beta[:, BW] = neg  # pad "cell BW", read only through the (neg) x-arc out of the last cell
    beta[K - 1, :BW] = neg
    beta[K - 1, end_cell] = 0.0
    # beta_pairs[k] = [beta(j), beta(j+1)]: the targets of [y-arc, x-arc] of cell j.
    beta_pairs = beta.as_strided((K, 2, BW), (BW + 1, 1, 1), beta.storage_offset())
    out_pair = px.new_empty((2, BW))
    out_t, out_s = out_pair.unbind(0)
    pair_rows, beta_rows = beta_pairs.unbind(0), beta[:, :BW].unbind(0)
    for k in range(K - 2, -1, -1):
        add(arc_rows[k], pair_rows[k + 1], out=out_pair)
        logaddexp(out_s, out_t, out=beta_rows[k])

    # Occupation probability of each arc: exp(alpha(source) + arc + beta(target) - total),
    # for all wavefronts at once (recomputing arc + beta is cheaper than keeping per-step views).
    occ = arcs[: K - 1].add_(beta_pairs[1:])
    alpha.view(K, B, W).sub_(total.masked_fill(dead, 0.0).view(1, B, 1))
    occ += alpha[: K - 1].unsqueeze(1)
    _exp_occupancy_(occ)
    if bool(dead.any()):
        occ.view(K - 1, 2, B, W).masked_fill_(dead.view(1, 1, B, 1), 0.0)
    via_t, via_s = occ[:, 0], occ[:, 1]

    # ---- back to the layouts of px and py (staging grids reused) ---------------------------
    # Off-lattice arcs had score neg, so their occupancy is exactly 0; only the zero-cost
    # extension arcs on s = s_len need clearing.
    for arc_occ, grid in ((via_s, x_grid), (via_t, y_grid)):
        grid.zero_()
        lat.wave_view(grid)[:, : K - 1].copy_(arc_occ.view(K - 1, B, W).transpose(0, 1))
    y_grid[batch, s_len, col0:] = y_grid[batch, s_len, col0:].masked_fill_(past_end, 0.0)
    px_grad = torch.zeros_like(px)
    px_grad[:, : W - 1, :x_cols] = x_grid[:, : W - 1, col0 : col0 + x_cols]
    py_grad = torch.zeros_like(py)
    py_grad[:, :W, :t_max] = y_grid[:, :, col0 : col0 + t_max]
    if shifted:
        px_grad = _shift_back(px_grad, s_begin, t_begin)
        py_grad = _shift_back(py_grad, s_begin, t_begin)
    return scores, px_grad, py_grad


class MutualInformationRecursion(torch.autograd.Function):
    """Autograd wrapper: the occupation probabilities are computed in forward (they are also
    the ``return_grad`` outputs), backward only scales them by the incoming score gradient."""

    @staticmethod
    def forward(ctx, px: Tensor, py: Tensor, boundary: Tensor | None, need_grad: bool):
        scores, px_grad, py_grad = _recursion(px, py, boundary, need_grad)
        if px_grad is None:
            px_grad, py_grad = px.new_empty(0), py.new_empty(0)
        ctx.save_for_backward(px_grad, py_grad)
        ctx.mark_non_differentiable(px_grad, py_grad)
        return scores, px_grad, py_grad

    @staticmethod
    def backward(ctx, score_grad: Tensor, _px_grad_grad: Tensor, _py_grad_grad: Tensor):
        # Only reached when px or py required grad, i.e. when forward prepared the grads.
        px_grad, py_grad = ctx.saved_tensors
        scale = score_grad.view(-1, 1, 1)
        return px_grad * scale, py_grad * scale, None, None


def mutual_information_recursion(
    px: Tensor,
    py: Tensor,
    boundary: Tensor | None = None,
    return_grad: bool = False,
) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
    """Native (pure PyTorch) ``mutual_information_recursion``; same contract as k2's.

    Returns the scores (B,) or, with ``return_grad``, ``(scores, (px_grad, py_grad))`` where
    the grads are d(scores.sum())/d(px, py), i.e. arc occupation probabilities.
    """
    validate_inputs(px, py, boundary)
    need_grad = return_grad or (torch.is_grad_enabled() and (px.requires_grad or py.requires_grad))
    orig_dtype = px.dtype
    if orig_dtype not in _NATIVE_DTYPES:
        px, py = px.float(), py.float()
    scores, px_grad, py_grad = MutualInformationRecursion.apply(px, py, boundary, need_grad)
    if orig_dtype not in _NATIVE_DTYPES:
        scores = scores.to(orig_dtype)
        px_grad, py_grad = px_grad.to(orig_dtype), py_grad.to(orig_dtype)
    if return_grad:
        return scores, (px_grad, py_grad)
    return scores
