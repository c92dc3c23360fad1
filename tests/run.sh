#!/usr/bin/env bash
# Set up .venv if missing or stale, then run the test suite: tests/run.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash stages/00_setup.sh
exec .venv/bin/python -m pytest -q tests "$@"
