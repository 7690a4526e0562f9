#!/usr/bin/env python3
"""TOTP benchmark: authsim against named competitors in the same run.

1. Per process: `authsim totp code NAME` (release build, key file, SQLite open, decrypt,
   compute) vs `oathtool --totp -b SECRET`, interleaved, N runs each; medians and ratio.
2. In process: authsim's code generation (cargo bench --bench totp) vs pyotp's, codes/s.
Prints a JSON summary on the last line."""
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
BIN = os.environ.get("AUTHSIM_BIN", os.path.join(ROOT, "target", "release", "authsim"))
N = int(os.environ.get("BENCH_RUNS", "300"))
SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def timed(cmd, env):
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    if shutil.which("oathtool") is None:
        sys.exit("oathtool missing: run scripts/install-deps.sh")
    d = tempfile.mkdtemp(prefix="authsim-bench-")
    env = dict(os.environ, AUTHSIM_STATE_DIR=d, AUTHSIM_KEYRING="off")
    env.pop("RUST_LOG", None)
    try:
        subprocess.run([BIN, "totp", "add", "b", "--secret", SECRET], env=env, check=True,
                       capture_output=True)
        ours, theirs = [], []
        for _ in range(10):  # warm the page cache
            timed([BIN, "totp", "code", "b"], env)
            timed(["oathtool", "--totp", "-b", SECRET], env)
        for _ in range(N):
            ours.append(timed([BIN, "totp", "code", "b"], env))
            theirs.append(timed(["oathtool", "--totp", "-b", SECRET], env))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    print(f"per process, median of {N}: authsim {m_ours*1e3:.2f} ms, oathtool {m_theirs*1e3:.2f} ms, "
          f"ratio authsim/oathtool {m_ours/m_theirs:.2f}")

    bench = subprocess.run(["cargo", "bench", "--locked", "--bench", "totp"], cwd=ROOT,
                           capture_output=True, text=True, check=True)
    rust = json.loads(bench.stdout.strip().splitlines()[-1])
    import hashlib
    import pyotp
    py = {}
    for alg, h in (("SHA1", hashlib.sha1), ("SHA256", hashlib.sha256), ("SHA512", hashlib.sha512)):
        t = pyotp.TOTP(SECRET, digest=h)
        n = 100_000
        secs = min(timeit.repeat(lambda: [t.at(i * 30) for i in range(n)], number=1, repeat=3))
        py[alg] = n / secs
    for alg in rust:
        print(f"in process {alg}: authsim {rust[alg]:,.0f} codes/s, pyotp {py[alg]:,.0f} codes/s, "
              f"ratio {rust[alg]/py[alg]:.1f}x")
    print(json.dumps({"per_process_ms": {"authsim": m_ours * 1e3, "oathtool": m_theirs * 1e3,
                                         "ratio": m_ours / m_theirs, "runs": N},
                      "in_process_codes_per_sec": {"authsim": rust, "pyotp": py}}))


if __name__ == "__main__":
    main()
