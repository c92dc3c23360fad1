"""Smoke test of the recipe driver: ./run.sh --size tiny --stop-stage 3 into a temp dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)}
    return subprocess.run(
        ["bash", str(REPO / "run.sh"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_help_lists_every_stage() -> None:
    proc = _run("--help")
    assert proc.returncode == 0
    for n, name in ((0, "setup"), (1, "data"), (2, "features"), (3, "lang"), (4, "train"), (5, "decode"),
                    (6, "sv"), (7, "cohorts"), (8, "mitigate"), (9, "cca"), (10, "multitalker")):  # fmt: skip
        assert f" {n:>2}  {name}" in proc.stdout
    assert " 99  report" in proc.stdout
    assert "--features-stage" in proc.stdout


def test_unknown_option_is_one_line() -> None:
    proc = _run("--no-such-option", "1")
    assert (
        proc.returncode == 1
        and proc.stderr.strip() == "ERROR: unknown option --no-such-option (see --help)"
    )
    proc = _run("--corpus", "librispeech")
    assert proc.returncode == 1 and "needs --corpus-dir" in proc.stderr
    for opt, value, msg in [("--stage", "foo", "--stage must be a whole number, got 'foo'"),
                            ("--avg", "-1", "--avg must be a positive whole number"),
                            ("--train-steps", "1e3", "--train-steps must be a positive whole number"),
                            ("--force", "yes", "--force must be true or false"),
                            ("--size", "huge", "unknown size 'huge'")]:  # fmt: skip
        proc = _run(opt, value)
        assert proc.returncode == 1 and msg in proc.stderr, proc.stderr
        assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and proc.stderr.startswith("ERROR:")


def test_in_order_starts_the_listed_first() -> None:
    """Stage 4's --order: the listed architectures first (in that order), the others after, each once."""
    lib = REPO / "stages/lib.sh"

    def in_order(first: str, all_: str) -> str:
        cmd = f'set -euo pipefail; . {lib}; in_order "$1" "$2"'
        return subprocess.run(["bash", "-c", cmd, "x", first, all_], capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip

    assert in_order("transformer conformer lstm", "lstm transformer") == "transformer lstm"
    assert in_order("c a", "a b c d") == "c a b d"
    assert in_order("", "a b") == "a b"
    assert in_order("x a a", "a b") == "a b"
    assert in_order("a", "") == ""


def test_tiny_run_to_stage_3_then_noop(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = _run("--size", "tiny", "--stop-stage", "3", "--data-dir", str(data), "--seed", "3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for d in ("manifests", "fbank", "lang_bpe_100", "lm_text", "lang_bpe_100/lm"):
        assert (data / d / ".done").is_file()
    assert "Stage 2: features" in proc.stderr and "done in" in proc.stderr
    again = _run("--size", "tiny", "--stop-stage", "3", "--data-dir", str(data), "--seed", "3")
    assert again.returncode == 0
    assert again.stderr.count("nothing to do") == 5  # data, features, BPE, LM text, LM


def test_swapped_stage_script_is_used(tmp_path: Path) -> None:
    script = tmp_path / "my_features.sh"
    script.write_text(f'#!/usr/bin/env bash\necho "custom features $*" > {tmp_path}/called\n')
    proc = _run(
        "--stage",
        "2",
        "--stop-stage",
        "2",
        "--data-dir",
        str(tmp_path / "d"),
        "--features-stage",
        str(script),
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "called").read_text().startswith("custom features --conf conf/fbank.yaml")


def test_report_goes_to_the_experiment_dir_unless_published(tmp_path: Path) -> None:
    """A run's report lands in its own experiment directory; only --publish rewrites the
    repository's RESULTS.md (here a scratch working directory stands in for the repository)."""
    exp = tmp_path / "exp"
    exp.mkdir()
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"  # the venv's python first
    env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": path}

    def report(*args: str) -> subprocess.CompletedProcess:
        cmd = ["bash", str(REPO / "stages/99_report.sh"), "--exp-dir", str(exp), *args]
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    assert report().returncode == 0
    assert (exp / "RESULTS.md").is_file() and not (tmp_path / "RESULTS.md").exists()
    assert report("--publish").returncode == 0
    assert (tmp_path / "RESULTS.md").is_file()
