"""The stage-10 report: the multi-talker systems side by side (one row per system and split), the
paper's two claims against MT-RNN-T (turn counting, WER; paired bootstrap over sessions) and a
timeline of one session's reference turns against a system's decoded turns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from steps.multitalker.metrics import MAX_MATCH_DISTANCE
from steps.multitalker.turns import Turn
from steps.utils import FairstreamError, read_config
from steps.utils.atomic import atomic_path
from steps.utils.stats import Interval, paired_ratio_difference

from .claims import Claim
from .format import DASH, pct

SYSTEM = "Separator-transducer-segmenter"
TURN_CLAIM = ("turn counting more accurate than MT-RNN-T's (no turn tokens)", "+4.6% abs. vs MT-RNN-T")
WER_CLAIM = ("lower WER than MT-RNN-T", "17% rel. WER gain vs MT-RNN-T")


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


def _held(low: float | None, high: float | None) -> bool | None:
    """The direction of an interval of "ours better" values: True above 0, False below, else None."""
    if low is None or high is None or low <= 0 <= high:
        return None
    return low > 0


def _per_session(d: Path, split: str) -> dict[str, dict[str, Any]]:
    path = d / f"scores_{split}.json"
    if not path.is_file():
        raise FairstreamError(f"{path} is missing: decode the {split} split")
    return json.loads(path.read_text())


def claims(
    ours: Path | None, baseline: Path | None, split: str = "test", replicates: int = 1000
) -> list[Claim]:
    """The paper's two claims for decode directories of ours and MT-RNN-T, paired over the sessions
    of ``split`` (intervals: steps/utils/stats.py).  Turn counting is per channel (a channel counts
    when it has as many decoded turns as reference turns: whole sessions of 20-60 s are almost
    never exact for any system), WER is ORC-WER; a missing system leaves both undecided."""
    if ours is None or baseline is None:
        note = f"{'ours' if ours is None else 'MT-RNN-T'} was not decoded in this run: nothing to compare"
        return [Claim(SYSTEM, c, p, DASH, None, note) for c, p in (TURN_CLAIM, WER_CLAIM)]
    a, b = _per_session(baseline, split), _per_session(ours, split)
    if set(a) != set(b):
        raise FairstreamError(f"{ours} and {baseline} decoded different {split} sessions")
    ids = sorted(a)

    def channels_right(row: dict[str, Any]) -> int:
        pairs = zip(row["ref_channel_turns"], row["hyp_channel_turns"], strict=True)
        return sum(int(r == h) for r, h in pairs)

    turn = paired_ratio_difference(
        [channels_right(a[i]) for i in ids], [channels_right(b[i]) for i in ids],
        [len(a[i]["ref_channel_turns"]) for i in ids], ids, replicates=replicates,
    )  # fmt: skip
    wer = paired_ratio_difference(
        [a[i]["orc"]["errors"] for i in ids], [b[i]["orc"]["errors"] for i in ids],
        [a[i]["orc"]["words"] for i in ids], ids, replicates=replicates, relative=True,
    )  # fmt: skip
    flip = [None if x is None else -x for x in (wer.high, wer.low)]
    gain = Interval(-wer.estimate, *flip)  # WER gain of ours: minus the relative change
    base_metrics = json.loads((baseline / "metrics.json").read_text()).get(split, {})
    how = f"{split}, {len(ids)} sessions, paired bootstrap over sessions ({replicates} resamples)"
    rule = base_metrics.get("turns_from", "?")
    ours_metrics = json.loads((ours / "metrics.json").read_text()).get(split, {})
    our_rule = ours_metrics.get("turns_from", "?")
    n_chan = sum(len(a[i]["ref_channel_turns"]) for i in ids)
    acc = [100 * sum(channels_right(x[i]) for i in ids) / n_chan for x in (b, a)]
    words = sum(a[i]["orc"]["words"] for i in ids)
    orc = [100 * sum(x[i]["orc"]["errors"] for i in ids) / max(words, 1) for x in (b, a)]
    turn_text = f"{_pts(turn)} pts (channel turn-count accuracy)"
    rules = f"ours: {our_rule}; MT-RNN-T's turns: {rule}"
    return [
        Claim(SYSTEM, *TURN_CLAIM, turn_text, _held(turn.low, turn.high),
              f"{acc[0]:.1f}% vs {acc[1]:.1f}% of channels; {how}; {rules}"),
        Claim(SYSTEM, *WER_CLAIM, f"{_pts(gain)}% rel. (ORC-WER)", _held(gain.low, gain.high),
              f"ORC-WER {orc[0]:.1f}% vs {orc[1]:.1f}%; {how}"),
    ]  # fmt: skip


def _pts(iv: Interval) -> str:
    """An estimate and its interval in percent (points), signed: "+3.1 [-1.2, +7.5]"."""
    if iv.estimate != iv.estimate:  # NaN: undefined
        return DASH
    ci = "" if iv.low is None or iv.high is None else f" [{100 * iv.low:+.1f}, {100 * iv.high:+.1f}]"
    return f"{100 * iv.estimate:+.1f}{ci}"


def section(systems: dict[str, Path], timeline: str | None, verdicts: list[Claim] | None = None) -> str:
    rows, how = [], []
    for name, d in systems.items():
        cfg = read_config(d)
        metrics = json.loads((d / "metrics.json").read_text())
        rows += [row(name, split, m) for split, m in metrics.items()]
        turns_from = next(iter(metrics.values()), {}).get("turns_from")
        method = f" --method {cfg['method']}" if cfg.get("method", "greedy") != "greedy" else ""
        how.append(f"- {name}: `python -m steps.decode_sessions {cfg['model_dir']} {cfg['sessions_dir']} {d}"
                   f" --xvector-model {cfg['xvector_model']}{method}`")  # fmt: skip
        if turns_from:
            how[-1] += f"; turns from {turns_from}"
    first = read_config(next(iter(systems.values())))
    lines = [
        "## Multi-talker sessions: separator-transducer-segmenter (stage 10)",
        "",
        f"Streaming decoding ({first['chunk_ms']} ms chunks, {first.get('search', 'greedy')}, one thread) "
        "of the demo dev/test "
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
    if verdicts:
        lines += [
            "Against MT-RNN-T (the same separator, initialisation and updates, trained without turn tokens; "
            "`claims.json`), ours minus MT-RNN-T:",
            "",
            "| claim | paper | ours [95% CI] | direction | note |",
            "|---|---|---|---|---|",
            *(f"| {c.claim} | {c.paper} | {c.ours} | {c.verdict()} | {c.note} |" for c in verdicts),
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
