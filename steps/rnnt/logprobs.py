"""Turning RNN-T network outputs into the (px, py) arc scores of the recursion (native backend).

Every RNN-T loss here is "build px, py; run the mutual-information recursion; negate".
``px[b, s, t]`` is the log-prob of emitting symbol ``symbols[b, s]`` at lattice cell (s, t);
``py[b, s, t]`` that of emitting the termination (blank) symbol there.  For the regular
transducer px gets an extra frame column t = T (and t = t_end with ``boundary``) holding
-inf, so no symbol can be emitted after the last frame; the modified and constrained
transducers consume a frame with every symbol and use px of shape (B, S, T).

The functions mirror k2/fast_rnnt's ``get_rnnt_logprobs*`` so that the numbers agree.
"""

from __future__ import annotations

import torch
from torch import Tensor

RNNT_TYPES = ("regular", "modified", "constrained")


def check_rnnt_type(rnnt_type: str) -> None:
    if rnnt_type not in RNNT_TYPES:
        raise ValueError(f"rnnt_type must be one of {RNNT_TYPES}, got {rnnt_type!r}")


def check_lengths(S: int, T: int, rnnt_type: str, boundary: Tensor | None) -> None:
    """Reject transcripts that cannot fit: the non-regular types emit at most one symbol per
    frame.  Unlike k2/fast_rnnt, empty transcripts (S = 0 or s_end = 0) are allowed."""
    if rnnt_type == "regular":
        return
    if boundary is None:
        if T < S:
            raise ValueError(f"{rnnt_type} transducer needs T >= S, got T={T}, S={S}")
    elif bool((boundary[:, 3] - boundary[:, 1] < boundary[:, 2] - boundary[:, 0]).any()):
        raise ValueError(
            f"{rnnt_type} transducer needs t_end - t_begin >= s_end - s_begin for "
            f"every sequence, got boundary {boundary.tolist()}"
        )


def _finish(
    px: Tensor, py: Tensor, boundary: Tensor | None, rnnt_type: str
) -> tuple[Tensor, Tensor]:
    """Apply the per-type conventions to px of shape (B, S, T)."""
    if rnnt_type == "regular":
        B, S, T = px.shape
        px = torch.cat((px, px.new_full((B, S, 1), float("-inf"))), dim=2)
        if boundary is not None:  # no symbols on the frame just past each sequence's end
            past_end = torch.arange(T + 1, device=px.device) == boundary[:, 3, None]
            px = px.masked_fill(past_end[:, None, :], float("-inf"))
    elif rnnt_type == "constrained":
        # A symbol moves to the next frame by taking the blank of the *next* context.
        px = px + py[:, 1:, :]
    return px.contiguous(), py.contiguous()


def get_rnnt_logprobs_joint(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
) -> tuple[Tensor, Tensor]:
    """(px, py) from full joiner output ``logits`` (B, T, S+1, C), log-softmax normalised."""
    if logits.ndim != 4:
        raise ValueError(f"logits must be (B, T, S+1, C), got {tuple(logits.shape)}")
    B, T, S1, C = logits.shape
    S = S1 - 1
    if tuple(symbols.shape) != (B, S):
        raise ValueError(f"symbols must be (B, S) = {(B, S)}, got {tuple(symbols.shape)}")
    check_rnnt_type(rnnt_type)
    check_lengths(S, T, rnnt_type, boundary)

    log_norm = torch.logsumexp(logits, dim=3, keepdim=True)  # (B, T, S+1, 1)
    # One gather for both arcs, [symbols[s], blank] at every position s (position S has no
    # symbol: blank fills in and is dropped), so backward scatters into a single full-size
    # gradient instead of one per arc.
    next_symbol = torch.cat((symbols, symbols.new_full((B, 1), termination_symbol)), dim=1)
    index = torch.stack((next_symbol, torch.full_like(next_symbol, termination_symbol)), dim=2)
    picked = logits.gather(3, index.view(B, 1, S1, 2).expand(B, T, S1, 2)) - log_norm
    px = picked[:, :, :S, 0]  # (B, T, S)
    py = picked[:, :, :, 1]  # (B, T, S+1)
    return _finish(px.transpose(1, 2), py.transpose(1, 2), boundary, rnnt_type)


def _simple_parts(
    lm: Tensor, am: Tensor, symbols: Tensor, rnnt_type: str, boundary: Tensor | None
) -> dict[str, Tensor]:
    """Shared pieces of the "simple" (additive joiner) logprobs.

    The joint log-normaliser log sum_c exp(lm[b,s,c] + am[b,t,c]) is a matmul of the
    exponentiated halves; the per-row maxima are subtracted first so exp() cannot overflow.
    """
    if lm.ndim != 3 or am.ndim != 3 or lm.shape[0] != am.shape[0] or lm.shape[2] != am.shape[2]:
        raise ValueError(
            f"lm must be (B, S+1, C) and am (B, T, C), got {tuple(lm.shape)} and {tuple(am.shape)}"
        )
    B, T, C = am.shape
    S = lm.shape[1] - 1
    if tuple(symbols.shape) != (B, S):
        raise ValueError(f"symbols must be (B, S) = {(B, S)}, got {tuple(symbols.shape)}")
    check_rnnt_type(rnnt_type)
    check_lengths(S, T, rnnt_type, boundary)

    am_max = am.detach().amax(dim=2, keepdim=True)  # (B, T, 1); detached: it cancels out
    lm_max = lm.detach().amax(dim=2, keepdim=True)  # (B, S+1, 1)
    am_exp = (am - am_max).exp()
    lm_exp = (lm - lm_max).exp()
    tiny = torch.finfo(am_exp.dtype).tiny
    log_norm = (torch.matmul(lm_exp, am_exp.transpose(1, 2)) + tiny).log()
    log_norm = log_norm + lm_max + am_max.transpose(1, 2)  # (B, S+1, T)

    px_am = am.transpose(1, 2).gather(1, symbols.unsqueeze(2).expand(B, S, T))  # (B, S, T)
    px_lm = lm[:, :S].gather(2, symbols.unsqueeze(2))  # (B, S, 1)
    return {
        "am_max": am_max,
        "lm_max": lm_max,
        "am_exp": am_exp,
        "lm_exp": lm_exp,
        "log_norm": log_norm,
        "px_am": px_am,
        "px_lm": px_lm,
    }


def get_rnnt_logprobs(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    rnnt_type: str = "regular",
    boundary: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """(px, py) for the "simple" joiner logits = lm[b, s] + am[b, t] (lm (B, S+1, C),
    am (B, T, C)), without ever materialising the (B, T, S+1, C) sum."""
    S = lm.shape[1] - 1
    p = _simple_parts(lm, am, symbols, rnnt_type, boundary)
    px = p["px_am"] + p["px_lm"] - p["log_norm"][:, :S]
    py = am[:, :, termination_symbol].unsqueeze(1) + lm[:, :, termination_symbol].unsqueeze(2)
    py = py - p["log_norm"]
    return _finish(px, py, boundary, rnnt_type)


def get_rnnt_logprobs_smoothed(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    lm_only_scale: float = 0.1,
    am_only_scale: float = 0.1,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
) -> tuple[Tensor, Tensor]:
    """Simple-joiner (px, py) interpolated (in log space) with an LM-only and an AM-only model.

    The AM-only model pairs ``am`` with a unigram LM: the lm softmax averaged over the whole
    batch and all positions.  The interpolation keeps the pruning-bounds pass from leaning
    entirely on one of the two halves.
    """
    B, T, C = am.shape
    S = lm.shape[1] - 1
    p = _simple_parts(lm, am, symbols, rnnt_type, boundary)
    lm_exp, am_exp = p["lm_exp"], p["am_exp"]
    tiny = torch.finfo(lm_exp.dtype).tiny

    lm_sum = lm_exp.sum(dim=2, keepdim=True)  # (B, S+1, 1)
    unigram = (lm_exp / lm_sum).mean(dim=(0, 1)) + tiny  # (C,)
    am_only_norm = torch.mv(am_exp.reshape(-1, C), unigram).reshape(B, T, 1).log() + p["am_max"]
    am_only_norm = am_only_norm.transpose(1, 2)  # (B, 1, T)
    log_unigram = unigram.log()
    lm_only_norm = lm_sum.log() + p["lm_max"]  # (B, S+1, 1)

    px = p["px_am"] + p["px_lm"] - p["log_norm"][:, :S]  # (B, S, T)
    px_am_only = p["px_am"] + log_unigram[symbols].unsqueeze(2) - am_only_norm
    px_lm_only = p["px_lm"] - lm_only_norm[:, :S]  # (B, S, 1)

    am_blank = am[:, :, termination_symbol].unsqueeze(1)  # (B, 1, T)
    lm_blank = lm[:, :, termination_symbol].unsqueeze(2)  # (B, S+1, 1)
    py = am_blank + lm_blank - p["log_norm"]
    py_am_only = am_blank + log_unigram[termination_symbol] - am_only_norm  # (B, 1, T)
    py_lm_only = lm_blank - lm_only_norm  # (B, S+1, 1)

    combined_scale = 1.0 - lm_only_scale - am_only_scale
    # A zero scale would turn a -inf term into NaN (0 * -inf); k2 uses 1e-20 instead.
    lm_only_scale = lm_only_scale or 1.0e-20
    am_only_scale = am_only_scale or 1.0e-20
    px = px * combined_scale + px_lm_only * lm_only_scale + px_am_only * am_only_scale
    py = py * combined_scale + py_lm_only * lm_only_scale + py_am_only * am_only_scale
    return _finish(px, py, boundary, rnnt_type)


def get_rnnt_logprobs_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
) -> tuple[Tensor, Tensor]:
    """(px, py) from pruned joiner output ``logits`` (B, T, s_range, C), where
    ``logits[b, t, i]`` belongs to lattice row ``ranges[b, t, i]``; rows outside the kept
    range get -inf (no path through them)."""
    if logits.ndim != 4:
        raise ValueError(f"logits must be (B, T, s_range, C), got {tuple(logits.shape)}")
    B, T, R, C = logits.shape
    if tuple(ranges.shape) != (B, T, R):
        raise ValueError(f"ranges must be (B, T, s_range) = {(B, T, R)}, got {tuple(ranges.shape)}")
    S = symbols.shape[1]
    check_rnnt_type(rnnt_type)
    check_lengths(S, T, rnnt_type, boundary)

    log_norm = torch.logsumexp(logits, dim=3, keepdim=True)  # (B, T, R, 1)
    # The symbol emitted from row s is symbols[s]; row S can only emit the terminator.
    padded = torch.cat((symbols, symbols.new_full((B, 1), termination_symbol)), dim=1)
    kept_symbols = padded.gather(1, ranges.reshape(B, T * R)).view(B, T, R)
    index = torch.stack((kept_symbols, torch.full_like(kept_symbols, termination_symbol)), dim=3)
    picked = logits.gather(3, index) - log_norm  # (B, T, R, 2): one gather for both arcs
    px_kept, py_kept = picked[..., 0], picked[..., 1]

    def spread(kept: Tensor) -> Tensor:  # (B, T, R) -> (B, T, S+1), -inf off the kept rows
        return kept.new_full((B, T, S + 1), float("-inf")).scatter(2, ranges, kept)

    px = spread(px_kept)[:, :, :S].transpose(1, 2)  # (B, S, T)
    py = spread(py_kept).transpose(1, 2)  # (B, S+1, T)
    return _finish(px, py, boundary, rnnt_type)


def add_delay_penalty(
    px: Tensor, boundary: Tensor | None, rnnt_type: str, delay_penalty: float
) -> Tensor:
    """Reward early symbols: px[b, s, t] += delay_penalty * ((t_end[b] - 1) / 2 - t).

    The offset keeps the total penalty of a path near zero on average.  As in k2, only a
    positive ``delay_penalty`` has an effect.
    """
    if delay_penalty <= 0.0:
        return px
    B, S, T1 = px.shape
    T = T1 - 1 if rnnt_type == "regular" else T1
    if boundary is None:
        t_end = torch.full((B,), T, device=px.device, dtype=px.dtype)
    else:
        t_end = boundary[:, 3].to(px.dtype)
    t = torch.arange(T1, device=px.device, dtype=px.dtype)
    penalty = ((t_end - 1) / 2).view(B, 1, 1) - t.view(1, 1, T1)
    return px + penalty * delay_penalty
