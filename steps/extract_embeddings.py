"""Stage 6: speaker embeddings for every split, stored with Lhotse and referenced from the cuts.

    python -m steps.extract_embeddings data/fbank exp/sv/none/xvectors --model-dir exp/sv/none/model

Writes OUT_DIR/cuts_<split>.jsonl.gz for each split of IN_DIR (or --splits): the input cuts
with ``custom["xvector"]`` added, so ``cut.load_custom("xvector")`` returns the embedding.
Resumes per cut; short cuts are padded or skipped and counted in report.json.
"""

from __future__ import annotations

from pathlib import Path

import click

from steps.data.manifests import load_cuts, splits_in
from steps.sv.extract import ExtractConf, extract_split, load_extractor
from steps.sv.train import FINAL
from steps.utils import FairstreamError, file_digest, require_complete, stage_output, write_json_atomic
from steps.utils.cli import CONTEXT, step_main
from steps.utils.config import load_dataclass, to_dict
from steps.utils.device import device_option, resolve_device, set_job_threads


@click.command(context_settings=CONTEXT)
@click.argument("in_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--model-dir", type=click.Path(path_type=Path), required=True, help="train_speaker_embedder output."
)
@click.option(
    "--conf", type=click.Path(path_type=Path), default=None, help="Extraction YAML (defaults if absent)."
)
@click.option("--splits", default="", help="Comma-separated splits (default: every cuts_<split> in IN_DIR).")
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete.")
@device_option
@step_main
def main(
    in_dir: Path, out_dir: Path, model_dir: Path, conf: Path | None, splits: str, force: bool, device: str
) -> None:
    """Embed every cut of IN_DIR (fbank cuts) with the extractor in --model-dir into OUT_DIR."""
    require_complete(in_dir, "feature")
    require_complete(model_dir, "model")
    cfg = load_dataclass(ExtractConf, conf) if conf else ExtractConf()
    wanted = [s for s in splits.split(",") if s] or splits_in(in_dir)
    missing = [s for s in wanted if s not in splits_in(in_dir)]
    if missing or not wanted:
        raise FairstreamError(f"{in_dir} has no cuts for split(s) {', '.join(missing) or '(none found)'}")
    resolved = {
        "input": str(in_dir),
        "model_dir": str(model_dir),
        "extractor_digest": file_digest(model_dir / FINAL),
        "splits": wanted,
        **to_dict(cfg),
    }
    with stage_output(out_dir, resolved, force) as out:
        set_job_threads(cfg.num_threads)
        # where it runs, not what it computes: not in the config
        extractor = load_extractor(model_dir).to(resolve_device(device))
        report = {s: extract_split(load_cuts(in_dir, s), s, extractor, out, cfg) for s in wanted}
        report["embed_dim"] = extractor.conf.embed_dim
        write_json_atomic(out.path / "report.json", report)


if __name__ == "__main__":
    main()
