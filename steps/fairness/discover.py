"""Run the cohort-discovery methods: fit on dev, apply to every split, measure, write.

``discover`` works on in-memory speaker tables (one per split: dev and test, train optional), so
stage 7 (decoded cuts) and the audit of any recogniser (``steps.fairness.audit``: Kaldi text
files) share every number.  For each method M it writes ``M/cohorts.json`` and returns the
summary the report and figures are drawn from; stage 7's ``discover_all`` also writes
``M/cuts_{train,dev,test}.jsonl.gz`` (labelled cuts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from lhotse import CutSet

from steps.data.manifests import load_cuts
from steps.utils import save_manifest_atomic, write_json_atomic

from .automatic import fit_kmeans
from .cohorts import cohort_labels, label_cuts, rank_cohorts, select, speaker_labels
from .config import CohortsConf
from .geodemo import search_partition
from .metrics import bootstrap, gap_stats, paired_difference
from .speakers import Speakers, attach_embeddings, speaker_embeddings, speakers_from_cuts
from .stability import bottom_stability
from .tree import fit_tree

log = logging.getLogger(__name__)

METHODS = ("geo", "geodemo", "auto")
SPLITS = ("train", "dev", "test")
EVAL_SPLITS = ("dev", "test")


def load_inputs(
    decode_dir: Path, fbank_dir: Path, emb_dir: Path
) -> tuple[dict[str, CutSet], dict[str, Speakers], dict[str, int]]:
    """Cuts and speaker tables per split; returns also speakers without embeddings per split."""
    cuts = {"train": load_cuts(fbank_dir, "train")}
    for s in EVAL_SPLITS:
        cuts[s] = load_cuts(decode_dir, s)
    tables = {}
    missing = {}
    for s in SPLITS:
        path = (fbank_dir if s == "train" else decode_dir) / f"cuts_{s}.jsonl.gz"
        tables[s] = speakers_from_cuts(cuts[s], path, scored=s != "train")
        missing[s] = attach_embeddings(tables[s], speaker_embeddings(load_cuts(emb_dir, s)))
    return cuts, tables, missing


def fit_rule(method: str, dev: Speakers, cfg: CohortsConf) -> tuple[Any, dict[str, Any]]:
    """The rule a method learns on dev speakers, plus facts about the fit."""
    if method == "geo":
        rule = fit_tree(dev, cfg.min_speakers_per_region, cfg.max_regions, cfg.max_depth, cfg.seed)
        return rule, {}
    if method == "geodemo":
        rule, d = search_partition(
            dev, cfg.attributes, cfg.min_partition_speakers, cfg.max_conditions, cfg.numeric_bins
        )
        return rule, {"rule": rule.text(), "dev_discrepancy": d, "bins": rule.bins}
    rule, k, info = fit_kmeans(dev, cfg.k, cfg.seed, cfg.k_max, cfg.k_selection, cfg.bottom_share)
    return rule, {"k": k, **info}


def refit(method: str, cfg: CohortsConf, k: int | None) -> Any:
    """``fit_rule`` for the stability resamples, with the automatic method's k held at ``k``."""
    if method == "auto":
        return lambda sp: fit_kmeans(sp, k or cfg.k, cfg.seed, cfg.k_max)[0]
    return lambda sp: fit_rule(method, sp, cfg)[0]


def share_curve(
    order: list[int], assign: dict[str, np.ndarray], tables: dict[str, Speakers], shares: list[float]
) -> list[dict[str, Any]]:
    """The test gap for each setting of the bottom share (distinct selections once each)."""
    out, seen = [], set()
    for s in shares:
        bottom, top = select(order, assign["dev"], s)
        key = (frozenset(bottom), frozenset(top))
        if key in seen:
            continue
        seen.add(key)
        sp, a = tables["test"], assign["test"]
        st = gap_stats(sp.errors, sp.words, np.isin(a, list(bottom)), np.isin(a, list(top)), valid=a >= 0)
        out.append({"setting": s, "n_bottom": len(bottom), "n_top": len(top), **st})
    return out


def _cohort_rows(
    method: str,
    rule: Any,
    order: list[int],
    bottom: set[int],
    top: set[int],
    assign: dict[str, np.ndarray],
    tables: dict[str, Speakers],
    boot: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    desc = rule.describe()
    labels = cohort_labels(method, order)
    rows = []
    for rank, c in enumerate(order, start=1):
        row: dict[str, Any] = {
            "label": labels[c], "rank": rank, "bottom": c in bottom, "top": c in top, "rule": desc[c]
        }  # fmt: skip
        for s in _splits(tables):
            sel = assign[s] == c
            row[f"{s}_speakers"] = int(sel.sum())
            if s in EVAL_SPLITS:
                sp = tables[s]
                st = gap_stats(sp.errors, sp.words, sel, np.zeros_like(sel))
                row[f"{s}_wer"] = st["wer_bottom"]
                row[f"{s}_words"] = st["words_bottom"]
                row[f"{s}_wer_ci"] = boot[s].get("cohorts", {}).get(c)
        rows.append(row)
    return rows


@dataclass
class MethodRun:
    """What cohorts.json holds (``summary``), plus what the figures and paired comparison need."""

    summary: dict[str, Any]
    assign: dict[str, np.ndarray]  # split -> cohort id per speaker (-1 = unplaced)
    order: list[int]  # cohort ids, worst dev WER first
    gap_samples: dict[str, np.ndarray | None]  # split -> bootstrap replicates of the gap
    labels: dict[int, str]  # cohort id -> label
    bottom: set[int]  # bottom cohort ids

    def speaker_labels(self, sp: Speakers, split: str) -> dict[str, tuple[str, bool]]:
        """Speaker -> (cohort label, in the bottom cohort) for one split's table."""
        return speaker_labels(sp, self.assign[split], self.labels, self.bottom, self.summary["method"])


def _splits(tables: dict[str, Speakers]) -> list[str]:
    """The splits present, in SPLITS order (dev and test are required)."""
    missing = [s for s in EVAL_SPLITS if s not in tables]
    if missing:
        raise ValueError(f"speaker tables lack {missing}")
    return [s for s in SPLITS if s in tables]


def run_method(method: str, cfg: CohortsConf, tables: dict[str, Speakers], out: Path) -> MethodRun:
    """Fit, rank, label and measure one method; writes its cohorts.json."""
    splits = _splits(tables)
    rule, info = fit_rule(method, tables["dev"], cfg)
    assign = {s: rule.assign(tables[s]) for s in splits}
    n = len(rule.describe())
    order = rank_cohorts(assign["dev"], tables["dev"], n)
    bottom, top = select(order, assign["dev"], cfg.bottom_share)
    labels = cohort_labels(method, order)
    result: dict[str, Any] = {"method": method, "n_cohorts": n, **info}
    result["bottom_labels"] = [labels[c] for c in order if c in bottom]
    result["top_labels"] = [labels[c] for c in order if c in top]
    result["unassigned"] = {s: int((assign[s] < 0).sum()) for s in splits}
    boot = {}
    for s in EVAL_SPLITS:
        sp, a = tables[s], assign[s]
        is_bottom, is_top = np.isin(a, list(bottom)), np.isin(a, list(top))
        st = gap_stats(sp.errors, sp.words, is_bottom, is_top, valid=a >= 0)
        boot[s] = bootstrap(sp.errors, sp.words, is_bottom, is_top, a, cfg.bootstrap, cfg.seed, valid=a >= 0)
        st["ci"] = {k: boot[s].get(k) for k in ("wer_bottom", "wer_top", "gap")}
        result[s] = st
    result["share_curve"] = share_curve(order, assign, tables, cfg.share_curve)
    result["stability"] = bottom_stability(
        refit(method, cfg, info.get("k")),
        tables["dev"],
        cfg.bottom_share,
        np.isin(assign["dev"], list(bottom)),
        cfg.stability_resamples,
        cfg.seed,
    )
    if "train" in tables:
        result["train_bottom_speakers"] = int(np.isin(assign["train"], list(bottom)).sum())
    result["cohorts"] = _cohort_rows(method, rule, order, bottom, top, assign, tables, boot)
    write_json_atomic(out / method / "cohorts.json", result)
    log.info(
        "%s: %d cohorts, bottom %s; test WER gap %s, share %s; bottom stability (Jaccard) %s",
        method, n, result["bottom_labels"], result["test"]["gap"], result["test"]["share"],
        result["stability"].get("jaccard_mean"),
    )  # fmt: skip
    gaps = {s: boot[s].get("gap_samples") for s in EVAL_SPLITS}
    return MethodRun(result, assign, order, gaps, labels, bottom)


@dataclass
class Discovery:
    """What the cohort report draws on (steps/reports/cohorts.py)."""

    results: dict[str, dict[str, Any]]  # method -> its cohorts.json (the methods that ran)
    info: dict[str, Any]
    diff_ci: list[float] | None  # test gap, automatic minus geodemographic (paired)
    tables: dict[str, Speakers]
    runs: dict[str, MethodRun]

    @property
    def geo(self) -> MethodRun | None:
        return self.runs.get("geo")

    def summary(self) -> str:
        """One line: each method's test gap and bottom share."""
        return "; ".join(
            f"{m}: test gap {_fmt(r['test']['gap'])} share {_fmt(r['test']['share'])}"
            for m, r in self.results.items()
        )


def discover(
    tables: dict[str, Speakers],
    cfg: CohortsConf,
    out: Path,
    info: dict[str, Any],
    methods: tuple[str, ...] | list[str] = METHODS,
) -> Discovery:
    """``methods`` on the same speaker tables: cohorts.json per method and summary.json.

    ``info`` says where the tables came from (it goes into summary.json and the report).
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be a non-empty subset of {METHODS}, got {list(methods)}")
    runs = {m: run_method(m, cfg, tables, out) for m in METHODS if m in methods}
    results = {m: r.summary for m, r in runs.items()}
    a = runs["auto"].gap_samples["test"] if "auto" in runs else None
    g = runs["geodemo"].gap_samples["test"] if "geodemo" in runs else None
    diff = paired_difference(a, g) if a is not None and g is not None else None
    info = {
        **info,
        "speakers": {s: len(tables[s]) for s in _splits(tables)},
        "bottom_share": cfg.bottom_share,
        "bootstrap": cfg.bootstrap,
        "stability_resamples": cfg.stability_resamples,
    }
    write_json_atomic(
        out / "summary.json", {**info, "auto_minus_geodemo_test_gap_ci": diff, "methods": results}
    )
    return Discovery(results, info, diff, tables, runs)


def write_labelled_cuts(found: Discovery, cuts: dict[str, CutSet], out: Path) -> None:
    """``M/cuts_<split>.jsonl.gz``: the input cuts with ``cohort`` and ``cohort_bottom``."""
    for m, run in found.runs.items():
        for s, c in cuts.items():
            labels = run.speaker_labels(found.tables[s], s)
            save_manifest_atomic(label_cuts(c, labels), out / m / f"cuts_{s}.jsonl.gz")


def discover_all(decode_dir: Path, fbank_dir: Path, emb_dir: Path, cfg: CohortsConf, out: Path) -> Discovery:
    """Stage 7: every method on the decoded cuts (labelled cuts and cohorts.json per method, summary.json)."""
    cuts, tables, missing = load_inputs(decode_dir, fbank_dir, emb_dir)
    info = {"decode_dir": str(decode_dir), "embeddings_dir": str(emb_dir), "missing_embeddings": missing}
    found = discover(tables, cfg, out, info)
    write_labelled_cuts(found, cuts, out)
    return found


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"
