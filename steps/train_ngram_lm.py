"""Stage 3 (LM): token n-gram models over the recogniser's BPE ids, for shallow fusion and LODR.

    python -m steps.train_ngram_lm data/lm_text data/manifests data/lang_bpe_100 data/lang_bpe_100/lm

Writes into OUT_DIR (by default inside the lang directory, so redoing the BPE model with --force
removes the LM that depended on it):

* ``lm.npz`` -- interpolated modified Kneser-Ney of order ``ngram.order`` (conf/lm.yaml) on the
  LM text (LM_TEXT: the ``local.make_lm_text`` directory, or any text file), tokenised with
  LANG_DIR/bpe.model;
* ``lodr.npz`` -- the same of order ``ngram.lodr_order`` (a bigram) on MANIFEST_DIR's training
  transcripts, the "low-order density ratio" model subtracted in fusion;
* ``report.json`` -- n-gram counts per order, file sizes, discounts, token-level perplexities of
  both on the dev transcripts (every token and each sentence end), timings.

See ``steps/lm/ngram.py`` for the model and ``steps/decode_transducer.py --method
modified_beam_lm`` for its use.
"""

from __future__ import annotations

import gzip
import logging
import time
from pathlib import Path
from typing import Any

import click

from steps.data.manifests import load_cuts, splits_in
from steps.data.text import normalize_text
from steps.data.tokenizer import Tokenizer
from steps.lm.fusion import LM_FILE, LODR_FILE
from steps.lm.ngram import NgramLM, train_ngram
from steps.utils import FairstreamError, file_digest, require_complete, stage_output, write_json_atomic
from steps.utils.cli import CONTEXT, step_main
from steps.utils.config import load_yaml

log = logging.getLogger(__name__)


def read_lm_text(path: Path) -> list[str]:
    """Normalised sentences of a ``make_lm_text`` directory (text.txt.gz) or a text file."""
    if path.is_dir():
        require_complete(path, "LM text")
        path = path / "text.txt.gz"
    if not path.is_file():
        raise FairstreamError(f"LM text {path} does not exist; run local.make_lm_text")
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [t for t in (normalize_text(line) for line in f) if t]


def split_texts(manifest_dir: Path, split: str) -> list[str]:
    return [
        t
        for cut in load_cuts(manifest_dir, split)
        for s in cut.supervisions
        if (t := normalize_text(s.text or ""))
    ]


def tokenize(tok: Tokenizer, texts: list[str], what: str) -> list[list[int]]:
    """BPE ids of each sentence; sentences with pieces the model lacks (<unk>) are dropped, counted."""
    ids = tok.sp.encode(texts, out_type=int)
    kept = [s for s in ids if s and tok.unk_id not in s]
    if len(kept) < len(ids):
        log.warning(
            "%s: dropped %d of %d sentences with unknown characters", what, len(ids) - len(kept), len(ids)
        )
    return kept


def _input_digest(path: Path) -> str:
    if path.is_dir():
        return (path / ".done").read_text().strip() if (path / ".done").is_file() else "incomplete"
    return file_digest(path) if path.is_file() else "missing"


@click.command(context_settings=CONTEXT)
@click.argument("lm_text", type=click.Path(path_type=Path))
@click.argument("manifest_dir", type=click.Path(path_type=Path))
@click.argument("lang_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--conf", type=click.Path(path_type=Path), default=Path("conf/lm.yaml"), help="Its ngram: section."
)
@click.option("--order", type=int, default=None, help="Order of the fusion LM [ngram.order of --conf].")
@click.option(
    "--lodr-order", type=int, default=None, help="Order of the LODR model [ngram.lodr_order of --conf]."
)
@click.option("--train-split", default="train", help="Split whose transcripts train the LODR model.")
@click.option("--dev-split", default="dev", help="Split whose transcripts measure perplexity.")
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete or holds another config.")
@step_main
def main(
    lm_text: Path,
    manifest_dir: Path,
    lang_dir: Path,
    out_dir: Path,
    conf: Path,
    order: int | None,
    lodr_order: int | None,
    train_split: str,
    dev_split: str,
    force: bool,
) -> None:
    """Train the fusion n-gram LM (LM_TEXT) and the LODR bigram (training transcripts) into OUT_DIR."""
    require_complete(manifest_dir, "manifest")
    require_complete(lang_dir, "lang")
    ngram_conf = load_yaml(conf).get("ngram") or {}
    order = int(order if order is not None else ngram_conf.get("order", 5))
    lodr_order = int(lodr_order if lodr_order is not None else ngram_conf.get("lodr_order", 2))
    if order < 1 or lodr_order < 1:
        raise FairstreamError(f"n-gram orders must be >= 1, got {order} and {lodr_order}")
    splits = splits_in(manifest_dir)
    for s in (train_split, dev_split):
        if s not in splits:
            raise FairstreamError(f"{manifest_dir} has no split {s!r}; found {splits}")
    text_digest = _input_digest(lm_text)
    if text_digest in ("missing", "incomplete"):
        read_lm_text(lm_text)  # raises the one-line error
    bpe = lang_dir / "bpe.model"
    cfg: dict[str, Any] = {
        "lm_text": str(lm_text),
        "lm_text_digest": text_digest,
        "manifests": str(manifest_dir),
        "manifests_digest": (manifest_dir / ".done").read_text().strip(),
        "lang_dir": str(lang_dir),
        "bpe_digest": file_digest(bpe),
        "order": order,
        "lodr_order": lodr_order,
        "train_split": train_split,
        "dev_split": dev_split,
    }
    with stage_output(out_dir, cfg, force) as out:
        tok = Tokenizer(bpe)
        t0 = time.perf_counter()
        texts = read_lm_text(lm_text)
        sents = tokenize(tok, texts, "LM text")
        t_tok = time.perf_counter() - t0
        if not sents:
            raise FairstreamError(f"{lm_text}: no usable sentences")
        t1 = time.perf_counter()
        lm = train_ngram(sents, tok.vocab_size, order)
        lm.save(out / LM_FILE)
        t_lm = time.perf_counter() - t1
        t2 = time.perf_counter()
        train = tokenize(tok, split_texts(manifest_dir, train_split), f"{train_split} transcripts")
        lodr = train_ngram(train, tok.vocab_size, lodr_order)
        lodr.save(out / LODR_FILE)
        t_lodr = time.perf_counter() - t2
        dev = tokenize(tok, split_texts(manifest_dir, dev_split), f"{dev_split} transcripts")
        t3 = time.perf_counter()
        # perplexities from the saved files: what decoding will load
        lm_ppl, n_dev = NgramLM.load(out / LM_FILE).perplexity(dev)
        lodr_ppl, _ = NgramLM.load(out / LODR_FILE).perplexity(dev)
        t_ppl = time.perf_counter() - t3
        report = {
            "vocab_size": tok.vocab_size,
            "lm": {
                "order": order,
                "sentences": len(sents),
                "tokens": lm.meta["num_tokens"],
                "ngrams": lm.meta["num_ngrams"],
                "discounts": lm.meta["discounts"],
                "file_bytes": (out / LM_FILE).stat().st_size,
                f"{dev_split}_ppl": round(lm_ppl, 3),
            },
            "lodr": {
                "order": lodr_order,
                "sentences": len(train),
                "tokens": lodr.meta["num_tokens"],
                "ngrams": lodr.meta["num_ngrams"],
                "file_bytes": (out / LODR_FILE).stat().st_size,
                f"{dev_split}_ppl": round(lodr_ppl, 3),
            },
            f"{dev_split}_tokens": n_dev,
            "seconds": {
                "tokenize": round(t_tok, 2),
                "train_lm": round(t_lm, 2),
                "train_lodr": round(t_lodr, 2),
                "perplexity": round(t_ppl, 2),
            },
        }
        write_json_atomic(out / "report.json", report)
        log.info(
            "order-%d LM: %d sentences, %d tokens, n-grams %s, %.1f MB, %s token perplexity %.2f (%.1f s)",
            order,
            len(sents),
            lm.meta["num_tokens"],
            lm.meta["num_ngrams"],
            report["lm"]["file_bytes"] / 1e6,
            dev_split,
            lm_ppl,
            t_lm,
        )
        log.info(
            "order-%d LODR model on %d %s transcripts: %s token perplexity %.2f",
            lodr_order,
            len(train),
            train_split,
            dev_split,
            lodr_ppl,
        )


if __name__ == "__main__":
    main()
