#!/usr/bin/env bash
# Installs what a fresh machine lacks for building and testing authsim: Debian packages from
# scripts/apt-packages.txt, Python packages from tests/requirements.txt, and Node packages
# from tests/js/package.json when it exists. Idempotent and quick when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

mapfile -t pkgs < <(grep -Ev '^\s*(#|$)' scripts/apt-packages.txt)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

py=${PYTHON:-python3}
# pip answers in a few seconds when everything is already satisfied.
"$py" -m pip install -q --disable-pip-version-check -r tests/requirements.txt

if [ -f tests/js/package.json ] && [ ! -d tests/js/node_modules ]; then
  echo "install-deps: npm install (tests/js)"
  (cd tests/js && npm install --no-audit --no-fund --silent)
fi
echo "install-deps: ready"
