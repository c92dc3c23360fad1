"""Token-level language models for shallow fusion in transducer beam search.

:mod:`steps.lm.ngram` trains and scores interpolated modified Kneser-Ney n-gram models over the
BPE ids of the recogniser's own tokenizer; :mod:`steps.lm.fusion` turns one (plus an optional
low-order "LODR" model) into the per-token bonus the beam search adds to its scores.
"""

from .fusion import LmFusion, load_fusion
from .ngram import NgramLM, train_ngram

__all__ = ["LmFusion", "NgramLM", "load_fusion", "train_ngram"]
