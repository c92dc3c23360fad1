"""Verification trials: a deterministic, balanced generator and Kaldi-format reading/writing.

A trial line is ``enroll_utt test_utt target|nontarget`` (Kaldi's ``trials`` file).  The
generator makes every target pair of the test speakers once and, for each target pair, draws
non-targets for the same enrollment utterance from three strata in turn:

1. same gender and same country (different speaker) — the hard, within-group case that
   per-country and per-gender metrics are computed on;
2. same gender, other country — within-gender, across-country;
3. other gender — the cross-gender non-targets that make up the overall list.

Drawing per target pair keeps every speaker, gender and country represented in proportion to
its targets, so a small country is not swamped by non-targets drawn from the large ones.  A
stratum with no candidate falls through to the next one (counted in the summary).  Same seed
and same cuts give the same file, whatever the order of the cuts.
"""

from __future__ import annotations

import logging
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from steps.utils import FairstreamError, derive_seed

from .groups import UttMeta

log = logging.getLogger(__name__)

STRATA = ("same_gender_same_country", "same_gender_other_country", "cross_gender")


@dataclass(frozen=True)
class Trial:
    enroll: str
    test: str
    target: bool

    def line(self) -> str:
        return f"{self.enroll} {self.test} {'target' if self.target else 'nontarget'}"


@dataclass
class TrialsConf:
    """How many trials to make (``conf/sv/trials.yaml``)."""

    seed: int = 42
    nontargets_per_target: int = 3  # one per stratum by default
    max_targets_per_speaker: int = 0  # 0 = every target pair
    max_draws: int = 20  # attempts to find an unused non-target before falling through


def make_trials(meta: dict[str, UttMeta], conf: TrialsConf) -> tuple[list[Trial], dict[str, object]]:
    """Balanced trials over the utterances in ``meta``; returns (trials, summary counts)."""
    rng = random.Random(derive_seed(conf.seed, "sv-trials"))
    by_spk: dict[str, list[str]] = defaultdict(list)
    for utt in sorted(meta):
        by_spk[meta[utt].speaker].append(utt)
    speakers = sorted(by_spk)
    if len(speakers) < 2:
        raise FairstreamError(f"need at least two speakers for trials, got {len(speakers)}")
    spk_meta = {s: meta[by_spk[s][0]] for s in speakers}

    def pool(s: str, stratum: str) -> list[str]:
        g, c = spk_meta[s].gender, spk_meta[s].country
        out = []
        for o in speakers:
            if o == s:
                continue
            og, oc = spk_meta[o].gender, spk_meta[o].country
            if stratum == "cross_gender" and og != g:
                out.append(o)
            elif stratum == "same_gender_same_country" and og == g and oc == c:
                out.append(o)
            elif stratum == "same_gender_other_country" and og == g and oc != c:
                out.append(o)
        return out

    pools = {s: {k: pool(s, k) for k in STRATA} for s in speakers}
    trials: list[Trial] = []
    used: set[tuple[str, str]] = set()
    counts: Counter[str] = Counter()
    for s in speakers:
        pairs = list(combinations(by_spk[s], 2))
        if conf.max_targets_per_speaker and len(pairs) > conf.max_targets_per_speaker:
            pairs = rng.sample(pairs, conf.max_targets_per_speaker)
        if not pairs:
            counts["speakers_without_targets"] += 1
        for k, (e, t) in enumerate(pairs):
            if rng.random() < 0.5:  # neither side is always the enrollment
                e, t = t, e
            trials.append(Trial(e, t, True))
            counts["target"] += 1
            for j in range(conf.nontargets_per_target):
                wanted = STRATA[(k * conf.nontargets_per_target + j) % len(STRATA)]
                order = [wanted] + [x for x in STRATA if x != wanted]
                for n_fall, stratum in enumerate(order):
                    cand = pools[s][stratum]
                    found = None
                    for _ in range(conf.max_draws if cand else 0):
                        o = rng.choice(cand)
                        u = rng.choice(by_spk[o])
                        key = (min(e, u), max(e, u))
                        if key not in used:
                            found = u
                            break
                    if found is not None:
                        used.add((min(e, found), max(e, found)))
                        trials.append(Trial(e, found, False))
                        counts[stratum] += 1
                        if n_fall:
                            counts["fell_through"] += 1
                        break
                else:
                    counts["nontarget_not_found"] += 1
    n_nt = sum(counts[k] for k in STRATA)
    summary = {
        "speakers": len(speakers),
        "utterances": len(meta),
        "target": counts["target"],
        "nontarget": n_nt,
        **{k: counts[k] for k in STRATA},
        "fell_through": counts["fell_through"],
        "nontarget_not_found": counts["nontarget_not_found"],
        "speakers_without_targets": counts["speakers_without_targets"],
    }
    if counts["target"] == 0 or n_nt == 0:
        raise FairstreamError(f"could not make both target and non-target trials: {summary}")
    return trials, summary


def write_trials(path: Path, trials: list[Trial]) -> None:
    from steps.utils import write_text_atomic

    write_text_atomic(path, "".join(t.line() + "\n" for t in trials))


def read_trials(path: Path) -> list[Trial]:
    """Kaldi trials (``enroll test target|nontarget``); ``1``/``0`` labels are accepted too."""
    path = Path(path)
    if not path.is_file():
        raise FairstreamError(f"trials file {path} does not exist")
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        f = line.split()
        if len(f) != 3 or f[2] not in ("target", "nontarget", "1", "0"):
            raise FairstreamError(f"{path}:{n}: expected 'enroll test target|nontarget', got {line!r}")
        out.append(Trial(f[0], f[1], f[2] in ("target", "1")))
    if not out:
        raise FairstreamError(f"trials file {path} is empty")
    return out


def check_known(trials: list[Trial], known: set[str] | dict) -> tuple[list[Trial], list[Trial]]:
    """Split trials into (usable, naming an unknown utterance); the caller reports the count."""
    ok, bad = [], []
    for t in trials:
        (ok if t.enroll in known and t.test in known else bad).append(t)
    return ok, bad
