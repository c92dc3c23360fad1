"""Scoring: error counts and WER against hand-computed cases, report files."""

from __future__ import annotations

from pathlib import Path

import pytest
from lhotse import CutSet, MonoCut, SupervisionSegment

from steps.data.scoring import (
    error_counts,
    results_from_cuts,
    wer,
    wer_line,
    write_reports,
)
from steps.utils import FairstreamError


@pytest.mark.parametrize(
    ("ref", "hyp", "want"),
    [
        ("turn on the lights", "turn on the lights", (4, 0, 0, 0)),
        ("a b c", "a x c d", (3, 1, 0, 1)),  # one substitution, one insertion
        ("a b c", "", (3, 0, 3, 0)),
        ("", "a", (0, 1, 0, 0)),
        ("", "", (0, 0, 0, 0)),
        ("set a timer for ten minutes", "set timer for ten ten minutes", (6, 1, 1, 0)),
        ("play  Jazz\tmusic ", "PLAY JAZZ MUSIC", (3, 0, 0, 0)),  # normalised: case, spaces
        ("what's the weather", "whats the weather", (3, 0, 0, 1)),  # apostrophes are kept
    ],
)
def test_error_counts_hand_computed(ref: str, hyp: str, want: tuple[int, int, int, int]) -> None:
    assert error_counts(ref, hyp) == dict(zip(("ref_len", "ins", "del", "sub"), want, strict=True))


def test_wer_pools_errors_over_words_not_utterances() -> None:
    counts = [error_counts("a b c d", "a b c d"), error_counts("e", "f g")]  # 0/4 and 2/1
    assert wer(counts) == pytest.approx(2 / 5)
    assert wer([]) == 0.0
    assert wer_line(counts) == "%WER 40.00 [ 2 / 5, 1 ins, 0 del, 1 sub ]"


def test_reports_and_results_from_cuts(tmp_path: Path) -> None:
    rows = [("u2", "call mom now", "call tom now"), ("u1", "stop", ""), ("u3", "yes", "yes yes")]
    cuts = CutSet.from_cuts(
        MonoCut(
            id=uid,
            start=0,
            duration=1.0,
            channel=0,
            supervisions=[
                SupervisionSegment(
                    id=uid,
                    recording_id=uid,
                    start=0,
                    duration=1.0,
                    text=ref,
                    custom={"accent": "x", "hyp": hyp, **error_counts(ref, hyp)},
                )
            ],
        )
        for uid, ref, hyp in rows
    )
    results = results_from_cuts(cuts)
    assert [r.id for r in results] == ["u2", "u1", "u3"] and results[0].hyp == "call tom now"
    summary = write_reports(tmp_path, "dev", results)
    assert summary == {"wer": 60.0, "num_utts": 3, "num_words": 5, "errors": 3, "ins": 1, "del": 1, "sub": 1}
    assert (tmp_path / "wer-dev.txt").read_text().splitlines() == [
        "%WER 60.00 [ 3 / 5, 1 ins, 1 del, 1 sub ]",
        "%SER 100.00 [ 3 / 3 ]",
        "Scored 3 sentences.",
    ]
    errs = (tmp_path / "errs-dev.txt").read_text()
    assert errs.startswith(
        "%WER = 60.00\nErrors: 1 insertions, 1 deletions, 1 substitutions, over 5 reference"
    )
    assert "u1:\t(STOP->*)\nu2:\tCALL (MOM->TOM) NOW\nu3:\tYES (*->YES)\n" in errs
    assert "SUBSTITUTIONS: count ref -> hyp\n1   MOM -> TOM\n" in errs
    assert "DELETIONS: count ref\n1   STOP\n" in errs and "INSERTIONS: count hyp\n1   YES\n" in errs
    recogs = (tmp_path / "recogs-dev.txt").read_text().splitlines()
    assert recogs[:2] == ["u1:\tref=['STOP']", "u1:\thyp=[]"]
    with pytest.raises(FairstreamError, match="carries no 'hyp'"):
        results_from_cuts(_without_hyp(cuts))


def _without_hyp(cuts: CutSet) -> CutSet:
    def strip(s: SupervisionSegment) -> SupervisionSegment:
        custom = {k: v for k, v in s.custom.items() if k != "hyp"}
        return SupervisionSegment(s.id, s.recording_id, s.start, s.duration, text=s.text, custom=custom)

    return cuts.map_supervisions(strip)


