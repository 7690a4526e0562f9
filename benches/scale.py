#!/usr/bin/env python3
"""Scale benchmark: one virtual key holding 10, 10,000 and 100,000 resident credentials
(imported through the control API's bulk import, 10,000 per request), the state on disk.

For each size, with the same client (python-fido2 over the daemon's Unix socket transport):
- getAssertion p50 and p95 with a one-entry allowList (competitor: the same key with 10
  credentials; goal ratio <= 2);
- a WebAuthn get() ceremony through the control API (POST .../authenticate, keep-alive
  client; the ceremony asks getInfo, which reports the remaining discoverable slots) p50,
  same competitor and goal;
- credential management (PIN token with the cm permission): getCredsMetadata +
  enumerateRPs (every RP) + enumerateCredentials of one RP, and the control API's full
  listing (GET .../credentials);
- daemon RSS after the import, the assertions and the listing, its peak (VmHWM), and after a
  restart plus one assertion
  (goal <= 50 MB);
- daemon start -> ready: the time from spawning `authsim daemon` on the filled state directory
  to its last ready line (goal <= 200 ms).

Environment: AUTHSIM_BIN (default target/release/authsim), SCALE_SIZES (default
"10,10000,100000"), SCALE_ASSERTIONS (default 300). Prints one JSON line per figure:
{"name", "unit", "value", "competitor", "competitor_value", "ratio", "goal"}; human-readable
lines go to stderr. Not a test: nothing here asserts on time."""
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "py"))
os.environ.setdefault("AUTHSIM_BIN", os.path.join(ROOT, "target", "release", "authsim"))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from fido2.ctap2 import Ctap2  # noqa: E402
from fido2.ctap2.credman import CredentialManagement  # noqa: E402
from fido2.ctap2.pin import ClientPin  # noqa: E402

from fido import Daemon, UnixHTTPConnection, open_device  # noqa: E402

SIZES = [int(s) for s in os.environ.get("SCALE_SIZES", "10,10000,100000").split(",")]
ASSERTIONS = int(os.environ.get("SCALE_ASSERTIONS", "300"))
BATCH = 10_000
RPS = 100
PIN = "4321"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def emit(name, unit, value, competitor=None, competitor_value=None, goal=None):
    line = {"name": name, "unit": unit, "value": value}
    if competitor is not None:
        line.update(competitor=competitor, competitor_value=competitor_value,
                    ratio=(value / competitor_value) if competitor_value else None)
    if goal is not None:
        line["goal"] = goal
    print(json.dumps(line), flush=True)


def rss_mb(pid, field="VmRSS"):
    """The daemon's resident size now (VmRSS) or at its peak so far (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def api(d, method, path, body=None):
    """One control-API request with a long timeout (a 10,000-credential import into a key
    that already holds many takes longer than the test helpers' 10 s)."""
    conn = UnixHTTPConnection(d.api_socket, timeout=600)
    try:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        return resp.status, (json.loads(payload) if payload else None)
    finally:
        conn.close()


def credentials(n):
    """n discoverable ES256 credentials over RPS relying parties (one key pair, shared: the
    key's cost per credential is the same whatever the scalar)."""
    der = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    key = b64u(der)
    return [{"credentialId": b64u(b"scale-%08d" % i), "isResidentCredential": True,
             "rpId": f"rp{i % RPS}.example", "privateKey": key,
             "userHandle": b64u(b"user-%08d" % i), "userName": f"user{i}", "signCount": 0}
            for i in range(n)]


def start(state):
    """Starts a daemon on `state`; returns it and the ms from spawn to its last ready line."""
    d = Daemon(state, attestation="none")
    d.stderr = open(os.path.join(d.sock_dir, "stderr.log"), "w+")
    t = time.perf_counter()
    d.proc = subprocess.Popen(d.args, env=d.env, stdout=subprocess.PIPE, stderr=d.stderr,
                              text=True)
    seen = []
    for line in d.proc.stdout:
        seen.append(line)
        if all(any(s.startswith(e) for s in seen) for e in d.expect):
            break
    ready_ms = (time.perf_counter() - t) * 1e3
    if d.proc.poll() is not None:
        raise RuntimeError(f"daemon exited: {d.errors()}")
    threading.Thread(target=lambda: [None for _ in d.proc.stdout], daemon=True).start()
    return d, ready_ms


def fill(d, n, path):
    creds = credentials(n)
    status, body = api(d, "POST", "/webauthn/authenticator", {
        "name": "scale", "maxResidentCredentials": max(n, 100), "hidSocket": path,
        "attestation": "none"})
    assert status == 201, (status, body)
    t = time.perf_counter()
    for i in range(0, n, BATCH):
        status, body = api(d, "POST", "/webauthn/authenticator/scale/credentials",
                           creds[i:i + BATCH])
        assert status == 201, (status, body)
    return creds, time.perf_counter() - t


def assertion_ms(path, cred, count):
    ctap = Ctap2(open_device(path))
    rp = cred["rpId"]
    allow = [{"type": "public-key",
              "id": base64.urlsafe_b64decode(cred["credentialId"] + "==")}]
    for _ in range(20):
        ctap.get_assertion(rp, os.urandom(32), allow)
    times = []
    for _ in range(count):
        t = time.perf_counter()
        ctap.get_assertion(rp, os.urandom(32), allow)
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def api_ceremony_ms(d, cred, count):
    """get() through the control API on one keep-alive connection; p50 in ms."""
    conn = UnixHTTPConnection(d.api_socket)
    body = {"origin": f"https://{cred['rpId']}", "options": {
        "rpId": cred["rpId"], "allowCredentials": [{"type": "public-key", "id": cred["credentialId"]}],
        "userVerification": "discouraged"}}
    times = []
    for i in range(count + 10):
        body["options"]["challenge"] = b64u(os.urandom(32))
        t = time.perf_counter()
        conn.request("POST", "/webauthn/authenticator/scale/authenticate", json.dumps(body),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError(f"authenticate: {r.status} {data[:300]!r}")
        if i >= 10:
            times.append((time.perf_counter() - t) * 1e3)
    conn.close()
    return statistics.median(times)


def enumeration_ms(path):
    ctap = Ctap2(open_device(path))
    client_pin = ClientPin(ctap)
    client_pin.set_pin(PIN)
    token = client_pin.get_pin_token(PIN, ClientPin.PERMISSION.CREDENTIAL_MGMT)
    cm = CredentialManagement(ctap, client_pin.protocol, token)
    t = time.perf_counter()
    cm.get_metadata()
    rps = cm.enumerate_rps()
    first = rps[0][CredentialManagement.RESULT.RP_ID_HASH]
    creds = cm.enumerate_creds(first)
    return (time.perf_counter() - t) * 1e3, len(rps), len(creds)


def main():
    results = {}
    for n in SIZES:
        state = tempfile.mkdtemp(prefix=f"authsim-scale-{n}-", dir="/var/tmp")
        sockets = tempfile.mkdtemp(prefix="authsim-scale-sock-")
        # The key keeps its socket across the restart (the key's spec is stored).
        path = os.path.join(sockets, "scale.sock")
        d = None
        try:
            d, _ = start(state)
            creds, import_s = fill(d, n, path)
            target = creds[-1]
            p50, p95 = assertion_ms(path, target, ASSERTIONS)
            ceremony_ms = api_ceremony_ms(d, target, ASSERTIONS)
            enum_ms, rps, in_rp = enumeration_ms(path)
            t = time.perf_counter()
            _, listed = api(d, "GET", "/webauthn/authenticator/scale/credentials")
            list_ms = (time.perf_counter() - t) * 1e3
            assert len(listed) == n, len(listed)
            rss_loaded = rss_mb(d.proc.pid)
            rss_peak = rss_mb(d.proc.pid, "VmHWM")
            d.stop()
            d, ready_ms = start(state)
            after_p50, _ = assertion_ms(path, target, 20)
            rss_restarted = rss_mb(d.proc.pid)
            results[n] = dict(p50=p50, p95=p95, enum_ms=enum_ms, list_ms=list_ms,
                              rss_loaded=rss_loaded, rss_peak=rss_peak, rss_restarted=rss_restarted,
                              ready_ms=ready_ms, import_s=import_s, after_p50=after_p50,
                              ceremony_ms=ceremony_ms)
            print(f"{n:>7} credentials: import {import_s:.1f} s, getAssertion p50 {p50:.3f} ms "
                  f"(p95 {p95:.3f}), API get() {ceremony_ms:.3f} ms, credMgmt metadata+{rps} RPs+{in_rp} creds {enum_ms:.1f} ms, "
                  f"API list {list_ms:.1f} ms, RSS {rss_loaded:.1f} MB (peak {rss_peak:.1f}, after restart "
                  f"{rss_restarted:.1f} MB), start->ready {ready_ms:.0f} ms", file=sys.stderr)
        finally:
            if d is not None:
                d.stop()
            shutil.rmtree(state, ignore_errors=True)
            shutil.rmtree(sockets, ignore_errors=True)
    base = results.get(10) or results[min(results)]
    for n, r in results.items():
        emit(f"scale_{n}_get_assertion_p50", "ms", r["p50"], "same key with 10 credentials",
             base["p50"], goal="ratio <= 2")
        emit(f"scale_{n}_get_assertion_p95", "ms", r["p95"], "same key with 10 credentials",
             base["p95"])
        emit(f"scale_{n}_api_get_ceremony_p50", "ms", r["ceremony_ms"],
             "same key with 10 credentials", base["ceremony_ms"], goal="ratio <= 2")
        emit(f"scale_{n}_credential_management_enumeration", "ms", r["enum_ms"],
             "same key with 10 credentials", base["enum_ms"])
        emit(f"scale_{n}_api_list", "ms", r["list_ms"], "same key with 10 credentials",
             base["list_ms"])
        emit(f"scale_{n}_import", "s", r["import_s"])
        emit(f"scale_{n}_daemon_rss", "MB", r["rss_loaded"], goal="<= 50")
        emit(f"scale_{n}_daemon_peak_rss", "MB", r["rss_peak"])
        emit(f"scale_{n}_daemon_rss_after_restart", "MB", r["rss_restarted"], goal="<= 50")
        emit(f"scale_{n}_daemon_start_to_ready", "ms", r["ready_ms"],
             "same key with 10 credentials", base["ready_ms"], goal="<= 200")


if __name__ == "__main__":
    main()
