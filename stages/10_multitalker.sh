#!/usr/bin/env bash
# Stage 10: multi-party sessions, the separator-transducer-segmenter, speaker-segmented decoding.
# 1. FBANK_DIR's utterances -> SESSIONS_DIR (local/make_sessions.py: training mixtures of 1-2
#    talkers; dev/test sessions of 20-60 s with 2-4 speakers, <= 2 at once, 0-40% overlap);
# 2. train CONF (task: multitalker) on the training mixtures -> EXP_DIR/multitalker;
# 3. stream dev/test sessions through both channels, turns from <sot>/<eot>, speaker labels from
#    XVECTOR_MODEL's embeddings of each turn -> EXP_DIR/multitalker_decode (RTTM, turns JSON,
#    ORC-WER, cpWER, DER, turn counting, turn-token latency, RTF; report.md).
# usage: 10_multitalker.sh [--conf conf/train/multitalker.yaml] [--sessions-conf YAML] [--avg K]
#                          [--chunk-ms N] [--seed N] [--force]
#                          FBANK_DIR LANG_DIR XVECTOR_MODEL SESSIONS_DIR EXP_DIR
set -euo pipefail
conf=conf/train/multitalker.yaml sessions_conf= avg=2 chunk_ms=320 seed=42 force=()
while [ $# -gt 5 ]; do
  case "$1" in
    --conf) conf=$2; shift 2 ;;
    --sessions-conf) sessions_conf=$2; shift 2 ;;
    --avg) avg=$2; shift 2 ;;
    --chunk-ms) chunk_ms=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --force) force=(--force); shift ;;
    *) echo "ERROR: $0: unknown option $1" >&2; exit 1 ;;
  esac
done
if [ $# -ne 5 ]; then
  echo "usage: $0 [options] FBANK_DIR LANG_DIR XVECTOR_MODEL SESSIONS_DIR EXP_DIR" >&2
  exit 1
fi
fbank=$1 lang=$2 xvector=$3 sessions=$4 exp=$5
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') [10_multitalker] $*" >&2; }

log "sessions $fbank -> $sessions"
python -m local.make_sessions --seed "$seed" ${sessions_conf:+--conf "$sessions_conf"} "${force[@]}" \
  "$fbank" "$sessions"
log "separator-transducer-segmenter ($conf) -> $exp/multitalker"
python -m steps.train_transducer --conf "$conf" --lang-dir "$lang" --seed "$seed" "${force[@]}" \
  "$sessions" "$exp/multitalker"
log "speaker-segmented decoding of dev/test sessions -> $exp/multitalker_decode"
python -m steps.decode_sessions --avg "$avg" --chunk-ms "$chunk_ms" --xvector-model "$xvector" \
  "${force[@]}" "$exp/multitalker" "$sessions" "$exp/multitalker_decode"
