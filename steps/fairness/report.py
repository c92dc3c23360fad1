"""The "Cohort discovery" markdown fragment (pasted later into RESULTS.md by write_results).

One table compares the three methods in the seed's terms on test (and dev), the metric
definitions follow, and one paragraph says whether the seed's direction held: Dheram et al.
found automatic cohorts with a larger WER gap *and* a larger bottom-cohort share than
geodemographic ones.
"""

from __future__ import annotations

from typing import Any

# Dheram et al. (Interspeech 2022): automatic vs geodemographic bottom cohorts
SEED = {"auto": {"gap": 0.650, "share": 0.100}, "geodemo": {"gap": 0.417, "share": 0.008}}
NAMES = {
    "geo": "geographic tree (lat, lon)",
    "geodemo": "geodemographic (zip attributes)",
    "auto": "automatic (k-means on embeddings)",
}


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}"


def _ci(ci: list[float] | None, digits: int = 1) -> str:
    return "" if not ci else f" [{100 * ci[0]:.{digits}f}, {100 * ci[1]:.{digits}f}]"


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
            f"| {_pct(t['wer_bottom'])} | {_pct(t['wer_rest'])} | {_pct(t['gap'])}{_ci(t['ci']['gap'])} "
            f"| {_pct(t['share'])} | {_pct(d['gap'])}{_ci(d['ci']['gap'])} | {_pct(d['share'])} |"
        )
    miss = info["missing_embeddings"]
    lines += [
        "",
        "Definitions (`steps/fairness/metrics.py`): cohort WER = Σ(ins+del+sub) / Σ ref words over the "
        "cohort's utterances; WER gap = (WER_bottom − WER_rest) / WER_rest; bottom share = bottom-"
        "cohort speakers / all speakers the method could place. Bottom cohort: for the tree and "
        f"k-means, the worst cohorts by dev WER until they hold {_pct(info['bottom_share'], 0)}% of "
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
        f"({_pct(SEED['auto']['gap'])}% vs {_pct(SEED['geodemo']['gap'])}%) with a larger bottom-cohort "
        f"share ({_pct(SEED['auto']['share'])}% vs {_pct(SEED['geodemo']['share'])}%). Here on test: gap "
        f"{_pct(a['gap'])}% vs {_pct(g['gap'])}% (paired difference{_ci(diff_ci) or ' –'} points), "
        f"share {_pct(a['share'])}% vs {_pct(g['share'])}%. The gap direction "
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
