"""LibriMix and LibriCSS preparation on miniature copies in the real layouts, with bad items:
cuts, supervisions, skips, exclusions, resampling, fbank, no-op reruns and channel targets."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner, Result
from lhotse import load_manifest
from lhotse.utils import compute_num_frames

from local import prepare_libricss, prepare_librimix
from steps.data.text import normalize_text
from steps.data.tokenizer import LangConf, Tokenizer, train_bpe
from steps.multitalker.targets import EOT_ID, SOT_ID, cut_targets
from steps.multitalker.turns import max_concurrent, spans, turns_from_cut
from tests.conftest import REPO

SR = 16000
FBANK = str(REPO / "conf" / "fbank.yaml")


@pytest.fixture(autouse=True)
def _quiet_logging(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Records go to caplog; a marked no-op handler keeps setup_logging from binding a handler to
    CliRunner's temporary stderr."""
    root = logging.getLogger()
    h = logging.NullHandler()
    h._fairstream = True  # type: ignore[attr-defined]
    root.addHandler(h)
    caplog.set_level(logging.INFO)
    yield
    root.removeHandler(h)


def _tone(seconds: float, sr: int = SR, freq: float = 220.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _write(path: Path, data: np.ndarray, sr: int = SR, fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, sr, format=fmt)


def invoke(cmd: object, args: list[str]) -> Result:
    return CliRunner().invoke(cmd, [str(a) for a in args], catch_exceptions=False)  # type: ignore[arg-type]


def tokenizer_for(texts: list[str], tmp: Path) -> Tokenizer:
    """A tiny BPE model (the repo's trainer) over the fake transcripts."""
    tmp.mkdir(parents=True, exist_ok=True)
    return Tokenizer(train_bpe([normalize_text(t) for t in texts], tmp, LangConf(vocab_size=40)))


def check_targets(cuts: list, tok: Tokenizer) -> None:
    """Every session goes through cut_targets; each turn lands in one channel with its text."""
    for c in cuts:
        tg = cut_targets(c, tok)
        turns = [t for ch in tg.channels for t in ch.turns]
        assert len(turns) == len(c.supervisions), c.id
        for ch in tg.channels:
            assert ch.tokens.count(SOT_ID) == ch.tokens.count(EOT_ID) == len(ch.turns)
            words = [t for t in ch.tokens if t not in (SOT_ID, EOT_ID)]
            assert tok.sp.decode(words).split() == " ".join(normalize_text(t.text) for t in ch.turns).split()
        overlapping = max_concurrent(spans(turns_from_cut(c))) == 2
        assert (len(tg.channels[1].turns) > 0) == overlapping, c.id


class _Collect(logging.Handler):
    """Log lines of a module-scoped run (caplog is per test)."""

    _fairstream = True  # setup_logging then adds no stderr handler of its own

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


# ---- LibriMix -----------------------------------------------------------------------------------
# LibriSpeech utterances: id -> (seconds, transcript or None = no line in the trans.txt)
UTTS = {
    "19-198-0001": (1.2, "HELLO THERE WORLD"),
    "26-495-0002": (0.8, "A SHORT ONE"),
    "26-495-0003": (0.6, "GOOD MORNING"),
    "19-198-0004": (1.1, "THE SECOND MIXTURE"),
    "19-198-0005": (0.5, "MISSING MIXTURE AUDIO"),
    "26-495-0006": (0.5, "NOT USED"),
    "19-198-0007": (0.7, "SOURCE TWO HAS NO TEXT"),
    "26-495-0008": (0.7, None),
    "19-198-0009": (0.5, "CORRUPT MIXTURE"),
    "26-495-0010": (0.5, "CORRUPT TOO"),
    "19-198-0011": (0.9, "TRUNCATED MIXTURE"),
    "26-495-0012": (0.4, "TRUNCATED TOO"),
    "84-121-0001": (1.0, "DEV AT EIGHT KILOHERTZ"),
    "174-50-0002": (0.7, "DEV SECOND TALKER"),
    "61-70-0001": (0.9, "TEST FIRST TALKER"),
    "121-12-0002": (1.3, "TEST FLAC IS GONE"),
}
PART_OF = {"19": "train-clean-100", "26": "train-clean-100", "84": "dev-clean", "174": "dev-clean"}
PART_OF.update({"61": "test-clean", "121": "test-clean"})
MIXTURES = {
    "train-100": [
        "19-198-0001_26-495-0002",
        "26-495-0003_19-198-0004",
        "19-198-0005_26-495-0006",  # mixture wav missing
        "19-198-0007_26-495-0008",  # no transcript for source 2
        "19-198-0009_26-495-0010",  # mixture wav is garbage
        "19-198-0011_26-495-0012",  # metadata length disagrees with the file (truncated)
    ],
    "dev": ["84-121-0001_174-50-0002"],  # mixture written at 8 kHz
    "test": ["61-70-0001_121-12-0002"],  # LibriSpeech flac of source 2 missing: length from s2/
}


def make_mini_librimix(root: Path) -> tuple[Path, Path]:
    """Libri2Mix/wav16k/max with metadata CSVs and a LibriSpeech copy with the transcripts."""
    ls = root / "LibriSpeech"
    ls.mkdir(parents=True)
    (ls / "SPEAKERS.TXT").write_text(
        "; ID |SEX| SUBSET | MINUTES | NAME\n19 | F | train-clean-100 | 25.19 | Kara\n"
        "26 | M | train-clean-100 | 25.08 | Denny\n"
    )
    chapters: dict[Path, list[str]] = {}
    for i, (utt, (secs, text)) in enumerate(UTTS.items()):
        spk, chap, _ = utt.split("-")
        d = ls / PART_OF[spk] / spk / chap
        if utt != "121-12-0002":
            _write(d / f"{utt}.flac", _tone(secs, freq=200 + 20 * i), fmt="FLAC")
        lines = chapters.setdefault(d / f"{spk}-{chap}.trans.txt", [])
        if text is not None:
            lines.append(f"{utt} {text}")
    for f, lines in chapters.items():
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("".join(x + "\n" for x in lines))
    base = root / "Libri2Mix" / "wav16k" / "max"
    (base / "metadata").mkdir(parents=True)
    for part, mixes in MIXTURES.items():
        rows = []
        for mix in mixes:
            srcs = [_tone(UTTS[u][0], freq=300 + 50 * k) for k, u in enumerate(mix.split("_"))]
            n = max(len(s) for s in srcs)
            srcs = [np.pad(s, (0, n - len(s))) for s in srcs]
            paths = {}
            for k, s in enumerate(srcs, 1):
                paths[f"source_{k}_path"] = f"/gen/machine/Libri2Mix/wav16k/max/{part}/s{k}/{mix}.wav"
                _write(base / part / f"s{k}" / f"{mix}.wav", s)
            mix_path = base / part / "mix_clean" / f"{mix}.wav"
            length = n
            if mix == "19-198-0009_26-495-0010":
                mix_path.parent.mkdir(parents=True, exist_ok=True)
                mix_path.write_bytes(b"RIFF....not a wav file")
            elif mix == "84-121-0001_174-50-0002":
                _write(mix_path, (srcs[0] + srcs[1])[::2], sr=8000)
                length = n // 2
            elif mix == "19-198-0011_26-495-0012":
                _write(mix_path, (srcs[0] + srcs[1])[: n - 4000])
            elif mix != "19-198-0005_26-495-0006":
                _write(mix_path, srcs[0] + srcs[1])
            rows.append(
                {
                    "mixture_ID": mix,
                    "mixture_path": f"/gen/machine/Libri2Mix/wav16k/max/{part}/mix_clean/{mix}.wav",
                    **paths,
                    "length": length,
                }
            )
        with open(base / "metadata" / f"mixture_{part}_mix_clean.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return root / "Libri2Mix", ls


@pytest.fixture(scope="module")
def librimix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The preparer run once (with fbank) on the miniature copy; later tests read its output."""
    root = tmp_path_factory.mktemp("librimix")
    corpus, ls = make_mini_librimix(root)
    out = root / "sessions"
    args = [corpus, out, "--librispeech-dir", ls, "--fbank-conf", FBANK, "-j", "1"]
    handler = _Collect()
    logging.getLogger().addHandler(handler)
    try:
        res = invoke(prepare_librimix.main, args)
    finally:
        logging.getLogger().removeHandler(handler)
    assert res.exit_code == 0, res.output
    return {"root": root, "corpus": corpus, "ls": ls, "out": out, "args": args, "log": handler.lines}


def test_librimix_cuts_supervisions_and_texts(librimix: dict) -> None:
    out = librimix["out"]
    train = load_manifest(out / "sessions_train.jsonl.gz").to_eager()
    assert sorted(train.ids) == ["19-198-0001_26-495-0002", "26-495-0003_19-198-0004"]
    for c in train:
        assert c.recording.sources[0].source == str(
            librimix["corpus"] / "wav16k" / "max" / "train-100" / "mix_clean" / f"{c.id}.wav"
        )
        utts = c.id.split("_")
        assert c.duration == pytest.approx(max(UTTS[u][0] for u in utts), abs=1e-6)
        assert len(c.supervisions) == 2
        by_spk = {s.speaker: s for s in c.supervisions}
        for k, u in enumerate(utts, 1):
            s = by_spk[u.split("-")[0]]
            assert s.id == f"{c.id}-{k}" and s.custom["source_ids"] == [u]
            assert s.start == 0.0 and s.duration == pytest.approx(UTTS[u][0], abs=1e-6)
            assert s.text == UTTS[u][1]
        assert by_spk["19"].gender == "f" and by_spk["26"].gender == "m"
    # the LibriSpeech flac of 121-12-0002 is gone: its length comes from the padded s2 file
    (t,) = load_manifest(out / "sessions_test.jsonl.gz")
    assert {s.speaker: round(s.duration, 4) for s in t.supervisions} == {"61": 0.9, "121": 1.3}


def test_librimix_bad_items_are_skipped_counted_and_reported(librimix: dict) -> None:
    stats = json.loads((librimix["out"] / "stats.json").read_text())
    assert stats["train"]["skipped"] == {
        "bad_mixture_id": 0,
        "corrupt_audio": 1,
        "duplicate_mixture": 0,
        "length_mismatch": 1,
        "missing_audio": 1,
        "missing_source": 0,
        "missing_transcript": 1,
        "source_longer_than_mixture": 0,
    }
    assert stats["train"]["sessions"] == 2 and stats["train"]["supervisions"] == 4
    assert stats["train"]["max_talkers"] == 2 and stats["train"]["excluded_over_two_talkers"] == 0
    warn = [x for x in librimix["log"] if x.startswith("WARNING")]
    for mix, what in (
        ("19-198-0005_26-495-0006", "missing audio"),
        ("19-198-0007_26-495-0008", "no transcript for source 2"),
        ("19-198-0009_26-495-0010", "unreadable audio"),
        ("19-198-0011_26-495-0012", "truncated"),
    ):
        (line,) = [x for x in warn if mix in x]
        assert what in line


def test_librimix_wrong_rate_is_resampled_and_counted(librimix: dict) -> None:
    stats = json.loads((librimix["out"] / "stats.json").read_text())
    assert stats["dev"]["resampled"] == 1 and stats["train"]["resampled"] == 0
    assert stats["dev"]["resampled_files"][0].endswith("84-121-0001_174-50-0002.wav")
    (c,) = load_manifest(librimix["out"] / "sessions_dev.jsonl.gz")
    assert c.sampling_rate == SR and c.recording.transforms
    audio = c.load_audio()
    assert audio.shape == (1, c.num_samples) and c.num_samples == pytest.approx(SR * 1.0, abs=2)
    assert [x for x in librimix["log"] if "84-121-0001_174-50-0002" in x and "resampled to 16000" in x]


def test_librimix_fbank_frames_and_targets(librimix: dict) -> None:
    out = librimix["out"]
    cuts = [c for s in ("train", "dev", "test") for c in load_manifest(out / f"sessions_{s}.jsonl.gz")]
    assert len(cuts) == 4
    for c in cuts:
        feats = c.load_features()
        assert feats.shape == (compute_num_frames(c.duration, 0.01, SR), 80) == (c.num_frames, 80)
        assert np.isfinite(feats).all()
        assert Path(c.features.storage_path).parent == out
    assert not list(out.glob("cuts_*")) and not (out / "shards").exists()  # shard leftovers removed
    check_targets(cuts, tokenizer_for([t for _, t in UTTS.values() if t], librimix["root"] / "bpe"))


def test_librimix_rerun_is_noop(librimix: dict, caplog: pytest.LogCaptureFixture) -> None:
    out = librimix["out"]
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    res = invoke(prepare_librimix.main, librimix["args"])
    assert res.exit_code == 0
    assert any("nothing to do" in r.getMessage() for r in caplog.records)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_librimix_one_line_errors(tmp_path: Path, librimix: dict) -> None:
    ls = str(librimix["ls"])
    res = CliRunner().invoke(
        prepare_librimix.main, [str(tmp_path / "nope"), str(tmp_path / "o"), "--librispeech-dir", ls]
    )
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines() == [
        f"ERROR: LibriMix directory {tmp_path / 'nope'} does not exist"
    ]
    (tmp_path / "Libri2Mix" / "wav16k" / "min" / "metadata").mkdir(parents=True)
    res = CliRunner().invoke(
        prepare_librimix.main,
        [str(tmp_path / "Libri2Mix" / "wav16k" / "min"), str(tmp_path / "o"), "--librispeech-dir", ls],
    )
    assert res.exit_code == 1 and "'min' mode" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    empty_ls = tmp_path / "ls"
    empty_ls.mkdir()
    res = CliRunner().invoke(
        prepare_librimix.main,
        [str(librimix["corpus"]), str(tmp_path / "o"), "--librispeech-dir", str(empty_ls)],
    )
    assert res.exit_code == 1 and "has no train-clean-100" in res.stderr
    assert not (tmp_path / "o").exists()


# ---- LibriCSS -----------------------------------------------------------------------------------
# session dir -> (condition, rows (start, end, speaker, utterance id, text), recording seconds, rate)
SESSIONS = {
    "overlap_ratio_0.0_sil2.9_3.0_session0_actual0.0": (
        "0L",
        [
            (0.5, 1.5, "1089", "1089-134686-0000", "HE HOPED THERE WOULD BE STEW"),
            (2.0, 3.5, "121", "121-121726-0000", "ALSO A POPULAR CONTRIVANCE"),
        ],
        4.0,
        SR,
    ),
    "overlap_ratio_10.0_sil0.1_1.0_session1_actual10.1": (
        "OV10",
        [
            (0.213457, 2.004321, "1089", "1089-134686-0001", "STUFF IT INTO YOU"),
            (1.512345, 3.0, "2961", "2961-960-0000", "HE PASSES ABRUPTLY FROM PERSONS"),
            (3.1, 3.8, "121", "121-121726-0001", "HARANGUE THE TIRESOME PRODUCT"),
        ],
        4.0,
        SR,
    ),
    "overlap_ratio_40.0_sil0.1_1.0_session2_actual39.5": (  # three talkers at once 1.5-2.0 s
        "OV40",
        [
            (0.0, 2.0, "1089", "1089-134686-0002", "HELLO BERTIE ANY GOOD IN YOUR MIND"),
            (1.0, 3.0, "2961", "2961-960-0001", "NUMBER TEN FRESH NELLY IS WAITING"),
            (1.5, 2.5, "121", "121-121726-0002", "YOU WILL FIND ME CONTINUALLY SPEAKING"),
        ],
        3.5,
        SR,
    ),
    "overlap_ratio_20.0_sil0.1_1.0_session3_actual20.0": (  # raw_recording.wav missing
        "OV20",
        [(0.0, 1.0, "1089", "1089-134686-0003", "NO AUDIO HERE")],
        0.0,
        SR,
    ),
    "overlap_ratio_30.0_sil0.1_1.0_session4_actual29.7": (  # recorded at 32 kHz: resampled
        "OV30",
        [
            (0.125313, 1.635313, "2961", "2961-960-0002", "THE SECOND KIND OF RATE"),
            (1.2, 2.2, "1089", "1089-134686-0004", "A FASTER RECORDING"),
        ],
        2.5,
        32000,
    ),
}


def make_mini_libricss(root: Path) -> Path:
    """for_release/<condition>/<session>/{record/raw_recording.wav,transcription/meeting_info.txt}."""
    rel = root / "for_release"
    for i, (name, (cond, rows, secs, sr)) in enumerate(SESSIONS.items()):
        d = rel / cond / name
        (d / "transcription").mkdir(parents=True)
        lines = ["start_time\tend_time\tspeaker\tutterance_id\ttranscription"]
        lines += [f"{s:.6f}\t{e:.6f}\t{spk}\t{u}\t{t}" for s, e, spk, u, t in rows]
        (d / "transcription" / "meeting_info.txt").write_text("\n".join(lines) + "\n")
        if secs:
            # channel c holds a tone at its own frequency and level, so the chosen channel is visible
            chans = [_tone(secs, sr, freq=150 + 40 * c + 10 * i, amp=0.05 * (c + 1)) for c in range(7)]
            _write(d / "record" / "raw_recording.wav", np.stack(chans, axis=1), sr)
    # a session whose transcript lost a column
    bad = rel / "OV10" / "overlap_ratio_10.0_sil0.1_1.0_session5_actual10.0"
    (bad / "transcription").mkdir(parents=True)
    (bad / "transcription" / "meeting_info.txt").write_text(
        "start_time\tend_time\tspeaker\tutterance_id\ttranscription\n0.5\t1.0\t1089\tBROKEN LINE\n"
    )
    _write(bad / "record" / "raw_recording.wav", np.zeros((SR, 7), dtype=np.float32))
    return rel


@pytest.fixture(scope="module")
def libricss(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("libricss")
    rel = make_mini_libricss(root)
    out = root / "sessions"
    args = [root, out, "--dev-sessions", "session0", "--fbank-conf", FBANK, "-j", "1"]
    handler = _Collect()
    logging.getLogger().addHandler(handler)
    try:
        res = invoke(prepare_libricss.main, args)
    finally:
        logging.getLogger().removeHandler(handler)
    assert res.exit_code == 0, res.output
    return {"root": root, "rel": rel, "out": out, "args": args, "log": handler.lines}


def test_libricss_sessions_times_texts_and_channel(libricss: dict) -> None:
    out = libricss["out"]
    dev = load_manifest(out / "sessions_dev.jsonl.gz").to_eager()
    test = load_manifest(out / "sessions_test.jsonl.gz").to_eager()
    assert list(dev.ids) == ["0L_session0"]
    assert sorted(test.ids) == ["OV10_session1", "OV30_session4"]
    for c in [*dev, *test]:
        name = next(n for n in SESSIONS if c.id == f"{SESSIONS[n][0]}_{n.split('_')[5]}")
        _, rows, secs, _ = SESSIONS[name]
        assert c.duration == pytest.approx(secs, abs=1e-6) and c.channel == 0
        got = [(s.start, s.end, s.speaker, s.custom["utterance_id"], s.text) for s in c.supervisions]
        assert [(round(a, 6), round(b, 6), *rest) for a, b, *rest in got] == rows
    # channel 0 of the 7-channel file, not a mix of channels
    c = dev[0]
    ref, _ = sf.read(libricss["rel"] / "0L" / next(iter(SESSIONS)) / "record" / "raw_recording.wav")
    np.testing.assert_allclose(c.load_audio()[0], ref[:, 0], atol=1e-4)


def test_libricss_three_talkers_excluded_and_bad_sessions_counted(libricss: dict) -> None:
    stats = json.loads((libricss["out"] / "stats.json").read_text())
    t = stats["test"]
    assert t["excluded_over_two_talkers"] == 1
    assert t["excluded_sessions"] == {"OV40_session2": {"max_talkers": 3, "seconds_over_limit": 0.5}}
    assert t["skipped"]["missing_audio"] == 1 and t["skipped"]["bad_transcript"] == 1
    assert sum(t["skipped"].values()) == 2 and sum(stats["dev"]["skipped"].values()) == 0
    assert t["max_talkers"] == 2 and t["sessions"] == 2 and stats["dev"]["sessions"] == 1
    warn = [x for x in libricss["log"] if x.startswith("WARNING")]
    assert len([x for x in warn if "OV40_session2" in x and "3 talkers at once" in x]) == 1
    assert len([x for x in warn if "OV20_session3" in x and "missing audio" in x]) == 1
    assert len([x for x in warn if "OV10_session5" in x and "expected 5 tab-separated columns" in x]) == 1
    assert any("1 excluded" in x for x in libricss["log"])


def test_libricss_resampled_fbank_and_targets(libricss: dict) -> None:
    out = libricss["out"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["test"]["resampled"] == 1 and "session4" in stats["test"]["resampled_files"][0]
    cuts = [c for s in ("dev", "test") for c in load_manifest(out / f"sessions_{s}.jsonl.gz")]
    ov30 = next(c for c in cuts if c.id == "OV30_session4")
    assert ov30.sampling_rate == SR and ov30.load_audio().shape == (1, int(2.5 * SR))
    for c in cuts:
        assert c.load_features().shape == (compute_num_frames(c.duration, 0.01, SR), 80) == (c.num_frames, 80)
    texts = [r[4] for _, rows, _, _ in SESSIONS.values() for r in rows]
    check_targets(cuts, tokenizer_for(texts, libricss["root"] / "bpe"))


def test_libricss_rerun_is_noop(libricss: dict, caplog: pytest.LogCaptureFixture) -> None:
    out = libricss["out"]
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    res = invoke(prepare_libricss.main, libricss["args"])
    assert res.exit_code == 0 and any("nothing to do" in r.getMessage() for r in caplog.records)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_libricss_without_fbank_and_errors(tmp_path: Path, libricss: dict) -> None:
    out = tmp_path / "nofbank"
    res = invoke(prepare_libricss.main, [libricss["rel"], out, "--no-fbank", "--conditions", "0L,OV30,OV40"])
    assert res.exit_code == 0, res.output
    cuts = load_manifest(out / "sessions_test.jsonl.gz").to_eager()  # OV40 excluded; no dev split
    assert sorted(cuts.ids) == ["0L_session0", "OV30_session4"]
    assert not (out / "sessions_dev.jsonl.gz").exists()
    for c in cuts:
        assert not c.has_features and c.has_recording and c.sampling_rate == SR
        assert c.load_audio().shape == (1, round(c.duration * SR))
    assert cuts["OV30_session4"].recording.transforms  # the 32 kHz file is resampled on load
    res = CliRunner().invoke(prepare_libricss.main, [str(tmp_path / "nope"), str(tmp_path / "o")])
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines() == [
        f"ERROR: LibriCSS directory {tmp_path / 'nope'} does not exist"
    ]
    res = CliRunner().invoke(
        prepare_libricss.main,
        [str(libricss["rel"]), str(tmp_path / "o"), "--conditions", "OV40", "--no-fbank"],
    )
    assert res.exit_code == 1 and "no usable sessions for the test split" in res.stderr
    assert not (tmp_path / "o").exists()
