"""Separator-transducer-segmenter: latency penalty, penalised pruned loss, streaming, training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from lhotse import CutSet, load_manifest

from local.make_sessions import render_split
from local.session_plan import TRAIN_CONF, build_sessions
from steps.data.features import FbankConf
from steps.data.tokenizer import Tokenizer
from steps.multitalker.model import SeparatorConf, SeparatorTransducer, token_ref_frames, turn_latency_penalty
from steps.multitalker.targets import EOT_ID, SOT_ID, cut_targets
from steps.multitalker.turns import Turn
from steps.nnet.streaming import load_features
from steps.utils import StageDir

TINY = {"hidden_dim": 24, "num_layers": 1, "output_dim": 24, "subsampling_channels": 4}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model(vocab: int = 12, seed: int = 0, **kw: object) -> SeparatorTransducer:
    torch.manual_seed(seed)
    conf = SeparatorConf("lstm", dict(TINY), predictor_dim=16, joiner_dim=16, dropout=0.0)
    for k, v in kw.items():
        setattr(conf, k, v)
    return SeparatorTransducer(conf, vocab, num_features=20).eval()


def test_turn_latency_penalty_by_hand() -> None:
    symbols = torch.tensor([[SOT_ID, 5, EOT_ID]])
    ref = torch.tensor([[1, -1, 3]])
    pen = turn_latency_penalty(symbols, ref, num_frames=5, weight=0.5)
    assert pen.shape == (1, 3, 6)
    assert pen[0, 0].tolist() == [0, 0, -0.5, -1.0, -1.5, -2.0]  # <sot> due at frame 1
    assert pen[0, 1].tolist() == [0.0] * 6  # word pieces are never penalised
    assert pen[0, 2].tolist() == [0, 0, 0, 0, -0.5, -1.0]  # <eot> due at frame 3


def test_token_ref_frames() -> None:
    toks = [SOT_ID, 7, 8, EOT_ID, SOT_ID, 9, EOT_ID]
    assert token_ref_frames(toks, [0, 10], [4, 12]) == [0, -1, -1, 4, 10, -1, 12]
    with pytest.raises(ValueError):
        token_ref_frames(toks, [0], [4, 12])


def brute_force_loss(logp: torch.Tensor, y: list[int], pen: torch.Tensor) -> torch.Tensor:
    """-log sum over RNN-T alignments of exp(score + penalty of every symbol arc), plain DP.

    ``logp`` (T, S+1, V) log-probs, ``pen`` (S, T+1) added to emitting y[s] at frame t."""
    t_max, s_max = logp.size(0), len(y)
    neg = torch.tensor(-1e30, dtype=logp.dtype)
    alpha = [[neg] * (s_max + 1) for _ in range(t_max)]
    for t in range(t_max):
        for s in range(s_max + 1):
            if t == 0 and s == 0:
                alpha[t][s] = torch.zeros((), dtype=logp.dtype)
                continue
            terms = []
            if t > 0:
                terms.append(alpha[t - 1][s] + logp[t - 1, s, 0])
            if s > 0:
                terms.append(alpha[t][s - 1] + logp[t, s - 1, y[s - 1]] + pen[s - 1, t])
            alpha[t][s] = torch.logsumexp(torch.stack(terms), 0)
    return -(alpha[t_max - 1][s_max] + logp[t_max - 1, s_max, 0])


@pytest.mark.parametrize("weight", [0.0, 0.7])
def test_penalised_pruned_loss_equals_brute_force(weight: float) -> None:
    """With prune_range >= S+1 the pruned lattice is the full one: the penalised loss must equal
    a plain dynamic programme over all alignments with the penalty on turn-token arcs."""
    model = tiny_model(vocab=10).double()
    y = [SOT_ID, 5, 6, EOT_ID]
    refs = [0, -1, -1, 2]
    enc = torch.randn(1, 6, 24, dtype=torch.float64)
    lens = torch.tensor([6])
    pen = model._penalty([y], [refs], 6, weight, enc.device).double()
    _, pruned = model.losses(enc, lens, [y], prune_range=len(y) + 1, loss_backend="native", px_penalty=pen)
    pred = model.predictor(model.predictor.prepend_context(torch.tensor([y])))
    logits = model.joiner(enc.unsqueeze(2), pred.unsqueeze(1))  # (1, T, S+1, V)
    expected = brute_force_loss(logits[0].log_softmax(-1), y, pen[0])
    assert pruned.item() == pytest.approx(expected.item(), rel=1e-6)  # losses() runs in float32
    if weight:
        _, plain = model.losses(enc, lens, [y], prune_range=len(y) + 1, loss_backend="native")
        assert pruned.item() > plain.item()  # late turn tokens cost something


def test_silent_channel_loss_is_the_empty_target_loss() -> None:
    model = tiny_model(vocab=10).double()
    enc = torch.randn(2, 7, 24, dtype=torch.float64)
    lens = torch.tensor([7, 5])
    _, blank = model._blank_losses(enc, lens)
    _, lattice = model.losses(enc, lens, [[], []], prune_range=2, loss_backend="native")
    assert blank.item() == pytest.approx(lattice.item(), rel=1e-6)


def test_channels_have_own_branches_and_shared_upper() -> None:
    model = tiny_model()
    x = torch.randn(2, 40, 20)
    lens = torch.tensor([40, 31])
    (a, b), out_lens = model.encode_channels(x, lens)
    assert a.shape == b.shape == (2, 10, 24) and out_lens.tolist() == [10, 8]
    assert not torch.allclose(a, b)  # separate branches separate the channels
    with torch.no_grad():  # tie the two branches: the channels must then coincide (upper is shared)
        model.branches[1].load_state_dict(model.branches[0].state_dict())
    (a, b), _ = model.encode_channels(x, lens)
    assert torch.allclose(a, b)


@pytest.mark.parametrize("chunk", [4, 13, 40])
def test_streaming_equals_forward(chunk: int) -> None:
    model = tiny_model()
    x = torch.randn(1, 53, 20)
    full, lens = model.encode_channels(x, torch.tensor([53]))
    state = model.init_channel_state(1)
    pieces: list[list[torch.Tensor]] = [[], []]
    with torch.no_grad():
        for i in range(0, 53, chunk):
            outs, state = model.stream_channels(x[:, i : i + chunk], state)
            for c, o in enumerate(outs):
                pieces[c].append(o)
        for c, o in enumerate(model.flush_channels(state)):
            pieces[c].append(o)
    for c in range(2):
        streamed = torch.cat(pieces[c], dim=1)
        assert streamed.shape == full[c][:, : int(lens[0])].shape
        assert torch.allclose(streamed, full[c][:, : int(lens[0])], atol=1e-5)


def test_causality() -> None:
    model = tiny_model()
    x = torch.randn(1, 48, 20)
    y = x.clone()
    y[:, 32:] = torch.randn(1, 16, 20)
    (a0, a1), _ = model.encode_channels(x, torch.tensor([48]))
    (b0, b1), _ = model.encode_channels(y, torch.tensor([48]))
    assert torch.allclose(a0[:, :8], b0[:, :8]) and torch.allclose(a1[:, :8], b1[:, :8])
    assert not torch.allclose(a0[:, 9:], b0[:, 9:])


def test_tiny_sessions_train(tiny_fbank: Path, tiny_lang: Path, tmp_path: Path) -> None:
    """Sessions -> per-channel targets -> losses with the latency penalty; a few updates lower it
    and every part of the separator gets a gradient."""
    tok = Tokenizer(tiny_lang / "bpe.model")
    sources = load_manifest(tiny_fbank / "cuts_train.jsonl.gz").to_eager()
    plans = [c for c in build_sessions(sources, TRAIN_CONF, 5, "train") if len(c.supervisions) >= 2][:4]
    assert plans, "no two-turn training mixtures in the tiny corpus"
    cuts = render_split(StageDir(tmp_path, tmp_path, "-"), "train", plans, TRAIN_CONF, 5, FbankConf())
    targets = [cut_targets(c, tok) for c in cuts]
    ys = [[t.channels[c].tokens for t in targets] for c in range(2)]
    refs = [
        [token_ref_frames(ch.tokens, ch.sot_frames, ch.eot_frames) for ch in (t.channels[c] for t in targets)]
        for c in range(2)
    ]
    assert any(ys[1]), "no overlapping turns reached channel 1"
    x, x_lens = load_features(cuts)
    torch.manual_seed(0)
    conf = SeparatorConf("lstm", dict(TINY), predictor_dim=16, joiner_dim=16, dropout=0.0)
    model = SeparatorTransducer(conf, tok.vocab_size, num_features=x.size(-1)).train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(12):
        simple, pruned, lens = model.multitalker_losses(x, x_lens, ys, refs, latency_weight=0.05)
        loss = (0.5 * simple + pruned) / lens.sum()
        opt.zero_grad()
        loss.backward()
        if step == 0:
            for name in ("branches.0", "branches.1", "upper", "encoder", "joiner", "predictor"):
                grads = [p.grad for n, p in model.named_parameters() if n.startswith(name)]
                assert grads and all(g is not None and torch.isfinite(g).all() for g in grads), name
                assert any(g.abs().sum() > 0 for g in grads), name
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    with pytest.raises(ValueError, match="reference turn frames"):
        model.multitalker_losses(x, x_lens, ys, None, latency_weight=0.1)
    with pytest.raises(ValueError, match="channels"):
        model.multitalker_losses(x, x_lens, ys[:1])


def test_separator_normalises_with_session_statistics(
    tiny_fbank: Path, tiny_lang: Path, tmp_path: Path
) -> None:
    """Started from another model's weights, the separator keeps that model's feature mean / std
    unless ``feature_norm_refresh``: then they come from the training sessions (as stage 10 runs)."""
    from steps.nnet.distributed import DistInfo
    from steps.nnet.normalization import feature_stats
    from steps.nnet.trainer import TrainConf, Trainer
    from steps.tasks import make_task
    from steps.utils import save_manifest_atomic

    sources = load_manifest(tiny_fbank / "cuts_train.jsonl.gz").to_eager()
    plans = build_sessions(sources, TRAIN_CONF, 5, "train")[:6]
    cuts = render_split(StageDir(tmp_path, tmp_path, "-"), "train", plans, TRAIN_CONF, 5, FbankConf())
    save_manifest_atomic(CutSet.from_cuts(cuts), tmp_path / "sessions_train.jsonl.gz")
    model = {"encoder": "lstm", "encoder_conf": dict(TINY), "predictor_dim": 16, "joiner_dim": 16}
    task = make_task("multitalker")
    init = task.build_model(model, Tokenizer(tiny_lang / "bpe.model").vocab_size)
    old = torch.full((80,), -3.0), torch.full((80,), 2.0)
    init.encoder.subsample.set_feature_stats(*old)
    torch.save({"model": init.state_dict()}, tmp_path / "init.pt")
    mean, std = feature_stats(cuts, 6)
    for refresh, want in ((False, old), (True, (mean, std.clamp(min=1e-3)))):
        conf = TrainConf(
            task="multitalker", model=model, init_from=str(tmp_path / "init.pt"), num_threads=1,
            feature_norm_cuts=6, feature_norm_refresh=refresh, data={"max_duration": 40, "num_buckets": 2},
        )  # fmt: skip
        trainer = Trainer(conf, task, tmp_path, tiny_lang, tmp_path / f"run{refresh}", DistInfo())
        sub = trainer.model.encoder.subsample
        assert torch.allclose(sub.feat_mean, want[0]) and torch.allclose(sub.feat_std, want[1]), refresh


def test_one_trainer_trains_the_separator(
    tiny_fbank: Path, tiny_lang: Path, lm_dir: Path, tmp_path: Path
) -> None:
    """``task: multitalker`` through steps.train_transducer: sessions in, a resumable run out."""
    from tests.conftest import run_step

    sessions = tmp_path / "sessions"
    small = tmp_path / "sessions.yaml"  # the tiny dev split has 4 speakers x 3 utterances
    small.write_text("eval:\n  min_duration: 8.0\n  max_duration: 20.0\n  passes: 2\n")
    run_step("local.make_sessions", "--conf", small, "--splits", "train,dev", "--seed", "1", tiny_fbank,
             sessions)  # fmt: skip
    conf = tmp_path / "mt.yaml"
    conf.write_text(
        "task: multitalker\ntask_conf: {latency_weight: 0.05}\n"
        "max_steps: 4\nwarmup_steps: 2\nloss_warmup_steps: 2\n"
        "checkpoint_every: 2\nfeature_norm_cuts: 20\nnum_threads: 1\n"
        "data: {max_duration: 40, num_buckets: 2}\n"
        "model:\n  encoder: lstm\n  encoder_conf: {hidden_dim: 24, num_layers: 1, output_dim: 24}\n"
        "  predictor_dim: 16\n  joiner_dim: 16\n"
    )
    out = tmp_path / "exp"
    run_step("steps.train_transducer", "--conf", conf, "--lang-dir", tiny_lang, sessions, out)
    stats = json.loads((out / "train_stats.json").read_text())
    assert stats["steps"] == 4 and (out / ".done").is_file()
    ck = torch.load(out / "checkpoint-latest.pt", weights_only=False)
    assert any(k.startswith("branches.1.") for k in ck["model"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(conf.read_text().replace("task: multitalker", "task: nonsense"))
    proc = run_step("steps.train_transducer", "--conf", bad, "--lang-dir", tiny_lang, sessions,
                    tmp_path / "x", check=False)  # fmt: skip
    assert proc.returncode != 0 and "unknown task 'nonsense'" in proc.stderr

    # decoding: both channels streamed, turns parsed, labelled by a (random) speaker embedder, scored
    from dataclasses import asdict

    from steps.sv.model import ExtractorConf, TdnnExtractor

    sv = tmp_path / "sv"
    sv.mkdir()
    econf = ExtractorConf(channels=16, pool_channels=32, attention_dim=8, embed_dim=8)
    torch.save({"model_conf": asdict(econf), "model": TdnnExtractor(econf).state_dict()}, sv / "extractor.pt")
    dec = tmp_path / "dec"
    run_step("steps.decode_sessions", "--splits", "dev", "--xvector-model", sv, out, sessions, dec)
    m = json.loads((dec / "metrics.json").read_text())["dev"]
    n_sessions = len(list(load_manifest(sessions / "sessions_dev.jsonl.gz")))
    assert m["sessions"] == n_sessions and m["rtf"] > 0
    assert m["orc_wer"]["words"] > 0 and m["cp_wer"] is not None
    assert m["turn_count"]["sessions"] == n_sessions and 0 <= m["turn_count"]["channel_accuracy"] <= 1
    assert {"der_collar_0", "der_collar_0.25"} <= set(m)
    assert m["der_collar_0.25"]["total"] <= m["der_collar_0"]["total"]  # the collar removes scored time
    turns = json.loads((dec / "turns_dev.json").read_text())
    assert set(turns) == {c.id for c in load_manifest(sessions / "sessions_dev.jsonl.gz")}
    assert (dec / "dev.rttm").is_file() and (dec / "dev_ref.rttm").read_text().startswith("SPEAKER")
    # with the n-gram LM: modified beam search, each turn an LM sentence (a given bonus: no tuning)
    lm_dec = tmp_path / "lm_dec"
    run_step("steps.decode_sessions", "--splits", "dev", "--method", "modified_beam_lm", "--lm", lm_dir,
             "--turn-bonus", "1", out, sessions, lm_dec)  # fmt: skip
    lm_m = json.loads((lm_dec / "metrics.json").read_text())["dev"]
    assert m["search"] == "greedy" and lm_m["search"].startswith("modified beam 16 + LM ")
    assert lm_m["orc_wer"]["words"] == m["orc_wer"]["words"] and lm_m["turns_from"].endswith("bonus 1")
    proc = run_step("steps.decode_sessions", "--lm", lm_dir, "--splits", "dev", out, sessions,
                    tmp_path / "bad_dec", check=False)  # fmt: skip
    assert proc.returncode != 0 and "--lm needs --method modified_beam_lm" in proc.stderr

    # the single-talker baseline over energy-VAD segments, then the stage report with both systems
    single = tmp_path / "single.yaml"
    single.write_text(
        "max_steps: 2\nwarmup_steps: 1\nloss_warmup_steps: 1\ncheckpoint_every: 2\nfeature_norm_cuts: 20\n"
        "num_threads: 1\ndata: {max_duration: 40, num_buckets: 2}\n"
        "model:\n  encoder: lstm\n  encoder_conf: {hidden_dim: 24, num_layers: 1, output_dim: 24}\n"
        "  predictor_dim: 16\n  joiner_dim: 16\n"
    )
    single_dir = tmp_path / "single"
    run_step("steps.train_transducer", "--conf", single, "--lang-dir", tiny_lang, tiny_fbank, single_dir)
    vad_dec = tmp_path / "vad_dec"
    run_step("steps.decode_sessions", "--splits", "dev", "--xvector-model", sv, single_dir, sessions, vad_dec)
    vm = json.loads((vad_dec / "metrics.json").read_text())["dev"]
    assert vm["sessions"] == n_sessions and vm["orc_wer"]["words"] == m["orc_wer"]["words"]
    vad_turns = json.loads((vad_dec / "turns_dev.json").read_text())
    hyp_channels = {t["channel"] for ts in vad_turns.values() for t in ts}
    assert hyp_channels <= {0}
    # MT-RNN-T: the same separator without turn tokens; its turns come from pauses tuned on dev
    mt_conf = tmp_path / "mtrnnt.yaml"
    mt_conf.write_text(conf.read_text().replace("{latency_weight: 0.05}", "{turn_tokens: false}"))
    mt = tmp_path / "mtrnnt"
    run_step("steps.train_transducer", "--conf", mt_conf, "--lang-dir", tiny_lang, sessions, mt)
    mt_dec = tmp_path / "mt_dec"
    run_step("steps.decode_sessions", "--splits", "dev", "--xvector-model", sv, mt, sessions, mt_dec)
    mm = json.loads((mt_dec / "metrics.json").read_text())["dev"]
    assert mm["turns_from"].startswith("pauses >= ") and mm["turns_from"].endswith("s (tuned on dev)")
    assert mm["orc_wer"]["words"] == m["orc_wer"]["words"]
    assert m["turns_from"].startswith("turn tokens, <sot>/<eot> bonus ")
    assert m["turns_from"].endswith("(tuned on dev)")
    proc = run_step("steps.decode_sessions", "--turn-gap", "0.5", "--splits", "dev", out, sessions,
                    tmp_path / "bad_dec", check=False)  # fmt: skip
    assert proc.returncode != 0 and "--turn-gap is for separators trained without turn tokens" in proc.stderr
    proc = run_step("steps.decode_sessions", "--turn-bonus", "1", "--splits", "dev", mt, sessions,
                    tmp_path / "bad_dec", check=False)  # fmt: skip
    assert proc.returncode != 0 and "--turn-bonus is for separators trained with turn tokens" in proc.stderr
    md = tmp_path / "report" / "report.md"
    run_step("steps.report_multitalker", "--split", "dev", "--claims-split", "dev", md, f"septds={dec}",
             f"mtrnnt={mt_dec}", f"single_vad={vad_dec}")  # fmt: skip
    text = md.read_text()
    assert text.startswith("## Multi-talker") and "| septds | dev |" in text
    assert "| single_vad | dev |" in text and "| mtrnnt | dev |" in text and "turns from pauses >= " in text
    assert "(timeline.png)" in text and (md.parent / "timeline.png").stat().st_size > 1000
    verdicts = json.loads((md.parent / "claims.json").read_text())
    assert len(verdicts) == 2 and all(v["ours"] != "–" for v in verdicts)


def test_energy_vad_finds_planted_speech() -> None:
    from steps.multitalker.vad import energy_vad

    rng = np.random.default_rng(0)
    feats = rng.normal(-12.0, 0.3, size=(600, 20))  # 6 s of noise floor
    feats[100:250] += 6.0  # speech 1.0-2.5 s
    feats[262:300] += 6.0  # 0.12-s pause (bridged), speech to 3.0 s
    feats[390:410] += 6.0  # 0.2 s blip, 0.4 s before the next speech (dropped: shorter than min_speech)
    feats[450:560] += 6.0  # speech 4.5-5.6 s
    segs = energy_vad(feats, 0.01, pad=0.0)
    assert [(round(a, 2), round(b, 2)) for a, b in segs] == [(1.0, 3.0), (4.5, 5.6)]
    assert energy_vad(np.zeros((0, 20))) == []


def test_latency_penalty_moves_turn_tokens_earlier() -> None:
    """The penalised lattice puts <sot>/<eot> emission earlier in expectation (occupation
    probabilities = gradients of the total log-prob w.r.t. the symbol arcs)."""
    from steps.rnnt import mutual_information_recursion
    from steps.rnnt.logprobs import get_rnnt_logprobs_joint

    torch.manual_seed(3)
    y = [SOT_ID, 5, 6, EOT_ID]
    symbols = torch.tensor([y])
    t_len = 12
    logits = torch.randn(1, t_len, len(y) + 1, 10, dtype=torch.float64)
    boundary = torch.tensor([[0, 0, len(y), t_len]])
    px, py = get_rnnt_logprobs_joint(logits, symbols, 0, boundary)
    ref = torch.tensor([[1, -1, -1, 4]])
    expected = []
    for weight in (0.0, 0.5):
        pen = turn_latency_penalty(symbols, ref, t_len, weight).double()
        out = mutual_information_recursion(px + pen, py, boundary, return_grad=True, backend="native")
        px_grad = out[1][0]
        t = torch.arange(px_grad.size(-1), dtype=torch.float64)
        assert torch.allclose(px_grad.sum(-1), torch.ones(1, len(y), dtype=torch.float64))  # each symbol once
        expected.append((px_grad[0] * t).sum(-1))  # expected emission frame per symbol
    plain, penalised = expected
    assert penalised[0] < plain[0] - 0.1 and penalised[3] < plain[3] - 0.1


def test_session_shorter_than_a_chunk_decodes() -> None:
    from steps.decode_sessions import decode_session

    model = tiny_model()
    tokens, frames = decode_session(model, torch.randn(9, 20), chunk_frames=32)
    assert len(tokens) == len(frames) == 2
    assert all(len(t) == len(f) for t, f in zip(tokens, frames, strict=True))
    assert all(0 <= fr < 3 for f in frames for fr in f)  # 9 input frames -> 3 encoder frames


def test_turn_bonus_search_on_cached_frames() -> None:
    """Searching cached encoder frames again gives the streamed decode; a turn bonus only adds
    <sot>/<eot> emissions, and the tuner picks a value from its grid."""
    from steps.decode_sessions import (
        bonus_of,
        decode_session,
        encode_session,
        search_channels,
        tune_turn_bonus,
    )

    model = tiny_model(seed=4)
    feats = torch.randn(70, 20)
    encs = encode_session(model, feats, chunk_frames=8)
    assert search_channels(model, encs) == decode_session(model, feats, chunk_frames=8)
    plain, _ = search_channels(model, encs)
    loud, _ = search_channels(model, encs, token_bonus=bonus_of(30.0))
    turn = (SOT_ID, EOT_ID)
    assert sum(t in turn for c in loud for t in c) > sum(t in turn for c in plain for t in c)
    refs = {"s": [Turn(0.0, 1.0, "a b", "A"), Turn(1.2, 2.4, "c", "B")]}
    decode = " ".join  # ids -> text, enough for counting turns
    got = tune_turn_bonus(model, {"s": encs}, refs, lambda ids: decode(map(str, ids)), 0.04, grid=[0.0, 30.0])
    assert got in (0.0, 30.0)


def test_streaming_session_decode_equals_offline() -> None:
    """Chunked decoding of a session = greedy search over the whole-session encoder output."""
    from steps.decode_sessions import decode_session
    from steps.nnet.search import GreedySearch, search_offline

    model = tiny_model(seed=4)
    feats = torch.randn(70, 20)
    encs, lens = model.encode_channels(feats.unsqueeze(0), torch.tensor([70]))
    offline = []
    for enc in encs:
        hyp = search_offline(GreedySearch(model), enc, lens)[0]
        offline.append((hyp.tokens(model.predictor.context_size), hyp.frames))
    assert any(t for t, _ in offline), "the random model emits nothing: the test would prove little"
    for chunk in (4, 32, 70):
        tokens, frames = decode_session(model, feats, chunk)
        assert [(t, f) for t, f in zip(tokens, frames, strict=True)] == offline
