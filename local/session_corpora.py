"""What the multi-party corpus preparers share (local/prepare_librimix.py, local/prepare_libricss.py):
opening a session's audio, one cut per session, the limit of two simultaneous talkers, fbank in
shards, and a split's statistics and manifest."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from lhotse import CutSet
from lhotse.audio import AudioSource, Recording
from lhotse.cut import Cut, MonoCut
from lhotse.supervision import SupervisionSegment

from steps.data.features import FbankConf, run_shards
from steps.multitalker.turns import MAX_TALKERS, activity, session_info, spans, turns_from_cut
from steps.utils import FairstreamError, StageDir, save_manifest_atomic

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
SHARD_HOURS = 1.0  # fbank shards hold at most this much audio (and FbankConf.shard_size cuts)


def open_recording(
    path: Path,
    rec_id: str,
    where: str,
    skipped: Counter,
    resampled: list[str],
    logger: logging.Logger = log,
) -> Recording | None:
    """The recording of an audio file at 16 kHz, or ``None`` (one warning line, counted) if it is
    missing or unreadable.  Other rates get a resampling transform (warned and counted)."""
    if not path.is_file():
        logger.warning("%s: missing audio %s, skipped", where, path)
        skipped["missing_audio"] += 1
        return None
    try:
        info = sf.info(str(path))
        if info.frames <= 0 or info.samplerate <= 0:
            raise ValueError("no samples")
    except Exception as e:  # noqa: BLE001 - libsndfile raises several types
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        logger.warning("%s: unreadable audio %s (%s), skipped", where, path, msg)
        skipped["corrupt_audio"] += 1
        return None
    rec = Recording(
        id=rec_id,
        sources=[AudioSource(type="file", channels=list(range(info.channels)), source=str(path.absolute()))],
        sampling_rate=info.samplerate,
        num_samples=info.frames,
        duration=info.frames / info.samplerate,
    )
    if info.samplerate != SAMPLE_RATE:
        logger.warning(
            "%s: %s has %d Hz, resampled to %d Hz on load", where, path, info.samplerate, SAMPLE_RATE
        )
        resampled.append(str(path))
        rec = rec.resample(SAMPLE_RATE)
    return rec


def session_cut(rec: Recording, sups: Sequence[SupervisionSegment], channel: int = 0) -> MonoCut:
    """A cut over the whole recording (one channel) holding all its supervisions by start time."""
    return MonoCut(
        id=rec.id,
        start=0.0,
        duration=rec.duration,
        channel=channel,
        recording=rec,
        supervisions=sorted(sups, key=lambda s: (s.start, s.end, s.id)),
    )


def over_limit(cut: Cut, limit: int = MAX_TALKERS) -> tuple[int, float]:
    """Peak number of simultaneous talkers and the seconds with more than ``limit`` of them."""
    segs = activity(spans(turns_from_cut(cut)))
    peak = max((n for _, _, n in segs), default=0)
    return peak, sum(e - s for s, e, n in segs if n > limit)


def drop_over_limit(
    cuts: Iterable[Cut], split: str, logger: logging.Logger = log
) -> tuple[list[Cut], dict[str, dict[str, float]]]:
    """Sessions the two-channel model can take, and the excluded ones (one warning line each)."""
    kept, excluded = [], {}
    for c in cuts:
        peak, secs = over_limit(c)
        if peak > MAX_TALKERS:
            logger.warning(
                "%s/%s: %d talkers at once for %.2f s; excluded (the model takes at most %d)",
                split,
                c.id,
                peak,
                secs,
                MAX_TALKERS,
            )
            excluded[c.id] = {"max_talkers": peak, "seconds_over_limit": round(secs, 3)}
        else:
            kept.append(c)
    return kept, excluded


def fbank_shards(cuts: Sequence[Cut], conf: FbankConf) -> list[list[Cut]]:
    """Consecutive groups of at most ``shard_size`` cuts and ``SHARD_HOURS`` of audio (fixed by
    the cut list alone, so a resumed run finds the same shards whatever ``-j`` is)."""
    out: list[list[Cut]] = [[]]
    secs = 0.0
    for c in cuts:
        if out[-1] and (len(out[-1]) >= conf.shard_size or secs + c.duration > SHARD_HOURS * 3600):
            out.append([])
            secs = 0.0
        out[-1].append(c)
        secs += c.duration
    return [s for s in out if s]


def add_fbank(
    out: StageDir, split: str, cuts: Sequence[Cut], conf: FbankConf, num_jobs: int
) -> tuple[list[Cut], list[str]]:
    """The cuts with fbank in ``OUT_DIR/feats_<split>.<shard>.lca`` (the one sharded driver,
    :func:`steps.data.features.run_shards`); cuts whose audio fails to load are skipped and returned."""
    done, info = run_shards(out, {split: fbank_shards(cuts, conf)}, conf, num_jobs, f"{split} fbank")[split]
    return done, info["skipped"]


def summary(cuts: Sequence[Cut]) -> dict[str, Any]:
    """Sessions, hours, speakers and overlap of a split (local/make_sessions.py's measures)."""
    infos = [session_info(c) for c in cuts]
    ratios = [i["overlap_ratio"] for i in infos]
    return {
        "sessions": len(cuts),
        "hours": round(sum(i["duration"] for i in infos) / 3600, 4),
        "speech_hours": round(sum(i["speech"] for i in infos) / 3600, 4),
        "supervisions": sum(len(c.supervisions) for c in cuts),
        "distinct_speakers": len({s.speaker for c in cuts for s in c.supervisions}),
        "speakers_per_session": {
            str(k): v for k, v in sorted(Counter(int(i["speakers"]) for i in infos).items())
        },
        "overlap_ratio": {
            "mean": round(float(np.mean(ratios)), 4),
            "min": round(min(ratios), 4),
            "max": round(max(ratios), 4),
        },
        "max_talkers": max(int(i["max_talkers"]) for i in infos),
    }


def finish_split(
    out: StageDir,
    split: str,
    cuts: list[Cut],
    skipped: Counter,
    resampled: list[str],
    fconf: FbankConf | None,
    num_jobs: int,
    where: str,
    skip_keys: Sequence[str],
    logger: logging.Logger = log,
) -> dict[str, Any]:
    """Exclude sessions with > 2 talkers at once, add fbank, write ``sessions_<split>.jsonl.gz``;
    returns the split's stats (a split left empty is an error)."""
    cuts, excluded = drop_over_limit(cuts, split, logger)
    fbank_skipped: list[str] = []
    if cuts and fconf is not None:
        cuts, fbank_skipped = add_fbank(out, split, cuts, fconf, num_jobs)
    if not cuts:
        raise FairstreamError(f"{where}: no usable sessions for the {split} split (see the warnings above)")
    save_manifest_atomic(CutSet.from_cuts(cuts), out.path / f"sessions_{split}.jsonl.gz")
    counts = {k: 0 for k in skip_keys}
    counts.update(skipped)
    st = {
        **summary(cuts),
        "skipped": dict(sorted(counts.items())),
        "resampled": len(resampled),
        "resampled_files": resampled[:50],
        "excluded_over_two_talkers": len(excluded),
        "excluded_sessions": excluded,
        "fbank": fconf is not None,
        "fbank_skipped": fbank_skipped,
    }
    n_skip = sum(skipped.values())
    logger.info(
        "%s: %d sessions (%.3f h), %d skipped%s, %d excluded (> %d talkers at once), %d resampled%s",
        split,
        st["sessions"],
        st["hours"],
        n_skip,
        f" {dict(skipped)}" if n_skip else "",
        len(excluded),
        MAX_TALKERS,
        len(resampled),
        f", {len(fbank_skipped)} without fbank (unreadable)" if fbank_skipped else "",
    )
    return st
