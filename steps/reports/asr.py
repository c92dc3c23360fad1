"""Section: transducer training and streaming decoding results per architecture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .compare import encoder_flops

HEADER = (
    "| model | encoder | params (M) | enc MFLOPs/s audio | updates | train (min) | dev WER | test WER "
    "| test ins / del / sub | search | RTF (1 core) | chunk latency mean (ms) | p90 (ms) |"
)


def _json(p: Path) -> dict[str, Any]:
    return json.loads(p.read_text()) if p.is_file() else {}


def _fmt(x: object, spec: str = "") -> str:
    if x is None or x == "":
        return "–"
    return format(x, spec) if spec else str(x)


def _yaml(p: Path) -> dict[str, Any]:
    return (yaml.safe_load(p.read_text()) or {}) if p.is_file() else {}


LM_SUFFIX = "_modified_beam_lm"  # decode method: modified beam search + n-gram LM fusion (stage 3's LM)


def search_label(m: dict[str, Any]) -> str:
    """``modified_beam_lm (beam 4), LM 0.3, LODR 0.1, avg 2`` from a split's metrics."""
    method = m.get("method")
    search = str(method or "?")
    if method in ("modified_beam", "modified_beam_lm"):
        search += f" (beam {m.get('beam')})"
    if method == "modified_beam_lm":
        search += f", LM {m.get('lm_scale')}"
        if m.get("lodr_scale"):
            search += f", LODR {m['lodr_scale']}"
    if m.get("blank_penalty"):
        search += f", blank penalty {m['blank_penalty']}"
    if m.get("avg"):
        search += f", avg {m['avg']}"
    return search


def lm_table(dirs: list[Path]) -> list[str]:
    """WER without and with the LM: ``<model>_modified_beam_lm`` beside ``<model>_modified_beam``."""
    names = {d.name: d for d in dirs}
    rows = []
    lm_info = ""
    for d in dirs:
        if not d.name.endswith(LM_SUFFIX):
            continue
        model = d.name.removesuffix(LM_SUFFIX)
        with_lm = _json(d / "metrics.json")
        base = names.get(f"{model}_modified_beam")
        without = _json(base / "metrics.json") if base is not None else {}
        m = with_lm.get("test") or with_lm.get("dev") or {}
        cells = [model, _fmt(m.get("lm_scale")), _fmt(m.get("lodr_scale"))]
        for split in ("dev", "test"):
            cells += [
                _fmt(without.get(split, {}).get("wer"), ".2f"),
                _fmt(with_lm.get(split, {}).get("wer"), ".2f"),
            ]
        a, b = without.get("test", {}).get("wer"), with_lm.get("test", {}).get("wer")
        cells.append(_fmt(None if a is None or b is None else b - a, "+.2f"))
        rows.append("| " + " | ".join(cells) + " |")
        if not lm_info:
            report = _json(Path(str(m.get("lm_dir", ""))) / "report.json").get("lm", {})
            if report:
                ppl = report.get("dev_ppl")
                lm_info = (
                    f" The LM: order-{report.get('order')} Kneser-Ney over BPE tokens of "
                    f"{report.get('sentences')} sentences with every dev/test sentence removed"
                    + (f", dev token perplexity {ppl:.2f}" if ppl else "")
                    + "."
                )
    if not rows:
        return []
    return [
        "Without and with the token n-gram LM (shallow fusion in modified beam search, scales from "
        f"conf/lm.yaml, chosen on dev with `python -m steps.tune_lm_scale`).{lm_info} WER in %; Δ = with − "
        "without on test.",
        "",
        "| model | LM scale | LODR scale | dev WER, beam | dev WER, beam + LM | test WER, beam "
        "| test WER, beam + LM | test Δ |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def _row(dec: Path) -> tuple[str, dict[str, Any]]:
    d = Path(_yaml(dec / "config.yaml").get("model_dir", ""))
    train = _json(d / "train_stats.json")
    metrics = _json(dec / "metrics.json")
    conf = _yaml(d / "config.yaml")
    dev, test = metrics.get("dev", {}), metrics.get("test", {})
    flops = encoder_flops(d)
    m = test or dev
    search = search_label(m)
    cells = [
        dec.name,
        conf.get("model", {}).get("encoder", "?"),
        _fmt(train.get("parameters") and round(train["parameters"] / 1e6, 2)),
        _fmt(flops and round(flops / 1e6, 1)),
        _fmt(train.get("steps")),
        _fmt(train.get("train_seconds") and round(train["train_seconds"] / 60, 1)),
        _fmt(dev.get("wer"), ".2f"),
        _fmt(test.get("wer"), ".2f"),
        f"{test['ins']} / {test['del']} / {test['sub']}" if "del" in test else "–",
        search,
        _fmt(m.get("rtf"), ".3f"),
        _fmt(m.get("latency_ms_mean"), ".1f"),
        _fmt(m.get("latency_ms_p90"), ".1f"),
    ]
    return "| " + " | ".join(cells) + " |", m


def asr_section(exp_dir: Path) -> str | None:
    """One row per finished decode (``decode/<model>_<method>/metrics.json``)."""
    dirs = sorted(
        p.parent for p in (exp_dir / "decode").glob("*/metrics.json") if (p.parent / ".done").is_file()
    )
    if not dirs:
        return None
    rows, metrics = zip(*(_row(d) for d in dirs), strict=True)
    note = _convergence_note(
        [d.name for d in dirs], [_json(d / "metrics.json").get("test", {}) for d in dirs]
    )
    chunk = next((m.get("chunk_ms") for m in metrics if m.get("chunk_ms")), None)
    how = f"true streaming, {chunk} ms chunks" if chunk else "offline"
    confs = [_yaml(d / "config.yaml") for d in dirs]
    lang = next((c["lang_dir"] for c in confs if "lang_dir" in c), "data/lang_bpe_N")
    return "\n".join(
        [
            "## Streaming transducers (stages 4–5)",
            "",
            "Trained with `python -m steps.train_transducer data/fbank exp/<model> --conf "
            f"conf/train/<model>.yaml --lang-dir {lang}`, decoded with `python -m "
            f"steps.decode_transducer exp/<model> data/fbank exp/decode/<model>_<search>` ({how}, chunked "
            "encoder with carried state, one thread). WER in %; RTF = decoding wall time / audio "
            "duration; chunk latency = wall time to process one chunk (encoder + search); encoder "
            "MFLOPs/s audio = 2 × multiply-adds of the encoder's forward pass per second of audio "
            "(`steps/nnet/flops.py`).",
            "",
            HEADER,
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            *lm_table(list(dirs)),
            *([note, ""] if note else []),
        ]
    )


def _convergence_note(names: list[str], tests: list[dict[str, Any]]) -> str:
    """A plain statement of how far from usable the recognisers are, so no one over-reads them:
    >= 90% test WER is the all-blank / text-prior plateau (not converged), 50-90% is weak."""
    stuck, weak = [], []
    for name, test in zip(names, tests, strict=True):
        wer, errors = test.get("wer"), test.get("errors") or 0
        if wer is None or wer < 50 or not errors:
            continue
        item = f"{name} {wer:.1f}% ({100 * test['del'] / errors:.0f}% of errors deletions)"
        (stuck if wer >= 90 else weak).append(item)
    parts = []
    if stuck:
        parts.append(
            "**Not converged** (test WER >= 90%, at the all-blank / text-prior plateau): "
            f"{'; '.join(stuck)}. "
            "Numbers built on these systems measure an unusable recogniser."
        )
    if weak:
        parts.append(
            "**Weak** (test WER 50-90%, trained far short of convergence in the demo budget): "
            f"{'; '.join(weak)}. "
            "Differences between systems and cohorts built on them are meaningful only where their "
            "confidence intervals say so."
        )
    return "\n\n".join(parts)
