"""The speaker-embedding extractor: a compact TDNN (x-vector family) with attentive statistics.

Why a TDNN and not a 2-D ResNet or a full ECAPA: on a 2-core CPU the cost that matters is
multiply-adds per input frame.  1-D convolutions over time with 80-dim fbank as channels cost
about twice their parameter count per frame, whereas a 2-D ResNet of the same size convolves
every (time, frequency) cell and costs tens of times more.  The two dilated layers are residual
(cheap ECAPA-style skip connections that make the short training budget converge faster), an
optional stride in the first layer halves the frame rate of everything after it, and
channel-wise attentive statistics pooling (ECAPA's pooling) lets the model ignore silence and
noise, which matters for the noisy demo corpus and for diarization segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ExtractorConf:
    """Architecture of :class:`TdnnExtractor` (the ``model:`` block of a conf/sv YAML)."""

    feat_dim: int = 80
    channels: int = 192
    pool_channels: int = 512
    attention_dim: int = 64
    embed_dim: int = 128
    first_stride: int = 2  # frame-rate reduction after the first layer (CPU budget)
    dropout: float = 0.0


class ConvBlock(nn.Module):
    """Conv1d + ReLU + BatchNorm, with a residual connection when shapes allow it."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int = 1, stride: int = 1) -> None:
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.conv = nn.Conv1d(c_in, c_out, kernel, stride=stride, dilation=dilation, padding=pad)
        self.bn = nn.BatchNorm1d(c_out)
        self.residual = c_in == c_out and stride == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(torch.relu(self.conv(x)))
        return x + y if self.residual else y


class AttentiveStatsPool(nn.Module):
    """Channel-wise attention over time, then attention-weighted mean and standard deviation."""

    def __init__(self, channels: int, attention_dim: int) -> None:
        super().__init__()
        self.attn = nn.Sequential(
            nn.Conv1d(channels, attention_dim, 1),
            nn.Tanh(),
            nn.Conv1d(attention_dim, channels, 1),
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, C, T); mask: (B, T) true on valid frames. Returns (B, 2C)."""
        logits = self.attn(x)
        if mask is not None:
            logits = logits.masked_fill(~mask[:, None, :], float("-inf"))
        alpha = torch.softmax(logits, dim=2)
        mean = (alpha * x).sum(dim=2)
        var = (alpha * x * x).sum(dim=2) - mean * mean
        return torch.cat([mean, var.clamp(min=1e-5).sqrt()], dim=1)


class TdnnExtractor(nn.Module):
    """fbank (B, T, F) -> speaker embedding (B, E); mean normalisation over time is built in."""

    def __init__(self, conf: ExtractorConf) -> None:
        super().__init__()
        self.conf = conf
        c, p = conf.channels, conf.pool_channels
        self.frames = nn.Sequential(
            ConvBlock(conf.feat_dim, c, 5, stride=conf.first_stride),
            ConvBlock(c, c, 3, dilation=2),
            ConvBlock(c, c, 3, dilation=3),
            ConvBlock(c, c, 1),
            ConvBlock(c, p, 1),
        )
        self.pool = AttentiveStatsPool(p, conf.attention_dim)
        self.pool_bn = nn.BatchNorm1d(2 * p)
        self.dropout = nn.Dropout(conf.dropout)
        self.embed = nn.Linear(2 * p, conf.embed_dim)
        self.embed_bn = nn.BatchNorm1d(conf.embed_dim)

    @property
    def min_frames(self) -> int:
        """Shortest input the convolutions accept without degenerate statistics."""
        return 5 * self.conf.first_stride

    def forward(self, feats: torch.Tensor, lens: torch.Tensor | None = None) -> torch.Tensor:
        """feats: (B, T, F) log-mel; lens: (B,) valid frames (None = all valid)."""
        if lens is None:
            x = feats - feats.mean(dim=1, keepdim=True)
            mask = None
        else:
            valid = torch.arange(feats.shape[1], device=feats.device)[None, :] < lens[:, None]
            denom = lens.clamp(min=1).to(feats.dtype)[:, None]
            mean = (feats * valid[..., None]).sum(dim=1) / denom
            x = (feats - mean[:, None, :]) * valid[..., None]
        h = self.frames(x.transpose(1, 2))
        if lens is not None:
            out_lens = (lens + self.conf.first_stride - 1) // self.conf.first_stride
            mask = torch.arange(h.shape[2], device=h.device)[None, :] < out_lens[:, None]
        pooled = self.pool_bn(self.pool(h, mask))
        return self.embed_bn(self.embed(self.dropout(pooled)))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
