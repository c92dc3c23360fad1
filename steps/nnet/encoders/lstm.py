"""The baseline: causal ×4 conv subsampling followed by unidirectional LSTM layers
(residual + LayerNorm per layer, see :mod:`.lstm_stack`)."""

from __future__ import annotations

from torch import Tensor, nn

from ..subsampling import CausalConvSubsampling
from .base import StreamingEncoder
from .lstm_stack import NormLstmStack


class LstmEncoder(StreamingEncoder):
    """Conv subsampling ×4 + ``num_layers`` LSTM layers + a linear projection."""

    def __init__(
        self,
        num_features: int = 80,
        hidden_dim: int = 320,
        num_layers: int = 3,
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
        self.lstm = NormLstmStack(hidden_dim, num_layers, dropout)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(hidden_dim, output_dim)
        self.output_dim = output_dim
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        h, lens = self.subsample(x, x_lens)
        h, _ = self.lstm(self.dropout(h))
        return self.proj(self.dropout(h)), lens

    def init_state(self, batch: int) -> dict:
        return {"sub": self.subsample.init_state(batch), "lstm": self.lstm.init_state(batch)}

    def stream(self, chunk: Tensor, state: dict) -> tuple[Tensor, dict]:
        h, sub = self.subsample.stream(chunk, state["sub"])
        if h.size(1) == 0:
            return h.new_zeros(h.size(0), 0, self.output_dim), {"sub": sub, "lstm": state["lstm"]}
        h, hc = self.lstm(h, state["lstm"])
        return self.proj(h), {"sub": sub, "lstm": hc}

    def flush(self, state: dict) -> Tensor:
        h = self.subsample.flush(state["sub"])
        if h.size(1) == 0:
            return h.new_zeros(h.size(0), 0, self.output_dim)
        h, _ = self.lstm(h, state["lstm"])
        return self.proj(h)
