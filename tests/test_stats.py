"""steps.utils.stats: the one bootstrap and interval rule of every report.

Kernels against brute force (explicit resamples, np.percentile); coverage of the speaker-level
intervals, and why speakers: with speaker effects, utterance resampling under-covers."""

from __future__ import annotations

import numpy as np
import pytest

from steps.utils import FairstreamError
from steps.utils.stats import (
    MIN_REPLICATES,
    group_ratio_difference,
    pair_cluster_indices,
    paired_ratio_difference,
    percentile_interval,
    permutation_p_value,
    permuted_group_totals,
    ratio_interval,
    resample_counts,
    stratified_counts,
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


def test_pair_cluster_resample_equals_trials_among_drawn_copies() -> None:
    """Brute force: list the drawn speaker copies, then every trial once per (copy of its enroll
    speaker, copy of its test speaker) pair, or once per copy for a within-speaker trial."""
    a = np.array([0, 0, 1, 2, 2, 3, 1, 0])
    b = np.array([0, 1, 1, 2, 3, 3, 2, 3])
    for seed in range(20):
        idx = pair_cluster_indices(np.random.default_rng(seed), a, b)
        drawn = np.random.default_rng(seed).integers(0, 4, 4)
        copies = [int((drawn == u).sum()) for u in range(4)]
        want = []
        for t, (x, y) in enumerate(zip(a, b, strict=True)):
            want += [t] * (copies[x] if x == y else copies[x] * copies[y])
        assert sorted(idx.tolist()) == want


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


def _explicit_resamples(speakers: np.ndarray, replicates: int, seed: int) -> list[np.ndarray]:
    """Brute force: per resample, the utterance indices of the drawn speakers (with repeats),
    drawn from the same counts as the kernels' resample_counts."""
    keys = sorted(set(speakers.tolist()), key=str)
    out = []
    for row in resample_counts(len(keys), replicates, seed):
        drawn = np.repeat(np.arange(len(keys)), row.astype(int))
        out.append(np.concatenate([np.flatnonzero(speakers == keys[k]) for k in drawn]))
    return out


def test_paired_relative_change_equals_explicit_speaker_resamples() -> None:
    rng = np.random.default_rng(8)
    speakers, words, errs_a = _speaker_corpus(rng, 12, 6, 0.2, spread=6.0)
    errs_b = errs_a + rng.binomial(words - errs_a, 0.05)  # B adds errors
    iv = paired_ratio_difference(
        errs_a, errs_b, words, speakers.tolist(), replicates=200, seed=3, relative=True
    )
    assert iv.estimate == pytest.approx(errs_b.sum() / errs_a.sum() - 1)
    want = [errs_b[i].sum() / errs_a[i].sum() - 1 for i in _explicit_resamples(speakers, 200, 3)]
    assert [iv.low, iv.high] == pytest.approx(np.percentile(want, [2.5, 97.5]).tolist())
    assert iv.low > 0 and iv.prob_below_zero == 0.0
    absolute = paired_ratio_difference(errs_a, errs_b, words, speakers.tolist(), replicates=200, seed=3)
    assert absolute.estimate == pytest.approx(iv.estimate * errs_a.sum() / words.sum())


def test_group_ratio_difference_equals_explicit_speaker_resamples() -> None:
    rng = np.random.default_rng(9)
    n = 90
    speakers = rng.integers(0, 15, size=n)
    noisy = rng.random(n) < 0.4  # speakers have utterances in both groups
    den = rng.uniform(50, 150, size=n)
    num = den * np.clip(rng.normal(np.where(noisy, 0.3, 0.5), 0.05), 0, 1)  # noisy skips less
    iv = group_ratio_difference(num, den, ~noisy, noisy, speakers.tolist(), replicates=300, seed=1)
    share = {g: num[m].sum() / den[m].sum() for g, m in (("clean", ~noisy), ("noisy", noisy))}
    assert iv.estimate == pytest.approx(share["noisy"] - share["clean"])
    want = []
    for idx in _explicit_resamples(speakers, 300, 1):
        a, b = idx[~noisy[idx]], idx[noisy[idx]]
        want.append(num[b].sum() / den[b].sum() - num[a].sum() / den[a].sum())
    assert [iv.low, iv.high] == pytest.approx(np.percentile(want, [2.5, 97.5]).tolist())
    assert iv.high < 0 and iv.prob_below_zero == 1.0
    with pytest.raises(FairstreamError, match="needs utterances in both groups"):
        group_ratio_difference(num, den, noisy, np.zeros(n, bool), speakers.tolist())
    with pytest.raises(FairstreamError, match="one value per utterance"):
        group_ratio_difference(num[:-1], den, ~noisy, noisy, speakers.tolist())


def test_permuted_group_totals_shuffle_labels_over_whole_units() -> None:
    keys, (tot, size) = permuted_group_totals(
        [np.array([1.0, 10, 100]), np.ones(3)], ["b", "a", "a"], 3000, 0
    )
    assert keys == ["a", "b"] and tot.shape == size.shape == (3000, 2)
    assert np.all(size == [2, 1])  # groups keep their sizes
    assert np.all(tot.sum(1) == 111) and set(tot[:, 1]) == {1.0, 10.0, 100.0}  # b gets one whole unit
    freq = [np.mean(tot[:, 1] == v) for v in (1, 10, 100)]
    assert np.allclose(freq, 1 / 3, atol=0.04)  # each equally often: 3 s.d. of 3000 draws is 0.026
    with pytest.raises(FairstreamError):
        permuted_group_totals([np.ones(2)], ["a", "b"], 0, 0)
    assert permutation_p_value(5.0, np.array([1.0, 2, 3])) == 1 / 4  # the observed labelling counts once
    assert permutation_p_value(2.0, np.array([1.0, 2, 3])) == 3 / 4  # ties count as at least as large
