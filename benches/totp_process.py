#!/usr/bin/env python3
"""TOTP benchmark: authsim against named competitors in the same run.

1. One code per process: `authsim totp code NAME` (release build, key file, SQLite open,
   decrypt, compute) vs `oathtool --totp -b SECRET` and a `python3 -c` process with pyotp,
   interleaved, N runs each (pyotp's every fifth round: an interpreter starts slowly).
2. One code over the control API (`GET /totp/NAME/code` on `authsim daemon`'s API socket) with a
   keep-alive client: what a test suite holding one connection pays per code.
3. In process: authsim's code generation (cargo bench --bench totp) vs pyotp's, codes/s
   (skipped with --no-in-process).

  python3 benches/totp_process.py [--runs N] [--no-in-process]

Prints medians and ratios; the last line is a JSON summary (medians and p95 in ms) that
benches/run.py collects. Not a test: nothing here asserts on time."""
import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "py"))
BIN = os.environ.get("AUTHSIM_BIN", os.path.join(ROOT, "target", "release", "authsim"))
SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
PYOTP = f"import pyotp; print(pyotp.TOTP({SECRET!r}).now())"


def timed(cmd, env):
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def summary(samples):
    """Median and 95th percentile in milliseconds."""
    ms = sorted(s * 1e3 for s in samples)
    return {"p50": statistics.median(ms), "p95": ms[min(len(ms) - 1, int(len(ms) * 0.95))],
            "n": len(ms)}


def per_process(env, runs):
    cmds = {"authsim": [BIN, "totp", "code", "b"],
            "oathtool": ["oathtool", "--totp", "-b", SECRET],
            "pyotp": [sys.executable, "-c", PYOTP]}
    subprocess.run([BIN, "totp", "add", "b", "--secret", SECRET], env=env, check=True,
                   capture_output=True)
    times = {k: [] for k in cmds}
    for _ in range(5):  # warm the page cache
        for cmd in cmds.values():
            timed(cmd, env)
    for i in range(runs):
        for k, cmd in cmds.items():
            # A Python interpreter's start-up is slow: pyotp runs every fifth round.
            if k != "pyotp" or i % 5 == 0:
                times[k].append(timed(cmd, env))
    return {k: summary(v) for k, v in times.items()}


def over_api(state, runs):
    """GET /totp/b/code on one keep-alive connection to the daemon's API socket."""
    from fido import UnixHTTPConnection

    env = dict(os.environ, AUTHSIM_STATE_DIR=state, AUTHSIM_KEYRING="off")
    env.pop("RUST_LOG", None)
    p = subprocess.Popen([BIN, "daemon", "--no-uhid"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    try:
        for line in p.stdout:
            if line.startswith("ready: api-socket"):
                break
        else:
            raise SystemExit(f"the daemon exited ({p.wait()}) before it was ready")
        conn = UnixHTTPConnection(os.path.join(state, "api.sock"), timeout=30)

        def call(method, path, body=None):
            conn.request(method, path, body=None if body is None else json.dumps(body),
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            if r.status >= 300:
                raise SystemExit(f"{method} {path}: {r.status} {data[:200]!r}")
            return data

        call("POST", "/totp", {"name": "b", "secret": SECRET})
        for _ in range(20):
            call("GET", "/totp/b/code")
        samples = []
        for _ in range(runs * 10):
            t = time.perf_counter()
            call("GET", "/totp/b/code")
            samples.append(time.perf_counter() - t)
        conn.close()
        return summary(samples)
    finally:
        p.terminate()
        p.wait(timeout=15)
        p.stdout.close()


def in_process():
    bench = subprocess.run([os.environ.get("CARGO", "cargo"), "bench", "--locked", "--bench", "totp"],
                           cwd=ROOT, capture_output=True, text=True, check=True)
    rust = json.loads(bench.stdout.strip().splitlines()[-1])
    import pyotp
    py = {}
    for alg, h in (("SHA1", hashlib.sha1), ("SHA256", hashlib.sha256), ("SHA512", hashlib.sha512)):
        t = pyotp.TOTP(SECRET, digest=h)
        n = 100_000
        secs = min(timeit.repeat(lambda: [t.at(i * 30) for i in range(n)], number=1, repeat=3))
        py[alg] = n / secs
    return {"authsim": rust, "pyotp": py}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "300")))
    ap.add_argument("--no-in-process", action="store_true")
    args = ap.parse_args()
    if shutil.which("oathtool") is None:
        sys.exit("oathtool missing: run scripts/install-deps.sh")
    d = tempfile.mkdtemp(prefix="authsim-bench-")
    env = dict(os.environ, AUTHSIM_STATE_DIR=os.path.join(d, "cli"), AUTHSIM_KEYRING="off")
    env.pop("RUST_LOG", None)
    try:
        proc = per_process(env, args.runs)
        api = over_api(os.path.join(d, "daemon"), args.runs)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    oath = proc["oathtool"]["p50"]
    for k, v in proc.items():
        print(f"one code per process ({k}), median of {v['n']}: {v['p50']:.2f} ms "
              f"(p95 {v['p95']:.2f}), {v['p50'] / oath:.2f}x oathtool")
    print(f"one code over the control API, keep-alive client: {api['p50']:.3f} ms "
          f"(p95 {api['p95']:.3f}), oathtool's process is {oath / api['p50']:.1f}x slower")
    out = {"per_process_ms": proc, "api_keepalive_ms": api}
    if not args.no_in_process:
        ip = in_process()
        for alg in ip["authsim"]:
            print(f"in process {alg}: authsim {ip['authsim'][alg]:,.0f} codes/s, pyotp "
                  f"{ip['pyotp'][alg]:,.0f} codes/s, ratio {ip['authsim'][alg] / ip['pyotp'][alg]:.1f}x")
        out["in_process_codes_per_sec"] = ip
    print(json.dumps(out))


if __name__ == "__main__":
    main()
