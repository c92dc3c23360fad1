"""Verification metrics: EER, minDCF and DET points from target / non-target scores.

All functions take a score array and a boolean ``is_target`` array of the same length and sweep
every distinct score as a threshold (accept when ``score >= threshold``).  Degenerate input
(NaN, all scores equal, no targets or no non-targets) raises :class:`FairstreamError` in one
line: a silent 50% EER would hide a broken extractor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from steps.utils import FairstreamError


@dataclass(frozen=True)
class ErrorCurve:
    """Miss and false-alarm rates at every distinct threshold, thresholds ascending."""

    thresholds: np.ndarray
    p_miss: np.ndarray  # fraction of targets scored below the threshold
    p_fa: np.ndarray  # fraction of non-targets scored at or above the threshold


def check_scores(scores: np.ndarray, is_target: np.ndarray, where: str = "scores") -> None:
    """One-line errors for inputs on which EER / minDCF mean nothing."""
    if scores.shape != is_target.shape:
        raise FairstreamError(f"{where}: {scores.shape} scores but {is_target.shape} labels")
    if not np.all(np.isfinite(scores)):
        bad = int((~np.isfinite(scores)).sum())
        raise FairstreamError(f"{where}: {bad} of {len(scores)} scores are NaN or infinite")
    n_t = int(is_target.sum())
    if n_t == 0 or n_t == len(is_target):
        raise FairstreamError(f"{where}: need target and non-target trials, got {n_t} of {len(is_target)}")
    if np.ptp(scores) == 0:
        raise FairstreamError(
            f"{where}: all {len(scores)} scores are equal ({scores[0]:.4g}); the scorer is degenerate"
        )


def error_curve(scores: np.ndarray, is_target: np.ndarray) -> ErrorCurve:
    """Exact (p_miss, p_fa) for thresholds at each distinct score plus one above the maximum."""
    scores = np.asarray(scores, dtype=np.float64)
    is_target = np.asarray(is_target, dtype=bool)
    order = np.argsort(scores, kind="mergesort")
    s, t = scores[order], is_target[order]
    n_t, n_n = t.sum(), (~t).sum()
    # cumulative counts of targets / non-targets strictly below each distinct threshold
    uniq, first = np.unique(s, return_index=True)
    cum_t = np.concatenate([[0], np.cumsum(t)])
    cum_n = np.concatenate([[0], np.cumsum(~t)])
    below_t = np.append(cum_t[first], n_t)
    below_n = np.append(cum_n[first], n_n)
    thr = np.append(uniq, np.inf)
    return ErrorCurve(thr, below_t / n_t, 1.0 - below_n / n_n)


def eer(scores: np.ndarray, is_target: np.ndarray) -> float:
    """Equal error rate: where the miss and false-alarm curves cross (linear interpolation)."""
    check_scores(np.asarray(scores, dtype=np.float64), np.asarray(is_target, dtype=bool))
    c = error_curve(scores, is_target)
    diff = c.p_miss - c.p_fa  # rises from -1 to +1 as the threshold goes up
    i = int(np.argmax(diff >= 0))
    if diff[i] == 0 or i == 0:
        return float(c.p_miss[i])
    # the crossing lies between thresholds i-1 and i: interpolate both curves on the same line
    d0, d1 = diff[i - 1], diff[i]
    a = d0 / (d0 - d1)
    miss = c.p_miss[i - 1] + a * (c.p_miss[i] - c.p_miss[i - 1])
    fa = c.p_fa[i - 1] + a * (c.p_fa[i] - c.p_fa[i - 1])
    return float((miss + fa) / 2)


def min_dcf(
    scores: np.ndarray, is_target: np.ndarray, p_target: float, c_miss: float = 1.0, c_fa: float = 1.0
) -> float:
    """Minimum normalised detection cost (NIST SRE definition) over all thresholds."""
    check_scores(np.asarray(scores, dtype=np.float64), np.asarray(is_target, dtype=bool))
    c = error_curve(scores, is_target)
    cost = c_miss * p_target * c.p_miss + c_fa * (1 - p_target) * c.p_fa
    return float(cost.min() / min(c_miss * p_target, c_fa * (1 - p_target)))


def summary(
    scores: np.ndarray, is_target: np.ndarray, p_targets: tuple[float, ...] = (0.01, 0.05)
) -> dict[str, float]:
    """EER and minDCF at each ``p_target`` (keys ``eer``, ``mindcf_0.01``, ...), plus counts."""
    out = {"eer": eer(scores, is_target)}
    for p in p_targets:
        out[f"mindcf_{p:g}"] = min_dcf(scores, is_target, p)
    out["n_target"] = int(np.sum(is_target))
    out["n_nontarget"] = int(np.size(is_target) - np.sum(is_target))
    return out
