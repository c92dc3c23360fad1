"""Stage 2: 80-dim log-mel fbank for every split, resumable by shard.

python -m steps.compute_fbank data/manifests data/fbank --conf conf/fbank.yaml -j 2
"""

from __future__ import annotations

from pathlib import Path

import click

from steps.data.features import FbankConf, compute_fbank
from steps.utils import require_complete, stage_output
from steps.utils.cli import CONTEXT, step_main
from steps.utils.config import load_dataclass, to_dict


@click.command(context_settings=CONTEXT)
@click.argument("in_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--conf", type=click.Path(path_type=Path), default=Path("conf/fbank.yaml"))
@click.option("-j", "--num-jobs", type=int, default=2, help="Worker processes.")
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete.")
@step_main
def main(in_dir: Path, out_dir: Path, conf: Path, num_jobs: int, force: bool) -> None:
    """Compute fbank features for every cuts_*.jsonl.gz in IN_DIR into OUT_DIR."""
    require_complete(in_dir, "manifest")
    cfg = load_dataclass(FbankConf, conf)
    with stage_output(out_dir, {"input": str(in_dir), **to_dict(cfg)}, force) as out:
        compute_fbank(in_dir, out, cfg, num_jobs)


if __name__ == "__main__":
    main()
