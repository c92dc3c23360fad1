"""Stage 5: decode dev/test with a trained transducer; hyps and error counts go into the cuts.

    python -m steps.decode_transducer exp/lstm data/fbank exp/decode_lstm --method modified_beam
    python -m steps.decode_transducer exp/lstm data/fbank exp/decode_lstm_lm --method modified_beam_lm

``modified_beam_lm`` is modified beam search with shallow fusion of the token n-gram LM of
``--lm`` (default: ``<lang_dir>/lm``, made by stage 3's ``steps.train_ngram_lm``) and optional
LODR; the scales default to the ``decode:`` section of ``--lm-conf`` (conf/lm.yaml), chosen on dev
with ``steps.tune_lm_scale``.

Streaming by default: the encoder runs chunk by chunk (``--chunk-ms``) and the search state
carries across chunks, so the result equals offline decoding of the same frames while the
per-chunk latency and the real-time factor are measured.  OUT_DIR gets, per split,
``cuts_<split>.jsonl.gz`` (the input cuts; each supervision's ``custom`` gains ``hyp``,
``ref_len``, ``ins``, ``del``, ``sub``), ``wer-``/``errs-``/``recogs-<split>.txt`` and
``metrics.json``.  A killed decode resumes per cut.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
import torch
from lhotse import CutSet

from steps.data.manifests import load_cuts
from steps.lm.fusion import lm_settings, make_fusion
from steps.nnet.decode_io import decode_split
from steps.nnet.loading import load_model, training_lang_dir
from steps.nnet.search import METHODS, default_symbols_per_frame, make_search
from steps.nnet.streaming import TransducerDecoder
from steps.utils import FairstreamError, require_complete, stage_output
from steps.utils.atomic import write_json_atomic
from steps.utils.cli import CONTEXT, split_names, step_main
from steps.utils.device import device_option, resolve_device

log = logging.getLogger(__name__)


def chunk_frames_for(cuts: CutSet, chunk_ms: int) -> int:
    """Chunk length in feature frames (320 ms = 32 frames at a 10 ms shift)."""
    first = next(iter(cuts), None)
    shift_ms = 1000 * ((first.frame_shift if first is not None else None) or 0.01)
    frames = round(chunk_ms / shift_ms)
    if frames < 1:
        raise FairstreamError(f"--chunk-ms {chunk_ms} is shorter than one {shift_ms:g} ms frame")
    return frames


# ---- LM fusion -----------------------------------------------------------------------------
LM_METHOD = "modified_beam_lm"  # modified beam search + shallow fusion of the n-gram LM
DECODE_METHODS = (*METHODS, LM_METHOD)
BEAM = 4  # modified_beam without an LM (icefall's default); with one, --lm-conf's decode.beam


# ---- the command ---------------------------------------------------------------------------
@click.command(context_settings=CONTEXT)
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("fbank_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--splits", default="dev,test", help="Comma-separated splits (FBANK_DIR/cuts_<split>.jsonl.gz)."
)
@click.option(
    "--method",
    type=click.Choice(DECODE_METHODS),
    default="greedy",
    help="Search: greedy, modified_beam, or modified_beam_lm (modified beam + n-gram LM fusion, see --lm).",
)
@click.option(
    "--beam", type=click.IntRange(min=1), default=None,
    help=f"Beam of modified_beam(_lm) (hypotheses kept per frame) [{BEAM}; modified_beam_lm: --lm-conf].",
)  # fmt: skip
@click.option(
    "--lm",
    "lm_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="modified_beam_lm: LM directory of steps.train_ngram_lm (lm.npz, lodr.npz) [<lang_dir>/lm].",
)
@click.option(
    "--lm-conf",
    type=click.Path(path_type=Path),
    default=Path("conf/lm.yaml"),
    help="modified_beam_lm: its decode: section gives the defaults of --lm-scale, --lodr-scale, "
    "--blank-penalty, --lm-eos.",
)
@click.option(
    "--lm-conf-model",
    default=None,
    help="modified_beam_lm: whose decode.models entry of --lm-conf applies (fine-tuned variants share "
    "their parent's settings) [MODEL_DIR's name].",
)
@click.option(
    "--lm-scale", type=float, default=None, help="modified_beam_lm: weight of log P_lm per token [--lm-conf]."
)
@click.option(
    "--lodr-scale",
    type=float,
    default=None,
    help="modified_beam_lm: weight of the subtracted log P of the LODR bigram (of the training "
    "transcripts) [--lm-conf].",
)
@click.option(
    "--lm-eos/--no-lm-eos",
    default=None,
    help="modified_beam_lm: add the LM's end-of-sentence score when picking the final hypothesis "
    "[--lm-conf].",
)
@click.option(
    "--blank-penalty",
    type=float,
    default=None,
    help="Subtract this from the blank logit before the softmax (any method; a deletion diagnostic) "
    "[0; modified_beam_lm: --lm-conf].",
)
@click.option("--max-sym-per-frame", type=int, default=3, help="Greedy: most tokens emitted on one frame.")
@click.option(
    "--beam-symbols-per-frame", type=click.IntRange(min=1), default=None,
    help="modified_beam(_lm): most tokens one hypothesis emits on a frame (1: icefall's search) "
    "[one per 40 ms of encoder frame: 1 at x4 subsampling, 2 at x8].",
)  # fmt: skip
@click.option(
    "--streaming/--no-streaming",
    default=True,
    help="Chunk-by-chunk encoder and search (measures latency), or whole utterances.",
)
@click.option("--chunk-ms", type=int, default=320, help="Streaming chunk length in ms of audio.")
@click.option(
    "--avg", type=int, default=1, help="Average the last K epoch checkpoints (1: checkpoint-latest)."
)
@click.option(
    "--lang-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="BPE directory; default: the lang_dir in MODEL_DIR/config.yaml.",
)
@click.option("--batch-size", type=int, default=1, help="Utterances decoded (streamed) side by side.")
@click.option("--num-threads", type=int, default=1, help="torch threads; latency and RTF depend on it.")
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete or holds another config.")
@device_option
@step_main
def main(
    model_dir: Path,
    fbank_dir: Path,
    out_dir: Path,
    splits: str,
    method: str,
    beam: int | None,
    lm_dir: Path | None,
    lm_conf: Path,
    lm_conf_model: str | None,
    lm_scale: float | None,
    lodr_scale: float | None,
    lm_eos: bool | None,
    blank_penalty: float | None,
    max_sym_per_frame: int,
    beam_symbols_per_frame: int | None,
    streaming: bool,
    chunk_ms: int,
    avg: int,
    lang_dir: Path | None,
    batch_size: int,
    num_threads: int,
    force: bool,
    device: str,
) -> None:
    """Decode FBANK_DIR's splits with the transducer in MODEL_DIR into OUT_DIR.

    Per split: cuts_<split>.jsonl.gz (each supervision's custom gains hyp, ref_len, ins, del,
    sub; speaker metadata kept), wer-/errs-/recogs-<split>.txt; and metrics.json (WER, RTF and
    chunk latency per split; timings exclude feature loading).  A killed run resumes per cut.
    --method modified_beam_lm adds the n-gram LM of --lm (shallow fusion, optional LODR).
    """
    require_complete(model_dir, "model")
    require_complete(fbank_dir, "feature")
    names = split_names(splits)
    if batch_size < 1 or num_threads < 1:
        raise FairstreamError("--batch-size and --num-threads must be >= 1")
    use_lm = method == LM_METHOD
    if not use_lm and (
        lm_dir is not None
        or lm_scale is not None
        or lodr_scale is not None
        or lm_eos is not None
        or lm_conf_model is not None
    ):
        raise FairstreamError(
            f"--lm, --lm-conf-model, --lm-scale, --lodr-scale and --lm-eos need --method {LM_METHOD}"
        )
    lang_dir = training_lang_dir(model_dir, lang_dir)
    torch.set_num_threads(num_threads)
    model, tokenizer, num_features = load_model(model_dir, lang_dir, avg)
    model.to(resolve_device(device))  # how the decode runs, not what it computes: not in the config
    if beam_symbols_per_frame is None:
        beam_symbols_per_frame = default_symbols_per_frame(model)
    fusion = None
    settings: dict[str, Any] = {"blank_penalty": float(blank_penalty or 0.0)}
    if use_lm:
        settings = lm_settings(
            lm_conf, lm_scale, lodr_scale, blank_penalty, lm_eos, beam, lm_conf_model or model_dir.name
        )
        beam = settings.pop("beam")  # the search's setting, recorded as "beam" below
        lm_dir = lm_dir if lm_dir is not None else lang_dir / "lm"
        fusion = make_fusion(lm_dir, lang_dir, settings)
    beam = beam or BEAM
    split_cuts = {s: load_cuts(fbank_dir, s) for s in names}
    chunk_frames = chunk_frames_for(split_cuts[names[0]], chunk_ms) if streaming else None
    cfg = {
        "input": str(fbank_dir),
        "input_digest": (fbank_dir / ".done").read_text().strip(),
        "model_dir": str(model_dir),
        "model_digest": (model_dir / ".done").read_text().strip(),
        "lang_dir": str(lang_dir),
        "splits": names,
        "method": method,
        "beam": beam if method in ("modified_beam", LM_METHOD) else None,
        "max_sym_per_frame": max_sym_per_frame if method == "greedy" else None,
        "streaming": streaming,
        "chunk_ms": chunk_ms if streaming else None,
        "avg": avg,
        "batch_size": batch_size,
        "num_threads": num_threads,
    }
    # keys only when used, so that the digests of earlier greedy/modified_beam decodes stay valid
    if beam_symbols_per_frame != 1 and method != "greedy":
        cfg["beam_symbols_per_frame"] = beam_symbols_per_frame
    if settings["blank_penalty"]:
        cfg["blank_penalty"] = settings["blank_penalty"]
    if use_lm:
        assert lm_dir is not None
        cfg.update(
            lm_dir=str(lm_dir),
            lm_digest=(lm_dir / ".done").read_text().strip(),
            lm_scale=settings["lm_scale"],
            lodr_scale=settings["lodr_scale"],
            lm_eos=settings["eos"],
        )
    search_method = "modified_beam" if use_lm else method
    search = make_search(
        search_method,
        model,
        beam=beam,
        max_sym_per_frame=max_sym_per_frame,
        lm=fusion,
        blank_penalty=settings["blank_penalty"],
        beam_symbols_per_frame=beam_symbols_per_frame,
    )
    decoder = TransducerDecoder(model, search, chunk_frames)
    with stage_output(out_dir, cfg, force) as out:
        metrics = {}
        for split in names:
            summary = decode_split(
                split, split_cuts[split], decoder, tokenizer, out, batch_size, num_features
            )
            metrics[split] = {
                **summary,
                **{
                    k: cfg[k] for k in ("method", "beam", "max_sym_per_frame", "streaming", "chunk_ms", "avg")
                },
                **{
                    k: cfg[k]
                    for k in ("blank_penalty", "lm_dir", "lm_scale", "lodr_scale", "lm_eos")
                    if k in cfg
                },
            }
            metrics[split].update(batch_size=batch_size, num_threads=num_threads)
        write_json_atomic(out / "metrics.json", metrics)


if __name__ == "__main__":
    main()
