"""Stage 10 report: the multi-talker systems side by side, the paper's claims, a session timeline.

    python -m steps.report_multitalker exp/multitalker/report.md \
        septds=exp/multitalker/septds_decode mtrnnt=exp/multitalker/mtrnnt_decode \
        single_vad=exp/multitalker/single_vad_decode

Reads each decode directory's ``metrics.json`` (steps/decode_sessions.py) and writes one markdown
section (a row per system and split) plus ``timeline.png`` beside it: the reference turns of one
test session per channel against the first system's decoded turns, coloured by speaker.  Beside
them, ``claims.json`` (steps/reports/claims.py): the paper's turn-counting and WER claims, the
``--ours`` system against the ``--baseline`` one (MT-RNN-T) on ``--claims-split``; undecided
when either is not among SYSTEMS.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from steps.reports.claims import write_claims
from steps.reports.multitalker import claims, plot_timeline, section, turns_from_json
from steps.utils import FairstreamError, read_config, require_complete, write_text_atomic
from steps.utils.cli import CONTEXT, step_main


@click.command(context_settings=CONTEXT)
@click.argument("out_md", type=click.Path(path_type=Path))
@click.argument("systems", nargs=-1, required=True)
@click.option("--split", default="test", show_default=True, help="Split of the timeline's session.")
@click.option("--ours", default="septds", show_default=True, help="The system the claims are about.")
@click.option("--baseline", default="mtrnnt", show_default=True, help="The claims' MT-RNN-T system.")
@click.option("--claims-split", default="test", show_default=True, help="Split the claims are measured on.")
@step_main
def main(
    out_md: Path, systems: tuple[str, ...], split: str, ours: str, baseline: str, claims_split: str
) -> None:
    """Write OUT_MD (+ timeline.png) from SYSTEMS given as NAME=DECODE_DIR (first = the one plotted)."""
    named: dict[str, Path] = {}
    for s in systems:
        if "=" not in s:
            raise FairstreamError(f"system {s!r} is not NAME=DECODE_DIR")
        name, d = s.split("=", 1)
        named[name] = require_complete(Path(d), "session decode")
    first = next(iter(named.values()))
    turns_path = first / f"turns_{split}.json"
    timeline = None
    if turns_path.is_file():
        from lhotse import load_manifest

        from steps.multitalker.turns import turns_from_cut

        hyps = json.loads(turns_path.read_text())
        sessions = Path(read_config(first)["sessions_dir"]) / f"sessions_{split}.jsonl.gz"
        cut = max(
            load_manifest(sessions), key=lambda c: (len({s.speaker for s in c.supervisions}), c.duration)
        )
        out_md.parent.mkdir(parents=True, exist_ok=True)
        title = f"{split} session {cut.id}: reference (top) vs {next(iter(named))} (bottom); colour = speaker"
        plot_timeline(
            turns_from_cut(cut), turns_from_json(hyps.get(cut.id, [])), title, out_md.parent / "timeline.png"
        )
        timeline = "timeline.png"
    verdicts = claims(named.get(ours), named.get(baseline), claims_split)
    write_claims(out_md.parent, verdicts)
    write_text_atomic(out_md, section(named, timeline, verdicts))


if __name__ == "__main__":
    main()
