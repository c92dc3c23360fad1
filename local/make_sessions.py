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

How a session is laid out: local/session_plan.py (the plan, a Lhotse ``MixedCut``).

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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import click
import numpy as np
import soundfile as sf
from lhotse import CutSet
from lhotse.audio import AudioSource, Recording
from lhotse.cut import Cut, MixedCut, MonoCut
from lhotse.utils import compute_num_samples, fastcopy
from tqdm import tqdm

from local.demo import acoustics
from local.session_corpora import add_fbank, session_cut
from local.session_plan import (
    EVAL_CONF,
    TRAIN_CONF,
    SessionConf,
    build_sessions,
    check_conf,
)
from steps.data.features import FbankConf
from steps.data.manifests import load_cuts
from steps.multitalker.turns import (
    activity,
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

RENDER_SHARD = 200  # sessions per rendering job


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
