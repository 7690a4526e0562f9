# Sourced by .ci/run and `make lint`: builds of the workspace's own crates go through
# clippy-driver with warnings denied, so any build (of the tests, the binaries, the benches)
# also runs `cargo clippy -- -D warnings` on what it compiles. Dependencies build as usual.
# (CLIPPY_ARGS is how cargo-clippy hands its arguments to clippy-driver.)
RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
