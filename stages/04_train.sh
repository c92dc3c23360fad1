#!/usr/bin/env bash
# Stage 4: train one transducer per architecture: FBANK_DIR -> EXP_DIR/<arch>
# usage: 04_train.sh [--archs "lstm ..."] [--conf-dir conf/train] [--seed N] [--nproc N] [--jobs N]
#                    [--max-steps N] [--force] FBANK_DIR LANG_DIR EXP_DIR
# --max-steps overrides every config's update budget (run.sh --train-steps, e.g. for --size small).
# Each <arch> trains from CONF_DIR/<arch>.yaml; --nproc > 1 uses torchrun (DDP, gloo on CPU).
# --jobs N trains N architectures side by side, each with (CPU cores / N) threads and its log in
# EXP_DIR/log/train_<arch>.log: small batches keep one core busy better than two, so on a
# 2-core machine two single-threaded runs get through more audio than one run after the other.
set -euo pipefail
archs=lstm conf_dir=conf/train seed=42 nproc=1 jobs=1 force=() max_steps=()
while [ $# -gt 3 ]; do
  case "$1" in
    --archs) archs=$2; shift 2 ;;
    --conf-dir) conf_dir=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --nproc) nproc=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --max-steps) [ -z "$2" ] || max_steps=(--max-steps "$2"); shift 2 ;;
    --force) force=(--force); shift ;;
    *) echo "ERROR: $0: unknown option $1" >&2; exit 1 ;;
  esac
done
fbank=$1 lang=$2 exp=$3
launcher=(python -m)
[ "$nproc" -gt 1 ] && launcher=(torchrun --standalone --nproc-per-node "$nproc" -m)
for arch in $archs; do
  [ -f "$conf_dir/$arch.yaml" ] || { echo "ERROR: no training config $conf_dir/$arch.yaml for architecture '$arch'" >&2; exit 1; }
done
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') [04_train] $*" >&2; }
train() {  # train ARCH
  "${launcher[@]}" steps.train_transducer --conf "$conf_dir/$1.yaml" --lang-dir "$lang" --seed "$seed" \
    "${max_steps[@]}" "${force[@]}" "$fbank" "$exp/$1"
}
if [ "$jobs" -le 1 ]; then
  for arch in $archs; do
    log "$arch ($conf_dir/$arch.yaml) -> $exp/$arch"
    train "$arch"
  done
  exit 0
fi
# side by side: steps.run_jobs gives each job (CPU cores / N) threads and a log in EXP_DIR/log
job_args=()
for arch in $archs; do
  cmd=$(printf '%q ' "${launcher[@]}" steps.train_transducer --conf "$conf_dir/$arch.yaml" --lang-dir "$lang" \
    --seed "$seed" "${max_steps[@]}" "${force[@]}" "$fbank" "$exp/$arch")
  job_args+=(--job "train_$arch" "$cmd")
done
python -m steps.run_jobs --jobs "$jobs" --log-dir "$exp/log" "${job_args[@]}"
