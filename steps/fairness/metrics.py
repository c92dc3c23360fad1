"""The cohort metrics, defined once: cohort WER, relative WER gap, bottom share, bootstrap CIs.

- cohort WER = sum(ins + del + sub) / sum(ref_len) over the cohort's utterances (pooled, not a
  mean of speaker WERs);
- WER gap = (WER_bottom - WER_top) / WER_top, the relative gap between the **bottom and top**
  cohorts (Dheram et al.): for a binary partition the top is the other side; for k cohorts it is
  the best cohorts chosen by the same share rule as the bottom (``cohorts.select``), not "the
  rest", which for 8 clusters is most of the data and would shrink the gap of finer methods;
- bottom share = speakers in the bottom cohort / all (assigned) speakers;
- 95% intervals: percentile bootstrap resampling *speakers* with replacement, because
  utterances of one speaker are not independent.

Speakers outside ``valid`` (e.g. no embedding for the automatic method) count in neither group
but stay in the resampled population, so bootstraps with one seed are paired across methods.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from steps.utils.stats import percentile_interval, resample_counts


def cohort_wer(errors: np.ndarray | float, words: np.ndarray | float) -> float | np.ndarray:
    """Pooled WER; NaN where a cohort has no reference words (vectorised over replicates)."""
    e = np.asarray(errors, dtype=np.float64)
    w = np.asarray(words, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(w > 0, e / np.where(w > 0, w, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


def wer_gap(wer_bottom: float | np.ndarray, wer_top: float | np.ndarray) -> float | np.ndarray:
    """Relative gap (WER_bottom - WER_top) / WER_top; NaN when the top has WER 0."""
    b = np.asarray(wer_bottom, dtype=np.float64)
    t = np.asarray(wer_top, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(t > 0, (b - t) / np.where(t > 0, t, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


def _none(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def gap_stats(
    errors: np.ndarray,
    words: np.ndarray,
    bottom: np.ndarray,
    top: np.ndarray,
    valid: np.ndarray | None = None,
) -> dict[str, Any]:
    """Bottom vs top: WERs, relative gap, shares of speakers, speaker and word counts."""
    valid = np.ones(len(bottom), bool) if valid is None else np.asarray(valid, bool)
    b = np.asarray(bottom, bool) & valid
    t = np.asarray(top, bool) & valid
    if (b & t).any():
        raise ValueError("a speaker is in both the bottom and the top cohort")
    wb = cohort_wer(errors[b].sum(), words[b].sum())
    wt = cohort_wer(errors[t].sum(), words[t].sum())
    n = int(valid.sum())
    return {
        "wer_bottom": _none(wb),
        "wer_top": _none(wt),
        "gap": _none(wer_gap(wb, wt)),
        "share": b.sum() / n if n else None,
        "top_share": t.sum() / n if n else None,
        "speakers_bottom": int(b.sum()),
        "speakers_top": int(t.sum()),
        "words_bottom": int(words[b].sum()),
        "words_top": int(words[t].sum()),
    }


def bootstrap(
    errors: np.ndarray,
    words: np.ndarray,
    bottom: np.ndarray,
    top: np.ndarray,
    cohort: np.ndarray,
    replicates: int,
    seed: int,
    valid: np.ndarray | None = None,
) -> dict[str, Any]:
    """95% intervals for WER_bottom, WER_top, the gap and each cohort's WER (``cohort`` >= 0).

    Returns the gap replicates too (``gap_samples``), so two methods bootstrapped with the same
    seed over the same speakers can be compared pairwise.
    """
    if replicates <= 0 or len(errors) == 0:
        return {"replicates": 0}
    valid = np.ones(len(bottom), bool) if valid is None else np.asarray(valid, bool)
    m = resample_counts(len(errors), replicates, seed)
    e = np.asarray(errors, np.float64)
    w = np.asarray(words, np.float64)
    b = np.asarray(bottom, bool) & valid
    t = np.asarray(top, bool) & valid
    wb = cohort_wer(m @ (e * b), m @ (w * b))
    wt = cohort_wer(m @ (e * t), m @ (w * t))
    gap = wer_gap(wb, wt)
    cohort = np.asarray(cohort)
    ids = sorted(int(c) for c in set(cohort[cohort >= 0].tolist()))
    per = {}
    for c in ids:
        sel = cohort == c
        per[c] = percentile_interval(cohort_wer(m @ (e * sel), m @ (w * sel)))
    return {
        "replicates": replicates,
        "wer_bottom": percentile_interval(wb),
        "wer_top": percentile_interval(wt),
        "gap": percentile_interval(gap),
        "cohorts": per,
        "gap_samples": gap,
    }


def paired_difference(a: np.ndarray, b: np.ndarray) -> list[float] | None:
    """95% interval of a - b from paired bootstrap replicates."""
    return percentile_interval(np.asarray(a) - np.asarray(b))
