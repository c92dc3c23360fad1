#!/usr/bin/env bash
# Stage 2: IN_DIR (manifests) -> OUT_DIR (fbank features + cuts_*.jsonl.gz), resumable by shard
# usage: 02_features.sh [--conf F] [--nj N] [--force] IN_DIR OUT_DIR
set -euo pipefail
conf=conf/fbank.yaml nj=2 force=()
while [ $# -gt 2 ]; do
  case "$1" in
    --conf) conf=$2; shift 2 ;;
    --nj) nj=$2; shift 2 ;;
    --force) force=(--force); shift ;;
    *) echo "ERROR: $0: unknown option $1" >&2; exit 1 ;;
  esac
done
python -m steps.compute_fbank --conf "$conf" -j "$nj" "${force[@]}" "$1" "$2"
