"""VoxCeleb1 preparation on a miniature corpus in the real layout, with bad items and trials."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
from click.testing import CliRunner
from lhotse import load_manifest

from local import prepare_voxceleb
from steps import make_trials

META = (
    "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\n"
    "id10001\tA.J._Buckley\tm\tIreland\tdev\n"
    "id10002\tA.R._Rahman\tm\tIndia\tdev\n"
    "id10270\tZac_Efron\tm\tUSA\ttest\n"
    "id10271\tZachary_Levi\tf\tUSA\ttest\n"
)


def _wav(path: Path, seconds: float = 1.0, sr: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, 0.2 * np.sin(2 * np.pi * 180 * t), sr)


def make_mini_voxceleb(root: Path) -> Path:
    vox = root / "VoxCeleb1"
    vox.mkdir(parents=True)
    (vox / "vox1_meta.csv").write_text(META)
    for spk in ("id10001", "id10002", "id10270", "id10271"):
        for sess in ("sessA", "sessB"):
            _wav(vox / "wav" / spk / sess / "00001.wav", 1.2)
    (vox / "wav" / "id10001" / "sessA" / "00002.wav").write_bytes(b"not a wav at all")
    _wav(vox / "wav" / "id10002" / "sessA" / "00002.wav", sr=8000)
    _wav(vox / "wav" / "id99999" / "sessA" / "00001.wav")  # speaker missing from the metadata
    (vox / "veri_test2.txt").write_text(
        "1 id10270/sessA/00001.wav id10270/sessB/00001.wav\n"
        "0 id10270/sessA/00001.wav id10271/sessA/00001.wav\n"
        "1 id10271/sessA/00001.wav id10271/sessB/00001.wav\n"
        "0 id10271/sessB/00001.wav id10270/sessB/00001.wav\n"
        "0 id10271/sessB/00001.wav id10270/sessZ/00009.wav\n"  # not in the corpus
    )
    return vox


def test_prepares_manifests_and_kaldi_trials(tmp_path: Path) -> None:
    vox = make_mini_voxceleb(tmp_path)
    out = tmp_path / "manifests"
    res = CliRunner().invoke(prepare_voxceleb.main, [str(vox), str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    train = load_manifest(out / "cuts_train.jsonl.gz")
    test = load_manifest(out / "cuts_test.jsonl.gz")
    assert sorted(train.ids) == [
        "id10001-sessA-00001",
        "id10001-sessB-00001",
        "id10002-sessA-00001",
        "id10002-sessB-00001",
    ]
    assert len(test) == 4
    c = test["id10271-sessA-00001"]
    custom = c.supervisions[0].custom
    assert c.supervisions[0].speaker == "id10271" and custom["gender"] == "f" and custom["country"] == "USA"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["skipped"] == {"corrupt_audio": 1, "wrong_sample_rate": 1, "unknown_speaker": 1}
    assert stats["trials"]["unknown_utterance"] == 1 and stats["trials"]["trials"] == 5
    lines = (out / "trials_voxceleb1_o").read_text().splitlines()
    assert lines[0] == "id10270-sessA-00001 id10270-sessB-00001 target"
    assert lines[1].endswith(" nontarget")
    # the official list is adopted by make_trials; the unknown trial is counted again there
    res = CliRunner().invoke(
        make_trials.main, ["--given", str(out / "trials_voxceleb1_o"), str(out), str(tmp_path / "trials")]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "trials" / "summary.json").read_text())
    assert summary["unknown_utterance"] == 1 and summary["target"] == 2 and summary["nontarget"] == 3


def test_missing_trials_is_one_line_error(tmp_path: Path) -> None:
    vox = make_mini_voxceleb(tmp_path)
    (vox / "veri_test2.txt").unlink()
    res = CliRunner().invoke(prepare_voxceleb.main, [str(vox), str(tmp_path / "m")])
    assert res.exit_code == 1
