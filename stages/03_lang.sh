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
conf=conf/lang.yaml lm_conf=conf/lm.yaml lm=true seed=() lm_text_dir= force=()
while [ $# -gt 2 ]; do
  case "$1" in
    --conf) conf=$2; shift 2 ;;
    --lm-conf) lm_conf=$2; shift 2 ;;
    --lm) lm=$2; shift 2 ;;
    --seed) seed=(--seed "$2"); shift 2 ;;
    --lm-text-dir) lm_text_dir=$2; shift 2 ;;
    --force) force=(--force); shift ;;
    *) echo "ERROR: $0: unknown option $1" >&2; exit 1 ;;
  esac
done
if [ $# -ne 2 ]; then
  echo "usage: $0 [--conf F] [--lm-conf F] [--lm true|false] [--seed N] [--lm-text-dir DIR] [--force] IN_DIR OUT_DIR" >&2
  exit 1
fi
python -m steps.prepare_lang --conf "$conf" "${force[@]}" "$1" "$2"
if [ "$lm" = true ]; then
  lm_text_dir=${lm_text_dir:-$(dirname "$2")/lm_text}
  python -m local.make_lm_text --conf "$lm_conf" "${seed[@]}" "${force[@]}" "$1" "$lm_text_dir"
  python -m steps.train_ngram_lm --conf "$lm_conf" "${force[@]}" "$lm_text_dir" "$1" "$2" "$2/lm"
fi
