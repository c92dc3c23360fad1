"""Speaker groups (gender, country, accent) from the cuts, and per-group verification metrics.

A trial belongs to group ``g`` of attribute ``a`` when *both* sides have ``a == g``: targets of
that group's speakers and the non-targets drawn inside the group.  Cross-group non-targets are
easy (a cross-gender impostor is rarely accepted), so counting them would flatter a group.
Fairness summaries follow the seed paper: the gender gap is the absolute EER difference between
the two genders, country variability the standard deviation of per-country EERs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from lhotse.cut import Cut

from .metrics import summary

ATTRIBUTES = ("gender", "country", "accent")


@dataclass(frozen=True)
class UttMeta:
    """What the trial generator and the group metrics need to know about one utterance."""

    speaker: str
    gender: str | None = None
    country: str | None = None
    accent: str | None = None

    def get(self, attribute: str) -> str | None:
        return getattr(self, attribute)


def cut_meta(cut: Cut) -> UttMeta:
    """Metadata of a single-speaker cut: supervision fields first, then its ``custom``."""
    sup = cut.supervisions[0] if cut.supervisions else None
    custom = dict((sup.custom or {}) if sup is not None else {})
    speaker = (sup.speaker if sup is not None else None) or custom.get("speaker") or cut.id
    gender = (sup.gender if sup is not None else None) or custom.get("gender")
    return UttMeta(
        speaker=str(speaker),
        gender=_norm_gender(gender),
        country=_norm(custom.get("country")),
        accent=_norm(custom.get("accent")),
    )


def _norm(v: object) -> str | None:
    return None if v is None or v == "" else str(v)


def _norm_gender(v: object) -> str | None:
    """ "m"/"f" whatever the corpus spells (``M``, ``male``, ``Female``)."""
    if v is None or v == "":
        return None
    s = str(v).strip().lower()
    return {"male": "m", "female": "f"}.get(s, s)


def metadata(cuts: Iterable[Cut]) -> dict[str, UttMeta]:
    return {c.id: cut_meta(c) for c in cuts}


def group_masks(
    enroll: list[str], test: list[str], meta: dict[str, UttMeta], attribute: str, min_speakers: int = 1
) -> dict[str, np.ndarray]:
    """Boolean trial masks per value of ``attribute`` (both sides in the group)."""
    e_val = np.array([meta[u].get(attribute) for u in enroll], dtype=object)
    t_val = np.array([meta[u].get(attribute) for u in test], dtype=object)
    values = sorted({v for v in e_val if v is not None})
    out = {}
    for v in values:
        spk = {meta[u].speaker for u in enroll if meta[u].get(attribute) == v}
        if len(spk) < min_speakers:
            continue
        out[v] = (e_val == v) & (t_val == v)
    return out


def group_metrics(
    scores: np.ndarray, is_target: np.ndarray, masks: dict[str, np.ndarray], min_trials: int = 1
) -> dict[str, dict[str, float]]:
    """Metrics per group; groups without both target and non-target trials are left out."""
    out = {}
    for g, m in masks.items():
        t = is_target[m]
        if t.sum() < min_trials or (~t).sum() < min_trials:
            continue
        out[g] = summary(scores[m], t)
    return out


def fairness(per_group: dict[str, dict[str, dict[str, float]]]) -> dict[str, float | None]:
    """Gender gap and the spread of EER across countries and accents."""
    g = per_group.get("gender", {})
    gap = None
    if len(g) == 2:
        a, b = (v["eer"] for v in g.values())
        gap = abs(a - b)
    out: dict[str, float | None] = {"gender_gap": gap}
    for attr in ("country", "accent"):
        eers = [v["eer"] for v in per_group.get(attr, {}).values()]
        out[f"{attr}_std"] = float(np.std(eers)) if len(eers) >= 2 else None
    return out
