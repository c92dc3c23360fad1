#!/usr/bin/env bash
# Stage 1: corpus -> OUT_DIR with {recordings,supervisions,cuts}_{train,dev,test}.jsonl.gz
# usage: 01_data.sh --corpus demo|librispeech [--corpus-dir P] [--size S] [--seed N] [--nj N] [--force] OUT_DIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"
options corpus=demo corpus_dir= size=default seed=42 nj=2 force=false
parse_options 1 "$@"
out=${ARGS[0]}
case "$corpus" in
  demo) python -m local.prepare_demo --conf conf/demo.yaml --size "$size" --seed "$seed" -j "$nj" "${FORCE[@]}" "$out" ;;
  librispeech) python -m local.prepare_librispeech "${FORCE[@]}" "$corpus_dir" "$out" ;;
  *) die "unknown corpus $corpus" ;;
esac
