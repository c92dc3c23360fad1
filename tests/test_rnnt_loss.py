"""Tests of steps.rnnt: every available backend against a plain brute-force RNN-T programme,
the backends against each other, and the native recursion's analytic gradients."""

from __future__ import annotations

import inspect
import logging

import pytest
import torch
from torch import Tensor

import steps.rnnt as rnnt
from steps.rnnt import backends as backends_module
from steps.rnnt.mutual_information import MutualInformationRecursion
from tests.rnnt_brute import (
    BLANK,
    SHAPES,
    boundary_case,
    brute_mutual_information,
    brute_rnnt_loss,
    brute_smoothed_log_probs,
    reference_grads,
)


def _missing_reason(name: str) -> str | None:
    if name in rnnt.available_backends():
        return None
    return f"{name} not importable: {backends_module._import_problem(name)}"


def _backend_params(names: tuple[str, ...] = ("native", "fast_rnnt", "k2")) -> list:
    params = []
    for name in names:
        reason = _missing_reason(name)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(name, marks=marks, id=name))
    return params


ALL_BACKENDS = _backend_params()
EXTERNAL_BACKENDS = _backend_params(("fast_rnnt", "k2"))


# ---------------------------------------------------------------------------------------------
# mutual_information_recursion
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("modified", [False, True], ids=["regular", "modified"])
@pytest.mark.parametrize("shape", SHAPES + [(2, 0, 3)], ids=str)
@pytest.mark.parametrize("kind", ["none", "ragged", "begins"])
def test_mutual_information_matches_brute_force(
    backend: str, modified: bool, shape: tuple[int, int, int], kind: str
) -> None:
    B, S, T = shape
    if modified and S > T:
        pytest.skip("modified recursion needs T >= S")
    torch.manual_seed(sum(shape) + 7 * modified)
    px = torch.randn(B, S, T if modified else T + 1, dtype=torch.float64, requires_grad=True)
    py = torch.randn(B, S + 1, T, dtype=torch.float64, requires_grad=True)
    boundary = boundary_case(kind, B, S, T, "modified" if modified else "regular", seed=S + T)

    expected = brute_mutual_information(px, py, boundary)
    ref_px, ref_py = reference_grads(expected.sum(), (px, py))
    scores, (px_grad, py_grad) = rnnt.mutual_information_recursion(
        px.detach(), py.detach(), boundary, return_grad=True, backend=backend
    )
    torch.testing.assert_close(scores, expected.detach())
    torch.testing.assert_close(px_grad, ref_px)
    torch.testing.assert_close(py_grad, ref_py)


@pytest.mark.parametrize("modified", [False, True], ids=["regular", "modified"])
def test_native_mutual_information_gradcheck(modified: bool) -> None:
    torch.manual_seed(3)
    B, S, T = 3, 3, 4
    px = torch.randn(B, S, T if modified else T + 1, dtype=torch.float64, requires_grad=True)
    py = torch.randn(B, S + 1, T, dtype=torch.float64, requires_grad=True)
    boundary = torch.tensor([[0, 0, 3, 4], [0, 0, 2, 3], [1, 1, 2, 4]])
    weights = torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64)

    def weighted(px: Tensor, py: Tensor) -> Tensor:  # non-uniform upstream gradient
        return rnnt.mutual_information_recursion(px, py, boundary, backend="native") * weights

    assert torch.autograd.gradcheck(weighted, (px, py))


def test_native_return_grad_equals_autograd() -> None:
    torch.manual_seed(4)
    px = torch.randn(4, 6, 11, requires_grad=True)
    py = torch.randn(4, 7, 10, requires_grad=True)
    boundary = torch.tensor([[0, 0, 6, 10], [0, 0, 3, 7], [0, 0, 0, 4], [2, 1, 5, 9]])
    scores, (px_grad, py_grad) = rnnt.mutual_information_recursion(
        px, py, boundary, return_grad=True, backend="native"
    )
    auto_px, auto_py = torch.autograd.grad(scores.sum(), (px, py), retain_graph=True)
    torch.testing.assert_close(px_grad, auto_px)
    torch.testing.assert_close(py_grad, auto_py)
    # Occupation probabilities: each path crosses every "time cut" exactly once.
    torch.testing.assert_close(py_grad[1, :, 0].sum(), torch.tensor(1.0))
    # Returned grads are not aliased with autograd's: a second backward changes nothing.
    assert torch.equal(torch.autograd.grad(scores.sum(), px)[0], auto_px)


def test_native_long_sequences_float32_and_strided_inputs() -> None:
    torch.manual_seed(6)
    B, S, T = 2, 40, 300
    px64 = torch.randn(B, T + 1, S, dtype=torch.float64).transpose(1, 2) * 3 - 5  # strided
    py64 = torch.randn(B, S + 1, T, dtype=torch.float64) * 3 - 5
    boundary = torch.tensor([[0, 0, 40, 300], [0, 0, 17, 123]])
    scores64, grads64 = rnnt.mutual_information_recursion(
        px64, py64, boundary, return_grad=True, backend="native"
    )
    scores32, grads32 = rnnt.mutual_information_recursion(
        px64.float(), py64.float(), boundary, return_grad=True, backend="native"
    )
    torch.testing.assert_close(scores32.double(), scores64, rtol=1e-5, atol=1e-3)
    for g32, g64 in zip(grads32, grads64, strict=True):
        torch.testing.assert_close(g32.double(), g64, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_native_mutual_information_low_precision(dtype: torch.dtype) -> None:
    torch.manual_seed(5)
    px = torch.randn(2, 5, 9, dtype=torch.float64)
    py = torch.randn(2, 6, 8, dtype=torch.float64)
    expected = rnnt.mutual_information_recursion(px, py, backend="native")
    got = rnnt.mutual_information_recursion(px.to(dtype), py.to(dtype), backend="native")
    assert got.dtype == dtype
    tol = 1e-4 if dtype == torch.float32 else 0.1
    torch.testing.assert_close(got.double(), expected, rtol=tol, atol=tol)


def test_native_handles_minus_inf_and_unreachable_end() -> None:
    px = torch.full((2, 2, 4), float("-inf"), dtype=torch.float64)
    py = torch.zeros(2, 3, 3, dtype=torch.float64, requires_grad=True)
    scores, (px_grad, py_grad) = rnnt.mutual_information_recursion(
        px, py.detach(), return_grad=True, backend="native"
    )
    assert torch.isinf(scores).all() and (scores < 0).all()  # no way to emit the 2 symbols
    assert torch.equal(px_grad, torch.zeros_like(px_grad))
    assert torch.equal(py_grad, torch.zeros_like(py_grad))
    boundary = torch.tensor([[0, 0, 0, 3], [0, 0, 0, 1]])  # s_end = 0: blanks only
    scores = rnnt.mutual_information_recursion(px, py, boundary, backend="native")
    assert torch.equal(scores, torch.zeros(2, dtype=torch.float64))
    scores.sum().backward()
    assert torch.isfinite(py.grad).all()


# ---------------------------------------------------------------------------------------------
# rnnt_loss against the brute force
# ---------------------------------------------------------------------------------------------


def _loss_inputs(B: int, S: int, T: int, C: int = 5, seed: int = 0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, S + 1, C, generator=g, dtype=torch.float64)
    symbols = torch.randint(1, C, (B, S), generator=g)
    return logits.requires_grad_(), symbols


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("rnnt_type", ["regular", "modified", "constrained"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kind", ["none", "ragged", "begins"])
def test_rnnt_loss_matches_brute_force(
    backend: str, rnnt_type: str, shape: tuple[int, int, int], kind: str
) -> None:
    B, S, T = shape
    if rnnt_type != "regular" and S > T:
        pytest.skip("non-regular transducers need T >= S")
    logits, symbols = _loss_inputs(B, S, T, seed=S * 10 + T)
    boundary = boundary_case(kind, B, S, T, rnnt_type, seed=S + 3 * T)
    if backend != "native" and bool((boundary[:, 2] == 0).any() if boundary is not None else 0):
        pytest.skip(f"{backend} asserts s_end >= 1 in its losses (native accepts it)")

    expected = brute_rnnt_loss(logits.log_softmax(-1), symbols, boundary, rnnt_type)
    (ref_grad,) = reference_grads(expected.sum(), (logits,))
    loss = rnnt.rnnt_loss(
        logits, symbols, BLANK, boundary, rnnt_type, reduction="none", backend=backend
    )
    (grad,) = torch.autograd.grad(loss.sum(), logits)
    torch.testing.assert_close(loss, expected.detach())
    torch.testing.assert_close(grad, ref_grad)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("rnnt_type", ["regular", "modified"])
def test_rnnt_loss_delay_penalty(backend: str, rnnt_type: str) -> None:
    logits, symbols = _loss_inputs(3, 3, 5, seed=11)
    boundary = torch.tensor([[0, 0, 3, 5], [0, 0, 2, 4], [0, 0, 1, 3]])
    for bnd in (None, boundary):
        expected = brute_rnnt_loss(logits.log_softmax(-1), symbols, bnd, rnnt_type, 0.25)
        loss = rnnt.rnnt_loss(
            logits,
            symbols,
            BLANK,
            bnd,
            rnnt_type,
            delay_penalty=0.25,
            reduction="none",
            backend=backend,
        )
        # k2/fast_rnnt compute the penalty offsets in float32.
        torch.testing.assert_close(loss, expected.detach(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_reductions(backend: str) -> None:
    logits, symbols = _loss_inputs(4, 3, 5, seed=2)
    per_seq = rnnt.rnnt_loss(logits, symbols, BLANK, reduction="none", backend=backend)
    assert per_seq.shape == (4,)
    mean = rnnt.rnnt_loss(logits, symbols, BLANK, backend=backend)  # default: "mean"
    total = rnnt.rnnt_loss(logits, symbols, BLANK, reduction="sum", backend=backend)
    torch.testing.assert_close(mean, per_seq.mean())  # plain batch mean, no length scaling
    torch.testing.assert_close(total, per_seq.sum())
    if backend == "native":
        with pytest.raises(ValueError, match="reduction"):
            rnnt.rnnt_loss(logits, symbols, BLANK, reduction="frames", backend=backend)


# ---------------------------------------------------------------------------------------------
# simple / smoothed / pruned
# ---------------------------------------------------------------------------------------------


def _lm_am(B: int, S: int, T: int, C: int = 6, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    lm = torch.randn(B, S + 1, C, generator=g, dtype=torch.float64).requires_grad_()
    am = torch.randn(B, T, C, generator=g, dtype=torch.float64).requires_grad_()
    return lm, am, torch.randint(1, C, (B, S), generator=g)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("rnnt_type", ["regular", "modified"])
def test_simple_and_smoothed_match_brute_force(backend: str, rnnt_type: str) -> None:
    lm, am, symbols = _lm_am(3, 3, 5, seed=21)
    boundary = torch.tensor([[0, 0, 3, 5], [0, 0, 2, 4], [0, 0, 1, 2]])

    simple = rnnt.rnnt_loss_simple(
        lm, am, symbols, BLANK, boundary, rnnt_type, reduction="none", backend=backend
    )
    joint = (lm[:, None] + am[:, :, None]).log_softmax(-1)
    expected = brute_rnnt_loss(joint, symbols, boundary, rnnt_type)
    torch.testing.assert_close(simple, expected)
    grads = torch.autograd.grad(simple.sum(), (lm, am))
    ref = reference_grads(expected.sum(), (lm, am))
    torch.testing.assert_close(grads, ref)

    smoothed = rnnt.rnnt_loss_smoothed(
        lm, am, symbols, BLANK, 0.15, 0.25, boundary, rnnt_type, reduction="none", backend=backend
    )
    mixed = brute_smoothed_log_probs(lm, am, 0.15, 0.25)
    expected = brute_rnnt_loss(mixed, symbols, boundary, rnnt_type)
    torch.testing.assert_close(smoothed, expected)
    grads = torch.autograd.grad(smoothed.sum(), (lm, am))
    ref = reference_grads(expected.sum(), (lm, am))
    torch.testing.assert_close(grads, ref)


def _joiner(am: Tensor, lm: Tensor) -> Tensor:
    """A non-additive joiner, so that the pruned loss differs from the simple one."""
    return torch.tanh(am + lm) * 3.0


def _recipe(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    boundary: Tensor,
    s_range: int,
    rnnt_type: str,
    backend: str,
) -> tuple[Tensor, Tensor, Tensor]:
    _, (px_grad, py_grad) = rnnt.rnnt_loss_smoothed(
        lm,
        am,
        symbols,
        BLANK,
        boundary=boundary,
        rnnt_type=rnnt_type,
        reduction="sum",
        return_grad=True,
        backend=backend,
    )
    ranges = rnnt.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range, backend=backend)
    am_pruned, lm_pruned = rnnt.do_rnnt_pruning(am, lm, ranges, backend=backend)
    pruned = rnnt.rnnt_loss_pruned(
        _joiner(am_pruned, lm_pruned),
        symbols,
        ranges,
        BLANK,
        boundary,
        rnnt_type,
        reduction="none",
        backend=backend,
    )
    return pruned, ranges, px_grad


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("rnnt_type", ["regular", "modified"])
def test_pruned_with_full_range_equals_full_loss(backend: str, rnnt_type: str) -> None:
    B, S, T = 3, 4, 7
    lm, am, symbols = _lm_am(B, S, T, seed=31)
    boundary = torch.tensor([[0, 0, 4, 7], [0, 0, 3, 5], [0, 0, 1, 6]])
    full = rnnt.rnnt_loss(
        _joiner(am[:, :, None], lm[:, None]),
        symbols,
        BLANK,
        boundary,
        rnnt_type,
        reduction="none",
        backend=backend,
    )
    pruned, ranges, _ = _recipe(lm, am, symbols, boundary, S + 1, rnnt_type, backend)
    assert ranges.shape == (B, T, S + 1)
    torch.testing.assert_close(pruned, full)
    torch.testing.assert_close(
        torch.autograd.grad(pruned.sum(), (lm, am)), torch.autograd.grad(full.sum(), (lm, am))
    )
    # A narrower window keeps a subset of the alignments: the loss can only grow.
    narrow, ranges, _ = _recipe(lm, am, symbols, boundary, 2, rnnt_type, backend)
    assert ranges.shape == (B, T, 2)
    assert bool((narrow >= full - 1e-9).all())
    assert torch.isfinite(narrow).all()


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_prune_ranges_are_valid_windows(backend: str) -> None:
    lm, am, symbols = _lm_am(4, 12, 30, seed=41)
    boundary = torch.tensor([[0, 0, 12, 30], [0, 0, 7, 21], [0, 0, 12, 13], [0, 0, 3, 30]])
    _, ranges, _ = _recipe(lm, am, symbols, boundary, 4, "regular", backend)
    start = ranges[:, :, 0]
    assert bool((start[:, 0] == 0).all())
    steps = start[:, 1:] - start[:, :-1]
    assert bool((steps >= 0).all()) and bool((steps <= 3).all())
    assert torch.equal(ranges - start[:, :, None], torch.arange(4).expand(4, 30, 4))
    assert bool((ranges[:, -1, -1] <= 12).all())


# ---------------------------------------------------------------------------------------------
# Backends against each other (float32, realistic sizes, ragged)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", EXTERNAL_BACKENDS)
@pytest.mark.parametrize("rnnt_type", ["regular", "modified"])
def test_native_agrees_with_external_backend(backend: str, rnnt_type: str) -> None:
    torch.manual_seed(51)
    B, S, T, C = 4, 15, 40, 30
    lm = torch.randn(B, S + 1, C, requires_grad=True)
    am = torch.randn(B, T, C, requires_grad=True)
    symbols = torch.randint(1, C, (B, S))
    boundary = torch.tensor([[0, 0, 15, 40], [0, 0, 9, 33], [0, 0, 15, 17], [0, 0, 1, 25]])
    results = {}
    for name in ("native", backend):
        full = rnnt.rnnt_loss(
            _joiner(am[:, :, None], lm[:, None]),
            symbols,
            BLANK,
            boundary,
            rnnt_type,
            delay_penalty=0.1,
            reduction="none",
            backend=name,
        )
        simple, (px_grad, py_grad) = rnnt.rnnt_loss_simple(
            lm,
            am,
            symbols,
            BLANK,
            boundary,
            rnnt_type,
            reduction="sum",
            return_grad=True,
            backend=name,
        )
        # fast_rnnt scales its saved return_grad tensors in place during backward: copy first.
        px_grad, py_grad = px_grad.clone(), py_grad.clone()
        pruned, ranges, _ = _recipe(lm, am, symbols, boundary, 5, rnnt_type, name)
        loss = full.sum() + simple + pruned.sum()
        results[name] = (
            full,
            simple,
            px_grad,
            py_grad,
            ranges,
            pruned,
            *torch.autograd.grad(loss, (lm, am)),
        )
    for got, ref in zip(results["native"], results[backend], strict=True):
        if got.dtype == torch.int64:
            assert torch.equal(got, ref)
        else:
            torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# Edge cases
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("rnnt_type", ["regular", "modified"])
def test_empty_transcripts(backend: str, rnnt_type: str) -> None:
    if backend != "native":
        pytest.skip(f"{backend} asserts S >= 1 in its losses (native accepts empty transcripts)")
    logits, symbols = _loss_inputs(2, 0, 4, seed=61)
    loss = rnnt.rnnt_loss(
        logits, symbols, BLANK, None, rnnt_type, reduction="none", backend=backend
    )
    torch.testing.assert_close(loss, -logits.log_softmax(-1)[:, :, 0, BLANK].sum(1))
    lm, am, symbols = _lm_am(2, 0, 4, seed=62)
    boundary = torch.tensor([[0, 0, 0, 4], [0, 0, 0, 2]])
    pruned, ranges, _ = _recipe(lm, am, symbols, boundary, 3, rnnt_type, backend)
    assert ranges.shape == (2, 4, 1) and not ranges.any()
    full = rnnt.rnnt_loss(
        _joiner(am[:, :, None], lm[:, None]),
        symbols,
        BLANK,
        boundary,
        rnnt_type,
        reduction="none",
        backend=backend,
    )
    torch.testing.assert_close(pruned, full)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_single_frame(backend: str) -> None:
    logits, symbols = _loss_inputs(2, 2, 1, seed=71)
    loss = rnnt.rnnt_loss(logits, symbols, BLANK, reduction="none", backend=backend)
    lp = logits.log_softmax(-1)
    # One frame: emit both symbols, then the final blank.
    expected = torch.stack(
        [
            lp[b, 0, 0, symbols[b, 0]] + lp[b, 0, 1, symbols[b, 1]] + lp[b, 0, 2, BLANK]
            for b in range(2)
        ]
    )
    torch.testing.assert_close(loss, -expected)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_sequence_with_no_symbols_in_a_batch(backend: str) -> None:
    if backend != "native":
        pytest.skip(f"{backend} asserts s_end >= 1 in its losses (native accepts s_end = 0)")
    logits, symbols = _loss_inputs(2, 3, 5, seed=81)
    boundary = torch.tensor([[0, 0, 3, 5], [0, 0, 0, 3]])
    loss = rnnt.rnnt_loss(logits, symbols, BLANK, boundary, reduction="none", backend=backend)
    lp = logits.log_softmax(-1)
    torch.testing.assert_close(loss[1], -lp[1, :3, 0, BLANK].sum())
    expected = brute_rnnt_loss(lp, symbols, boundary, "regular")
    torch.testing.assert_close(loss, expected)


def test_native_rejects_bad_inputs() -> None:
    px, py = torch.zeros(2, 3, 5), torch.zeros(2, 4, 4)
    with pytest.raises(ValueError, match="boundary"):
        rnnt.mutual_information_recursion(
            px, py, torch.tensor([[0, 0, 4, 4]] * 2), backend="native"
        )
    with pytest.raises(ValueError, match="py must be"):
        rnnt.mutual_information_recursion(px, torch.zeros(2, 3, 4), backend="native")
    logits, symbols = _loss_inputs(1, 4, 3)
    with pytest.raises(ValueError, match="T >= S"):
        rnnt.rnnt_loss(logits, symbols, BLANK, rnnt_type="modified", backend="native")
    with pytest.raises(ValueError, match="rnnt_type"):
        rnnt.rnnt_loss(logits, symbols, BLANK, rnnt_type="hat", backend="native")


# ---------------------------------------------------------------------------------------------
# Backend selection
# ---------------------------------------------------------------------------------------------


def test_backend_resolution(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    available = rnnt.available_backends()
    assert available[-1] == "native"
    assert available == [name for name in rnnt.BACKENDS if name in available]
    monkeypatch.setattr(backends_module, "_auto_announced", False)
    with caplog.at_level(logging.INFO, logger="steps.rnnt"):
        assert rnnt.resolve_backend("auto") == available[0]
        assert rnnt.resolve_backend("auto") == available[0]
    announcements = [r for r in caplog.records if "backend" in r.getMessage()]
    assert len(announcements) == 1 and available[0] in announcements[0].getMessage()
    with pytest.raises(ValueError, match="unknown RNN-T backend"):
        rnnt.resolve_backend("warp")


def test_missing_backend_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_problem(name: str) -> str | None:
        return f"ModuleNotFoundError: No module named '{name}'"

    monkeypatch.setattr(backends_module, "_import_problem", fake_problem)
    assert rnnt.available_backends() == ["native"]
    assert rnnt.resolve_backend("auto") == "native"
    logits, symbols = _loss_inputs(2, 2, 3)
    torch.testing.assert_close(
        rnnt.rnnt_loss(logits, symbols, BLANK),  # auto -> native
        rnnt.rnnt_loss(logits, symbols, BLANK, backend="native"),
    )
    with pytest.raises(rnnt.BackendUnavailableError) as info:
        rnnt.rnnt_loss(*_loss_inputs(1, 2, 3), BLANK, backend="fast_rnnt")
    message = str(info.value)
    assert "\n" not in message
    assert "'fast_rnnt' is not importable" in message and "available: native" in message


def test_native_function_is_a_custom_autograd_function() -> None:
    px = torch.randn(1, 2, 4, requires_grad=True)
    py = torch.randn(1, 3, 3, requires_grad=True)
    scores = rnnt.mutual_information_recursion(px, py, backend="native")
    assert type(scores.grad_fn).__name__ == f"{MutualInformationRecursion.__name__}Backward"


PUBLIC_FUNCTIONS = [
    "mutual_information_recursion",
    "rnnt_loss",
    "rnnt_loss_simple",
    "rnnt_loss_smoothed",
    "get_rnnt_prune_ranges",
    "do_rnnt_pruning",
    "rnnt_loss_pruned",
]


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_signatures_mirror_fast_rnnt(name: str) -> None:
    fast_rnnt = pytest.importorskip("fast_rnnt", reason="fast_rnnt not importable")
    ours = inspect.signature(getattr(rnnt, name)).parameters
    theirs = inspect.signature(getattr(fast_rnnt, name)).parameters
    assert [(p.name, p.default, p.kind) for p in theirs.values()] == [
        (p.name, p.default, p.kind) for p in ours.values() if p.name != "backend"
    ]
    assert ours["backend"].default == "auto"
    assert ours["backend"].kind is inspect.Parameter.KEYWORD_ONLY
