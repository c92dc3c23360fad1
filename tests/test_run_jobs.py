"""steps.run_jobs: every job runs, a few at a time, with its own log and thread budget; failures are
reported by name and make the pool fail; names must be unique."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from steps.run_jobs import main, run_jobs, threads_per_job
from steps.utils import FairstreamError
from tests.conftest import REPO


def test_threads_are_shared_between_jobs() -> None:
    assert threads_per_job(2, cores=2) == 1
    assert threads_per_job(1, cores=2) == 2
    assert threads_per_job(4, cores=2) == 1  # never zero
    assert threads_per_job(2, cores=8) == 4


def test_every_job_runs_at_most_n_at_once_and_failures_are_named(tmp_path: Path) -> None:
    stamp = tmp_path / "stamps"
    stamp.mkdir()
    # each job records when it ran; overlaps tell how many ran at once
    cmd = (
        "date +%s.%N > {d}/{n}.start; echo threads=$OMP_NUM_THREADS,$FAIRSTREAM_THREADS; "
        "sleep 0.6; date +%s.%N > {d}/{n}.end"
    )
    jobs = [(f"j{i}", cmd.format(d=stamp, n=f"j{i}")) for i in range(4)]
    jobs.append(("bad", "echo something broke >&2; exit 7"))
    failed = run_jobs(jobs, num_jobs=2, log_dir=tmp_path / "log", threads=3)
    assert failed == ["bad"]
    spans = [tuple(float((stamp / f"j{i}.{end}").read_text()) for end in ("start", "end")) for i in range(4)]
    for t, _ in spans:  # at every job's start, at most 2 jobs are running
        assert sum(s <= t < e for s, e in spans) <= 2
    assert (tmp_path / "log" / "j0.log").read_text().strip() == "threads=3,3"
    assert "something broke" in (tmp_path / "log" / "bad.log").read_text()


def test_cli_exit_status_and_duplicate_names(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--jobs", "2", "--log-dir", str(tmp_path), "--job", "a", "true"]
    ok = runner.invoke(main, [*args, "--job", "b", "true"])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(main, [*args, "--job", "b", "false"])
    assert bad.exit_code != 0 and "b" in str(bad.exception or bad.output)
    with pytest.raises(FairstreamError, match="repeated: a"):
        run_jobs([("a", "true"), ("a", "true")], 2, tmp_path)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_pool_stops_its_jobs(tmp_path: Path, sig: signal.Signals) -> None:
    """Ctrl-C or a killed stage must not leave a job writing into a step's directory."""
    marker, started = tmp_path / "late", tmp_path / "started"
    pool = subprocess.Popen(
        [sys.executable, "-m", "steps.run_jobs", "--log-dir", str(tmp_path),
         "--job", "slow", f"touch {started}; sleep 2; touch {marker}"],
        cwd=REPO,
        # SIGINT as a terminal gives it: an ignored SIGINT is inherited (a background job's, or one
        # something earlier in the full suite left ignored: there the pool never saw the Ctrl-C)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # signal once the job runs (not after a fixed delay): the pool then has a job to stop
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists(), "the pool never started its job"
    time.sleep(0.2)
    pool.send_signal(sig)
    assert pool.wait(timeout=10) != 0
    time.sleep(2.0)
    assert not marker.exists()
