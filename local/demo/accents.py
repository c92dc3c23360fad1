"""Second-language (L2) English accents as sound substitutions in English phoneme strings.

A Spanish or Vietnamese speaker reading English knows how the words sound and replaces some of
their sounds with the nearest ones of their first language (L1): "think" -> "tink", "very" ->
"bery", "school" -> "eschool".  The corpus used to hand English *text* to the L1's espeak-ng
voice instead, which read it with that language's spelling rules -- a misreading, not an accent
(82-91% WER for the best recogniser on es/pt/pl/vi).  Now the text is converted to English
phoneme mnemonics with an English voice (``Espeak.phonemes``), the substitutions below are
applied per phoneme occurrence with probability ``strength`` (the speaker's ``l2_strength``),
and the result is synthesised with the same English voice (``Espeak.synth(..., phonemes=True)``).

Every symbol a rule writes exists in espeak-ng's English phoneme table (``ENGLISH_PHONEMES``,
the tables base + base1 + en of espeak-ng 1.52; en-us adds no names): a mnemonic the table lacks
is not pronounced (``[[t.'Ed]]`` gives 0.09 s of sound, ``[[t'Ed]]`` 0.33 s), which is also
why English phonemes cannot be read by the L1 voices themselves (the es table has no
``I i: u: V @2 3:``, ...).
So some L1 sounds have only approximations: Hindi's retroflex /ʈ ɖ/ has no English-table
symbol and is left out; the uvular r of German and French is ``Q"`` (ʁ), the Spanish tap ``*``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

# espeak-ng 1.52 English phoneme names by kind (tables base, base1, en; "en-us" only redefines).
PAUSES = frozenset("_ _! _: _:: _;_ _X1 _^_ _| ||".split())
STRESS = frozenset("% %% ' '! '' , ,, =".split())
VOWELS = frozenset(
    "0 0# 02 3 3: @ @# @- @2 @5 @L A# A: A@ A~ E E# E2 I I# I2 I2# IR N- O O2 O: O@ OI O~ U U@ V VR "
    "a a# a#2 a2 aI aI3 aI@ aU aU@ aa e e# e: e@ eI i i: i@ i@3 l- m- n- o o: o@ oU oU# u u:".split()
)
CONSONANTS = frozenset(
    "** L L/ R R2 R3 j l l. l/ l/2 l/3 l^ r r- r. r/ w "  # liquids, glides
    "? c d# k p q t tS tS; t[ "  # voiceless stops
    "* J b d dZ dZ; d[ g t# t2 "  # voiced stops, flaps
    "#X1 C S S; T X f h l# s s. s; w# x z# "  # voiceless fricatives
    'B D J^ Q Q^ Z Z; r" Q" v v# z z. z/2 z; '  # voiced fricatives
    "N m n n. n^".split()  # nasals
)
MODIFIERS = frozenset("; - : #@ #a #e #i #o #u".split())  # linking j, syllabic mark, length, virtual
ENGLISH_PHONEMES = PAUSES | STRESS | VOWELS | CONSONANTS | MODIFIERS
_MAX_LEN = max(map(len, ENGLISH_PHONEMES))
_SEGMENTS = VOWELS | CONSONANTS


@dataclass(frozen=True)
class Rule:
    """Each occurrence of a key of ``sub`` in context ``where`` may become its value.

    ``where``: ``any``; ``initial`` / ``final`` (first / last sound of a word); ``cluster`` (the
    first sound of a word when a consonant follows it); ``coda`` (no vowel follows in the word);
    ``before_i`` (an /i/-like vowel follows).  A value of ``()`` deletes the sound.
    """

    what: str
    sub: Mapping[str, tuple[str, ...]]
    where: str = "any"


def _to(mapping: dict[str, str]) -> dict[str, tuple[str, ...]]:
    return {k: tuple(v.split()) for k, v in mapping.items()}


_DEVOICE = _to({"b": "p", "d": "t", "g": "k", "v": "f", "z": "s", "Z": "S", "dZ": "tS", "D": "T"})
_SHORT_TO_LONG = _to({"I": "i:", "I2": "i:", "U": "u:"})  # one tense vowel where L1 has no length
_MONOPHTHONGS = _to({"eI": "e:", "oU": "o:"})
_I_VOWELS = frozenset({"i", "i:", "I", "I2", "I#", "i@", "i@3"})
_VI_FINAL_DROP = frozenset("l l/ L r r- R".split())

L1_RULES: dict[str, tuple[Rule, ...]] = {
    # Hindi: one labiodental approximant for /v w/, dental stops for "th", /z/ -> /dʒ/, pure
    # /e o/ for /eɪ oʊ/, tapped r, "ischool".  No retroflex t/d in the English table (see above).
    "hi": (
        Rule("v w -> ʋ", _to({"v": "v#", "w": "v#"})),
        Rule("th -> dental t d", _to({"T": "t[", "D": "d["})),
        Rule("z -> dʒ", _to({"z": "dZ", "Z": "dZ"})),
        Rule("eɪ oʊ -> e o", _MONOPHTHONGS),
        Rule("r -> tap", _to({"r": "*", "r-": "*"})),
        Rule("i before s+consonant", _to({"s": "I s"}), "cluster"),
    ),
    # Mexican Spanish: no /θ ð v z ʃ h/ or lax vowels; tapped/trilled r; "eschool".
    "es": (
        Rule("th -> t d", _to({"T": "t", "D": "d"})),
        Rule("v -> b", _to({"v": "b"})),
        Rule("z -> s", _to({"z": "s"})),
        Rule("sh -> ch", _to({"S": "tS"})),
        Rule("h -> x", _to({"h": "x"})),
        Rule("ɪ ʊ -> i u", _SHORT_TO_LONG),
        Rule("ʌ -> a", _to({"V": "aa"})),
        Rule("initial r -> trill", _to({"r": "R"}), "initial"),
        Rule("r -> tap", _to({"r": "*", "r-": "*"})),
        Rule("e before s+consonant", _to({"s": "E s"}), "cluster"),
    ),
    # German: /w/ -> /v/, "th" -> s z, final obstruent devoicing, no /dʒ ʒ æ ʌ/, uvular r,
    # pure /e o/.  D -> z comes before devoicing, so "with" can become "vis".
    "de": (
        Rule("w -> v", _to({"w": "v"})),
        Rule("th -> s z", _to({"T": "s", "D": "z"})),
        Rule("final devoicing", _DEVOICE, "final"),
        Rule("dʒ ʒ -> tʃ ʃ", _to({"dZ": "tS", "Z": "S"})),
        Rule("æ -> ɛ", _to({"a": "E"})),
        Rule("ʌ -> a", _to({"V": "aa"})),
        Rule("r -> uvular", _to({"r": 'Q"', "r-": 'Q"'})),
        Rule("eɪ oʊ -> e o", _MONOPHTHONGS),
    ),
    # French: no /h/, "th" -> s z, no lax vowels, uvular r, /tʃ dʒ/ -> /ʃ ʒ/, pure /e o/.
    "fr": (
        Rule("h dropped", {"h": ()}),
        Rule("th -> s z", _to({"T": "s", "D": "z"})),
        Rule("ɪ ʊ -> i u", _SHORT_TO_LONG),
        Rule("r -> uvular", _to({"r": 'Q"', "r-": 'Q"'})),
        Rule("tʃ dʒ -> ʃ ʒ", _to({"tS": "S", "dZ": "Z"})),
        Rule("eɪ oʊ -> e o", _MONOPHTHONGS),
    ),
    # Brazilian Portuguese: "th" -> t d, no lax vowels, initial r -> [x], l-vocalisation,
    # a vowel after final stops ("booki") and before s+consonant ("istreet"), then /t d/
    # palatalised before /i/ ("Facebooki" -> ..."tchi").  /v/ stays: Portuguese has it.
    "pt": (
        Rule("th -> t d", _to({"T": "t", "D": "d"})),
        Rule("ɪ ʊ -> i u", _SHORT_TO_LONG),
        Rule("initial r -> x", _to({"r": "x"}), "initial"),
        Rule("coda l -> u", _to({"l": "U"}), "coda"),
        Rule("i after final stop", {c: (c, "i") for c in "p b t d k g tS dZ f v t# t2".split()}, "final"),
        Rule("i before s+consonant", _to({"s": "i s"}), "cluster"),
        Rule("t d -> tʃ dʒ before i", _to({"t": "tS", "t#": "tS", "t2": "tS", "d": "dZ"}), "before_i"),
    ),
    # Polish: "th" -> f d, final devoicing, no length or /æ/, /h/ -> /x/, trilled r, final
    # /ŋ/ -> /ŋk/.  (Polish has /w/, so no w -> v: that is German, not Polish.)
    "pl": (
        Rule("th -> f d", _to({"T": "f", "D": "d"})),
        Rule("final devoicing", _DEVOICE, "final"),
        Rule("ɪ ʊ -> i u", _SHORT_TO_LONG),
        Rule("æ -> ɛ", _to({"a": "E"})),
        Rule("h -> x", _to({"h": "x"})),
        Rule("r -> trill", _to({"r": "R", "r-": "R"})),
        Rule("final ŋ -> ŋk", _to({"N": "N k"}), "final"),
    ),
    # Northern Vietnamese: only nasals and (unreleased) voiceless stops end a syllable, so final
    # liquids drop and final voiced stops devoice; "th" -> t z, no lax vowels, /ʃ/ -> /s/.
    # Measured with the LSTM + LM on the 16 vi test speakers (160 utterances), removing one rule at
    # a time: dropping final fricatives and affricates too cost 45 errors, /dʒ/ -> /z/ 19 (11
    # firings) and initial /p/ -> /b/ ("blay", "bleace") 39 (16 firings), each outside its 95%
    # interval, so they are left out; the other rules had no measurable cost.  (Dropping every
    # final consonant, stops too, made vi-en 27% test WER against 3% for en-us.)
    "vi": (
        Rule("th -> t z", _to({"T": "t", "D": "z"})),
        Rule("final liquid dropped", {c: () for c in _VI_FINAL_DROP}, "final"),
        Rule("final voiced stop devoiced", _to({"b": "p", "d": "t", "g": "k"}), "final"),
        Rule("ɪ ʊ -> i u", _SHORT_TO_LONG),
        Rule("ʃ -> s", _to({"S": "s"})),
    ),
}


def tokenize(phonemes: str) -> list[str]:
    """Split an espeak-ng mnemonic string into phoneme names and spaces (longest match first,
    as espeak-ng itself parses ``[[...]]``); an unknown character stays a token of its own."""
    out, i = [], 0
    while i < len(phonemes):
        if phonemes[i] == " ":
            out.append(" ")
            i += 1
            continue
        for n in range(min(_MAX_LEN, len(phonemes) - i), 0, -1):
            if phonemes[i : i + n] in ENGLISH_PHONEMES or n == 1:
                out.append(phonemes[i : i + n])
                i += n
                break
    return out


def _context(tokens: list[str], i: int) -> set[str]:
    """The contexts (``Rule.where``) the sound at ``tokens[i]`` is in."""

    def neighbour(step: int) -> str | None:
        j = i + step
        while 0 <= j < len(tokens) and tokens[j] != " ":
            if tokens[j] in _SEGMENTS:
                return tokens[j]
            j += step
        return None

    prev, nxt = neighbour(-1), neighbour(1)
    where = {"any"}
    if prev is None:
        where.add("initial")
        if nxt in CONSONANTS:
            where.add("cluster")
    if nxt is None:
        where |= {"final", "coda"}
    elif nxt not in VOWELS:
        where.add("coda")
    if nxt in _I_VOWELS:
        where.add("before_i")
    return where


def accent(phonemes: str, l1: str, strength: float, rng: random.Random) -> str:
    """``phonemes`` (English espeak-ng mnemonics) as a speaker of ``l1`` says them.

    Rules run in order; each occurrence a rule could change is changed with probability
    ``strength`` (one ``rng.random()`` draw per candidate, so the draws do not depend on
    ``strength``): 0 leaves the string as it is, 1 applies every rule everywhere.
    """
    tokens = tokenize(phonemes)
    for rule in L1_RULES[l1]:
        out: list[str] = []
        for i, tok in enumerate(tokens):
            if tok in rule.sub and rule.where in _context(tokens, i) and rng.random() < strength:
                out.extend(rule.sub[tok])
            else:
                out.append(tok)
        tokens = out
    return "".join(tokens)
