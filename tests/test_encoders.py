"""The registered encoders (and ConvRNN-T's paper-structure options): shapes, causality,
streaming == forward, padding independence, brute-force checks of the causal kernels and the
chunk mask, FLOP counting, a tiny train + decode per new architecture, the shipped configs' sizes
and the paper-size configs' parameter counts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import Tensor, nn

from steps.nnet.encoders.base import StreamingEncoder
from steps.nnet.encoders.causal_conv import CausalConv1d, CausalSqueezeExcite, causal_mean
from steps.nnet.encoders.conformer import chunk_mask
from steps.nnet.encoders.convrnnt import LocalConvSubsampling, LocalFbankCnn
from steps.nnet.encoders.registry import ENCODERS, build_encoder
from steps.nnet.flops import count_flops, encoder_flops_per_second, lstm_flops
from steps.nnet.subsampling import CausalConvSubsampling
from steps.utils import FairstreamError
from tests.conftest import REPO, run_step, stream_all
from tests.test_transducer import TINY_TRAIN

NF = 20
TINY: dict[str, dict] = {
    "lstm": {"hidden_dim": 32, "num_layers": 2},
    "convrnnt": {"hidden_dim": 32, "lstm_dim": 24, "num_layers": 2, "global_kernel": 5},
    "conformer": {"hidden_dim": 32, "num_layers": 2, "num_heads": 4, "chunk_size": 3, "left_chunks": 2},
    "contextnet": {"hidden_dim": 32, "num_blocks": 2, "layers_per_block": 2},
    "cca": {"hidden_dim": 32, "num_layers": 2, "num_heads": 4, "left_context": 6, "gate_bias": 0.0},
    "sliding_window": {"hidden_dim": 32, "num_layers": 2, "num_heads": 4, "window": 3},
}
NEW = ["convrnnt", "conformer", "contextnet"]
# ConvRNN-T's options for the paper's structure (steps/nnet/encoders/convrnnt.py), each alone and
# together; every test over the registered encoders runs on these too
CONVRNNT_PAPER = {
    "num_local_blocks": 0, "local_2d_channels": [3, 2], "local_2d_kernel": 5,
    "num_global_blocks": 3, "global_kernel": 3, "global_dilations": [1, 2, 4], "stacking": "serial",
}  # fmt: skip
CASES: dict[str, tuple[str, dict]] = {name: (name, {}) for name in sorted(ENCODERS)} | {
    "convrnnt-dilated": ("convrnnt", {"global_dilations": [2, 4]}),
    "convrnnt-serial": ("convrnnt", {"stacking": "serial"}),
    "convrnnt-local2d": ("convrnnt", {"local_2d_channels": [3, 2], "local_2d_kernel": 3}),
    "convrnnt-paper": ("convrnnt", CONVRNNT_PAPER),
}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(name: str, **over: object) -> StreamingEncoder:
    torch.manual_seed(0)
    conf = {"num_features": NF, "output_dim": 24, "subsampling_channels": 4, **TINY.get(name, {}), **over}
    enc = build_encoder(name, conf).eval()
    # non-trivial global feature normalisation, so every streaming test covers it too
    enc.subsample.set_feature_stats(torch.randn(NF), torch.rand(NF) + 0.5)
    return enc


def case(name: str) -> StreamingEncoder:
    encoder, over = CASES[name]
    return tiny(encoder, **over)


def test_every_encoder_has_a_tiny_config() -> None:
    assert set(TINY) == set(ENCODERS) and set(NEW) <= set(ENCODERS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_shapes_and_lengths(name: str) -> None:
    enc = case(name)
    assert enc.output_dim == 24 and enc.subsampling == 4
    out, lens = enc(torch.randn(3, 50, NF), torch.tensor([50, 41, 9]))
    assert out.shape == (3, 13, 24) and lens.tolist() == [13, 11, 3]


@pytest.mark.parametrize("name", sorted(CASES))
def test_causal(name: str) -> None:
    # in float64: causality is structural, so frames before the change must agree to float64
    # rounding, whatever BLAS kernels the CPU picks (they differ in the last bits across CPUs)
    enc = case(name).double()
    chunk = getattr(enc, "chunk_size", 1)  # chunked attention: a chunk's frames see each other
    x = torch.randn(1, 96, NF, dtype=torch.float64)
    for first in (10, 12, 17):  # first encoder frame whose inputs change
        y = x.clone()
        y[:, 4 * first :] = torch.randn(1, 96 - 4 * first, NF, dtype=torch.float64)
        with torch.no_grad():
            a, _ = enc(x, torch.tensor([96]))
            b, _ = enc(y, torch.tensor([96]))
        keep = first - first % chunk
        # causality: earlier frames unaffected up to float64 rounding; a leak moves them by > 1e-2
        torch.testing.assert_close(a[:, :keep], b[:, :keep], atol=1e-10, rtol=1e-10)
        assert not torch.allclose(a[:, first:], b[:, first:])


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("chunk", [1, 7, 16, 32])
def test_streaming_equals_forward(name: str, chunk: int) -> None:
    enc = case(name)
    x = torch.randn(2, 61, NF)
    with torch.no_grad():
        full, lens = enc(x, torch.tensor([61, 61]))
    streamed = stream_all(enc, x, chunk)
    assert streamed.shape == full.shape and int(lens[0]) == full.size(1)
    torch.testing.assert_close(streamed, full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("chunk_size", "left_chunks"), [(1, 0), (2, 5), (4, 1), (8, 3)])
@pytest.mark.parametrize("chunk", [4, 12, 33])
def test_conformer_streaming_any_window(chunk_size: int, left_chunks: int, chunk: int) -> None:
    enc = tiny("conformer", chunk_size=chunk_size, left_chunks=left_chunks)
    x = torch.randn(1, 90, NF)
    with torch.no_grad():
        full, _ = enc(x, torch.tensor([90]))
    torch.testing.assert_close(stream_all(enc, x, chunk), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_padding_does_not_reach_valid_frames(name: str) -> None:
    enc = case(name)
    x = torch.randn(2, 64, NF)
    x[1, 37:] = 5.0  # loud padding: it must not matter
    with torch.no_grad():
        both, lens = enc(x, torch.tensor([64, 37]))
        alone, alone_lens = enc(x[1:, :37], torch.tensor([37]))
    n = int(lens[1])
    assert n == int(alone_lens[0]) == alone.size(1)
    torch.testing.assert_close(both[1:, :n], alone, atol=1e-5, rtol=1e-5)


def test_convrnnt_options_default_to_the_shipped_model() -> None:
    """The new options at their defaults build today's ConvRNN-T: same modules, same weights from
    the same seed, same output (trained checkpoints of conf/train/convrnnt.yaml keep their meaning)."""
    explicit = {"global_dilations": [1, 1], "stacking": "parallel", "local_2d_channels": None}
    a, b = tiny("convrnnt"), tiny("convrnnt", **explicit)
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
    x, lens = torch.randn(2, 40, NF), torch.tensor([40, 29])
    with torch.no_grad():
        assert torch.equal(a(x, lens)[0], b(x, lens)[0])
    conf = yaml.safe_load((REPO / "conf/train/convrnnt.yaml").read_text())["model"]["encoder_conf"]
    shipped = build_encoder("convrnnt", conf)
    assert type(shipped.subsample) is CausalConvSubsampling and shipped.stacking == "parallel"
    assert [blk.depthwise.conv.dilation for blk in shipped.glob] == [(1,), (1,)]


def test_convrnnt_paper_options_change_the_model() -> None:
    enc = tiny("convrnnt", **CONVRNNT_PAPER)
    assert [blk.depthwise.conv.dilation[0] for blk in enc.glob] == [1, 2, 4]
    assert [blk.depthwise.context for blk in enc.glob] == [2, 4, 8]  # (kernel - 1) x dilation
    assert isinstance(enc.subsample, LocalConvSubsampling) and len(enc.subsample.local.convs) == 2
    assert len(enc.local) == 0
    # serial stacking feeds the global blocks the local blocks' output: same weights, other output
    serial = tiny("convrnnt", stacking="serial")
    parallel = tiny("convrnnt")
    parallel.load_state_dict(serial.state_dict())
    x, lens = torch.randn(1, 40, NF), torch.tensor([40])
    with torch.no_grad():
        assert not torch.allclose(serial(x, lens)[0], parallel(x, lens)[0])


def test_convrnnt_bad_options_are_one_line() -> None:
    with pytest.raises(FairstreamError, match="global_dilations"):
        tiny("convrnnt", global_dilations=[1])
    with pytest.raises(FairstreamError, match="stacking"):
        tiny("convrnnt", stacking="sideways")
    with pytest.raises(FairstreamError, match="odd kernel"):
        tiny("convrnnt", local_2d_channels=[2], local_2d_kernel=4)


def test_conformer_bad_config_is_one_line() -> None:
    with pytest.raises(FairstreamError, match="not divisible by num_heads"):
        tiny("conformer", hidden_dim=30, num_heads=4)
    with pytest.raises(FairstreamError, match="chunk_size >= 1"):
        tiny("conformer", chunk_size=0)


# ---- brute-force checks of the kernels -------------------------------------------------------


def test_causal_mean_matches_loop_and_continues() -> None:
    x = torch.randn(2, 9, 3, dtype=torch.float64)
    means, total, count = causal_mean(x)
    for b in range(2):
        for t in range(9):
            want = sum(x[b, i] for i in range(t + 1)) / (t + 1)
            torch.testing.assert_close(means[b, t], want)
    first, tot, n = causal_mean(x[:, :4])
    rest, tot, n = causal_mean(x[:, 4:], tot, n)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), means)
    torch.testing.assert_close(tot, total)
    assert n == count == 9


def test_causal_conv_matches_loop_and_streams() -> None:
    torch.manual_seed(1)
    conv = CausalConv1d(3, 2, kernel_size=3, dilation=2).double()
    x = torch.randn(1, 10, 3, dtype=torch.float64)
    w, bias = conv.conv.weight, conv.conv.bias  # (out, in, k)
    y = conv(x)
    for t in range(10):
        want = bias.clone()
        for k in range(3):
            src = t - (2 - k) * 2  # tap k looks back (k_max - k) * dilation frames
            if src >= 0:
                want = want + w[:, :, k] @ x[0, src]
        torch.testing.assert_close(y[0, t], want)
    cache, parts = conv.init_state(1).double(), []
    for i in range(0, 10, 3):
        part, cache = conv.stream(x[:, i : i + 3], cache)
        parts.append(part)
    torch.testing.assert_close(torch.cat(parts, dim=1), y)


def test_local_fbank_cnn_is_a_left_padded_conv2d_and_streams() -> None:
    torch.manual_seed(3)
    cnn = LocalFbankCnn([3, 2], kernel_size=3).double()
    x = torch.randn(2, 11, 6, dtype=torch.float64)
    y, _ = cnn.stream(x, cnn.init_state(2, 6))
    h = x.unsqueeze(1)
    for conv in cnn.convs:  # two zero rows before frame 0 (causal); 'same' in frequency
        h = torch.relu(conv(nn.functional.pad(h, (0, 0, 2, 0))))
    torch.testing.assert_close(y, x + cnn.out(h).squeeze(1))
    state, parts = cnn.init_state(2, 6), []
    for i in range(0, 11, 4):
        part, state = cnn.stream(x[:, i : i + 4], state)
        parts.append(part)
    torch.testing.assert_close(torch.cat(parts, dim=1), y)


def test_causal_squeeze_excite_matches_loop() -> None:
    torch.manual_seed(2)
    se = CausalSqueezeExcite(8, reduction=2).double()
    x = torch.randn(1, 6, 8, dtype=torch.float64)
    y = se(x)
    for t in range(6):
        s = x[0, : t + 1].mean(0)
        g = torch.sigmoid(se.up(nn.functional.silu(se.down(s))))
        torch.testing.assert_close(y[0, t], x[0, t] * g)


@pytest.mark.parametrize(("chunk_size", "left_chunks"), [(1, 0), (3, 1), (4, 2)])
def test_chunk_mask_matches_per_frame_loop(chunk_size: int, left_chunks: int) -> None:
    q_pos, k_pos = torch.arange(5, 17), torch.arange(-2, 17)  # keys include cache and "before 0"
    valid = torch.ones(2, k_pos.numel(), dtype=torch.bool)
    valid[1, -4:] = False  # the last four keys of utterance 1 are padding
    got = chunk_mask(q_pos, k_pos, chunk_size, left_chunks, valid)
    for b in range(2):
        for i, qp in enumerate(q_pos.tolist()):
            for j, kp in enumerate(k_pos.tolist()):
                qc, kc = qp // chunk_size, kp // chunk_size
                want = kp >= 0 and qc - left_chunks <= kc <= qc and bool(valid[b, j])
                assert bool(got[b, i, j]) == (want or qp == kp), (b, qp, kp)


def test_conformer_attention_matches_per_frame_softmax() -> None:
    enc = tiny("conformer", num_heads=2, chunk_size=3, left_chunks=1)
    attn = enc.layers[0].attn
    with torch.no_grad():
        attn.rel_bias.normal_()
        x = torch.randn(1, 10, 32)
        got, _ = attn(x, (torch.zeros(1, 2, 0, 16), torch.zeros(1, 2, 0, 16)), 0)
        q, k, v = attn.qkv(x).view(1, 10, 3, 2, 16).unbind(2)
        heads = []
        for h in range(2):
            rows = []
            for i in range(10):
                js = [j for j in range(10) if i // 3 - 1 <= j // 3 <= i // 3]
                s = torch.stack([q[0, i, h] @ k[0, j, h] / 4.0 + attn.rel_bias[h, i - j + 2] for j in js])
                p = s.softmax(0)
                rows.append(sum(p[n] * v[0, j, h] for n, j in enumerate(js)))
            heads.append(torch.stack(rows))
        want = attn.out(torch.cat(heads, dim=-1)).unsqueeze(0)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


# ---- FLOPs ------------------------------------------------------------------------------------


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 6)
        self.conv = nn.Conv1d(6, 6, kernel_size=3, groups=2)
        self.lstm = nn.LSTM(6, 5, num_layers=2, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv(self.lin(x).transpose(1, 2)).transpose(1, 2)
        return self.lstm(h)[0]


def test_flops_hand_count() -> None:
    b, t = 2, 10
    linear = 2 * b * t * 4 * 6
    conv = 2 * b * (t - 2) * 6 * (6 // 2) * 3  # out frames × out channels × in/group × kernel
    lstm = 2 * b * (t - 2) * (4 * 5 * (6 + 5) + 4 * 5 * (5 + 5))  # two layers, input + recurrent
    assert lstm_flops(Tiny().lstm, t - 2, b) == lstm
    assert count_flops(Tiny(), torch.randn(b, t, 4)) == linear + conv + lstm


class TinyAttention(nn.Module):
    def forward(self, q: Tensor) -> Tensor:
        return nn.functional.scaled_dot_product_attention(q, q, q[..., :3])


def test_flops_counts_attention() -> None:
    """SDPA: 2 x (scores B.H.Tq.Tk.D + weighted values B.H.Tq.Tk.Dv), whatever the CPU kernel reports."""
    b, h, t, d = 2, 3, 7, 5
    assert count_flops(TinyAttention(), torch.randn(b, h, t, d)) == 2 * b * h * t * t * (d + 3)
    assert nn.functional.scaled_dot_product_attention.__name__ == "scaled_dot_product_attention"


def test_encoder_flops_per_second_scales_with_size() -> None:
    small = encoder_flops_per_second(tiny("lstm"), NF, seconds=1.0)
    big = encoder_flops_per_second(tiny("lstm", hidden_dim=64), NF, seconds=1.0)
    assert 0 < small < big
    # the LSTM part alone: 25 frames/s × 2 layers (input 32 + recurrent 32) × 4 gates × 32 × 2
    assert small > 25 * 2 * 2 * 4 * 32 * 64


# ---- a tiny end-to-end train + decode per new architecture -----------------------------------


@pytest.mark.parametrize("name", NEW)
def test_tiny_train_and_decode(name: str, tiny_fbank: Path, tiny_lang: Path, tmp_path: Path) -> None:
    conf = yaml.safe_load(TINY_TRAIN.format(steps=3, every=100))
    conf["model"] = {
        **conf["model"],
        "encoder": name,
        "encoder_conf": {**TINY[name], "output_dim": 64, "subsampling_channels": 8},
    }
    conf["num_threads"] = 1
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(conf))
    exp = tmp_path / "exp"
    run_step("steps.train_transducer", tiny_fbank, exp, "--conf", path, "--lang-dir", tiny_lang)
    stats = json.loads((exp / "train_stats.json").read_text())
    assert stats["steps"] == 3
    out = tmp_path / "decode"
    run_step("steps.decode_transducer", exp, tiny_fbank, out, "--splits", "test", "--chunk-ms", "200")
    metrics = json.loads((out / "metrics.json").read_text())["test"]
    assert (out / "cuts_test.jsonl.gz").is_file() and (out / ".done").is_file()
    assert metrics["streaming"] is True and math.isfinite(metrics["wer"]) and metrics["num_utts"] > 0


def test_shipped_configs_build_and_match_the_lstm_budget() -> None:
    from steps.nnet.task import Task
    from steps.nnet.transducer import Transducer

    counts = {}
    base = yaml.safe_load((REPO / "conf/train/lstm.yaml").read_text())
    # chosen per family on dev, the reason in its conf
    own = {"conformer": {"lr", "ctc_scale"}, "transformer": {"max_steps", "ctc_scale"}}
    shipped = ["lstm", *NEW, "convrnnt_paper_design"]
    for name in shipped:
        raw = yaml.safe_load((REPO / f"conf/train/{name}.yaml").read_text())
        skip = {"model", *own.get(name, ())}
        assert {k: v for k, v in raw.items() if k not in skip} == {
            k: v for k, v in base.items() if k not in skip
        }
        model = Transducer.from_conf(Task().model_conf(raw["model"]), vocab_size=500)
        assert model.encoder.__class__ is ENCODERS[raw["model"]["encoder"]]
        counts[name] = sum(p.numel() for p in model.parameters())
    for name in shipped[1:]:
        assert abs(counts[name] / counts["lstm"] - 1) <= 0.10, counts


def test_paper_size_configs_match_published_counts() -> None:
    """conf/train/paper/*.yaml, built on the meta device: each within 10% of its paper's count;
    those whose paper's count was not recovered within 10% of the stated ones' mean (sized to
    the same class).  They are valid training configs with lstm.yaml's non-model values."""
    from steps.nnet.task import Task
    from steps.nnet.trainer import TrainConf
    from steps.nnet.transducer import Transducer
    from steps.reports.paper_sizes import PAPER_PARAMS, count_params, paper_size_rows, paper_size_section
    from steps.utils.config import from_dict

    paper_dir = REPO / "conf/train/paper"
    rows = {r.name: r for r in paper_size_rows(paper_dir)}
    assert set(rows) == {"lstm", "convrnnt", "conformer", "contextnet"} == set(PAPER_PARAMS)
    stated = [r for r in rows.values() if r.ratio is not None]
    assert {r.name for r in stated} == {"conformer", "contextnet"}
    for r in stated:
        assert abs(r.ratio - 1) <= 0.10, r
    target = sum(r.paper.params_m for r in stated) / len(stated)  # type: ignore[misc]
    for r in rows.values():
        assert abs(r.params_m / target - 1) <= 0.10, r
    base = yaml.safe_load((REPO / "conf/train/lstm.yaml").read_text())
    for name in rows:
        raw = yaml.safe_load((paper_dir / f"{name}.yaml").read_text())
        from_dict(TrainConf, raw)
        assert {k: v for k, v in raw.items() if k != "model"} == {k: base[k] for k in base if k != "model"}
    assert rows["convrnnt"].encoder == "convrnnt"
    # the meta-device count is the real count (checked on the small LSTM config)
    raw = yaml.safe_load((REPO / "conf/train/lstm.yaml").read_text())
    real = Transducer.from_conf(Task().model_conf(raw["model"]), vocab_size=1024)
    assert count_params(REPO / "conf/train/lstm.yaml") == ("lstm", sum(q.numel() for q in real.parameters()))
    text = paper_size_section(paper_dir)
    assert text is not None and "| conformer | conformer |" in text and "| 10.3 |" in text
    assert "| convrnnt | convrnnt |" in text and "not recovered" in text


def test_feature_stats_match_numpy_and_reach_the_front_end(tiny_fbank: Path) -> None:
    from steps.data.manifests import load_cuts
    from steps.nnet.normalization import feature_stats, set_feature_stats

    cuts = list(load_cuts(tiny_fbank, "train"))
    mean, std = feature_stats(cuts, max_cuts=5)
    picked = cuts[:: len(cuts) // 5][:5]
    feats = np.concatenate([c.load_features() for c in picked]).astype(np.float64)
    np.testing.assert_allclose(mean.numpy(), feats.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std.numpy(), feats.std(0), rtol=1e-4, atol=1e-4)
    enc = build_encoder("lstm", {"num_features": feats.shape[1], "hidden_dim": 16, "num_layers": 1,
                                 "output_dim": 8, "subsampling_channels": 4})  # fmt: skip
    set_feature_stats(enc, mean, std)
    assert torch.equal(enc.subsample.feat_mean, mean) and torch.equal(enc.subsample.feat_std, std)
