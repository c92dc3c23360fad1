"""Stages 2 and 3: fbank shape and finiteness, resume by shard, BPE ids and round trips."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from lhotse import load_manifest

from steps.data.tokenizer import Tokenizer
from steps.utils import FairstreamError
from steps.utils.stage import partial_dir
from tests.conftest import REPO, run_step


def test_features_finite_with_right_shape(tiny_fbank: Path, tiny_manifests: Path) -> None:
    for split in ("train", "dev", "test"):
        cuts = load_manifest(tiny_fbank / f"cuts_{split}.jsonl.gz")
        assert len(cuts) == len(load_manifest(tiny_manifests / f"cuts_{split}.jsonl.gz"))
        for c in cuts:
            f = c.load_features()
            assert f.shape == (c.num_frames, 80)
            assert abs(c.num_frames - round(c.duration * 100)) <= 1
            assert np.isfinite(f).all()
            assert (
                str(tiny_fbank) in c.features.storage_path
                and ".partial" not in c.features.storage_path
            )
            assert c.supervisions[0].custom["accent"]  # metadata travels on


def test_kill_9_then_rerun_resumes(tiny_manifests: Path, tmp_path: Path) -> None:
    """A real ``kill -9`` of the step (and its workers) after its first finished shard."""
    conf = tmp_path / "fbank.yaml"
    conf.write_text(
        (REPO / "conf/fbank.yaml").read_text().replace("shard_size: 500", "shard_size: 2")
    )
    ref_dir = tmp_path / "ref"
    run_step("steps.compute_fbank", "--conf", conf, "-j", "1", tiny_manifests, ref_dir)
    ref = {c.id: c.load_features() for c in load_manifest(ref_dir / "cuts_train.jsonl.gz")}

    out = tmp_path / "fbank"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "steps.compute_fbank",
        "--conf",
        str(conf),
        "-j",
        "1",
        str(tiny_manifests),
        str(out),
    ]
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while not list(partial_dir(out).glob("cuts_*.*.jsonl.gz")) and time.time() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / ".done").exists()  # nothing a later stage would trust
    rerun = run_step("steps.compute_fbank", "--conf", conf, "-j", "1", tiny_manifests, out)
    assert "already finished" in rerun.stderr
    assert (out / ".done").is_file() and not partial_dir(out).exists()
    again = {c.id: c.load_features() for c in load_manifest(out / "cuts_train.jsonl.gz")}
    assert again.keys() == ref.keys()
    assert all(np.array_equal(again[i], ref[i]) for i in ref)


def test_unreadable_audio_is_skipped_and_counted(tiny_manifests: Path, tmp_path: Path) -> None:
    from lhotse import CutSet
    from lhotse.audio import AudioSource
    from lhotse.utils import fastcopy

    from steps.data.manifests import load_cuts
    from steps.utils.stage import stage_output

    bad_dir = tmp_path / "m"
    cuts = load_cuts(tiny_manifests, "dev").to_eager()
    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"not audio at all")
    first, rest = cuts[0], list(cuts)[1:]
    gone = [AudioSource(type="file", channels=[0], source=str(tmp_path / "nowhere.flac"))]
    missing = fastcopy(first, recording=fastcopy(first.recording, sources=gone))
    rec = fastcopy(
        rest[0].recording, sources=[AudioSource(type="file", channels=[0], source=str(broken))]
    )
    corrupt = fastcopy(rest[0], recording=rec)
    with stage_output(bad_dir, {"x": 1}) as d:
        CutSet.from_cuts([missing, corrupt, *rest[1:]]).to_file(d / "cuts_dev.jsonl.gz")
    proc = run_step("steps.compute_fbank", bad_dir, tmp_path / "fb")
    report = json.loads((tmp_path / "fb" / "report.json").read_text())
    assert report["dev"]["skipped"] == 2 and report["dev"]["cuts"] == len(cuts) - 2
    assert "skipped 2 cut(s)" in proc.stderr and first.id in proc.stderr


def test_bpe_ids_and_round_trip(tiny_lang: Path, tiny_manifests: Path) -> None:
    tok = Tokenizer(tiny_lang / "bpe.model")
    assert (tok.blank_id, tok.sot_id, tok.eot_id, tok.unk_id) == (0, 1, 2, 3)
    tokens = (tiny_lang / "tokens.txt").read_text().splitlines()
    assert tokens[:4] == ["<blk> 0", "<sot> 1", "<eot> 2", "<unk> 3"]
    from steps.data.manifests import load_cuts

    for c in load_cuts(tiny_manifests, "train"):
        text = c.supervisions[0].text
        ids = tok.encode(text)
        assert min(ids) > tok.unk_id and tok.decode(ids) == text
    turns = [
        tok.sot_id,
        *tok.encode("SET A TIMER"),
        tok.eot_id,
        tok.sot_id,
        *tok.encode("PLAY"),
        tok.eot_id,
    ]
    assert tok.decode(turns) == "SET A TIMER PLAY"
    assert tok.decode(turns, keep_turns=True) == "<sot> SET A TIMER <eot> <sot> PLAY <eot>"
    assert tok.sp.encode("<sot>", out_type=int)[-1] == tok.sot_id  # a user symbol, never split


def test_tokenizer_refuses_unknown_characters_and_empty_text(tiny_lang: Path) -> None:
    tok = Tokenizer(tiny_lang / "bpe.model")
    with pytest.raises(FairstreamError, match="cannot tokenize 'Ž'"):
        tok.encode("SET A TIMER Ž", where="dev/utt1")
    with pytest.raises(FairstreamError, match="dev/utt2: empty transcript"):
        tok.encode("  ", where="dev/utt2")
    with pytest.raises(FairstreamError, match="does not exist"):
        Tokenizer(tiny_lang / "nope.model")


def test_lang_reports_untokenizable_transcripts(tiny_manifests: Path, tmp_path: Path) -> None:
    from lhotse import CutSet

    from steps.data.manifests import load_cuts
    from steps.utils.stage import stage_output

    m = tmp_path / "m"
    with stage_output(m, {"x": 2}) as d:
        load_cuts(tiny_manifests, "train").to_file(d / "cuts_train.jsonl.gz")
        dev = load_cuts(tiny_manifests, "dev").to_eager()
        cuts = list(dev)
        cuts[0].supervisions[0].text = "TURN ON THE ÇAFÉ LIGHTS"
        CutSet.from_cuts(cuts).to_file(d / "cuts_dev.jsonl.gz")
    proc = run_step("steps.prepare_lang", m, tmp_path / "lang")
    report = json.loads((tmp_path / "lang" / "report.json").read_text())
    assert report["dev"]["unknown_char_utts"] == 1 and report["train"]["unknown_char_utts"] == 0
    assert cuts[0].id in proc.stderr and "Ç" in proc.stderr
