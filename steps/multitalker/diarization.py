"""Diarization of decoded turns: speaker labels by clustering, RTTM files, and our own DER.

The decoder gives turns (start, end, text, channel) but no speaker identity across channels and
time; :func:`label_turns` clusters one speaker embedding per turn (agglomerative, cosine
distance, average linkage) into speaker labels, so cpWER and DER can be computed.

:func:`der` is the NIST/pyannote diarization error rate, overlap-aware (several speakers at once
count once each) with the optimal one-to-one speaker mapping (Hungarian on overlap durations
inside the scored region).  ``collar`` is the time excluded *on each side* of every reference
turn boundary (md-eval's ``-c``); pyannote's ``collar`` argument is the total width, i.e.
``2 * collar``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from steps.utils import FairstreamError, write_text_atomic

from .turns import EPS, Turn, sort_turns


# ---- clustering -----------------------------------------------------------------------------
def cluster_embeddings(
    embeddings: np.ndarray,
    *,
    threshold: float | None = 0.5,
    num_speakers: int | None = None,
    min_speakers: int = 1,
    max_speakers: int | None = None,
    linkage: str = "average",
) -> np.ndarray:
    """Speaker label (0, 1, ... in order of first appearance) of each embedding row.

    With ``num_speakers`` the number of clusters is fixed (oracle count); otherwise clusters are
    merged while their cosine distance is below ``threshold`` (the estimated count), then
    clamped to ``[min_speakers, max_speakers]`` by re-clustering with that count.
    """
    from sklearn.cluster import AgglomerativeClustering

    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise FairstreamError(f"embeddings must be a 2-D array, got shape {x.shape}")
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.isfinite(x).all() or (np.linalg.norm(x, axis=1) == 0).any():
        raise FairstreamError("embeddings must be finite and non-zero for cosine clustering")
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    if num_speakers is None and threshold is None:
        raise FairstreamError("give a distance threshold or a number of speakers")

    def fit(k: int | None) -> np.ndarray:
        algo = AgglomerativeClustering(
            n_clusters=k,
            metric="cosine",
            linkage=linkage,
            distance_threshold=None if k is not None else threshold,
        )
        return algo.fit_predict(x)

    if num_speakers is not None:
        labels = fit(min(max(num_speakers, 1), n))
    else:
        labels = fit(None)
        k = len(set(labels.tolist()))
        lo, hi = min(min_speakers, n), min(max_speakers or n, n)
        if k < lo or k > hi:
            labels = fit(min(max(k, lo), hi))
    # relabel by first appearance, so labels do not depend on sklearn's internal order
    remap: dict[int, int] = {}
    return np.array([remap.setdefault(int(lab), len(remap)) for lab in labels], dtype=np.int64)


def label_turns(
    turns: Sequence[Turn], embeddings: np.ndarray, prefix: str = "spk", **kwargs: object
) -> list[Turn]:
    """``turns`` with ``speaker`` set from :func:`cluster_embeddings` (one embedding per turn)."""
    if len(turns) != len(embeddings):
        raise FairstreamError(f"{len(turns)} turns but {len(embeddings)} embeddings")
    labels = cluster_embeddings(np.asarray(embeddings), **kwargs)  # type: ignore[arg-type]
    return [t.with_(speaker=f"{prefix}{int(k)}") for t, k in zip(turns, labels, strict=True)]


# ---- RTTM ----------------------------------------------------------------------------------
def _rttm_turns(session_id: str, turns: Iterable[Turn]) -> list[Turn]:
    """The session's turns by start, checked for what an RTTM line can hold."""
    out = sort_turns(turns)
    for t in out:
        if t.speaker is None:
            raise FairstreamError(f"{session_id}: turn at {t.start:.2f}s has no speaker label")
        if any(c.isspace() for c in t.speaker) or any(c.isspace() for c in session_id):
            raise FairstreamError(f"{session_id}: RTTM fields cannot contain spaces ({t.speaker!r})")
    return out


def write_rttm(path: str | Path, sessions: Mapping[str, Iterable[Turn]]) -> None:
    """One RTTM file for many sessions (sorted by session id; ``SPEAKER <session> 1 <start> <dur>
    <NA> <NA> <speaker> <NA> <NA>``, times to the millisecond), written atomically (meeteval.io)."""
    from meeteval.io.rttm import RTTM, RTTMLine

    lines = [
        RTTMLine(
            filename=sid, begin_time=f"{t.start:.3f}", duration=f"{t.duration:.3f}", speaker_id=t.speaker
        )
        for sid in sorted(sessions)
        for t in _rttm_turns(sid, sessions[sid])
    ]
    write_text_atomic(path, RTTM(lines).dumps() if lines else "")


def read_rttm(path: str | Path) -> dict[str, list[Turn]]:
    """Turns per session from an RTTM file (``SPEAKER`` lines, parsed by meeteval.io; other line
    types, which meeteval's parser refuses, are skipped); a bad line is one error naming it."""
    from meeteval.io.rttm import RTTMLine

    out: dict[str, list[Turn]] = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        f = line.split()
        if not f or f[0] != "SPEAKER":
            continue
        if len(f) < 8:
            raise FairstreamError(f"{path}:{n}: an RTTM SPEAKER line needs at least 8 fields")
        try:
            r = RTTMLine.parse(line, float)
        except (ValueError, ArithmeticError) as e:
            raise FairstreamError(f"{path}:{n}: bad start/duration {f[3]!r} {f[4]!r}") from e
        start = float(r.begin_time)
        out.setdefault(r.filename, []).append(
            Turn(start=start, end=start + float(r.duration), speaker=r.speaker_id)
        )
    return {k: sort_turns(v) for k, v in out.items()}


# ---- DER -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DerResult:
    """Diarization error components in seconds; ``der`` is their sum over ``total``."""

    missed: float
    false_alarm: float
    confusion: float
    total: float  # scored reference speech, counted once per active speaker

    @property
    def der(self) -> float:
        errs = self.missed + self.false_alarm + self.confusion
        if self.total <= 0:
            return 0.0 if errs <= EPS else float("inf")
        return errs / self.total

    def __add__(self, other: DerResult) -> DerResult:
        return DerResult(
            self.missed + other.missed,
            self.false_alarm + other.false_alarm,
            self.confusion + other.confusion,
            self.total + other.total,
        )

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "der": self.der}


def _merge(iv: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for s, e in sorted(iv):
        if e - s <= EPS:
            continue
        if out and s <= out[-1][1] + EPS:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _per_speaker(turns: Iterable[Turn], what: str) -> dict[str, list[tuple[float, float]]]:
    d: dict[str, list[tuple[float, float]]] = {}
    for t in turns:
        if t.speaker is None:
            raise FairstreamError(f"{what} turn at {t.start:.2f}s has no speaker label")
        d.setdefault(t.speaker, []).append((t.start, t.end))
    return {k: _merge(v) for k, v in d.items()}


def _subtract(iv: list[tuple[float, float]], holes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Parts of (merged, sorted) ``iv`` outside (merged, sorted) ``holes``."""
    out = []
    for s, e in iv:
        cur = s
        for hs, he in holes:
            if he <= cur or hs >= e:
                continue
            if hs > cur:
                out.append((cur, hs))
            cur = max(cur, he)
        if e - cur > EPS:
            out.append((cur, e))
    return out


def _overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    i = j = 0
    tot = 0.0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            tot += hi - lo
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tot


def der(reference: Sequence[Turn], hypothesis: Sequence[Turn], collar: float = 0.0) -> DerResult:
    """DER components of one session (module doc); ``collar`` seconds on each side of each boundary.

    Each speaker's turns are merged first (a speaker cannot overlap themselves; pyannote would
    count such self-overlap twice, md-eval merges as we do).  Scoring runs
    on the elementary segments between all boundaries: with ``n_ref`` reference and ``n_hyp``
    hypothesis speakers active and ``n_ok`` of them mapped to each other, a segment of length
    ``d`` adds ``d*max(0, n_ref-n_hyp)`` missed, ``d*max(0, n_hyp-n_ref)`` false alarm and
    ``d*(min(n_ref, n_hyp)-n_ok)`` confusion.
    """
    if collar < 0:
        raise FairstreamError(f"collar must be >= 0, got {collar}")
    ref = _per_speaker(reference, "reference")
    hyp = _per_speaker(hypothesis, "hypothesis")
    if collar > 0:
        holes = _merge([(b - collar, b + collar) for t in reference for b in (t.start, t.end)])
        ref = {k: _subtract(v, holes) for k, v in ref.items()}
        hyp = {k: _subtract(v, holes) for k, v in hyp.items()}
    rk, hk = sorted(ref), sorted(hyp)
    # optimal one-to-one mapping: maximise the total overlap of mapped speakers
    mapping: dict[str, str] = {}
    if rk and hk:
        ov = np.array([[_overlap(ref[r], hyp[h]) for h in hk] for r in rk])
        rows, cols = linear_sum_assignment(-ov)
        mapping = {hk[c]: rk[r] for r, c in zip(rows, cols, strict=True) if ov[r, c] > 0}
    bounds = sorted({b for d in (ref, hyp) for v in d.values() for s, e in v for b in (s, e)})
    missed = fa = conf = total = 0.0
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        d = hi - lo
        if d <= EPS:
            continue
        mid = (lo + hi) / 2
        r_on = {k for k, v in ref.items() if any(s <= mid < e for s, e in v)}
        h_on = {k for k, v in hyp.items() if any(s <= mid < e for s, e in v)}
        ok = sum(1 for h in h_on if mapping.get(h) in r_on)
        nr, nh = len(r_on), len(h_on)
        total += d * nr
        missed += d * max(0, nr - nh)
        fa += d * max(0, nh - nr)
        conf += d * (min(nr, nh) - ok)
    return DerResult(missed, fa, conf, total)


def corpus_der(
    references: Mapping[str, Sequence[Turn]], hypotheses: Mapping[str, Sequence[Turn]], collar: float = 0.0
) -> tuple[DerResult, dict[str, DerResult]]:
    """Pooled DER over sessions (a missing hypothesis session counts as all missed), and per session."""
    extra = sorted(set(hypotheses) - set(references))
    if extra:
        raise FairstreamError(f"hypothesis has session(s) not in the reference: {', '.join(extra[:5])}")
    per = {sid: der(references[sid], hypotheses.get(sid, []), collar) for sid in sorted(references)}
    return sum(per.values(), DerResult(0.0, 0.0, 0.0, 0.0)), per
