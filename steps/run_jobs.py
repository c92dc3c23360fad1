"""Run independent shell commands side by side, a few at a time, each with its own log.

Small-batch CPU training and one-thread decoding keep one core busy better than two, so on a
2-core machine two single-threaded jobs get through more work than one after the other.  Each job
gets ``cores / jobs`` threads through ``OMP_NUM_THREADS`` and ``FAIRSTREAM_THREADS`` and its
output in ``LOG_DIR/<name>.log``; this log gets one line per start and per finish.  Every job runs
even when another fails (each step resumes, so a rerun redoes only the failed ones); the exit
status is 1 if any failed, after printing the last lines of its log.

    python -m steps.run_jobs --jobs 2 --log-dir exp/log \\
        --job lstm "python -m steps.train_transducer ..." --job convrnnt "python -m ..."
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import click

from steps.utils import FairstreamError
from steps.utils.cli import CONTEXT, step_main

log = logging.getLogger("steps.run_jobs")


@dataclass
class Job:
    name: str
    command: str
    log_path: Path
    proc: subprocess.Popen | None = None
    started: float = 0.0


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    """Cores shared evenly between the jobs that run at once (at least one each)."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, jobs))


def tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_jobs(
    jobs: list[tuple[str, str]], num_jobs: int, log_dir: Path, threads: int | None = None
) -> list[str]:
    """Run ``(name, shell command)`` pairs ``num_jobs`` at a time; returns the names that failed."""
    names = [n for n, _ in jobs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise FairstreamError(f"run_jobs: job names name logs and must be unique; repeated: {', '.join(dup)}")
    log_dir.mkdir(parents=True, exist_ok=True)
    threads = threads or threads_per_job(min(num_jobs, len(jobs)))
    # a job's output goes to a log file: no progress bars there (the steps log lines instead)
    env = dict(
        os.environ, OMP_NUM_THREADS=str(threads), FAIRSTREAM_THREADS=str(threads), TQDM_DISABLE="1"
    )
    todo = deque(Job(n, c, log_dir / f"{n}.log") for n, c in jobs)
    running: list[Job] = []
    failed: list[str] = []
    try:
        while todo or running:
            while todo and len(running) < num_jobs:
                job = todo.popleft()
                running.append(job)  # before it starts: an interrupt from here on stops it too
                log.info("%s: started, %d thread(s), log %s", job.name, threads, job.log_path)
                with open(job.log_path, "w") as out:
                    # own process group, so that stopping the pool stops the job's children too
                    job.proc = subprocess.Popen(
                        ["bash", "-c", job.command], stdout=out, stderr=subprocess.STDOUT, env=env,
                        start_new_session=True,
                    )
                job.started = time.monotonic()
            time.sleep(0.5)
            for job in [j for j in running if j.proc.poll() is not None]:
                running.remove(job)
                took = time.monotonic() - job.started
                if job.proc.returncode == 0:
                    log.info("%s: done in %.0f s", job.name, took)
                else:
                    failed.append(job.name)
                    log.error("%s: failed (exit %d) after %.0f s; last lines of %s:\n%s",
                              job.name, job.proc.returncode, took, job.log_path, tail(job.log_path))
    finally:
        started = [j for j in running if j.proc is not None]
        for job in started:  # interrupted: no orphan keeps writing into a step's directory
            if job.proc.poll() is None:
                os.killpg(job.proc.pid, signal.SIGTERM)
        for job in started:
            job.proc.wait()
    return failed


@click.command(context_settings=CONTEXT)
@click.option("--jobs", "num_jobs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Commands running at once.")
@click.option("--log-dir", type=click.Path(path_type=Path), required=True, help="Where <name>.log goes.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads per job [CPU cores / jobs running at once].")
@click.option("--job", "job_list", type=(str, str), multiple=True, required=True, metavar="NAME COMMAND",
              help="A job: its name (its log's) and a bash command line.  Repeatable.")
@step_main
def main(num_jobs: int, log_dir: Path, threads: int | None, job_list: tuple[tuple[str, str], ...]) -> None:
    """Run the --job commands, --jobs at a time; exit 1 if any failed."""
    # jobs run in their own sessions (no terminal signal reaches them): a stopped pool stops them
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.monotonic()
    failed = run_jobs(list(job_list), num_jobs, log_dir, threads)
    if failed:
        raise SystemExit(
            f"ERROR: {len(failed)} of {len(job_list)} jobs failed: {', '.join(failed)} (logs in {log_dir})"
        )
    log.info("%d jobs done in %.0f s", len(job_list), time.monotonic() - t0)


if __name__ == "__main__":
    main()
