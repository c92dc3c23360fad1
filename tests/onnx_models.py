"""Tiny random transducers, generated audio, and finished model / feature directories made without
training, for the deployment tests (they run in seconds, unlike the demo-corpus fixtures)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import yaml
from lhotse import CutSet, LilcomChunkyWriter, MonoCut, Recording, SupervisionSegment
from lhotse.features.base import Features

from steps.data.features import FbankConf, _extractor
from steps.data.tokenizer import LangConf, Tokenizer, train_bpe
from steps.nnet.checkpoint import LATEST, save_checkpoint
from steps.nnet.transducer import ModelConf, Transducer
from steps.utils import file_digest

SR = 16000
# each encoder at its smallest, subsampling x4 (chunks of 32 frames fit every one of them)
TINY = {
    "lstm": {"hidden_dim": 32, "num_layers": 2, "output_dim": 32},
    "convrnnt": {"hidden_dim": 32, "num_layers": 1, "output_dim": 32, "num_local_blocks": 1,
                 "num_global_blocks": 1},
    "contextnet": {"hidden_dim": 32, "num_blocks": 2, "layers_per_block": 2, "output_dim": 32},
    "conformer": {"hidden_dim": 32, "num_layers": 2, "num_heads": 2, "chunk_size": 2, "left_chunks": 2,
                  "kernel_size": 5, "output_dim": 32},
}  # fmt: skip
WORDS = "set a timer for ten minutes play some jazz turn on the lights call mum what is the weather".split()


def tiny_conf(encoder: str, subsampling: int = 4) -> ModelConf:
    enc = {**TINY[encoder], "subsampling_channels": 8, "dropout": 0.0, "subsampling_factor": subsampling}
    return ModelConf(encoder=encoder, encoder_conf=enc, predictor_dim=32, joiner_dim=32)


def babble(model: Transducer, seed: int, unk_id: int = 3) -> Transducer:
    """A random model that emits a mix of tokens and blanks with clear winners (no near-ties for
    float rounding to flip) and never ``<unk>`` (sherpa-onnx reads an emitted ``<unk>`` as blank)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        out = model.joiner.out
        out.weight.copy_(torch.randn(out.weight.shape, generator=g) * 6 / out.weight.size(1) ** 0.5)
        out.weight[model.blank_id] = 0.0  # blank: a constant logit the others beat now and then
        out.bias.zero_()
        out.bias[unk_id] -= 30.0
    return model.eval()


def tiny_model(encoder: str, vocab: int = 24, seed: int = 0, subsampling: int = 4) -> Transducer:
    """A random model whose feature normalisation expects log-mel values (about -8 +- 3)."""
    torch.manual_seed(seed)
    model = Transducer.from_conf(tiny_conf(encoder, subsampling), vocab, 80)
    model.encoder.subsample.set_feature_stats(torch.full((80,), -8.0), torch.full((80,), 3.0))
    with torch.no_grad():  # encoder frames at unit scale, so that every encoder type moves the joiner
        x = torch.randn(1, 200, 80, generator=torch.Generator().manual_seed(seed)) * 3 - 8
        enc, _ = model.eval().encoder(x, torch.tensor([200]))
        model.joiner.enc_proj.weight.div_(float(enc.std()))
        babble(model, seed)
        # blank's constant logit at the median of the best other token's: blank wins about half the time
        pred = model.joiner.pred_proj(model.predictor(torch.zeros(1, 2, dtype=torch.int64)))
        logits = model.joiner(model.encoder(x, torch.tensor([200]))[0], pred)
        model.joiner.out.bias[model.blank_id] = logits[0, :, 1:].max(-1).values.median()
    return model


def speechlike(seconds: float, seed: int) -> np.ndarray:
    """A voiced-sounding signal: harmonics of a wandering f0, syllable-rate envelope, a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = rng.uniform(90, 220) * (1 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 25)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2
    return (0.1 * x / np.abs(x).max() + 0.003 * rng.standard_normal(t.size)).astype(np.float32)


def fake_lang(out: Path) -> Path:
    """A BPE model (with our special ids) trained on a few command sentences."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    text = [" ".join(rng.choice(WORDS, size=6)) for _ in range(200)]
    train_bpe(text, out, LangConf(vocab_size=40))
    return out


def fake_model_dir(out: Path, encoder: str, lang: Path) -> Path:
    """A finished training directory (checkpoint, config, .done) of a tiny babbling model."""
    tok = Tokenizer(lang / "bpe.model")
    model = tiny_model(encoder, tok.vocab_size)
    conf = tiny_conf(encoder)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "model": model.state_dict(),
        "model_conf": dataclasses.asdict(conf),
        "vocab_size": tok.vocab_size,
        "bpe_digest": file_digest(lang / "bpe.model"),
        "task": "transducer",
    }
    save_checkpoint(out / LATEST, meta)
    (out / "config.yaml").write_text(yaml.safe_dump({"lang_dir": str(lang)}))
    (out / ".done").write_text("tiny\n")
    return out


def fake_fbank_dir(out: Path, num_cuts: int = 4, split: str = "test") -> Path:
    """A finished feature directory: generated audio with lhotse fbank (conf/fbank.yaml's settings)."""
    import soundfile as sf

    out.mkdir(parents=True, exist_ok=True)
    extractor = _extractor(FbankConf())
    rng = np.random.default_rng(1)
    cuts = []
    with LilcomChunkyWriter(out / f"feats_{split}.lca") as writer:
        for i in range(num_cuts):
            audio = speechlike(0.8 + 0.37 * i, seed=i)
            wav = out / f"utt{i}.wav"
            sf.write(wav, audio, SR)
            rec = Recording.from_file(wav, recording_id=f"utt{i}")
            text = " ".join(rng.choice(WORDS, size=4)).upper()
            sup = SupervisionSegment(
                f"utt{i}", f"utt{i}", 0.0, rec.duration, text=text, speaker=f"spk{i % 2}"
            )
            feats = extractor.extract(audio, SR)
            key = writer.write(f"utt{i}", feats)
            cut = MonoCut(f"utt{i}", 0.0, rec.duration, 0, recording=rec, supervisions=[sup])
            cut.features = Features(
                type=extractor.name, num_frames=feats.shape[0], num_features=feats.shape[1],
                frame_shift=extractor.frame_shift, sampling_rate=SR, start=0.0, duration=rec.duration,
                storage_type=writer.name, storage_path=str(out / f"feats_{split}.lca"), storage_key=key,
            )  # fmt: skip
            cuts.append(cut)
    CutSet.from_cuts(cuts).to_file(out / f"cuts_{split}.jsonl.gz")
    (out / ".done").write_text("tiny\n")
    return out
