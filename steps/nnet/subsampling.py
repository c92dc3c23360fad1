"""Causal ×4 or ×8 convolutional subsampling of fbank frames, streamable chunk by chunk."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class CausalConvSubsampling(nn.Module):
    """Two (time-kernel 3, stride 2) 2-D convolutions padded on the left only; ``factor=8`` adds a
    third one that halves time again and keeps the frequency resolution.

    Why ×8: the encoder layers above then run at 80 ms per frame, half the compute per second of
    audio, which on a CPU budget buys twice the audio per core-minute (BPE-100 speech has about 8
    tokens per second, and a transducer may emit several tokens on one frame).

    Causal with no wasted look-ahead: each layer is padded by one row on the left, so output
    frame ``t`` sees input frames up to ``factor * t + factor - 1`` -- exactly the frames
    streaming has to wait for before it can emit frame ``t`` (a left padding of two rows would
    make it see only up to ``factor * t``: 30 ms of waiting bought nothing and the last frames of
    an utterance were never seen).  In streaming mode each layer carries its last input row.

    Padding has one value everywhere: frames past an utterance's end are zero (raw, before the
    normalisation) in training (whatever the data loader padded with -- lhotse uses log 1e-10 --
    is overwritten), in the rounding up to a multiple of ``factor``, in the flush at the end of a
    stream, and in side-by-side streaming (``steps.nnet.streaming.load_features``).  With the
    look-ahead above the last frame of an utterance sees up to ``factor - 1`` of them.
    """

    def __init__(self, num_features: int, out_dim: int, channels: int = 64, factor: int = 4) -> None:
        super().__init__()
        if factor not in (4, 8):
            raise ValueError(f"subsampling factor must be 4 or 8, got {factor}")
        self.factor = factor
        self.conv1 = nn.Conv2d(1, channels, kernel_size=3, stride=(2, 2))
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=(2, 2))
        f1 = (num_features - 3) // 2 + 1
        f2 = (f1 - 3) // 2 + 1
        self.conv3 = None  # x8: time stride 2, frequency kept (padded)
        if factor == 8:
            self.conv3 = nn.Conv2d(channels, channels, kernel_size=3, stride=(2, 1), padding=(0, 1))
        self.out = nn.Linear(channels * f2, out_dim)
        self.channels = channels
        self.f2 = f2
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

    def output_lengths(self, x_lens: Tensor) -> Tensor:
        """``ceil(T / factor)``: each stride-2 layer rounds up."""
        n = ((x_lens + 1) // 2 + 1) // 2
        return (n + 1) // 2 if self.factor == 8 else n

    def _layers(self, x: Tensor, caches: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        # x: (B, T, F) with T a multiple of the factor; caches hold the previous row of each
        # layer's input
        return self._subsample((x - self.feat_mean) / self.feat_std, caches)

    def _subsample(self, x: Tensor, caches: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """The strided convolutions on normalised (B, T, F) features (a subclass may put
        frame-rate layers in front, see ``steps.nnet.encoders.convrnnt.LocalConvSubsampling``)."""
        h = x.unsqueeze(1)
        new = []
        for conv, cache in zip(self.convs(), caches, strict=True):
            h = torch.cat([cache, h], dim=2)
            new.append(h[:, :, -1:])
            h = torch.relu(conv(h))
        b, c, t, f = h.shape  # (B, C, T/factor, F2)
        return self.out(h.permute(0, 2, 1, 3).reshape(b, t, c * f)), new

    def convs(self) -> list[nn.Conv2d]:
        return [self.conv1, self.conv2] + ([self.conv3] if self.conv3 is not None else [])

    def init_state(self, batch: int, device: torch.device | None = None) -> list[Tensor]:
        """One one-row cache per layer, then the leftover input frames (< factor)."""
        caches = [
            torch.zeros(batch, 1, 1, self.num_features, device=device),
            torch.zeros(batch, self.channels, 1, self.f1, device=device),
        ]
        if self.conv3 is not None:
            caches.append(torch.zeros(batch, self.channels, 1, self.f2, device=device))
        return [*caches, torch.zeros(batch, 0, self.num_features, device=device)]

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        x = nn.functional.pad(x, (0, 0, 0, (-x.size(1)) % self.factor))
        past_end = torch.arange(x.size(1), device=x.device)[None, :] >= x_lens.to(x.device)[:, None]
        x = x.masked_fill(past_end[..., None], 0.0)
        y, _ = self._layers(x, self.init_state(x.size(0), x.device)[:-1])
        return y, self.output_lengths(x_lens)

    def stream(self, chunk: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """Consume any number of frames; frames that do not fill a group of ``factor`` wait in state."""
        x = torch.cat([state[-1], chunk], dim=1)
        usable = x.size(1) - x.size(1) % self.factor
        rest = x[:, usable:]
        if usable == 0:
            return x.new_zeros(x.size(0), 0, self.out.out_features), [*state[:-1], rest]
        y, caches = self._layers(x[:, :usable], state[:-1])
        return y, [*caches, rest]

    def flush(self, state: list[Tensor]) -> Tensor:
        """Output for leftover frames at the end of an utterance (zero-padded to ``factor``)."""
        rest = state[-1]
        if rest.size(1) == 0:
            return rest.new_zeros(rest.size(0), 0, self.out.out_features)
        x = nn.functional.pad(rest, (0, 0, 0, self.factor - rest.size(1)))
        y, _ = self._layers(x, state[:-1])
        return y
