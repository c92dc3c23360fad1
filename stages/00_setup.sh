#!/usr/bin/env bash
# Stage 0: create or refresh .venv and install fairstream (editable) into it.
# Idempotent: the venv is rebuilt only when setup.cfg or this script changed (digest check),
# so a second call takes a second. fast_rnnt is built from source when possible; a failed
# build only warns (the native loss backend always works).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}
python=${PYTHON:-python3}
digest_file=$venv/.fairstream-setup
digest=$(cat setup.cfg pyproject.toml stages/00_setup.sh | sha256sum | cut -c1-16)

. stages/lib.sh

if [ -f "$digest_file" ] && [ "$(cat "$digest_file")" = "$digest" ] && [ -x "$venv/bin/python" ]; then
  log "$venv is up to date ($digest)"
  exit 0
fi

"$python" -c 'import sys; assert sys.version_info[:2] >= (3, 11), sys.version' \
  || { echo "ERROR: fairstream needs Python >= 3.11 (found $("$python" --version 2>&1))" >&2; exit 1; }

start=$(date +%s)
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv"
  "$python" -m venv "$venv"
fi
vpy=$(cd "$venv/bin" && pwd)/python
pip="$vpy -m pip --disable-pip-version-check -q"
log "installing torch==2.13.0 (CPU) and fairstream (editable)"
$pip install "torch==2.13.0"
$pip install -e ".[dev,build]"

# fast_rnnt: k2's standalone pruned RNN-T loss, built from its source release.
if ! "$vpy" -c "import fast_rnnt" 2>/dev/null && [ "${FAIRSTREAM_SKIP_FAST_RNNT:-0}" != 1 ]; then
  # with CUDA only when both the compiler and a GPU are here (and torch was built with CUDA)
  ft_cuda=OFF
  if command -v nvcc >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 \
    && "$vpy" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
    ft_cuda=ON
  fi
  log "building fast_rnnt from source, CUDA $ft_cuda (about a minute; a failure only warns)"
  tmp=$(mktemp -d)
  if (
    set -e
    cd "$tmp"
    "$vpy" -m pip download -q --no-deps --no-binary pybind11 pybind11 -d . >/dev/null
    tar xzf pybind11-*.tar.gz
    pb=$(ls -d "$tmp"/pybind11-*/ | head -1)
    export FT_CMAKE_ARGS="-DCMAKE_BUILD_TYPE=Release -DFT_BUILD_TESTS=OFF -DFT_WITH_CUDA=$ft_cuda \
-DCMAKE_CXX_STANDARD=17 -DFETCHCONTENT_SOURCE_DIR_PYBIND11=$pb -DFETCHCONTENT_FULLY_DISCONNECTED=ON \
-DPYBIND11_FINDPYTHON=OFF"
    export MAKEFLAGS=-j"$(nproc)"
    "$vpy" -m pip install -q --no-build-isolation --no-binary fast-rnnt fast-rnnt==1.3
  ) >"$tmp/build.log" 2>&1; then
    log "fast_rnnt built"
  else
    log "WARNING: fast_rnnt build failed (log: $tmp/build.log); using the native loss backend"
  fi
fi
"$vpy" -c "import steps, lhotse, torch" \
  || { echo "ERROR: $venv is broken: 'import steps, lhotse, torch' failed" >&2; exit 1; }
echo "$digest" > "$digest_file"
log "done in $(( $(date +%s) - start )) s"
