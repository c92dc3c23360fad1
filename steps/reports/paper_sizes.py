"""Paper-size model configs (``conf/train/paper/*.yaml``): each one's parameter count, built from
the config, next to the count its paper publishes.

These configs are for a GPU run at the papers' scale (the demo trains ``conf/train/<model>.yaml``),
so this is the one report helper that builds models from configs: on the meta device, which
allocates nothing.  ``PAPER_PARAMS`` holds the published counts with their sources; a config with
no published count shows "not recovered", and the sizing note in its YAML says how it was sized.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

PAPER_VOCAB = 1024  # output tokens assumed for the counts (the configs do not fix the vocabulary)


@dataclass(frozen=True)
class PaperCount:
    params_m: float | None  # millions, as the paper states it; None: not recovered
    source: str


# The ConvRNN-T paper (Radfar et al., Interspeech 2022) compares against an LSTM RNN-T, a Conformer
# and a ContextNet; its own table of sizes could not be read here (the stored copy of the paper is
# its abstract), so its counts are not recorded.  Conformer and ContextNet have their own papers'
# small models instead, whose counts are published.
PAPER_PARAMS: dict[str, PaperCount] = {
    "convrnnt": PaperCount(None, "Radfar et al. 2022 (ConvRNN-T): not recovered; sized to the 10M class"),
    "lstm": PaperCount(None, "its LSTM RNN-T baseline: not recovered; sized to the 10M class"),
    "conformer": PaperCount(10.3, "Conformer(S), Gulati et al. 2020"),
    "contextnet": PaperCount(10.8, "ContextNet(S), Han et al. 2020"),
}


@dataclass(frozen=True)
class SizeRow:
    name: str
    encoder: str
    params_m: float
    paper: PaperCount

    @property
    def ratio(self) -> float | None:
        return None if self.paper.params_m is None else self.params_m / self.paper.params_m


def count_params(conf_path: Path, vocab_size: int = PAPER_VOCAB, num_features: int = 80) -> tuple[str, int]:
    """(encoder name, transducer parameter count) of a training config, built on the meta device."""
    import torch

    from steps.nnet.task import Task

    raw = yaml.safe_load(conf_path.read_text()) or {}
    with torch.device("meta"):
        model = Task().build_model(raw["model"], vocab_size, num_features, where=str(conf_path))
    return raw["model"]["encoder"], sum(p.numel() for p in model.parameters())


def paper_size_rows(conf_dir: Path, vocab_size: int = PAPER_VOCAB) -> list[SizeRow]:
    """One row per ``conf_dir/*.yaml``, sorted by name."""
    rows = []
    for path in sorted(conf_dir.glob("*.yaml")):
        encoder, n = count_params(path, vocab_size)
        paper = PAPER_PARAMS.get(path.stem, PaperCount(None, "no published count recorded"))
        rows.append(SizeRow(path.stem, encoder, n / 1e6, paper))
    return rows


def paper_size_section(conf_dir: Path, vocab_size: int = PAPER_VOCAB) -> str | None:
    """Markdown: config count beside the published count; None when there are no configs."""
    rows = paper_size_rows(conf_dir, vocab_size) if conf_dir.is_dir() else []
    if not rows:
        return None
    lines = [
        "## Paper-size configs",
        "",
        f"Transducer parameters of each `{conf_dir.name}/<model>.yaml` under `conf/train/` (built on the "
        f"meta device, {vocab_size} output tokens, stateless predictor, CTC head) beside the count the "
        "paper publishes. For GPU runs at the papers' scale; the demo trains the small configs.",
        "",
        "| config | encoder | params (M) | paper's count (M) | ours / paper | source |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        paper = "not recovered" if r.paper.params_m is None else f"{r.paper.params_m:.1f}"
        ratio = "–" if r.ratio is None else f"{r.ratio:.2f}"
        lines.append(f"| {r.name} | {r.encoder} | {r.params_m:.2f} | {paper} | {ratio} | {r.paper.source} |")
    return "\n".join([*lines, ""])
