"""The README's judge (scripts/doc_check.py) judged: a README whose commands work passes; a
broken command, a stubbed command naming a missing file or make target, and an untagged fence
each fail with the line that is wrong; blocks tagged otherwise never run; what a block leaves
running is killed at the end."""
import os
import subprocess
import sys
import textwrap
import time

from fido import authsim_bin

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
JUDGE = os.path.join(ROOT, "scripts", "doc_check.py")


def judge(tmp_path, readme, *args):
    path = tmp_path / "README.md"
    path.write_text(textwrap.dedent(readme))
    env = dict(os.environ, AUTHSIM_BIN=authsim_bin())
    return subprocess.run([sys.executable, JUDGE, "--only", "readme", "--readme", str(path), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def line_of(readme, needle):
    lines = textwrap.dedent(readme).split("\n")
    return next(i for i, line in enumerate(lines, 1) if needle in line)


GOOD = """\
    # A README

    ```sh
    authsim totp add gh --secret JBSWY3DPEHPK3PXP
    code=$(authsim totp code gh)
    ```

    ```text
    false   # shown, never run
    ```

    ```sh
    test ${#code} -eq 6                       # state carries from block to block
    sudo install -m 644 udev/70-authsim.rules /etc/udev/rules.d/70-authsim.rules
    make test
    echo "home=$HOME"
    ```
"""


def test_a_working_readme_passes_in_a_sandbox(tmp_path):
    r = judge(tmp_path, GOOD, "-v")
    assert r.returncode == 0, r.stdout + r.stderr
    # The sandbox: a throw-away HOME, and the stubs recorded instead of running.
    home = next(line.split("=", 1)[1] for line in r.stdout.splitlines() if line.startswith("home="))
    assert "authsim-doc-check-" in home and home != os.path.expanduser("~")
    assert "sudo install -m 644 udev/70-authsim.rules" in r.stdout
    assert "make test" in r.stdout


def test_a_failing_command_fails_with_its_line(tmp_path):
    broken = GOOD.replace("test ${#code} -eq 6", "authsim totp code no-such-entry")
    r = judge(tmp_path, broken)
    assert r.returncode != 0
    line = line_of(broken, "no-such-entry")
    block = [i for i, text in enumerate(textwrap.dedent(broken).split("\n"), 1) if text == "```sh"][1]
    assert f"README.md:{line}: exit 1 from: authsim totp code no-such-entry" in r.stderr, r.stderr
    assert f"starts at README.md:{block}" in r.stderr, r.stderr


def test_a_failure_inside_a_pipeline_is_not_lost(tmp_path):
    broken = GOOD.replace("echo \"home=$HOME\"", "authsim totp code nope | cat")
    r = judge(tmp_path, broken)
    assert r.returncode != 0
    assert f"README.md:{line_of(broken, 'nope | cat')}:" in r.stderr, r.stderr


def test_stubs_check_the_files_and_targets_they_name(tmp_path):
    missing_file = GOOD.replace("udev/70-authsim.rules /etc", "udev/71-typo.rules /etc")
    r = judge(tmp_path, missing_file)
    assert r.returncode != 0
    assert "udev/71-typo.rules' names no file" in r.stderr
    assert f"README.md:{line_of(missing_file, '71-typo')}:" in r.stderr
    missing_target = GOOD.replace("make test", "make tset")
    r = judge(tmp_path, missing_target)
    assert r.returncode != 0
    assert "no target 'tset' in the Makefile" in r.stderr


def test_an_untagged_fence_is_refused(tmp_path):
    untagged = GOOD.replace("```text", "```")
    r = judge(tmp_path, untagged)
    assert r.returncode != 0
    assert f"README.md:{line_of(untagged, 'shown, never run') - 1}: a fenced block without a language tag" in r.stderr


def test_what_a_block_leaves_running_is_killed(tmp_path):
    marker = tmp_path / "pid"
    readme = GOOD + f"""
    ```sh
    sleep 600 & echo $! > {marker}
    ```
"""
    started = time.monotonic()
    r = judge(tmp_path, readme)
    assert r.returncode == 0, r.stdout + r.stderr
    assert time.monotonic() - started < 60
    pid = int(marker.read_text())
    deadline = time.monotonic() + 5
    while alive(pid):
        assert time.monotonic() < deadline, f"sleep {pid} outlived the README session"
        time.sleep(0.05)


def alive(pid):
    """Whether `pid` runs (a zombie that no init reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
