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
- **turn matching and turn-token latency**: within each channel, reference and decoded turns are
  matched one to one (:func:`match_turns`) by the Hungarian algorithm on the boundary distance
  ``|Δstart| + |Δend|``, never farther apart than ``max_distance`` (:data:`MAX_MATCH_DISTANCE`,
  2 s); unmatched reference turns (missed, or merged into a turn matched to another one) and
  unmatched decoded turns (split or spurious) are counted apart.  ``<sot>`` latency is the matched
  decoded ``<sot>`` frame minus the reference start frame, ``<eot>`` latency likewise for the end,
  in seconds (positive = late), with the frame conventions of :mod:`steps.multitalker.targets`;
  only matched turns have latencies, so a merged turn no longer lends its early start to a later
  reference turn (the many-to-one nearest-turn rule gave negative mean latencies).

Texts are normalised with :func:`steps.data.scoring.words` before scoring, as for single-talker WER.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import kaldialign
import numpy as np
from scipy.optimize import linear_sum_assignment

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


# ---- turn matching and turn-token latency --------------------------------------------------
MAX_MATCH_DISTANCE = 2.0  # seconds of |Δstart| + |Δend| beyond which two turns are never matched


def boundary_distance(a: Turn, b: Turn) -> float:
    """``|Δstart| + |Δend|`` in seconds: how far two turns' boundaries are apart."""
    return abs(a.start - b.start) + abs(a.end - b.end)


def match_turns(
    reference: Sequence[Turn], decoded: Sequence[Turn], max_distance: float = MAX_MATCH_DISTANCE
) -> list[tuple[int, int]]:
    """One-to-one matching of two turn lists (one channel): ``(reference index, decoded index)``
    pairs, sorted.

    Minimises ``sum of matched distances + (max_distance / 2) * (unmatched turns on both sides)``
    with :func:`boundary_distance` (Hungarian algorithm): a pair closer than ``max_distance`` is
    always worth matching rather than leaving both turns alone, a pair farther apart never is.
    """
    if max_distance <= 0:
        raise FairstreamError(f"the turn matching distance must be > 0, got {max_distance}")
    if not reference or not decoded:
        return []
    dist = np.array([[boundary_distance(r, h) for h in decoded] for r in reference])
    allowed = dist <= max_distance + EPS
    # matching a pair changes the objective by dist - max_distance (two unmatched turns fewer);
    # a disallowed pair costs 0, the same as leaving it unmatched, and is dropped below
    gain = np.where(allowed, dist - max_distance - 2 * EPS, 0.0)
    rows, cols = linear_sum_assignment(gain)
    return sorted((int(i), int(j)) for i, j in zip(rows, cols, strict=True) if allowed[i, j])


@dataclass(frozen=True)
class TurnLatency:
    """Emission latency of the turn tokens of one matched reference turn (seconds; positive = late)."""

    channel: int
    ref_start: float
    sot: float
    eot: float


@dataclass(frozen=True)
class TurnMatching:
    """Matched turns of a session (their latencies) and the turns left unmatched on each side."""

    latencies: list[TurnLatency]
    unmatched_ref: int
    unmatched_hyp: int

    @property
    def matched(self) -> int:
        return len(self.latencies)


def _frames(t: Turn, stride: float) -> tuple[int, int]:
    s = t.sot_frame if t.sot_frame is not None else int(math.floor(t.start / stride + EPS))
    e = t.eot_frame if t.eot_frame is not None else max(int(math.ceil(t.end / stride - EPS)) - 1, s)
    return s, e


def turn_latencies(
    reference: Sequence[Turn],
    decoded: Sequence[Turn],
    frame_stride: float = 0.04,
    num_channels: int = 2,
    max_distance: float = MAX_MATCH_DISTANCE,
) -> TurnMatching:
    """Reference and decoded turns matched per channel (:func:`match_turns`), the turn-token
    latencies of the matched pairs and the unmatched counts (module doc)."""
    ref = group_by(with_channels(reference, num_channels), "channel")
    hyp = _labels(decoded, "channel", "decoded")
    out, un_ref, un_hyp = [], 0, 0
    for c in sorted(set(ref) | set(hyp), key=str):
        rs, hs = ref.get(c, []), hyp.get(c, [])
        pairs = match_turns(rs, hs, max_distance)
        un_ref += len(rs) - len(pairs)
        un_hyp += len(hs) - len(pairs)
        for i, j in pairs:
            (r0, r1), (h0, h1) = _frames(rs[i], frame_stride), _frames(hs[j], frame_stride)
            out.append(TurnLatency(int(c), rs[i].start, (h0 - r0) * frame_stride, (h1 - r1) * frame_stride))
    return TurnMatching(sorted(out, key=lambda x: (x.ref_start, x.channel)), un_ref, un_hyp)


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
    max_distance: float = MAX_MATCH_DISTANCE,
) -> dict[str, object]:
    """Pooled ORC-WER, cpWER (if every decoded turn has a speaker label), turn-count accuracy, turn
    matching and turn-token latency over sessions; a session missing from ``decoded`` counts as
    empty.  Per session: its ORC-WER / cpWER counts and its turn counts per channel."""
    extra = sorted(set(decoded) - set(references))
    if extra:
        raise FairstreamError(f"decoded session(s) not in the reference: {', '.join(extra[:5])}")
    orc, cp, per = ZERO, ZERO, {}
    has_spk = all(t.speaker is not None for ts in decoded.values() for t in ts)
    sot: list[float] = []
    eot: list[float] = []
    matched = un_ref = un_hyp = 0
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
        row["ref_channel_turns"] = [sum(1 for t in ref if t.channel == c) for c in range(num_channels)]
        row["hyp_channel_turns"] = [sum(1 for t in hyp if t.channel == c) for c in range(num_channels)]
        m = turn_latencies(ref, hyp, frame_stride, num_channels, max_distance)
        sot += [x.sot for x in m.latencies]
        eot += [x.eot for x in m.latencies]
        matched, un_ref, un_hyp = matched + m.matched, un_ref + m.unmatched_ref, un_hyp + m.unmatched_hyp
        row["turn_matching"] = {"matched": m.matched, "unmatched_ref": m.unmatched_ref,
                                "unmatched_hyp": m.unmatched_hyp}  # fmt: skip
        pairs.append((ref, hyp))
        per[sid] = row
    return {
        "orc_wer": orc.as_dict(),
        "cp_wer": cp.as_dict() if has_spk else None,
        "turn_count": turn_count_accuracy(pairs, num_channels),
        "sot_latency": latency_stats(sot),
        "eot_latency": latency_stats(eot),
        "turn_matching": {
            "max_distance": max_distance,
            "matched": matched,
            "unmatched_ref": un_ref,
            "unmatched_hyp": un_hyp,
        },
        "per_session": per,
    }
