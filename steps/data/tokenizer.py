"""Sentencepiece BPE with the ids every transducer in fairstream relies on.

``<blk>`` is id 0 (the transducer blank), ``<sot>``/``<eot>`` are ids 1 and 2 (turn tokens
for the multi-talker model, reserved for everyone so that vocabularies stay compatible) and
``<unk>`` is id 3.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import sentencepiece as spm

from steps.data.text import normalize_text
from steps.utils import FairstreamError

log = logging.getLogger(__name__)

BLANK, SOT, EOT, UNK = "<blk>", "<sot>", "<eot>", "<unk>"
SPECIALS = (BLANK, SOT, EOT)


@dataclass(frozen=True)
class LangConf:
    vocab_size: int = 500
    model_type: str = "bpe"
    character_coverage: float = 1.0
    max_sentencepiece_length: int = 16


def train_bpe(transcripts: list[str], out_dir: Path, conf: LangConf) -> Path:
    """Train the model on normalised transcripts; the vocabulary shrinks if the text is tiny."""
    text_path = out_dir / "transcript_words.txt"
    text_path.write_text("\n".join(transcripts) + "\n")
    prefix = out_dir / "bpe"
    spm.SentencePieceTrainer.train(
        input=str(text_path),
        model_prefix=str(prefix),
        model_type=conf.model_type,
        vocab_size=conf.vocab_size,
        character_coverage=conf.character_coverage,
        max_sentencepiece_length=conf.max_sentencepiece_length,
        user_defined_symbols=list(SPECIALS),
        unk_id=len(SPECIALS),
        bos_id=-1,
        eos_id=-1,
        hard_vocab_limit=False,
        input_sentence_size=10_000_000,
        shuffle_input_sentence=False,
        num_threads=1,  # deterministic
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


class Tokenizer:
    """Text <-> token ids, with one-line errors for text the model cannot represent."""

    def __init__(self, model: str | Path) -> None:
        model = Path(model)
        if not model.is_file():
            raise FairstreamError(f"BPE model {model} does not exist; run the lang stage")
        self.path = model
        self.sp = spm.SentencePieceProcessor(model_file=str(model))
        ids = [self.sp.piece_to_id(p) for p in (*SPECIALS, UNK)]
        if ids != [0, 1, 2, 3]:
            raise FairstreamError(
                f"BPE model {model} has ids {ids} for {SPECIALS + (UNK,)}, expected 0 1 2 3"
            )
        self.blank_id, self.sot_id, self.eot_id, self.unk_id = ids
        self.vocab_size = self.sp.get_piece_size()

    def encode(self, text: str, where: str = "text", strict: bool = True) -> list[int]:
        """Token ids of ``text``; ``strict`` refuses characters the model does not know."""
        norm = normalize_text(text)
        if not norm:
            raise FairstreamError(f"{where}: empty transcript")
        ids = self.sp.encode(norm, out_type=int)
        if strict and self.unk_id in ids:
            raise FairstreamError(
                f"{where}: cannot tokenize {self.unknown_chars(norm)!r} in {norm!r}"
            )
        return ids

    def unknown_chars(self, text: str) -> str:
        """The characters of ``text`` that only map to ``<unk>``."""
        unk = [self.unk_id]
        return "".join(
            sorted({c for c in text if c != " " and self.sp.encode(c, out_type=int)[-1:] == unk})
        )

    def decode(self, ids: list[int], keep_turns: bool = False) -> str:
        """Text of ``ids`` without blanks; turn tokens are dropped unless ``keep_turns``."""
        if not keep_turns:
            return self.sp.decode([i for i in ids if i >= self.unk_id])
        out, run = [], []
        for i in ids:
            if i in (self.sot_id, self.eot_id):
                out += [self.sp.decode(run), self.piece(i)] if run else [self.piece(i)]
                run = []
            elif i != self.blank_id:
                run.append(i)
        if run:
            out.append(self.sp.decode(run))
        return " ".join(w for w in out if w)

    def piece(self, i: int) -> str:
        return self.sp.id_to_piece(i)
