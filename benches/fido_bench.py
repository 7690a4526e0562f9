#!/usr/bin/env python3
"""FIDO benchmark: authsim's virtual key against Chromium's DevTools virtual authenticator,
the same ceremony (ES256, attestation "none", non-resident credential, one allowCredentials
entry for sign-in) in the same run on the same machine.

1. authsim: `cargo bench --bench fido_socket` (a native Rust client on the daemon's Unix
   socket, state on tmpfs and on disk; plus in-process figures). Its last line is JSON.
2. Chromium (Debian `chromium`, headless) driven over the DevTools protocol on a pipe
   (--remote-debugging-pipe, no extra packages): WebAuthn.enable,
   WebAuthn.addVirtualAuthenticator {ctap2, usb, resident keys, UV, automatic presence},
   then navigator.credentials.create/get in a page served on 127.0.0.1 (origin
   http://localhost, rp.id "localhost"), timed in the page with performance.now().

3. authsim's WebAuthn client through the control API (`POST /webauthn/authenticator/default/
   register|authenticate`: options JSON in, response JSON out, the daemon's state on disk), the
   same ceremony as Chromium's create()/get() above, timed from a client of the API socket that
   keeps its connection (as requests.Session or fetch do) and from one that opens a connection
   per call.

`--webauthn-only` runs 2. and 3. alone and prints one JSON line with every ceremony's time
(benches/run.py, `make bench`, collects it).

Prints the figures, the ratios (time per ceremony authsim / Chromium; goal <= 0.5) and the
assertions per second (goal >= 10,000 on 2 cores); the last line is a JSON summary.
Not a test: nothing here asserts on time."""
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = int(os.environ.get("FIDO_BENCH_N", "2000"))
CHROME_N = int(os.environ.get("FIDO_BENCH_CHROME_N", "1000"))
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>authsim bench</title></head>
<body><script>
async function bench(n) {
  const enc = new TextEncoder();
  const rnd = () => crypto.getRandomValues(new Uint8Array(32));
  const rp = {id: "localhost", name: "bench"};
  const create = (i) => navigator.credentials.create({publicKey: {
    rp, user: {id: enc.encode("user-" + i), name: "alice", displayName: "Alice"},
    challenge: rnd(), pubKeyCredParams: [{type: "public-key", alg: -7}],
    attestation: "none", timeout: 30000,
    authenticatorSelection: {residentKey: "discouraged", userVerification: "discouraged"}}});
  const first = await create(0);
  const allow = [{type: "public-key", id: first.rawId}];
  const get = () => navigator.credentials.get({publicKey: {rpId: "localhost",
    challenge: rnd(), allowCredentials: allow, userVerification: "discouraged",
    timeout: 30000}});
  for (let i = 0; i < 10; i++) await get();
  const regs = Math.max(10, Math.floor(n / 4));
  const regSamples = [], getSamples = [];
  let t0 = performance.now();
  for (let i = 0; i < regs; i++) {
    const t = performance.now();
    await create(i + 1);
    regSamples.push(performance.now() - t);
  }
  const regMs = (performance.now() - t0) / regs;
  t0 = performance.now();
  let count = 0;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const a = await get();
    getSamples.push(performance.now() - t);
    count = new DataView(a.response.authenticatorData).getUint32(33);
  }
  const getMs = (performance.now() - t0) / n;
  return {registration_ms: regMs, assertion_ms: getMs, registrations: regs, assertions: n,
          last_sign_count: count, registration_samples_ms: regSamples,
          assertion_samples_ms: getSamples};
}
</script></body></html>"""


class Cdp:
    """The DevTools protocol over --remote-debugging-pipe: NUL-terminated JSON on fds 3/4."""

    def __init__(self, user_data_dir):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def fds():
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={user_data_dir}", "--remote-debugging-pipe",
                "about:blank"]
        self.proc = subprocess.Popen(args, preexec_fn=fds, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b""
        self.next_id = 0

    def call(self, method, params=None, session=None, timeout=600):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\0" not in self.buf:
                chunk = os.read(self.from_chrome, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
        raise RuntimeError(f"{method}: no answer")

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_chrome)
        os.close(self.from_chrome)


def serve_page():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def chromium_bench(n):
    if not os.access(CHROMIUM, os.X_OK):
        sys.exit(f"chromium not found at {CHROMIUM}: run scripts/install-deps.sh")
    server = serve_page()
    profile = tempfile.mkdtemp(prefix="authsim-bench-chromium-")
    cdp = Cdp(profile)
    try:
        version = cdp.call("Browser.getVersion")["product"]
        target = cdp.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        cdp.call("WebAuthn.enable", {"enableUI": False}, session)
        cdp.call("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "usb", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True,
            "automaticPresenceSimulation": True}}, session)
        cdp.call("Page.navigate", {"url": f"http://localhost:{server.server_address[1]}/"}, session)
        for _ in range(200):
            state = cdp.call("Runtime.evaluate", {"expression": "document.readyState + typeof bench",
                                                  "returnByValue": True}, session)
            if state["result"].get("value") == "completefunction":
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the bench page did not load")
        r = cdp.call("Runtime.evaluate", {"expression": f"bench({n})", "awaitPromise": True,
                                          "returnByValue": True}, session)
        if "exceptionDetails" in r:
            raise RuntimeError(f"bench page failed: {r['exceptionDetails']}")
        result = r["result"]["value"]
        result["chromium"] = version
        return result
    finally:
        cdp.close()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)


def api_bench(n):
    """register/authenticate through the control API, state on disk, one request at a time."""
    import base64
    import http.client
    import socket

    binary = os.environ.get("AUTHSIM_BIN") or os.path.join(ROOT, "target", "release", "authsim")
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary} not found: cargo build --release (make bench does)")
    state = tempfile.mkdtemp(prefix="authsim-bench-api-", dir=os.environ.get("BENCH_DISK_DIR", ROOT))
    env = dict(os.environ, AUTHSIM_STATE_DIR=state, AUTHSIM_KEYRING="off")
    env.pop("RUST_LOG", None)
    hid = os.path.join(state, "hid.sock")
    proc = subprocess.Popen([binary, "daemon", "--no-uhid", "--hid-socket", hid, "--attestation", "none"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    api = os.path.join(state, "api.sock")

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(api)

    # A test suite's HTTP client keeps its connection (requests.Session, fetch): measured so,
    # and also with a new connection per call.
    kept = {"conn": None}
    mode = {"keep_alive": True}

    def post(path, body):
        if not mode["keep_alive"]:
            c = Conn("authsim", timeout=30)
        else:
            if kept["conn"] is None:
                kept["conn"] = Conn("authsim", timeout=30)
            c = kept["conn"]
        c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        if not mode["keep_alive"]:
            c.close()
        if r.status != 200:
            raise RuntimeError(f"{path}: {r.status} {data[:300]!r}")
        return json.loads(data)

    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    origin = "http://localhost"

    def create(i):
        return post("/webauthn/authenticator/default/register", {"origin": origin, "options": {
            "rp": {"id": "localhost", "name": "bench"},
            "user": {"id": b64(f"user-{i}".encode()), "name": "alice", "displayName": "Alice"},
            "challenge": b64(os.urandom(32)), "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
            "attestation": "none", "timeout": 30000,
            "authenticatorSelection": {"residentKey": "discouraged", "userVerification": "discouraged"}}})

    try:
        for line in proc.stdout:
            if line.startswith("ready: api-socket"):
                break
        first = create(0)
        allow = [{"type": "public-key", "id": first["id"]}]

        def get():
            return post("/webauthn/authenticator/default/authenticate", {"origin": origin, "options": {
                "rpId": "localhost", "challenge": b64(os.urandom(32)), "allowCredentials": allow,
                "userVerification": "discouraged", "timeout": 30000}})

        for _ in range(10):
            get()
        regs = max(10, n // 4)

        def run(keep_alive, first_user):
            mode["keep_alive"] = keep_alive
            reg_samples, get_samples = [], []
            for i in range(regs):
                t = time.perf_counter()
                create(first_user + i)
                reg_samples.append((time.perf_counter() - t) * 1000)
            for _ in range(n):
                t = time.perf_counter()
                a = get()
                get_samples.append((time.perf_counter() - t) * 1000)
            return reg_samples, get_samples, a

        reg_samples, get_samples, _ = run(True, 1)
        reg_new, get_new, a = run(False, 1 + regs)
        count = int.from_bytes(base64.urlsafe_b64decode(a["response"]["authenticatorData"] + "==")[33:37], "big")
        return {"registration_ms": statistics.mean(reg_samples),
                "assertion_ms": statistics.mean(get_samples), "registrations": regs,
                "assertions": n, "last_sign_count": count, "registration_samples_ms": reg_samples,
                "assertion_samples_ms": get_samples,
                "registration_new_connection_samples_ms": reg_new,
                "assertion_new_connection_samples_ms": get_new}
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(state, ignore_errors=True)


def authsim_bench(n):
    cargo = os.environ.get("CARGO", "cargo")
    env = dict(os.environ, FIDO_BENCH_N=str(n))
    p = subprocess.run([cargo, "bench", "--locked", "--bench", "fido_socket"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        sys.exit(f"cargo bench --bench fido_socket failed:\n{p.stderr[-4000:]}")
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    for line in lines[:-1]:
        print("authsim:", line)
    return json.loads(lines[-1])


def webauthn_only(n):
    """The WebAuthn ceremonies alone (benches/run.py): Chromium's virtual authenticator and the
    control API, per-ceremony samples in one JSON line."""
    theirs = chromium_bench(n)
    api = api_bench(n)
    print(json.dumps({"chromium": theirs, "webauthn_api": api}))


def main():
    if "--webauthn-only" in sys.argv[1:]:
        webauthn_only(CHROME_N)
        return
    ours = authsim_bench(N)
    theirs = chromium_bench(CHROME_N)
    api = api_bench(CHROME_N)
    print(f"chromium: {theirs['chromium']} virtual authenticator: "
          f"{1000 / theirs['registration_ms']:.0f} registrations/s, "
          f"{1000 / theirs['assertion_ms']:.0f} assertions/s "
          f"({theirs['registration_ms']:.3f} ms / {theirs['assertion_ms']:.3f} ms per ceremony)")
    summary = {"authsim": ours, "chromium": theirs, "webauthn_api": api, "ratios": {}}
    ratios = {"registration": api["registration_ms"] / theirs["registration_ms"],
              "assertion": api["assertion_ms"] / theirs["assertion_ms"]}
    summary["ratios"]["webauthn_api"] = ratios
    print(f"WebAuthn ceremony through the control API (authsim webauthn, options JSON in, response "
          f"JSON out, state on disk) / chromium create()/get(): registration "
          f"{api['registration_ms']:.3f} / {theirs['registration_ms']:.3f} ms = "
          f"{ratios['registration']:.3f}x, assertion {api['assertion_ms']:.3f} / "
          f"{theirs['assertion_ms']:.3f} ms = {ratios['assertion']:.3f}x (goal <= 0.5x)")
    es = ours["ES256"]
    for where in ("socket_tmpfs", "socket_disk"):
        r = es[where]
        reg_ms = 1000 / r["registrations_per_s"]
        get_ms = 1000 / r["assertions_per_s"]
        ratios = {"registration": reg_ms / theirs["registration_ms"],
                  "assertion": get_ms / theirs["assertion_ms"]}
        summary["ratios"][where] = ratios
        print(f"time per ES256 ceremony, authsim ({where}) / chromium: registration "
              f"{reg_ms:.3f} / {theirs['registration_ms']:.3f} ms = {ratios['registration']:.3f}x, "
              f"assertion {get_ms:.3f} / {theirs['assertion_ms']:.3f} ms = "
              f"{ratios['assertion']:.3f}x (goal <= 0.5x)")
    for alg in ("ES256", "EdDSA"):
        t = ours[alg]["socket_tmpfs"]
        print(f"{alg} assertions per second over the socket on {os.cpu_count()} cores: "
              f"{t['assertions_per_s']:.0f} (1 client), {t['concurrent_assertions_per_s']:.0f} "
              f"({t['clients']} clients); the token alone in process: "
              f"{ours[alg]['in_process_memory']['assertions_per_s']:.0f} (goal >= 10,000)")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
