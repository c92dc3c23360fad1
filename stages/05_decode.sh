#!/usr/bin/env bash
# Stage 5: MODEL_DIR (trained transducer) + FBANK_DIR -> OUT_DIR (cuts_<split>.jsonl.gz with hyps and
# error counts, wer-/errs-/recogs-<split>.txt, metrics.json with WER, RTF and chunk latency); resumes per cut
# usage: 05_decode.sh [--method greedy|modified_beam] [--avg K] [--chunk-ms N] [--beam N] [--splits dev,test]
#                     [--force] MODEL_DIR FBANK_DIR OUT_DIR
set -euo pipefail
method=greedy avg=1 chunk_ms=320 beam=4 splits=dev,test force=()
while [ $# -gt 3 ]; do
  case "$1" in
    --method) method=$2; shift 2 ;;
    --avg) avg=$2; shift 2 ;;
    --chunk-ms) chunk_ms=$2; shift 2 ;;
    --beam) beam=$2; shift 2 ;;
    --splits) splits=$2; shift 2 ;;
    --force) force=(--force); shift ;;
    *) echo "ERROR: $0: unknown option $1" >&2; exit 1 ;;
  esac
done
if [ $# -ne 3 ]; then
  echo "usage: $0 [--method M] [--avg K] [--chunk-ms N] [--beam N] [--splits S] [--force] MODEL_DIR FBANK_DIR OUT_DIR" >&2
  exit 1
fi
python -m steps.decode_transducer --method "$method" --avg "$avg" --chunk-ms "$chunk_ms" --beam "$beam" \
  --splits "$splits" "${force[@]}" "$1" "$2" "$3"
