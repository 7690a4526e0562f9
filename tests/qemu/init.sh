#!/bin/busybox sh
# /init of the authsim qemu guest (see build-guest.sh). Loads the uhid and hid modules, runs
# the program under test (/usr/local/bin/authsim-uhid, which creates one uhid FIDO key),
# drives it with fido2-tools, and reports on the console with lines
#   AUTHSIM-QEMU PASS <step> [details]   or   AUTHSIM-QEMU FAIL <step>
# followed by AUTHSIM-QEMU DONE; then powers off. Times are from /proc/uptime (10 ms steps).

/bin/busybox --install -s /bin
export PATH=/bin:/usr/local/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1

mark() { echo "AUTHSIM-QEMU $*"; }

finish() {
  mark DONE "at $(now_ms) ms"
  sync
  poweroff -f
  sleep 5
  reboot -f
}

# fail STEP [FILE...]: report, show the files and the kernel log tail, stop.
fail() {
  step=$1
  shift
  mark "FAIL $step"
  for f in "$@"; do
    echo "----- $f"
    cat "$f" 2>&1
  done
  echo "----- dmesg (tail)"
  dmesg | tail -n 40
  finish
}

now_ms() {
  read -r up _ </proc/uptime
  echo $((${up%.*} * 1000 + 1${up#*.} * 10 - 1000))
}

# find_node UNIQ: the hidraw node name of the uhid device whose HID_UNIQ is UNIQ.
find_node() {
  for d in /sys/class/hidraw/hidraw*; do
    [ -e "$d/device/uevent" ] || continue
    if grep -qx "HID_UNIQ=$1" "$d/device/uevent"; then
      echo "${d##*/}"
      return 0
    fi
  done
  return 1
}

# hid_id NODE: the HID device behind a hidraw node, e.g. 0003:1209:0001.0001.
hid_id() {
  basename "$(readlink -f "/sys/class/hidraw/$1/device")"
}

# wait_until TIMEOUT_MS COMMAND...: polls every 5 ms.
wait_until() {
  deadline=$(($(now_ms) + $1))
  shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    usleep 5000
  done
}

# start_program UNIQ LOG [ARGS...]: starts the program under test in the background (pid in
# $pid) and waits for its "ready" line and its hidraw node, recording both delays.
start_program() {
  uniq=$1
  log=$2
  shift 2
  t0=$(now_ms)
  authsim-uhid --uniq "$uniq" --name "authsim qemu key" "$@" >"$log.out" 2>"$log.err" &
  pid=$!
  ready_ms=
  node_ms=
  deadline=$((t0 + 60000))
  while [ -z "$ready_ms" ] || [ -z "$node_ms" ]; do
    now=$(now_ms)
    if [ -z "$ready_ms" ] && grep -qx ready "$log.out"; then ready_ms=$((now - t0)); fi
    if [ -z "$node_ms" ] && find_node "$uniq" >/dev/null; then node_ms=$((now - t0)); fi
    kill -0 "$pid" 2>/dev/null || fail "start-$uniq (program exited)" "$log.out" "$log.err"
    [ "$now" -lt "$deadline" ] || fail "start-$uniq (timeout)" "$log.out" "$log.err"
    usleep 5000
  done
  node=$(find_node "$uniq")
}

mark PASS boot "kernel $(uname -r) at $(now_ms) ms"

# Before uhid is loaded there is no /dev/uhid: the program must say so and what to do.
if authsim-uhid --uniq none >/tmp/nouhid.out 2>/tmp/nouhid.err; then fail error-without-uhid /tmp/nouhid.out; fi
grep -q "modprobe uhid" /tmp/nouhid.err || fail error-without-uhid /tmp/nouhid.err
mark PASS error-without-uhid "$(cat /tmp/nouhid.err)"

while read -r m; do
  insmod "/lib/modules/$m.ko" || fail "insmod-$m"
done </lib/modules/load-order
[ -c /dev/uhid ] || fail dev-uhid
mark PASS modules "$(tr '\n' ' ' </lib/modules/load-order)"

# /dev/uhid is root's (0600) here, as without the udev rule: a user gets pointed at it.
if su -s /bin/sh nobody -c "authsim-uhid --uniq none" >/tmp/denied.out 2>/tmp/denied.err; then
  fail error-without-permission /tmp/denied.out
fi
grep -q "udev/70-authsim.rules" /tmp/denied.err || fail error-without-permission /tmp/denied.err
mark PASS error-without-permission "$(cat /tmp/denied.err)"

# --- run 1: the fido2 tools against the key, then SIGTERM --------------------------------
start_program qemu-1 /tmp/run1
mark PASS hidraw-appears "/dev/$node ready-ms=$ready_ms hidraw-ms=$node_ms"

timeout 30 fido2-token -L >/tmp/list 2>&1 || fail list /tmp/list
cat /tmp/list
grep -q "^/dev/$node: vendor=0x1209, product=0x0001" /tmp/list || fail list-shows-key /tmp/list
mark PASS list

timeout 30 fido2-token -I "/dev/$node" >/tmp/info 2>&1 || fail info /tmp/info /tmp/run1.err
grep -q '^aaguid: ' /tmp/info || fail info-aaguid /tmp/info
mark PASS info "$(grep -E '^(version strings|aaguid)' /tmp/info | tr '\n' ' ')"

# authsim's own client for real keys (ctap-hid-fido2 over hidraw) finds and uses it too.
timeout 30 authsim realkey list --json >/tmp/rk_list 2>&1 || fail realkey-list /tmp/rk_list
grep -q "\"/dev/$node\"" /tmp/rk_list || fail realkey-list-shows-key /tmp/rk_list
mark PASS realkey-list "$(tr -d ' \n' </tmp/rk_list)"
timeout 30 authsim realkey info --device "/dev/$node" --json >/tmp/rk_info 2>&1 || fail realkey-info /tmp/rk_info /tmp/run1.err
grep -q '"FIDO_2_1"' /tmp/rk_info || fail realkey-info-versions /tmp/rk_info
aaguid=$(sed -n 's/^aaguid: //p' /tmp/info)
grep -q "\"aaguid\": \"$(echo "$aaguid" | sed 's/\(........\)\(....\)\(....\)\(....\)/\1-\2-\3-\4-/')" /tmp/rk_info ||
  fail realkey-info-aaguid /tmp/rk_info /tmp/info
mark PASS realkey-info "aaguid $aaguid"

timeout 30 fido2-cred -M -i /test/cred_param "/dev/$node" >/tmp/cred_out 2>/tmp/cred_err ||
  fail make-credential /tmp/cred_err /tmp/run1.err
mark PASS make-credential "fmt $(sed -n 3p /tmp/cred_out)"
fido2-cred -V -i /tmp/cred_out -o /tmp/cred 2>/tmp/credv_err || fail verify-credential /tmp/credv_err /tmp/cred_out
mark PASS verify-credential

cp /test/assert_param_head /tmp/assert_param
head -n 1 /tmp/cred >>/tmp/assert_param
tail -n +2 /tmp/cred >/tmp/pubkey.pem
timeout 30 fido2-assert -G -i /tmp/assert_param "/dev/$node" >/tmp/assert_out 2>/tmp/assert_err ||
  fail get-assertion /tmp/assert_err /tmp/run1.err
mark PASS get-assertion
fido2-assert -V -i /tmp/assert_out /tmp/pubkey.pem es256 2>/tmp/assertv_err ||
  fail verify-assertion /tmp/assertv_err /tmp/assert_out
mark PASS verify-assertion
# The verifier must be able to say no: the same assertion over another client data hash.
{ sed -n 1p /test/cred_param; sed 1d /tmp/assert_out; } >/tmp/assert_tampered
if fido2-assert -V -i /tmp/assert_tampered /tmp/pubkey.pem es256 >/dev/null 2>&1; then
  fail verify-rejects-tampered
fi
mark PASS verify-rejects-tampered

kill -TERM "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 0 ] || fail "sigterm-exit (status $rc)" /tmp/run1.out /tmp/run1.err
grep -qx destroyed /tmp/run1.out || fail sigterm-destroyed /tmp/run1.out
wait_until 5000 eval '! find_node qemu-1' || fail sigterm-node-gone
mark PASS sigterm-removes-node

# --- run 2: a power cycle removes the node and brings it back ----------------------------
start_program qemu-2 /tmp/run2 --power-cycle-after-ms 1500
first=$(hid_id "$node")
mark PASS hidraw-appears-2 "/dev/$node $first ready-ms=$ready_ms hidraw-ms=$node_ms"
wait_until 20000 test ! -e "/sys/bus/hid/devices/$first" || fail power-cycle-gone /tmp/run2.out /tmp/run2.err
mark PASS power-cycle-gone "$first"
back() { n=$(find_node qemu-2) && [ "$(hid_id "$n")" != "$first" ]; }
wait_until 20000 back || fail power-cycle-back /tmp/run2.out /tmp/run2.err
node=$(find_node qemu-2)
grep -qx power-cycled /tmp/run2.out || fail power-cycle-reported /tmp/run2.out
mark PASS power-cycle-back "/dev/$node $(hid_id "$node")"
timeout 30 fido2-token -I "/dev/$node" >/tmp/info2 2>&1 || fail info-after-power-cycle /tmp/info2 /tmp/run2.err
grep -q '^aaguid: ' /tmp/info2 || fail info-after-power-cycle /tmp/info2
mark PASS info-after-power-cycle
kill -TERM "$pid"
wait "$pid" || fail sigterm-2 /tmp/run2.out /tmp/run2.err

finish
