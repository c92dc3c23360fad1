"""Causal building blocks shared by the convolutional encoders: left-padded 1-D convolution and
squeeze-excitation driven by the running (cumulative) mean, both streamable with carried state.

Everything here only looks at the past, so zero padding after an utterance's end never reaches
its valid frames, and ``stream`` over chunks equals ``forward`` over the whole sequence.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class CausalConv1d(nn.Module):
    """1-D convolution over (B, T, C) padded on the left only; state = the last input frames."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        kernel_size: int,
        groups: int = 1,
        dilation: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_dim, out_dim, kernel_size, groups=groups, dilation=dilation, bias=bias)
        self.context = (kernel_size - 1) * dilation
        self.in_dim = in_dim

    def init_state(self, batch: int) -> Tensor:
        return torch.zeros(batch, self.context, self.in_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.stream(x, self.init_state(x.size(0)).to(x))[0]

    def stream(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        """Convolve ``x`` continuing after the frames in ``cache``; returns the new cache too."""
        full = torch.cat([cache, x], dim=1)
        y = self.conv(full.transpose(1, 2)).transpose(1, 2)
        return y, full[:, full.size(1) - self.context :]


def causal_mean(
    x: Tensor, total: Tensor | None = None, count: int | Tensor = 0
) -> tuple[Tensor, Tensor, int | Tensor]:
    """Mean of frames ``0..t`` at every ``t`` of (B, T, C) ``x``, continuing a running sum.

    ``total`` (B, C) and ``count`` summarise frames seen before ``x``; returns the means and the
    updated summary, so a whole utterance and its chunks give the same values.  ``count`` may be
    a tensor, 0-d or one per stream (B,): the form an exported graph carries (``steps.deploy``).
    """
    if total is None:
        total = x.new_zeros(x.size(0), x.size(2))
    sums = torch.cumsum(x, dim=1) + total.unsqueeze(1)
    steps = torch.arange(1, x.size(1) + 1, device=x.device, dtype=x.dtype)
    if isinstance(count, Tensor) and count.dim() == 1:
        n = (count.to(x.dtype).unsqueeze(1) + steps).unsqueeze(2)  # (B, T, 1)
    else:
        n = (steps + count).view(1, -1, 1)
    return sums / n, sums[:, -1] if x.size(1) else total, count + x.size(1)


class CausalSqueezeExcite(nn.Module):
    """Squeeze-excitation whose squeeze is the running mean over the past, not the utterance mean.

    Frame ``t`` is gated by ``sigmoid(W2 swish(W1 mean(x_0..x_t)))``: global context at constant
    cost per frame.  State = (running sum, frame count).
    """

    def __init__(self, dim: int, reduction: int = 8) -> None:
        super().__init__()
        inner = max(1, dim // reduction)
        self.down = nn.Linear(dim, inner)
        self.up = nn.Linear(inner, dim)

    def init_state(self, batch: int) -> tuple[Tensor, int]:
        return torch.zeros(batch, self.up.out_features), 0

    def gate(
        self, x: Tensor, state: tuple[Tensor, int | Tensor]
    ) -> tuple[Tensor, tuple[Tensor, int | Tensor]]:
        mean, total, count = causal_mean(x, state[0].to(x), state[1])
        return torch.sigmoid(self.up(nn.functional.silu(self.down(mean)))), (total, count)

    def forward(self, x: Tensor) -> Tensor:
        return self.stream(x, self.init_state(x.size(0)))[0]

    def stream(
        self, x: Tensor, state: tuple[Tensor, int | Tensor]
    ) -> tuple[Tensor, tuple[Tensor, int | Tensor]]:
        g, state = self.gate(x, state)
        return x * g, state
