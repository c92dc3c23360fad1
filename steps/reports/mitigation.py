"""Did fine-tuning on the worst regions help them without hurting the rest?  Numbers for the report.

Per system (baseline, plain fine-tuning, EWC per lambda, oversampling, the cohort input of Dheram
et al. and the untargeted control: as many updates on all training data), on the test split:
overall WER, WER of the targeted (bottom) cohorts and of the others, and the mean, max and
variance of the per-cohort ("regional") WERs.  Cohort WER is pooled (all errors over all
reference words of the cohort).  Intervals: 95% percentile bootstrap that resamples *speakers*
with replacement *within each cohort* (utterances of a speaker are not independent, and every
cohort must stay present for its WER to exist); the same resamples serve every system, so
changes against the baseline (and against the untargeted control) are paired.

EWC's lambda is chosen on dev (``choose_lambda``); the claim is judged on test at that lambda.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from lhotse import CutSet

from steps.utils import FairstreamError
from steps.utils.stats import percentile_interval, stratified_counts

from .claims import Claim

METRICS = ("overall", "targeted", "non_targeted", "cohort_mean", "cohort_max", "cohort_var")


@dataclass
class System:
    """One decoded model: ``kind`` is baseline, finetune, ewc, oversample or untargeted; ``lam`` EWC's
    lambda."""

    name: str
    cuts: CutSet
    kind: str
    lam: float | None = None


@dataclass
class Labels:
    """Per test cut: speaker, cohort and whether the cohort is targeted (from the cohort stage)."""

    speaker: dict[str, str]
    cohort: dict[str, str]
    bottom: dict[str, bool]

    @classmethod
    def from_cuts(cls, cuts: CutSet) -> Labels:
        spk, coh, bot = {}, {}, {}
        for c in cuts:
            s = c.supervisions[0]
            custom = s.custom or {}
            if "cohort" not in custom or "cohort_bottom" not in custom:
                raise FairstreamError(f"cut {c.id} has no cohort / cohort_bottom; not a cohort stage output")
            if custom["cohort"] is None:
                continue  # a speaker the cohort rule could not place
            spk[c.id], coh[c.id], bot[c.id] = (
                s.speaker or c.id,
                str(custom["cohort"]),
                bool(custom["cohort_bottom"]),
            )
        return cls(spk, coh, bot)


def error_matrix(systems: list[System], ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Errors (systems x utterances) and reference words (utterances), joined by cut id."""
    errs = np.zeros((len(systems), len(ids)), dtype=np.int64)
    refs = None
    for i, sysm in enumerate(systems):
        by_id = {c.id: c.supervisions[0].custom or {} for c in sysm.cuts}
        missing = [u for u in ids if u not in by_id]
        if missing:
            raise FairstreamError(
                f"{sysm.name}: {len(missing)} labelled test cuts were not decoded, e.g. {missing[0]}"
            )
        r = np.array([int(by_id[u]["ref_len"]) for u in ids], dtype=np.int64)
        if refs is not None and not np.array_equal(r, refs):
            raise FairstreamError(f"{sysm.name} was scored against other references than {systems[0].name}")
        refs = r
        errs[i] = [int(by_id[u]["ins"]) + int(by_id[u]["del"]) + int(by_id[u]["sub"]) for u in ids]
    assert refs is not None
    return errs, refs


def metrics_from_sums(e: np.ndarray, r: np.ndarray, bottom: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics from per-cohort error sums ``e`` (..., systems, cohorts) and word sums ``r`` (..., cohorts)."""
    r_ = r[..., None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = e / r_
        out = {
            "overall": e.sum(-1) / r_.sum(-1),
            "targeted": e[..., bottom].sum(-1) / r_[..., bottom].sum(-1),
            "non_targeted": e[..., ~bottom].sum(-1) / r_[..., ~bottom].sum(-1),
        }
    out.update(cohort_mean=w.mean(-1), cohort_max=w.max(-1), cohort_var=w.var(-1))
    return out


def evaluate(labels: Labels, systems: list[System], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Point estimates, bootstrap intervals and paired changes against ``systems[0]`` (the baseline)."""
    ids = sorted(labels.cohort)
    if not ids:
        raise FairstreamError("no labelled test cut")
    cohorts = sorted(set(labels.cohort.values()))
    bottom = np.array([any(labels.bottom[u] for u in ids if labels.cohort[u] == c) for c in cohorts])
    if bottom.all() or not bottom.any():
        raise FairstreamError("need both targeted (cohort_bottom) and other cohorts in the test labels")
    errs, refs = error_matrix(systems, ids)
    units = sorted({(labels.cohort[u], labels.speaker[u]) for u in ids})  # (cohort, speaker)
    unit_of = {k: i for i, k in enumerate(units)}
    col = np.array([unit_of[(labels.cohort[u], labels.speaker[u])] for u in ids])
    ue = np.zeros((len(systems), len(units)))
    ur = np.zeros(len(units))
    np.add.at(ue.T, col, errs.T)
    np.add.at(ur, col, refs)
    unit_cohort = np.array([cohorts.index(c) for c, _ in units])

    def sums(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # weights: (B, units)
        e = np.zeros((len(weights), len(systems), len(cohorts)))
        r = np.zeros((len(weights), len(cohorts)))
        for k in range(len(cohorts)):
            m = unit_cohort == k
            e[:, :, k] = weights[:, m] @ ue[:, m].T
            r[:, k] = weights[:, m] @ ur[m]
        return e, r

    e0, r0 = (a[0] for a in sums(np.ones((1, len(units)))))
    point = metrics_from_sums(e0, r0, bottom)
    # speakers resampled within their cohort, so that every cohort keeps its size
    boot = metrics_from_sums(*sums(stratified_counts(unit_cohort, n_boot, seed)), bottom)
    out: dict[str, Any] = {"systems": {}, "changes": {}}
    for i, s in enumerate(systems):
        out["systems"][s.name] = {
            "kind": s.kind,
            "lambda": s.lam,
            **{m: {"estimate": float(point[m][i]), "ci": percentile_interval(boot[m][:, i])}
               for m in METRICS},
        }
        if i:
            out["changes"][s.name] = {
                m: {
                    "estimate": float(point[m][i] - point[m][0]),
                    "ci": percentile_interval(boot[m][:, i] - boot[m][:, 0]),
                }
                for m in METRICS
            }
    control = next((i for i, s in enumerate(systems) if s.kind == "untargeted"), None)
    if control is not None:  # every targeted system against the same updates without targeting
        out["vs_untargeted"] = {
            s.name: {
                m: {
                    "estimate": float(point[m][i] - point[m][control]),
                    "ci": percentile_interval(boot[m][:, i] - boot[m][:, control]),
                }
                for m in METRICS
            }
            for i, s in enumerate(systems)
            if i and i != control
        }
    out["cohorts"] = {
        c: {
            "bottom": bool(bottom[k]),
            "speakers": int((unit_cohort == k).sum()),
            "words": int(r0[k]),
            "wer": {s.name: float(e0[i, k] / r0[k]) if r0[k] else None for i, s in enumerate(systems)},
        }
        for k, c in enumerate(cohorts)
    }
    out["test"] = {
        "utterances": len(ids),
        "speakers": len({labels.speaker[u] for u in ids}),
        "bootstrap": n_boot,
    }
    return out


def choose_lambda(dev: Mapping[str, Any], split: str = "dev") -> dict[str, Any]:
    """EWC's lambda from a dev ``evaluate`` result (baseline first, then the EWC systems).

    Among the lambdas whose overall dev WER is not above the baseline's, the one with the lowest
    max regional dev WER (the seed's aim: the worst region improves, nobody pays); if every
    lambda raises overall WER, the one that raises it least.  Ties go to the smaller lambda.
    """
    systems = dev["systems"]
    base = next(iter(systems.values()))["overall"]["estimate"]
    ewc = [(n, s) for n, s in systems.items() if s["kind"] == "ewc"]
    if not ewc:
        raise FairstreamError("no EWC system to choose a lambda from")
    ok = [(n, s) for n, s in ewc if s["overall"]["estimate"] <= base]
    if ok:
        name, s = min(ok, key=lambda ns: (ns[1]["cohort_max"]["estimate"], ns[1]["lambda"]))
        rule = f"lowest max regional {split} WER among the λ that do not raise overall {split} WER"
    else:
        name, s = min(ewc, key=lambda ns: (ns[1]["overall"]["estimate"], ns[1]["lambda"]))
        rule = f"every λ raised overall {split} WER: the one that raised it least"
    table = {n: {m: v[m]["estimate"] for m in ("overall", "cohort_max")} for n, v in systems.items()}
    return {"split": split, "system": name, "lambda": s["lambda"], "rule": rule, split: table}


def _significant(ci: list[float] | None) -> int:
    """+1 / -1 when the interval lies above / below 0, else 0."""
    return 0 if not ci else 1 if ci[0] > 0 else -1 if ci[1] < 0 else 0


def claims(result: Mapping[str, Any]) -> list[Claim]:
    """Trinh et al.'s mitigation claim at the dev-chosen lambda, with the untargeted control."""
    choice = result.get("choice")
    if not choice:
        return []
    name = choice["system"]
    ch = result["changes"][name]
    d_max, d_var, d_all = (_significant(ch[m]["ci"]) for m in ("cohort_max", "cohort_var", "overall"))
    held = True if d_max < 0 and d_all <= 0 else False if d_max > 0 or d_all > 0 else None
    ours = (
        f"λ={choice['lambda']:g} (chosen on {choice['split']}): "
        f"Δmax {_cell(ch['cohort_max'], 'cohort_max', True)}, "
        f"Δvariance {_cell(ch['cohort_var'], 'cohort_var', True)} %², "
        f"Δoverall {_cell(ch['overall'], 'overall', True)} WER points"
    )
    note = "test speakers; 95% CIs paired against the baseline"
    vs = result.get("vs_untargeted", {}).get(name)
    if vs:
        note += f"; EWC − untargeted control: Δmax {_cell(vs['cohort_max'], 'cohort_max', True)}"
    return [
        Claim(
            "Geographic cohorts + EWC",
            "EWC fine-tuning on the worst regions lowers the max and variance of regional WER "
            "without raising overall WER",
            "max and variance down, overall not up",
            ours,
            held,
            note,
        )
    ]


def seed_direction(result: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    """EWC lambdas for which max and variance of regional WER fell and overall WER did not rise."""
    held, failed = [], []
    for name, ch in result["changes"].items():
        s = result["systems"][name]
        if s["kind"] != "ewc":
            continue
        ok = ch["cohort_max"]["estimate"] < 0 and ch["cohort_var"]["estimate"] < 0
        ok = ok and ch["overall"]["estimate"] <= 0
        (held if ok else failed).append(s["lambda"])
    return sorted(held), sorted(failed)


# ---- markdown --------------------------------------------------------------------------------
NAMES = {"overall": "overall", "cohort_max": "max"}
LABELS = {
    "baseline": "baseline",
    "finetune": "fine-tuning",
    "ewc": "EWC",
    "oversample": "oversampling",
    "untargeted": "untargeted control",
    "cohort_input": "cohort input",
}


def _scale(metric: str) -> float:
    return 1e4 if metric == "cohort_var" else 100.0  # WER in %, variance in %^2


def _cell(v: Mapping[str, Any], metric: str, signed: bool = False) -> str:
    k = _scale(metric)
    fmt = "{:+.2f}" if signed else "{:.2f}"
    ci = v["ci"]
    tail = f" [{fmt.format(k * ci[0])}, {fmt.format(k * ci[1])}]" if ci else ""
    return fmt.format(k * v["estimate"]) + tail


def _label(s: Mapping[str, Any]) -> str:
    return LABELS.get(s["kind"], s["kind"]) + (f" λ={s['lambda']:g}" if s["lambda"] is not None else "")


def _sweep(result: Mapping[str, Any]) -> list[tuple[float, str]]:
    """(lambda, system) for plain fine-tuning (lambda 0) and every EWC run, by lambda."""
    rows = [(0.0, n) for n, s in result["systems"].items() if s["kind"] == "finetune"]
    rows += [(float(s["lambda"]), n) for n, s in result["systems"].items() if s["kind"] == "ewc"]
    return sorted(rows)


def _thin(cohorts: Mapping[str, Any]) -> str:
    thin = [c for c, v in cohorts.items() if v["speakers"] < 2]
    if not thin:
        return ""
    return f" Cohorts with a single test speaker ({', '.join(thin)}) add no resampling variance."


def render(result: Mapping[str, Any], method: str, figures: Mapping[str, str]) -> str:
    """The ``## Mitigation`` fragment that stage 99 pastes into RESULTS.md."""
    systems, changes, cohorts = result["systems"], result["changes"], result["cohorts"]
    base = next(iter(systems))
    targeted = [c for c, v in cohorts.items() if v["bottom"]]
    t = result["test"]
    lines = [
        "## Mitigation: fine-tuning on the worst regions (plain, EWC, oversampling, cohort input)",
        "",
        f"Cohorts: `{method}` ({len(cohorts)} cohorts; targeted = the bottom cohorts "
        f"{', '.join(f'`{c}`' for c in targeted)}). Every system starts from the same baseline "
        f"checkpoint and is scored on the same {t['utterances']} test utterances "
        f"({t['speakers']} speakers). WER in %, variance of the regional (per-cohort) WERs in %²; "
        f"95% intervals from {t['bootstrap']} bootstrap resamples of speakers within cohorts, "
        "paired across systems." + _thin(cohorts),
        "",
        "| system | overall WER | targeted WER | non-targeted WER | mean regional WER "
        "| max regional WER | variance of regional WER |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in systems.values():
        lines.append(f"| {_label(s)} | " + " | ".join(_cell(s[m], m) for m in METRICS) + " |")
    lines += ["", f"Change against the {base} (negative = lower):", ""]
    lines.append("| system | Δ overall | Δ targeted | Δ non-targeted | Δ mean | Δ max | Δ variance |")
    lines.append("|---|---|---|---|---|---|---|")
    for n, ch in changes.items():
        cells = " | ".join(_cell(ch[m], m, signed=True) for m in METRICS)
        lines.append(f"| {_label(systems[n])} | {cells} |")
    sweep = _sweep(result)
    if sweep:
        lines += [
            "",
            "λ sweep (λ = 0 is plain fine-tuning): adaptation is the change of the targeted "
            "cohorts' WER, forgetting the change of the other cohorts' WER.",
            "",
        ]
        lines.append("| λ | adaptation: Δ targeted WER | forgetting: Δ non-targeted WER | Δ overall WER |")
        lines.append("|---|---|---|---|")
        for lam, n in sweep:
            ch = changes[n]
            cells = " | ".join(_cell(ch[m], m, True) for m in ("targeted", "non_targeted", "overall"))
            lines.append(f"| {lam:g} | {cells} |")
    choice = result.get("choice")
    if choice:
        devs = choice[choice["split"]]
        cells = "; ".join(
            f"{_label(systems[n])}: overall {100 * v['overall']:.2f}, max {100 * v['cohort_max']:.2f}"
            for n, v in devs.items()
        )
        lines += [
            "",
            f"**λ chosen on {choice['split']}: {choice['lambda']:g}** ({choice['rule']}). "
            f"{choice['split'].capitalize()} WER (%): {cells}. The verdict below is judged on test at "
            "that λ; the other λ are shown for the sweep only.",
        ]
    control = result.get("vs_untargeted")
    if control:
        lines += [
            "",
            "Against the untargeted control (the same updates on all training data): a targeted "
            "system should beat it on the targeted cohorts without losing elsewhere.",
            "",
            "| system | Δ overall | Δ targeted | Δ non-targeted | Δ mean | Δ max | Δ variance |",
            "|---|---|---|---|---|---|---|",
        ]
        for n, ch in control.items():
            cells = " | ".join(_cell(ch[m], m, signed=True) for m in METRICS)
            lines.append(f"| {_label(systems[n])} − control | {cells} |")
    names = list(systems)
    lines += ["", "WER (%) per cohort (* = targeted):", ""]
    lines.append("| cohort | speakers | words | " + " | ".join(_label(systems[n]) for n in names) + " |")
    lines.append("|---|---|---|" + "---|" * len(names))
    for c, v in sorted(cohorts.items(), key=lambda kv: -(kv[1]["wer"][base] or 0)):
        cells = " | ".join("–" if v["wer"][n] is None else f"{100 * v['wer'][n]:.2f}" for n in names)
        lines.append(f"| {c}{' *' if v['bottom'] else ''} | {v['speakers']} | {v['words']} | {cells} |")
    lines.append("")
    for caption, path in figures.items():
        lines += [f"![{caption}]({path})", ""]
    lines += [verdict(result), ""]
    return "\n".join(lines)


def verdict(result: Mapping[str, Any]) -> str:
    """The sentence on the seed's direction, computed from the numbers."""
    held, failed = seed_direction(result)
    if not held and not failed:
        return "No EWC system was evaluated, so the seed's direction cannot be checked."
    lams = lambda xs: ", ".join(f"{x:g}" for x in xs)  # noqa: E731
    if held and not failed:
        head = f"The seed's direction held for every λ ({lams(held)})"
    elif held:
        head = f"The seed's direction held for λ = {lams(held)} but not for λ = {lams(failed)}"
    else:
        head = f"The seed's direction did not hold for any λ ({lams(failed)})"
    parts = []
    for n, ch in result["changes"].items():
        s = result["systems"][n]
        if s["kind"] not in ("ewc", "finetune"):
            continue
        sig = [
            m for m in ("overall", "cohort_max") if ch[m]["ci"] and (ch[m]["ci"][0] > 0 or ch[m]["ci"][1] < 0)
        ]
        parts.append(
            f"{_label(s)}: max {100 * ch['cohort_max']['estimate']:+.2f}, variance "
            f"{1e4 * ch['cohort_var']['estimate']:+.2f} %², overall {100 * ch['overall']['estimate']:+.2f}, "
            f"non-targeted {100 * ch['non_targeted']['estimate']:+.2f}"
            + (f" (interval excludes 0 for {' and '.join(NAMES[m] for m in sig)})" if sig else "")
        )
    chosen = claims(result)
    at_choice = (
        f"At the λ chosen on dev ({result['choice']['lambda']:g}) the claim is **{chosen[0].verdict()}** "
        "(the rule: it holds when the max falls significantly and overall WER does not rise "
        "significantly). "
        if chosen
        else ""
    )
    return (
        f"**Did the seed's direction hold?** The seed: EWC fine-tuning on the worst regions lowers the max "
        f"and the variance of regional WER without raising overall WER, where plain fine-tuning forgets. "
        f"{at_choice}Over the sweep (point estimates): {head[0].lower()}{head[1:]}. Changes against the "
        "baseline (WER points): " + "; ".join(parts) + "."
    )


# ---- figures ---------------------------------------------------------------------------------
def plot_regions(result: Mapping[str, Any], path: Any) -> None:
    """Per-cohort WER, one bar per system, cohorts by baseline WER (targeted ones hatched)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    systems, cohorts = result["systems"], result["cohorts"]
    base = next(iter(systems))
    order = sorted(cohorts, key=lambda c: -(cohorts[c]["wer"][base] or 0))
    width = 0.8 / len(systems)
    handles = []
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(order) * len(systems) / 3), 3.6))
    for i, (n, s) in enumerate(systems.items()):
        xs = np.arange(len(order)) + (i - (len(systems) - 1) / 2) * width
        ys = [100 * (cohorts[c]["wer"][n] or 0) for c in order]
        bars = ax.bar(xs, ys, width)
        handles.append(Patch(facecolor=bars[0].get_facecolor(), label=_label(s)))
        for b, c in zip(bars, order, strict=True):
            if cohorts[c]["bottom"]:
                b.set_hatch("//")
    ax.set_xticks(np.arange(len(order)), [f"{c}{' *' if cohorts[c]['bottom'] else ''}" for c in order])
    ax.set_ylabel("WER (%)")
    ax.set_title("Per-cohort test WER (hatched, *: targeted cohorts)", fontsize=10)
    ax.legend(handles=handles, fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_sweep(result: Mapping[str, Any], path: Any) -> None:
    """Forgetting against adaptation along the λ sweep (λ = 0: plain fine-tuning)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    pts = [(lam, result["changes"][n]) for lam, n in _sweep(result)]
    xs = [100 * ch["targeted"]["estimate"] for _, ch in pts]
    ys = [100 * ch["non_targeted"]["estimate"] for _, ch in pts]
    ax.plot(xs, ys, "o-")
    for (lam, _), x, y in zip(pts, xs, ys, strict=True):
        ax.annotate(f"λ={lam:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("adaptation: Δ targeted WER (points)")
    ax.set_ylabel("forgetting: Δ non-targeted WER (points)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
