"""Stage 8's report: baseline vs fine-tuned models on the test split, by cohort.

    python -m steps.report_mitigation --cohorts-dir exp/cohorts --method geo \
        baseline=exp/decode/lstm_modified_beam finetune=exp/mitigate/finetune/decode \
        ewc_100=exp/mitigate/ewc_100/decode oversample=exp/mitigate/oversample/decode \
        exp/mitigate/report.md

Each NAME=DECODE_DIR is a decode_transducer output; the first is the baseline.  What a system
is (fine-tuning, EWC with which lambda, oversampling, the cohort input, the untargeted control) is
read from the
configs its decode and training runs recorded, not from its name.  EWC's lambda is chosen on
``--choose-on`` (dev: every EWC decode and the baseline's must hold cuts_dev) and the claim is
reported on ``--split`` at that lambda; the whole sweep is still shown.  Cohort labels come from
COHORTS_DIR/<method>/cuts_<split>.jsonl.gz, joined by cut id.  Writes REPORT (markdown starting
"## Mitigation"), REPORT's .json twin, and regions.png / sweep.png next to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from lhotse import CutSet, load_manifest

from steps.data.manifests import load_cuts
from steps.reports.claims import write_claims
from steps.reports.mitigation import (
    Labels,
    System,
    choose_lambda,
    claims,
    evaluate,
    plot_regions,
    plot_sweep,
    render,
)
from steps.utils import FairstreamError, read_config, require_complete, write_json_atomic, write_text_atomic
from steps.utils.cli import CONTEXT, step_main

SEARCH_KEYS = ("method", "beam", "max_sym_per_frame", "streaming", "chunk_ms")


def describe(decode_dir: Path, first: bool) -> tuple[str, float | None, dict[str, Any]]:
    """(kind, lambda, decode config) of a decode output, from the recorded configs."""
    dec = read_config(decode_dir)
    if first:
        return "baseline", None, dec
    train = read_config(Path(dec["model_dir"]))
    if (train.get("model") or {}).get("cohorts"):
        return "cohort_input", None, dec
    ewc = (train.get("regularizers") or {}).get("ewc")
    if ewc:
        return "ewc", float(ewc["lambda"]), dec
    data = Path(train["input"])
    mode = read_config(data).get("mode") if (data / "config.yaml").is_file() else None
    return {"oversample": "oversample", "all": "untargeted"}.get(mode, "finetune"), None, dec


@click.command(context_settings=CONTEXT)
@click.argument("systems", nargs=-1, required=True)
@click.argument("report", type=click.Path(path_type=Path))
@click.option(
    "--cohorts-dir", type=click.Path(path_type=Path), required=True, help="The cohort stage's output."
)
@click.option("--method", default="geo", help="Cohort method: COHORTS_DIR/<method>/.")
@click.option("--split", default="test", help="The decoded split the report is about.")
@click.option("--choose-on", default="dev", help="The split EWC's lambda is chosen on ('' = no choice).")
@click.option("--bootstrap", "n_boot", type=int, default=1000, help="Speaker resamples.")
@click.option("--seed", type=int, default=42, help="Bootstrap seed.")
@step_main
def main(
    systems: tuple[str, ...],
    report: Path,
    cohorts_dir: Path,
    method: str,
    split: str,
    choose_on: str,
    n_boot: int,
    seed: int,
) -> None:
    """Compare SYSTEMS (NAME=DECODE_DIR, baseline first) by cohort and write REPORT."""
    require_complete(cohorts_dir, "cohort")
    labels = Labels.from_cuts(load_cuts(cohorts_dir / method, split))
    parsed: list[System] = []
    dev: list[System] = []
    base_search: dict[str, Any] = {}
    for i, spec in enumerate(systems):
        name, sep, d = spec.partition("=")
        if not sep or not name or not d:
            raise FairstreamError(f"expected NAME=DECODE_DIR, got {spec!r}")
        decode_dir = require_complete(Path(d), "decode")
        kind, lam, dec = describe(decode_dir, first=i == 0)
        search = {k: dec.get(k) for k in SEARCH_KEYS}
        if i == 0:
            base_search = search
        elif search != base_search:
            raise FairstreamError(f"{name} was decoded with {search}, the baseline with {base_search}")
        parsed.append(System(name, _decoded(decode_dir, split), kind, lam))
        if choose_on and kind in ("baseline", "ewc"):
            dev.append(System(name, _decoded(decode_dir, choose_on), kind, lam))
    if len({s.name for s in parsed}) != len(parsed):
        raise FairstreamError("system names must be distinct")
    result = evaluate(labels, parsed, n_boot, seed)
    result["decode"] = base_search
    if len(dev) > 1:
        dev_labels = Labels.from_cuts(load_cuts(cohorts_dir / method, choose_on))
        result["choice"] = choose_lambda(evaluate(dev_labels, dev, 0, seed), choose_on)
    report.parent.mkdir(parents=True, exist_ok=True)
    figures = {"Per-cohort test WER, baseline vs each mitigation": "regions.png"}
    plot_regions(result, report.with_name("regions.png"))
    if any(s.kind in ("ewc", "finetune") for s in parsed):
        plot_sweep(result, report.with_name("sweep.png"))
        figures["Forgetting vs adaptation along the λ sweep"] = "sweep.png"
    write_json_atomic(report.with_suffix(".json"), result)
    write_claims(report.parent, claims(result))
    write_text_atomic(report, render(result, method, figures))
    click.echo(f"wrote {report}", err=True)


def _decoded(decode_dir: Path, split: str) -> CutSet:
    path = decode_dir / f"cuts_{split}.jsonl.gz"
    if not path.is_file():
        raise FairstreamError(f"{decode_dir} has no {path.name}; decode --splits {split}")
    return load_manifest(path)


if __name__ == "__main__":
    main()
