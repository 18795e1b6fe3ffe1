# ivs-token-worker: every developer and CI command. `make dev` and `make test` install what is
# missing first (idempotent; a no-op when all is there), so a fresh machine needs nothing else.

SHELL := /bin/bash
.DEFAULT_GOAL := help

WORKER_BUILD_VERSION := 0.8.7
# wasm-bindgen-cli must equal the wasm-bindgen crate locked in Cargo.lock.
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/{getline; print $$3}' Cargo.lock | tr -d '"')
CARGO_BIN := $(or $(CARGO_HOME),$(HOME)/.cargo)/bin
CLI := target/debug/ivs-token
PYTHON := .venv/bin/python
PORT ?= 8787
SUB ?= dev-viewer
# `make dev SIGNIN=oidc`: sign-in at the edge through a local OpenID Connect provider.
SIGNIN ?=

# Offline, quiet wrangler: no telemetry, no Cloudflare API calls from `wrangler dev`.
export WRANGLER_SEND_METRICS := false
export WRANGLER_SEND_ERROR_REPORTS := false
export CLOUDFLARE_CF_FETCH_ENABLED := false

.PHONY: deploy lint help tools tools-rust tools-node tools-python tools-browser tools-bench tools-valgrind bench bench-smoke cli worker dist dev session test test-native test-comb test-ct test-e2e fuzz fuzz-smoke load load-devices clean

help:
	@echo "make dev      install what is missing, then serve the worker on http://127.0.0.1:$(PORT)"
	@echo "             (CONFIG=wrangler.toml [DEPLOY_ENV=name]: your own settings, IVS stand-in in place of IVS)"
	@echo "make test     install what is missing, then run every test (lint, native, end-to-end)"
	@echo "make lint     rustfmt, clippy (native and wasm32), the module-cycle and route checks, the docs link check"
	@echo "make session  print a dev session cookie (SUB=alice, CHANNELS=a,b)"
	@echo "make bench    benchmark against the published alternatives; writes BENCHMARKS.md"
	@echo "make fuzz     run every fuzz target for FUZZ_SECONDS each (default 600); see RELIABILITY.md"
	@echo "make load     load, soak, fault and device-churn runs against workerd on loopback; see RELIABILITY.md"
	@echo "make dist     the built worker as a bundle that deploys with Node.js alone: dist/ and dist/*.tar.gz"
	@echo "make deploy   check the configuration as the worker will (ivs-token check), then wrangler deploy (DEPLOY_ENV=name)"
	@echo "make tools    only install the toolchain"

tools: tools-rust tools-node tools-python tools-browser

# Debian's Chromium for the browser test (playwright-core drives it; nothing is downloaded by npm).
tools-browser:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; }

tools-rust:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
	@[ "$$($(CARGO_BIN)/worker-build --version 2>/dev/null)" = "$(WORKER_BUILD_VERSION)" ] || \
	  cargo install worker-build --version $(WORKER_BUILD_VERSION) --locked
	@# No --locked: one of wasm-bindgen-cli's locked dependencies is missing from the registry.
	@[ "$$($(CARGO_BIN)/wasm-bindgen --version 2>/dev/null)" = "wasm-bindgen $(WASM_BINDGEN_VERSION)" ] || \
	  cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)

# valgrind runs the constant-time check (make test-ct).
tools-valgrind:
	@command -v valgrind >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends valgrind; }

# hey drives the HTTP load in the benchmark (loopback only).
tools-bench:
	@command -v hey >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends hey; }

tools-node: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

tools-python: .venv/.installed
.venv/.installed: tests/requirements.txt tests/constraints.txt
	python3 -m venv .venv
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	@touch $@

cli:
	cargo build --quiet --bin ivs-token

worker: tools-rust tools-node
	sh scripts/build-worker.sh

# A bundle a team deploys with Node.js alone (no Rust): the built worker, its assets, wrangler.toml
# without the build command, wrangler pinned; and dist/ivs-token-worker-VERSION.tar.gz for a release.
dist: worker cli
	SKIP_WORKER_BUILD=1 sh scripts/dist.sh

.dev.vars: | cli
	IVS_TOKEN_CLI=$(CLI) sh scripts/dev-vars.sh

# `make deploy [DEPLOY_ENV=staging] [SECRETS=FILE]`: the worker's own configuration check first, on
# wrangler.toml's vars (of [env.DEPLOY_ENV]) and the secrets that exist at Cloudflare (`wrangler secret
# list`; their values are not read, so only their presence is checked, unless SECRETS names a
# .dev.vars-form file holding them), then `wrangler deploy`. A configuration the worker would
# refuse (a misspelled setting, a missing secret, a broken table) stops here, not during a show.
DEPLOY_ENV ?=
SECRETS ?=
deploy: tools-rust tools-node cli
	@names=$$(mktemp) && trap 'rm -f "$$names"' EXIT && \
	  npx wrangler secret list --format json $(if $(DEPLOY_ENV),--env $(DEPLOY_ENV)) > "$$names" && \
	  $(CLI) check --config wrangler.toml $(if $(DEPLOY_ENV),--env $(DEPLOY_ENV)) --secret-names "$$names" $(if $(SECRETS),--secrets $(SECRETS))
	npx wrangler deploy $(if $(DEPLOY_ENV),--env $(DEPLOY_ENV))

# The IVS stand-in and wrangler dev together (tools/dev.py): the demo channel plays a looping test
# stream whose tokens are checked as IVS checks them. Ctrl-C stops both.
dev: tools-rust tools-node tools-python cli .dev.vars
	@IVS_TOKEN_CLI=$(CLI) sh scripts/dev-vars.sh
	@PORT=$(PORT) SUB=$(SUB) SIGNIN=$(SIGNIN) IVS_TOKEN_CLI=$(CLI) exec $(PYTHON) tools/dev.py

session: cli
	@IVS_TOKEN_CLI=$(CLI) sh scripts/dev-vars.sh >&2
	@$(CLI) session --sub $(SUB) --ttl 86400 --secret-file .dev/session-secret $(if $(CHANNELS),--channels $(CHANNELS))

test: tools lint test-native test-e2e bench-smoke fuzz-smoke

# The habits every change keeps: rustfmt, clippy (native and the wasm32 glue, with and without the
# bench build), no import cycle between modules, routes decided only by the router (no path literal
# in the Workers glue), and docs whose links resolve.
lint: tools-rust
	cargo fmt --check
	cargo clippy --quiet --all-targets -- -D warnings
	cargo clippy --quiet --lib --target wasm32-unknown-unknown -- -D warnings
	cargo clippy --quiet --lib --target wasm32-unknown-unknown --features bench -- -D warnings
	python3 scripts/check-module-cycles.py
	python3 scripts/check-routes.py --self-test
	python3 scripts/check-routes.py
	python3 scripts/check-docs-links.py

test-native: test-comb test-ct
	cargo test --quiet

# The comb's k·G against p384's over 100,000 random scalars (release build; about 1 minute). The
# comb is the signing crate's (crates/p384-sign), re-exported as `key::comb`.
test-comb:
	cargo test --quiet --release -p ivs-p384-sign --lib -- --ignored comb

# Constant time under valgrind memcheck: the nonce marked undefined through the comb (must be
# clean), and a deliberately leaky control (must be caught), so the check cannot pass vacuously.
test-ct: tools-valgrind
	cargo build --quiet --release --no-default-features --example ct_valgrind
	valgrind -q --error-exitcode=1 target/release/examples/ct_valgrind 50
	@! valgrind -q --error-exitcode=1 target/release/examples/ct_valgrind 2 --leaky >/dev/null 2>&1 || \
	  { echo "ct_valgrind: the leaky control was not caught; the check proves nothing" >&2; exit 1; }
	@echo "ct_valgrind: leaky control caught, as it must be"

test-e2e: tools worker cli
	$(PYTHON) -m pytest tests -q -ra -s

# The full benchmark: writes BENCHMARKS.md (about 15 minutes; `bench/run.py --only devices` reruns only
# the device-limits step on the existing build/ and splices its section in).
bench: tools tools-bench cli
	$(PYTHON) bench/run.py

# Every benchmark step with tiny counts, so `make bench` cannot rot (part of `make test`).
bench-smoke: tools tools-bench cli
	@mkdir -p test-artifacts
	$(PYTHON) bench/run.py --smoke > test-artifacts/bench-smoke.log 2>&1 || { tail -40 test-artifacts/bench-smoke.log; exit 1; }
	@echo "bench smoke run: ok (test-artifacts/BENCHMARKS.smoke.md)"

# Fuzzing on the stable toolchain (fuzz/run.sh: libFuzzer via libfuzzer-sys, cargo-fuzz's flags).
FUZZ_SECONDS ?= 600
fuzz:
	nice -n 10 fuzz/run.sh build
	nice -n 10 fuzz/run.sh run $(FUZZ_SECONDS)

# Every target replays its committed corpus, then a fixed-seed batch of mutations, so the targets
# cannot rot and make test gives the same verdict every run (make test).
fuzz-smoke:
	fuzz/run.sh build
	fuzz/run.sh smoke

# Load, soak, faults and device churn against the built worker on workerd (loopback only,
# bounded); writes test-artifacts/load.json. SOAK_SECONDS (default 600) sets the soak's length,
# DEVICE_SECONDS (default 180) the device churn's (1,000 viewers x 3 devices at limit 2).
SOAK_SECONDS ?= 600
DEVICE_SECONDS ?= 180
load: tools tools-bench worker
	$(PYTHON) bench/load.py --soak-seconds $(SOAK_SECONDS) --devices-seconds $(DEVICE_SECONDS)

# Only the device churn (its figures replace the `devices` entry of test-artifacts/load.json).
load-devices: tools worker
	$(PYTHON) bench/load.py --only-devices --devices-seconds $(DEVICE_SECONDS)

clean:
	rm -rf build build-bench dist public target .venv .wrangler test-artifacts
