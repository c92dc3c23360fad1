"""Shared fixtures: the demo corpus generator at its tiny size is the test data."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from steps.nnet.encoders.base import StreamingEncoder

REPO = Path(__file__).resolve().parents[1]


def run_step(module: str, *args: str, check: bool = True, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run ``python -m module args`` as the recipe does; returns the completed process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{module} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """torch on one thread for a module (as decoding runs): two threads on a busy 2-core box crawl.
    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def stream_all(enc: StreamingEncoder, x: torch.Tensor, chunk: int) -> torch.Tensor:
    """``enc.stream`` over ``x`` in chunks of ``chunk`` frames, then ``flush``: the streamed output."""
    state, outs = enc.init_state(x.size(0)), []
    with torch.no_grad():
        for i in range(0, x.size(1), chunk):
            y, state = enc.stream(x[:, i : i + chunk], state)
            outs.append(y)
        outs.append(enc.flush(state))
    return torch.cat(outs, dim=1)


@pytest.fixture(scope="session")
def tiny_manifests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stage 1 on the tiny demo corpus (synthesised once per test session)."""
    out = tmp_path_factory.mktemp("tiny") / "manifests"
    run_step(
        "local.prepare_demo",
        "--conf",
        REPO / "conf/demo.yaml",
        "--size",
        "tiny",
        "--seed",
        "7",
        "-j",
        "2",
        out,
    )
    return out


@pytest.fixture(scope="session")
def tiny_fbank(tiny_manifests: Path) -> Path:
    out = tiny_manifests.parent / "fbank"
    run_step("steps.compute_fbank", "--conf", REPO / "conf/fbank.yaml", "-j", "2", tiny_manifests, out)
    return out


@pytest.fixture(scope="session")
def tiny_lang(tiny_manifests: Path) -> Path:
    out = tiny_manifests.parent / "lang_bpe_500"
    run_step("steps.prepare_lang", "--conf", REPO / "conf/lang.yaml", tiny_manifests, out)
    return out


@pytest.fixture(scope="session")
def lm_text(tiny_manifests: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lmtext") / "lm_text"
    run_step("local.make_lm_text", tiny_manifests, out, "--num-sentences", "1500")
    return out


@pytest.fixture(scope="session")
def lm_dir(
    lm_text: Path, tiny_manifests: Path, tiny_lang: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("lm") / "lm"
    run_step("steps.train_ngram_lm", lm_text, tiny_manifests, tiny_lang, out, "--order", "4")
    return out
