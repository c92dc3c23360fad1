#!/usr/bin/env bash
# Stage 3: IN_DIR (manifests) -> OUT_DIR (bpe.model, tokens.txt), trained on the train split; then the
# token n-gram LM for shallow fusion (decode method modified_beam_lm):
#   local.make_lm_text   IN_DIR -> LM_TEXT_DIR (demo: grammar sentences; else training transcripts;
#                        dev/test sentences removed)          [default LM_TEXT_DIR: $(dirname OUT_DIR)/lm_text]
#   steps.train_ngram_lm LM_TEXT_DIR + IN_DIR + OUT_DIR -> OUT_DIR/lm (lm.npz: order-6 Kneser-Ney on
#                        the LM text; lodr.npz: bigram on the training transcripts; report.json)
# usage: 03_lang.sh [--conf F] [--lm-conf F] [--lm true|false] [--seed N] [--lm-text-dir DIR] [--force]
#                   IN_DIR OUT_DIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"
options conf=conf/lang.yaml lm_conf=conf/lm.yaml lm=true seed= lm_text_dir= force=false
parse_options 2 "$@"
set -- "${ARGS[@]}"
python -m steps.prepare_lang --conf "$conf" "${FORCE[@]}" "$1" "$2"
if [ "$lm" = true ]; then
  lm_text_dir=${lm_text_dir:-$(dirname "$2")/lm_text}
  python -m local.make_lm_text --conf "$lm_conf" ${seed:+--seed "$seed"} "${FORCE[@]}" "$1" "$lm_text_dir"
  python -m steps.train_ngram_lm --conf "$lm_conf" "${FORCE[@]}" "$lm_text_dir" "$1" "$2" "$2/lm"
fi
