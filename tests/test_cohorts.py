"""Cohort discovery: planted structure is recovered, metrics match hand computations, the step runs."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from lhotse import load_manifest
from sklearn.metrics import adjusted_rand_score
from sklearn.tree import DecisionTreeRegressor

from steps.fairness.automatic import fit_kmeans
from steps.fairness.cohorts import rank_cohorts, select
from steps.fairness.geodemo import categorical, search_partition
from steps.fairness.metrics import bootstrap, cohort_wer, gap_stats, wer_gap
from steps.fairness.speakers import Speakers
from steps.fairness.stability import bottom_stability, jaccard
from steps.fairness.tree import fit_tree
from tests.cohort_data import write_split
from tests.conftest import REPO, run_step

ATTRS = ["zip_income", "zip_urbanicity", "zip_age", "zip_home_language"]


def _speakers(
    lat: np.ndarray, lon: np.ndarray, errors: np.ndarray, words: np.ndarray, attrs=None, emb=None
) -> Speakers:
    n = len(lat)
    return Speakers(
        ids=[f"s{i:03d}" for i in range(n)],
        lat=np.asarray(lat, float),
        lon=np.asarray(lon, float),
        attrs=attrs if attrs is not None else [{} for _ in range(n)],
        errors=np.asarray(errors, np.int64),
        words=np.asarray(words, np.int64),
        utts=np.ones(n, np.int64),
        emb=emb,
    )


def _quadrants(rng: np.random.Generator, per: int = 25, words: int = 200):
    """Four planted regions (quadrants around (0, 0)) with WERs 5, 15, 30 and 50%."""
    lab = np.repeat(np.arange(4), per)
    lat = np.where(lab % 2 == 0, 1, -1) * rng.uniform(2, 40, len(lab))
    lon = np.where(lab < 2, 1, -1) * rng.uniform(2, 100, len(lab))
    w = np.full(len(lab), words)
    err = rng.binomial(w, np.array([0.05, 0.15, 0.3, 0.5])[lab])
    return lab, lat, lon, err, w


# ---- geographic tree --------------------------------------------------------------------------
def test_tree_recovers_planted_regions() -> None:
    rng = np.random.default_rng(0)
    lab, lat, lon, err, w = _quadrants(rng)
    sp = _speakers(lat, lon, err, w)
    tree = fit_tree(sp, min_speakers=5, max_regions=4, max_depth=3)
    assign = tree.assign(sp)
    assert len(tree.boxes) == 4
    assert adjusted_rand_score(lab, assign) == pytest.approx(1.0)
    # the rule applies to new speakers of the same regions
    lab2, lat2, lon2, err2, w2 = _quadrants(np.random.default_rng(1))
    assert adjusted_rand_score(lab2, tree.assign(_speakers(lat2, lon2, err2, w2))) > 0.95


def test_tree_min_speakers_counts_speakers_not_utterances() -> None:
    rng = np.random.default_rng(2)
    n = 40
    lat, lon = rng.uniform(0, 10, n), rng.uniform(0, 10, n)
    words = np.full(n, 50)
    err = rng.binomial(words, 0.1)
    # two very talkative, very bad speakers in one corner: an utterance-count limit would isolate them
    lat[:2], lon[:2], words[:2] = 9.9, 9.9, 5000
    err[:2] = 3000
    sp = _speakers(lat, lon, err, words)
    assign = fit_tree(sp, min_speakers=6, max_regions=8, max_depth=4).assign(sp)
    assert (assign >= 0).all()
    assert np.bincount(assign).min() >= 6


def test_speaker_level_tree_equals_utterance_level_tree() -> None:
    """The docstring's claim: per-speaker rows (y = WER, w = words) split like per-utterance rows."""
    rng = np.random.default_rng(3)
    lab, lat, lon, _, _ = _quadrants(rng, per=10)
    n_utt = rng.integers(1, 6, len(lab))
    rows, y, wt = [], [], []
    errs, words = np.zeros(len(lab), int), np.zeros(len(lab), int)
    for i in range(len(lab)):
        for _ in range(n_utt[i]):
            r = int(rng.integers(5, 25))
            e = int(rng.binomial(r, [0.05, 0.1, 0.2, 0.4][lab[i]]))
            rows.append([lat[i], lon[i]])
            y.append(e / r)
            wt.append(r)
            errs[i] += e
            words[i] += r
    utt = DecisionTreeRegressor(max_leaf_nodes=4, random_state=0).fit(rows, y, sample_weight=wt)
    sp = _speakers(lat, lon, errs, words)
    spk_assign = fit_tree(sp, min_speakers=1, max_regions=4, max_depth=10).assign(sp)
    utt_leaf = utt.apply(np.stack([lat, lon], axis=1))
    assert adjusted_rand_score(utt_leaf, spk_assign) == pytest.approx(1.0)
    # each leaf's value is the pooled WER of its speakers
    for leaf in set(utt_leaf):
        sel = utt_leaf == leaf
        assert utt.tree_.value[leaf, 0, 0] == pytest.approx(errs[sel].sum() / words[sel].sum())


# ---- geodemographic partition -------------------------------------------------------------------
def _zip_speakers(rng: np.random.Generator, n: int = 120, bad: float = 0.3):
    attrs = [
        {
            "zip_income": str(rng.choice(["low", "middle", "high"])),
            "zip_urbanicity": str(rng.choice(["urban", "suburban", "rural"])),
            "zip_age": str(rng.choice(["younger", "older"])),
            "zip_home_language": str(rng.choice(["english", "other"])),
        }
        for _ in range(n)
    ]
    rural = np.array([a["zip_urbanicity"] == "rural" for a in attrs])
    words = np.full(n, 300)
    err = rng.binomial(words, np.where(rural, bad, 0.1))
    return _speakers(np.zeros(n), np.zeros(n), err, words, attrs=attrs), rural


def test_geodemo_finds_planted_attribute_split() -> None:
    sp, rural = _zip_speakers(np.random.default_rng(4))
    rule, gap = search_partition(sp, ATTRS, min_speakers=10, max_conditions=1)
    assert rule.conditions == [("zip_urbanicity", ["rural"])]
    assert np.array_equal(rule.assign(sp) == 0, rural)
    assert gap > 1.5
    rule2, gap2 = search_partition(sp, ATTRS, min_speakers=10, max_conditions=2)
    assert rule2.conditions[0] == ("zip_urbanicity", ["rural"]) and gap2 >= gap


def test_geodemo_respects_min_partition_size() -> None:
    sp, _ = _zip_speakers(np.random.default_rng(5), bad=0.1)  # no real signal
    for a in sp.attrs[:3]:
        a["zip_home_language"] = "klingon"  # a tiny, terrible group
    sp.errors[:3] = sp.words[:3]
    rule, _ = search_partition(sp, ATTRS, min_speakers=10, max_conditions=2)
    side = rule.assign(sp)
    assert min((side == 0).sum(), (side == 1).sum()) >= 10


def test_numeric_attributes_are_binned() -> None:
    rng = np.random.default_rng(6)
    n = 90
    income = rng.uniform(10_000, 100_000, n)
    words = np.full(n, 300)
    err = rng.binomial(words, np.where(income < 40_000, 0.3, 0.1))
    attrs = [{"zip_income": float(x)} for x in income]
    sp = _speakers(np.zeros(n), np.zeros(n), err, words, attrs=attrs)
    rule, _ = search_partition(sp, ["zip_income"], min_speakers=10, max_conditions=1, n_bins=3)
    assert rule.conditions == [("zip_income", ["q1"])]
    assert categorical(None, None) == "unknown" and categorical("rural", None) == "rural"


# ---- automatic cohorts --------------------------------------------------------------------------
def test_kmeans_recovers_planted_embedding_clusters() -> None:
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(3, 16))
    lab = np.repeat(np.arange(3), 20)
    x = centres[lab] + 0.15 * rng.normal(size=(60, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x[5] = np.nan  # a speaker without an embedding
    sp = _speakers(np.zeros(60), np.zeros(60), np.zeros(60), np.ones(60), emb=x)
    rule, k, info = fit_kmeans(sp, k=3, seed=0)
    assign = rule.assign(sp)
    assert k == 3 and assign[5] == -1 and info["k_criterion"] == "fixed in YAML"
    ok = assign >= 0
    assert adjusted_rand_score(lab[ok], assign[ok]) == pytest.approx(1.0)
    _, k_auto, _ = fit_kmeans(sp, k=0, seed=0, k_max=6, selection="silhouette")
    assert k_auto == 3  # the silhouette criterion finds the planted number


def test_heldout_k_finds_the_clusters_that_carry_the_gap() -> None:
    # 4 voice clusters; only cluster 3 is hard.  Held-out selection must pick a k that isolates
    # it (so its held-out gap is large), and the chosen rule's bottom is mostly cluster 3.
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, 16))
    lab = np.repeat(np.arange(4), 30)
    x = centres[lab] + 0.2 * rng.normal(size=(120, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    w = np.full(120, 200)
    err = rng.binomial(w, np.where(lab == 3, 0.4, 0.1))
    sp = _speakers(np.zeros(120), np.zeros(120), err, w, emb=x)
    rule, k, info = fit_kmeans(sp, k=0, seed=0, k_max=8, selection="heldout", share=0.2)
    assert info["k_criterion"].startswith("largest held-out")
    assert set(info["heldout_gap_by_k"]) == set(range(2, 9))
    assert info["heldout_gap_by_k"][k] == max(g for g in info["heldout_gap_by_k"].values() if g is not None)
    a = rule.assign(sp)
    bottom, _ = select(rank_cohorts(a, sp, k), a, 0.2)
    assert (lab[np.isin(a, list(bottom))] == 3).mean() > 0.9


# ---- metrics -----------------------------------------------------------------------------------
def test_gap_share_and_counts_by_hand() -> None:
    errors = np.array([10, 20, 5, 5, 0, 9])
    words = np.array([50, 50, 100, 100, 100, 10])
    bottom = np.array([True, True, False, False, False, False])
    top = np.array([False, False, True, True, True, False])  # speaker 5 is in neither
    st = gap_stats(errors, words, bottom, top)
    assert st["wer_bottom"] == pytest.approx(30 / 100)
    assert st["wer_top"] == pytest.approx(10 / 300)  # bottom vs *top*, not vs everyone else
    assert st["gap"] == pytest.approx((0.3 - 1 / 30) / (1 / 30))
    assert st["share"] == pytest.approx(2 / 6) and st["top_share"] == pytest.approx(3 / 6)
    counts = (st["speakers_bottom"], st["speakers_top"], st["words_bottom"], st["words_top"])
    assert counts == (2, 3, 100, 300)
    valid = np.array([True, True, True, True, False, True])  # one speaker the method cannot place
    st2 = gap_stats(errors, words, bottom, top, valid)
    assert st2["share"] == pytest.approx(2 / 5) and st2["wer_top"] == pytest.approx(10 / 200)
    assert np.isnan(cohort_wer(3, 0)) and np.isnan(wer_gap(0.2, 0.0))
    with pytest.raises(ValueError, match="both the bottom and the top"):
        gap_stats(errors, words, bottom, bottom)


def test_rank_and_one_selection_rule() -> None:
    # cohort WERs: 0 -> 10%, 1 -> 30%, 2 -> 20%, 3 -> 5%; sizes 5, 1, 4, 2 speakers (12)
    assign = np.array([0] * 5 + [1] + [2] * 4 + [3] * 2)
    errors = np.array([1] * 5 + [3] + [2] * 4 + [0, 1])
    sp = _speakers(np.zeros(12), np.zeros(12), errors, np.full(12, 10))
    order = rank_cohorts(assign, sp, 4)
    assert order == [1, 2, 0, 3]
    assert select(order, assign, 0.05) == ({1}, {3})
    assert select(order, assign, 0.2) == ({1, 2}, {3, 0})  # 1 speaker = 8% < 20%: add the next
    assert select(order, assign, 0.9) == ({1, 2, 0}, {3})  # never every cohort; top gets the rest
    binary = np.array([0] * 10 + [1] * 2)  # a partition whose worse side is 83% of speakers
    sp2 = _speakers(np.zeros(12), np.zeros(12), np.array([3] * 10 + [0, 1]), np.full(12, 10))
    o2 = rank_cohorts(binary, sp2, 2)
    assert select(o2, binary, 0.1) == ({0}, {1}) == select(o2, binary, 0.5)


def test_jaccard_and_stability_of_a_planted_and_a_random_cohort() -> None:
    assert jaccard(np.array([1, 1, 0, 0]), np.array([0, 1, 1, 0])) == pytest.approx(1 / 3)
    assert jaccard(np.zeros(3), np.zeros(3)) == 1.0
    rng = np.random.default_rng(5)
    lab, lat, lon, err, w = _quadrants(rng)  # quadrant 3 at 50% WER: a real bottom region
    sp = _speakers(lat, lon, err, w)

    def fit(s: Speakers):
        return fit_tree(s, min_speakers=5, max_regions=4, max_depth=3)

    ref = lab == 3
    real = bottom_stability(fit, sp, 0.2, ref, resamples=30, seed=0)
    assert real["failed"] == 0 and real["jaccard_mean"] > 0.8 and real["core_share"] > 0.8
    flat = _speakers(lat, lon, rng.binomial(w, 0.2), w)  # no region is worse: bottoms wander
    noise = bottom_stability(fit, flat, 0.2, ref, resamples=30, seed=0)
    assert noise["jaccard_mean"] < real["jaccard_mean"] - 0.3


def test_bootstrap_intervals_cover_the_truth() -> None:
    rng = np.random.default_rng(8)
    n, nb, words = 100, 30, 100
    bottom = np.arange(n) < nb
    p_mean = np.where(bottom, 0.3, 0.15)
    true_gap = (0.3 - 0.15) / 0.15
    hits_gap = hits_b = 0
    reps = 200
    for r in range(reps):
        p = rng.beta(20 * p_mean, 20 * (1 - p_mean))  # speaker heterogeneity
        err = rng.binomial(words, p)
        w = np.full(n, words)
        b = bootstrap(err, w, bottom, ~bottom, bottom.astype(int), 500, seed=r)
        hits_gap += b["gap"][0] <= true_gap <= b["gap"][1]
        hits_b += b["wer_bottom"][0] <= 0.3 <= b["wer_bottom"][1]
    assert 0.85 <= hits_gap / reps <= 0.99
    assert 0.85 <= hits_b / reps <= 0.99


# ---- the step, end to end -----------------------------------------------------------------------
def _counts(rng: np.random.Generator, wer: float) -> tuple[str, dict]:
    """Only the counts: 20 reference words, substitutions at about ``wer``."""
    return "a b", {"hyp": "x", "ref_len": 20, "ins": 0, "sub": int(rng.binomial(20, wer)), "del": 0}


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    rng = np.random.default_rng(9)
    (tmp_path / "emb").mkdir()
    write_split(tmp_path, "train", 24, 0, rng, _counts)
    write_split(tmp_path, "dev", 32, 100, rng, _counts)
    write_split(tmp_path, "test", 32, 200, rng, _counts, no_embedding=("spk201", "spk202"))
    for d in ("fbank", "decode", "emb"):
        (tmp_path / d / ".done").write_text("x\n")
    conf = tmp_path / "cohorts.yaml"
    conf.write_text(
        "min_speakers_per_region: 4\nmax_regions: 4\nmax_depth: 3\nmin_partition_speakers: 4\n"
        "k: 4\nbottom_share: 0.2\nbootstrap: 100\nstability_resamples: 20\nseed: 1\n"
    )
    return tmp_path


def _run(root: Path, *extra: str, check: bool = True):
    return run_step(
        "steps.discover_cohorts",
        "--fbank-dir", root / "fbank", "--embeddings-dir", root / "emb", "--conf", root / "cohorts.yaml",
        *extra, root / "decode", root / "cohorts", check=check,
    )  # fmt: skip


def _stage(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
    }
    script = REPO / "stages/07_cohorts.sh"
    paths = [root / d for d in ("decode", "fbank", "emb", "cohorts")] if not args else []
    cmd = ["bash", str(script), "--conf", str(root / "cohorts.yaml"), *args, *map(str, paths)]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)


def test_step_end_to_end(pipeline: Path) -> None:
    _run(pipeline)
    out = pipeline / "cohorts"
    assert (out / ".done").is_file()
    for f in ("report.md", "regions_map.png", "cohort_wer.png", "share_curve.png", "summary.json"):
        assert (out / f).is_file(), f
    claims = json.loads((out / "claims.json").read_text())
    assert [c["system"] for c in claims] == ["Geodemographic vs automatic cohorts"] * 2
    report = (out / "report.md").read_text()
    assert report.startswith("## Cohort discovery") and "65.0" in report and "(regions_map.png)" in report
    summary = json.loads((out / "summary.json").read_text())
    assert summary["missing_embeddings"] == {"train": 0, "dev": 0, "test": 2}
    for method in ("geo", "geodemo", "auto"):
        info = json.loads((out / method / "cohorts.json").read_text())
        bottom_labels = set(info["bottom_labels"])
        assert bottom_labels == {c["label"] for c in info["cohorts"] if c["bottom"]}
        for split, n_utts in (("train", 72), ("dev", 96), ("test", 96)):
            cuts = load_manifest(out / method / f"cuts_{split}.jsonl.gz")
            sups = [s for c in cuts for s in c.supervisions]
            assert len(sups) == n_utts
            for s in sups:
                assert s.custom["cohort"].startswith(f"{method}-")
                assert s.custom["cohort_bottom"] == (s.custom["cohort"] in bottom_labels)
                if split != "train":
                    assert "hyp" in s.custom  # the input cuts are kept, only labels are added
        if method == "auto":
            test = load_manifest(out / method / "cuts_test.jsonl.gz")
            none = {
                c.supervisions[0].speaker for c in test if c.supervisions[0].custom["cohort"] == "auto-none"
            }
            assert none == {"spk201", "spk202"}
    # the planted bad region (index 3: lat -20, lon -50; rural, low income) is found by every method
    for method in ("geo", "geodemo", "auto"):
        test = load_manifest(out / method / "cuts_test.jsonl.gz")
        bad = [c for c in test if c.supervisions[0].custom["zip"] == "z3"]
        flagged = [c.supervisions[0].custom["cohort_bottom"] for c in bad]
        assert np.mean(flagged) > 0.9, method
        info = json.loads((out / method / "cohorts.json").read_text())
        assert info["test"]["share"] == pytest.approx(0.25, abs=0.05), method
        assert info["stability"]["resamples"] == 20 and info["stability"]["jaccard_mean"] > 0.5, method
        assert [p["setting"] for p in info["share_curve"]][0] == 0.05 and info["share_curve"][0]["gap"] > 1
    geo = json.loads((out / "geo" / "cohorts.json").read_text())
    assert geo["test"]["gap"] > 1.0 and geo["cohorts"][0]["rule"]["box"]["lat"][1] is not None
    # rerun: a no-op, nothing rewritten
    mtime = (out / "geo" / "cuts_train.jsonl.gz").stat().st_mtime_ns
    proc = _stage(pipeline)  # through the stage script, which must pass the same config
    assert proc.returncode == 0 and "nothing to do" in proc.stderr
    assert (out / "geo" / "cuts_train.jsonl.gz").stat().st_mtime_ns == mtime


def test_step_rejects_undecoded_cuts(pipeline: Path) -> None:
    path = pipeline / "decode" / "cuts_dev.jsonl.gz"
    lines = gzip.open(path, "rt").read().splitlines()
    first = json.loads(lines[0])
    del first["supervisions"][0]["custom"]["hyp"]
    with gzip.open(path, "wt") as f:
        f.write("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    proc = _run(pipeline, check=False)
    assert proc.returncode == 1
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ERROR:") and str(path) in err[0] and "hyp" in err[0]
    assert not (pipeline / "cohorts" / ".done").exists()


def test_stage_script_usage(tmp_path: Path) -> None:
    (tmp_path / "cohorts.yaml").write_text("k: 2\n")
    proc = _stage(tmp_path, "only-one")
    assert proc.returncode == 1 and "usage" in proc.stderr


def test_offline_map_outlines_are_real_geography() -> None:
    from steps.reports.world_map import outlines

    coast = outlines("gshhs", "c")
    # Great Britain: one closed coastline whose box holds London and spans about 50-59 N
    gb = [p for p in coast if p[:, 0].min() < -0.1 < p[:, 0].max() and p[:, 1].min() < 51.5 < p[:, 1].max()]
    assert any(49 < p[:, 1].min() < 51 and 57 < p[:, 1].max() < 61 for p in gb)
    assert all(np.allclose(p[0], p[-1], atol=1e-3) for p in coast[:50])  # polygons close
    borders = outlines("countries", "c")
    assert len(borders) > 100 and all(np.abs(p[:, 1]).max() <= 90 for p in borders)
    with pytest.raises(ValueError, match="kind must be one of"):
        outlines("rivers")
