"""Reading, checking and summarising the per-split Lhotse manifests that stages exchange."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from pathlib import Path

from lhotse import CutSet, RecordingSet, SupervisionSet, load_manifest
from lhotse.qa import validate_recordings_and_supervisions
from lhotse.utils import fastcopy

from steps.utils import FairstreamError, save_manifest_atomic

log = logging.getLogger(__name__)


def manifest_path(d: Path, kind: str, split: str) -> Path:
    return Path(d) / f"{kind}_{split}.jsonl.gz"


def write_split(
    out_dir: Path, split: str, recs: RecordingSet, sups: SupervisionSet, cuts: CutSet
) -> None:
    """Validate then atomically write one split's recordings, supervisions and cuts."""
    validate_recordings_and_supervisions(recs, sups)
    save_manifest_atomic(recs, manifest_path(out_dir, "recordings", split))
    save_manifest_atomic(sups, manifest_path(out_dir, "supervisions", split))
    save_manifest_atomic(cuts, manifest_path(out_dir, "cuts", split))


def cuts_from_manifests(recs: RecordingSet, sups: SupervisionSet) -> CutSet:
    """One cut per single-utterance recording, with the cut id equal to the recording id."""
    cuts = CutSet.from_manifests(recordings=recs, supervisions=sups)
    return CutSet.from_cuts(fastcopy(c, id=c.recording_id) for c in cuts)


def load_cuts(d: Path, split: str, prefix: str = "cuts") -> CutSet:
    p = manifest_path(d, prefix, split)
    if not p.is_file():
        raise FairstreamError(f"missing manifest {p}")
    return load_manifest(p)


def splits_in(d: Path, prefix: str = "cuts") -> list[str]:
    """Split names present in a directory (``cuts_<split>.jsonl.gz``), sorted."""
    names = sorted(p.name for p in Path(d).glob(f"{prefix}_*.jsonl.gz"))
    return [n[len(prefix) + 1 : -len(".jsonl.gz")] for n in names]


def summarise(cuts: CutSet) -> dict[str, object]:
    """Speakers, utterances and hours, overall and per accent (for logs and READMEs)."""
    hours = 0.0
    spk: set[str] = set()
    per_accent: dict[str, dict[str, float]] = defaultdict(lambda: {"utts": 0, "hours": 0.0})
    accent_spk: dict[str, set[str]] = defaultdict(set)
    genders: Counter[str] = Counter()
    n = 0
    for c in cuts:
        n += 1
        hours += c.duration / 3600
        s = c.supervisions[0]
        spk.add(s.speaker)
        accent = (s.custom or {}).get("accent", "unknown")
        per_accent[accent]["utts"] += 1
        per_accent[accent]["hours"] += c.duration / 3600
        if s.speaker not in accent_spk[accent]:
            genders[s.gender or "?"] += 1
        accent_spk[accent].add(s.speaker)
    for a, d in per_accent.items():
        d["speakers"] = len(accent_spk[a])
        d["hours"] = round(d["hours"], 3)
    return {
        "utterances": n,
        "speakers": len(spk),
        "hours": round(hours, 3),
        "genders": dict(genders),
        "per_accent": dict(sorted(per_accent.items())),
    }
