"""Validation records and the time-to-accuracy report built from them."""

from __future__ import annotations

import json
from pathlib import Path

from steps.nnet.validation import VALID_LOG, append_record, fixed_subset, read_valid_log
from steps.reports.learning import curve_table, learning_section, load_curves, time_to


def _rec(step: int, wer: float, split: str = "dev") -> dict:
    return {"step": step, "wer": wer, "core_minutes": step / 100, "audio_seconds": step * 40.0,
            "cuts": 128, "valid_split": split, "loss": 1.0}  # fmt: skip


def test_valid_log_keeps_the_last_record_of_a_step_and_ignores_a_torn_line(tmp_path: Path) -> None:
    for step, wer in [(200, 80.0), (400, 50.0), (400, 45.0)]:  # 400 repeated after a resume
        append_record(tmp_path, _rec(step, wer))
    with open(tmp_path / VALID_LOG, "a") as f:
        f.write('{"step": 600, "we')  # killed mid-write
    recs = read_valid_log(tmp_path / VALID_LOG)
    assert [(r["step"], r["wer"]) for r in recs] == [(200, 80.0), (400, 45.0)]


def test_fixed_subset_is_evenly_spaced_and_stable() -> None:
    class C:
        def __init__(self, i: int) -> None:
            self.id = f"c{i:03d}"

    cuts = [C(i) for i in range(100)]
    sub = fixed_subset(list(reversed(cuts)), 10)
    assert [c.id for c in sub] == [f"c{i:03d}" for i in range(0, 100, 10)]
    assert len(fixed_subset(cuts, 500)) == 100


def test_time_to_threshold_is_the_first_validation_at_or_below(tmp_path: Path) -> None:
    recs = [_rec(200, 60.0), _rec(400, 30.0), _rec(600, 31.0), _rec(800, 14.0)]
    assert time_to(recs, 30.0)["step"] == 400
    assert time_to(recs, 15.0)["step"] == 800
    assert time_to(recs, 10.0) is None
    rows = curve_table({"lstm": recs})
    assert "| lstm | 800 | 8.0 | 8.9 | 14.0 | 14.0 (step 800) | 4.0 (step 400) | 8.0 (step 800) |" in rows
    assert "not reached" in curve_table({"x": recs[:1]})[2]


def test_learning_section_reads_dev_curves_only(tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    for name, split in [("lstm", "dev"), ("overfit", "train")]:
        (exp / name).mkdir(parents=True)
        (exp / name / VALID_LOG).write_text("".join(json.dumps(_rec(s, 90 - s / 20, split)) + "\n"
                                                    for s in (200, 400)))  # fmt: skip
    assert list(load_curves(exp)) == ["lstm"]
    md = learning_section(exp, tmp_path / "results", tmp_path)
    assert md is not None and "| lstm |" in md and "overfit" not in md
    assert (tmp_path / "results" / "asr_learning_curves.png").stat().st_size > 1000
    assert learning_section(tmp_path / "empty", tmp_path / "r2") is None
