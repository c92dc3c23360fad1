"""Build the synthetic voice-assistant corpus: speakers -> shards -> audio files -> manifests.

Each shard (a fixed group of speakers) is synthesised in a fresh worker process in a fixed
order, and every random choice is seeded from (seed, utterance id), so the output does not
depend on ``--num-jobs`` and the same seed gives byte-identical manifests.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet
from lhotse.audio import AudioSource
from lhotse.utils import fastcopy
from tqdm import tqdm

from steps.data.manifests import cuts_from_manifests
from steps.utils import derive_seed

from . import accents, acoustics
from .geography import REVERB_PROB, SNR_RANGE_DB
from .grammar import generate_with_domain
from .speakers import Speaker, make_speakers

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")  # every size has these; "sv" (verification only) when sv_speakers > 0
# The speaker and accent design lives in code (geography.py, speakers.py, accents.py), not in
# conf/demo.yaml, so stage 1 records this number with its config: a corpus of an older design is
# then refused ("different config") instead of being trusted.  Bump it whenever that code changes
# what is synthesised.
DESIGN_VERSION = 2


@dataclass(frozen=True)
class DemoConf:
    """Size and shape of the demo corpus (``conf/demo.yaml`` holds one block per size)."""

    train_speakers: int
    dev_speakers: int
    test_speakers: int
    train_utts: int  # utterances per speaker
    dev_utts: int
    test_utts: int
    # speakers of their own for speaker verification (stage 6): per-country EERs need many more
    # speakers, and target trials many more utterances per speaker, than the ASR test set has
    sv_speakers: int = 0
    sv_utts: int = 0
    seed: int = 42
    min_words: int = 3
    max_words: int = 18
    min_duration: float = 1.0
    max_duration: float = 8.0
    sample_rate: int = 16000
    # a worker process pays ~2 s of imports (lhotse, scipy) and synthesises a speaker's 8
    # utterances in ~0.15 s: 4 speakers per shard spent 85% of stage 1 starting processes
    speakers_per_shard: int = 32


def speaker_counts(conf: DemoConf) -> dict[str, int]:
    """Speakers of each split ``conf`` makes, in the order they are drawn (``make_speakers``)."""
    splits = SPLITS + (("sv",) if conf.sv_speakers > 0 else ())
    return {s: getattr(conf, f"{s}_speakers") for s in splits}


@dataclass(frozen=True)
class ShardJob:
    speakers: tuple[Speaker, ...]
    conf: DemoConf
    write_dir: Path  # where files are written now (the stage's partial directory)
    final_dir: Path  # where they will live (recorded in manifests)


def synth_utterance(tts, spk: Speaker, utt_id: str, conf: DemoConf) -> tuple[np.ndarray, dict]:
    """Text, speech and acoustic condition of one utterance, all seeded by its id.

    Native speakers' voices read the text.  An L2 speaker's English voice turns it into English
    phonemes, which ``accents.accent`` changes as the speaker's first language would; the same
    voice then speaks the changed phonemes."""
    rng = random.Random(derive_seed(conf.seed, "text", utt_id))
    nrng = np.random.default_rng(derive_seed(conf.seed, "acoustics", utt_id))
    arng = random.Random(derive_seed(conf.seed, "accent", utt_id))
    for _attempt in range(20):
        text, domain = generate_with_domain(rng, conf.min_words, conf.max_words)
        if spk.l1:
            english = tts.phonemes(text, spk.voice)
            said = accents.accent(english, spk.l1, spk.l2_strength, arng)
            raw = tts.synth(said, spk.voice, spk.rate, spk.pitch, spk.pitch_range, phonemes=True)
        else:
            raw = tts.synth(text, spk.voice, spk.rate, spk.pitch, spk.pitch_range)
        x = raw.astype(np.float32) / 32768.0
        x = acoustics.trim_silence(x, tts.sample_rate)
        x = acoustics.vtlp_resample(x, tts.sample_rate, conf.sample_rate, spk.vtlp)
        dur = len(x) / conf.sample_rate
        if conf.min_duration <= dur <= conf.max_duration:
            break
    else:
        raise RuntimeError(f"{utt_id}: could not synthesise an utterance within the duration limits")
    x = acoustics.apply_timbre(x, conf.sample_rate, spk.tilt, spk.formant_hz, spk.formant_db)
    cond: dict[str, object] = {"domain": domain}
    if nrng.random() < REVERB_PROB[spk.zip.income]:
        rt60 = round(float(nrng.uniform(0.2, 0.7)), 3)
        x = acoustics.add_reverb(x, acoustics.make_rir(nrng, conf.sample_rate, rt60))
        cond["rt60"] = rt60
    else:
        cond["rt60"] = 0.0
    lo, hi = SNR_RANGE_DB[spk.zip.urbanicity]
    snr = round(float(nrng.uniform(lo, hi)), 2)
    kind = str(nrng.choice(acoustics.NOISE_KINDS))
    x = acoustics.add_noise(x, acoustics.make_noise(nrng, len(x), kind, conf.sample_rate), snr)
    cond.update({"snr_db": snr, "noise": kind})
    return acoustics.to_int16(x), {"text": text, **cond}


def synth_shard(job: ShardJob) -> list[dict]:
    """Synthesise every utterance of the shard's speakers; runs in a fresh process."""
    from .espeak import Espeak

    tts = Espeak()
    rows = []
    for spk in job.speakers:
        n = getattr(job.conf, f"{spk.split}_utts")
        for i in range(n):
            utt_id = f"{spk.id}-{i:04d}"
            audio, info = synth_utterance(tts, spk, utt_id, job.conf)
            rel = Path("audio") / spk.split / spk.id / f"{utt_id}.flac"
            (job.write_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            sf.write(job.write_dir / rel, audio, job.conf.sample_rate, format="FLAC")
            rows.append(
                {
                    "id": utt_id,
                    "split": spk.split,
                    "path": str(job.final_dir / rel),
                    "num_samples": len(audio),
                    "speaker": spk,
                    **info,
                }
            )
    return rows


def _manifests(rows: list[dict], sr: int) -> tuple[RecordingSet, SupervisionSet, CutSet]:
    recs, sups, custom = [], [], {}
    for r in rows:
        dur = r["num_samples"] / sr
        recs.append(
            Recording(
                id=r["id"],
                sources=[AudioSource(type="file", channels=[0], source=r["path"])],
                sampling_rate=sr,
                num_samples=r["num_samples"],
                duration=dur,
            )
        )
        spk: Speaker = r["speaker"]
        sups.append(
            SupervisionSegment(
                id=r["id"],
                recording_id=r["id"],
                start=0.0,
                duration=dur,
                channel=0,
                text=r["text"].upper(),
                language="English",
                speaker=spk.id,
                gender=spk.gender,
                custom=spk.metadata(),
            )
        )
        custom[r["id"]] = {k: r[k] for k in ("snr_db", "noise", "rt60", "domain")}
    rs, ss = RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups)
    cuts = cuts_from_manifests(rs, ss)
    return rs, ss, CutSet.from_cuts(fastcopy(c, custom=dict(custom[c.id])) for c in cuts)


def build_demo_corpus(
    conf: DemoConf, write_dir: Path, final_dir: Path, num_jobs: int = 2
) -> dict[str, tuple[RecordingSet, SupervisionSet, CutSet]]:
    """Synthesise the corpus into ``write_dir``; returns manifests per split."""
    speakers = make_speakers(conf.seed, speaker_counts(conf))
    k = conf.speakers_per_shard
    jobs = [
        ShardJob(tuple(speakers[i : i + k]), conf, write_dir, final_dir) for i in range(0, len(speakers), k)
    ]
    rows: list[dict] = []
    ctx = mp.get_context("spawn")
    with ctx.Pool(max(1, num_jobs), maxtasksperchild=1) as pool:
        for shard_rows in tqdm(
            pool.imap(synth_shard, jobs), total=len(jobs), desc="synthesise", unit="shard"
        ):
            rows.extend(shard_rows)
    out = {}
    for split in speaker_counts(conf):
        out[split] = _manifests([r for r in rows if r["split"] == split], conf.sample_rate)
    return out
