"""Stage (multi-talker): multi-party sessions and training mixtures from demo utterance cuts.

    python -m local.make_sessions data/fbank data/sessions --seed 42

Reads ``IN_DIR/cuts_{split}.jsonl.gz`` (cuts with recordings: the fbank stage's or the manifest
stage's) and writes ``OUT_DIR/sessions_{split}.jsonl.gz``: one cut per session over its rendered
recording (``OUT_DIR/audio/<split>/<session>.flac``) with fbank (``OUT_DIR/feats_<split>.*.lca``,
IN_DIR's fbank settings), one supervision per speaker turn (speaker, start, duration, text = the
turn's utterances joined, ``custom`` = the speaker's metadata plus ``source_ids`` and
``source_offsets``), the session's acoustics in the cut's ``custom``, and ``OUT_DIR/stats.json``.
The layout of local/prepare_librimix.py and local/prepare_libricss.py.

Sessions of a split only use that split's utterances, so dev/test speakers never appear in
training mixtures (the demo corpus keeps speakers disjoint across splits).  Within a pass every
utterance is used at most once; ``passes`` re-draws the split with another seed.

How a session is laid out (:func:`plan_session`): pick 2-4 speakers (train: 1-2), a target
length and a target overlap ratio; the speakers take turns, each turn one or more consecutive
utterances of one speaker separated by short pauses.  A turn either starts after a pause or
interrupts the turn in progress (never before ``min_lead`` seconds into the previous turn, never
while two turns are active, never overlapping the same speaker), so at most two talkers speak at
once, and overlap is capped so that the session's overlap ratio (time with >= 2 talkers over time
with >= 1, on turn spans) never exceeds its target.  Both properties are checked on every session.
The layout is a Lhotse ``MixedCut`` (a silent floor track over the whole session, then one track
per utterance at its offset, multiples of 10 ms): the plan.

How a session sounds (:func:`render_session`): the utterances (each with the noise and room of its
own recording) are mixed in the audio domain at their offsets, the whole mixture goes through one
room (a synthetic impulse response of the session's RT60, ``local/demo/acoustics.py``), and one
background noise (a kind of ``acoustics.NOISE_KINDS`` at the session's SNR: speech power over the
turns against noise power) runs over the whole session, pauses included.  Pauses are therefore
never digital silence, and a turn's boundaries are blurred by the room's tail as in a real
recording: an energy VAD no longer finds the turns for free.  Every random choice of a session is
seeded from (seed, session id): the same seed gives the same bytes, whatever ``--num-jobs``.
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import click
import numpy as np
import soundfile as sf
from lhotse import CutSet, SupervisionSegment
from lhotse.audio import AudioSource, Recording
from lhotse.cut import Cut, MixedCut, MixTrack, MonoCut, PaddingCut
from lhotse.utils import compute_num_samples, fastcopy
from tqdm import tqdm

from local.demo import acoustics
from local.session_corpora import add_fbank, session_cut
from steps.data.features import FbankConf
from steps.data.manifests import load_cuts
from steps.multitalker.turns import (
    MAX_TALKERS,
    activity,
    max_concurrent,
    overlap_stats,
    session_info,
    spans,
    turns_from_cut,
)
from steps.utils import (
    FairstreamError,
    StageDir,
    atomic_path,
    derive_seed,
    read_config,
    require_complete,
    save_manifest_atomic,
    stage_output,
    write_json_atomic,
)
from steps.utils.cli import CONTEXT, step_main
from steps.utils.config import from_dict, load_yaml, to_dict

log = logging.getLogger(__name__)

TICK = 0.01  # offsets are multiples of the 10 ms feature frame shift
MAX_FAILURES = 50  # consecutive rejected session plans that end a pass
RENDER_SHARD = 200  # sessions per rendering job


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
@dataclass(frozen=True)
class Acoustics:
    """One session's background noise and room, kept in its cut's ``custom``."""

    noise: str  # a kind of acoustics.NOISE_KINDS
    snr_db: float  # speech power over the turns against the background's power
    rt60: float  # seconds; 0: no room


def acoustics_rng(seed: int, session_id: str) -> np.random.Generator:
    """The one generator of a session's sound: its acoustics, room and noise, in that order."""
    return np.random.default_rng(derive_seed(seed, "session-acoustics", session_id))


def draw_acoustics(rng: np.random.Generator, conf: SessionConf) -> Acoustics:
    """A session's noise kind, SNR and RT60, uniformly from ``conf``'s ranges."""
    kind = str(rng.choice(acoustics.NOISE_KINDS))
    snr = round(float(rng.uniform(conf.min_snr_db, conf.max_snr_db)), 2)
    rt60 = round(float(rng.uniform(conf.min_rt60, conf.max_rt60)), 3)
    return Acoustics(kind, snr, rt60)


def speech_mask(plan: Cut, num_samples: int) -> np.ndarray:
    """Samples inside any turn of the session."""
    mask = np.zeros(num_samples, dtype=bool)
    for s, e, _ in activity(spans(turns_from_cut(plan))):
        mask[compute_num_samples(s, plan.sampling_rate) : compute_num_samples(e, plan.sampling_rate)] = True
    return mask


def render_session(plan: MixedCut, sound: Acoustics, rng: np.random.Generator) -> np.ndarray:
    """The session's 16-bit audio (module doc): its utterances mixed at their offsets, one room
    over the whole mixture, one background noise at the session's SNR over the whole session."""
    sr = plan.sampling_rate
    x = plan.load_audio()[0].astype(np.float64)
    if sound.rt60 > 0:
        x = acoustics.add_reverb(x, acoustics.make_rir(rng, sr, sound.rt60))
    noise = acoustics.make_noise(rng, len(x), sound.noise, sr)
    speech = x[speech_mask(plan, len(x))]
    p_speech = float(np.mean(speech**2)) if speech.size else float(np.mean(x**2))
    p_noise = float(np.mean(noise**2)) + 1e-12
    x = x + noise * math.sqrt(p_speech / (p_noise * 10 ** (sound.snr_db / 10.0)))
    return acoustics.to_int16(x)


@dataclass(frozen=True)
class RenderJob:
    plans: list[MixedCut]
    conf: SessionConf
    seed: int
    audio_dir: Path  # where the files are written now


def render_shard(job: RenderJob) -> list[tuple[str, int, Acoustics]]:
    """Render a shard's sessions to ``audio_dir/<id>.flac`` (a finished file is kept: resumable);
    returns (session id, samples, acoustics) in order.  Runs in a worker process."""
    out = []
    for plan in job.plans:
        rng = acoustics_rng(job.seed, plan.id)
        sound = draw_acoustics(rng, job.conf)
        path = job.audio_dir / f"{plan.id}.flac"
        if not path.is_file():
            audio = render_session(plan, sound, rng)
            with atomic_path(path) as tmp:
                sf.write(tmp, audio, plan.sampling_rate, format="FLAC")
        out.append((plan.id, sf.info(str(path)).frames, sound))
    return out


def render_split(
    out: StageDir,
    split: str,
    plans: Sequence[MixedCut],
    conf: SessionConf,
    seed: int,
    fbank: FbankConf,
    num_jobs: int = 1,
) -> list[MonoCut]:
    """Every session of a split as a cut over its rendered recording, with fbank (the sharded
    driver of local/session_corpora.py) and its acoustics in ``custom``; recordings and features
    point at their final place (``out.out``)."""
    audio_dir = out.path / "audio" / split
    audio_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        RenderJob(list(plans[i : i + RENDER_SHARD]), conf, seed, audio_dir)
        for i in range(0, len(plans), RENDER_SHARD)
    ]
    rendered: list[tuple[str, int, Acoustics]] = []
    bar = tqdm(total=len(plans), desc=f"{split} render", unit="session")
    if num_jobs <= 1 or len(jobs) <= 1:
        for r in map(render_shard, jobs):
            rendered += r
            bar.update(len(r))
    else:
        with mp.get_context("spawn").Pool(min(num_jobs, len(jobs))) as pool:
            for r in pool.imap(render_shard, jobs):
                rendered += r
                bar.update(len(r))
    bar.close()
    cuts = []
    for plan, (sid, n, sound) in zip(plans, rendered, strict=True):
        path = audio_dir / f"{sid}.flac"
        rec = Recording(
            id=sid,
            sources=[AudioSource(type="file", channels=[0], source=str(path))],
            sampling_rate=plan.sampling_rate,
            num_samples=n,
            duration=n / plan.sampling_rate,
        )
        sups = [fastcopy(s, recording_id=sid) for s in plan.supervisions]
        cuts.append(fastcopy(session_cut(rec, sups), custom=to_dict(sound)))
    cuts, skipped = add_fbank(out, split, cuts, fbank, num_jobs)
    if skipped:
        raise FairstreamError(f"{split}: rendered sessions without fbank: {', '.join(skipped[:5])}")
    final = []
    for c in cuts:
        src = str(out.final(c.recording.sources[0].source))
        rec = fastcopy(c.recording, sources=[AudioSource(type="file", channels=[0], source=src)])
        final.append(fastcopy(c, recording=rec))
    return final


# ---- stats -----------------------------------------------------------------------------------
def _dist(v: Sequence[float]) -> dict[str, float]:
    a = np.asarray(v, dtype=np.float64)
    q = np.percentile(a, [10, 50, 90])
    return {
        "min": round(float(a.min()), 4),
        "p10": round(float(q[0]), 4),
        "median": round(float(q[1]), 4),
        "mean": round(float(a.mean()), 4),
        "p90": round(float(q[2]), 4),
        "max": round(float(a.max()), 4),
    }


def session_stats(sessions: Sequence[Cut], num_source_utts: int) -> dict[str, object]:
    """What stats.json reports per split."""
    infos = [session_info(c) for c in sessions]
    used = sum(len(s.custom["source_ids"]) for c in sessions for s in c.supervisions)
    ratios = [i["overlap_ratio"] for i in infos]
    hist = Counter(min(int(r * 10), 9) for r in ratios)
    return {
        "sessions": len(sessions),
        "hours": round(sum(i["duration"] for i in infos) / 3600, 4),
        "speech_hours": round(sum(i["speech"] for i in infos) / 3600, 4),
        "duration": _dist([i["duration"] for i in infos]),
        "overlap_ratio": _dist(ratios),
        "overlap_ratio_histogram": {
            f"{b / 10:.1f}-{(b + 1) / 10:.1f}": hist[b] for b in range(10) if hist[b]
        },
        "speakers_per_session": {str(k): v for k, v in sorted(Counter(i["speakers"] for i in infos).items())},
        "turns_per_session": _dist([i["turns"] for i in infos]),
        "max_talkers": max(i["max_talkers"] for i in infos),
        "distinct_speakers": len({t.speaker for c in sessions for t in c.supervisions}),
        "utterances_used": used,
        "utterances_available": num_source_utts,
        "snr_db": _dist([c.custom["snr_db"] for c in sessions]),
        "rt60": _dist([c.custom["rt60"] for c in sessions]),
        "noise": dict(sorted(Counter(c.custom["noise"] for c in sessions).items())),
    }


def fbank_conf_of(in_dir: Path) -> FbankConf:
    """The fbank settings IN_DIR's features were made with (its config.yaml), so sessions and
    utterances share them; the defaults for a directory without features."""
    cfg = read_config(in_dir) or {}
    names = {f.name for f in fields(FbankConf)}
    return from_dict(FbankConf, {k: v for k, v in cfg.items() if k in names}, where=f"{in_dir}/config.yaml")


def load_session_conf(conf: Path | None) -> dict[str, SessionConf]:
    """``train`` and ``eval`` (dev/test) session shapes: defaults, overridden by ``--conf`` blocks."""
    data = load_yaml(conf) if conf is not None else {}
    unknown = sorted(set(data) - {"train", "eval"})
    if unknown:
        raise FairstreamError(f"{conf}: unknown block(s) {', '.join(unknown)}; known: train, eval")
    out = {}
    for kind, base in (("train", TRAIN_CONF), ("eval", EVAL_CONF)):
        block = data.get(kind) or {}
        if not isinstance(block, dict):
            raise FairstreamError(f"{conf}: block {kind} must be a mapping")
        out[kind] = from_dict(SessionConf, {**to_dict(base), **block}, where=f"{conf}:{kind}")
        check_conf(out[kind], f"{conf}:{kind}")
    return out


@click.command(context_settings=CONTEXT)
@click.argument("in_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--splits", default="train,dev,test", help="Comma-separated splits of IN_DIR.")
@click.option(
    "--conf",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML with optional 'train' and 'eval' blocks overriding SessionConf fields.",
)
@click.option("--seed", type=int, default=42)
@click.option("-j", "--num-jobs", type=int, default=2, show_default=True, help="Rendering / fbank processes.")
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete.")
@step_main
def main(
    in_dir: Path, out_dir: Path, splits: str, conf: Path | None, seed: int, num_jobs: int, force: bool
) -> None:
    """Build sessions_{split}.jsonl.gz (rendered audio, fbank) and stats.json in OUT_DIR from
    IN_DIR/cuts_{split}.jsonl.gz."""
    require_complete(in_dir, "cuts")
    confs = load_session_conf(conf)
    fbank = fbank_conf_of(in_dir)
    names = [s for s in splits.split(",") if s]
    if not names:
        raise FairstreamError("--splits is empty")
    cfg = {
        "input": str(in_dir),
        "splits": names,
        "seed": seed,
        "train": to_dict(confs["train"]),
        "eval": to_dict(confs["eval"]),
        "fbank": to_dict(fbank),
    }
    with stage_output(out_dir, cfg, force) as out:
        stats = {}
        for split in names:
            cuts = load_cuts(in_dir, split).to_eager()
            sc = confs["train" if split == "train" else "eval"]
            plans = build_sessions(cuts, sc, seed, split, progress=True)
            sessions = render_split(out, split, plans, sc, seed, fbank, num_jobs)
            save_manifest_atomic(CutSet.from_cuts(sessions), out.path / f"sessions_{split}.jsonl.gz")
            stats[split] = session_stats(sessions, len(cuts))
            s = stats[split]
            log.info(
                "%s: %d sessions, %.3f h, overlap mean %.3f (max %.3f), speakers %s, median SNR %.1f dB",
                split,
                s["sessions"],
                s["hours"],
                s["overlap_ratio"]["mean"],
                s["overlap_ratio"]["max"],
                s["speakers_per_session"],
                s["snr_db"]["median"],
            )
        write_json_atomic(out.path / "stats.json", stats)


if __name__ == "__main__":
    main()
