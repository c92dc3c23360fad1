"""The cohort figures: the geographic regions on a map, WER by cohort per method, the share curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from steps.fairness.speakers import Speakers  # noqa: E402

from .world_map import draw as draw_outlines  # noqa: E402


def regions_map(
    tables: dict[str, Speakers],
    assign: dict[str, np.ndarray],
    order: list[int],
    cohorts: list[dict[str, Any]],
    path: Path,
) -> None:
    """Dev (o) and test (^) speakers coloured by their geo region's dev WER, with region boxes, over
    coastlines and country borders (``world_map``, offline).

    ``cohorts`` are the geo rows of cohorts.json (rank order); ``order[i]`` is row i's cohort id.
    """
    wer_of = {
        c: np.nan if r["dev_wer"] is None else r["dev_wer"] for c, r in zip(order, cohorts, strict=True)
    }
    fig, ax = plt.subplots(figsize=(9, 5))
    lat = np.concatenate([tables[s].lat for s in ("dev", "test")])
    lon = np.concatenate([tables[s].lon for s in ("dev", "test")])
    ok = np.isfinite(lat) & np.isfinite(lon)
    pad = 5.0
    lims = (lon[ok].min() - pad, lon[ok].max() + pad, lat[ok].min() - pad, lat[ok].max() + pad)
    vals = [c["dev_wer"] for c in cohorts if c["dev_wer"] is not None] or [0.0]
    norm = matplotlib.colors.Normalize(min(vals), max(vals) if max(vals) > min(vals) else min(vals) + 1e-6)
    cmap = plt.get_cmap("viridis")
    draw_outlines(ax, lims)
    dev, dev_a = tables["dev"], assign["dev"]
    for cid, c in zip(order, cohorts, strict=True):
        box = c["rule"]["box"]
        x0 = box["lon"][0] if box["lon"][0] is not None else lims[0]
        x1 = box["lon"][1] if box["lon"][1] is not None else lims[1]
        y0 = box["lat"][0] if box["lat"][0] is not None else lims[2]
        y1 = box["lat"][1] if box["lat"][1] is not None else lims[3]
        colour = cmap(norm(c["dev_wer"])) if c["dev_wer"] is not None else "grey"
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec=colour, lw=2 if c["bottom"] else 1))
        inside = (dev_a == cid) & np.isfinite(dev.lat)
        if inside.any():  # label at the middle of the region's dev speakers
            mx, my = np.median(dev.lon[inside]), np.median(dev.lat[inside])
            ax.annotate(c["label"], (mx, my), xytext=(4, 4), textcoords="offset points", fontsize=8)
    for s, marker in (("dev", "o"), ("test", "^")):
        sp, a = tables[s], assign[s]
        w = np.array([wer_of.get(int(c), np.nan) for c in a], dtype=float)
        m = np.isfinite(sp.lat) & np.isfinite(w)
        ax.scatter(sp.lon[m], sp.lat[m], c=w[m], cmap=cmap, norm=norm, marker=marker, s=18, label=s)
    ax.set(xlim=lims[:2], ylim=lims[2:], xlabel="longitude (°)", ylabel="latitude (°)", aspect="equal")
    ax.set_title("Geographic regions (tree on dev); colour = region dev WER, thick = bottom")
    mappable = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(mappable, ax=ax, label="region dev WER", shrink=0.6)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cohort_wer(results: dict[str, dict[str, Any]], path: Path) -> None:
    """One panel per method: dev and test WER of each cohort (ranked on dev) with 95% CIs."""
    fig, axes = plt.subplots(1, len(results), figsize=(4.5 * len(results), 3.8), squeeze=False)
    for ax, (m, r) in zip(axes[0], results.items(), strict=True):
        rows = r["cohorts"]
        x = np.arange(len(rows))
        for off, split, colour in ((-0.2, "dev", "tab:grey"), (0.2, "test", "tab:blue")):
            y = np.array([np.nan if c[f"{split}_wer"] is None else 100 * c[f"{split}_wer"] for c in rows])
            err = np.array([_err(c[f"{split}_wer"], c[f"{split}_wer_ci"]) for c in rows]).T
            ax.bar(x + off, y, 0.4, yerr=err, color=colour, label=split, capsize=2)
        for i, c in enumerate(rows):
            if c["bottom"]:
                ax.axvspan(i - 0.5, i + 0.5, color="tab:red", alpha=0.12)
        ax.set_xticks(x, [c["label"] for c in rows], rotation=45, fontsize=7)
        ax.set(title=f"{m} (shaded = bottom)", ylabel="WER %")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def share_curve(results: dict[str, dict[str, Any]], path: Path) -> None:
    """Test WER gap (bottom vs top) against the test bottom share, one line per method."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for m, r in results.items():
        pts = [(p["share"], p["gap"]) for p in r.get("share_curve", []) if p["gap"] is not None]
        if pts:
            x, y = zip(*sorted(pts), strict=True)
            ax.plot(100 * np.array(x), 100 * np.array(y), marker="o", label=m)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xlabel="test bottom-cohort share (% of speakers)", ylabel="test WER gap, bottom vs top (%)")
    ax.set_title("Gap against the share the bottom cohort covers")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _err(w: float | None, ci: list[float] | None) -> tuple[float, float]:
    if w is None or not ci:
        return (0.0, 0.0)
    return (max(0.0, 100 * (w - ci[0])), max(0.0, 100 * (ci[1] - w)))
