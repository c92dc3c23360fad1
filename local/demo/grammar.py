"""Synthetic voice-assistant command grammar for the fairstream demo corpus.

The grammar produces English requests to a voice assistant across a dozen domains
(timers, music, weather, calls, shopping, smart home, ...).  It is used to write the
transcripts of a synthetic speech corpus, so every output is already in the corpus text
format: lowercase ASCII words, apostrophes only inside words, single spaces, numbers
spelled out in words.

The word lists and templates are data, in ``grammar.yaml`` beside this file; this module holds
the parser, the sampler, number spelling and the slots computed from numbers.  Templates are
plain strings with a tiny markup:

* ``{name}``    expand the slot ``name`` (a tuple of templates in :data:`SLOTS`),
* ``[a|b]``     optional part, kept with probability :data:`OPTIONAL_P`, one alternative,
* ``(a|b)``     required choice between alternatives.

Word lists are tuples of templates too (most without markup), so a single mechanism
expands everything and :func:`vocabulary` can enumerate every producible word by walking
the templates instead of sampling.  A sentence is one domain template, sometimes joined
to a second one of the same domain with "and", with an occasional discourse prefix ("okay
so") or politeness suffix ("thanks").  All randomness comes from the ``random.Random``
instance passed in, so a seed fully determines the sentences in any process.
"""

from __future__ import annotations

import functools
import random
import re
import unicodedata
from pathlib import Path

import yaml

__all__ = [
    "DOMAIN_NAMES",
    "DOMAINS",
    "SLOTS",
    "generate",
    "generate_with_domain",
    "normalize_text",
    "number_to_words",
    "ordinal_to_words",
    "vocabulary",
    "year_to_words",
]

OPTIONAL_P = 0.5  # probability of keeping an optional ``[...]`` part
PREFIX_P = 0.2  # probability of a leading discourse phrase ("hey", "okay so", ...)
SUFFIX_P = 0.15  # probability of a trailing politeness phrase ("please", "thanks", ...)
COMPOUND_P = 0.2  # probability of joining two requests of one domain with "and"
MAX_TRIES = 10_000
DATA = Path(__file__).with_name("grammar.yaml")  # domains and slots; null slots are computed here


# --------------------------------------------------------------------------- numbers

_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
         "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                      "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def _below_100(n: int) -> str:
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")


def number_to_words(n: int) -> str:
    """Spell out 0..9999 in British style: 112 -> "one hundred and twelve"."""
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 9999:
        raise ValueError(f"number_to_words supports integers 0..9999, got {n!r}")
    if n < 100:
        return _below_100(n)
    thousands, rest = divmod(n, 1000)
    hundreds, rest = divmod(rest, 100)
    parts = [f"{_ONES[thousands]} thousand"] if thousands else []
    if hundreds:
        parts.append(f"{_ONES[hundreds]} hundred")
    if rest:
        parts.append(f"and {_below_100(rest)}")
    return " ".join(parts)


def ordinal_to_words(n: int) -> str:
    """1 -> "first", 23 -> "twenty third", 100 -> "one hundredth"."""
    if n < 1:
        raise ValueError(f"ordinals start at 1, got {n!r}")
    *head, last = number_to_words(n).split()
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join([*head, last])


def year_to_words(year: int) -> str:
    """Read a year the way people say it: 1984 -> "nineteen eighty four"."""
    if 2000 <= year <= 2009 or not 1100 <= year <= 2099:
        return number_to_words(year)
    century, rest = divmod(year, 100)
    if rest == 0:
        return f"{_below_100(century)} hundred"
    tail = f"oh {_ONES[rest]}" if rest < 10 else _below_100(rest)
    return f"{_below_100(century)} {tail}"


def _spell_digits(digits: str) -> str:
    return " ".join(_ONES[int(d)] for d in digits)


# ------------------------------------------------------------------ normalisation

_NON_WORD_RE = re.compile(r"[^a-z']+")
_DIGITS_RE = re.compile(r"\d+")


def _digits_to_words(match: re.Match[str]) -> str:
    digits = match.group()
    if len(digits) > 4 or (len(digits) > 1 and digits[0] == "0"):
        return f" {_spell_digits(digits)} "
    return f" {number_to_words(int(digits))} "


def normalize_text(s: str) -> str:
    """Corpus text format: lowercase a-z words, inner apostrophes, single spaces.

    Accents are stripped, digits are spelled out, every other character is a word break
    and apostrophes at the edge of a word are dropped.
    """
    s = s.replace("\u2019", "'").replace("\u2018", "'")
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii").lower()
    s = _NON_WORD_RE.sub(" ", _DIGITS_RE.sub(_digits_to_words, s))
    words = (re.sub("'+", "'", w).strip("'") for w in s.split())
    return " ".join(w for w in words if w)


# ----------------------------------------------------------------- slots and domains

# units as (singular, plural): the singular slots get their article, the plural ones not
LENGTH_UNITS = (("inch", "inches"), ("foot", "feet"), ("yard", "yards"), ("mile", "miles"),
                ("centimetre", "centimetres"), ("metre", "metres"),
                ("kilometre", "kilometres"), ("millimetre", "millimetres"))
WEIGHT_UNITS = (("ounce", "ounces"), ("pound", "pounds"), ("stone", "stone"),
                ("gram", "grams"), ("kilogram", "kilograms"), ("ton", "tons"))
VOLUME_UNITS = (("teaspoon", "teaspoons"), ("tablespoon", "tablespoons"), ("cup", "cups"),
                ("pint", "pints"), ("litre", "litres"), ("millilitre", "millilitres"),
                ("gallon", "gallons"), ("fluid ounce", "fluid ounces"), ("quart", "quarts"))
TIME_UNITS = (("second", "seconds"), ("minute", "minutes"), ("hour", "hours"),
              ("day", "days"), ("week", "weeks"), ("month", "months"), ("year", "years"))


def _numbers(lo: int, hi: int, step: int = 1) -> tuple[str, ...]:
    return tuple(number_to_words(i) for i in range(lo, hi + 1, step))


def _units(pairs: tuple[tuple[str, str], ...], plural: bool) -> tuple[str, ...]:
    """Plural unit names, or singular ones with their article ("an inch", "a foot")."""
    if plural:
        return tuple(p[1] for p in pairs)
    return tuple(("an " if p[0][0] in "aeiou" or p[0] == "hour" else "a ") + p[0] for p in pairs)


def _computed_slots(data: dict[str, list[str] | None]) -> dict[str, tuple[str, ...]]:
    """The slots ``grammar.yaml`` leaves null: numbers, dates and units spelled out here."""
    units = {"length": LENGTH_UNITS, "weight": WEIGHT_UNITS, "volume": VOLUME_UNITS, "time": TIME_UNITS}
    return {
        "n_small": _numbers(2, 20),
        "n_medium": _numbers(21, 999),
        "n_large": _numbers(1000, 9999),
        "n_seconds": _numbers(5, 90, 5),
        "n_minutes": _numbers(2, 59),
        "n_hours": _numbers(2, 12),
        "fan_speed": _numbers(1, 5),
        "volume": _numbers(0, 10) + _numbers(10, 100, 10),
        "percent": tuple(f"{n} percent" for n in _numbers(1, 100)),
        "temp_value": _numbers(0, 40),
        "room_temp": _numbers(15, 28),
        "oven_temp": (*(f"{n} degrees" for n in _numbers(150, 250, 10)), "gas mark {fan_speed}",
                      "gas mark (six|seven|eight|nine)"),
        "year": tuple(year_to_words(y) for y in range(1900, 2031)),
        "ordinal_day": tuple(ordinal_to_words(d) for d in range(1, 32)),
        "hour": _numbers(1, 12),
        "minute": (*(f"oh {n}" for n in _numbers(1, 9)), *_numbers(10, 59)),
        "digit": (*_numbers(0, 9), "oh"),
        "digit_nonzero": _numbers(1, 9),
        "house_number": _numbers(1, 300),
        **{f"{k}_unit": _units(v, False) for k, v in units.items()},
        **{f"{k}_units": _units(v, True) for k, v in units.items()},
        "event_a": tuple(("an " if e[0] in "aeiou" else "a ") + e for e in data.get("event") or ()),
    }


def load_grammar(path: Path = DATA) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """``(domains, slots)`` from the data file, in its order (the order is part of the corpus:
    the same seed draws the same sentences only from the same order)."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or set(data) != {"domains", "slots"}:
        raise ValueError(f"{path}: expected the two sections domains: and slots:")
    computed = _computed_slots(data["slots"])
    slots: dict[str, tuple[str, ...]] = {}
    for name, items in data["slots"].items():
        if items is None:
            if name not in computed:
                raise ValueError(f"{path}: slot {name!r} is null but grammar.py does not compute it")
            slots[name] = computed[name]
        elif not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
            raise ValueError(f"{path}: slot {name!r} must be a non-empty list of strings or null")
        else:
            slots[name] = tuple(items)
    missing = sorted(set(computed) - set(slots))
    if missing:
        raise ValueError(f"{path}: computed slot(s) {', '.join(missing)} missing (list them as null)")
    domains = {}
    for name, items in data["domains"].items():
        if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
            raise ValueError(f"{path}: domain {name!r} must be a non-empty list of templates")
        domains[name] = tuple(items)
    return domains, slots


DOMAINS, SLOTS = load_grammar()
DOMAIN_NAMES: tuple[str, ...] = tuple(DOMAINS)

# ---------------------------------------------------------------------- expansion

_TOKEN_RE = re.compile(r"\{(\w+)\}|([\[\]()|])|([^\s\[\]()|{}]+)")

Seq = tuple  # tuple of (kind, value) nodes; kind is "word", "slot", "opt" or "alt"


@functools.cache
def _parse(template: str) -> tuple[Seq, ...]:
    """Parse a template into its top-level alternatives (usually just one sequence)."""
    tokens = _TOKEN_RE.findall(template)

    def items(i: int) -> tuple[Seq, int]:
        seq = []
        while i < len(tokens):
            slot, punct, word = tokens[i]
            if punct in ("[", "("):
                options, i = alternatives(i + 1, "]" if punct == "[" else ")")
                seq.append(("opt" if punct == "[" else "alt", options))
                continue
            if punct:
                break
            seq.append(("slot", slot) if slot else ("word", word))
            i += 1
        return tuple(seq), i

    def alternatives(i: int, close: str) -> tuple[tuple[Seq, ...], int]:
        options = []
        while True:
            seq, i = items(i)
            options.append(seq)
            punct = tokens[i][1] if i < len(tokens) else ""
            if punct == "|":
                i += 1
            elif punct == close:
                return tuple(options), i + 1
            else:
                raise ValueError(f"unbalanced brackets in template {template!r}")

    options, _ = alternatives(0, "")
    return options


def _expand(template: str, rng: random.Random, out: list[str]) -> None:
    options = _parse(template)
    _expand_seq(options[0] if len(options) == 1 else rng.choice(options), rng, out)


def _expand_seq(seq: Seq, rng: random.Random, out: list[str]) -> None:
    for kind, value in seq:
        if kind == "word":
            out.append(value)
        elif kind == "slot":
            _expand(rng.choice(SLOTS[value]), rng, out)
        elif kind == "alt" or rng.random() < OPTIONAL_P:
            _expand_seq(value[0] if len(value) == 1 else rng.choice(value), rng, out)


def _sample(rng: random.Random) -> tuple[str, str]:
    domain = rng.choice(DOMAIN_NAMES)
    out: list[str] = []
    if rng.random() < PREFIX_P:
        _expand("{prefix}", rng, out)
    _expand(rng.choice(DOMAINS[domain]), rng, out)
    if rng.random() < COMPOUND_P:
        out.append("and")
        _expand(rng.choice(DOMAINS[domain]), rng, out)
    if rng.random() < SUFFIX_P:
        _expand("{suffix}", rng, out)
    return normalize_text(" ".join(out)), domain


def generate_with_domain(
    rng: random.Random, min_words: int = 3, max_words: int = 20
) -> tuple[str, str]:
    """One utterance with ``min_words <= len(words) <= max_words`` and its domain name.

    Sentences outside the bounds are discarded and a new one (domain included) is drawn.
    """
    if not 1 <= min_words <= max_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got {min_words}, {max_words}")
    for _ in range(MAX_TRIES):
        text, domain = _sample(rng)
        if min_words <= text.count(" ") + 1 <= max_words:
            return text, domain
    raise RuntimeError(f"no sentence with {min_words}..{max_words} words in {MAX_TRIES} tries")


def generate(rng: random.Random, min_words: int = 3, max_words: int = 20) -> str:
    """One normalised utterance whose word count lies in ``[min_words, max_words]``."""
    return generate_with_domain(rng, min_words, max_words)[0]


# --------------------------------------------------------------------- vocabulary


def _reachable_templates() -> list[str]:
    """Every template reachable from the domains and the prefix/suffix slots."""
    templates = [t for name in DOMAIN_NAMES for t in DOMAINS[name]]
    seen = {"prefix", "suffix"}
    templates += [*SLOTS["prefix"], *SLOTS["suffix"], "and"]
    i = 0
    while i < len(templates):
        for slot, _, _ in _TOKEN_RE.findall(templates[i]):
            if slot and slot not in seen:
                if slot not in SLOTS:
                    raise KeyError(f"template {templates[i]!r} uses unknown slot {slot!r}")
                seen.add(slot)
                templates.extend(SLOTS[slot])
        i += 1
    return templates


@functools.cache
def _vocabulary() -> tuple[str, ...]:
    words: set[str] = set()
    for template in _reachable_templates():
        for _, _, word in _TOKEN_RE.findall(template):
            if word:
                words.update(normalize_text(word).split())
    return tuple(sorted(words))


def vocabulary() -> list[str]:
    """Sorted list of every word the grammar can produce (derived from the templates)."""
    return list(_vocabulary())
