"""The process group of a training run (``torchrun`` sets WORLD_SIZE / RANK): gloo on CPUs, NCCL
with one GPU per rank."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass
class DistInfo:
    world_size: int = 1
    rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device | None = None) -> DistInfo:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return DistInfo()
    import torch.distributed as dist

    backend = "nccl" if device is not None and device.type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(device)  # each rank on its own GPU before the first collective
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return DistInfo(world, dist.get_rank())


def barrier(d: DistInfo) -> None:
    if d.world_size > 1:
        import torch.distributed as dist

        dist.barrier()
