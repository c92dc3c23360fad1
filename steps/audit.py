"""Audit any recogniser: the speaker cohorts it serves worst, found as stage 7 finds them.

Two sets (cohort rules learned on dev speakers, measured on test speakers):

    python -m steps.audit --dev-hyp dev/hyp.txt --dev-ref dev/text \
        --test-hyp test/hyp.txt --test-ref test/text --metadata speakers.csv audits/myasr

One set (its speakers are split at random, seeded, into dev and test; the report says so):

    python -m steps.audit --hyp hyp.txt --ref text --metadata speakers.csv audits/myasr

Hypotheses and references are Kaldi ``text`` files (``utt-id words ...``), scored here with the
recipe's scorer; or decoded CutSets (``--dev-cuts``/``--test-cuts`` or ``--cuts``: stage 5's
``cuts_<split>.jsonl.gz``, whose stored counts are used and whose metadata serves when no
``--metadata`` is given).  The metadata CSV has one row per utterance: ``utt``, ``speaker`` and any
of ``gender, accent, country, region, lat, lon, zip`` and zip attributes (``zip_income`` ...,
the names in ``--conf``).  Embeddings are per **utterance**, averaged per speaker as stage 7 does:
CutSets with an ``xvector`` per cut, or one ``.npy`` matrix with ``--embedding-ids`` (its row ids).
geo runs when there are lat/lon, geodemo when there are zip attributes, auto when there are
embeddings; the report names the ones skipped and why.  Bad input: see ``steps/fairness/audit.py``.

Writes OUT_DIR/report.md (+ figures, claims.json), summary.json, <method>/cohorts.json,
utterances.csv (per-utterance counts) and speakers.csv (per-speaker WER and cohorts).
"""

from __future__ import annotations

from pathlib import Path

import click

from steps.fairness.audit import load_audit, write_tables
from steps.fairness.config import CohortsConf
from steps.fairness.discover import METHODS, discover
from steps.reports.cohorts import write_report
from steps.utils import FairstreamError, file_digest, stage_output
from steps.utils.cli import CONTEXT, step_main
from steps.utils.config import load_dataclass, to_dict

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
SET_OPTIONS = {
    "hyp": "--hyp / --ref",
    "cuts": "--cuts",
    "dev_hyp": "--dev-hyp / --dev-ref / --test-hyp / --test-ref",
    "dev_cuts": "--dev-cuts / --test-cuts",
}


def _sets(given: dict[str, Path | None]) -> dict[str, dict[str, Path]]:
    """The one input form given, as {"dev": files, "test": files} or {"all": files}."""
    forms = {
        "hyp": {"all": {"hyp": given["hyp"], "ref": given["ref"]}},
        "cuts": {"all": {"cuts": given["cuts"]}},
        "dev_hyp": {
            "dev": {"hyp": given["dev_hyp"], "ref": given["dev_ref"]},
            "test": {"hyp": given["test_hyp"], "ref": given["test_ref"]},
        },
        "dev_cuts": {"dev": {"cuts": given["dev_cuts"]}, "test": {"cuts": given["test_cuts"]}},
    }
    used = [k for k, sets in forms.items() if any(p for f in sets.values() for p in f.values())]
    if len(used) != 1:
        raise FairstreamError(
            "give exactly one of " + "; ".join(SET_OPTIONS.values()) + f" (got {len(used)} forms)"
        )
    sets = forms[used[0]]
    absent = [f"{s} {k}" for s, f in sets.items() for k, p in f.items() if p is None]
    if absent:
        raise FairstreamError(f"{SET_OPTIONS[used[0]]} go together; missing: {', '.join(absent)}")
    return sets  # type: ignore[return-value]


@click.command(context_settings=CONTEXT)
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--hyp", type=FILE, help="One set: hypotheses (Kaldi text); speakers held out at random.")
@click.option("--ref", type=FILE, help="One set: references (Kaldi text).")
@click.option("--dev-hyp", type=FILE, help="Dev hypotheses (Kaldi text): cohort rules are learned here.")
@click.option("--dev-ref", type=FILE, help="Dev references (Kaldi text).")
@click.option("--test-hyp", type=FILE, help="Test hypotheses (Kaldi text): cohorts are measured here.")
@click.option("--test-ref", type=FILE, help="Test references (Kaldi text).")
@click.option("--cuts", type=FILE, help="One set as a decoded CutSet (hyp, ref_len, ins, del, sub).")
@click.option("--dev-cuts", type=FILE, help="Dev as a decoded CutSet.")
@click.option("--test-cuts", type=FILE, help="Test as a decoded CutSet.")
@click.option(
    "--metadata", type=FILE, help="CSV, one row per utterance: utt, speaker, [lat, lon, zip_* ...]. "
    "Required with Kaldi text; with cuts it replaces their metadata."
)  # fmt: skip
@click.option(
    "--embeddings", type=FILE, multiple=True,
    help="Utterance embeddings: CutSet(s) with an xvector per cut, or one .npy (rows = --embedding-ids).",
)  # fmt: skip
@click.option("--embedding-ids", type=FILE, help="Utterance id of each .npy row, one per line.")
@click.option(
    "--methods", type=click.Choice(METHODS), multiple=True,
    help="Run only these (repeatable); default: every method the inputs allow.",
)  # fmt: skip
@click.option("--dev-share", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.5,
              help="One set: the share of its speakers that become dev.")  # fmt: skip
@click.option(
    "--conf", type=click.Path(path_type=Path), default=Path("conf/cohorts.yaml"), help="Cohorts YAML."
)
@click.option("--seed", type=int, default=None, help="Override the config's seed (split, k-means, ...).")
@click.option("--force", is_flag=True, help="Redo even if OUT_DIR is complete.")
@step_main
def main(
    out_dir: Path,
    metadata: Path | None,
    embeddings: tuple[Path, ...],
    embedding_ids: Path | None,
    methods: tuple[str, ...],
    dev_share: float,
    conf: Path,
    seed: int | None,
    force: bool,
    **given: Path | None,
) -> None:
    """Audit a recogniser's decodes into OUT_DIR: cohort discovery on dev, measured on test."""
    sets = _sets(given)
    if metadata is None and any("hyp" in f for f in sets.values()):
        raise FairstreamError("--metadata is required with Kaldi text (it maps utterances to speakers)")
    cfg = load_dataclass(CohortsConf, conf, seed=seed)
    files = [p for f in sets.values() for p in f.values()] + [metadata, *embeddings, embedding_ids]
    resolved = {
        "inputs": {str(p): file_digest(p) for p in files if p is not None},
        "sets": {s: {k: str(p) for k, p in f.items()} for s, f in sets.items()},
        "methods": list(methods),
        "dev_share": dev_share,
        **to_dict(cfg),
    }
    with stage_output(out_dir, resolved, force) as out:
        inputs = load_audit(sets, metadata, list(embeddings), embedding_ids, cfg, list(methods), dev_share)
        found = discover(inputs.tables, inputs.cfg, out.path, inputs.info, inputs.methods)
        write_tables(inputs, found, out.path)
        write_report(found, out.path)
        click.echo(found.summary(), err=True)


if __name__ == "__main__":
    main()
