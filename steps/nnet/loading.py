"""A trained transducer from its training directory, for decoding, benchmarks and fine-tuning."""

from __future__ import annotations

import logging
from pathlib import Path

from steps.data.tokenizer import Tokenizer
from steps.utils import FairstreamError, file_digest, read_config

from .checkpoint import LATEST, average_state_dicts, epoch_checkpoints, load_checkpoint
from .task import Task
from .transducer import Transducer

log = logging.getLogger(__name__)


def load_model(
    model_dir: Path, lang_dir: Path, avg: int = 1, task: Task | None = None
) -> tuple[Transducer, Tokenizer, int]:
    """The trained model (optionally averaged over its last ``avg`` epochs) and its tokenizer.

    ``task`` builds the model (default: the single-talker transducer); a checkpoint of another
    task is refused in one line.  So is a BPE model other than the one the model was trained
    with: token ids would silently mean other pieces and the WER would be garbage.  Returns the
    feature dim too.
    """
    task = task or Task()
    bpe = lang_dir / "bpe.model"
    if not bpe.is_file():
        raise FairstreamError(f"BPE model {bpe} does not exist; pass the training run's --lang-dir")
    if avg < 1:
        raise FairstreamError(f"--avg must be >= 1, got {avg}")
    if avg == 1:
        path = model_dir / LATEST
        if not path.is_file():
            raise FairstreamError(f"{path} does not exist; is {model_dir} a training directory?")
        paths = [path]
    else:
        paths = epoch_checkpoints(model_dir)[-avg:]
        if len(paths) < avg:
            raise FairstreamError(
                f"--avg {avg} needs {avg} epoch checkpoints in {model_dir}, found {len(paths)}"
            )
    meta = load_checkpoint(paths[-1])
    for key in ("model", "model_conf", "vocab_size", "bpe_digest"):
        if key not in meta:
            raise FairstreamError(f"checkpoint {paths[-1]} has no {key!r}; not written by train_transducer?")
    digest = file_digest(bpe)
    if meta["bpe_digest"] != digest:
        raise FairstreamError(
            f"{bpe} (digest {digest}) is not the BPE model {model_dir} was trained with "
            f"({meta['bpe_digest']}); pass the training run's --lang-dir"
        )
    tokenizer = Tokenizer(bpe)
    if tokenizer.vocab_size != meta["vocab_size"]:
        raise FairstreamError(f"{bpe} has {tokenizer.vocab_size} pieces, the model {meta['vocab_size']}")
    trained = meta.get("task", "transducer")
    if trained != task.name:
        raise FairstreamError(f"{model_dir} holds a {trained!r} model; this step loads {task.name!r} models")
    where = f"{paths[-1]}: model_conf"
    model: Transducer = task.build_model(dict(meta["model_conf"]), meta["vocab_size"], where=where)
    state = average_state_dicts(paths) if len(paths) > 1 else meta["model"]
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        msg = str(e).splitlines()[0]
        raise FairstreamError(f"checkpoint {paths[-1]} does not fit its model config: {msg[:160]}") from e
    if len(paths) > 1:
        log.info("averaged %s", ", ".join(p.name for p in paths))
    num_features = int(meta["model_conf"].get("encoder_conf", {}).get("num_features", 80))
    return model.eval(), tokenizer, num_features


def training_lang_dir(model_dir: Path, lang_dir: Path | None) -> Path:
    """``lang_dir`` if given, else the BPE directory the model in ``model_dir`` was trained with."""
    if lang_dir is not None:
        return lang_dir
    trained_with = read_config(model_dir).get("lang_dir")
    if not trained_with:
        raise FairstreamError(f"{model_dir}/config.yaml names no lang_dir; pass --lang-dir")
    return Path(trained_with)
