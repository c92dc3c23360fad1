"""LibriSpeech preparation on a miniature corpus in the real layout, with bad items."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
from lhotse import load_manifest

from tests.conftest import run_step


def _flac(path: Path, seconds: float = 1.0, sr: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), sr, format="FLAC")


def make_mini_librispeech(root: Path) -> Path:
    """train-clean-100, dev-clean and test-clean with two good utterances per chapter."""
    ls = root / "LibriSpeech"
    (ls).mkdir(parents=True)
    (ls / "SPEAKERS.TXT").write_text(
        "; ID |SEX| SUBSET | MINUTES | NAME\n"
        "19 | F | train-clean-100 | 25.19 | Kara\n"
        "84 | M | dev-clean | 8.02 | Christie\n"
        "61 | M | test-clean | 8.0 | Paul\n"
    )
    for part, spk, chap in (
        ("train-clean-100", "19", "198"),
        ("dev-clean", "84", "121123"),
        ("test-clean", "61", "70968"),
    ):
        d = ls / part / spk / chap
        lines = []
        for i in range(2):
            utt = f"{spk}-{chap}-{i:04d}"
            _flac(d / f"{utt}.flac", 1.0 + 0.5 * i)
            lines.append(f"{utt} HELLO WORLD NUMBER {i}")
        (d / f"{spk}-{chap}.trans.txt").write_text("\n".join(lines) + "\n")
    return ls


def test_prepares_same_manifest_names(tmp_path: Path) -> None:
    ls = make_mini_librispeech(tmp_path)
    out = tmp_path / "manifests"
    run_step("local.prepare_librispeech", ls, out)
    for split in ("train", "dev", "test"):
        cuts = load_manifest(out / f"cuts_{split}.jsonl.gz")
        assert len(cuts) == 2
        c = cuts[0]
        assert c.id == c.supervisions[0].id and c.supervisions[0].text.startswith("HELLO WORLD")
        assert c.load_audio().shape[1] == c.num_samples
    train = load_manifest(out / "cuts_train.jsonl.gz")
    assert {c.supervisions[0].gender for c in train} == {"f"}


def test_bad_items_are_reported_skipped_and_counted(tmp_path: Path) -> None:
    ls = make_mini_librispeech(tmp_path)
    d = ls / "train-clean-100" / "19" / "198"
    (d / "19-198-0002.flac").write_bytes(b"garbage, not flac")
    _flac(d / "19-198-0003.flac", sr=8000)
    _flac(d / "19-198-0004.flac")
    with open(d / "19-198.trans.txt", "a") as f:
        f.write(
            "19-198-0002 CORRUPT AUDIO\n19-198-0003 WRONG RATE\n19-198-0004\n19-198-0005 NO AUDIO\n"
        )
    out = tmp_path / "manifests"
    proc = run_step("local.prepare_librispeech", ls, out)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["train"]["skipped"] == {
        "empty_transcript": 1,
        "missing_audio": 1,
        "corrupt_audio": 1,
        "wrong_sample_rate": 1,
    }
    assert stats["train"]["utterances"] == 2
    for utt, what in (
        ("19-198-0002", "unreadable"),
        ("19-198-0003", "8000 Hz"),
        ("19-198-0004", "empty transcript"),
        ("19-198-0005", "missing audio"),
    ):
        (line,) = [x for x in proc.stderr.splitlines() if utt in x]
        assert what in line


def test_nonexistent_corpus_path_is_one_line(tmp_path: Path) -> None:
    proc = run_step("local.prepare_librispeech", tmp_path / "nope", tmp_path / "m", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"ERROR: LibriSpeech directory {tmp_path / 'nope'} does not exist"
    ]
    (tmp_path / "empty").mkdir()
    proc = run_step("local.prepare_librispeech", tmp_path / "empty", tmp_path / "m", check=False)
    assert proc.returncode == 1 and "has none of the LibriSpeech parts" in proc.stderr
    assert not (tmp_path / "m").exists()
