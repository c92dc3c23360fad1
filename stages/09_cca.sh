#!/usr/bin/env bash
# Stage 9: compute-cost amortized (CCA) Transformer against sliding-window attention.
# 1. train the plain streaming Transformer (CONF_DIR/transformer.yaml) -> EXP_DIR/transformer, unless
#    stage 4 has (run.sh's default --archs include it, so that stage 5 decodes it like the others);
# 2. from its final weights, the same number of updates for every variant: the plain Transformer
#    itself (the reference, so that extra training is not mistaken for a CCA effect), CCA at each
#    lambda (CONF_DIR/cca.yaml, arbitrators added) and sliding-window attention at each window
#    (CONF_DIR/sliding_window.yaml; an entry W:M:F also removes the MHA of the top M layers and the
#    FFN of the top F, for a baseline at CCA's compute: a window alone saves a few percent at most);
# 3. streaming decoding of each (--method; default modified beam search with the stage-3 LM at the
#    plain Transformer's fusion settings, conf/lm.yaml, for every variant alike: a CCA claim judged
#    on a search that recognises) of --decode-splits; 4. steps.bench_cca -> OUT_DIR/report.md,
#    report.json, claims.json and tradeoff.png (relative WER change with 95% intervals vs encoder
#    compute saved, CCA and windows on the same axes; each CCA variant against the window variant
#    closest to it in compute; skip rates by accent and SNR and whether they depend on difficulty).
# Defaults: lambdas from 0.01 (meant to stay within a few % of the reference's WER) to 0.2 (about
# 60% saved in the last run); window 8 alone, and window 8 without the MHA of the top 4 and the
# FFN of the top 6 of 8 layers (about 58% of the encoder's FLOPs saved): six jobs.
# Compute and skip rates are measured on dev and test whatever --decode-splits says; WERs on the
# decoded splits (the claim and the comparison at equal compute use test).
# usage: 09_cca.sh [--lambdas "L ..."] [--windows "W[:M:F] ..."] [--steps N] [--train-steps N]
#                  [--method greedy|modified_beam|modified_beam_lm] [--decode-splits test]
#                  [--conf-dir conf/train] [--chunk-ms N] [--seed N] [--force] FBANK_DIR LANG_DIR EXP_DIR OUT_DIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"
options lambdas="0.01 0.05 0.2" windows="8 8:4:6" steps=300 train_steps= method=modified_beam_lm decode_splits=test \
  conf_dir=conf/train chunk_ms=320 seed=42 force=false
parse_options 4 "$@"
fbank=${ARGS[0]} lang=${ARGS[1]} exp=${ARGS[2]} out=${ARGS[3]}
window_specs=()  # "name window drop_mha drop_ffn", checked before anything runs
for spec in $windows; do
  [[ "$spec" =~ ^([0-9]+)(:([0-9]+):([0-9]+))?$ ]] || die "--windows entry '$spec': expected W or W:M:F (integers)"
  name=window_${BASH_REMATCH[1]}${BASH_REMATCH[2]:+_drop_${BASH_REMATCH[3]}_${BASH_REMATCH[4]}}
  window_specs+=("$name ${BASH_REMATCH[1]} ${BASH_REMATCH[3]:-0} ${BASH_REMATCH[4]:-0}")
done

log "plain Transformer ($conf_dir/transformer.yaml) -> $exp/transformer (nothing to do if stage 4 trained it)"
python -m steps.train_transducer --conf "$conf_dir/transformer.yaml" --lang-dir "$lang" --seed "$seed" \
  ${train_steps:+--max-steps "$train_steps"} "${FORCE[@]}" "$fbank" "$exp/transformer"
init=$exp/transformer/checkpoint-latest.pt
search=(--method "$method")
if [[ "$method" == modified_beam_lm ]]; then  # every variant with the plain Transformer's LM settings
  search+=(--lm-conf-model transformer)
fi

# name template [--set KEY=VALUE ...]: a job that fine-tunes from the Transformer, then decodes --decode-splits
variant() {
  local name=$1 template=$2; shift 2
  mkdir -p "$out/confs"
  python -m steps.write_finetune_conf --set "max_steps=$steps" --set "warmup_steps=$((steps / 5))" \
    --set "loss_warmup_steps=0" --set "checkpoint_every=$steps" --set "init_from=$init" \
    --set "init_strict=false" "$@" "$template" "$out/confs/$name.yaml"
  jobs+=(--job "cca_$name" "$(q python -m steps.train_transducer --conf "$out/confs/$name.yaml" \
    --lang-dir "$lang" --seed "$seed" "${FORCE[@]}" "$fbank" "$out/$name/model") && $(q \
    python -m steps.decode_transducer "${search[@]}" --avg 1 --chunk-ms "$chunk_ms" --splits "$decode_splits" \
    "${FORCE[@]}" "$out/$name/model" "$fbank" "$out/$name/decode")")
  models+=(--model "$name=$out/$name/decode")
}
models=() jobs=()
variant full "$conf_dir/transformer.yaml"
for lam in $lambdas; do
  variant "cca_$lam" "$conf_dir/cca.yaml" --set "model.encoder_conf.cost_weight=$lam"
done
for spec in "${window_specs[@]}"; do
  read -r name w m f <<<"$spec"
  variant "$name" "$conf_dir/sliding_window.yaml" --set "model.encoder_conf.window=$w" \
    --set "model.encoder_conf.drop_mha=$m" --set "model.encoder_conf.drop_ffn=$f"
done
log "$(( ${#jobs[@]} / 3 )) variants, $steps updates each from the Transformer, two side by side (logs in $out/log)"
python -m steps.run_jobs --jobs 2 --log-dir "$out/log" "${jobs[@]}"

log "compute / accuracy trade-off -> $out/report.md"
python -m steps.bench_cca --reference full "${models[@]}" --out-json "$out/report.json" \
  --report-md "$out/report.md" --plot "$out/tradeoff.png" "$fbank"
