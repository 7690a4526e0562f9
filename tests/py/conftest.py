"""Shared fixtures for the Python judges: the authsim binary and a private state directory."""
import os
import shutil
import subprocess
import tempfile

import pytest


def authsim_bin():
    path = os.environ.get("AUTHSIM_BIN") or os.path.join(
        os.path.dirname(__file__), "..", "..", "target", "debug", "authsim")
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        pytest.fail(f"authsim binary not found at {path}: run `cargo build` or set AUTHSIM_BIN")
    return path


class Authsim:
    """Runs the real binary against one throw-away state directory (key file, no keyring)."""

    def __init__(self, state_dir):
        self.bin = authsim_bin()
        self.state_dir = state_dir
        self.env = dict(os.environ, AUTHSIM_STATE_DIR=state_dir, AUTHSIM_KEYRING="off")
        self.env.pop("AUTHSIM_MASTER_KEY", None)
        self.env.pop("RUST_LOG", None)
        # A test clock (test_aws_harness.TestClock) shifts authsim's clock when set.
        self.clock = None

    def run_env(self):
        """The environment of the next run (with the test clock's offset, if any)."""
        return self.clock.env(self.env) if self.clock else self.env

    def run(self, *args, input=None, check=True):
        p = subprocess.run([self.bin, *args], input=input, capture_output=True, text=True,
                           env=self.run_env(), timeout=60)
        if check and p.returncode != 0:
            raise AssertionError(f"authsim {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p


@pytest.fixture
def authsim():
    d = tempfile.mkdtemp(prefix="authsim-py-")
    try:
        yield Authsim(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
