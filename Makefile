# digitnet: `make help` lists the commands.
SHELL := /bin/bash
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
# pip's notes about unreachable extra package locations are noise here.
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
QUIET_PIP := 2> >(grep -v "is ignored: it is neither" >&2)

.DEFAULT_GOAL := help
.PHONY: help install install-dev sample run repro test test-fast bench lint format ui lock clean

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
	@echo "Installing digitnet and its pinned dependencies into $(VENV) ..."
	@$(PIP) -c requirements.lock -e . $(QUIET_PIP)
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	@echo "Installing the test and lint tools ..."
	@$(PIP) -c requirements.lock -e '.[dev,optuna,ray,slurm]' $(QUIET_PIP)
	@touch $@

install: $(VENV)/.installed ## create .venv and install the project (pinned versions)

install-dev: $(VENV)/.installed-dev ## install plus the test and lint tools

sample: install ## build data/digits.xlsx (5,000 real digits) unless data/ has it
	$(BIN)/python -m digitnet.sample

run: sample ## set up, then run the whole pipeline (dvc repro)
	$(BIN)/dvc repro
	@echo
	$(BIN)/dvc metrics show
	@echo
	@echo "Figures: artifacts/eval/{cost,confusion,misclassified,hidden_weights}.png. Runs: make ui"

repro: install ## rerun what changed in the pipeline
	$(BIN)/dvc repro

test: install-dev ## lint, then run the whole test suite in .venv (what CI runs)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -n 2 --dist loadfile

test-fast: install-dev ## the tests not marked slow, in under 30 s: no dvc, sweeps or servers
	$(BIN)/python -m pytest -n 2 -m "not slow"

$(VENV)/.installed-bench: $(VENV)/.installed
	@echo "Installing what the benchmarks measure digitnet against (scikit-learn, pandas) ..."
	@$(PIP) -c requirements.lock -e '.[bench]' $(QUIET_PIP)
	@touch $@

bench: sample $(VENV)/.installed-bench ## measure every figure in docs/benchmarks.md (about 5 min)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/epoch.py
	$(BIN)/python benchmarks/kernels.py
	$(BIN)/python benchmarks/scaling.py
	$(BIN)/python benchmarks/job.py
	$(BIN)/python benchmarks/repro.py
	$(BIN)/python benchmarks/sweep.py
	$(BIN)/python benchmarks/hostile.py

lint: install-dev ## ruff: lint and format check
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: install-dev ## ruff: fix and format
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

# The UI alone: without the flag MLflow 3.17 also starts a job runner and seven huey consumers
# for GenAI jobs (10 processes, 1.8 GB resident, against 2 and 0.5 GB; docs/tracking.md).
ui: install ## open the MLflow UI on http://127.0.0.1:5000 (make ui PORT=5001 for another port)
	@echo "Runs of digitnet: http://127.0.0.1:$(PORT)/#/experiments/1/runs?workflowType=machine_learning"
	@# The Starlette warning is MLflow's own server importing a deprecated module, not ours.
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
	PYTHONWARNINGS="ignore:starlette.middleware.wsgi is deprecated" \
	$(BIN)/mlflow ui --host 127.0.0.1 --port $(PORT) --workers 1 \
	    --backend-store-uri "sqlite:///$(CURDIR)/mlflow.db" \
	    --registry-store-uri "sqlite:///$(CURDIR)/mlflow.db"

lock: ## re-resolve the newest versions into requirements.lock
	rm -rf /tmp/digitnet-lock && $(PYTHON) -m venv /tmp/digitnet-lock
	/tmp/digitnet-lock/bin/pip install --quiet --upgrade pip
	/tmp/digitnet-lock/bin/pip install --quiet -e '.[dev,optuna,ray,slurm,s3]'
	{ echo "# Exact versions that 'make' installs (pip install -c requirements.lock). Regenerate with 'make lock'."; \
	  /tmp/digitnet-lock/bin/pip freeze --exclude-editable | grep -v '^-e'; } > requirements.lock

clean: ## remove pipeline outputs (not data/, not mlflow.db)
	rm -rf artifacts outputs multirun
