"""The multi-talker task: the separator-transducer-segmenter trained on mixed sessions.

Per session the targets are one ``<sot> w... <eot>`` token sequence per output channel (turns
assigned to channels by start time, :mod:`steps.multitalker.targets`) and the reference frames
of the turn tokens, which the latency penalty compares the emissions with.  With
``turn_tokens: false`` the same model and channel assignment learn the words alone: the
multi-turn RNN-T baseline (MT-RNN-T) of Sklyar et al., whose turns the decoder finds from
pauses in the emitted tokens (steps/decode_sessions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from steps.data.tokenizer import Tokenizer
from steps.nnet.task import Prepared, Task, pruned_loss_options
from steps.utils import FairstreamError
from steps.utils.config import from_dict

from .model import SeparatorConf, SeparatorTransducer, token_ref_frames
from .targets import cut_targets


@dataclass
class MultitalkerOptions:
    """The ``task_conf:`` block of ``task: multitalker``."""

    latency_weight: float = 0.0  # nats per encoder frame a <sot>/<eot> is emitted after its reference
    turn_tokens: bool = True  # false: no <sot>/<eot> in the targets (MT-RNN-T)

    def __post_init__(self) -> None:
        if self.latency_weight > 0 and not self.turn_tokens:
            raise FairstreamError("latency_weight > 0 needs turn tokens: set it to 0 with turn_tokens: false")


class MultitalkerTask(Task):
    name: ClassVar[str] = "multitalker"
    manifest: ClassVar[str] = "sessions"  # IN_DIR/sessions_train.jsonl.gz (local/make_sessions.py)
    validates: ClassVar[bool] = False  # the dev WER of validation is single-talker
    options_class: ClassVar[type] = MultitalkerOptions

    def model_conf(self, model: dict[str, Any], where: str = "model") -> Any:
        return from_dict(SeparatorConf, model, where=where)

    def build_model(
        self, model: dict[str, Any], vocab_size: int, num_features: int = 80, where: str = "model"
    ) -> nn.Module:
        return SeparatorTransducer(self.model_conf(model, where), vocab_size, num_features)

    def prepare(self, batch: dict, model: nn.Module, tokenizer: Tokenizer) -> Prepared:
        """Each session's features and, per channel, its token targets and turn-token frames."""
        x, sup = batch["inputs"], batch["supervisions"]
        row_cut: dict[int, Any] = {}
        for i, c in zip(sup["sequence_idx"].tolist(), sup["cut"], strict=True):
            row_cut.setdefault(i, c)
        cuts = [row_cut[i] for i in range(x.size(0))]
        lens = [min(c.num_frames, x.size(1)) for c in cuts]
        x_lens = torch.tensor(lens, dtype=torch.int64)
        turn_tokens = self.options.turn_tokens
        tg = [cut_targets(c, tokenizer, num_feature_frames=n, turn_tokens=turn_tokens)
              for c, n in zip(cuts, lens, strict=True)]  # fmt: skip
        channels = range(model.num_channels)
        ys = [[t.channels[ch].tokens for t in tg] for ch in channels]
        refs = None
        if turn_tokens:
            refs = [
                [token_ref_frames(c.tokens, c.sot_frames, c.eot_frames) for c in (t.channels[ch] for t in tg)]
                for ch in channels
            ]
        return x[:, : int(x_lens.max())], x_lens, (ys, refs), 0

    def loss_kwargs(self, conf: Any) -> dict[str, Any]:
        return {**pruned_loss_options(conf), "latency_weight": self.options.latency_weight}
