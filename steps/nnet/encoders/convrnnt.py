"""ConvRNN-T encoder: a causal convolutional front end with a local and a global module, fused and
fed to unidirectional LSTM layers.

The local module (causal 1-D convolutions) models short-range correlations; the global module
gates causal convolution features by the running mean of everything seen so far (causal
squeeze-excitation), so every frame sees the whole past at constant cost per frame.  Streaming
state = convolution left contexts + running (sum, count) + the LSTM state.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..subsampling import CausalConvSubsampling
from .base import StreamingEncoder
from .causal_conv import CausalConv1d, CausalSqueezeExcite
from .lstm_stack import NormLstmStack


class LocalBlock(nn.Module):
    """Full causal conv (short kernel) -> LayerNorm -> swish, residual."""

    def __init__(self, dim: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.conv = CausalConv1d(dim, dim, kernel_size)
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def init_state(self, batch: int) -> Tensor:
        return self.conv.init_state(batch)

    def stream(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        h, cache = self.conv.stream(x, cache.to(x))
        return x + self.dropout(nn.functional.silu(self.norm(h))), cache


class GlobalBlock(nn.Module):
    """Depthwise-separable causal conv -> LayerNorm -> swish -> causal SE gate, residual."""

    def __init__(self, dim: int, kernel_size: int, se_reduction: int, dropout: float) -> None:
        super().__init__()
        self.depthwise = CausalConv1d(dim, dim, kernel_size, groups=dim)
        self.pointwise = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.se = CausalSqueezeExcite(dim, se_reduction)
        self.dropout = nn.Dropout(dropout)

    def init_state(self, batch: int) -> dict:
        return {"conv": self.depthwise.init_state(batch), "se": self.se.init_state(batch)}

    def stream(self, x: Tensor, state: dict) -> tuple[Tensor, dict]:
        h, conv = self.depthwise.stream(x, state["conv"].to(x))
        h = nn.functional.silu(self.norm(self.pointwise(h)))
        h, se = self.se.stream(h, state["se"])
        return x + self.dropout(h), {"conv": conv, "se": se}


class ConvRnnEncoder(StreamingEncoder):
    """Conv subsampling ×4 -> (local ‖ global) causal conv modules -> fuse -> LSTM -> projection."""

    def __init__(
        self,
        num_features: int = 80,
        hidden_dim: int = 256,
        num_local_blocks: int = 2,
        local_kernel: int = 3,
        num_global_blocks: int = 2,
        global_kernel: int = 9,
        se_reduction: int = 8,
        lstm_dim: int | None = None,
        num_layers: int = 2,
        output_dim: int = 320,
        subsampling_channels: int = 32,
        subsampling_factor: int = 4,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        lstm_dim = lstm_dim or hidden_dim
        self.subsample = CausalConvSubsampling(
            num_features, hidden_dim, subsampling_channels, subsampling_factor
        )
        self.subsampling = subsampling_factor
        self.local = nn.ModuleList(
            LocalBlock(hidden_dim, local_kernel, dropout) for _ in range(num_local_blocks)
        )
        self.glob = nn.ModuleList(
            GlobalBlock(hidden_dim, global_kernel, se_reduction, dropout) for _ in range(num_global_blocks)
        )
        self.fuse = nn.Linear(2 * hidden_dim, lstm_dim)
        self.lstm = NormLstmStack(lstm_dim, num_layers, dropout)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(lstm_dim, output_dim)
        self.output_dim = output_dim
        self.lstm_dim = lstm_dim
        self.num_layers = num_layers

    def _front(self, h: Tensor, state: dict) -> tuple[Tensor, dict]:
        """Local and global modules side by side on the subsampled frames, fused."""
        loc, loc_states = h, []
        for block, s in zip(self.local, state["local"], strict=True):
            loc, s = block.stream(loc, s)
            loc_states.append(s)
        glo, glo_states = h, []
        for block, s in zip(self.glob, state["global"], strict=True):
            glo, s = block.stream(glo, s)
            glo_states.append(s)
        fused = nn.functional.silu(self.fuse(torch.cat([loc, glo], dim=-1)))
        return self.dropout(fused), {"local": loc_states, "global": glo_states}

    def _init_front(self, batch: int) -> dict:
        return {
            "local": [b.init_state(batch) for b in self.local],
            "global": [b.init_state(batch) for b in self.glob],
        }

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        h, lens = self.subsample(x, x_lens)
        h, _ = self._front(h, self._init_front(x.size(0)))
        h, _ = self.lstm(h)
        return self.proj(self.dropout(h)), lens

    def init_state(self, batch: int) -> dict:
        return {
            "sub": self.subsample.init_state(batch),
            "front": self._init_front(batch),
            "lstm": self.lstm.init_state(batch),
        }

    def _rest(self, h: Tensor, state: dict) -> tuple[Tensor, dict]:
        h, front = self._front(h, state["front"])
        h, hc = self.lstm(h, state["lstm"])
        return self.proj(h), {"front": front, "lstm": hc}

    def stream(self, chunk: Tensor, state: dict) -> tuple[Tensor, dict]:
        h, sub = self.subsample.stream(chunk, state["sub"])
        if h.size(1) == 0:
            return h.new_zeros(h.size(0), 0, self.output_dim), {**state, "sub": sub}
        out, rest = self._rest(h, state)
        return out, {"sub": sub, **rest}

    def flush(self, state: dict) -> Tensor:
        h = self.subsample.flush(state["sub"])
        if h.size(1) == 0:
            return h.new_zeros(h.size(0), 0, self.output_dim)
        return self._rest(h, state)[0]
