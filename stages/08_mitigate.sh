#!/usr/bin/env bash
# Stage 8: mitigate the worst cohorts by fine-tuning the baseline: plain (bottom cohort only),
# EWC (bottom cohort + elastic penalty, one run per lambda) and oversampling (all data, bottom
# cohort repeated), each from the same averaged baseline for the same number of updates; then
# decode the test split and write OUT_DIR/report.md (+ regions.png, sweep.png).
# usage: 08_mitigate.sh [--method geo] [--lambdas "1000 10000 100000"] [--conf conf/mitigate] [--steps N]
#                       [--rate R] [--fisher-utts N] [--avg K] [--decode-method M] [--beam N]
#                       [--chunk-ms N] [--batch-size N] [--bootstrap N] [--seed N] [--force]
#                       BASELINE_MODEL_DIR FBANK_DIR LANG_DIR COHORTS_DIR BASELINE_DECODE_DIR OUT_DIR
# --avg: epochs averaged into the baseline theta* (pass the baseline decode's --avg); the decode options
# must match the baseline's decode (the report refuses another search).  --steps: updates per fine-tuning.
set -euo pipefail
method=geo lambdas="1000 10000 100000" conf=conf/mitigate steps=100 rate=0.5 fisher_utts=300 avg=2
decode_method=modified_beam beam= chunk_ms=320 batch_size=8 bootstrap=1000 seed=42 force=()
while [ $# -gt 6 ]; do
  case "$1" in
    --method) method=$2; shift 2 ;;
    --lambdas) lambdas=$2; shift 2 ;;
    --conf) conf=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --fisher-utts) fisher_utts=$2; shift 2 ;;
    --avg) avg=$2; shift 2 ;;
    --decode-method) decode_method=$2; shift 2 ;;
    --beam) beam=$2; shift 2 ;;
    --chunk-ms) chunk_ms=$2; shift 2 ;;
    --batch-size) batch_size=$2; shift 2 ;;
    --bootstrap) bootstrap=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --force) force=(--force); shift ;;
    *) echo "ERROR: $0: unknown option $1" >&2; exit 1 ;;
  esac
done
if [ $# -ne 6 ]; then
  echo "usage: $0 [options] BASELINE_MODEL_DIR FBANK_DIR LANG_DIR COHORTS_DIR BASELINE_DECODE_DIR OUT_DIR" >&2
  exit 1
fi
baseline=$1 fbank=$2 lang=$3 cohorts=$4 base_decode=$5 out=$6
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') [08_mitigate] $*" >&2; }

log "data: bottom cohort, and everything with the bottom cohort at $rate of the utterances"
python -m steps.select_cohort_cuts --method "$method" --mode bottom "${force[@]}" "$cohorts" "$out/data/bottom"
python -m steps.select_cohort_cuts --method "$method" --mode oversample --rate "$rate" --seed "$seed" \
  "${force[@]}" "$cohorts" "$out/data/oversample"
log "Fisher of the averaged baseline on $fisher_utts training utterances"
python -m steps.compute_fisher --avg "$avg" --num-utts "$fisher_utts" --seed "$seed" --lang-dir "$lang" \
  "${force[@]}" "$baseline" "$fbank" "$out/fisher"

# name template data [--set ...]: a job that fine-tunes, then decodes test
q() { printf '%q ' "$@"; }
finetune() {
  local name=$1 template=$2 data=$3; shift 3
  mkdir -p "$out/confs"
  python -m steps.write_finetune_conf --model-from "$baseline" --set "max_steps=$steps" \
    --set "init_from=$out/fisher/baseline.pt" "$@" "$template" "$out/confs/$name.yaml"
  jobs+=(--job "finetune_$name" "$(q python -m steps.train_transducer --conf "$out/confs/$name.yaml" \
      --lang-dir "$lang" --seed "$seed" "${force[@]}" "$data" "$out/$name/model") \
    && $(q python -m steps.decode_transducer --splits test --method "$decode_method" ${beam:+--beam "$beam"} \
      --chunk-ms "$chunk_ms" --avg 1 --batch-size "$batch_size" "${force[@]}" "$out/$name/model" "$fbank" \
      "$out/$name/decode")")
  systems+=("$name=$out/$name/decode")
}
systems=("baseline=$base_decode") jobs=()
finetune finetune "$conf/finetune.yaml" "$out/data/bottom"
for lam in $lambdas; do
  finetune "ewc_$lam" "$conf/ewc.yaml" "$out/data/bottom" \
    --set "regularizers.ewc.fisher=$out/fisher/fisher.pt" --set "regularizers.ewc.lambda=$lam"
done
finetune oversample "$conf/oversample.yaml" "$out/data/oversample"
log "$(( ${#jobs[@]} / 3 )) fine-tunings ($steps updates each) and their test decodes, two side by side (logs in $out/log)"
python -m steps.run_jobs --jobs 2 --log-dir "$out/log" "${jobs[@]}"

python -m steps.report_mitigation --cohorts-dir "$cohorts" --method "$method" --bootstrap "$bootstrap" --seed "$seed" \
  "${systems[@]}" "$out/report.md"
