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

threads=$(( $(nproc) / jobs )); [ "$threads" -ge 1 ] || threads=1
mkdir -p "$exp/log"
pids=() names=() failed=0
trap '[ "${#pids[@]}" -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true' EXIT
wait_one() {  # wait for the oldest running job and report it
  local pid=${pids[0]} name=${names[0]}
  pids=("${pids[@]:1}") names=("${names[@]:1}")
  if wait "$pid"; then
    log "$name done ($exp/log/train_$name.log)"
  else
    log "ERROR: $name failed; last lines of $exp/log/train_$name.log:"
    tail -n 5 "$exp/log/train_$name.log" >&2
    failed=1
  fi
}
for arch in $archs; do
  [ "${#pids[@]}" -ge "$jobs" ] && wait_one
  log "$arch ($conf_dir/$arch.yaml) -> $exp/$arch, $threads thread(s), log $exp/log/train_$arch.log"
  FAIRSTREAM_TRAIN_THREADS=$threads train "$arch" > "$exp/log/train_$arch.log" 2>&1 &
  pids+=($!) names+=("$arch")
done
while [ "${#pids[@]}" -gt 0 ]; do wait_one; done
exit "$failed"
