"""The LM steps on the tiny corpus: LM text without dev/test sentences, the n-gram step, decoding
with --method modified_beam_lm, the dev scale sweep, stage 3's script and the report tables."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from lhotse import load_manifest

from steps.data.manifests import load_cuts
from steps.data.text import normalize_text
from steps.data.tokenizer import Tokenizer
from steps.lm.ngram import NgramLM
from steps.reports.asr import asr_section
from steps.reports.compare import compare_section
from tests.conftest import REPO, run_step
from tests.test_decode import babbling_model
from tests.test_reports_compare import fake_decode

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model_dir(tiny_fbank: Path, tiny_lang: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-step model made to babble (test_decode.py's), with two epoch checkpoints."""
    return babbling_model(tiny_fbank, tiny_lang, tmp_path_factory.mktemp("lm_decode"))


def texts(manifests: Path, *splits: str) -> list[str]:
    return [normalize_text(s.text) for sp in splits for c in load_cuts(manifests, sp) for s in c.supervisions]


def lm_lines(d: Path) -> list[str]:
    return gzip.decompress((d / "text.txt.gz").read_bytes()).decode().splitlines()


def test_demo_lm_text_has_no_dev_or_test_sentence(lm_text: Path, tiny_manifests: Path) -> None:
    lines = lm_lines(lm_text)
    heldout = set(texts(tiny_manifests, "dev", "test"))
    assert len(lines) == 1500 and not set(lines) & heldout
    assert all(x == normalize_text(x) for x in lines)  # the transcripts' format
    report = json.loads((lm_text / "report.json").read_text())
    assert report["heldout_sentences"] == len(heldout) and report["source"] == "demo_grammar"
    assert report["sentences"] == 1500 and report["excluded_draws"] >= report["excluded_distinct"]
    cfg = yaml.safe_load((lm_text / "config.yaml").read_text())
    assert cfg["seed"] == 7  # the corpus's seed (tiny_manifests is made with --seed 7)
    again = run_step("local.make_lm_text", tiny_manifests, lm_text, "--num-sentences", "1500")
    assert "nothing to do" in again.stderr


def test_text_file_and_fallback_exclude_heldout(tiny_manifests: Path, tmp_path: Path) -> None:
    dev = texts(tiny_manifests, "dev")
    src = tmp_path / "text.txt"
    src.write_text(f"{dev[0].lower()}\nturn on the  lights\n{dev[1]}\n{dev[0]}\nset a timer\n")
    out = tmp_path / "from_file"
    run_step("local.make_lm_text", tiny_manifests, out, "--text", src)
    assert lm_lines(out) == ["TURN ON THE LIGHTS", "SET A TIMER"]
    report = json.loads((out / "report.json").read_text())
    assert (report["excluded_draws"], report["excluded_distinct"]) == (3, 2)
    # a corpus without a generator: its training transcripts, said out loud
    other = tmp_path / "manifests"
    shutil.copytree(tiny_manifests, other)
    cfg = yaml.safe_load((other / "config.yaml").read_text())
    (other / "config.yaml").write_text(yaml.safe_dump({**cfg, "corpus": "librispeech"}))
    proc = run_step("local.make_lm_text", other, tmp_path / "fallback")
    assert "has no text generator" in proc.stderr
    heldout = set(texts(other, "dev", "test"))
    assert lm_lines(tmp_path / "fallback") == [t for t in texts(other, "train") if t not in heldout]


def test_ngram_step_writes_normalised_models_and_perplexities(lm_dir: Path, tiny_lang: Path) -> None:
    report = json.loads((lm_dir / "report.json").read_text())
    vocab = Tokenizer(tiny_lang / "bpe.model").vocab_size
    assert report["vocab_size"] == vocab and report["lm"]["order"] == 4 and report["lodr"]["order"] == 2
    assert report["lm"]["file_bytes"] == (lm_dir / "lm.npz").stat().st_size
    # the grammar text predicts dev far better than uniform, and better than 64 training transcripts
    assert 1 < report["lm"]["dev_ppl"] < report["lodr"]["dev_ppl"] < vocab
    lm = NgramLM.load(lm_dir / "lm.npz")
    assert lm.vocab_size == vocab
    state = lm.init_state()
    for tok in [*Tokenizer(tiny_lang / "bpe.model").encode("SET A TIMER FOR TEN MINUTES"), lm.eos_id]:
        p = np.exp(lm.logprobs(state))
        assert p[0] == 0 and p.sum() == pytest.approx(1.0, abs=1e-5)
        _, state = lm.score(state, tok)


def hyps(d: Path, split: str = "dev") -> list[str]:
    return [c.supervisions[0].custom["hyp"] for c in load_manifest(d / f"cuts_{split}.jsonl.gz")]


def test_decode_with_lm(
    model_dir: Path, tiny_fbank: Path, tiny_lang: Path, lm_dir: Path, tmp_path: Path
) -> None:
    common = ("--splits", "dev", "--chunk-ms", "320")
    lm_args = ("--method", "modified_beam_lm", "--lm", lm_dir)
    plain = tmp_path / "beam"
    run_step("steps.decode_transducer", model_dir, tiny_fbank, plain, "--method", "modified_beam", *common)
    zero = tmp_path / "lm0"
    run_step(
        "steps.decode_transducer", model_dir, tiny_fbank, zero, *lm_args,
        "--lm-scale", "0", "--lodr-scale", "0", "--blank-penalty", "0", "--beam", "4", *common,
    )  # fmt: skip
    assert hyps(zero) == hyps(plain)  # scale 0: exactly modified beam search (plain: beam 4)
    fused = tmp_path / "lm"
    proc = run_step(
        "steps.decode_transducer", model_dir, tiny_fbank, fused, *lm_args,
        "--lm-scale", "1.5", "--lodr-scale", "0.2", "--blank-penalty", "0.5", *common,
    )  # fmt: skip
    assert "LM fusion from" in proc.stderr
    m = json.loads((fused / "metrics.json").read_text())["dev"]
    conf_beam = yaml.safe_load((REPO / "conf/lm.yaml").read_text())["decode"]["beam"]  # not given: conf's
    assert (m["method"], m["beam"], m["lm_scale"], m["lodr_scale"], m["blank_penalty"], m["lm_eos"]) == (
        "modified_beam_lm",
        conf_beam,
        1.5,
        0.2,
        0.5,
        True,
    )
    # the LM pulls the babble towards text it knows
    tok, lm = Tokenizer(tiny_lang / "bpe.model"), NgramLM.load(lm_dir / "lm.npz")

    def lm_logprob(d: Path) -> float:
        return sum(lm.sentence_logprob(tok.sp.encode(h, out_type=int)) for h in hyps(d) if h)

    plain_words = sum(len(h.split()) for h in hyps(plain))
    fused_words = sum(len(h.split()) for h in hyps(fused))
    assert hyps(fused) != hyps(plain)
    assert lm_logprob(fused) / max(fused_words, 1) > lm_logprob(plain) / max(plain_words, 1)
    again = run_step(
        "steps.decode_transducer", model_dir, tiny_fbank, fused, *lm_args,
        "--lm-scale", "1.5", "--lodr-scale", "0.2", "--blank-penalty", "0.5", *common,
    )  # fmt: skip
    assert "nothing to do" in again.stderr
    # a fine-tuned variant decodes with its parent's decode.models entry (stage 9's CCA variants)
    conf = tmp_path / "lm.yaml"
    conf.write_text(yaml.safe_dump({"decode": {"lm_scale": 0.9, "models": {"parent": {"lm_scale": 0.25}}}}))
    lm_args = (*lm_args, "--lm-conf", conf, "--lodr-scale", "0", *common)
    for entry, scale in (("parent", 0.25), (None, 0.9)):  # None: the model dir's own name (no entry)
        out = tmp_path / f"entry_{entry}"
        run_step("steps.decode_transducer", model_dir, tiny_fbank, out, *lm_args,
                 *(("--lm-conf-model", entry) if entry else ()))  # fmt: skip
        assert json.loads((out / "metrics.json").read_text())["dev"]["lm_scale"] == scale


def test_decode_lm_errors_are_one_line(
    model_dir: Path, tiny_fbank: Path, lm_dir: Path, tmp_path: Path
) -> None:
    def err(*args: object) -> str:
        proc = run_step("steps.decode_transducer", model_dir, tiny_fbank, tmp_path / "x", *args, check=False)
        errors = [x for x in proc.stderr.splitlines() if x.startswith("ERROR")]
        assert proc.returncode == 1 and len(errors) == 1, proc.stderr[-2000:]
        return errors[0]

    assert "need --method modified_beam_lm" in err("--method", "greedy", "--lm", lm_dir)
    assert "need --method modified_beam_lm" in err("--method", "greedy", "--lm-conf-model", "lstm")
    # the default LM is <lang_dir>/lm, which the tiny lang dir does not have
    assert "LM directory" in err("--method", "modified_beam_lm") and "/lm" in err(
        "--method", "modified_beam_lm"
    )
    other = tmp_path / "other_lm"
    shutil.copytree(lm_dir, other)
    cfg = yaml.safe_load((other / "config.yaml").read_text())
    (other / "config.yaml").write_text(yaml.safe_dump({**cfg, "bpe_digest": "0123"}))
    assert "trained with BPE model 0123" in err("--method", "modified_beam_lm", "--lm", other)
    assert not (tmp_path / "x").exists()


def test_tune_lm_scale_sweeps_dev_and_refuses_test(
    model_dir: Path, tiny_fbank: Path, lm_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "tune.json"
    proc = run_step(
        "steps.tune_lm_scale", model_dir, tiny_fbank, "--lm", lm_dir, "--lm-scales", "0,1.5",
        "--lodr-scales", "0,0.2", "--num-cuts", "5", "--batch-size", "2", "--out", out,
    )  # fmt: skip
    table = [x for x in proc.stdout.splitlines() if x.startswith("| ") and x[2].isdigit()]
    assert len(table) == 4 and sum("**best**" in x for x in table) == 1
    res = json.loads(out.read_text())
    assert res["num_cuts"] == 5 and len(res["rows"]) == 4
    # the lm 0 / lodr 0 row is plain modified beam search: the decode step's WER on the same cuts
    plain = tmp_path / "beam"
    run_step(
        "steps.decode_transducer",
        model_dir,
        tiny_fbank,
        plain,
        "--method",
        "modified_beam",
        "--splits",
        "dev",
    )
    cuts = list(load_manifest(plain / "cuts_dev.jsonl.gz"))[:5]
    errs = sum(c.supervisions[0].custom[k] for c in cuts for k in ("ins", "del", "sub"))
    words = sum(c.supervisions[0].custom["ref_len"] for c in cuts)
    row = next(r for r in res["rows"] if r["lm_scale"] == 0 and r["lodr_scale"] == 0)
    assert row["wer"] == pytest.approx(100 * errs / words, abs=0.01)
    bad = run_step(
        "steps.tune_lm_scale", model_dir, tiny_fbank, "--lm", lm_dir, "--split", "test", check=False
    )
    assert bad.returncode == 1 and "never on test" in bad.stderr


def test_stage_3_script_trains_the_lm_and_reruns_as_noop(tiny_manifests: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
    }
    conf = tmp_path / "lm.yaml"
    conf.write_text(
        yaml.safe_dump({"text": {"demo_sentences": {"tiny": 300}}, "ngram": {"order": 3, "lodr_order": 2}})
    )
    lang = tmp_path / "data" / "lang_bpe_100"
    args = ["bash", REPO / "stages/03_lang.sh", "--lm-conf", conf, "--seed", "9", tiny_manifests, lang]

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(list(map(str, args)), cwd=REPO, env=env, capture_output=True, text=True)

    proc = run()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (lang / "lm" / ".done").is_file() and (tmp_path / "data" / "lm_text" / ".done").is_file()
    assert yaml.safe_load((tmp_path / "data" / "lm_text" / "config.yaml").read_text())["seed"] == 9
    assert len(lm_lines(tmp_path / "data" / "lm_text")) == 300
    again = run()
    assert again.returncode == 0 and again.stderr.count("nothing to do") == 3


def test_reports_show_with_and_without_lm(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    fake_decode(tmp_path, "lstm", "modified_beam", rng.binomial(10, 0.4, size=40).tolist(), 0.1)
    fake_decode(tmp_path, "lstm", "modified_beam_lm", rng.binomial(10, 0.3, size=40).tolist(), 0.12)
    asr = asr_section(tmp_path)
    assert asr is not None
    assert "| lstm_modified_beam_lm | lstm |" in asr and "| lstm_modified_beam | lstm |" in asr
    lm_rows = [x for x in asr.splitlines() if x.startswith("| lstm |")]
    assert len(lm_rows) == 1 and "dev WER, beam + LM" in asr
    cells = [c.strip() for c in lm_rows[0].strip("|").split("|")]
    without, with_lm = float(cells[5]), float(cells[6])
    assert cells[7] == f"{with_lm - without:+.2f}"
    text = compare_section(tmp_path, tmp_path / "fig", tmp_path)
    assert text is not None and "| lstm | modified_beam_lm |" in text and "| lstm | modified_beam |" in text
