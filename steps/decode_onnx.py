"""Decode with an ONNX export on onnxruntime: streaming greedy or modified beam search.

    python -m steps.decode_onnx exp/lstm/onnx data/fbank exp/decode/lstm_onnx_greedy
    python -m steps.decode_onnx exp/lstm/onnx data/fbank exp/decode/lstm_onnx_int8 --int8

The searches are ``steps.nnet.search``'s, their joiner and predictor calls made on the graphs
(``steps.deploy.runtime``); the encoder graph runs the chunk it was exported with.  OUT_DIR is laid
out as ``steps.decode_transducer``'s (``cuts_<split>.jsonl.gz`` with hyps and error counts,
``wer-/errs-/recogs-<split>.txt``, ``metrics.json`` with WER, RTF and chunk latency), so every
later stage reads it the same way.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from steps.data.manifests import load_cuts
from steps.data.tokenizer import Tokenizer
from steps.deploy.runtime import OnnxDecoder, OnnxScorer, OnnxTransducer
from steps.nnet.decode_io import decode_split
from steps.nnet.search import make_search
from steps.utils import FairstreamError, require_complete, stage_output
from steps.utils.atomic import write_json_atomic
from steps.utils.cli import CONTEXT, split_names, step_main

log = logging.getLogger(__name__)


@click.command(context_settings=CONTEXT)
@click.argument("onnx_dir", type=click.Path(path_type=Path))
@click.argument("fbank_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--splits", default="dev,test", help="Comma-separated splits (FBANK_DIR/cuts_<split>.jsonl.gz)."
)
@click.option("--method", type=click.Choice(["greedy", "modified_beam"]), default="greedy", help="Search.")
@click.option(
    "--beam", type=click.IntRange(min=1), default=4, help="modified_beam: hypotheses kept per frame."
)
@click.option("--max-sym-per-frame", type=int, default=3, help="Greedy: most tokens emitted on one frame.")
@click.option(
    "--beam-symbols-per-frame", type=click.IntRange(min=1), default=None,
    help="modified_beam: most tokens one hypothesis emits on a frame [one per 40 ms of encoder frame].",
)  # fmt: skip
@click.option("--blank-penalty", type=float, default=0.0, help="Subtract this from the blank logit.")
@click.option("--int8", is_flag=True, help="Decode with the int8 graphs (*.int8.onnx).")
@click.option("--batch-size", type=int, default=1, help="Utterances streamed side by side.")
@click.option("--num-threads", type=int, default=1, help="onnxruntime threads per session.")
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete or holds another config.")
@step_main
def main(
    onnx_dir: Path,
    fbank_dir: Path,
    out_dir: Path,
    splits: str,
    method: str,
    beam: int,
    max_sym_per_frame: int,
    beam_symbols_per_frame: int | None,
    blank_penalty: float,
    int8: bool,
    batch_size: int,
    num_threads: int,
    force: bool,
) -> None:
    """Decode FBANK_DIR's splits with the ONNX export in ONNX_DIR into OUT_DIR."""
    require_complete(onnx_dir, "export")
    require_complete(fbank_dir, "feature")
    names = split_names(splits)
    if batch_size < 1 or num_threads < 1:
        raise FairstreamError("--batch-size and --num-threads must be >= 1")
    rt = OnnxTransducer(onnx_dir, int8=int8, num_threads=num_threads)
    tokenizer = Tokenizer(onnx_dir / "bpe.model")
    if tokenizer.vocab_size != rt.vocab_size:
        raise FairstreamError(
            f"{onnx_dir}/bpe.model has {tokenizer.vocab_size} pieces, the graphs {rt.vocab_size}"
        )
    if beam_symbols_per_frame is None:
        beam_symbols_per_frame = max(1, rt.subsampling // 4)
    search = make_search(
        method, OnnxScorer(rt), beam=beam, max_sym_per_frame=max_sym_per_frame,
        blank_penalty=blank_penalty, beam_symbols_per_frame=beam_symbols_per_frame,
    )  # fmt: skip
    decoder = OnnxDecoder(rt, search)
    split_cuts = {s: load_cuts(fbank_dir, s) for s in names}
    cfg = {
        "input": str(fbank_dir),
        "input_digest": (fbank_dir / ".done").read_text().strip(),
        "onnx_dir": str(onnx_dir),
        "onnx_digest": (onnx_dir / ".done").read_text().strip(),
        "int8": int8,
        "splits": names,
        "method": method,
        "beam": beam if method == "modified_beam" else None,
        "max_sym_per_frame": max_sym_per_frame if method == "greedy" else None,
        "beam_symbols_per_frame": beam_symbols_per_frame if method == "modified_beam" else None,
        "blank_penalty": blank_penalty,
        "streaming": True,
        "chunk_ms": int(rt.meta.get("chunk_ms", 10 * rt.chunk_frames)),
        "batch_size": batch_size,
        "num_threads": num_threads,
    }
    with stage_output(out_dir, cfg, force) as out:
        metrics = {}
        for split in names:
            summary = decode_split(
                split, split_cuts[split], decoder, tokenizer, out, batch_size, rt.num_features
            )
            keep = ("method", "beam", "max_sym_per_frame", "streaming", "chunk_ms", "int8", "blank_penalty")
            metrics[split] = {**summary, **{k: cfg[k] for k in keep}}
            metrics[split].update(batch_size=batch_size, num_threads=num_threads, runtime="onnxruntime")
        write_json_atomic(out / "metrics.json", metrics)


if __name__ == "__main__":
    main()
