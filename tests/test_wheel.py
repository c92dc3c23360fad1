"""The package builds as a wheel that ships every module and data file of ``steps`` and ``local``.

The wheel is built offline (``pip wheel --no-deps --no-build-isolation --no-index``) from a copy
of the tree in a temporary directory, so the repository gets no ``build/`` or ``*.egg-info``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("steps", "local")
CACHES = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def _pip_wheel_available() -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--help"], capture_output=True, text=True, check=False
    )
    return proc.returncode == 0


def _package_files() -> list[str]:
    """Every file under the package directories, as a path relative to the repository root."""
    return sorted(
        p.relative_to(REPO).as_posix()
        for pkg in PACKAGES
        for p in (REPO / pkg).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def test_wheel_ships_every_module_and_data_file(tmp_path: Path) -> None:
    if not _pip_wheel_available():
        pytest.skip(f"`{sys.executable} -m pip wheel` is not available in this environment")
    src = tmp_path / "src"
    src.mkdir()
    for f in REPO.iterdir():  # setup.cfg, pyproject.toml, README.md (the long description), ...
        if f.is_file():
            shutil.copy2(f, src / f.name)
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, src / pkg, ignore=CACHES)
    build_litter = [REPO / "build", *REPO.glob("*.egg-info")]
    before = {p: p.exists() for p in build_litter}
    out = tmp_path / "wheel"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(out)],
        cwd=src,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, f"pip wheel failed:\n{proc.stdout}\n{proc.stderr}"
    wheels = list(out.glob("fairstream-*.whl"))
    assert len(wheels) == 1, wheels
    names = set(zipfile.ZipFile(wheels[0]).namelist())

    files = _package_files()
    modules = [f for f in files if f.endswith(".py")]
    assert "steps/nnet/__init__.py" in modules and "steps/nnet/encoders/cca.py" in modules
    missing = [f for f in modules if f not in names]
    assert not missing, f"modules left out of the wheel (a directory without __init__.py?): {missing}"
    # anything else under the packages is data the code reads at run time: it must ship too
    # (setup.cfg [options.package_data])
    missing_data = [f for f in files if not f.endswith(".py") and f not in names]
    assert not missing_data, f"package data left out of the wheel: {missing_data}"
    assert {p: p.exists() for p in build_litter} == before  # the build left nothing in the repository
