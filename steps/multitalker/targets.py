"""Targets of the separator-transducer-segmenter, and decoded channel tokens back to turns.

Channel assignment rule (:func:`assign_channels`)
    Sort the turns by start time (ties: earlier end first) and give each turn to the *first*
    channel that is free at its start, i.e. whose last turn has ended (channel 0 preferred).
    When never more than ``num_channels`` talkers speak at once, two overlapping turns always
    land in different channels, and a lone talker always lands in channel 0, so the channel
    index is a deterministic function of the timing (no permutation-invariant training needed).
    More concurrent turns than channels is an error, not a silent drop.

Per channel the token targets are ``<sot> w... <eot> <sot> w... <eot>`` (one ``<sot> ... <eot>``
group per turn, in time order) with the encoder frame of every turn start and end, for the
latency penalty on late turn tokens; without turn tokens (MT-RNN-T) just the words, turn after
turn.  Encoder frame ``k`` covers input time
``[k * stride, (k + 1) * stride)`` with ``stride = frame_shift * subsampling`` (40 ms by default,
as :class:`steps.nnet.subsampling.CausalConvSubsampling` sees input frames up to ``4k + 3``):

- ``sot_frame = floor(start / stride)``: the frame in which the turn starts;
- ``eot_frame = ceil(end / stride) - 1``: the frame holding the turn's last speech, the
  earliest frame a causal model can know the turn is over;

both clipped to ``[0, num_frames - 1]``.  :func:`parse_turns` inverts this: a decoded turn
spans ``[sot_frame * stride, (eot_frame + 1) * stride)``.

A model without turn tokens has no turn boundaries of its own.  :func:`gap_turns` applies the
rule used for it here: a turn is a maximal run of word pieces emitted on one channel in which
no two consecutive emissions are ``gap`` seconds or more apart; it spans the frames of its first
and last piece.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lhotse.cut import Cut

from steps.data.tokenizer import Tokenizer
from steps.utils import FairstreamError

from .turns import EPS, Turn, turns_from_cut

SOT_ID, EOT_ID, BLANK_ID = 1, 2, 0  # fixed by steps/data/tokenizer.py


# ---- reference side -----------------------------------------------------------------------
def assign_channels(turns: Sequence[Turn], num_channels: int = 2) -> list[int]:
    """Channel of each turn (in the order given) by the first-free-channel rule (module doc)."""
    order = sorted(range(len(turns)), key=lambda i: (turns[i].start, turns[i].end, i))
    free_at = [-math.inf] * num_channels
    out = [0] * len(turns)
    for i in order:
        t = turns[i]
        for c in range(num_channels):
            if free_at[c] <= t.start + EPS:
                out[i] = c
                free_at[c] = t.end
                break
        else:
            raise FairstreamError(
                f"turn at {t.start:.2f}-{t.end:.2f}s overlaps {num_channels} other turns; "
                f"at most {num_channels} talkers at once are supported"
            )
    return out


def num_encoder_frames(num_feature_frames: int, subsampling: int = 4) -> int:
    """Encoder output length, ``ceil(T / subsampling)`` (the causal ×4 subsampling's rule)."""
    return -(-num_feature_frames // subsampling)


def sot_frame(start: float, stride: float, num_frames: int) -> int:
    """Encoder frame in which a turn starts."""
    return min(max(int(math.floor(start / stride + EPS)), 0), num_frames - 1)


def eot_frame(end: float, stride: float, num_frames: int) -> int:
    """Encoder frame that holds the last speech of a turn (end is exclusive)."""
    return min(max(int(math.ceil(end / stride - EPS)) - 1, 0), num_frames - 1)


@dataclass(frozen=True)
class ChannelTargets:
    """Token ids and turn-token reference frames of one output channel."""

    tokens: list[int]  # <sot> w... <eot> per turn (w... without turn tokens), in time order
    sot_frames: list[int]  # one per turn: reference encoder frame of its <sot>
    eot_frames: list[int]  # one per turn: reference encoder frame of its <eot>
    turns: list[Turn]  # the reference turns of this channel, with channel and frames set

    @property
    def sot_positions(self) -> list[int]:
        """Indices of the ``<sot>`` tokens in ``tokens`` (aligned with ``sot_frames``)."""
        return [i for i, t in enumerate(self.tokens) if t == SOT_ID]

    @property
    def eot_positions(self) -> list[int]:
        return [i for i, t in enumerate(self.tokens) if t == EOT_ID]


@dataclass(frozen=True)
class SessionTargets:
    """Targets of one session for a ``num_channels``-output transducer."""

    session_id: str
    num_frames: int  # encoder frames
    frame_stride: float  # seconds per encoder frame
    channels: list[ChannelTargets]

    @property
    def turns(self) -> list[Turn]:
        """All reference turns, with channel and frames, sorted by start."""
        return sorted((t for ch in self.channels for t in ch.turns), key=lambda t: (t.start, t.end))


def make_targets(
    turns: Sequence[Turn],
    encode: Callable[[str], list[int]],
    num_frames: int,
    *,
    frame_stride: float = 0.04,
    num_channels: int = 2,
    session_id: str = "",
    turn_tokens: bool = True,
) -> SessionTargets:
    """Per-channel ``<sot> w... <eot>`` targets (``w...`` alone without ``turn_tokens``) and turn
    frames from reference ``turns``.

    ``encode`` maps a turn's text to word-piece ids (without turn tokens), e.g.
    ``Tokenizer.encode``; ``num_frames`` is the number of encoder frames of the session.
    """
    if num_frames < 1:
        raise FairstreamError(f"session {session_id}: needs at least one encoder frame")
    chans = assign_channels(turns, num_channels)
    per: list[list[Turn]] = [[] for _ in range(num_channels)]
    for t, c in zip(turns, chans, strict=True):
        per[c].append(t)
    out = []
    for c, ts in enumerate(per):
        ts = sorted(ts, key=lambda t: (t.start, t.end))
        tokens: list[int] = []
        sots, eots, done = [], [], []
        for t in ts:
            ids = encode(t.text)
            if SOT_ID in ids or EOT_ID in ids or BLANK_ID in ids:
                raise FairstreamError(f"session {session_id}: turn text {t.text!r} encodes to a special id")
            s = sot_frame(t.start, frame_stride, num_frames)
            e = max(eot_frame(t.end, frame_stride, num_frames), s)
            tokens += [SOT_ID, *ids, EOT_ID] if turn_tokens else ids
            sots.append(s)
            eots.append(e)
            done.append(t.with_(channel=c, sot_frame=s, eot_frame=e))
        out.append(ChannelTargets(tokens, sots, eots, done))
    return SessionTargets(session_id, num_frames, frame_stride, out)


def cut_targets(
    cut: Cut,
    tokenizer: Tokenizer,
    *,
    num_channels: int = 2,
    frame_shift: float | None = None,
    subsampling: int = 4,
    num_feature_frames: int | None = None,
    turn_tokens: bool = True,
) -> SessionTargets:
    """:func:`make_targets` for a session cut (one supervision per turn) and a BPE tokenizer.

    The feature frame shift and count come from the cut's features unless given (e.g. for cuts
    with audio only, whose fbank is computed on the fly).
    """
    shift = frame_shift if frame_shift is not None else (cut.frame_shift or 0.01)
    if num_feature_frames is None:
        num_feature_frames = cut.num_frames or int(round(cut.duration / shift))
    return make_targets(
        turns_from_cut(cut),
        lambda text: tokenizer.encode(text, where=f"cut {cut.id}"),
        num_encoder_frames(num_feature_frames, subsampling),
        frame_stride=shift * subsampling,
        num_channels=num_channels,
        session_id=cut.id,
        turn_tokens=turn_tokens,
    )


# ---- decoded side -------------------------------------------------------------------------
def parse_turns(
    tokens: Sequence[int],
    frames: Sequence[int],
    decode: Callable[[list[int]], str],
    *,
    frame_stride: float = 0.04,
    channel: int | None = None,
    keep_empty: bool = False,
) -> list[Turn]:
    """Turns of one decoded channel from its token ids and their emission frames.

    ``decode`` turns word-piece ids into text (e.g. ``tokenizer.sp.decode``).  Robust to what a
    real model emits: a word before any ``<sot>`` opens a turn at that word's frame; a repeated
    ``<sot>`` in a turn that has no words yet is ignored, after words it closes the turn at its
    last word (a missed ``<eot>``); a stray ``<eot>`` outside a turn is ignored; a turn still open
    at the end closes at its last word.  Blanks are skipped.  Turns without words are dropped
    unless ``keep_empty``.
    """
    if len(tokens) != len(frames):
        raise FairstreamError(f"{len(tokens)} tokens but {len(frames)} frames")
    out: list[Turn] = []
    cur: dict | None = None

    def close(end_frame: int) -> None:
        nonlocal cur
        assert cur is not None
        if cur["ids"] or keep_empty:
            s, e = cur["sot"], max(end_frame, cur["sot"])
            out.append(
                Turn(
                    start=s * frame_stride,
                    end=(e + 1) * frame_stride,
                    text=decode(cur["ids"]) if cur["ids"] else "",
                    channel=channel,
                    sot_frame=s,
                    eot_frame=e,
                )
            )
        cur = None

    for tok, f in zip(tokens, frames, strict=True):
        f = int(f)
        if tok == BLANK_ID:
            continue
        if tok == SOT_ID:
            if cur is None:
                cur = {"sot": f, "ids": [], "last": f}
            elif cur["ids"]:
                close(cur["last"])
                cur = {"sot": f, "ids": [], "last": f}
        elif tok == EOT_ID:
            if cur is not None:
                close(f)
        else:
            if cur is None:
                cur = {"sot": f, "ids": [], "last": f}
            cur["ids"].append(int(tok))
            cur["last"] = f
    if cur is not None:
        close(cur["last"])
    return out


def gap_turns(
    tokens: Sequence[int],
    frames: Sequence[int],
    decode: Callable[[list[int]], str],
    gap: float,
    *,
    frame_stride: float = 0.04,
    channel: int | None = None,
) -> list[Turn]:
    """Turns of one decoded channel of a model without turn tokens (module doc): runs of word
    pieces split where two consecutive emissions are ``gap`` seconds or more apart.  Blanks and
    any turn token are skipped."""
    if len(tokens) != len(frames):
        raise FairstreamError(f"{len(tokens)} tokens but {len(frames)} frames")
    if gap <= 0:
        raise FairstreamError(f"the turn gap must be > 0 s, got {gap}")
    runs: list[list[tuple[int, int]]] = []
    for tok, f in zip(tokens, frames, strict=True):
        if tok in (BLANK_ID, SOT_ID, EOT_ID):
            continue
        if not runs or (int(f) - runs[-1][-1][1]) * frame_stride >= gap - EPS:
            runs.append([])
        runs[-1].append((int(tok), int(f)))
    return [
        Turn(
            start=run[0][1] * frame_stride,
            end=(run[-1][1] + 1) * frame_stride,
            text=decode([t for t, _ in run]),
            channel=channel,
            sot_frame=run[0][1],
            eot_frame=run[-1][1],
        )
        for run in runs
    ]


def parse_channels(
    channel_tokens: Sequence[Sequence[int]],
    channel_frames: Sequence[Sequence[int]],
    decode: Callable[[list[int]], str],
    *,
    frame_stride: float = 0.04,
    keep_empty: bool = False,
    gap: float | None = None,
) -> list[Turn]:
    """:func:`parse_turns` for every channel (:func:`gap_turns` with a ``gap``, for a model without
    turn tokens); all turns with ``channel`` set, sorted by start."""
    if len(channel_tokens) != len(channel_frames):
        raise FairstreamError(
            f"{len(channel_tokens)} token channels but {len(channel_frames)} frame channels"
        )
    out = []
    for c, (toks, frs) in enumerate(zip(channel_tokens, channel_frames, strict=True)):
        if gap is None:
            out += parse_turns(toks, frs, decode, frame_stride=frame_stride, channel=c, keep_empty=keep_empty)
        else:
            out += gap_turns(toks, frs, decode, gap, frame_stride=frame_stride, channel=c)
    return sorted(out, key=lambda t: (t.start, t.end, t.channel))
