"""The on-disk contract every step follows, so that stages talk only through finished directories.

A step writes into ``<out>.partial/`` (a fixed name, so a killed step can resume there), writes
the resolved ``config.yaml``, renames the directory to ``<out>`` on success and finally writes
``<out>/.done`` holding the config digest.  Readers trust a directory only if ``.done`` exists.

Files that record paths (audio, features) must record the *final* location: use
:meth:`StageDir.final` to turn a path inside the partial directory into its final name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .atomic import write_text_atomic
from .errors import FairstreamError, StageComplete

log = logging.getLogger(__name__)

DONE = ".done"
CONFIG = "config.yaml"


def config_digest(cfg: Mapping[str, Any]) -> str:
    """Digest of a resolved config; key order and YAML formatting do not matter."""
    text = json.dumps(cfg, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_digest(path: str | Path) -> str:
    """Digest of a file's bytes (a BPE model, a checkpoint): what a later step checks it still has."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def partial_dir(out_dir: Path) -> Path:
    return out_dir.with_name(out_dir.name + ".partial")


def is_complete(out_dir: str | Path, digest: str | None = None) -> bool:
    """``out_dir`` has its ``.done`` marker (holding ``digest``, if given)."""
    done = Path(out_dir) / DONE
    return done.is_file() and (digest is None or done.read_text().strip() == digest)


def require_complete(in_dir: str | Path, what: str = "input") -> Path:
    """Refuse to read a directory that a killed or failed stage left behind."""
    in_dir = Path(in_dir)
    if not in_dir.is_dir():
        raise FairstreamError(f"{what} directory {in_dir} does not exist; run the stage that makes it")
    if not is_complete(in_dir):
        raise FairstreamError(
            f"{what} directory {in_dir} is incomplete (no {DONE}); rerun the stage that makes it"
        )
    return in_dir


def read_config(stage_dir: str | Path) -> dict[str, Any]:
    """The resolved config a finished stage was run with (later stages read e.g. the seed)."""
    return yaml.safe_load((Path(stage_dir) / CONFIG).read_text())


@dataclass
class StageDir:
    """Where a running step writes (``path``) and where its files will end up (``out``)."""

    path: Path
    out: Path
    digest: str

    def final(self, p: str | Path) -> Path:
        """Final name of a path inside the partial directory (to record in manifests)."""
        return self.out / Path(p).relative_to(self.path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name


def _stored_digest(d: Path) -> str | None:
    f = d / DONE
    if f.is_file():
        return f.read_text().strip() or None
    cfg = d / CONFIG
    if cfg.is_file():
        return config_digest(yaml.safe_load(cfg.read_text()) or {})
    return None


@contextmanager
def stage_output(out_dir: str | Path, cfg: Mapping[str, Any], force: bool = False) -> Iterator[StageDir]:
    """Run the body of a step under the stage contract.

    Raises :class:`StageComplete` on entry if ``out_dir`` is complete with the same config
    (callers report "nothing to do"), and :class:`FairstreamError` if it is complete with a
    different config and ``force`` is false.  A partial directory from a killed run with the same
    config is reused so the body can skip finished work.
    """
    out = Path(out_dir)
    tmp = partial_dir(out)
    digest = config_digest(cfg)

    if out.exists() and not is_complete(out):
        # killed between the rename and the .done marker, or an old layout: resume it
        if tmp.exists():
            shutil.rmtree(out)
        else:
            out.rename(tmp)
    if is_complete(out):
        old = _stored_digest(out)
        if old == digest and not force:
            raise StageComplete(f"{out} is complete (config {digest}); nothing to do")
        if old != digest and not force:
            raise FairstreamError(
                f"{out} was made with a different config ({old} != {digest}); "
                "use --force to redo it or choose another output directory"
            )
    if tmp.exists():
        old = _stored_digest(tmp)
        if force or old != digest:
            if old != digest and not force:
                raise FairstreamError(
                    f"{tmp} holds partial output of a different config ({old} != {digest}); "
                    "use --force to discard it"
                )
            shutil.rmtree(tmp)
        else:
            log.info("resuming partial output in %s", tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    write_text_atomic(tmp / CONFIG, yaml.safe_dump(dict(cfg), sort_keys=True))

    yield StageDir(path=tmp, out=out, digest=digest)

    if out.exists():  # only with --force: replace the old complete output
        shutil.rmtree(out)
    tmp.rename(out)
    write_text_atomic(out / DONE, digest + "\n")
    log.info("wrote %s", out)
