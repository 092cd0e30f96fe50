# digitnet: `make help` lists the commands.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c  # a failed pip install fails the target, also when piped
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# DVC stages call `python`, `dvc` calls git: both must be the project's own.
export PATH := $(BIN):$(PATH)
# The tools' usage reports stay off: DVC's analytics and MLflow's telemetry.
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
PORT ?= 5000
# The Python that makes .venv, as major.minor; .venv is made anew when it changes.
PY_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
# Installs take exactly the versions and files (by hash) of a lock file, then digitnet itself.
PIP := $(BIN)/python -m pip install --disable-pip-version-check
# pip's notes about unreachable extra package locations are noise here.
QUIET_PIP := 2> >(grep -v "is ignored: it is neither" >&2)
# Progress through pip's page of output: how many of the packages this platform needs (the lock
# also lists other platforms') are in hand; one updated line on a terminal, every 40 in a log.
PROGRESS = | awk -v total=$$(grep -c '^[a-z0-9].*==' $(1)) -v tty=$$(test -t 2 && echo 1) \
	'/^Ignoring /{total--} \
	 /^(Collecting|Processing|Requirement already satisfied)/{n++; if (tty) printf "\r  %d of %d packages checked", n, total; \
	   else if (n % 40 == 0) printf "  %d of %d packages checked\n", n, total; fflush()} \
	 /^Installing collected/{printf "%s  %d of %d packages checked; installing them ...\n", \
	   tty ? "\r" : "", n, total; fflush()} \
	 /^Successfully installed/{print "  done"; done = 1; fflush()} \
	 END{if (tty && !done) print ""}'
INSTALL_LOCK = $(PIP) --require-hashes -r $(1) $(QUIET_PIP) $(call PROGRESS,$(1)) && \
	$(PIP) --quiet --no-deps -e . $(QUIET_PIP)

.DEFAULT_GOAL := help
.PHONY: help install install-dev install-cluster postgres sample run repro test test-fast test-cluster bench lint format ui lock lock-check clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.made-by-python-%:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "error: digitnet needs Python 3.11 or newer, and $(PYTHON) is $$($(PYTHON) -V 2>&1 | head -1); choose another, e.g. make PYTHON=python3.12 run" >&2; exit 2; }
	@made=$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); \
	if [ -n "$$made" ] && [ "$$made" != "$*" ]; then \
	  echo "Making $(VENV) anew: it was made by Python $$made, and $(PYTHON) is Python $*"; rm -rf $(VENV); \
	elif [ -z "$$made" ]; then rm -rf $(VENV); fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "error: $(PYTHON) -m venv failed; on Debian or Ubuntu: sudo apt install python3-venv" >&2; exit 2; }
	@rm -f $(VENV)/.made-by-python-* && touch $@

$(VENV)/.installed: pyproject.toml requirements.lock $(VENV)/.made-by-python-$(or $(PY_VERSION),unknown)
	@echo "Installing digitnet and its pinned dependencies into $(VENV) (about a minute) ..."
	@$(call INSTALL_LOCK,requirements.lock)
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.lock
	@echo "Installing the test and lint tools, and Optuna ..."
	@$(call INSTALL_LOCK,requirements-dev.lock)
	@touch $@

$(VENV)/.installed-cluster: $(VENV)/.installed-dev requirements-cluster.lock
	@echo "Installing Ray, submitit and the S3 clients (several hundred MB) ..."
	@$(call INSTALL_LOCK,requirements-cluster.lock)
	@touch $@

install: $(VENV)/.installed ## create .venv and install the project (pinned versions)

install-dev: $(VENV)/.installed-dev ## install plus the test and lint tools

install-cluster: $(VENV)/.installed-cluster ## install-dev plus Ray, submitit and S3 (the cluster extras)

sample: install ## build data/digits.xlsx (5,000 real digits) unless data/ has it
	$(BIN)/digitnet sample

run: sample ## set up, then run the whole pipeline (dvc repro)
	$(BIN)/dvc repro
	@echo
	$(BIN)/dvc metrics show
	@echo
	@echo "Figures: artifacts/eval/{cost,confusion,misclassified,hidden_weights}.png. Runs: make ui"

repro: install ## rerun what changed in the pipeline
	$(BIN)/dvc repro

test: install-dev ## lint, then run the whole test suite in .venv but the cluster tests
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not cluster"

test-cluster: install-cluster postgres ## the tests of sweeps on Ray and submitit, and of the team's server on PostgreSQL (CI runs them too)
	$(BIN)/python -m pytest -n 2 --dist loadfile -m cluster

# The team's server test (tests/test_team_server.py) starts a PostgreSQL server of its own from
# Debian's package; as root, this installs it where it is missing (CI), without a cluster of its
# own; otherwise it says how, and the test is skipped with the same words.
postgres: ## PostgreSQL's server for make test-cluster (Debian's postgresql; installed as root)
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing PostgreSQL (Debian's postgresql) ..."; \
	  mkdir -p /etc/postgresql-common/createcluster.d && \
	  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/digitnet.conf && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else echo "make postgres: no PostgreSQL server here; install Debian's postgresql (sudo apt-get install postgresql)"; fi

test-fast: install-dev ## the tests not marked slow, in under 30 s: no dvc, sweeps or servers
	$(BIN)/python -m pytest -n 2 -m "not slow and not cluster"

# PyTorch, for benchmarks/cnn.py alone: pinned but not in a lock file, since the CPU build a
# machine uses may come from another index than PyPI's files, whose hashes a lock holds.
$(VENV)/.installed-bench: $(VENV)/.installed-dev
	@echo "Installing PyTorch 2.13.0 for the benchmarks (a CPU build where pip finds one) ..."
	@$(PIP) --quiet torch==2.13.0 $(QUIET_PIP)
	@touch $@

bench: sample $(VENV)/.installed-bench ## measure every figure in docs/benchmarks.md (about 15 min)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/epoch.py
	$(BIN)/python benchmarks/kernels.py
	$(BIN)/python benchmarks/scaling.py
	$(BIN)/python benchmarks/job.py
	$(BIN)/python benchmarks/repro.py
	$(BIN)/python benchmarks/sweep.py
	$(BIN)/python benchmarks/hostile.py
	$(BIN)/python benchmarks/cnn.py
	$(BIN)/python benchmarks/big.py

lint: install-dev ## ruff: lint and format check
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: install-dev ## ruff: fix and format
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

ui: install ## open the MLflow UI on http://127.0.0.1:5000 (make ui PORT=5001 for another port)
	$(BIN)/digitnet ui --port $(PORT)

# uv resolves pyproject.toml for every platform and Python 3.11 or newer, as PyPI stood at
# LOCK_DATE, so make lock writes the same bytes on any machine; move LOCK_DATE for newer releases,
# to a week or so back: a mirror of PyPI may list a release some days after its upload time.
# The cluster lock is resolved first, and the others within it, so all agree on shared versions.
UV_VERSION := 0.13.9
LOCK_DATE := 2026-11-23T00:00:00Z
UV := /tmp/digitnet-uv/bin/uv
COMPILE := $(UV) pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	--generate-hashes --upgrade --exclude-newer $(LOCK_DATE) --custom-compile-command "make lock"

lock: ## resolve pyproject.toml into requirements*.lock (uv, with hashes)
	rm -rf /tmp/digitnet-uv && $(PYTHON) -m venv /tmp/digitnet-uv
	/tmp/digitnet-uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) $(QUIET_PIP)
	$(COMPILE) --extra pipeline --extra dev --extra optuna --extra ray --extra slurm --extra s3 --extra server \
	    -o requirements-cluster.lock
	$(COMPILE) -c requirements-cluster.lock --extra pipeline -o requirements.lock
	$(COMPILE) -c requirements-cluster.lock --extra pipeline --extra dev --extra optuna \
	    -o requirements-dev.lock

# Not part of make test or CI: it asks the package index, whose answer for an old LOCK_DATE can
# still change (a release listed late, a yanked file), and a test must not depend on the day.
lock-check: ## re-resolve the locks in a temporary copy and show any difference from the committed ones
	@tmp=$$(mktemp -d) && cp Makefile pyproject.toml README.md $$tmp/ && \
	$(MAKE) --no-print-directory -C $$tmp lock >/dev/null && \
	for lock in requirements.lock requirements-dev.lock requirements-cluster.lock; do \
	  diff -u $$lock $$tmp/$$lock > $$tmp/$$lock.diff || status=1; done; \
	if [ -n "$$status" ]; then cat $$tmp/*.diff | grep '^[-+][a-z]'; \
	  echo "lock-check: the index resolves pyproject.toml differently today (lines above); make lock writes the new locks"; exit 1; \
	else echo "lock-check: make lock gives the committed lock files byte for byte"; rm -rf $$tmp; fi

clean: ## remove pipeline outputs (not data/, not mlflow.db)
	rm -rf artifacts outputs multirun
