"""Stage 10: streaming two-channel decoding of multi-party sessions, then speaker-segmented output.

    python -m steps.decode_sessions exp/multitalker exp/sessions exp/decode/multitalker \
        --xvector-model exp/sv/none/model

Per session (``SESSIONS_DIR/sessions_<split>.jsonl.gz``, local/make_sessions.py): the features go
through the separator chunk by chunk (``--chunk-ms``), both channels are searched greedily at
once, and each channel's ``<sot> … <eot>`` groups become turns timed by their emission frames
(steps/multitalker/targets.py ``parse_channels``).  A separator trained without turn tokens
(MT-RNN-T, ``task_conf: {turn_tokens: false}``) has no turn boundaries of its own: a pause of
``--turn-gap`` seconds or more between two tokens emitted on a channel starts a new turn; without
``--turn-gap`` the gap is tuned on the first split (``dev``) for the best channel turn-count
accuracy, which favours the baseline on that split, and then kept for the others.  A separator
with turn tokens gets the same one dev-tuned setting: ``--turn-bonus`` nats added to the
``<sot>``/``<eot>`` logits in the search (the encoder runs once; the search is repeated per
candidate).  Without it a model that learned turn tokens from short training mixtures closes
few turns in long sessions.
Diarization-segmented output: one speaker
embedding per decoded turn (the speaker-verification extractor on the turn's span of the
mixture), agglomerative clustering per session (cosine threshold ``--cluster-threshold``), and
the labelled turns as ``<split>.rttm`` and ``turns_<split>.json`` (speaker, start, end, text,
channel).  A single-talker transducer in MODEL_DIR is the baseline: energy-VAD segments of the
mixture (steps/multitalker/vad.py), each decoded on its own, are its turns (one channel).
Scores (steps/multitalker/metrics.py, diarization.py): ORC-WER (channels), cpWER (speakers), DER
with and without a 0.25 s collar, turn-counting accuracy, one-to-one turn matching (matched and
unmatched turns) with the ``<sot>``/``<eot>`` emission latency of matched turns against the
reference boundaries, and RTF, in ``metrics.json``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch
from lhotse import load_manifest
from tqdm import tqdm

from steps.lm.fusion import LmFusion, lm_settings, make_fusion
from steps.multitalker.diarization import corpus_der, label_turns, write_rttm
from steps.multitalker.metrics import MAX_MATCH_DISTANCE, score_sessions, turn_count_accuracy
from steps.multitalker.model import SeparatorTransducer
from steps.multitalker.targets import EOT_ID, SOT_ID, parse_channels
from steps.multitalker.turns import Turn, turns_from_cut
from steps.multitalker.vad import energy_vad
from steps.nnet.loading import load_model
from steps.nnet.search import GreedySearch, ModifiedBeamSearch, Search, default_symbols_per_frame
from steps.nnet.transducer import Transducer
from steps.tasks import make_task
from steps.utils import (
    FairstreamError,
    read_config,
    require_complete,
    stage_output,
    write_json_atomic,
)
from steps.utils.cli import CONTEXT, step_main

log = logging.getLogger(__name__)
FRAME_SHIFT = 0.01  # fbank frame shift (s)


@torch.inference_mode()
def encode_session(model: Transducer, feats: torch.Tensor, chunk_frames: int) -> list[torch.Tensor]:
    """Encoder frames (1, T', D) of every output channel for one (T, F) input, streamed in chunks:
    the separator's channels, or the single channel of a plain transducer."""
    if isinstance(model, SeparatorTransducer):
        n, enc_state = model.num_channels, model.init_channel_state(1)
        step, flush = model.stream_channels, model.flush_channels
    else:
        n, enc_state = 1, model.encoder.init_state(1)

        def step(chunk: torch.Tensor, st: Any) -> tuple[list[torch.Tensor], Any]:
            out, st = model.encoder.stream(chunk, st)
            return [out], st

        def flush(st: Any) -> list[torch.Tensor]:
            return [model.encoder.flush(st)]

    pieces: list[list[torch.Tensor]] = [[] for _ in range(n)]
    x = feats.unsqueeze(0)
    for i in range(0, x.size(1), chunk_frames):
        outs, enc_state = step(x[:, i : i + chunk_frames], enc_state)
        for acc, enc in zip(pieces, outs, strict=True):
            acc.append(enc)
    for acc, enc in zip(pieces, flush(enc_state), strict=True):
        acc.append(enc)
    return [torch.cat(acc, dim=1) for acc in pieces]


@dataclass(frozen=True)
class ChannelSearch:
    """How every channel is searched: greedy, or (``beam`` > 0) modified beam search, with the
    n-gram LM's shallow fusion when ``fusion`` is set (turn tokens then close LM sentences)."""

    max_sym: int = 3
    beam: int = 0
    fusion: LmFusion | None = None
    blank_penalty: float = 0.0

    def make(self, model: Transducer, token_bonus: Mapping[int, float] | None = None) -> Search:
        if not self.beam:
            return GreedySearch(model, self.max_sym, self.blank_penalty, token_bonus)
        spf = default_symbols_per_frame(model)
        return ModifiedBeamSearch(model, self.beam, self.fusion, self.blank_penalty, spf, token_bonus)


GREEDY = ChannelSearch()


@torch.inference_mode()
def search_channels(
    model: Transducer,
    encs: Sequence[torch.Tensor],
    how: ChannelSearch = GREEDY,
    token_bonus: Mapping[int, float] | None = None,
) -> tuple[list[list[int]], list[list[int]]]:
    """Tokens and emission frames of each channel's search.  The search consumes all of a
    channel's frames at once, which gives what chunk-by-chunk streaming gives (steps/nnet/search.py),
    so a cached encoder output can be searched again with another ``token_bonus``."""
    tokens, frames = [], []
    for enc in encs:
        search = how.make(model, token_bonus)
        st = search.init(1)
        if enc.size(1):
            search.advance(enc, [enc.size(1)], st)
        best = search.best(st[0])
        tokens.append(best.tokens(search.context_size))
        frames.append(best.frames)
    return tokens, frames


def decode_session(
    model: Transducer,
    feats: torch.Tensor,
    chunk_frames: int,
    how: ChannelSearch = GREEDY,
    token_bonus: Mapping[int, float] | None = None,
) -> tuple[list[list[int]], list[list[int]]]:
    """Tokens and emission frames of every output channel for one (T, F) input, streamed."""
    return search_channels(model, encode_session(model, feats, chunk_frames), how, token_bonus)


def decode_vad_segments(
    model: Transducer, feats: torch.Tensor, chunk_frames: int, decode: Any, how: ChannelSearch = GREEDY
) -> list[Turn]:
    """The single-talker baseline: energy-VAD segments of the mixture, each streamed through a
    plain transducer; every non-empty segment is a turn on channel 0, timed by the VAD."""
    turns = []
    for a, b in energy_vad(feats.numpy(), FRAME_SHIFT):
        seg = feats[round(a / FRAME_SHIFT) : round(b / FRAME_SHIFT)]
        toks, _ = decode_session(model, seg, chunk_frames, how)
        text = decode(toks[0]).strip()
        if text:
            turns.append(Turn(start=a, end=b, text=text, channel=0))
    return turns


GAP_GRID = tuple(round(0.2 * k, 1) for k in range(1, 16))  # candidate turn gaps, 0.2-3.0 s
BONUS_GRID = tuple(0.5 * k for k in range(9))  # candidate <sot>/<eot> logit bonuses, 0-4 nats


def tune_on_dev(
    grid: Sequence[float],
    turns_for: Callable[[float], Mapping[str, Sequence[Turn]]],
    refs: Mapping[str, Sequence[Turn]],
) -> float:
    """The grid value whose decoded turns have the best channel turn-count accuracy on these
    sessions; ties go to the smaller mean |turn-count difference|, then to the smaller value."""
    best: tuple[float, float, float] | None = None
    for value in sorted(grid):
        hyps = turns_for(value)
        tc = turn_count_accuracy([(refs[k], hyps[k]) for k in refs])
        key = (float(tc["channel_accuracy"]), -float(tc["mean_abs_turn_diff"]))
        if best is None or key > best[:2]:
            best = (*key, value)
    if best is None:
        raise FairstreamError("no candidate values to tune")
    return best[2]


def tune_turn_gap(
    raw: Mapping[str, tuple[list[list[int]], list[list[int]]]],
    refs: Mapping[str, Sequence[Turn]],
    decode: Callable[[list[int]], str],
    frame_stride: float,
    grid: Sequence[float] = GAP_GRID,
) -> float:
    """The turn gap of a model without turn tokens (steps/multitalker/targets.py ``gap_turns``),
    chosen by :func:`tune_on_dev`."""
    return tune_on_dev(
        grid,
        lambda g: {k: parse_channels(*raw[k], decode, frame_stride=frame_stride, gap=g) for k in raw},
        refs,
    )


def bonus_of(value: float) -> dict[int, float]:
    """The search's token bonus for a ``<sot>``/``<eot>`` bonus of ``value`` nats."""
    return {SOT_ID: value, EOT_ID: value}


def tune_turn_bonus(
    model: Transducer,
    encs: Mapping[str, Sequence[torch.Tensor]],
    refs: Mapping[str, Sequence[Turn]],
    decode: Callable[[list[int]], str],
    frame_stride: float,
    grid: Sequence[float] = BONUS_GRID,
    how: ChannelSearch = GREEDY,
) -> float:
    """The ``<sot>``/``<eot>`` logit bonus of a model with turn tokens, chosen by
    :func:`tune_on_dev` on cached encoder outputs (the MT-RNN-T baseline tunes its turn gap the
    same way, so each system gets one dev-tuned turn setting)."""

    def turns_for(b: float) -> dict[str, list[Turn]]:
        return {
            k: parse_channels(*search_channels(model, e, how, bonus_of(b)), decode, frame_stride=frame_stride)
            for k, e in encs.items()
        }

    return tune_on_dev(grid, turns_for, refs)


def embed_turns(extractor: Any, feats: np.ndarray, turns: list[Turn]) -> np.ndarray:
    """One speaker embedding per turn, from the mixture's features over the turn's span."""
    from steps.sv.extract import embed_features

    out = []
    for t in turns:
        a = max(0, int(t.start / FRAME_SHIFT))
        b = min(len(feats), max(a + 1, int(np.ceil(t.end / FRAME_SHIFT))))
        out.append(embed_features(extractor, feats[a:b]))
    return np.stack(out) if out else np.zeros((0, 1), dtype=np.float32)


def turns_from(
    separator: bool,
    turn_tokens: bool,
    bonus: float | None,
    bonus_from: str | None,
    gap: float | None,
    gap_from: str | None,
) -> str:
    """How a system's turns were found, for the report."""
    if not separator:
        return "energy VAD"
    if turn_tokens:
        return f"turn tokens, <sot>/<eot> bonus {bonus or 0:g}" + (
            f" (tuned on {bonus_from})" if bonus_from else ""
        )
    return f"pauses >= {gap:g} s" + (f" (tuned on {gap_from})" if gap_from else "")


SEARCHES = ("greedy", "modified_beam_lm")


def channel_search(
    method: str, lang_dir: Path, lm_dir: Path | None, lm_conf: Path, lm_conf_model: str
) -> tuple[ChannelSearch, dict[str, Any]]:
    """The search of ``method`` and what the decode's config records of it (with the LM's digest;
    nothing for greedy, whose configs predate the option)."""
    if method == "greedy":
        if lm_dir is not None:
            raise FairstreamError("--lm needs --method modified_beam_lm")
        return GREEDY, {}
    settings = lm_settings(lm_conf, None, None, None, None, None, lm_conf_model)
    lm_dir = lm_dir if lm_dir is not None else lang_dir / "lm"
    fusion = make_fusion(lm_dir, lang_dir, settings, turn_tokens={SOT_ID: False, EOT_ID: True})
    how = ChannelSearch(beam=settings["beam"], fusion=fusion, blank_penalty=settings["blank_penalty"])
    label = (
        f"modified beam {settings['beam']} + LM {settings['lm_scale']:g}, LODR {settings['lodr_scale']:g}, "
        f"blank penalty {settings['blank_penalty']:g}"
    )
    digest = (lm_dir / ".done").read_text().strip()
    return how, {"method": method, "search": label, "lm_dir": str(lm_dir), "lm_digest": digest, **settings}


def turn_json(t: Turn) -> dict[str, Any]:
    return {
        "speaker": t.speaker,
        "start": round(t.start, 3),
        "end": round(t.end, 3),
        "channel": t.channel,
        "text": t.text,
    }


@click.command(context_settings=CONTEXT)
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("sessions_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--splits", default="dev,test", show_default=True, help="Comma-separated session splits.")
@click.option("--avg", type=int, default=1, show_default=True, help="Average the last K epoch checkpoints.")
@click.option("--chunk-ms", type=int, default=320, show_default=True, help="Streaming chunk (ms of audio).")
@click.option(
    "--lang-dir", type=click.Path(path_type=Path), default=None, help="Default: the training run's."
)
@click.option(
    "--xvector-model",
    type=click.Path(path_type=Path),
    default=None,
    help="Speaker embedder (train_speaker_embedder output); without it: no speaker labels, cpWER, DER.",
)
@click.option(
    "--cluster-threshold",
    type=float,
    default=0.5,
    show_default=True,
    help="Cosine distance below which turn clusters merge.",
)
@click.option("--collar", type=float, default=0.25, show_default=True, help="DER collar (s, each side).")
@click.option(
    "--match-distance",
    type=float,
    default=MAX_MATCH_DISTANCE,
    show_default=True,
    help="Largest |Δstart| + |Δend| (s) of a reference and a decoded turn matched for latency.",
)
@click.option(
    "--turn-gap",
    type=float,
    default=None,
    help="A separator without turn tokens (MT-RNN-T): a pause of this many seconds between emitted tokens "
    "starts a new turn.  Default: tuned on the first split (0.2-3.0 s, best channel turn-count accuracy).",
)
@click.option(
    "--turn-bonus",
    type=float,
    default=None,
    help="A separator with turn tokens: nats added to the <sot>/<eot> logits in the search.  Default: "
    "tuned on the first split (0-4 in steps of 0.5, best channel turn-count accuracy).",
)
@click.option(
    "--method",
    type=click.Choice(SEARCHES),
    default="greedy",
    show_default=True,
    help="Search of every channel: greedy, or modified beam search with the n-gram LM (shallow fusion; "
    "each turn is an LM sentence).",
)
@click.option(
    "--lm",
    "lm_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="modified_beam_lm: LM directory of steps.train_ngram_lm [<lang_dir>/lm].",
)
@click.option(
    "--lm-conf",
    type=click.Path(path_type=Path),
    default=Path("conf/lm.yaml"),
    show_default=True,
    help="modified_beam_lm: its decode: section gives the beam, the LM / LODR scales and the blank penalty.",
)
@click.option(
    "--lm-conf-model",
    default="lstm",
    show_default=True,
    help="modified_beam_lm: whose decode.models entry of --lm-conf applies (the separators start from the "
    "LSTM baseline).",
)
@click.option("--num-threads", type=int, default=1, show_default=True)
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete.")
@step_main
def main(
    model_dir: Path,
    sessions_dir: Path,
    out_dir: Path,
    splits: str,
    avg: int,
    chunk_ms: int,
    lang_dir: Path | None,
    xvector_model: Path | None,
    cluster_threshold: float,
    collar: float,
    match_distance: float,
    turn_gap: float | None,
    turn_bonus: float | None,
    method: str,
    lm_dir: Path | None,
    lm_conf: Path,
    lm_conf_model: str,
    num_threads: int,
    force: bool,
) -> None:
    """Decode SESSIONS_DIR's sessions with the separator in MODEL_DIR into OUT_DIR."""
    require_complete(sessions_dir, "sessions")
    require_complete(model_dir, "model")
    trained = read_config(model_dir)
    lang = lang_dir or Path(trained["lang_dir"])
    torch.set_num_threads(num_threads)
    # the separator, or a single-talker transducer (the energy-VAD baseline)
    task = make_task(trained.get("task", "transducer"), trained.get("task_conf"))
    model, tokenizer, _ = load_model(model_dir, lang, avg, task)
    separator = isinstance(model, SeparatorTransducer)
    turn_tokens = bool(getattr(task.options, "turn_tokens", True))
    if not separator:
        log.info("%s is a single-talker transducer: decoding energy-VAD segments (the baseline)", model_dir)
    if turn_gap is not None and (turn_tokens or not separator):
        raise FairstreamError("--turn-gap is for separators trained without turn tokens (MT-RNN-T)")
    if turn_bonus is not None and not (turn_tokens and separator):
        raise FairstreamError("--turn-bonus is for separators trained with turn tokens")
    if match_distance <= 0 or (turn_gap is not None and turn_gap <= 0):
        raise FairstreamError("--match-distance and --turn-gap must be > 0 s")
    extractor = None
    if xvector_model is not None:
        from steps.sv.extract import load_extractor

        extractor = load_extractor(xvector_model)
    how, search_cfg = channel_search(method, lang, lm_dir, lm_conf, lm_conf_model)
    sub = int(getattr(model.encoder, "subsampling", 4))
    stride = FRAME_SHIFT * sub
    cfg = {
        "model_dir": str(model_dir),
        "sessions_dir": str(sessions_dir),
        "splits": splits,
        "avg": avg,
        "chunk_ms": chunk_ms,
        "lang_dir": str(lang),
        "xvector_model": str(xvector_model) if xvector_model else None,
        "cluster_threshold": cluster_threshold,
        "collar": collar,
        "match_distance": match_distance,
        "turn_gap": turn_gap,
        "turn_bonus": turn_bonus,
        **search_cfg,
    }
    chunk_frames = max(1, round(chunk_ms / 1000 / FRAME_SHIFT))
    with stage_output(out_dir, cfg, force) as out:
        metrics: dict[str, Any] = {}
        gap, gap_from = turn_gap, None
        bonus, bonus_from = turn_bonus, None
        for split in [s for s in splits.split(",") if s]:
            path = sessions_dir / f"sessions_{split}.jsonl.gz"
            if not path.is_file():
                raise FairstreamError(f"missing {path}")
            cuts = list(load_manifest(path))
            refs = {c.id: turns_from_cut(c) for c in cuts}
            raw: dict[str, Any] = {}  # per session: the channels' (tokens, frames), or the VAD's turns
            encs: dict[str, list[torch.Tensor]] = {}  # per session: the channels' encoder frames
            audio, spent = 0.0, 0.0
            for cut in tqdm(cuts, desc=f"encode {split}" if separator else f"decode {split}", unit="session"):
                feats = torch.from_numpy(np.asarray(cut.load_features(), dtype=np.float32))
                t0 = time.perf_counter()
                if separator:
                    encs[cut.id] = encode_session(model, feats, chunk_frames)
                else:
                    raw[cut.id] = decode_vad_segments(model, feats, chunk_frames, tokenizer.decode, how)
                spent += time.perf_counter() - t0
                audio += cut.duration
            if separator and turn_tokens and bonus is None:
                bonus = tune_turn_bonus(model, encs, refs, tokenizer.decode, stride, how=how)
                bonus_from = split
                log.info("turn tokens: <sot>/<eot> logit bonus %.1f (tuned on %s)", bonus, split)
            if separator:
                t0 = time.perf_counter()
                for k, e in encs.items():
                    raw[k] = search_channels(model, e, how, bonus_of(bonus or 0.0))
                spent += time.perf_counter() - t0
            if separator and not turn_tokens and gap is None:
                gap, gap_from = tune_turn_gap(raw, refs, tokenizer.decode, stride), split
                log.info("no turn tokens: a pause of %.1f s between tokens starts a turn (%s)", gap, split)
            hyps, per_turn = {}, {}
            for cut in cuts:
                if separator:
                    turns = parse_channels(*raw[cut.id], tokenizer.decode, frame_stride=stride,
                                           gap=None if turn_tokens else gap)  # fmt: skip
                else:
                    turns = raw[cut.id]
                if extractor is not None and turns:
                    emb = embed_turns(extractor, np.asarray(cut.load_features(), dtype=np.float32), turns)
                    turns = label_turns(turns, emb, threshold=cluster_threshold, max_speakers=4)
                hyps[cut.id] = turns
                per_turn[cut.id] = [turn_json(t) for t in turns]
            scores = score_sessions(refs, hyps, frame_stride=stride, max_distance=match_distance)
            m: dict[str, Any] = {k: v for k, v in scores.items() if k != "per_session"}
            m.update(
                {
                    "sessions": len(refs),
                    "audio_seconds": round(audio, 2),
                    "rtf": round(spent / max(audio, 1e-9), 4),
                    "turns_from": turns_from(separator, turn_tokens, bonus, bonus_from, gap, gap_from),
                    "search": search_cfg.get("search", "greedy"),
                }
            )  # fmt: skip
            if extractor is not None:
                for c in (0.0, collar):
                    total, _ = corpus_der(refs, hyps, collar=c)
                    m[f"der_collar_{c:g}"] = {k: round(v, 4) for k, v in total.as_dict().items()}
                write_rttm(out.path / f"{split}.rttm", hyps)
            write_rttm(out.path / f"{split}_ref.rttm", refs)
            write_json_atomic(out.path / f"turns_{split}.json", per_turn)
            write_json_atomic(out.path / f"scores_{split}.json", scores["per_session"])
            metrics[split] = m
            log.info(
                "%s: %s", split, json.dumps({k: m[k] for k in ("orc_wer", "cp_wer", "turn_count") if k in m})
            )
        write_json_atomic(out.path / "metrics.json", metrics)


if __name__ == "__main__":
    main()
