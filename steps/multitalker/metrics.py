"""Meeting-style recognition metrics for multi-channel, multi-speaker output.

- **ORC-WER** (optimal reference combination; channel level): every reference turn is assigned
  to one hypothesis channel so that the summed word errors of the channels, each scored as the
  concatenation of its assigned reference turns (in time order) against the channel's decoded
  text, are minimal.  It judges separation and recognition without speaker identity.
  :func:`orc_wer` uses meeteval (an exact multi-dimensional Levenshtein) when it is installed;
  :func:`orc_wer_bruteforce` tries every assignment and is the cross-check for small cases.
- **cpWER** (concatenated minimum-permutation WER; speaker attributed): the words of each
  reference speaker and of each hypothesis speaker label are concatenated in time order and
  speakers are matched one to one with the smallest total errors; unmatched reference speakers
  count as deletions, unmatched hypothesis speakers as insertions.  :func:`cp_wer` is
  meeteval's; the tests cross-check it with an own Hungarian-algorithm solution and brute force.
- **turn-count accuracy**: share of sessions (and of channels) whose number of decoded turns
  equals the reference.
- **turn-token latency**: for each reference turn the nearest decoded turn of the same channel
  (smallest ``|Δstart| + |Δend|``); ``<sot>`` latency is the decoded ``<sot>`` frame minus the
  reference start frame, ``<eot>`` latency likewise for the end, in seconds (positive = late),
  with the frame conventions of :mod:`steps.multitalker.targets`.

Texts are normalised with :func:`steps.data.scoring.words` before scoring, as for single-talker WER.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import kaldialign
import numpy as np

from steps.data.scoring import words
from steps.utils import FairstreamError

from .targets import assign_channels
from .turns import EPS, Turn, group_by, sort_turns

MAX_BRUTEFORCE = 200_000  # assignments/permutations the brute-force references may try


@dataclass(frozen=True)
class WerCounts:
    """Word errors of a session (or pooled sessions) with the speaker/channel assignment used."""

    errors: int
    length: int  # reference words
    ins: int = 0
    dels: int = 0
    subs: int = 0
    assignment: tuple = field(default=(), compare=False)

    @property
    def wer(self) -> float:
        if self.length == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return self.errors / self.length

    def __add__(self, other: WerCounts) -> WerCounts:
        return WerCounts(
            self.errors + other.errors,
            self.length + other.length,
            self.ins + other.ins,
            self.dels + other.dels,
            self.subs + other.subs,
        )

    def as_dict(self) -> dict[str, float | int]:
        return {
            "wer": round(100 * self.wer, 2) if math.isfinite(self.wer) else self.wer,
            "errors": self.errors,
            "words": self.length,
            "ins": self.ins,
            "del": self.dels,
            "sub": self.subs,
        }


ZERO = WerCounts(0, 0)


def _concat(turns: Iterable[Turn]) -> list[str]:
    return [w for t in sort_turns(turns) for w in words(t.text)]


def _edit(ref: Sequence[str], hyp: Sequence[str]) -> WerCounts:
    if not ref:
        return WerCounts(len(hyp), 0, ins=len(hyp))
    if not hyp:
        return WerCounts(len(ref), len(ref), dels=len(ref))
    d = kaldialign.edit_distance(list(ref), list(hyp))
    return WerCounts(int(d["total"]), len(ref), int(d["ins"]), int(d["del"]), int(d["sub"]))


def _labels(turns: Sequence[Turn], key: str, what: str) -> dict[object, list[Turn]]:
    if any(getattr(t, key) is None for t in turns):
        raise FairstreamError(f"every {what} turn needs a {key} for this metric")
    return group_by(turns, key)


# ---- ORC-WER ---------------------------------------------------------------------------------
def orc_wer_bruteforce(reference: Sequence[Turn], hypothesis: Sequence[Turn]) -> WerCounts:
    """ORC-WER by trying every assignment of reference turns to hypothesis channels.

    ``assignment`` is the channel of each reference turn in start-time order.  Exponential in
    the number of turns: for tests and tiny sessions only.
    """
    ref = [t for t in sort_turns(reference)]
    hyp = _labels(hypothesis, "channel", "hypothesis")
    chans = sorted(hyp, key=str) or [0]
    if len(chans) ** len(ref) > MAX_BRUTEFORCE:
        raise FairstreamError(
            f"brute-force ORC-WER with {len(ref)} turns and {len(chans)} channels is too slow"
        )
    hyp_words = {c: _concat(hyp.get(c, [])) for c in chans}
    ref_words = [words(t.text) for t in ref]
    best: WerCounts | None = None
    for assign in itertools.product(range(len(chans)), repeat=len(ref)):
        tot = ZERO
        for k, c in enumerate(chans):
            r = [w for ws, a in zip(ref_words, assign, strict=True) if a == k for w in ws]
            tot += _edit(r, hyp_words[c])
        if best is None or tot.errors < best.errors:
            best = WerCounts(
                tot.errors, tot.length, tot.ins, tot.dels, tot.subs, tuple(chans[a] for a in assign)
            )
    assert best is not None
    return best


def meeteval_available() -> bool:
    try:
        import meeteval.wer  # noqa: F401
    except ImportError:
        return False
    return True


def _seglst(turns: Sequence[Turn], key: str, session_id: str):  # -> meeteval.io.SegLST
    from meeteval.io import SegLST

    return SegLST(
        [
            {
                "session_id": session_id,
                "speaker": str(getattr(t, key)),
                "start_time": float(t.start),
                "end_time": float(t.end),
                "words": " ".join(words(t.text)),
            }
            for t in sort_turns(turns)
        ]
    )


def orc_wer_meeteval(reference: Sequence[Turn], hypothesis: Sequence[Turn]) -> WerCounts:
    """ORC-WER with ``meeteval.wer.wer.orc.orc_word_error_rate`` (reference turns by start time)."""
    from meeteval.wer.wer.orc import orc_word_error_rate

    _labels(hypothesis, "channel", "hypothesis")
    ref = [t.with_(speaker=t.speaker or "ref") for t in reference]
    if not ref:
        n = len(_concat(hypothesis))
        return WerCounts(n, 0, ins=n)
    if not hypothesis:
        n = len(_concat(ref))
        return WerCounts(n, n, dels=n, assignment=tuple(None for _ in ref))
    er = orc_word_error_rate(_seglst(ref, "speaker", "s"), _seglst(hypothesis, "channel", "s"))
    chan = {str(c): c for c in {t.channel for t in hypothesis}}
    return WerCounts(
        int(er.errors),
        int(er.length),
        int(er.insertions),
        int(er.deletions),
        int(er.substitutions),
        tuple(chan.get(a, a) for a in er.assignment),
    )


def cp_wer(reference: Sequence[Turn], hypothesis: Sequence[Turn]) -> WerCounts:
    """cpWER of one session (module doc) with ``meeteval.wer.wer.cp.cp_word_error_rate``."""
    from meeteval.wer.wer.cp import cp_word_error_rate

    er = cp_word_error_rate(_seglst(reference, "speaker", "s"), _seglst(hypothesis, "speaker", "s"))
    return WerCounts(
        int(er.errors), int(er.length), int(er.insertions), int(er.deletions), int(er.substitutions)
    )


def orc_wer(reference: Sequence[Turn], hypothesis: Sequence[Turn], backend: str = "auto") -> WerCounts:
    """ORC-WER of one session; ``backend`` is ``meeteval``, ``bruteforce`` or ``auto`` (meeteval if
    installed, else brute force for small sessions)."""
    if backend == "auto":
        backend = "meeteval" if meeteval_available() else "bruteforce"
    if backend == "meeteval":
        if not meeteval_available():
            raise FairstreamError("ORC-WER needs meeteval: pip install meeteval==0.4.3")
        return orc_wer_meeteval(reference, hypothesis)
    if backend == "bruteforce":
        return orc_wer_bruteforce(reference, hypothesis)
    raise FairstreamError(f"unknown ORC-WER backend {backend!r}; use auto, meeteval or bruteforce")


# ---- turn counting ---------------------------------------------------------------------------
def with_channels(turns: Sequence[Turn], num_channels: int = 2) -> list[Turn]:
    """Reference turns with ``channel`` set by the assignment rule where it is missing."""
    if all(t.channel is not None for t in turns):
        return sort_turns(turns)
    chans = assign_channels(turns, num_channels)
    return sort_turns(t.with_(channel=c) for t, c in zip(turns, chans, strict=True))


def turn_count_accuracy(
    sessions: Iterable[tuple[Sequence[Turn], Sequence[Turn]]], num_channels: int = 2, permute: bool = False
) -> dict[str, float | int]:
    """Share of sessions, and of channels, whose decoded turn count equals the reference's.

    ``sessions`` holds ``(reference_turns, decoded_turns)`` pairs; decoded turns need
    ``channel``.  With ``permute`` the channels of a session are matched in the best order
    (for models trained permutation-invariantly).
    """
    n_sess = ok_sess = n_chan = ok_chan = 0
    abs_diff = 0
    for ref, hyp in sessions:
        ref = with_channels(ref, num_channels)
        _labels(hyp, "channel", "decoded")
        rc = [sum(1 for t in ref if t.channel == c) for c in range(num_channels)]
        hc = [sum(1 for t in hyp if t.channel == c) for c in range(num_channels)]
        n_sess += 1
        ok_sess += int(len(ref) == len(hyp))
        abs_diff += abs(len(ref) - len(hyp))
        perms = itertools.permutations(range(num_channels)) if permute else [tuple(range(num_channels))]
        ok_chan += max(sum(int(rc[c] == hc[p[c]]) for c in range(num_channels)) for p in perms)
        n_chan += num_channels
    return {
        "sessions": n_sess,
        "session_accuracy": ok_sess / n_sess if n_sess else 0.0,
        "channels": n_chan,
        "channel_accuracy": ok_chan / n_chan if n_chan else 0.0,
        "mean_abs_turn_diff": abs_diff / n_sess if n_sess else 0.0,
    }


# ---- turn-token latency ----------------------------------------------------------------------
@dataclass(frozen=True)
class TurnLatency:
    """Emission latency of the turn tokens of one reference turn (seconds; positive = late)."""

    channel: int
    ref_start: float
    sot: float
    eot: float


def _frames(t: Turn, stride: float) -> tuple[int, int]:
    s = t.sot_frame if t.sot_frame is not None else int(math.floor(t.start / stride + EPS))
    e = t.eot_frame if t.eot_frame is not None else max(int(math.ceil(t.end / stride - EPS)) - 1, s)
    return s, e


def turn_latencies(
    reference: Sequence[Turn], decoded: Sequence[Turn], frame_stride: float = 0.04, num_channels: int = 2
) -> tuple[list[TurnLatency], int]:
    """Latencies of every reference turn that has a decoded turn on its channel, and the number
    of reference turns without one (module doc for the matching)."""
    ref = with_channels(reference, num_channels)
    hyp = _labels(decoded, "channel", "decoded")
    out, unmatched = [], 0
    for r in ref:
        cands = hyp.get(r.channel, [])
        if not cands:
            unmatched += 1
            continue
        h = min(cands, key=lambda h: (abs(h.start - r.start) + abs(h.end - r.end), h.start))
        (rs, re), (hs, he) = _frames(r, frame_stride), _frames(h, frame_stride)
        out.append(TurnLatency(int(r.channel), r.start, (hs - rs) * frame_stride, (he - re) * frame_stride))
    return out, unmatched


def latency_stats(values: Sequence[float]) -> dict[str, float | int | None]:
    """Count, mean, median and 90th percentile (linear interpolation) of latencies in seconds."""
    if len(values) == 0:
        return {"n": 0, "mean": None, "median": None, "p90": None}
    v = np.asarray(values, dtype=np.float64)
    return {
        "n": int(v.size),
        "mean": float(v.mean()),
        "median": float(np.percentile(v, 50)),
        "p90": float(np.percentile(v, 90)),
    }


# ---- everything for a decode stage -----------------------------------------------------------
def score_sessions(
    references: Mapping[str, Sequence[Turn]],
    decoded: Mapping[str, Sequence[Turn]],
    *,
    frame_stride: float = 0.04,
    num_channels: int = 2,
    orc_backend: str = "auto",
) -> dict[str, object]:
    """Pooled ORC-WER, cpWER (if every decoded turn has a speaker label), turn-count accuracy and
    turn-token latency over sessions; a session missing from ``decoded`` counts as empty."""
    extra = sorted(set(decoded) - set(references))
    if extra:
        raise FairstreamError(f"decoded session(s) not in the reference: {', '.join(extra[:5])}")
    orc, cp, per = ZERO, ZERO, {}
    has_spk = all(t.speaker is not None for ts in decoded.values() for t in ts)
    sot: list[float] = []
    eot: list[float] = []
    unmatched = 0
    pairs = []
    for sid in sorted(references):
        ref, hyp = with_channels(references[sid], num_channels), list(decoded.get(sid, []))
        o = orc_wer(ref, hyp, orc_backend)
        orc += o
        row: dict[str, object] = {"orc": o.as_dict(), "ref_turns": len(ref), "hyp_turns": len(hyp)}
        if has_spk:
            c = cp_wer(ref, hyp)
            cp += c
            row["cp"] = c.as_dict()
        lat, miss = turn_latencies(ref, hyp, frame_stride, num_channels)
        sot += [x.sot for x in lat]
        eot += [x.eot for x in lat]
        unmatched += miss
        pairs.append((ref, hyp))
        per[sid] = row
    return {
        "orc_wer": orc.as_dict(),
        "cp_wer": cp.as_dict() if has_spk else None,
        "turn_count": turn_count_accuracy(pairs, num_channels),
        "sot_latency": latency_stats(sot),
        "eot_latency": latency_stats(eot),
        "unmatched_ref_turns": unmatched,
        "per_session": per,
    }
