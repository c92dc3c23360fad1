"""Compute-cost amortized (CCA) Transformer: per-frame arbitrators switch sub-blocks off.

Architecture: causal conv subsampling ×4 (``CausalConvSubsampling``), ``num_layers`` pre-norm
Transformer layers, a final LayerNorm and a projection.  Each layer has two residual sub-blocks,
multi-head attention (MHA) and a feed-forward network (FFN); either can be switched off per frame
without breaking the residual stream.  Attention is frame-causal with a sliding window: frame
``t`` sees frames ``t - left_context .. t`` (a learned per-head bias over log-spaced distance
buckets gives it a sense of order; the bucket table does not depend on the window, so a model
with another window loads the same weights).

Arbitrators (``gated: true``): tiny MLPs (LayerNorm -> Linear(D, a) -> ReLU -> Linear(a, ·))
giving keep logits, one per (frame, sub-block).  ``arbitrator_input: frontend``: one MLP over the
front end's output gives all ``2L`` logits of a frame before the first layer runs;
``arbitrator_input: layer``: layer ``l`` has its own MLP over the residual stream entering it (the
output of the blocks below, so it can see how hard the frame has been so far).  Both look at the
current frame only, so they are causal.  Their input is detached: the arbitrators read the
encoder's representation and are trained by the gates' gradients, but neither the compute-cost
term nor the straight-through estimate reshapes the representation they read.  Training: hard 0/1
gates from the logit plus logistic noise (a Bernoulli(sigmoid(logit)) sample), straight-through
sigmoid gradient; eval: gate = sigmoid(logit) > 0.5.  After each training forward ``aux_loss =
cost_weight × expected compute fraction``: per valid frame, sum over gated blocks of keep
probability × the block's dense per-frame FLOPs, divided by the sum of those FLOPs (MHA: ``8D² +
4D(W+1)``, FFN: ``4DF``), averaged over the non-padding frames.  ``aux_stats`` holds the hard
keep rates.

The skip rule.  A frame whose MHA gate is off has no query and no key/value: its residual
branch adds nothing, and no other frame attends to it (it is masked out of the window of every
frame; the streaming cache stores it flagged absent).  A kept frame always sees itself.  A frame
whose FFN gate is off adds zero on the FFN branch.  Padding frames count as skipped everywhere,
so they never reach a real frame.

Gradient through skipped keys.  With a hard mask a frame's MHA gate would learn only from its own
residual branch, not from what removing its key does to the other frames.  So training attention
is written as a function of the gates: query ``t`` weights key ``s`` by ``G_ts · exp(score_ts)``,
normalised, with ``G_ts`` = key ``s``'s (straight-through) MHA gate and ``G_tt = 1``.  With hard
gates the forward value is exactly the masked softmax; the backward pass gives each gate
``∂out_t/∂G_ts = r_ts (v_s − out_t)`` with ``r_ts = exp(score_ts) / Σ_kept exp(score_tk)``, the
gradient a soft gate would have, also for a gate that is 0.  A skipped key scoring above every
visible key would make ``r_ts`` unbounded, so its score is capped at the best visible one (kept
keys never reach the cap, so the forward pass and their gradients are unchanged).

Static pruning (``drop_mha`` / ``drop_ffn``, the baseline at equal compute): the top ``drop_mha``
layers have no MHA and the top ``drop_ffn`` layers no FFN, for every frame, whatever the gates.

Two ways to compute the same thing: training (and ``dense_masked``) runs every sub-block on
every frame and multiplies by the gate; eval ``forward``/``stream`` gather the kept frames of a
sub-block, run it on them alone and scatter back, and attention visits only kept keys (the kept
keys of each utterance are packed, so the window holds at most ``W + 1`` of them, fewer when
frames are skipped; for efficiency, queries go in blocks that each score up to ``block + W``
packed keys, masked per query).  That is where inference time is saved.

FLOPs (``cca_flops`` / ``flop_report``): 2 × multiply-adds of the matmuls actually needed for
the gates applied: front end (both convolutions and its projection), arbitrators, per kept MHA
frame the QKV and output projections (``8D²``) plus ``4D`` per visible key (``QKᵀ`` and ``AV``,
the key count being the kept keys in the window, itself included), per kept FFN frame ``4DF``,
and the output projection.  Biases, norms, activations and softmax are not counted (as in
``steps/nnet/flops.py``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from steps.utils import FairstreamError

from ..subsampling import CausalConvSubsampling
from .base import StreamingEncoder

BUCKET_REFERENCE = 128  # distance that maps to the last bucket; fixed, so buckets ignore the window


def distance_buckets(max_distance: int, num_buckets: int) -> Tensor:
    """Bucket of each distance ``0..max_distance``: exact below ``num_buckets // 2``, then log-spaced."""
    exact = max(1, num_buckets // 2)
    out = []
    for d in range(max_distance + 1):
        if d < exact:
            b = d
        else:
            b = exact + int(math.log(d / exact) / math.log(BUCKET_REFERENCE / exact) * (num_buckets - exact))
        out.append(min(b, num_buckets - 1))
    return torch.tensor(out, dtype=torch.int64)


def window_attention(
    q: Tensor,
    q_batch: Tensor,
    q_slot: Tensor,
    keys: Tensor,
    values: Tensor,
    present: Tensor,
    left_context: int,
    bias: Tensor,
    block: int = 32,
) -> Tensor:
    """Attention of kept queries over the kept keys of their window, touching no skipped key.

    ``q`` (N, H, dh) sits at slot ``q_slot`` of utterance ``q_batch`` of ``keys``/``values``
    (B, S, H, dh); ``present`` (B, S) flags kept keys (every query's own slot is present);
    ``bias`` (H, left_context + 1) is the per-head bias of each distance.  The present keys of
    each utterance are packed in time order, so a query's window is a contiguous run of at most
    ``left_context + 1`` packed keys ending at its own.  Packed queries go in blocks of
    ``block``; a block attends to the packed keys from its first query's window start to its
    last query (at most ``block + left_context`` keys), masked per query: one batched matmul
    instead of one tiny product per query.
    """
    n, h, dh = q.shape
    if n == 0:
        return q.new_zeros(0, h, dh)
    b = present.size(0)
    dev = q.device
    cum = present.long().cumsum(1)  # present keys up to and including each slot
    p = int(cum[:, -1].max())
    order = torch.argsort((~present).to(torch.int8), dim=1, stable=True)[:, :p]  # (B, P) slots
    kp = keys.gather(1, order[:, :, None, None].expand(-1, -1, h, dh))
    vp = values.gather(1, order[:, :, None, None].expand(-1, -1, h, dh))
    idx = torch.arange(p, device=dev)
    before = order - left_context - 1
    lo = torch.where(before >= 0, cum.gather(1, before.clamp(min=0)), 0)  # first visible packed key
    lo = torch.where(idx < cum[:, -1:], lo, idx)  # past an utterance's keys: itself only
    me = cum[q_batch, q_slot] - 1  # packed index of each query
    first = int(me.min()) // block * block
    nb = (int(me.max()) - first) // block + 1
    qi = (first + torch.arange(nb * block, device=dev)).view(nb, block)  # packed query index
    qic = qi.clamp(max=p - 1)
    lo_q = lo[:, qic]  # (B, nb, block)
    width = max(block, int((qi[:, -1] + 1 - lo_q[:, :, 0]).max()))
    kj = qi[:, -1:] + 1 - width + torch.arange(width, device=dev)  # (nb, M) packed key index
    kjc = kj.clamp(0, p - 1)
    visible = (kj[None, :, None, :] >= lo_q[..., None]) & (kj[None, :, None, :] <= qi[None, :, :, None])
    visible = visible | (kj[None, :, None, :] == qi[None, :, :, None])  # no empty row
    dist = (order[:, qic][..., None] - order[:, kjc][:, :, None, :]).clamp(0, left_context)
    mask = bias[:, dist].permute(1, 2, 0, 3, 4).masked_fill(~visible[:, :, None], float("-inf"))
    qb = q.new_zeros(b, nb * block, h, dh)
    qb[q_batch, me - first] = q
    qb = qb.view(b * nb, block, h, dh).transpose(1, 2)
    kb = kp[:, kjc].view(b * nb, width, h, dh).transpose(1, 2)
    vb = vp[:, kjc].view(b * nb, width, h, dh).transpose(1, 2)
    out = nn.functional.scaled_dot_product_attention(
        qb, kb, vb, attn_mask=mask.reshape(b * nb, h, block, width)
    )
    return out.transpose(1, 2).reshape(b, nb * block, h, dh)[q_batch, me - first]


class GatedLayer(nn.Module):
    """Pre-norm Transformer layer whose MHA and FFN residual branches can be skipped per frame."""

    def __init__(
        self, dim: int, heads: int, ff_dim: int, left_context: int, dropout: float, num_buckets: int
    ) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.rel_bias = nn.Parameter(torch.zeros(heads, num_buckets))
        self.ff = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, ff_dim), nn.SiLU(), nn.Linear(ff_dim, dim))
        self.dropout = nn.Dropout(dropout)
        self.heads, self.left_context = heads, left_context
        self.block = max(8, min(64, left_context // 2))  # query block of the sparse attention
        self.register_buffer("bucket", distance_buckets(left_context, num_buckets), persistent=False)

    def distance_bias(self) -> Tensor:
        """(H, left_context + 1): the attention bias of each distance."""
        return self.rel_bias[:, self.bucket]

    def init_cache(self, batch: int) -> dict[str, Tensor]:
        dh = self.qkv.in_features // self.heads
        kv = torch.zeros(batch, 0, self.heads, dh)
        return {"k": kv, "v": kv.clone(), "present": torch.zeros(batch, 0, dtype=torch.bool)}

    # ---- dense: every frame computed, branches multiplied by their gates (training) ----
    def forward_dense(self, x: Tensor, g_mha: Tensor, g_ffn: Tensor) -> Tensor:
        """``g_*`` (B, T) float gates, hard 0/1 in value (straight-through in training); a key
        is weighted by its MHA gate, so a skipped key's gate learns from the frames it leaves."""
        b, t, d = x.shape
        dh = d // self.heads
        q, k, v = self.qkv(self.attn_norm(x)).view(b, t, 3, self.heads, dh).permute(2, 0, 3, 1, 4)
        pos = torch.arange(t, device=x.device)
        dist = pos[:, None] - pos[None, :]
        band = (dist >= 0) & (dist <= self.left_context)
        bias = self.distance_bias()[:, dist.clamp(0, self.left_context)]  # (H, T, T)
        if g_mha.requires_grad:
            key_gate = torch.where(dist == 0, torch.ones_like(g_mha[:, None, :]), g_mha[:, None, :])
            key_gate = (key_gate * band)[:, None]  # (B, 1, T, T): G_ts, 0 outside the window
            scores = q @ k.transpose(-1, -2) * dh**-0.5 + bias
            top = scores.detach().masked_fill(key_gate.detach() <= 0, float("-inf")).amax(-1, keepdim=True)
            w = torch.exp((scores - top).clamp(max=0.0)) * key_gate  # skipped keys capped at the best visible
            a = (w @ v) / w.sum(-1, keepdim=True)
        else:  # constant gates (plain and sliding-window models, eval): the same masked softmax, fused
            visible = (band & (g_mha > 0)[:, None, :]) | (dist == 0)  # (B, T, T)
            mask = bias.unsqueeze(0).masked_fill(~visible[:, None], float("-inf"))
            a = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        a = self.out(a.transpose(1, 2).reshape(b, t, d))
        x = x + self.dropout(a) * g_mha[..., None]
        return x + self.dropout(self.ff(x)) * g_ffn[..., None]

    # ---- sparse: only kept frames computed (inference) ----
    def forward_sparse(
        self, x: Tensor, keep_mha: Tensor, keep_ffn: Tensor, cache: dict[str, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        b, t, d = x.shape
        dh = d // self.heads
        c = cache["k"].size(1)
        flat = x.reshape(b * t, d)
        idx = keep_mha.reshape(-1).nonzero().squeeze(1)
        k_new = x.new_zeros(b * t, self.heads, dh)
        v_new = x.new_zeros(b * t, self.heads, dh)
        if idx.numel():
            q, k, v = (
                self.qkv(self.attn_norm(flat.index_select(0, idx))).view(-1, 3, self.heads, dh).unbind(1)
            )
            k_new.index_copy_(0, idx, k)
            v_new.index_copy_(0, idx, v)
        keys = torch.cat([cache["k"].to(x), k_new.view(b, t, self.heads, dh)], dim=1)
        values = torch.cat([cache["v"].to(x), v_new.view(b, t, self.heads, dh)], dim=1)
        present = torch.cat([cache["present"].to(keep_mha.device), keep_mha], dim=1)
        if idx.numel():
            a = window_attention(
                q,
                idx // t,
                idx % t + c,
                keys,
                values,
                present,
                self.left_context,
                self.distance_bias(),
                self.block,
            )
            flat = flat.index_add(0, idx, self.out(a.reshape(-1, d)))
        idx = keep_ffn.reshape(-1).nonzero().squeeze(1)
        if idx.numel():
            flat = flat.index_add(0, idx, self.ff(flat.index_select(0, idx)))
        s = keys.size(1)
        keep = min(self.left_context, s)
        new = {"k": keys[:, s - keep :], "v": values[:, s - keep :], "present": present[:, s - keep :]}
        return flat.view(b, t, d), new


ARBITRATOR_INPUTS = ("frontend", "layer")


class Arbitrator(nn.Sequential):
    """LayerNorm -> Linear(dim, hidden) -> ReLU -> Linear(hidden, outputs): keep logits of a frame."""

    def __init__(self, dim: int, hidden: int, outputs: int, bias: float) -> None:
        super().__init__(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, outputs))
        nn.init.constant_(self[-1].bias, bias)

    def flops_per_frame(self) -> int:
        return 2 * sum(m.in_features * m.out_features for m in self if isinstance(m, nn.Linear))


class CcaTransformer(StreamingEncoder):
    """Streaming Transformer with per-frame arbitrators over its MHA and FFN sub-blocks."""

    def __init__(
        self,
        num_features: int = 80,
        hidden_dim: int = 176,
        num_layers: int = 6,
        num_heads: int = 4,
        ff_dim: int | None = None,  # default 4 × hidden_dim
        left_context: int = 64,  # encoder frames (40 ms each) a frame sees before itself
        output_dim: int = 320,
        subsampling_channels: int = 32,
        dropout: float = 0.1,
        gated: bool = True,
        cost_weight: float = 0.1,  # λ of the compute-cost term
        gate_bias: float = 3.0,  # initial keep logit: blocks start mostly on (p = 0.95)
        arbitrator_dim: int = 16,
        arbitrator_input: str = "layer",  # "frontend": the subsampled frames; "layer": each layer's input
        drop_mha: int = 0,  # static pruning: no MHA in the top drop_mha layers
        drop_ffn: int = 0,  # static pruning: no FFN in the top drop_ffn layers
        rel_buckets: int = 16,
        subsampling_factor: int = 4,
    ) -> None:
        super().__init__()
        if hidden_dim % num_heads:
            raise FairstreamError(f"cca hidden_dim {hidden_dim} is not divisible by num_heads {num_heads}")
        if left_context < 0 or num_layers < 1 or arbitrator_dim < 1 or rel_buckets < 1:
            raise FairstreamError(
                "cca needs left_context >= 0 and num_layers, arbitrator_dim, rel_buckets >= 1"
            )
        if cost_weight < 0:
            raise FairstreamError(f"cca cost_weight must be >= 0, got {cost_weight}")
        if arbitrator_input not in ARBITRATOR_INPUTS:
            raise FairstreamError(
                f"cca arbitrator_input {arbitrator_input!r}: expected one of {', '.join(ARBITRATOR_INPUTS)}"
            )
        if not (0 <= drop_mha <= num_layers and 0 <= drop_ffn <= num_layers):
            raise FairstreamError(
                f"cca drop_mha {drop_mha} and drop_ffn {drop_ffn} must be in 0..num_layers ({num_layers})"
            )
        ff_dim = ff_dim or 4 * hidden_dim
        self.subsample = CausalConvSubsampling(
            num_features, hidden_dim, subsampling_channels, subsampling_factor
        )
        self.subsampling = subsampling_factor
        self.layers = nn.ModuleList(
            GatedLayer(hidden_dim, num_heads, ff_dim, left_context, dropout, rel_buckets)
            for _ in range(num_layers)
        )
        per_layer = arbitrator_input == "layer"
        self.arbitrators = nn.ModuleList(
            Arbitrator(hidden_dim, arbitrator_dim, 2 if per_layer else 2 * num_layers, gate_bias)
            for _ in range(num_layers if per_layer else 1)
            if gated
        )
        keep = torch.ones(num_layers, 2, dtype=torch.bool)
        keep[num_layers - drop_mha :, 0] = False
        keep[num_layers - drop_ffn :, 1] = False
        self.register_buffer("static_keep", keep.view(-1), persistent=False)  # (2L,) gate-column order
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden_dim)
        self.proj = nn.Linear(hidden_dim, output_dim)
        self.output_dim, self.hidden_dim, self.ff_dim = output_dim, hidden_dim, ff_dim
        self.left_context, self.num_layers, self.gated = left_context, num_layers, gated
        self.cost_weight, self.arbitrator_input = cost_weight, arbitrator_input
        self.dense_masked = False  # eval forward computes densely and masks (for equivalence checks)
        self.force_gates: Tensor | None = None  # (B, T, 2L) bool, replaces the arbitrators
        self.aux_loss: Tensor | None = None
        self.aux_stats: dict[str, float] = {}
        self.last_keep: Tensor | None = None  # (B, T, 2L) gates of the last forward, padding off
        self.last_lens: Tensor | None = None

    # ---- gates --------------------------------------------------------------------------
    def block_flops(self) -> Tensor:
        """(2L,) dense per-frame FLOPs of each gated block, in gate-column order."""
        d, w = self.hidden_dim, self.left_context
        mha, ffn = 8 * d * d + 4 * d * (w + 1), 4 * d * self.ff_dim
        return torch.tensor([mha, ffn] * self.num_layers, dtype=torch.float32)

    def _logits(self, i: int, h: Tensor, first: Tensor | None) -> Tensor:
        """(B, T, 2) keep logits of layer ``i``'s MHA and FFN from its input ``h`` (layer
        arbitrators) or from the front-end arbitrator's logits ``first`` (B, T, 2L)."""
        if first is not None:
            return first[..., 2 * i : 2 * i + 2]
        return self.arbitrators[i](h.detach())

    def _gates(
        self, i: int, h: Tensor, first: Tensor | None, valid: Tensor
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Layer ``i``'s (float gates for the dense path, hard bool gates, keep probabilities),
        each (B, T, 2): MHA, FFN."""
        static = self.static_keep[2 * i : 2 * i + 2]
        if self.force_gates is not None:
            hard = self.force_gates[..., 2 * i : 2 * i + 2].to(torch.bool) & valid[..., None] & static
            return hard.to(h.dtype), hard, None
        if not self.gated:
            hard = valid[..., None] & static
            return hard.to(h.dtype), hard, None
        logits = self._logits(i, h, first)
        prob = torch.sigmoid(logits) * static
        on = valid[..., None] & static
        if self.training:
            u = torch.rand_like(logits).clamp(1e-6, 1 - 1e-6)
            noisy = logits + torch.log(u) - torch.log1p(-u)
            soft = torch.sigmoid(noisy)
            hard = (noisy > 0) & on
            gate = hard.to(h.dtype) + soft - soft.detach()  # straight-through: forward 0/1
            return gate * on.to(h.dtype), hard, prob
        hard = (logits > 0) & on
        return hard.to(h.dtype), hard, prob

    def _set_aux(self, hard: Tensor, prob: Tensor | None, valid: Tensor) -> None:
        n = valid.sum().clamp(min=1)
        keep = hard.float().sum(dim=(0, 1)) / n  # (2L,) hard keep rate of each block
        stats = {"keep_mha": float(keep[0::2].mean()), "keep_ffn": float(keep[1::2].mean())}
        self.aux_loss = None
        if prob is not None and self.training:
            cost = self.block_flops().to(prob)
            frac = (prob * cost).sum(-1) / cost.sum()  # (B, T) expected compute fraction
            expected = (frac * valid.to(frac)).sum() / n
            self.aux_loss = self.cost_weight * expected
            stats["compute"] = float(expected.detach())
        self.aux_stats = stats

    # ---- the network ----------------------------------------------------------------------
    def _run(
        self, h0: Tensor, valid: Tensor, caches: list[dict[str, Tensor]] | None, dense: bool
    ) -> tuple[Tensor, list[dict[str, Tensor]]]:
        b, t = valid.shape
        want = (b, t, 2 * self.num_layers)
        if self.force_gates is not None and self.force_gates.shape != want:
            raise FairstreamError(f"force_gates has shape {tuple(self.force_gates.shape)}, expected {want}")
        first = None
        if self.gated and self.force_gates is None and self.arbitrator_input == "frontend":
            first = self.arbitrators[0](h0.detach())
        h = self.dropout(h0)
        new: list[dict[str, Tensor]] = []
        hards, probs = [], []
        for i, layer in enumerate(self.layers):
            gate, hard, prob = self._gates(i, h, first, valid)
            hards.append(hard)
            probs.append(prob)
            if dense:
                h = layer.forward_dense(h, gate[..., 0], gate[..., 1])
            else:
                cache = caches[i] if caches is not None else layer.init_cache(h.size(0))
                h, cache = layer.forward_sparse(h, hard[..., 0], hard[..., 1], cache)
                new.append(cache)
        hard_all = torch.cat(hards, dim=-1)
        prob_all = None if probs[0] is None else torch.cat(probs, dim=-1)  # type: ignore[arg-type]
        self._set_aux(hard_all, prob_all, valid)
        self.last_keep = hard_all.detach()
        return self.proj(self.norm(h)), new

    def _forward(self, x: Tensor, x_lens: Tensor, dense: bool) -> tuple[Tensor, Tensor]:
        h0, lens = self.subsample(x, x_lens)
        lens = lens.to(h0.device)
        valid = torch.arange(h0.size(1), device=h0.device).unsqueeze(0) < lens.unsqueeze(1)
        self.last_lens = lens.detach().cpu()
        return self._run(h0, valid, None, dense)[0], lens

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        """Training: dense masked; eval: kept frames only (unless ``dense_masked`` is set)."""
        return self._forward(x, x_lens, dense=self.training or self.dense_masked)

    def forward_dense_masked(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        """Every sub-block on every frame, skipped ones masked: the reference for the sparse path."""
        return self._forward(x, x_lens, dense=True)

    # ---- streaming ----------------------------------------------------------------------
    def init_state(self, batch: int) -> dict[str, Any]:
        return {
            "sub": self.subsample.init_state(batch),
            "layers": [lay.init_cache(batch) for lay in self.layers],
        }

    def _stream_frames(self, h0: Tensor, state: dict[str, Any]) -> tuple[Tensor, list[dict[str, Tensor]]]:
        if h0.size(1) == 0:
            return h0.new_zeros(h0.size(0), 0, self.output_dim), state["layers"]
        valid = torch.ones(h0.shape[:2], dtype=torch.bool, device=h0.device)
        return self._run(h0, valid, state["layers"], dense=False)

    def stream(self, chunk: Tensor, state: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        """Frame-causal: every subsampled frame is output as soon as it exists."""
        h0, sub = self.subsample.stream(chunk, state["sub"])
        out, layers = self._stream_frames(h0, state)
        return out, {"sub": sub, "layers": layers}

    def flush(self, state: dict[str, Any]) -> Tensor:
        return self._stream_frames(self.subsample.flush(state["sub"]), state)[0]

    # ---- FLOPs --------------------------------------------------------------------------
    def frontend_flops_per_frame(self) -> int:
        """Subsampling per encoder frame: factor/2 conv1 rows, factor/4 conv2 rows, one conv3 row
        (x8 only), the linear map."""
        sub = self.subsample
        c, f1, f2 = sub.channels, sub.f1, sub.f2
        conv3 = f2 * c * c * 9 if sub.conv3 is not None else 0
        rows1, rows2 = sub.factor // 2, sub.factor // 4
        return 2 * (rows1 * f1 * c * 9 + rows2 * f2 * c * c * 9 + conv3 + c * f2 * self.hidden_dim)

    def flop_report(self) -> dict[str, Any]:
        """Counted FLOPs of the last ``forward`` per utterance, for the gates it applied."""
        if self.last_keep is None or self.last_lens is None:
            raise FairstreamError("flop_report needs a forward pass first")
        keep = self.last_keep.cpu()
        lens = self.last_lens.long()
        d, w, nl = self.hidden_dim, self.left_context, self.num_layers
        per_frame = self.frontend_flops_per_frame() + 2 * d * self.output_dim
        per_frame += sum(a.flops_per_frame() for a in self.arbitrators)  # type: ignore[misc]
        t = keep.size(1)
        mha = keep[..., 0::2].long()  # (B, T, L)
        cum = torch.cat([torch.zeros_like(mha[:, :1]), mha.cumsum(1)], dim=1)  # (B, T+1, L)
        start = (torch.arange(t) - w).clamp(min=0)
        visible = (cum[:, 1:] - cum[:, start]) * mha  # kept keys in each kept query's window
        kept_mha = mha.sum(dim=(1, 2))
        kept_ffn = keep[..., 1::2].long().sum(dim=(1, 2))
        total = (
            lens * per_frame
            + kept_mha * 8 * d * d
            + visible.sum(dim=(1, 2)) * 4 * d
            + kept_ffn * 4 * d * self.ff_dim
        )
        dense_keys = torch.stack([torch.clamp(torch.arange(int(n)), max=w).sum() + n for n in lens])
        dense = lens * (per_frame + nl * (8 * d * d + 4 * d * self.ff_dim)) + nl * dense_keys * 4 * d
        return {
            "frames": lens.tolist(),
            "blocks_per_type": nl,
            "kept_mha": kept_mha.tolist(),
            "kept_ffn": kept_ffn.tolist(),
            "flops": total.tolist(),
            "dense_flops": dense.tolist(),
            "total_flops": int(total.sum()),
        }


def cca_flops(encoder: CcaTransformer, x: Tensor, x_lens: Tensor) -> dict[str, Any]:
    """Run ``encoder`` in eval mode on ``x`` and count its FLOPs for the gates it applied."""
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            encoder(x, x_lens)
    finally:
        encoder.train(was_training)
    return encoder.flop_report()


class SlidingWindowTransformer(CcaTransformer):
    """The same Transformer without arbitrators, each frame seeing ``window`` past frames; with
    ``drop_mha`` / ``drop_ffn``, also statically pruned (the baseline at CCA's compute: in this
    encoder the attention window alone can save only ``4D(W_ref − W)`` of a layer's FLOPs)."""

    def __init__(
        self,
        num_features: int = 80,
        hidden_dim: int = 176,
        num_layers: int = 6,
        num_heads: int = 4,
        ff_dim: int | None = None,
        window: int = 8,
        output_dim: int = 320,
        subsampling_channels: int = 32,
        dropout: float = 0.1,
        drop_mha: int = 0,
        drop_ffn: int = 0,
        rel_buckets: int = 16,
        subsampling_factor: int = 4,
    ) -> None:
        super().__init__(
            num_features=num_features,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
            num_heads=num_heads,
            ff_dim=ff_dim,
            left_context=window,
            output_dim=output_dim,
            subsampling_channels=subsampling_channels,
            dropout=dropout,
            gated=False,
            drop_mha=drop_mha,
            drop_ffn=drop_ffn,
            rel_buckets=rel_buckets,
            subsampling_factor=subsampling_factor,
        )
