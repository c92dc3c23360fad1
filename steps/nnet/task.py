"""Tasks: what a training config's ``task:`` names, so that the trainer never names one.

A task is one object holding everything that differs between kinds of training: its options
(the config's ``task_conf:`` block), the training manifest it reads, how it builds its model
from the ``model:`` block, how it turns a batch into the model's inputs and targets, and the
keyword arguments of its loss.  The trainer, checkpoint loading and validation take a task
object; the name -> task table lives above the libraries (``steps/tasks.py``), so that this
package never imports a task built on top of it (the multi-talker separator).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from steps.data.tokenizer import Tokenizer
from steps.utils.config import from_dict

from .cohort_input import cohort_rows
from .streaming import encoder_output_lengths
from .transducer import ModelConf, Transducer

# (features (B, T, F), lengths (B,), the loss's positional targets, utterances skipped)
Prepared = tuple[Tensor | None, Tensor | None, tuple, int]


def pruned_loss_options(conf: Any) -> dict[str, Any]:
    """The pruned RNN-T loss options of a training config (a TrainConf) every task's model takes."""
    return {
        "prune_range": conf.prune_range,
        "am_scale": conf.am_scale,
        "lm_scale": conf.lm_scale,
        "loss_backend": conf.loss_backend,
    }


@dataclass
class NoOptions:
    """A task without options of its own (an empty ``task_conf:``)."""


class Task:
    """The single-talker transducer: one BPE target per utterance of ``cuts_train``."""

    name: ClassVar[str] = "transducer"
    manifest: ClassVar[str] = "cuts"  # IN_DIR/<manifest>_train.jsonl.gz
    validates: ClassVar[bool] = True  # greedy-WER validation on dev cuts applies
    options_class: ClassVar[type] = NoOptions

    def __init__(self, options: dict[str, Any] | None = None, where: str = "task_conf") -> None:
        self.options = from_dict(self.options_class, dict(options or {}), where=where)

    def model_conf(self, model: dict[str, Any], where: str = "model") -> Any:
        """The typed ``model:`` block; unknown keys fail in one line."""
        return from_dict(ModelConf, model, where=where)

    def build_model(
        self, model: dict[str, Any], vocab_size: int, num_features: int = 80, where: str = "model"
    ) -> nn.Module:
        return Transducer.from_conf(self.model_conf(model, where), vocab_size, num_features)

    def prepare(self, batch: dict, model: nn.Module, tokenizer: Tokenizer) -> Prepared:
        """Features, lengths and token targets; utterances with more tokens than encoder frames
        cannot be aligned and are dropped (counted)."""
        x = batch["inputs"]
        sup = batch["supervisions"]
        x_lens = sup["num_frames"].to(torch.int64)
        cuts = sup["cut"]
        ys = [tokenizer.encode(t, where=f"train/{c.id}") for t, c in zip(sup["text"], cuts, strict=True)]
        sub_lens = encoder_output_lengths(model.encoder, x_lens)
        keep = [i for i, y in enumerate(ys) if len(y) <= int(sub_lens[i])]
        skipped = len(ys) - len(keep)
        if skipped:
            if not keep:
                return None, None, (), skipped
            idx = torch.tensor(keep)
            seq = sup["sequence_idx"][idx]
            x, x_lens = x[seq], x_lens[idx]
            ys = [ys[i] for i in keep]
            cuts = [cuts[i] for i in keep]
        else:
            x = x[sup["sequence_idx"]]
        cohort = getattr(model, "cohort", None)
        if cohort is not None:  # the cohort input (steps/nnet/cohort_input.py) joins the features
            x = cohort(x, cohort_rows(cuts, cohort.num_cohorts))
        return x[:, : int(x_lens.max())], x_lens, (ys,), skipped

    def loss_kwargs(self, conf: Any) -> dict[str, Any]:
        """The loss options of the training config ``conf`` (a TrainConf) this task's model takes."""
        return {**pruned_loss_options(conf), "with_ctc": conf.ctc_scale > 0}
