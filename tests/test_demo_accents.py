"""L2-English accents of the demo corpus: sound substitutions in English phonemes, their synthesis."""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from local.demo import accents, acoustics
from local.demo.accents import ENGLISH_PHONEMES, L1_RULES, accent, tokenize
from local.demo.geography import REGIONS
from tests.conftest import REPO

# One hand-worked English phoneme string per first language and what strength 1 makes of it;
# each string gives every rule of its L1 something to change.
CASES = {
    "hi": ("T'INk D@ st'oUn w'0z v'Eri b'eIZ", "t['INk d[@ Ist'o:n v#'0dZ v#'E*i b'e:dZ"),
    "es": (
        "T'INk D@2 v'Eri h'0t S'Ugi r'Vn st'0p Iz br'VD3r-",
        "t'i:Nk d@2 b'E*i x'0t tS'u:gi R'aan Est'0p i:s b*'aad3*",
    ),
    "de": (
        "w'ID D@ dZ'Vmp r'Ed b'ad g'eIm h'oUm l'Iv",
        "v'Is z@ tS'aamp Q\"'Et b'Et g'e:m h'o:m l'If",
    ),
    "fr": ("h'oUm T'INk D@ r'Ed tS'3:tS g'Ud", "'o:m s'i:Nk z@ Q\"'Ed S'3:S g'u:d"),
    "pt": (
        "T'INk D@2 r'Ed m'Ilk st'0p b'Ig b'Uk",
        "tS'i:Nki d@2 x'EdZi m'i:Uki ist'0pi b'i:gi b'u:ki",
    ),
    "pl": ("T'INk D@ b'ad h'Ed r'eIz sIN", "f'i:Nk d@ b'Et x'Et R'eIs si:Nk"),
    "vi": ("T'INk D@2 p'Vt S'Ip dZ'0b b'Vl m'0m", "t'i:Nk z@2 p'Vt s'i:p dZ'0p b'V m'0m"),
}
TEXT = "set a timer for twenty five minutes and play some jazz in the kitchen"


def test_every_l1_has_a_case_and_a_region() -> None:
    l2 = {r.l1: r for r in REGIONS if r.l1}
    assert set(CASES) == set(L1_RULES) == set(l2)
    for l1, r in l2.items():
        assert r.accent == f"{l1}-en" and r.voice in ("en", "en-us"), r


@pytest.mark.parametrize("l1", sorted(CASES))
def test_strength_zero_changes_nothing(l1: str) -> None:
    english, _ = CASES[l1]
    assert accent(english, l1, 0.0, random.Random(0)) == english


@pytest.mark.parametrize("l1", sorted(CASES))
def test_strength_one_applies_every_rule(l1: str, monkeypatch: pytest.MonkeyPatch) -> None:
    english, expected = CASES[l1]
    assert accent(english, l1, 1.0, random.Random(0)) == expected
    # and each rule matters: without it the result differs
    rules = L1_RULES[l1]
    for i, rule in enumerate(rules):
        monkeypatch.setitem(L1_RULES, l1, rules[:i] + rules[i + 1 :])
        assert accent(english, l1, 1.0, random.Random(0)) != expected, rule.what


def test_strength_is_a_per_occurrence_probability() -> None:
    english = " ".join(["v'Eri"] * 400)
    out = tokenize(accent(english, "es", 0.4, random.Random(3)))
    share = out.count("b") / (out.count("b") + out.count("v"))
    assert 0.3 < share < 0.5


def _table_names(name: str) -> set[str]:
    """Phoneme names of espeak-ng table ``name`` and the tables it inherits (from ``phontab``)."""
    import espeakng_loader

    data = (Path(espeakng_loader.get_data_path()) / "phontab").read_bytes()
    tables, p = [], 4
    for _ in range(data[0]):
        n, includes = data[p], data[p + 1]
        title = data[p + 4 : p + 36].split(b"\0")[0].decode()
        p += 36
        names = set()
        for k in range(n):
            (mnemonic,) = struct.unpack_from("<I", data, p + 16 * k)
            names.add(mnemonic.to_bytes(4, "little").rstrip(b"\0").decode("latin-1"))
        tables.append((title, includes, names - {""}))
        p += 16 * n
    by_title = {t: (inc, names) for t, inc, names in tables}
    out: set[str] = set()
    while True:
        includes, names = by_title[name]
        out |= names
        if not includes:
            return out
        name = tables[includes - 1][0]


def test_inventory_is_espeaks_english_table() -> None:
    reserved = {"_\x01", "1"}  # espeak-ng's unused control code and tone languages' default tone
    assert ENGLISH_PHONEMES == _table_names("en") - reserved == _table_names("en-us") - reserved
    assert not _table_names("es") >= {"I", "i:", "V", "@2"}  # why L1 voices cannot read English


@pytest.mark.parametrize("l1", sorted(CASES))
def test_output_uses_only_english_phonemes(l1: str) -> None:
    for rule in L1_RULES[l1]:
        assert set(rule.sub) <= ENGLISH_PHONEMES, rule.what
        assert {s for v in rule.sub.values() for s in v} <= ENGLISH_PHONEMES, rule.what
    english, _ = CASES[l1]
    for seed in range(5):
        out = accent(english + " " + CASES["es"][0], l1, 1.0, random.Random(seed))
        assert set(tokenize(out)) - {" "} <= ENGLISH_PHONEMES


@pytest.fixture(scope="module")
def tts():
    from local.demo.espeak import Espeak

    return Espeak()


def _speech_seconds(x: np.ndarray, sr: int) -> float:
    return len(acoustics.trim_silence(x.astype(np.float32) / 32768.0, sr)) / sr


def test_english_phonemes_of_text(tts) -> None:
    assert tts.phonemes("the weather in seattle", "en-us") == "D@2 w'ED3r- In si:;'at#@L"


@pytest.mark.parametrize("l1", sorted(CASES))
def test_l2_utterance_has_plausible_length(tts, l1: str) -> None:
    voice = next(r.voice for r in REGIONS if r.l1 == l1) + "+m2"
    native = tts.synth(TEXT, voice, 170, 40, 50)
    said = accents.accent(tts.phonemes(TEXT, voice), l1, 1.0, random.Random(0))
    l2 = tts.synth(said, voice, 170, 40, 50, phonemes=True)
    ratio = _speech_seconds(l2, tts.sample_rate) / _speech_seconds(native, tts.sample_rate)
    assert 0.6 < ratio < 1.6, ratio
    assert np.abs(l2).max() > 1000 and not np.array_equal(l2[: len(native)], native[: len(l2)])


_SNIPPET = """
import hashlib
from local.demo.corpus import DemoConf, synth_utterance
from local.demo.espeak import Espeak
from local.demo.speakers import make_speakers
conf = DemoConf(16, 4, 4, 1, 1, 1, seed=7)
tts = Espeak()
for s in [s for s in make_speakers(7, {"train": 16, "dev": 4, "test": 4}) if s.l1][:3]:
    audio, info = synth_utterance(tts, s, s.id + "-0000", conf)
    print(s.l1, s.l2_strength, hashlib.sha256(audio.tobytes()).hexdigest(), info["text"])
"""


def test_l2_synthesis_is_identical_in_fresh_processes() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    runs = [
        subprocess.run(
            [sys.executable, "-c", _SNIPPET], cwd=REPO, env=env, capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    ]
    assert len(runs[0].splitlines()) == 3 and runs[0] == runs[1]


def test_l2_strength_per_speaker() -> None:
    from local.demo.speakers import make_speakers

    speakers = make_speakers(42, {"train": 240, "dev": 64, "test": 64})
    l2 = [s.l2_strength for s in speakers if s.l1]
    assert all(s.l2_strength == 0.0 for s in speakers if not s.l1)
    assert all(0.5 <= x <= 0.9 for x in l2) and max(l2) - min(l2) > 0.3
    assert l2 == [s.l2_strength for s in make_speakers(42, {"train": 240, "dev": 64, "test": 64}) if s.l1]
