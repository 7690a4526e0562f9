#!/usr/bin/env bash
# Runs the keyring test against a real Secret Service: a private D-Bus session with an
# unlocked gnome-keyring (empty password), both gone when the test ends.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dbus-run-session >/dev/null || { echo "test-keyring: dbus-run-session missing (apt-get install dbus)" >&2; exit 1; }
command -v gnome-keyring-daemon >/dev/null || { echo "test-keyring: gnome-keyring-daemon missing (apt-get install gnome-keyring)" >&2; exit 1; }
export XDG_DATA_HOME
XDG_DATA_HOME=$(mktemp -d)   # gnome-keyring keeps its keyring files here: throw-away
trap 'rm -rf "$XDG_DATA_HOME"' EXIT
exec dbus-run-session -- bash -c '
  # The password (empty) must end with a newline, or no login collection is made.
  printf "\\n" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  cargo test --locked --test keyring -- --ignored
'
