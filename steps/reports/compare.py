"""Side-by-side comparison of the transducer architectures: WER per accent, paired bootstrap
confidence intervals (over speakers) against the reference architecture, a WER-vs-RTF plot, and
the encoder FLOPs that ``asr.py``'s table shows.

Reads only finished decode directories (``exp/decode/<model>_<method>/``: ``metrics.json``,
``cuts_test.jsonl.gz``, ``config.yaml`` naming the model directory); any subset of models works.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from steps.utils.stats import (
    Interval,
    paired_ratio_difference,
    percentile_interval,
    stratified_counts,
    unit_totals,
)

from .claims import Claim

log = logging.getLogger(__name__)


@dataclass
class Decode:
    """One finished decode directory, reduced to what the comparison needs."""

    path: Path
    model: str  # the directory name without its ``_<method>`` suffix
    method: str
    model_dir: Path
    metrics: dict[str, Any]
    utts: dict[str, tuple[int, int, str, str]]  # test cut id -> (errors, reference words, accent, speaker)
    dev_utts: dict[str, tuple[int, int, str, str]] = field(default_factory=dict)  # the same for dev

    @property
    def test_wer(self) -> float | None:
        return self.metrics.get("test", {}).get("wer")

    @property
    def rtf(self) -> float | None:
        return (self.metrics.get("test") or self.metrics.get("dev") or {}).get("rtf")


def utterance_errors(path: Path) -> dict[str, tuple[int, int, str, str]]:
    """Supervision id -> (errors, reference words, accent, speaker) of a decode's ``cuts_<split>``
    manifest; {} when it does not exist."""
    if not path.is_file():
        return {}
    from lhotse import load_manifest

    out = {}
    for cut in load_manifest(path):
        for sup in cut.supervisions:
            c = sup.custom or {}
            if "ref_len" in c:
                errs = int(c.get("ins", 0)) + int(c.get("del", 0)) + int(c.get("sub", 0))
                out[sup.id] = (errs, int(c["ref_len"]), str(c.get("accent") or "unknown"), str(sup.speaker))
    return out


def load_decodes(exp_dir: Path, subdir: str = "decode", split: str = "test") -> list[Decode]:
    """Every finished ``exp_dir/<subdir>/*`` with a metrics.json, sorted by name; ``utts`` are
    those of ``cuts_<split>`` (``dev_utts`` always dev's)."""
    decodes = []
    for m in sorted((exp_dir / subdir).glob("*/metrics.json")):
        d = m.parent
        if not (d / ".done").is_file():
            continue
        metrics = json.loads(m.read_text())
        method = str(next(iter(metrics.values()), {}).get("method", ""))
        cfg = yaml.safe_load((d / "config.yaml").read_text()) if (d / "config.yaml").is_file() else {}
        model = d.name.removesuffix(f"_{method}") if method else d.name
        decodes.append(
            Decode(
                d,
                model,
                method,
                Path((cfg or {}).get("model_dir", "")),
                metrics,
                utterance_errors(d / f"cuts_{split}.jsonl.gz"),
                utterance_errors(d / "cuts_dev.jsonl.gz"),
            )
        )
    return decodes


def encoder_flops(model_dir: Path) -> float | None:
    """Encoder FLOPs per second of audio, from the ``model_info.json`` training wrote (None for a
    model trained before it did: reports never rebuild a model from its config)."""
    p = model_dir / "model_info.json"
    if not p.is_file():
        log.warning("%s has no model_info.json: no FLOP count", model_dir)
        return None
    return json.loads(p.read_text()).get("encoder_flops_per_second")


def accent_counts(utts: dict[str, tuple[int, int, str, str]]) -> tuple[dict[str, int], dict[str, int]]:
    """Errors and reference words per accent of a decode's utterances."""
    errs: dict[str, int] = defaultdict(int)
    words: dict[str, int] = defaultdict(int)
    for e, n, a, _ in utts.values():
        errs[a] += e
        words[a] += n
    return errs, words


def accent_wers(errs: dict[str, int], words: dict[str, int]) -> dict[str, float]:
    """WER (%) per accent from :func:`accent_counts` (accents with reference words)."""
    return {a: 100 * errs[a] / words[a] for a in words if words[a]}


def accent_table(decodes: list[Decode]) -> list[str]:
    """Test WER (%) per accent, one row per decode; empty when no decode carries accents."""
    with_utts = [d for d in decodes if d.utts]
    accents = sorted({u[2] for d in with_utts for u in d.utts.values()})
    if not accents:
        return []
    lines = [
        "| model | search | " + " | ".join(accents) + " | native English | worst − best | worst / best |",
        "|---|---|" + "---|" * (len(accents) + 3),
    ]
    for d in with_utts:
        errs, words = accent_counts(d.utts)
        wers = accent_wers(errs, words)
        cells = [f"{wers[a]:.2f}" if a in wers else "–" for a in accents]
        native = [a for a in wers if is_native_english(a)]
        n_words = sum(words[a] for a in native)
        cells.append(f"{100 * sum(errs[a] for a in native) / n_words:.2f}" if n_words else "–")
        gap = f"{max(wers.values()) - min(wers.values()):.2f}" if wers else "–"
        best = min(wers.values(), default=0.0)
        ratio = f"{max(wers.values()) / best:.1f}" if wers and best > 0 else "–"
        lines.append(f"| {d.model} | {d.method} | " + " | ".join(cells) + f" | {gap} | {ratio} |")
    return lines


def is_native_english(accent: str) -> bool:
    """Accent labels of native-English voices start with ``en-`` (e.g. en-us, en-gb-rp,
    en-caribbean); second-language accents are ``<l1>-en`` (e.g. es-en)."""
    return accent.startswith("en-")


VERDICTS = {1: "worse", -1: "better", 0: "no significant difference"}


@dataclass(frozen=True)
class Comparison:
    """One model's test WER against the reference's with the same search: difference and CI (abs. %)."""

    model: str
    method: str
    utterances: int
    speakers: int
    diff: float
    lo: float
    hi: float

    @property
    def verdict(self) -> str:
        return VERDICTS[(self.lo > 0) - (self.hi < 0)]


def claim_verdict(comparisons: list[Comparison], reference: str) -> str:
    """One sentence on the claim that ``reference`` beats the others."""
    better = sorted({c.model for c in comparisons if c.verdict == VERDICTS[-1]})
    same = sorted({c.model for c in comparisons if c.verdict == VERDICTS[0]})
    if better:
        tie = f"; {', '.join(same)} not significantly different" if same else ""
        return (
            f"**{reference} does not win here**: {', '.join(better)} is significantly better with at least "
            f"one search{tie}. All models had the same data, updates, optimiser and decoding; only the model "
            "block differs and none was tuned on its own (conf/train/<model>.yaml)."
        )
    if same:
        return f"{reference} is not significantly better than {', '.join(same)} with at least one search."
    return f"{reference} is significantly better than every other model with every search."


def compare_to_reference(decodes: list[Decode], reference: str, num_samples: int = 1000) -> list[Comparison]:
    """Test-WER difference (abs. %) of each model against ``reference`` (same search), with a paired
    95% interval over test speakers (:mod:`steps.utils.stats`).  A decode of other test utterances
    is not compared (logged), never silently intersected."""
    refs = {d.method: d for d in decodes if d.model == reference and d.utts}
    out = []
    for d in decodes:
        ref = refs.get(d.method)
        if ref is None or d is ref or not d.utts:
            continue
        if set(ref.utts) != set(d.utts):
            log.warning("%s and %s decoded different test utterances: not compared", d.path, ref.path)
            continue
        ids = sorted(d.utts)
        speakers = [ref.utts[i][3] for i in ids]
        iv = paired_ratio_difference(
            [ref.utts[i][0] for i in ids], [d.utts[i][0] for i in ids], [ref.utts[i][1] for i in ids],
            speakers, replicates=num_samples,
        )  # fmt: skip
        if iv.low is None or iv.high is None:
            continue
        out.append(Comparison(d.model, d.method, len(ids), len(set(speakers)),
                              100 * iv.estimate, 100 * iv.low, 100 * iv.high))  # fmt: skip
    return out


CLAIM_METHOD = "modified_beam_lm"  # the search the later stages decode with


def compare_claims(exp_dir: Path, reference: str = "convrnnt") -> list[Claim]:
    """One line per other architecture: does ``reference`` (ConvRNN-T, Radfar et al. 2022) have a
    lower test WER with the search the later stages use (or any search, if that one is missing)?"""
    comparisons = compare_to_reference(load_decodes(exp_dir), reference)
    methods = {c.method for c in comparisons}
    method = CLAIM_METHOD if CLAIM_METHOD in methods else min(methods, default=None)
    held = {VERDICTS[1]: True, VERDICTS[-1]: False, VERDICTS[0]: None}
    return [
        Claim(
            "ConvRNN-T",
            f"{reference} has a lower WER than {c.model} (streaming, same size and budget)",
            "lower WER than LSTM RNN-T, Conformer and ContextNet",
            f"{c.model} − {reference}: {c.diff:+.2f} [{c.lo:+.2f}, {c.hi:+.2f}] abs. % ({c.method})",
            held[c.verdict],
            "test speakers, paired bootstrap",
        )
        for c in comparisons
        if c.method == method
    ]


def bootstrap_table(comparisons: list[Comparison], reference: str) -> list[str]:
    """The comparisons as a markdown table (empty when there are none)."""
    if not comparisons:
        return []
    return [
        f"| model | search | utterances | speakers | test WER − {reference} (abs. %) | 95% CI | |",
        "|---|---|---|---|---|---|---|",
        *(f"| {c.model} | {c.method} | {c.utterances} | {c.speakers} | {c.diff:+.2f} "
          f"| [{c.lo:+.2f}, {c.hi:+.2f}] | {c.verdict} |" for c in comparisons),
    ]  # fmt: skip


def wer_rtf_plot(decodes: list[Decode], path: Path) -> bool:
    """Scatter of test WER against RTF, one labelled point per decode; False if nothing to plot."""
    points = [
        (d.rtf, d.test_wer, d.path.name) for d in decodes if d.rtf is not None and d.test_wer is not None
    ]
    if not points:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for rtf, wer, name in points:
        ax.scatter(rtf, wer)
        ax.annotate(name, (rtf, wer), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("real-time factor (1 core, streaming)")
    ax.set_ylabel("test WER (%)")
    ax.set_title("Streaming transducers: accuracy vs speed")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def held_out_accent_ratio(
    dev: dict[str, tuple[int, int, str, str]],
    test: dict[str, tuple[int, int, str, str]],
    replicates: int = 1000,
    seed: int = 0,
) -> tuple[str, str, float, float, Interval] | None:
    """The worst and best accents by dev WER, their test WERs, and the ratio of those with an
    interval that resamples test speakers within each of the two accents.

    The ratio of the extremes picked on the split that is measured is biased upwards: among many
    accents whose WERs rest on a few speakers it takes the unluckiest and the luckiest.  Picking on
    dev and measuring on test is not.  None without both accents in both splits."""
    on_dev = accent_wers(*accent_counts(dev))
    if len(on_dev) < 2:
        return None
    worst = max(on_dev, key=lambda a: (on_dev[a], a))
    best = min(on_dev, key=lambda a: (on_dev[a], a))
    rows = [u for u in test.values() if u[2] in (worst, best)]
    if {u[2] for u in rows} != {worst, best}:
        return None
    _, (e, n, w) = unit_totals(
        [
            np.array([u[0] for u in rows]),
            np.array([u[1] for u in rows]),
            np.array([u[2] == worst for u in rows]),
        ],
        [u[3] for u in rows],
    )
    is_worst = w > 0
    m = stratified_counts(is_worst.astype(np.int64), replicates, seed)

    def ratio(ew: np.ndarray, nw: np.ndarray, eb: np.ndarray, nb: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(
                (nw > 0) & (nb > 0) & (eb > 0), (ew / nw) / np.where(eb > 0, eb / nb, 1.0), np.nan
            )

    tw, tb = 100 * e[is_worst].sum() / n[is_worst].sum(), 100 * e[~is_worst].sum() / n[~is_worst].sum()
    point = tw / tb if tb > 0 else float("nan")
    reps = ratio(m[:, is_worst] @ e[is_worst], m[:, is_worst] @ n[is_worst],
                 m[:, ~is_worst] @ e[~is_worst], m[:, ~is_worst] @ n[~is_worst])  # fmt: skip
    ci = percentile_interval(reps)
    return worst, best, float(tw), float(tb), Interval(float(point), *(ci or (None, None)))


def held_out_ratio_row(
    d: Decode, pick: dict[str, tuple[int, int, str, str]], measure: dict[str, tuple[int, int, str, str]]
) -> str | None:
    """A table row of :func:`held_out_accent_ratio` (accents picked on ``pick``, measured on
    ``measure``) for decode ``d``; None when it is undefined."""
    r = held_out_accent_ratio(pick, measure) if pick and measure else None
    if r is None:
        return None
    worst, best, tw, tb, iv = r
    ci = f"[{iv.low:.1f}, {iv.high:.1f}]" if iv.low is not None and iv.high is not None else "–"
    return f"| {d.model} | {d.method} | {worst} | {best} | {tw:.2f} | {tb:.2f} | {iv.estimate:.1f} {ci} |"


def held_out_accent_table(decodes: list[Decode]) -> list[str]:
    """One row per decode with dev and test accents: :func:`held_out_accent_ratio`."""
    lines = [row for d in decodes if (row := held_out_ratio_row(d, d.dev_utts, d.utts))]
    if not lines:
        return []
    head = [
        "| model | search | worst on dev | best on dev | worst's test WER | best's test WER "
        "| test worst / best [95% CI] |",
        "|---|---|---|---|---|---|---|",
    ]
    return head + lines


def compare_section(
    exp_dir: Path, fig_dir: Path, md_dir: Path | None = None, reference: str = "convrnnt"
) -> str | None:
    """Markdown comparing the decoded models, each against the ``reference`` model (the claim
    under test; ``run.sh --compare-reference``); None when nothing is decoded."""
    decodes = load_decodes(exp_dir)
    if not decodes:
        return None
    parts = ["## Architecture comparison", ""]
    acc = accent_table(decodes)
    if acc:
        parts += ["Test WER (%) per accent:", "", *acc, ""]
    held = held_out_accent_table(decodes)
    if held:
        utts = next(d.utts for d in decodes if d.utts)
        per_accent: dict[str, set[str]] = defaultdict(set)
        for _, _, a, spk in utts.values():
            per_accent[a].add(spk)
        few = min(len(v) for v in per_accent.values())
        parts += [
            f"The worst / best column above picks both accents on the split it measures: among "
            f"{len(per_accent)} accents whose test WERs rest on {few}+ speakers each, it takes the "
            f"unluckiest and the luckiest, which inflates the ratio most where WERs are a few percent.  "
            f"Below, the worst and best accents are picked on dev and measured on test (interval: test "
            f"speakers resampled within each of the two accents):",
            "",
            *held,
            "",
        ]
    comparisons = compare_to_reference(decodes, reference)
    boot = bootstrap_table(comparisons, reference)
    if boot:
        parts += [
            f"Paired bootstrap over test speakers (1000 resamples; a speaker's utterances are "
            f"correlated, so resampling utterances would give too narrow intervals) of each model's WER "
            f"minus {reference}'s with the same search; positive = worse than {reference}.",
            "",
            *boot,
            "",
            claim_verdict(comparisons, reference),
            "",
        ]
    png = fig_dir / "asr_wer_vs_rtf.png"
    if wer_rtf_plot(decodes, png):
        rel = png.relative_to(md_dir) if md_dir is not None and png.is_relative_to(md_dir) else png
        parts += [f"![test WER vs RTF]({rel})", ""]
    return "\n".join(parts)
