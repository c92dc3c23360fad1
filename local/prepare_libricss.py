"""Stage (multi-talker, real data): LibriCSS sessions from a local copy; nothing is downloaded.

    python -m local.prepare_libricss /data/LibriCSS/for_release data/sessions_libricss

Layout read (the ``for_release`` archive of chenzhuo1011/libri_css, as lhotse's
``recipes/libricss.py`` and the official ``dataprep/python/dataprep.py`` read it):
``for_release/<condition>/<session>/record/raw_recording.wav`` (7 channels, 16 kHz) and
``for_release/<condition>/<session>/transcription/meeting_info.txt``, with the conditions ``0L``,
``0S`` (no overlap, long / short silences) and ``OV10`` ... ``OV40`` (overlap ratio in %), and
session directories like ``overlap_ratio_10.0_sil0.1_1.0_session0_actual10.1``.
``meeting_info.txt`` is tab-separated with the header ``start_time end_time speaker utterance_id
transcription`` and one line per played LibriSpeech utterance (times in seconds of the
recording, speaker = LibriSpeech speaker id, upper-case text).  CORPUS_DIR is ``for_release`` or
its parent.

Output (the contract of local/make_sessions.py, read as is by steps/decode_sessions.py):
``OUT_DIR/sessions_test.jsonl.gz`` (and ``sessions_dev.jsonl.gz`` for the sessions named by
``--dev-sessions``; the usual choice is ``session0``), one ``MonoCut`` per session over channel
``--channel`` (default 0) of the recording, id ``<condition>_session<N>`` (lhotse's recording
ids), one supervision per utterance (speaker, start, duration, text, ``custom`` with the
utterance id in ``source_ids``).  With ``--with-fbank`` (the default) the cuts carry 80-dim
fbank (conf/fbank.yaml), so ``cut.load_features()`` works.  ``stats.json`` has counts, skipped
and excluded sessions and overlap statistics.

Sessions in which the reference has three or more talkers at once are excluded (the two-channel
model supports at most two), one warning line each, and listed in stats.json with the seconds
over the limit.  A session whose audio is missing or unreadable, or whose transcript is missing
or malformed, is skipped with one warning line and counted.  A recording not at 16 kHz is
resampled to 16 kHz on load (a lhotse ``Recording.resample`` transform), warned and counted.

Why not ``lhotse.recipes.libricss.prepare_libricss``: it aborts on a missing condition or file,
keeps the text's trailing newline and does not check concurrency; the facts about the layout
are the same.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from lhotse.cut import Cut
from lhotse.supervision import SupervisionSegment
from tqdm import tqdm

from local.session_corpora import finish_split, open_recording, session_cut
from steps.data.features import FbankConf
from steps.multitalker.turns import MAX_TALKERS
from steps.utils import FairstreamError, stage_output, write_json_atomic
from steps.utils.cli import CONTEXT, step_main
from steps.utils.config import load_dataclass, to_dict

log = logging.getLogger(__name__)

CONDITIONS = ("0L", "0S", "OV10", "OV20", "OV30", "OV40")
HEADER = ["start_time", "end_time", "speaker", "utterance_id", "transcription"]
SESSION_RE = re.compile(r"_(session\d+)_")
END_SLACK = 0.05  # seconds an utterance may run past the end of the recording (then clipped)
SKIP_KEYS = (  # reasons a session is skipped (all reported in stats.json, zeros included)
    "missing_audio",
    "corrupt_audio",
    "missing_channel",
    "missing_transcript",
    "bad_transcript",
    "duplicate_session",
)


class BadTranscript(Exception):
    """A ``meeting_info.txt`` that cannot be trusted as the session's full reference."""


def find_release(corpus: Path) -> Path:
    """The ``for_release`` directory (given it or its parent)."""
    if not corpus.is_dir():
        raise FairstreamError(f"LibriCSS directory {corpus} does not exist")
    if not any((corpus / c).is_dir() for c in CONDITIONS) and (corpus / "for_release").is_dir():
        corpus = corpus / "for_release"
    if not any((corpus / c).is_dir() for c in CONDITIONS):
        raise FairstreamError(f"{corpus} has none of the LibriCSS conditions ({', '.join(CONDITIONS)})")
    return corpus


def read_meeting_info(path: Path) -> list[tuple[float, float, str, str, str]]:
    """(start, end, speaker, utterance id, text) per line of a ``meeting_info.txt``."""
    lines = path.read_text(errors="replace").splitlines()
    if not lines or [h.strip() for h in lines[0].split("\t")] != HEADER:
        raise BadTranscript(f"{path}:1: expected the header {' '.join(HEADER)} (tab-separated)")
    rows = []
    for n, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        cols = line.rstrip("\r\n").split("\t")
        if len(cols) != len(HEADER):
            raise BadTranscript(f"{path}:{n}: expected {len(HEADER)} tab-separated columns, got {len(cols)}")
        try:
            start, end = float(cols[0]), float(cols[1])
        except ValueError:
            raise BadTranscript(f"{path}:{n}: start/end {cols[0]!r} {cols[1]!r} are not numbers") from None
        spk, utt, text = cols[2].strip(), cols[3].strip(), cols[4].strip()
        if not 0 <= start < end:
            raise BadTranscript(f"{path}:{n}: need 0 <= start < end, got {start} {end}")
        if not spk or not text:
            raise BadTranscript(f"{path}:{n}: empty speaker or transcription")
        rows.append((start, end, spk, utt, text))
    if not rows:
        raise BadTranscript(f"{path}: no utterances")
    return rows


@dataclass
class SplitScan:
    """What the scan found for one split: usable sessions, skip counts, resampled files."""

    cuts: list[Cut] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    resampled: list[str] = field(default_factory=list)


def scan(release: Path, conditions: list[str], channel: int, dev: list[str]) -> dict[str, SplitScan]:
    """Usable sessions of the given conditions per split (``dev``: session names in ``dev``)."""
    sessions = sorted(d for c in conditions for d in (release / c).iterdir() if d.is_dir())
    out = {s: SplitScan() for s in (("dev", "test") if dev else ("test",))}
    seen: dict[str, Path] = {}
    for d in tqdm(sessions, desc="LibriCSS sessions", unit="session"):
        m = SESSION_RE.search(d.name + "_")
        if m is None:
            log.warning("%s: not a LibriCSS session directory (no _session<N>_ in the name), ignored", d)
            continue
        sid = f"{d.parent.name}_{m.group(1)}"
        sc = out["dev" if m.group(1) in dev else "test"]
        skipped = sc.skipped
        if sid in seen:
            log.warning("%s: %s and %s are the same session, the second is skipped", sid, seen[sid], d)
            skipped["duplicate_session"] += 1
            continue
        seen[sid] = d
        info = d / "transcription" / "meeting_info.txt"
        if not info.is_file():
            log.warning("%s: missing transcript %s, skipped", sid, info)
            skipped["missing_transcript"] += 1
            continue
        try:
            rows = read_meeting_info(info)
        except BadTranscript as e:
            log.warning("%s: %s, skipped", sid, e)
            skipped["bad_transcript"] += 1
            continue
        rec = open_recording(d / "record" / "raw_recording.wav", sid, sid, skipped, sc.resampled, log)
        if rec is None:
            continue
        if channel not in rec.channel_ids:
            log.warning("%s: the recording has no channel %d (%s), skipped", sid, channel, rec.channel_ids)
            skipped["missing_channel"] += 1
            continue
        late = [(u, e) for _, e, _, u, _ in rows if e > rec.duration + END_SLACK]
        if late:
            log.warning(
                "%s: utterance %s ends at %.2f s, after the recording (%.2f s), skipped",
                sid,
                late[0][0],
                late[0][1],
                rec.duration,
            )
            skipped["bad_transcript"] += 1
            continue
        sups = [
            SupervisionSegment(
                id=f"{sid}-{i:03d}",
                recording_id=sid,
                start=round(start, 6),
                duration=round(min(end, rec.duration) - start, 6),
                channel=channel,
                text=text,
                language="English",
                speaker=spk,
                custom={"speaker": spk, "utterance_id": utt, "source_ids": [utt], "condition": d.parent.name},
            )
            for i, (start, end, spk, utt, text) in enumerate(rows)
        ]
        sc.cuts.append(session_cut(rec, sups, channel))
    return out


@click.command(context_settings=CONTEXT)
@click.argument("corpus_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--conditions", default=",".join(CONDITIONS), help="Conditions to read (those present are used)."
)
@click.option(
    "--dev-sessions",
    default="",
    help="Comma-separated session names (e.g. session0) that form sessions_dev; the rest is test.",
)
@click.option("--channel", type=int, default=0, help="Microphone of the 7-channel array.")
@click.option("--with-fbank/--no-fbank", default=True, help="Store 80-dim fbank with the cuts.")
@click.option("--fbank-conf", type=click.Path(path_type=Path), default=Path("conf/fbank.yaml"))
@click.option("-j", "--num-jobs", type=int, default=2, help="fbank worker processes.")
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete.")
@step_main
def main(
    corpus_dir: Path,
    out_dir: Path,
    conditions: str,
    dev_sessions: str,
    channel: int,
    with_fbank: bool,
    fbank_conf: Path,
    num_jobs: int,
    force: bool,
) -> None:
    """Write sessions_test.jsonl.gz (and sessions_dev) for the LibriCSS copy in CORPUS_DIR into OUT_DIR."""
    release = find_release(corpus_dir)
    wanted = [c for c in conditions.split(",") if c]
    unknown = [c for c in wanted if c not in CONDITIONS]
    if unknown:
        raise FairstreamError(f"unknown condition(s) {', '.join(unknown)}; known: {', '.join(CONDITIONS)}")
    found = [c for c in wanted if (release / c).is_dir()]
    if not found:
        raise FairstreamError(f"{release} has none of the conditions {', '.join(wanted)}")
    for c in sorted(set(wanted) - set(found)):
        log.warning("%s: condition %s is missing, not used", release, c)
    dev = sorted({s for s in dev_sessions.split(",") if s})
    bad = [s for s in dev if not re.fullmatch(r"session\d+", s)]
    if bad:
        raise FairstreamError(f"--dev-sessions: expected names like session0, got {', '.join(bad)}")
    if channel < 0:
        raise FairstreamError(f"--channel must be >= 0, got {channel}")
    fconf = load_dataclass(FbankConf, fbank_conf) if with_fbank else None
    cfg = {
        "corpus": "libricss",
        "corpus_dir": str(release.resolve()),
        "conditions": found,
        "dev_sessions": dev,
        "channel": channel,
        "max_talkers": MAX_TALKERS,
        "fbank": to_dict(fconf) if fconf else None,
    }
    with stage_output(out_dir, cfg, force) as out:
        stats: dict[str, Any] = {}
        for split, sc in scan(release, found, channel, dev).items():
            stats[split] = finish_split(
                out, split, sc.cuts, sc.skipped, sc.resampled, fconf, num_jobs, str(release), SKIP_KEYS, log
            )
        write_json_atomic(out.path / "stats.json", stats)


if __name__ == "__main__":
    main()
