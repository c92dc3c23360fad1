"""The markdown fragment comparing baseline and ARW systems (pasted later into RESULTS.md).

It is self-contained: a headline table, the relative changes next to the seed's claims with
paired bootstrap intervals, per-group EERs, the DET figure link and one paragraph saying, for
each of the seed's three claims, whether its direction held here.
"""

from __future__ import annotations

import functools
from typing import Any

from .claims import Claim
from .format import ci_suffix, pct, signed_pct

# Jin et al. (Interspeech 2022), pairwise weighting vs baseline on VoxCeleb (relative change)
SEED_CLAIMS = {"eer": -0.076, "gender_gap": -0.17, "country_std": -0.10}
CLAIM_NAMES = {
    "eer": "overall EER",
    "gender_gap": "gender gap (abs. EER difference f vs m)",
    "country_std": "std of EER across countries",
}


_pct = functools.partial(pct, digits=2)  # EERs in % with two decimals
_ci_pct = functools.partial(ci_suffix, digits=2)


def _rel(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return (a - b) / b


def render(
    results: dict[str, dict[str, Any]],
    boot: dict[str, Any],
    baseline: str,
    figure: str,
    trial_info: dict[str, Any],
    title: str = "Speaker verification: adversarial re-weighting (ARW)",
) -> str:
    """Markdown for ``results`` (system -> ``evaluate`` output), baseline first."""
    names = [baseline] + [n for n in results if n != baseline]
    bs = boot.get("systems", {})
    lines = [f"## {title}", ""]
    lines.append(
        f"Trials: {trial_info['n_target']} target / {trial_info['n_nontarget']} non-target "
        f"({trial_info['speakers']} {trial_info.get('split', 'test')} speakers); "
        f"unknown-utterance trials: {trial_info['unknown']}, "
        f"trials without score: {trial_info['missing']}. Intervals: 95% paired bootstrap over "
        f"{boot.get('units', 'trials')} ({boot.get('replicates', 0)} resamples; a drawn speaker brings "
        "all its trials). EER and gaps in %."
    )
    lines.append("")
    lines.append(
        "| system | EER [95% CI] | minDCF 0.01 | minDCF 0.05 | EER f | EER m "
        "| gender gap [95% CI] | country std [95% CI] | accent std |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for n in names:
        r = results[n]
        o, f, g = r["overall"], r["fairness"], r["groups"].get("gender", {})
        ci = bs.get(n, {})
        lines.append(
            f"| {n} | {_pct(o['eer'])}{_ci_pct(ci.get('eer'))} "
            f"| {o['mindcf_0.01']:.3f} | {o['mindcf_0.05']:.3f} "
            f"| {_pct(g.get('f', {}).get('eer'))} | {_pct(g.get('m', {}).get('eer'))} "
            f"| {_pct(f['gender_gap'])}{_ci_pct(ci.get('gender_gap'))} "
            f"| {_pct(f['country_std'])}{_ci_pct(ci.get('country_std'))} | {_pct(f['accent_std'])} |"
        )
    lines.append("")
    outside = [
        f"{n} {k.replace('_', ' ')}"
        for n in names
        for k in ("gender_gap", "country_std")
        if _outside(results[n]["fairness"][k], bs.get(n, {}).get(k))
    ]
    if outside:
        lines.append(
            f"The estimate lies outside its own interval for: {', '.join(outside)}. A spread of group "
            "EERs grows when speakers are resampled (a drawn-twice speaker pulls its group's EER away "
            "from the others), so these intervals sit above the estimate; the claims below use the "
            "paired relative change between systems, on which both share that bias."
        )
        lines.append("")
    verdicts = []
    for n in names[1:]:
        lines.append(f"Relative change of **{n}** against **{baseline}** (negative = better):")
        lines.append("")
        lines.append("| quantity | seed's claim | measured [95% CI] | direction held? |")
        lines.append("|---|---|---|---|")
        rel_ci = boot.get("relative_change", {}).get(n, {})
        for k, claim in SEED_CLAIMS.items():
            a = results[n]["overall"]["eer"] if k == "eer" else results[n]["fairness"][k]
            b = results[baseline]["overall"]["eer"] if k == "eer" else results[baseline]["fairness"][k]
            rel = _rel(a, b)
            ci = rel_ci.get(k)
            held = _held(rel, ci)
            verdicts.append((n, k, rel, held))
            ci_txt = f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci else ""
            lines.append(f"| {CLAIM_NAMES[k]} | {100 * claim:+.1f}% | {signed_pct(rel)}{ci_txt} | {held} |")
        lines.append("")
    lines += _group_table(results, names)
    lines.append(f"![DET curves by gender and country, one row per system]({figure})")
    lines.append("")
    lines.append(_paragraph(verdicts, baseline))
    lines.append("")
    return "\n".join(lines)


def claims(results: dict[str, dict[str, Any]], boot: dict[str, Any], baseline: str) -> list[Claim]:
    """One line per seed claim and ARW system: relative change against the baseline, with its
    paired interval; held when the interval lies below 0, not held when above, else undecided."""
    out = []
    for n in [n for n in results if n != baseline]:
        rel_ci = boot.get("relative_change", {}).get(n, {})
        for k, claim in SEED_CLAIMS.items():
            a = results[n]["overall"]["eer"] if k == "eer" else results[n]["fairness"][k]
            b = results[baseline]["overall"]["eer"] if k == "eer" else results[baseline]["fairness"][k]
            rel, ci = _rel(a, b), rel_ci.get(k)
            held = None if not ci else True if ci[1] < 0 else False if ci[0] > 0 else None
            ci_txt = f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci else ""
            out.append(
                Claim(
                    "ARW speaker verification",
                    f"{n} vs {baseline}: {CLAIM_NAMES[k]} falls",
                    f"{100 * claim:+.1f}% rel.",
                    f"{signed_pct(rel)}{ci_txt}",
                    held,
                    f"relative change; paired bootstrap over {boot.get('units', 'trials')}",
                )
            )
    return out


def _outside(value: float | None, ci: list[float] | None) -> bool:
    return value is not None and bool(ci) and not ci[0] <= value <= ci[1]


def _held(rel: float | None, ci: list[float] | None) -> str:
    if rel is None:
        return "n/a"
    if rel >= 0:
        return "no" if not ci or ci[0] > 0 else "no (within noise)"
    return "yes" if ci and ci[1] < 0 else "yes, within noise" if ci else "yes"


def _group_table(results: dict[str, dict[str, Any]], names: list[str]) -> list[str]:
    lines = ["EER (%) by group (trials with both sides in the group):", ""]
    lines.append("| group | " + " | ".join(names) + " | targets / non-targets |")
    lines.append("|---|" + "---|" * (len(names) + 1))
    first = results[names[0]]["groups"]
    for attr in ("gender", "country", "accent"):
        for g in sorted(first.get(attr, {})):
            cells = []
            for n in names:
                v = results[n]["groups"].get(attr, {}).get(g)
                cells.append(_pct(v["eer"]) if v else "–")
            v0 = first[attr][g]
            lines.append(
                f"| {attr}={g} | " + " | ".join(cells) + f" | {v0['n_target']} / {v0['n_nontarget']} |"
            )
    lines.append("")
    return lines


def _paragraph(verdicts: list[tuple[str, str, float | None, str]], baseline: str) -> str:
    if not verdicts:
        return "Only one system was evaluated; there is nothing to compare."
    parts = []
    for _, k, rel, held in verdicts:
        parts.append(f"{CLAIM_NAMES[k]} {signed_pct(rel)} ({held})")
    n_held = sum(h.startswith("yes") for *_, h in verdicts)
    n_sig = sum(h == "yes" for *_, h in verdicts)
    systems = ", ".join(sorted({v[0] for v in verdicts}))
    verdict = (
        "The seed's direction held on all three claims"
        if n_held == len(verdicts)
        else "The seed's direction did not hold on any claim"
        if n_held == 0
        else f"The seed's direction held on {n_held} of {len(verdicts)} claims"
    )
    return (
        f"**Did the seed's direction hold?** Against the {baseline} baseline, {systems} changed "
        + "; ".join(parts)
        + f". {verdict}; {n_sig} of those changes have a 95% bootstrap interval that excludes zero. "
        "The seed (Jin et al., VoxCeleb) reported -7.6% overall EER, -17% gender gap and about "
        "-10% country variability on VoxCeleb's 1,251 speakers; here the intervals resample the "
        "evaluation speakers, so a country's EER is only as certain as its few synthetic speakers make it."
    )
