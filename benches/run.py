#!/usr/bin/env python3
"""The one benchmark run (`make bench`): every bench of benches/ and the in-crate Rust benches
in one run on one machine, each figure beside its named competitor (median and p95, and the
ratio of their times), written to a Markdown table and SVG plots.

  python3 benches/run.py [--quick] [--out DIR] [--only SECTION,...] [--authsim-bin PATH]
                         [--readme]

Sections (in order): native (libfido2's C API over the socket transport: authsim vs the
reference authenticator benches/ref_authenticator.py; latency and assertions/s with 1, 4 and 16
clients), webauthn (the control API vs Chromium's DevTools virtual authenticator), totp, aws,
rust (firmware-sim's in-crate benches), qemu (read from the log of `make test-qemu` named by
AUTHSIM_QEMU_LOG, never run here), scale (benches/scale.py when it exists). A section that
cannot run is marked "not run" with its reason; the others still run.

--quick is the smoke run (well under a minute): few iterations, and no aws, rust or
scale section. --readme rewrites the generated block of README.md's Performance section
(`make bench` passes it; the quick run never does). Writes DIR/results.md, DIR/results.json
and DIR/*.svg (default docs/performance, or target/bench-quick with --quick).
Not a test: nothing here asserts on time."""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import report  # noqa: E402

SECTIONS = ("native", "webauthn", "totp", "aws", "rust", "qemu", "scale")
QUICK_SKIPS = {"aws", "rust", "scale"}
REFERENCE = "reference authenticator (Python, `cryptography` ES256, in memory)"


def pct(samples):
    """Median and 95th percentile (nearest rank) of a list of numbers."""
    s = sorted(samples)
    return {"p50": statistics.median(s), "p95": s[min(len(s) - 1, int(len(s) * 0.95))],
            "n": len(s)}


class Run:
    """The rows collected so far, the raw output of every bench, and the run's settings."""

    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.bin = args.authsim_bin
        self.rows = []
        self.raw = {}
        self.timings = {}
        self.extra_tables = {}

    def row(self, section, name, unit, ours, theirs, competitor, goal="", note=""):
        """One figure beside its competitor; `ours`/`theirs` are {"p50", "p95"} or None."""
        self.rows.append({"section": section, "name": name, "unit": unit, "ours": ours,
                          "theirs": theirs, "competitor": competitor, "goal": goal,
                          "note": note, "status": "ok"})

    def not_run(self, section, reason):
        self.rows.append({"section": section, "name": f"({section})", "status": "not run",
                          "note": reason})

    def env(self, **extra):
        env = dict(os.environ, AUTHSIM_BIN=self.bin, AUTHSIM_KEYRING="off", **extra)
        env.pop("RUST_LOG", None)
        return env

    def python(self, script, *args, timeout=1800, env=None):
        """Runs a bench script; returns its last stdout line as JSON (its summary)."""
        p = subprocess.run([sys.executable, os.path.join(HERE, script), *args], cwd=ROOT,
                           env=env or self.env(), capture_output=True, text=True,
                           timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"{script} failed ({p.returncode}): {p.stderr[-2000:]}")
        lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
        for ln in lines[:-1]:
            print(f"  {script}: {ln}")
        return json.loads(lines[-1])

    def disk_dir(self, tag):
        """A state directory on the disk (not tmpfs): under target/, beside the build."""
        base = os.path.join(ROOT, "target", "bench-state")
        os.makedirs(base, exist_ok=True)
        return tempfile.mkdtemp(prefix=f"{tag}-", dir=base)


class Server:
    """A process that announces itself on stdout (`ready: ...`); stopped by its own pid."""

    def __init__(self, cmd, ready_prefix, env, wait_for=1):
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        seen = 0
        deadline = time.monotonic() + 60
        for line in self.proc.stdout:
            if line.startswith(ready_prefix):
                seen += 1
                if seen == wait_for:
                    return
            if time.monotonic() > deadline:
                break
        self.stop()
        raise RuntimeError(f"{cmd[0]} did not announce {ready_prefix!r}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


def build_native(run):
    """gcc against libfido2-dev: benches/native/ctap_bench.c -> target/bench-native/."""
    out_dir = os.path.join(ROOT, "target", "bench-native")
    os.makedirs(out_dir, exist_ok=True)
    exe = os.path.join(out_dir, "ctap_bench")
    src = os.path.join(HERE, "native", "ctap_bench.c")
    cc = os.environ.get("CC", "gcc")
    subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-Werror", "-o", exe, src, "-lfido2",
                    "-lpthread"], check=True, timeout=120)
    return exe


def native_client(exe, sock, *args):
    p = subprocess.run([exe, sock, *map(str, args)], capture_output=True, text=True,
                       timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"ctap_bench {os.path.basename(sock)} {' '.join(map(str, args))}: "
                           f"{p.stderr.strip()}")
    return json.loads(p.stdout)


def native(run):
    """libfido2 over the socket transport: authsim (state on disk) vs the reference."""
    exe = build_native(run)
    n = 50 if run.quick else 1000
    total = 200 if run.quick else 4000
    state = run.disk_dir("native")
    sock = os.path.join(state, "hid.sock")
    ref_sock = os.path.join(state, "ref.sock")
    servers = {
        "authsim": Server([run.bin, "daemon", "--no-uhid", "--hid-socket", sock,
                           "--attestation", "none"], "ready:",
                          run.env(AUTHSIM_STATE_DIR=state), wait_for=2),
        "reference": Server([sys.executable, os.path.join(HERE, "ref_authenticator.py"),
                             ref_sock], "ready:", run.env()),
    }
    socks = {"authsim": sock, "reference": ref_sock}
    raw = {}
    try:
        for who in servers:
            lat = native_client(exe, socks[who], "latency", n)
            raw[who] = {"latency": {"make_credential_ms": pct([x / 1000 for x in lat["make_credential_us"]]),
                                    "get_assertion_ms": pct([x / 1000 for x in lat["get_assertion_us"]]),
                                    "retries": lat["retries"]},
                        "throughput": []}
        for clients in (1, 4, 16):
            for who in servers:
                raw[who]["throughput"].append(
                    native_client(exe, socks[who], "throughput", clients, max(25, total // clients)))
        # getAssertion's report pattern over the socket (3 writes of 64 bytes in, 5 reports
        # out), answered by a thread that does nothing else: what no authenticator can beat.
        for cpus in ("same", "split"):
            echo = native_client(exe, "floor", n, 3, 5, cpus)
            raw[f"floor_{cpus}"] = pct([x / 1000 for x in echo["round_trip_us"]])
    finally:
        for s in servers.values():
            s.stop()
        shutil.rmtree(state, ignore_errors=True)
    run.raw["native"] = raw
    ours, ref = raw["authsim"]["latency"], raw["reference"]["latency"]
    run.row("native", "makeCredential over the socket (libfido2 C client, state on disk)", "ms",
            ours["make_credential_ms"], ref["make_credential_ms"], REFERENCE, "p50 <= 0.1 ms")
    run.row("native", "getAssertion over the socket (libfido2 C client, state on disk)", "ms",
            ours["get_assertion_ms"], ref["get_assertion_ms"], REFERENCE, "p50 <= 0.05 ms")
    for cpus, cpu_s, where in (("same", "one CPU", "both on CPU 0"),
                               ("split", "two CPUs", "client on CPU 0, echo on CPU 1")):
        run.row("native", f"getAssertion over the socket vs the transport's floor on {cpu_s}",
                "ms", ours["get_assertion_ms"], raw[f"floor_{cpus}"],
                f"the floor: its reports echoed by an idle C thread ({where})", "",
                "the floor: getAssertion's 3 reports in and 5 out over a socketpair, answered "
                "by a thread that does nothing else; no authenticator behind this transport "
                "gets below it on this machine")
    for a, b in zip(raw["authsim"]["throughput"], raw["reference"]["throughput"]):
        c = a["clients"]
        run.row("throughput", f"getAssertion/s, {c} client{'s' if c > 1 else ''} (threads, "
                f"one connection each)", "/s", {"p50": a["assertions_per_s"]},
                {"p50": b["assertions_per_s"]}, "the same reference",
                ">= 20,000/s" if c == 4 else "",
                f"retries (busy channel): {a['retries']} / {b['retries']}")


def webauthn(run):
    """Options JSON in, response JSON out: the control API vs Chromium's virtual authenticator."""
    n = 30 if run.quick else 400
    state = run.disk_dir("webauthn")
    try:
        out = run.python("fido_bench.py", "--webauthn-only",
                         env=run.env(FIDO_BENCH_CHROME_N=str(n), BENCH_DISK_DIR=state))
    finally:
        shutil.rmtree(state, ignore_errors=True)
    run.raw["webauthn"] = {k: {m: v[m] for m in v if not m.endswith("_samples_ms")}
                           for k, v in out.items()}
    api, chrome = out["webauthn_api"], out["chromium"]
    competitor = f"Chromium {chrome['chromium'].split('/')[-1]} DevTools virtual authenticator, in-page"
    for kind, label in (("registration", "create()"), ("assertion", "get()")):
        for how, key in (("keep-alive client", f"{kind}_samples_ms"),
                         ("a new connection per call", f"{kind}_new_connection_samples_ms")):
            run.row("webauthn", f"WebAuthn {label} ceremony through the control API, {how} "
                    "(state on disk)", "ms", pct(api[key]), pct(chrome[f"{kind}_samples_ms"]),
                    competitor, "<= 0.5x")


def totp(run):
    args = ["--runs", "10" if run.quick else "100"] + (["--no-in-process"] if run.quick else [])
    out = run.python("totp_process.py", *args)
    run.raw["totp"] = out
    proc, api = out["per_process_ms"], out["api_keepalive_ms"]
    for who in ("oathtool", "pyotp"):
        name = "oathtool --totp (a process)" if who == "oathtool" else "pyotp in a python3 process"
        run.row("totp", "TOTP code: `authsim totp code` (a process)", "ms", proc["authsim"],
                proc[who], name, "<= 2x oathtool" if who == "oathtool" else "")
        run.row("totp", "TOTP code: control API, keep-alive client", "ms", api, proc[who], name,
                ">= 5x faster than oathtool" if who == "oathtool" else "")
    ip = out.get("in_process_codes_per_sec")
    if ip:
        for alg in ip["authsim"]:
            run.row("totp", f"TOTP codes/s in process ({alg})", "/s", {"p50": ip["authsim"][alg]},
                    {"p50": ip["pyotp"][alg]}, "pyotp in process")


def aws(run):
    # Few runs: the competitors wait for the next 30-second TOTP window (a minute or two in all).
    out = run.python("aws_bench.py", "--runs", "3", "--waiting-runs", "1")
    run.raw["aws"] = out
    rows = (("IAM enable-mfa (`authsim iam enable-mfa`)", "iam_enable_mfa",
             "iam_enable_waiting_client", "boto3 + pyotp waiting for the next window",
             ">= 30x faster, <= 1 s"),
            ("Cognito passkey register + sign-in --passkey", "cognito_passkey_register_and_sign_in",
             "cognito_enroll_totp_and_sign_in", "authsim enroll-totp + MFA sign-in", ""),
            ("Cognito sign-in with the remembered device", "cognito_sign_in_remembered_device",
             "cognito_sign_in_fresh_totp", "authsim sign-in with a fresh TOTP code", "faster"),
            ("Cognito sign-in --passkey", "cognito_sign_in_passkey",
             "cognito_sign_in_fresh_totp", "authsim sign-in with a fresh TOTP code", ""))
    for name, ours, theirs, competitor, goal in rows:
        run.row("aws", name + " (stand-in)", "ms", out[ours], out[theirs], competitor, goal)
    run.row("aws", "Cognito enroll-totp + MFA sign-in (stand-in)", "ms",
            out["cognito_enroll_totp_and_sign_in"], None, "", "<= 1 s")


def cargo_bench(run, package, bench, env):
    cargo = os.environ.get("CARGO", "cargo")
    p = subprocess.run([cargo, "bench", "--locked", "-p", package, "--bench", bench], cwd=ROOT,
                       env=run.env(**env), capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        raise RuntimeError(f"cargo bench {bench}: {p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def rust(run):
    """firmware-sim's in-crate benches: the token alone, in process, in-memory store."""
    a = cargo_bench(run, "firmware-sim", "assertions", {"ASSERTIONS_BENCH_N": "3000"})
    p = cargo_bench(run, "firmware-sim", "pin_registration", {})
    run.raw["rust"] = {"assertions": a, "pin_registration": p}
    plain = {"p50": (a["plain_per_s"] + a.get("plain_again_per_s", a["plain_per_s"])) / 2}
    for key, label in (("hmac_secret_one_salt_per_s", "hmac-secret getAssertion/s, one salt"),
                       ("hmac_secret_two_salts_per_s", "hmac-secret getAssertion/s, two salts"),
                       ("hmac_secret_with_key_agreement_per_s",
                        "hmac-secret getAssertion/s with a getKeyAgreement each")):
        if key in a:
            run.row("rust", label + " (token in process)", "/s", {"p50": a[key]}, plain,
                    "plain getAssertion, same token")
    plain_mc = {"p50": (p["plain_per_s"] + p["plain_again_per_s"]) / 2}
    run.row("rust", "getPinUvAuthToken + makeCredential/s (token in process)", "/s",
            {"p50": p["pin_token_and_make_credential_per_s"]}, plain_mc,
            "plain makeCredential, same token")


def qemu(run):
    """The uhid/socket figures `make test-qemu` prints, from a saved log."""
    path = os.environ.get("AUTHSIM_QEMU_LOG")
    if not path or not os.path.exists(path):
        raise Skip("no AUTHSIM_QEMU_LOG (a saved `make test-qemu` log); the qemu boot is not part "
                   "of this run")
    uhid = sock = None
    with open(path, errors="replace") as f:
        for line in f:
            for word in line.split():
                if word.startswith("uhid-ga-us="):
                    uhid = float(word.split("=", 1)[1])
                elif word.startswith("socket-ga-us="):
                    sock = float(word.split("=", 1)[1])
    if uhid is None or sock is None:
        raise Skip(f"{path} holds no uhid-ga-us/socket-ga-us figures")
    run.raw["qemu"] = {"uhid_ga_us": uhid, "socket_ga_us": sock, "log": os.path.basename(path)}
    run.row("qemu", "getAssertion round trip over /dev/uhid in the qemu guest (TCG, debug build)",
            "ms", {"p50": uhid / 1000}, {"p50": sock / 1000}, "the socket transport, same guest")


def scale(run):
    """benches/scale.py (10 / 10,000 / 100,000 resident credentials): its JSON lines."""
    script = os.path.join(HERE, "scale.py")
    if not os.path.exists(script):
        raise Skip("benches/scale.py is not in this tree")
    p = subprocess.run([sys.executable, script], cwd=ROOT, env=run.env(), capture_output=True,
                       text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"scale.py failed ({p.returncode}): {p.stderr[-2000:]}")
    lines = []
    for ln in p.stdout.splitlines():
        try:
            obj = json.loads(ln)
        except ValueError:
            continue
        if isinstance(obj, dict):
            lines.append(obj)
    if not lines:
        raise RuntimeError("scale.py printed no JSON line")
    run.raw["scale"] = lines
    run.extra_tables["scale"] = lines


class Skip(Exception):
    """A section that cannot run here: marked "not run" with the reason."""


RUNNERS = {"native": native, "webauthn": webauthn, "totp": totp, "aws": aws, "rust": rust,
           "qemu": qemu, "scale": scale}


def machine(run):
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)
    except OSError:
        pass

    def out(*cmd):
        try:
            return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    commit = out("git", "rev-parse", "--short=12", "HEAD") or "unknown"
    if out("git", "status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
            "libfido2": out("pkg-config", "--modversion", "libfido2"),
            "python": platform.python_version(), "authsim": out(run.bin, "--version"),
            "mode": "quick" if run.quick else "full",
            "load": " / ".join(f"{x:.1f}" for x in run.load + list(os.getloadavg()[:1]))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the smoke run (under a minute)")
    ap.add_argument("--out", help="output directory")
    ap.add_argument("--only", help="comma-separated sections: " + ",".join(SECTIONS))
    ap.add_argument("--authsim-bin", default=os.environ.get("AUTHSIM_BIN") or
                    os.path.join(ROOT, "target", "release", "authsim"))
    ap.add_argument("--readme", action="store_true", help="rewrite README.md's generated block")
    args = ap.parse_args()
    args.authsim_bin = os.path.abspath(args.authsim_bin)
    if not os.access(args.authsim_bin, os.X_OK):
        sys.exit(f"{args.authsim_bin} not found: cargo build --release (make bench does)")
    out_dir = args.out or os.path.join(ROOT, "target", "bench-quick" if args.quick else
                                       os.path.join("..", "docs", "performance"))
    out_dir = os.path.abspath(out_dir)
    wanted = SECTIONS if not args.only else tuple(s.strip() for s in args.only.split(","))
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        sys.exit(f"unknown sections {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    run = Run(args)
    run.load = list(os.getloadavg()[:1])
    started = time.monotonic()
    for section in SECTIONS:
        if section not in wanted:
            continue
        if run.quick and section in QUICK_SKIPS:
            run.not_run(section, "not part of the quick run")
            continue
        t = time.monotonic()
        print(f"bench: {section} ...", flush=True)
        try:
            RUNNERS[section](run)
        except Skip as e:
            run.not_run(section, str(e))
        except Exception as e:  # noqa: BLE001 - one section's failure marks it, the rest run
            print(f"bench: {section} failed: {e}", file=sys.stderr)
            run.not_run(section, f"failed: {str(e).splitlines()[0][:200]}")
        run.timings[section] = time.monotonic() - t
        print(f"bench: {section} took {run.timings[section]:.1f} s", flush=True)
    run.timings["total"] = time.monotonic() - started
    info = machine(run)
    report.write(out_dir, info, run.rows, run.raw, run.timings, run.extra_tables)
    if args.readme:
        report.update_readme(os.path.join(ROOT, "README.md"), out_dir, info, run.rows)
    print(open(os.path.join(out_dir, "results.md")).read())
    print(f"bench: the whole run took {run.timings['total']:.1f} s; results in {out_dir}")


if __name__ == "__main__":
    main()
