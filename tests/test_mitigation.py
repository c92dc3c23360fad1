"""Mitigation (stage 8): Fisher, EWC penalty, init_from, data selection, report."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from lhotse import CutSet, MonoCut, SupervisionSegment
from lhotse.utils import fastcopy

from steps import compute_fisher, select_cohort_cuts, train_transducer, write_finetune_conf
from steps.data.manifests import load_cuts
from steps.fairness.selection import copies_needed, is_bottom, oversample
from steps.nnet.checkpoint import LATEST, load_checkpoint, save_checkpoint
from steps.nnet.data import DataConf, make_train_loader
from steps.nnet.distributed import DistInfo
from steps.nnet.ewc import EwcPenalty, diagonal_fisher, save_fisher, transducer_objective
from steps.nnet.task import Task
from steps.nnet.trainer import TrainConf, Trainer, build_regularizers
from steps.nnet.transducer import ModelConf, Transducer
from steps.reports.mitigation import Labels, System, choose_lambda, claims, evaluate, render, seed_direction
from steps.tasks import load_train_conf
from steps.utils import FairstreamError, save_manifest_atomic, stage_output
from tests.conftest import REPO, run_step
from tests.test_transducer import tiny_conf


# ---- Fisher and penalty on a tiny model -------------------------------------------------------
def tiny_model() -> Transducer:
    torch.manual_seed(0)
    conf = ModelConf(
        encoder="lstm",
        encoder_conf={
            "hidden_dim": 16,
            "num_layers": 1,
            "output_dim": 16,
            "subsampling_channels": 4,
            "dropout": 0.0,
        },
        predictor_dim=16,
        joiner_dim=16,
    )
    return Transducer.from_conf(conf, vocab_size=7, num_features=8)


def tiny_examples(n: int = 5) -> list[tuple[torch.Tensor, torch.Tensor, list[int]]]:
    g = torch.Generator().manual_seed(1)
    out = []
    for i in range(n):
        t = 40 + 4 * i
        y = torch.randint(1, 7, (2 + i % 3,), generator=g).tolist()
        out.append((torch.randn(1, t, 8, generator=g), torch.tensor([t]), y))
    return out


LOSS = transducer_objective(prune_range=3, am_scale=0.0, lm_scale=0.25, simple_scale=0.5)


def test_fisher_is_mean_of_per_example_squared_gradients() -> None:
    model, examples = tiny_model(), tiny_examples()
    fisher, n = diagonal_fisher(model, examples, LOSS)
    assert n == len(examples)
    model.eval()
    brute = {k: torch.zeros_like(p) for k, p in model.named_parameters()}
    mean_grad = {k: torch.zeros_like(p) for k, p in model.named_parameters()}
    for x, x_lens, y in examples:  # one backward per example, the textbook definition
        model.zero_grad()
        LOSS(model, x, x_lens, [y]).backward()
        for k, p in model.named_parameters():
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            brute[k] += g**2 / len(examples)
            mean_grad[k] += g / len(examples)
    for k in brute:
        torch.testing.assert_close(fisher[k], brute[k], rtol=1e-5, atol=1e-10)
    # not the square of a batch gradient, which is smaller (Jensen) wherever examples disagree
    assert sum(float(f.sum()) for f in fisher.values()) > 1.05 * sum(
        float((g**2).sum()) for g in mean_grad.values()
    )
    assert all(float(f.sum()) > 0 for k, f in fisher.items() if k.startswith(("encoder", "joiner")))


def test_ewc_penalty_zero_at_anchor_and_gradient_is_lambda_f_delta() -> None:
    model = tiny_model()
    star = {k: p.detach().clone() for k, p in model.named_parameters()}
    fisher = {k: torch.rand_like(p) for k, p in model.named_parameters()}
    pen = EwcPenalty(fisher, star, lam=3.5)
    assert float(pen(model).detach()) == 0.0
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    value = pen(model)
    params = dict(model.named_parameters())
    grads = torch.autograd.grad(value, list(params.values()))
    for (k, p), g in zip(params.items(), grads, strict=True):
        torch.testing.assert_close(g, 3.5 * fisher[k] * (p.detach() - star[k]))
    expected = 0.5 * 3.5 * sum(float((fisher[k] * (params[k] - star[k]) ** 2).sum()) for k in params)
    assert float(value) == pytest.approx(expected, rel=1e-5)


def test_build_regularizers_refuses_in_one_line(tmp_path: Path) -> None:
    model = tiny_model()
    cases = [
        ({"l2sp": {}}, "unknown regularizer(s) l2sp; registered: ewc"),
        ({"ewc": {"fisher": str(tmp_path / "none.pt"), "lambda": 1.0}}, "does not exist"),
        ({"ewc": {"fisher": "x.pt"}}, "exactly {fisher: PATH, lambda: X}"),
    ]
    other = tiny_model()
    other.joiner = torch.nn.Linear(3, 3)  # another architecture
    bad = tmp_path / "bad.pt"
    p = dict(other.named_parameters())
    save_fisher(bad, {k: torch.ones_like(v) for k, v in p.items()}, {k: v.detach() for k, v in p.items()}, {})
    cases.append(({"ewc": {"fisher": str(bad), "lambda": 1.0}}, "does not fit this model"))
    for conf, msg in cases:
        with pytest.raises(FairstreamError) as e:
            build_regularizers(conf, model)
        assert msg in str(e.value) and "\n" not in str(e.value)
    assert build_regularizers({}, model) == {}


# ---- data selection --------------------------------------------------------------------------
def label(cuts: CutSet, bottom_speakers: set[str]) -> CutSet:
    """Cohort labels as the cohort stage writes them (two cohorts by speaker)."""
    out = []
    for c in cuts:
        s = c.supervisions[0]
        b = s.speaker in bottom_speakers
        custom = {**(s.custom or {}), "cohort": "low" if b else "rest", "cohort_bottom": b}
        out.append(fastcopy(c, supervisions=[fastcopy(s, custom=custom)]))
    return CutSet.from_cuts(out)


@pytest.fixture(scope="module")
def cohorts_dir(tiny_fbank: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cohort stage output over the tiny corpus: two training speakers make the bottom cohort."""
    out = tmp_path_factory.mktemp("cohorts") / "cohorts"
    train = load_cuts(tiny_fbank, "train")
    bottom = set(sorted({c.supervisions[0].speaker for c in train})[:2])
    with stage_output(out, {"test": "cohorts"}) as d:
        (d / "geo").mkdir()
        save_manifest_atomic(label(train, bottom), d / "geo" / "cuts_train.jsonl.gz")
    return out


@pytest.mark.parametrize("rate", [0.3, 0.5, 0.8])
def test_oversampling_draws_the_bottom_cohort_at_the_rate(cohorts_dir: Path, rate: float) -> None:
    cuts = load_cuts(cohorts_dir / "geo", "train")
    selected = oversample(cuts, rate, seed=3)
    assert len(set(selected.ids)) == len(selected)  # copies have distinct ids
    n_rest = sum(not is_bottom(c) for c in cuts)
    assert len(selected) - n_rest == copies_needed(len(cuts) - n_rest, n_rest, rate)
    _, sampler = make_train_loader(selected, DataConf(max_duration=20, num_buckets=2), seed=1)
    drawn = [c for batch in sampler for c in batch]  # one epoch through the trainer's sampler
    share = sum(is_bottom(c) for c in drawn) / len(drawn)
    assert share == pytest.approx(rate, abs=1.5 / len(drawn))
    copies = [c for c in selected if "_rep" in c.id]
    assert copies and all(
        c.features.storage_path == cuts[c.id.split("_rep")[0]].features.storage_path for c in copies
    )


def test_oversampling_never_drops_data() -> None:
    with pytest.raises(FairstreamError, match="rate must be in"):
        oversample([], 1.0, 0)
    assert copies_needed(n_bottom=50, n_rest=50, rate=0.2) == 50


# ---- fine-tuning: init_from, resume precedence, EWC with a huge lambda ------------------------
def invoke(command: click.Command, *args: object) -> None:
    """A step in-process (no interpreter start-up): these tests train several tiny models."""
    result = CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def write_conf(tmp_path: Path, name: str, template: Path, base: Path, *sets: str) -> Path:
    out = tmp_path / f"{name}.yaml"
    args = ["--model-from", base, "--set", "max_steps=6", "--set", "lr=0.01", "--set", "weight_decay=0"]
    args += ["--set", "warmup_steps=1", "--set", "checkpoint_every=100"]
    for s in sets:
        args += ["--set", s]
    invoke(write_finetune_conf.main, *args, template, out)
    return out


def drift(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], f: dict | None = None) -> float:
    """Summed |theta - theta*|, or with ``f`` the Fisher-weighted squared distance EWC penalises."""
    if f is None:
        return sum(float((a[k] - b[k]).abs().sum()) for k in b)
    return sum(float((f[k] * (a[k] - b[k]) ** 2).sum()) for k in b)


def test_finetune_init_from_resume_and_huge_lambda(
    tiny_fbank: Path, tiny_lang: Path, cohorts_dir: Path, tmp_path: Path
) -> None:
    base = tmp_path / "base"
    template = tiny_conf(tmp_path, steps=4, every=100)
    invoke(train_transducer.main, tiny_fbank, base, "--conf", template, "--lang-dir", tiny_lang)
    fisher_dir = tmp_path / "fisher"
    invoke(compute_fisher.main, base, tiny_fbank, fisher_dir, "--avg", "1", "--num-utts", "12")
    fdata = torch.load(fisher_dir / "fisher.pt", weights_only=False)
    star, fisher = fdata["theta_star"], fdata["fisher"]
    assert fdata["num_utts"] >= 10 and json.loads((fisher_dir / "stats.json").read_text())["fisher_max"] > 0
    bottom = tmp_path / "bottom"
    invoke(select_cohort_cuts.main, "--mode", "bottom", cohorts_dir, bottom)
    sel = load_cuts(bottom, "train")
    assert len(sel) == 8 and all(is_bottom(c) for c in sel)

    init = f"init_from={fisher_dir / 'baseline.pt'}"
    plain = write_conf(tmp_path, "plain", template, base, init)
    ewc = write_conf(
        tmp_path,
        "ewc",
        template,
        base,
        init,
        f"regularizers.ewc.fisher={fisher_dir / 'fisher.pt'}",
        "regularizers.ewc.lambda=1e9",
    )
    assert yaml.safe_load(ewc.read_text())["regularizers"]["ewc"]["lambda"] == 1e9

    # init_from: the weights at step 0 are the baseline's, the optimiser is fresh
    conf = TrainConf(**yaml.safe_load(plain.read_text()))
    t = Trainer(conf, Task(), bottom, tiny_lang, tmp_path / "probe", DistInfo())
    sd = load_checkpoint(fisher_dir / "baseline.pt")["model"]
    assert all(torch.equal(v, sd[k]) for k, v in t.model.state_dict().items())
    assert t.step == 0 and not t.opt.state

    for name, c in (("plain", plain), ("ewc", ewc)):
        invoke(train_transducer.main, bottom, tmp_path / name, "--conf", c, "--lang-dir", tiny_lang)
    tuned = {n: load_checkpoint(tmp_path / n / LATEST)["model"] for n in ("plain", "ewc")}
    # Adam moves every parameter by about lr per step whatever the penalty, so |theta - theta*|
    # only shrinks; the distance EWC penalises collapses
    f_plain, f_ewc = drift(tuned["plain"], star, fisher), drift(tuned["ewc"], star, fisher)
    assert f_plain > 0 and f_ewc < 0.1 * f_plain, (f_plain, f_ewc)
    assert drift(tuned["ewc"], star) < 0.5 * drift(tuned["plain"], star)

    # a resume wins over init_from (which is not even read then)
    resume = tmp_path / "resume"
    resume.mkdir()
    save_checkpoint(resume / LATEST, load_checkpoint(tmp_path / "plain" / LATEST))
    conf.init_from = str(tmp_path / "gone.pt")
    t = Trainer(conf, Task(), bottom, tiny_lang, resume, DistInfo())
    assert t.maybe_resume() and t.step == 6
    assert all(torch.equal(v, tuned["plain"][k]) for k, v in t.model.state_dict().items())
    with pytest.raises(FairstreamError, match="init_from: .*gone.pt does not exist"):
        Trainer(conf, Task(), bottom, tiny_lang, tmp_path / "fresh", DistInfo())


# ---- the report ------------------------------------------------------------------------------
COHORTS = {"a": True, "b": True, "c": False, "d": False}  # cohort -> targeted


def decoded(errors: dict[str, int]) -> CutSet:
    """Two speakers per cohort, two 10-word utterances each; ``errors``: per cohort, per utterance."""
    cuts = []
    for coh in COHORTS:
        for spk in (f"{coh}1", f"{coh}2"):
            for u in range(2):
                cid = f"{spk}-{u}"
                extra = 1 if (spk.endswith("1") and u == 0) else 0
                custom = {"hyp": "", "ref_len": 10, "ins": 0, "del": 0, "sub": errors[coh] + extra}
                sup = SupervisionSegment(cid, cid, 0, 1.0, text="w " * 10, speaker=spk, custom=custom)
                cuts.append(MonoCut(cid, 0, 1.0, 0, supervisions=[sup]))
    return CutSet.from_cuts(cuts)


def labels() -> CutSet:
    cuts = []
    for c in decoded(dict.fromkeys(COHORTS, 0)):
        s = c.supervisions[0]
        coh = s.speaker[0]
        custom = {**s.custom, "cohort": coh, "cohort_bottom": COHORTS[coh]}
        cuts.append(fastcopy(c, supervisions=[fastcopy(s, custom=custom)]))
    return CutSet.from_cuts(cuts)


SYSTEMS = {  # per-cohort substitutions per utterance (+1 on one utterance of each cohort)
    "baseline": ("baseline", None, {"a": 5, "b": 4, "c": 1, "d": 1}),
    "finetune": ("finetune", None, {"a": 2, "b": 2, "c": 3, "d": 3}),
    "ewc_10": ("ewc", 10.0, {"a": 3, "b": 3, "c": 1, "d": 1}),
    "ewc_1000": ("ewc", 1000.0, {"a": 5, "b": 4, "c": 2, "d": 1}),
    "oversample": ("oversample", None, {"a": 4, "b": 3, "c": 1, "d": 1}),
    "untargeted": ("untargeted", None, {"a": 5, "b": 4, "c": 1, "d": 0}),
    "cohort": ("cohort_input", None, {"a": 4, "b": 4, "c": 1, "d": 1}),
}


def test_report_numbers_and_verdict() -> None:
    systems = [System(n, decoded(e), k, lam) for n, (k, lam, e) in SYSTEMS.items()]
    r = evaluate(Labels.from_cuts(labels()), systems, n_boot=200, seed=1)
    b = r["systems"]["baseline"]
    # baseline: cohort a has 4 * 5 + 1 = 21 errors over 40 words, b 17, c 5, d 5
    assert b["overall"]["estimate"] == pytest.approx((21 + 17 + 5 + 5) / 160)
    assert b["targeted"]["estimate"] == pytest.approx(38 / 80)
    assert b["non_targeted"]["estimate"] == pytest.approx(10 / 80)
    wers = np.array([21, 17, 5, 5]) / 40
    assert b["cohort_max"]["estimate"] == pytest.approx(21 / 40)
    assert b["cohort_mean"]["estimate"] == pytest.approx(wers.mean())
    assert b["cohort_var"]["estimate"] == pytest.approx(wers.var())
    for s in r["systems"].values():
        for m in ("overall", "cohort_max"):
            lo, hi = s[m]["ci"]
            assert lo <= s[m]["estimate"] <= hi
    ch = r["changes"]["finetune"]
    assert ch["targeted"]["estimate"] < 0 < ch["non_targeted"]["estimate"]  # adapts and forgets
    assert seed_direction(r) == ([10.0], [1000.0])
    md = render(r, "geo", {"bars": "regions.png"})
    assert md.startswith("## Mitigation")
    assert "(regions.png)" in md and "held for λ = 10 but not for λ = 1000" in md
    assert "| 0 |" in md and "| 10 |" in md and "| 1000 |" in md  # the sweep, plain = lambda 0
    # against the untargeted control (paired): EWC λ=10 cuts the targeted WER that the control leaves
    vs = r["vs_untargeted"]["ewc_10"]["targeted"]
    assert vs["estimate"] == pytest.approx((26 - 38) / 80) and vs["ci"][1] < 0
    assert "untargeted control" in md and "− control" in md


def test_lambda_is_chosen_on_dev_and_judged_on_test() -> None:
    dev = [System(n, decoded(e), k, lam) for n, (k, lam, e) in SYSTEMS.items() if k in ("baseline", "ewc")]
    d = evaluate(Labels.from_cuts(labels()), dev, n_boot=0, seed=1)
    # ewc_10: 36 errors over 160 words (baseline 48): allowed, max 13/40; ewc_1000 raises overall (52)
    choice = choose_lambda(d)
    assert (choice["system"], choice["lambda"]) == ("ewc_10", 10.0) and "do not raise" in choice["rule"]
    worse = [dev[0], System("ewc_1000", dev[2].cuts, "ewc", 1000.0)]
    assert choose_lambda(evaluate(Labels.from_cuts(labels()), worse, 0, 1))["rule"].startswith("every")
    systems = [System(n, decoded(e), k, lam) for n, (k, lam, e) in SYSTEMS.items()]
    r = evaluate(Labels.from_cuts(labels()), systems, n_boot=200, seed=1)
    r["choice"] = choice
    (claim,) = claims(r)
    assert claim.held is True and "λ=10 (chosen on dev)" in claim.ours and "untargeted" in claim.note
    r["choice"] = {**choice, "system": "ewc_1000", "lambda": 1000.0}
    assert claims(r)[0].held is not True  # overall rises at λ=1000
    assert "At the λ chosen on dev (10)" in render({**r, "choice": choice}, "geo", {})


def make_stage(path: Path, cfg: dict, cuts: CutSet | None = None, splits: tuple = ("test", "dev")) -> Path:
    with stage_output(path, cfg) as d:
        for split in splits if cuts is not None else ():
            save_manifest_atomic(cuts, d / f"cuts_{split}.jsonl.gz")
    return path


def test_report_step(tmp_path: Path) -> None:
    cohorts = tmp_path / "cohorts"
    with stage_output(cohorts, {"x": 1}) as d:
        (d / "geo").mkdir()
        save_manifest_atomic(labels(), d / "geo" / "cuts_test.jsonl.gz")
        save_manifest_atomic(labels(), d / "geo" / "cuts_dev.jsonl.gz")
    data = make_stage(tmp_path / "data_bottom", {"mode": "bottom"})
    over = make_stage(tmp_path / "data_over", {"mode": "oversample"})
    every = make_stage(tmp_path / "data_all", {"mode": "all"})
    search = {"method": "modified_beam", "beam": 4, "streaming": True, "chunk_ms": 320}
    args = []
    for name, (kind, lam, errs) in SYSTEMS.items():
        model_cfg = {"input": str({"oversample": over, "untargeted": every}.get(kind, data))}
        if kind == "ewc":
            model_cfg["regularizers"] = {"ewc": {"fisher": "f.pt", "lambda": lam}}
        if kind == "cohort_input":
            model_cfg["model"] = {"encoder": "lstm", "cohorts": 4}
        model = make_stage(tmp_path / name / "model", model_cfg)
        dec = make_stage(tmp_path / name / "decode", {**search, "model_dir": str(model)}, decoded(errs))
        args.append(f"{name}={dec}")
    report = tmp_path / "mitigate" / "report.md"
    run_step("steps.report_mitigation", "--cohorts-dir", cohorts, "--bootstrap", "50", *args, report)
    md = report.read_text()
    assert md.startswith("## Mitigation") and "oversampling" in md and "EWC λ=1000" in md
    assert (report.parent / "regions.png").stat().st_size > 0 and (report.parent / "sweep.png").is_file()
    result = json.loads(report.with_suffix(".json").read_text())
    assert result["systems"]["ewc_10"]["lambda"] == 10.0 and result["choice"]["lambda"] == 10.0
    assert result["systems"]["untargeted"]["kind"] == "untargeted" and "untargeted control" in md
    assert result["systems"]["cohort"]["kind"] == "cohort_input" and "| cohort input |" in md
    (claim,) = json.loads((report.parent / "claims.json").read_text())
    assert claim["system"] == "Geographic cohorts + EWC" and claim["held"] is True
    bad = make_stage(
        tmp_path / "greedy", {**search, "method": "greedy", "model_dir": str(model)}, decoded(errs)
    )
    proc = run_step(
        "steps.report_mitigation", "--cohorts-dir", cohorts, args[0], f"g={bad}", report, check=False
    )
    assert proc.returncode == 1 and "decoded with" in proc.stderr


def test_mitigation_confs_are_training_confs() -> None:
    confs = {p.stem: load_train_conf(p, None)[0] for p in sorted((REPO / "conf/mitigate").glob("*.yaml"))}
    assert set(confs) == {"finetune", "ewc", "oversample"}  # the untargeted control uses finetune
    assert len({c.max_steps for c in confs.values()}) == 1  # the same number of updates
    assert set(confs["ewc"].regularizers) == {"ewc"} and not confs["finetune"].regularizers
    assert all(c.init_from and c.model == confs["finetune"].model for c in confs.values())


def test_cohort_input_starts_at_the_baseline_and_streams() -> None:
    from steps.nnet.cohort_input import cohort_row, cohort_rows
    from steps.nnet.search import GreedySearch
    from steps.nnet.streaming import TransducerDecoder
    from steps.nnet.transducer import ModelConf, Transducer

    assert [cohort_row(x, 8) for x in ("geo-3", "geo-none", None, "geo-9", "auto-8")] == [3, 0, 0, 0, 8]
    assert cohort_rows(labels(), 4).tolist()[:4] == [0, 0, 0, 0]  # "a", "b": not <method>-<rank>
    torch.manual_seed(0)
    enc = {"hidden_dim": 16, "num_layers": 1, "output_dim": 16, "subsampling_channels": 4, "dropout": 0.0}
    model = Transducer.from_conf(ModelConf(encoder="lstm", encoder_conf=enc, cohorts=3), 12, 20).eval()
    x, rows = torch.randn(2, 37, 20), torch.tensor([0, 2])
    assert torch.equal(model.cohort(x, rows), x)  # a zero map: fine-tuning starts at the baseline
    torch.nn.init.normal_(model.cohort.proj.weight)
    y = model.cohort(x, rows)
    shift = model.cohort.proj(model.cohort.embed(rows))
    torch.testing.assert_close(y - x, shift[:, None, :].expand_as(x))  # one constant per utterance
    lens = torch.tensor([37, 25])
    offline = TransducerDecoder(model, GreedySearch(model, 3), None).decode(x, lens, rows)
    streamed = TransducerDecoder(model, GreedySearch(model, 3), 5).decode(x, lens, rows)
    assert [h.tokens(2) for h in streamed.hyps] == [h.tokens(2) for h in offline.hyps]
    plain = TransducerDecoder(model, GreedySearch(model, 3), None)
    torch.nn.init.zeros_(model.cohort.embed.weight[0:1].data)  # row 0 (unknown) adds proj.bias = 0
    same = plain.decode(y, lens, torch.zeros(2, dtype=torch.int64))  # y already holds the shift
    assert [h.tokens(2) for h in same.hyps] == [h.tokens(2) for h in offline.hyps]
    with pytest.raises(FairstreamError, match="takes each utterance's cohort"):
        plain.decode(x, lens)


def test_finetune_conf_continues_the_baselines_recipe(tmp_path: Path) -> None:
    """The model block, augmentation and CTC weight come from the baseline run, not the template:
    SpecAugment the baseline never saw made every fine-tuning worse, the control too."""
    base = tmp_path / "base"
    base.mkdir()
    model = {"encoder": "lstm", "encoder_conf": {"hidden_dim": 16, "num_layers": 1}, "ctc_head": True}
    (base / "config.yaml").write_text(
        yaml.safe_dump({"model": model, "data": {"max_duration": 40, "spec_augment": {}}, "ctc_scale": 0.3})
    )
    template = tmp_path / "template.yaml"
    template.write_text(
        yaml.safe_dump({"model": {"encoder": "conformer"}, "data": {"max_duration": 20}, "max_steps": 5})
    )
    out = tmp_path / "ft.yaml"
    invoke(write_finetune_conf.main, "--model-from", base, "--set", "lr=1e-4", template, out)
    conf = yaml.safe_load(out.read_text())
    assert conf["model"] == model and conf["ctc_scale"] == 0.3 and conf["lr"] == 1e-4
    # the template's batch, the baseline's augmentation
    assert conf["data"] == {"max_duration": 20, "spec_augment": {}}
