"""Stage 7: discover the speaker cohorts a recogniser serves worst, three ways, and compare them.

    python -m steps.discover_cohorts --fbank-dir data/fbank --embeddings-dir exp/sv/none/xvectors \
        --conf conf/cohorts.yaml exp/decode/lstm_modified_beam exp/cohorts

Methods: ``geo`` (regression tree over speakers' lat/lon), ``geodemo`` (zip attribute
partition), ``auto`` (k-means on mean speaker embeddings).  Each learns a rule on dev speakers
and is measured on test.  Writes OUT_DIR/<method>/cuts_{train,dev,test}.jsonl.gz (supervisions
gain ``cohort`` and ``cohort_bottom``), OUT_DIR/<method>/cohorts.json, OUT_DIR/summary.json,
OUT_DIR/report.md (the RESULTS.md fragment), OUT_DIR/regions_map.png and OUT_DIR/cohort_wer.png.
"""

from __future__ import annotations

from pathlib import Path

import click

from steps.fairness.config import CohortsConf
from steps.fairness.discover import discover_all
from steps.reports.cohorts import write_report
from steps.utils import require_complete, stage_output
from steps.utils.cli import CONTEXT, step_main
from steps.utils.config import load_dataclass, to_dict


@click.command(context_settings=CONTEXT)
@click.argument("decode_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path), default=Path("exp/cohorts"))
@click.option(
    "--fbank-dir", type=click.Path(path_type=Path), default=Path("data/fbank"), help="Holds cuts_train."
)
@click.option(
    "--embeddings-dir",
    type=click.Path(path_type=Path),
    default=Path("exp/sv/none/xvectors"),
    help="extract_embeddings output (cuts_{train,dev,test} with an xvector per cut).",
)
@click.option(
    "--conf", type=click.Path(path_type=Path), default=Path("conf/cohorts.yaml"), help="Cohorts YAML."
)
@click.option("--seed", type=int, default=None, help="Override the config's seed (k-means, bootstrap).")
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete.")
@step_main
def main(
    decode_dir: Path,
    out_dir: Path,
    fbank_dir: Path,
    embeddings_dir: Path,
    conf: Path,
    seed: int | None,
    force: bool,
) -> None:
    """Cohorts from DECODE_DIR (decoded cuts_{dev,test}) into OUT_DIR."""
    require_complete(decode_dir, "decode")
    require_complete(fbank_dir, "fbank")
    require_complete(embeddings_dir, "embeddings")
    cfg = load_dataclass(CohortsConf, conf, seed=seed)
    resolved = {
        "decode_dir": str(decode_dir),
        "fbank_dir": str(fbank_dir),
        "embeddings_dir": str(embeddings_dir),
        **to_dict(cfg),
    }
    with stage_output(out_dir, resolved, force) as out:
        found = discover_all(decode_dir, fbank_dir, embeddings_dir, cfg, out.path)
        write_report(found, out.path)
        click.echo(found.summary(), err=True)


if __name__ == "__main__":
    main()
