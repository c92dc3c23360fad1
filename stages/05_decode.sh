#!/usr/bin/env bash
# Stage 5: MODEL_DIR (trained transducer) + FBANK_DIR -> OUT_DIR (cuts_<split>.jsonl.gz with hyps and
# error counts, wer-/errs-/recogs-<split>.txt, metrics.json with WER, RTF and chunk latency); resumes per cut
# usage: 05_decode.sh [--method greedy|modified_beam|modified_beam_lm] [--avg K] [--chunk-ms N] [--beam N]
#                     [--splits dev,test] [--batch-size B] [--lm DIR] [--lm-conf F] [--lm-scale X] [--lodr-scale Y]
#                     [--blank-penalty Z] [--force] MODEL_DIR FBANK_DIR OUT_DIR
# modified_beam_lm = modified beam search + shallow fusion of the stage-3 n-gram LM (--lm, default
# <lang_dir>/lm); scales not given come from the decode: section of --lm-conf (conf/lm.yaml).
# --batch-size B streams B utterances side by side: the same hypotheses, about twice as fast at 8, but
# RTF and chunk latency are then those of a batch (the comparison tables' decodes keep 1).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
# beam and the LM options: the decoder's defaults (conf/lm.yaml's decode: section) unless given
options method=greedy avg=1 chunk_ms=320 beam= splits=dev,test batch_size=1 lm= lm_conf= lm_scale= lodr_scale= \
  blank_penalty= force=false
parse_options 3 "$@"
python -m steps.decode_transducer --method "$method" --avg "$avg" --chunk-ms "$chunk_ms" --splits "$splits" \
  --batch-size "$batch_size" \
  ${beam:+--beam "$beam"} ${lm:+--lm "$lm"} ${lm_conf:+--lm-conf "$lm_conf"} ${lm_scale:+--lm-scale "$lm_scale"} \
  ${lodr_scale:+--lodr-scale "$lodr_scale"} ${blank_penalty:+--blank-penalty "$blank_penalty"} "${FORCE[@]}" \
  "${ARGS[@]}"
