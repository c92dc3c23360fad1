"""The ``fairstream`` command: every step command of steps/ is listed under a domain and runs."""

from __future__ import annotations

import ast

import click
from click.testing import CliRunner

from steps.cli import DOMAINS, main
from tests.conftest import REPO


def _step_modules() -> set[str]:
    """Modules of steps/ that define a click command ``main`` (the step commands)."""
    out = set()
    for path in (REPO / "steps").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "main" and node.decorator_list:
                out.add(path.stem)
    return out - {"cli"}


def test_every_step_is_listed_once() -> None:
    listed = [module for _, table in DOMAINS.values() for _, module, _ in table]
    assert len(listed) == len(set(listed))
    assert set(listed) == _step_modules()


def test_help_lists_every_step_and_commands_run() -> None:
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert top.exit_code == 0
    for domain, (_, table) in DOMAINS.items():
        for name, _module, _ in table:
            assert f"{domain} {name}" in top.output
            sub = runner.invoke(main, [domain, name, "--help"])
            assert sub.exit_code == 0 and "Usage:" in sub.output, (domain, name, sub.output)
    asr = main.commands["asr"]
    assert isinstance(asr.get_command(click.Context(main), "train-transducer"), click.Command)
    assert runner.invoke(main, ["asr", "no-such-step"]).exit_code != 0


def test_no_step_command_imports_another() -> None:
    """Step commands stay thin: what two of them share lives in a library module."""
    steps = _step_modules() | {"cli"}
    for name in steps:
        tree = ast.parse((REPO / "steps" / f"{name}.py").read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        others = {f"steps.{s}" for s in steps if s != name and name != "cli"}
        assert not imported & others, f"steps/{name}.py imports {sorted(imported & others)}"
