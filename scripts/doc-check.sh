#!/usr/bin/env bash
# The documentation's judge: README.md's sh blocks run in a sandbox, links resolve, completions
# and man pages are produced. See scripts/doc_check.py; arguments are passed on (-v shows the
# README session's output).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" scripts/doc_check.py "$@"
