#!/bin/busybox sh
# /init of the authsim qemu guest (see build-guest.sh). Loads the uhid and hid modules, runs
# the program under test, `authsim daemon` (as root, on the state directory /tmp/state, the
# keyring off), drives its keys with fido2-tools, authsim's own CLI (the control API's
# client) and hidclient (a tiny CTAPHID host that also speaks the socket transport), and
# reports on the console with lines
#   AUTHSIM-QEMU PASS <step> [details]   or   AUTHSIM-QEMU FAIL <step>
# followed by AUTHSIM-QEMU DONE; then powers off. Times are from /proc/uptime (10 ms steps).

/bin/busybox --install -s /bin
export PATH=/bin:/usr/local/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1

# No Secret Service in the guest: the data key lives in a key file in the state directory.
export AUTHSIM_KEYRING=off
export AUTHSIM_STATE_DIR=/tmp/state
RP=authsim.test
# Ceremonies per transport in the latency step.
N=20

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

# fail_soft STEP [FILE...]: report a failure and the files, and go on (the Rust test still
# fails on it); for defects that leave the guest able to run the later steps.
fail_soft() {
  step=$1
  shift
  mark "FAIL $step"
  for f in "$@"; do
    echo "----- $f"
    cat "$f" 2>&1
  done
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

# authsim_nodes: every hidraw node of an authsim key (HID_UNIQ authsim-*), one a line.
authsim_nodes() {
  for d in /sys/class/hidraw/hidraw*; do
    [ -e "$d/device/uevent" ] || continue
    grep -q "^HID_UNIQ=authsim-" "$d/device/uevent" && echo "${d##*/}"
  done
  return 0
}
no_authsim_nodes() { [ -z "$(authsim_nodes)" ]; }

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

# start_daemon LOG STEP [WHO] -- ARGS...: starts `authsim daemon ARGS` in the background (as
# WHO when given, pid in $pid) and waits for its last ready line (`ready: api-socket`);
# sets ready_ms (to the `ready: uhid` line of the default key, when there is one), api_ms and
# node_ms (to the default key's hidraw node, when it gets one); none while not seen.
start_daemon() {
  log=$1
  step=$2
  who=$3
  shift 3
  [ "$1" = -- ] && shift
  t0=$(now_ms)
  if [ -n "$who" ]; then
    su -s /bin/sh "$who" -c "AUTHSIM_KEYRING=off AUTHSIM_STATE_DIR=$AUTHSIM_STATE_DIR exec authsim daemon $*" \
      >"$log.out" 2>"$log.err" &
  else
    authsim daemon "$@" >"$log.out" 2>"$log.err" &
  fi
  pid=$!
  ready_ms= api_ms= node_ms=
  deadline=$((t0 + 60000))
  while [ -z "$api_ms" ] || { [ -n "$ready_ms" ] && [ -z "$node_ms" ]; }; do
    now=$(now_ms)
    # The api-socket line is printed last: read it first, so that once it is seen, the uhid line
    # (printed before it) is seen in the same pass.
    if [ -z "$api_ms" ] && grep -q '^ready: api-socket ' "$log.out"; then api_ms=$((now - t0)); fi
    if [ -z "$ready_ms" ] && grep -q '^ready: uhid authsim-default ' "$log.out"; then ready_ms=$((now - t0)); fi
    if [ -z "$node_ms" ] && find_node authsim-default >/dev/null; then node_ms=$((now - t0)); fi
    kill -0 "$pid" 2>/dev/null || fail "$step (daemon exited)" "$log.out" "$log.err"
    [ "$now" -lt "$deadline" ] || fail "$step (timeout)" "$log.out" "$log.err"
    usleep 5000
  done
}

# stop_daemon STEP LOG: SIGTERM, which must end it with status 0.
stop_daemon() {
  kill -TERM "$pid"
  wait "$pid"
  rc=$?
  [ "$rc" -eq 0 ] || fail "$1 (exit status $rc)" "$2.out" "$2.err"
}

# info_ok NODE OUT: fido2-token -I on /dev/NODE answers with an aaguid.
info_ok() {
  timeout 30 fido2-token -I "/dev/$1" >"$2" 2>&1 && grep -q '^aaguid: ' "$2"
}

# pending_id KEY: the id of the first presence request waiting on KEY (fails if none).
pending_id() {
  authsim key presence "$1" --json >/tmp/presence 2>&1 || return 1
  id=$(sed -n 's/.*"id": *\([0-9][0-9]*\).*/\1/p' /tmp/presence | head -n 1)
  [ -n "$id" ] && echo "$id"
}

mark PASS boot "kernel $(uname -r) at $(now_ms) ms"

# --- before uhid is loaded: the daemon falls back to a socket and says so -------------------
export AUTHSIM_STATE_DIR=/tmp/state-nouhid
start_daemon /tmp/nouhid error-without-uhid "" --
grep -q '^note: .*modprobe uhid' /tmp/nouhid.out ||
  fail "error-without-uhid (no note)" /tmp/nouhid.out /tmp/nouhid.err
grep -q '^ready: hid-socket ' /tmp/nouhid.out || fail "error-without-uhid (no socket fallback)" /tmp/nouhid.out
# Asking for a uhid key now is refused with a pointer, not a hang or a crash.
if authsim key add wants-uhid --uhid >/tmp/nouhid.add 2>&1; then fail "error-without-uhid (uhid key added)" /tmp/nouhid.add; fi
grep -q 'modprobe uhid' /tmp/nouhid.add || fail "error-without-uhid (add error)" /tmp/nouhid.add
stop_daemon error-without-uhid /tmp/nouhid
mark PASS error-without-uhid "$(grep '^note: ' /tmp/nouhid.out | head -n 1) | key add --uhid: $(cat /tmp/nouhid.add)"

while read -r m; do
  insmod "/lib/modules/$m.ko" || fail "insmod-$m"
done </lib/modules/load-order
[ -c /dev/uhid ] || fail dev-uhid
mark PASS modules "$(tr '\n' ' ' </lib/modules/load-order)"

# /dev/uhid is root's (0600) here, as without the udev rule: a user gets pointed at it.
export AUTHSIM_STATE_DIR=/tmp/state-nobody
mkdir -p "$AUTHSIM_STATE_DIR"
chown 65534:65534 "$AUTHSIM_STATE_DIR"
start_daemon /tmp/denied error-without-permission nobody --
grep -q '^note: .*udev/70-authsim.rules' /tmp/denied.out ||
  fail "error-without-permission (no udev note)" /tmp/denied.out /tmp/denied.err
[ -z "$(authsim_nodes)" ] || fail "error-without-permission (a node appeared)"
stop_daemon error-without-permission /tmp/denied
mark PASS error-without-permission "$(grep '^note: ' /tmp/denied.out | head -n 1)"

# --- run 1: the daemon as root, the fido2 tools, a second key, power cycle, SIGTERM ------
export AUTHSIM_STATE_DIR=/tmp/state
start_daemon /tmp/run1 daemon-start "" --
[ -n "$ready_ms" ] || fail "daemon-start (no 'ready: uhid authsim-default' line)" /tmp/run1.out /tmp/run1.err
node=$(find_node authsim-default)
grep -qx "HID_NAME=authsim virtual key (default)" "/sys/class/hidraw/$node/device/uevent" ||
  fail "daemon-start (product name)" "/sys/class/hidraw/$node/device/uevent"
mark PASS daemon-start "/dev/$node ready-ms=$ready_ms hidraw-ms=$node_ms api-ms=$api_ms"

timeout 30 fido2-token -L >/tmp/list 2>&1 || fail list /tmp/list
cat /tmp/list
grep -q "^/dev/$node: vendor=0x1209, product=0x0001" /tmp/list || fail list-shows-key /tmp/list
mark PASS list

info_ok "$node" /tmp/info || fail info /tmp/info /tmp/run1.err
mark PASS info "$(grep -E '^(version strings|aaguid)' /tmp/info | tr '\n' ' ')"

# authsim's own client for real keys (its CTAPHID over hidraw, found in sysfs) finds and uses it too.
timeout 30 authsim realkey list --json >/tmp/rk_list 2>&1 || fail realkey-list /tmp/rk_list
grep -q "\"/dev/$node\"" /tmp/rk_list || fail realkey-list-shows-key /tmp/rk_list
mark PASS realkey-list "$(tr -d ' \n' </tmp/rk_list)"
timeout 30 authsim realkey info --device "/dev/$node" --json >/tmp/rk_info 2>&1 || fail realkey-info /tmp/rk_info /tmp/run1.err
grep -q '"FIDO_2_1"' /tmp/rk_info || fail realkey-info-versions /tmp/rk_info
aaguid=$(sed -n 's/^aaguid: //p' /tmp/info)
grep -q "\"aaguid\": \"$(echo "$aaguid" | sed 's/\(........\)\(....\)\(....\)\(....\)/\1-\2-\3-\4-/')" /tmp/rk_info ||
  fail realkey-info-aaguid /tmp/rk_info /tmp/info
mark PASS realkey-info "aaguid $aaguid"

# authsim's WebAuthn client over hidraw: on the node (--device), and on the daemon key by name
# (--key: a uhid key is found through the control API and its HID_UNIQ in sysfs).
opts='{"publicKey":{"rp":{"id":"authsim.test","name":"Test"},"user":{"id":"dXNlcg","name":"u","displayName":"U"},"challenge":"Y2hhbGxlbmdlLTEyMzQ1Ng","pubKeyCredParams":[{"type":"public-key","alg":-7}],"authenticatorSelection":{"residentKey":"required","userVerification":"discouraged"},"extensions":{"credProps":true}}}'
echo "$opts" | timeout 30 authsim webauthn register --origin https://authsim.test --device "/dev/$node" >/tmp/wa_dev 2>&1 ||
  fail webauthn-hidraw /tmp/wa_dev /tmp/run1.err
grep -q '"publicKeyAlgorithm": -7' /tmp/wa_dev && grep -q '"rk": true' /tmp/wa_dev || fail "webauthn-hidraw (response)" /tmp/wa_dev
echo '{"challenge":"Y2hhbGxlbmdlLWdldA","rpId":"authsim.test","userVerification":"discouraged"}' |
  timeout 30 authsim webauthn authenticate --origin https://authsim.test --key default >/tmp/wa_key 2>&1 ||
  fail "webauthn-hidraw (--key default)" /tmp/wa_key /tmp/run1.err
grep -q '"userHandle": "dXNlcg"' /tmp/wa_key || fail "webauthn-hidraw (assertion)" /tmp/wa_key
mark PASS webauthn-hidraw

timeout 30 fido2-cred -M -i /test/cred_param "/dev/$node" >/tmp/cred_out 2>/tmp/cred_err ||
  fail make-credential /tmp/cred_err /tmp/run1.err
mark PASS make-credential "fmt $(sed -n 3p /tmp/cred_out)"
fido2-cred -V -i /tmp/cred_out -o /tmp/cred 2>/tmp/credv_err || fail verify-credential /tmp/credv_err /tmp/cred_out
mark PASS verify-credential

cp /test/assert_param_head /tmp/assert_param
head -n 1 /tmp/cred >>/tmp/assert_param
head -n 1 /tmp/cred | base64 -d >/tmp/cred_id.bin
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

# A second key through the control API: a second uhid device and hidraw node.
t0=$(now_ms)
timeout 30 authsim key add second --uhid >/tmp/add 2>&1 || fail second-key /tmp/add /tmp/run1.err
wait_until 20000 find_node authsim-second || fail "second-key (no node)" /tmp/add /tmp/run1.err
node2=$(find_node authsim-second)
[ "$node2" != "$node" ] || fail "second-key (same node)"
grep -qx "HID_NAME=authsim virtual key (second)" "/sys/class/hidraw/$node2/device/uevent" ||
  fail "second-key (product name)" "/sys/class/hidraw/$node2/device/uevent"
mark PASS second-key "/dev/$node2 add-to-hidraw-ms=$(($(now_ms) - t0))"

timeout 30 fido2-token -L >/tmp/list2 2>&1 || fail list-two /tmp/list2
[ "$(grep -c 'vendor=0x1209, product=0x0001' /tmp/list2)" -eq 2 ] || fail list-two /tmp/list2
grep -q "^/dev/$node2: " /tmp/list2 || fail list-two /tmp/list2
mark PASS list-two

# Clients at once: two on each node (each opener gets its own CTAPHID channel), 5 rounds each.
t0=$(now_ms)
pids=
for c in "$node.a" "$node.b" "$node2.a" "$node2.b"; do
  (
    n=${c%.*}
    i=0
    while [ $i -lt 5 ]; do
      info_ok "$n" "/tmp/par.$c.$i" || { echo "round $i failed" >"/tmp/par.$c.rc"; exit 1; }
      i=$((i + 1))
    done
    echo ok >"/tmp/par.$c.rc"
  ) &
  pids="$pids $!"
done
# Not a bare `wait`: the daemon is a child too.
wait $pids
for c in "$node.a" "$node.b" "$node2.a" "$node2.b"; do
  grep -qx ok "/tmp/par.$c.rc" 2>/dev/null || fail "parallel-clients ($c)" "/tmp/par.$c.rc" /tmp/par."$c".* /tmp/run1.err
done
mark PASS parallel-clients "4 clients x 5 fido2-token -I on /dev/$node and /dev/$node2 in $(($(now_ms) - t0)) ms"

# Manual presence: an assertion waits for `authsim key approve`.
authsim key presence default manual >/tmp/presence_set 2>&1 || fail "presence-approve (set manual)" /tmp/presence_set
timeout 60 fido2-assert -G -i /tmp/assert_param "/dev/$node" >/tmp/assert_m 2>/tmp/assert_m_err &
apid=$!
wait_until 20000 pending_id default || fail "presence-approve (nothing pending)" /tmp/presence /tmp/assert_m_err
id=$(pending_id default)
authsim key approve default "$id" >/tmp/approve 2>&1 || fail "presence-approve (approve $id)" /tmp/approve
wait "$apid" || fail "presence-approve (fido2-assert)" /tmp/assert_m_err /tmp/run1.err
fido2-assert -V -i /tmp/assert_m /tmp/pubkey.pem es256 2>/tmp/assertv_m || fail "presence-approve (verify)" /tmp/assertv_m
mark PASS presence-approve "request $id"

# A client killed while its request waits for a touch must not wedge the key: nobody has
# the node open any more (uhid says UHID_CLOSE), so the next client must be served at once.
timeout 60 fido2-assert -G -i /tmp/assert_param "/dev/$node" >/dev/null 2>/tmp/assert_k_err &
kpid=$!
wait_until 20000 pending_id default || fail "killed-client (nothing pending)" /tmp/presence /tmp/assert_k_err
kid=$(pending_id default)
kill -KILL "$kpid"
wait "$kpid" 2>/dev/null
if ! info_ok "$node" /tmp/info_k; then
  authsim key presence default --json >/tmp/presence_k 2>&1
  fail_soft "killed-client (DAEMON BUG: fido2-token -I right after the kill gets no CBOR answer: the key still waits for a touch for the dead client, request $kid, and answers other channels CTAPHID_ERR_CHANNEL_BUSY until the 30 s presence timeout)" \
    /tmp/info_k /tmp/presence_k
  # The way out meanwhile: deny the orphaned request through the API.
  authsim key deny default "$kid" >/tmp/deny_k 2>&1 || fail "killed-client (deny $kid)" /tmp/deny_k
  wait_until 5000 info_ok "$node" /tmp/info_k || fail "killed-client (still busy after deny)" /tmp/info_k /tmp/run1.err
fi
authsim key presence default auto >/tmp/presence_set 2>&1 || fail "killed-client (set auto)" /tmp/presence_set
timeout 30 fido2-assert -G -i /tmp/assert_param "/dev/$node" >/tmp/assert_k 2>/tmp/assert_k2_err ||
  fail "killed-client (assertion after the kill)" /tmp/assert_k2_err /tmp/run1.err
authsim key presence default --json >/tmp/presence_after 2>&1
grep -q '"pending": \[\]' /tmp/presence_after || fail "killed-client (request left pending)" /tmp/presence_after
mark PASS killed-client "request $kid abandoned; then $(tr -d ' \n' </tmp/presence_after)"

# Power cycle through the API: the node goes away and a new HID device comes back.
first=$(hid_id "$node")
t0=$(now_ms)
timeout 30 authsim key power-cycle default >/tmp/pc 2>&1 || fail power-cycle /tmp/pc /tmp/run1.err
wait_until 20000 test ! -e "/sys/bus/hid/devices/$first" || fail power-cycle-gone /tmp/pc /tmp/run1.err
mark PASS power-cycle-gone "$first"
back() { n=$(find_node authsim-default) && [ "$(hid_id "$n")" != "$first" ]; }
wait_until 20000 back || fail power-cycle-back /tmp/pc /tmp/run1.err
node=$(find_node authsim-default)
mark PASS power-cycle-back "/dev/$node $(hid_id "$node") in $(($(now_ms) - t0)) ms"
info_ok "$node" /tmp/info2 || fail info-after-power-cycle /tmp/info2 /tmp/run1.err
mark PASS info-after-power-cycle

# Clients that close the node mid-message. A truncated report written with printf: the
# next client is served at once.
printf '\000\377\377\377\377\206\000\010half' >"/dev/$node" 2>/tmp/half_err || fail "half-message (printf)" /tmp/half_err
info_ok "$node" /tmp/info3 || fail "half-message (fido2-token -I after a truncated report)" /tmp/info3 /tmp/run1.err
# hidclient sends only the first report of a 200-byte CTAPHID_CBOR message and exits: the
# key may stay busy (CTAPHID_ERR_CHANNEL_BUSY to others) until its CTAPHID message timeout
# (500 ms) ends that transaction, never longer.
timeout 30 hidclient abandon "/dev/$node" >/tmp/abandon 2>&1 || fail "half-message (hidclient)" /tmp/abandon
t0=$(now_ms)
if info_ok "$node" /tmp/info3; then half="next fido2-token -I served at once"; else
  wait_until 2000 info_ok "$node" /tmp/info3 || fail "half-message (still busy 2 s after the abandoned message)" /tmp/info3 /tmp/run1.err
  half="next fido2-token -I busy (nocbor), served after $(($(now_ms) - t0)) ms"
fi
mark PASS half-message "$(cat /tmp/abandon); $half"

authsim key list --json >/tmp/keys1 2>&1 || fail key-list /tmp/keys1
stop_daemon sigterm-removes-nodes /tmp/run1
wait_until 5000 no_authsim_nodes || fail "sigterm-removes-nodes ($(authsim_nodes | tr '\n' ' ')left)"
mark PASS sigterm-removes-nodes

# --- run 2: restart on the same state, the socket transport too -------------------------
start_daemon /tmp/run2 restart "" -- --hid-socket /tmp/hid.sock
[ -n "$node_ms" ] || fail "restart (no default node)" /tmp/run2.out /tmp/run2.err
node=$(find_node authsim-default)
grep -q '^ready: hid-socket /tmp/hid.sock (key default)' /tmp/run2.out || fail "restart (no hid socket)" /tmp/run2.out
mark PASS restart "/dev/$node ready-ms=$ready_ms hidraw-ms=$node_ms api-ms=$api_ms"

# The credential made in run 1 still signs, and the assertion verifies with its key.
timeout 30 fido2-assert -G -i /tmp/assert_param "/dev/$node" >/tmp/assert_p 2>/tmp/assert_p_err ||
  fail persisted-credential /tmp/assert_p_err /tmp/run2.err
fido2-assert -V -i /tmp/assert_p /tmp/pubkey.pem es256 2>/tmp/assertv_p || fail "persisted-credential (verify)" /tmp/assertv_p
mark PASS persisted-credential

# The API-added key comes back by itself, on uhid again.
wait_until 20000 find_node authsim-second || fail "second-key-back (no node)" /tmp/run2.out /tmp/run2.err
node2=$(find_node authsim-second)
authsim key list --json >/tmp/keys2 2>&1 || fail "second-key-back (key list)" /tmp/keys2
grep -q '"name": "second"' /tmp/keys2 || fail "second-key-back (not listed)" /tmp/keys2
info_ok "$node2" /tmp/info4 || fail "second-key-back (fido2-token -I)" /tmp/info4 /tmp/run2.err
mark PASS second-key-back "/dev/$node2"

# A PIN over uhid: fido2-token -S sets it on the second key (the PIN twice on stdin; setsid
# leaves no controlling terminal, so readpassphrase reads stdin), then fido2-cred -M -v makes
# a credential with user verification through it, which fido2-cred -V -v verifies.
printf '2468\n2468\n' | timeout 30 setsid fido2-token -S "/dev/$node2" >/tmp/pin_set 2>&1 ||
  fail pin-set /tmp/pin_set /tmp/run2.err
info_ok "$node2" /tmp/info_pin || fail "pin-set (fido2-token -I)" /tmp/info_pin
grep -q '^options: .*[ ,]clientPin' /tmp/info_pin || fail "pin-set (no clientPin)" /tmp/info_pin
grep -q '^pin retries: 8' /tmp/info_pin || fail "pin-set (retries)" /tmp/info_pin
authsim key show second >/tmp/show_pin 2>&1 || fail "pin-set (key show)" /tmp/show_pin
grep -q 'PIN set: *yes' /tmp/show_pin || fail "pin-set (key show says no PIN)" /tmp/show_pin
mark PASS pin-set "/dev/$node2 $(grep -E '^pin retries' /tmp/info_pin)"
printf '2468\n' | timeout 30 setsid fido2-cred -M -v -i /test/cred_param "/dev/$node2" \
  >/tmp/cred_pin 2>/tmp/cred_pin_err || fail pin-make-credential /tmp/cred_pin_err /tmp/run2.err
fido2-cred -V -v -i /tmp/cred_pin -o /tmp/cred_pin_v 2>/tmp/cred_pin_v_err ||
  fail "pin-make-credential (fido2-cred -V -v)" /tmp/cred_pin_v_err /tmp/cred_pin
if printf '0000\n' | timeout 30 setsid fido2-cred -M -v -i /test/cred_param "/dev/$node2" \
  >/dev/null 2>/tmp/cred_bad_err; then
  fail "pin-make-credential (a wrong PIN made a credential)"
fi
grep -q FIDO_ERR_PIN_INVALID /tmp/cred_bad_err || fail "pin-make-credential (wrong PIN error)" /tmp/cred_bad_err
mark PASS pin-make-credential "uv verified; a wrong PIN: FIDO_ERR_PIN_INVALID"

# Latency of one ceremony: fido2-assert -G processes over uhid (libfido2 opens the device,
# CTAPHID_INIT, GetInfo, GetAssertion), and hidclient's CTAPHID round trips in one process
# over uhid (/dev/hidrawN) and over the socket transport, on the same key.
t0=$(now_ms)
i=0
while [ $i -lt $N ]; do
  timeout 30 fido2-assert -G -i /tmp/assert_param "/dev/$node" >/dev/null 2>/tmp/lat_err ||
    fail "latency (fido2-assert run $i)" /tmp/lat_err /tmp/run2.err
  i=$((i + 1))
done
per_call=$((($(now_ms) - t0) / N))
timeout 120 hidclient bench $N $RP /tmp/cred_id.bin "/dev/$node" /tmp/hid.sock >/tmp/bench 2>&1 ||
  fail "latency (hidclient)" /tmp/bench /tmp/run2.err
cat /tmp/bench
u=$(grep "^/dev/$node " /tmp/bench)
s=$(grep '^/tmp/hid.sock ' /tmp/bench)
[ -n "$u" ] && [ -n "$s" ] || fail "latency (hidclient output)" /tmp/bench
mark PASS latency "fido2-assert-ms=$per_call uhid-ga-us=$(echo "$u" | sed 's/.* ga-us=\([0-9]*\).*/\1/') socket-ga-us=$(echo "$s" | sed 's/.* ga-us=\([0-9]*\).*/\1/') uhid-ping-us=$(echo "$u" | sed 's/.* ping-us=\([0-9]*\).*/\1/') socket-ping-us=$(echo "$s" | sed 's/.* ping-us=\([0-9]*\).*/\1/') n=$N pings=$((N * 5))"

# Removing a key through the API takes its node away.
gone=$(hid_id "$node2")
timeout 30 authsim key remove second >/tmp/remove 2>&1 || fail remove-second /tmp/remove /tmp/run2.err
wait_until 20000 test ! -e "/sys/bus/hid/devices/$gone" || fail "remove-second (node stays)" /tmp/remove
! find_node authsim-second >/dev/null || fail "remove-second (node back)"
authsim key list --json >/tmp/keys3 2>&1 || fail "remove-second (key list)" /tmp/keys3
! grep -q '"name": "second"' /tmp/keys3 || fail "remove-second (still listed)" /tmp/keys3
mark PASS remove-second "$gone"

stop_daemon sigterm-2 /tmp/run2
wait_until 5000 no_authsim_nodes || fail "sigterm-2 ($(authsim_nodes | tr '\n' ' ')left)"
[ ! -e /tmp/hid.sock ] || fail "sigterm-2 (socket file left)"
mark PASS sigterm-2

finish
