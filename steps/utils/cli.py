"""Glue for click steps: logging, one-line errors, and the "already complete" no-op."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

from .errors import FairstreamError, StageComplete
from .log import setup_logging

CONTEXT = {"show_default": True, "help_option_names": ["-h", "--help"]}


def split_names(splits: str) -> list[str]:
    """The split names of a comma-separated ``--splits`` value; naming none is a one-line error."""
    names = [s.strip() for s in splits.split(",") if s.strip()]
    if not names:
        raise FairstreamError("--splits names no split")
    return names


def step_main(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a click command body: set up logging, turn known errors into one line."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        setup_logging()
        log = logging.getLogger(fn.__module__)
        try:
            return fn(*args, **kwargs)
        except StageComplete as e:
            log.info("%s", e)
            return None
        except FairstreamError as e:
            print(f"ERROR: {e}", file=sys.stderr)
            sys.exit(1)

    return wrapper
