"""Transcript normalisation shared by the tokenizer, training and scoring."""

from __future__ import annotations

import re

_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Upper case, single spaces; punctuation other than apostrophes is the corpus's business."""
    return _SPACE.sub(" ", text.upper()).strip()
