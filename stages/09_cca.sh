#!/usr/bin/env bash
# Stage 9: compute-cost amortized (CCA) Transformer against sliding-window attention.
# 1. train the plain streaming Transformer (CONF_DIR/transformer.yaml) -> EXP_DIR/transformer, unless
#    stage 4 has (run.sh's default --archs include it, so that stage 5 decodes it like the others);
# 2. from its final weights, the same number of updates for every variant: the plain Transformer
#    itself (the reference, so that extra training is not mistaken for a CCA effect), CCA at each
#    lambda (CONF_DIR/cca.yaml, arbitrators added) and sliding-window attention at each window;
# 3. streaming greedy decoding of dev and test for each; 4. steps.bench_cca -> OUT_DIR/report.md,
#    report.json and tradeoff.png (relative WER increase vs encoder compute saved, skip rates).
# usage: 09_cca.sh [--lambdas "L ..."] [--windows "W ..."] [--steps N] [--train-steps N] [--conf-dir conf/train]
#                  [--chunk-ms N] [--seed N] [--force] FBANK_DIR LANG_DIR EXP_DIR OUT_DIR
set -euo pipefail
lambdas="0.2 1" windows="4 16" steps=300 conf_dir=conf/train chunk_ms=320 seed=42 force=() train_steps=()
while [ $# -gt 4 ]; do
  case "$1" in
    --lambdas) lambdas=$2; shift 2 ;;
    --windows) windows=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --train-steps) [ -z "$2" ] || train_steps=(--max-steps "$2"); shift 2 ;;
    --conf-dir) conf_dir=$2; shift 2 ;;
    --chunk-ms) chunk_ms=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --force) force=(--force); shift ;;
    *) echo "ERROR: $0: unknown option $1" >&2; exit 1 ;;
  esac
done
if [ $# -ne 4 ]; then
  echo "usage: $0 [options] FBANK_DIR LANG_DIR EXP_DIR OUT_DIR" >&2
  exit 1
fi
fbank=$1 lang=$2 exp=$3 out=$4
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') [09_cca] $*" >&2; }

log "plain Transformer ($conf_dir/transformer.yaml) -> $exp/transformer (nothing to do if stage 4 trained it)"
python -m steps.train_transducer --conf "$conf_dir/transformer.yaml" --lang-dir "$lang" --seed "$seed" "${train_steps[@]}" \
  "${force[@]}" "$fbank" "$exp/transformer"
init=$exp/transformer/checkpoint-latest.pt

# name template [--set KEY=VALUE ...]: a job that fine-tunes from the Transformer, then decodes dev and test
variant() {
  local name=$1 template=$2; shift 2
  mkdir -p "$out/confs"
  python -m steps.write_finetune_conf --set "max_steps=$steps" --set "warmup_steps=$((steps / 5))" \
    --set "loss_warmup_steps=0" --set "checkpoint_every=$steps" --set "init_from=$init" \
    --set "init_strict=false" "$@" "$template" "$out/confs/$name.yaml"
  jobs+=(--job "cca_$name" "$(printf '%q ' python -m steps.train_transducer --conf "$out/confs/$name.yaml" \
    --lang-dir "$lang" --seed "$seed" "${force[@]}" "$fbank" "$out/$name/model") && $(printf '%q ' \
    python -m steps.decode_transducer --method greedy --avg 1 --chunk-ms "$chunk_ms" --splits dev,test \
    "${force[@]}" "$out/$name/model" "$fbank" "$out/$name/decode")")
  models+=(--model "$name=$out/$name/decode")
}
models=() jobs=()
variant full "$conf_dir/transformer.yaml"
for lam in $lambdas; do
  variant "cca_$lam" "$conf_dir/cca.yaml" --set "model.encoder_conf.cost_weight=$lam"
done
for w in $windows; do
  variant "window_$w" "$conf_dir/sliding_window.yaml" --set "model.encoder_conf.window=$w"
done
log "$(( ${#jobs[@]} / 3 )) variants, $steps updates each from the Transformer, two side by side (logs in $out/log)"
python -m steps.run_jobs --jobs 2 --log-dir "$out/log" "${jobs[@]}"

log "compute / accuracy trade-off -> $out/report.md"
python -m steps.bench_cca --reference full "${models[@]}" --out-json "$out/report.json" \
  --report-md "$out/report.md" --plot "$out/tradeoff.png" "$fbank"
