#!/bin/busybox sh
# /init of the browser guest (build-guest.sh with AUTHSIM_QEMU_GUEST=browser, booted by
# boot.sh with AUTHSIM_QEMU_HOSTROOT=1 and more RAM): a real browser against the uhid key.
# Loads uhid, hid-generic and 9p; starts `authsim daemon` (its default key on /dev/uhid);
# mounts the host's root read-only (virtio-9p, tag hostroot) and makes it a chroot with the
# guest's own /dev (its hidraw node), /proc, /sys and tmpfs /tmp, /run, /dev/shm; runs there
# the host's Python with tests/qemu/browser/server.py (py_webauthn judging) and the host's
# Chromium on the server's page, which calls navigator.credentials.create() and get() twice.
# Chromium finds the key as it finds any USB security key: a hidraw node with the FIDO usage
# page. Reports like init.sh:
#   AUTHSIM-QEMU PASS <step> [details]   or   AUTHSIM-QEMU FAIL <step>
# followed by AUTHSIM-QEMU DONE; then powers off.

/bin/busybox --install -s /bin
export PATH=/bin:/usr/local/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1

export AUTHSIM_KEYRING=off
export AUTHSIM_STATE_DIR=/tmp/state
H=/host
PORT=8080
# Chromium's own time limit, past which the guest gives up (TCG is slow; a first start of
# Chromium reads ~400 MB over 9p).
BROWSER_TIMEOUT_S=${BROWSER_TIMEOUT_S:-360}

mark() { echo "AUTHSIM-QEMU $*"; }
now_ms() {
  read -r up _ </proc/uptime
  echo $((${up%.*} * 1000 + 1${up#*.} * 10 - 1000))
}
finish() {
  mark DONE "at $(now_ms) ms"
  sync
  poweroff -f
  sleep 5
  reboot -f
}
fail() {
  step=$1
  shift
  mark "FAIL $step"
  for f in "$@"; do
    echo "----- $f"
    tail -n 80 "$f" 2>&1
  done
  finish
}
find_node() {
  for d in /sys/class/hidraw/hidraw*; do
    [ -e "$d/device/uevent" ] || continue
    grep -qx "HID_UNIQ=$1" "$d/device/uevent" && { echo "${d##*/}"; return 0; }
  done
  return 1
}
wait_until() {
  deadline=$(($(now_ms) + $1))
  shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    usleep 20000
  done
}

mark PASS boot "kernel $(uname -r) at $(now_ms) ms"

while read -r m; do
  insmod "/lib/modules/$m.ko" || fail "modules (insmod $m)"
done </lib/modules/load-order
ifconfig lo 127.0.0.1 up || fail "modules (loopback)"
mark PASS modules "$(tr '\n' ' ' </lib/modules/load-order)"

# Chromium under TCG may write a message's HID reports further apart than a key's 500 ms
# CTAPHID message timeout: in one run its getAssertion got "error reading" 1.5 s after it was
# sent and the key's CTAP log never saw the command (most likely ERR_MSG_TIMEOUT; other runs
# passed with 500 ms too). 10 s rules that out.
AUTHSIM_CTAPHID_MESSAGE_TIMEOUT_MS=10000 RUST_LOG=authsim::ctap=debug,authsim::transport=debug authsim daemon >/tmp/daemon.out 2>/tmp/daemon.err &
wait_until 60000 find_node authsim-default || fail "daemon-start" /tmp/daemon.out /tmp/daemon.err
node=$(find_node authsim-default)
mark PASS daemon-start "/dev/$node $(grep '^HID_ID=' "/sys/class/hidraw/$node/device/uevent")"

# The host's root, read-only; cache=loose as nothing changes it under the guest.
mkdir -p $H
t0=$(now_ms)
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot $H 2>/tmp/mount.err ||
  fail "host-root (mount)" /tmp/mount.err
mount -t proc proc $H/proc && mount -t sysfs sysfs $H/sys && mount -o bind /dev $H/dev &&
  mkdir -p /dev/shm && mount -t tmpfs tmpfs $H/dev/shm && mount -t tmpfs tmpfs $H/tmp &&
  mount -t tmpfs tmpfs $H/run || fail "host-root (chroot mounts)"
python=$(cat /test/python)
[ -x "$H$python" ] || fail "host-root (no $python on the host)"
[ -x $H/usr/lib/chromium/chromium ] || fail "host-root (no /usr/lib/chromium/chromium on the host: apt-get install chromium)"
cp /test/server.py $H/tmp/server.py
mkdir -p $H/tmp/home
mark PASS host-root "mounted in $(($(now_ms) - t0)) ms"

t0=$(now_ms)
chroot $H "$python" /tmp/server.py $PORT /tmp/result >/tmp/server.out 2>/tmp/server.err &
spid=$!
wait_until 120000 grep -q '^BROWSER ready' /tmp/server.out || fail "server (not ready)" /tmp/server.out /tmp/server.err
mark PASS server "http://localhost:$PORT ready in $(($(now_ms) - t0)) ms"

# Root needs --no-sandbox. No DevTools, no virtual authenticator: the page's calls reach the
# real key (the uhid device) through Chromium's own HID discovery. --single-process: under
# TCG, Chromium's child processes miss its 15 s connection deadline ("Terminating current
# process after 15 seconds with no connection") and the page never loads.
# device_event_log*=1 puts its FIDO and HID log (UI steps, CTAP messages) on stderr.
t0=$(now_ms)
chroot $H /usr/bin/env HOME=/tmp/home TMPDIR=/tmp \
  /usr/lib/chromium/chromium --headless --no-sandbox --single-process --no-zygote \
  --disable-gpu --no-first-run --disable-extensions \
  --disable-background-networking --disable-component-update --disable-sync \
  --disable-dev-shm-usage --user-data-dir=/tmp/profile \
  --enable-logging=stderr --v=0 --vmodule='device_event_log*=1' \
  "http://localhost:$PORT/" >/tmp/chromium.out 2>/tmp/chromium.err &
cpid=$!
# On failure: Chromium's WebAuthn and HID log lines (its stderr is mostly D-Bus noise here).
browser_logs() {
  grep -a 'FIDO\|HID:\|CONSOLE\|FATAL' /tmp/chromium.err >/tmp/chromium.fido 2>/dev/null
  echo "/tmp/server.out /tmp/server.err /tmp/chromium.fido /tmp/daemon.err"
}
if ! wait_until $((BROWSER_TIMEOUT_S * 1000)) test -s $H/tmp/result; then
  fail "browser (no verdict in ${BROWSER_TIMEOUT_S} s)" $(browser_logs)
fi
browser_ms=$(($(now_ms) - t0))
kill "$cpid" 2>/dev/null
wait "$spid"
cat /tmp/server.out
verdict=$(cat $H/tmp/result)
case $verdict in
  PASS*) ;;
  *) fail "browser ($verdict)" $(browser_logs) ;;
esac
mark PASS browser "${verdict#PASS } browser-ms=$browser_ms"

# The ceremonies were the uhid key's: its CTAP log (authsim::ctap) shows the makeCredential
# and the getAssertions, all answered CTAP2_OK.
mc=$(grep -c 'command="authenticatorMakeCredential" status="CTAP2_OK"' /tmp/daemon.err)
ga=$(grep -c 'command="authenticatorGetAssertion" status="CTAP2_OK"' /tmp/daemon.err)
[ "$mc" -ge 1 ] && [ "$ga" -ge 2 ] || fail "key-served (makeCredential $mc, getAssertion $ga)" /tmp/daemon.err
mark PASS key-served "makeCredential=$mc getAssertion=$ga on /dev/$node"

finish
