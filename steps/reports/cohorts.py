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


def render(results: dict[str, dict[str, Any]], info: dict[str, Any], diff_ci: list[float] | None) -> str:
    """Markdown for the per-method ``results`` of ``discover.run_method``."""
    reps = info["bootstrap"]
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
        "| method | cohorts | bottom cohort(s) | test WER bottom % | test WER rest % "
        "| test WER gap % [95% CI] | test bottom share % | dev WER gap % [95% CI] | dev bottom share % |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m, r in results.items():
        t, d = r["test"], r["dev"]
        lines.append(
            f"| {NAMES.get(m, m)} | {r['n_cohorts']} | {', '.join(r['bottom_labels'])} "
            f"| {pct(t['wer_bottom'])} | {pct(t['wer_rest'])} | {pct(t['gap'])}{ci_suffix(t['ci']['gap'])} "
            f"| {pct(t['share'])} | {pct(d['gap'])}{ci_suffix(d['ci']['gap'])} | {pct(d['share'])} |"
        )
    miss = info["missing_embeddings"]
    lines += [
        "",
        "Definitions (`steps/fairness/metrics.py`): cohort WER = Σ(ins+del+sub) / Σ ref words over the "
        "cohort's utterances; WER gap = (WER_bottom − WER_rest) / WER_rest; bottom share = bottom-"
        "cohort speakers / all speakers the method could place. Bottom cohort: for the tree and "
        f"k-means, the worst cohorts by dev WER until they hold {pct(info['bottom_share'], 0)}% of "
        "dev speakers (at least one); for the geodemographic partition, its higher-WER side. "
        f"Intervals: 95% percentile bootstrap over speakers ({reps} resamples, paired across methods).",
        "",
        f"Speakers without an embedding (left out of the automatic method only, labelled `auto-none`): "
        f"{miss['dev']} dev, {miss['test']} test, {miss['train']} train. "
        f"Speakers without a location (`geo-none`): {results['geo']['unassigned']['test']} test.",
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
        "![Geographic regions of the tree, coloured by dev WER](regions_map.png)",
        "",
        "![WER by cohort, dev and test, 95% CIs](cohort_wer.png)",
        "",
    ]
    return "\n".join(lines)


def write_report(found: Discovery, out: Path) -> None:
    """``out/report.md`` and its two figures (the regions map and the cohort WERs)."""
    from .cohort_plots import cohort_wer, regions_map  # matplotlib only when drawing

    geo = found.geo
    regions_map(found.tables, geo.assign, geo.order, found.results["geo"]["cohorts"], out / "regions_map.png")
    cohort_wer(found.results, out / "cohort_wer.png")
    write_text_atomic(out / "report.md", render(found.results, found.info, found.diff_ci))
