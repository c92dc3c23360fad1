"""Stage 11: a trained transducer as ONNX graphs for deployment runtimes (sherpa-onnx, onnxruntime).

    python -m steps.export_onnx exp/lstm exp/lstm/onnx

OUT_DIR gets ``encoder.onnx`` (one chunk of ``--chunk-ms`` fbank frames, every piece of the
streaming state an input and an output), ``decoder.onnx`` (the stateless predictor: the last
``context_size`` tokens), ``joiner.onnx``, their int8 copies (``*.int8.onnx``, onnxruntime dynamic
quantisation), ``tokens.txt``, ``bpe.model`` and ``export.json``.  The graphs' metadata records the
chunk, the subsampling, the state names and shapes, the model type, vocabulary and context size,
and the fbank settings.  With ``--layout auto`` an encoder that fits sherpa-onnx's ``lstm`` model
type (LSTM, ConvRNN-T, ContextNet) is written in that layout, any other in the named one
(``steps/deploy/export.py``).  Every graph is checked against torch before the output is finished.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import click
import torch

from steps.data.features import FbankConf
from steps.deploy.export import LAYOUTS, OPSET, export_transducer
from steps.nnet.loading import load_model, training_lang_dir
from steps.utils import FairstreamError, require_complete, stage_output
from steps.utils.atomic import write_json_atomic
from steps.utils.cli import CONTEXT, step_main
from steps.utils.config import load_dataclass, to_dict

log = logging.getLogger(__name__)


def chunk_frames_of(chunk_ms: int, fbank: FbankConf) -> int:
    shift_ms = 1000 * fbank.frame_shift
    frames = round(chunk_ms / shift_ms)
    if frames < 1 or abs(frames * shift_ms - chunk_ms) > 1e-6:
        raise FairstreamError(f"--chunk-ms {chunk_ms} is not a whole number of {shift_ms:g} ms frames")
    return frames


@click.command(context_settings=CONTEXT)
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--chunk-ms", type=int, default=320, help="Audio per encoder call (a multiple of the subsampling)."
)
@click.option(
    "--layout",
    type=click.Choice(LAYOUTS),
    default="auto",
    help="Encoder state as sherpa-onnx's lstm type (h, c) or one named tensor per piece; auto: sherpa "
    "when the encoder fits.",
)
@click.option(
    "--avg", type=int, default=1, help="Average the last K epoch checkpoints (1: checkpoint-latest)."
)
@click.option(
    "--lang-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="BPE directory [MODEL_DIR/config.yaml's].",
)
@click.option(
    "--fbank-conf",
    type=click.Path(path_type=Path),
    default=Path("conf/fbank.yaml"),
    help="The features the model was trained on (recorded in the metadata; sets the frame shift).",
)
@click.option("--int8/--no-int8", default=True, help="Also write int8 copies (dynamic quantisation).")
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete.")
@step_main
def main(
    model_dir: Path,
    out_dir: Path,
    chunk_ms: int,
    layout: str,
    avg: int,
    lang_dir: Path | None,
    fbank_conf: Path,
    int8: bool,
    force: bool,
) -> None:
    """Export the transducer trained in MODEL_DIR to ONNX graphs in OUT_DIR."""
    require_complete(model_dir, "model")
    lang_dir = training_lang_dir(model_dir, lang_dir)
    fbank = load_dataclass(FbankConf, fbank_conf)
    frames = chunk_frames_of(chunk_ms, fbank)
    torch.set_num_threads(1)
    model, tokenizer, num_features = load_model(model_dir, lang_dir, avg)
    if num_features != fbank.num_mel_bins:
        raise FairstreamError(
            f"the model takes {num_features}-dim features, {fbank_conf} makes {fbank.num_mel_bins}"
        )
    cfg = {
        "model_dir": str(model_dir),
        "model_digest": (model_dir / ".done").read_text().strip(),
        "lang_dir": str(lang_dir),
        "avg": avg,
        "chunk_ms": chunk_ms,
        "layout": layout,
        "int8": int8,
        "opset": OPSET,
        "fbank": {k: v for k, v in to_dict(fbank).items() if k != "shard_size"},
    }
    meta = {
        "source": f"fairstream steps.export_onnx of {model_dir} (digest {cfg['model_digest']})",
        "sample_rate": str(fbank.sampling_rate),
        "fbank": f"{fbank.num_mel_bins}-bin log-mel, {1000 * fbank.frame_length:g} ms window, "
        f"{1000 * fbank.frame_shift:g} ms shift, dither {fbank.dither:g}; Kaldi defaults otherwise "
        "(povey window, preemphasis 0.97, 20 Hz to Nyquist - 400 Hz, samples in [-1, 1])",
        "chunk_ms": str(chunk_ms),
    }
    with stage_output(out_dir, cfg, force) as out:
        tokens = [tokenizer.piece(i) for i in range(tokenizer.vocab_size)]
        result = export_transducer(model, tokens, out.path, frames, layout, num_features, meta, int8)
        shutil.copyfile(tokenizer.path, out / "bpe.model")
        write_json_atomic(out / "export.json", result)
        log.info(
            "%s layout, %d state tensors, graphs within %.1e of torch",
            result["layout"], result["states"], result["max_abs_diff"],
        )  # fmt: skip


if __name__ == "__main__":
    main()
