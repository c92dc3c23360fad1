"""Stage 3 (LM text): sentences for the token n-gram LM, with every dev/test sentence removed.

    python -m local.make_lm_text data/manifests data/lm_text --conf conf/lm.yaml

Corpus-specific, as ``local/`` is:

* **demo** -- draws sentences from the corpus grammar (``local/demo/grammar.py``,
  ``generate_with_domain`` with the corpus's word limits), normalised exactly like the corpus
  transcripts (grammar output, upper-cased, ``steps.data.text.normalize_text``), seeded from the
  run's seed (``derive_seed(seed, "lm-text")``; the corpus seeds each utterance from
  ``(seed, "text", utt_id)``, another stream).  How many: ``text.demo_sentences[size]`` of
  ``conf/lm.yaml``, or ``--num-sentences``.
* **any other corpus** (librispeech) -- no generator: the training transcripts, or ``--text FILE``
  (one sentence per line, e.g. LibriSpeech's LM corpus).  Training transcripts alone add no text
  the recogniser did not see; the log says so.

Every sentence whose normalised text is a dev or test transcript (every split but
``--train-split``) is dropped -- an LM that has memorised the test sentences would make any WER
it helps with meaningless -- and the count is logged and kept in ``report.json``.  The demo keeps
drawing until it has N sentences.  Writes OUT_DIR/text.txt.gz (one sentence per line) and
OUT_DIR/report.json.
"""

from __future__ import annotations

import gzip
import logging
import random
import time
from collections.abc import Iterator
from pathlib import Path

import click

from steps.data.manifests import load_cuts, splits_in
from steps.data.text import normalize_text
from steps.utils import FairstreamError, derive_seed, read_config, require_complete, stage_output
from steps.utils.atomic import atomic_path, write_json_atomic
from steps.utils.cli import CONTEXT, step_main
from steps.utils.config import load_yaml

log = logging.getLogger(__name__)

MAX_DRAWS_FACTOR = 4  # the demo gives up after drawing 4 N sentences to keep N


def transcripts(manifest_dir: Path, splits: list[str]) -> list[str]:
    """Normalised transcripts of ``splits`` (the format the tokenizer sees)."""
    out = []
    for split in splits:
        for cut in load_cuts(manifest_dir, split):
            for s in cut.supervisions:
                text = normalize_text(s.text or "")
                if text:
                    out.append(text)
    return out


def demo_sentences(seed: int, min_words: int, max_words: int) -> Iterator[str]:
    """Endless normalised grammar sentences, in the corpus transcripts' format."""
    from local.demo.grammar import generate_with_domain

    rng = random.Random(derive_seed(seed, "lm-text"))
    while True:
        text, _domain = generate_with_domain(rng, min_words, max_words)
        yield normalize_text(text.upper())


def read_text_file(path: Path) -> Iterator[str]:
    if not path.is_file():
        raise FairstreamError(f"--text {path} does not exist")
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            text = normalize_text(line)
            if text:
                yield text


def select(
    source: Iterator[str], heldout: set[str], limit: int | None, max_draws: int | None = None
) -> tuple[list[str], int, set[str]]:
    """Up to ``limit`` sentences of ``source`` not in ``heldout``; the excluded draws, distinct hits."""
    kept: list[str] = []
    excluded, hit = 0, set()
    draws = 0
    for text in source:
        draws += 1
        if text in heldout:
            excluded += 1
            hit.add(text)
        else:
            kept.append(text)
            if limit is not None and len(kept) >= limit:
                break
        if max_draws is not None and draws >= max_draws:
            raise FairstreamError(
                f"drew {draws} sentences and kept only {len(kept)}: the generator mostly repeats "
                "held-out sentences; ask for fewer (--num-sentences)"
            )
    return kept, excluded, hit


@click.command(context_settings=CONTEXT)
@click.argument("manifest_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--conf", type=click.Path(path_type=Path), default=Path("conf/lm.yaml"), help="Its text: section."
)
@click.option(
    "--num-sentences",
    type=int,
    default=None,
    help="Demo: sentences to keep [text.demo_sentences[size] of --conf].",
)
@click.option(
    "--seed", type=int, default=None, help="Demo: the run's seed [the one MANIFEST_DIR was made with]."
)
@click.option(
    "--text",
    "text_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Use this text file (one sentence per line, .gz ok) instead of the corpus's own source.",
)
@click.option("--train-split", default="train", help="Every other split of MANIFEST_DIR is held out.")
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete or holds another config.")
@step_main
def main(
    manifest_dir: Path,
    out_dir: Path,
    conf: Path,
    num_sentences: int | None,
    seed: int | None,
    text_file: Path | None,
    train_split: str,
    force: bool,
) -> None:
    """Write LM training text for MANIFEST_DIR's corpus into OUT_DIR/text.txt.gz, dev/test sentences removed.

    demo: sentences from the corpus grammar; other corpora: the training transcripts (or --text).
    """
    require_complete(manifest_dir, "manifest")
    corpus_cfg = read_config(manifest_dir)
    corpus = str(corpus_cfg.get("corpus", "?"))
    splits = splits_in(manifest_dir)
    if train_split not in splits:
        raise FairstreamError(f"{manifest_dir} has no split {train_split!r}; found {splits}")
    held_splits = [s for s in splits if s != train_split]
    text_conf = load_yaml(conf).get("text") or {}
    cfg: dict[str, object] = {
        "input": str(manifest_dir),
        "input_digest": (manifest_dir / ".done").read_text().strip(),
        "corpus": corpus,
        "heldout_splits": held_splits,
    }
    if text_file is not None:
        from steps.utils import file_digest

        cfg.update(
            source="file",
            text=str(text_file),
            text_digest=file_digest(text_file) if text_file.is_file() else None,
        )
    elif corpus == "demo":  # the grammar that wrote the corpus
        size = str(corpus_cfg.get("size", "default"))
        if num_sentences is None:
            per_size = text_conf.get("demo_sentences") or {}
            if size not in per_size:
                raise FairstreamError(
                    f"{conf}: text.demo_sentences has no size {size!r}; pass --num-sentences"
                )
            num_sentences = int(per_size[size])
        if num_sentences < 1:
            raise FairstreamError(f"--num-sentences must be >= 1, got {num_sentences}")
        demo = (
            int(seed if seed is not None else corpus_cfg.get("seed", 42)),
            int(corpus_cfg.get("min_words", 3)),
            int(corpus_cfg.get("max_words", 18)),
        )
        cfg.update(
            source="demo_grammar",
            num_sentences=num_sentences,
            seed=demo[0],
            min_words=demo[1],
            max_words=demo[2],
        )
    else:
        if num_sentences is not None:
            raise FairstreamError(f"--num-sentences is for the demo grammar; corpus {corpus} has none")
        cfg.update(source="train_transcripts", train_split=train_split)

    with stage_output(out_dir, cfg, force) as out:
        t0 = time.perf_counter()
        heldout = set(transcripts(manifest_dir, held_splits))
        if cfg["source"] == "demo_grammar":
            assert num_sentences is not None
            kept, excluded, hit = select(
                demo_sentences(*demo), heldout, num_sentences, MAX_DRAWS_FACTOR * num_sentences
            )
        elif cfg["source"] == "file":
            assert text_file is not None
            kept, excluded, hit = select(read_text_file(text_file), heldout, None)
        else:
            kept, excluded, hit = select(iter(transcripts(manifest_dir, [train_split])), heldout, None)
            log.warning(
                "corpus %s has no text generator: the LM learns only the %d training transcripts the "
                "recogniser already saw (expect little gain); pass --text FILE for more text",
                corpus,
                len(kept),
            )
        if not kept:
            raise FairstreamError("no LM text left after removing the held-out sentences")
        with atomic_path(out / "text.txt.gz") as tmp, gzip.open(tmp, "wt", encoding="utf-8") as f:
            for line in kept:
                f.write(line + "\n")
        seconds = time.perf_counter() - t0
        report = {
            "source": cfg["source"],
            "sentences": len(kept),
            "distinct_sentences": len(set(kept)),
            "words": sum(s.count(" ") + 1 for s in kept),
            "heldout_splits": held_splits,
            "heldout_sentences": len(heldout),
            "excluded_draws": excluded,
            "excluded_distinct": len(hit),
            "seconds": round(seconds, 2),
        }
        write_json_atomic(out / "report.json", report)
        log.info(
            "%d LM sentences (%d distinct, %d words) from %s in %.1f s; excluded %d draws = %d of the %d "
            "distinct %s sentences",
            len(kept),
            report["distinct_sentences"],
            report["words"],
            cfg["source"],
            seconds,
            excluded,
            len(hit),
            len(heldout),
            "/".join(held_splits),
        )


if __name__ == "__main__":
    main()
