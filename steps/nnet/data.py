"""Training data: Lhotse's ASR dataset over precomputed fbank, bucketed by duration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lhotse import CutSet
from lhotse.dataset import DynamicBucketingSampler, K2SpeechRecognitionDataset, SpecAugment
from lhotse.dataset.input_strategies import PrecomputedFeatures
from torch.utils.data import DataLoader


@dataclass
class DataConf:
    max_duration: float = 200.0  # seconds of audio per batch
    num_buckets: int = 10
    max_cut_duration: float = 20.0
    spec_augment: dict[str, Any] = field(
        default_factory=lambda: {
            "time_warp_factor": 0,
            "num_feature_masks": 2,
            "features_mask_size": 15,
            "num_frame_masks": 4,
            "frames_mask_size": 40,
            "max_frames_mask_fraction": 0.15,
        }
    )


def make_train_loader(
    cuts: CutSet,
    conf: DataConf,
    seed: int,
    world_size: int = 1,
    rank: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> tuple[DataLoader, DynamicBucketingSampler]:
    """Bucketed batches of ``conf.max_duration`` seconds; ``num_workers`` processes load features
    (and apply SpecAugment) while the model trains, ``pin_memory`` for fast copies to a GPU."""
    cuts = cuts.filter(lambda c: c.duration <= conf.max_cut_duration)
    sampler = DynamicBucketingSampler(
        cuts,
        max_duration=conf.max_duration,
        num_buckets=conf.num_buckets,
        shuffle=True,
        drop_last=False,
        seed=seed,
        world_size=world_size,
        rank=rank,
    )
    transforms = [SpecAugment(**conf.spec_augment)] if conf.spec_augment else []
    dataset = K2SpeechRecognitionDataset(
        input_strategy=PrecomputedFeatures(), input_transforms=transforms, return_cuts=True
    )
    loader = DataLoader(
        dataset, sampler=sampler, batch_size=None, num_workers=num_workers, pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )  # fmt: skip
    return loader, sampler
