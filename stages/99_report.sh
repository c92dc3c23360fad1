#!/usr/bin/env bash
# Stage 99: EXP_DIR -> RESULTS.md + results/*.png, written by the report code from this run.
# usage: 99_report.sh [--exp-dir exp] [--out RESULTS.md] [--started UNIX_TIME] [--command CMD]
set -euo pipefail
exp=exp out=RESULTS.md started= command=./run.sh
while [ $# -gt 0 ]; do
  case "$1" in
    --exp-dir) exp=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --started) started=$2; shift 2 ;;
    --command) command=$2; shift 2 ;;
    *) echo "ERROR: $0: unknown option $1" >&2; exit 1 ;;
  esac
done
python -m steps.write_results "$exp" "$out" --command "$command" ${started:+--started "$started"}
