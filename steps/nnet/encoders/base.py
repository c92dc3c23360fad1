"""The interface every encoder in the registry implements."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn


class StreamingEncoder(nn.Module):
    """``forward`` for training; ``init_state``/``stream``/``flush`` for chunked inference.

    ``stream`` followed by ``flush`` over the chunks of an utterance must give the same frames as
    ``forward`` on the whole utterance (tests check it for every registered encoder).
    """

    output_dim: int
    subsampling: int = 4

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover
        raise NotImplementedError

    def init_state(self, batch: int) -> Any:  # pragma: no cover
        raise NotImplementedError

    def stream(self, chunk: Tensor, state: Any) -> tuple[Tensor, Any]:  # pragma: no cover
        raise NotImplementedError

    def flush(self, state: Any) -> Tensor:  # pragma: no cover
        """Frames still buffered at the end of the input (may be empty)."""
        raise NotImplementedError
