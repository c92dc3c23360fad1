"""Multi-talker metrics: DER (hand counts, collar, pyannote), clustering, RTTM, cpWER/ORC-WER
(meeteval against own Hungarian and brute-force solutions), turn parsing from token streams, turn
counting and turn-token latency."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from steps.multitalker.diarization import (
    DerResult,
    cluster_embeddings,
    corpus_der,
    der,
    label_turns,
    read_rttm,
    write_rttm,
)
from steps.multitalker.metrics import (
    MAX_BRUTEFORCE,
    ZERO,
    WerCounts,
    _concat,
    _edit,
    _labels,
    boundary_distance,
    cp_wer,
    latency_stats,
    match_turns,
    meeteval_available,
    orc_wer,
    orc_wer_bruteforce,
    orc_wer_meeteval,
    score_sessions,
    turn_count_accuracy,
    turn_latencies,
)
from steps.multitalker.targets import EOT_ID, SOT_ID, gap_turns, make_targets, parse_channels, parse_turns
from steps.multitalker.turns import Turn
from steps.utils import FairstreamError

needs_meeteval = pytest.mark.skipif(not meeteval_available(), reason="meeteval is not installed")


def T(start: float, end: float, spk: str | None = None, text: str = "", ch: int | None = None) -> Turn:
    return Turn(start=start, end=end, text=text, speaker=spk, channel=ch)


def approx(res: DerResult, missed: float, fa: float, conf: float, total: float) -> None:
    got = (res.missed, res.false_alarm, res.confusion, res.total)
    assert got == pytest.approx((missed, fa, conf, total), abs=1e-9), got


# ---- DER -------------------------------------------------------------------------------------
def test_der_hand_computed_cases() -> None:
    ref = [T(0, 10, "A")]
    approx(der(ref, [T(0, 10, "x")]), 0, 0, 0, 10)
    approx(der(ref, [T(0, 5, "x"), T(5, 10, "y")]), 0, 0, 5, 10)  # one half confused
    approx(der([T(0, 4, "A")], [T(0, 6, "x")]), 0, 2, 0, 4)  # false alarm after the end
    approx(der(ref, []), 10, 0, 0, 10)
    approx(der([], [T(1, 3, "x")]), 0, 2, 0, 0)
    assert der([], [T(1, 3, "x")]).der == float("inf") and der([], []).der == 0.0
    # overlap-aware: two reference speakers at once, one detected -> 5 s missed of 15 s scored
    res = der([T(0, 10, "A"), T(5, 10, "B")], [T(0, 10, "x")])
    approx(res, 5, 0, 0, 15)
    assert res.der == pytest.approx(1 / 3)
    # both overlapping speakers found, but the second one under the label of the first
    approx(der([T(0, 10, "A"), T(5, 10, "B")], [T(0, 10, "x"), T(5, 10, "x")]), 5, 0, 0, 15)
    approx(der([T(0, 10, "A"), T(5, 10, "B")], [T(0, 10, "x"), T(5, 10, "y")]), 0, 0, 0, 15)


def test_der_mapping_is_optimal_not_greedy() -> None:
    """Overlaps: A-x 4 s, A-y 2 s, B-x 4 s.  Greedy (A->x) gives 6 s confusion, optimal (B->x, A->y) 4 s."""
    ref = [T(0, 6, "A"), T(6, 10, "B")]
    hyp = [T(0, 4, "x"), T(4, 6, "y"), T(6, 10, "x")]
    res = der(ref, hyp)
    approx(res, 0, 0, 4, 10)
    assert res.der == pytest.approx(0.4)


def test_der_collar_excludes_both_sides_of_reference_boundaries() -> None:
    ref = [T(0, 10, "A")]
    hyp = [T(0.2, 9.8, "x")]
    approx(der(ref, hyp), 0.4, 0, 0, 10)
    # 0.25 s each side of 0 and 10: scored region [0.25, 9.75]
    approx(der(ref, hyp, collar=0.25), 0, 0, 0, 9.5)
    # errors further than the collar still count; hypothesis-only boundaries get no collar
    approx(der(ref, [T(0.5, 10, "x"), T(3, 4, "y")], collar=0.25), 0.25, 1, 0, 9.5)
    with pytest.raises(FairstreamError):
        der(ref, hyp, collar=-1)


def test_corpus_der_pools_seconds() -> None:
    refs = {"s1": [T(0, 10, "A")], "s2": [T(0, 4, "B")]}
    hyps = {"s1": [T(0, 5, "x"), T(5, 10, "y")]}
    total, per = corpus_der(refs, hyps)
    approx(total, 4, 0, 5, 14)  # s2 has no hypothesis: all missed
    assert per["s2"].der == 1.0
    with pytest.raises(FairstreamError, match="not in the reference"):
        corpus_der(refs, {"zz": []})


def _random_diarization(rng: random.Random, labels: str, n: int) -> list[Turn]:
    out = []
    for _ in range(n):
        s = round(rng.uniform(0, 30), 2)
        out.append(T(s, round(s + rng.uniform(0.3, 6), 2), rng.choice(labels)))
    return out


@pytest.mark.parametrize("collar", [0.0, 0.25])
def test_der_matches_pyannote(collar: float) -> None:
    pytest.importorskip("pyannote.metrics", reason="pyannote.metrics is not installed")
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    def ann(turns: list[Turn]) -> Annotation:
        a = Annotation()
        for i, t in enumerate(turns):
            a[Segment(t.start, t.end), i] = t.speaker
        return a

    rng = random.Random(3)
    metric = DiarizationErrorRate(collar=2 * collar, skip_overlap=False)
    for _ in range(25):
        ref = _random_diarization(rng, "ABC", rng.randint(1, 8))
        hyp = _random_diarization(rng, "xyzw", rng.randint(0, 8))
        # pyannote counts a speaker that overlaps itself twice (we merge a speaker's turns
        # first) and puts collars on the boundaries it scores: give it merged turns
        ref, hyp = (
            [T(s.start, s.end, lab) for s, _, lab in ann(x).support().itertracks(yield_label=True)]
            for x in (ref, hyp)
        )
        got = der(ref, hyp, collar=collar)
        want = metric(ann(ref), ann(hyp), uem=Timeline([Segment(-10, 100)]), detailed=True)
        assert got.missed == pytest.approx(want["missed detection"], abs=1e-6)
        assert got.false_alarm == pytest.approx(want["false alarm"], abs=1e-6)
        assert got.confusion == pytest.approx(want["confusion"], abs=1e-6)
        assert got.total == pytest.approx(want["total"], abs=1e-6)


# ---- clustering and RTTM -----------------------------------------------------------------------
def test_clustering_recovers_speakers_and_labels_by_first_appearance() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    truth = np.array([2, 2, 0, 1, 0, 2, 1, 1, 0, 2])
    emb = centres[truth] + 0.05 * rng.normal(size=(len(truth), 16))
    want = np.array([0, 0, 1, 2, 1, 0, 2, 2, 1, 0])  # truth relabelled by first appearance
    assert cluster_embeddings(emb, threshold=0.5).tolist() == want.tolist()
    assert cluster_embeddings(emb, threshold=None, num_speakers=3).tolist() == want.tolist()
    assert len(set(cluster_embeddings(emb, threshold=1.9).tolist())) == 1  # everything merges
    assert len(set(cluster_embeddings(emb, threshold=0.5, max_speakers=2).tolist())) == 2
    assert len(set(cluster_embeddings(emb, threshold=1.9, min_speakers=2).tolist())) == 2
    turns = [T(i, i + 1) for i in range(len(truth))]
    labelled = label_turns(turns, emb, threshold=0.5)
    assert [t.speaker for t in labelled] == [f"spk{k}" for k in want]
    with pytest.raises(FairstreamError):
        label_turns(turns[:3], emb)
    with pytest.raises(FairstreamError):
        cluster_embeddings(np.zeros((3, 4)))


def test_rttm_round_trip(tmp_path: Path) -> None:
    sessions = {"s2": [T(1.5, 2.25, "spk1"), T(0, 1, "spk0")], "s1": [T(0.125, 3.0, "A")]}
    path = tmp_path / "hyp.rttm"
    write_rttm(path, sessions)
    lines = path.read_text().splitlines()
    assert lines[0] == "SPEAKER s1 1 0.125 2.875 <NA> <NA> A <NA> <NA>"
    assert lines[1].startswith("SPEAKER s2 1 0.000 1.000")
    back = read_rttm(path)
    assert sorted(back) == ["s1", "s2"]
    assert [(t.start, t.end, t.speaker) for t in back["s2"]] == [(0, 1, "spk0"), (1.5, 2.25, "spk1")]
    with pytest.raises(FairstreamError):
        write_rttm(tmp_path / "bad.rttm", {"s": [T(0, 1)]})


# ---- cpWER and ORC-WER -------------------------------------------------------------------------
def cp_wer_hungarian(reference: Sequence[Turn], hypothesis: Sequence[Turn]) -> WerCounts:
    """Own cpWER, the cross-check of meeteval's: the cost separates over speaker pairs, so the
    Hungarian algorithm solves it exactly.  ``assignment`` holds ``(ref_speaker, hyp_speaker)`` pairs,
    ``None`` on the side of an unmatched speaker."""
    ref = {k: _concat(v) for k, v in _labels(reference, "speaker", "reference").items()}
    hyp = {k: _concat(v) for k, v in _labels(hypothesis, "speaker", "hypothesis").items()}
    rk, hk = sorted(ref, key=str), sorted(hyp, key=str)
    nr, nh = len(rk), len(hk)
    if nr + nh == 0:
        return ZERO
    pair = {(i, j): _edit(ref[rk[i]], hyp[hk[j]]) for i in range(nr) for j in range(nh)}
    big = 1e12
    cost = np.full((nr + nh, nr + nh), big)
    for (i, j), c in pair.items():
        cost[i, j] = c.errors
    for i in range(nr):
        cost[i, nh + i] = len(ref[rk[i]])  # reference speaker left unmatched: all deleted
    for j in range(nh):
        cost[nr + j, j] = len(hyp[hk[j]])  # hypothesis speaker left unmatched: all inserted
    cost[nr:, nh:] = 0
    rows, cols = linear_sum_assignment(cost)
    total, assignment = ZERO, []
    for r, c in zip(rows, cols, strict=True):
        if r < nr and c < nh:
            total += pair[(r, c)]
            assignment.append((rk[r], hk[c]))
        elif r < nr:
            total += _edit(ref[rk[r]], [])
            assignment.append((rk[r], None))
        elif c < nh:
            total += _edit([], hyp[hk[c]])
            assignment.append((None, hk[c]))
    return WerCounts(total.errors, total.length, total.ins, total.dels, total.subs, tuple(assignment))


def cp_wer_bruteforce(reference: Sequence[Turn], hypothesis: Sequence[Turn]) -> WerCounts:
    """cpWER by trying every speaker permutation; a reference for tests on tiny sessions."""
    ref = {k: _concat(v) for k, v in _labels(reference, "speaker", "reference").items()}
    hyp = {k: _concat(v) for k, v in _labels(hypothesis, "speaker", "hypothesis").items()}
    n = len(ref) + len(hyp)
    if math.factorial(n) > MAX_BRUTEFORCE:
        raise FairstreamError(f"brute-force cpWER with {n} speakers is too slow")
    rk = [*sorted(ref, key=str), *[None] * len(hyp)]
    hk = [*sorted(hyp, key=str), *[None] * len(ref)]
    best: WerCounts | None = None
    for perm in itertools.permutations(range(n)):
        tot, assignment = ZERO, []
        for i, j in enumerate(perm):
            r, h = rk[i], hk[j]
            if r is None and h is None:
                continue
            tot += _edit(ref[r] if r is not None else [], hyp[h] if h is not None else [])
            assignment.append((r, h))
        if best is None or tot.errors < best.errors:
            best = WerCounts(tot.errors, tot.length, tot.ins, tot.dels, tot.subs, tuple(assignment))
    return best if best is not None else ZERO


def test_cp_wer_hand_computed() -> None:
    ref = [T(0, 1, "A", "a b c"), T(2, 3, "B", "d e"), T(4, 5, "A", "f")]
    # speakers swapped in labels, one substitution, one inserted extra speaker
    hyp = [T(0, 1, "s1", "a b x"), T(2, 3, "s0", "d e"), T(4, 5, "s1", "f"), T(6, 7, "s2", "g h")]
    for impl in (cp_wer, cp_wer_hungarian):
        res = impl(ref, hyp)
        assert (res.errors, res.length, res.subs, res.ins, res.dels) == (3, 6, 1, 2, 0)
        # a missed speaker counts as deletions
        res = impl(ref, [T(0, 5, "s0", "a b c f")])
        assert (res.errors, res.dels) == (2, 2)
    assert set(cp_wer_hungarian(ref, hyp).assignment) == {("A", "s1"), ("B", "s0"), (None, "s2")}
    assert ("B", None) in cp_wer_hungarian(ref, [T(0, 5, "s0", "a b c f")]).assignment
    with pytest.raises(FairstreamError):
        cp_wer_hungarian(ref, [T(0, 1, None, "a")])


def test_orc_wer_hand_computed() -> None:
    ref = [T(0, 2, "A", "a b"), T(1, 3, "B", "c d"), T(3, 4, "A", "e f")]
    assert orc_wer_bruteforce(ref, [T(0, 4, None, "a b c d e f", 0)]).errors == 0  # one channel
    res = orc_wer_bruteforce(ref, [T(0, 4, None, "a b e f", 0), T(1, 3, None, "c d", 1)])
    assert res.errors == 0 and res.assignment == (0, 1, 0)
    res = orc_wer_bruteforce(ref, [T(0, 4, None, "a b e", 0), T(1, 3, None, "c d f", 1)])
    assert (res.errors, res.ins, res.dels) == (2, 1, 1)
    assert orc_wer_bruteforce(ref, []).dels == 6
    with pytest.raises(FairstreamError):
        orc_wer_bruteforce(ref, [T(0, 1, "x", "a")])  # no channel


def _random_words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice("abcde") for _ in range(n))


def _random_session(rng: random.Random) -> tuple[list[Turn], list[Turn]]:
    """1-5 reference turns of 1-3 speakers, 0-4 decoded turns on 2 channels with 1-3 labels."""
    speakers = "ABC"[: rng.randint(1, 3)]
    ref = [
        T(i, i + 1.5, rng.choice(speakers), _random_words(rng, rng.randint(0, 4)))
        for i in range(rng.randint(1, 5))
    ]
    hyp = [
        T(i + 0.1, i + 1.2, rng.choice("xyz"), _random_words(rng, rng.randint(0, 4)), rng.randint(0, 1))
        for i in range(rng.randint(0, 4))
    ]
    return ref, hyp


def test_cp_wer_hungarian_equals_bruteforce() -> None:
    rng = random.Random(11)
    for _ in range(150):
        ref, hyp = _random_session(rng)
        a, b = cp_wer_hungarian(ref, hyp), cp_wer_bruteforce(ref, hyp)
        assert (a.errors, a.length) == (b.errors, b.length), (ref, hyp)
        assert a.errors == a.ins + a.dels + a.subs


@needs_meeteval
def test_cp_and_orc_match_meeteval() -> None:
    rng = random.Random(5)
    for _ in range(80):
        ref, hyp = _random_session(rng)
        if not any(t.text for t in ref):
            continue
        m, h = cp_wer(ref, hyp), cp_wer_hungarian(ref, hyp)  # meeteval's against our own
        assert (h.errors, h.length) == (m.errors, m.length), (ref, hyp)
        o = orc_wer_meeteval(ref, hyp)
        b = orc_wer_bruteforce(ref, hyp)
        assert (o.errors, o.length) == (b.errors, b.length), (ref, hyp)
        assert orc_wer(ref, hyp).errors == b.errors


def test_orc_backend_choice() -> None:
    ref = [T(0, 1, "A", "a b")]
    assert orc_wer(ref, [T(0, 1, None, "a b", 0)], backend="bruteforce").errors == 0
    with pytest.raises(FairstreamError, match="unknown ORC-WER backend"):
        orc_wer(ref, [], backend="magic")


# ---- parsing decoded token streams -------------------------------------------------------------
def fake_decode(ids: list[int]) -> str:
    return " ".join(f"w{i}" for i in ids)


def test_parse_turns_clean_stream_inverts_targets() -> None:
    ref = [
        Turn(0.0, 1.0, "w10 w11", "A"),
        Turn(0.5, 2.0, "w12", "B"),
        Turn(1.3, 2.6, "w13 w14 w15", "A"),
    ]
    tg = make_targets(ref, lambda s: [int(w[1:]) for w in s.split()], num_frames=80)
    decoded_channels, frames = [], []
    for ch in tg.channels:
        toks, frs = [], []
        for t, s, e in zip(ch.turns, ch.sot_frames, ch.eot_frames, strict=True):
            ids = [int(w[1:]) for w in t.text.split()]
            toks += [SOT_ID, *ids, 0, EOT_ID]  # a blank in between is ignored
            frs += [s, *range(s, s + len(ids)), s + len(ids), e]
        decoded_channels.append(toks)
        frames.append(frs)
    got = parse_channels(decoded_channels, frames, fake_decode)
    want = tg.turns
    assert [(t.text, t.channel, t.sot_frame, t.eot_frame) for t in got] == [
        (t.text, t.channel, t.sot_frame, t.eot_frame) for t in want
    ]
    assert got[0].start == 0.0 and got[0].end == pytest.approx(1.0)


def test_parse_turns_is_robust_to_missing_and_duplicated_turn_tokens() -> None:
    S, E = SOT_ID, EOT_ID
    cases = [
        # tokens, frames, expected (text, sot_frame, eot_frame)
        ([S, 5, 6, E], [1, 2, 3, 4], [("w5 w6", 1, 4)]),
        ([5, 6, E], [2, 3, 4], [("w5 w6", 2, 4)]),  # missing <sot>: starts at the first word
        ([S, S, 5, E, E], [1, 2, 3, 4, 5], [("w5", 1, 4)]),  # duplicates: first <sot>, first <eot>
        ([S, 5, S, 6, E], [1, 2, 5, 6, 7], [("w5", 1, 2), ("w6", 5, 7)]),  # missing <eot>
        ([S, 5, 6], [1, 2, 3], [("w5 w6", 1, 3)]),  # the stream ends inside a turn
        ([E, S, E, S, 7, E], [0, 1, 2, 3, 4, 5], [("w7", 3, 5)]),  # stray <eot>, empty turn
        ([0, 0, S, 0, 8, 0, E, 0], list(range(8)), [("w8", 2, 6)]),  # blanks
        ([], [], []),
    ]
    for toks, frs, want in cases:
        got = parse_turns(toks, frs, fake_decode, channel=1)
        assert [(t.text, t.sot_frame, t.eot_frame) for t in got] == want, toks
        assert all(t.channel == 1 for t in got)
    kept = parse_turns([S, E, S, 5, E], [1, 2, 3, 4, 5], fake_decode, keep_empty=True)
    assert [(t.text, t.sot_frame) for t in kept] == [("", 1), ("w5", 3)]
    with pytest.raises(FairstreamError):
        parse_turns([S, 5], [1], fake_decode)


def test_gap_turns_split_where_emissions_pause() -> None:
    S, E = SOT_ID, EOT_ID
    stride = 0.04
    toks = [5, 0, 6, 7, 0, 8, 9, S, 10, E]
    frames = [2, 5, 10, 30, 31, 32, 70, 71, 72, 73]  # pauses of 8, 20, 2, 38, 2 frames between pieces
    got = gap_turns(toks, frames, fake_decode, 0.8, frame_stride=stride, channel=1)
    assert [(t.text, t.sot_frame, t.eot_frame, t.channel) for t in got] == [
        ("w5 w6", 2, 10, 1), ("w7 w8", 30, 32, 1), ("w9 w10", 70, 72, 1),  # turn tokens are ignored
    ]  # fmt: skip
    assert got[0].start == pytest.approx(0.08) and got[0].end == pytest.approx(11 * stride)
    # a pause of exactly the gap splits; a longer gap merges
    assert len(gap_turns(toks, frames, fake_decode, 20 * stride, frame_stride=stride)) == 3
    assert len(gap_turns(toks, frames, fake_decode, 20 * stride + 0.01, frame_stride=stride)) == 2
    assert len(gap_turns(toks, frames, fake_decode, 10.0, frame_stride=stride)) == 1
    assert gap_turns([0, S, E], [1, 2, 3], fake_decode, 0.5) == []
    with pytest.raises(FairstreamError, match="> 0"):
        gap_turns(toks, frames, fake_decode, 0.0)
    both = parse_channels([toks, [11]], [frames, [40]], fake_decode, frame_stride=stride, gap=0.8)
    assert [(t.text, t.channel) for t in both] == [("w5 w6", 0), ("w7 w8", 0), ("w11", 1), ("w9 w10", 0)]


def test_tune_turn_gap_picks_the_shortest_best_gap() -> None:
    """Channel 0 has three reference turns whose emissions pause 0.4 s inside a turn and 1.2 s
    between turns: gaps in (0.4, 1.2] s count them right, the shortest of those wins."""
    from steps.decode_sessions import tune_turn_gap

    stride = 0.04
    refs = {"s": [T(0, 1, "A", "a", 0), T(2, 3, "B", "b", 0), T(4, 5, "A", "c", 0)]}
    frames = [0, 10, 40, 50, 80, 90]  # 10 frames (0.4 s) within a turn, 30 (1.2 s) between turns
    raw = {"s": ([[5, 6, 7, 8, 9, 10], []], [frames, []])}
    assert tune_turn_gap(raw, refs, fake_decode, stride, grid=[0.2, 0.4, 0.6, 0.8, 1.2, 1.4]) == 0.6
    assert tune_turn_gap(raw, refs, fake_decode, stride) == 0.6  # the default grid, 0.2-3.0 s


def test_tune_on_dev_breaks_accuracy_ties_by_turn_count_error_then_value() -> None:
    """Two sessions of 2 + 1 turns on one channel each.  Values 1 and 2 count one session right
    (same accuracy); 2 misses the other by 1 turn, 1 by 3, so 2 wins; 3 repeats 2's counts
    (a tie on both keys: the smaller value, 2, stays)."""
    from steps.decode_sessions import tune_on_dev

    refs = {"a": [T(0, 1, "A", "x", 0), T(2, 3, "A", "y", 0)], "b": [T(0, 1, "B", "z", 0)]}

    def turns(n: int) -> list:
        return [T(2 * i, 2 * i + 1, None, f"w{i}", 0) for i in range(n)]

    counts = {0.0: (0, 0), 1.0: (2, 4), 2.0: (2, 2), 3.0: (2, 2)}
    got = tune_on_dev(list(counts), lambda v: {"a": turns(counts[v][0]), "b": turns(counts[v][1])}, refs)
    assert got == 2.0
    with pytest.raises(FairstreamError, match="no candidate"):
        tune_on_dev([], lambda v: {}, refs)


# ---- turn counting and latency -----------------------------------------------------------------
def test_turn_count_accuracy() -> None:
    ref = [T(0, 2, "A", "a"), T(1, 3, "B", "b"), T(4, 5, "A", "c")]  # channels 0, 1, 0
    good = [T(0, 2, None, "a", 0), T(1, 3, None, "b", 1), T(4, 5, None, "c", 0)]
    swapped = [T(0, 2, None, "a", 1), T(1, 3, None, "b", 0), T(4, 5, None, "c", 1)]
    short = [T(0, 5, None, "a c", 0), T(1, 3, None, "b", 1)]
    res = turn_count_accuracy([(ref, good), (ref, swapped), (ref, short)])
    assert res["session_accuracy"] == pytest.approx(2 / 3)
    assert res["channel_accuracy"] == pytest.approx(3 / 6)  # good 2/2, swapped 0/2, short 1/2
    assert res["mean_abs_turn_diff"] == pytest.approx(1 / 3)
    res = turn_count_accuracy([(ref, good), (ref, swapped), (ref, short)], permute=True)
    assert res["channel_accuracy"] == pytest.approx(5 / 6)


def test_turn_latencies_of_matched_turns() -> None:
    stride = 0.04
    ref = [
        Turn(0.0, 1.0, "a", "A", 0, sot_frame=0, eot_frame=24),
        Turn(0.5, 2.0, "b", "B", 1, sot_frame=12, eot_frame=49),
        Turn(3.0, 4.0, "c", "A", 0, sot_frame=75, eot_frame=99),
    ]
    hyp = [
        Turn(0.08, 1.2, "a", None, 0, sot_frame=2, eot_frame=29),  # +2, +5 frames
        Turn(3.2, 4.0, "c", None, 0, sot_frame=80, eot_frame=99),  # +5, 0
        Turn(0.4, 2.4, "b", None, 1, sot_frame=10, eot_frame=59),  # -2, +10
    ]
    m = turn_latencies(ref, hyp, stride)
    assert (m.matched, m.unmatched_ref, m.unmatched_hyp) == (3, 0, 0)
    lat = m.latencies
    assert [round(x.sot / stride) for x in lat] == [2, -2, 5]
    assert [round(x.eot / stride) for x in lat] == [5, 10, 0]
    st = latency_stats([x.eot for x in lat])
    assert st["n"] == 3
    assert st["mean"] == pytest.approx(5 * stride)
    assert st["p90"] == pytest.approx(9 * stride)  # linear between 5 and 10 frames at 90 %
    m = turn_latencies(ref, hyp[:2], stride)
    assert (m.matched, m.unmatched_ref, m.unmatched_hyp) == (2, 1, 0)
    assert latency_stats([])["mean"] is None


def test_merged_turns_match_one_reference_turn() -> None:
    """Two reference turns decoded as one: one is matched (with its own latencies), the other is
    unmatched and lends it no negative latency, as the many-to-one nearest-turn rule did."""
    ref = [T(0.0, 1.5, "A", "a", 0), T(1.8, 3.0, "B", "b", 0)]
    merged = [T(0.1, 2.9, None, "a b", 0)]  # 1.5 s from the first turn, 1.8 s from the second
    m = turn_latencies(ref, merged)
    assert (m.matched, m.unmatched_ref, m.unmatched_hyp) == (1, 1, 0)
    (lat,) = m.latencies
    assert lat.ref_start == 0.0
    assert lat.sot == pytest.approx(2 * 0.04) and lat.eot == pytest.approx((72 - 37) * 0.04)
    # the second reference turn alone would have been 43 frames early
    assert turn_latencies(ref[1:], merged).latencies[0].sot == pytest.approx((2 - 45) * 0.04)


def test_turns_beyond_the_maximum_distance_stay_unmatched() -> None:
    ref = [T(0.0, 2.0, "A", "a", 0)]
    far = [T(1.5, 3.6, None, "a", 0)]  # 1.5 + 1.6 = 3.1 s away
    m = turn_latencies(ref, far)
    assert (m.matched, m.unmatched_ref, m.unmatched_hyp) == (0, 1, 1) and m.latencies == []
    assert turn_latencies(ref, far, max_distance=3.2).matched == 1
    # another channel is never a match, however close
    m = turn_latencies(ref, [T(0.0, 2.0, None, "a", 1)])
    assert (m.matched, m.unmatched_ref, m.unmatched_hyp) == (0, 1, 1)
    with pytest.raises(FairstreamError, match="> 0"):
        match_turns(ref, far, max_distance=0.0)


def _matching_cost(ref: list[Turn], hyp: list[Turn], pairs: Sequence[tuple[int, int]], max_d: float) -> float:
    unmatched = len(ref) + len(hyp) - 2 * len(pairs)
    return sum(boundary_distance(ref[i], hyp[j]) for i, j in pairs) + max_d / 2 * unmatched


def _best_matching_bruteforce(ref: list[Turn], hyp: list[Turn], max_d: float) -> float:
    """The smallest cost over every one-to-one partial matching (every permutation of the decoded
    turns padded with "unmatched", each pair within ``max_d``)."""
    best = math.inf
    slots = list(range(len(hyp))) + [None] * len(ref)
    for perm in set(itertools.permutations(slots, len(ref))):
        pairs = [(i, j) for i, j in enumerate(perm) if j is not None]
        if all(boundary_distance(ref[i], hyp[j]) <= max_d for i, j in pairs):
            best = min(best, _matching_cost(ref, hyp, pairs, max_d))
    return best


def test_match_turns_is_optimal_against_brute_force() -> None:
    rng = random.Random(17)

    def turns(n: int) -> list[Turn]:
        out = []
        for _ in range(n):
            s = round(rng.uniform(0, 8), 2)
            out.append(T(s, round(s + rng.uniform(0.2, 3), 2)))
        return out

    hard = 0
    for _ in range(200):
        ref, hyp, max_d = turns(rng.randint(0, 5)), turns(rng.randint(0, 5)), rng.choice([0.5, 2.0, 4.0])
        pairs = match_turns(ref, hyp, max_d)
        assert len({i for i, _ in pairs}) == len({j for _, j in pairs}) == len(pairs)  # one to one
        assert all(boundary_distance(ref[i], hyp[j]) <= max_d + 1e-9 for i, j in pairs)
        got = _matching_cost(ref, hyp, pairs, max_d)
        assert got == pytest.approx(_best_matching_bruteforce(ref, hyp, max_d), abs=1e-9), (ref, hyp, max_d)
        greedy = sorted(
            ((boundary_distance(r, h), i, j) for i, r in enumerate(ref) for j, h in enumerate(hyp)),
        )
        used_r, used_h, gpairs = set(), set(), []
        for d, i, j in greedy:
            if d <= max_d and i not in used_r and j not in used_h:
                used_r.add(i), used_h.add(j), gpairs.append((i, j))
        hard += int(_matching_cost(ref, hyp, gpairs, max_d) > got + 1e-9)
    assert hard > 0  # some cases where closest-pair-first is not optimal were exercised


def test_score_sessions_perfect_and_empty_decodes() -> None:
    refs = {"s": [T(0, 2, "A", "turn on"), T(1, 3, "B", "the lights"), T(4, 5, "A", "now")]}
    tg = make_targets(refs["s"], lambda s: [4] * len(s.split()), num_frames=200)
    perfect = {"s": [t.with_(speaker={"A": "s0", "B": "s1"}[t.speaker]) for t in tg.turns]}
    res = score_sessions(refs, perfect, orc_backend="bruteforce")
    assert res["orc_wer"]["errors"] == 0 and res["cp_wer"]["errors"] == 0
    assert res["turn_count"]["session_accuracy"] == 1.0
    assert res["sot_latency"]["mean"] == 0.0 and res["eot_latency"]["p90"] == 0.0
    assert res["turn_matching"]["matched"] == 3 and res["turn_matching"]["unmatched_hyp"] == 0
    res = score_sessions(refs, {}, orc_backend="bruteforce")
    assert res["orc_wer"]["del"] == 5
    assert res["turn_matching"] == {"max_distance": 2.0, "matched": 0, "unmatched_ref": 3, "unmatched_hyp": 0}
    assert res["per_session"]["s"]["ref_channel_turns"] == [2, 1]
    assert res["per_session"]["s"]["hyp_channel_turns"] == [0, 0]
    assert res["turn_count"]["session_accuracy"] == 0.0
    with pytest.raises(FairstreamError):
        score_sessions(refs, {"other": []})
