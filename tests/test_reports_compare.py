"""The architecture comparison in RESULTS.md: paired bootstrap, per-accent WER, plot, any subset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from lhotse import CutSet, MonoCut, SupervisionSegment

from steps.reports.asr import asr_section
from steps.reports.claims import claims_section
from steps.reports.compare import compare_claims, compare_section, compare_to_reference, load_decodes

TINY_MODEL = {
    "encoder": "lstm",
    "encoder_conf": {"hidden_dim": 16, "num_layers": 1, "output_dim": 16, "dropout": 0.0},
}


def fake_decode(
    exp: Path,
    model: str,
    method: str,
    errs: list[int],
    rtf: float,
    subdir: str = "decode",
    split: str = "test",
) -> None:
    """A finished model dir and decode dir as stages 4 and 5 leave them (``split``'s cuts; speaker
    s<i % 20> of accent en-us for even i, es-en for odd i)."""
    mdir = exp / model
    mdir.mkdir(parents=True, exist_ok=True)
    (mdir / "config.yaml").write_text(json.dumps({"model": TINY_MODEL}))
    (mdir / "train_stats.json").write_text(json.dumps({"parameters": 123456, "steps": 3}))
    info = {"parameters": 123456, "encoder_flops_per_second": 2.5e7}
    (mdir / "model_info.json").write_text(json.dumps(info))
    d = exp / subdir / f"{model}_{method}"
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(json.dumps({"model_dir": str(mdir)}))
    cuts = []
    for i, e in enumerate(errs):
        custom = {
            "hyp": "x",
            "ref_len": 10,
            "ins": 0,
            "del": 0,
            "sub": e,
            "accent": ["en-us", "es-en"][i % 2],
        }
        sup = SupervisionSegment(
            f"u{i}", f"r{i}", 0.0, 1.0, text="a " * 10, speaker=f"s{i % 20}", custom=custom
        )
        cuts.append(MonoCut(f"u{i}", 0.0, 1.0, 0, supervisions=[sup]))
    CutSet.from_cuts(cuts).to_file(d / f"cuts_{split}.jsonl.gz")
    wer = 100 * sum(errs) / (10 * len(errs))
    metrics = {"method": method, "wer": wer, "rtf": rtf, "chunk_ms": 320}
    (d / "metrics.json").write_text(json.dumps({"dev": metrics, split: metrics}))
    (d / ".done").write_text("x")


def test_only_lstm_gives_no_ci_table_and_no_crash(tmp_path: Path) -> None:
    fake_decode(tmp_path, "lstm", "greedy", [1, 2, 0, 3], 0.1)
    text = compare_section(tmp_path, tmp_path / "fig", tmp_path)
    assert text is not None and "Paired bootstrap" not in text
    assert "| lstm | greedy |" in text and "es-en" in text
    # en-us: utterances 0 and 2 (1 + 0 errors / 20 words), es-en: 1 and 3 (5 / 20): native 5%, ratio 5.0
    assert "| lstm | greedy | 5.00 | 25.00 | 5.00 | 20.00 | 5.0 |" in text
    assert (tmp_path / "fig" / "asr_wer_vs_rtf.png").stat().st_size > 0
    asr = asr_section(tmp_path)
    assert asr is not None and "MFLOPs" in asr
    row = next(x for x in asr.splitlines() if x.startswith("| lstm_greedy"))
    assert float(row.split("|")[4]) > 0  # the FLOPs column is filled in


def test_full_comparison(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 200
    ref = rng.binomial(10, 0.1, size=n).tolist()
    fake_decode(tmp_path, "convrnnt", "greedy", ref, 0.2)  # no convrnnt modified_beam decode
    for method in ("greedy", "modified_beam"):
        fake_decode(tmp_path, "lstm", method, rng.binomial(10, 0.4, size=n).tolist(), 0.1)
    fake_decode(tmp_path, "conformer", "greedy", ref, 0.3)
    text = compare_section(tmp_path, tmp_path / "results", tmp_path)
    assert text is not None
    rows = {x.split("|")[1].strip(): x for x in text.splitlines() if "| [" in x}
    assert set(rows) == {"lstm", "conformer"}  # no reference for modified_beam: no row there
    assert "worse" in rows["lstm"] and "no significant difference" in rows["conformer"]
    assert "![test WER vs RTF](results/asr_wer_vs_rtf.png)" in text
    # the claim lines: greedy (no LM decode here); lstm worse -> held, conformer tie -> undecided
    claims = {c.claim.split()[-6]: c for c in compare_claims(tmp_path, "convrnnt")}
    assert set(claims) == {"lstm", "conformer"} and claims["lstm"].held is True
    assert claims["conformer"].held is None and "(greedy)" in claims["lstm"].ours
    table = claims_section(tmp_path, list(claims.values()))
    assert table.startswith("## Paper claims at a glance")
    assert "| held |" in table and "| undecided |" in table


def test_comparison_resamples_speakers_and_needs_the_same_utterances(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    fake_decode(tmp_path, "convrnnt", "greedy", rng.binomial(10, 0.2, size=100).tolist(), 0.2)
    fake_decode(tmp_path, "lstm", "greedy", rng.binomial(10, 0.2, size=100).tolist(), 0.1)
    fake_decode(tmp_path, "conformer", "greedy", rng.binomial(10, 0.2, size=99).tolist(), 0.1)
    rows = compare_to_reference(load_decodes(tmp_path), "convrnnt")
    assert [(c.model, c.utterances, c.speakers) for c in rows] == [("lstm", 100, 20)]  # conformer: other cuts
    assert rows[0].lo <= rows[0].diff <= rows[0].hi


def test_nothing_decoded_is_none(tmp_path: Path) -> None:
    assert compare_section(tmp_path, tmp_path / "fig") is None


def test_claim_verdict() -> None:
    from steps.reports.compare import Comparison, claim_verdict

    rows = [
        Comparison("lstm", "greedy", 10, 5, -5.0, -7.0, -3.0),
        Comparison("lstm", "modified_beam", 10, 5, -1.0, -3.0, 1.0),
        Comparison("conformer", "greedy", 10, 5, 9.0, 7.0, 11.0),
    ]
    assert [r.verdict for r in rows] == ["better", "no significant difference", "worse"]
    text = claim_verdict(rows, "convrnnt")
    assert text.startswith("**convrnnt does not win here**: lstm is significantly better")
    assert "conformer" not in text
    best = claim_verdict(rows[2:], "convrnnt")
    assert best.startswith("convrnnt is significantly better than every other model")
    assert "not significantly better than lstm" in claim_verdict(rows[1:], "convrnnt")


def test_convergence_note_tiers() -> None:
    from steps.reports.asr import _convergence_note

    tests = [
        {"wer": 94.0, "errors": 100, "del": 80},
        {"wer": 71.0, "errors": 100, "del": 50},
        {"wer": 12.0, "errors": 100, "del": 10},
    ]
    note = _convergence_note(["a", "b", "c"], tests)
    assert note.startswith("**Not converged**") and "a 94.0% (80% of errors deletions)" in note
    assert "**Weak**" in note and "b 71.0%" in note and "c 12.0" not in note
    assert _convergence_note(["c"], tests[2:]) == ""


def test_held_out_accent_ratio_picks_on_dev_and_measures_on_test() -> None:
    """Dev ranks accent b worst and c best; test has a as its own worst (not chosen) and the ratio
    is b's test WER over c's; the interval resamples speakers of b and c only and covers it."""
    from steps.reports.compare import held_out_accent_ratio

    dev = {"d1": (9, 100, "a", "s1"), "d2": (20, 100, "b", "s2"), "d3": (1, 100, "c", "s3")}
    test = {
        "t1": (50, 100, "a", "sa"),
        "t2": (6, 100, "b", "sb1"), "t3": (10, 100, "b", "sb2"),
        "t4": (2, 100, "c", "sc1"), "t5": (4, 50, "c", "sc2"), "t6": (0, 50, "c", "sc2"),
    }  # fmt: skip
    worst, best, tw, tb, iv = held_out_accent_ratio(dev, test, replicates=2000)
    assert (worst, best) == ("b", "c")
    assert (tw, tb, iv.estimate) == (pytest.approx(8.0), pytest.approx(3.0), pytest.approx(8.0 / 3.0))
    speaker_ratios = [(e / 100) / (c / 100) for e in (6, 10) for c in (2, 4)]  # one speaker per accent
    assert min(speaker_ratios) - 1e-9 <= iv.low < iv.estimate < iv.high <= max(speaker_ratios) + 1e-9
    assert held_out_accent_ratio({"d1": (1, 10, "a", "s")}, test) is None  # one accent on dev
    assert held_out_accent_ratio(dev, {"t1": (5, 100, "b", "x")}) is None  # best accent not on test


def utts_of(rows: list[tuple[str, str, int, int]]) -> dict[str, tuple[int, int, str, str]]:
    """(speaker, accent, errors, words) per utterance -> the report's cut id -> (errors, words,
    accent, speaker)."""
    return {f"u{i}": (e, n, a, spk) for i, (spk, a, e, n) in enumerate(rows)}


def test_accent_permutation_p_and_null_ratio_match_exhaustive_enumeration() -> None:
    from itertools import permutations

    from steps.reports.accents import accent_effect, accent_spread, extremes_ratio

    # six speakers, three accents of two; speaker errors per 20 words (two utterances of 10)
    spk = [("s0", "a", 1), ("s1", "a", 2), ("s2", "b", 3), ("s3", "b", 6), ("s4", "c", 2), ("s5", "c", 9)]
    rows = [(s, a, e // 2 + (k == 0) * (e % 2), 10) for s, a, e in spk for k in range(2)]
    eff = accent_effect(utts_of(rows), permutations=20000, seed=1)
    assert eff is not None and eff.speakers == 6 and eff.min_per_accent == 2
    errs = np.array([e for _, _, e in spk], float)

    def stats(labels: tuple[str, ...]) -> tuple[float, float]:
        e = np.array([errs[[i for i, x in enumerate(labels) if x == a]].sum() for a in "abc"])
        n = np.full(3, 40.0)
        return float(accent_spread(e, n)), float(extremes_ratio(e, n))

    observed = stats(tuple(a for _, a, _ in spk))
    every = [stats(p) for p in permutations([a for _, a, _ in spk])]  # 720 labellings, each equally likely
    exact_p = np.mean([s >= observed[0] - 1e-12 for s, _ in every])
    assert eff.spread == pytest.approx(observed[0], rel=1e-9) and eff.ratio == pytest.approx(observed[1])
    assert abs(eff.p_value - exact_p) < 0.015  # Monte Carlo error at 20000 shuffles: < 0.004 (1 s.d.)
    ratios = np.sort([r for _, r in every])
    assert ratios[int(0.4 * len(ratios))] <= eff.null_ratio[0] <= ratios[int(0.6 * len(ratios))]
    assert eff.null_ratio[1] <= eff.null_ratio[0] <= eff.null_ratio[2]


def test_accent_effect_extremes() -> None:
    from steps.reports.accents import accent_effect
    from steps.utils.errors import FairstreamError

    same = [(f"s{i}", "abc"[i % 3], 2, 20) for i in range(12)]  # every speaker at 10%: no shuffle differs
    eff = accent_effect(utts_of(same), permutations=500)
    assert eff is not None and eff.p_value == 1.0 and eff.ratio == pytest.approx(1.0) and eff.spread < 1e-9
    strong = [(f"s{i}", "abc"[i % 3], 10 if i % 3 == 2 else 1, 20) for i in range(24)]
    eff = accent_effect(utts_of(strong), permutations=500)
    assert eff is not None and eff.p_value < 0.01 and eff.ratio == pytest.approx(10.0)
    assert accent_effect(utts_of(same[:1])) is None  # one accent
    with pytest.raises(FairstreamError, match="speaker s0 has utterances of two accents"):
        accent_effect(utts_of([("s0", "a", 1, 10), ("s0", "b", 1, 10), ("s1", "b", 1, 10)]))


def test_accents_section_reads_test_and_held_out_decodes(tmp_path: Path) -> None:
    from steps.reports.accents import accents_section

    assert accents_section(tmp_path) is None
    rng = np.random.default_rng(7)

    def worse_es_en(n: int) -> list[int]:  # es-en (odd utterances) clearly worse
        return [int(e) + 3 * (i % 2) for i, e in enumerate(rng.binomial(5, 0.2, size=n))]

    fake_decode(tmp_path, "lstm", "greedy", worse_es_en(80), 0.1)
    held = worse_es_en(200)
    fake_decode(tmp_path, "lstm", "greedy", held, 0.1, subdir="decode_sv", split="sv")
    text = accents_section(tmp_path)
    assert text is not None and text.startswith("## Accents: effect or speaker noise?")
    rows = [x for x in text.splitlines() if x.startswith("| lstm | greedy |")]
    test_row = next(x for x in rows if "| test |" in x)
    held_row = next(x for x in rows if "| held-out (sv) |" in x)
    assert "| 20 (10+ per accent) |" in test_row and "| 20 (10+ per accent) |" in held_row
    assert held_row.split("|")[6].strip() == "< 0.001"  # p: es-en is worse by construction
    assert "held-out speakers of the `sv` split" in text
    picked = next(x for x in text.splitlines() if x.startswith("| lstm | greedy | es-en | en-us |"))
    es, us = sum(held[1::2]) / (10 * 100), sum(held[0::2]) / (10 * 100)  # the held-out WERs
    cells = [c.strip() for c in picked.split("|")]
    assert float(cells[5]) == pytest.approx(100 * es, abs=0.006) and float(cells[6]) == pytest.approx(
        100 * us, abs=0.006
    )
    assert float(cells[7].split()[0]) == pytest.approx(es / us, abs=0.06)
