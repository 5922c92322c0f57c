# dovesnap: build, bring the host stack up or down, and test.
#
#   make up          install + start everything on a Debian 12 host (root; idempotent)
#   make up MONITORING=1   ... and Prometheus with dovesnap's rules on 127.0.0.1:9090
#   make up CONFRPC=1      ... and the faucetconfrpc server on CONFRPC_HOST:59999 (default 127.0.0.1), for other hosts
#   make down        stop the plugin daemon, Gauge, FAUCET, Prometheus, faucetconfrpc (Docker and OVS keep running)
#   make down-all    ... and also Open vSwitch, and a dockerd that `make up` started
#   make test        what CI runs: build, lint, make up MONITORING=1 CONFRPC=1, test image, test packages (chromium), every test in one node --test run
#   make unit        build + lint + unit and contract tests only (no root needed)
#   make lint        formatting and lint rules (Biome, biome.json); make fmt applies them
#   make e2e         make up MONITORING=1 CONFRPC=1 + test image + the end-to-end tests only
#   make build       npm ci (when the lock changed) + tsc -> dist/ (when sources changed)
#   make status      one line per component; make logs / make logs-follow: the logs
#   make clean       remove dist/ (make distclean: node_modules/ too)
#   make install-systemd   copy deploy/systemd/*.service to /etc/systemd/system (systemd hosts; CONFRPC=1: faucetconfrpc's too)
#   make engine-current    build Docker 29 (+ its CLI, containerd 2, runc) from the Go module proxy; try it aside
#   make test-engine-current   the engine-dependent e2e files (test/e2e/engine-suite.txt) on Docker 29
#   make test-load   the load suite at the issue's sizes (100 parallel, 1,000 run/rm cycles, ...; ~25 min)
#   make hosts N=3   N simulated Docker hosts on this machine (Docker, OVS, dovesnap each), one line each on stdout
#   make hosts-down  stop them all and remove everything the harness made (docs/hosts-harness.md)
#
# Environment passed through to `make up`: FAUCET_PREFIX, MIRROR_BRIDGE_OUT, MIRROR_BRIDGE_IN,
# DOVESNAP_*, MONITORING, PROMETHEUS_RETENTION, CONFRPC, CONFRPC_HOST, FAUCETCONFRPC_KEYDIR (see
# scripts/up.sh); `make up SKIP_DAEMON=1` leaves the plugin daemon alone.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
LOG_DIR := /var/log/dovesnap

.PHONY: help build lint fmt unit up down down-all test e2e test-image status logs logs-follow \
	clean distclean install-systemd engine-current test-engine-current test-load hosts hosts-down

help:
	@sed -n '3,24p' Makefile | sed 's/^# \{0,1\}//'

build:
	scripts/build.sh

lint:
	scripts/build.sh
	scripts/lint.sh

fmt:
	scripts/build.sh
	scripts/lint.sh --write

unit:
	scripts/build.sh
	scripts/lint.sh
	scripts/run-tests.sh unit contract

up:
	scripts/up.sh

down:
	scripts/down.sh

down-all:
	scripts/down.sh --all

test-image:
	scripts/build-test-image.sh

# One node --test run over all of dist/test: one summary line for CI.
# (Sequential recipes rather than prerequisites, so that `make -j` keeps the order.)
# MONITORING=1: the monitoring tests need the Prometheus it runs, and promtool to check rules.
# CONFRPC=1: the faucetconfrpc tests need its venv and server (on a fresh machine its pip install
# costs about a minute, which make up logs; on 127.0.0.1, FAUCET is started as without it).
test:
	scripts/build.sh
	scripts/lint.sh
	MONITORING=1 CONFRPC=1 scripts/up.sh
	scripts/build-test-image.sh
	scripts/install-test-deps.sh
	scripts/run-tests.sh

e2e:
	scripts/build.sh
	MONITORING=1 CONFRPC=1 scripts/up.sh
	scripts/build-test-image.sh
	scripts/install-test-deps.sh
	scripts/run-tests.sh e2e

status:
	scripts/status.sh

logs:
	@tail -n 40 $(LOG_DIR)/*.log

logs-follow:
	tail -n 20 -F $(LOG_DIR)/*.log

clean:
	rm -rf dist .tmp

distclean: clean
	rm -rf node_modules

install-systemd:
	scripts/install-systemd.sh

# Docker Engine 29 (scripts/engine/): built from the Go module proxy into
# /opt/dovesnap/engines, then tried on its own socket and roots (the host's engine untouched).
engine-current:
	scripts/engine/build-current.sh
	scripts/engine/smoke.sh

# The end-to-end suite with Docker 29 as the host's engine: scripts/engine/use.sh current,
# make up MONITORING=1, test image, e2e tests; Debian's engine is swapped back in at the end,
# whatever happened, and the suite's status is the target's.
test-engine-current:
	scripts/engine/test-current.sh

# make test runs test/e2e/load.test.ts at smaller sizes; this runs it at the issue's, and writes
# the figures to test-artifacts/load-full.json (docs/benchmarks.md).
test-load:
	scripts/build.sh
	MONITORING=1 scripts/up.sh
	scripts/build-test-image.sh
	DOVESNAP_LOAD=full node --test --test-concurrency=1 dist/test/e2e/load.test.js

# Simulated hosts (scripts/hosts.sh, docs/hosts-harness.md). Silent recipes: stdout carries only
# the hosts' lines, for `eval`-style use.
N ?= 3
hosts:
	@scripts/hosts.sh up "$(N)"

hosts-down:
	@scripts/hosts.sh down
