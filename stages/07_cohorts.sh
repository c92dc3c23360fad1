#!/usr/bin/env bash
# Stage 7: cohort discovery (geographic tree, geodemographic partition, k-means on embeddings).
#   DECODE_DIR (decoded cuts_{dev,test}) + FBANK_DIR (cuts_train) + EMB_DIR (xvectors) -> OUT_DIR:
#   <method>/cuts_{train,dev,test}.jsonl.gz with cohort labels, <method>/cohorts.json, report.md, PNGs.
# usage: 07_cohorts.sh [--conf FILE] [--seed N] [--force] DECODE_DIR FBANK_DIR EMB_DIR OUT_DIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"
options conf=conf/cohorts.yaml seed= force=false
parse_options 4 "$@"
set -- "${ARGS[@]}"
python -m steps.discover_cohorts --conf "$conf" --fbank-dir "$2" --embeddings-dir "$3" ${seed:+--seed "$seed"} \
  "${FORCE[@]}" "$1" "$4"
