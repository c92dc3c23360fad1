"""The loss benchmark runs end to end on a tiny size and writes its RESULTS.md fragment."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from steps import bench_rnnt_loss


def test_bench_tiny_native_writes_fragment(tmp_path: Path) -> None:
    report = tmp_path / "bench" / "report.md"
    res = CliRunner().invoke(
        bench_rnnt_loss.main,
        ["--size", "2,12,4,8", "--backends", "native", "--cases", "full,pruned", "--repeats", "1",
         "--s-range", "3", "--report-md", str(report)],
        catch_exceptions=False,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    text = report.read_text()
    assert text.startswith("## RNN-T loss benchmark")
    rows = [line for line in text.splitlines() if line.startswith("| native |")]
    assert len(rows) == 2 and not any("failed" in r for r in rows)
    # the full case compares with itself (a tiny case may allocate under 1 MiB: no memory ratio)
    full = next(r for r in rows if "| full |" in r)
    assert full.split("|")[6].strip() == "1.00" and full.split("|")[7].strip() in ("1.00", "-")
