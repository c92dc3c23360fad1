"""Stage 1 (VoxCeleb1): manifests and VoxCeleb1-O trials from a local copy; nothing is downloaded.

    python -m local.prepare_voxceleb /data/VoxCeleb1 data/manifests

Expects lhotse's VoxCeleb1 layout: ``vox1_meta.csv`` (tab-separated: id, name, gender,
nationality, set) and ``wav/<speaker>/<session>/<utt>.wav``; the official trial list
(``veri_test2.txt``, ``voxceleb1_test_v2.txt`` or ``veri_test.txt``, format
``1 id10270/x6uYqmx31kE/00001.wav id10270/8jEAjG6SegY/00008.wav``) in the corpus directory or
given with --trials.  Ids, fields and the split follow ``lhotse.recipes.voxceleb`` (recording id
``<speaker>-<session>-<utt>``; set ``dev`` -> ``train``, ``test`` -> ``test``), but the scan is our
own: lhotse's ``prepare_voxceleb`` fetches the trial list from the network and aborts on a bad
file, whereas here each bad item is reported on one line, skipped and counted.

Writes ``{recordings,supervisions,cuts}_{train,test}.jsonl.gz`` with the metadata every stage
expects in supervision ``custom`` (``speaker, gender, country`` = nationality, ``accent`` =
None: VoxCeleb has none), ``trials_voxceleb1_o`` in Kaldi format (``enroll test
target|nontarget``) and ``stats.json`` (counts, skipped items, trials naming unknown files).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import click
import soundfile as sf
from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet
from tqdm import tqdm

from steps.data.manifests import cuts_from_manifests, summarise, write_split
from steps.utils import FairstreamError, stage_output, write_json_atomic, write_text_atomic
from steps.utils.cli import CONTEXT, step_main

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
SPLITS = {"dev": "train", "test": "test"}
TRIAL_NAMES = ("veri_test2.txt", "voxceleb1_test_v2.txt", "veri_test.txt")


def read_meta(path: Path) -> dict[str, dict[str, str]]:
    """Speaker id -> {name, gender, nationality, set} from ``vox1_meta.csv``."""
    if not path.is_file():
        raise FairstreamError(f"{path} is missing (VoxCeleb1 speaker metadata)")
    out = {}
    lines = path.read_text(errors="replace").splitlines()
    for n, line in enumerate(lines[1:], 2):
        cols = [c.strip() for c in line.split("\t")]
        if len(cols) < 5:
            if line.strip():
                log.warning("%s:%d: expected 5 tab-separated columns, skipped", path, n)
            continue
        spk, name, gender, nationality, part = cols[:5]
        out[spk] = {"name": name, "gender": gender.lower(), "nationality": nationality, "set": part.lower()}
    if not out:
        raise FairstreamError(f"{path} lists no speakers")
    return out


def utt_id(rel: str) -> str:
    """``id10270/x6uYqmx31kE/00001.wav`` -> ``id10270-x6uYqmx31kE-00001`` (lhotse's ids)."""
    return "-".join(Path(rel).with_suffix("").parts[-3:])


def scan(corpus: Path, meta: dict[str, dict[str, str]], skipped: Counter) -> dict[str, tuple[list, list]]:
    out: dict[str, tuple[list, list]] = {s: ([], []) for s in SPLITS.values()}
    wavs = sorted((corpus / "wav").rglob("*.wav"))
    if not wavs:
        raise FairstreamError(f"no wav files under {corpus / 'wav'}")
    for wav in tqdm(wavs, desc="scan VoxCeleb1", unit="file"):
        rel = wav.relative_to(corpus / "wav")
        if len(rel.parts) != 3:
            log.warning("%s: not <speaker>/<session>/<utt>.wav, skipped", wav)
            skipped["bad_path"] += 1
            continue
        spk = rel.parts[0]
        info = meta.get(spk)
        if info is None or info["set"] not in SPLITS:
            log.warning("%s: speaker %s not in vox1_meta.csv (or unknown set), skipped", wav, spk)
            skipped["unknown_speaker"] += 1
            continue
        try:
            sr = sf.info(str(wav)).samplerate
        except Exception as e:  # noqa: BLE001 - libsndfile raises several types
            log.warning("%s: unreadable audio (%s), skipped", wav, str(e).splitlines()[0] if str(e) else e)
            skipped["corrupt_audio"] += 1
            continue
        if sr != SAMPLE_RATE:
            log.warning("%s: %d Hz, expected %d, skipped", wav, sr, SAMPLE_RATE)
            skipped["wrong_sample_rate"] += 1
            continue
        uid = utt_id(str(rel))
        rec = Recording.from_file(wav, recording_id=uid)
        sup = SupervisionSegment(
            id=uid,
            recording_id=uid,
            start=0.0,
            duration=rec.duration,
            channel=0,
            speaker=spk,
            gender=info["gender"],
            custom={
                "speaker": spk,
                "gender": info["gender"],
                "accent": None,
                "country": info["nationality"],
                "nationality": info["nationality"],
                "speaker_name": info["name"],
                "split": info["set"],
            },
        )
        recs, sups = out[SPLITS[info["set"]]]
        recs.append(rec)
        sups.append(sup)
    return out


def convert_trials(path: Path, known: set[str]) -> tuple[list[str], dict[str, object]]:
    """VoxCeleb ``1|0 a.wav b.wav`` lines -> Kaldi lines; trials naming unknown files are kept
    and counted (scoring reports them again), malformed lines are an error."""
    lines, unknown, examples = [], 0, []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        f = line.split()
        if not f:
            continue
        if len(f) != 3 or f[0] not in ("0", "1"):
            raise FairstreamError(f"{path}:{n}: expected '1|0 enroll.wav test.wav', got {line!r}")
        e, t = utt_id(f[1]), utt_id(f[2])
        if e not in known or t not in known:
            unknown += 1
            if len(examples) < 10:
                examples.append(line)
        lines.append(f"{e} {t} {'target' if f[0] == '1' else 'nontarget'}")
    return lines, {"trials": len(lines), "unknown_utterance": unknown, "unknown_examples": examples}


@click.command(context_settings=CONTEXT)
@click.argument("corpus_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--trials",
    type=click.Path(path_type=Path),
    default=None,
    help="VoxCeleb1-O list (default: found in CORPUS_DIR).",
)
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete.")
@step_main
def main(corpus_dir: Path, out_dir: Path, trials: Path | None, force: bool) -> None:
    """Write Lhotse manifests and Kaldi trials for the VoxCeleb1 copy in CORPUS_DIR."""
    if not corpus_dir.is_dir():
        raise FairstreamError(f"VoxCeleb1 directory {corpus_dir} does not exist")
    if trials is None:
        found = [corpus_dir / n for n in TRIAL_NAMES if (corpus_dir / n).is_file()]
        if not found:
            raise FairstreamError(f"no trial list ({', '.join(TRIAL_NAMES)}) in {corpus_dir}; pass --trials")
        trials = found[0]
    cfg = {"corpus": "voxceleb1", "corpus_dir": str(corpus_dir.resolve()), "trials": str(trials.resolve())}
    with stage_output(out_dir, cfg, force) as out:
        skipped: Counter[str] = Counter()
        parts = scan(corpus_dir, read_meta(corpus_dir / "vox1_meta.csv"), skipped)
        report: dict[str, object] = {"skipped": dict(skipped)}
        known: set[str] = set()
        for split, (recs, sups) in parts.items():
            if not recs:
                raise FairstreamError(f"{corpus_dir}: no usable utterances for the {split} split")
            rs, ss = RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups)
            cuts = cuts_from_manifests(rs, ss)
            write_split(out.path, split, rs, ss, cuts)
            report[split] = summarise(cuts)
            if split == "test":
                known = set(cuts.ids)
        lines, trial_report = convert_trials(trials, known)
        write_text_atomic(out.path / "trials_voxceleb1_o", "".join(x + "\n" for x in lines))
        report["trials"] = {"source": str(trials), **trial_report}
        if trial_report["unknown_utterance"]:
            log.warning(
                "%d trial(s) name a file that is not in the test split", trial_report["unknown_utterance"]
            )
        if skipped:
            log.warning("skipped %d file(s): %s", sum(skipped.values()), dict(skipped))
        write_json_atomic(out.path / "stats.json", report)


if __name__ == "__main__":
    main()
