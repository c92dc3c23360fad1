"""The stage contract: atomic rename, .done digest, no-op rerun, refusal, --force, resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from steps.utils import FairstreamError, StageComplete, is_complete, require_complete, stage_output
from steps.utils.atomic import atomic_path
from steps.utils.stage import config_digest, partial_dir


def _make(out: Path, cfg: dict, content: str = "x", force: bool = False) -> None:
    with stage_output(out, cfg, force=force) as d:
        assert d.path == partial_dir(out) and (force or not out.exists())
        (d / "result.txt").write_text(content)


def test_success_renames_and_marks_done(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _make(out, {"a": 1})
    assert is_complete(out) and not partial_dir(out).exists()
    assert (out / ".done").read_text().strip() == config_digest({"a": 1})
    assert "a: 1" in (out / "config.yaml").read_text()
    assert (out / "result.txt").read_text() == "x"


def test_failure_leaves_nothing_trusted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with stage_output(out, {"a": 1}) as d:
            (d / "half.txt").write_text("half")
            raise RuntimeError("killed")
    assert not out.exists() and (partial_dir(out) / "half.txt").exists()
    with pytest.raises(FairstreamError, match="incomplete|does not exist"):
        require_complete(out)


def test_rerun_same_config_is_noop(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _make(out, {"a": 1})
    with pytest.raises(StageComplete, match="nothing to do"):
        _make(out, {"a": 1}, content="changed")
    assert (out / "result.txt").read_text() == "x"


def test_different_config_refuses_then_force_redoes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _make(out, {"a": 1})
    with pytest.raises(FairstreamError, match="different config"):
        _make(out, {"a": 2})
    _make(out, {"a": 2}, content="new", force=True)
    assert (out / "result.txt").read_text() == "new"
    assert (out / ".done").read_text().strip() == config_digest({"a": 2})


def test_partial_output_resumed_with_same_config(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with stage_output(out, {"a": 1}) as d:
            (d / "shard0").write_text("done")
            raise RuntimeError
    with stage_output(out, {"a": 1}) as d:
        assert (d / "shard0").read_text() == "done"  # finished work is still there
    with pytest.raises(RuntimeError):
        with stage_output(tmp_path / "o2", {"a": 1}) as d:
            raise RuntimeError
    with pytest.raises(FairstreamError, match="partial output of a different config"):
        with stage_output(tmp_path / "o2", {"a": 3}):
            pass


def test_killed_between_rename_and_done_is_not_trusted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _make(out, {"a": 1})
    (out / ".done").unlink()  # as if killed right after the rename
    with pytest.raises(FairstreamError):
        require_complete(out)
    with stage_output(out, {"a": 1}) as d:  # resumes it
        assert (d / "result.txt").exists()
    assert is_complete(out)


def test_digest_ignores_key_order() -> None:
    assert config_digest({"a": 1, "b": [1, 2]}) == config_digest({"b": [1, 2], "a": 1})
    assert config_digest({"a": 1}) != config_digest({"a": 1.5})


def test_atomic_path_keeps_old_file_on_failure(tmp_path: Path) -> None:
    p = tmp_path / "m.jsonl.gz"
    p.write_text("old")
    with pytest.raises(ValueError):
        with atomic_path(p) as tmp:
            assert tmp.name.endswith(".jsonl.gz")
            tmp.write_text("torn")
            raise ValueError
    assert p.read_text() == "old" and list(tmp_path.iterdir()) == [p]
