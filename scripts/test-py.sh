#!/usr/bin/env bash
# Runs the Python judges (pytest) against the debug build of authsim.
set -euo pipefail
cd "$(dirname "$0")/.."
export AUTHSIM_BIN="${AUTHSIM_BIN:-$PWD/target/debug/authsim}"
exec "${PYTHON:-python3}" -m pytest -q tests/py "$@"
