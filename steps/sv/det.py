"""DET curves (miss vs false-alarm rate on normal-deviate axes), one line per group."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import norm  # noqa: E402

from steps.utils import atomic_path  # noqa: E402

from .evaluate import ScoredTrials  # noqa: E402
from .metrics import error_curve  # noqa: E402

TICKS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]
CLIP = (5e-4, 0.5)


def _probit(p: np.ndarray) -> np.ndarray:
    return norm.ppf(np.clip(p, *CLIP))


def det_lines(
    st: ScoredTrials, attribute: str | None, max_groups: int = 8, min_trials: int = 1
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(p_fa, p_miss) per group of ``attribute`` (the largest ``max_groups`` with at least
    ``min_trials`` targets and non-targets), or overall when ``attribute`` is None."""
    if attribute is None:
        c = error_curve(st.scores, st.is_target)
        return {"all": (c.p_fa, c.p_miss)}
    masks = st.masks(attribute)
    y = st.is_target
    masks = {
        g: m
        for g, m in masks.items()
        if y[m].sum() >= max(1, min_trials) and (~y[m]).sum() >= max(1, min_trials)
    }
    biggest = sorted(masks, key=lambda g: -int(masks[g].sum()))[:max_groups]
    out = {}
    for g in sorted(biggest):
        c = error_curve(st.scores[masks[g]], st.is_target[masks[g]])
        out[g] = (c.p_fa, c.p_miss)
    return out


def _axes(ax: plt.Axes, title: str) -> None:
    t = _probit(np.array(TICKS))
    labels = [f"{100 * x:g}" for x in TICKS]
    ax.set_xticks(t, labels)
    ax.set_yticks(t, labels)
    ax.set_xlim(_probit(np.array(CLIP)))
    ax.set_ylim(_probit(np.array(CLIP)))
    ax.set_xlabel("false-alarm rate (%)")
    ax.set_ylabel("miss rate (%)")
    ax.plot(ax.get_xlim(), ax.get_ylim(), color="0.85", lw=0.8, zorder=0)  # EER diagonal
    ax.grid(True, color="0.9", lw=0.5)
    ax.set_title(title, fontsize=10)


def plot_det(
    systems: dict[str, ScoredTrials],
    path: Path,
    attributes: tuple[str, ...] = ("gender", "country"),
    min_trials: int = 1,
) -> None:
    """A grid of DET plots: one row per system, one column per attribute, one line per group
    (plus the overall curve, dashed, in every panel)."""
    fig, axes = plt.subplots(
        len(systems), len(attributes), figsize=(4.2 * len(attributes), 4.0 * len(systems)), squeeze=False
    )
    for r, (name, st) in enumerate(systems.items()):
        overall = det_lines(st, None)["all"]
        for c, attr in enumerate(attributes):
            ax = axes[r][c]
            ax.plot(_probit(overall[0]), _probit(overall[1]), "k--", lw=1.2, label="all")
            for g, (fa, miss) in det_lines(st, attr, min_trials=min_trials).items():
                ax.plot(_probit(fa), _probit(miss), lw=1.0, label=g)
            _axes(ax, f"{name}: by {attr}")
            ax.legend(fontsize=7, loc="upper right", ncol=2)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
