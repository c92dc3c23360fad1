"""A simple energy voice-activity detector on log-mel features, for the single-talker baseline.

Frame energy = mean log-mel value of the frame (``log`` of a power sum, so a level in the log
domain).  The threshold adapts to each recording: ``floor + margin`` where ``floor`` is a low
percentile of the frame energies (the silence level; the demo sessions' pauses hold their
background noise) — a frame above it is speech.  Speech runs shorter than ``min_speech`` are dropped,
gaps shorter than ``min_gap`` are bridged, and every segment is padded by ``pad`` on each side.
"""

from __future__ import annotations

import numpy as np


def energy_vad(
    feats: np.ndarray,
    frame_shift: float = 0.01,
    *,
    percentile: float = 10.0,
    margin: float = 2.0,
    min_speech: float = 0.3,
    min_gap: float = 0.3,
    pad: float = 0.1,
) -> list[tuple[float, float]]:
    """Speech segments ``[(start, end), ...]`` in seconds of a (T, F) log-mel matrix."""
    if feats.ndim != 2 or feats.shape[0] == 0:
        return []
    energy = feats.mean(axis=1)
    speech = energy > np.percentile(energy, percentile) + margin
    segs: list[list[int]] = []
    for t in np.flatnonzero(speech):
        if segs and t - segs[-1][1] <= round(min_gap / frame_shift):
            segs[-1][1] = int(t) + 1
        elif not segs or t >= segs[-1][1]:
            segs.append([int(t), int(t) + 1])
    n, p = feats.shape[0], round(pad / frame_shift)
    out = []
    for a, b in segs:
        if (b - a) * frame_shift < min_speech:
            continue
        out.append((max(0, a - p) * frame_shift, min(n, b + p) * frame_shift))
    merged: list[tuple[float, float]] = []
    for a, b in out:  # padding may make neighbours touch
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged
