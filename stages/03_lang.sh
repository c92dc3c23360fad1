#!/usr/bin/env bash
# Stage 3: IN_DIR (manifests) -> OUT_DIR (bpe.model, tokens.txt), trained on the train split
# usage: 03_lang.sh [--conf F] [--force] IN_DIR OUT_DIR
set -euo pipefail
conf=conf/lang.yaml force=()
while [ $# -gt 2 ]; do
  case "$1" in
    --conf) conf=$2; shift 2 ;;
    --force) force=(--force); shift ;;
    *) echo "ERROR: $0: unknown option $1" >&2; exit 1 ;;
  esac
done
python -m steps.prepare_lang --conf "$conf" "${force[@]}" "$1" "$2"
