#!/usr/bin/env bash
# Stage 2: IN_DIR (manifests) -> OUT_DIR (fbank features + cuts_*.jsonl.gz), resumable by shard
# usage: 02_features.sh [--conf F] [--nj N] [--force] IN_DIR OUT_DIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"
options conf=conf/fbank.yaml nj=2 force=false
parse_options 2 "$@"
python -m steps.compute_fbank --conf "$conf" -j "$nj" "${FORCE[@]}" "${ARGS[@]}"
