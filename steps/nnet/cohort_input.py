"""Cohort membership as an additional input of the acoustic model (Dheram et al., 2022).

The paper's second mitigation feeds each utterance's speaker cohort to the recogniser as extra
input variables: a small learned embedding of the cohort (2-D in the paper).  Here the embedding
goes through a linear map to the fbank dimension and is added to every frame of the utterance,
before the encoder -- the same as concatenating it to the features in front of a linear first
layer, but it keeps the encoder's input size, so the model can start from the baseline's weights.
The map starts at zero, so fine-tuning starts exactly at the baseline and learns how much each
cohort should shift.  A per-utterance constant streams trivially: the decoder adds it to the
features before they enter the encoder, offline or chunk by chunk.

Cohort ids come from stage 7's labels (``cohort`` in each supervision's custom, e.g. ``geo-3``,
rank 3 by dev WER): label ``<method>-k`` is row k; unknown, unplaced (``geo-none``) or missing
labels use row 0, so a speaker outside every cohort is decoded with the "unknown" embedding.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class CohortInput(nn.Module):
    def __init__(self, num_cohorts: int, dim: int, num_features: int) -> None:
        super().__init__()
        self.num_cohorts = num_cohorts
        self.embed = nn.Embedding(num_cohorts + 1, dim)  # row 0: unknown cohort
        self.proj = nn.Linear(dim, num_features)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, feats: Tensor, cohort: Tensor) -> Tensor:
        """``feats`` (B, T, F) plus each utterance's cohort offset; ``cohort`` (B,) row ids."""
        return feats + self.proj(self.embed(cohort.to(feats.device)))[:, None, :]


def cohort_row(label: object, num_cohorts: int) -> int:
    """``"geo-3"`` -> 3; anything else (``geo-none``, no label, a rank above ``num_cohorts``) -> 0."""
    rank = str(label).rsplit("-", 1)[-1] if label else ""
    return int(rank) if rank.isdigit() and 1 <= int(rank) <= num_cohorts else 0


def cohort_rows(cuts: Sequence, num_cohorts: int) -> Tensor:
    """Row ids of the first supervision's ``cohort`` label of each cut."""
    rows = []
    for c in cuts:
        custom = (c.supervisions[0].custom or {}) if c.supervisions else {}
        rows.append(cohort_row(custom.get("cohort"), num_cohorts))
    return torch.tensor(rows, dtype=torch.int64)
