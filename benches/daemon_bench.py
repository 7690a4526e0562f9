"""The daemon's start-up time and memory: start -> ready (the API socket announced), on an empty
state directory and on one holding 10 keys with 100,000 resident credentials in all, and the
daemon's resident set size (VmRSS) with that state loaded and after an assertion on every key.

  python3 benches/daemon_bench.py [--keys 10] [--per-key 10000] [--starts 10]

Credentials are imported through the control API (authsim's bulk form of WebDriver's "Add
Credential", 1,000 per request; P-256 PKCS#8 keys made by `cryptography`), 100 relying parties
per key. The state directory is on /dev/shm
when it exists (the import is bounded by fsync otherwise). Goals (issue 4): start to ready
<= 200 ms; RSS <= 50 MB with 10 keys and 100,000 resident credentials.
"""
import argparse
import base64
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "py"))
from fido import UnixHTTPConnection, authsim_bin, open_device  # noqa: E402


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def start(state, extra=()):
    env = dict(os.environ, AUTHSIM_STATE_DIR=state, AUTHSIM_KEYRING="off")
    env.pop("RUST_LOG", None)
    t0 = time.perf_counter()
    p = subprocess.Popen([authsim_bin(), "daemon", "--no-uhid", *extra], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in p.stdout:
        if line.startswith("ready: api-socket"):
            return p, time.perf_counter() - t0
    raise SystemExit(f"daemon exited ({p.wait()}) before it was ready")


def stop(p):
    p.terminate()
    p.wait(30)
    p.stdout.close()


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def request(conn, method, path, body=None):
    import json
    conn.request(method, path, body=None if body is None else json.dumps(body),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data) if data else None


def populate(state, keys, per_key):
    sock = os.path.join(state, "api.sock")
    conn = UnixHTTPConnection(sock, timeout=60)
    for k in range(keys):
        request(conn, "POST", "/webauthn/authenticator",
                {"name": f"k{k}", "maxResidentCredentials": per_key,
                 "hidSocket": os.path.join(state, f"k{k}.sock")})
    conn.close()

    def fill(k):
        # authsim's bulk Add Credential: 1,000 per request, one commit each.
        c = UnixHTTPConnection(sock, timeout=300)
        for start_i in range(0, per_key, 1000):
            batch = []
            for i in range(start_i, min(per_key, start_i + 1000)):
                key = ec.generate_private_key(ec.SECP256R1())
                der = key.private_bytes(serialization.Encoding.DER,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
                batch.append({"credentialId": b64u(os.urandom(32)), "isResidentCredential": True,
                              "rpId": f"rp{i % 100}.example", "privateKey": b64u(der),
                              "userHandle": b64u(b"user-%d" % i)})
            request(c, "POST", f"/webauthn/authenticator/k{k}/credentials", batch)
        c.close()

    threads = [threading.Thread(target=fill, args=(k,)) for k in range(keys)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=10)
    ap.add_argument("--per-key", type=int, default=10_000)
    ap.add_argument("--starts", type=int, default=10)
    args = ap.parse_args()
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    tmp = tempfile.mkdtemp(prefix="authsim-daemon-bench-", dir=base)
    try:
        empty = []
        for i in range(args.starts):
            state = os.path.join(tmp, f"empty{i}")
            p, t = start(state)
            empty.append(t)
            stop(p)
        print(f"start -> ready, empty state ({len(empty)} runs): median "
              f"{statistics.median(empty) * 1000:.1f} ms, max {max(empty) * 1000:.1f} ms "
              f"(goal <= 200 ms)")
        state = os.path.join(tmp, "full")
        p, _ = start(state)
        idle = rss_mb(p.pid)
        took = populate(state, args.keys, args.per_key)
        total = args.keys * args.per_key
        print(f"imported {total} resident credentials into {args.keys} keys over the API in "
              f"{took:.1f} s ({total / took:.0f}/s)")
        print(f"RSS: {idle:.1f} MB idle with 1 key; {rss_mb(p.pid):.1f} MB after the import")
        stop(p)
        loaded = []
        for _ in range(max(3, args.starts // 3)):
            p, t = start(state)
            loaded.append(t)
            rss_loaded = rss_mb(p.pid)
            stop(p)
        print(f"start -> ready with {args.keys + 1} keys and {total} resident credentials "
              f"({len(loaded)} runs): median {statistics.median(loaded) * 1000:.0f} ms")
        p, _ = start(state)
        print(f"RSS after start with that state: {rss_loaded:.1f} MB (goal <= 50 MB)")
        from fido2.ctap2 import Ctap2
        t0 = time.perf_counter()
        for k in range(args.keys):
            a = Ctap2(open_device(os.path.join(state, f"k{k}.sock"))).get_assertion(
                "rp7.example", os.urandom(32))
            assert a.number_of_credentials == args.per_key // 100, a.number_of_credentials
        per = (time.perf_counter() - t0) / args.keys
        print(f"discoverable getAssertion among {args.per_key} credentials per key: "
              f"{per * 1000:.0f} ms each; RSS after one on every key: {rss_mb(p.pid):.1f} MB")
        stop(p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
