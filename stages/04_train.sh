#!/usr/bin/env bash
# Stage 4: train one transducer per architecture: FBANK_DIR -> EXP_DIR/<arch>
# usage: 04_train.sh [--archs "lstm ..."] [--conf-dir conf/train] [--seed N] [--nproc N] [--force]
#                    FBANK_DIR LANG_DIR EXP_DIR
# Each <arch> trains from CONF_DIR/<arch>.yaml; --nproc > 1 uses torchrun (DDP, gloo on CPU).
set -euo pipefail
archs=lstm conf_dir=conf/train seed=42 nproc=1 force=()
while [ $# -gt 3 ]; do
  case "$1" in
    --archs) archs=$2; shift 2 ;;
    --conf-dir) conf_dir=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --nproc) nproc=$2; shift 2 ;;
    --force) force=(--force); shift ;;
    *) echo "ERROR: $0: unknown option $1" >&2; exit 1 ;;
  esac
done
fbank=$1 lang=$2 exp=$3
launcher=(python -m)
[ "$nproc" -gt 1 ] && launcher=(torchrun --standalone --nproc-per-node "$nproc" -m)
for arch in $archs; do
  conf=$conf_dir/$arch.yaml
  [ -f "$conf" ] || { echo "ERROR: no training config $conf for architecture '$arch'" >&2; exit 1; }
  echo "$(date '+%Y-%m-%d %H:%M:%S') [04_train] $arch ($conf) -> $exp/$arch" >&2
  "${launcher[@]}" steps.train_transducer --conf "$conf" --lang-dir "$lang" --seed "$seed" "${force[@]}" \
    "$fbank" "$exp/$arch"
done
