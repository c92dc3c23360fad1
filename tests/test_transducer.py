"""Model, registry and trainer: streaming equivalence, resume after kill, bad input, DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from steps.nnet.checkpoint import LATEST, load_checkpoint
from steps.nnet.encoders.registry import ENCODERS, build_encoder
from steps.nnet.trainer import TrainConf, loss_scales, lr_factor, param_groups
from steps.utils import FairstreamError
from steps.utils.stage import partial_dir
from tests.conftest import REPO, run_step, stream_all

TINY_TRAIN = """
model:
  encoder: lstm
  encoder_conf: {{hidden_dim: 64, num_layers: 1, output_dim: 64, subsampling_channels: 8}}
  predictor_dim: 64
  joiner_dim: 64
data: {{max_duration: 30, num_buckets: 2}}
max_steps: {steps}
warmup_steps: 5
loss_warmup_steps: 5
checkpoint_every: {every}
seed: 1
"""


def tiny_conf(tmp_path: Path, steps: int = 6, every: int = 2, name: str = "train.yaml") -> Path:
    p = tmp_path / name
    p.write_text(TINY_TRAIN.format(steps=steps, every=every))
    return p


@pytest.mark.parametrize("name", sorted(ENCODERS))
@pytest.mark.parametrize("chunk", [1, 4, 7, 32])
def test_streaming_equals_full_forward(name: str, chunk: int) -> None:
    torch.manual_seed(0)
    enc = build_encoder(name, {"num_features": 20, "hidden_dim": 32, "output_dim": 24}).eval()
    x = torch.randn(2, 53, 20)
    with torch.no_grad():
        full, lens = enc(x, torch.tensor([53, 53]))
        state, outs = enc.init_state(2), []
        for i in range(0, 53, chunk):
            y, state = enc.stream(x[:, i : i + chunk], state)
            outs.append(y)
        outs.append(enc.flush(state))
    streamed = torch.cat(outs, dim=1)
    assert streamed.shape == full.shape and int(lens[0]) == full.shape[1]
    torch.testing.assert_close(streamed, full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(ENCODERS))
@pytest.mark.parametrize("chunk", [1, 5, 8, 32])
def test_x8_subsampling_streams_and_halves_the_frame_rate(name: str, chunk: int) -> None:
    torch.manual_seed(0)
    conf = {"num_features": 20, "hidden_dim": 32, "output_dim": 24, "subsampling_factor": 8}
    enc = build_encoder(name, conf).eval()
    x = torch.randn(2, 61, 20)
    with torch.no_grad():
        full, lens = enc(x, torch.tensor([61, 40]))
        streamed = stream_all(enc, x, chunk)
    assert enc.subsampling == 8 and lens.tolist() == [8, 5] and full.shape[1] == 8  # ceil(T / 8)
    torch.testing.assert_close(streamed[0], full[0], atol=1e-5, rtol=1e-5)  # streaming equals offline
    torch.testing.assert_close(streamed[1, :5], full[1, :5], atol=1e-5, rtol=1e-5)  # (row 1: 5 real frames)
    x2, x3 = x.clone(), x.clone()
    x2[:, 40:] += 1.0  # input frames 40.. may change output frames 5.. only (frame t sees up to 8t + 7)
    x3[:, 39] += 1.0  # ... and the last frame streaming waits for before emitting frame 4 is used
    with torch.no_grad():
        changed, _ = enc(x2, torch.tensor([61, 40]))
        looked, _ = enc(x3, torch.tensor([61, 40]))
    torch.testing.assert_close(changed[0, :5], full[0, :5], atol=1e-6, rtol=1e-5)  # causal
    assert (changed[0, 5:] - full[0, 5:]).abs().max() > 1e-3
    assert (looked[0, 4] - full[0, 4]).abs().max() > 1e-4


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_encoder_is_causal(name: str) -> None:
    torch.manual_seed(0)
    enc = build_encoder(name, {"num_features": 20, "hidden_dim": 32, "output_dim": 24}).eval()
    x = torch.randn(1, 64, 20)
    y = x.clone()
    y[:, 40:] = torch.randn(1, 24, 20)  # change the future only
    with torch.no_grad():
        a, _ = enc(x, torch.tensor([64]))
        b, _ = enc(y, torch.tensor([64]))
    # output frame t sees input frames < 4(t+1): frames 0..9 only see inputs 0..39
    torch.testing.assert_close(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_registry_errors_are_one_line() -> None:
    with pytest.raises(FairstreamError, match="unknown encoder 'gru'; registered: .*lstm"):
        build_encoder("gru", {})
    with pytest.raises(
        FairstreamError, match="encoder 'lstm' does not accept hiden_dim; it takes: .*hidden_dim"
    ):
        build_encoder("lstm", {"hiden_dim": 3})


def test_schedules() -> None:
    c = TrainConf(max_steps=100, warmup_steps=10, loss_warmup_steps=20, simple_loss_scale=0.5)
    assert lr_factor(0, c) == pytest.approx(0.1) and lr_factor(9, c) == pytest.approx(1.0)
    assert lr_factor(100, c) == pytest.approx(c.final_lr_fraction)
    assert loss_scales(0, c) == (1.0, pytest.approx(0.1)) and loss_scales(20, c) == (0.5, pytest.approx(1.0))
    mid = (c.warmup_steps + c.max_steps) // 2
    assert lr_factor(mid, c) == pytest.approx(0.5 * (1 + c.final_lr_fraction), abs=0.02)  # cosine
    wsd = TrainConf(max_steps=100, warmup_steps=10, decay_fraction=0.4, final_lr_fraction=0.1)
    assert [lr_factor(s, wsd) for s in (10, 40, 64)] == [1.0, 1.0, 1.0]  # stable until the last 40%
    assert lr_factor(82, wsd) == pytest.approx(0.55, abs=0.02) and lr_factor(100, wsd) == pytest.approx(0.1)


def test_lr_scale_groups_parameters_by_prefix() -> None:
    """Every parameter lands in exactly one group; a scaled group's rate follows the schedule."""
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))  # names 0.*, 1.*
    groups = param_groups(model, 1e-3, {"1.": 100.0})
    assert [g["lr"] for g in groups] == [1e-3, pytest.approx(0.1)]
    assert [len(g["params"]) for g in groups] == [2, 2]
    assert {id(p) for g in groups for p in g["params"]} == {id(p) for p in model.parameters()}
    opt = torch.optim.AdamW(groups, lr=1e-3)
    c = TrainConf(max_steps=100, warmup_steps=10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, c))
    assert sched.get_last_lr() == [pytest.approx(1e-4), pytest.approx(1e-2)]  # both at 10% in warm-up
    assert len(param_groups(model, 1e-3, {})) == 1
    with pytest.raises(FairstreamError, match="no parameters start with 'cohort.'"):
        param_groups(model, 1e-3, {"cohort.": 10.0})


def test_training_loss_falls_and_is_deterministic(tiny_fbank: Path, tiny_lang: Path, tmp_path: Path) -> None:
    conf = tiny_conf(tmp_path, steps=4, every=100)
    run_step("steps.train_transducer", tiny_fbank, tmp_path / "a", "--conf", conf, "--lang-dir", tiny_lang)
    run_step("steps.train_transducer", tiny_fbank, tmp_path / "b", "--conf", conf, "--lang-dir", tiny_lang)
    a = load_checkpoint(tmp_path / "a" / LATEST)["model"]
    b = load_checkpoint(tmp_path / "b" / LATEST)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # same seed, same first steps
    info = json.loads((tmp_path / "a" / "model_info.json").read_text())
    assert info["steps"] == 4 and info["encoder"] == "lstm" and info["encoder_flops_per_second"] > 1e5
    assert info["parameters"] > info["encoder_parameters"] > 0
    proc = run_step(
        "steps.train_transducer", tiny_fbank, tmp_path / "a", "--conf", conf, "--lang-dir", tiny_lang
    )
    assert "nothing to do" in proc.stderr
    other = tiny_conf(tmp_path, steps=5, every=100, name="other.yaml")
    proc = run_step(
        "steps.train_transducer",
        tiny_fbank,
        tmp_path / "a",
        "--conf",
        other,
        "--lang-dir",
        tiny_lang,
        check=False,
    )
    assert proc.returncode == 1 and "different config" in proc.stderr


def test_kill_9_then_resume_from_checkpoint(tiny_fbank: Path, tiny_lang: Path, tmp_path: Path) -> None:
    conf = tiny_conf(tmp_path, steps=16, every=2)
    out = tmp_path / "exp"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "steps.train_transducer",
        str(tiny_fbank),
        str(out),
        "--conf",
        str(conf),
        "--lang-dir",
        str(tiny_lang),
    ]
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    latest = partial_dir(out) / LATEST
    deadline = time.time() + 120
    while time.time() < deadline:
        if latest.exists():
            try:
                if load_checkpoint(latest)["step"] >= 4:
                    break
            except FairstreamError:
                pass
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(latest)["step"]
    assert 4 <= killed_at < 16 and not out.exists()
    rerun = run_step("steps.train_transducer", tiny_fbank, out, "--conf", conf, "--lang-dir", tiny_lang)
    assert f"resumed from {latest} at step {killed_at}" in rerun.stderr
    assert load_checkpoint(out / LATEST)["step"] == 16


def test_corrupt_checkpoint_is_one_line_never_a_fresh_start(
    tiny_fbank: Path, tiny_lang: Path, tmp_path: Path
) -> None:
    conf = tiny_conf(tmp_path, steps=2)
    out = tmp_path / "exp"
    run_step("steps.train_transducer", tiny_fbank, out, "--conf", conf, "--lang-dir", tiny_lang)
    (out / ".done").unlink()  # as if killed before the end
    (out / LATEST).write_bytes(b"\x00garbage")
    proc = run_step(
        "steps.train_transducer", tiny_fbank, out, "--conf", conf, "--lang-dir", tiny_lang, check=False
    )
    assert proc.returncode == 1
    errors = [x for x in proc.stderr.splitlines() if x.startswith("ERROR")]
    assert len(errors) == 1 and "checkpoint" in errors[0] and "is corrupt" in errors[0]
    assert (partial_dir(out) / LATEST).read_bytes() == b"\x00garbage"  # nothing overwritten


def test_bad_config_key_is_one_line(tiny_fbank: Path, tiny_lang: Path, tmp_path: Path) -> None:
    conf = tmp_path / "bad.yaml"
    conf.write_text(TINY_TRAIN.format(steps=3, every=1).replace("num_layers: 1", "num_layrs: 1"))
    proc = run_step(
        "steps.train_transducer",
        tiny_fbank,
        tmp_path / "x",
        "--conf",
        conf,
        "--lang-dir",
        tiny_lang,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("ERROR: encoder 'lstm' does not accept num_layrs")
    proc = run_step(
        "steps.train_transducer",
        tiny_fbank,
        tmp_path / "y",
        "--conf",
        conf,
        "--lang-dir",
        tmp_path / "nolang",
        check=False,
    )
    assert proc.returncode == 1 and "lang directory" in proc.stderr


def test_distributed_two_cpu_processes(tiny_fbank: Path, tiny_lang: Path, tmp_path: Path) -> None:
    conf = tiny_conf(tmp_path, steps=3, every=100)
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    proc = subprocess.run(
        [
            *torchrun,
            "-m",
            "steps.train_transducer",
            str(tiny_fbank),
            str(out),
            "--conf",
            str(conf),
            "--lang-dir",
            str(tiny_lang),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = (out / "train_stats.json").read_text()
    assert '"world_size": 2' in stats and '"steps": 3' in stats


def test_ctc_head_matches_brute_force_alignment_sum() -> None:
    """The auxiliary CTC loss is -log of the summed probability of every frame labelling that
    collapses to the target (enumerated here over blank and the target token)."""
    import itertools

    from steps.nnet.transducer import ModelConf, Transducer

    torch.manual_seed(0)
    conf = ModelConf(
        encoder="lstm",
        encoder_conf={"hidden_dim": 16, "num_layers": 1, "output_dim": 16, "subsampling_channels": 4},
        predictor_dim=16,
        joiner_dim=16,
        ctc_head=True,
    )
    model = Transducer.from_conf(conf, vocab_size=12, num_features=20).eval()
    x = torch.randn(1, 20, 20)
    enc, enc_lens = model.encoder(x, torch.tensor([20]))
    loss = model.ctc_loss(enc, enc_lens, [[5, 5]])
    logp = model.ctc_proj(enc[0]).log_softmax(-1)
    paths = []
    for labels in itertools.product([0, 5], repeat=int(enc_lens[0])):
        collapsed = [k for i, k in enumerate(labels) if k != 0 and (i == 0 or labels[i - 1] != k)]
        if collapsed == [5, 5]:
            paths.append(sum(logp[t, k] for t, k in enumerate(labels)))
    torch.testing.assert_close(loss, -torch.logsumexp(torch.stack(paths), 0))
    # with the head, the forward pass returns the CTC loss too, and it reaches the encoder
    out = model(x, torch.tensor([20]), [[5, 5]], with_ctc=True)
    out[3].backward()
    assert len(out) == 4 and model.encoder.proj.weight.grad.abs().sum() > 0


def test_ctc_scale_without_head_is_one_line(tiny_fbank: Path, tiny_lang: Path, tmp_path: Path) -> None:
    conf = tmp_path / "ctc.yaml"
    conf.write_text(TINY_TRAIN.format(steps=3, every=1) + "ctc_scale: 0.5\n")
    proc = run_step(
        "steps.train_transducer", tiny_fbank, tmp_path / "x", "--conf", conf, "--lang-dir", tiny_lang,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 1 and "needs a CTC head" in proc.stderr.strip().splitlines()[-1]


OVERFIT_TRAIN = """
model:
  encoder: lstm
  encoder_conf: {hidden_dim: 256, num_layers: 2, output_dim: 256, subsampling_channels: 64, dropout: 0.0}
  predictor_dim: 256
  joiner_dim: 256
data: {max_duration: 40, num_buckets: 2, spec_augment: {}}
max_steps: 600
lr: 0.003
final_lr_fraction: 0.02
warmup_steps: 40
loss_warmup_steps: 40
checkpoint_every: 1000
valid_every: 300
valid_split: train
valid_cuts: 48
seed: 3
"""


def test_lstm_overfits_a_few_dozen_utterances(tiny_fbank: Path, tiny_lang: Path, tmp_path: Path) -> None:
    """The pipeline's sanity check: with augmentation and dropout off, the LSTM transducer learns
    its 64 training utterances by heart within a few hundred updates.  A bug in features,
    targets, loss, search or scoring keeps the WER near 100%.  Measured (seed 3, AMD, one thread,
    2.4 core-minutes): greedy WER on 48 of them 67.2% at update 300 and 17.4% at update 600; the
    remaining errors are tails the model is not yet sure of (its best alignment has
    log-probability about -19 on such a cut), and the WER keeps falling (about 10% by update 1000
    with a constant rate)."""
    from steps.nnet.validation import VALID_LOG, read_valid_log

    conf = tmp_path / "overfit.yaml"
    conf.write_text(OVERFIT_TRAIN)
    env_threads = os.environ.get("FAIRSTREAM_THREADS")
    os.environ["FAIRSTREAM_THREADS"] = "1"
    try:
        run_step("steps.train_transducer", tiny_fbank, tmp_path / "m", "--conf", conf, "--lang-dir",
                 tiny_lang)  # fmt: skip
    finally:
        if env_threads is None:
            os.environ.pop("FAIRSTREAM_THREADS")
        else:
            os.environ["FAIRSTREAM_THREADS"] = env_threads
    records = read_valid_log(tmp_path / "m" / VALID_LOG)
    assert [r["step"] for r in records] == [300, 600]
    first, last = records
    assert last["cuts"] == 48 and last["ref_words"] > 200
    assert last["loss"] < first["loss"]
    assert last["wer"] < 30.0 and last["wer"] < 0.5 * first["wer"], records  # learning them by heart
    assert last["core_minutes"] > 0 and last["audio_seconds"] > 0
