"""The stage-9 report: the CCA Transformer against the dense and sliding-window Transformers
(compute, wall clock, skip rates by accent and SNR, WER) as tables, the comparison at equal
compute, whether skipping depends on difficulty, the paper's claim, a trade-off plot and the
RESULTS.md section."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from steps.utils import atomic_path
from steps.utils.stats import Interval, group_ratio_difference, paired_ratio_difference

from .claims import Claim
from .compare import is_native_english
from .format import DASH, ci_suffix, pct, signed_pct

# what bench_cca records per utterance of a split (plus "errors", "ref_words" from the decode)
UTTERANCE_COLUMNS = ("id", "speaker", "accent", "snr_bin", "flops", "dense_flops")
PAPER_SAVING = 0.60  # Xie et al. (Interspeech 2022): about 60% less compute ...
PAPER_REL_WER = 0.03  # ... for a 3% relative WER increase
ABOUT = 0.05  # "about 60%": a saving within 5 points of it
EQUAL_COMPUTE_GAP = 0.10  # two variants further apart than this in compute saved are not compared as equal
FLAT = 0.001  # a 5th-95th percentile spread of the per-utterance skipped share below this: no response


def snr_bin_order(name: str) -> float:
    """Sort key of the SNR bins of ``steps.bench_cca.snr_bin`` ("<0", "0-10", ..., ">=30", "unknown")."""
    if name == "unknown":
        return float("inf")
    if name.startswith("<"):
        return float("-inf")
    return float(name.removeprefix(">=").split("-")[0])


def _pct(x: float | None, signed: bool = False) -> str:
    """A fraction in % with one decimal; ``signed``: with its sign, without the % (a table column)."""
    return signed_pct(x).removesuffix("%") if signed else pct(x)


def format_tables(results: dict[str, Any], reference: str) -> str:
    """The main table, then skip rates per accent and per SNR bin (gated models only)."""
    lines = [
        f"| model | kind | split | utts | enc MFLOPs/s | compute saved vs {reference} (%) "
        "| enc ms/s audio | time saved (%) | MHA skipped (%) | FFN skipped (%) | WER (%) "
        f"| rel. WER change vs {reference} (%) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, model in results.items():
        for split, m in model["splits"].items():
            wer = m.get("wer")
            lines.append(
                f"| {name} | {model['kind']} | {split} | {m['utts']} | {m['flops_per_second'] / 1e6:.1f} "
                f"| {_pct(m.get('compute_saved'))} | {m['wall_ms_per_second']:.2f} "
                f"| {_pct(m.get('wall_saved'))} | {_pct(m['skip_mha'])} | {_pct(m['skip_ffn'])} "
                f"| {'–' if wer is None else f'{wer:.2f}'} | {_pct(m.get('rel_wer_change'), signed=True)} |"
            )
    for key, title in (("per_accent", "accent"), ("per_snr", "SNR bin (dB)")):
        gated = [
            (n, s, m) for n, mod in results.items() if mod["kind"] == "cca" for s, m in mod["splits"].items()
        ]
        order = snr_bin_order if key == "per_snr" else str
        groups = sorted({g for _, _, m in gated for g in m[key]}, key=order)
        if not gated or not groups:
            continue
        lines += [
            "",
            f"Skipped MHA / FFN frame-blocks (%) per {title}:",
            "",
            "| model | split | " + " | ".join(groups) + " |",
            "|---|---|" + "---:|" * len(groups),
        ]
        for name, split, m in gated:
            cells = []
            for g in groups:
                s = m[key].get(g)
                cells.append("–" if s is None else f"{_pct(s['skip_mha'])} / {_pct(s['skip_ffn'])}")
            lines.append(f"| {name} | {split} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---- comparisons over utterances -----------------------------------------------------------
def closest_in_compute(results: dict[str, Any], split: str, kind: str, target: float) -> str | None:
    """The model of ``kind`` whose compute saved on ``split`` is closest to ``target`` (a
    fraction); the first in ``results`` order on a tie; None when no such model was measured."""
    best: tuple[float, str] | None = None
    for name, model in results.items():
        m = model["splits"].get(split)
        if model["kind"] != kind or m is None or m.get("compute_saved") is None:
            continue
        gap = abs(m["compute_saved"] - target)
        if best is None or gap < best[0]:
            best = (gap, name)
    return None if best is None else best[1]


def paired_wer_change(a: dict[str, Any], b: dict[str, Any], relative: bool = False) -> Interval | None:
    """B's WER against A's on one split (paired, speakers resampled): B − A, or B / A − 1 with
    ``relative``; None unless both have every utterance's errors, for the same utterances."""
    ua, ub = a.get("utterances") or {}, b.get("utterances") or {}
    ids = ua.get("id")
    errs_a, errs_b, words = ua.get("errors"), ub.get("errors"), ua.get("ref_words")
    if not ids or ids != ub.get("id") or errs_a is None or errs_b is None or words is None:
        return None
    if None in errs_a or None in errs_b:
        return None
    return paired_ratio_difference(errs_a, errs_b, words, ua["speaker"], relative=relative)


def _rel_wer(m: dict[str, Any]) -> str:
    return f"{signed_pct(m.get('rel_wer_change'))}{ci_suffix(m.get('rel_wer_ci'))}"


def equal_compute_lines(results: dict[str, Any], split: str) -> list[str]:
    """Each CCA variant against the sliding-window variant closest to it in compute saved: their
    relative WER changes and the paired WER difference (empty without both kinds)."""
    rows = []
    for name, model in results.items():
        m = model["splits"].get(split)
        if model["kind"] != "cca" or m is None or m.get("compute_saved") is None:
            continue
        other = closest_in_compute(results, split, "sliding_window", m["compute_saved"])
        if other is None:
            continue
        w = results[other]["splits"][split]
        gap = abs(w["compute_saved"] - m["compute_saved"])
        iv = paired_wer_change(w, m)  # CCA − window
        if iv is None or iv.low is None or iv.high is None:
            diff, verdict = DASH, "no per-utterance errors"
        else:
            diff = f"{100 * iv.estimate:+.2f} [{100 * iv.low:+.2f}, {100 * iv.high:+.2f}]"
            verdict = {1: "CCA worse", -1: "CCA better", 0: "no significant difference"}[
                (iv.low > 0) - (iv.high < 0)
            ]
        if gap > EQUAL_COMPUTE_GAP:
            verdict += f"; not at equal compute ({100 * gap:.0f} points apart)"
        rows.append(
            f"| {name} | {pct(m['compute_saved'])} | {_rel_wer(m)} | {other} | {pct(w['compute_saved'])} "
            f"| {_rel_wer(w)} | {diff} | {verdict} |"
        )
    if not rows:
        return []
    return [
        f"At equal compute ({split}): each CCA variant against the sliding-window variant closest to it "
        "in compute saved (`closest_in_compute`); relative WER changes are against the reference with "
        "paired 95% intervals over speakers; the last columns are the paired WER difference CCA − window.",
        "",
        "| CCA | compute saved (%) | rel. WER change [95% CI] | closest sliding window | compute saved (%) "
        "| rel. WER change [95% CI] | WER CCA − window (abs. %) [95% CI] | |",
        "|---|---:|---|---|---:|---|---|---|",
        *rows,
    ]


def _dependence(iv: Interval, factor: str, b: str, a: str) -> str:
    """Words for a difference of the skipped compute share, group B − group A, with its interval."""
    if iv.low is None or iv.high is None:
        return f"{b} − {a}: {100 * iv.estimate:+.1f} points, too few speakers for an interval"
    span = f"{b} − {a}: {100 * iv.estimate:+.1f} points [{100 * iv.low:+.1f}, {100 * iv.high:+.1f}]"
    if iv.low > 0 or iv.high < 0:
        more = "more" if iv.estimate > 0 else "less"
        return f"{span}, so skipping **depends on {factor}** ({b} utterances skip {more})"
    return f"{span}, so no evidence that skipping depends on {factor} (the interval covers 0)"


def difficulty_lines(results: dict[str, Any], split: str) -> list[str]:
    """Per CCA variant: the share of its own dense compute an utterance skips, its spread over
    utterances, and whether it differs between the noisiest and cleanest SNR bins and between
    second-language and native accents (speaker-resampled intervals)."""
    lines = []
    for name, model in results.items():
        u = (model["splits"].get(split) or {}).get("utterances")
        if model["kind"] != "cca" or not u or not u.get("id"):
            continue
        dense = np.asarray(u["dense_flops"], dtype=np.float64)
        skipped = dense - np.asarray(u["flops"], dtype=np.float64)
        share = skipped / dense
        lo, hi = np.percentile(share, [5, 95])
        text = (
            f"- **{name}**: utterances skip {pct(skipped.sum() / dense.sum())}% of the encoder's dense "
            f"compute (5th–95th percentile over utterances {pct(lo)}–{pct(hi)}%)"
        )
        if hi - lo < FLAT:
            text += "; every utterance skips the same share: the arbitrators do not respond to the input"
        bins = sorted({b for b in u["snr_bin"] if b != "unknown"}, key=snr_bin_order)
        if len(bins) >= 2:
            noisy, clean = bins[0], bins[-1]
            iv = group_ratio_difference(
                skipped, dense, [b == clean for b in u["snr_bin"]], [b == noisy for b in u["snr_bin"]],
                u["speaker"],
            )  # fmt: skip
            text += f". SNR {_dependence(iv, 'SNR', f'{noisy} dB', f'{clean} dB')}"
        native = [is_native_english(a) for a in u["accent"]]
        if any(native) and not all(native):
            iv = group_ratio_difference(skipped, dense, native, [not n for n in native], u["speaker"])
            text += f". Accent {_dependence(iv, 'accent', 'second-language', 'native English')}"
        lines.append(text + ".")
    if not lines:
        return []
    return [
        f"Does skipping depend on difficulty ({split})? Skipped share = 1 − counted FLOPs / FLOPs of the "
        "same encoder with every block on, summed over a group's utterances; differences in points with "
        "95% intervals resampling speakers. Harder input getting more compute shows as the noisier or "
        "second-language group skipping less.",
        "",
        *lines,
    ]


def cca_claim(results: dict[str, Any], reference: str, split: str) -> Claim:
    """The paper's operating point, tested on the CCA variant closest to it in compute saved: held
    when that variant saves at least about 60% and its relative WER change is surely ≤ 3%; not
    held when it saves at most about 60% and its change is surely > 3%."""
    claim = Claim(
        system="CCA Transformer",
        claim="about 60% less encoder compute at ≤3% relative WER degradation",
        paper="−60% compute, +3% rel. WER (T-T, LibriSpeech)",
        ours="no CCA variant measured",
        held=None,
    )
    name = closest_in_compute(results, split, "cca", PAPER_SAVING)
    if name is None:
        return claim
    m = results[name]["splits"][split]
    saved, ci = m["compute_saved"], m.get("rel_wer_ci")
    search = results[name].get("search") or "search unknown"
    ours = f"{name}: {pct(saved)}% compute saved, {_rel_wer(m)} rel. {split} WER ({search}) vs {reference}"
    if convergence_note(results, reference):
        return Claim(
            **{**claim.__dict__, "ours": ours, "note": f"the reference {reference} is not converged"}
        )
    if ci is None:
        return Claim(**{**claim.__dict__, "ours": ours, "note": "no per-utterance errors: no interval"})
    held: bool | None = None
    if saved >= PAPER_SAVING - ABOUT and ci[1] <= PAPER_REL_WER:
        held = True
    elif saved <= PAPER_SAVING + ABOUT and ci[0] > PAPER_REL_WER:
        held = False
    note = ""
    if held is None:
        note = (
            f"no CCA variant saved about {pct(PAPER_SAVING, 0)}%"
            if abs(saved - PAPER_SAVING) > ABOUT
            else f"the interval covers {pct(PAPER_REL_WER, 0)}%"
        )
    return replace(claim, ours=ours, held=held, note=note)


def analysis_sections(results: dict[str, Any], reference: str, split: str) -> str:
    """The comparison at equal compute, the difficulty analysis and the claim, as markdown."""
    parts: list[str] = []
    for block in (equal_compute_lines(results, split), difficulty_lines(results, split)):
        if block:
            parts += [*block, ""]
    c = cca_claim(results, reference, split)
    parts.append(
        f"Claim ({c.claim}; paper: {c.paper}): {c.verdict()} — {c.ours}"
        + (f" ({c.note})." if c.note else ".")
    )
    return "\n".join(parts)


def plot_tradeoff(results: dict[str, Any], reference: str, split: str, path: Path) -> bool:
    """Relative WER change (with its 95% interval) against compute saved, one point per variant,
    CCA and sliding-window on the same axes, and the paper's operating point; False if no WERs."""
    points = [
        (name, mod["kind"], mod["splits"][split])
        for name, mod in results.items()
        if split in mod["splits"] and mod["splits"][split].get("rel_wer_change") is not None
    ]
    if not points:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = {"cca": ("o", "tab:blue", "CCA"), "sliding_window": ("s", "tab:orange", "sliding window")}
    fig, ax = plt.subplots(figsize=(6, 4.2))
    seen: set[str] = set()
    for name, kind, m in points:
        marker, color, label = style.get(kind, ("*", "black", "dense"))
        if name == reference:
            marker, color, label = "*", "black", f"reference ({reference})"
        x, y = 100 * m["compute_saved"], 100 * m["rel_wer_change"]
        ci = m.get("rel_wer_ci")
        yerr = None if not ci else [[y - 100 * ci[0]], [100 * ci[1] - y]]
        ax.errorbar(x, y, yerr=yerr, fmt=marker, color=color, ms=7, capsize=3,
                    label=None if label in seen else label)  # fmt: skip
        seen.add(label)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.scatter(100 * PAPER_SAVING, 100 * PAPER_REL_WER, marker="x", color="tab:red", s=60,
               label="paper's claim (other data)")  # fmt: skip
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel(f"encoder compute saved vs {reference} (%)")
    ax.set_ylabel(f"relative {split} WER change (%), 95% CI")
    ax.set_title("CCA vs sliding-window attention")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return True


UNCONVERGED_WER = 50.0  # a reference above this recognises little: its relative WER changes say nothing


def convergence_note(results: dict[str, Any], reference: str) -> str:
    """A plain warning when the reference recogniser is far from usable: skipping encoder work then
    costs little WER because the encoder contributes little, not because the arbitrators are good."""
    wers = {s: m.get("wer") for s, m in results[reference]["splits"].items() if m.get("wer") is not None}
    bad = {s: w for s, w in wers.items() if w >= UNCONVERGED_WER}
    if not bad:
        return ""
    shown = ", ".join(f"{s} {w:.1f}%" for s, w in sorted(bad.items()))
    return (
        f"**The reference `{reference}` is not converged** (WER {shown}): at this accuracy the encoder "
        "adds little over the text prior, so switching its blocks off costs little WER and the arbitrators "
        "learn to skip almost everything. The compute and wall-clock columns measure the mechanism; the "
        "WER columns do not test the seed's accuracy claim."
    )


BASELINES = (
    "Baselines: `window_W` is the same Transformer with an attention window of W frames; "
    "`window_W_drop_M_F` is also statically pruned (no MHA in its top M layers, no FFN in its top F). "
    "A window only removes attention scores and weighted values, 4D per key of a layer's "
    "8D² + 4D(W + 1) + 4DF FLOPs per frame, so a window alone saves little (the `window_W` rows); to meet "
    "CCA at its compute the baseline removes whole sub-blocks, the same for every frame (input-independent "
    "pruning at equal compute, which is what CCA's per-frame arbitrators must beat)."
)


def report_fragment(
    command: str, settings: str, tables: str, plot: str | None, note: str = "", analysis: str = ""
) -> str:
    """The benchmark as a RESULTS.md section (steps/write_results.py pastes ``exp/*/report.md``)."""
    from steps.reports.machine import describe

    parts = [
        "## CCA Transformer: per-frame skipping vs sliding-window attention",
        "",
        f"`{command}` on {describe()}. Encoder only, one utterance at a time, eval mode (skipped "
        "sub-blocks are not computed). MFLOPs/s = 2 × multiply-adds of the matmuls the applied gates "
        "need, per second of audio (attention over the kept keys actually visible); ms/s = measured "
        "encoder wall-clock per second of audio; skipped = fraction of (frame, sub-block) pairs "
        "switched off by the arbitrators.",
        "",
        BASELINES,
        "",
        settings,
        "",
        tables,
        "",
    ]
    if note:
        parts += [note, ""]
    if analysis:
        parts += [analysis, ""]
    if plot:
        parts += [f"![relative WER increase vs compute saved]({plot})", ""]
    return "\n".join(parts)
