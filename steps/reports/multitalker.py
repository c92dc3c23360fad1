"""The stage-10 report: the multi-talker systems side by side (one row per system and split) and a
timeline of one session's reference turns against a system's decoded turns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from steps.multitalker.metrics import MAX_MATCH_DISTANCE
from steps.multitalker.turns import Turn
from steps.utils import FairstreamError, read_config
from steps.utils.atomic import atomic_path

from .format import pct


def _lat(stats: dict[str, Any]) -> str:
    mean, p90 = stats.get("mean"), stats.get("p90")
    return "–" if mean is None else f"{mean:.2f} / {p90:.2f}"


def row(name: str, split: str, m: dict[str, Any]) -> str:
    der, der0, cp, tc = (
        m.get("der_collar_0.25") or {},
        m.get("der_collar_0") or {},
        m.get("cp_wer") or {},
        m["turn_count"],
    )
    tm = m.get("turn_matching")
    if tm is None:
        raise FairstreamError(
            f"{name} {split}: metrics without one-to-one turn matching; rerun steps.decode_sessions --force"
        )
    return (
        f"| {name} | {split} | {m['sessions']} | {m['audio_seconds'] / 3600:.2f} | "
        f"{m['orc_wer']['wer']:.2f} | "
        f"{cp.get('wer', '–')} | {pct(der.get('der'))} | {pct(der0.get('der'))} | "
        f"{pct(tc['session_accuracy'])} | {pct(tc['channel_accuracy'])} | {tc['mean_abs_turn_diff']:.2f} | "
        f"{tm['matched']} / {tm['unmatched_ref']} / {tm['unmatched_hyp']} | "
        f"{_lat(m['sot_latency'])} | {_lat(m['eot_latency'])} | {m['rtf']:.3f} |"
    )


def section(systems: dict[str, Path], timeline: str | None) -> str:
    rows, how = [], []
    for name, d in systems.items():
        cfg = read_config(d)
        metrics = json.loads((d / "metrics.json").read_text())
        rows += [row(name, split, m) for split, m in metrics.items()]
        how.append(f"- {name}: `python -m steps.decode_sessions {cfg['model_dir']} {cfg['sessions_dir']} {d}"
                   f" --xvector-model {cfg['xvector_model']}`")  # fmt: skip
    first = read_config(next(iter(systems.values())))
    lines = [
        "## Multi-talker sessions: separator-transducer-segmenter (stage 10)",
        "",
        f"Streaming decoding ({first['chunk_ms']} ms chunks, greedy, one thread) of the demo dev/test "
        "sessions (`local/make_sessions.py`). ORC-WER: reference turns assigned to output channels "
        "optimally; "
        "cpWER: decoded turns labelled by clustering their speaker embeddings (stage 6 extractor, cosine "
        f"threshold {first['cluster_threshold']}), words concatenated per speaker, best speaker mapping; "
        f"DER with a {first['collar']} s collar on each side of reference boundaries and without; turn "
        "count: share of sessions / channels whose number of decoded turns equals the reference's; "
        "turns matched / unmatched reference / unmatched decoded: reference and decoded turns of a channel "
        "matched one to one (Hungarian algorithm on |Δstart| + |Δend|, pairs at most "
        f"{first.get('match_distance', MAX_MATCH_DISTANCE)} s apart); latency, over matched turns only: "
        "decoded turn start / end minus the reference's (s, positive = late), mean / 90th "
        "percentile. A single-talker system decodes energy-VAD segments of the mixture, one turn each.",
        "",
        *how,
        "",
        "| system | split | sessions | hours | ORC-WER | cpWER | DER (collar) | DER (none) | "
        "turn count sessions (%) | turn count channels (%) | mean abs turn diff | "
        "turns matched / unmatched ref / unmatched hyp | "
        "`<sot>` latency mean / p90 | `<eot>` latency mean / p90 | RTF |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    if timeline:
        lines += [f"![session timeline]({timeline})", ""]
    return "\n".join(lines)


def plot_timeline(ref: list[Turn], hyp: list[Turn], title: str, out: Path) -> None:
    """Reference channels (top) vs decoded channels (bottom), one bar per turn, colour = speaker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from steps.multitalker.metrics import with_channels

    ref = with_channels(ref, 2)
    speakers = sorted({str(t.speaker) for t in ref}) + sorted({str(t.speaker) for t in hyp})
    colour = {s: plt.cm.tab10(i % 10) for i, s in enumerate(dict.fromkeys(speakers))}
    sides = (("ref", ref), ("hyp", hyp))
    rows = [(f"{side} ch{c}", [t for t in turns if t.channel == c]) for side, turns in sides for c in (0, 1)]
    fig, ax = plt.subplots(figsize=(11, 2.8))
    for y, (_, turns) in enumerate(reversed(rows)):
        for t in turns:
            ax.broken_barh(
                [(t.start, t.end - t.start)], (y - 0.35, 0.7), color=colour[str(t.speaker)], alpha=0.8
            )
    ax.set_yticks(range(len(rows)), [r[0] for r in reversed(rows)])
    ax.set_xlabel("time (s)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def turns_from_json(d: list[dict[str, Any]]) -> list[Turn]:
    """Decoded turns as ``decode_sessions`` writes them to ``turns_<split>.json``."""
    return [
        Turn(start=t["start"], end=t["end"], text=t["text"], speaker=t["speaker"], channel=t["channel"])
        for t in d
    ]
