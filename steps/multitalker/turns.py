"""Turns (who speaks when, saying what) and the interval arithmetic every multi-talker layer shares.

A session is described by its turns: reference turns come from the supervisions of a session
``MixedCut`` (one supervision per turn), decoded turns from a channel's ``<sot>``/``<eot>``
tokens, diarized turns from clustering.  Overlap, concurrency and DER are all computed on the
same elementary segments (:func:`activity`), so the numbers agree with each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from lhotse.cut import Cut

from steps.utils import FairstreamError

EPS = 1e-6  # seconds: boundaries closer than this are the same instant
MAX_TALKERS = 2  # simultaneous talkers the two-channel model takes (sessions never have more)


@dataclass(frozen=True)
class Turn:
    """One speaker turn; ``channel`` and the encoder frames are filled in where they are known."""

    start: float
    end: float
    text: str = ""
    speaker: str | None = None
    channel: int | None = None
    sot_frame: int | None = None  # encoder frame of the turn start (reference) or of <sot> (decoded)
    eot_frame: int | None = None  # encoder frame of the turn end (reference) or of <eot> (decoded)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def with_(self, **changes: object) -> Turn:
        return replace(self, **changes)


def sort_turns(turns: Iterable[Turn]) -> list[Turn]:
    """Turns by start, then end: the order channel assignment and scoring rely on."""
    return sorted(turns, key=lambda t: (t.start, t.end))


def activity(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float, int]]:
    """Elementary segments ``(start, end, n_active)`` of a set of intervals (gaps left out).

    An interval ending exactly where another starts does not overlap it.
    """
    events: list[tuple[float, int]] = []
    for s, e in intervals:
        if e - s > EPS:
            events.append((s, 1))
            events.append((e, -1))
    events.sort(key=lambda x: (x[0], x[1]))  # ends (-1) before starts (+1) at the same time
    out: list[tuple[float, float, int]] = []
    n, prev = 0, None
    for t, d in events:
        if prev is not None and n > 0 and t - prev > EPS:
            out.append((prev, t, n))
        n += d
        prev = t
    return out


def max_concurrent(intervals: Iterable[tuple[float, float]]) -> int:
    """The largest number of intervals active at the same time (0 for none)."""
    return max((n for _, _, n in activity(intervals)), default=0)


def overlap_stats(intervals: Iterable[tuple[float, float]]) -> dict[str, float]:
    """Speech time (>= 1 active), overlap time (>= 2 active) and their ratio.

    The overlap ratio is overlapped time over speech time, the LibriCSS convention.
    """
    speech = overlap = 0.0
    for s, e, n in activity(intervals):
        speech += e - s
        if n >= 2:
            overlap += e - s
    return {"speech": speech, "overlap": overlap, "ratio": overlap / speech if speech > 0 else 0.0}


def spans(turns: Iterable[Turn]) -> list[tuple[float, float]]:
    return [(t.start, t.end) for t in turns]


def turns_from_cut(cut: Cut) -> list[Turn]:
    """Reference turns of a session cut: one per supervision, sorted by start time."""
    out = []
    for s in cut.supervisions:
        if not s.text or not s.text.strip():
            raise FairstreamError(f"cut {cut.id}: supervision {s.id} has no text")
        out.append(Turn(start=float(s.start), end=float(s.end), text=s.text, speaker=s.speaker))
    return sort_turns(out)


def session_info(cut: Cut) -> dict[str, float | int]:
    """Duration, speakers, turns, speech time, overlap ratio and peak concurrency of a session cut."""
    turns = turns_from_cut(cut)
    ovs = overlap_stats(spans(turns))
    return {
        "duration": float(cut.duration),
        "speakers": len({t.speaker for t in turns}),
        "turns": len(turns),
        "speech": ovs["speech"],
        "overlap_ratio": ovs["ratio"],
        "max_talkers": max_concurrent(spans(turns)),
    }


def group_by(turns: Sequence[Turn], key: str) -> dict[object, list[Turn]]:
    """Turns per ``speaker`` or ``channel`` (each group sorted by start)."""
    out: dict[object, list[Turn]] = {}
    for t in sort_turns(turns):
        out.setdefault(getattr(t, key), []).append(t)
    return out
