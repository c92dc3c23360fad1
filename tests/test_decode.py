"""Decoding: searches against brute force, streaming == offline, the decode step's outputs,
per-cut resume and one-line errors."""

from __future__ import annotations

import gzip
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lhotse import load_manifest
from torch import Tensor, nn

from steps.data.manifests import load_cuts
from steps.data.scoring import error_counts
from steps.nnet.checkpoint import LATEST, load_checkpoint, save_checkpoint
from steps.nnet.decode_io import salvage_jsonl
from steps.nnet.loading import load_model
from steps.nnet.search import GreedySearch, ModifiedBeamSearch, search_offline
from steps.nnet.streaming import TransducerDecoder, load_features
from steps.nnet.transducer import ModelConf, Transducer
from steps.utils import FairstreamError
from steps.utils.stage import partial_dir
from tests.conftest import REPO, run_step

pytestmark = pytest.mark.usefixtures("one_thread")


# ---- a transducer whose joiner output is a table we control --------------------------------


class TablePredictor(nn.Module):
    """Predictor output: one-hot of the context (last ``context_size`` tokens)."""

    def __init__(self, vocab: int, context_size: int) -> None:
        super().__init__()
        self.vocab, self.context_size, self.blank_id = vocab, context_size, 0

    def forward(self, y: Tensor) -> Tensor:
        idx = torch.zeros(y.size(0), dtype=torch.int64)
        for i in range(self.context_size):
            idx = idx * self.vocab + y[:, i]
        return nn.functional.one_hot(idx, self.vocab**self.context_size).float().unsqueeze(1)


class TableJoiner(nn.Module):
    """Logits = ``table[t, context]``; encoder frame ``t`` is the one-hot of ``t``."""

    def __init__(self, table: Tensor) -> None:
        super().__init__()
        self.table = table  # (T, V**C, V) logits
        self.enc_proj = nn.Identity()
        self.pred_proj = nn.Identity()

    def forward(self, enc: Tensor, pred: Tensor, projected: bool = False) -> Tensor:
        return torch.einsum("nt,nk,tkv->nv", enc, pred, self.table)


def table_model(table: Tensor, context_size: int) -> Transducer:
    vocab = table.size(2)
    conf = ModelConf(
        encoder_conf={"num_features": 8, "hidden_dim": 8, "output_dim": 8, "num_layers": 1, "dropout": 0.0}
    )
    model = Transducer.from_conf(conf, vocab, num_features=8)
    model.predictor = TablePredictor(vocab, context_size)
    model.joiner = TableJoiner(table)
    return model.eval()


def frames(num: int, lens: list[int]) -> tuple[Tensor, Tensor]:
    """Encoder output for the table model: frame t of every utterance is one-hot(t)."""
    enc = torch.zeros(len(lens), max(lens), num)
    for b, n in enumerate(lens):
        enc[b, torch.arange(n), torch.arange(n)] = 1.0
    return enc, torch.tensor(lens)


def ctx_index(ys: list[int], vocab: int, context_size: int) -> int:
    idx = 0
    for y in ys[-context_size:]:
        idx = idx * vocab + y
    return idx


def ref_greedy(table: Tensor, n: int, context_size: int, max_sym: int) -> list[int]:
    vocab = table.size(2)
    ys = [0] * context_size
    for t in range(n):
        for _ in range(max_sym):
            v = int(table[t, ctx_index(ys, vocab, context_size)].argmax())
            if v == 0:
                break
            ys.append(v)
    return ys[context_size:]


def brute_force(table: Tensor, n: int, context_size: int) -> dict[tuple[int, ...], float]:
    """log P(token sequence) summed over every alignment with at most one token per frame."""
    vocab = table.size(2)
    logp = table.log_softmax(-1).double()
    paths: dict[tuple[int, ...], list[float]] = {}
    for path in itertools.product(range(vocab), repeat=n):
        ys, lp = [0] * context_size, 0.0
        for t, v in enumerate(path):
            lp += float(logp[t, ctx_index(ys, vocab, context_size), v])
            if v:
                ys.append(v)
        paths.setdefault(tuple(ys[context_size:]), []).append(lp)
    return {k: float(torch.logsumexp(torch.tensor(v, dtype=torch.float64), 0)) for k, v in paths.items()}


def test_greedy_hand_computed() -> None:
    # vocab {blank, a=1, b=2}, context 1; the argmax per (frame, last token), all else 0
    best = {0: {0: 1, 1: 2, 2: 0}, 1: {0: 0, 1: 0, 2: 0}, 2: {0: 2, 1: 1, 2: 1}}
    table = torch.zeros(3, 3, 3)
    for t, row in best.items():
        for ctx, v in row.items():
            table[t, ctx, v] = 5.0
    model = table_model(table, context_size=1)
    enc, lens = frames(3, [3])
    expected = {1: [1, 1], 2: [1, 2, 1, 1], 3: [1, 2, 1, 1, 1]}
    for max_sym, want in expected.items():
        hyp = search_offline(GreedySearch(model, max_sym), enc, lens)[0]
        assert hyp.tokens(1) == want, max_sym
    assert search_offline(GreedySearch(model, 3), enc, lens)[0].frames == [0, 0, 2, 2, 2]


@pytest.mark.parametrize("context_size", [1, 2])
def test_greedy_batched_equals_reference(context_size: int) -> None:
    torch.manual_seed(context_size)
    vocab, n = 4, 7
    table = torch.randn(n, vocab**context_size, vocab) * 2
    table[..., 0] += 0.5  # blank wins sometimes, not always
    model = table_model(table, context_size)
    lens = [7, 3, 5, 1]
    enc, enc_lens = frames(n, lens)
    for max_sym in (1, 2, 3):
        hyps = search_offline(GreedySearch(model, max_sym), enc, enc_lens)
        for h, m in zip(hyps, lens, strict=True):
            assert h.tokens(context_size) == ref_greedy(table, m, context_size, max_sym)


def test_modified_beam_hand_computed_merges_before_pruning() -> None:
    # vocab {blank, a}; P(a) = .4 on frame 0; on frame 1 P(a) = .4 after blank, .1 after a.
    # P("") = .36, P("a") = .4*.9 + .6*.4 = .60, P("aa") = .04: greedy says "", the beam "a".
    probs = torch.tensor([[[0.6, 0.4], [0.5, 0.5]], [[0.6, 0.4], [0.9, 0.1]]])
    model = table_model(probs.log(), context_size=1)
    enc, lens = frames(2, [2])
    assert search_offline(GreedySearch(model, 3), enc, lens)[0].tokens(1) == []
    for beam in (2, 4):
        hyp = search_offline(ModifiedBeamSearch(model, beam), enc, lens)[0]
        assert hyp.tokens(1) == [1]
        # merged before pruning: with beam 2 the two alignments of "a" (.36 + .24) still add up
        assert hyp.score == pytest.approx(math.log(0.6), abs=1e-6)


@pytest.mark.parametrize("context_size", [1, 2])
def test_modified_beam_wide_beam_is_exact(context_size: int) -> None:
    torch.manual_seed(10 + context_size)
    vocab, n = 3, 5
    table = torch.randn(n, vocab**context_size, vocab)
    model = table_model(table, context_size)
    enc, lens = frames(n, [n, 3])
    search = ModifiedBeamSearch(model, beam=1000)  # wider than every candidate set: no pruning
    states = search.init(2)
    search.advance(enc, [int(x) for x in lens], states)
    for state, m in zip(states, (n, 3), strict=True):
        exact = brute_force(table, m, context_size)
        got = {tuple(h.tokens(context_size)): h.score for h in state.hyps}
        assert set(got) == set(exact)
        for k, v in exact.items():
            assert got[k] == pytest.approx(v, abs=1e-5)
        assert math.isclose(sum(math.exp(v) for v in got.values()), 1.0, rel_tol=1e-5)


def test_beam_one_is_greedy_with_one_symbol_per_frame() -> None:
    torch.manual_seed(3)
    table = torch.randn(9, 16, 4)
    model = table_model(table, context_size=2)
    enc, lens = frames(9, [9, 6, 2])
    greedy = search_offline(GreedySearch(model, 1), enc, lens)
    beam = search_offline(ModifiedBeamSearch(model, 1), enc, lens)
    assert [h.tokens(2) for h in greedy] == [h.tokens(2) for h in beam]
    assert [h.score for h in greedy] == pytest.approx([h.score for h in beam])


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_search_state_carries_across_chunks(method: str) -> None:
    torch.manual_seed(5)
    n = 11
    table = torch.randn(n, 16, 4)
    table[..., 0] += 0.3
    model = table_model(table, context_size=2)
    enc, lens = frames(n, [11, 8])
    make = (lambda: GreedySearch(model, 2)) if method == "greedy" else (lambda: ModifiedBeamSearch(model, 3))
    whole = make()
    s_whole = whole.init(2)
    whole.advance(enc, [11, 8], s_whole)
    for chunk in (1, 3, 4):
        part = make()
        s_part = part.init(2)
        for i in range(0, n, chunk):
            piece = enc[:, i : i + chunk]
            part.advance(piece, [max(0, min(piece.size(1), m - i)) for m in (11, 8)], s_part)
        for a, b in zip(s_whole, s_part, strict=True):
            assert [(h.ys, h.frames) for h in a.hyps] == [(h.ys, h.frames) for h in b.hyps]
            assert [h.score for h in a.hyps] == pytest.approx([h.score for h in b.hyps])


# ---- a (briefly) trained model and the decode step -------------------------------------------

TINY_TRAIN = """
model:
  encoder: lstm
  encoder_conf: {hidden_dim: 64, num_layers: 1, output_dim: 64, subsampling_channels: 8, dropout: 0.0}
  predictor_dim: 64
  joiner_dim: 64
data: {max_duration: 30, num_buckets: 2}
max_steps: 2
warmup_steps: 2
loss_warmup_steps: 2
checkpoint_every: 2
num_threads: 1
seed: 1
"""


def babble(sd: dict[str, Tensor], seed: int) -> dict[str, Tensor]:
    """Make a barely trained model emit tokens: peaky random joiner output, blank raised to compete.

    Two training steps give a model that says blank everywhere, which would make every
    comparison of hypotheses trivially true.
    """
    g = torch.Generator().manual_seed(seed)
    sd = dict(sd)
    w = sd["joiner.out.weight"]
    sd["joiner.out.weight"] = torch.randn(w.shape, generator=g) * 10 / w.size(1) ** 0.5
    bias = sd["joiner.out.bias"].clone()
    bias[0] += 7.0
    sd["joiner.out.bias"] = bias
    return sd


def babbling_model(tiny_fbank: Path, tiny_lang: Path, tmp: Path) -> Path:
    """A finished training directory with two epoch checkpoints of a babbling model."""
    conf = tmp / "train.yaml"
    conf.write_text(TINY_TRAIN)
    out = tmp / "exp"
    run_step("steps.train_transducer", tiny_fbank, out, "--conf", conf, "--lang-dir", tiny_lang)
    ck = load_checkpoint(out / LATEST)
    trained = ck["model"]
    for seed, name in enumerate([LATEST, "epoch-1.pt", "epoch-2.pt"]):
        ck["model"] = babble(trained, seed)
        save_checkpoint(out / name, ck)
    return out


@pytest.fixture(scope="module")
def model_dir(tiny_fbank: Path, tiny_lang: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return babbling_model(tiny_fbank, tiny_lang, tmp_path_factory.mktemp("decode"))


def test_streaming_equals_offline_for_several_chunk_sizes(
    model_dir: Path, tiny_fbank: Path, tiny_lang: Path
) -> None:
    model, tok, nf = load_model(model_dir, tiny_lang)
    cuts = list(load_cuts(tiny_fbank, "dev"))[:4]
    feats, lens = load_features(cuts, nf)
    for search in (GreedySearch(model, 3), ModifiedBeamSearch(model, 4)):
        offline = TransducerDecoder(model, search, None).decode(feats, lens)
        tokens = [h.tokens(2) for h in offline.hyps]
        assert sum(map(len, tokens)) > 0 and not offline.chunk_ms
        for chunk in (5, 32, 1000):
            for batch in (slice(0, 4), slice(1, 2)):  # side by side (padded) and alone
                res = TransducerDecoder(model, search, chunk).decode(feats[batch], lens[batch])
                assert [h.tokens(2) for h in res.hyps] == tokens[batch], (type(search).__name__, chunk)
                assert len(res.chunk_ms) == math.ceil(int(lens[batch].max()) / chunk)


def test_avg_averages_epochs_and_refuses_too_few(model_dir: Path, tiny_lang: Path) -> None:
    model, _, _ = load_model(model_dir, tiny_lang, avg=2)
    a = load_checkpoint(model_dir / "epoch-1.pt")["model"]
    b = load_checkpoint(model_dir / "epoch-2.pt")["model"]
    got = model.state_dict()
    for k in ("joiner.out.weight", "encoder.proj.bias"):
        torch.testing.assert_close(got[k], (a[k] + b[k]) / 2)
    with pytest.raises(FairstreamError, match="--avg 3 needs 3 epoch checkpoints .* found 2"):
        load_model(model_dir, tiny_lang, avg=3)


def test_missing_or_corrupt_inputs_are_one_line(model_dir: Path, tiny_lang: Path, tmp_path: Path) -> None:
    with pytest.raises(FairstreamError, match="bpe.model does not exist") as e:
        load_model(model_dir, tmp_path)
    assert "\n" not in str(e.value)
    bad = tmp_path / "exp"
    shutil.copytree(model_dir, bad)
    (bad / LATEST).write_bytes(b"\x00not a checkpoint")
    with pytest.raises(FairstreamError, match="is corrupt") as e:
        load_model(bad, tiny_lang)
    assert "\n" not in str(e.value)


def test_bpe_mismatch_is_one_line(model_dir: Path, tiny_fbank: Path, tiny_lang: Path, tmp_path: Path) -> None:
    other = tmp_path / "lang"
    shutil.copytree(tiny_lang, other)
    with open(other / "bpe.model", "ab") as f:
        f.write(b"\x00")  # any other BPE model has another digest
    proc = run_step(
        "steps.decode_transducer", model_dir, tiny_fbank, tmp_path / "out", "--lang-dir", other, check=False
    )
    assert proc.returncode == 1
    errors = [x for x in proc.stderr.splitlines() if x.startswith("ERROR")]
    assert len(errors) == 1 and "is not the BPE model" in errors[0] and "trained with" in errors[0]
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def decoded(model_dir: Path, tiny_fbank: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("decoded") / "greedy"
    proc = run_step("steps.decode_transducer", model_dir, tiny_fbank, out, "--chunk-ms", "160")
    assert "dev: %WER" in proc.stderr and "test: %WER" in proc.stderr
    return out


def test_decode_output_carries_hyps_counts_and_metadata(decoded: Path, tiny_fbank: Path) -> None:
    assert (decoded / ".done").is_file()
    for split in ("dev", "test"):
        src = {c.id: c for c in load_cuts(tiny_fbank, split)}
        out = list(load_manifest(decoded / f"cuts_{split}.jsonl.gz"))
        assert [c.id for c in out] == list(src)
        for c in out:
            sup, orig = c.supervisions[0], src[c.id].supervisions[0]
            custom = sup.custom
            extra = {"hyp", "ref_len", "ins", "del", "sub"}
            assert set(custom) == set(orig.custom) | extra
            assert {k: custom[k] for k in orig.custom} == orig.custom  # speaker metadata kept
            assert {"lat", "lon", "zip", "accent", "gender"} <= set(custom)
            assert error_counts(sup.text, custom["hyp"]) == {k: custom[k] for k in extra - {"hyp"}}
            assert c.custom == src[c.id].custom and c.features.storage_path == src[c.id].features.storage_path
        assert any(c.supervisions[0].custom["hyp"] for c in out)
        errs = sum(c.supervisions[0].custom[k] for c in out for k in ("ins", "del", "sub"))
        words = sum(c.supervisions[0].custom["ref_len"] for c in out)
        assert (
            (decoded / f"wer-{split}.txt")
            .read_text()
            .startswith(f"%WER {100 * errs / words:.2f} [ {errs} / {words}, ")
        )
        errs_txt = (decoded / f"errs-{split}.txt").read_text()
        for section in ("PER-UTT DETAILS:", "SUBSTITUTIONS:", "DELETIONS:", "INSERTIONS:"):
            assert f"\n{section}" in errs_txt
        assert (decoded / f"recogs-{split}.txt").read_text().count("\thyp=[") == len(out)
    metrics = json.loads((decoded / "metrics.json").read_text())
    m = metrics["dev"]
    assert m["method"] == "greedy" and m["streaming"] is True and m["chunk_ms"] == 160 and m["avg"] == 1
    assert m["num_utts"] == 12 and m["timed_utts"] == 12 and 0 < m["rtf"] < 10
    assert 0 < m["latency_ms_mean"] <= m["latency_ms_p90"]
    assert m["num_chunks"] == sum(math.ceil(c.features.num_frames / 16) for c in load_cuts(tiny_fbank, "dev"))


def test_offline_decode_step_matches_streaming(
    decoded: Path, model_dir: Path, tiny_fbank: Path, tmp_path: Path
) -> None:
    out = tmp_path / "offline"
    run_step(
        "steps.decode_transducer",
        model_dir,
        tiny_fbank,
        out,
        "--no-streaming",
        "--splits",
        "dev",
        "--batch-size",
        "5",
    )
    a = [c.supervisions[0].custom["hyp"] for c in load_manifest(decoded / "cuts_dev.jsonl.gz")]
    b = [c.supervisions[0].custom["hyp"] for c in load_manifest(out / "cuts_dev.jsonl.gz")]
    assert a == b
    m = json.loads((out / "metrics.json").read_text())["dev"]
    assert m["streaming"] is False and m["latency_ms_mean"] is None and m["batch_size"] == 5


def test_rerun_is_noop_and_killed_decode_resumes_per_cut(
    decoded: Path, model_dir: Path, tiny_fbank: Path, tmp_path: Path
) -> None:
    again = run_step("steps.decode_transducer", model_dir, tiny_fbank, decoded, "--chunk-ms", "160")
    assert "nothing to do" in again.stderr
    # a decode killed mid-way: no .done, dev half written with a torn gzip tail, test not started
    out = tmp_path / "dec"
    part = partial_dir(out)
    shutil.copytree(decoded, part)
    for name in (".done", "metrics.json", "cuts_test.jsonl.gz", "timing-test.jsonl", "wer-dev.txt"):
        (part / name).unlink()
    lines = gzip.decompress((part / "cuts_dev.jsonl.gz").read_bytes()).decode().splitlines()
    kept = [json.loads(x) for x in lines[:5]]
    kept[0]["supervisions"][0]["custom"]["hyp"] = "KEPT FROM THE KILLED RUN"
    whole = gzip.compress(("\n".join(json.dumps(x) for x in kept) + "\n" + lines[5]).encode())
    (part / "cuts_dev.jsonl.gz").write_bytes(whole[: len(whole) - 30])  # torn mid-way through cut 6
    with open(part / "timing-dev.jsonl", "a") as f:
        f.write('{"ids": ["s00')  # torn too
    proc = run_step("steps.decode_transducer", model_dir, tiny_fbank, out, "--chunk-ms", "160")
    assert "keeping its 5 complete lines" in proc.stderr
    assert "dev: 5 of 12 cuts already decoded; resuming" in proc.stderr
    assert (out / ".done").is_file() and not part.exists()
    for split in ("dev", "test"):
        want = list(load_manifest(decoded / f"cuts_{split}.jsonl.gz"))
        got = list(load_manifest(out / f"cuts_{split}.jsonl.gz"))
        assert [c.id for c in got] == [c.id for c in want]
        hyps = [c.supervisions[0].custom["hyp"] for c in got]
        if split == "dev":
            assert hyps[0] == "KEPT FROM THE KILLED RUN"  # not decoded again
            hyps[0] = want[0].supervisions[0].custom["hyp"]
        assert hyps == [c.supervisions[0].custom["hyp"] for c in want]
    assert json.loads((out / "metrics.json").read_text())["dev"]["timed_utts"] == 12


def test_salvage_keeps_complete_lines(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl.gz"
    good = b'{"id": "a"}\n{"id": "b"}\n'
    p.write_bytes(gzip.compress(good) + gzip.compress(b'{"id": "c"}\n{"id": "d')[:-8])
    assert salvage_jsonl(p) == 3
    assert gzip.decompress(p.read_bytes()) == good + b'{"id": "c"}\n'
    assert salvage_jsonl(p) == 3  # a clean file is left alone
    assert salvage_jsonl(tmp_path / "missing.jsonl.gz") == 0


def test_stage_script_runs_the_step(model_dir: Path, tiny_fbank: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
    }
    script = REPO / "stages/05_decode.sh"
    out = tmp_path / "beam"
    args = ["--method", "modified_beam", "--avg", "2", "--chunk-ms", "640", "--splits", "dev"]
    proc = subprocess.run(
        ["bash", script, *args, model_dir, tiny_fbank, out], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = json.loads((out / "metrics.json").read_text())
    assert list(m) == ["dev"] and m["dev"]["method"] == "modified_beam" and m["dev"]["beam"] == 4
    assert m["dev"]["avg"] == 2 and m["dev"]["chunk_ms"] == 640
    bad = subprocess.run(
        ["bash", script, "--bogus", "1", "a", "b", "c"], cwd=REPO, capture_output=True, text=True
    )
    assert bad.returncode == 1 and bad.stderr.strip().endswith("unknown option --bogus")


def test_beam_with_several_symbols_per_frame_keeps_up_with_fast_speech() -> None:
    """Two tokens are due on each of two frames: one token per frame loses half of them,
    two per frame recovers them all and agrees with greedy search; K = 1 is the plain search."""
    from steps.nnet.search import GreedySearch, ModifiedBeamSearch
    from steps.nnet.task import Task

    vocab = 10
    conf = {"encoder": "lstm", "encoder_conf": {"hidden_dim": 16, "output_dim": 16}, "predictor_dim": 16,
            "joiner_dim": 16}  # fmt: skip
    model = Task().build_model(conf, vocab).eval()

    def rigged(search):  # noqa: ANN001, ANN202 - next token L+1 while fewer than 2(t+1) are out
        search.scorer.project_encoder = lambda enc: enc
        search.scorer.predict = lambda ctx: torch.nn.functional.one_hot(ctx[:, -1], vocab).double()

        def logits(enc_p, pred_p):  # noqa: ANN001, ANN202
            out = torch.full((len(enc_p), vocab), -20.0, dtype=torch.float64)
            frames, lasts = enc_p.argmax(-1).tolist(), pred_p.argmax(-1).tolist()
            for r, (t, last) in enumerate(zip(frames, lasts, strict=True)):
                n = last - 4 if last >= 5 else 0  # tokens 5, 6, 7, 8 out so far
                out[r, 5 + n if n < min(4, 2 * (t + 1)) else 0] = 0.0
            return out

        search.scorer.logits = logits
        return search

    enc = torch.nn.functional.one_hot(torch.arange(2), 2).double()[None]  # frame t = one-hot(t)
    lens = torch.tensor([2])
    one = search_offline(rigged(ModifiedBeamSearch(model, beam=3)), enc, lens)[0]
    two = search_offline(rigged(ModifiedBeamSearch(model, beam=3, symbols_per_frame=2)), enc, lens)[0]
    greedy = search_offline(rigged(GreedySearch(model, max_sym_per_frame=3)), enc, lens)[0]
    assert one.tokens(2) == [5, 6]
    assert two.tokens(2) == greedy.tokens(2) == [5, 6, 7, 8] and two.frames == [0, 0, 1, 1]
