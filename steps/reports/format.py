"""Number formats shared by every report table (fractions in, percent text out)."""

from __future__ import annotations

from collections.abc import Sequence

DASH = "–"  # a value that does not exist (no interval, no words of a group, ...)


def pct(x: float | None, digits: int = 1) -> str:
    """A fraction as a percentage without the sign: 0.1234 -> "12.3"."""
    return DASH if x is None else f"{100 * x:.{digits}f}"


def signed_pct(x: float | None, digits: int = 1) -> str:
    """A relative change: -0.076 -> "-7.6%"."""
    return DASH if x is None else f"{100 * x:+.{digits}f}%"


def ci_suffix(ci: Sequence[float] | None, digits: int = 1) -> str:
    """An interval of fractions after its estimate: " [10.2, 14.8]", or "" when there is none."""
    return "" if not ci else f" [{100 * ci[0]:.{digits}f}, {100 * ci[1]:.{digits}f}]"
