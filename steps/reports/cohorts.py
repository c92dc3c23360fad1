"""The "Cohort discovery" markdown fragment (pasted later into RESULTS.md by write_results).

One table compares the three methods in the seed's terms on test (and dev), the metric
definitions follow, and one paragraph says whether the seed's direction held: Dheram et al.
found automatic cohorts with a larger WER gap *and* a larger bottom-cohort share than
geodemographic ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from steps.fairness.discover import Discovery
from steps.utils import write_text_atomic

from .claims import Claim, write_claims
from .format import ci_suffix, pct

# Dheram et al. (Interspeech 2022): automatic vs geodemographic bottom cohorts
SEED = {"auto": {"gap": 0.650, "share": 0.100}, "geodemo": {"gap": 0.417, "share": 0.008}}
NAMES = {
    "geo": "geographic tree (lat, lon)",
    "geodemo": "geodemographic (zip attributes)",
    "auto": "automatic (k-means on embeddings)",
}


def _direction(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "could not be checked"
    return "held" if a > b else "did not hold"


def _stability(st: dict[str, Any]) -> str:
    if not st.get("resamples") or st.get("jaccard_mean") is None:
        return "–"
    return f"{st['jaccard_mean']:.2f}" + (
        f" [{st['jaccard_ci'][0]:.2f}, {st['jaccard_ci'][1]:.2f}]" if st.get("jaccard_ci") else ""
    )


def _held(ci: list[float] | None) -> bool | None:
    """A difference's direction from its interval: None when it covers 0 (or is missing)."""
    if not ci:
        return None
    return True if ci[0] > 0 else False if ci[1] < 0 else None


def claims(results: dict[str, dict[str, Any]], diff_ci: list[float] | None) -> list[Claim]:
    """Dheram et al.'s discovery claim, as two lines: the gap and the bottom-cohort share."""
    a, g = results["auto"]["test"], results["geodemo"]["test"]
    gap_diff = None if a["gap"] is None or g["gap"] is None else a["gap"] - g["gap"]
    return [
        Claim(
            "Geodemographic vs automatic cohorts",
            "automatic cohorts find a larger bottom-vs-top WER gap than geodemographic ones",
            f"{pct(SEED['auto']['gap'])}% vs {pct(SEED['geodemo']['gap'])}%",
            f"{pct(a['gap'])}% vs {pct(g['gap'])}%; difference {pct(gap_diff)}{ci_suffix(diff_ci)} points",
            _held(diff_ci),
            "test speakers, one selection rule for both methods",
        ),
        Claim(
            "Geodemographic vs automatic cohorts",
            "... with a larger bottom-cohort share",
            f"{pct(SEED['auto']['share'])}% vs {pct(SEED['geodemo']['share'])}%",
            f"{pct(a['share'])}% vs {pct(g['share'])}%",
            None if a["share"] is None or g["share"] is None else bool(a["share"] > g["share"]),
            "the share follows from each method's cohorts and the one rule; no interval",
        ),
    ]


def render(results: dict[str, dict[str, Any]], info: dict[str, Any], diff_ci: list[float] | None) -> str:
    """Markdown for the per-method ``results`` of ``discover.run_method``."""
    reps = info["bootstrap"]
    share = pct(info["bottom_share"], 0)
    lines = [
        "## Cohort discovery",
        "",
        f"Decoded system: `{info['decode_dir']}`; embeddings: `{info['embeddings_dir']}`. "
        f"Speakers: {info['speakers']['dev']} dev, {info['speakers']['test']} test, "
        f"{info['speakers']['train']} train. Every method learned its rule on **dev** speakers "
        "(tree leaves over (lat, lon), an attribute partition of zip codes, k-means centroids) and "
        "was applied unchanged to test and train speakers; the cohorts' numbers are **measured on "
        "test**, so selecting the worst cohort on dev does not inflate the test gap. "
        "Dev numbers (where the cohorts were chosen) are shown for comparison.",
        "",
        "| method | cohorts | bottom / top cohort(s) | test WER bottom % | test WER top % "
        "| test WER gap % [95% CI] | test bottom share % | dev WER gap % [95% CI] | dev bottom share % "
        "| bottom stability (Jaccard) [95% CI] |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m, r in results.items():
        t, d = r["test"], r["dev"]
        k = f"{r['n_cohorts']}" + (f" ({r['k_criterion']})" if m == "auto" and "k_criterion" in r else "")
        lines.append(
            f"| {NAMES.get(m, m)} | {k} | {', '.join(r['bottom_labels'])} / {', '.join(r['top_labels'])} "
            f"| {pct(t['wer_bottom'])} | {pct(t['wer_top'])} | {pct(t['gap'])}{ci_suffix(t['ci']['gap'])} "
            f"| {pct(t['share'])} | {pct(d['gap'])}{ci_suffix(d['ci']['gap'])} | {pct(d['share'])} "
            f"| {_stability(r.get('stability', {}))} |"
        )
    miss = info["missing_embeddings"]
    stab = info.get("stability_resamples", 0)
    lines += [
        "",
        "Definitions (`steps/fairness/metrics.py`, `steps/fairness/cohorts.py`): cohort WER = "
        "Σ(ins+del+sub) / Σ ref words over the cohort's utterances; WER gap = (WER_bottom − WER_top) "
        "/ WER_top, bottom against **top** cohort; bottom share = bottom-cohort speakers / all "
        f"speakers the method could place. One selection rule for every method: the bottom (top) "
        f"cohort is the worst (best) cohorts by dev WER until they hold {share}% of dev speakers, never "
        "every cohort, so a binary partition's bottom is its worse side, as large as the partition "
        "makes it. The curve below varies that setting. Intervals: 95% percentile bootstrap over "
        f"speakers ({reps} resamples, paired across methods). Stability: the method refitted on "
        f"{stab} bootstrap resamples of the dev speakers; Jaccard similarity of the refitted bottom "
        "speaker set to the one above (1 = the same speakers every time; `steps/fairness/stability.py`).",
        "",
        f"Speakers without an embedding (left out of the automatic method only, labelled `auto-none`): "
        f"{miss['dev']} dev, {miss['test']} test, {miss['train']} train. "
        f"Speakers without a location (`geo-none`): {results['geo']['unassigned']['test']} test.",
        "",
    ]
    auto = results["auto"]
    if "heldout_gap_by_k" in auto:
        by_k = ", ".join(f"k={k}: {pct(g)}%" for k, g in auto["heldout_gap_by_k"].items())
        lines += [
            "Automatic k chosen by the held-out dev gap (mean over 5 random two-fold splits of the "
            f"dev speakers): {by_k}.",
            "",
        ]
    a, g = results["auto"]["test"], results["geodemo"]["test"]
    lines.append(
        f"Seed (Dheram et al.): automatic cohorts gave a larger WER gap than geodemographic ones "
        f"({pct(SEED['auto']['gap'])}% vs {pct(SEED['geodemo']['gap'])}%) with a larger bottom-cohort "
        f"share ({pct(SEED['auto']['share'])}% vs {pct(SEED['geodemo']['share'])}%). Here on test: gap "
        f"{pct(a['gap'])}% vs {pct(g['gap'])}% (paired difference{ci_suffix(diff_ci) or ' –'} points), "
        f"share {pct(a['share'])}% vs {pct(g['share'])}%. The gap direction "
        f"{_direction(a['gap'], g['gap'])}"
        + (
            " (its interval includes 0, so not significantly)"
            if diff_ci and diff_ci[0] <= 0 <= diff_ci[1]
            else ""
        )
        + f"; the share direction {_direction(a['share'], g['share'])}."
    )
    lines += [
        "",
        "![Test WER gap against the test bottom share, one line per method](share_curve.png)",
        "",
        "![Geographic regions of the tree, coloured by dev WER](regions_map.png)",
        "",
        "![WER by cohort, dev and test, 95% CIs](cohort_wer.png)",
        "",
    ]
    return "\n".join(lines)


def write_report(found: Discovery, out: Path) -> None:
    """``out/report.md``, ``out/claims.json`` and the three figures."""
    from .cohort_plots import cohort_wer, regions_map, share_curve  # matplotlib only when drawing

    geo = found.geo
    regions_map(found.tables, geo.assign, geo.order, found.results["geo"]["cohorts"], out / "regions_map.png")
    cohort_wer(found.results, out / "cohort_wer.png")
    share_curve(found.results, out / "share_curve.png")
    write_claims(out, claims(found.results, found.diff_ci))
    write_text_atomic(out / "report.md", render(found.results, found.info, found.diff_ci))
