"""Stage 1 (LibriSpeech): manifests from a LibriSpeech directory the user already has.

    python -m local.prepare_librispeech /data/LibriSpeech data/manifests

Produces the same files as the demo corpus (``{recordings,supervisions,cuts}_{split}``):
``train`` = every ``train-*`` part found, ``dev`` = dev-clean, ``test`` = test-clean, plus
``dev_other`` / ``test_other`` when present.  Records follow lhotse's LibriSpeech recipe
(ids, fields, text); the scan is our own because lhotse's ``prepare_librispeech`` aborts on a
corrupt flac or an empty transcript line, whereas here each bad item is reported on one
line, skipped and counted.  Nothing is downloaded.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import click
import soundfile as sf
from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

from steps.data.manifests import cuts_from_manifests, summarise, write_split
from steps.utils import FairstreamError, stage_output, write_json_atomic
from steps.utils.cli import CONTEXT, step_main

log = logging.getLogger(__name__)

PARTS = {
    "train": ("train-clean-100", "train-clean-360", "train-other-500"),
    "dev": ("dev-clean",),
    "test": ("test-clean",),
    "dev_other": ("dev-other",),
    "test_other": ("test-other",),
}
SAMPLE_RATE = 16000


def read_speakers(corpus: Path) -> dict[str, str]:
    """Speaker id -> gender ("m"/"f") from SPEAKERS.TXT when present."""
    f = corpus / "SPEAKERS.TXT"
    out: dict[str, str] = {}
    if f.is_file():
        for line in f.read_text(errors="replace").splitlines():
            if line.startswith(";") or "|" not in line:
                continue
            cols = [c.strip() for c in line.split("|")]
            if len(cols) >= 2 and cols[1] in ("M", "F"):
                out[cols[0]] = cols[1].lower()
    return out


def scan_part(
    part_dir: Path, genders: dict[str, str], skipped: dict[str, int]
) -> tuple[list, list]:
    recs, sups = [], []
    for trans in sorted(part_dir.rglob("*.trans.txt")):
        for n, line in enumerate(trans.read_text(errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            fields = line.strip().split(maxsplit=1)
            utt = fields[0]
            text = fields[1].strip() if len(fields) > 1 else ""
            where = f"{trans}:{n} ({utt})"
            if not text:
                log.warning("%s: empty transcript, skipped", where)
                skipped["empty_transcript"] += 1
                continue
            audio = trans.parent / f"{utt}.flac"
            if not audio.is_file():
                log.warning("%s: missing audio %s, skipped", where, audio)
                skipped["missing_audio"] += 1
                continue
            try:
                info = sf.info(str(audio))
            except Exception as e:  # noqa: BLE001 - libsndfile raises several types
                log.warning(
                    "%s: unreadable audio %s (%s), skipped", where, audio, str(e).splitlines()[0]
                )
                skipped["corrupt_audio"] += 1
                continue
            if info.samplerate != SAMPLE_RATE:
                log.warning(
                    "%s: %s has %d Hz, expected %d, skipped",
                    where,
                    audio,
                    info.samplerate,
                    SAMPLE_RATE,
                )
                skipped["wrong_sample_rate"] += 1
                continue
            rec = Recording.from_file(audio, recording_id=utt)
            spk = re.sub(r"-.*", "", utt)
            gender = genders.get(spk)
            sups.append(
                SupervisionSegment(
                    id=utt,
                    recording_id=utt,
                    start=0.0,
                    duration=rec.duration,
                    channel=0,
                    text=text,
                    language="English",
                    speaker=spk,
                    gender=gender,
                    custom={"speaker": spk, "gender": gender, "accent": None, "country": None},
                )
            )
            recs.append(rec)
    return recs, sups


@click.command(context_settings=CONTEXT)
@click.argument("corpus_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete.")
@step_main
def main(corpus_dir: Path, out_dir: Path, force: bool) -> None:
    """Write Lhotse manifests for the LibriSpeech parts found under CORPUS_DIR."""
    if not corpus_dir.is_dir():
        raise FairstreamError(f"LibriSpeech directory {corpus_dir} does not exist")
    found = {s: [p for p in parts if (corpus_dir / p).is_dir()] for s, parts in PARTS.items()}
    found = {s: p for s, p in found.items() if p}
    if not found:
        raise FairstreamError(
            f"{corpus_dir} has none of the LibriSpeech parts ({', '.join(sum(PARTS.values(), ()))})"
        )
    cfg = {"corpus": "librispeech", "corpus_dir": str(corpus_dir.resolve()), "parts": found}
    with stage_output(out_dir, cfg, force) as out:
        genders = read_speakers(corpus_dir)
        report: dict[str, object] = {}
        for split, parts in found.items():
            skipped = {
                "empty_transcript": 0,
                "missing_audio": 0,
                "corrupt_audio": 0,
                "wrong_sample_rate": 0,
            }
            recs, sups = [], []
            for part in parts:
                r, s = scan_part(corpus_dir / part, genders, skipped)
                recs += r
                sups += s
            if not recs:
                raise FairstreamError(f"{corpus_dir}: no usable utterances in {', '.join(parts)}")
            rs, ss = RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups)
            cuts = cuts_from_manifests(rs, ss)
            write_split(out.path, split, rs, ss, cuts)
            report[split] = {"parts": parts, "skipped": skipped, **summarise(cuts)}
            n_skip = sum(skipped.values())
            log.info(
                "%s: %d utterances, %d skipped %s",
                split,
                len(cuts),
                n_skip,
                skipped if n_skip else "",
            )
        write_json_atomic(out.path / "stats.json", report)


if __name__ == "__main__":
    main()
