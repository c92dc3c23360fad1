"""Multi-talker data: sessions from the tiny demo corpus (determinism, at most two talkers,
overlap range, supervisions vs sources, rendered audio with one background and one room, features),
the stage CLI, and channel targets."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from lhotse import CutSet, load_manifest

from local import make_sessions
from local.make_sessions import (
    Acoustics,
    acoustics_rng,
    render_session,
    render_split,
    speech_mask,
)
from local.make_sessions import main as make_sessions_main
from local.session_plan import (
    TRAIN_CONF,
    PlannedTurn,
    SessionConf,
    build_sessions,
    plan_session,
    speaker_pools,
    to_mixed_cut,
)
from steps.data.features import FbankConf, _extractor
from steps.data.text import normalize_text
from steps.data.tokenizer import Tokenizer
from steps.multitalker.targets import (
    EOT_ID,
    SOT_ID,
    assign_channels,
    cut_targets,
    make_targets,
    num_encoder_frames,
)
from steps.multitalker.turns import Turn, max_concurrent, overlap_stats, session_info, spans, turns_from_cut
from steps.utils import FairstreamError, StageDir
from tests.conftest import run_step

# the tiny dev split has 4 speakers x 3 utterances (~30 s): shorter sessions, several passes
TINY_EVAL = SessionConf(min_duration=8.0, max_duration=20.0, passes=3)
DIGITAL_SILENCE = float(np.log(np.finfo(np.float32).eps))  # kaldi fbank of an all-zero frame


@pytest.fixture(scope="module")
def sources(tiny_fbank: Path) -> dict[str, CutSet]:
    return {s: load_manifest(tiny_fbank / f"cuts_{s}.jsonl.gz").to_eager() for s in ("train", "dev")}


@pytest.fixture(scope="module")
def sessions(sources: dict[str, CutSet]) -> dict[str, list]:
    """The session plans (MixedCuts of source utterances)."""
    return {
        "dev": build_sessions(sources["dev"], TINY_EVAL, 3, "dev"),
        "train": build_sessions(sources["train"], TRAIN_CONF, 3, "train"),
    }


@pytest.fixture(scope="module")
def rendered(sessions: dict[str, list], tmp_path_factory: pytest.TempPathFactory) -> list:
    """The dev plans rendered (audio, fbank) into a directory of their own."""
    d = tmp_path_factory.mktemp("rendered")
    return render_split(StageDir(d, d, "-"), "dev", sessions["dev"], TINY_EVAL, 3, FbankConf(), 1)


def test_sessions_are_deterministic(sources: dict[str, CutSet], sessions: dict[str, list]) -> None:
    again = build_sessions(sources["dev"], TINY_EVAL, 3, "dev")
    assert [c.to_dict() for c in again] == [c.to_dict() for c in sessions["dev"]]
    shuffled = CutSet.from_cuts(reversed(list(sources["dev"])))  # input order does not matter
    assert [c.to_dict() for c in build_sessions(shuffled, TINY_EVAL, 3, "dev")] == [
        c.to_dict() for c in sessions["dev"]
    ]
    other = build_sessions(sources["dev"], TINY_EVAL, 4, "dev")
    assert [c.to_dict() for c in other] != [c.to_dict() for c in sessions["dev"]]


def test_sessions_shape_and_never_more_than_two_talkers(sessions: dict[str, list]) -> None:
    for split, conf in (("dev", TINY_EVAL), ("train", TRAIN_CONF)):
        infos = [session_info(c) for c in sessions[split]]
        assert len(infos) >= 3, split
        for c, i in zip(sessions[split], infos, strict=True):
            assert i["max_talkers"] <= 2, c.id
            assert 0.0 <= i["overlap_ratio"] <= conf.max_overlap + 1e-9, c.id
            assert conf.min_speakers <= i["speakers"] <= conf.max_speakers, c.id
            assert conf.min_duration <= i["duration"] <= conf.max_duration, c.id
            assert i["turns"] >= conf.min_turns and (not conf.max_turns or i["turns"] <= conf.max_turns)
            # a speaker never overlaps themselves
            for spk in {t.speaker for t in turns_from_cut(c)}:
                assert max_concurrent(spans(t for t in turns_from_cut(c) if t.speaker == spk)) == 1
        assert any(i["overlap_ratio"] > 0.05 for i in infos), f"{split}: no session overlaps"
    assert any(session_info(c)["speakers"] == 1 for c in sessions["train"])
    assert any(session_info(c)["speakers"] == 2 for c in sessions["train"])


def test_two_talker_limit_holds_under_aggressive_overlap(sources: dict[str, CutSet]) -> None:
    """Many plans with a high overlap target, no lead time and up to 4 speakers."""
    conf = SessionConf(
        min_duration=4.0, max_duration=30.0, min_speakers=2, max_speakers=4, min_overlap=0.8,
        max_overlap=0.95, min_lead=0.0, min_pause=0.0, max_pause=0.1,
    )  # fmt: skip
    seen = 0
    for seed in range(40):
        pools = speaker_pools(sources["train"], "train")
        plan = plan_session(random.Random(seed), pools, conf)
        if plan is None:
            continue
        iv = [(t.start, t.end) for t in plan[0]]
        assert max_concurrent(iv) <= 2, iv
        assert overlap_stats(iv)["ratio"] <= 0.95 + 1e-9
        seen += 1
    assert seen >= 20


def test_too_few_speakers_is_one_line_error(sources: dict[str, CutSet]) -> None:
    with pytest.raises(FairstreamError, match="4 speaker\\(s\\), but sessions need at least 5"):
        build_sessions(sources["dev"], SessionConf(min_speakers=5, max_speakers=5), 1, "dev")
    with pytest.raises(FairstreamError, match="min_duration"):
        build_sessions(sources["dev"], SessionConf(min_duration=30, max_duration=20), 1, "dev")


def test_supervisions_match_source_texts(sources: dict[str, CutSet], sessions: dict[str, list]) -> None:
    for split in ("dev", "train"):
        src = {c.id: c for c in sources[split]}
        split_speakers = {c.supervisions[0].speaker for c in sources[split]}
        used_per_pass: dict[str, list[str]] = {}
        for c in sessions[split]:
            offsets = {t.cut.id: t.offset for t in c.tracks[1:]}
            for s in c.supervisions:
                ids = s.custom["source_ids"]
                used_per_pass.setdefault(c.id.split("-")[1], []).extend(ids)
                assert s.text == " ".join(src[i].supervisions[0].text for i in ids)
                assert {src[i].supervisions[0].speaker for i in ids} == {s.speaker}
                assert s.speaker in split_speakers
                meta = {k: v for k, v in s.custom.items() if k not in ("source_ids", "source_offsets")}
                assert meta == src[ids[0]].supervisions[0].custom and meta["accent"]
                assert s.custom["source_offsets"] == [offsets[i] for i in ids]
                assert s.start == pytest.approx(offsets[ids[0]])
                assert s.end == pytest.approx(offsets[ids[-1]] + src[ids[-1]].duration)
                assert all(offsets[a] < offsets[b] for a, b in zip(ids, ids[1:], strict=False))
        for ids in used_per_pass.values():
            assert len(ids) == len(set(ids)), "an utterance is used twice in one pass"
    dev_spk = {s.speaker for c in sessions["dev"] for s in c.supervisions}
    train_spk = {s.speaker for c in sessions["train"] for s in c.supervisions}
    assert dev_spk and not dev_spk & train_spk


def _pause_mask(cut, n: int, rate: int, tail: float = 0.0) -> np.ndarray:
    """Units (samples or frames at ``rate`` per second) outside every turn, and ``tail`` seconds
    after a turn's end."""
    inside = np.zeros(n, dtype=bool)
    for t in turns_from_cut(cut):
        inside[round(t.start * rate) : round((t.end + tail) * rate)] = True
    return ~inside


def test_rendered_sessions_have_a_background_in_their_pauses(
    sessions: dict[str, list], rendered: list
) -> None:
    extractor = _extractor(FbankConf())
    pauses = 0
    for plan, c in zip(sessions["dev"], rendered, strict=True):
        assert c.id == plan.id and c.recording.id == c.id and c.duration == pytest.approx(plan.duration)
        want = sorted(plan.supervisions, key=lambda s: (s.start, s.end, s.id))
        assert [s.to_dict() for s in c.supervisions] == [s.to_dict() for s in want]
        assert set(c.custom) == {"noise", "snr_db", "rt60"} and TINY_EVAL.min_snr_db <= c.custom["snr_db"]
        audio = c.load_audio()[0]
        f = c.load_features()
        assert f.shape == (c.num_frames, 80) and c.num_frames == round(c.duration * 100)
        assert np.isfinite(f).all()
        # the stored features are the fbank of the stored audio (lilcom's rounding apart)
        assert np.abs(extractor.extract(audio, 16000) - f).max() < 0.1
        pause = _pause_mask(c, len(f), 100)
        pauses += int(pause.sum())
        if pause.sum() >= 5:
            # not digital silence: the session's noise runs through its pauses, frame to frame
            level = f[pause].mean(axis=1)  # brown noise at 25 dB leaves the high bands near silence
            assert level.min() > DIGITAL_SILENCE + 1 and level.mean() > DIGITAL_SILENCE + 2, c.id
            assert level.std() > 0
            assert np.abs(audio[_pause_mask(c, len(audio), 16000)]).max() > 0
    assert pauses > 50, "no pauses in the tiny sessions: the test would prove little"


def test_render_session_snr_counts_speech_over_the_turns(sessions: dict[str, list]) -> None:
    """White noise and no room: the power over the turns against the power in the pauses is
    speech + noise against noise, i.e. 10 log10(10^(SNR/10) + 1) dB."""
    plan = max(sessions["dev"], key=lambda p: _pause_mask(p, round(p.duration * 100), 100).sum())
    for snr in (5.0, 20.0):
        x = render_session(plan, Acoustics("white", snr, 0.0), np.random.default_rng(0)).astype(np.float64)
        speech = speech_mask(plan, len(x))
        got = 10 * np.log10(np.mean(x[speech] ** 2) / np.mean(x[~speech] ** 2))
        assert got == pytest.approx(10 * np.log10(10 ** (snr / 10) + 1), abs=0.5), snr


def test_render_session_room_leaves_a_tail(sources: dict[str, CutSet]) -> None:
    """One utterance, then a second of nothing: the room's tail fills the start of that second."""
    utt = next(iter(sources["dev"]))
    plan = to_mixed_cut("room", [PlannedTurn(utt.supervisions[0].speaker, 0.5, [(utt, 0.5)])],
                        round(0.5 + utt.duration + 1.0, 2))  # fmt: skip
    end = round((0.5 + utt.duration) * 16000)
    tail = {}
    for rt60 in (0.0, 0.5):
        x = render_session(plan, Acoustics("white", 80.0, rt60), np.random.default_rng(1)).astype(np.float64)
        tail[rt60] = np.mean(x[end : end + 1600] ** 2) / np.mean(x[8000:end] ** 2)
    assert tail[0.0] < 1e-6 and tail[0.5] > 1e3 * tail[0.0]


def test_rendering_is_deterministic(
    sessions: dict[str, list], rendered: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same seed, same bytes: twice in a row, and in two worker processes instead of one."""
    plan = sessions["dev"][0]
    sound = Acoustics("babble", 10.0, 0.3)
    a = render_session(plan, sound, acoustics_rng(3, plan.id))
    b = render_session(plan, sound, acoustics_rng(3, plan.id))
    assert a.dtype == np.int16 and np.array_equal(a, b)
    monkeypatch.setattr(make_sessions, "RENDER_SHARD", 2)
    out = StageDir(tmp_path, tmp_path, "-")
    again = render_split(out, "dev", sessions["dev"], TINY_EVAL, 3, FbankConf(), num_jobs=2)
    for x, y in zip(rendered, again, strict=True):
        audio = [Path(c.recording.sources[0].source).read_bytes() for c in (x, y)]
        assert audio[0] == audio[1]
        assert x.custom == y.custom
        np.testing.assert_array_equal(x.load_features(), y.load_features())


def test_make_sessions_cli(
    tiny_fbank: Path, tmp_path: Path, sessions: dict[str, list], rendered: list
) -> None:
    conf = tmp_path / "sessions.yaml"
    conf.write_text("eval:\n  min_duration: 8.0\n  max_duration: 20.0\n  passes: 3\n")
    out = tmp_path / "sessions"
    args = ["--conf", conf, "--seed", "3", "--splits", "train,dev", "-j", "1", tiny_fbank, out]
    run_step("local.make_sessions", *args)
    assert (out / ".done").is_file() and (out / "config.yaml").is_file()
    assert not (out.parent / "sessions.partial").exists()
    stats = json.loads((out / "stats.json").read_text())
    for split in ("train", "dev"):
        cuts = list(load_manifest(out / f"sessions_{split}.jsonl.gz"))
        assert [c.id for c in cuts] == [c.id for c in sessions[split]]
        for c in cuts:  # recordings and features live in OUT_DIR, not in its partial directory
            src = Path(c.recording.sources[0].source)
            assert src.is_file() and src.parent == out / "audio" / split
            assert Path(c.features.storage_path).parent == out
        if split == "dev":  # what render_split made of the same plans elsewhere
            for c, r in zip(cuts, rendered, strict=True):
                assert c.supervisions == r.supervisions and c.custom == r.custom
                np.testing.assert_array_equal(c.load_features(), r.load_features())
        st = stats[split]
        assert st["sessions"] == len(cuts) and st["max_talkers"] <= 2
        assert st["hours"] == pytest.approx(sum(c.duration for c in cuts) / 3600, abs=1e-4)
        assert sum(st["speakers_per_session"].values()) == len(cuts)
        assert 0 <= st["overlap_ratio"]["min"] <= st["overlap_ratio"]["max"]
        assert st["snr_db"]["min"] >= 5.0 and st["rt60"]["max"] <= 0.6
        assert sum(st["noise"].values()) == len(cuts)
    before = (out / "sessions_dev.jsonl.gz").stat().st_mtime_ns
    rerun = CliRunner().invoke(make_sessions_main, [str(a) for a in args])
    assert rerun.exit_code == 0, rerun.output  # complete with the same config: nothing to do
    assert (out / "sessions_dev.jsonl.gz").stat().st_mtime_ns == before
    bad = tmp_path / "bad.yaml"
    bad.write_text("eval:\n  min_speakers: 5\n  max_speakers: 5\n")
    res = CliRunner().invoke(
        make_sessions_main, ["--conf", str(bad), "--splits", "dev", str(tiny_fbank), str(tmp_path / "x")]
    )
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1] == "ERROR: dev: 4 speaker(s), but sessions need at least 5"
    assert not (tmp_path / "x").exists()
    assert "Usage" in CliRunner().invoke(make_sessions_main, ["--help"]).output


# ---- targets -----------------------------------------------------------------------------------
def test_assign_channels_first_free_channel() -> None:
    turns = [Turn(0, 3), Turn(1, 2), Turn(2.5, 4), Turn(3, 5), Turn(6, 7), Turn(2, 2.4)]
    # sorted: (0,3)->0, (1,2)->1, (2,2.4)->1, (2.5,4)->1, (3,5)->0 (free at 3), (6,7)->0
    assert assign_channels(turns) == [0, 1, 1, 0, 0, 1]
    assert assign_channels([Turn(0, 1), Turn(1, 2)]) == [0, 0]  # touching turns share a channel
    with pytest.raises(FairstreamError, match="at most 2 talkers"):
        assign_channels([Turn(0, 3), Turn(1, 3), Turn(2, 3)])
    assert assign_channels([Turn(0, 3), Turn(1, 3), Turn(2, 3)], num_channels=3) == [0, 1, 2]


def test_make_targets_frames_and_tokens() -> None:
    turns = [Turn(0.0, 1.0, "a b"), Turn(0.5, 2.0, "c"), Turn(2.1, 3.0, "d e f")]
    tg = make_targets(turns, lambda s: [10 + ord(w) - ord("a") for w in s.split()], num_frames=70)
    c0, c1 = tg.channels
    assert c0.tokens == [SOT_ID, 10, 11, EOT_ID, SOT_ID, 13, 14, 15, EOT_ID]
    assert c1.tokens == [SOT_ID, 12, EOT_ID]
    assert c0.sot_frames == [0, 52] and c0.eot_frames == [24, 69]  # 3.0 s -> frame 74, clipped
    assert c1.sot_frames == [12] and c1.eot_frames == [49]
    assert c0.sot_positions == [0, 4] and c0.eot_positions == [3, 8]
    assert num_encoder_frames(401) == 101 and num_encoder_frames(400) == 100
    # MT-RNN-T: the same channels and turn frames, the words alone
    plain = make_targets(turns, lambda s: [10 + ord(w) - ord("a") for w in s.split()], num_frames=70,
                         turn_tokens=False)  # fmt: skip
    assert plain.channels[0].tokens == [10, 11, 13, 14, 15] and plain.channels[1].tokens == [12]
    assert [ch.sot_frames for ch in plain.channels] == [[0, 52], [12]]
    assert [ch.eot_frames for ch in plain.channels] == [[24, 69], [49]]
    assert plain.channels[0].sot_positions == []


def test_turn_tokens_options() -> None:
    from steps.multitalker.task import MultitalkerOptions

    assert MultitalkerOptions().turn_tokens
    with pytest.raises(FairstreamError, match="latency_weight > 0 needs turn tokens"):
        MultitalkerOptions(latency_weight=0.1, turn_tokens=False)


def test_session_targets(sessions: dict[str, list], tiny_lang: Path) -> None:
    tok = Tokenizer(tiny_lang / "bpe.model")
    both_used = 0
    for c in sessions["dev"] + sessions["train"][:10]:
        tg = cut_targets(c, tok)
        assert tg.num_frames == -(-c.num_frames // 4) and tg.frame_stride == pytest.approx(0.04)
        all_turns = tg.turns
        assert len(all_turns) == len(c.supervisions)
        # overlapping turns are on different channels
        for i, a in enumerate(all_turns):
            for b in all_turns[i + 1 :]:
                if min(a.end, b.end) - max(a.start, b.start) > 1e-6:
                    assert a.channel != b.channel, (a, b)
        both_used += int(all(ch.turns for ch in tg.channels))
        for ch in tg.channels:
            n = len(ch.turns)
            assert ch.tokens.count(SOT_ID) == ch.tokens.count(EOT_ID) == n
            # <sot> w... <eot> groups, never nested, never empty
            pos_s, pos_e = ch.sot_positions, ch.eot_positions
            assert all(s < e for s, e in zip(pos_s, pos_e, strict=True))
            assert all(e + 1 == s for e, s in zip(pos_e, pos_s[1:], strict=False))
            assert (not ch.tokens) or (ch.tokens[0] == SOT_ID and ch.tokens[-1] == EOT_ID)
            for t, s, e in zip(ch.turns, pos_s, pos_e, strict=True):
                assert e - s > 1
                assert tok.decode(ch.tokens[s + 1 : e]) == normalize_text(t.text)
            # frames: sot <= eot <= next sot, inside the session
            frames = [f for pair in zip(ch.sot_frames, ch.eot_frames, strict=True) for f in pair]
            assert frames == sorted(frames) and all(0 <= f < tg.num_frames for f in frames)
            for t in ch.turns:
                assert abs(t.sot_frame * 0.04 - t.start) < 0.04 + 1e-9
                assert abs((t.eot_frame + 1) * 0.04 - t.end) < 0.04 + 1e-9 or t.eot_frame == tg.num_frames - 1
    assert both_used >= 1  # overlap actually exercises channel 1
