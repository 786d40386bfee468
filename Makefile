# fedaid-lite: `make demo` runs the main job on the shipped sample, `make test` runs every test.
# Both create .venv when missing and install the exact pins from requirements-lock.txt; when neither the
# lock nor pyproject.toml changed, set-up is a no-op (a stamp file records the last install).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fedaid-lite-installed
CACHE := $(CURDIR)/.cache

# Keep every tool's caches and config inside the project, not scattered over $HOME.
export PIP_CACHE_DIR ?= $(CACHE)/pip
export XDG_CACHE_HOME ?= $(CACHE)/xdg
export HF_HOME ?= $(CACHE)/huggingface
export HF_HUB_OFFLINE ?= 1
export NUMBA_CACHE_DIR ?= $(CACHE)/numba
export MPLCONFIGDIR ?= $(CACHE)/matplotlib
export JUPYTER_CONFIG_DIR ?= $(CACHE)/jupyter/config
export JUPYTER_DATA_DIR ?= $(CACHE)/jupyter/data
export JUPYTER_RUNTIME_DIR ?= $(CACHE)/jupyter/runtime
export IPYTHONDIR ?= $(CACHE)/ipython
export FLWR_HOME ?= $(CACHE)/flwr
export FLWR_TELEMETRY_ENABLED ?= 0
export RAY_USAGE_STATS_ENABLED ?= 0

.PHONY: setup demo test lab bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements-lock.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . \
	  || $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name fedaid-lite --display-name "Python (fedaid-lite)" > /dev/null
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/fedaid-lite compare --data data_samples --out runs/demo

test: setup
	$(BIN)/python -m pytest

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks

bench: setup
	$(BIN)/python benchmarks/run_all.py

lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv && .lockvenv/bin/pip install --quiet torch==2.13.0 -e ".[notebooks,flower,dev]"
	.lockvenv/bin/pip freeze --exclude-editable | sed 's/+cpu$$//' > requirements-lock.body && rm -rf .lockvenv
	@echo "review requirements-lock.body and merge it into requirements-lock.txt"

clean:
	rm -rf runs .cache
