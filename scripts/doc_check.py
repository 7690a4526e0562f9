#!/usr/bin/env python3
"""The documentation's judge (`make doc-check`, `make test-docs`).

1. Every fenced block tagged `sh` in README.md runs, in order, in ONE bash session with
   `set -Eeuo pipefail`, inside a sandbox: a throw-away HOME, XDG_DATA_HOME, XDG_RUNTIME_DIR
   and TMPDIR; AUTHSIM_KEYRING=off; target/debug first in PATH; no network but loopback
   (a private network namespace when `unshare` allows one). Commands that would change the
   machine or need what CI lacks (sudo, systemctl, udevadm, modprobe, make) are stubs that
   record the call, check that every argument naming a file of the repository exists (and,
   for make, that the target exists), and succeed. Blocks tagged anything else (`text` for
   synopses and output, `console`, `ini`, `json`, ...) are not run; a fence without a tag is
   refused, so nothing escapes by accident. Background processes a block starts are killed
   at the end. A failure names the README line of the command and of its block.
2. Every relative link (and image) in the repository's Markdown files resolves to a tracked
   file, or to a heading of one; nothing points outside the repository.
3. `authsim completions SHELL` gives a non-empty script for every shell (bash's passes
   `bash -n`); `authsim man --dir D` writes authsim.1 and a page per subcommand, and every
   page renders without a warning (groff, else man -l).

Usage: scripts/doc_check.py [--readme FILE] [--only readme|links|docs] [-v]
(`--readme` runs another file's blocks: the judge's own test breaks a README on purpose.)
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), ".."))
# The binary under test (the tests' AUTHSIM_BIN, else the debug build).
BINARY = os.path.abspath(os.environ.get("AUTHSIM_BIN") or os.path.join(ROOT, "target", "debug", "authsim"))
# The README's session may not take longer than this (it takes seconds).
SESSION_TIMEOUT = 300
# Commands replaced by recording stubs, and why.
STUBS = {
    "sudo": "changes the machine (root)",
    "systemctl": "changes the machine (services)",
    "udevadm": "changes the machine (udev)",
    "modprobe": "changes the machine (kernel modules)",
    # `make test` inside the README would recurse; `make install` builds a release binary
    # (minutes); `make demo` waits for real TOTP windows (about 30 s) and is run by
    # tests/py/test_demo.py in `make test` anyway. The stub checks the target exists.
    "make": "recursion or minutes of building; the target must exist in the Makefile",
}
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^\s`]*)")


def fail(msg):
    print(f"doc-check: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def note(msg):
    print(f"doc-check: {msg}", flush=True)


def tracked_files():
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, check=True).stdout
    return {p for p in out.decode().split("\0") if p}


# ---------------------------------------------------------------------------------------------
# Markdown: fenced blocks
# ---------------------------------------------------------------------------------------------

def fenced_blocks(lines, path, strict=False):
    """[(tag, first_line_no_of_fence, [(line_no, text), ...])] of a Markdown file; 1-based.
    `strict` (the README that runs): a fence without a language tag is refused."""
    blocks, cur = [], None
    for no, line in enumerate(lines, 1):
        m = FENCE.match(line)
        if cur is None:
            if m:
                tag = m.group(3)
                if not tag and strict:
                    fail(f"{path}:{no}: a fenced block without a language tag: tag it `sh` "
                         "to run it, or `text`/`console`/... to show it")
                cur = (tag, no, [], m.group(2))
        elif m and line.strip().startswith(cur[3]) and not m.group(3):
            blocks.append(cur[:3])
            cur = None
        else:
            cur[2].append((no, line))
    if cur is not None:
        fail(f"{path}:{cur[1]}: fenced block never closed")
    return blocks


# ---------------------------------------------------------------------------------------------
# 1. The README's shell blocks
# ---------------------------------------------------------------------------------------------

STUB_TEMPLATE = r"""#!/usr/bin/env bash
# doc-check stub for `NAME`: records the call, checks the files and make targets it names,
# and succeeds without doing anything.
name=NAME
printf '%s\n' "$name $*" >> LOGQ
cmd=$name
if [ "$name" = sudo ]; then cmd=${1:-}; shift || true; fi
for a in "$@"; do
  a=${a#--*=}                   # --opt=VALUE
  case $a in ''|-*|/*|'~'*|*://*|*=*) continue ;; esac
  # A relative path names a file of the repository (the session runs at its top): it must exist.
  if [[ $a == */* ]] && [ ! -e "$a" ]; then
    echo "doc-check stub: $name: '$a' names no file (relative to $PWD)" >&2; exit 97
  fi
done
if [ "$cmd" = make ]; then
  for a in "$@"; do
    case $a in -*|*=*) continue ;; esac
    grep -qE "^$a:" ROOTQ/Makefile || { echo "doc-check stub: make: no target '$a' in the Makefile" >&2; exit 97; }
  done
fi
exit 0
"""

PRELUDE = r"""# doc-check prelude: strict mode, and a failure that names its README line.
set -Eeuo pipefail
__doc_block=0
__doc_fail() {
  local rc=$1 line=$2 cmd=$3
  printf '\ndoc-check: FAIL: %s:%s: exit %s from: %s\n' "$DOC_CHECK_README" "$line" "$rc" "$cmd" >&2
  printf 'doc-check: (in the block that starts at %s:%s)\n' "$DOC_CHECK_README" "$__doc_block" >&2
  exit "$rc"
}
trap '__doc_fail $? $LINENO "$BASH_COMMAND"' ERR
# Each block's start: remembered for failures, and the time the previous block took.
__doc_at() {
  local now=$EPOCHREALTIME
  if [ "$__doc_block" != 0 ]; then
    printf '%s %s\n' "$__doc_block" "$(( (${now/./} - ${__doc_t/./}) / 1000 ))" >> "$DOC_CHECK_TIMES"
  fi
  __doc_block=$1 __doc_t=$now
}
cd "$DOC_CHECK_ROOT"
"""


def build_script(readme_lines, blocks, prelude_path, name):
    """A bash script whose line N is README line N (so $LINENO names the README line):
    block lines verbatim, each opening fence a marker, everything else blank."""
    script = [""] * len(readme_lines)
    script[0] = f"source {sh_quote(prelude_path)}"
    count = 0
    for tag, start, body in blocks:
        if tag != "sh":
            continue
        if start == 1:
            fail(f"{name}:1: a README cannot open with a shell block")
        count += 1
        script[start - 1] = f"__doc_at {start}"
        for no, text in body:
            script[no - 1] = text
    return "\n".join(script) + "\n__doc_at end\n", count


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def sandbox_env(sandbox, stubs):
    home = os.path.join(sandbox, "home")
    run = os.path.join(sandbox, "run")
    tmp = os.path.join(sandbox, "tmp")
    for d in (home, run, tmp):
        os.makedirs(d, mode=0o700)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AUTHSIM_", "AWS_", "XDG_"))
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
           and k not in ("RUST_LOG", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    orig_home = os.path.expanduser("~")
    # pyenv's shims find their interpreters under $HOME/.pyenv unless told; a user's pip
    # packages live under the real home's user base. Both stay readable from the sandbox.
    if "PYENV_ROOT" not in env and os.path.isdir(os.path.join(orig_home, ".pyenv")):
        env["PYENV_ROOT"] = os.path.join(orig_home, ".pyenv")
    try:
        import site
        if os.path.isdir(site.getuserbase()):
            env.setdefault("PYTHONUSERBASE", site.getuserbase())
    except Exception:
        pass
    for var in ("CARGO_HOME", "RUSTUP_HOME"):
        default = os.path.join(orig_home, "." + var.split("_")[0].lower())
        if var not in env and os.path.isdir(default):
            env[var] = default
    env.update({
        "HOME": home,
        "XDG_DATA_HOME": os.path.join(home, ".local", "share"),
        "XDG_CONFIG_HOME": os.path.join(home, ".config"),
        "XDG_RUNTIME_DIR": run,
        "TMPDIR": tmp,
        "AUTHSIM_KEYRING": "off",
        "AWS_EC2_METADATA_DISABLED": "true",
        "PATH": os.pathsep.join([stubs, os.path.dirname(BINARY), os.environ.get("PATH", "")]),
        "DOC_CHECK_ROOT": ROOT,
        "CI": "true",
        "NO_COLOR": "1",
    })
    return env


def isolation():
    """The command prefix that gives the session a network of its own (loopback only)."""
    up = "ip link set lo up 2>/dev/null || true; exec \"$@\""
    if shutil.which("unshare") and shutil.which("ip"):
        for prefix in (["unshare", "--net"], ["unshare", "--net", "--map-root-user"]):
            probe = subprocess.run(prefix + ["sh", "-c", "ip link set lo up"],
                                   capture_output=True)
            if probe.returncode == 0:
                return prefix + ["sh", "-c", up, "doc-check"], "loopback only (own network namespace)"
    return [], "NOT isolated (unshare unavailable here): the README must use 127.0.0.1 only"


def kill_group(pgid):
    """Ends every process the session left behind (its daemons, stand-ins)."""
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def check_readme(readme, verbose):
    with open(readme, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks = fenced_blocks(lines, os.path.relpath(readme, ROOT), strict=True)
    if not os.access(BINARY, os.X_OK):
        fail(f"{BINARY} is missing: `cargo build --bins` first (make doc-check does)")
    sandbox = tempfile.mkdtemp(prefix="authsim-doc-check-")
    try:
        stubs = os.path.join(sandbox, "stubs")
        os.makedirs(stubs)
        log = os.path.join(sandbox, "stub-calls.log")
        open(log, "w").close()
        for name in STUBS:
            path = os.path.join(stubs, name)
            with open(path, "w") as f:
                f.write(STUB_TEMPLATE.replace("NAME", name).replace("ROOTQ", sh_quote(ROOT))
                        .replace("LOGQ", sh_quote(log)))
            os.chmod(path, 0o755)
        prelude = os.path.join(sandbox, "prelude.sh")
        with open(prelude, "w") as f:
            f.write(PRELUDE)
        script, count = build_script(lines, blocks, prelude, os.path.basename(readme))
        script_path = os.path.join(sandbox, "README.md.sh")
        with open(script_path, "w") as f:
            f.write(script)
        env = sandbox_env(sandbox, stubs)
        times = os.path.join(sandbox, "block-times")
        env["DOC_CHECK_TIMES"] = times
        env["DOC_CHECK_README"] = os.path.relpath(readme, ROOT) if readme.startswith(ROOT + os.sep) \
            else os.path.basename(readme)
        prefix, net = isolation()
        note(f"{os.path.basename(readme)}: {count} sh blocks in one bash session; network: {net}")
        out_path = os.path.join(sandbox, "session.log")
        started = time.monotonic()
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(prefix + ["bash", script_path], cwd=ROOT, env=env,
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = proc.wait(timeout=SESSION_TIMEOUT)
            except subprocess.TimeoutExpired:
                rc = None
            finally:
                kill_group(proc.pid)
        took = time.monotonic() - started
        with open(out_path, encoding="utf-8", errors="replace") as f:
            output = f.read()
        if rc != 0 or verbose:
            sys.stdout.write(output)
        if rc is None:
            fail(f"the README's session did not end within {SESSION_TIMEOUT} s "
                 "(a command waits for something that never comes?)")
        if rc != 0:
            # The session's output (on stdout) ends with the failure; say it again on stderr.
            verdict = [line for line in output.splitlines() if line.startswith(("doc-check: FAIL",
                                                                                "doc-check: (in",
                                                                                "doc-check stub:"))]
            print("\n".join(verdict) or f"doc-check: FAIL: the README's session exited {rc}",
                  file=sys.stderr)
            sys.exit(1)
        with open(log) as f:
            calls = [c for c in f.read().splitlines() if c]
        note(f"README: every sh block ran ({took:.1f} s); stubbed, not run: "
             + ("; ".join(calls) if calls else "nothing"))
        with open(times) as f:
            slowest = sorted((int(ms), line) for line, ms in (t.split() for t in f if t.strip()))
        note("slowest blocks: " + ", ".join(f"README:{line} {ms / 1000:.1f} s"
                                            for ms, line in reversed(slowest[-3:])))
        # The session must leave the repository as it found it (files go to $TMPDIR or $HOME).
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                               cwd=ROOT, capture_output=True, text=True).stdout
        return dirty
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# 2. Links
# ---------------------------------------------------------------------------------------------

INLINE_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML_LINK = re.compile(r"""<(?:a|img)\s[^>]*?(?:href|src)\s*=\s*["']([^"']+)["']""", re.I)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")


def github_slug(heading, seen):
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"[`*_~]|\[|\]|\([^)]*\)", lambda m: "" if m.group(0)[0] != "(" else "", text)
    text = re.sub(r"[^\w\- ]", "", text, flags=re.UNICODE).replace(" ", "-")
    n = seen.get(text, 0)
    seen[text] = n + 1
    return text if n == 0 else f"{text}-{n}"


def anchors(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    in_code = {no for _, start, body in fenced_blocks(lines, path) for no, _ in body}
    seen, out = {}, set()
    for no, line in enumerate(lines, 1):
        if no in in_code:
            continue
        m = re.match(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            out.add(github_slug(m.group(1), seen))
        for a in re.findall(r"""<a\s+(?:name|id)=["']([^"']+)["']""", line):
            out.add(a)
    return out


def check_links(files):
    problems, checked = [], 0
    md_files = sorted(p for p in files if p.endswith(".md") and "node_modules/" not in p)
    for rel in md_files:
        path = os.path.join(ROOT, rel)
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        in_code = {no for _, _, body in fenced_blocks(lines, rel) for no, _ in body}
        for no, line in enumerate(lines, 1):
            if no in in_code:
                continue
            bare = CODE_SPAN.sub("", line)
            targets = INLINE_LINK.findall(bare) + HTML_LINK.findall(bare)
            m = REF_DEF.match(bare)
            if m:
                targets.append(m.group(1))
            for t in targets:
                checked += 1
                err = link_problem(rel, t, files)
                if err:
                    problems.append(f"{rel}:{no}: link {t!r}: {err}")
    return md_files, checked, problems


def link_problem(rel, target, files):
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
        return None if target.startswith(("http://", "https://", "mailto:")) else \
            "only http(s) and mailto links may leave the repository"
    path_part, _, frag = target.partition("#")
    if path_part.startswith("/"):
        return "an absolute path points outside the repository; use a relative link"
    base = os.path.dirname(os.path.join(ROOT, rel))
    dest = os.path.normpath(os.path.join(base, path_part)) if path_part else os.path.join(ROOT, rel)
    if dest != ROOT and not dest.startswith(ROOT + os.sep):
        return "points outside the repository"
    dest_rel = os.path.relpath(dest, ROOT)
    is_dir = any(f.startswith(dest_rel.rstrip("/") + "/") for f in files) or dest == ROOT
    if dest_rel not in files and not is_dir:
        return "no such file in the repository"
    if frag:
        if not dest.endswith(".md") or is_dir:
            return None  # a line anchor into source (#L10) is GitHub's business
        if frag not in anchors(dest):
            return f"no heading #{frag} in {dest_rel}"
    return None


def check_no_outside_pointers(files):
    """Nothing in the repository may point at the design notes kept beside it."""
    needle = ".." + "/" + "shared"
    hits = []
    for rel in sorted(files):
        if rel.startswith(("target/", "tests/js/node_modules")) or "/node_modules/" in rel:
            continue
        path = os.path.join(ROOT, rel)
        try:
            with open(path, encoding="utf-8") as f:
                for no, line in enumerate(f, 1):
                    if needle in line:
                        hits.append(f"{rel}:{no}: points at {needle}/ outside the repository")
        except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
            continue
    return hits


# ---------------------------------------------------------------------------------------------
# 3. Completions and man pages
# ---------------------------------------------------------------------------------------------

def run_authsim(args, **kw):
    return subprocess.run([BINARY, *args],
                          capture_output=True, **kw)


def subcommands(path):
    """The subcommands `authsim PATH... --help` lists (without `help`)."""
    out = run_authsim([*path, "--help"], text=True)
    if out.returncode != 0:
        fail(f"authsim {' '.join(path)} --help exited {out.returncode}: {out.stderr.strip()}")
    names, inside = [], False
    for line in out.stdout.splitlines():
        if line.startswith("Commands:"):
            inside = True
            continue
        if inside:
            m = re.match(r"^  (\S+)\s", line + " ")
            if not m:
                break
            if m.group(1) != "help":
                names.append(m.group(1))
    return names


def check_docs():
    problems = []
    shells = ["bash", "zsh", "fish", "elvish", "powershell"]
    with tempfile.TemporaryDirectory(prefix="authsim-doc-check-") as tmp:
        for shell in shells:
            out = run_authsim(["completions", shell])
            if out.returncode != 0 or len(out.stdout.strip()) == 0:
                problems.append(f"authsim completions {shell}: exit {out.returncode}, "
                                f"{len(out.stdout)} bytes: {out.stderr.decode(errors='replace').strip()}")
                continue
            if shell == "bash":
                path = os.path.join(tmp, "authsim.bash")
                with open(path, "wb") as f:
                    f.write(out.stdout)
                syntax = subprocess.run(["bash", "-n", path], capture_output=True, text=True)
                if syntax.returncode != 0:
                    problems.append(f"authsim completions bash: bash -n refuses it: {syntax.stderr.strip()}")
                # The script must register a completion for authsim when sourced.
                reg = subprocess.run(["bash", "-c", f"source {sh_quote(path)} && complete -p authsim"],
                                     capture_output=True, text=True)
                if reg.returncode != 0 or "authsim" not in reg.stdout:
                    problems.append("authsim completions bash: sourcing it registers no completion "
                                    f"for authsim: {reg.stderr.strip()}")
        mandir = os.path.join(tmp, "man1")
        out = run_authsim(["man", "--dir", mandir])
        if out.returncode != 0:
            problems.append(f"authsim man --dir: exit {out.returncode}: {out.stderr.decode(errors='replace').strip()}")
            return problems, 0
        expected = ["authsim.1"]
        for group in subcommands([]):
            expected.append(f"authsim-{group}.1")
            for sub in subcommands([group]):
                expected.append(f"authsim-{group}-{sub}.1")
        pages = set(os.listdir(mandir))
        for page in expected:
            if page not in pages:
                problems.append(f"authsim man --dir: no page {page} (for `authsim "
                                f"{page[:-2].replace('authsim-', '').replace('-', ' ', 1)}`)")
        renderer = None
        if shutil.which("groff"):
            renderer = lambda p: ["groff", "-man", "-Tutf8", "-ww", "-z", p]  # noqa: E731
        elif shutil.which("man"):
            renderer = lambda p: ["man", "-l", p]  # noqa: E731
        if renderer is None:
            problems.append("neither groff nor man is installed (scripts/apt-packages.txt has groff-base)")
            return problems, len(pages)
        env = dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80")
        for page in sorted(pages):
            r = subprocess.run(renderer(os.path.join(mandir, page)), capture_output=True, text=True, env=env)
            if r.returncode != 0 or r.stderr.strip():
                problems.append(f"{page} does not render cleanly: exit {r.returncode}: {r.stderr.strip()[:300]}")
        return problems, len(pages)


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
    ap.add_argument("--only", choices=["readme", "links", "docs"])
    ap.add_argument("-v", "--verbose", action="store_true", help="show the README session's output")
    args = ap.parse_args()
    started = time.monotonic()
    problems = []
    files = tracked_files()
    before = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                            cwd=ROOT, capture_output=True, text=True).stdout
    if args.only in (None, "links"):
        md, checked, link_problems = check_links(files)
        problems += link_problems + check_no_outside_pointers(files)
        note(f"links: {checked} links in {len(md)} Markdown files checked")
    if args.only in (None, "docs"):
        doc_problems, pages = check_docs()
        problems += doc_problems
        note(f"completions for 5 shells; {pages} man pages rendered")
    if problems:
        for p in problems:
            print(f"doc-check: FAIL: {p}", file=sys.stderr)
        sys.exit(1)
    if args.only in (None, "readme"):
        after = check_readme(os.path.abspath(args.readme), args.verbose)
        if after != before:
            fail("the README's commands changed the repository (write into $TMPDIR or $HOME):\n"
                 + after)
    note(f"all checks passed in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
