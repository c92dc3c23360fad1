"""What a result was measured on: written at the top of RESULTS.md."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def describe() -> str:
    import lhotse
    import torch

    from steps.rnnt import available_backends, resolve_backend

    mem = memory_gib()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, {mem} GiB RAM, {gpu}; "
        f"Python {platform.python_version()}, torch {torch.__version__}, lhotse {lhotse.__version__}; "
        f"RNN-T loss backends available: {', '.join(available_backends())} (auto = {resolve_backend('auto')})"
    )
