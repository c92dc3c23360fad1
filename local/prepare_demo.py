"""Stage 1 (demo): synthesise the accented voice-assistant corpus and write its manifests.

python -m local.prepare_demo data/manifests --conf conf/demo.yaml --size default
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from local.demo.corpus import DESIGN_VERSION, DemoConf, build_demo_corpus, speaker_counts
from local.demo.speakers import make_speakers
from steps.data.manifests import summarise, write_split
from steps.utils import FairstreamError, stage_output, write_json_atomic
from steps.utils.cli import CONTEXT, step_main
from steps.utils.config import from_dict, load_yaml, to_dict

log = logging.getLogger(__name__)


def load_demo_conf(conf: Path, size: str, seed: int) -> DemoConf:
    sizes = load_yaml(conf)
    if size not in sizes:
        raise FairstreamError(f"{conf}: no size {size!r}; known: {', '.join(sizes)}")
    return from_dict(DemoConf, {**sizes[size], "seed": seed}, where=f"{conf}:{size}")


@click.command(context_settings=CONTEXT)
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--conf", type=click.Path(path_type=Path), default=Path("conf/demo.yaml"))
@click.option("--size", type=click.Choice(["tiny", "small", "default"]), default="default")
@click.option("--seed", type=int, default=42)
@click.option("-j", "--num-jobs", type=int, default=2, help="Synthesis worker processes.")
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete.")
@step_main
def main(out_dir: Path, conf: Path, size: str, seed: int, num_jobs: int, force: bool) -> None:
    """Synthesise the demo corpus into OUT_DIR/audio and write Lhotse manifests per split."""
    cfg = load_demo_conf(conf, size, seed)
    stage_cfg = {"corpus": "demo", "design": DESIGN_VERSION, "size": size, **to_dict(cfg)}
    with stage_output(out_dir, stage_cfg, force) as out:
        manifests = build_demo_corpus(cfg, out.path, out.out, num_jobs)
        stats = {}
        for split in speaker_counts(cfg):
            write_split(out.path, split, *manifests[split])
            stats[split] = summarise(manifests[split][2])
            log.info(
                "%s: %d speakers, %d utterances, %.2f h",
                split,
                stats[split]["speakers"],
                stats[split]["utterances"],
                stats[split]["hours"],
            )
        speakers = make_speakers(cfg.seed, speaker_counts(cfg))
        with open(out.path / "speakers.jsonl", "w") as f:
            for s in speakers:
                row = {"split": s.split, **s.metadata(), "voice": s.voice, "l1": s.l1}
                f.write(json.dumps({**row, "l2_strength": s.l2_strength}) + "\n")
        write_json_atomic(out.path / "stats.json", stats)


if __name__ == "__main__":
    main()
