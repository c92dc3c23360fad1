"""Stateless predictor: the last ``context_size`` tokens, embedded and mixed by a causal conv.

It replaces the LSTM prediction network (as in k2/icefall's stateless transducers): cheaper,
and its state is just the last two tokens, which makes beam search simple.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class StatelessPredictor(nn.Module):
    def __init__(self, vocab_size: int, dim: int = 320, blank_id: int = 0, context_size: int = 2) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim)
        self.blank_id = blank_id
        self.context_size = context_size
        self.conv = nn.Conv1d(dim, dim, kernel_size=context_size, groups=dim // 4, bias=False)
        self.output_dim = dim

    def forward(self, y: Tensor) -> Tensor:
        """``y``: (N, U) token ids, left-padded with blanks to at least ``context_size``.

        Returns (N, U - context_size + 1, dim): output ``u`` sees tokens ``u .. u+context-1``.
        """
        e = self.embedding(y).transpose(1, 2)  # (N, D, U)
        return torch.relu(self.conv(e).transpose(1, 2))

    def prepend_context(self, y: Tensor) -> Tensor:
        """Training input: blanks before each (N, S) target so output ``s`` predicts token ``s``."""
        pad = y.new_full((y.size(0), self.context_size), self.blank_id)
        return torch.cat([pad, y], dim=1)
