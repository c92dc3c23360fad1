"""Stage 1 on the tiny demo corpus: valid manifests, metadata, disjoint splits, determinism."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from lhotse import load_manifest

from local.demo import acoustics
from local.demo.geography import REGIONS
from local.demo.speakers import make_speakers
from tests.conftest import REPO, run_step

SPLITS = ("train", "dev", "test")
META = (
    "speaker",
    "gender",
    "accent",
    "country",
    "region",
    "lat",
    "lon",
    "zip",
    "zip_income",
    "zip_urbanicity",
    "zip_age",
    "zip_home_language",
)


def test_manifests_pass_lhotse_validate(tiny_manifests: Path) -> None:
    lhotse_cli = Path(sys.executable).parent / "lhotse"
    for split in SPLITS:
        for kind in ("recordings", "supervisions", "cuts"):
            p = tiny_manifests / f"{kind}_{split}.jsonl.gz"
            args = [str(lhotse_cli), "validate", str(p)] + (
                ["--read-data"] if kind == "cuts" else []
            )
            proc = subprocess.run(args, capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr


def test_metadata_on_every_supervision(tiny_manifests: Path) -> None:
    for split in SPLITS:
        cuts = load_manifest(tiny_manifests / f"cuts_{split}.jsonl.gz")
        assert len(cuts) > 0
        for c in cuts:
            assert 1.0 <= c.duration <= 8.0
            assert set(c.custom) >= {"snr_db", "noise", "rt60", "domain"}
            (s,) = c.supervisions
            assert s.text and s.text == s.text.upper()
            assert s.gender in ("m", "f") and s.speaker == s.custom["speaker"]
            assert all(k in s.custom and s.custom[k] is not None for k in META), s.custom
            assert -90 <= s.custom["lat"] <= 90 and -180 <= s.custom["lon"] <= 180


def test_splits_have_disjoint_speakers(tiny_manifests: Path) -> None:
    spk = {
        split: {
            c.supervisions[0].speaker
            for c in load_manifest(tiny_manifests / f"cuts_{split}.jsonl.gz")
        }
        for split in SPLITS
    }
    assert (
        not (spk["train"] & spk["dev"])
        and not (spk["train"] & spk["test"])
        and not (spk["dev"] & spk["test"])
    )


def test_audio_is_16k_and_finite(tiny_manifests: Path) -> None:
    cuts = load_manifest(tiny_manifests / "cuts_dev.jsonl.gz")
    for c in cuts:
        a = c.load_audio()
        assert c.sampling_rate == 16000 and a.shape == (1, c.num_samples)
        assert np.isfinite(a).all() and 0.01 < np.abs(a).max() <= 1.0


def test_same_seed_gives_identical_manifests(tiny_manifests: Path, tmp_path: Path) -> None:
    # a different job count must not matter either
    again = tmp_path / "manifests"
    run_step(
        "local.prepare_demo",
        "--conf",
        REPO / "conf/demo.yaml",
        "--size",
        "tiny",
        "--seed",
        "7",
        "-j",
        "1",
        again,
    )
    for split in SPLITS:
        for kind in ("recordings", "supervisions", "cuts"):
            a = gzip.decompress((tiny_manifests / f"{kind}_{split}.jsonl.gz").read_bytes())
            b = gzip.decompress((again / f"{kind}_{split}.jsonl.gz").read_bytes())
            # paths differ by directory only
            assert a.replace(str(tiny_manifests).encode(), b"X") == b.replace(
                str(again).encode(), b"X"
            )
    s1 = sorted((tiny_manifests / "audio").rglob("*.flac"))
    s2 = sorted((again / "audio").rglob("*.flac"))
    assert [p.name for p in s1] == [p.name for p in s2]
    assert all(p.read_bytes() == q.read_bytes() for p, q in zip(s1, s2, strict=True))
    # what matched includes L2 speakers (English phonemes with first-language substitutions)
    l2_accents = {f"{r.l1}-en" for r in REGIONS if r.l1}
    speakers = {
        c.supervisions[0].speaker
        for split in SPLITS
        for c in load_manifest(again / f"cuts_{split}.jsonl.gz")
        if c.supervisions[0].custom["accent"] in l2_accents
    }
    assert len(speakers) >= 2
    assert any(p.parent.name in speakers for p in s2)


def test_rerun_is_noop(tiny_manifests: Path) -> None:
    proc = run_step(
        "local.prepare_demo",
        "--conf",
        REPO / "conf/demo.yaml",
        "--size",
        "tiny",
        "--seed",
        "7",
        tiny_manifests,
    )
    assert "nothing to do" in proc.stderr
    proc = run_step(
        "local.prepare_demo",
        "--conf",
        REPO / "conf/demo.yaml",
        "--size",
        "tiny",
        "--seed",
        "8",
        tiny_manifests,
        check=False,
    )
    assert proc.returncode == 1 and "different config" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_speaker_design_has_rare_training_accents() -> None:
    speakers = make_speakers(42, {"train": 960, "dev": 128, "test": 128})  # the default sizes
    train = [s.region for s in speakers if s.split == "train"]
    test = [s.region for s in speakers if s.split == "test"]
    assert {r.name for r in REGIONS} == set(train) == set(test)
    share = {r.name: train.count(r.name) / len(train) for r in REGIONS}
    assert max(share["vietnam"], share["poland"]) < 0.03 < share["us_midwest"]
    assert max(test.count(r.name) for r in REGIONS) - min(test.count(r.name) for r in REGIONS) <= 1
    genders = [s.gender for s in speakers if s.split == "train"]
    assert genders.count("f") == genders.count("m")
    for split in ("dev", "test"):  # accent and gender are not confounded: both genders in every region
        for r in REGIONS:
            got = [s.gender for s in speakers if s.split == split and s.region == r.name]
            assert abs(got.count("f") - got.count("m")) <= 1 and len(got) == 8, (split, r.name, got)


@pytest.mark.parametrize("kind", acoustics.NOISE_KINDS)
def test_noise_is_mixed_at_the_requested_snr(kind: str) -> None:
    rng = np.random.default_rng(0)
    x = np.sin(np.arange(16000) * 0.05)
    noise = acoustics.make_noise(rng, len(x), kind, 16000)
    y = acoustics.add_noise(x, noise, 10.0)
    snr = 10 * np.log10(np.mean(x**2) / np.mean((y - x) ** 2))
    assert abs(snr - 10.0) < 1e-6


def test_verification_speakers_are_their_own_and_leave_the_others_as_they_were() -> None:
    """The "sv" split draws after the others: adding it changes no train/dev/test speaker, and its
    speakers are new, spread evenly over the regions, with both genders in each."""
    base = make_speakers(42, {"train": 48, "dev": 16, "test": 16})
    more = make_speakers(42, {"train": 48, "dev": 16, "test": 16, "sv": 64})
    assert more[: len(base)] == base
    sv = [s for s in more if s.split == "sv"]
    assert len(sv) == 64 and not {s.id for s in sv} & {s.id for s in base}
    for r in REGIONS:
        got = [s.gender for s in sv if s.region == r.name]
        assert len(got) == 4 and got.count("f") == 2, (r.name, got)
