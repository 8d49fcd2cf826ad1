# The two commands of the README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
RUN_ARGS ?=
PYTEST_ARGS ?=

.PHONY: venv run test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## Embedded NameServer + Broker on 127.0.0.1, a produce/consume demo, then serve until Ctrl-C.
run: venv
	$(PY) -m rocketmq_integration.demo $(RUN_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

## Lint, type-check, then the whole test suite in parallel (real broker processes on free ports).
test: lint typecheck
	$(VENV)/bin/pytest -n auto --dist loadfile -q $(PYTEST_ARGS)

unit: venv
	$(VENV)/bin/pytest -n auto -q tests/unit $(PYTEST_ARGS)

## Throughput/latency figures (not part of `make test`).
bench: venv
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) run-data .mypy_cache .ruff_cache .pytest_cache *.egg-info
