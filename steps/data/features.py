"""Log-mel fbank features for every split, stored with Lhotse's ``LilcomChunkyWriter``.

Work is split into fixed shards of cuts; a shard's cut manifest is written (atomically) only
after its feature file is closed, so a killed run resumes from the finished shards and never
trusts a half-written one.  Cuts whose audio cannot be read are skipped, one line each, and
counted.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from lhotse import CutSet, Fbank, FbankConfig, LilcomChunkyWriter, load_manifest
from lhotse.cut import Cut
from lhotse.features.base import Features
from tqdm import tqdm

from steps.data.manifests import load_cuts, splits_in
from steps.utils import StageDir, save_manifest_atomic, write_json_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FbankConf:
    num_mel_bins: int = 80
    sampling_rate: int = 16000
    frame_length: float = 0.025
    frame_shift: float = 0.01
    dither: float = 0.0
    shard_size: int = 500  # cuts per resumable unit


@dataclass(frozen=True)
class ShardJob:
    split: str
    index: int
    cuts_path: Path  # a tiny manifest with this shard's cuts
    write_dir: Path
    final_dir: Path
    conf: FbankConf


def _extractor(conf: FbankConf) -> Fbank:
    return Fbank(
        FbankConfig(
            sampling_rate=conf.sampling_rate,
            frame_length=conf.frame_length,
            frame_shift=conf.frame_shift,
            dither=conf.dither,
            num_filters=conf.num_mel_bins,
        )
    )


def compute_shard(job: ShardJob) -> dict[str, object]:
    """Compute and store one shard; returns counts. Runs in a worker process."""
    import torch

    torch.set_num_threads(1)
    extractor = _extractor(job.conf)
    name = f"feats_{job.split}.{job.index:05d}"
    feats_path = job.write_dir / f"{name}.lca"
    done, skipped, resampled = [], [], 0
    with LilcomChunkyWriter(feats_path, mode="w") as writer:
        for cut in load_manifest(job.cuts_path):
            if cut.sampling_rate != job.conf.sampling_rate:
                cut = cut.resample(job.conf.sampling_rate)
                resampled += 1
            try:
                audio = cut.load_audio()
                feats = extractor.extract(audio, cut.sampling_rate)
            except Exception as e:  # noqa: BLE001 - any unreadable audio is skipped and counted
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                log.warning("skipping cut %s: cannot read audio (%s)", cut.id, msg[:200])
                skipped.append(cut.id)
                continue
            if feats.shape[0] == 0 or not np.isfinite(feats).all():
                log.warning("skipping cut %s: empty or non-finite features", cut.id)
                skipped.append(cut.id)
                continue
            key = writer.write(cut.id, feats)
            cut.features = Features(
                type=extractor.name,
                num_frames=feats.shape[0],
                num_features=feats.shape[1],
                frame_shift=extractor.frame_shift,
                sampling_rate=cut.sampling_rate,
                start=cut.start,
                duration=cut.duration,
                storage_type=writer.name,
                storage_path=str(job.final_dir / feats_path.name),
                storage_key=key,
                channels=cut.channel,
            )
            done.append(cut)
    info = {"skipped": skipped, "resampled": resampled, "cuts": len(done)}
    write_json_atomic(job.write_dir / f"{name}.json", info)
    # the shard manifest is the shard's completion marker: written last
    save_manifest_atomic(
        CutSet.from_cuts(done), job.write_dir / f"cuts_{job.split}.{job.index:05d}.jsonl.gz"
    )
    return info


def run_shards(
    out: StageDir, shards: dict[str, list[list[Cut]]], conf: FbankConf, num_jobs: int, desc: str = "fbank"
) -> dict[str, tuple[list[Cut], dict[str, Any]]]:
    """The one sharded fbank driver: features of every split's shards (lists of cuts) into
    ``feats_<split>.<shard>.lca``, shards in ``num_jobs`` worker processes, a shard already
    finished by a killed run with the same config kept.  Per split: the cuts with features (shard
    order) and ``{"skipped": ids of unreadable cuts, "resampled": count}``.  Temporary shard
    manifests are removed; ``feats_<split>.<shard>.json`` keep each shard's counts."""
    jobs: list[ShardJob] = []
    for split, parts in shards.items():
        for i, part in enumerate(parts):
            if (out.path / f"cuts_{split}.{i:05d}.jsonl.gz").is_file():
                continue
            src = out.path / "shards" / f"in_{split}.{i:05d}.jsonl.gz"
            save_manifest_atomic(CutSet.from_cuts(part), src)
            jobs.append(ShardJob(split, i, src, out.path, out.out, conf))
    total = sum(len(v) for v in shards.values())
    if total - len(jobs):
        log.info("resuming: %d of %d shards already finished", total - len(jobs), total)
    if num_jobs <= 1 or len(jobs) <= 1:
        for job in tqdm(jobs, desc=desc, unit="shard"):
            compute_shard(job)
    else:
        with mp.get_context("spawn").Pool(min(num_jobs, len(jobs))) as pool:
            for _ in tqdm(pool.imap_unordered(compute_shard, jobs), total=len(jobs), desc=desc, unit="shard"):
                pass
    result = {}
    for split, parts in shards.items():
        done: list[Cut] = []
        info: dict[str, Any] = {"skipped": [], "resampled": 0}
        for i in range(len(parts)):
            done += list(load_manifest(out.path / f"cuts_{split}.{i:05d}.jsonl.gz"))
            shard = json.loads((out.path / f"feats_{split}.{i:05d}.json").read_text())
            info["skipped"] += shard["skipped"]
            info["resampled"] += int(shard["resampled"])
        for i in range(len(parts)):
            (out.path / f"cuts_{split}.{i:05d}.jsonl.gz").unlink()
        result[split] = (done, info)
    scratch = out.path / "shards"
    for p in scratch.glob("in_*"):
        p.unlink()
    if scratch.is_dir() and not any(scratch.iterdir()):
        scratch.rmdir()
    return result


def compute_fbank(in_dir: Path, out: StageDir, conf: FbankConf, num_jobs: int) -> dict[str, dict]:
    """Fbank for every ``cuts_<split>.jsonl.gz`` of ``in_dir``; resumes finished shards."""
    shards: dict[str, list[list[Cut]]] = {}
    for split in splits_in(in_dir):
        cuts = load_cuts(in_dir, split).to_eager()
        n_shards = max(1, -(-len(cuts) // conf.shard_size))
        shards[split] = [list(p) for p in (cuts.split(n_shards) if n_shards > 1 else [cuts])]
    report: dict[str, dict] = {}
    for split, (done, info) in run_shards(out, shards, conf, num_jobs).items():
        merged = CutSet.from_cuts(done)
        save_manifest_atomic(merged, out.path / f"cuts_{split}.jsonl.gz")
        skipped = info["skipped"]
        report[split] = {
            "cuts": len(merged),
            "skipped": len(skipped),
            "skipped_ids": skipped[:50],
            "resampled": info["resampled"],
        }
        if skipped:
            log.warning("%s: skipped %d cut(s) with unreadable audio", split, len(skipped))
        log.info("%s: %d cuts with features", split, len(merged))
    write_json_atomic(out.path / "report.json", report)
    return report
