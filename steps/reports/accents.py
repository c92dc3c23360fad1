"""Accents: a real effect or speaker noise?  A permutation test of the per-accent WERs, and the
per-accent table of the larger held-out speaker set.

The accent table of the comparison section rests on 8 speakers per accent, and at WERs of a few
percent a handful of utterances decides an accent's WER.  Two things make that measurable:

* shuffling the accent labels over the speakers (each keeps its utterances) gives what the
  accent WERs look like when the accent makes no difference; the share of shuffles whose spread
  is at least the observed one is the p-value, and the worst/best ratio of the same shuffles says
  how large the ratio of the extremes is from speakers alone;
* stage 5 also decodes the verification set's speakers (``cuts_sv``: held out from training,
  2.5 times as many per accent) with the baseline into ``exp/decode_sv``; the worst and best
  accents picked on test are measured there, so picking and measuring never share speakers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from steps.utils.errors import FairstreamError
from steps.utils.stats import permutation_p_value, permuted_group_totals, unit_totals

from .compare import Decode, accent_table, held_out_ratio_row, load_decodes

HELD_OUT_SPLIT = "sv"  # the held-out speakers stage 5 decodes with the baseline (exp/decode_<split>)
PERMUTATIONS = 2000


def accent_spread(errs: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Word-weighted standard deviation of the accent WERs relative to the overall WER (the
    coefficient of variation; last axis = accents).  Accents with more words count more, so a
    rare accent's noisy WER does not dominate."""
    with np.errstate(divide="ignore", invalid="ignore"):
        wer = np.where(words > 0, errs / np.where(words > 0, words, 1), 0.0)
        overall = errs.sum(-1, keepdims=True) / words.sum(-1, keepdims=True)
        var = (words * (wer - overall) ** 2).sum(-1) / words.sum(-1)
        return np.sqrt(var) / overall[..., 0]


def extremes_ratio(errs: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Worst / best accent WER (last axis = accents); inf where the best accent has no errors."""
    wer = errs / words
    with np.errstate(divide="ignore"):
        return wer.max(-1) / wer.min(-1)


@dataclass(frozen=True)
class AccentEffect:
    """The accent WERs of one decode against their speaker-permutation null."""

    speakers: int
    min_per_accent: int  # speakers of the smallest accent
    spread: float  # :func:`accent_spread` of the real labels
    p_value: float  # share of shuffles with a spread at least as large (counting the real one)
    ratio: float  # worst / best accent WER
    null_ratio: tuple[float, float, float]  # worst / best of the shuffles: median, 2.5%, 97.5%


def accent_effect(
    utts: dict[str, tuple[int, int, str, str]], permutations: int = PERMUTATIONS, seed: int = 0
) -> AccentEffect | None:
    """Permutation test of ``utts`` (cut id -> errors, words, accent, speaker), shuffling accents
    over speakers; None with fewer than two accents.  A speaker with two accents is an error."""
    accent: dict[str, str] = {}
    for _, _, a, spk in utts.values():
        if accent.setdefault(spk, a) != a:
            raise FairstreamError(f"speaker {spk} has utterances of two accents ({accent[spk]}, {a})")
    if len(set(accent.values())) < 2:
        return None
    rows = list(utts.values())
    errs, words = (np.array([u[i] for u in rows]) for i in (0, 1))
    speakers, (e, n) = unit_totals([errs, words], [u[3] for u in rows])  # per speaker, sorted
    labels = [accent[str(s)] for s in speakers]
    _, (obs_e, obs_n) = unit_totals([e, n], labels)
    _, (null_e, null_n) = permuted_group_totals([e, n], labels, permutations, seed)
    null_ratio = np.sort(extremes_ratio(null_e, null_n))
    q = [null_ratio[int(round(f * (len(null_ratio) - 1)))] for f in (0.5, 0.025, 0.975)]
    spread = float(accent_spread(obs_e, obs_n))
    return AccentEffect(
        len(speakers),
        min(Counter(labels).values()),
        spread,
        permutation_p_value(spread, accent_spread(null_e, null_n)),
        float(extremes_ratio(obs_e, obs_n)),
        (float(q[0]), float(q[1]), float(q[2])),
    )


def _ratio_text(x: float) -> str:
    return f"{x:.1f}" if np.isfinite(x) else "∞"


def _p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def effect_rows(decodes: list[Decode], split: str) -> list[str]:
    """One table row per decode with accents: :func:`accent_effect` of its ``split`` utterances."""
    rows = []
    for d in decodes:
        eff = accent_effect(d.utts) if d.utts else None
        if eff is None:
            continue
        med, lo, hi = (_ratio_text(x) for x in eff.null_ratio)
        rows.append(
            f"| {d.model} | {d.method} | {split} | {eff.speakers} ({eff.min_per_accent}+ per accent) "
            f"| {100 * eff.spread:.0f}% | {_p_text(eff.p_value)} | {_ratio_text(eff.ratio)} "
            f"| {med} [{lo}, {hi}] |"
        )
    return rows


def picked_on_test_rows(tests: list[Decode], held: list[Decode]) -> list[str]:
    """Worst and best accents picked on the test split and measured on the held-out set, for each
    held-out decode whose model and search were also decoded on test."""
    by_key = {(d.model, d.method): d for d in tests if d.utts}
    rows = []
    for h in held:
        t = by_key.get((h.model, h.method))
        row = held_out_ratio_row(h, t.utts, h.utts) if t is not None else None
        rows += [row] if row else []
    return rows


def accents_section(exp_dir: Path, split: str = HELD_OUT_SPLIT) -> str | None:
    """Markdown: the permutation test of every decode's test accents and of the held-out set's,
    that set's per-accent WERs, and the extremes picked on test and measured there; None when
    nothing decoded carries accents."""
    tests = load_decodes(exp_dir)
    held = load_decodes(exp_dir, f"decode_{split}", split)
    rows = effect_rows(tests, "test") + effect_rows(held, f"held-out ({split})")
    if not rows:
        return None
    parts = [
        "## Accents: effect or speaker noise?",
        "",
        f"Each accent's WER rests on a few speakers, and at WERs of a few percent one badly recognised "
        f"utterance moves it by a point or more. Below, the accent labels are shuffled over the speakers "
        f"({PERMUTATIONS} permutations; a speaker keeps its utterances): *spread* is the word-weighted "
        f"standard deviation of the accent WERs relative to the overall WER, *p* the share of shuffles "
        f"with at least the observed spread (small: the accents differ by more than their speakers do), "
        f"and the last column the worst / best ratio the shuffles give, i.e. the ratio of the extremes "
        f"when the accent makes no difference at all.",
        "",
        "| model | search | split | speakers | spread | p | worst / best | worst / best, accents shuffled: "
        "median [95%] |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    table = accent_table(held)
    if table:
        spk = {u[3] for h in held for u in h.utts.values()}
        parts += [
            f"WER (%) per accent on the {len(spk)} held-out speakers of the `{split}` split (never "
            f"trained on; stage 5 decodes them with the baseline; no choice of this report is made on them):",
            "",
            *table,
            "",
        ]
    picked = picked_on_test_rows(tests, held)
    if picked:
        parts += [
            "The worst and best accents picked on test and measured on the held-out speakers (so the pick "
            "does not inflate the ratio; interval: held-out speakers resampled within each of the two "
            "accents):",
            "",
            "| model | search | worst on test | best on test | worst's held-out WER | best's held-out WER "
            "| held-out worst / best [95% CI] |",
            "|---|---|---|---|---|---|---|",
            *picked,
            "",
        ]
    return "\n".join(parts)
