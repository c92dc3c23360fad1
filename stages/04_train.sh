#!/usr/bin/env bash
# Stage 4: train one transducer per architecture: FBANK_DIR -> EXP_DIR/<arch>
# usage: 04_train.sh [--archs "lstm ..."] [--order "a b ..."] [--conf-dir conf/train] [--seed N] [--nproc N]
#                    [--jobs N] [--max-steps N] [--force] FBANK_DIR LANG_DIR EXP_DIR
# --max-steps overrides every config's update budget (run.sh --train-steps, e.g. for --size small).
# Each <arch> trains from CONF_DIR/<arch>.yaml; --nproc > 1 uses torchrun (DDP, gloo on CPU).
# --jobs N trains N architectures side by side, each with (CPU cores / N) threads and its log in
# EXP_DIR/log/train_<arch>.log: small batches keep one core busy better than two, so on a
# 2-core machine two single-threaded runs get through more audio than one run after the other.
# --order lists architectures to start first, in that order (the longest first keeps every core busy
# to the end); the other --archs follow in their own order.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
options archs=lstm order= conf_dir=conf/train seed=42 nproc=1 jobs=1 max_steps= force=false
parse_options 3 "$@"
fbank=${ARGS[0]} lang=${ARGS[1]} exp=${ARGS[2]}
launcher=(python -m)
[ "$nproc" -gt 1 ] && launcher=(torchrun --standalone --nproc-per-node "$nproc" -m)
archs=$(in_order "$order" "$archs")
for arch in $archs; do
  [ -f "$conf_dir/$arch.yaml" ] || die "no training config $conf_dir/$arch.yaml for architecture '$arch'"
done
train_cmd() {  # train_cmd ARCH: sets cmd to the command line that trains ARCH
  cmd=("${launcher[@]}" steps.train_transducer --conf "$conf_dir/$1.yaml" --lang-dir "$lang" --seed "$seed"
       ${max_steps:+--max-steps "$max_steps"} "${FORCE[@]}" "$fbank" "$exp/$1")
}
if [ "$jobs" -le 1 ]; then
  for arch in $archs; do
    log "$arch ($conf_dir/$arch.yaml) -> $exp/$arch"
    train_cmd "$arch"
    "${cmd[@]}"
  done
  exit 0
fi
# side by side: steps.run_jobs gives each job (CPU cores / N) threads and a log in EXP_DIR/log
job_args=()
for arch in $archs; do
  train_cmd "$arch"
  job_args+=(--job "train_$arch" "$(q "${cmd[@]}")")
done
python -m steps.run_jobs --jobs "$jobs" --log-dir "$exp/log" "${job_args[@]}"
