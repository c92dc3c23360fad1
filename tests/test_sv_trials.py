"""Trials: deterministic, balanced over strata, Kaldi format; unknown utterances are counted."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from steps.sv.groups import UttMeta
from steps.sv.trials import STRATA, Trial, TrialsConf, check_known, make_trials, read_trials, write_trials
from steps.utils import FairstreamError


def _meta(n_per_country: int = 4, utts: int = 4) -> dict[str, UttMeta]:
    meta = {}
    k = 0
    for country in ("US", "GB", "IN"):
        for s in range(n_per_country):
            spk = f"{country}{s}"
            gender = "f" if s % 2 else "m"
            for u in range(utts):
                meta[f"{spk}-{u}"] = UttMeta(spk, gender, country, f"acc-{country}")
            k += 1
    return meta


def test_trials_are_deterministic_and_order_independent() -> None:
    meta = _meta()
    a, sa = make_trials(meta, TrialsConf(seed=3))
    items = list(meta.items())
    random.Random(0).shuffle(items)
    b, sb = make_trials(dict(items), TrialsConf(seed=3))
    assert a == b and sa == sb
    c, _ = make_trials(meta, TrialsConf(seed=4))
    assert a != c


def test_trials_are_balanced_and_cover_strata() -> None:
    meta = _meta(n_per_country=6)
    trials, s = make_trials(meta, TrialsConf(seed=1, nontargets_per_target=3))
    n_spk, utts = 18, 4
    assert s["target"] == n_spk * utts * (utts - 1) // 2
    assert s["nontarget"] == 3 * s["target"]
    # one non-target per stratum per target pair (each stratum has candidates here)
    for k in STRATA:
        assert s[k] == s["target"], (k, s)
    for t in trials:
        same_spk = meta[t.enroll].speaker == meta[t.test].speaker
        assert same_spk == t.target
    cross = [t for t in trials if not t.target and meta[t.enroll].gender != meta[t.test].gender]
    same = [t for t in trials if not t.target and meta[t.enroll].gender == meta[t.test].gender]
    assert cross and same
    pairs = [frozenset((t.enroll, t.test)) for t in trials]
    assert len(pairs) == len(set(pairs)), "no trial twice"


def test_empty_stratum_falls_through_and_is_counted() -> None:
    meta = _meta(n_per_country=2)  # one speaker per gender per country
    _, s = make_trials(meta, TrialsConf(seed=1))
    assert s["same_gender_same_country"] == 0
    assert s["fell_through"] > 0
    assert s["nontarget"] == 3 * s["target"]


def test_kaldi_roundtrip_and_unknown(tmp_path: Path) -> None:
    trials = [Trial("a", "b", True), Trial("a", "c", False)]
    write_trials(tmp_path / "trials", trials)
    assert (tmp_path / "trials").read_text() == "a b target\na c nontarget\n"
    assert read_trials(tmp_path / "trials") == trials
    ok, bad = check_known(trials + [Trial("a", "zzz", False)], {"a", "b", "c"})
    assert len(ok) == 2 and bad == [Trial("a", "zzz", False)]
    (tmp_path / "bad").write_text("a b maybe\n")
    with pytest.raises(FairstreamError, match="expected 'enroll test target"):
        read_trials(tmp_path / "bad")
