"""Word error counts, Kaldi/icefall-style WER reports and bootstrap confidence intervals.

Per-utterance counts (``ref_len``, ``ins``, ``del``, ``sub``) are what decoding stores in the
supervisions of its output CutSet; everything else (WER of a cohort, confidence intervals,
paired comparisons of two systems) is computed from them, never from re-aligned text.
Library functions return fractions; report files and ``metrics.json`` print percentages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import kaldialign
import numpy as np
from lhotse import CutSet

from steps.data.text import normalize_text
from steps.utils import FairstreamError, write_text_atomic

EPS = "*"
COUNT_KEYS = ("ref_len", "ins", "del", "sub")


def words(text: str) -> list[str]:
    """The scoring view of a transcript: normalised, split on spaces."""
    return normalize_text(text).split()


def align_words(ref: str, hyp: str) -> list[tuple[str, str]]:
    """Minimum-edit alignment of ``ref`` and ``hyp`` words; ``EPS`` marks a gap."""
    return kaldialign.align(words(ref), words(hyp), EPS)


def _counts(ali: Sequence[tuple[str, str]], ref_len: int) -> dict[str, int]:
    ins = sum(1 for r, _ in ali if r == EPS)
    dele = sum(1 for _, h in ali if h == EPS)
    sub = sum(1 for r, h in ali if r != EPS and h != EPS and r != h)
    return {"ref_len": ref_len, "ins": ins, "del": dele, "sub": sub}


def error_counts(ref: str, hyp: str) -> dict[str, int]:
    """Insertions, deletions and substitutions of ``hyp`` against ``ref`` (one alignment)."""
    return _counts(align_words(ref, hyp), len(words(ref)))


def num_errors(c: Mapping[str, int]) -> int:
    return int(c["ins"]) + int(c["del"]) + int(c["sub"])


def totals(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    out = dict.fromkeys(COUNT_KEYS, 0)
    for c in counts:
        for k in COUNT_KEYS:
            out[k] += int(c[k])
    return out


def wer(counts: Iterable[Mapping[str, int]]) -> float:
    """Corpus WER (a fraction): all errors over all reference words, not a mean of utterances."""
    t = totals(counts)
    errs = num_errors(t)
    if t["ref_len"] == 0:
        return 0.0 if errs == 0 else float("inf")
    return errs / t["ref_len"]


# ---- per-utterance results carried in decoded CutSets ------------------------------------
@dataclass(frozen=True)
class UttResult:
    """What a decode stage stores per utterance (supervision ``custom``), plus the reference."""

    id: str
    ref: str
    hyp: str
    counts: dict[str, int]


def results_from_cuts(cuts: CutSet) -> list[UttResult]:
    """The per-utterance results of a decoded CutSet, in file order."""
    out = []
    for c in cuts:
        s = c.supervisions[0]
        custom = s.custom or {}
        if "hyp" not in custom:
            raise FairstreamError(f"cut {c.id} carries no 'hyp'; is this a decode stage's output?")
        out.append(UttResult(c.id, s.text or "", custom["hyp"], {k: int(custom[k]) for k in COUNT_KEYS}))
    return out


# ---- report files --------------------------------------------------------------------------
def wer_line(counts: Iterable[Mapping[str, int]]) -> str:
    """Kaldi's ``%WER 12.34 [ 123 / 1000, 10 ins, 20 del, 93 sub ]``."""
    t = totals(counts)
    return (
        f"%WER {100 * wer([t]):.2f} [ {num_errors(t)} / {t['ref_len']}, "
        f"{t['ins']} ins, {t['del']} del, {t['sub']} sub ]"
    )


def write_wer_file(path: Path, results: Sequence[UttResult]) -> None:
    """Kaldi ``compute-wer`` style summary: WER, sentence error rate, number scored."""
    counts = [r.counts for r in results]
    wrong = sum(1 for c in counts if num_errors(c) > 0)
    ser = 100 * wrong / len(counts) if counts else 0.0
    text = (
        f"{wer_line(counts)}\n%SER {ser:.2f} [ {wrong} / {len(counts)} ]\nScored {len(counts)} sentences.\n"
    )
    write_text_atomic(path, text)


def write_recogs_file(path: Path, results: Sequence[UttResult]) -> None:
    """icefall's ``recogs-*.txt``: reference and hypothesis words per utterance, sorted by id."""
    lines = []
    for r in sorted(results, key=lambda r: r.id):
        lines.append(f"{r.id}:\tref={words(r.ref)}")
        lines.append(f"{r.id}:\thyp={words(r.hyp)}")
    write_text_atomic(path, "\n".join(lines) + "\n")


def write_errs_file(path: Path, results: Sequence[UttResult]) -> None:
    """icefall's ``errs-*.txt``: totals, per-utterance alignments, then the commonest errors."""
    subs: Counter[tuple[str, str]] = Counter()
    ins: Counter[str] = Counter()
    dels: Counter[str] = Counter()
    per_word: dict[str, list[int]] = {}  # word -> [correct, errors, in ref, in hyp]
    utt_lines = []
    for r in sorted(results, key=lambda r: r.id):
        ali = align_words(r.ref, r.hyp)
        shown = []
        for a, b in ali:
            if a == b:
                shown.append(a)
                per_word.setdefault(a, [0, 0, 0, 0])[0] += 1
            else:
                shown.append(f"({a}->{b})")
                if a == EPS:
                    ins[b] += 1
                elif b == EPS:
                    dels[a] += 1
                else:
                    subs[(a, b)] += 1
                for w in (a, b):
                    if w != EPS:
                        per_word.setdefault(w, [0, 0, 0, 0])[1] += 1
            if a != EPS:
                per_word.setdefault(a, [0, 0, 0, 0])[2] += 1
            if b != EPS:
                per_word.setdefault(b, [0, 0, 0, 0])[3] += 1
        utt_lines.append(f"{r.id}:\t{' '.join(shown)}")
    t = totals(r.counts for r in results)
    correct = t["ref_len"] - t["sub"] - t["del"]
    out = [
        f"%WER = {100 * wer([t]):.2f}",
        f"Errors: {t['ins']} insertions, {t['del']} deletions, {t['sub']} substitutions, "
        f"over {t['ref_len']} reference words ({correct} correct)",
        "Search below for sections starting with PER-UTT DETAILS:, SUBSTITUTIONS:, DELETIONS:, "
        "INSERTIONS:, PER-WORD STATS:",
        "",
        "PER-UTT DETAILS: corr or (ref->hyp)",
        *utt_lines,
        "",
        "SUBSTITUTIONS: count ref -> hyp",
        *(f"{n}   {a} -> {b}" for (a, b), n in _most_common(subs)),
        "",
        "DELETIONS: count ref",
        *(f"{n}   {w}" for w, n in _most_common(dels)),
        "",
        "INSERTIONS: count hyp",
        *(f"{n}   {w}" for w, n in _most_common(ins)),
        "",
        "PER-WORD STATS: word  corr tot_errs count_in_ref count_in_hyp",
        *(
            f"{w}   {c} {e} {nr} {nh}"
            for w, (c, e, nr, nh) in sorted(per_word.items(), key=lambda kv: (-kv[1][1], kv[0]))
        ),
    ]
    write_text_atomic(path, "\n".join(out) + "\n")


def _most_common(counter: Counter) -> list[tuple]:
    """By count, ties broken alphabetically, so reports are byte-stable."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def write_reports(out_dir: Path, split: str, results: Sequence[UttResult]) -> dict[str, float | int]:
    """``wer-``, ``errs-`` and ``recogs-<split>.txt``; returns the split's totals for metrics."""
    write_wer_file(out_dir / f"wer-{split}.txt", results)
    write_errs_file(out_dir / f"errs-{split}.txt", results)
    write_recogs_file(out_dir / f"recogs-{split}.txt", results)
    t = totals(r.counts for r in results)
    return {
        "wer": round(100 * wer([t]), 2),
        "num_utts": len(results),
        "num_words": t["ref_len"],
        "errors": num_errors(t),
        "ins": t["ins"],
        "del": t["del"],
        "sub": t["sub"],
    }


# ---- bootstrap confidence intervals --------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile-bootstrap interval (fractions, not percent)."""

    estimate: float
    low: float
    high: float
    prob_below_zero: float | None = None  # paired deltas: share of resamples where B beats A

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def _arrays(counts: Sequence[Mapping[str, int]]) -> tuple[np.ndarray, np.ndarray]:
    if len(counts) == 0:
        raise FairstreamError("bootstrap needs at least one utterance")
    errs = np.array([num_errors(c) for c in counts], dtype=np.int64)
    refs = np.array([int(c["ref_len"]) for c in counts], dtype=np.int64)
    return errs, refs


def _resampled_sums(columns: Sequence[np.ndarray], n: int, seed: int, block: int = 200) -> list[np.ndarray]:
    """Sums of each column over ``n`` resamples (with replacement) of the utterances.

    The same resampled utterance indices are used for every column, which is what makes a
    comparison "paired".  Resamples are drawn in blocks to bound memory on large test sets.
    """
    rng = np.random.default_rng(seed)
    size = len(columns[0])
    out: list[list[np.ndarray]] = [[] for _ in columns]
    for start in range(0, n, block):
        idx = rng.integers(0, size, size=(min(block, n - start), size))
        for o, col in zip(out, columns, strict=True):
            o.append(col[idx].sum(axis=1))
    return [np.concatenate(o) for o in out]


def _ratio(errs: np.ndarray, refs: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(refs > 0, errs / np.maximum(refs, 1), 0.0)


def bootstrap_wer_ci(
    counts: Sequence[Mapping[str, int]], n: int = 1000, seed: int = 0, confidence: float = 0.95
) -> Interval:
    """Corpus WER with a percentile-bootstrap interval over utterances (Bisani & Ney, 2004)."""
    errs, refs = _arrays(counts)
    e, r = _resampled_sums([errs, refs], n, seed)
    samples = _ratio(e, r)
    lo, hi = np.quantile(samples, [(1 - confidence) / 2, (1 + confidence) / 2])
    return Interval(float(_ratio(errs.sum(), refs.sum())), float(lo), float(hi))


def paired_bootstrap_delta(
    counts_a: Sequence[Mapping[str, int]],
    counts_b: Sequence[Mapping[str, int]],
    n: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval:
    """WER(B) - WER(A) on the same utterances, with a paired-bootstrap interval.

    ``prob_below_zero`` is the share of resamples where B has the lower WER (the "probability
    of improvement"); an interval that excludes zero means a significant difference.
    """
    if len(counts_a) != len(counts_b):
        raise FairstreamError(
            f"paired bootstrap needs the same utterances: {len(counts_a)} vs {len(counts_b)}"
        )
    ea, ra = _arrays(counts_a)
    eb, rb = _arrays(counts_b)
    if not np.array_equal(ra, rb):
        bad = int(np.flatnonzero(ra != rb)[0])
        raise FairstreamError(
            f"paired bootstrap needs the same references: utterance {bad} has {ra[bad]} vs {rb[bad]} words"
        )
    sa, sb, sr = _resampled_sums([ea, eb, ra], n, seed)
    deltas = _ratio(sb, sr) - _ratio(sa, sr)
    lo, hi = np.quantile(deltas, [(1 - confidence) / 2, (1 + confidence) / 2])
    estimate = float(_ratio(eb.sum(), ra.sum()) - _ratio(ea.sum(), ra.sum()))
    return Interval(estimate, float(lo), float(hi), float(np.mean(deltas < 0)))
