"""YAML configs loaded into dataclasses, with one-line errors for unknown or mistyped keys."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import FairstreamError

T = TypeVar("T")


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FairstreamError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise FairstreamError(f"config file {path} is not valid YAML: {e}".splitlines()[0]) from e
    if not isinstance(data, dict):
        raise FairstreamError(f"config file {path} must hold a mapping, not {type(data).__name__}")
    return data


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong scalar types are errors."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise FairstreamError(
            f"{where}: unknown key(s) {', '.join(unknown)} for {cls.__name__}; "
            f"known: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        hint = hints.get(key)
        if hint in (int, float, str, bool) and value is not None:
            ok = isinstance(value, hint) or (hint is float and isinstance(value, int))
            if hint is not bool and isinstance(value, bool):
                ok = False
            if not ok:
                raise FairstreamError(f"{where}: key {key} must be {hint.__name__}, got {value!r}")
    return cls(**data)


def load_dataclass(cls: type[T], path: str | Path, **overrides: Any) -> T:
    data = load_yaml(path)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(cls, data, where=str(path))


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)
