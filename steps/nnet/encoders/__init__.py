"""Streaming encoders; each implements ``forward(x, x_lens)`` and ``stream(chunk, state)``."""
