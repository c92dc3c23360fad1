"""Streaming Conformer: chunked causal self-attention and causal depthwise convolution.

Frames are grouped into chunks of ``chunk_size`` subsampled frames; a frame attends to every
frame of its own chunk and of the ``left_chunks`` chunks before it (a learned relative-position
bias per head gives attention its sense of order).  Streaming is chunk-synchronous: ``stream``
buffers subsampled frames until a chunk is complete, then runs it against the cached keys and
values of the previous chunks, so any input chunk size gives exactly ``forward``'s frames
(``flush`` runs the last, partial chunk).  State = subsampling state, buffered frames, per-layer
key/value cache and convolution context, and the position of the next frame.

``forward`` masks padding keys by length; ``stream`` cannot know lengths, so when utterances of
different lengths are streamed side by side the shorter one's last chunk also sees the zero
frames that pad it (decode with ``--batch-size 1``, the default, for exact offline equality).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from steps.utils import FairstreamError

from ..subsampling import CausalConvSubsampling
from .base import StreamingEncoder
from .causal_conv import CausalConv1d


def chunk_mask(
    q_pos: Tensor, k_pos: Tensor, chunk_size: int, left_chunks: int, k_valid: Tensor | None = None
) -> Tensor:
    """Boolean (…, Tq, Tk) mask, True where query position ``i`` may attend key position ``j``.

    Allowed: ``j`` in the chunk of ``i`` or one of the ``left_chunks`` before it, and ``j``
    a real frame (``k_valid``, (B, Tk), excludes padding).  A query may always see itself, so no
    row is empty (padding queries would otherwise give NaN).
    """
    qc = torch.div(q_pos, chunk_size, rounding_mode="floor").unsqueeze(-1)
    kc = torch.div(k_pos, chunk_size, rounding_mode="floor").unsqueeze(-2)
    allowed = (kc <= qc) & (kc >= qc - left_chunks) & (k_pos.unsqueeze(-2) >= 0)
    if k_valid is not None:
        allowed = allowed.unsqueeze(0) & k_valid.unsqueeze(1)
    return allowed | (q_pos.unsqueeze(-1) == k_pos.unsqueeze(-2))


class ChunkedSelfAttention(nn.Module):
    """Multi-head self-attention over the current frames plus cached keys/values."""

    def __init__(self, dim: int, heads: int, chunk_size: int, left_chunks: int) -> None:
        super().__init__()
        if dim % heads:
            raise FairstreamError(f"conformer hidden_dim {dim} is not divisible by num_heads {heads}")
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.heads, self.chunk_size, self.left_chunks = heads, chunk_size, left_chunks
        # distances i - j in the window run from -(chunk_size - 1) to (left_chunks + 1) * chunk_size - 1
        self.rel_bias = nn.Parameter(torch.zeros(heads, (left_chunks + 2) * chunk_size - 1))
        self.cache_len = left_chunks * chunk_size

    def forward(
        self, x: Tensor, cache: tuple[Tensor, Tensor], offset: int | Tensor, k_valid: Tensor | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        k = torch.cat([cache[0].to(k), k], dim=2)
        v = torch.cat([cache[1].to(v), v], dim=2)
        # positions as arange + offset, so that an exported graph may carry the offset as a tensor
        q_pos = torch.arange(t, device=x.device) + offset
        k_pos = torch.arange(k.size(2), device=x.device) + (offset + t - k.size(2))
        if k_valid is not None:
            k_valid = torch.cat([k_valid.new_ones(b, k.size(2) - t), k_valid], dim=1)
        allowed = chunk_mask(q_pos, k_pos, self.chunk_size, self.left_chunks, k_valid)
        dist = (q_pos.unsqueeze(1) - k_pos.unsqueeze(0) + self.chunk_size - 1).clamp(
            0, self.rel_bias.size(1) - 1
        )
        bias = self.rel_bias[:, dist]  # (H, Tq, Tk)
        if allowed.dim() == 3:
            allowed = allowed.unsqueeze(1)  # (B, 1, Tq, Tk)
        bias = bias.masked_fill(~allowed, float("-inf"))
        # dropout goes on the layer's attention output, not on the weights (cheaper on CPU)
        y = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        y = self.out(y.transpose(1, 2).reshape(b, t, d))
        keep = min(self.cache_len, k.size(2))
        return y, (k[:, :, k.size(2) - keep :], v[:, :, v.size(2) - keep :])


class ConvModule(nn.Module):
    """Pointwise -> GLU -> causal depthwise conv -> LayerNorm (per frame) -> swish -> pointwise."""

    def __init__(self, dim: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.norm_in = nn.LayerNorm(dim)
        self.pw1 = nn.Linear(dim, 2 * dim)
        self.depthwise = CausalConv1d(dim, dim, kernel_size, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw2 = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        h = nn.functional.glu(self.pw1(self.norm_in(x)), dim=-1)
        h, cache = self.depthwise.stream(h, cache.to(h))
        return self.dropout(self.pw2(nn.functional.silu(self.norm(h)))), cache


def feed_forward(dim: int, ff_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.LayerNorm(dim),
        nn.Linear(dim, ff_dim),
        nn.SiLU(),
        nn.Linear(ff_dim, dim),
        nn.Dropout(dropout),
    )


class ConformerLayer(nn.Module):
    """Macaron half-step FFN, chunked attention, causal conv module, half-step FFN, LayerNorm."""

    def __init__(
        self,
        dim: int,
        heads: int,
        ff_dim: int,
        kernel_size: int,
        chunk_size: int,
        left_chunks: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.ff1 = feed_forward(dim, ff_dim, dropout)
        self.attn_norm = nn.LayerNorm(dim)
        self.attn = ChunkedSelfAttention(dim, heads, chunk_size, left_chunks)
        self.conv = ConvModule(dim, kernel_size, dropout)
        self.ff2 = feed_forward(dim, ff_dim, dropout)
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def init_state(self, batch: int) -> dict:
        dh = self.attn.qkv.in_features // self.attn.heads
        kv = torch.zeros(batch, self.attn.heads, 0, dh)
        return {"kv": (kv, kv.clone()), "conv": self.conv.depthwise.init_state(batch)}

    def forward(
        self, x: Tensor, state: dict, offset: int, k_valid: Tensor | None = None
    ) -> tuple[Tensor, dict]:
        x = x + 0.5 * self.ff1(x)
        a, kv = self.attn(self.attn_norm(x), state["kv"], offset, k_valid)
        x = x + self.dropout(a)
        c, conv = self.conv(x, state["conv"])
        x = x + c
        x = x + 0.5 * self.ff2(x)
        return self.norm(x), {"kv": kv, "conv": conv}


class StreamingConformer(StreamingEncoder):
    """Conv subsampling ×4 + ``num_layers`` chunked-attention Conformer layers + a projection."""

    def __init__(
        self,
        num_features: int = 80,
        hidden_dim: int = 176,
        num_layers: int = 4,
        num_heads: int = 4,
        ff_dim: int | None = None,  # default 4 × hidden_dim
        kernel_size: int = 15,
        chunk_size: int = 5,  # encoder frames (40 ms each); conf/train/conformer.yaml uses 8
        left_chunks: int = 8,
        output_dim: int = 320,
        subsampling_channels: int = 32,
        dropout: float = 0.1,
        subsampling_factor: int = 4,
    ) -> None:
        super().__init__()
        if chunk_size < 1 or left_chunks < 0:
            raise FairstreamError(
                f"conformer needs chunk_size >= 1 and left_chunks >= 0, got {chunk_size}, {left_chunks}"
            )
        ff_dim = ff_dim or 4 * hidden_dim
        self.subsample = CausalConvSubsampling(
            num_features, hidden_dim, subsampling_channels, subsampling_factor
        )
        self.subsampling = subsampling_factor
        self.layers = nn.ModuleList(
            ConformerLayer(hidden_dim, num_heads, ff_dim, kernel_size, chunk_size, left_chunks, dropout)
            for _ in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(hidden_dim, output_dim)
        self.output_dim = output_dim
        self.hidden_dim = hidden_dim
        self.chunk_size = chunk_size

    def _layers(
        self, h: Tensor, states: list[dict], offset: int, k_valid: Tensor | None = None
    ) -> tuple[Tensor, list[dict]]:
        new = []
        h = self.dropout(h)
        for layer, s in zip(self.layers, states, strict=True):
            h, s = layer(h, s, offset, k_valid)
            new.append(s)
        return self.proj(h), new

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        h, lens = self.subsample(x, x_lens)
        k_valid = torch.arange(h.size(1), device=h.device).unsqueeze(0) < lens.to(h.device).unsqueeze(1)
        out, _ = self._layers(h, [layer.init_state(x.size(0)) for layer in self.layers], 0, k_valid)
        return out, lens

    def init_state(self, batch: int) -> dict:
        return {
            "sub": self.subsample.init_state(batch),
            "buf": torch.zeros(batch, 0, self.hidden_dim),
            "layers": [layer.init_state(batch) for layer in self.layers],
            "offset": 0,
        }

    def stream(self, chunk: Tensor, state: dict) -> tuple[Tensor, dict]:
        """Run every complete attention chunk; incomplete ones wait in ``state['buf']``."""
        h, sub = self.subsample.stream(chunk, state["sub"])
        buf = torch.cat([state["buf"].to(h), h], dim=1)
        usable = buf.size(1) - buf.size(1) % self.chunk_size
        if usable == 0:
            return h.new_zeros(h.size(0), 0, self.output_dim), {**state, "sub": sub, "buf": buf}
        out, layers = self._layers(buf[:, :usable], state["layers"], state["offset"])
        new = {"sub": sub, "buf": buf[:, usable:], "layers": layers, "offset": state["offset"] + usable}
        return out, new

    def flush(self, state: dict) -> Tensor:
        h = torch.cat([state["buf"], self.subsample.flush(state["sub"]).to(state["buf"])], dim=1)
        if h.size(1) == 0:
            return h.new_zeros(h.size(0), 0, self.output_dim)
        return self._layers(h, state["layers"], state["offset"])[0]
