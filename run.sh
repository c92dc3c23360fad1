#!/usr/bin/env bash
# fairstream: the whole recipe, stage by stage. ./run.sh --help lists the stages.
set -euo pipefail
cd "$(dirname "$0")"
run_command="./run.sh $*"
run_started=$(date +%s)
run_t0=$SECONDS

# ---- defaults (every one can be set with --name value) ----
stage=0
stop_stage=100
corpus=demo            # demo | librispeech
corpus_dir=            # path to a real corpus (librispeech)
size=default           # demo corpus size: tiny | small | default
seed=42
nj=2
data_dir=data
exp_dir=exp
force=false            # pass --force to every step (redo complete outputs)
publish=false          # stage 99 writes the repository's RESULTS.md + results/ (else $exp_dir/RESULTS.md)
# stage scripts: swap any of them, e.g. --features-stage my_fbank.sh
setup_stage=stages/00_setup.sh
data_stage=stages/01_data.sh
features_stage=stages/02_features.sh
lang_stage=stages/03_lang.sh
train_stage=stages/04_train.sh
decode_stage=stages/05_decode.sh
sv_stage=stages/06_sv.sh
cohorts_stage=stages/07_cohorts.sh
mitigate_stage=stages/08_mitigate.sh
cca_stage=stages/09_cca.sh
multitalker_stage=stages/10_multitalker.sh
export_stage=stages/11_export.sh
report_stage=stages/99_report.sh
# architectures to train and decode (conf/train/<arch>.yaml); the first is the baseline of stages 7, 8
# and 10.
archs="lstm contextnet convrnnt conformer transformer"
# stage 4 starts these first, in this order, --train-jobs at a time (longest first: 10.0, 8.1, 6.8, 9.4
# and 6.0 min side by side on 2026-12-01; the old order, lstm first, left one core idle for 5.3 min)
train_order="transformer conformer convrnnt contextnet lstm"
compare_reference=convrnnt  # the architecture every other one is tested against in the report (the claim)
train_jobs=2           # stage-4 trainings side by side (CPU cores split between them)
decode_jobs=2          # stage-5 decodes side by side (one thread each)
nproc=1                # training processes (torchrun/DDP when > 1)
decode_methods="greedy modified_beam_lm"  # search methods of stage 5 for every arch (modified_beam_lm: + stage-3 n-gram LM)
baseline_methods="modified_beam"  # more search methods for the first arch only (beam without the LM: the LM
                                  # table's other column; for every arch it cost 3.6 core-minutes)
dev_decodes=baseline   # stage 5 decodes dev for: baseline (the first arch's methods and every LM decode; the
                       # others decode test only) | all
heldout_split=sv       # stage 5 also decodes this split of held-out speakers with the first arch's
                       # --decode-methods into \$exp_dir/decode_<split> (per-accent WERs on 2.5x the test's
                       # speakers: 8 per accent leave accent differences within speaker noise) [none: skip]
sv_variants="none pairwise_sum"        # speaker-verification systems of stage 6 (conf/sv/<name>.yaml); first = baseline
mitigate_lambdas="1000 10000 100000"  # EWC strengths of stage 8
mitigate_steps=100     # updates of every stage-8 fine-tuning
cca_lambdas="0.2 0.5"  # compute-cost weights of the CCA Transformers of stage 9 (0.01 and 0.05 skipped nothing)
cca_windows="8:4:6"     # sliding-window baselines of stage 9: W, or W:M:F (window W, no MHA in the top M
                        # layers, no FFN in the top F: statically pruned at about CCA's compute; the plain
                        # window 8 saved 2.4% of the compute, no baseline at CCA's compute, so it is not run)
cca_steps=300          # updates of every stage-9 variant from the plain Transformer (lambda 0.2 saved 21% of the
                       # compute after 200, 22% after 300 at +0.8% rel. WER, 2026-12-01)
train_steps=           # updates of every stage-4 transducer and of stage 9's Transformer [config's; small: 450]
sv_steps=              # updates of every stage-6 speaker embedder [config's; small: 100]
multitalker_steps=     # updates of each stage-10 separator-transducer-segmenter [config's; small: 100]
multitalker_systems="septds mtrnnt"  # stage-10 systems; add septds_nolat for the latency-penalty ablation
                       # (+4 min: in the run of 2026-12-01 it did not lower the turn-token latency)
cohort_decode=         # decode dir cohorts are found on [\$exp_dir/decode/<first arch>_modified_beam_lm if decoded, else _modified_beam]
avg=1                  # average the last N epoch checkpoints for decoding (1: the final weights; after the
                       # recipe's LR decay they beat an average of the last 2 epochs: 16.0 vs 18.6% dev)
chunk_ms=320           # streaming decoding chunk

stages_help="
  0  setup      $setup_stage      create/refresh .venv, install fairstream (+ fast_rnnt)
  1  data       $data_stage       corpus -> \$data_dir/manifests (Lhotse recordings/supervisions/cuts)
  2  features   $features_stage   manifests -> \$data_dir/fbank (80-dim log-mel, lilcom)
  3  lang       $lang_stage       train transcripts -> \$data_dir/lang_bpe_N (BPE, <blk>/<sot>/<eot>); LM text -> \$data_dir/lm_text, token n-gram LM -> \$data_dir/lang_bpe_N/lm
  4  train      $train_stage      fbank + lang -> \$exp_dir/<arch> for each of --archs (pruned RNN-T)
  5  decode     $decode_stage     \$exp_dir/<arch> + fbank -> \$exp_dir/decode/<arch>_<method> (streaming; hyps, WER, RTF, latency), the first arch also --heldout-split -> \$exp_dir/decode_<split>
  6  sv         $sv_stage         fbank -> \$exp_dir/sv (speaker embedders: baseline + ARW; trials, embeddings, EER by group)
  7  cohorts    $cohorts_stage    decodes + embeddings -> \$exp_dir/cohorts (geographic tree, geodemographic, k-means; labelled cuts)
  8  mitigate   $mitigate_stage   baseline + cohorts -> \$exp_dir/mitigate (plain / EWC lambda sweep, lambda chosen on dev / oversampling / cohort input / untargeted control)
  9  cca        $cca_stage        fbank + lang -> \$exp_dir/transformer, \$exp_dir/cca (CCA lambda sweep vs sliding windows; compute vs WER)
 10  multitalker $multitalker_stage fbank + lang + embedder + baseline -> \$data_dir/sessions, \$exp_dir/multitalker (SepTDS, MT-RNN-T without turn tokens, single-talker + VAD; RTTM, ORC/cpWER, DER, turn matching)
 11  export     $export_stage     \$exp_dir/<first arch> -> \$exp_dir/<first arch>/onnx (ONNX + int8, sherpa-onnx lstm type), \$exp_dir/onnx (torch vs onnxruntime fp32/int8)
 99  report     $report_stage     \$exp_dir -> \$exp_dir/RESULTS.md + \$exp_dir/results/*.png (tables from this run; --publish true: ./RESULTS.md + results/)"

usage() {
  cat <<USAGE
Usage: ./run.sh [options]

Runs the fairstream recipe from --stage to --stop-stage. Each stage reads the previous
stage's output directory and is a no-op when its output is complete with the same config.

Stages:$stages_help

Options (default in brackets):
  --stage N               first stage to run [$stage]
  --stop-stage N          last stage to run [$stop_stage]
  --corpus NAME           demo | librispeech [$corpus]
  --corpus-dir PATH       corpus location for real corpora (required for librispeech)
  --size SIZE             demo corpus size: tiny | small | default [$size]
  --seed N                the one seed for data generation and training [$seed]
  --nj N                  parallel jobs [$nj]
  --data-dir DIR          where stages write data [$data_dir]
  --exp-dir DIR           where stages write models and results [$exp_dir]
  --force true|false      redo complete outputs [$force]
  --publish true|false    stage 99 rewrites the committed RESULTS.md + results/ (the default full run
                          only); otherwise the report goes to \$exp_dir/RESULTS.md [$publish]
  --archs "A B"           architectures for stages 4-5 [$archs; small: lstm transformer]
  --train-order "A B"     stage 4 starts these of --archs first, in this order [$train_order]
  --compare-reference A   the architecture the report tests every other one against [$compare_reference; small: lstm]
  --nproc N               training processes per model (DDP) [$nproc]
  --train-jobs N          stage-4 models trained side by side, cores split between them [$train_jobs]
  --decode-jobs N         stage-5 decodes side by side, one thread each [$decode_jobs]
  --decode-methods "M N"  search methods of stage 5 for every arch: greedy modified_beam modified_beam_lm
                          (modified beam + the stage-3 n-gram LM, scales in conf/lm.yaml) [$decode_methods]
  --baseline-methods "M"  more search methods for the first arch only [$baseline_methods; small: none]
  --dev-decodes WHICH     baseline: stage 5 decodes dev only for the first arch and the LM method (what later
                          stages and the LM table read); test for every decode | all [$dev_decodes]
  --heldout-split S       stage 5 also decodes split S (fbank/cuts_S) with the first arch's --decode-methods,
                          into \$exp_dir/decode_S, for the report's per-accent WERs; none: skip [$heldout_split]
  --sv-variants "A B"     speaker-verification systems of stage 6; the first is the baseline [$sv_variants]
  --mitigate-lambdas "L"  EWC lambda sweep of stage 8 [$mitigate_lambdas; small: 10000]
  --mitigate-steps N      updates per stage-8 fine-tuning [$mitigate_steps; small: 30]
  --cca-lambdas "L"       compute-cost weights of stage 9 [$cca_lambdas; small: 0.2]
  --cca-windows "W"       sliding-window sizes (encoder frames W, or W:M:F pruned) of stage 9 [$cca_windows; small: 8:4:6]
  --cca-steps N           updates per stage-9 variant [$cca_steps; small: 60]
  --train-steps N         updates of every transducer of stages 4 and 9 [the configs'; small: 450]
  --sv-steps N            updates of every speaker embedder of stage 6 [the configs'; small: 100]
  --multitalker-steps N   updates of each multi-talker model of stage 10 [the config's; small: 100]
  --multitalker-systems "S"  stage-10 systems: septds mtrnnt [septds_nolat] [$multitalker_systems]
  --cohort-decode DIR     decoded dev/test cuts cohorts are found on (stage 8 decodes with its search)
                          [\$exp_dir/decode/<first arch>_modified_beam_lm if decoded, else _modified_beam]
  --avg N                 epoch checkpoints averaged for decoding [$avg]
  --chunk-ms N            streaming decoding chunk in ms [$chunk_ms]
  --<name>-stage SCRIPT   replace a stage script, e.g. --features-stage my_fbank.sh
  -h, --help              this help
USAGE
}

given=" "  # the options set on the command line (size profiles fill in only the others)
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --*)
      name=${1#--}; name=${name//-/_}
      if [ $# -lt 2 ]; then echo "ERROR: option $1 needs a value (see --help)" >&2; exit 1; fi
      if ! declare -p "$name" >/dev/null 2>&1 || [[ "$name" =~ ^(name|usage|stages_help)$ ]]; then
        echo "ERROR: unknown option $1 (see --help)" >&2; exit 1
      fi
      printf -v "$name" '%s' "$2"; given+=" $name "; shift 2 ;;
    *) echo "ERROR: unexpected argument $1 (see --help)" >&2; exit 1 ;;
  esac
done

. stages/lib.sh  # log, q
run_stage() {  # run_stage N name command...: guarded by --stage/--stop-stage, timed
  local n=$1 name=$2; shift 2
  if [ "$stage" -le "$n" ] && [ "$stop_stage" -ge "$n" ]; then
    log "Stage $n: $name"
    local t0=$SECONDS
    "$@"
    log "Stage $n: $name done in $((SECONDS - t0)) s"
  fi
}

# --size small is a quick look: every training gets a smaller budget unless given on the command line
# and fewer systems (the baseline and the Transformer stage 9 needs), so that what it trains learns
if [ "$size" = small ]; then
  [[ "$given" == *" archs "* ]] || archs="lstm transformer"
  [[ "$given" == *" compare_reference "* ]] || compare_reference=lstm
  [[ "$given" == *" train_steps "* ]] || train_steps=450
  [[ "$given" == *" baseline_methods "* ]] || baseline_methods=""
  [[ "$given" == *" sv_steps "* ]] || sv_steps=100
  [[ "$given" == *" multitalker_steps "* ]] || multitalker_steps=100
  [[ "$given" == *" cca_steps "* ]] || cca_steps=60
  [[ "$given" == *" mitigate_steps "* ]] || mitigate_steps=30
  [[ "$given" == *" mitigate_lambdas "* ]] || mitigate_lambdas=10000
  [[ "$given" == *" cca_lambdas "* ]] || cca_lambdas=0.2
  [[ "$given" == *" cca_windows "* ]] || cca_windows=8:4:6
fi
# numbers, sizes and flags are checked before anything runs (a typo must not run nothing silently)
for opt in stage stop_stage seed; do
  [[ "${!opt}" =~ ^[0-9]+$ ]] || { echo "ERROR: --${opt//_/-} must be a whole number, got '${!opt}'" >&2; exit 1; }
done
for opt in nj nproc train_jobs decode_jobs mitigate_steps cca_steps avg chunk_ms; do
  [[ "${!opt}" =~ ^[1-9][0-9]*$ ]] || { echo "ERROR: --${opt//_/-} must be a positive whole number, got '${!opt}'" >&2; exit 1; }
done
for opt in train_steps sv_steps multitalker_steps; do  # empty: the configs' budgets
  [[ "${!opt}" =~ ^([1-9][0-9]*)?$ ]] || { echo "ERROR: --${opt//_/-} must be a positive whole number, got '${!opt}'" >&2; exit 1; }
done
[[ " $archs " == *" $compare_reference "* ]] \
  || echo "WARNING: --compare-reference $compare_reference is not in --archs \"$archs\": the report compares no architectures" >&2
for opt in force publish; do
  [[ "${!opt}" =~ ^(true|false)$ ]] || { echo "ERROR: --$opt must be true or false, got '${!opt}'" >&2; exit 1; }
done
case "$dev_decodes" in baseline|all) ;; *) echo "ERROR: --dev-decodes must be baseline or all, got '$dev_decodes'" >&2; exit 1 ;; esac
case "$size" in tiny|small|default) ;; *) echo "ERROR: unknown size '$size' (tiny | small | default)" >&2; exit 1 ;; esac
case "$corpus" in demo|librispeech) ;; *) echo "ERROR: unknown corpus '$corpus' (demo | librispeech)" >&2; exit 1 ;; esac
if [ "$corpus" != demo ] && [ -z "$corpus_dir" ]; then
  echo "ERROR: --corpus $corpus needs --corpus-dir PATH" >&2; exit 1
fi
force_flag=(); [ "$force" = true ] && force_flag=(--force)
publish_flag=(); [ "$publish" = true ] && publish_flag=(--publish)
export FAIRSTREAM_NJ=$nj FAIRSTREAM_SEED=$seed
[ -t 2 ] || export TQDM_DISABLE=1  # progress bars on a terminal only (tqdm >= 4.66), not in a log file

run_stage 0 "setup" bash "$setup_stage"
# shellcheck disable=SC1091
source .venv/bin/activate

vocab=$(python -c "import yaml; print(yaml.safe_load(open('conf/lang.yaml'))['vocab_size'])")
lang_dir=$data_dir/lang_bpe_$vocab

run_stage 1 "data ($corpus) -> $data_dir/manifests" \
  bash "$data_stage" --corpus "$corpus" --corpus-dir "$corpus_dir" --size "$size" --seed "$seed" \
    --nj "$nj" "${force_flag[@]}" "$data_dir/manifests"
run_stage 2 "features $data_dir/manifests -> $data_dir/fbank" \
  bash "$features_stage" --conf conf/fbank.yaml --nj "$nj" "${force_flag[@]}" "$data_dir/manifests" "$data_dir/fbank"
run_stage 3 "lang $data_dir/manifests -> $lang_dir" \
  bash "$lang_stage" --conf conf/lang.yaml --lm-conf conf/lm.yaml --seed "$seed" "${force_flag[@]}" \
    "$data_dir/manifests" "$lang_dir"
run_stage 4 "train ($archs) -> $exp_dir" \
  bash "$train_stage" --archs "$archs" --order "$train_order" --seed "$seed" --nproc "$nproc" --jobs "$train_jobs" \
    --max-steps "$train_steps" "${force_flag[@]}" \
    "$data_dir/fbank" "$lang_dir" "$exp_dir"
decode_args=() slow_decodes=()  # stage 5: every (arch, method) decode is one job; --decode-jobs run side by side,
# the LM decodes first (the slowest: started last, one of them kept a core busy alone for 1.5 min)
add_decode_job() {  # add_decode_job NAME ARCH METHOD SPLITS OUT_DIR [more 05_decode.sh options]
  local name=$1 arch=$2 method=$3 splits=$4 out=$5; shift 5
  local lm_args=(); [ "$method" = modified_beam_lm ] && lm_args=(--lm "$lang_dir/lm" --lm-conf conf/lm.yaml)
  local job=(--job "$name" "$(q bash "$decode_stage" --method "$method" --avg "$avg" --splits "$splits" \
    --chunk-ms "$chunk_ms" "$@" "${lm_args[@]}" "${force_flag[@]}" "$exp_dir/$arch" "$data_dir/fbank" "$out")")
  if [ "$method" = modified_beam_lm ]; then slow_decodes+=("${job[@]}"); else decode_args+=("${job[@]}"); fi
}
read -r -a _archs <<< "$archs"
for arch in $archs; do
  methods=$decode_methods
  [ "$arch" = "${_archs[0]}" ] && for m in $baseline_methods; do [[ " $methods " == *" $m "* ]] || methods+=" $m"; done
  for method in $methods; do
    splits=test
    if [ "$dev_decodes" = all ] || [ "$arch" = "${_archs[0]}" ] || [ "$method" = modified_beam_lm ]; then
      splits=dev,test
    fi
    add_decode_job "decode_${arch}_$method" "$arch" "$method" "$splits" "$exp_dir/decode/${arch}_$method"
  done
done
heldout_note=
if [ "$heldout_split" != none ] && [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  if [ -f "$data_dir/fbank/cuts_$heldout_split.jsonl.gz" ]; then
    # the baseline's searches on the held-out speakers, in batches of 8: the same hypotheses in half the
    # time (no RTF or latency is reported from them)
    for method in $decode_methods; do
      add_decode_job "decode_${heldout_split}_${_archs[0]}_$method" "${_archs[0]}" "$method" "$heldout_split" \
        "$exp_dir/decode_$heldout_split/${_archs[0]}_$method" --batch-size 8
    done
    heldout_note=" + $heldout_split: $exp_dir/decode_$heldout_split"
  else
    log "no $data_dir/fbank/cuts_$heldout_split.jsonl.gz: stage 5 decodes no held-out speakers (--heldout-split)"
  fi
fi
decode_args=("${slow_decodes[@]}" "${decode_args[@]}")
run_stage 5 "decode ($archs) x ($decode_methods; ${_archs[0]} also: ${baseline_methods:-none}) -> $exp_dir/decode/<arch>_<method>$heldout_note, $decode_jobs at a time" \
  python -m steps.run_jobs --jobs "$decode_jobs" --log-dir "$exp_dir/log" "${decode_args[@]}"
run_stage 6 "speaker verification ($sv_variants) -> $exp_dir/sv" \
  bash "$sv_stage" --variants "$sv_variants" --seed "$seed" --max-steps "$sv_steps" "${force_flag[@]}" \
    "$data_dir/fbank" "$exp_dir/sv"
read -r -a _svs <<< "$sv_variants"
if [ -z "$cohort_decode" ]; then  # the LM decode when this run makes it and it is there
  cohort_decode=$exp_dir/decode/${_archs[0]}_modified_beam
  if [[ " $decode_methods " == *" modified_beam_lm "* ]] && [ -f "${cohort_decode}_lm/.done" ]; then
    cohort_decode=${cohort_decode}_lm
  fi
fi
# stage 8 decodes its fine-tuned models with the search of the baseline decode it is compared with
mitigate_decode_method=$(python -c "import json, sys; print(next(iter(json.load(open(sys.argv[1])).values()))['method'])" \
  "$cohort_decode/metrics.json" 2>/dev/null || echo modified_beam)
run_stage 7 "cohorts $cohort_decode -> $exp_dir/cohorts" \
  bash "$cohorts_stage" --seed "$seed" "${force_flag[@]}" \
    "$cohort_decode" "$data_dir/fbank" "$exp_dir/sv/${_svs[0]}/xvectors" "$exp_dir/cohorts"
run_stage 8 "mitigation (plain / EWC / oversampling / cohort input / untargeted control) -> $exp_dir/mitigate" \
  bash "$mitigate_stage" --method geo --lambdas "$mitigate_lambdas" --steps "$mitigate_steps" --avg "$avg" \
    --decode-method "$mitigate_decode_method" \
    --chunk-ms "$chunk_ms" --seed "$seed" "${force_flag[@]}" \
    "$exp_dir/${_archs[0]}" "$data_dir/fbank" "$lang_dir" "$exp_dir/cohorts" "$cohort_decode" "$exp_dir/mitigate"
run_stage 9 "CCA Transformer (lambdas $cca_lambdas) vs sliding window (windows $cca_windows) -> $exp_dir/cca" \
  bash "$cca_stage" --lambdas "$cca_lambdas" --windows "$cca_windows" --steps "$cca_steps" --train-steps "$train_steps" \
    --chunk-ms "$chunk_ms" --seed "$seed" "${force_flag[@]}" "$data_dir/fbank" "$lang_dir" "$exp_dir" "$exp_dir/cca"
run_stage 10 "multi-talker sessions -> $data_dir/sessions, $exp_dir/multitalker" \
  bash "$multitalker_stage" --avg "$avg" --chunk-ms "$chunk_ms" --seed "$seed" --steps "$multitalker_steps" \
    --systems "$multitalker_systems" "${force_flag[@]}" \
    "$data_dir/fbank" "$lang_dir" "$exp_dir/sv/${_svs[0]}/model" "$exp_dir/${_archs[0]}" "$data_dir/sessions" \
    "$exp_dir/multitalker"
run_stage 11 "ONNX export of ${_archs[0]} + onnxruntime benchmark -> $exp_dir/${_archs[0]}/onnx, $exp_dir/onnx" \
  bash "$export_stage" --chunk-ms "$chunk_ms" --avg "$avg" --split dev "${force_flag[@]}" \
    "$exp_dir/${_archs[0]}" "$data_dir/fbank" "$exp_dir/onnx"
run_stage 99 "report $exp_dir" \
  bash "$report_stage" --exp-dir "$exp_dir" --started "$run_started" --command "$run_command" \
    --reference "$compare_reference" "${publish_flag[@]}"
log "finished stages $stage..$stop_stage in $((SECONDS - run_t0)) s"
