"""The audit of any recogniser: stage 7's decodes exported as Kaldi text + CSV give stage 7's cohorts
and numbers; one set is split by speaker; every kind of bad input is stopped or counted."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from lhotse import load_manifest

from steps.data.scoring import error_counts
from steps.fairness.audit import load_audit, read_metadata
from steps.fairness.config import CohortsConf
from steps.utils import FairstreamError
from tests.cohort_data import REGION_WER, write_split
from tests.conftest import run_step

VOCAB = "set a timer for ten minutes play some jazz in the kitchen what is weather like today".split()
ATTRS = ["zip_income", "zip_urbanicity", "zip_age", "zip_home_language"]
CONF = (
    "min_speakers_per_region: 4\nmax_regions: 4\nmax_depth: 3\nmin_partition_speakers: 4\n"
    "k: 4\nbottom_share: 0.2\nbootstrap: 100\nstability_resamples: 20\nseed: 1\n"
)
NO_LOCATION = "spk205"  # a test speaker without lat/lon
NO_EMBEDDING = ("spk201", "spk202")


def _utterance(rng: np.random.Generator, wer: float) -> tuple[str, str]:
    """A 20-word reference and a hypothesis with errors at about ``wer`` (subs, dels and ins)."""
    ref = [str(w) for w in rng.choice(VOCAB, 20)]
    hyp = []
    for w in ref:
        u = rng.random()
        if u < wer * 0.7:
            hyp.append("zzz")
        elif u < wer * 0.9:
            continue
        else:
            hyp.append(w)
        if rng.random() < wer * 0.1:
            hyp.append("uh")
    return " ".join(ref), " ".join(hyp)


def _decoded(rng: np.random.Generator, wer: float) -> tuple[str, dict]:
    ref, hyp = _utterance(rng, wer)
    return ref, {"hyp": hyp, **error_counts(ref, hyp)}


def _write_split(root: Path, split: str, n_spk: int, first: int, rng: np.random.Generator) -> None:
    write_split(
        root, split, n_spk, first, rng, _decoded, lambda reg: f"0{reg}123", NO_EMBEDDING, (NO_LOCATION,)
    )


@pytest.fixture(scope="module")
def stage7(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Decoded cuts, embeddings and stage 7's output on them."""
    root = tmp_path_factory.mktemp("audit")
    rng = np.random.default_rng(9)
    (root / "emb").mkdir()
    _write_split(root, "train", 24, 0, rng)
    _write_split(root, "dev", 32, 100, rng)
    _write_split(root, "test", 32, 200, rng)
    for d in ("fbank", "decode", "emb"):
        (root / d / ".done").write_text("x\n")
    (root / "cohorts.yaml").write_text(CONF)
    run_step(
        "steps.discover_cohorts", "--fbank-dir", root / "fbank", "--embeddings-dir", root / "emb",
        "--conf", root / "cohorts.yaml", root / "decode", root / "cohorts",
    )  # fmt: skip
    return root


def _export(root: Path, out: Path) -> dict[str, Path]:
    """Stage 5's decodes as Kaldi text, their metadata as CSV, stage 6's embeddings as .npy + ids."""
    out.mkdir()
    columns = ["utt", "speaker", "gender", "lat", "lon", "zip", *ATTRS]
    rows = []
    for s in ("dev", "test"):
        hyp, ref = [], []
        for c in load_manifest(root / "decode" / f"cuts_{s}.jsonl.gz"):
            sup = c.supervisions[0]
            hyp.append(f"{c.id} {sup.custom['hyp']}\n")
            ref.append(f"{c.id} {sup.text}\n")
            rows.append({"utt": c.id, **{k: sup.custom.get(k, "") for k in columns[1:]}})
        (out / f"{s}_hyp.txt").write_text("".join(hyp))
        (out / f"{s}_ref.txt").write_text("".join(ref))
    with open(out / "speakers.csv", "w", newline="") as f:
        w = csv.DictWriter(f, columns)
        w.writeheader()
        w.writerows(rows)
    ids, vecs = [], []
    for s in ("dev", "test"):
        for c in load_manifest(root / "emb" / f"cuts_{s}.jsonl.gz"):
            ids.append(c.id)
            vecs.append(c.load_custom("xvector"))
    np.save(out / "xvectors.npy", np.stack(vecs))
    (out / "xvector_ids.txt").write_text("\n".join(ids) + "\n")
    return {p.stem: p for p in out.iterdir()}


def _audit(out: Path, conf: Path, *args: object, check: bool = True):
    return run_step("steps.audit", "--conf", conf, *args, out, check=check)


def _two_sets(f: dict[str, Path]) -> list[object]:
    return [
        "--dev-hyp", f["dev_hyp"], "--dev-ref", f["dev_ref"],
        "--test-hyp", f["test_hyp"], "--test-ref", f["test_ref"], "--metadata", f["speakers"],
    ]  # fmt: skip


def _without_train(x: object) -> object:
    """cohorts.json minus what only stage 7 has (its train split)."""
    if isinstance(x, dict):
        return {
            k: _without_train(v)
            for k, v in x.items()
            if k not in ("train", "train_speakers", "train_bottom_speakers")
        }
    if isinstance(x, list):
        return [_without_train(v) for v in x]
    return x


def test_audit_of_exported_decodes_equals_stage_7(stage7: Path, tmp_path: Path) -> None:
    f = _export(stage7, tmp_path / "export")
    out = tmp_path / "audit"
    proc = _audit(
        out, stage7 / "cohorts.yaml", *_two_sets(f),
        "--embeddings", f["xvectors"], "--embedding-ids", f["xvector_ids"],
    )  # fmt: skip
    s7 = stage7 / "cohorts"
    for m in ("geo", "geodemo", "auto"):
        ours = json.loads((out / m / "cohorts.json").read_text())
        theirs = json.loads((s7 / m / "cohorts.json").read_text())
        assert ours == _without_train(theirs), m
        assert ours["test"]["gap"] is not None and ours["test"]["ci"]["gap"] is not None
    a, b = (json.loads((d / "summary.json").read_text()) for d in (out, s7))
    assert a["auto_minus_geodemo_test_gap_ci"] == b["auto_minus_geodemo_test_gap_ci"]
    assert a["missing_embeddings"] == {"dev": 0, "test": 2} and a["skipped_methods"] == {}
    assert {r["what"] for r in a["skipped_inputs"]} == {
        "speaker without an embedding", "speaker without a location (lat, lon)"
    }  # fmt: skip
    # per-speaker labels agree with the labelled cuts of stage 7
    cuts = [c for s in ("dev", "test") for c in load_manifest(s7 / "geo" / f"cuts_{s}.jsonl.gz")]
    sups = [c.supervisions[0] for c in cuts]
    labels = {s.speaker: (s.custom["cohort"], s.custom["cohort_bottom"]) for s in sups}
    rows = list(csv.DictReader(open(out / "speakers.csv")))
    assert len(rows) == 64
    assert {r["speaker"]: (r["geo_cohort"], r["geo_bottom"] == "1") for r in rows} == labels
    assert len(list(csv.DictReader(open(out / "utterances.csv")))) == 192
    report = (out / "report.md").read_text()
    assert report.startswith("## Recogniser audit") and "given as two sets" in report
    assert "### Cohorts" in report and "(regions_map.png)" in report and "None: every" not in report
    for fig in ("regions_map.png", "cohort_wer.png", "share_curve.png", "claims.json"):
        assert (out / fig).is_file(), fig
    assert "geo: test gap" in proc.stderr
    # the decoded cuts themselves (stored counts, their own metadata) give the same numbers
    out2 = tmp_path / "audit_cuts"
    _audit(
        out2, stage7 / "cohorts.yaml", "--dev-cuts", stage7 / "decode" / "cuts_dev.jsonl.gz",
        "--test-cuts", stage7 / "decode" / "cuts_test.jsonl.gz", "--methods", "geo",
    )  # fmt: skip
    geo = json.loads((s7 / "geo" / "cohorts.json").read_text())
    assert json.loads((out2 / "geo" / "cohorts.json").read_text()) == _without_train(geo)
    assert not (out2 / "auto").exists()


def test_one_set_holds_out_speakers_and_skips_methods_it_cannot_run(stage7: Path, tmp_path: Path) -> None:
    f = _export(stage7, tmp_path / "export")
    both = tmp_path / "all"
    both.mkdir()
    for k in ("hyp", "ref"):
        (both / k).write_text(f[f"dev_{k}"].read_text() + f[f"test_{k}"].read_text())
    rows = list(csv.DictReader(open(f["speakers"])))
    with open(both / "meta.csv", "w", newline="") as fh:  # no zip attributes: no geodemo
        w = csv.DictWriter(fh, ["utt", "speaker", "lat", "lon"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "audit"
    args = ["--hyp", both / "hyp", "--ref", both / "ref", "--metadata", both / "meta.csv"]
    proc = _audit(out, stage7 / "cohorts.yaml", *args)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["held_out"]["seed"] == 1 and summary["speakers"] == {"dev": 32, "test": 32}
    assert set(summary["methods"]) == {"geo"}
    assert set(summary["skipped_methods"]) == {"geodemo", "auto"}
    assert "method auto not run: no speaker embeddings given" in proc.stderr
    spk = list(csv.DictReader(open(out / "speakers.csv")))
    dev = {r["speaker"] for r in spk if r["split"] == "dev"}
    test = {r["speaker"] for r in spk if r["split"] == "test"}
    assert len(dev) == len(test) == 32 and not dev & test
    assert dev != {r["speaker"] for r in spk if r["speaker"] < "spk200"}  # not the given dev set
    report = (out / "report.md").read_text()
    assert "held out speakers itself" in report and "seed 1" in report
    assert "Methods not run:" in report and "no zip attribute" in report
    assert "regions_map.png" in report and not (out / "geodemo").exists()
    claims = json.loads((out / "claims.json").read_text())
    assert [c["held"] for c in claims] == [None, None] and "auto not run" in claims[0]["note"]
    # the same again: nothing to do; another seed: another split
    assert "nothing to do" in _audit(out, stage7 / "cohorts.yaml", *args).stderr
    _audit(tmp_path / "seed2", stage7 / "cohorts.yaml", *args, "--seed", "2")
    spk2 = list(csv.DictReader(open(tmp_path / "seed2" / "speakers.csv")))
    assert {r["speaker"] for r in spk2 if r["split"] == "dev"} != dev


# ---- bad input ----------------------------------------------------------------------------------
def _small(tmp: Path, n_spk: int = 16) -> dict[str, Path]:
    """A small two-set text audit: 2 utterances per speaker, lat/lon in the metadata."""
    rng = np.random.default_rng(0)
    meta = ["utt,speaker,lat,lon,zip_income"]
    for s in ("dev", "test"):
        hyp, ref = [], []
        for i in range(n_spk):
            spk = f"{s}{i:02d}"
            for u in range(2):
                r, h = _utterance(rng, REGION_WER[i % 4])
                ref.append(f"{spk}-{u} {r}")
                hyp.append(f"{spk}-{u} {h}")
                income = "low" if i % 4 == 3 else "high"
                meta.append(f"{spk}-{u},{spk},{10 * (i % 4)},{20 * (i % 4)},{income}")
        (tmp / f"{s}_hyp").write_text("\n".join(hyp) + "\n")
        (tmp / f"{s}_ref").write_text("\n".join(ref) + "\n")
    (tmp / "meta.csv").write_text("\n".join(meta) + "\n")
    (tmp / "conf.yaml").write_text(CONF.replace("k: 4", "k: 2").replace("bootstrap: 100", "bootstrap: 20"))
    return {p.name: p for p in tmp.iterdir()}


def _load(f: dict[str, Path], embeddings: tuple[Path, ...] = (), ids: Path | None = None):
    sets = {s: {"hyp": f[f"{s}_hyp"], "ref": f[f"{s}_ref"]} for s in ("dev", "test")}
    cfg = CohortsConf(min_speakers_per_region=2, min_partition_speakers=2, k=2, bootstrap=0)
    return load_audit(sets, f["meta.csv"], list(embeddings), ids, cfg, [], 0.5)


def _edit(path: Path, fn) -> None:  # noqa: ANN001 - a str -> str function
    path.write_text(fn(path.read_text()))


def test_incomplete_records_are_skipped_counted_and_reported(tmp_path: Path) -> None:
    f = _small(tmp_path)
    _edit(f["dev_hyp"], lambda t: t + "ghost-0 hello there\n")  # hypothesis without a reference
    _edit(f["dev_ref"], lambda t: t + "ghost-1 hello there\n")  # reference without a hypothesis
    lines = f["test_ref"].read_text().splitlines()  # an empty reference
    lines = ["test03-1" if ln.startswith("test03-1 ") else ln for ln in lines]
    f["test_ref"].write_text("\n".join(lines) + "\n")
    _edit(f["test_hyp"], lambda t: t + "nobody-0 who am i\n")
    _edit(f["test_ref"], lambda t: t + "nobody-0 who is this\n")  # scored, but no speaker
    _edit(f["meta.csv"], lambda t: t.replace("test05-0,test05,10,20", "test05-0,test05,,"))
    _edit(f["meta.csv"], lambda t: t.replace("test05-1,test05,10,20", "test05-1,test05,,"))
    out = tmp_path / "out"
    proc = run_step(
        "steps.audit", "--conf", f["conf.yaml"], "--dev-hyp", f["dev_hyp"], "--dev-ref", f["dev_ref"],
        "--test-hyp", f["test_hyp"], "--test-ref", f["test_ref"], "--metadata", f["meta.csv"], out,
    )  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    got = {(r["what"], r["where"]): (r["count"], r["examples"]) for r in summary["skipped_inputs"]}
    assert got == {
        ("utterance in the hypotheses, not in the references", "dev"): (1, ["ghost-0"]),
        ("utterance in the references, not in the hypotheses", "dev"): (1, ["ghost-1"]),
        ("empty reference", "test"): (1, ["test03-1"]),
        ("utterance without a speaker in the metadata", "test"): (1, ["nobody-0"]),
        ("speaker without a location (lat, lon)", "test"): (1, ["test05"]),
    }
    for what, where in got:  # one warning line each, with its count
        assert sum(f"{where}: 1 {what}" in ln for ln in proc.stderr.splitlines()) == 1, what
    utts = {r["utt"] for r in csv.DictReader(open(out / "utterances.csv"))}
    assert len(utts) == 63 and not utts & {"ghost-0", "ghost-1", "test03-1", "nobody-0"}
    report = (out / "report.md").read_text()
    assert "### Inputs skipped" in report and "| empty reference | test | 1 |" in report
    assert "Speakers without a location (`geo-none`): 1 test." in report
    assert "auto" in summary["skipped_methods"] and "geodemo" in summary["methods"]
    assert summary["missing_attributes"] == ["zip_urbanicity", "zip_age", "zip_home_language"]


def _dup_hyp(f: dict[str, Path]) -> None:
    _edit(f["dev_hyp"], lambda t: t + "dev00-0 again\ndev01-1 and again\n")


def _dup_meta(f: dict[str, Path]) -> None:
    _edit(f["meta.csv"], lambda t: t + "dev00-0,dev00,0,0,high\n")


def _utt_in_both(f: dict[str, Path]) -> None:
    for k in ("hyp", "ref"):
        _edit(f[f"test_{k}"], lambda t, k=k: t + f["dev_" + k].read_text().splitlines()[0] + "\n")


def _speaker_in_both(f: dict[str, Path]) -> None:
    _edit(f["meta.csv"], lambda t: t.replace("test00-0,test00,", "test00-0,dev00,"))


def _no_speaker_column(f: dict[str, Path]) -> None:
    _edit(f["meta.csv"], lambda t: t.replace("utt,speaker,", "utt,talker,", 1))


def _bad_lat(f: dict[str, Path]) -> None:
    _edit(f["meta.csv"], lambda t: t.replace("dev02-0,dev02,20,", "dev02-0,dev02,north,"))


def _short_row(f: dict[str, Path]) -> None:
    _edit(f["meta.csv"], lambda t: t + "dev99-0,dev99\n")


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (_dup_hyp, r"dev_hyp: 2 duplicate utterance id\(s\): dev00-0 on lines 1, 33"),
        (_dup_meta, r"meta.csv: 1 duplicate utterance id\(s\): dev00-0 on lines 2, 66"),
        (_utt_in_both, r"1 utterance\(s\) in both the dev and the test set \(dev00-0\)"),
        (_speaker_in_both, r"1 speaker\(s\) in both the dev and the test set \(dev00\)"),
        (_no_speaker_column, r"meta.csv: no column speaker"),
        (_bad_lat, r"meta.csv:6: column lat holds 'north', not a number"),
        (_short_row, r"meta.csv:66: 5 columns expected"),
    ],
)
def test_contradictions_stop_with_one_line(tmp_path: Path, break_it, message: str) -> None:  # noqa: ANN001
    f = _small(tmp_path)
    break_it(f)
    with pytest.raises(FairstreamError, match=message):
        _load(f)


def test_embedding_ids_must_match_the_matrix(tmp_path: Path) -> None:
    f = _small(tmp_path)
    ids = [ln.split()[0] for s in ("dev", "test") for ln in f[f"{s}_ref"].read_text().splitlines()]
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(len(ids) - 1, 4)))
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    with pytest.raises(FairstreamError, match=r"x.npy: shape \(63, 4\), but .*ids.txt lists 64 ids"):
        _load(f, (tmp_path / "x.npy",), tmp_path / "ids.txt")
    (tmp_path / "ids.txt").write_text("\n".join([*ids[:-2], ids[0]]) + "\n")
    dup = r"ids.txt: 1 duplicate utterance id\(s\): dev00-0 on lines 1, 63$"
    with pytest.raises(FairstreamError, match=dup):
        _load(f, (tmp_path / "x.npy",), tmp_path / "ids.txt")
    # an embedding of an utterance nobody knows is counted, not fatal; speakers without one too
    (tmp_path / "ids.txt").write_text("\n".join([*ids[:-2], "stranger-0"]) + "\n")
    got = _load(f, (tmp_path / "x.npy",), tmp_path / "ids.txt")
    skipped = {(r["what"], r["where"]): r["count"] for r in got.info["skipped_inputs"]}
    assert skipped[("embedding of an utterance the metadata does not know", "embeddings")] == 1
    assert got.info["missing_embeddings"] == {"dev": 0, "test": 1} and "auto" in got.methods
    # speaker-level embeddings are refused with the reason, not silently ignored
    spk = sorted({i.split("-")[0] for i in ids})
    np.save(tmp_path / "x.npy", np.zeros((len(spk), 4)))
    (tmp_path / "ids.txt").write_text("\n".join(spk) + "\n")
    with pytest.raises(FairstreamError, match="ids.txt: the embedding ids are speaker ids"):
        _load(f, (tmp_path / "x.npy",), tmp_path / "ids.txt")


def test_step_errors_are_one_line(tmp_path: Path) -> None:
    f = _small(tmp_path)
    _dup_hyp(f)
    proc = run_step(
        "steps.audit", "--conf", f["conf.yaml"], "--dev-hyp", f["dev_hyp"], "--dev-ref", f["dev_ref"],
        "--test-hyp", f["test_hyp"], "--test-ref", f["test_ref"], "--metadata", f["meta.csv"],
        tmp_path / "out", check=False,
    )  # fmt: skip
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(err) == 1 and err[0].startswith("ERROR:") and "dev_hyp" in err[0]
    assert not (tmp_path / "out" / ".done").exists()
    both = run_step(
        "steps.audit", "--hyp", f["dev_hyp"], "--ref", f["dev_ref"], "--dev-hyp", f["dev_hyp"],
        tmp_path / "out2", check=False,
    )  # fmt: skip
    assert both.returncode == 1 and "give exactly one of --hyp / --ref" in both.stderr.splitlines()[-1]
    no_meta = run_step(
        "steps.audit", "--hyp", f["dev_hyp"], "--ref", f["dev_ref"], tmp_path / "o3", check=False
    )
    assert no_meta.returncode == 1 and "--metadata is required" in no_meta.stderr


def test_metadata_columns_are_typed(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    p.write_text(
        "utt,speaker,zip,lat,lon,zip_income,zip_age\nu1,s1,02139,1.5,2,41000,old\nu2,s1,02139,,,,7\n"
    )
    m = read_metadata(p)
    u1 = {"speaker": "s1", "zip": "02139", "lat": 1.5, "lon": 2.0, "zip_income": 41000.0, "zip_age": "old"}
    assert m["u1"] == u1
    assert m["u2"] == {"speaker": "s1", "zip": "02139", "zip_age": "7"}
