"""Word error counts and Kaldi/icefall-style WER reports (intervals: :mod:`steps.utils.stats`).

Per-utterance counts (``ref_len``, ``ins``, ``del``, ``sub``) are what decoding stores in the
supervisions of its output CutSet; everything else (WER of a cohort, confidence intervals,
paired comparisons of two systems) is computed from them, never from re-aligned text.
Library functions return fractions; report files and ``metrics.json`` print percentages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import kaldialign
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
