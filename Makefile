# FIAP X developer entry points. On a fresh Debian 12 machine: `make run` or `make test`.
# The local stack (NATS, PostgreSQL, SeaweedFS, SMTP sink) is driven by scripts/stack.sh; its state, data, logs and
# the sourceable .state/env live in the git-ignored .state/ directory.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# S3 credentials the local SeaweedFS accepts (and .state/env hands to the services and tests).
FIAPX_S3_ACCESS_KEY ?= fiapx
FIAPX_S3_SECRET_KEY ?= fiapx-secret-key
export FIAPX_S3_ACCESS_KEY FIAPX_S3_SECRET_KEY

STATE := .state
# Recipes that talk to the stack run with its addresses (FIAPX_NATS_URL, FIAPX_DATABASE_URL, FIAPX_S3_*,
# FIAPX_SMTP_URL, FIAPX_NATS_SERVER_BIN) exported from .state/env, which `make up` writes.
WITH_ENV := set -a && . $(STATE)/env && set +a &&

CARGO ?= cargo

.PHONY: help deps up down status fmt lint test bench bench-events bench-frames bench-pipeline bench-upload bench-login run clean-state web-deps web-test-deps web-build test-web

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-13s %s\n", $$1, $$2 }'

deps: ## Install what is missing: Debian packages, the stack's pinned servers, FFmpeg pkg-config files
	@scripts/deps.sh

up: deps ## Start the local stack (idempotent) and write .state/env
	@scripts/stack.sh up

down: ## Stop what `make up` started
	@scripts/stack.sh down

status: ## Show each component of the stack, up or down, with its address
	@scripts/stack.sh status

fmt: ## Format every crate
	$(CARGO) fmt --all

# deps: building rsmpeg needs the FFmpeg pkg-config files under .state/pkgconfig.
lint: deps ## rustfmt check and clippy with warnings denied
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Doc tests run first so that the run closes on nextest's summary (which CI reads); both always run, and the
# target fails if either did. Without nextest, `cargo test` runs the doc tests itself. nextest builds libraries,
# binaries and tests only: the benchmark examples are linked by `make bench` and checked by clippy in `lint`.
test: up lint ## Start the stack, lint, run every test (nextest), the doc tests, then the web app's (test-web)
	@$(WITH_ENV) if $(CARGO) nextest --version >/dev/null 2>&1; then \
		status=0; \
		echo "$(CARGO) test --workspace --doc"; \
		$(CARGO) test --workspace --doc || status=$$?; \
		echo "$(CARGO) nextest run --workspace --lib --bins --tests --no-fail-fast"; \
		$(CARGO) nextest run --workspace --lib --bins --tests --no-fail-fast || status=$$?; \
		exit $$status; \
	else \
		echo "cargo-nextest not found: $(CARGO) test --workspace --no-fail-fast (doc tests included)"; \
		$(CARGO) test --workspace --no-fail-fast; \
	fi
	@$(MAKE) --no-print-directory test-web

web-deps: ## Install the web app's npm packages (npm ci)
	@scripts/web-deps.sh

web-test-deps: ## The web app's npm packages and Debian's chromium for its browser tests
	@scripts/web-deps.sh --browser

web-build: web-deps ## Build the web app into web/dist (what fiapx serves at /)
	cd web && npm run build

# The end-to-end tests start their own nats-server, database, bucket and `fiapx serve all` (web/e2e/stack.mjs).
test-web: up web-test-deps ## Web app: API client check, typecheck, Vitest, build, Playwright end to end in chromium
	@$(WITH_ENV) $(CARGO) build -p fiapx
	cd web && npm run --silent check:api && npm run --silent typecheck && npm test --silent && npm run --silent build
	@$(WITH_ENV) cd web && npm run --silent e2e

bench: bench-events bench-frames bench-pipeline bench-upload bench-abuse bench-login ## Run every benchmark

bench-events: up ## Event store benchmark (JetStream append/load)
	$(WITH_ENV) $(CARGO) run --release -p fiapx-nats --example bench_event_store

bench-frames: up ## Frame extraction benchmark (FFmpeg decode, select, encode)
	$(WITH_ENV) $(CARGO) run --release -p fiapx-frames --example bench_frames

bench-pipeline: up ## Whole pipeline: N uploads at concurrency C, latency percentiles, lost/duplicated, overhead
	$(WITH_ENV) $(CARGO) run --release -p fiapx --example bench_pipeline

bench-login: ## Login timing: unknown e-mail vs wrong password (should be indistinguishable)
	$(CARGO) run --release -p fiapx-auth --example bench_login

bench-upload: up ## Upload service peak RSS while streaming a 2 GiB body
	$(WITH_ENV) $(CARGO) run --release -p fiapx-upload --example bench_upload

bench-abuse: up ## Memory probes: peak RSS growth of a 1 GiB chunked JSON login and a 1 GiB boundary-less multipart upload
	$(WITH_ENV) $(CARGO) run --release -p fiapx --example bench_abuse

# A release build (the speed the benchmarks report), then scripts/run.sh: migrations, the signing key when it is
# missing, every service in the foreground. Each step is safe to repeat: `make run` works every time on one
# checkout (services/fiapx/tests/cli.rs runs scripts/run.sh twice in a row).
run: up web-build ## Start the stack, build (release), migrate, then every service and the web app on http://127.0.0.1:8080 (Ctrl-C stops it)
	@$(WITH_ENV) $(CARGO) build --release -p fiapx
	@$(WITH_ENV) FIAPX_STATE=$(STATE) exec scripts/run.sh "$${CARGO_TARGET_DIR:-target}/release/fiapx"

clean-state: down ## Stop the stack and delete .state/ (data, logs, venv)
	rm -rf $(STATE)
