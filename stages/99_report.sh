#!/usr/bin/env bash
# Stage 99: EXP_DIR -> EXP_DIR/RESULTS.md + EXP_DIR/results/*.png, written by the report code from
# this run; --publish writes the repository's RESULTS.md + results/ instead (the committed report).
# usage: 99_report.sh [--exp-dir exp] [--publish] [--reference MODEL] [--started UNIX_TIME] [--command CMD]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
options exp_dir=exp publish=false started= command=./run.sh reference=convrnnt
parse_options 0 "$@"
exp=$exp_dir
if [ "$publish" = true ]; then out=RESULTS.md figs=results; else out=$exp/RESULTS.md figs=$exp/results; fi
python -m steps.write_results "$exp" "$out" --fig-dir "$figs" --reference "$reference" --command "$command" ${started:+--started "$started"}
