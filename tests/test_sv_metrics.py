"""EER and minDCF against brute force and a hand-computed case; degenerate scores fail loudly."""

from __future__ import annotations

import numpy as np
import pytest

from steps.sv.groups import UttMeta, fairness, group_masks
from steps.sv.metrics import eer, error_curve, min_dcf
from steps.utils import FairstreamError


def brute_force_eer(scores: np.ndarray, is_target: np.ndarray) -> float:
    """Sweep a fine grid of thresholds; EER is the mean of miss and false-alarm where they meet."""
    best, val = np.inf, None
    for thr in np.linspace(scores.min() - 1e-6, scores.max() + 1e-6, 20001):
        miss = np.mean(scores[is_target] < thr)
        fa = np.mean(scores[~is_target] >= thr)
        if abs(miss - fa) < best:
            best, val = abs(miss - fa), (miss + fa) / 2
    return float(val)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eer_matches_brute_force_sweep(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_t, n_n = 300, 900
    scores = np.concatenate([rng.normal(1.5, 1.0, n_t), rng.normal(0.0, 1.0, n_n)])
    is_target = np.concatenate([np.ones(n_t, bool), np.zeros(n_n, bool)])
    # the interpolated EER lies within one trial's step of the brute-force value
    assert eer(scores, is_target) == pytest.approx(brute_force_eer(scores, is_target), abs=1.5 / n_t)


def test_eer_exact_cases() -> None:
    y = np.array([True, True, False, False])
    assert eer(np.array([0.9, 0.8, 0.1, 0.2]), y) == 0.0
    assert eer(np.array([0.1, 0.2, 0.9, 0.8]), y) == 1.0
    # one target below one non-target out of two each: miss = fa = 1/2 at the crossing
    assert eer(np.array([0.9, 0.3, 0.5, 0.1]), y) == pytest.approx(0.5)


def test_error_curve_endpoints() -> None:
    c = error_curve(np.array([0.3, 0.1, 0.2]), np.array([True, False, False]))
    assert c.p_miss[0] == 0 and c.p_fa[0] == 1
    assert c.p_miss[-1] == 1 and c.p_fa[-1] == 0


def test_min_dcf_hand_computed() -> None:
    # targets 0.9, 0.6, 0.4; non-targets 0.5, 0.3, 0.2, 0.1
    scores = np.array([0.9, 0.6, 0.4, 0.5, 0.3, 0.2, 0.1])
    y = np.array([True, True, True, False, False, False, False])
    # accept if score >= thr:  thr 0.1 -> (miss 0, fa 4/4); 0.2 -> (0, 3/4); 0.3 -> (0, 2/4);
    # 0.4 -> (0, 1/4); 0.5 -> (1/3, 1/4); 0.6 -> (1/3, 0); 0.9 -> (2/3, 0); above -> (1, 0)
    # p=0.05: cost 0.05*miss + 0.95*fa, best at 0.6: 0.05/3, normalised by 0.05 -> 1/3
    assert min_dcf(scores, y, 0.05) == pytest.approx(1 / 3)
    # p=0.5: cost 0.5*(miss + fa), best at 0.4: 0.5/4, normalised by 0.5 -> 1/4
    assert min_dcf(scores, y, 0.5) == pytest.approx(1 / 4)
    # p=0.9: cost 0.9*miss + 0.1*fa, best at 0.4: 0.1/4, normalised by 0.1 -> 1/4
    assert min_dcf(scores, y, 0.9) == pytest.approx(1 / 4)
    # p=0.01: normalised by 0.01; at 0.6: 0.01/3 -> 1/3; at 0.9: 0.02/3 -> 2/3
    assert min_dcf(scores, y, 0.01) == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "scores, msg",
    [
        (np.array([0.5, 0.5, 0.5, 0.5]), "all 4 scores are equal"),
        (np.array([0.5, np.nan, 0.1, 0.2]), "NaN"),
    ],
)
def test_degenerate_scores_raise_one_line(scores: np.ndarray, msg: str) -> None:
    with pytest.raises(FairstreamError, match=msg) as e:
        eer(scores, np.array([True, True, False, False]))
    assert "\n" not in str(e.value)


def test_group_masks_need_both_sides_in_group_and_fairness() -> None:
    meta = {
        "a1": UttMeta("a", "f", "US"),
        "a2": UttMeta("a", "f", "US"),
        "b1": UttMeta("b", "m", "GB"),
        "c1": UttMeta("c", "f", "GB"),
    }
    masks = group_masks(["a1", "a1", "a1"], ["a2", "b1", "c1"], meta, "gender")
    assert masks["f"].tolist() == [True, False, True]
    assert masks["m"].tolist() == [False, False, False] if "m" in masks else True
    f = fairness(
        {
            "gender": {"f": {"eer": 0.1}, "m": {"eer": 0.04}},
            "country": {"US": {"eer": 0.1}, "GB": {"eer": 0.2}},
        }
    )
    assert f["gender_gap"] == pytest.approx(0.06)
    assert f["country_std"] == pytest.approx(0.05)
    assert f["accent_std"] is None


def test_report_says_when_a_spread_lies_outside_its_interval() -> None:
    """Speaker resampling inflates a spread of group EERs, so its interval can sit above the
    estimate: the report must say so (and only then)."""
    from steps.reports.sv import render

    def system(std: float) -> dict:
        overall = {"eer": 0.1, "mindcf_0.01": 0.9, "mindcf_0.05": 0.6}
        fairness = {"gender_gap": 0.02, "country_std": std, "accent_std": 0.01}
        return {"overall": overall, "groups": {}, "fairness": fairness}

    info = {"n_target": 10, "n_nontarget": 30, "speakers": 8, "unknown": 0, "missing": 0, "split": "sv"}

    def text(std_ci: list[float]) -> str:
        boot = {"units": "speakers", "replicates": 5, "systems": {"none": {"country_std": std_ci}}}
        return render({"none": system(0.01)}, boot, "none", "det.png", info)

    assert "outside its own interval for: none country std" in text([0.011, 0.03])
    assert "outside its own interval" not in text([0.005, 0.03])
    assert "(8 sv speakers)" in text([0.005, 0.03])
