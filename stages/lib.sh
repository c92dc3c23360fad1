# What every stage script shares; source it:  . "$(dirname "$0")/lib.sh"
#
#   options corpus=demo seed=42 force=false   # the stage's options and their defaults
#   parse_options 1 "$@"; set -- "${ARGS[@]}"  # --corpus X --seed N --force; then 1 positional argument
#
# Every option takes a value (--seed 7), but for the switches force and publish (--force).
# After parsing, FORCE holds (--force) when --force was given and () otherwise, GIVEN the names set
# on the command line.  An unknown option, a missing value or a wrong number of arguments is one
# line on stderr plus the script's usage (its "# usage:" comment lines), and exit 1.

log() { echo "$(date '+%Y-%m-%d %H:%M:%S') [$(basename "$0" .sh)] $*" >&2; }

die() { echo "ERROR: $(basename "$0"): $*" >&2; exit 1; }

usage() {  # the script's "# usage:" comment and its continuation lines
  sed -n '/^# usage:/,/^[^#]/p' "$0" | sed -n 's/^# \{0,1\}//p' >&2
}

OPTION_NAMES=" "
options() {  # NAME=DEFAULT ...
  local kv
  for kv in "$@"; do
    printf -v "${kv%%=*}" '%s' "${kv#*=}"
    OPTION_NAMES+="${kv%%=*} "
  done
}

parse_options() {  # NARGS "$@": sets the options, then ARGS to the NARGS positional arguments
  local nargs=$1 name
  shift
  GIVEN=" "
  while [ $# -gt 0 ] && [[ "$1" == --* ]]; do
    name=${1#--}
    name=${name//-/_}
    [[ "$OPTION_NAMES" == *" $name "* ]] || { usage; die "unknown option $1"; }
    if [ "$name" = force ] || [ "$name" = publish ]; then
      printf -v "$name" true
      shift
    else
      [ $# -ge 2 ] || { usage; die "option $1 needs a value"; }
      printf -v "$name" '%s' "$2"
      shift 2
    fi
    GIVEN+="$name "
  done
  [ $# -eq "$nargs" ] || { usage; die "expected $nargs argument(s) after the options, got $#: $*"; }
  ARGS=("$@")
  FORCE=()
  if [ "${force:-false}" = true ]; then FORCE=(--force); fi
}

q() { printf '%q ' "$@"; }  # a command line for steps.run_jobs --job NAME "$(q cmd args...)"

in_order() {  # in_order "FIRST..." "ALL...": ALL, with those also in FIRST first (in FIRST's order), each once
  local out=" " w
  for w in $1 $2; do
    [[ " $2 " == *" $w "* && "$out" != *" $w "* ]] && out+="$w "
  done
  out=${out# }
  echo "${out% }"
}
