"""The cohort-discovery configuration (``conf/cohorts.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from steps.utils import FairstreamError

DEFAULT_ATTRIBUTES = ["zip_income", "zip_urbanicity", "zip_age", "zip_home_language"]


@dataclass
class CohortsConf:
    """Sizes are in *speakers*: a cohort of one talkative speaker says nothing about a group."""

    # geographic tree (Trinh et al.)
    min_speakers_per_region: int = 6
    max_regions: int = 8
    max_depth: int = 4
    # geodemographic partitions (Dheram et al.)
    attributes: list[str] = field(default_factory=lambda: list(DEFAULT_ATTRIBUTES))
    min_partition_speakers: int = 6
    max_conditions: int = 2  # conjunction length of the greedy attribute search
    numeric_bins: int = 3  # numeric attributes are cut into this many dev quantile bins
    # automatic cohorts (k-means on speaker embeddings)
    k: int = 0  # 0 = choose k in [2, k_max] on dev by k_selection
    k_max: int = 12
    k_selection: str = "heldout"  # heldout (two-fold held-out gap) | silhouette
    # one selection rule for every method: the worst (best) cohorts until this share of dev
    # speakers is the bottom (top) cohort; the gap is also reported as a curve over share_curve
    bottom_share: float = 0.1
    share_curve: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.2, 0.3, 0.4, 0.5])
    bootstrap: int = 1000
    stability_resamples: int = 100  # refits on resampled dev speakers (0 = skip)
    seed: int = 42

    def __post_init__(self) -> None:
        if not 0 < self.bottom_share <= 1:
            raise FairstreamError(f"bottom_share must be in (0, 1], got {self.bottom_share}")
        if self.min_speakers_per_region < 1 or self.min_partition_speakers < 1:
            raise FairstreamError("min_speakers_per_region and min_partition_speakers must be >= 1")
        if self.max_regions < 2 or self.max_depth < 1:
            raise FairstreamError("max_regions must be >= 2 and max_depth >= 1")
        if self.k == 1 or self.k < 0 or self.k_max < 2:
            raise FairstreamError(f"k must be 0 (auto) or >= 2 and k_max >= 2, got k={self.k}")
        if self.k_selection not in ("heldout", "silhouette"):
            raise FairstreamError(f"k_selection must be heldout or silhouette, got {self.k_selection!r}")
        if not all(0 < x <= 1 for x in self.share_curve) or self.stability_resamples < 0:
            raise FairstreamError("share_curve values must be in (0, 1] and stability_resamples >= 0")
        if not self.attributes:
            raise FairstreamError("attributes must name at least one zip attribute")
        if self.max_conditions < 1 or self.numeric_bins < 2 or self.bootstrap < 0:
            raise FairstreamError("max_conditions >= 1, numeric_bins >= 2 and bootstrap >= 0 required")
