# The two set-up commands (see README.md): `make demo` and `make test`.
# Each installs what a fresh machine lacks first (scripts/install-deps.sh is idempotent).
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: deps demo test test-rust test-keyring test-py build bench

deps:
	bash scripts/install-deps.sh

build: deps
	$(CARGO) build --locked --bins

demo: build
	./target/debug/authsim demo

test-rust:
	$(CARGO) test --workspace --locked

test-keyring:
	bash scripts/test-keyring.sh

test-py:
	bash scripts/test-py.sh

bench: deps
	$(CARGO) build --locked --release --bins
	python3 benches/totp_process.py
	$(CARGO) bench --locked --bench totp
	CARGO=$(CARGO) python3 benches/fido_bench.py

test: build
	$(MAKE) --no-print-directory test-rust
	$(MAKE) --no-print-directory test-keyring
	$(MAKE) --no-print-directory test-py
