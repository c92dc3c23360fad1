"""CCA Transformer: gates forced on = plain Transformer, real skipping = masked dense computation,
hand-counted FLOPs, streaming == forward, causality, the compute-cost loss, a tiny train +
decode, and the benchmark on tiny untrained models."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner
from torch import Tensor

from steps.nnet.encoders.cca import CcaTransformer, cca_flops, distance_buckets
from steps.nnet.encoders.registry import ENCODERS, build_encoder
from steps.nnet.flops import count_flops
from steps.utils import FairstreamError
from tests.conftest import run_step, stream_all
from tests.test_transducer import TINY_TRAIN

NF = 20
SMALL = {
    "num_features": NF,
    "hidden_dim": 32,
    "num_layers": 2,
    "num_heads": 4,
    "ff_dim": 48,
    "left_context": 4,
    "output_dim": 24,
    "subsampling_channels": 4,
    "dropout": 0.0,
}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(name: str = "cca", seed: int = 0, **over: object) -> CcaTransformer:
    torch.manual_seed(seed)
    conf = {**SMALL, **over}
    if name == "sliding_window":
        conf["window"] = conf.pop("left_context")
    enc = build_encoder(name, conf).eval()
    enc.subsample.set_feature_stats(torch.randn(NF), torch.rand(NF) + 0.5)
    assert isinstance(enc, CcaTransformer)
    return enc


def mixed(seed: int = 0, **over: object) -> CcaTransformer:
    """A gated encoder whose untrained arbitrators keep roughly half of the blocks."""
    return tiny("cca", seed, gate_bias=0.0, **over)


def test_registered() -> None:
    assert ENCODERS["cca"] is CcaTransformer and issubclass(ENCODERS["sliding_window"], CcaTransformer)
    with pytest.raises(FairstreamError, match="not divisible by num_heads"):
        tiny(hidden_dim=30)
    with pytest.raises(FairstreamError, match="cost_weight must be >= 0"):
        tiny(cost_weight=-1.0)


# ---- (a) gates forced on reproduce the plain Transformer --------------------------------------
def test_gates_forced_on_reproduce_the_plain_transformer() -> None:
    plain = tiny(gated=False)
    gated = tiny(seed=1)
    missing, unexpected = gated.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("arbitrator.") for k in missing)
    x, lens = torch.randn(3, 70, NF), torch.tensor([70, 53, 21])
    with torch.no_grad():
        gated.arbitrator[-1].bias.fill_(1e4)  # keep probability 1 for every block
        for train in (False, True):  # sparse inference path, then dense training path
            plain.train(train)
            gated.train(train)
            want, _ = plain(x, lens)
            got, _ = gated(x, lens)
            assert torch.equal(got, want)  # exact: gates of exactly 1.0 leave the plain layer's arithmetic
        gated.arbitrator[-1].bias.fill_(-1e4)  # every block off: no longer the Transformer
        assert not torch.allclose(gated(x, lens)[0], want)


def test_sliding_window_is_the_transformer_with_a_short_window() -> None:
    sw = tiny("sliding_window", left_context=2)
    plain = tiny(gated=False, left_context=2)
    plain.load_state_dict(sw.state_dict())  # same keys and shapes, whatever the window
    x, lens = torch.randn(2, 60, NF), torch.tensor([60, 44])
    with torch.no_grad():
        assert torch.equal(sw(x, lens)[0], plain(x, lens)[0])  # exact: one code path, same shapes
        assert sw.arbitrator is None and sw.left_context == 2
        wide = tiny(gated=False, left_context=30)
        wide.load_state_dict(sw.state_dict())
        assert not torch.allclose(wide(x, lens)[0], plain(x, lens)[0])


def test_distance_buckets_do_not_depend_on_the_window() -> None:
    long = distance_buckets(200, 16)
    assert torch.equal(distance_buckets(9, 16), long[:10])
    assert long[:8].tolist() == list(range(8)) and int(long.max()) == 15
    assert bool((long[1:] >= long[:-1]).all())


# ---- (b) hard skipping == masked dense computation ---------------------------------------------
@pytest.mark.parametrize("left_context", [0, 1, 4, 40])
def test_sparse_inference_equals_masked_dense(left_context: int) -> None:
    enc = mixed(left_context=left_context)
    x = torch.randn(3, 130, NF)
    x[1, 90:] = 5.0  # loud padding
    lens = torch.tensor([130, 90, 37])
    rows: dict[str, int] = {"qkv": 0, "ffn": 0}

    def counter(key: str) -> Callable[..., None]:
        def hook(module: torch.nn.Module, args: tuple, out: Tensor) -> None:
            rows[key] += args[0].shape[0]

        return hook

    hooks = [lay.qkv.register_forward_hook(counter("qkv")) for lay in enc.layers]
    hooks += [lay.ff.register_forward_hook(counter("ffn")) for lay in enc.layers]
    with torch.no_grad():
        sparse, _ = enc(x, lens)
        keep = enc.last_keep.clone()
        for h in hooks:
            h.remove()
        dense, _ = enc.forward_dense_masked(x, lens)
    assert torch.equal(enc.last_keep, keep)
    rate = float(keep.float().sum() / (2 * enc.num_layers * int(enc.last_lens.sum())))
    assert 0.2 < rate < 0.8, rate  # a real mix of kept and skipped blocks
    # only kept frames went through the sub-blocks
    assert rows["qkv"] == int(keep[..., 0::2].sum()) and rows["ffn"] == int(keep[..., 1::2].sum())
    torch.testing.assert_close(sparse, dense, atol=1e-5, rtol=1e-5)
    # each utterance alone gives the same frames as in the padded batch
    with torch.no_grad():
        alone, n = enc(x[1:2, :90], torch.tensor([90]))
    torch.testing.assert_close(sparse[1:2, : int(n[0])], alone, atol=1e-5, rtol=1e-5)


def test_sparse_equals_dense_for_forced_patterns() -> None:
    enc = tiny(left_context=6)
    x, lens = torch.randn(2, 100, NF), torch.tensor([100, 70])
    for skip in (0.0, 0.5, 0.9, 1.0):
        enc.force_gates = (
            torch.rand(2, 25, 2 * enc.num_layers, generator=torch.Generator().manual_seed(3)) >= skip
        )
        with torch.no_grad():
            torch.testing.assert_close(
                enc(x, lens)[0], enc.forward_dense_masked(x, lens)[0], atol=1e-5, rtol=1e-5
            )
    enc.force_gates = torch.ones(2, 7, 2 * enc.num_layers, dtype=torch.bool)
    with pytest.raises(FairstreamError, match="force_gates has shape"):
        enc(x, lens)


# ---- (c) FLOP counter vs a hand count ---------------------------------------------------------
def test_flop_count_matches_hand_count() -> None:
    d, f, w, a, out = 8, 12, 2, 4, 6
    enc = tiny(hidden_dim=d, num_heads=2, ff_dim=f, num_layers=1, left_context=w, arbitrator_dim=a,
               output_dim=out, subsampling_channels=2)  # fmt: skip
    x, lens = torch.randn(1, 40, NF), torch.tensor([40])  # 10 encoder frames
    mha = [1, 0, 1, 1, 0, 0, 1, 1, 1, 0]
    ffn = [0, 1, 1, 0, 0, 1, 0, 0, 1, 1]
    enc.force_gates = torch.tensor([mha, ffn], dtype=torch.bool).T.unsqueeze(0)
    report = cca_flops(enc, x, lens)
    # front end: FlopCounterMode's count of the subsampling on the same input
    front = count_flops(enc.subsample, x, lens)
    assert front == 10 * enc.frontend_flops_per_frame()
    arbitrator = 10 * (2 * d * a + 2 * a * 2)
    proj = 10 * 2 * d * out
    visible = sum(sum(mha[j] for j in range(max(0, t - w), t + 1)) for t in range(10) if mha[t])
    assert visible == 1 + 2 + 2 + 1 + 2 + 3  # kept frames 0, 2, 3, 6, 7, 8 see this many kept keys
    want = front + arbitrator + proj + sum(mha) * 8 * d * d + visible * 4 * d + sum(ffn) * 4 * d * f
    assert report["flops"] == [want] and report["total_flops"] == want
    assert report["kept_mha"] == [sum(mha)] and report["kept_ffn"] == [sum(ffn)]
    dense_keys = sum(min(t, w) + 1 for t in range(10))
    assert report["dense_flops"] == [
        front + arbitrator + proj + 10 * (8 * d * d + 4 * d * f) + dense_keys * 4 * d
    ]


def test_flops_follow_the_skip_rate() -> None:
    enc = tiny(left_context=8)
    x, lens = torch.randn(1, 400, NF), torch.tensor([400])
    counts = []
    for skip in (0.0, 0.5, 0.9):
        g = torch.Generator().manual_seed(0)
        enc.force_gates = torch.rand(1, 100, 2 * enc.num_layers, generator=g) >= skip
        counts.append(cca_flops(enc, x, lens)["flops"][0])
    assert counts[0] > counts[1] > counts[2]


# ---- (d) streaming == forward, (e) causality --------------------------------------------------
@pytest.mark.parametrize("name", ["cca", "sliding_window"])
@pytest.mark.parametrize("chunk", [1, 6, 16, 45])
def test_streaming_equals_forward(name: str, chunk: int) -> None:
    enc = mixed() if name == "cca" else tiny(name)
    x = torch.randn(2, 97, NF)
    with torch.no_grad():
        full, lens = enc(x, torch.tensor([97, 97]))
    skipped = float(1 - enc.last_keep.float().mean())
    assert (0.2 < skipped < 0.8) if name == "cca" else skipped == 0.0
    streamed = stream_all(enc, x, chunk)
    assert streamed.shape == full.shape and int(lens[0]) == full.size(1)
    torch.testing.assert_close(streamed, full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("train", [False, True])
def test_causal(train: bool) -> None:
    # in float64: the sparse path multiplies as many rows as frames are kept, so x and y run
    # differently shaped matmuls whose float32 results differ in the last bits on some CPUs
    enc = mixed(left_context=3).double().train(train)
    x = torch.randn(1, 120, NF, dtype=torch.float64)
    for first in (7, 13, 22):  # first encoder frame whose inputs change
        y = x.clone()
        y[:, 4 * first :] = torch.randn(1, 120 - 4 * first, NF, dtype=torch.float64)
        outs, gates = [], []
        for inp in (x, y):
            torch.manual_seed(5)  # the same gate noise in training
            with torch.no_grad():
                outs.append(enc(inp, torch.tensor([120]))[0])
            gates.append(enc.last_keep.clone())
        # causality: earlier frames unaffected up to float64 rounding; a leak moves them by > 1e-2
        torch.testing.assert_close(outs[0][:, :first], outs[1][:, :first], atol=1e-10, rtol=1e-10)
        assert torch.equal(gates[0][:, :first], gates[1][:, :first])
        assert not torch.allclose(outs[0][:, first:], outs[1][:, first:])


# ---- (f) the compute-cost term ----------------------------------------------------------------
def test_aux_loss_reaches_the_arbitrators_and_scales_with_cost_weight() -> None:
    x, lens = torch.randn(2, 80, NF), torch.tensor([80, 50])
    enc = mixed(cost_weight=0.1).train()
    torch.manual_seed(0)
    enc(x, lens)
    assert set(enc.aux_stats) >= {"keep_mha", "keep_ffn"} and 0 < enc.aux_stats["keep_mha"] < 1
    low = enc.aux_loss
    # the expected compute fraction, by hand, from the arbitrators' probabilities
    h0, n = enc.subsample(x, lens)
    prob = torch.sigmoid(enc.arbitrator(h0))
    cost = enc.block_flops()
    valid = torch.arange(h0.size(1))[None] < n[:, None]
    frac = ((prob * cost).sum(-1) / cost.sum())[valid].mean()
    torch.testing.assert_close(low, 0.1 * frac)
    low.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.arbitrator.parameters())
    assert all(p.grad is None for p in enc.layers.parameters())  # the cost term only moves the gates
    enc.cost_weight = 0.5
    torch.manual_seed(0)
    enc(x, lens)
    assert float(enc.aux_loss.detach()) > float(low.detach())
    torch.testing.assert_close(enc.aux_loss, 5 * low.detach())
    enc.eval()
    enc(x, lens)
    assert enc.aux_loss is None  # only a training forward sets the loss term
    plain = tiny(gated=False).train()
    plain(x, lens)
    assert plain.aux_loss is None


def test_transducer_loss_reaches_the_arbitrators_straight_through() -> None:
    enc = mixed(cost_weight=0.0).train()
    torch.manual_seed(0)
    out, _ = enc(torch.randn(2, 60, NF), torch.tensor([60, 60]))
    (out**2).sum().backward()
    assert enc.arbitrator[-1].weight.grad is not None and enc.arbitrator[-1].weight.grad.abs().sum() > 0
    keep = enc.last_keep.float()
    assert bool(((keep == 0) | (keep == 1)).all())  # hard gates in the forward pass


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
        k for k in init if k.startswith("encoder.arbitrator.") and not torch.equal(init[k], ck["model"][k])
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


def _fake_decode_dir(root: Path, name: str, model_dir: Path, wers: dict[str, float]) -> Path:
    d = root / f"decode_{name}"
    d.mkdir()
    (d / "config.yaml").write_text(yaml.safe_dump({"model_dir": str(model_dir), "avg": 1}))
    (d / "metrics.json").write_text(json.dumps({s: {"wer": w} for s, w in wers.items()}))
    (d / ".done").write_text("x\n")
    return d


def test_bench_cca_on_tiny_untrained_models(tiny_fbank: Path, tiny_lang: Path, tmp_path: Path) -> None:
    from steps.bench_cca import main

    base = {**SMALL, "num_features": 80, "left_context": 40}
    sw_conf = {k: v for k, v in base.items() if k != "left_context"} | {"window": 2}
    ref = _fake_model_dir(tmp_path, "transformer", "cca", {**base, "gated": False}, tiny_lang)
    cca = _fake_model_dir(tmp_path, "cca", "cca", {**base, "gate_bias": 0.0}, tiny_lang)
    sw = _fake_model_dir(tmp_path, "sw", "sliding_window", sw_conf, tiny_lang)
    ref_dec = _fake_decode_dir(tmp_path, "transformer", ref, {"dev": 40.0, "test": 50.0})
    cca_dec = _fake_decode_dir(tmp_path, "cca", cca, {"dev": 44.0, "test": 55.0})
    out = tmp_path / "bench"
    args = [str(tiny_fbank), "--model", f"transformer={ref_dec}", "--model", f"cca={cca_dec}",
            "--model", f"sw={sw}", "--decode", f"sw={_fake_decode_dir(tmp_path, 'sw', sw, {'test': 60.0})}",
            "--reference", "transformer", "--max-utts", "4", "--out-json", str(out / "r.json"),
            "--report-md", str(out / "report.md"), "--plot", str(out / "plot.png")]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "| model | kind | split |" in res.output
    data = json.loads((out / "r.json").read_text())["models"]
    assert [data[n]["kind"] for n in ("transformer", "cca", "sw")] == ["dense", "cca", "sliding_window"]
    for split in ("dev", "test"):
        r, c, s = (data[n]["splits"][split] for n in ("transformer", "cca", "sw"))
        assert r["utts"] == 4 and r["compute_saved"] == 0 and r["skip_mha"] == 0
        assert 0 < c["skip_mha"] < 1 and 0 < c["skip_ffn"] < 1 and c["compute_saved"] > 0
        assert s["compute_saved"] > 0 and s["skip_mha"] == 0  # a shorter window: fewer keys
        assert c["wall_ms_per_second"] > 0 and r["flops_per_second"] > c["flops_per_second"]
        assert set(c["per_accent"]) and sum(v["utts"] for v in c["per_accent"].values()) == 4
        assert set(c["per_snr"]) <= {"<10", "10-20", ">=20", "unknown"}
    assert data["cca"]["splits"]["test"]["rel_wer_change"] == pytest.approx(0.1)
    assert data["cca"]["splits"]["dev"]["rel_wer_change"] == pytest.approx(0.1)
    assert data["sw"]["splits"]["test"]["rel_wer_change"] == pytest.approx(0.2)
    assert data["sw"]["splits"]["dev"]["rel_wer_change"] is None  # its decode has no dev WER
    md = (out / "report.md").read_text()
    assert "| cca | cca | test | 4 |" in md and "per accent" in md and "](plot.png)" in md
    assert (out / "plot.png").read_bytes()[:4] == b"\x89PNG"
    bad = CliRunner().invoke(main, [str(tiny_fbank), "--model", f"cca={cca}", "--reference", "transformer"])
    assert bad.exit_code == 1 and "--reference 'transformer' is not one of" in bad.output


def test_convergence_note_flags_an_unusable_reference() -> None:
    from steps.reports.cca import convergence_note

    ok = {"full": {"splits": {"dev": {"wer": 12.0}, "test": {"wer": 13.5}}}}
    bad = {"full": {"splits": {"dev": {"wer": 91.0}, "test": {"wer": 30.0}}}}
    assert convergence_note(ok, "full") == ""
    note = convergence_note(bad, "full")
    assert "not converged" in note and "(WER dev 91.0%)" in note  # test (30%) is usable: not listed
