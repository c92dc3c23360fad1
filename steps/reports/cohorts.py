"""The "Cohort discovery" markdown fragment (pasted later into RESULTS.md by write_results).

One table compares the methods in the seed's terms on test (and dev), the metric definitions
follow, and one paragraph says whether the seed's direction held: Dheram et al. found automatic
cohorts with a larger WER gap *and* a larger bottom-cohort share than geodemographic ones.

The audit of any recogniser (``steps.audit``) writes the same fragment for the methods its
metadata allows; its ``info`` adds the inputs, how dev and test were formed, the methods skipped
and why, the inputs skipped with their counts, and a table of each method's cohorts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from steps.fairness.discover import Discovery
from steps.utils import write_text_atomic

from .claims import Claim, write_claims
from .format import DASH, ci_suffix, pct

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


def claims(
    results: dict[str, dict[str, Any]], diff_ci: list[float] | None, skipped: dict[str, str] | None = None
) -> list[Claim]:
    """Dheram et al.'s discovery claim, as two lines: the gap and the bottom-cohort share
    (undecided, with the reason, when either method did not run)."""
    absent = [m for m in ("auto", "geodemo") if m not in results]
    if absent:
        why = "; ".join(f"{m} not run: {(skipped or {}).get(m, 'not requested')}" for m in absent)
        return [
            Claim("Geodemographic vs automatic cohorts", c, p, DASH, None, why)
            for c, p in (
                (
                    "automatic cohorts find a larger bottom-vs-top WER gap than geodemographic ones",
                    f"{pct(SEED['auto']['gap'])}% vs {pct(SEED['geodemo']['gap'])}%",
                ),
                (
                    "... with a larger bottom-cohort share",
                    f"{pct(SEED['auto']['share'])}% vs {pct(SEED['geodemo']['share'])}%",
                ),
            )
        ]
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


RULES = {
    "geo": "tree leaves over (lat, lon)",
    "geodemo": "an attribute partition of zip codes",
    "auto": "k-means centroids",
}


def _sources(info: dict[str, Any], methods: list[str]) -> list[str]:
    """The opening paragraph: what was measured and how dev and test were formed."""
    sp = info["speakers"]
    rules = ", ".join(RULES[m] for m in methods)
    if "source" not in info:  # stage 7
        return [
            f"Decoded system: `{info['decode_dir']}`; embeddings: `{info['embeddings_dir']}`. "
            f"Speakers: {sp['dev']} dev, {sp['test']} test, "
            f"{sp['train']} train. Every method learned its rule on **dev** speakers "
            f"({rules}) and "
            "was applied unchanged to test and train speakers; the cohorts' numbers are **measured on "
            "test**, so selecting the worst cohort on dev does not inflate the test gap. "
            "Dev numbers (where the cohorts were chosen) are shown for comparison."
        ]
    src = info["source"]
    held = info.get("held_out")
    if held:
        split = (
            f"One set was given, so the audit **held out speakers itself**: a random split of its "
            f"{sp['dev'] + sp['test']} speakers (seed {held['seed']}, dev share "
            f"{pct(held['dev_share'], 0)}%) "
            f"put {sp['dev']} in dev and {sp['test']} in test. Another seed gives another split and, "
            "with few speakers, possibly other cohorts; give two sets (`--dev-*` and `--test-*`) to "
            "fix the split yourself."
        )
    else:
        split = f"Dev and test were given as two sets: {sp['dev']} dev and {sp['test']} test speakers."
    inputs = "; ".join(f"{k}: `{v}`" for k, v in src.items())
    return [
        f"Audited recogniser ({inputs}). {split} Every method learned its rule on **dev** speakers "
        f"({rules}) and was applied unchanged to test speakers; the cohorts' numbers are **measured "
        "on test**, so selecting the worst cohort on dev does not inflate the test gap. Dev numbers "
        "(where the cohorts were chosen) are shown for comparison."
    ]


def _unplaced(results: dict[str, dict[str, Any]], info: dict[str, Any]) -> list[str]:
    parts = []
    if "auto" in results:
        miss = info["missing_embeddings"]
        counts = ", ".join(f"{miss[s]} {s}" for s in ("dev", "test", "train") if s in miss)
        parts.append(
            "Speakers without an embedding (left out of the automatic method only, labelled "
            f"`auto-none`): {counts}."
        )
    if "geo" in results:
        n = results["geo"]["unassigned"]["test"]
        parts.append(f"Speakers without a location (`geo-none`): {n} test.")
    return [" ".join(parts), ""] if parts else []


def _box(rule: dict[str, Any]) -> str:
    """``lo < lat ≤ hi``-style bounds of a tree leaf, unbounded sides left out."""
    parts = []
    for dim in ("lat", "lon"):
        lo, hi = rule["box"][dim]
        if lo is not None and hi is not None:
            parts.append(f"{lo} < {dim} ≤ {hi}")
        elif lo is not None:
            parts.append(f"{dim} > {lo}")
        elif hi is not None:
            parts.append(f"{dim} ≤ {hi}")
    return ", ".join(parts) or "everywhere"


def _rule_text(method: str, rule: dict[str, Any]) -> str:
    if method == "geo":
        return _box(rule)
    if method == "geodemo":
        return str(rule["rule"]).replace("|", "/")
    return f"centroid {rule['centroid']} ({rule['dev_speakers_fit']} dev speakers at the fit)"


def cohort_tables(results: dict[str, dict[str, Any]]) -> list[str]:
    """One table per method: every cohort with its rule, speakers and WER [95% CI] on dev and test."""
    lines = ["### Cohorts", "", "Ranked by dev WER (1 = worst); intervals resample speakers.", ""]
    for m, r in results.items():
        lines += [
            f"{NAMES.get(m, m)}:",
            "",
            "| cohort | selected | rule | dev speakers | test speakers | dev WER % [95% CI] "
            "| test WER % [95% CI] |",
            "|---|---|---|---:|---:|---:|---:|",
        ]
        for c in r["cohorts"]:
            sel = "bottom" if c["bottom"] else "top" if c["top"] else ""
            lines.append(
                f"| {c['label']} | {sel} | {_rule_text(m, c['rule'])} | {c['dev_speakers']} "
                f"| {c['test_speakers']} | {pct(c['dev_wer'])}{ci_suffix(c['dev_wer_ci'])} "
                f"| {pct(c['test_wer'])}{ci_suffix(c['test_wer_ci'])} |"
            )
        lines.append("")
    return lines


def skipped_inputs(skipped: list[dict[str, Any]]) -> list[str]:
    """Every input record left out or left unplaced, with its count (nothing is dropped silently)."""
    lines = ["### Inputs skipped", ""]
    if not skipped:
        return [*lines, "None: every utterance was scored and every speaker placed.", ""]
    lines += ["| what | where | count | effect | first ids |", "|---|---|---:|---|---|"]
    for k in skipped:
        lines.append(
            f"| {k['what']} | {k['where']} | {k['count']} | {k['effect']} | {', '.join(k['examples'])} |"
        )
    return [*lines, ""]


def _seed_paragraph(
    results: dict[str, dict[str, Any]], diff_ci: list[float] | None, info: dict[str, Any]
) -> str:
    absent = [m for m in ("auto", "geodemo") if m not in results]
    if absent:
        skipped = info.get("skipped_methods", {})
        why = "; ".join(f"{m}: {skipped.get(m, 'not requested')}" for m in absent)
        return (
            "Seed (Dheram et al.): automatic cohorts gave a larger WER gap than geodemographic ones. "
            f"Not compared here, because a method did not run ({why})."
        )
    a, g = results["auto"]["test"], results["geodemo"]["test"]
    return (
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


def render(results: dict[str, dict[str, Any]], info: dict[str, Any], diff_ci: list[float] | None) -> str:
    """Markdown for the per-method ``results`` of ``discover.run_method`` (any subset of methods)."""
    reps = info["bootstrap"]
    share = pct(info["bottom_share"], 0)
    audit = "source" in info
    lines = [
        f"## {info.get('title', 'Cohort discovery')}",
        "",
        *_sources(info, list(results)),
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
    if info.get("skipped_methods"):
        lines += [
            "",
            "Methods not run: "
            + "; ".join(f"{NAMES.get(m, m)}: {why}" for m, why in info["skipped_methods"].items())
            + ".",
        ]
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
        *_unplaced(results, info),
    ]
    if "geodemo" in results and info.get("missing_attributes"):
        lines += [
            f"Zip attributes of the configuration absent from the metadata (not searched): "
            f"{', '.join(info['missing_attributes'])}.",
            "",
        ]
    auto = results.get("auto", {})
    if "heldout_gap_by_k" in auto:
        by_k = ", ".join(f"k={k}: {pct(g)}%" for k, g in auto["heldout_gap_by_k"].items())
        lines += [
            "Automatic k chosen by the held-out dev gap (mean over 5 random two-fold splits of the "
            f"dev speakers): {by_k}.",
            "",
        ]
    if audit:
        lines += [*cohort_tables(results), *skipped_inputs(info.get("skipped_inputs", []))]
    lines.append(_seed_paragraph(results, diff_ci, info))
    lines += [
        "",
        "![Test WER gap against the test bottom share, one line per method](share_curve.png)",
        "",
    ]
    if "geo" in results:
        lines += ["![Geographic regions of the tree, coloured by dev WER](regions_map.png)", ""]
    lines += ["![WER by cohort, dev and test, 95% CIs](cohort_wer.png)", ""]
    return "\n".join(lines)


def write_report(found: Discovery, out: Path) -> None:
    """``out/report.md``, ``out/claims.json`` and the figures (the regions map only with ``geo``)."""
    from .cohort_plots import cohort_wer, regions_map, share_curve  # matplotlib only when drawing

    geo = found.geo
    if geo is not None:
        regions_map(
            found.tables, geo.assign, geo.order, found.results["geo"]["cohorts"], out / "regions_map.png"
        )
    cohort_wer(found.results, out / "cohort_wer.png")
    share_curve(found.results, out / "share_curve.png")
    write_claims(out, claims(found.results, found.diff_ci, found.info.get("skipped_methods")))
    write_text_atomic(out / "report.md", render(found.results, found.info, found.diff_ci))
