"""``fairstream``: every step command of the toolkit, grouped by domain (like ``lhotse``'s CLI).

    fairstream --help                 # the domains
    fairstream asr --help             # the ASR steps
    fairstream asr decode-transducer exp/lstm data/fbank exp/decode/lstm_greedy --method greedy

Each command is the step module's own click command (``python -m steps.<module>`` keeps
working); a module is imported only when its command runs, so ``--help`` stays instant.
"""

from __future__ import annotations

import importlib

import click

# domain -> (command name, module under steps/, one-line help); the help is here, not imported,
# so that listing the toolkit does not import torch
DOMAINS: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "data": ("Features, tokenizer and language model (stages 2-3).", [
        ("compute-fbank", "compute_fbank", "80-dim log-mel fbank for every split, resumable by shard."),
        ("prepare-lang", "prepare_lang", "BPE model from the training transcripts."),
        ("train-ngram-lm", "train_ngram_lm", "Token n-gram LMs for shallow fusion and LODR."),
    ]),
    "asr": ("Transducer training, decoding and benchmarks (stages 4-5, 9).", [
        ("train-transducer", "train_transducer", "Train a transducer; the architecture comes from the YAML."),
        ("decode-transducer", "decode_transducer", "Streaming decoding; hyps and errors in the cuts."),
        ("tune-lm-scale", "tune_lm_scale", "Choose LM fusion scales on dev."),
        ("bench-rnnt-loss", "bench_rnnt_loss", "Benchmark the RNN-T loss backends."),
        ("bench-cca", "bench_cca", "CCA vs dense and sliding-window Transformers: compute and WER."),
    ]),
    "deploy": ("ONNX export, onnxruntime decoding and its benchmark (stage 11).", [
        ("export-onnx", "export_onnx", "The transducer as ONNX graphs (+ int8) for deployment."),
        ("decode-onnx", "decode_onnx", "Streaming decoding with an ONNX export on onnxruntime."),
        ("bench-onnx", "bench_onnx", "torch vs onnxruntime fp32 / int8: RTF, latency, size, WER."),
    ]),
    "sv": ("Speaker verification with adversarial re-weighting (stage 6).", [
        ("train-speaker-embedder", "train_speaker_embedder", "Train a speaker embedder (baseline or ARW)."),
        ("extract-embeddings", "extract_embeddings", "Speaker embeddings for every split."),
        ("make-trials", "make_trials", "Verification trials from one split's speakers."),
        ("score-trials", "score_trials", "Cosine scores for a trial list."),
        ("compute-eer", "compute_eer", "EER and minDCF overall and by group, DET plot."),
    ]),
    "fairness": ("Cohort discovery, audits of any recogniser, and mitigation (stages 7-8).", [
        ("discover-cohorts", "discover_cohorts", "Cohorts a recogniser serves worst, three ways."),
        ("audit", "audit", "Worst cohorts of any recogniser (Kaldi text + speaker CSV)."),
        ("select-cohort-cuts", "select_cohort_cuts", "Fine-tuning data for a cohort (or oversampled)."),
        ("compute-fisher", "compute_fisher", "EWC anchor: baseline weights and their diagonal Fisher."),
        ("write-finetune-conf", "write_finetune_conf", "A fine-tuning YAML from a template."),
    ]),
    "multitalker": ("Separator-transducer-segmenter decoding (stage 10).", [
        ("decode-sessions", "decode_sessions", "Streaming two-channel decoding of multi-party sessions."),
    ]),
    "report": ("Reports from finished stages (stages 6, 8, 10, 99).", [
        ("write-results", "write_results", "Assemble RESULTS.md from the finished stages of one run."),
        ("report-sv", "report_sv", "Baseline-vs-ARW speaker verification fragment."),
        ("report-mitigation", "report_mitigation", "Baseline vs fine-tuned models by cohort."),
        ("report-multitalker", "report_multitalker", "The multi-talker systems side by side."),
    ]),
    "jobs": ("Running steps side by side (stages 4, 5, 9, 10).", [
        ("run-jobs", "run_jobs", "Run shell commands a few at a time, each with its own log."),
    ]),
}


class LazyGroup(click.Group):
    """A click group whose commands are imported from ``steps.<module>`` only when run; its help
    lists them from the static table above."""

    def __init__(self, *args: object, commands_table: list[tuple[str, str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.table = {name: (module, short) for name, module, short in commands_table}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.table)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.table:
            return None
        return importlib.import_module(f"steps.{self.table[name][0]}").main

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, short) in self.table.items()])


class Toolkit(click.Group):
    """The top level: the domains, then every step under its domain."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_commands(ctx, formatter)
        with formatter.section("Steps"):
            formatter.write_dl([(f"{d} {name}", short) for d, (_, table) in DOMAINS.items()
                                for name, _, short in table])  # fmt: skip


@click.group(name="fairstream", cls=Toolkit, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """fairstream: streaming RNN-T recipes, multi-talker recognition and fairness cohorts.

    Every step of the recipe, by domain; `fairstream DOMAIN --help` lists its commands and
    `fairstream DOMAIN COMMAND --help` shows a command's options (the same as
    `python -m steps.<command_with_underscores> --help`).
    """


for _domain, (_help, _table) in DOMAINS.items():
    main.add_command(LazyGroup(name=_domain, help=_help, short_help=_help, commands_table=_table))


if __name__ == "__main__":
    main()
