"""Validation during training: loss and greedy WER on a fixed subset of dev, every N updates.

Why: time to accuracy (core-minutes to reach a dev WER) is the figure of merit for training, and
a learning curve is the only way to tell an undertrained model from a broken one.  The subset is
fixed (evenly spaced over the dev cuts, so every speaker group is in it), decoded offline and
batched, not streamed: it measures the model, not the decoder.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from lhotse import CutSet

from steps.data.scoring import error_counts, totals, wer
from steps.data.tokenizer import Tokenizer

from .search import GreedySearch, search_offline
from .streaming import load_features
from .transducer import Transducer

log = logging.getLogger(__name__)

VALID_LOG = "valid.jsonl"


def fixed_subset(cuts: CutSet, n: int) -> list:
    """``n`` evenly spaced cuts (all when fewer), in a stable order."""
    cuts = sorted(cuts, key=lambda c: c.id)
    if n <= 0 or len(cuts) <= n:
        return cuts
    step = len(cuts) / n
    return [cuts[int(i * step)] for i in range(n)]


class Validator:
    """Scores a transducer on a fixed list of cuts: per-frame loss (full pruned-loss weight) and
    greedy WER.  Features are loaded once and kept in memory (a few MB for ~128 cuts)."""

    def __init__(self, cuts: list, tokenizer: Tokenizer, batch_size: int = 32, prune_range: int = 5) -> None:
        self.tokenizer = tokenizer
        self.prune_range = prune_range
        self.batches = []
        for i in range(0, len(cuts), batch_size):
            group = cuts[i : i + batch_size]
            feats, lens = load_features(group)
            refs = [c.supervisions[0].text or "" for c in group]
            ys = [tokenizer.encode(t, where=f"valid/{c.id}") for t, c in zip(refs, group, strict=True)]
            self.batches.append((feats, lens, refs, ys))
        self.num_cuts = len(cuts)

    @torch.no_grad()
    def run(self, model: Transducer, loss_backend: str = "auto") -> dict[str, float]:
        was_training = model.training
        model.eval()
        t0 = time.time()
        loss_sum = frames = 0.0
        counts = []
        search = GreedySearch(model)
        ctx = model.predictor.context_size
        try:
            device = next(model.parameters()).device
            for feats, lens, refs, ys in self.batches:
                enc, enc_lens = model.encoder(feats.to(device), lens.to(device))
                keep = [i for i, y in enumerate(ys) if 0 < len(y) <= int(enc_lens[i])]
                if keep:
                    idx = torch.tensor(keep)
                    simple, pruned = model.losses(
                        enc[idx], enc_lens[idx], [ys[i] for i in keep], self.prune_range,
                        loss_backend=loss_backend,
                    )  # fmt: skip
                    loss_sum += float(pruned)
                    frames += float(enc_lens[idx].sum())
                for hyp, ref in zip(search_offline(search, enc, enc_lens), refs, strict=True):
                    counts.append(error_counts(ref, self.tokenizer.decode(hyp.tokens(ctx))))
        finally:
            model.train(was_training)
        t = totals(counts)
        return {
            "loss": loss_sum / max(frames, 1.0),
            "wer": 100.0 * wer(counts),
            "ins": t["ins"],
            "del": t["del"],
            "sub": t["sub"],
            "ref_words": t["ref_len"],
            "cuts": self.num_cuts,
            "valid_seconds": round(time.time() - t0, 2),
        }


def append_record(out_dir: Path, record: dict[str, Any]) -> None:
    """One JSON line per validation; a resumed run may repeat a step (readers keep the last)."""
    with open(out_dir / VALID_LOG, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def read_valid_log(path: Path) -> list[dict[str, Any]]:
    """The validation records of a run in step order, the last record of a repeated step winning;
    a torn last line (a killed run) is ignored."""
    by_step: dict[int, dict[str, Any]] = {}
    if not path.is_file():
        return []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        by_step[int(rec["step"])] = rec
    return [by_step[s] for s in sorted(by_step)]
