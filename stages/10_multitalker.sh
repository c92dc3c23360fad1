#!/usr/bin/env bash
# Stage 10: multi-party sessions, the separator-transducer-segmenter (SepTDS), speaker-segmented
# decoding, against MT-RNN-T and the single-talker baseline.
# 1. FBANK_DIR's utterances -> SESSIONS_DIR (local/make_sessions.py: rendered recordings with one room
#    and one background noise each, fbank; training mixtures of 1-2 talkers; dev/test sessions of
#    20-60 s with 2-4 speakers, <= 2 at once, 0-40% overlap);
# 2. train the --systems from BASELINE_MODEL's weights, the same number of updates each: septds (CONF,
#    task: multitalker) -> OUT_DIR/septds, mtrnnt (the same without turn tokens or latency penalty:
#    MT-RNN-T, the paper's baseline) -> OUT_DIR/mtrnnt, and optionally septds_nolat (the latency
#    penalty off, an ablation: 4 more minutes of the default run) -> OUT_DIR/septds_nolat;
# 3. stream dev/test sessions through both channels, turns from <sot>/<eot> (MT-RNN-T: from pauses
#    in its emissions, the pause length tuned on dev), speaker labels from XVECTOR_MODEL's embeddings
#    of each turn -> OUT_DIR/<system>_decode (RTTM, turns JSON, ORC-WER, cpWER, DER, turn counting,
#    turn matching and turn-token latency, RTF); the single-talker BASELINE_MODEL decodes energy-VAD
#    segments of the same sessions -> OUT_DIR/single_vad_decode;
# 4. OUT_DIR/report.md + timeline.png + claims.json (steps.report_multitalker: SepTDS vs MT-RNN-T).
# usage: 10_multitalker.sh [--conf conf/train/multitalker.yaml] [--sessions-conf YAML] [--avg K] [--steps N]
#                          [--systems "septds mtrnnt [septds_nolat]"] [--decode-method greedy|modified_beam_lm]
#                          [--chunk-ms N] [--seed N] [--force]
# --decode-method modified_beam_lm: every system's channels (and the baseline's VAD segments) with
# modified beam search and the stage-3 n-gram LM, each turn an LM sentence (conf/lm.yaml's settings)
#                          FBANK_DIR LANG_DIR XVECTOR_MODEL BASELINE_MODEL SESSIONS_DIR OUT_DIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"
options conf=conf/train/multitalker.yaml sessions_conf= avg=2 chunk_ms=320 seed=42 steps= \
  systems="septds mtrnnt" decode_method=greedy force=false
parse_options 6 "$@"
read -r -a names <<<"$systems"
for name in "${names[@]}"; do
  [[ "$name" =~ ^(septds|septds_nolat|mtrnnt)$ ]] || die "--systems: unknown system '$name' (septds septds_nolat mtrnnt)"
done
[[ " $systems " == *" septds "* && " $systems " == *" mtrnnt "* ]] \
  || die "--systems must include septds and mtrnnt (the claim compares them), got '$systems'"
fbank=${ARGS[0]} lang=${ARGS[1]} xvector=${ARGS[2]} baseline=${ARGS[3]} sessions=${ARGS[4]} out=${ARGS[5]}
decode_job() {  # decode_job NAME MODEL_DIR AVG: a steps.run_jobs job
  jobs+=(--job "decode_$1" "$(q python -m steps.decode_sessions --method "$decode_method" --avg "$3" --chunk-ms "$chunk_ms" \
    --xvector-model "$xvector" "${FORCE[@]}" "$2" "$sessions" "$out/$1_decode")")
}

log "sessions $fbank -> $sessions"
python -m local.make_sessions --seed "$seed" ${sessions_conf:+--conf "$sessions_conf"} "${FORCE[@]}" \
  "$fbank" "$sessions"
mkdir -p "$out/confs"
# every system starts from the single-talker baseline (shared encoder, predictor, joiner; new branches)
init=(--set "init_from=$baseline/checkpoint-latest.pt" --set init_strict=false ${steps:+--set "max_steps=$steps"})
declare -A overrides=(
  [septds]=""
  [septds_nolat]="--set task_conf.latency_weight=0"
  [mtrnnt]="--set task_conf.latency_weight=0 --set task_conf.turn_tokens=false"
)
jobs=()
for name in "${names[@]}"; do
  # shellcheck disable=SC2086  # the overrides are words
  python -m steps.write_finetune_conf "${init[@]}" ${overrides[$name]} "$conf" "$out/confs/$name.yaml"
  jobs+=(--job "train_$name" "$(q python -m steps.train_transducer --conf "$out/confs/$name.yaml" \
    --lang-dir "$lang" --seed "$seed" "${FORCE[@]}" "$sessions" "$out/$name")")
done
log "training ${names[*]} -> $out (logs in $out/log)"
# all at once, one thread each: three on 2 cores end together after 1.5 trainings' time, where
# two at a time would leave one core idle for the whole third training
python -m steps.run_jobs --jobs 3 --log-dir "$out/log" "${jobs[@]}"
# speaker-segmented decoding of dev/test sessions, two at a time. --avg 1 (the final weights) for the
# SepTDS models: 600 updates of 40 s are less than one pass over the training mixtures, so there is
# a single epoch checkpoint
jobs=()
for name in "${names[@]}"; do decode_job "$name" "$out/$name" 1; done
decode_job single_vad "$baseline" "$avg"
log "decoding dev/test sessions: ${names[*]} single_vad -> $out/<system>_decode"
python -m steps.run_jobs --jobs 2 --log-dir "$out/log" "${jobs[@]}"
decodes=()
for name in "${names[@]}" single_vad; do decodes+=("$name=$out/${name}_decode"); done
python -m steps.report_multitalker --ours septds --baseline mtrnnt "$out/report.md" "${decodes[@]}"
