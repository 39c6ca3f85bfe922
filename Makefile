# The verbs an owner types. `make help` lists them; the README explains each.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# cargo-lambda and zig come from the venv, pinned in requirements-dev.txt.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv dev bootstrap test test-rust test-e2e lint fmt build clean

help: ## List the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.txt
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
	@command -v python3 >/dev/null || { echo "python3 not found: install Python 3.11 or newer" >&2; exit 1; }
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(STAMP) ## Install the local toolchain (moto, cargo-lambda, zig, pytest) into .venv

dev: $(STAMP) ## Run the whole system locally (moto + Spotify stand-in + the function); Ctrl-C stops it
	$(PY) scripts/dev.py

bootstrap: ## Authorize your Spotify app once and store the credentials in SSM (ARGS="--print-only" etc.)
	scripts/bootstrap $(ARGS)

test: lint test-rust test-e2e ## Run every test offline: lint, unit, adapter, end-to-end

# Builds the binaries the end-to-end tests run, then the Rust tests against moto.
test-rust: $(STAMP)
	cargo build --workspace --locked
	$(PY) scripts/with_moto.py -- cargo test --workspace --locked

test-e2e: $(STAMP)
	$(PY) -m pytest tests

lint: ## cargo fmt --check and cargo clippy -D warnings
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt: ## Format the Rust code
	cargo fmt --all

build: $(STAMP) ## Build the arm64 Lambda zip (target/lambda/now-playing/bootstrap.zip)
	cargo lambda build --release --arm64 --output-format zip --bin now-playing
	@ls -l target/lambda/now-playing/bootstrap.zip | awk '{printf "bootstrap.zip: %.2f MB (%d bytes)\n", $$5/1048576, $$5}'

clean: ## Remove build output and the venv
	cargo clean
	rm -rf $(VENV)
