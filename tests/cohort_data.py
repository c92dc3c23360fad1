"""Stage-5/6 outputs for the cohort tests: decoded dev/test cuts with per-utterance error counts,
plain training cuts, and x-vector cuts, for speakers in four regions of known WER and voice."""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np
from lhotse import CutSet, MonoCut, NumpyFilesWriter, SupervisionSegment

REGION_CENTRES = [(50.0, 0.0), (40.0, -90.0), (20.0, 80.0), (-20.0, -50.0)]
REGION_WER = [0.05, 0.08, 0.1, 0.35]  # region 3 is the one to find

# utterance(rng, wer) -> (reference text, the scorer's fields of a decoded cut: hyp and counts)
Utterance = Callable[[np.random.Generator, float], tuple[str, dict[str, Any]]]


def write_split(
    root: Path,
    split: str,
    n_spk: int,
    first: int,
    rng: np.random.Generator,
    utterance: Utterance,
    zip_code: Callable[[int], str] = lambda reg: f"z{reg}",
    no_embedding: Collection[str] = (),
    no_location: Collection[str] = (),
) -> None:
    """Three utterances per speaker ``spk<first + i>`` of region ``i % 4``: cuts as stage 5 (dev,
    test) or stage 2 (train) leaves them, and embedding cuts as stage 6 leaves them (one voice
    cluster per region, the same in every split)."""
    cuts, emb_cuts = [], []
    centres = np.random.default_rng(0).normal(size=(4, 8))
    with NumpyFilesWriter(root / "emb" / f"arrays_{split}") as writer:
        for i in range(n_spk):
            spk, reg = f"spk{first + i:03d}", i % 4
            lat, lon = REGION_CENTRES[reg]
            meta = {
                "speaker": spk,
                "gender": "f" if i % 3 else "m",
                "lat": round(lat + rng.uniform(-3, 3), 4),
                "lon": lon + rng.uniform(-3, 3),  # full precision: a CSV must carry it exactly
                "zip": zip_code(reg),
                "zip_income": "low" if reg == 3 else "high",
                "zip_urbanicity": "rural" if reg == 3 else "urban",
                "zip_age": "older",
                "zip_home_language": "english",
            }
            if spk in no_location:
                del meta["lat"], meta["lon"]
            for u in range(3):
                cid = f"{spk}-{u}"
                text, decoded = utterance(rng, REGION_WER[reg])
                custom = meta if split == "train" else {**meta, **decoded}
                sup = SupervisionSegment(cid, cid, 0.0, 1.0, text=text, speaker=spk, custom=dict(custom))
                cut = MonoCut(cid, 0.0, 1.0, 0, supervisions=[sup])
                cuts.append(cut)
                if spk not in no_embedding:
                    v = (centres[reg] + 0.1 * rng.normal(size=8)).astype(np.float32)
                    emb_cuts.append(cut.with_custom("xvector", writer.store_array(cid, v)))
    d = root / ("fbank" if split == "train" else "decode")
    d.mkdir(parents=True, exist_ok=True)
    CutSet.from_cuts(cuts).to_file(d / f"cuts_{split}.jsonl.gz")
    CutSet.from_cuts(emb_cuts).to_file(root / "emb" / f"cuts_{split}.jsonl.gz")
