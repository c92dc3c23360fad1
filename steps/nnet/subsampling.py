"""Causal ×4 convolutional subsampling of fbank frames, streamable chunk by chunk."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class CausalConvSubsampling(nn.Module):
    """Two (time-kernel 3, stride 2) 2-D convolutions padded on the left only.

    Output frame ``t`` sees input frames up to ``4t + 3`` and nothing later, so the module is
    causal; in streaming mode it carries the last two input rows of each layer.
    """

    factor = 4

    def __init__(self, num_features: int, out_dim: int, channels: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, kernel_size=3, stride=(2, 2))
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=(2, 2))
        f1 = (num_features - 3) // 2 + 1
        f2 = (f1 - 3) // 2 + 1
        self.out = nn.Linear(channels * f2, out_dim)
        self.channels = channels
        self.num_features = num_features
        self.f1 = f1
        # global feature normalisation (per-dimension mean / std of the training features, set by
        # the trainer before the first update and saved with the weights): a per-frame affine map,
        # so it streams exactly; identity until set
        self.register_buffer("feat_mean", torch.zeros(num_features))
        self.register_buffer("feat_std", torch.ones(num_features))

    def set_feature_stats(self, mean: Tensor, std: Tensor) -> None:
        self.feat_mean.copy_(mean)
        self.feat_std.copy_(std.clamp(min=1e-3))

    @staticmethod
    def output_lengths(x_lens: Tensor) -> Tensor:
        return ((x_lens + 1) // 2 + 1) // 2

    def _layers(self, x: Tensor, cache1: Tensor, cache2: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        # x: (B, T, F) with T even; caches hold the previous two rows of each layer's input
        x = (x - self.feat_mean) / self.feat_std
        x = torch.cat([cache1, x.unsqueeze(1)], dim=2)  # (B, 1, T+2, F)
        new1 = x[:, :, -2:]
        h = torch.relu(self.conv1(x))  # (B, C, T/2, F1)
        h = torch.cat([cache2, h], dim=2)
        new2 = h[:, :, -2:]
        h = torch.relu(self.conv2(h))  # (B, C, T/4, F2)
        b, c, t, f = h.shape
        return self.out(h.permute(0, 2, 1, 3).reshape(b, t, c * f)), new1, new2

    def init_state(self, batch: int, device: torch.device | None = None) -> list[Tensor]:
        return [
            torch.zeros(batch, 1, 2, self.num_features, device=device),
            torch.zeros(batch, self.channels, 2, self.f1, device=device),
            torch.zeros(batch, 0, self.num_features, device=device),  # leftover frames (< 4)
        ]

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        pad = (-x.size(1)) % 4
        if pad:
            x = nn.functional.pad(x, (0, 0, 0, pad))
        c1, c2, _ = self.init_state(x.size(0), x.device)
        y, _, _ = self._layers(x, c1, c2)
        return y, self.output_lengths(x_lens)

    def stream(self, chunk: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """Consume any number of frames; frames that do not fill a group of 4 wait in state."""
        x = torch.cat([state[2], chunk], dim=1)
        usable = x.size(1) - x.size(1) % 4
        rest = x[:, usable:]
        if usable == 0:
            return x.new_zeros(x.size(0), 0, self.out.out_features), [state[0], state[1], rest]
        y, c1, c2 = self._layers(x[:, :usable], state[0], state[1])
        return y, [c1, c2, rest]

    def flush(self, state: list[Tensor]) -> Tensor:
        """Output for leftover frames at the end of an utterance (zero-padded to 4)."""
        rest = state[2]
        if rest.size(1) == 0:
            return rest.new_zeros(rest.size(0), 0, self.out.out_features)
        x = nn.functional.pad(rest, (0, 0, 0, 4 - rest.size(1)))
        y, _, _ = self._layers(x, state[0], state[1])
        return y
