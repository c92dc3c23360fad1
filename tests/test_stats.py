"""steps.utils.stats: the one bootstrap and interval rule of every report.

Kernels against brute force (explicit resamples, np.percentile); coverage of the speaker-level
intervals, and why speakers: with speaker effects, utterance resampling under-covers."""

from __future__ import annotations

import numpy as np
import pytest

from steps.utils import FairstreamError
from steps.utils.stats import (
    MIN_REPLICATES,
    paired_ratio_difference,
    paired_relative_difference,
    percentile_interval,
    ratio_interval,
    resample_counts,
    stratified_counts,
    stratified_indices,
    unit_totals,
)


def test_percentile_interval_is_numpys_and_drops_undefined_replicates() -> None:
    x = np.random.default_rng(0).normal(size=500)
    assert percentile_interval(x) == pytest.approx(np.percentile(x, [2.5, 97.5]).tolist())
    with_nan = np.concatenate([x, [np.nan, np.inf]])
    assert percentile_interval(with_nan) == percentile_interval(x)
    assert percentile_interval(x[: MIN_REPLICATES - 1]) is None
    assert percentile_interval([]) is None


def test_resample_counts_are_draws_with_replacement() -> None:
    m = resample_counts(7, 300, seed=1)
    assert m.shape == (300, 7) and (m.sum(axis=1) == 7).all() and (m >= 0).all()
    assert m.mean() == pytest.approx(1.0, abs=0.05)
    assert np.array_equal(m, resample_counts(7, 300, seed=1))  # seeded
    assert np.array_equal(m, stratified_counts(np.zeros(7, int), 300, seed=1))  # one stratum


def test_stratified_counts_keep_every_stratum_at_its_size() -> None:
    strata = np.array([2, 0, 2, 1, 0, 2])
    m = stratified_counts(strata, 200, seed=3)
    for k in (0, 1, 2):
        assert (m[:, strata == k].sum(axis=1) == (strata == k).sum()).all()
    rng = np.random.default_rng(5)
    idx = stratified_indices(rng, [np.array([0, 1, 2]), np.array([3, 4])])
    assert set(idx[:3]) <= {0, 1, 2} and set(idx[3:]) <= {3, 4} and len(idx) == 5


def test_ratio_interval_equals_explicit_speaker_resamples() -> None:
    """Brute force: each resample lists the drawn speakers (with repeats) and sums their
    utterances; the counts-matrix kernel must give the same WERs."""
    rng = np.random.default_rng(2)
    speakers = rng.integers(0, 6, size=40).astype(str)
    words = rng.integers(3, 15, size=40)
    errs = rng.binomial(words, 0.2)
    keys, (e_spk, w_spk) = unit_totals([errs, words], speakers.tolist())
    assert keys == sorted(set(speakers.tolist()))
    m = resample_counts(len(keys), 50, seed=9)
    for row in m:
        drawn = np.repeat(np.arange(len(keys)), row.astype(int))
        e = sum(errs[speakers == keys[k]].sum() for k in drawn)
        w = sum(words[speakers == keys[k]].sum() for k in drawn)
        assert row @ e_spk == e and row @ w_spk == w
    iv = ratio_interval(errs, words, speakers.tolist(), replicates=400, seed=9)
    assert iv.estimate == pytest.approx(errs.sum() / words.sum())
    assert iv.low <= iv.estimate <= iv.high


def _speaker_corpus(rng: np.random.Generator, n_spk: int, utts: int, true_wer: float, spread: float):
    """Speakers differ in difficulty (beta around true_wer): their utterances are correlated."""
    a = true_wer * spread
    p = rng.beta(a, spread - a, size=n_spk)
    speakers = np.repeat(np.arange(n_spk), utts)
    words = rng.integers(4, 16, size=n_spk * utts)
    return speakers, words, rng.binomial(words, p[speakers])


def test_speaker_intervals_cover_and_utterance_intervals_do_not() -> None:
    rng = np.random.default_rng(4)
    true_wer, reps = 0.15, 120
    hits_spk = hits_utt = 0
    for i in range(reps):
        # the population WER is the mean speaker WER weighted by words (equal in expectation)
        speakers, words, errs = _speaker_corpus(rng, 40, 12, true_wer, spread=6.0)
        spk = ratio_interval(errs, words, speakers.tolist(), replicates=300, seed=i)
        utt = ratio_interval(errs, words, list(range(len(words))), replicates=300, seed=i)
        hits_spk += spk.low <= true_wer <= spk.high
        hits_utt += utt.low <= true_wer <= utt.high
    assert 0.88 <= hits_spk / reps <= 1.0  # nominal 95%
    assert hits_utt / reps < 0.8  # too narrow: correlated utterances counted as independent


def test_paired_difference_direction_pairing_and_refusals() -> None:
    rng = np.random.default_rng(6)
    speakers, words, errs_a = _speaker_corpus(rng, 30, 10, 0.2, spread=6.0)
    errs_b = np.maximum(errs_a - rng.binomial(errs_a, 0.25), 0)  # B fixes a quarter of A's errors
    d = paired_ratio_difference(errs_a, errs_b, words, speakers.tolist(), replicates=400, seed=0)
    assert d.estimate == pytest.approx((errs_b.sum() - errs_a.sum()) / words.sum())
    assert d.high < 0 and d.prob_below_zero == 1.0
    same = paired_ratio_difference(errs_a, errs_a, words, speakers.tolist(), replicates=100, seed=0)
    assert same.estimate == same.low == same.high == 0.0
    a_alone = ratio_interval(errs_a, words, speakers.tolist(), replicates=400, seed=0)
    assert d.high - d.low < 0.5 * (a_alone.high - a_alone.low)  # pairing cancels speaker difficulty
    with pytest.raises(FairstreamError, match="same, non-empty utterances"):
        paired_ratio_difference(errs_a, errs_b[:-1], words, speakers.tolist())
    with pytest.raises(FairstreamError, match="same, non-empty utterances"):
        paired_ratio_difference([], [], [], [])


def test_paired_relative_difference_equals_explicit_resamples() -> None:
    """Brute force: each resample lists the drawn units and sums their counts for both systems;
    the relative change of the two ratios must be the kernel's, replicate by replicate."""
    rng = np.random.default_rng(8)
    units = rng.integers(0, 7, size=30).astype(str)
    den = rng.integers(5, 20, size=30)
    errs_a = rng.binomial(den, 0.3)
    errs_b = rng.binomial(den, 0.2)
    keys = sorted(set(units.tolist()))
    m = resample_counts(len(keys), 200, seed=4)
    want = []
    for row in m:
        drawn = np.repeat(np.arange(len(keys)), row.astype(int))
        pick = [units == keys[k] for k in drawn]
        a = sum(errs_a[p].sum() for p in pick) / sum(den[p].sum() for p in pick)
        b = sum(errs_b[p].sum() for p in pick) / sum(den[p].sum() for p in pick)
        want.append((b - a) / a)
    iv = paired_relative_difference(errs_a, errs_b, den, units.tolist(), replicates=200, seed=4)
    assert [iv.low, iv.high] == pytest.approx(np.percentile(want, [2.5, 97.5]).tolist(), rel=1e-9)
    ra, rb = errs_a.sum() / den.sum(), errs_b.sum() / den.sum()
    assert iv.estimate == pytest.approx((rb - ra) / ra) and iv.high < 0
    assert iv.prob_below_zero == pytest.approx(np.mean(np.array(want) < 0))
    # a system with no errors has no relative change to divide by
    zero = paired_relative_difference(np.zeros(30), errs_b, den, units.tolist(), replicates=50)
    assert np.isnan(zero.estimate) and zero.low is None
