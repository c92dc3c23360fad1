"""Stage 8's report: baseline vs fine-tuned models on the test split, by cohort.

    python -m steps.report_mitigation --cohorts-dir exp/cohorts --method geo \
        baseline=exp/decode/lstm_modified_beam finetune=exp/mitigate/finetune/decode \
        ewc_100=exp/mitigate/ewc_100/decode oversample=exp/mitigate/oversample/decode \
        exp/mitigate/report.md

Each NAME=DECODE_DIR is a decode_transducer output; the first is the baseline.  What a system
is (fine-tuning, EWC with which lambda, oversampling) is read from the configs its decode and
training runs recorded, not from its name.  Cohort labels come from
COHORTS_DIR/<method>/cuts_<split>.jsonl.gz, joined by cut id.  Writes REPORT (markdown starting
"## Mitigation"), REPORT's .json twin, and regions.png / sweep.png next to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from lhotse import load_manifest

from steps.data.manifests import load_cuts
from steps.reports.mitigation import Labels, System, evaluate, plot_regions, plot_sweep, render
from steps.utils import FairstreamError, read_config, require_complete, write_json_atomic, write_text_atomic
from steps.utils.cli import CONTEXT, step_main

SEARCH_KEYS = ("method", "beam", "max_sym_per_frame", "streaming", "chunk_ms")


def describe(decode_dir: Path, first: bool) -> tuple[str, float | None, dict[str, Any]]:
    """(kind, lambda, decode config) of a decode output, from the recorded configs."""
    dec = read_config(decode_dir)
    if first:
        return "baseline", None, dec
    train = read_config(Path(dec["model_dir"]))
    ewc = (train.get("regularizers") or {}).get("ewc")
    if ewc:
        return "ewc", float(ewc["lambda"]), dec
    data = Path(train["input"])
    mode = read_config(data).get("mode") if (data / "config.yaml").is_file() else None
    return ("oversample" if mode == "oversample" else "finetune"), None, dec


@click.command(context_settings=CONTEXT)
@click.argument("systems", nargs=-1, required=True)
@click.argument("report", type=click.Path(path_type=Path))
@click.option(
    "--cohorts-dir", type=click.Path(path_type=Path), required=True, help="The cohort stage's output."
)
@click.option("--method", default="geo", help="Cohort method: COHORTS_DIR/<method>/.")
@click.option("--split", default="test", help="The decoded split the report is about.")
@click.option("--bootstrap", "n_boot", type=int, default=1000, help="Speaker resamples.")
@click.option("--seed", type=int, default=42, help="Bootstrap seed.")
@step_main
def main(
    systems: tuple[str, ...], report: Path, cohorts_dir: Path, method: str, split: str, n_boot: int, seed: int
) -> None:
    """Compare SYSTEMS (NAME=DECODE_DIR, baseline first) by cohort and write REPORT."""
    require_complete(cohorts_dir, "cohort")
    labels = Labels.from_cuts(load_cuts(cohorts_dir / method, split))
    parsed: list[System] = []
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
        path = decode_dir / f"cuts_{split}.jsonl.gz"
        if not path.is_file():
            raise FairstreamError(f"{decode_dir} has no {path.name}; decode --splits {split}")
        parsed.append(System(name, load_manifest(path), kind, lam))
    if len({s.name for s in parsed}) != len(parsed):
        raise FairstreamError("system names must be distinct")
    result = evaluate(labels, parsed, n_boot, seed)
    result["decode"] = base_search
    report.parent.mkdir(parents=True, exist_ok=True)
    figures = {"Per-cohort test WER, baseline vs each mitigation": "regions.png"}
    plot_regions(result, report.with_name("regions.png"))
    if any(s.kind in ("ewc", "finetune") for s in parsed):
        plot_sweep(result, report.with_name("sweep.png"))
        figures["Forgetting vs adaptation along the λ sweep"] = "sweep.png"
    write_json_atomic(report.with_suffix(".json"), result)
    write_text_atomic(report, render(result, method, figures))
    click.echo(f"wrote {report}", err=True)


if __name__ == "__main__":
    main()
