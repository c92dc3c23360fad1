"""ContextNet-style encoder made streamable: depthwise-separable causal convolution blocks with
residuals, whose squeeze-excitation uses the causal running mean instead of the utterance mean."""

from __future__ import annotations

from torch import Tensor, nn

from ..subsampling import CausalConvSubsampling
from .base import StreamingEncoder
from .causal_conv import CausalConv1d, CausalSqueezeExcite


class SeparableConvLayer(nn.Module):
    """Causal depthwise conv -> pointwise linear -> LayerNorm -> swish (per-frame norm: streamable)."""

    def __init__(self, dim: int, kernel_size: int) -> None:
        super().__init__()
        self.depthwise = CausalConv1d(dim, dim, kernel_size, groups=dim)
        self.pointwise = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)

    def stream(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        h, cache = self.depthwise.stream(x, cache)
        return nn.functional.silu(self.norm(self.pointwise(h))), cache


class ContextBlock(nn.Module):
    """``layers`` separable conv layers, causal SE, dropout, then a residual connection."""

    def __init__(self, dim: int, layers: int, kernel_size: int, se_reduction: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(SeparableConvLayer(dim, kernel_size) for _ in range(layers))
        self.se = CausalSqueezeExcite(dim, se_reduction)
        self.dropout = nn.Dropout(dropout)  # once per block: dropout masks are costly on CPU

    def init_state(self, batch: int) -> dict:
        return {"conv": [m.depthwise.init_state(batch) for m in self.layers], "se": self.se.init_state(batch)}

    def stream(self, x: Tensor, state: dict) -> tuple[Tensor, dict]:
        h, caches = x, []
        for layer, cache in zip(self.layers, state["conv"], strict=True):
            h, c = layer.stream(h, cache.to(x))
            caches.append(c)
        h, se = self.se.stream(h, state["se"])
        return x + self.dropout(h), {"conv": caches, "se": se}


class ContextNetEncoder(StreamingEncoder):
    """Conv subsampling ×4 + ``num_blocks`` causal ContextNet blocks + a linear projection."""

    def __init__(
        self,
        num_features: int = 80,
        hidden_dim: int = 256,
        num_blocks: int = 6,
        layers_per_block: int = 3,
        kernel_size: int = 5,
        se_reduction: int = 8,
        output_dim: int = 320,
        subsampling_channels: int = 32,
        subsampling_factor: int = 4,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.subsample = CausalConvSubsampling(
            num_features, hidden_dim, subsampling_channels, subsampling_factor
        )
        self.subsampling = subsampling_factor
        self.blocks = nn.ModuleList(
            ContextBlock(hidden_dim, layers_per_block, kernel_size, se_reduction, dropout)
            for _ in range(num_blocks)
        )
        self.proj = nn.Linear(hidden_dim, output_dim)
        self.output_dim = output_dim

    def _blocks(self, h: Tensor, states: list[dict]) -> tuple[Tensor, list[dict]]:
        new = []
        for block, s in zip(self.blocks, states, strict=True):
            h, s = block.stream(h, s)
            new.append(s)
        return self.proj(h), new

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        h, lens = self.subsample(x, x_lens)
        out, _ = self._blocks(h, [b.init_state(x.size(0)) for b in self.blocks])
        return out, lens

    def init_state(self, batch: int) -> dict:
        return {"sub": self.subsample.init_state(batch), "blocks": [b.init_state(batch) for b in self.blocks]}

    def stream(self, chunk: Tensor, state: dict) -> tuple[Tensor, dict]:
        h, sub = self.subsample.stream(chunk, state["sub"])
        if h.size(1) == 0:
            return h.new_zeros(h.size(0), 0, self.output_dim), {"sub": sub, "blocks": state["blocks"]}
        out, blocks = self._blocks(h, state["blocks"])
        return out, {"sub": sub, "blocks": blocks}

    def flush(self, state: dict) -> Tensor:
        h = self.subsample.flush(state["sub"])
        if h.size(1) == 0:
            return h.new_zeros(h.size(0), 0, self.output_dim)
        return self._blocks(h, state["blocks"])[0]
