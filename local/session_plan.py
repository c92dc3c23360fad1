"""How a multi-party session is laid out: which speakers, which utterances, at which offsets.

A session (:func:`plan_session`) picks 2-4 speakers (train: 1-2), a target length and a target
overlap ratio; the speakers take turns, each turn one or more consecutive utterances of one speaker
separated by short pauses.  A turn either starts after a pause or interrupts the turn in progress
(never before ``min_lead`` seconds into the previous turn, never while two turns are active, never
overlapping the same speaker), so at most two talkers speak at once, and overlap is capped so that
the session's overlap ratio (time with >= 2 talkers over time with >= 1, on turn spans) never
exceeds its target.  Both properties are checked on every session.  The layout is a Lhotse
``MixedCut`` (a silent floor track over the whole session, then one track per utterance at its
offset, multiples of 10 ms): the plan that local/make_sessions.py renders.
"""
from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from lhotse import SupervisionSegment
from lhotse.cut import Cut, MixedCut, MixTrack, PaddingCut
from lhotse.utils import compute_num_samples, fastcopy
from tqdm import tqdm

from steps.multitalker.turns import (
    MAX_TALKERS,
    max_concurrent,
    overlap_stats,
)
from steps.utils import (
    FairstreamError,
    derive_seed,
)

log = logging.getLogger(__name__)

TICK = 0.01  # offsets are multiples of the 10 ms feature frame shift
MAX_FAILURES = 50  # consecutive rejected session plans that end a pass


@dataclass(frozen=True)
class SessionConf:
    """Shape of the sessions of one kind (eval sessions or training mixtures)."""

    min_duration: float = 20.0  # seconds, leading/trailing silence included
    max_duration: float = 60.0
    min_speakers: int = 2
    max_speakers: int = 4
    min_turns: int = 2
    max_turns: int = 0  # 0: no limit
    max_utts_per_turn: int = 3
    p_continue_turn: float = 0.35  # chance a turn goes on with the speaker's next utterance
    min_overlap: float = 0.0  # target overlap ratio of a session is drawn from this range
    max_overlap: float = 0.4
    min_pause: float = 0.1  # silence between turns
    max_pause: float = 1.2
    min_intra_pause: float = 0.05  # silence between utterances of one turn
    max_intra_pause: float = 0.4
    min_lead: float = 0.5  # an interrupting turn starts at least this long after the turn before
    min_overlap_dur: float = 0.2  # shorter overlaps are not attempted
    max_edge_silence: float = 0.5  # leading and trailing silence, each
    passes: int = 1
    min_snr_db: float = 5.0  # the session's background noise: SNR drawn from this range
    max_snr_db: float = 25.0
    min_rt60: float = 0.2  # the session's room: RT60 (s) drawn from this range (0: no room)
    max_rt60: float = 0.6


EVAL_CONF = SessionConf()
TRAIN_CONF = SessionConf(
    min_duration=4.0,
    max_duration=15.0,
    min_speakers=1,
    max_speakers=2,
    min_turns=1,
    max_turns=4,
    max_utts_per_turn=2,
    p_continue_turn=0.25,
    max_overlap=0.6,
    max_pause=1.0,
    max_edge_silence=0.3,
    passes=2,
)


def check_conf(c: SessionConf, where: str) -> None:
    """One-line errors for ranges that cannot produce sessions."""
    bad = []
    if not 0 < c.min_duration <= c.max_duration:
        bad.append("need 0 < min_duration <= max_duration")
    if not 1 <= c.min_speakers <= c.max_speakers:
        bad.append("need 1 <= min_speakers <= max_speakers")
    if not 0 <= c.min_overlap <= c.max_overlap < 1:
        bad.append("need 0 <= min_overlap <= max_overlap < 1")
    if c.max_turns and c.max_turns < max(c.min_turns, 1):
        bad.append("need max_turns >= min_turns (or 0 for no limit)")
    if c.max_utts_per_turn < 1 or c.passes < 1:
        bad.append("need max_utts_per_turn >= 1 and passes >= 1")
    if min(c.min_pause, c.min_intra_pause, c.min_lead, c.max_edge_silence) < 0:
        bad.append("pauses must be >= 0")
    if c.min_pause > c.max_pause or c.min_intra_pause > c.max_intra_pause:
        bad.append("need min_pause <= max_pause and min_intra_pause <= max_intra_pause")
    if c.min_snr_db > c.max_snr_db:
        bad.append("need min_snr_db <= max_snr_db")
    if not 0 <= c.min_rt60 <= c.max_rt60:
        bad.append("need 0 <= min_rt60 <= max_rt60")
    if bad:
        raise FairstreamError(f"{where}: {'; '.join(bad)}")


# ---- planning ---------------------------------------------------------------------------------
@dataclass
class PlannedTurn:
    speaker: str
    start: float
    utts: list[tuple[Cut, float]] = field(default_factory=list)  # (cut, absolute offset)

    @property
    def end(self) -> float:
        return max(o + c.duration for c, o in self.utts)


def _ceil_tick(x: float) -> float:
    return round(math.ceil(round(x / TICK, 6)) * TICK, 2)


def speaker_pools(cuts: Iterable[Cut], where: str) -> dict[str, list[Cut]]:
    """Utterance cuts per speaker, sorted by id; each cut must hold one supervision with text."""
    pools: dict[str, list[Cut]] = {}
    for c in cuts:
        if len(c.supervisions) != 1:
            raise FairstreamError(f"{where}: cut {c.id} has {len(c.supervisions)} supervisions, expected 1")
        s = c.supervisions[0]
        if not s.speaker or not (s.text or "").strip():
            raise FairstreamError(f"{where}: cut {c.id} has no speaker or no text")
        pools.setdefault(s.speaker, []).append(c)
    return {k: sorted(v, key=lambda c: c.id) for k, v in sorted(pools.items())}


def _weighted_sample(rng: random.Random, items: list[str], weights: list[int], k: int) -> list[str]:
    items, weights = list(items), list(weights)
    out = []
    for _ in range(k):
        i = rng.choices(range(len(items)), weights=weights)[0]
        out.append(items.pop(i))
        weights.pop(i)
    return out


def plan_session(
    rng: random.Random, pools: dict[str, list[Cut]], conf: SessionConf
) -> tuple[list[PlannedTurn], float] | None:
    """Lay out one session from the pools (module doc); returns (turns, duration) or ``None``.

    Utterances of a rejected plan go back to their pools, so a failed attempt costs nothing.
    """
    avail = [s for s in pools if pools[s]]
    if len(avail) < conf.min_speakers:
        return None
    k = rng.randint(conf.min_speakers, min(conf.max_speakers, len(avail)))
    chosen = _weighted_sample(rng, avail, [len(pools[s]) for s in avail], k)
    target = rng.uniform(conf.min_duration, conf.max_duration)
    ratio = rng.uniform(conf.min_overlap, conf.max_overlap)
    max_turns = rng.randint(max(conf.min_turns, 1), conf.max_turns) if conf.max_turns else 10**9
    lead = round(rng.uniform(0.0, conf.max_edge_silence), 2)
    trail = round(rng.uniform(0.0, conf.max_edge_silence), 2)
    turns: list[PlannedTurn] = []
    union = ov = 0.0  # speech and overlap time so far (turn spans)
    while len(turns) < max_turns:
        prev = turns[-1] if turns else None
        if len(turns) < k:
            spk = chosen[len(turns)]
        else:
            cands = [s for s in chosen if pools[s] and (prev is None or s != prev.speaker)]
            if not cands and prev is not None and pools[prev.speaker]:
                cands = [prev.speaker]  # a lone talker goes on after a pause
            if not cands:
                break
            spk = rng.choice(cands)
        if not pools[spk]:
            break
        utts = [pools[spk].pop()]
        while len(utts) < conf.max_utts_per_turn and pools[spk] and rng.random() < conf.p_continue_turn:
            utts.append(pools[spk].pop())
        rel = [0.0]
        for c in utts[:-1]:
            rel.append(
                _ceil_tick(rel[-1] + c.duration + rng.uniform(conf.min_intra_pause, conf.max_intra_pause))
            )
        dur = rel[-1] + utts[-1].duration
        if prev is None:
            t, o = lead, 0.0
        else:
            ends = sorted((x.end, x.speaker) for x in turns)
            max_end, owner = ends[-1]
            second = ends[-2][0] if len(ends) > 1 else -math.inf
            lo = _ceil_tick(max(second, prev.start + conf.min_lead))
            cap = (ratio * (union + dur) - ov) / (1 + ratio)  # overlap that keeps ratio <= target
            t = math.inf
            if (
                spk != owner
                and ov < ratio * union
                and min(cap, dur) >= conf.min_overlap_dur
                and lo <= max_end - conf.min_overlap_dur
            ):
                # aim at most of the allowed overlap, so sessions get close to their target ratio
                t = _ceil_tick(max(lo, max_end - min(cap, dur) * rng.uniform(0.6, 1.0)))
            if t >= max_end - conf.min_overlap_dur / 2:  # no room to interrupt: take a pause
                t = _ceil_tick(max_end + rng.uniform(conf.min_pause, conf.max_pause))
            o = max(0.0, min(max_end, t + dur) - t)
        if t + dur + trail > conf.max_duration:
            pools[spk].extend(reversed(utts))
            break
        turns.append(PlannedTurn(spk, t, [(c, round(t + r, 2)) for c, r in zip(utts, rel, strict=True)]))
        union += dur - o
        ov += o
        if turns[-1].end >= target and len(turns) >= k:  # every chosen speaker gets a turn first
            break
    duration = _ceil_tick(max((x.end for x in turns), default=0.0) + trail)
    ok = (
        len(turns) >= conf.min_turns
        and len({x.speaker for x in turns}) == k  # the drawn speaker count, not fewer
        and conf.min_duration <= duration <= conf.max_duration
    )
    if not ok:
        for x in reversed(turns):
            for c, _ in reversed(x.utts):
                pools[x.speaker].insert(rng.randrange(len(pools[x.speaker]) + 1), c)
        return None
    iv = [(x.start, x.end) for x in turns]
    if max_concurrent(iv) > MAX_TALKERS:
        raise RuntimeError(f"session plan has more than {MAX_TALKERS} talkers at once: {iv}")
    if overlap_stats(iv)["ratio"] > conf.max_overlap + 1e-6:
        raise RuntimeError(f"session plan overlap {overlap_stats(iv)['ratio']:.3f} > {conf.max_overlap}")
    return turns, duration


def to_mixed_cut(session_id: str, turns: Sequence[PlannedTurn], duration: float) -> MixedCut:
    """The session's plan as a ``MixedCut``: a silent floor track, then one track per utterance.

    A turn's supervision is carried by the track of its first utterance and may be longer than
    that track (it spans the turn): ``MixedCut.supervisions`` gives the session's turns."""
    first = turns[0].utts[0][0]
    sr = first.sampling_rate
    floor = PaddingCut(
        id=f"{session_id}-floor",
        duration=duration,
        sampling_rate=sr,
        feat_value=0.0,  # the plan is mixed as audio (render_session), never as features
        num_samples=compute_num_samples(duration, sr),
    )
    tracks = [MixTrack(cut=floor, offset=0.0)]
    for i, turn in enumerate(turns):
        srcs = [c.supervisions[0] for c, _ in turn.utts]
        sup = SupervisionSegment(
            id=f"{session_id}-{i:03d}",
            recording_id=session_id,
            start=0.0,
            duration=round(turn.end - turn.start, 6),
            channel=0,
            text=" ".join(s.text for s in srcs),
            language=srcs[0].language,
            speaker=turn.speaker,
            gender=srcs[0].gender,
            custom={
                **(srcs[0].custom or {}),
                "source_ids": [c.id for c, _ in turn.utts],
                "source_offsets": [off for _, off in turn.utts],
            },
        )
        for j, (c, off) in enumerate(turn.utts):
            if not c.has_recording:
                raise FairstreamError(f"cut {c.id} has no recording: sessions are mixed from audio")
            if c.sampling_rate != sr:
                raise FairstreamError(f"cut {c.id}: {c.sampling_rate} Hz, but cut {first.id} has {sr} Hz")
            tracks.append(MixTrack(cut=fastcopy(c, supervisions=[sup] if j == 0 else []), offset=off))
    tracks[1:] = sorted(tracks[1:], key=lambda tr: (tr.offset, tr.cut.id))
    return MixedCut(id=session_id, tracks=tracks)


def build_sessions(
    cuts: Iterable[Cut], conf: SessionConf, seed: int, split: str, progress: bool = False
) -> list[MixedCut]:
    """All sessions of a split: ``conf.passes`` passes, each using an utterance at most once."""
    check_conf(conf, split)
    base = speaker_pools(cuts, split)
    if len(base) < conf.min_speakers:
        raise FairstreamError(
            f"{split}: {len(base)} speaker(s), but sessions need at least {conf.min_speakers}"
        )
    out: list[MixedCut] = []
    bar = tqdm(desc=f"{split} sessions", unit="session", disable=not progress)
    for p in range(conf.passes):
        rng = random.Random(derive_seed(seed, "sessions", split, p))
        pools = {}
        for spk, cs in base.items():
            cs = list(cs)
            rng.shuffle(cs)
            pools[spk] = cs
        fails = n = 0
        while fails < MAX_FAILURES:
            plan = plan_session(rng, pools, conf)
            if plan is None:
                fails += 1
                if sum(1 for s in pools if pools[s]) < conf.min_speakers:
                    break
                continue
            fails = 0
            out.append(to_mixed_cut(f"{split}-p{p}-{n:05d}", *plan))
            n += 1
            bar.update()
    bar.close()
    if not out:
        raise FairstreamError(
            f"{split}: no session fits {conf.min_duration}-{conf.max_duration}s with "
            f">= {conf.min_speakers} speakers; the split is too small for this config"
        )
    return out


# ---- how a session sounds -------------------------------------------------------------------
