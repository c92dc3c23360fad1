#!/usr/bin/env bash
# Stage 5: MODEL_DIR (trained transducer) + FBANK_DIR -> OUT_DIR (cuts_<split>.jsonl.gz with hyps and
# error counts, wer-/errs-/recogs-<split>.txt, metrics.json with WER, RTF and chunk latency); resumes per cut
# usage: 05_decode.sh [--method greedy|modified_beam|modified_beam_lm] [--avg K] [--chunk-ms N] [--beam N]
#                     [--splits dev,test] [--lm DIR] [--lm-conf F] [--lm-scale X] [--lodr-scale Y]
#                     [--blank-penalty Z] [--force] MODEL_DIR FBANK_DIR OUT_DIR
# modified_beam_lm = modified beam search + shallow fusion of the stage-3 n-gram LM (--lm, default
# <lang_dir>/lm); scales not given come from the decode: section of --lm-conf (conf/lm.yaml).
set -euo pipefail
method=greedy avg=1 chunk_ms=320 beam= splits=dev,test force=() extra=()  # beam: the decoder's default
while [ $# -gt 3 ]; do
  case "$1" in
    --method) method=$2; shift 2 ;;
    --avg) avg=$2; shift 2 ;;
    --chunk-ms) chunk_ms=$2; shift 2 ;;
    --beam) beam=$2; shift 2 ;;
    --splits) splits=$2; shift 2 ;;
    --lm|--lm-conf|--lm-scale|--lodr-scale|--blank-penalty) extra+=("$1" "$2"); shift 2 ;;
    --force) force=(--force); shift ;;
    *) echo "ERROR: $0: unknown option $1" >&2; exit 1 ;;
  esac
done
if [ $# -ne 3 ]; then
  echo "usage: $0 [--method M] [--avg K] [--chunk-ms N] [--beam N] [--splits S] [--lm DIR] [--lm-conf F]" \
    "[--lm-scale X] [--lodr-scale Y] [--blank-penalty Z] [--force] MODEL_DIR FBANK_DIR OUT_DIR" >&2
  exit 1
fi
python -m steps.decode_transducer --method "$method" --avg "$avg" --chunk-ms "$chunk_ms" ${beam:+--beam "$beam"} \
  --splits "$splits" "${extra[@]}" "${force[@]}" "$1" "$2" "$3"
