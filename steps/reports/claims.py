"""Each paper's claim against our measurement: the one-line-per-claim table at the top of RESULTS.md.

A stage's report code writes ``<stage exp dir>/claims.json`` (a list of :class:`Claim`) next to
its ``report.md``; ``steps.write_results`` gathers every such file into one summary table, so the
verdict is computed where the numbers are, and typed nowhere.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from steps.utils import write_json_atomic

FILE = "claims.json"


@dataclass(frozen=True)
class Claim:
    """One paper claim. ``held``: True / False, or None when the measurement cannot decide
    (an interval that covers both directions, a missing system)."""

    system: str  # e.g. "ConvRNN-T", "Separator-transducer-segmenter"
    claim: str  # what the paper says, in the paper's terms
    paper: str  # the paper's number, e.g. "-7.6% rel. WER vs LSTM"
    ours: str  # our number with its 95% interval
    held: bool | None
    note: str = ""  # why it could not decide, or what limits the measurement

    def verdict(self) -> str:
        return {True: "held", False: "did not hold"}.get(self.held, "undecided")


def write_claims(out_dir: Path, claims: list[Claim]) -> None:
    write_json_atomic(out_dir / FILE, [asdict(c) for c in claims])


def read_claims(exp_dir: Path) -> list[Claim]:
    """Every ``*/claims.json`` under ``exp_dir`` (one level down), in directory order."""
    out = []
    for path in sorted(exp_dir.glob(f"*/{FILE}")):
        out += [Claim(**row) for row in json.loads(path.read_text())]
    return out


def claims_section(exp_dir: Path, first: list[Claim] | None = None) -> str:
    """The summary table (``first``, then every stage's claims.json), or "" when there are none."""
    claims = [*(first or []), *read_claims(exp_dir)]
    if not claims:
        return ""
    rows = [
        f"| {c.system} | {c.claim} | {c.paper} | {c.ours} | {c.verdict()} |"
        + (f" {c.note} |" if c.note else " |")
        for c in claims
    ]
    return "\n".join(
        [
            "## Paper claims at a glance",
            "",
            "One line per claim; each is measured in the section of its system below (95% intervals "
            "resample speakers). *Undecided*: the interval covers both directions.",
            "",
            "| system | claim | paper | ours [95% CI] | direction | note |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
