# The two set-up commands (see README.md): `make demo` and `make test`.
# Each installs what a fresh machine lacks first (scripts/install-deps.sh is idempotent).
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: deps demo test test-rust test-py test-js build

deps:
	bash scripts/install-deps.sh

build: deps
	$(CARGO) build --locked --bins

demo: build
	bash scripts/demo.sh

test-rust:
	$(CARGO) test --workspace --locked

test-py:
	bash scripts/test-py.sh

# Node judges (node's built-in test runner) in tests/js, against the debug build.
test-js:
	cd tests/js && AUTHSIM_BIN="$${AUTHSIM_BIN:-$(CURDIR)/target/debug/authsim}" node --test

test: build
	$(MAKE) --no-print-directory test-rust
	$(MAKE) --no-print-directory test-py
	$(MAKE) --no-print-directory test-js
