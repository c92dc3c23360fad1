"""Logging set-up shared by every step, so all stages print the same timestamped lines."""

from __future__ import annotations

import logging
import os
import sys

FORMAT = "%(asctime)s %(levelname).1s [%(name)s] %(message)s"


def setup_logging(level: str | int | None = None) -> None:
    """Configure the root logger once; ``FAIRSTREAM_LOG_LEVEL`` overrides the default INFO."""
    level = level or os.environ.get("FAIRSTREAM_LOG_LEVEL", "INFO")
    root = logging.getLogger()
    if not any(getattr(h, "_fairstream", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
        handler._fairstream = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # lhotse and matplotlib are chatty at INFO
    for name in ("matplotlib", "PIL", "numba"):
        logging.getLogger(name).setLevel(logging.WARNING)
