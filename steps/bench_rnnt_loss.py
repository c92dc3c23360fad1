"""Benchmark the RNN-T loss backends: full loss vs the pruned training recipe, time and memory.

Cases, all forward + backward down to the encoder/predictor outputs ``am`` (B, T, V) and
``lm`` (B, U+1, V), with a plain additive joiner (logits = am + lm) so the numbers measure
the loss machinery rather than a network:

* ``full``: joiner on the whole (B, T, U+1, V) lattice, then ``rnnt_loss``.
* ``pruned``: the pruned recipe: ``rnnt_loss_smoothed(return_grad=True)`` -> prune ranges
  (``--s-range``) -> ``do_rnnt_pruning`` -> joiner on (B, T, s_range, V) -> ``rnnt_loss_pruned``;
  the backward pass goes through both losses.
* ``pruned-only``: the part after the smoothed loss, with ranges computed beforehand.
* ``recursion``: ``mutual_information_recursion`` alone on a full (U+1) x (T+1) lattice of
  random scores, to compare the backends' numeric cores without the shared PyTorch ops.

Sequences are ragged (lengths drawn in [70%, 100%] of T and U, the first one full length).

Each (backend, case, size) runs in a fresh subprocess.  Peak memory is the peak resident set
size during one step minus the resident size just before it: the subprocess first runs one
warm-up step (imports, lazy kernels, allocator); then, twice, it returns freed heap to the
OS (``malloc_trim``), resets the kernel's peak-RSS mark (``/proc/self/clear_refs``) and
measures one step with ``getrusage(...).ru_maxrss``; the larger of the two is reported.
Inputs are allocated before the baseline, so they are not counted; everything the step
allocates is, the logits included (RSS-based numbers are accurate to a few MiB and can vary
by tens of MiB between runs with the allocator's reuse of freed pages).
Where the peak mark cannot be reset, the first (cold) step is measured instead, and the
table says so.  Time is the median (or ``--stat min``) of ``--repeats`` further steps.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from steps.reports.rnnt_loss import format_table, report_fragment
from steps.utils import write_text_atomic
from steps.utils.device import device_option

CASES = ("full", "pruned", "pruned-only", "recursion")
DEFAULT_SIZES = ("8,500,100,500", "16,150,30,500")
REPO_ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------
# Worker side (runs in the subprocess)
# ------------------------------------------------------------------------------------------


def _make_step(spec: dict[str, Any]) -> Callable[[], None]:
    """Build the inputs of one case and return a closure doing one forward + backward."""
    import torch

    import steps.rnnt as rnnt

    B, T, U, V = spec["size"]
    backend, s_range = spec["backend"], spec["s_range"]
    dtype = getattr(torch, spec["dtype"])
    dev = torch.device(spec.get("device", "cpu"))
    gen = torch.Generator().manual_seed(spec["seed"])  # drawn on the CPU: the same inputs on any device

    def leaf(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=dtype).to(dev).requires_grad_()

    am = leaf(B, T, V)
    lm = leaf(B, U + 1, V)
    symbols = torch.randint(1, V, (B, U), generator=gen)
    t_end = torch.randint(int(0.7 * T), T + 1, (B,), generator=gen)
    s_end = torch.randint(int(0.7 * U), U + 1, (B,), generator=gen)
    t_end[0], s_end[0] = T, U
    zeros = torch.zeros(B, dtype=torch.int64)
    boundary = torch.stack([zeros, zeros, s_end, t_end], dim=1).to(dev)
    symbols = symbols.to(dev)

    def clear() -> None:
        am.grad = lm.grad = None

    if spec["case"] == "recursion":
        px = leaf(B, U, T + 1)
        py = leaf(B, U + 1, T)

        def step() -> None:
            rnnt.mutual_information_recursion(px, py, boundary, backend=backend).sum().backward()
            px.grad = py.grad = None

        return step

    if spec["case"] == "full":

        def step() -> None:
            logits = am[:, :, None, :] + lm[:, None, :, :]
            loss = rnnt.rnnt_loss(logits, symbols, 0, boundary, reduction="sum", backend=backend)
            loss.backward()
            clear()

        return step

    def pruned_part(ranges: torch.Tensor) -> torch.Tensor:
        am_pruned, lm_pruned = rnnt.do_rnnt_pruning(am, lm, ranges, backend=backend)
        return rnnt.rnnt_loss_pruned(
            am_pruned + lm_pruned, symbols, ranges, 0, boundary, reduction="sum", backend=backend
        )

    def prune_ranges() -> tuple[torch.Tensor, torch.Tensor]:
        simple, (px_grad, py_grad) = rnnt.rnnt_loss_smoothed(
            lm,
            am,
            symbols,
            0,
            boundary=boundary,
            reduction="sum",
            return_grad=True,
            backend=backend,
        )
        return simple, rnnt.get_rnnt_prune_ranges(
            px_grad, py_grad, boundary, s_range, backend=backend
        )

    if spec["case"] == "pruned":

        def step() -> None:
            simple, ranges = prune_ranges()
            (simple + pruned_part(ranges)).backward()
            clear()

        return step

    with torch.no_grad():
        _, fixed_ranges = prune_ranges()

    def step() -> None:
        pruned_part(fixed_ranges).backward()
        clear()

    return step


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _release_free_heap() -> None:
    """Give freed heap pages back to the OS so the measured step has to fault them in again."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # resets the peak-RSS mark (Linux >= 4.0)
    except OSError:
        return False
    return True


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(spec["threads"])
    cpu_step = _make_step(spec)
    if spec.get("device", "cpu") != "cpu":  # GPU: time the kernels, peak = allocated device memory
        return _run_on_gpu(spec, cpu_step)
    step = cpu_step
    warm = _reset_peak_rss()
    if warm:  # warm-up step, then the worst of two measured steps
        step()
        extra_kib = []
        for _ in range(2):
            _release_free_heap()
            _reset_peak_rss()
            baseline = _rss_kib()
            step()
            extra_kib.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline)
    else:  # the peak mark cannot be reset: measure the very first (cold) step
        _release_free_heap()
        baseline = _rss_kib()
        step()
        extra_kib = [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline]
    times = []
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {
        **spec,
        "time_ms": 1e3 * (min(times) if spec["stat"] == "min" else statistics.median(times)),
        "peak_mib": max(max(extra_kib), 0) / 1024,
        "memory_method": "warm" if warm else "cold",
    }


def _run_on_gpu(spec: dict[str, Any], step: Callable[[], None]) -> dict[str, Any]:
    import torch

    step()  # warm-up (kernels, allocator)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    step()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    times = []
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return {
        **spec,
        "time_ms": 1e3 * (min(times) if spec["stat"] == "min" else statistics.median(times)),
        "peak_mib": max(peak, 0) / 2**20,
        "memory_method": "warm",
    }


# ------------------------------------------------------------------------------------------
# Driver side
# ------------------------------------------------------------------------------------------


def _parse_size(text: str) -> tuple[int, int, int, int]:
    parts = [int(p) for p in text.replace("x", ",").split(",") if p.strip()]
    if len(parts) != 4 or min(parts) < 1:
        raise click.BadParameter(f"size must be B,T,U,V (four positive integers), got {text!r}")
    return parts[0], parts[1], parts[2], parts[3]


def _run_in_subprocess(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "steps.bench_rnnt_loss", "--worker", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**spec, "error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or [f"exit {proc.returncode}"]
        return {**spec, "error": lines[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--size",
    "sizes",
    multiple=True,
    default=DEFAULT_SIZES,
    show_default=True,
    help="Problem size B,T,U,V (batch, frames, symbols, vocabulary); repeatable.",
)
@click.option(
    "--backends",
    default="available",
    show_default=True,
    help="Comma-separated subset of k2,fast_rnnt,native, or 'available'.",
)
@click.option(
    "--cases",
    default=",".join(CASES),
    show_default=True,
    help=f"Comma-separated subset of {','.join(CASES)}.",
)
@click.option(
    "--repeats",
    default=3,
    show_default=True,
    type=click.IntRange(1),
    help="Timed steps per case (median reported), after one warm-up step.",
)
@click.option(
    "--s-range",
    default=5,
    show_default=True,
    type=click.IntRange(1),
    help="Symbols kept per frame by the pruned recipe.",
)
@click.option(
    "--threads",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="torch.set_num_threads in each measurement subprocess.",
)
@click.option(
    "--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True
)
@click.option(
    "--stat",
    type=click.Choice(["median", "min"]),
    default="median",
    show_default=True,
    help="How the timed steps are summarised ('min' resists noise from other processes).",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the random inputs.")
@click.option(
    "--timeout",
    default=1800.0,
    show_default=True,
    help="Seconds allowed per (backend, case, size) subprocess.",
)
@click.option(
    "--json-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the raw results as JSON here.",
)
@click.option(
    "--report-md",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a markdown fragment (e.g. exp/bench_rnnt/report.md, pasted into RESULTS.md).",
)
@click.option("--worker", hidden=True, help="Internal: run one measurement from a JSON spec.")
@device_option
def main(
    sizes: tuple[str, ...],
    backends: str,
    cases: str,
    repeats: int,
    s_range: int,
    threads: int,
    dtype: str,
    stat: str,
    seed: int,
    timeout: float,
    json_out: Path | None,
    report_md: Path | None,
    worker: str | None,
    device: str,
) -> None:
    """Time and memory of the RNN-T loss backends (full vs pruned), as a markdown table.

    Each (backend, case, size) is measured in a fresh subprocess; see the module docstring
    for how peak memory is taken.  Example:

        python -m steps.bench_rnnt_loss --size 16,150,30,500 --backends fast_rnnt,native
    """
    if worker is not None:
        print(json.dumps(run_worker(json.loads(worker))))
        return

    from steps.rnnt import BACKENDS, available_backends
    from steps.utils.device import resolve_device

    dev = str(resolve_device(device))

    names = available_backends() if backends == "available" else backends.split(",")
    for name in names:
        if name not in BACKENDS:
            raise click.BadParameter(f"unknown backend {name!r}", param_hint="--backends")
        if name not in available_backends():
            raise click.BadParameter(
                f"{name} is not importable here; available: {','.join(available_backends())}",
                param_hint="--backends",
            )
    case_list = cases.split(",")
    for case in case_list:
        if case not in CASES:
            raise click.BadParameter(f"unknown case {case!r}", param_hint="--cases")

    results = []
    for size in [_parse_size(s) for s in sizes]:
        for name in names:
            for case in case_list:
                spec = {
                    "backend": name,
                    "case": case,
                    "size": size,
                    "repeats": repeats,
                    "s_range": s_range,
                    "threads": threads,
                    "dtype": dtype,
                    "stat": stat,
                    "seed": seed,
                    "device": dev,
                }
                click.echo(f"measuring {name} {case} {size} ...", err=True)
                results.append(_run_in_subprocess(spec, timeout))
    settings = (
        f"device={dev} threads={threads} dtype={dtype} s_range={s_range} repeats={repeats}; "
        f"time = {stat} forward+backward, peak = "
        + ("extra RSS during one step" if dev == "cpu" else "extra allocated GPU memory during one step")
    )
    table = format_table(results)
    click.echo(f"\n{settings}\n")
    click.echo(table)
    if json_out is not None:
        write_text_atomic(json_out, json.dumps(results, indent=2))
    if report_md is not None:
        command = "python -m steps.bench_rnnt_loss " + " ".join(sys.argv[1:])
        write_text_atomic(report_md, report_fragment(command, settings, table))


if __name__ == "__main__":
    main()
