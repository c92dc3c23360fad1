#!/usr/bin/env bash
# Stage 6: speaker verification with adversarial re-weighting (ARW).
#   FBANK_DIR (cuts_{train,dev,test}) -> EXP_DIR/trials, EXP_DIR/<variant>/{model,xvectors,scores,eer},
#   EXP_DIR/report.md (+ report_det.png).  The first variant is the baseline of the report.
# usage: 06_sv.sh [--conf-dir D] [--variants "none pairwise_sum"] [--seed N] [--trials FILE] [--max-steps N]
#                 [--bootstrap N] [--split S] [--force] FBANK_DIR EXP_DIR
# --split: the split whose speakers make the trials [sv when FBANK_DIR has it (the demo corpus's
# verification-only speakers, many utterances each), else test]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
options conf_dir=conf/sv variants="none pairwise_sum" seed=42 trials= bootstrap=200 max_steps= split= force=false
parse_options 2 "$@"
fbank=${ARGS[0]} exp=${ARGS[1]}
if [ -z "$split" ]; then split=test; [ -f "$fbank/cuts_sv.jsonl.gz" ] && split=sv; fi
read -r -a names <<< "$variants"

python -m steps.make_trials --conf "$conf_dir/trials.yaml" --split "$split" --seed "$seed" ${trials:+--given "$trials"} \
  "${FORCE[@]}" "$fbank" "$exp/trials"
# each variant (train -> embeddings -> scores -> EER) is one job; two run side by side, one thread each
eer_dirs=() jobs=()
for v in "${names[@]}"; do
  jobs+=(--job "sv_$v" "$(q python -m steps.train_speaker_embedder --conf "$conf_dir/$v.yaml" --seed "$seed" \
      ${max_steps:+--max-steps "$max_steps"} "${FORCE[@]}" "$fbank" "$exp/$v/model") \
    && $(q python -m steps.extract_embeddings --model-dir "$exp/$v/model" --conf "$conf_dir/extract.yaml" \
      "${FORCE[@]}" "$fbank" "$exp/$v/xvectors") \
    && $(q python -m steps.score_trials --trials "$exp/trials/trials" --split "$split" --mean-norm-split train \
      "${FORCE[@]}" "$exp/$v/xvectors" "$exp/$v/scores") \
    && $(q python -m steps.compute_eer --trials "$exp/trials/trials" --cuts "$exp/$v/xvectors/cuts_$split.jsonl.gz" \
      --bootstrap "$bootstrap" --seed "$seed" "${FORCE[@]}" "$exp/$v/scores" "$exp/$v/eer")")
  eer_dirs+=("$exp/$v/eer")
done
python -m steps.run_jobs --jobs 2 --log-dir "$exp/log" "${jobs[@]}"
python -m steps.report_sv --baseline "${names[0]}" --bootstrap "$bootstrap" --seed "$seed" --split "$split" \
  "${eer_dirs[@]}" "$exp/report.md"
