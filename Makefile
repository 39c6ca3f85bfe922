# The verbs an owner types. `make help` lists them; the README explains each.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# What make build and make deploy need of the venv (cargo-lambda, zig), and no more.
DEPLOY_STAMP := $(VENV)/.deploy-installed
# cargo-lambda and zig come from the venv, pinned in requirements-dev.txt.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

NODE_STAMP := infra/node_modules/.installed
BROWSER_STAMP := tests/browser/node_modules/.installed
BENCH_STAMP := $(VENV)/.bench-installed
# CDK settings as context flags, e.g. CDK_ARGS="-c domainName=np.example.com -c hostedZoneId=Z0123..."
CDK_ARGS ?=
# Each successful make deploy remembers its settings here, so that a plain `make deploy`
# later changes nothing (rather than dropping the domain or the alarms); CDK_ARGS win.
SETTINGS_FILE ?= infra/deploy-settings.json
REMEMBERED = $(shell python3 scripts/settings.py args $(SETTINGS_FILE))
ALL_ARGS = $(REMEMBERED) $(CDK_ARGS)
CDK := cd infra && CDK_DISABLE_VERSION_CHECK=1 npx cdk --no-notices
# The last -c KEY=... of the settings: $(call setting,KEY).
setting = $(lastword $(patsubst $(1)=%,%,$(filter $(1)=%,$(ALL_ARGS))))
# The stack name: -c stackName=... in the settings, else the default.
STACK ?= $(or $(call setting,stackName),NowPlaying)
# BOOTSTRAP=yes: run `cdk bootstrap` first (once per account and region). Never by default:
# it reads and may upgrade the account-wide CDKToolkit stack, which a deploy role may not.
BOOTSTRAP ?=
# cdk deploy's --require-approval: `broadening` asks at a terminal before IAM or security
# group changes; a pipeline with no terminal passes APPROVE=never.
APPROVE ?= broadening
# More cdk deploy flags, e.g. DEPLOY_ARGS=--method=direct (what `make rehearse` uses).
DEPLOY_ARGS ?=
# FORCE=yes: make destroy without asking (a pipeline, the rehearsal).
FORCE ?=

.PHONY: bench chromium nginx privacy help venv dev bootstrap test test-rust test-e2e test-infra lint fmt build synth deploy diff destroy logs smoke clean rehearse qemu mutants suggestions

help: ## List the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
	@command -v python3 >/dev/null || { echo "python3 not found: install Python 3.11 or newer" >&2; exit 1; }
	@python3 -c 'import ensurepip, venv' 2>/dev/null || { echo "python3 cannot make a virtualenv: install python3-venv (Debian, Ubuntu: sudo apt-get install python3-venv)" >&2; exit 1; }
	python3 -m venv $(VENV)

$(DEPLOY_STAMP): requirements-deploy.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-deploy.txt
	touch $@

$(STAMP): requirements-dev.txt requirements-deploy.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(DEPLOY_STAMP)

venv: $(STAMP) ## Install the local toolchain (moto, cargo-lambda, zig, pytest) into .venv

# EDGE=1: nginx in front, keyed and cached as the stack's CloudFront distribution.
EDGE ?=
# QUOTA=N: the Spotify stand-in refuses every Web API call after N with QUOTA_EXCEEDED.
QUOTA ?=
dev: $(STAMP) $(if $(EDGE),nginx) ## Run the whole system locally (moto + Spotify stand-in + the function; EDGE=1 puts the edge cache in front, QUOTA=N makes the stand-in refuse after N calls); Ctrl-C stops it
	cargo build --locked --bin now-playing
	EDGE=$(EDGE) QUOTA=$(QUOTA) $(PY) scripts/dev.py

bootstrap: ## Authorize your Spotify app once and store the credentials in SSM (ARGS="--print-only" etc.)
	scripts/bootstrap $(ARGS)

TEST_STAGES := lint test-rust test-e2e test-infra rehearse
test: ## Run every test offline: lint, unit, adapter, end-to-end, stack, deploy rehearsal; prints each stage's time
	@times=""; for stage in $(TEST_STAGES); do \
	  start=$$(date +%s); $(MAKE) --no-print-directory $$stage || exit $$?; \
	  times="$$times  make $$stage: $$(( $$(date +%s) - start )) s\n"; \
	done; printf "make test: every stage passed\n$$times"

# Builds the binaries the end-to-end tests run, then the Rust tests against moto.
test-rust: $(STAMP)
	cargo build --workspace --locked
	$(PY) scripts/with_moto.py -- cargo test --workspace --locked

test-e2e: $(STAMP) $(NODE_STAMP) $(BROWSER_STAMP) chromium nginx
	cargo build --workspace --locked
	$(PY) -m pytest tests

# The browser tests drive Debian's Chromium with playwright-core (no browser download).
$(BROWSER_STAMP): tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund
	touch $@

chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "the browser tests need Chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

# The local stand-in for the stack's CloudFront (make dev EDGE=1, tests/test_edge.py).
nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx; \
	  else echo "the edge tests and make dev EDGE=1 need nginx: sudo apt-get install nginx" >&2; exit 1; fi; }

# The stack: type check, jest assertions and cdk-nag, then cfn-lint on every variant jest wrote.
test-infra: $(STAMP) $(NODE_STAMP)
	rm -rf infra/test-out
	cd infra && npx tsc --noEmit && npx jest
	cd infra && ../$(VENV)/bin/cfn-lint

$(NODE_STAMP): infra/package.json infra/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20 or newer" >&2; exit 1; }
	cd infra && npm ci --no-audit --no-fund
	touch $@

lint: $(STAMP) $(NODE_STAMP) $(BROWSER_STAMP) ## cargo fmt and clippy, tsc + ESLint over infra/, ESLint over the widget, ruff, actionlint
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cd infra && npx tsc --noEmit && npx eslint .
	tests/browser/node_modules/.bin/eslint -c tests/browser/eslint.config.mjs lambda/assets tests/browser
	tests/browser/node_modules/.bin/prettier --config tests/browser/.prettierrc.json --check --log-level warn lambda/assets tests/browser/*.mjs
	ruff check . && ruff format --check .
	actionlint .github/workflows/*.yml

fmt: ## Format the Rust code
	cargo fmt --all

build: $(DEPLOY_STAMP) ## Build the arm64 Lambda zip (target/lambda/now-playing/bootstrap.zip)
	@if command -v rustup >/dev/null; then rustup target add aarch64-unknown-linux-gnu >/dev/null; \
	  elif ! test -d "$$(rustc --print target-libdir --target aarch64-unknown-linux-gnu 2>/dev/null)"; then \
	    echo "the arm64 build needs Rust's aarch64-unknown-linux-gnu target: install Rust with rustup (https://rustup.rs), which adds it" >&2; exit 1; fi
	cargo lambda build --release --arm64 --output-format zip -p now-playing --bin now-playing
	@ls -l target/lambda/now-playing/bootstrap.zip | awk '{printf "bootstrap.zip: %.2f MiB (%d bytes)\n", $$5/1048576, $$5}'

synth: build $(NODE_STAMP) ## Synthesize the CloudFormation template (offline, no AWS credentials)
	$(CDK) synth $(ALL_ARGS) --quiet
	@echo "template: infra/cdk.out/$(STACK).template.json"

deploy: build $(NODE_STAMP) ## Build, then deploy the stack (the first time in an account: BOOTSTRAP=yes)
	$(if $(filter yes,$(BOOTSTRAP)),$(CDK) bootstrap $(ALL_ARGS))
	$(CDK) synth $(ALL_ARGS) --quiet
	$(PY) scripts/deploy_check.py bootstrapped infra/cdk.out
	$(CDK) deploy --app cdk.out --all --require-approval $(APPROVE) $(DEPLOY_ARGS) --outputs-file cdk-outputs.json \
	  || { $(PY) scripts/deploy_check.py explain infra/cdk.out; exit 1; }
	python3 scripts/settings.py remember $(SETTINGS_FILE) $(CDK_ARGS)
	@echo "Settings remembered in $(SETTINGS_FILE); check it: make smoke URL=<EndpointUrl above, without /v1/current>"

diff: build $(NODE_STAMP) ## Show what deploy would change, with the remembered settings
	@echo "Remembered settings ($(SETTINGS_FILE)), then CDK_ARGS=\"$(CDK_ARGS)\":"
	@python3 scripts/settings.py show $(SETTINGS_FILE)
	$(CDK) diff --all $(ALL_ARGS)

# Needs no build: removing the stack synthesizes it with a placeholder package.
destroy: $(NODE_STAMP) ## Remove the stack: function, table, API, distribution, domain, alarms and their logs
	@echo "Removes: the function, the state table (tokens, answers, art, visitors' suggestions),"
	@echo "the API, the CloudFront distribution and its edge secret, the custom domain and its"
	@echo "certificate (and the certificate's stack), the alarms and topic, and both log groups."
	@echo "Keeps: the SSM parameters (not part of the stack; delete them with aws ssm"
	@echo "  delete-parameter --name /now-playing/spotify, and /now-playing/privacy if written)"
	@echo "  and API Gateway's account-wide logging role, which other APIs in the account may use."
	$(CDK) destroy --all $(ALL_ARGS) -c withoutPackage=true $(if $(filter yes,$(FORCE)),--force)

# The deployment's budget of Spotify calls, as remembered, for the owner's tools that spend
# it: each setting given becomes the function's variable of the same meaning.
budget_var = $(if $(call setting,$(2)),$(1)=$(call setting,$(2)))
SPOTIFY_BUDGET = $(call budget_var,SPOTIFY_CALLS_PER_DAY,spotifyCallsPerDay) \
  $(call budget_var,SPOTIFY_VISITOR_SHARE,spotifyVisitorShare) $(call budget_var,SPOTIFY_RECENT_SHARE,spotifyRecentShare)
suggestions: ## List visitors' suggestions; ARGS="approve ID", "reject ID" or "approve --all" (needs the AWS CLI)
	@command -v aws >/dev/null || { echo "make suggestions needs the AWS CLI (aws) on PATH" >&2; exit 1; }
	cargo build --quiet --locked --bin now-playing-suggestions
	@table="$$(aws cloudformation describe-stacks --stack-name $(STACK) \
	  --query "Stacks[0].Outputs[?OutputKey=='TableName'].OutputValue" --output text)" || exit 1; \
	  $(SPOTIFY_BUDGET) target/debug/now-playing-suggestions --table "$$table" $(ARGS)

# The credentials parameter: -c credentialsParameter=... in the settings, else the default.
CREDENTIALS_PARAMETER ?= $(or $(call setting,credentialsParameter),/now-playing/spotify)
# The privacy parameter: -c privacyParameter=... in the settings, else the default.
PRIVACY_PARAMETER ?= $(or $(call setting,privacyParameter),/now-playing/privacy)
# --purge in ARGS: then clear the stack's edge (scripts/edge_purge.py), once the rules are written.
PURGE = $(filter --purge,$(ARGS))
privacy: $(if $(PURGE),$(DEPLOY_STAMP)) ## What the world sees: ARGS="show", "pause", "resume", "hide artist LINK", "unhide …", "explicit on", "episodes on", "quiet 23:00-07:00 Europe/Berlin", "quiet off"; add --purge to clear the edge
	cargo build --quiet --locked --bin now-playing-privacy
	@# The state table, for the look-up's token: STATE_TABLE, else the deployed stack's (AWS CLI).
	@table="$${STATE_TABLE:-$$(command -v aws >/dev/null && aws cloudformation describe-stacks --stack-name $(STACK) \
	  --query "Stacks[0].Outputs[?OutputKey=='TableName'].OutputValue" --output text 2>/dev/null)}"; \
	  [ "$$table" = None ] && table=; \
	  $(SPOTIFY_BUDGET) target/debug/now-playing-privacy --parameter "$(PRIVACY_PARAMETER)" --table "$$table" \
	  --credentials "$(CREDENTIALS_PARAMETER)" $(filter-out --purge,$(ARGS))
	$(if $(PURGE),$(PY) scripts/edge_purge.py $(STACK))

logs: ## Follow the deployed function's logs (needs the AWS CLI)
	@command -v aws >/dev/null || { echo "make logs needs the AWS CLI (aws) on PATH" >&2; exit 1; }
	aws logs tail "$$(aws cloudformation describe-stacks --stack-name $(STACK) \
	  --query "Stacks[0].Outputs[?OutputKey=='LogGroupName'].OutputValue" --output text)" --follow --format short

smoke: $(STAMP) ## Check a deployed endpoint from outside: make smoke URL=https://np.example.com
	@test -n "$(URL)" || { echo "usage: make smoke URL=https://np.example.com (your domain, or the DistributionUrl output)" >&2; exit 2; }
	$(PY) tests/smoke.py $(URL)

# The arm64 package runs here under qemu-user with Debian's arm64 sysroot.
qemu:
	@command -v qemu-aarch64 >/dev/null && test -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user libc6-arm64-cross libgcc-s1-arm64-cross; \
	  else echo "the rehearsal needs qemu-user, libc6-arm64-cross and libgcc-s1-arm64-cross (apt-get install)" >&2; exit 1; fi; }

rehearse: build $(STAMP) $(NODE_STAMP) qemu ## Rehearse make deploy, diff and destroy offline: moto, the arm64 package under qemu, make smoke
	$(PY) scripts/rehearse.py

# Not in make test: a fresh build, then a rebuild and test run per mutant (246 of them).
mutants: ## Mutation testing of the domain and the HTTP layer (cargo-mutants); summaries in mutants.out/
	@command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked --version 27.1.0
	status=0; cargo mutants --no-shuffle --timeout 120 $(MUTANTS_ARGS) || status=$$?; \
	  case $$status in 0|2|3) ;; *) echo "cargo mutants failed ($$status): see mutants.out/debug.log" >&2; exit $$status;; esac
	@echo "caught: $$(wc -l < mutants.out/caught.txt), missed: $$(wc -l < mutants.out/missed.txt), timeouts: $$(wc -l < mutants.out/timeout.txt); the missed ones are in mutants.out/missed.txt"

$(BENCH_STAMP): $(STAMP) bench/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

bench: $(BENCH_STAMP) build nginx ## Measure this function against the blog-post design, a crowd through the edge cache, and a listening day's Spotify calls; writes bench/RESULTS.md, bench/CROWD.md and bench/QUOTA.md
	cargo build --release --locked -p now-playing --bin now-playing
	cargo build --locked --bin now-playing
	PYTHONPATH=scripts:tests $(PY) bench/run.py $(BENCH_ARGS)
	PYTHONPATH=scripts:tests $(PY) bench/crowd.py
	cargo test --locked -p now-playing --test suite quota_day -- --ignored --nocapture

clean: ## Remove build output, the venv and infra's node_modules
	cargo clean
	rm -rf $(VENV) infra/node_modules infra/cdk.out infra/test-out tests/browser/node_modules tests/artifacts
