# Fresh machine: `make run` / `make test` create .venv and install the project when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install "torch==2.14.1" "torchvision==0.29.1" || $(BIN)/pip install torch torchvision
	$(BIN)/pip install -e ".[dev]"
	# NAS-Bench-201's table; its data needs none of the package's dependencies (pandas)
	$(BIN)/pip install --no-deps "analog-nasbench==0.1.3"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/archsearch run --space glit --strategy hierarchical-ea

# the tests run in one process per core (pytest-xdist, an idle process steals queued
# tests from a busy one), each with one torch thread:
# on 2 cores that is about twice as fast as one process with two threads
test: $(STAMP)
	$(BIN)/ruff check .
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n auto --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/encoding_speed.py

clean:
	rm -rf $(VENV) build *.egg-info
