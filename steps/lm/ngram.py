"""Interpolated modified Kneser-Ney n-gram language model over token ids, stored in backoff form.

Symbols.  The tokenizer's ids ``1 .. V-1`` are the words of the model; id 0 (the transducer
blank, which never occurs in text) stands for the beginning of a sentence ``<s>`` -- a context
only, never predicted -- and id ``V`` is the end-of-sentence token ``</s>``.  Every context's
distribution over the predicted vocabulary ``{1, ..., V}`` sums to one; tokens the training text
never had (``<sot>``, ``<eot>``, ``<unk>``) keep a share of the uniform floor.

Training (Chen & Goodman 1999, with KenLM's conventions):

* adjusted counts ``a(g)``: raw counts for the highest order and for n-grams that start with
  ``<s>`` (nothing can precede them), otherwise continuation counts ``N1+(. g)``, the number of
  distinct tokens seen before ``g``;
* three discounts per order, ``D1, D2, D3+``, from the count-of-counts of the adjusted counts;
* ``P(w|h) = (a(hw) - D(a(hw))) / a(h.) + g(h) P(w|h')`` with
  ``g(h) = (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) / a(h.)`` and ``h'`` = ``h`` without its first
  token, down to the unigram, which is interpolated with the uniform distribution over ``{1..V}``.

Storage (backoff form): the interpolated probability ``p(w|h)`` of every seen n-gram and
``log g(h)`` of every context.  Then ``P(w|h) = p(w|h)`` if ``hw`` was seen, else
``g(h) P(w|h')`` -- the interpolated model exactly, so normalisation holds (tests check it
against a brute-force implementation of the formula).  N-grams are packed into int64 keys
``sum_i t_i (V+1)^(k-1-i)``: exact as long as ``(V+1)^order < 2^63``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from steps.utils import FairstreamError

log = logging.getLogger(__name__)

BOS = 0
FORMAT = "fairstream-ngram-v1"
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)

State = tuple[int, ...]


# ---- training ------------------------------------------------------------------------------
def _discounts(a: np.ndarray) -> tuple[float, float, float]:
    """Modified-KN discounts D1, D2, D3+ from count-of-counts; a fallback when they are degenerate."""
    n1, n2, n3, n4 = (int(np.count_nonzero(a == i)) for i in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:
        return FALLBACK_DISCOUNTS
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    # each D_i must lie in (0, i) so that seen n-grams keep mass and every context can back off
    if not all(0.0 < x < i for i, x in enumerate(d, start=1)):
        return FALLBACK_DISCOUNTS
    return d


def _ngram_keys(seq: np.ndarray, sent: np.ndarray, k: int, base: int) -> np.ndarray:
    """Keys of every k-gram window of ``seq`` that lies inside one sentence."""
    n = len(seq) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    key = np.zeros(n, dtype=np.int64)
    for j in range(k):
        key = key * base + seq[j : j + n]
    key = key[sent[:n] == sent[k - 1 :]]
    if k == 1:
        key = key[key != BOS]  # <s> is a context, never predicted
    return key


def _lookup(sorted_keys: np.ndarray, keys: np.ndarray, what: str) -> np.ndarray:
    idx = np.searchsorted(sorted_keys, keys)
    idx = np.minimum(idx, len(sorted_keys) - 1)
    if len(keys) and not np.array_equal(sorted_keys[idx], keys):
        raise AssertionError(f"n-gram tables are inconsistent: missing {what}")  # a bug, not bad input
    return idx


def train_ngram(sentences: Iterable[Sequence[int]], vocab_size: int, order: int) -> NgramLM:
    """Train an interpolated modified Kneser-Ney model on token-id sentences (ids in 1..V-1)."""
    if order < 1:
        raise FairstreamError(f"n-gram order must be >= 1, got {order}")
    if vocab_size < 2:
        raise FairstreamError(f"vocabulary of {vocab_size} tokens is too small")
    base = vocab_size + 1
    if base**order >= 2**63:
        raise FairstreamError(f"order {order} with {vocab_size} tokens does not fit 64-bit n-gram keys")
    eos = vocab_size
    parts, lens = [], []
    for s in sentences:
        arr = np.asarray(s, dtype=np.int64)
        if arr.size and (arr.min() < 1 or arr.max() >= vocab_size):
            raise FairstreamError(f"token ids must lie in 1..{vocab_size - 1}, got {arr.min()}..{arr.max()}")
        parts.append(np.concatenate([[BOS], arr, [eos]]))
        lens.append(arr.size + 2)
    if not parts:
        raise FairstreamError("no training sentences for the n-gram model")
    seq = np.concatenate(parts).astype(np.int64)
    sent = np.repeat(np.arange(len(lens)), lens)
    del parts

    keys: dict[int, np.ndarray] = {}
    counts: dict[int, np.ndarray] = {}
    for k in range(1, order + 1):
        keys[k], counts[k] = np.unique(_ngram_keys(seq, sent, k, base), return_counts=True)
    del seq, sent

    # adjusted counts
    adjusted: dict[int, np.ndarray] = {order: counts[order].astype(np.int64)}
    for k in range(order - 1, 0, -1):
        a = counts[k].astype(np.int64)
        suffix_keys, cont = np.unique(keys[k + 1] % base**k, return_counts=True)
        first = keys[k] // base ** (k - 1)
        inner = first != BOS
        a[inner] = cont[_lookup(suffix_keys, keys[k][inner], f"left context of order-{k} n-grams")]
        adjusted[k] = a

    lm_discounts: dict[int, tuple[float, float, float]] = {}
    logp: dict[int, np.ndarray] = {}
    ctx_keys: dict[int, np.ndarray] = {}
    ctx_start: dict[int, np.ndarray] = {}
    ctx_logbow: dict[int, np.ndarray] = {}
    uniform = 1.0 / vocab_size
    unigram_gamma = 0.0
    for k in range(1, order + 1):
        a = adjusted[k]
        d = _discounts(a)
        lm_discounts[k] = d
        disc = np.where(a == 1, d[0], np.where(a == 2, d[1], d[2]))
        ctx = keys[k] // base
        c_keys, start = np.unique(ctx, return_index=True)
        total = np.add.reduceat(a, start).astype(np.float64)
        mass = np.add.reduceat(disc, start)
        gamma = mass / total
        which = np.repeat(np.arange(len(c_keys)), np.diff(np.append(start, len(a))))
        alpha = (a - disc) / total[which]
        if k == 1:
            lower = np.full(len(a), uniform)
            unigram_gamma = float(gamma[0])
        else:
            lower_idx = _lookup(keys[k - 1], keys[k] % base ** (k - 1), f"suffixes of order-{k} n-grams")
            lower = np.exp(logp[k - 1][lower_idx].astype(np.float64))
        logp[k] = np.log(alpha + gamma[which] * lower)
        ctx_keys[k] = c_keys
        ctx_start[k] = np.append(start, len(a)).astype(np.int64)
        ctx_logbow[k] = np.log(gamma)
    unigram = np.full(vocab_size + 1, np.log(unigram_gamma * uniform))
    unigram[keys[1]] = logp[1]
    unigram[BOS] = -np.inf
    meta = {
        "format": FORMAT,
        "order": order,
        "vocab_size": vocab_size,
        "discounts": {str(k): list(v) for k, v in lm_discounts.items()},
        "num_ngrams": {str(k): len(keys[k]) for k in keys},
        "num_sentences": len(lens),
        "num_tokens": int(sum(lens) - 2 * len(lens)),
    }
    return NgramLM(
        meta,
        unigram,
        {k: keys[k] for k in range(2, order + 1)},
        {k: logp[k].astype(np.float32) for k in range(2, order + 1)},
        {k: ctx_keys[k] for k in range(2, order + 1)},
        {k: ctx_start[k] for k in range(2, order + 1)},
        {k: ctx_logbow[k].astype(np.float32) for k in range(2, order + 1)},
    )


# ---- the model -----------------------------------------------------------------------------
class NgramLM:
    """A trained model: ``init_state``, ``score(state, token) -> (logprob, state)``, ``logprobs``.

    A state is the longest suffix of the history (at most ``order - 1`` tokens) that is a context
    of the model; shorter histories give the same distributions, so states are minimal and shared.
    ``logprobs(state)`` is the whole next-token distribution (natural log, length ``V + 1``;
    index 0 is -inf, index ``V`` is ``</s>``), cached per state for beam search.
    """

    def __init__(
        self,
        meta: dict[str, Any],
        unigram: np.ndarray,
        ngram_keys: dict[int, np.ndarray],
        ngram_logp: dict[int, np.ndarray],
        ctx_keys: dict[int, np.ndarray],
        ctx_start: dict[int, np.ndarray],
        ctx_logbow: dict[int, np.ndarray],
        cache_size: int = 50_000,
    ) -> None:
        self.meta = meta
        self.order = int(meta["order"])
        self.vocab_size = int(meta["vocab_size"])
        self.eos_id = self.vocab_size
        self.bos_id = BOS
        self.base = self.vocab_size + 1
        self.unigram = unigram.astype(np.float64)
        self.ngram_keys, self.ngram_logp = ngram_keys, ngram_logp
        self.ngram_words = {k: (v % self.base).astype(np.int32) for k, v in ngram_keys.items()}
        self.ctx_keys, self.ctx_start, self.ctx_logbow = ctx_keys, ctx_start, ctx_logbow
        self.cache_size = cache_size
        self._cache: dict[State, np.ndarray] = {}

    # -- persistence
    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(self.meta)), "unigram": self.unigram}
        for k in range(2, self.order + 1):
            arrays[f"n{k}_keys"] = self.ngram_keys[k]
            arrays[f"n{k}_logp"] = self.ngram_logp[k]
            arrays[f"c{k}_keys"] = self.ctx_keys[k]
            arrays[f"c{k}_start"] = self.ctx_start[k]
            arrays[f"c{k}_logbow"] = self.ctx_logbow[k]
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> NgramLM:
        path = Path(path)
        if not path.is_file():
            raise FairstreamError(f"n-gram model {path} does not exist; run steps.train_ngram_lm")
        try:
            with np.load(path) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("format") != FORMAT:
                    raise FairstreamError(f"{path} is not a {FORMAT} model")
                order = int(meta["order"])
                nk = {k: z[f"n{k}_keys"] for k in range(2, order + 1)}
                nl = {k: z[f"n{k}_logp"] for k in range(2, order + 1)}
                ck = {k: z[f"c{k}_keys"] for k in range(2, order + 1)}
                cs = {k: z[f"c{k}_start"] for k in range(2, order + 1)}
                cb = {k: z[f"c{k}_logbow"] for k in range(2, order + 1)}
                unigram = z["unigram"]
        except (OSError, ValueError, KeyError) as e:
            raise FairstreamError(f"n-gram model {path} is corrupt: {e}") from e
        return cls(meta, unigram, nk, nl, ck, cs, cb)

    # -- contexts
    def _key(self, tokens: Sequence[int]) -> int:
        key = 0
        for t in tokens:
            key = key * self.base + int(t)
        return key

    def _ctx_index(self, ctx: Sequence[int]) -> int:
        """Row of ``ctx`` in the contexts of order ``len(ctx) + 1``; -1 if it is no context."""
        arr = self.ctx_keys.get(len(ctx) + 1)
        if arr is None or not len(arr):
            return -1
        key = self._key(ctx)
        i = int(np.searchsorted(arr, key))
        return i if i < len(arr) and int(arr[i]) == key else -1

    def _minimise(self, history: Sequence[int]) -> State:
        hist = tuple(history)[-(self.order - 1) :] if self.order > 1 else ()
        for j in range(len(hist), 0, -1):
            if self._ctx_index(hist[-j:]) >= 0:
                return hist[-j:]
        return ()

    # -- the API the search uses
    def init_state(self) -> State:
        return self._minimise((BOS,))

    def advance(self, state: State, token: int) -> State:
        return self._minimise((*state, int(token)))

    def logprobs(self, state: State) -> np.ndarray:
        """log P(w | state) for w = 0..V (0 = <s>/blank: -inf; V = </s>); cached."""
        out = self._cache.get(state)
        if out is not None:
            return out
        dist = self.unigram.copy()
        for j in range(1, len(state) + 1):
            k = j + 1
            i = self._ctx_index(state[-j:])
            if i < 0:  # only for hand-made states: a minimal state's suffixes are all contexts
                break
            dist += float(self.ctx_logbow[k][i])
            s, e = int(self.ctx_start[k][i]), int(self.ctx_start[k][i + 1])
            dist[self.ngram_words[k][s:e]] = self.ngram_logp[k][s:e]
        dist[BOS] = -np.inf
        if len(self._cache) >= self.cache_size:
            self._cache.clear()
        self._cache[state] = dist
        return dist

    def score(self, state: State, token: int) -> tuple[float, State]:
        """log P(token | state) and the state after it (unchanged after </s>)."""
        lp = float(self.logprobs(state)[token])
        return lp, (state if token == self.eos_id else self.advance(state, token))

    def sentence_logprob(self, tokens: Sequence[int], eos: bool = True) -> float:
        state, total = self.init_state(), 0.0
        for t in [*tokens, self.eos_id] if eos else tokens:
            lp, state = self.score(state, t)
            total += lp
        return total

    def perplexity(self, sentences: Iterable[Sequence[int]]) -> tuple[float, int]:
        """Token-level perplexity (every token and each sentence's </s>) and the tokens counted."""
        total, n = 0.0, 0
        for s in sentences:
            total += self.sentence_logprob(s)
            n += len(s) + 1
        return (float(np.exp(-total / n)) if n else float("nan")), n

    def num_ngrams(self) -> dict[int, int]:
        return {int(k): int(v) for k, v in self.meta["num_ngrams"].items()}
