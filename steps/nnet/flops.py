"""Encoder compute per second of audio, for comparing architectures at equal parameter count.

``torch.utils.flop_counter.FlopCounterMode`` counts matmul-like aten ops (linear, conv, mm, bmm,
SDPA) as 2 × multiply-adds, but reports 0 for ``nn.LSTM`` on CPU (the fused ``aten::lstm``
kernel has no formula), so each LSTM's count is replaced by an analytic one: per frame and
direction, layer ``l`` costs ``2 · 4H · (I_l + R)`` (input and recurrent gate matmuls; ``R`` =
``proj_size`` or ``H``) plus ``2 · H · R`` for a projection.  Elementwise work (gate
nonlinearities, norms, activations) is not counted, as FlopCounterMode does not count it either.
SDPA gets the same treatment, as FlopCounterMode counts 0 for the CPU kernel with this torch:
``2 · B · H · Tq · Tk · (D + Dv)`` (scores and weighted values), dense (masked entries included),
which is what the batched forward computes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

FRAMES_PER_SECOND = 100  # 10 ms fbank shift


def lstm_flops(lstm: nn.LSTM, frames: int, batch: int = 1) -> int:
    """Analytic 2 × multiply-adds of ``lstm`` over ``frames`` steps of ``batch`` sequences."""
    h = lstm.hidden_size
    r = lstm.proj_size or h
    dirs = 2 if lstm.bidirectional else 1
    total = 0
    for layer in range(lstm.num_layers):
        inp = lstm.input_size if layer == 0 else r * dirs
        per_step = 2 * 4 * h * (inp + r) + (2 * h * r if lstm.proj_size else 0)
        total += per_step * dirs
    return total * frames * batch


def _steps_of(x: Tensor | nn.utils.rnn.PackedSequence, batch_first: bool) -> tuple[int, int]:
    """(frames, batch) of an LSTM input; a packed sequence counts its real steps as batch 1."""
    if isinstance(x, nn.utils.rnn.PackedSequence):
        return int(x.data.size(0)), 1
    if x.dim() == 2:
        return int(x.size(0)), 1
    return (int(x.size(1)), int(x.size(0))) if batch_first else (int(x.size(0)), int(x.size(1)))


def count_flops(module: nn.Module, *inputs: Tensor) -> int:
    """FlopCounterMode's count of ``module(*inputs)`` with every nn.LSTM counted analytically."""
    counter = FlopCounterMode(display=False)
    analytic = [0]
    hooks = []

    def pre(mod: nn.Module, args: tuple) -> None:
        mod._flops_before = counter.get_total_flops()  # type: ignore[attr-defined]

    def post(mod: nn.Module, args: tuple, out: object) -> None:
        counted_inside = counter.get_total_flops() - mod._flops_before  # type: ignore[attr-defined]
        frames, batch = _steps_of(args[0], mod.batch_first)  # type: ignore[arg-type]
        analytic[0] += lstm_flops(mod, frames, batch) - counted_inside  # type: ignore[arg-type]

    for m in module.modules():
        if isinstance(m, nn.LSTM):
            hooks += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    sdpa = nn.functional.scaled_dot_product_attention

    def counted_sdpa(q: Tensor, k: Tensor, v: Tensor, *args: object, **kwargs: object) -> Tensor:
        before = counter.get_total_flops()
        out = sdpa(q, k, v, *args, **kwargs)
        lead = q.numel() // (q.size(-2) * q.size(-1))  # batch x heads
        analytic[0] += 2 * lead * q.size(-2) * k.size(-2) * (q.size(-1) + v.size(-1))
        analytic[0] -= counter.get_total_flops() - before
        return out

    nn.functional.scaled_dot_product_attention = counted_sdpa
    try:
        with torch.no_grad(), counter:
            module(*inputs)
    finally:
        nn.functional.scaled_dot_product_attention = sdpa
        for hk in hooks:
            hk.remove()
    return int(counter.get_total_flops() + analytic[0])


def encoder_flops_per_second(encoder: nn.Module, num_features: int = 80, seconds: float = 10.0) -> float:
    """FLOPs (2 × multiply-adds) of the encoder's forward pass per second of audio (eval mode)."""
    frames = round(seconds * FRAMES_PER_SECOND)
    was_training = encoder.training
    encoder.eval()
    try:
        x = torch.zeros(1, frames, num_features)
        total = count_flops(encoder, x, torch.tensor([frames]))
    finally:
        encoder.train(was_training)
    return total / seconds
