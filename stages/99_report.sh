#!/usr/bin/env bash
# Stage 99: EXP_DIR -> EXP_DIR/RESULTS.md + EXP_DIR/results/*.png, written by the report code from
# this run; --publish writes the repository's RESULTS.md + results/ instead (the committed report).
# usage: 99_report.sh [--exp-dir exp] [--publish] [--reference MODEL] [--started UNIX_TIME] [--command CMD]
set -euo pipefail
exp=exp publish=false started= command=./run.sh reference=convrnnt
while [ $# -gt 0 ]; do
  case "$1" in
    --exp-dir) exp=$2; shift 2 ;;
    --publish) publish=true; shift ;;
    --reference) reference=$2; shift 2 ;;
    --started) started=$2; shift 2 ;;
    --command) command=$2; shift 2 ;;
    *) echo "ERROR: $0: unknown option $1" >&2; exit 1 ;;
  esac
done
if [ "$publish" = true ]; then out=RESULTS.md figs=results; else out=$exp/RESULTS.md figs=$exp/results; fi
python -m steps.write_results "$exp" "$out" --fig-dir "$figs" --reference "$reference" --command "$command" ${started:+--started "$started"}
