#!/usr/bin/env bash
# Stage 11: a trained transducer where models are deployed.
#   MODEL_DIR (a finished training) -> MODEL_DIR/onnx: encoder/decoder/joiner .onnx (streaming encoder of
#   --chunk-ms audio, every piece of its state an input and an output; sherpa-onnx's lstm model type when the
#   encoder fits), their int8 copies, tokens.txt, bpe.model, export.json;
#   then torch streaming vs onnxruntime fp32 vs int8 on up to --max-cuts cuts of FBANK_DIR's --split, one thread
#   each -> OUT_DIR/report.md (RTF, chunk latency, size, WER, cuts identical to torch), report.json.
# usage: 11_export.sh [--chunk-ms N] [--layout auto|named|sherpa] [--avg K] [--split test] [--max-cuts N]
#                     [--force] MODEL_DIR FBANK_DIR OUT_DIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"
options chunk_ms=320 layout=auto avg=1 split=test max_cuts=200 force=false
parse_options 3 "$@"
model=${ARGS[0]} fbank=${ARGS[1]} out=${ARGS[2]}

log "export $model -> $model/onnx ($chunk_ms ms chunks, layout $layout, + int8)"
python -m steps.export_onnx --chunk-ms "$chunk_ms" --layout "$layout" --avg "$avg" "${FORCE[@]}" "$model" "$model/onnx"
log "torch vs onnxruntime fp32 / int8 on $split (up to $max_cuts cuts) -> $out/report.md"
python -m steps.bench_onnx --split "$split" --max-cuts "$max_cuts" --avg "$avg" "${FORCE[@]}" \
  "$model" "$model/onnx" "$fbank" "$out"
