"""Choose the LM fusion scales on dev: decode the first N dev cuts offline for a grid of scales.

    python -m steps.tune_lm_scale exp/lstm data/fbank --lm data/lang_bpe_100/lm \\
        --lm-scales 0,0.1,0.2,0.3,0.5 --lodr-scales 0,0.1 --num-cuts 128

The encoder runs once per batch; every grid point re-runs only the modified beam search on the
stored encoder output, so a grid costs little more than its searches.  Prints a table (WER,
insertions / deletions / substitutions per point, the best marked) and optionally writes it as
JSON (``--out``).  Scales are chosen on dev, never on test: test splits are refused.  Put the
chosen values in the ``decode:`` section of conf/lm.yaml (what ``--method modified_beam_lm``
decodes with).  Row ``lm 0, lodr 0`` is plain modified beam search.
"""

from __future__ import annotations

import itertools
import logging
import time
from pathlib import Path
from typing import Any

import click
import torch

from steps.data.manifests import load_cuts
from steps.data.scoring import error_counts, totals, wer
from steps.lm.fusion import LM_FILE, LODR_FILE, LmFusion, check_lm_dir
from steps.lm.ngram import NgramLM
from steps.nnet.loading import load_model, training_lang_dir
from steps.nnet.search import ModifiedBeamSearch, default_symbols_per_frame
from steps.nnet.streaming import load_features
from steps.utils import FairstreamError, require_complete, write_json_atomic
from steps.utils.cli import CONTEXT, step_main

log = logging.getLogger(__name__)


def _floats(text: str, what: str) -> list[float]:
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise FairstreamError(f"{what}: comma-separated numbers expected, got {text!r}") from e
    if not vals:
        raise FairstreamError(f"{what} is empty")
    return vals


@click.command(context_settings=CONTEXT)
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("fbank_dir", type=click.Path(path_type=Path))
@click.option(
    "--lm", "lm_dir", type=click.Path(path_type=Path), default=None, help="LM directory [<lang_dir>/lm]."
)
@click.option("--lm-scales", default="0,0.1,0.2,0.3,0.4,0.5", help="Comma-separated LM scales.")
@click.option("--lodr-scales", default="0", help="Comma-separated LODR scales (subtracted bigram).")
@click.option("--blank-penalties", default="0", help="Comma-separated blank penalties.")
@click.option("--lm-eos/--no-lm-eos", default=True, help="Add the LM's end-of-sentence score at the end.")
@click.option("--split", default="dev", help="Tuning split (never test).")
@click.option("--num-cuts", type=int, default=128, help="Decode the first N cuts of the split.")
@click.option("--beam", type=int, default=4, help="Modified beam search beam.")
@click.option(
    "--symbols-per-frame", type=click.IntRange(min=1), default=None,
    help="Most tokens per hypothesis and frame [1 per 40 ms of encoder frame].",
)  # fmt: skip
@click.option(
    "--avg", type=int, default=1, help="Average the last K epoch checkpoints (1: checkpoint-latest)."
)
@click.option(
    "--lang-dir", type=click.Path(path_type=Path), default=None, help="BPE directory [MODEL_DIR's]."
)
@click.option("--batch-size", type=int, default=8, help="Utterances per encoder batch.")
@click.option("--num-threads", type=int, default=1, help="torch threads.")
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Also write the table as JSON here."
)
@step_main
def main(
    model_dir: Path,
    fbank_dir: Path,
    lm_dir: Path | None,
    lm_scales: str,
    lodr_scales: str,
    blank_penalties: str,
    lm_eos: bool,
    split: str,
    num_cuts: int,
    beam: int,
    symbols_per_frame: int | None,
    avg: int,
    lang_dir: Path | None,
    batch_size: int,
    num_threads: int,
    out: Path | None,
) -> None:
    """Dev WER of modified beam search + LM fusion for each (lm scale, LODR scale, blank penalty).

    Offline, on the first --num-cuts cuts of --split (never test); put the best values in the
    decode: section of conf/lm.yaml, which --method modified_beam_lm decodes with.
    """
    if split.startswith("test"):
        raise FairstreamError(f"--split {split}: scales are tuned on dev, never on test")
    if num_cuts < 1 or batch_size < 1 or num_threads < 1:
        raise FairstreamError("--num-cuts, --batch-size and --num-threads must be >= 1")
    grid = list(
        itertools.product(
            _floats(lm_scales, "--lm-scales"),
            _floats(lodr_scales, "--lodr-scales"),
            _floats(blank_penalties, "--blank-penalties"),
        )
    )
    require_complete(model_dir, "model")
    require_complete(fbank_dir, "feature")
    lang_dir = training_lang_dir(model_dir, lang_dir)
    torch.set_num_threads(num_threads)
    model, tok, num_features = load_model(model_dir, lang_dir, avg)
    symbols_per_frame = symbols_per_frame or default_symbols_per_frame(model)
    lm_dir = lm_dir if lm_dir is not None else lang_dir / "lm"
    need_lm = any(a for a, _, _ in grid)
    need_lodr = any(b for _, b, _ in grid)
    lm = lodr = None
    if need_lm or need_lodr:
        check_lm_dir(lm_dir, lang_dir)
        lm = NgramLM.load(lm_dir / LM_FILE) if need_lm else None
        lodr = NgramLM.load(lm_dir / LODR_FILE) if need_lodr else None
    cuts = list(load_cuts(fbank_dir, split))[:num_cuts]
    if not cuts:
        raise FairstreamError(f"{fbank_dir}: split {split} has no cuts")
    refs = [c.supervisions[0].text or "" for c in cuts]
    t0 = time.perf_counter()
    encoded = []
    with torch.inference_mode():
        for i in range(0, len(cuts), batch_size):
            feats, lens = load_features(cuts[i : i + batch_size], num_features)
            enc, enc_lens = model.encoder(feats, lens)
            encoded.append((enc, [int(n) for n in enc_lens]))
    log.info("encoded %d %s cuts in %.1f s", len(cuts), split, time.perf_counter() - t0)
    rows: list[dict[str, Any]] = []
    for lm_scale, lodr_scale, penalty in grid:
        fusion = LmFusion(lm, lm_scale, lodr, lodr_scale, lm_eos)
        search = ModifiedBeamSearch(model, beam, fusion, penalty, symbols_per_frame)
        t1 = time.perf_counter()
        counts = []
        with torch.inference_mode():
            hyps = []
            for enc, enc_lens in encoded:
                states = search.init(enc.size(0))
                search.advance(enc, enc_lens, states)
                hyps += [search.best(s) for s in states]
        for ref, h in zip(refs, hyps, strict=True):
            counts.append(error_counts(ref, tok.decode(h.tokens(search.context_size))))
        t = totals(counts)
        rows.append(
            {
                "lm_scale": lm_scale,
                "lodr_scale": lodr_scale,
                "blank_penalty": penalty,
                "wer": round(100 * wer([t]), 2),
                **{k: t[k] for k in ("ins", "del", "sub", "ref_len")},
                "search_seconds": round(time.perf_counter() - t1, 2),
            }
        )
        log.info("lm %g lodr %g blank penalty %g: WER %.2f", lm_scale, lodr_scale, penalty, rows[-1]["wer"])
    best = min(rows, key=lambda r: (r["wer"], r["lm_scale"], r["lodr_scale"], abs(r["blank_penalty"])))
    lines = [
        f"{split}: first {len(cuts)} cuts, {best['ref_len']} words, modified beam {beam}, offline, "
        f"LM {lm_dir if (need_lm or need_lodr) else '-'}",
        "| lm scale | lodr scale | blank penalty | WER | ins | del | sub | search s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mark = " **best**" if r is best else ""
        lines.append(
            f"| {r['lm_scale']:g} | {r['lodr_scale']:g} | {r['blank_penalty']:g} | {r['wer']:.2f}{mark} "
            f"| {r['ins']} | {r['del']} | {r['sub']} | {r['search_seconds']:.1f} |"
        )
    click.echo("\n".join(lines))
    if out is not None:
        write_json_atomic(
            out,
            {
                "split": split,
                "num_cuts": len(cuts),
                "beam": beam,
                "lm_dir": str(lm_dir),
                "rows": rows,
                "best": best,
            },
        )


if __name__ == "__main__":
    main()
