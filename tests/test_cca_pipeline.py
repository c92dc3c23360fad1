"""CCA Transformer end to end: a tiny train + decode, the stage-9 benchmark on tiny untrained
models, and the report's comparisons (closest in compute, verdicts, difficulty lines)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from tests.conftest import run_step
from tests.test_cca import SMALL
from tests.test_transducer import TINY_TRAIN

pytestmark = pytest.mark.usefixtures("one_thread")


# ---- (g) a tiny train + decode ------------------------------------------------------------------
def test_tiny_train_and_decode(tiny_fbank: Path, tiny_lang: Path, tmp_path: Path) -> None:
    from steps.nnet.checkpoint import LATEST, load_checkpoint
    from steps.nnet.task import Task
    from steps.nnet.transducer import Transducer
    from steps.utils import seed_everything

    conf = yaml.safe_load(TINY_TRAIN.format(steps=3, every=100))
    enc_conf = {k: v for k, v in SMALL.items() if k != "num_features"}
    conf["model"] = {**conf["model"], "encoder": "cca", "encoder_conf": {**enc_conf, "gate_bias": 1.0}}
    conf["num_threads"] = 1
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(conf))
    exp = tmp_path / "exp"
    run_step("steps.train_transducer", tiny_fbank, exp, "--conf", path, "--lang-dir", tiny_lang)
    assert json.loads((exp / "train_stats.json").read_text())["steps"] == 3
    ck = load_checkpoint(exp / LATEST)
    seed_everything(conf["seed"])  # the trainer's initial weights
    init = Transducer.from_conf(Task().model_conf(conf["model"]), ck["vocab_size"]).state_dict()
    moved = [
        k for k in init if k.startswith("encoder.arbitrators.") and not torch.equal(init[k], ck["model"][k])
    ]
    assert moved  # the gates were trained
    out = tmp_path / "decode"
    run_step("steps.decode_transducer", exp, tiny_fbank, out, "--splits", "test", "--chunk-ms", "200")
    metrics = json.loads((out / "metrics.json").read_text())["test"]
    assert metrics["streaming"] is True and math.isfinite(metrics["wer"]) and metrics["num_utts"] > 0


# ---- (h) the benchmark --------------------------------------------------------------------------
def _fake_model_dir(root: Path, name: str, encoder: str, enc_conf: dict, lang: Path) -> Path:
    """An untrained model in the trainer's checkpoint format, marked complete."""
    from steps.data.tokenizer import Tokenizer
    from steps.nnet.checkpoint import LATEST, save_checkpoint
    from steps.nnet.transducer import ModelConf, Transducer
    from steps.utils import file_digest

    d = root / name
    d.mkdir()
    model_conf = {"encoder": encoder, "encoder_conf": enc_conf, "predictor_dim": 16, "joiner_dim": 16}
    torch.manual_seed(0)
    vocab = Tokenizer(lang / "bpe.model").vocab_size
    model = Transducer.from_conf(ModelConf(**model_conf), vocab)
    digest = file_digest(lang / "bpe.model")
    save_checkpoint(d / LATEST, {"model": model.state_dict(), "model_conf": model_conf,
                                 "vocab_size": vocab, "bpe_digest": digest})  # fmt: skip
    (d / "config.yaml").write_text(yaml.safe_dump({"lang_dir": str(lang), "model": model_conf}))
    (d / ".done").write_text("x\n")
    return d


LM_SEARCH = {"method": "modified_beam_lm", "beam": 16, "lm_scale": 0.7, "lodr_scale": 0.7}


def _fake_decode_dir(
    root: Path, name: str, model_dir: Path, wers: dict[str, float], fbank: Path | None = None, extra: int = 0
) -> Path:
    """A finished decode (``LM_SEARCH``); with ``fbank``, also its ``cuts_<split>`` with per-utterance
    errors (utterance i: 1 + (i + extra) % 3 substitutions in 10 reference words)."""
    from lhotse import CutSet

    from steps.data.manifests import load_cuts

    d = root / f"decode_{name}"
    d.mkdir()
    (d / "config.yaml").write_text(yaml.safe_dump({"model_dir": str(model_dir), "avg": 1}))
    (d / "metrics.json").write_text(json.dumps({s: {"wer": w, **LM_SEARCH} for s, w in wers.items()}))
    for split in wers if fbank is not None else ():
        cuts = list(load_cuts(fbank, split))
        for i, cut in enumerate(cuts):
            sup = cut.supervisions[0]
            sup.custom = {**(sup.custom or {}), "ref_len": 10, "ins": 0, "del": 0, "sub": 1 + (i + extra) % 3}
        CutSet.from_cuts(cuts).to_file(d / f"cuts_{split}.jsonl.gz")
    (d / ".done").write_text("x\n")
    return d


def test_bench_cca_on_tiny_untrained_models(tiny_fbank: Path, tiny_lang: Path, tmp_path: Path) -> None:
    from steps.bench_cca import main
    from steps.reports.claims import read_claims

    base = {**SMALL, "num_features": 80, "left_context": 40}
    sw_conf = {k: v for k, v in base.items() if k != "left_context"} | {"window": 2}
    ref = _fake_model_dir(tmp_path, "transformer", "cca", {**base, "gated": False}, tiny_lang)
    cca = _fake_model_dir(tmp_path, "cca", "cca", {**base, "gate_bias": 0.0}, tiny_lang)
    sw = _fake_model_dir(tmp_path, "sw", "sliding_window", sw_conf, tiny_lang)
    pruned = _fake_model_dir(tmp_path, "pruned", "sliding_window", {**sw_conf, "drop_ffn": 1}, tiny_lang)
    ref_dec = _fake_decode_dir(tmp_path, "transformer", ref, {"dev": 40.0, "test": 50.0}, tiny_fbank)
    cca_dec = _fake_decode_dir(tmp_path, "cca", cca, {"dev": 44.0, "test": 55.0}, tiny_fbank, extra=1)
    pruned_dec = _fake_decode_dir(
        tmp_path, "pruned", pruned, {"dev": 45.0, "test": 56.0}, tiny_fbank, extra=2
    )
    out = tmp_path / "bench"
    args = [str(tiny_fbank), "--model", f"transformer={ref_dec}", "--model", f"cca={cca_dec}",
            "--model", f"sw={sw}", "--decode", f"sw={_fake_decode_dir(tmp_path, 'sw', sw, {'test': 60.0})}",
            "--model", f"pruned={pruned_dec}",
            "--reference", "transformer", "--max-utts", "4", "--out-json", str(out / "r.json"),
            "--report-md", str(out / "report.md"), "--plot", str(out / "plot.png")]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "| model | kind | split |" in res.output
    data = json.loads((out / "r.json").read_text())["models"]
    assert [data[n]["kind"] for n in ("transformer", "cca", "sw", "pruned")] == [
        "dense", "cca", "sliding_window", "sliding_window"
    ]  # fmt: skip
    for split in ("dev", "test"):
        r, c, s, p = (data[n]["splits"][split] for n in ("transformer", "cca", "sw", "pruned"))
        assert r["utts"] == 4 and r["compute_saved"] == 0 and r["skip_mha"] == 0
        assert 0 < c["skip_mha"] < 1 and 0 < c["skip_ffn"] < 1 and c["compute_saved"] > 0
        assert s["compute_saved"] > 0 and s["skip_mha"] == 0  # a shorter window: fewer keys
        assert p["compute_saved"] > s["compute_saved"]  # and no FFN in the top layer
        assert c["wall_ms_per_second"] > 0 and r["flops_per_second"] > c["flops_per_second"]
        assert set(c["per_accent"]) and sum(v["utts"] for v in c["per_accent"].values()) == 4
        assert set(c["per_snr"]) <= {"<10", "10-20", ">=20", "unknown"}
        u = c["utterances"]
        assert len(u["id"]) == 4 and set(u) >= {
            "speaker",
            "accent",
            "snr_bin",
            "flops",
            "dense_flops",
            "errors",
        }
        assert all(f < d for f, d in zip(u["flops"], u["dense_flops"], strict=True))
        lo, hi = c["rel_wer_ci"]  # per-utterance errors of both decodes: a paired interval
        assert lo <= (sum(u["errors"]) / sum(r["utterances"]["errors"]) - 1) <= hi
        assert s["rel_wer_ci"] is None and s["utterances"]["errors"] == [None] * 4  # no decode cuts
    assert data["cca"]["splits"]["test"]["rel_wer_change"] == pytest.approx(0.1)
    assert data["cca"]["splits"]["dev"]["rel_wer_change"] == pytest.approx(0.1)
    assert data["sw"]["splits"]["test"]["rel_wer_change"] == pytest.approx(0.2)
    assert data["sw"]["splits"]["dev"]["rel_wer_change"] is None  # its decode has no dev WER
    md = (out / "report.md").read_text()
    assert "| cca | cca | test | 4 |" in md and "per accent" in md and "](plot.png)" in md
    assert "At equal compute (test)" in md and "Does skipping depend on difficulty (test)?" in md
    assert "window_W_drop_M_F" in md
    assert (out / "plot.png").read_bytes()[:4] == b"\x89PNG"
    (claim,) = read_claims(tmp_path)  # bench/claims.json, next to report.md
    assert claim.system == "CCA Transformer" and claim.ours.startswith("cca: ")
    assert "rel. test WER (modified_beam_lm (beam 16), LM 0.7, LODR 0.7) vs transformer" in claim.ours
    assert "; WERs: modified_beam_lm (beam 16), LM 0.7, LODR 0.7" in md  # the search, once for all
    bad = CliRunner().invoke(main, [str(tiny_fbank), "--model", f"cca={cca}", "--reference", "transformer"])
    assert bad.exit_code == 1 and "--reference 'transformer' is not one of" in bad.output
    bad = CliRunner().invoke(main, [str(tiny_fbank), "--model", f"cca={cca}", "--reference", "cca",
                                    "--splits", "dev", "--compare-split", "test"])  # fmt: skip
    assert bad.exit_code == 1 and "--compare-split 'test' is not one of --splits 'dev'" in bad.output


def test_convergence_note_flags_an_unusable_reference() -> None:
    from steps.reports.cca import convergence_note

    ok = {"full": {"splits": {"dev": {"wer": 12.0}, "test": {"wer": 13.5}}}}
    bad = {"full": {"splits": {"dev": {"wer": 91.0}, "test": {"wer": 30.0}}}}
    assert convergence_note(ok, "full") == ""
    note = convergence_note(bad, "full")
    assert "not converged" in note and "(WER dev 91.0%)" in note  # test (30%) is usable: not listed


# ---- (i) the report's comparisons -----------------------------------------------------------------
def _model(
    kind: str, saved: float, rel: float | None = None, ci: list[float] | None = None, **utts: list
) -> dict:
    split = {"compute_saved": saved, "rel_wer_change": rel, "rel_wer_ci": ci, "wer": 20.0}
    if utts:
        split["utterances"] = utts
    return {"kind": kind, "splits": {"test": split}}


def test_closest_in_compute() -> None:
    from steps.reports.cca import closest_in_compute

    results = {
        "full": _model("dense", 0.0),
        "cca_0.1": _model("cca", 0.42),
        "window_8": _model("sliding_window", 0.03),
        "window_8_drop_4_6": _model("sliding_window", 0.58),
        "window_8_drop_2_3": _model("sliding_window", 0.30),
    }
    assert closest_in_compute(results, "test", "sliding_window", 0.42) == "window_8_drop_2_3"
    assert closest_in_compute(results, "test", "sliding_window", 0.50) == "window_8_drop_4_6"
    assert closest_in_compute(results, "test", "sliding_window", 0.0) == "window_8"
    assert closest_in_compute(results, "test", "cca", 0.6) == "cca_0.1"
    assert closest_in_compute(results, "dev", "cca", 0.6) is None  # no such split
    assert closest_in_compute(results, "test", "conformer", 0.6) is None  # no such kind
    tie = {"a": _model("sliding_window", 0.2), "b": _model("sliding_window", 0.4)}
    assert closest_in_compute(tie, "test", "sliding_window", 0.3) == "a"  # first in order


@pytest.mark.parametrize(
    ("saved", "ci", "held"),
    [
        (0.62, [0.0, 0.025], True),  # about 60% saved, surely at most 3%
        (0.80, [0.0, 0.025], True),  # more saved still counts
        (0.58, [0.05, 0.09], False),  # about 60% saved, surely worse than 3%
        (0.40, [0.05, 0.09], False),  # less saved and already worse
        (0.60, [0.01, 0.05], None),  # the interval covers 3%
        (0.40, [0.0, 0.02], None),  # fine, but far from 60%
        (0.80, [0.05, 0.09], None),  # worse, but far beyond 60%
    ],
)
def test_cca_claim_verdict(saved: float, ci: list[float], held: bool | None) -> None:
    from steps.reports.cca import cca_claim

    results = {"full": _model("dense", 0.0), "cca_x": _model("cca", saved, sum(ci) / 2, ci)}
    claim = cca_claim(results, "full", "test")
    assert claim.held is held and claim.ours.startswith(f"cca_x: {100 * saved:.1f}% compute saved")
    assert ("covers 3%" in claim.note) == (held is None and abs(saved - 0.6) <= 0.05)
    results["full"]["splits"]["test"]["wer"] = 70.0  # an unconverged reference decides nothing
    assert cca_claim(results, "full", "test").held is None
    assert cca_claim({"full": _model("dense", 0.0)}, "full", "test").ours == "no CCA variant measured"


def _utts(n_spk: int, per: int, noisy_skip: float, clean_skip: float, seed: int = 0) -> dict[str, list]:
    rng = np.random.default_rng(seed)
    speakers = [f"s{i}" for i in range(n_spk) for _ in range(per)]
    snr = ["<10" if j % 2 else ">=20" for j in range(n_spk * per)]
    dense = rng.uniform(100, 200, size=n_spk * per)
    share = np.where([b == "<10" for b in snr], noisy_skip, clean_skip) + rng.normal(0, 0.01, n_spk * per)
    return {
        "id": [f"u{j}" for j in range(n_spk * per)],
        "speaker": speakers,
        "accent": ["en-us" if int(s[1:]) % 2 else "es-en" for s in speakers],
        "snr_bin": snr,
        "flops": list(dense * (1 - share)),
        "dense_flops": list(dense),
    }


def test_difficulty_lines_say_whether_skipping_follows_snr() -> None:
    from steps.reports.cca import difficulty_lines

    results = {
        "depends": _model("cca", 0.4, **_utts(20, 6, noisy_skip=0.30, clean_skip=0.50)),
        "flat": _model("cca", 0.4, **_utts(20, 6, noisy_skip=0.40, clean_skip=0.40)),
        "window": _model("sliding_window", 0.4),
    }
    lines = difficulty_lines(results, "test")
    depends = next(x for x in lines if x.startswith("- **depends**"))
    flat = next(x for x in lines if x.startswith("- **flat**"))
    assert "skipping **depends on SNR** (<10 dB utterances skip less)" in depends
    diff = float(re.search(r"<10 dB − >=20 dB: ([-+.\d]+) points", depends).group(1))
    assert diff == pytest.approx(-20.0, abs=1.0)  # 30% vs 50% skipped
    assert (
        "no evidence that skipping depends on SNR" in flat
        and "no evidence that skipping depends on accent" in flat
    )
    assert not any("window" in x for x in lines)
    constant = {
        "c": _model(
            "cca", 0.875, **{**_utts(4, 3, 0.5, 0.5), "flops": [50.0] * 12, "dense_flops": [100.0] * 12}
        )
    }
    assert "the arbitrators do not respond to the input" in difficulty_lines(constant, "test")[-1]


def test_equal_compute_lines_pair_each_cca_with_its_closest_window() -> None:
    from steps.reports.cca import equal_compute_lines

    base = _utts(10, 4, 0.4, 0.4)
    words = [10] * 40

    def with_errors(errs: list[int]) -> dict[str, list]:
        return {**base, "errors": errs, "ref_words": words}

    results = {
        "full": _model("dense", 0.0, **with_errors([2] * 40)),
        "cca_a": _model("cca", 0.55, 0.05, [0.0, 0.1], **with_errors([2] * 20 + [3] * 20)),
        "window_8": _model("sliding_window", 0.03, 0.0, [0.0, 0.0], **with_errors([2] * 40)),
        "window_8_drop_4_6": _model("sliding_window", 0.58, 0.5, [0.4, 0.6], **with_errors([3] * 40)),
    }
    (row,) = [x for x in equal_compute_lines(results, "test") if x.startswith("| cca_a")]
    assert "| window_8_drop_4_6 | 58.0 |" in row and "CCA better" in row
    results["window_8_drop_4_6"]["splits"]["test"]["compute_saved"] = 0.8
    (row,) = [x for x in equal_compute_lines(results, "test") if x.startswith("| cca_a")]
    assert "not at equal compute (25 points apart)" in row
    assert equal_compute_lines({"full": results["full"], "cca_a": results["cca_a"]}, "test") == []
