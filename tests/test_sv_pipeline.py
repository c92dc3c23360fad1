"""Stage 6 on the tiny demo corpus: train, resume, extract, score, evaluate, report."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from lhotse import load_manifest

from steps import (
    compute_eer,
    extract_embeddings,
    make_trials,
    report_sv,
    score_trials,
    train_speaker_embedder,
)
from steps.data.manifests import load_cuts
from steps.sv import embed_features, load_extractor
from steps.sv.data import FeatureBank
from steps.sv.extract import ExtractConf, extract_split
from steps.sv.train import SvTrainConf, SvTrainer
from steps.utils import FairstreamError, StageDir
from steps.utils.config import from_dict
from tests.conftest import run_step

TINY = {
    "model": {"channels": 32, "pool_channels": 64, "attention_dim": 16, "embed_dim": 32},
    "data": {"speakers_per_batch": 8, "utts_per_speaker": 2, "min_crop_frames": 60, "max_crop_frames": 100},
    "arw": {"variant": "none", "num_clusters": 3, "refit_every": 5},
    "seed": 3,
    "max_steps": 40,
    "am_fraction": 0.5,
    "lr": 0.005,
    "lr_warmup_steps": 5,
    "checkpoint_every": 10,
    "num_threads": 1,  # tiny batches: a second thread only adds overhead
}


def _conf(variant: str, **over: object) -> dict:
    c = json.loads(json.dumps(TINY))
    c["arw"]["variant"] = variant
    c.update(over)
    return c


@pytest.fixture(scope="module")
def sv_exp(tiny_fbank: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both tiny systems trained, embedded, scored and evaluated through the CLI steps."""
    exp = tmp_path_factory.mktemp("sv")
    cli(make_trials.main, "--split", "test", tiny_fbank, exp / "trials")
    # a trial naming an utterance that does not exist: must be counted, never dropped silently
    with open(exp / "trials" / "trials", "a") as f:
        f.write("no-such-utt " + (exp / "trials" / "trials").read_text().split()[0] + " nontarget\n")
    extract_yaml = exp / "extract.yaml"
    extract_yaml.write_text(yaml.safe_dump({"min_frames": 250, "num_threads": 1}))  # some cuts get padded
    trials = exp / "trials" / "trials"
    for v in ("none", "pairwise_sum"):
        conf = exp / f"{v}.yaml"
        conf.write_text(yaml.safe_dump(_conf(v)))
        cli(train_speaker_embedder.main, "--conf", conf, tiny_fbank, exp / v / "model")
        cli(
            extract_embeddings.main,
            "--model-dir",
            exp / v / "model",
            "--conf",
            extract_yaml,
            tiny_fbank,
            exp / v / "xvectors",
        )
        cli(
            score_trials.main,
            "--trials",
            trials,
            "--mean-norm-split",
            "train",
            exp / v / "xvectors",
            exp / v / "scores",
        )
        test_cuts = exp / v / "xvectors" / "cuts_test.jsonl.gz"
        cli(
            compute_eer.main,
            "--trials",
            trials,
            "--bootstrap",
            "20",
            "--min-group-trials",  # tiny: 2 test speakers per gender, 3 target trials each
            "2",
            "--cuts",
            test_cuts,
            exp / v / "scores",
            exp / v / "eer",
        )
    return exp


def cli(command: click.Command, *args: object) -> None:
    """Run a step in-process (the subprocess path is covered by the --help and error tests)."""
    res = CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output


def _cos(x: np.ndarray) -> np.ndarray:
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x @ x.T


def test_same_speaker_closer_after_a_few_steps(sv_exp: Path) -> None:
    cuts = load_manifest(sv_exp / "none" / "xvectors" / "cuts_train.jsonl.gz")
    emb = np.stack([c.load_custom("xvector") for c in cuts])
    spk = np.array([c.supervisions[0].speaker for c in cuts])
    sim = _cos(emb)
    same = (spk[:, None] == spk[None, :]) & ~np.eye(len(spk), dtype=bool)
    diff = spk[:, None] != spk[None, :]
    assert sim[same].mean() > sim[diff].mean() + 0.1
    # and for most utterances the nearest other utterance is the same speaker
    np.fill_diagonal(sim, -np.inf)
    assert np.mean(spk[sim.argmax(axis=1)] == spk) > 0.3  # chance: 3/63


def test_embeddings_written_and_loadable(sv_exp: Path, tiny_fbank: Path) -> None:
    out = sv_exp / "none" / "xvectors"
    report = json.loads((out / "report.json").read_text())
    extractor = load_extractor(sv_exp / "none" / "model")
    for split in ("train", "dev", "test"):
        src = load_cuts(tiny_fbank, split)
        cuts = load_manifest(out / f"cuts_{split}.jsonl.gz")
        assert len(cuts) == len(src) == report[split]["written"]
        for c, s in zip(cuts, src, strict=True):
            v = c.load_custom("xvector")
            assert v.shape == (32,) and np.isfinite(v).all()
            assert c.supervisions[0].custom == s.supervisions[0].custom  # metadata kept
    # short cuts were padded and counted; long ones equal the public API on the same features
    assert sum(report[s]["padded_short"] for s in ("train", "dev", "test")) > 0
    long_cut = next(c for c in load_manifest(out / "cuts_train.jsonl.gz") if c.num_frames >= 250)
    np.testing.assert_allclose(
        embed_features(extractor, long_cut.load_features()), long_cut.load_custom("xvector"), atol=1e-3
    )
    # arbitrary segments (diarization): very short ones are padded, wrong shapes fail in one line
    assert embed_features(extractor, long_cut.load_features()[:3]).shape == (32,)
    with pytest.raises(FairstreamError, match=r"expected \(T, 80\)"):
        embed_features(extractor, np.zeros((50, 40), np.float32))


def test_unknown_utterance_trial_is_counted(sv_exp: Path) -> None:
    scores = json.loads((sv_exp / "none" / "scores" / "report.json").read_text())
    assert scores["unknown_utterance"] == 1 and scores["scored"] == scores["trials"] - 1
    assert "no-such-utt" in scores["unknown_examples"][0]
    metrics = json.loads((sv_exp / "none" / "eer" / "metrics.json").read_text())
    assert metrics["trials"]["unknown_utterance"] == 1
    assert 0.0 <= metrics["overall"]["eer"] <= 1.0
    assert set(metrics["groups"]["gender"]) == {"f", "m"}
    assert (sv_exp / "none" / "eer" / "det.png").stat().st_size > 1000


def test_report_compares_systems(sv_exp: Path) -> None:
    report = sv_exp / "report.md"
    cli(report_sv.main, "--bootstrap", "20", sv_exp / "none" / "eer", sv_exp / "pairwise_sum" / "eer", report)
    text = report.read_text()
    assert "| none |" in text and "| pairwise_sum |" in text
    assert "seed's claim" in text and "Did the seed's direction hold?" in text
    assert "](report_det.png)" in text and (sv_exp / "report_det.png").is_file()
    claims = json.loads((sv_exp / "claims.json").read_text())
    assert len(claims) == 3 and all(c["claim"].startswith("pairwise_sum vs none") for c in claims)
    assert all(c["held"] in (True, False, None) and c["paper"].endswith("rel.") for c in claims)


def test_degenerate_scores_stop_with_one_line(sv_exp: Path, tmp_path: Path) -> None:
    bad = tmp_path / "scores"
    bad.mkdir()
    lines = (sv_exp / "none" / "scores" / "scores").read_text().splitlines()
    (bad / "scores").write_text("".join(" ".join(l.split()[:2]) + " 0.5\n" for l in lines))
    (bad / ".done").write_text("x\n")
    proc = run_step(
        "steps.compute_eer", "--trials", sv_exp / "trials" / "trials",
        "--cuts", sv_exp / "none" / "xvectors" / "cuts_test.jsonl.gz", bad, tmp_path / "eer", check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    err = [l for l in proc.stderr.splitlines() if l.startswith("ERROR")]
    assert len(err) == 1 and "scores are equal" in err[0]


def _trainer(bank: FeatureBank, out: Path, variant: str, **over: object) -> SvTrainer:
    return SvTrainer(from_dict(SvTrainConf, _conf(variant, **over)), bank, out)


def test_resume_continues_exactly_and_seed_determinism(tiny_fbank: Path, tmp_path: Path) -> None:
    bank = FeatureBank(load_cuts(tiny_fbank, "train"), 20)
    over = {"max_steps": 8, "am_fraction": 0.25, "checkpoint_every": 100}
    ref = _trainer(bank, tmp_path / "ref", "pairwise_sum", **over)
    ref.train()
    # interrupted run: 5 steps, checkpoint, a fresh process-like trainer resumes and finishes
    a = _trainer(bank, tmp_path / "a", "pairwise_sum", **over)
    for _ in range(5):
        a.train_step()
        a.step += 1
    a.save()
    b = _trainer(bank, tmp_path / "a", "pairwise_sum", **over)
    assert b.maybe_resume() and b.step == 5
    b.train()
    for (k, v1), v2 in zip(ref.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(v1, v2), k
    for v1, v2 in zip(ref.adversary.state_dict().values(), b.adversary.state_dict().values(), strict=True):
        assert torch.equal(v1, v2)
    # same seed -> same first steps; the baseline shares the AM-softmax warm-up with ARW exactly
    s1 = _trainer(bank, tmp_path / "s1", "none", **over).train_step()
    s2 = _trainer(bank, tmp_path / "s2", "pairwise_sum", **over).train_step()
    s3 = _trainer(bank, tmp_path / "s3", "none", **{**over, "seed": 4}).train_step()
    assert s1["loss"] == s2["loss"] and s1["loss"] != s3["loss"]


def test_extraction_resumes_per_cut(tiny_fbank: Path, tmp_path: Path, sv_exp: Path) -> None:
    extractor = load_extractor(sv_exp / "none" / "model")
    cuts = load_cuts(tiny_fbank, "test").to_eager()
    out = StageDir(path=tmp_path / "x.partial", out=tmp_path / "x", digest="d")
    out.path.mkdir()

    def killed_after(n: int):
        for k, c in enumerate(cuts):
            if k == n:
                raise KeyboardInterrupt
            yield c

    with pytest.raises(KeyboardInterrupt):
        extract_split(killed_after(4), "test", extractor, out, ExtractConf())
    counts = extract_split(cuts, "test", extractor, out, ExtractConf())
    assert counts["resumed"] == 4 and counts["embedded"] == len(cuts) - 4 and counts["written"] == len(cuts)
    out.path.rename(out.out)  # what stage_output does on success
    done = load_manifest(out.out / "cuts_test.jsonl.gz")
    assert [c.id for c in done] == [c.id for c in cuts]
    assert all(c.load_custom("xvector").shape == (32,) for c in done)


@pytest.mark.parametrize(
    "module",
    [
        "train_speaker_embedder",
        "extract_embeddings",
        "make_trials",
        "score_trials",
        "compute_eer",
        "report_sv",
    ],
)
def test_steps_have_help(module: str) -> None:
    import importlib

    res = CliRunner().invoke(importlib.import_module(f"steps.{module}").main, ["--help"])
    assert res.exit_code == 0 and "Usage:" in res.output
