#!/usr/bin/env bash
# Stage 10: multi-party sessions, the separator-transducer-segmenter (SepTDS), speaker-segmented
# decoding, against MT-RNN-T and the single-talker baseline.
# 1. FBANK_DIR's utterances -> SESSIONS_DIR (local/make_sessions.py: rendered recordings with one room
#    and one background noise each, fbank; training mixtures of 1-2 talkers; dev/test sessions of
#    20-60 s with 2-4 speakers, <= 2 at once, 0-40% overlap);
# 2. train CONF (task: multitalker) from BASELINE_MODEL's weights -> OUT_DIR/septds, the same with the
#    latency penalty off -> OUT_DIR/septds_nolat, and the same without turn tokens (MT-RNN-T, the
#    paper's baseline) -> OUT_DIR/mtrnnt; the same number of updates each;
# 3. stream dev/test sessions through both channels, turns from <sot>/<eot> (MT-RNN-T: from pauses
#    in its emissions, the pause length tuned on dev), speaker labels from XVECTOR_MODEL's embeddings
#    of each turn -> OUT_DIR/<system>_decode (RTTM, turns JSON, ORC-WER, cpWER, DER, turn counting,
#    turn matching and turn-token latency, RTF); the single-talker BASELINE_MODEL decodes energy-VAD
#    segments of the same sessions -> OUT_DIR/single_vad_decode;
# 4. OUT_DIR/report.md + timeline.png + claims.json (steps.report_multitalker: SepTDS vs MT-RNN-T).
# usage: 10_multitalker.sh [--conf conf/train/multitalker.yaml] [--sessions-conf YAML] [--avg K] [--steps N]
#                          [--chunk-ms N] [--seed N] [--force]
#                          FBANK_DIR LANG_DIR XVECTOR_MODEL BASELINE_MODEL SESSIONS_DIR OUT_DIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"
options conf=conf/train/multitalker.yaml sessions_conf= avg=2 chunk_ms=320 seed=42 steps= force=false
parse_options 6 "$@"
fbank=${ARGS[0]} lang=${ARGS[1]} xvector=${ARGS[2]} baseline=${ARGS[3]} sessions=${ARGS[4]} out=${ARGS[5]}
decode_job() {  # decode_job NAME MODEL_DIR AVG: a steps.run_jobs job
  jobs+=(--job "decode_$1" "$(q python -m steps.decode_sessions --avg "$3" --chunk-ms "$chunk_ms" \
    --xvector-model "$xvector" "${FORCE[@]}" "$2" "$sessions" "$out/$1_decode")")
}

log "sessions $fbank -> $sessions"
python -m local.make_sessions --seed "$seed" ${sessions_conf:+--conf "$sessions_conf"} "${FORCE[@]}" \
  "$fbank" "$sessions"
mkdir -p "$out/confs"
# all three start from the single-talker baseline (shared encoder, predictor, joiner; new branches)
init=(--set "init_from=$baseline/checkpoint-latest.pt" --set init_strict=false ${steps:+--set "max_steps=$steps"})
python -m steps.write_finetune_conf "${init[@]}" "$conf" "$out/confs/septds.yaml"
python -m steps.write_finetune_conf "${init[@]}" --set task_conf.latency_weight=0 "$conf" "$out/confs/septds_nolat.yaml"
python -m steps.write_finetune_conf "${init[@]}" --set task_conf.latency_weight=0 --set task_conf.turn_tokens=false \
  "$conf" "$out/confs/mtrnnt.yaml"
# the trainings two at a time, one thread each (logs in OUT_DIR/log/)
jobs=()
for name in septds septds_nolat mtrnnt; do
  jobs+=(--job "train_$name" "$(q python -m steps.train_transducer --conf "$out/confs/$name.yaml" \
    --lang-dir "$lang" --seed "$seed" "${FORCE[@]}" "$sessions" "$out/$name")")
done
log "training septds, septds_nolat and mtrnnt -> $out (logs in $out/log)"
# all three at once, one thread each: on 2 cores they end together after 1.5 trainings' time,
# where two at a time would leave one core idle for the whole third training
python -m steps.run_jobs --jobs 3 --log-dir "$out/log" "${jobs[@]}"
# speaker-segmented decoding of dev/test sessions, two at a time. --avg 1 (the final weights) for the
# SepTDS models: 600 updates of 40 s are less than one pass over the training mixtures, so there is
# a single epoch checkpoint
jobs=()
for name in septds septds_nolat mtrnnt; do decode_job "$name" "$out/$name" 1; done
decode_job single_vad "$baseline" "$avg"
log "decoding dev/test sessions: septds, septds_nolat, mtrnnt, single_vad -> $out/<system>_decode"
python -m steps.run_jobs --jobs 2 --log-dir "$out/log" "${jobs[@]}"
python -m steps.report_multitalker --ours septds --baseline mtrnnt "$out/report.md" "septds=$out/septds_decode" \
  "septds_nolat=$out/septds_nolat_decode" "mtrnnt=$out/mtrnnt_decode" "single_vad=$out/single_vad_decode"
