#!/usr/bin/env bash
# Runs the Python judges (pytest) against the debug build of authsim.
set -euo pipefail
cd "$(dirname "$0")/.."
export AUTHSIM_BIN="${AUTHSIM_BIN:-$PWD/target/debug/authsim}"
# Worker processes (pytest-xdist): the judges mostly wait on subprocesses and sockets, so more
# workers than cores still pays on 2 cores. PYTEST_WORKERS=0 runs them in this process.
exec "${PYTHON:-python3}" -m pytest -q -n "${PYTEST_WORKERS:-4}" tests/py "$@"
