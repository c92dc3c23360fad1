"""Joiner: combine encoder and predictor frames into token logits."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Joiner(nn.Module):
    def __init__(self, encoder_dim: int, predictor_dim: int, joiner_dim: int, vocab_size: int) -> None:
        super().__init__()
        self.enc_proj = nn.Linear(encoder_dim, joiner_dim)
        self.pred_proj = nn.Linear(predictor_dim, joiner_dim)
        self.out = nn.Linear(joiner_dim, vocab_size)

    def forward(self, enc: Tensor, pred: Tensor, projected: bool = False) -> Tensor:
        """Logits for broadcastable ``enc`` and ``pred``; ``projected`` skips the input layers."""
        if not projected:
            enc, pred = self.enc_proj(enc), self.pred_proj(pred)
        return self.out(torch.tanh(enc + pred))
