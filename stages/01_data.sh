#!/usr/bin/env bash
# Stage 1: corpus -> OUT_DIR with {recordings,supervisions,cuts}_{train,dev,test}.jsonl.gz
# usage: 01_data.sh --corpus demo|librispeech [--corpus-dir P] [--size S] [--seed N] [--nj N] [--force] OUT_DIR
set -euo pipefail
corpus=demo corpus_dir= size=default seed=42 nj=2 force=()
while [ $# -gt 1 ]; do
  case "$1" in
    --corpus) corpus=$2; shift 2 ;;
    --corpus-dir) corpus_dir=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --nj) nj=$2; shift 2 ;;
    --force) force=(--force); shift ;;
    *) echo "ERROR: $0: unknown option $1" >&2; exit 1 ;;
  esac
done
out=$1
case "$corpus" in
  demo) python -m local.prepare_demo --conf conf/demo.yaml --size "$size" --seed "$seed" -j "$nj" "${force[@]}" "$out" ;;
  librispeech) python -m local.prepare_librispeech "${force[@]}" "$corpus_dir" "$out" ;;
  *) echo "ERROR: unknown corpus $corpus" >&2; exit 1 ;;
esac
