"""ONNX export and onnxruntime decoding: graph decodes equal torch streaming decodes for every
encoder that exports, in both state layouts; metadata; int8; one-line refusals; the three steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from steps.deploy.export import export_transducer
from steps.deploy.runtime import OnnxDecoder, OnnxScorer, OnnxTransducer
from steps.nnet.search import GreedySearch, ModifiedBeamSearch
from steps.nnet.streaming import TransducerDecoder
from steps.nnet.transducer import ModelConf, Transducer
from steps.utils import FairstreamError
from tests.conftest import REPO, run_step
from tests.onnx_models import fake_fbank_dir, fake_lang, fake_model_dir, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")

CHUNK = 32  # fbank frames per encoder call (320 ms), the decode stage's default
CASES = [
    ("lstm", "named"), ("lstm", "sherpa"), ("convrnnt", "named"), ("convrnnt", "sherpa"),
    ("contextnet", "named"), ("contextnet", "sherpa"), ("conformer", "named"),
]  # fmt: skip


def tokens_of(vocab: int) -> list[str]:
    return ["<blk>", "<sot>", "<eot>", "<unk>", *(f"t{i}" for i in range(4, vocab))]


def features(lens: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lens), max(lens), 80, generator=g) * 3 - 8  # log-mel-like scale
    for b, n in enumerate(lens):
        x[b, n:] = 0.0
    return x, torch.tensor(lens)


def lengths(encoder: str) -> list[int]:
    # the Conformer's last, partial attention chunk: torch's flush runs it short, the graph (a
    # fixed chunk) with zero frames after it, as torch does for the shorter utterances of a
    # batch; with the longest utterance a whole number of chunks both see the same frames
    return [128, 75, 101] if encoder == "conformer" else [131, 64, 203]


@pytest.mark.parametrize(("encoder", "layout"), CASES)
def test_onnx_streaming_greedy_equals_torch(encoder: str, layout: str, tmp_path: Path) -> None:
    model = tiny_model(encoder)
    result = export_transducer(model, tokens_of(model.vocab_size), tmp_path, CHUNK, layout, int8=False)
    assert result["layout"] == layout and result["max_abs_diff"] < 1e-4
    feats, lens = features(lengths(encoder))
    ref = TransducerDecoder(model, GreedySearch(model, 3), CHUNK).decode(feats, lens)
    rt = OnnxTransducer(tmp_path)
    got = OnnxDecoder(rt, GreedySearch(OnnxScorer(rt), 3)).decode(feats, lens)
    ref_tokens = [h.tokens(2) for h in ref.hyps]
    assert all(len(t) > 3 for t in ref_tokens), "the test model should say something"
    assert [h.tokens(2) for h in got.hyps] == ref_tokens
    assert [h.frames for h in got.hyps] == [h.frames for h in ref.hyps]
    assert len(got.chunk_ms) == -(-max(lens.tolist()) // CHUNK)


@pytest.mark.parametrize("layout", ["named", "sherpa"])
def test_x8_subsampling_exports(layout: str, tmp_path: Path) -> None:
    model = tiny_model("convrnnt", seed=0, subsampling=8)
    result = export_transducer(model, tokens_of(model.vocab_size), tmp_path, CHUNK, layout, int8=False)
    assert result["encoder_meta"]["subsampling"] == "8" and result["encoder_meta"]["frames_out"] == "4"
    feats, lens = features([131, 64, 203])
    ref = TransducerDecoder(model, GreedySearch(model, 3), CHUNK).decode(feats, lens)
    rt = OnnxTransducer(tmp_path)
    got = OnnxDecoder(rt, GreedySearch(OnnxScorer(rt), 3)).decode(feats, lens)
    assert sum(len(h.tokens(2)) for h in ref.hyps) > 10
    assert [h.tokens(2) for h in got.hyps] == [h.tokens(2) for h in ref.hyps]


def test_onnx_modified_beam_equals_torch(tmp_path: Path) -> None:
    model = tiny_model("lstm", seed=3)
    export_transducer(model, tokens_of(model.vocab_size), tmp_path, CHUNK, "sherpa", int8=False)
    feats, lens = features([150, 90], seed=1)
    rt = OnnxTransducer(tmp_path)
    for k in (1, 2):
        ref = TransducerDecoder(model, ModifiedBeamSearch(model, 4, symbols_per_frame=k), CHUNK).decode(
            feats, lens
        )
        got = OnnxDecoder(rt, ModifiedBeamSearch(OnnxScorer(rt), 4, symbols_per_frame=k)).decode(feats, lens)
        assert [h.tokens(2) for h in got.hyps] == [h.tokens(2) for h in ref.hyps]
        assert [h.score for h in got.hyps] == pytest.approx([h.score for h in ref.hyps], abs=1e-3)


def test_metadata_and_int8(tmp_path: Path) -> None:
    model = tiny_model("convrnnt")
    export_transducer(model, tokens_of(model.vocab_size), tmp_path / "named", CHUNK, "named")
    export_transducer(model, tokens_of(model.vocab_size), tmp_path / "sherpa", CHUNK, "sherpa")
    for layout in ("named", "sherpa"):
        d = tmp_path / layout
        sess = ort.InferenceSession(str(d / "encoder.onnx"), providers=["CPUExecutionProvider"])
        meta = sess.get_modelmeta().custom_metadata_map
        assert (
            meta["layout"] == layout and meta["T"] == meta["decode_chunk_len"] == meta["chunk_frames"] == "32"
        )
        assert meta["subsampling"] == "4" and meta["vocab_size"] == "24" and meta["context_size"] == "2"
        names = meta["state_names"].split(",")
        assert [i.name for i in sess.get_inputs()] == ["x", *names]
        assert [o.name for o in sess.get_outputs()] == ["encoder_out", *(f"new_{n}" for n in names)]
        shapes = meta["state_shapes"].split(";")
        assert len(shapes) == len(names) == len(meta["state_batch_axes"].split(";"))
        dec = ort.InferenceSession(str(d / "decoder.onnx"), providers=["CPUExecutionProvider"])
        assert dec.get_modelmeta().custom_metadata_map["context_size"] == "2"
        assert (d / "tokens.txt").read_text().splitlines()[3] == "<unk> 3"
        for name in ("encoder", "decoder", "joiner"):
            assert (d / f"{name}.int8.onnx").stat().st_size < (d / f"{name}.onnx").stat().st_size
    named = ort.InferenceSession(str(tmp_path / "named/encoder.onnx"), providers=["CPUExecutionProvider"])
    meta = named.get_modelmeta().custom_metadata_map
    assert meta["model_type"] == "fairstream"
    names = meta["state_names"].split(",")
    i = names.index("front.global.0.se.1")  # a running-mean frame counter: 0-d int64, shared by the batch
    assert meta["state_shapes"].split(";")[i] == "" and meta["state_batch_axes"].split(";")[i] == "-"
    assert meta["state_dtypes"].split(";")[i] == "int64"
    sherpa = ort.InferenceSession(str(tmp_path / "sherpa/encoder.onnx"), providers=["CPUExecutionProvider"])
    meta = sherpa.get_modelmeta().custom_metadata_map
    assert meta["model_type"] == "lstm" and meta["state_names"] == "h,c"
    assert {"num_encoder_layers", "d_model", "rnn_hidden_size", "packed_states"} <= set(meta)
    # sherpa-onnx starts a context as [-1, blank]: the decoder graph reads -1 as blank
    rt = OnnxTransducer(tmp_path / "sherpa")
    assert (rt.decoder_out(np.array([[-1, 0], [-1, 7]])) == rt.decoder_out(np.array([[0, 0], [0, 7]]))).all()
    # int8 decodes too (the tokens may differ: that is what the benchmark measures)
    feats, lens = features([96])
    rt = OnnxTransducer(tmp_path / "sherpa", int8=True)
    got = OnnxDecoder(rt, GreedySearch(OnnxScorer(rt), 3)).decode(feats, lens)
    assert got.hyps[0].tokens(2)


def test_refusals_are_one_line(tmp_path: Path) -> None:
    cca = Transducer.from_conf(ModelConf(encoder="cca", encoder_conf={"hidden_dim": 16, "num_heads": 2,
                               "num_layers": 1, "subsampling_channels": 4}), 10, 80)  # fmt: skip
    with pytest.raises(FairstreamError, match="data-dependent"):
        export_transducer(cca, tokens_of(10), tmp_path / "cca", CHUNK)
    conformer = tiny_model("conformer")
    with pytest.raises(FairstreamError, match="multiple of 8"):
        export_transducer(conformer, tokens_of(24), tmp_path / "c", 12, "named")
    with pytest.raises(FairstreamError, match="--layout named"):
        export_transducer(conformer, tokens_of(24), tmp_path / "c", CHUNK, "sherpa")
    unfinished = tmp_path / "exp"
    unfinished.mkdir()
    proc = run_step("steps.export_onnx", unfinished, tmp_path / "onnx", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"ERROR: model directory {unfinished} is incomplete "
                                                "(no .done); rerun the stage that makes it"]  # fmt: skip


def test_export_decode_and_bench_steps(tmp_path: Path) -> None:
    lang = fake_lang(tmp_path / "lang")
    exp = fake_model_dir(tmp_path / "exp", "lstm", lang)
    fbank = fake_fbank_dir(tmp_path / "fbank", num_cuts=4)
    onnx, bench = exp / "onnx", tmp_path / "exp_onnx"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
    }
    stage = ["bash", REPO / "stages/11_export.sh", "--max-cuts", "3", exp, fbank, bench]
    proc = subprocess.run(stage, cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (onnx / ".done").is_file() and (onnx / "bpe.model").is_file()
    assert json.loads((onnx / "export.json").read_text())["layout"] == "sherpa"
    run_step("steps.decode_onnx", onnx, fbank, tmp_path / "dec_onnx", "--splits", "test")
    run_step("steps.decode_transducer", exp, fbank, tmp_path / "dec_torch", "--splits", "test")
    a, b = tmp_path / "dec_onnx", tmp_path / "dec_torch"
    assert (a / "recogs-test.txt").read_text() == (b / "recogs-test.txt").read_text()
    for name in ("wer-test.txt", "errs-test.txt", "cuts_test.jsonl.gz", "metrics.json"):
        assert (a / name).is_file()
    metrics = json.loads((a / "metrics.json").read_text())["test"]
    assert metrics["runtime"] == "onnxruntime" and metrics["rtf"] > 0 and metrics["latency_ms_p90"] > 0
    report = json.loads((bench / "report.json").read_text())
    assert report["info"]["cuts"] == 3
    rows = {r["system"]: r for r in report["systems"]}
    assert set(rows) == {"torch", "onnx_fp32", "onnx_int8", "sherpa_onnx_fp32"}  # a sherpa-layout export
    sherpa = rows["sherpa_onnx_fp32"]
    assert 0.0 <= sherpa["identical_to_torch"] <= 1.0 and sherpa["rtf"] > 0
    assert rows["onnx_fp32"]["identical_to_torch"] == 1.0 and rows["torch"]["identical_to_torch"] == 1.0
    assert rows["onnx_int8"]["size_mb"] < rows["onnx_fp32"]["size_mb"]
    md = (bench / "report.md").read_text()
    assert md.startswith("## Deployment") and "| onnx_int8 |" in md and "| sherpa_onnx_fp32 |" in md
