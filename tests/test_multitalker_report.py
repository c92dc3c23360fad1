"""The stage-10 report: the systems table (turn matching columns) and the paper's claims against
MT-RNN-T, from hand-made decode directories (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from steps.report_multitalker import main as report_main
from steps.reports.claims import read_claims
from steps.reports.multitalker import claims, row
from steps.utils import FairstreamError

CONFIG = {
    "model_dir": "exp/m",
    "sessions_dir": "data/sessions",
    "chunk_ms": 320,
    "cluster_threshold": 0.5,
    "collar": 0.25,
    "match_distance": 2.0,
    "xvector_model": "exp/sv",
}


def metrics_row(turns_from: str = "turn tokens") -> dict:
    return {
        "sessions": 3,
        "audio_seconds": 90.0,
        "orc_wer": {"wer": 30.0},
        "cp_wer": {"wer": 40.0},
        "turn_count": {"session_accuracy": 0.0, "channel_accuracy": 0.5, "mean_abs_turn_diff": 1.5},
        "turn_matching": {"max_distance": 2.0, "matched": 7, "unmatched_ref": 2, "unmatched_hyp": 3},
        "sot_latency": {"mean": 0.1, "p90": 0.3},
        "eot_latency": {"mean": None, "p90": None},
        "rtf": 0.05,
        "turns_from": turns_from,
    }


def decode_dir(root: Path, name: str, per: dict[str, tuple], **kw: str) -> Path:
    """A finished decode directory: ``per`` maps session -> (errors, words, reference turns per
    channel, decoded turns per channel)."""
    d = root / name
    d.mkdir()
    (d / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    (d / ".done").write_text("x\n")
    (d / "metrics.json").write_text(json.dumps({"test": metrics_row(**kw)}))
    scores = {
        sid: {"orc": {"errors": e, "words": w}, "ref_channel_turns": r, "hyp_channel_turns": h}
        for sid, (e, w, r, h) in per.items()
    }
    (d / "scores_test.json").write_text(json.dumps(scores))
    return d


def sessions(rng: np.random.Generator, n: int, right: float, err: float) -> dict:
    """``n`` sessions; each channel's turn count right with probability ``right``, ORC errors ~ ``err``."""
    out = {}
    for i in range(n):
        ref = [int(x) for x in rng.integers(2, 6, size=2)]
        hyp = [r if rng.random() < right else r + 1 for r in ref]
        words = int(rng.integers(40, 80))
        out[f"s{i:02d}"] = (int(rng.binomial(words, err)), words, ref, hyp)
    return out


def test_row_shows_turn_matching_and_refuses_old_metrics() -> None:
    line = row("septds", "test", metrics_row())
    assert "| 7 / 2 / 3 |" in line and "| 0.10 / 0.30 | – |" in line
    old = metrics_row()
    del old["turn_matching"]
    with pytest.raises(FairstreamError, match="rerun steps.decode_sessions"):
        row("septds", "test", old)


def test_claims_against_mt_rnnt(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    base = sessions(rng, 40, right=0.3, err=0.4)
    # ours: the same references, more channels counted right, fewer errors
    ours = {sid: (e // 2, w, r, r if rng.random() < 0.8 else h) for sid, (e, w, r, h) in base.items()}
    b = decode_dir(tmp_path, "mt", base, turns_from="pauses >= 0.8 s (tuned on dev)")
    o = decode_dir(tmp_path, "ours", ours)
    turn, wer = claims(o, b, "test", replicates=300)
    right = {name: sum(int(x == y) for s in per.values() for x, y in zip(s[2], s[3], strict=True))
             for name, per in (("b", base), ("o", ours))}  # fmt: skip
    want = (right["o"] - right["b"]) / (2 * len(base))
    assert turn.ours.startswith(f"{100 * want:+.1f} [") and turn.held is True
    assert "pauses >= 0.8 s (tuned on dev)" in turn.note and "40 sessions" in turn.note
    gain = 1 - sum(s[0] for s in ours.values()) / sum(s[0] for s in base.values())
    assert wer.ours.startswith(f"{100 * gain:+.1f} [") and wer.held is True
    assert turn.paper == "+4.6% abs. vs MT-RNN-T" and wer.paper == "17% rel. WER gain vs MT-RNN-T"
    # the other way round the claims do not hold; a system against itself cannot decide
    assert [c.held for c in claims(b, o, "test", replicates=300)] == [False, False]
    same = claims(b, b, "test", replicates=300)
    assert [c.held for c in same] == [None, None] and same[0].ours.startswith("+0.0 [+0.0, +0.0]")


def test_claims_without_the_baseline_are_undecided(tmp_path: Path) -> None:
    o = decode_dir(tmp_path, "ours", sessions(np.random.default_rng(1), 5, 0.5, 0.3))
    for c in claims(o, None):
        assert c.held is None and c.ours == "–" and "MT-RNN-T was not decoded" in c.note
    other = decode_dir(tmp_path, "other", sessions(np.random.default_rng(2), 4, 0.5, 0.3))
    with pytest.raises(FairstreamError, match="different test sessions"):
        claims(o, other)


def test_report_writes_claims_json(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    base = sessions(rng, 12, right=0.5, err=0.3)
    b, o = decode_dir(tmp_path, "mt", base), decode_dir(tmp_path, "ours", base)
    exp = tmp_path / "exp"
    md = exp / "multitalker" / "report.md"
    res = CliRunner().invoke(report_main, [str(md), f"septds={o}", f"mtrnnt={b}"])
    assert res.exit_code == 0, res.output
    text = md.read_text()
    assert "| septds | test |" in text and "| mtrnnt | test |" in text and "Against MT-RNN-T" in text
    assert "turns matched / unmatched ref / unmatched hyp" in text and "at most 2.0 s apart" in text
    got = read_claims(exp)  # what stage 99 puts at the top of RESULTS.md
    assert [c.paper for c in got] == ["+4.6% abs. vs MT-RNN-T", "17% rel. WER gain vs MT-RNN-T"]
    assert all(c.held is None for c in got)  # the same decodes: nothing to decide
    res = CliRunner().invoke(report_main, [str(exp / "alone" / "report.md"), f"septds={o}"])
    assert res.exit_code == 0, res.output
    alone = json.loads((exp / "alone" / "claims.json").read_text())
    assert [(c["ours"], c["held"]) for c in alone] == [("–", None)] * 2
    assert "MT-RNN-T was not decoded" in alone[0]["note"]
