"""The RNN-T loss benchmark's table and RESULTS.md section (``python -m steps.bench_rnnt_loss``)."""

from __future__ import annotations

from typing import Any


def report_fragment(command: str, settings: str, table: str) -> str:
    """The benchmark as a RESULTS.md section (steps/write_results.py pastes ``exp/*/report.md``)."""
    from steps.reports.machine import describe

    return "\n".join(
        [
            "## RNN-T loss benchmark",
            "",
            f"`{command}` on {describe()}. Full = joiner on the whole (B,T,U+1,V) lattice + "
            "`rnnt_loss`; pruned = smoothed loss -> prune ranges -> joiner on (B,T,s_range,V) -> "
            "`rnnt_loss_pruned` (k2's training recipe); recursion = `mutual_information_recursion` "
            "alone. Targets of the issue: pruned needs >= 5x less memory than full; native within 3x "
            "of fast_rnnt's time.",
            "",
            settings,
            "",
            table,
            "",
        ]
    )


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_table(results: list[dict[str, Any]]) -> str:
    """Markdown table; ratios against the same backend's full loss and fast_rnnt's same case."""
    by_key = {(r["backend"], r["case"], tuple(r["size"])): r for r in results if "error" not in r}
    lines = [
        "| backend | case | size (B,T,U,V) | time ms | peak MiB | time vs full "
        "| full's memory / this | time vs fast_rnnt |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        size = tuple(r["size"])
        size_text = ",".join(map(str, size))
        if "error" in r:
            lines.append(
                f"| {r['backend']} | {r['case']} | {size_text} | failed: {r['error']} | | | | |"
            )
            continue
        full = by_key.get((r["backend"], "full", size))
        ref = by_key.get(("fast_rnnt", r["case"], size))
        vs_full = r["time_ms"] / full["time_ms"] if full else None
        vs_ref = r["time_ms"] / ref["time_ms"] if ref else None
        mem_gain = full["peak_mib"] / r["peak_mib"] if full and r["peak_mib"] > 0 else None
        mark = "" if r["memory_method"] == "warm" else " (cold)"
        lines.append(
            f"| {r['backend']} | {r['case']} | {size_text} | {r['time_ms']:.1f} "
            f"| {r['peak_mib']:.0f}{mark} | {_fmt_ratio(vs_full)} "
            f"| {_fmt_ratio(mem_gain)} | {_fmt_ratio(vs_ref)} |"
        )
    return "\n".join(lines)
