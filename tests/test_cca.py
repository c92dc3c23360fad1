"""CCA Transformer kernels: gates forced on = plain Transformer, real skipping = masked dense
computation, hand-counted FLOPs, streaming == forward, causality, the compute-cost loss and the
gradient through skipped keys (end to end: test_cca_pipeline.py)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from steps.nnet.encoders.cca import ARBITRATOR_INPUTS, CcaTransformer, cca_flops, distance_buckets
from steps.nnet.encoders.registry import ENCODERS, build_encoder
from steps.nnet.flops import count_flops
from steps.utils import FairstreamError
from tests.conftest import stream_all

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


def set_gate_bias(enc: CcaTransformer, value: float) -> None:
    """Every arbitrator's keep-logit bias (its last layer) set to ``value``."""
    for arb in enc.arbitrators:
        arb[-1].bias.fill_(value)


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
    assert not unexpected and missing and all(k.startswith("arbitrators.") for k in missing)
    x, lens = torch.randn(3, 70, NF), torch.tensor([70, 53, 21])
    with torch.no_grad():
        set_gate_bias(gated, 1e4)  # keep probability 1 for every block
        for train in (False, True):  # sparse inference path, then dense training path
            plain.train(train)
            gated.train(train)
            want, _ = plain(x, lens)
            got, _ = gated(x, lens)
            assert torch.equal(got, want)  # exact: gates of exactly 1.0 leave the plain layer's arithmetic
    # with gradients the gated layers weight keys by their gates explicitly: the same up to rounding
    torch.testing.assert_close(gated(x, lens)[0], want, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        set_gate_bias(gated, -1e4)  # every block off: no longer the Transformer
        assert not torch.allclose(gated(x, lens)[0], want)


def test_sliding_window_is_the_transformer_with_a_short_window() -> None:
    sw = tiny("sliding_window", left_context=2)
    plain = tiny(gated=False, left_context=2)
    plain.load_state_dict(sw.state_dict())  # same keys and shapes, whatever the window
    x, lens = torch.randn(2, 60, NF), torch.tensor([60, 44])
    with torch.no_grad():
        assert torch.equal(sw(x, lens)[0], plain(x, lens)[0])  # exact: one code path, same shapes
        assert not sw.gated and len(sw.arbitrators) == 0 and sw.left_context == 2
        wide = tiny(gated=False, left_context=30)
        wide.load_state_dict(sw.state_dict())
        assert not torch.allclose(wide(x, lens)[0], plain(x, lens)[0])


def test_distance_buckets_do_not_depend_on_the_window() -> None:
    long = distance_buckets(200, 16)
    assert torch.equal(distance_buckets(9, 16), long[:10])
    assert long[:8].tolist() == list(range(8)) and int(long.max()) == 15
    assert bool((long[1:] >= long[:-1]).all())


# ---- (b) hard skipping == masked dense computation ---------------------------------------------
@pytest.mark.parametrize("arbitrator_input", ARBITRATOR_INPUTS)
@pytest.mark.parametrize("left_context", [0, 1, 4, 40])
def test_sparse_inference_equals_masked_dense(left_context: int, arbitrator_input: str) -> None:
    enc = mixed(left_context=left_context, arbitrator_input=arbitrator_input)
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


def test_arbitrator_flops_by_input() -> None:
    d, a, nl = 8, 4, 3
    x, lens = torch.randn(1, 40, NF), torch.tensor([40])  # 10 encoder frames
    gates = torch.rand(1, 10, 2 * nl, generator=torch.Generator().manual_seed(4)) > 0.5
    plain = tiny(hidden_dim=d, num_heads=2, num_layers=nl, gated=False)
    plain.force_gates = gates
    base = cca_flops(plain, x, lens)["flops"][0]
    for mode, per_frame in (
        ("frontend", 2 * d * a + 2 * a * 2 * nl),
        ("layer", nl * (2 * d * a + 2 * a * 2)),
    ):
        enc = tiny(hidden_dim=d, num_heads=2, num_layers=nl, arbitrator_dim=a, arbitrator_input=mode)
        enc.force_gates = gates
        assert cca_flops(enc, x, lens)["flops"][0] - base == 10 * per_frame, mode


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
@pytest.mark.parametrize("name", ["cca", "cca_frontend", "sliding_window"])
@pytest.mark.parametrize("chunk", [1, 6, 16, 45])
def test_streaming_equals_forward(name: str, chunk: int) -> None:
    enc = mixed(arbitrator_input="frontend" if name == "cca_frontend" else "layer")
    if name == "sliding_window":
        enc = tiny(name)
    x = torch.randn(2, 97, NF)
    with torch.no_grad():
        full, lens = enc(x, torch.tensor([97, 97]))
    skipped = float(1 - enc.last_keep.float().mean())
    assert (0.2 < skipped < 0.8) if name != "sliding_window" else skipped == 0.0
    streamed = stream_all(enc, x, chunk)
    assert streamed.shape == full.shape and int(lens[0]) == full.size(1)
    torch.testing.assert_close(streamed, full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arbitrator_input", ARBITRATOR_INPUTS)
@pytest.mark.parametrize("train", [False, True])
def test_causal(train: bool, arbitrator_input: str) -> None:
    # in float64: the sparse path multiplies as many rows as frames are kept, so x and y run
    # differently shaped matmuls whose float32 results differ in the last bits on some CPUs
    enc = mixed(left_context=3, arbitrator_input=arbitrator_input).double().train(train)
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
def capture_logits(enc: CcaTransformer) -> tuple[list[Tensor], list[torch.utils.hooks.RemovableHandle]]:
    """Forward hooks keeping every arbitrator output of the next forward (gradients retained);
    ``torch.cat(outs, -1)`` is then (B, T, 2L) in gate-column order for either arbitrator input."""
    outs: list[Tensor] = []

    def hook(module: torch.nn.Module, args: tuple, out: Tensor) -> None:
        if out.requires_grad:
            out.retain_grad()
        outs.append(out)

    return outs, [arb.register_forward_hook(hook) for arb in enc.arbitrators]


@pytest.mark.parametrize("arbitrator_input", ARBITRATOR_INPUTS)
def test_aux_loss_reaches_the_arbitrators_and_scales_with_cost_weight(arbitrator_input: str) -> None:
    x, lens = torch.randn(2, 80, NF), torch.tensor([80, 50])
    enc = mixed(cost_weight=0.1, arbitrator_input=arbitrator_input).train()
    outs, hooks = capture_logits(enc)
    torch.manual_seed(0)
    enc(x, lens)
    assert set(enc.aux_stats) >= {"keep_mha", "keep_ffn"} and 0 < enc.aux_stats["keep_mha"] < 1
    low = enc.aux_loss
    # the expected compute fraction, by hand, from the arbitrators' probabilities
    prob = torch.sigmoid(torch.cat(outs, -1))
    cost = enc.block_flops()
    n = enc.last_lens
    valid = torch.arange(prob.size(1))[None] < n[:, None]
    frac = ((prob * cost).sum(-1) / cost.sum())[valid].mean()
    torch.testing.assert_close(low, 0.1 * frac)
    low.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.arbitrators.parameters())
    # the cost term only moves the gates: the arbitrators' input is detached
    assert all(p.grad is None for p in [*enc.layers.parameters(), *enc.subsample.parameters()])
    enc.cost_weight = 0.5
    torch.manual_seed(0)
    enc(x, lens)
    for h in hooks:
        h.remove()
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
    assert all(
        arb[-1].weight.grad is not None and arb[-1].weight.grad.abs().sum() > 0 for arb in enc.arbitrators
    )
    keep = enc.last_keep.float()
    assert bool(((keep == 0) | (keep == 1)).all())  # hard gates in the forward pass


# ---- gradient through skipped keys --------------------------------------------------------------
def brute_force_layer(
    layer: torch.nn.Module, x: Tensor, g_mha: Tensor, g_ffn: Tensor, relaxed: bool
) -> Tensor:
    """GatedLayer.forward_dense by loops over utterances, queries, heads and keys.  ``relaxed``:
    query t weights key s of its window by g_s · exp(min(score_ts, best visible score of t)) and
    itself by exp(score_tt), normalised; otherwise a plain softmax over its kept keys and itself."""
    b, t, d = x.shape
    nh, w = layer.heads, layer.left_context
    dh = d // nh
    qkv = layer.qkv(layer.attn_norm(x)).view(b, t, 3, nh, dh)
    bias = layer.distance_bias()
    utts = []
    for u in range(b):
        frames = []
        for i in range(t):
            heads = []
            for h in range(nh):
                keys = range(max(0, i - w), i + 1)
                score = {s: qkv[u, i, 0, h] @ qkv[u, s, 1, h] / math.sqrt(dh) + bias[h, i - s] for s in keys}
                gate = {s: g_mha[u, s] if s != i else torch.ones((), dtype=x.dtype) for s in keys}
                if not relaxed:
                    keys = [s for s in keys if float(gate[s].detach()) > 0]
                    gate = {s: torch.ones((), dtype=x.dtype) for s in keys}
                best = max(float(score[s].detach()) for s in keys if float(gate[s].detach()) > 0)
                weight = {s: gate[s] * torch.exp(torch.clamp(score[s] - best, max=0.0)) for s in keys}
                z = sum(weight.values())
                heads.append(sum(weight[s] * qkv[u, s, 2, h] for s in keys) / z)
            frames.append(torch.cat(heads))
        utts.append(torch.stack(frames))
    y = x + layer.out(torch.stack(utts)) * g_mha[..., None]
    return y + layer.ff(y) * g_ffn[..., None]


def test_skipped_keys_pass_gradient_to_their_gates() -> None:
    enc = tiny(hidden_dim=8, num_heads=2, ff_dim=12, num_layers=1, left_context=4).double()
    layer = enc.layers[0]
    with torch.no_grad():
        layer.rel_bias[:, 1] = 6.0  # the key one frame back scores high: a skipped one hits the cap
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 14, 8, dtype=torch.float64, generator=gen)
    hard = (torch.rand(2, 14, generator=gen) > 0.5).double()
    hard[:, 5] = 0.0  # frame 5 skipped, frame 6 kept: frame 6's best key is capped
    hard[:, 6] = 1.0
    g_ffn = (torch.rand(2, 14, generator=gen) > 0.5).double()
    weights = torch.randn(2, 14, 8, dtype=torch.float64, generator=gen)
    weights[:, 5] = 0.0  # the loss ignores frame 5's own output: its gate can only act as a key
    got_g, want_g = hard.clone().requires_grad_(), hard.clone().requires_grad_()
    got = layer.forward_dense(x, got_g, g_ffn)
    want = brute_force_layer(layer, x, want_g, g_ffn, relaxed=True)
    # the forward pass is the hard-masked attention: the straight-through key weights change no value
    plain = brute_force_layer(layer, x, hard, g_ffn, relaxed=False)
    torch.testing.assert_close(got, plain, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(want, plain, atol=1e-12, rtol=1e-12)
    # gates that need no gradient take the fused kernel: the same values
    torch.testing.assert_close(layer.forward_dense(x, hard, g_ffn), plain, atol=1e-12, rtol=1e-12)
    (got * weights).sum().backward()
    (want * weights).sum().backward()
    torch.testing.assert_close(got_g.grad, want_g.grad, atol=1e-10, rtol=1e-10)
    assert bool(torch.isfinite(got_g.grad).all())
    assert float(got_g.grad[:, 5].abs().min()) > 1e-6  # a skipped frame learns from the frames it leaves


@pytest.mark.parametrize("arbitrator_input", ARBITRATOR_INPUTS)
def test_skipped_key_gradient_reaches_its_arbitrator(arbitrator_input: str) -> None:
    # one layer, and a loss blind to frame s: the only way frame s's MHA gate acts is as a key
    enc = mixed(num_layers=1, cost_weight=0.0, arbitrator_input=arbitrator_input).double().train()
    outs, hooks = capture_logits(enc)
    x = torch.randn(1, 100, NF, dtype=torch.float64)
    torch.manual_seed(1)
    out, _ = enc(x, torch.tensor([100]))
    for h in hooks:
        h.remove()
    off = (~enc.last_keep[0, :, 0]).nonzero().squeeze(1)
    s = int(off[off < out.size(1) - 3][0])  # a skipped frame with kept frames after it
    mask = torch.ones_like(out)
    mask[:, s] = 0.0
    (out * mask * torch.randn_like(out)).sum().backward()
    grad = outs[0].grad[0, s]  # (MHA, FFN) keep logits of frame s
    assert abs(float(grad[0])) > 1e-8
    assert float(grad[1]) == 0.0  # its FFN acts on its own output only, which the loss ignores


# ---- arbitrator input, static pruning ------------------------------------------------------------
def test_layer_arbitrators_see_the_blocks_below() -> None:
    x, lens = torch.randn(2, 90, NF), torch.tensor([90, 70])
    for mode in ARBITRATOR_INPUTS:
        enc = mixed(arbitrator_input=mode, num_layers=2)
        assert len(enc.arbitrators) == (2 if mode == "layer" else 1)
        with torch.no_grad():
            enc(x, lens)
            before = enc.last_keep.clone()
            enc.layers[0].ff[1].weight.mul_(5.0)  # layer 0 now writes something else
            enc(x, lens)
        after = enc.last_keep
        assert torch.equal(before[..., :2], after[..., :2])  # layer 0's gates never see layer 0
        assert torch.equal(before[..., 2:], after[..., 2:]) == (mode == "frontend"), mode
    with pytest.raises(FairstreamError, match="arbitrator_input 'middle'"):
        tiny(arbitrator_input="middle")


def test_static_pruning_removes_the_top_sub_blocks() -> None:
    x, lens = torch.randn(2, 80, NF), torch.tensor([80, 61])
    pruned = tiny("sliding_window", left_context=3, num_layers=3, drop_mha=2, drop_ffn=1)
    full = tiny("sliding_window", left_context=3, num_layers=3)
    full.load_state_dict(pruned.state_dict())
    pattern = torch.tensor([True, True, False, True, False, False])  # (MHA, FFN) of layers 0, 1, 2
    for train in (False, True):  # sparse inference path, then dense training path
        pruned.train(train)
        full.train(train)
        with torch.no_grad():
            got = pruned(x, lens)[0]
            valid = torch.arange(20)[None] < pruned.last_lens[:, None]
            assert torch.equal(pruned.last_keep, valid[..., None] & pattern)
            full.force_gates = pattern.expand(2, 20, 6)
            torch.testing.assert_close(got, full(x, lens)[0], atol=1e-6, rtol=1e-6)
    report = cca_flops(pruned, x[:1], lens[:1])
    assert report["kept_mha"] == [20] and report["kept_ffn"] == [40]
    with pytest.raises(FairstreamError, match="drop_mha 4 and drop_ffn 0 must be in 0..num_layers"):
        tiny("sliding_window", num_layers=3, drop_mha=4)
