"""Stage 3: train the BPE model on training transcripts and check every split against it.

python -m steps.prepare_lang data/manifests data/lang_bpe_100 --conf conf/lang.yaml
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from steps.data.manifests import load_cuts, splits_in
from steps.data.text import normalize_text
from steps.data.tokenizer import LangConf, Tokenizer, train_bpe
from steps.utils import FairstreamError, require_complete, stage_output, write_json_atomic
from steps.utils.cli import CONTEXT, step_main
from steps.utils.config import load_dataclass, to_dict

log = logging.getLogger(__name__)


def _transcripts(in_dir: Path, split: str) -> list[tuple[str, str]]:
    out = []
    for cut in load_cuts(in_dir, split):
        for s in cut.supervisions:
            out.append((s.id, normalize_text(s.text or "")))
    return out


@click.command(context_settings=CONTEXT)
@click.argument("in_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--conf", type=click.Path(path_type=Path), default=Path("conf/lang.yaml"))
@click.option("--train-split", default="train", help="Split whose transcripts train the model.")
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete.")
@step_main
def main(in_dir: Path, out_dir: Path, conf: Path, train_split: str, force: bool) -> None:
    """Train a sentencepiece BPE model (<blk>=0, <sot>=1, <eot>=2, <unk>=3) into OUT_DIR."""
    require_complete(in_dir, "manifest")
    cfg = load_dataclass(LangConf, conf)
    if train_split not in splits_in(in_dir):
        raise FairstreamError(f"{in_dir} has no split {train_split!r}; found {splits_in(in_dir)}")
    with stage_output(
        out_dir, {"input": str(in_dir), "train_split": train_split, **to_dict(cfg)}, force
    ) as out:
        rows = _transcripts(in_dir, train_split)
        empty = [i for i, t in rows if not t]
        for i in empty[:10]:
            log.warning("%s/%s: empty transcript, not used", train_split, i)
        texts = [t for _, t in rows if t]
        if not texts:
            raise FairstreamError(f"{in_dir}: split {train_split} has no non-empty transcripts")
        model = train_bpe(texts, out.path, cfg)
        tok = Tokenizer(model)
        with open(out.path / "tokens.txt", "w") as f:
            for i in range(tok.vocab_size):
                f.write(f"{tok.piece(i)} {i}\n")
        report: dict[str, dict[str, object]] = {"vocab_size": {"value": tok.vocab_size}}
        for split in splits_in(in_dir):
            bad = []
            n_empty = 0
            for utt, text in _transcripts(in_dir, split):
                if not text:
                    n_empty += 1
                    continue
                ids = tok.sp.encode(text, out_type=int)
                if tok.unk_id in ids:
                    bad.append(utt)
                    if len(bad) <= 10:
                        log.warning(
                            "%s/%s: cannot tokenize %r", split, utt, tok.unknown_chars(text)
                        )
            if bad or n_empty:
                log.warning(
                    "%s: %d transcript(s) with unknown characters, %d empty",
                    split,
                    len(bad),
                    n_empty,
                )
            report[split] = {"unknown_char_utts": len(bad), "empty": n_empty, "examples": bad[:20]}
        write_json_atomic(out.path / "report.json", report)
        log.info("BPE model with %d pieces (asked for %d)", tok.vocab_size, cfg.vocab_size)


if __name__ == "__main__":
    main()
