"""Cosine scoring of trials from stored embeddings, with optional mean normalisation.

Mean normalisation subtracts the mean embedding of a reference set (usually the train split's
embeddings, never the test trials' own speakers by default) before length normalisation: it
removes the common offset that makes every cosine look similar.  A trial that names an
utterance with no embedding is counted and reported by the caller, never silently dropped.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from lhotse import CutSet
from tqdm import tqdm

from steps.utils import FairstreamError, write_text_atomic

from .extract import KEY
from .trials import Trial

log = logging.getLogger(__name__)


def load_embeddings(cuts: CutSet, desc: str = "load embeddings") -> dict[str, np.ndarray]:
    """cut id -> embedding, for every cut that carries ``custom["xvector"]``."""
    out = {}
    for c in tqdm(cuts, desc=desc, unit="cut", leave=False):
        if c.custom and KEY in c.custom:
            out[c.id] = np.asarray(c.load_custom(KEY), dtype=np.float64)
    if not out:
        raise FairstreamError(f"no cut carries custom[{KEY!r}]; run extract_embeddings first")
    return out


def mean_vector(embs: dict[str, np.ndarray]) -> np.ndarray:
    return np.mean(np.stack(list(embs.values())), axis=0)


def cosine_scores(
    trials: list[Trial], embs: dict[str, np.ndarray], mean: np.ndarray | None = None
) -> np.ndarray:
    """Cosine similarity of each trial's two embeddings (after subtracting ``mean``)."""
    ids = sorted({u for t in trials for u in (t.enroll, t.test)})
    pos = {u: k for k, u in enumerate(ids)}
    x = np.stack([embs[u] for u in ids])
    if mean is not None:
        x = x - mean[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if not np.all(np.isfinite(x)) or np.any(norms == 0):
        raise FairstreamError("embeddings contain NaN/inf or all-zero vectors; the extractor is broken")
    x = x / norms
    e = np.array([pos[t.enroll] for t in trials])
    t_ = np.array([pos[t.test] for t in trials])
    return np.einsum("ij,ij->i", x[e], x[t_])


def write_scores(path: Path, trials: list[Trial], scores: np.ndarray) -> None:
    """Kaldi scores: ``enroll test score`` per line, in trial order."""
    write_text_atomic(
        path, "".join(f"{t.enroll} {t.test} {s:.6f}\n" for t, s in zip(trials, scores, strict=True))
    )


def read_scores(path: Path) -> dict[tuple[str, str], float]:
    path = Path(path)
    if not path.is_file():
        raise FairstreamError(f"scores file {path} does not exist")
    out = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        f = line.split()
        if not f:
            continue
        if len(f) != 3:
            raise FairstreamError(f"{path}:{n}: expected 'enroll test score', got {line!r}")
        try:
            out[(f[0], f[1])] = float(f[2])
        except ValueError as e:
            raise FairstreamError(f"{path}:{n}: score {f[2]!r} is not a number") from e
    return out
