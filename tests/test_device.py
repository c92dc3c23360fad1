"""--device plumbing, checked on the CPU: device choice, the loss backend on CUDA tensors, and
every tensor of a training step and of a decode on the model's device."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from steps.nnet.distributed import DistInfo
from steps.nnet.search import GreedySearch, ModifiedBeamSearch
from steps.nnet.streaming import TransducerDecoder
from steps.nnet.trainer import Trainer
from steps.rnnt.backends import BackendUnavailableError, available_backends, resolve_for, supports_cuda
from steps.tasks import load_train_conf
from steps.utils import FairstreamError
from steps.utils.device import autocast, resolve_device, to_device
from tests.conftest import run_step
from tests.test_transducer import tiny_conf

NO_GPU = not torch.cuda.is_available()


class DeviceLog(TorchFunctionMode):
    """Records the device of every tensor that goes into or comes out of a torch function."""

    def __init__(self) -> None:
        super().__init__()
        self.devices: set[torch.device] = set()

    def _note(self, obj: object) -> None:
        if isinstance(obj, torch.Tensor) and not obj.is_meta:
            self.devices.add(obj.device)
        elif isinstance(obj, (list, tuple)):
            for o in obj:
                self._note(o)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        self._note(args)
        self._note(list(kwargs.values()))
        out = func(*args, **kwargs)
        self._note(out)
        return out


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    if NO_GPU:
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(FairstreamError, match="no CUDA GPU is available"):
            resolve_device("cuda")
    with pytest.raises(FairstreamError, match="unknown device 'gpu'"):
        resolve_device("gpu")


def test_mixed_precision_needs_a_gpu_and_states_move_whole() -> None:
    with autocast(torch.device("cpu"), "fp32"):
        pass
    with pytest.raises(FairstreamError, match="needs a CUDA device"):
        autocast(torch.device("cpu"), "bf16")
    state = {"sub": [torch.zeros(1), torch.ones(2)], "lstm": [(torch.zeros(1), torch.zeros(1))], "n": 3}
    moved = to_device(state, torch.device("cpu"))
    assert moved["n"] == 3 and isinstance(moved["lstm"][0], tuple) and moved["sub"][1].tolist() == [1, 1]


def test_loss_backend_on_cuda_tensors_falls_back_only_when_asked_to_choose() -> None:
    assert supports_cuda("native")
    for name in available_backends():
        if name != "native" and not supports_cuda(name):  # e.g. the CPU build of fast_rnnt here
            gpu_ready = [b for b in available_backends() if supports_cuda(b)]
            assert resolve_for("auto", on_cuda=True) in gpu_ready
            with pytest.raises(BackendUnavailableError, match="without CUDA"):
                resolve_for(name, on_cuda=True)
    assert resolve_for("native", on_cuda=True) == "native"
    assert resolve_for("auto", on_cuda=False) == available_backends()[0]


def test_training_step_and_decode_stay_on_the_model_device(
    tiny_fbank: Path, tiny_lang: Path, tmp_path: Path
) -> None:
    device = resolve_device("auto")
    conf, task = load_train_conf(tiny_conf(tmp_path, steps=2), None)
    trainer = Trainer(conf, task, tiny_fbank, tiny_lang, tmp_path / "m", DistInfo(), device=device)
    batch = next(iter(trainer.loader))
    with DeviceLog() as seen:
        stats = trainer.train_step(batch)
    assert stats is not None and "loss" in stats
    assert seen.devices == {device}, seen.devices
    model = task.build_model(conf.model, trainer.tokenizer.vocab_size).to(device).eval()
    feats, lens = torch.randn(2, 57, 80), torch.tensor([57, 40])  # on the CPU, as loaded from disk
    for search in (GreedySearch(model), ModifiedBeamSearch(model, beam=3)):
        decoder = TransducerDecoder(model, search, chunk_frames=16)
        with DeviceLog() as seen:
            decoder.decode(feats, lens)
        model_side = {d for d in seen.devices if d != torch.device("cpu")}
        assert model_side <= {device} and (device.type == "cpu" or model_side), seen.devices


@pytest.mark.skipif(not NO_GPU, reason="checks the error on a machine without a GPU")
def test_cuda_without_gpu_is_one_line(tiny_fbank: Path, tiny_lang: Path, tmp_path: Path) -> None:
    proc = run_step("steps.train_transducer", tiny_fbank, tmp_path / "m", "--conf", tiny_conf(tmp_path),
                    "--lang-dir", tiny_lang, "--device", "cuda", check=False)  # fmt: skip
    assert proc.returncode == 1 and "no CUDA GPU is available" in proc.stderr
    assert not (tmp_path / "m").exists()


def test_speaker_embedding_runs_on_the_extractors_device() -> None:
    """Embedding extraction (``--device``) feeds the extractor on its own device and returns numpy."""
    from steps.sv.extract import embed_features
    from steps.sv.model import ExtractorConf, TdnnExtractor

    extractor = TdnnExtractor(ExtractorConf(feat_dim=20, embed_dim=8)).eval()
    feats = np.random.default_rng(0).normal(size=(150, 20)).astype(np.float32)
    with torch.no_grad(), DeviceLog() as seen:
        emb = embed_features(extractor, feats, max_frames=100)  # two windows, averaged
    assert isinstance(emb, np.ndarray) and emb.shape == (8,)
    assert seen.devices == {next(extractor.parameters()).device}


def test_speaker_embedder_training_step_stays_on_the_models_device(tiny_fbank: Path, tmp_path: Path) -> None:
    """Every tensor of an ARW training step (extractor, heads, pair loss, adversary, cluster
    assignment) is on the trainer's device; the embedding memory and its k-means stay on the CPU."""
    from steps.data.manifests import load_cuts
    from steps.sv.data import FeatureBank
    from steps.sv.train import SvTrainConf, SvTrainer
    from steps.utils.config import from_dict
    from tests.test_sv_pipeline import _conf

    bank = FeatureBank(load_cuts(tiny_fbank, "train"), 20)
    device = resolve_device("auto")
    conf = from_dict(SvTrainConf, _conf("pairwise_sum", am_fraction=0.0))  # pairs from the first step
    trainer = SvTrainer(conf, bank, tmp_path, device=device)
    trainer.clusters.update(torch.arange(len(bank)), torch.randn(len(bank), trainer.clusters.memory.shape[1]))
    trainer.clusters.refit()
    with DeviceLog() as seen:
        stats = trainer.train_step()
    assert stats is not None and "pair_loss" in stats
    assert seen.devices == {device}
