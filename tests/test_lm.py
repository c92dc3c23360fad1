"""Token n-gram LM and its fusion into modified beam search, against brute-force references."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch

from local.make_lm_text import demo_sentences, select
from steps.lm.fusion import LmFusion
from steps.lm.ngram import FALLBACK_DISCOUNTS, NgramLM, train_ngram
from steps.nnet.search import GreedySearch, ModifiedBeamSearch, make_search, search_offline
from steps.utils import FairstreamError
from tests.test_decode import brute_force, frames, table_model

pytestmark = pytest.mark.usefixtures("one_thread")


# ---- interpolated modified Kneser-Ney, straight from the formula -----------------------------


def ref_discounts(adjusted: dict[tuple[int, ...], int]) -> tuple[float, float, float]:
    n = [sum(1 for a in adjusted.values() if a == i) for i in (1, 2, 3, 4)]
    if min(n) == 0:
        return FALLBACK_DISCOUNTS
    y = n[0] / (n[0] + 2 * n[1])
    d = (1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2])
    return d if all(0 < x < i for i, x in enumerate(d, start=1)) else FALLBACK_DISCOUNTS


class BruteKN:
    """Dictionaries and recursion: counts, adjusted counts, P(w|h) for one (h, w) at a time."""

    def __init__(self, sentences: list[list[int]], vocab: int, order: int) -> None:
        self.vocab, self.order, eos = vocab, order, vocab
        raw: dict[int, Counter] = {k: Counter() for k in range(1, order + 1)}
        for s in sentences:
            seq = [0, *s, eos]
            for k in range(1, order + 1):
                for i in range(len(seq) - k + 1):
                    g = tuple(seq[i : i + k])
                    if g != (0,):
                        raw[k][g] += 1
        self.adj: dict[int, dict[tuple[int, ...], int]] = {order: dict(raw[order])}
        for k in range(order - 1, 0, -1):
            left: dict[tuple[int, ...], set[int]] = defaultdict(set)
            for g in raw[k + 1]:
                left[g[1:]].add(g[0])
            self.adj[k] = {g: (c if g[0] == 0 else len(left[g])) for g, c in raw[k].items()}
        self.disc = {k: ref_discounts(self.adj[k]) for k in self.adj}

    def prob(self, h: tuple[int, ...], w: int) -> float:
        h = h[-(self.order - 1) :] if self.order > 1 else ()
        k = len(h) + 1
        seen = {g[-1]: a for g, a in self.adj[k].items() if g[:-1] == h}
        lower = self.prob(h[1:], w) if h else 1.0 / self.vocab
        if not seen:  # unseen context: all its mass goes to the shorter one
            return lower
        d1, d2, d3 = self.disc[k]
        dis = {w2: (d1 if a == 1 else d2 if a == 2 else d3) for w2, a in seen.items()}
        total = sum(seen.values())
        gamma = sum(dis.values()) / total
        alpha = (seen[w] - dis[w]) / total if w in seen else 0.0
        return alpha + gamma * lower


def histories(vocab: int, order: int) -> list[tuple[int, ...]]:
    """Every history the model can meet: up to order-1 tokens, optionally starting with <s>."""
    out: list[tuple[int, ...]] = []
    words = range(1, vocab)
    for n in range(order):
        for h in itertools.product(words, repeat=n):
            out.append(h)
            if n < order - 1:
                out.append((0, *h))
    return out


def corpus(seed: int, vocab: int, n: int = 60, skew: bool = True) -> list[list[int]]:
    rng = random.Random(seed)
    weights = [1 / (i + 1) for i in range(vocab - 1)] if skew else None
    return [rng.choices(range(1, vocab), weights=weights, k=rng.randint(0, 7)) for _ in range(n)]


@pytest.mark.parametrize("order,vocab", [(1, 6), (2, 6), (3, 6), (4, 5)])
def test_kneser_ney_matches_brute_force_and_normalises(order: int, vocab: int) -> None:
    sents = corpus(order, vocab)
    lm = train_ngram(sents, vocab, order)
    ref = BruteKN(sents, vocab, order)
    assert lm.meta["discounts"] == {str(k): list(v) for k, v in ref.disc.items()}
    for h in histories(vocab, order):
        got = np.exp(lm.logprobs(lm._minimise(h)))
        want = np.array([0.0] + [ref.prob(h, w) for w in range(1, vocab + 1)])
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-9, err_msg=str(h))
        assert got[0] == 0.0 and got[1:].min() > 0  # blank/<s> never predicted; nothing impossible
        assert math.isclose(got.sum(), 1.0, abs_tol=1e-6), h


def test_states_are_minimal_and_scoring_follows_the_history() -> None:
    vocab = 7
    sents = corpus(11, vocab, n=200)
    lm = train_ngram(sents, vocab, 3)
    ref = BruteKN(sents, vocab, 3)
    for s in sents[:30]:
        state, total, hist = lm.init_state(), 0.0, (0,)
        for t in [*s, vocab]:
            lp, state = lm.score(state, t)
            total += lp
            assert lp == pytest.approx(math.log(ref.prob(hist, t)), abs=1e-5)
            hist = (*hist, t)
            assert len(state) <= 2 and (not state or lm._ctx_index(state) >= 0)
        assert total == pytest.approx(lm.sentence_logprob(s), abs=1e-9)


def test_save_load_roundtrip_and_perplexity(tmp_path: Path) -> None:
    vocab = 9
    sents = corpus(3, vocab, n=100)
    lm = train_ngram(sents, vocab, 4)
    lm.save(tmp_path / "lm.npz")
    back = NgramLM.load(tmp_path / "lm.npz")
    for h in [(), (0,), (0, 1), (1, 2, 3), (5, 5, 5)]:
        np.testing.assert_array_equal(back.logprobs(back._minimise(h)), lm.logprobs(lm._minimise(h)))
    ppl, n = back.perplexity(sents[:20])
    assert n == sum(len(s) + 1 for s in sents[:20])
    lp = sum(lm.sentence_logprob(s) for s in sents[:20])
    assert ppl == pytest.approx(math.exp(-lp / n))
    assert 1 < ppl < vocab  # a skewed corpus: better than uniform
    (tmp_path / "bad.npz").write_bytes(b"not a model")
    with pytest.raises(FairstreamError, match="is corrupt"):
        NgramLM.load(tmp_path / "bad.npz")
    with pytest.raises(FairstreamError, match="token ids must lie in 1..8"):
        train_ngram([[1, 9]], vocab, 2)


# ---- LM text ------------------------------------------------------------------------------------


def test_lm_text_selection_excludes_heldout_sentences() -> None:
    draw = demo_sentences(seed=5, min_words=3, max_words=18)
    first = [next(draw) for _ in range(400)]
    assert all(s == s.upper() and "  " not in s for s in first)  # the transcripts' format
    heldout = set(first[::7]) | {"NOT A GRAMMAR SENTENCE"}
    kept, excluded, hit = select(demo_sentences(seed=5, min_words=3, max_words=18), heldout, 1000)
    assert len(kept) == 1000 and not set(kept) & heldout
    assert hit == set(first[::7]) and excluded >= len(first[::7])
    # the same seed gives the same text; another seed other text
    again = select(demo_sentences(seed=5, min_words=3, max_words=18), heldout, 1000)[0]
    other = select(demo_sentences(seed=6, min_words=3, max_words=18), heldout, 1000)[0]
    assert again == kept and other != kept
    with pytest.raises(FairstreamError, match="mostly repeats held-out"):
        select(iter(["A B", "A B", "A B"]), {"A B"}, 10, max_draws=3)


# ---- fusion in the search -------------------------------------------------------------------


def table(seed: int, n: int, vocab: int, context_size: int, blank_bias: float = 0.3) -> torch.Tensor:
    torch.manual_seed(seed)
    t = torch.randn(n, vocab**context_size, vocab)
    t[..., 0] += blank_bias
    return t


def test_lm_scale_zero_is_exactly_the_plain_search() -> None:
    vocab, n = 5, 9
    model = table_model(table(1, n, vocab, 2), context_size=2)
    lm = train_ngram(corpus(1, vocab, n=50), vocab, 3)
    enc, lens = frames(n, [9, 6, 4])
    plain = ModifiedBeamSearch(model, 3)
    for fusion in (LmFusion(lm, 0.0), LmFusion(lm, 0.0, lm, 0.0), None):
        fused = ModifiedBeamSearch(model, 3, fusion)
        a, b = plain.init(3), fused.init(3)
        plain.advance(enc, [int(x) for x in lens], a)
        fused.advance(enc, [int(x) for x in lens], b)
        for sa, sb in zip(a, b, strict=True):
            assert [(h.ys, h.frames, h.score) for h in sa.hyps] == [
                (h.ys, h.frames, h.score) for h in sb.hyps
            ]
            assert plain.best(sa).ys == fused.best(sb).ys
    assert isinstance(make_search("greedy", model, lm=LmFusion(lm, 0.0)), GreedySearch)
    with pytest.raises(FairstreamError, match="needs modified_beam"):
        make_search("greedy", model, lm=LmFusion(lm, 0.5))


@pytest.mark.parametrize("lodr_scale", [0.0, 0.4])
def test_fused_wide_beam_scores_are_am_plus_scaled_lm(lodr_scale: float) -> None:
    """Without pruning every sequence's score is log P_am(seq) + lm_scale log P_lm(seq) - lodr ..."""
    vocab, n, scale = 3, 5, 0.7
    tab = table(4, n, vocab, 1, blank_bias=0.0)
    model = table_model(tab, context_size=1)
    lm = train_ngram(corpus(2, vocab, n=30), vocab, 3)
    lodr = train_ngram(corpus(9, vocab, n=30), vocab, 2)
    fusion = LmFusion(lm, scale, lodr, lodr_scale, eos=False)
    search = ModifiedBeamSearch(model, beam=1000, lm=fusion)
    enc, _ = frames(n, [n, n])  # two streams side by side; the first sees frames 2.. of the table
    enc[0] = torch.cat([enc[0, 2:], torch.zeros(2, n)])
    states = search.init(2)
    search.advance(enc, [n - 2, n], states)
    for state, sub in zip(states, (tab[2:], tab), strict=True):
        exact = brute_force(sub, sub.size(0), 1)
        got = {tuple(h.tokens(1)): h for h in state.hyps}
        assert set(got) == set(exact)
        for seq, am in exact.items():
            lm_lp = lm.sentence_logprob(seq, eos=False)
            lodr_lp = lodr.sentence_logprob(seq, eos=False)
            bonus = scale * lm_lp - lodr_scale * lodr_lp
            assert got[seq].score == pytest.approx(am + bonus, abs=1e-5)
            assert got[seq].lm_score == pytest.approx(bonus, abs=1e-5)
    # best() ranks with the end-of-sentence term when asked
    fusion_eos = LmFusion(lm, scale, lodr, lodr_scale, eos=True)
    final = {seq: h.score + fusion_eos.final(h.lm) for seq, h in got.items()}
    search_eos = ModifiedBeamSearch(model, beam=1000, lm=fusion_eos)
    s2 = search_eos.init(2)
    search_eos.advance(enc, [n - 2, n], s2)
    assert tuple(search_eos.best(s2[1]).tokens(1)) == max(final, key=final.get)


def test_turn_tokens_make_each_turn_a_sentence() -> None:
    """With turn tokens 1 (<sot>) and 2 (<eot>), every sequence scores log P_am + lm_scale x the sum
    over its turns of log P_lm(turn's words), with </s> where <eot> closes a non-empty turn."""
    vocab, n, scale, sot, eot = 5, 4, 0.6, 1, 2  # 341 sequences: the beam keeps all
    tab = table(6, n, vocab, 1, blank_bias=0.0)
    model = table_model(tab, context_size=1)
    lm = train_ngram([[w for w in s if w > 2] for s in corpus(4, vocab, n=40)], vocab, 3)
    fusion = LmFusion(lm, scale, eos=True, turn_tokens={sot: False, eot: True})
    search = ModifiedBeamSearch(model, beam=1000, lm=fusion)
    enc, lens = frames(n, [n])
    state = search.init(1)
    search.advance(enc, [n], state)

    def turns_logprob(seq: tuple[int, ...]) -> tuple[float, float]:
        """(LM log-prob of the sequence's turns, </s> of its open turn)."""
        total, words = 0.0, []
        for t in seq:
            if t in (sot, eot):
                if t == eot and words:
                    total += lm.sentence_logprob(words, eos=True)
                elif words:
                    total += lm.sentence_logprob(words, eos=False)
                words = []
            else:
                words.append(t)
        open_lp = lm.sentence_logprob(words, eos=False)
        return total + open_lp, (lm.sentence_logprob(words) - open_lp) if words else 0.0

    exact = brute_force(tab, n, 1)
    got = {tuple(h.tokens(1)): h for h in state[0].hyps}
    assert set(got) == set(exact) and any(sot in q and eot in q for q in got)
    for seq, am in exact.items():
        lp, eos = turns_logprob(seq)
        assert got[seq].score == pytest.approx(am + scale * lp, abs=1e-5), seq
        assert fusion.final(got[seq].lm) == pytest.approx(scale * eos, abs=1e-5), seq
    with pytest.raises(FairstreamError, match="not LM tokens"):
        LmFusion(lm, scale, turn_tokens={vocab: True})


def test_a_strong_lm_pulls_the_output_towards_its_sentence() -> None:
    # the acoustic table mildly prefers token 1 on every frame; the LM knows only "2 3 4"
    vocab, n = 5, 6
    logits = torch.zeros(n, vocab, vocab)
    logits[..., 0] = 1.0
    logits[..., 1] = 0.8
    model = table_model(logits, context_size=1)
    lm = train_ngram([[2, 3, 4]] * 200, vocab, 3)
    enc, lens = frames(n, [n])
    plain = search_offline(ModifiedBeamSearch(model, 4), enc, lens)[0].tokens(1)
    fused = search_offline(ModifiedBeamSearch(model, 4, LmFusion(lm, 2.0)), enc, lens)[0].tokens(1)
    assert plain != [2, 3, 4]
    assert fused == [2, 3, 4]


def test_lm_state_carries_across_chunks() -> None:
    vocab, n = 5, 11
    model = table_model(table(5, n, vocab, 2), context_size=2)
    lm = train_ngram(corpus(5, vocab, n=80), vocab, 4)
    lodr = train_ngram(corpus(6, vocab, n=80), vocab, 2)
    enc, _ = frames(n, [11, 8])
    whole = ModifiedBeamSearch(model, 3, LmFusion(lm, 0.5, lodr, 0.2))
    s_whole = whole.init(2)
    whole.advance(enc, [11, 8], s_whole)
    for chunk in (1, 4):
        part = ModifiedBeamSearch(model, 3, LmFusion(lm, 0.5, lodr, 0.2))
        s_part = part.init(2)
        for i in range(0, n, chunk):
            piece = enc[:, i : i + chunk]
            part.advance(piece, [max(0, min(piece.size(1), m - i)) for m in (11, 8)], s_part)
        for a, b in zip(s_whole, s_part, strict=True):
            assert [(h.ys, h.frames, h.lm) for h in a.hyps] == [(h.ys, h.frames, h.lm) for h in b.hyps]
            assert [h.score for h in a.hyps] == pytest.approx([h.score for h in b.hyps])


def test_blank_penalty_is_a_shifted_blank_logit() -> None:
    vocab, n = 4, 8
    tab = table(7, n, vocab, 1, blank_bias=1.5)
    shifted = tab.clone()
    shifted[..., 0] -= 2.0
    enc, lens = frames(n, [8, 5])
    model, model_shifted = table_model(tab, 1), table_model(shifted, 1)
    for make in (lambda m, p: GreedySearch(m, 2, p), lambda m, p: ModifiedBeamSearch(m, 3, None, p)):
        got = search_offline(make(model, 2.0), enc, lens)
        want = search_offline(make(model_shifted, 0.0), enc, lens)
        assert [h.ys for h in got] == [h.ys for h in want]
        assert [h.score for h in got] == pytest.approx([h.score for h in want])
        base = search_offline(make(model, 0.0), enc, lens)
        assert sum(len(h.ys) for h in got) >= sum(len(h.ys) for h in base)


def test_token_bonus_is_a_shifted_token_logit() -> None:
    """A bonus on chosen tokens = a model whose logits for them are that much higher (both
    searches), and a large enough bonus makes the search emit them."""
    vocab, n = 5, 8
    tab = table(11, n, vocab, 1, blank_bias=1.5)
    shifted = tab.clone()
    shifted[..., 1] += 1.5
    shifted[..., 3] += 0.5
    bonus = {1: 1.5, 3: 0.5}
    enc, lens = frames(n, [8, 5])
    model, model_shifted = table_model(tab, 1), table_model(shifted, 1)
    for make in (
        lambda m, b: GreedySearch(m, 2, token_bonus=b),
        lambda m, b: ModifiedBeamSearch(m, 3, None, token_bonus=b),
    ):
        got = search_offline(make(model, bonus), enc, lens)
        want = search_offline(make(model_shifted, None), enc, lens)
        assert [h.ys for h in got] == [h.ys for h in want]
        assert [h.score for h in got] == pytest.approx([h.score for h in want])
    loud = search_offline(GreedySearch(model, 2, token_bonus={1: 50.0}), enc, lens)
    assert all(set(h.ys[1:]) == {1} and len(h.ys) > 1 for h in loud)


def test_lm_settings_per_model_entry_overrides_the_section(tmp_path) -> None:
    from steps.lm.fusion import lm_settings
    from steps.utils import FairstreamError

    conf = tmp_path / "lm.yaml"
    conf.write_text(
        "decode:\n  beam: 16\n  lm_scale: 0.9\n  lodr_scale: 0.7\n  blank_penalty: 1.0\n"
        "  models:\n    transformer: {lm_scale: 0.5, blank_penalty: 0.0}\n"
    )
    base = lm_settings(conf, None, None, None, None, None, "lstm")
    own = lm_settings(conf, None, None, None, None, None, "transformer")
    assert (base["lm_scale"], base["blank_penalty"]) == (0.9, 1.0)
    assert (own["lm_scale"], own["lodr_scale"], own["blank_penalty"], own["beam"]) == (0.5, 0.7, 0.0, 16)
    assert lm_settings(conf, 0.3, None, None, None, None, "transformer")["lm_scale"] == 0.3  # options win
    conf.write_text("decode:\n  models:\n    transformer: {lm_scal: 0.5}\n")
    with pytest.raises(FairstreamError, match="decode.models.transformer: unknown key"):
        lm_settings(conf, None, None, None, None, None, "transformer")
