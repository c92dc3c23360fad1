"""Evaluation of one or more systems on one trial list: metrics by group, fairness, bootstrap.

Bootstrap intervals resample *speakers* with replacement: a drawn speaker brings every trial it
takes part in (``pair_cluster_indices``), because trials of one speaker are not independent (a
trial resample gave intervals several times too narrow for per-group EERs resting on few
speakers).  Every system is scored on the same resampled trials, so the confidence interval of a
relative change between systems is a paired one.  A replicate in which a group has no target or
no non-target trial leaves that group out of that replicate.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from steps.utils import FairstreamError, derive_seed
from steps.utils.stats import pair_cluster_indices, percentile_interval

from .groups import ATTRIBUTES, UttMeta, fairness, group_masks, group_metrics
from .metrics import check_scores, eer, summary
from .trials import Trial, check_known

log = logging.getLogger(__name__)

HEADLINE = ("eer", "gender_gap", "country_std")


@dataclass
class ScoredTrials:
    """Trials with labels, scores and the metadata of every utterance they name."""

    enroll: list[str]
    test: list[str]
    is_target: np.ndarray
    scores: np.ndarray
    meta: dict[str, UttMeta]

    def masks(self, attribute: str) -> dict[str, np.ndarray]:
        return group_masks(self.enroll, self.test, self.meta, attribute)

    def save(self, path: Path) -> None:
        """TSV ``enroll test target|nontarget score`` plus a JSON sidecar with the metadata."""
        from steps.utils import write_json_atomic, write_text_atomic

        lines = (
            f"{e} {t} {'target' if y else 'nontarget'} {s:.6f}\n"
            for e, t, y, s in zip(self.enroll, self.test, self.is_target, self.scores, strict=True)
        )
        write_text_atomic(path, "".join(lines))
        used = sorted(set(self.enroll) | set(self.test))
        write_json_atomic(path.with_suffix(".meta.json"), {u: vars(self.meta[u]) for u in used})

    @classmethod
    def load(cls, path: Path) -> ScoredTrials:
        path = Path(path)
        if not path.is_file():
            raise FairstreamError(f"scored trials {path} do not exist; run compute_eer first")
        meta = {u: UttMeta(**m) for u, m in json.loads(path.with_suffix(".meta.json").read_text()).items()}
        e, t, y, s = [], [], [], []
        for line in path.read_text().splitlines():
            a, b, lab, sc = line.split()
            e.append(a)
            t.append(b)
            y.append(lab == "target")
            s.append(float(sc))
        return cls(e, t, np.array(y), np.array(s), meta)


def join_scores(
    trials: list[Trial], scores: dict[tuple[str, str], float], meta: dict[str, UttMeta]
) -> tuple[ScoredTrials, dict[str, Any]]:
    """Match trials with scores and metadata; unmatched trials are counted, not hidden."""
    known, unknown = check_known(trials, meta)
    scored = [t for t in known if (t.enroll, t.test) in scores]
    missing = len(known) - len(scored)
    problems = {
        "trials": len(trials),
        "unknown_utterance": len(unknown),
        "unknown_examples": [t.line() for t in unknown[:10]],
        "missing_score": missing,
        "evaluated": len(scored),
    }
    if unknown:
        log.warning("%d trial(s) name an utterance missing from the metadata; not evaluated", len(unknown))
    if missing:
        log.warning("%d trial(s) have no score; not evaluated", missing)
    if not scored:
        raise FairstreamError(f"no trial could be evaluated: {problems}")
    st = ScoredTrials(
        [t.enroll for t in scored],
        [t.test for t in scored],
        np.array([t.target for t in scored]),
        np.array([scores[(t.enroll, t.test)] for t in scored], dtype=np.float64),
        meta,
    )
    return st, problems


def evaluate(
    st: ScoredTrials, p_targets: tuple[float, ...] = (0.01, 0.05), min_group_trials: int = 10
) -> dict[str, Any]:
    """Overall and per-group EER / minDCF, and the fairness summaries.  A group needs at least
    ``min_group_trials`` target and as many non-target trials to be reported at all."""
    check_scores(st.scores, st.is_target, "all trials")
    groups = {}
    for attr in ATTRIBUTES:
        g = group_metrics(st.scores, st.is_target, st.masks(attr), min_group_trials)
        if g:
            groups[attr] = g
    return {
        "overall": summary(st.scores, st.is_target, p_targets),
        "groups": groups,
        "fairness": fairness(groups),
    }


def _headline(scores: np.ndarray, y: np.ndarray, masks: dict[str, dict[str, np.ndarray]]) -> dict[str, float]:
    """Overall EER, gender gap and country std on one (resampled) trial set."""
    out = {"eer": eer(scores, y)}
    per = {}
    for attr in ("gender", "country"):
        vals = {}
        for g, m in masks.get(attr, {}).items():
            yt = y[m]
            if yt.any() and (~yt).any() and np.ptp(scores[m]) > 0:
                vals[g] = {"eer": eer(scores[m], yt)}
        per[attr] = vals
    f = fairness(per)
    out["gender_gap"] = f["gender_gap"] if f["gender_gap"] is not None else np.nan
    out["country_std"] = f["country_std"] if f["country_std"] is not None else np.nan
    return out


def _big_enough(st: ScoredTrials, masks: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    y = st.is_target
    return {g: m for g, m in masks.items() if y[m].sum() >= n and (~y[m]).sum() >= n}


def bootstrap(
    systems: dict[str, np.ndarray],
    st: ScoredTrials,
    n: int,
    seed: int,
    baseline: str | None = None,
    min_group_trials: int = 10,
) -> dict[str, Any]:
    """95% percentile intervals of the headline numbers per system and of relative changes
    against ``baseline``, from ``n`` paired speaker resamples."""
    if n <= 0:
        return {}
    rng = np.random.default_rng(derive_seed(seed, "sv-bootstrap"))
    y = st.is_target
    code: dict[str, int] = {}
    spk_e, spk_t = (
        np.array([code.setdefault(st.meta[u].speaker, len(code)) for u in side], dtype=np.int64)
        for side in (st.enroll, st.test)
    )
    masks = {a: _big_enough(st, st.masks(a), min_group_trials) for a in ("gender", "country")}
    draws: dict[str, dict[str, list[float]]] = {s: {k: [] for k in HEADLINE} for s in systems}
    for _ in tqdm(range(n), desc="bootstrap", unit="rep", leave=False):
        idx = pair_cluster_indices(rng, spk_e, spk_t)
        if not y[idx].any() or y[idx].all():
            continue  # no EER without both kinds (a few drawn speakers only); not a replicate
        m = {a: {g: v[idx] for g, v in d.items()} for a, d in masks.items()}
        for name, sc in systems.items():
            h = _headline(sc[idx], y[idx], m)
            for k in HEADLINE:
                draws[name][k].append(h[k])
    used = len(next(iter(draws.values()))["eer"])
    out: dict[str, Any] = {"replicates": used, "units": "speakers", "systems": {}, "relative_change": {}}
    for name, d in draws.items():
        out["systems"][name] = {k: percentile_interval(v) for k, v in d.items()}
        if baseline is not None and name != baseline:
            rel = {}
            for k in HEADLINE:
                a, b = np.array(d[k]), np.array(draws[baseline][k])
                with np.errstate(divide="ignore", invalid="ignore"):
                    rel[k] = percentile_interval((a - b) / b)
            out["relative_change"][name] = rel
    return out

