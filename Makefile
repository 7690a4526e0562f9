# The two set-up commands (see README.md): `make demo` and `make test`.
# Each installs what a fresh machine lacks first (scripts/install-deps.sh is idempotent).
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: deps demo test fuzz soak test-rust test-keyring test-py test-js test-docs test-qemu test-browser build bench lint install doc-check

deps:
	bash scripts/install-deps.sh

build: deps
	$(CARGO) build --locked --bins

demo: build
	./target/debug/authsim demo

# Every target is built (benches and examples too, so they are linted under .ci/run's clippy
# wrapper and cannot rot); then the tests run.
test-rust:
	$(CARGO) test --workspace --locked --all-targets --no-run
	$(CARGO) test --workspace --locked

# cargo clippy on every target, warnings denied (.ci/run does this inside the test build).
lint:
	source scripts/clippy-env.sh && $(CARGO) build --workspace --locked --all-targets

test-keyring:
	bash scripts/test-keyring.sh

test-py:
	bash scripts/test-py.sh

# Node judges (node's built-in test runner) in tests/js, against the debug build.
test-js:
	cd tests/js && AUTHSIM_BIN="$${AUTHSIM_BIN:-$(CURDIR)/target/debug/authsim}" node --test

# The uhid transport against a real kernel, in a qemu guest (tests/uhid_qemu.rs, tests/qemu/).
test-qemu:
	$(CARGO) build --locked --bin authsim --example hidclient
	$(CARGO) test --locked --test uhid_qemu -- --ignored --nocapture

# A real browser against the uhid key: Chromium in a qemu guest calls navigator.credentials
# create()/get() on a localhost page, judged by py_webauthn (tests/browser_qemu.rs). Minutes
# under TCG, so not in `make test`; .ci/run runs it after it.
test-browser:
	$(CARGO) build --locked --bin authsim --example hidclient
	$(CARGO) test --locked --test browser_qemu -- --ignored --nocapture

# The one benchmark run (benches/run.py): every bench in one run, each figure beside its named
# competitor (median, p95, ratio), written to docs/performance/ (results.md, results.json, SVG
# plots) and to README.md's generated Performance block. A few minutes (the in-crate benches are
# built first, so that no section's time is a compile).
# `make bench QUICK=1` is the smoke run (under a minute) into target/bench-quick/; README untouched.
# AUTHSIM_QEMU_LOG=FILE adds the uhid/socket figures of a saved `make test-qemu` log.
bench: deps
	$(CARGO) build --locked --release --bins
	$(if $(QUICK),,$(CARGO) bench --locked --no-run --bench totp)
	$(if $(QUICK),,$(CARGO) bench --locked --no-run -p firmware-sim --bench assertions --bench pin_registration)
	CARGO=$(CARGO) AUTHSIM_BIN=$(CURDIR)/target/release/authsim python3 benches/run.py $(if $(QUICK),--quick,--readme)

# Each part says how long it took (the CI log shows where the time goes).
test: build
	@for t in test-rust test-docs test-keyring test-py test-js test-qemu; do \
	  s=$$(date +%s); $(MAKE) --no-print-directory $$t || exit 1; \
	  echo "make test: $$t took $$(( $$(date +%s) - s )) s"; done

# Installs the release binary, its man pages and shell completions under PREFIX (default
# ~/.local; `sudo make install PREFIX=/usr/local` for every user). DESTDIR stages a package.
PREFIX ?= $(HOME)/.local
install:
	$(CARGO) build --locked --release --bin authsim
	install -Dm755 target/release/authsim $(DESTDIR)$(PREFIX)/bin/authsim
	target/release/authsim man --dir $(DESTDIR)$(PREFIX)/share/man/man1
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	target/release/authsim completions bash >$(DESTDIR)$(PREFIX)/share/bash-completion/completions/authsim
	target/release/authsim completions zsh >$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_authsim
	target/release/authsim completions fish >$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/authsim.fish

# The documentation's own test (seconds): every `sh` block of README.md runs in one sandboxed
# bash session, every link in the repository's Markdown resolves, completions and man pages are
# produced (scripts/doc_check.py). test-docs is the part of `make test`; doc-check builds first.
test-docs:
	bash scripts/doc-check.sh

doc-check: build
	bash scripts/doc-check.sh

# Every cargo-fuzz target (fuzz/) for FUZZ_SECONDS each (default 60), one at a time, on the
# nightly toolchain, without a sanitizer (the code under test has no unsafe; panics and
# assertions are what the harnesses catch). New inputs go to fuzz/target/new-corpus/TARGET;
# fold the useful ones into the committed corpus with
# `cd fuzz && cargo +nightly fuzz cmin -s none TARGET corpus/TARGET target/new-corpus/TARGET`.
# A crash leaves fuzz/artifacts/TARGET/crash-*: fix it and keep the input in
# fuzz/regressions/TARGET/ (tests/fuzz_corpora.rs replays both directories on stable).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = $(shell sed -n 's/^name = "\(.*\)"$$/\1/p' fuzz/Cargo.toml | grep -v '^authsim-fuzz$$')
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  mkdir -p target/new-corpus/$$t && \
	  $(CARGO) +nightly fuzz run -s none $$t target/new-corpus/$$t corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 || exit 1; \
	done

# The full soak of issue 14: a million mixed operations over 8 CTAPHID channels on each of 3
# keys plus control-API clients, on a release build (`make test` runs 10,000 of them).
SOAK_OPS ?= 1000000
soak:
	SOAK_OPS=$(SOAK_OPS) $(CARGO) test --release --locked --test soak -- --nocapture
