"""Stage (multi-talker, real data): Libri2Mix sessions from a local copy; nothing is downloaded.

    python -m local.prepare_librimix /data/Libri2Mix data/sessions_librimix \
        --librispeech-dir /data/LibriSpeech

Layout read (JorisCos/LibriMix, ``scripts/create_librimix_from_metadata.py``):
``Libri2Mix/wav16k/max/<part>/{mix_clean,mix_both,s1,s2,...}/<mixture_ID>.wav`` for the parts
``train-100``, ``train-360``, ``dev``, ``test``, and ``Libri2Mix/wav16k/max/metadata/
mixture_<part>_<type>.csv`` with the columns ``mixture_ID, [original_mixture_ID,] mixture_path,
source_1_path, source_2_path, [noise_path,] length`` (length in samples).  CORPUS_DIR is the
``Libri2Mix`` directory or its ``wav16k/max`` directory.  The CSV paths are absolute paths of the
machine that generated the copy, so the audio is looked up in the layout above instead.
The ``mixture_ID`` joins the LibriSpeech utterance ids of the sources with ``_``
(``4077-13754-0001_5142-36377-0003``); LibriMix has no transcripts, so ``--librispeech-dir``
(the directory holding ``train-clean-100``, ``dev-clean``, ...) provides them.

Output (the contract of local/make_sessions.py, so steps/decode_sessions.py and ``task:
multitalker`` training read it as is): ``OUT_DIR/sessions_{train,dev,test}.jsonl.gz`` (``train`` =
the train-100 and train-360 parts found), one ``MonoCut`` per mixture over the mixture recording
with one supervision per source utterance: speaker = its LibriSpeech speaker, start 0 (LibriMix
sources all start at the beginning; ``max`` mode pads the shorter one at the end), duration =
the source utterance's length (from the LibriSpeech flac header; if that file is absent, from the
last non-zero sample of ``s<k>/<mixture_ID>.wav``), text = its LibriSpeech transcript, ``custom``
= speaker metadata plus ``source_ids``.  With ``--with-fbank`` (the default) the cuts carry
80-dim fbank (conf/fbank.yaml, steps/data/features.py) in ``OUT_DIR/feats_<split>.*.lca``, so
``cut.load_features()`` works.  ``stats.json`` has counts, skipped items and overlap statistics.

Only ``wav16k/max`` is read: ``min`` mode cuts both sources to the shorter one, so a transcript
would not match its audio, and ``wav8k`` is narrow-band.  A file whose sample rate is not
16 kHz anyway is resampled to 16 kHz on load (a lhotse ``Recording.resample`` transform), with
one warning line and a count.  Missing or unreadable audio, missing transcripts and truncated
mixtures are skipped, one warning line each, and counted.

Why not ``lhotse.recipes.librimix`` (1.33): it rebuilds the mixtures virtually from a lhotse
LibriSpeech cutset, WHAM! noise manifests and the generation metadata with gains (fetched from
GitHub by ``download_librimix``); it does not read an existing generated copy.  Its
``prepare_librimix_mini`` reads the generated CSV but makes one text-less supervision per
mixture.  Neither skips bad files.  The helpers at the end of this module are shared with
local/prepare_libricss.py.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

import click
import numpy as np
import soundfile as sf
from lhotse.cut import Cut
from lhotse.supervision import SupervisionSegment
from tqdm import tqdm

from local.prepare_librispeech import read_speakers
from local.session_corpora import finish_split, open_recording, session_cut
from steps.data.features import FbankConf
from steps.multitalker.turns import MAX_TALKERS
from steps.utils import FairstreamError, stage_output, write_json_atomic
from steps.utils.cli import CONTEXT, step_main
from steps.utils.config import load_dataclass, to_dict

log = logging.getLogger(__name__)

PARTS = {"train-100": "train", "train-360": "train", "dev": "dev", "test": "test"}  # part -> split
LIBRISPEECH_PART = {
    "train-100": "train-clean-100",
    "train-360": "train-clean-360",
    "dev": "dev-clean",
    "test": "test-clean",
}
UTT_RE = re.compile(r"^\d+-\d+-\d+$")
TOLERANCE = 0.01  # seconds: one feature frame of slack between a source and its mixture
SKIP_KEYS = (  # reasons a mixture is skipped (all reported in stats.json, zeros included)
    "missing_audio",
    "corrupt_audio",
    "length_mismatch",
    "bad_mixture_id",
    "duplicate_mixture",
    "missing_transcript",
    "missing_source",
    "source_longer_than_mixture",
)


# ---- LibriMix --------------------------------------------------------------------------------
def find_base(corpus: Path) -> Path:
    """The ``wav16k/max`` directory of a LibriMix copy (given the copy or that directory)."""
    if not corpus.is_dir():
        raise FairstreamError(f"LibriMix directory {corpus} does not exist")
    for cand in (corpus / "wav16k" / "max", corpus):
        if (cand / "metadata").is_dir():
            if cand.name == "min":
                raise FairstreamError(
                    f"{cand} is a 'min' mode copy (sources cut to the shorter one, transcripts would "
                    "not match); point to wav16k/max"
                )
            if cand.parent.name == "wav8k":
                raise FairstreamError(f"{cand} is the 8 kHz copy; point to the wav16k/max directory")
            return cand
    raise FairstreamError(f"{corpus} is not a LibriMix copy: no wav16k/max/metadata directory")


class LibriSpeechIndex:
    """Transcripts and lengths of LibriSpeech utterances, read lazily one chapter at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._chapters: dict[Path, dict[str, str]] = {}

    def chapter(self, part: str, utt: str) -> Path:
        spk, chap, _ = utt.split("-")
        return self.root / part / spk / chap

    def text(self, part: str, utt: str) -> str | None:
        d = self.chapter(part, utt)
        if d not in self._chapters:
            trans = d / f"{'-'.join(utt.split('-')[:2])}.trans.txt"
            lines: dict[str, str] = {}
            if trans.is_file():
                for line in trans.read_text(errors="replace").splitlines():
                    f = line.strip().split(maxsplit=1)
                    if f:
                        lines[f[0]] = f[1].strip() if len(f) > 1 else ""
            self._chapters[d] = lines
        return self._chapters[d].get(utt) or None

    def seconds(self, part: str, utt: str) -> float | None:
        """Length of the utterance's flac from its header, or ``None`` if absent or unreadable."""
        f = self.chapter(part, utt) / f"{utt}.flac"
        try:
            info = sf.info(str(f))
        except Exception:  # noqa: BLE001 - missing or unreadable: the caller falls back
            return None
        return info.frames / info.samplerate if info.frames > 0 else None


def speech_seconds(path: Path) -> float | None:
    """Length of a ``max``-mode source file without its zero padding (the fallback length)."""
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception:  # noqa: BLE001 - missing or unreadable
        return None
    nz = np.flatnonzero(np.abs(data).max(axis=1) > 0)
    return (int(nz[-1]) + 1) / sr if nz.size else None


def read_mixture_csv(path: Path) -> tuple[list[dict[str, str]], int]:
    """Rows of a ``mixture_<part>_<type>.csv`` and its number of sources."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        rows = list(reader)
    n_src = sum(1 for c in cols if re.fullmatch(r"source_\d+_path", c))
    if "mixture_ID" not in cols or n_src == 0:
        raise FairstreamError(f"{path}: expected columns mixture_ID and source_<k>_path, got {cols}")
    return rows, n_src


def scan_part(
    base: Path,
    part: str,
    mix_type: str,
    index: LibriSpeechIndex,
    genders: dict[str, str],
    skipped: Counter,
    resampled: list[str],
    seen: set[str],
) -> list[Cut]:
    """One cut per usable mixture of a LibriMix part (module doc); bad rows are counted.
    ``seen`` holds the mixture ids of the split so far (a repeated id is skipped)."""
    csv_path = base / "metadata" / f"mixture_{part}_{mix_type}.csv"
    rows, n_src = read_mixture_csv(csv_path)
    ls_part = LIBRISPEECH_PART[part]
    cuts: list[Cut] = []
    for n, row in enumerate(tqdm(rows, desc=f"LibriMix {part}", unit="mixture"), 2):
        mix_id = (row.get("mixture_ID") or "").strip()
        where = f"{csv_path.name}:{n} ({mix_id})"
        utts = mix_id.split("_")
        if len(utts) != n_src or not all(UTT_RE.match(u) for u in utts):
            log.warning("%s: mixture_ID is not %d LibriSpeech ids joined by '_', skipped", where, n_src)
            skipped["bad_mixture_id"] += 1
            continue
        if mix_id in seen:
            log.warning("%s: mixture_ID repeated, skipped", where)
            skipped["duplicate_mixture"] += 1
            continue
        seen.add(mix_id)
        rec = open_recording(base / part / mix_type / f"{mix_id}.wav", mix_id, where, skipped, resampled)
        if rec is None:
            continue
        length = (row.get("length") or "").strip()
        native = rec.transforms is None  # not resampled: the CSV length is in these samples
        if native and length.isdigit() and int(length) != rec.num_samples:
            log.warning(
                "%s: %s has %d samples, the metadata says %s (truncated copy?), skipped",
                where,
                rec.sources[0].source,
                rec.num_samples,
                length,
            )
            skipped["length_mismatch"] += 1
            continue
        sups, bad = [], None
        for k, utt in enumerate(utts, 1):
            text = index.text(ls_part, utt)
            if text is None:
                bad = ("missing_transcript", f"no transcript for source {k} ({utt}) in {ls_part}")
                break
            dur = index.seconds(ls_part, utt)
            if dur is None:
                dur = speech_seconds(base / part / f"s{k}" / f"{mix_id}.wav")
            if dur is None:
                bad = ("missing_source", f"no audio for source {k} ({utt}) in LibriSpeech or s{k}/")
                break
            if dur > rec.duration + TOLERANCE:
                bad = (
                    "source_longer_than_mixture",
                    f"source {k} ({utt}) lasts {dur:.3f} s, the mixture {rec.duration:.3f} s",
                )
                break
            spk = utt.split("-")[0]
            g = genders.get(spk)
            sups.append(
                SupervisionSegment(
                    id=f"{mix_id}-{k}",
                    recording_id=mix_id,
                    start=0.0,
                    duration=round(min(dur, rec.duration), 6),
                    channel=0,
                    text=text,
                    language="English",
                    speaker=spk,
                    gender=g,
                    custom={
                        "speaker": spk,
                        "gender": g,
                        "accent": None,
                        "country": None,
                        "source_ids": [utt],
                    },
                )
            )
        if bad is not None:
            log.warning("%s: %s, skipped", where, bad[1])
            skipped[bad[0]] += 1
            continue
        cuts.append(session_cut(rec, sups))
    return cuts


@click.command(context_settings=CONTEXT)
@click.argument("corpus_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--librispeech-dir",
    type=click.Path(path_type=Path),
    required=True,
    help="LibriSpeech directory (train-clean-100, dev-clean, ...): transcripts and source lengths.",
)
@click.option("--mix-type", type=click.Choice(["mix_clean", "mix_both"]), default="mix_clean")
@click.option(
    "--parts", default="train-100,train-360,dev,test", help="LibriMix parts to read (those present)."
)
@click.option("--with-fbank/--no-fbank", default=True, help="Store 80-dim fbank with the cuts.")
@click.option("--fbank-conf", type=click.Path(path_type=Path), default=Path("conf/fbank.yaml"))
@click.option("-j", "--num-jobs", type=int, default=2, help="fbank worker processes.")
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete.")
@step_main
def main(
    corpus_dir: Path,
    out_dir: Path,
    librispeech_dir: Path,
    mix_type: str,
    parts: str,
    with_fbank: bool,
    fbank_conf: Path,
    num_jobs: int,
    force: bool,
) -> None:
    """Write sessions_{train,dev,test}.jsonl.gz for the Libri2Mix copy in CORPUS_DIR into OUT_DIR."""
    base = find_base(corpus_dir)
    wanted = [p for p in parts.split(",") if p]
    unknown = [p for p in wanted if p not in PARTS]
    if unknown:
        raise FairstreamError(f"unknown LibriMix part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}")
    found = [p for p in wanted if (base / "metadata" / f"mixture_{p}_{mix_type}.csv").is_file()]
    if not found:
        raise FairstreamError(
            f"{base / 'metadata'} has no mixture_<part>_{mix_type}.csv for {', '.join(wanted)}"
        )
    ls = find_librispeech(librispeech_dir)
    for p in found:
        if not (ls / LIBRISPEECH_PART[p]).is_dir():
            raise FairstreamError(f"{ls} has no {LIBRISPEECH_PART[p]} (transcripts of LibriMix {p})")
    fconf = load_dataclass(FbankConf, fbank_conf) if with_fbank else None
    cfg = {
        "corpus": "librimix",
        "corpus_dir": str(base.resolve()),
        "librispeech_dir": str(ls.resolve()),
        "mix_type": mix_type,
        "parts": found,
        "max_talkers": MAX_TALKERS,
        "fbank": to_dict(fconf) if fconf else None,
    }
    splits: dict[str, list[str]] = {}
    for p in found:
        splits.setdefault(PARTS[p], []).append(p)
    with stage_output(out_dir, cfg, force) as out:
        genders, index = read_speakers(ls), LibriSpeechIndex(ls)
        stats: dict[str, Any] = {}
        for split, split_parts in splits.items():
            skipped: Counter[str] = Counter()
            resampled: list[str] = []
            cuts: list[Cut] = []
            seen: set[str] = set()
            for p in split_parts:
                cuts += scan_part(base, p, mix_type, index, genders, skipped, resampled, seen)
            stats[split] = finish_split(
                out, split, cuts, skipped, resampled, fconf, num_jobs, str(base), SKIP_KEYS
            )
        write_json_atomic(out.path / "stats.json", stats)


def find_librispeech(path: Path) -> Path:
    """The LibriSpeech directory holding the parts (given it or its parent)."""
    if not path.is_dir():
        raise FairstreamError(f"LibriSpeech directory {path} does not exist")
    if not any((path / p).is_dir() for p in LIBRISPEECH_PART.values()) and (path / "LibriSpeech").is_dir():
        return path / "LibriSpeech"
    return path

if __name__ == "__main__":
    main()
