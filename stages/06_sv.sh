#!/usr/bin/env bash
# Stage 6: speaker verification with adversarial re-weighting (ARW).
#   FBANK_DIR (cuts_{train,dev,test}) -> EXP_DIR/trials, EXP_DIR/<variant>/{model,xvectors,scores,eer},
#   EXP_DIR/report.md (+ report_det.png).  The first variant is the baseline of the report.
# usage: 06_sv.sh [--conf-dir D] [--variants "none pairwise_sum"] [--seed N] [--trials FILE] [--max-steps N]
#                 [--bootstrap N] [--force] FBANK_DIR EXP_DIR
set -euo pipefail
conf_dir=conf/sv variants="none pairwise_sum" seed=42 given=() bootstrap=200 force=() max_steps=()
while [ $# -gt 2 ]; do
  case "$1" in
    --conf-dir) conf_dir=$2; shift 2 ;;
    --variants) variants=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --trials) given=(--given "$2"); shift 2 ;;
    --bootstrap) bootstrap=$2; shift 2 ;;
    --max-steps) [ -z "$2" ] || max_steps=(--max-steps "$2"); shift 2 ;;
    --force) force=(--force); shift ;;
    *) echo "ERROR: $0: unknown option $1" >&2; exit 1 ;;
  esac
done
fbank=$1 exp=$2
read -r -a names <<< "$variants"

python -m steps.make_trials --conf "$conf_dir/trials.yaml" --split test --seed "$seed" "${given[@]}" \
  "${force[@]}" "$fbank" "$exp/trials"
# each variant (train -> embeddings -> scores -> EER) is one job; two run side by side, one thread each
eer_dirs=() jobs=()
q() { printf '%q ' "$@"; }
for v in "${names[@]}"; do
  jobs+=(--job "sv_$v" "$(q python -m steps.train_speaker_embedder --conf "$conf_dir/$v.yaml" --seed "$seed" \
      "${max_steps[@]}" "${force[@]}" "$fbank" "$exp/$v/model") \
    && $(q python -m steps.extract_embeddings --model-dir "$exp/$v/model" --conf "$conf_dir/extract.yaml" \
      "${force[@]}" "$fbank" "$exp/$v/xvectors") \
    && $(q python -m steps.score_trials --trials "$exp/trials/trials" --split test --mean-norm-split train \
      "${force[@]}" "$exp/$v/xvectors" "$exp/$v/scores") \
    && $(q python -m steps.compute_eer --trials "$exp/trials/trials" --cuts "$exp/$v/xvectors/cuts_test.jsonl.gz" \
      --bootstrap "$bootstrap" --seed "$seed" "${force[@]}" "$exp/$v/scores" "$exp/$v/eer")")
  eer_dirs+=("$exp/$v/eer")
done
python -m steps.run_jobs --jobs 2 --log-dir "$exp/log" "${jobs[@]}"
python -m steps.report_sv --baseline "${names[0]}" --bootstrap "$bootstrap" --seed "$seed" \
  "${eer_dirs[@]}" "$exp/report.md"
