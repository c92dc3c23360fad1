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


def fake_decode(exp: Path, model: str, method: str, errs: list[int], rtf: float) -> None:
    """A finished model dir and decode dir as stages 4 and 5 leave them."""
    mdir = exp / model
    mdir.mkdir(parents=True, exist_ok=True)
    (mdir / "config.yaml").write_text(json.dumps({"model": TINY_MODEL}))
    (mdir / "train_stats.json").write_text(json.dumps({"parameters": 123456, "steps": 3}))
    info = {"parameters": 123456, "encoder_flops_per_second": 2.5e7}
    (mdir / "model_info.json").write_text(json.dumps(info))
    d = exp / "decode" / f"{model}_{method}"
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
    CutSet.from_cuts(cuts).to_file(d / "cuts_test.jsonl.gz")
    wer = 100 * sum(errs) / (10 * len(errs))
    metrics = {"method": method, "wer": wer, "rtf": rtf, "chunk_ms": 320}
    (d / "metrics.json").write_text(json.dumps({"dev": metrics, "test": metrics}))
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
