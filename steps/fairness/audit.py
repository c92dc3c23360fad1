"""Audit any recogniser: its hypotheses, references and speaker metadata -> stage 7's speaker tables.

The inputs are Kaldi ``text`` files (``utt-id words ...``) of hypotheses and references, or a
decoded CutSet (stage 5's ``cuts_<split>.jsonl.gz``: ``hyp, ref_len, ins, del, sub`` in each
supervision's custom), a metadata CSV (one row per utterance: ``utt``, ``speaker`` and any of
``gender, accent, country, region, lat, lon, zip, zip_*``) and optionally utterance embeddings.
Text is scored here with the project's scorer (``steps.data.scoring.error_counts``, kaldialign);
decoded cuts keep the counts their decode stored.  The result is one ``Speakers`` table per split,
which ``discover.discover`` turns into cohorts exactly as for stage 7.

Dev and test: two sets are taken as given (rules learned on dev, measured on test); one set is
split by speaker at random (seeded) and the report says so.

Bad input, one rule: what contradicts itself stops the step with one line naming the file, the
line and how many (a duplicate id in a file, an utterance or a speaker in both the dev and the
test set, embedding ids that do not match their matrix, a malformed CSV row or number); what is
only incomplete is skipped, counted, logged on one line and listed in the report (an utterance with
a hypothesis but no reference or the reverse, an utterance without a speaker, an empty reference,
an embedding of an utterance the metadata does not know).  A speaker without a location or an
embedding stays in the audit; only the method that needs it cannot place them (``geo-none``,
``auto-none``), as in stage 7, and they are counted too.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from lhotse import load_manifest

from steps.data.scoring import COUNT_KEYS, error_counts, words
from steps.utils import FairstreamError, derive_seed, write_text_atomic

from .config import CohortsConf
from .discover import METHODS, Discovery
from .speakers import EMBEDDING_KEY, Speakers, attach_embeddings, mean_embeddings, speaker_table

log = logging.getLogger(__name__)

UTT, SPEAKER = "utt", "speaker"
TEXT_COLUMNS = (UTT, SPEAKER, "zip")  # never read as numbers ("02139" is a zip code, not 2139)
LOCATION = ("lat", "lon")
EXAMPLES = 5
GEO_NONE = "in no geographic cohort (geo-none)"

Row = tuple[str, str, dict[str, Any], dict[str, int]]  # (utterance, speaker, metadata, counts)


@dataclass
class Skips:
    """Every input record left out or left unplaced: (what, where) -> ids, in the order met."""

    ids: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    effects: dict[str, str] = field(default_factory=dict)

    def add(self, what: str, where: str, item: str, effect: str) -> None:
        self.ids.setdefault((what, where), []).append(item)
        self.effects[what] = effect

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"what": w, "where": at, "count": len(ids), "effect": self.effects[w], "examples": ids[:EXAMPLES]}
            for (w, at), ids in self.ids.items()
        ]

    def log(self) -> None:
        for r in self.rows():
            log.warning(
                "%s: %d %s (%s%s): %s",
                r["where"], r["count"], r["what"], ", ".join(r["examples"]),
                ", ..." if r["count"] > EXAMPLES else "", r["effect"],
            )  # fmt: skip


# ---- readers ------------------------------------------------------------------------------------
def _stop_on_duplicates(path: Path, seen: dict[str, list[int]], what: str = "utterance id") -> None:
    dup = {k: v for k, v in seen.items() if len(v) > 1}
    if dup:
        shown = "; ".join(f"{k} on lines {', '.join(map(str, v))}" for k, v in list(dup.items())[:3])
        raise FairstreamError(f"{path}: {len(dup)} duplicate {what}(s): {shown}")


def read_text(path: Path) -> dict[str, str]:
    """A Kaldi ``text`` file: utterance id -> transcript (an id alone: an empty transcript)."""
    out: dict[str, str] = {}
    seen: dict[str, list[int]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            parts = line.strip().split(maxsplit=1)
            if not parts:
                continue
            seen.setdefault(parts[0], []).append(n)
            out.setdefault(parts[0], parts[1] if len(parts) > 1 else "")
    _stop_on_duplicates(path, seen)
    return out


def _number(path: Path, line: int, col: str, v: str) -> float:
    try:
        x = float(v)
    except ValueError:
        raise FairstreamError(f"{path}:{line}: column {col} holds {v!r}, not a number") from None
    if not math.isfinite(x):
        raise FairstreamError(f"{path}:{line}: column {col} holds {v!r}, not a finite number")
    return x


def _is_number(v: str) -> bool:
    try:
        return math.isfinite(float(v))
    except ValueError:
        return False


def read_metadata(path: Path) -> dict[str, dict[str, Any]]:
    """The metadata CSV: utterance id -> its row (``speaker`` and attributes; empty cells absent).

    ``lat`` and ``lon`` must be numbers; another column is numeric when every filled cell of it
    is a number (the geodemographic search then bins it into dev quantiles), else text.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a spreadsheet's byte-order mark
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        missing = [c for c in (UTT, SPEAKER) if c not in cols]
        if missing:
            raise FairstreamError(
                f"{path}: no column {', '.join(missing)} (header: {', '.join(cols) or 'empty'}); "
                f"the metadata needs one row per utterance with '{UTT}' and '{SPEAKER}'"
            )
        rows: list[tuple[int, dict[str, str]]] = []
        for row in reader:
            n = reader.line_num
            if None in row or any(v is None for v in row.values()):
                raise FairstreamError(f"{path}:{n}: {len(cols)} columns expected")
            rows.append((n, {k: v.strip() for k, v in row.items()}))
    seen: dict[str, list[int]] = {}
    for n, row in rows:
        seen.setdefault(row[UTT], []).append(n)
    _stop_on_duplicates(path, seen)
    numeric = {
        c for c in cols
        if c not in TEXT_COLUMNS and c not in LOCATION
        and any(r[c] for _, r in rows) and all(_is_number(r[c]) for _, r in rows if r[c])
    }  # fmt: skip
    out = {}
    for n, row in rows:
        typed: dict[str, Any] = {}
        for c, v in row.items():
            if c == UTT or not v:
                continue
            typed[c] = _number(path, n, c, v) if c in LOCATION or c in numeric else v
        out[row[UTT]] = typed
    return out


def read_embeddings(paths: list[Path], ids: Path | None, skips: Skips) -> list[tuple[str, np.ndarray]]:
    """(utterance id, embedding) in file order, from CutSets with an ``xvector`` per cut, or from
    one ``.npy`` matrix whose rows are the utterances listed in ``ids`` (one id per line)."""
    npy = [p for p in paths if p.suffix == ".npy"]
    if npy and (len(paths) > 1 or ids is None):
        raise FairstreamError(
            f"{npy[0]}: a .npy matrix comes alone and with --embedding-ids (its row ids, one per line)"
        )
    if ids is not None and not npy:
        raise FairstreamError(f"{ids}: --embedding-ids goes with a .npy matrix in --embeddings")
    out: list[tuple[str, np.ndarray]] = []
    if npy:
        x = np.load(npy[0], allow_pickle=False)
        names, seen = [], {}
        for n, line in enumerate(ids.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                names.append(line.split()[0])
                seen.setdefault(names[-1], []).append(n)
        _stop_on_duplicates(ids, seen)
        if x.ndim != 2 or len(x) != len(names):
            raise FairstreamError(
                f"{npy[0]}: shape {x.shape}, but {ids} lists {len(names)} ids; one row per id expected"
            )
        return list(zip(names, x, strict=True))
    first: dict[str, Path] = {}
    for p in paths:
        for cut in load_manifest(p):
            if cut.id in first:
                raise FairstreamError(f"{p}: cut {cut.id} has an embedding already (in {first[cut.id]})")
            first[cut.id] = p
            if not cut.has_custom(EMBEDDING_KEY):
                skips.add(f"cut without an {EMBEDDING_KEY}", str(p), cut.id, "ignored")
                continue
            out.append((cut.id, cut.load_custom(EMBEDDING_KEY)))
    return out


# ---- scored utterances --------------------------------------------------------------------------
@dataclass
class Utterance:
    """One scored utterance; ``meta`` is None until the metadata is joined."""

    id: str
    counts: dict[str, int]
    meta: dict[str, Any] | None = None


def score_text(hyp_path: Path, ref_path: Path, where: str, skips: Skips, seen: set[str]) -> list[Utterance]:
    """Error counts of every utterance in both files, in reference order (``seen``: every id met)."""
    hyp, ref = read_text(hyp_path), read_text(ref_path)
    seen.update(hyp, ref)
    for u in hyp:
        if u not in ref:
            skips.add("utterance in the hypotheses, not in the references", where, u, "not scored")
    out = []
    for u, r in ref.items():
        if u not in hyp:
            skips.add("utterance in the references, not in the hypotheses", where, u, "not scored")
        elif not words(r):
            skips.add("empty reference", where, u, "not scored (no reference words, no WER)")
        else:
            out.append(Utterance(u, error_counts(r, hyp[u])))
    return out


def read_decoded(path: Path, where: str, skips: Skips, met: set[str]) -> list[Utterance]:
    """The counts a decode stage stored in its cuts (not re-aligned), with the cuts' metadata."""
    out, seen = [], {}
    for n, cut in enumerate(load_manifest(path), start=1):
        seen.setdefault(cut.id, []).append(n)
        met.add(cut.id)
        if len(cut.supervisions) != 1:
            n_sup = len(cut.supervisions)
            raise FairstreamError(f"{path}: cut {cut.id} has {n_sup} supervisions; one expected")
        sup = cut.supervisions[0]
        custom = dict(sup.custom or {})
        if "hyp" not in custom or any(k not in custom for k in COUNT_KEYS):
            raise FairstreamError(
                f"{path}: cut {cut.id} has no decode results (hyp, ref_len, ins, del, sub); "
                "pass a decode stage's cuts"
            )
        counts = {k: int(custom.pop(k)) for k in COUNT_KEYS}
        custom.pop("hyp")
        if counts["ref_len"] == 0:
            skips.add("empty reference", where, cut.id, "not scored (no reference words, no WER)")
            continue
        spk = sup.speaker or custom.get(SPEAKER)
        meta = {**custom, SPEAKER: spk} if spk else custom
        out.append(Utterance(cut.id, counts, meta))
    _stop_on_duplicates(path, seen, "cut id")
    return out


def join_metadata(
    utts: list[Utterance], meta: dict[str, dict[str, Any]] | None, where: str, skips: Skips
) -> list[Row]:
    """One row per utterance that has a speaker; the others are counted."""
    rows = []
    for u in utts:
        m = u.meta if meta is None else meta.get(u.id)
        if not m or not m.get(SPEAKER):
            skips.add("utterance without a speaker in the metadata", where, u.id, "not scored")
            continue
        rows.append((u.id, m[SPEAKER], m, u.counts))
    return rows


def _disagreeing(rows: list[Row], keys: list[str]) -> list[str]:
    """Speakers whose utterances disagree on a location or attribute (their first row is used)."""
    first: dict[str, dict[str, Any]] = {}
    bad: dict[str, None] = {}
    for _, spk, m, _ in rows:
        f = first.setdefault(spk, m)
        if any(f.get(k) != m.get(k) for k in keys):
            bad[spk] = None
    return list(bad)


# ---- dev and test -------------------------------------------------------------------------------
def check_disjoint(rows: dict[str, list[Row]], utts: dict[str, list[Utterance]]) -> None:
    """Two given sets must share neither utterances nor speakers: the test would not be held out."""
    for what, sets in (
        ("utterance", {s: [u.id for u in v] for s, v in utts.items()}),
        ("speaker", {s: [r[1] for r in v] for s, v in rows.items()}),
    ):
        both = sorted(set(sets["dev"]) & set(sets["test"]))
        if both:
            raise FairstreamError(
                f"{len(both)} {what}(s) in both the dev and the test set ({', '.join(both[:3])}): cohorts "
                "would be measured on speakers they were chosen on; give disjoint sets or one set"
            )


def hold_out(rows: list[Row], dev_share: float, seed: int) -> tuple[dict[str, list[Row]], dict[str, Any]]:
    """One set's speakers split at random into dev (``dev_share`` of them) and test."""
    spk = list(dict.fromkeys(r[1] for r in rows))
    if len(spk) < 2:
        raise FairstreamError(f"{len(spk)} speaker(s): holding out test speakers needs at least 2")
    n_dev = min(max(round(dev_share * len(spk)), 1), len(spk) - 1)
    split_seed = derive_seed(seed, "audit dev/test speakers")
    perm = np.random.default_rng(split_seed).permutation(len(spk))
    dev = {spk[i] for i in perm[:n_dev]}
    out = {"dev": [r for r in rows if r[1] in dev], "test": [r for r in rows if r[1] not in dev]}
    info = {"seed": seed, "dev_share": dev_share, "dev_speakers": n_dev, "test_speakers": len(spk) - n_dev}
    return out, info


# ---- the whole input side ----------------------------------------------------------------------
@dataclass
class AuditInputs:
    """What ``discover`` needs, plus what the report says about the inputs."""

    tables: dict[str, Speakers]
    cfg: CohortsConf  # attributes narrowed to those the metadata has
    methods: list[str]
    info: dict[str, Any]
    rows: dict[str, list[Row]]  # split -> scored utterances


def available_methods(
    dev: Speakers, cfg: CohortsConf, has_embeddings: bool, requested: list[str]
) -> tuple[list[str], dict[str, str], list[str]]:
    """The methods the metadata allows (of those asked for), why the others do not run, and the
    configured zip attributes the metadata lacks.  Asking for one that cannot run stops."""
    present = [a for a in cfg.attributes if any(a in row for row in dev.attrs)]
    located = int((np.isfinite(dev.lat) & np.isfinite(dev.lon)).sum())
    embedded = 0 if dev.emb is None else int(np.isfinite(dev.emb).all(axis=1).sum())
    no_auto = None
    if not has_embeddings:
        no_auto = "no speaker embeddings given (--embeddings)"
    elif embedded < 2:
        no_auto = f"only {embedded} dev speaker(s) have an embedding; k-means needs 2"
    why = {
        "geo": None if located else "no dev speaker has a location (lat, lon) in the metadata",
        "geodemo": None if present else f"no zip attribute ({', '.join(cfg.attributes)}) in the metadata",
        "auto": no_auto,
    }
    bad = [f"{m}: {why[m]}" for m in requested if why[m]]
    if bad:
        raise FairstreamError(f"--methods asks for what the inputs cannot give: {'; '.join(bad)}")
    wanted = requested or list(METHODS)
    run = [m for m in METHODS if m in wanted and not why[m]]
    if not run:
        raise FairstreamError("no cohort method can run: " + "; ".join(f"{m}: {why[m]}" for m in METHODS))
    skipped = {m: str(why[m]) for m in METHODS if m in wanted and why[m]}
    skipped.update({m: "not requested (--methods)" for m in METHODS if m not in wanted})
    return run, skipped, [a for a in cfg.attributes if a not in present]


def _where(split: str) -> str:
    return "input" if split == "all" else split


def _read_sets(sets: dict[str, dict[str, Path]], skips: Skips, seen: set[str]) -> dict[str, list[Utterance]]:
    return {
        s: score_text(f["hyp"], f["ref"], _where(s), skips, seen)
        if "hyp" in f
        else read_decoded(f["cuts"], _where(s), skips, seen)
        for s, f in sets.items()
    }


def _embeddings(
    tables: dict[str, Speakers],
    utt2spk: dict[str, str],
    paths: list[Path],
    ids: Path | None,
    skips: Skips,
) -> dict[str, int]:
    """Attach mean speaker embeddings to every table; returns speakers without one per split."""
    known = []
    pairs = read_embeddings(paths, ids, skips)
    speakers = set(utt2spk.values())
    if pairs and not any(u in utt2spk for u, _ in pairs) and any(u in speakers for u, _ in pairs):
        raise FairstreamError(
            f"{ids or paths[0]}: the embedding ids are speaker ids; the audit takes one embedding per "
            "utterance (utterance ids) and averages them per speaker"
        )
    for u, v in pairs:
        if u in utt2spk:
            known.append((utt2spk[u], v))
        else:
            skips.add("embedding of an utterance the metadata does not know", "embeddings", u, "ignored")
    emb = mean_embeddings(known)
    missing = {}
    for s, sp in tables.items():
        missing[s] = attach_embeddings(sp, emb)
        for i in np.flatnonzero(~np.isfinite(sp.emb).all(axis=1)):
            skips.add("speaker without an embedding", s, sp.ids[i], "in no automatic cohort (auto-none)")
    return missing


def load_audit(
    sets: dict[str, dict[str, Path]],
    metadata: Path | None,
    embeddings: list[Path],
    embedding_ids: Path | None,
    cfg: CohortsConf,
    requested: list[str],
    dev_share: float,
) -> AuditInputs:
    """Read, score and check everything.  ``sets``: {"dev": .., "test": ..} or {"all": ..}, each
    {"hyp": path, "ref": path} or {"cuts": path}; ``metadata`` may be None only for cuts."""
    skips = Skips()
    meta = read_metadata(metadata) if metadata is not None else None
    seen: set[str] = set()
    utts = _read_sets(sets, skips, seen)
    rows = {s: join_metadata(u, meta, _where(s), skips) for s, u in utts.items()}
    if meta is not None:
        for u in meta:
            if u not in seen:
                skips.add("metadata row of an utterance not in the audited sets", "metadata", u, "unused")
    if "all" in rows:
        rows, held = hold_out(rows["all"], dev_share, cfg.seed)
        log.info(
            "one set given: its speakers split at random (seed %d) into %d dev and %d test speakers",
            cfg.seed, held["dev_speakers"], held["test_speakers"],
        )  # fmt: skip
    else:
        check_disjoint(rows, utts)
        held = None
    for s, r in rows.items():
        if not r:
            raise FairstreamError(f"{s}: no utterance left to score; every one was skipped (see above)")
        for spk in _disagreeing(r, [*LOCATION, *cfg.attributes]):
            skips.add("speaker whose rows disagree on location or zip attributes", s, spk, "first row used")
    tables = {s: speaker_table((spk, m, c) for _, spk, m, c in r) for s, r in rows.items()}
    info: dict[str, Any] = {"title": "Recogniser audit: the speaker cohorts it serves worst"}
    if embeddings:
        utt2spk = (
            {u: m[SPEAKER] for u, m in meta.items() if m.get(SPEAKER)}
            if meta is not None
            else {u: spk for r in rows.values() for u, spk, _, _ in r}
        )
        info["missing_embeddings"] = _embeddings(tables, utt2spk, embeddings, embedding_ids, skips)
    methods, skipped, absent = available_methods(tables["dev"], cfg, bool(embeddings), requested)
    if "geo" in methods:
        for s, sp in tables.items():
            for i in np.flatnonzero(~(np.isfinite(sp.lat) & np.isfinite(sp.lon))):
                skips.add("speaker without a location (lat, lon)", s, sp.ids[i], GEO_NONE)
    for m, why in skipped.items():
        log.warning("method %s not run: %s", m, why)
    if absent and "geodemo" in methods:
        log.warning("zip attributes not in the metadata, not searched: %s", ", ".join(absent))
    skips.log()
    info.update(
        source=_sources(sets, metadata, embeddings, embedding_ids),
        held_out=held,
        skipped_methods=skipped,
        skipped_inputs=skips.rows(),
        missing_attributes=absent,
    )
    narrowed = replace(cfg, attributes=[a for a in cfg.attributes if a not in absent] or cfg.attributes)
    return AuditInputs(tables, narrowed, methods, info, rows)


def _sources(
    sets: dict[str, dict[str, Path]], metadata: Path | None, embeddings: list[Path], ids: Path | None
) -> dict[str, str]:
    out = {(k if s == "all" else f"{s} {k}"): str(p) for s, f in sets.items() for k, p in f.items()}
    out["metadata"] = str(metadata) if metadata is not None else "from the cuts"
    out["embeddings"] = ", ".join(map(str, embeddings)) + (f" (ids {ids})" if ids else "") or "none"
    return out


# ---- outputs ------------------------------------------------------------------------------------
def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def write_tables(inputs: AuditInputs, found: Discovery, out: Path) -> None:
    """``utterances.csv`` (the per-utterance scores) and ``speakers.csv`` (per speaker: counts, WER,
    and each method's cohort and whether it is the bottom one)."""
    utt = [
        [u, s, spk, *(c[k] for k in COUNT_KEYS)] for s, r in inputs.rows.items() for u, spk, _, c in r
    ]
    write_text_atomic(out / "utterances.csv", _csv([UTT, "split", SPEAKER, *COUNT_KEYS], utt))
    header = [SPEAKER, "split", "utterances", "words", "errors", "wer"]
    for m in found.runs:
        header += [f"{m}_cohort", f"{m}_bottom"]
    spk = []
    for s, sp in found.tables.items():
        labels = {m: run.speaker_labels(sp, s) for m, run in found.runs.items()}
        for i, name in enumerate(sp.ids):
            w = int(sp.words[i])
            row = [name, s, int(sp.utts[i]), w, int(sp.errors[i]), f"{sp.errors[i] / w:.6f}" if w else None]
            for m in found.runs:
                row += [labels[m][name][0], int(labels[m][name][1])]
            spk.append(row)
    write_text_atomic(out / "speakers.csv", _csv(header, spk))
