#!/usr/bin/env bash
# Stage 7: cohort discovery (geographic tree, geodemographic partition, k-means on embeddings).
#   DECODE_DIR (decoded cuts_{dev,test}) + FBANK_DIR (cuts_train) + EMB_DIR (xvectors) -> OUT_DIR:
#   <method>/cuts_{train,dev,test}.jsonl.gz with cohort labels, <method>/cohorts.json, report.md, PNGs.
# usage: 07_cohorts.sh [--conf FILE] [--seed N] [--force] DECODE_DIR FBANK_DIR EMB_DIR OUT_DIR
set -euo pipefail
conf=conf/cohorts.yaml seed=() force=()
while [ $# -gt 4 ]; do
  case "$1" in
    --conf) conf=$2; shift 2 ;;
    --seed) seed=(--seed "$2"); shift 2 ;;
    --force) force=(--force); shift ;;
    *) echo "ERROR: $0: unknown option $1" >&2; exit 1 ;;
  esac
done
if [ $# -ne 4 ]; then
  echo "usage: $0 [--conf FILE] [--seed N] [--force] DECODE_DIR FBANK_DIR EMB_DIR OUT_DIR" >&2
  exit 1
fi
python -m steps.discover_cohorts --conf "$conf" --fbank-dir "$2" --embeddings-dir "$3" "${seed[@]}" \
  "${force[@]}" "$1" "$4"
