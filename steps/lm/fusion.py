"""Shallow fusion of token n-gram LMs into transducer beam search, with LODR.

For a hypothesis with LM state ``s`` the search adds to the score of each non-blank token ``v``

    bonus(s)[v] = lm_scale * log P_lm(v | s) - lodr_scale * log P_lodr(v | s')

(and 0 to blank).  ``P_lodr`` is a low-order (bigram) model of the *training transcripts*, an
estimate of the internal LM the transducer learnt from them ("low-order density ratio", as in
icefall): subtracting it lets the external LM replace the internal one instead of being added
on top of it.  At the end of an utterance ``final(s)`` is the same combination for ``</s>``.

A multi-talker channel holds many sentences, one per ``<sot> ... <eot>`` turn.  With
``turn_tokens`` the LMs see each turn as a sentence of its own: a turn token moves the state back
to the sentence start, ``<sot>`` costs nothing and ``<eot>`` scores the sentence end (``final``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from steps.utils import FairstreamError, file_digest, read_config, require_complete
from steps.utils.config import load_yaml

from .ngram import NgramLM, State

log = logging.getLogger(__name__)

LM_FILE = "lm.npz"
LODR_FILE = "lodr.npz"

FusionState = tuple[State, State]


class LmFusion:
    """The LM bonus of every token for a hypothesis' LM state(s), cached per state."""

    def __init__(
        self,
        lm: NgramLM | None,
        lm_scale: float = 0.0,
        lodr: NgramLM | None = None,
        lodr_scale: float = 0.0,
        eos: bool = True,
        turn_tokens: Mapping[int, bool] | None = None,
    ) -> None:
        """``turn_tokens``: token id -> whether it ends a sentence (``<eot>``: True, ``<sot>``: False)."""
        if lm_scale < 0 or lodr_scale < 0:
            raise FairstreamError(f"LM scales must be >= 0, got lm {lm_scale}, lodr {lodr_scale}")
        if lm_scale and lm is None:
            raise FairstreamError("lm_scale > 0 needs an LM")
        if lodr_scale and lodr is None:
            raise FairstreamError("lodr_scale > 0 needs a LODR model (lodr.npz)")
        self.lm = lm if lm_scale else None
        self.lodr = lodr if lodr_scale else None
        self.lm_scale, self.lodr_scale, self.eos = float(lm_scale), float(lodr_scale), eos
        sizes = {m.vocab_size for m in (self.lm, self.lodr) if m is not None}
        if len(sizes) > 1:
            raise FairstreamError(f"the LM and the LODR model have different vocabularies: {sorted(sizes)}")
        self.vocab_size = sizes.pop() if sizes else None
        self.turn_tokens = {int(k): bool(v) for k, v in (turn_tokens or {}).items()}
        if self.vocab_size is not None and any(not 0 < k < self.vocab_size for k in self.turn_tokens):
            raise FairstreamError(
                f"turn tokens {sorted(self.turn_tokens)} are not LM tokens (1..{self.vocab_size - 1})"
            )
        self._cache: dict[FusionState, Tensor] = {}

    @property
    def active(self) -> bool:
        """False when both scales are 0: the search then runs exactly as without an LM."""
        return self.lm is not None or self.lodr is not None

    def init_state(self) -> FusionState:
        return (
            self.lm.init_state() if self.lm is not None else (),
            self.lodr.init_state() if self.lodr is not None else (),
        )

    def advance(self, state: FusionState, token: int) -> FusionState:
        if token in self.turn_tokens:  # a turn starts or ends: the next token starts a sentence
            return self.init_state()
        a, b = state
        return (
            self.lm.advance(a, token) if self.lm is not None else a,
            self.lodr.advance(b, token) if self.lodr is not None else b,
        )

    def bonus(self, state: FusionState) -> Tensor:
        """(V,) float64: what emitting each token adds to a hypothesis' score (blank: 0)."""
        out = self._cache.get(state)
        if out is not None:
            return out
        assert self.vocab_size is not None
        v = self.vocab_size
        total = torch.zeros(v, dtype=torch.float64)
        if self.lm is not None:
            total += self.lm_scale * torch.from_numpy(self.lm.logprobs(state[0])[:v])
        if self.lodr is not None:
            total -= self.lodr_scale * torch.from_numpy(self.lodr.logprobs(state[1])[:v])
        total[0] = 0.0  # blank: the LM state does not move
        for tok, ends in self.turn_tokens.items():
            total[tok] = self.final(state) if ends else 0.0
        if len(self._cache) >= 50_000:  # ~8 V bytes each
            self._cache.clear()
        self._cache[state] = total
        return total

    def final(self, state: FusionState) -> float:
        """The end-of-sentence term added when ranking finished hypotheses (0 unless ``eos``)."""
        if not self.eos or (self.turn_tokens and state == self.init_state()):
            return 0.0  # (a channel whose last turn was closed has no open sentence)
        out = 0.0
        if self.lm is not None:
            out += self.lm_scale * float(self.lm.logprobs(state[0])[self.lm.eos_id])
        if self.lodr is not None:
            out -= self.lodr_scale * float(self.lodr.logprobs(state[1])[self.lodr.eos_id])
        return out


def load_fusion(
    lm_dir: Path,
    lm_scale: float,
    lodr_scale: float = 0.0,
    eos: bool = True,
    turn_tokens: Mapping[int, bool] | None = None,
) -> LmFusion:
    """The fusion of ``lm_dir`` (``steps.train_ngram_lm`` output); only the models with a scale load."""
    lm = NgramLM.load(lm_dir / LM_FILE) if lm_scale else None
    lodr = NgramLM.load(lm_dir / LODR_FILE) if lodr_scale else None
    fusion = LmFusion(lm, lm_scale, lodr, lodr_scale, eos, turn_tokens)
    parts = [f"lm {lm_scale} x order-{lm.order}"] if lm is not None else []
    parts += [f"lodr -{lodr_scale} x order-{lodr.order}"] if lodr is not None else []
    log.info(
        "LM fusion from %s: %s%s", lm_dir, ", ".join(parts) or "off (all scales 0)", ", + </s>" if eos else ""
    )
    return fusion


def check_lm_dir(lm_dir: Path, lang_dir: Path) -> str:
    """Refuse an LM of another BPE model (its token ids would mean other pieces); its digest."""
    require_complete(lm_dir, "LM")
    trained_with = read_config(lm_dir).get("bpe_digest")
    digest = file_digest(lang_dir / "bpe.model")
    if trained_with != digest:
        raise FairstreamError(
            f"LM {lm_dir} was trained with BPE model {trained_with}, the recogniser uses "
            f"{lang_dir}/bpe.model ({digest}); retrain the LM (steps.train_ngram_lm) with this lang dir"
        )
    return (lm_dir / ".done").read_text().strip()


def make_fusion(
    lm_dir: Path, lang_dir: Path, settings: dict[str, Any], turn_tokens: Mapping[int, bool] | None = None
) -> LmFusion:
    """The fusion of ``lm_dir`` with the decode settings (``lm_scale``, ``lodr_scale``, ``eos``)."""
    check_lm_dir(lm_dir, lang_dir)
    return load_fusion(lm_dir, settings["lm_scale"], settings["lodr_scale"], settings["eos"], turn_tokens)


LM_DEFAULTS = {"lm_scale": 0.3, "lodr_scale": 0.0, "blank_penalty": 0.0, "eos": True, "beam": 4}


def lm_settings(
    lm_conf: Path,
    lm_scale: float | None,
    lodr_scale: float | None,
    blank_penalty: float | None,
    eos: bool | None,
    beam: int | None = None,
    model: str = "",
) -> dict[str, Any]:
    """Fusion settings: the options given, else ``lm_conf``'s ``decode: models: <model>:`` entry
    (settings chosen on dev for one model, by its directory name), else its ``decode:`` section,
    else defaults."""
    given = dict(lm_scale=lm_scale, lodr_scale=lodr_scale, blank_penalty=blank_penalty, eos=eos, beam=beam)
    conf: dict[str, Any] = {}
    if any(v is None for v in given.values()):
        if not lm_conf.is_file():
            raise FairstreamError(f"--lm-conf {lm_conf} does not exist; pass it or every LM option")
        conf = dict(load_yaml(lm_conf).get("decode") or {})
        own = (conf.pop("models", None) or {}).get(model) or {}
        for where, section in ((f"{lm_conf} decode", conf), (f"{lm_conf} decode.models.{model}", own)):
            unknown = sorted(set(section) - set(LM_DEFAULTS))
            if unknown:
                raise FairstreamError(
                    f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(LM_DEFAULTS)}"
                )
        conf.update(own)
    out = {k: (v if v is not None else conf.get(k, LM_DEFAULTS[k])) for k, v in given.items()}
    out["lm_scale"], out["lodr_scale"] = float(out["lm_scale"]), float(out["lodr_scale"])
    out["blank_penalty"], out["eos"] = float(out["blank_penalty"]), bool(out["eos"])
    out["beam"] = int(out["beam"])
    if out["lm_scale"] < 0 or out["lodr_scale"] < 0:
        raise FairstreamError(f"LM scales must be >= 0, got {out['lm_scale']} and {out['lodr_scale']}")
    return out
