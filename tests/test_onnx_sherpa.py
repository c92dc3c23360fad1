"""sherpa-onnx decodes our exports (its ``lstm`` model type) to the tokens our torch streaming
decoder finds on the same audio, and our fbank settings are the features sherpa-onnx computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from steps.data.features import FbankConf, _extractor
from steps.deploy import sherpa
from steps.deploy.export import export_transducer
from steps.deploy.features import knf_fbank
from steps.nnet.search import GreedySearch
from steps.nnet.streaming import TransducerDecoder
from tests.onnx_models import SR, speechlike, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")

CHUNK = 32
TAIL = sherpa.tail(SR)  # the silence sherpa.decode feeds after the end, so the last chunk fills


def sherpa_tokens(d: Path, audio: np.ndarray) -> list[str]:
    return list(sherpa.decode(sherpa.recognizer(d, SR), audio, SR).tokens)


@pytest.mark.parametrize("encoder", ["lstm", "convrnnt", "contextnet"])
def test_sherpa_onnx_decodes_like_torch(encoder: str, tmp_path: Path) -> None:
    model = tiny_model(encoder, seed=5)
    names = ["<blk>", "<sot>", "<eot>", "<unk>", *(f"t{i}" for i in range(4, model.vocab_size))]
    result = export_transducer(model, names, tmp_path, CHUNK, "sherpa", int8=False)
    assert result["encoder_meta"]["model_type"] == "lstm"
    for seed, seconds in enumerate((1.1, 1.73, 2.4)):
        audio = speechlike(seconds, seed)
        # what sherpa-onnx sees: kaldi-native-fbank of audio + tail, run while more than a chunk is left
        feats = torch.from_numpy(knf_fbank(np.concatenate([audio, TAIL]), FbankConf()))
        processed = (feats.size(0) - 1) // CHUNK * CHUNK
        assert processed >= knf_fbank(audio, FbankConf()).shape[0]  # every frame of the audio itself
        # sherpa-onnx's greedy search: one token per frame at most (<unk> as blank: the model never says it)
        ref = TransducerDecoder(model, GreedySearch(model, max_sym_per_frame=1), CHUNK).decode(
            feats[None, :processed], torch.tensor([processed])
        )
        want = [names[t] for t in ref.hyps[0].tokens(2)]
        assert len(want) > 5
        assert sherpa_tokens(tmp_path, audio) == want


def test_lhotse_fbank_matches_kaldi_native_fbank() -> None:
    """conf/fbank.yaml through lhotse and through kaldi-native-fbank with sherpa-onnx's settings:
    the same numbers up to float32 rounding.  A log-mel difference of 1e-3 is 0.1% of a band's
    energy; the measured maximum (5.9e-5 here) is far below it, digital silence included."""
    conf = FbankConf()
    audio = np.concatenate([speechlike(2.3, 11), np.zeros(4000, np.float32), speechlike(0.6, 12) * 5])
    ours = _extractor(conf).extract(audio, SR)
    theirs = knf_fbank(audio, conf)
    assert ours.shape == theirs.shape == (round(audio.size / 160), 80)
    diff = float(np.abs(ours - theirs).max())
    print(f"max |lhotse - kaldi-native-fbank| = {diff:.2e}")
    assert diff < 1e-3
