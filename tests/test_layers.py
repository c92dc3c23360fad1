"""Imports in steps/ run one way and never in a circle.

utils <- data <- {rnnt, lm} <- nnet <- {sv, multitalker, fairness, deploy} <- {reports, tasks} <- step
commands: a package may import its own modules and those of lower layers, never a higher one, and
no step command imports another.  Imports inside functions count too (a lazy import is still a
dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

LAYERS = {"utils": 0, "data": 1, "rnnt": 2, "lm": 2, "nnet": 3, "sv": 4, "multitalker": 4, "fairness": 4,
          "deploy": 4, "reports": 5, "tasks": 5}  # fmt: skip
COMMAND = 6


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every ``steps.*`` module ``path`` imports, anywhere in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        out.update(t for t in targets if t == "steps" or t.startswith("steps."))
    return out


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in (REPO / "steps").rglob("*.py")}
    edges = {}
    for name, path in files.items():
        # "from steps.x import y" names module steps.x.y only if that module exists
        edges[name] = {t for t in imports(path) if t in files and t != name}
    return edges


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return COMMAND
    return LAYERS.get(parts[1], COMMAND)


def test_no_import_goes_up_a_layer() -> None:
    bad = sorted(
        f"{m} -> {t}"
        for m, targets in graph().items()
        for t in targets
        if layer(t) > layer(m) or (layer(t) == layer(m) and t.split(".")[:2] != m.split(".")[:2])
        if not (layer(m) == COMMAND and t in ("steps", "steps.cli"))
    )
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_no_step_command_imports_another() -> None:
    edges = graph()
    commands = {m for m in edges if layer(m) == COMMAND and m.count(".") == 1}
    bad = sorted(f"{m} -> {t}" for m in commands for t in edges[m] if t in commands and m != "steps.cli")
    assert not bad, bad


def test_no_import_cycle() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                return stack[stack.index(t) :] + [t]
            if t not in state and (cycle := visit(t)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state:
            cycle = visit(m)
            assert cycle is None, " -> ".join(cycle)
