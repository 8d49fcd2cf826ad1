# Developer entry points. `make run` and `make test` are the two that matter.
#
#   make venv    create .venv (python3.11) and `pip install -e '.[dev,accel]'` (accel = uvloop,
#                optional: without it `.[dev]`); re-installs only when pyproject.toml is newer
#                than the install stamp
#   make run     sample_project (a Django + Celery shop) on the project's own NameServer + Broker:
#                site, listener worker and Celery worker on 127.0.0.1, URLs and the demo staff
#                login printed; one Ctrl-C stops everything. Installs only the `run` extra (and
#                the optional `accel` extra where it installs).
#   make demo    the protocol demo: embedded NameServer + Broker, 5 messages produced and consumed
#   make test    missing system packages (tools/system-packages.sh), ruff check, ruff format --check,
#                mypy, the mypyc build of the hot modules (cached), pytest -n auto (fails on any
#                failure), then the protocol/store/wire tests again as pure Python (PURE_TESTS)
#   make accel   mypyc-compile the hot modules (tools/accel_modules.txt) into build/accel, cached
#   make accel-check  compile (must succeed) and run PURE_TESTS on the compiled modules
#   make lint    ruff check, ruff format --check, mypy
#   make format  ruff format + ruff check --fix
#   make bench   throughput / latency benchmark (bench/run_all.py), prints a table
#   make clean   caches and build output (keeps .venv; `make distclean` removes it too)
#
# Variables: PYTHON (interpreter used to create the venv), RUN_ARGS (sample_project options, e.g.
# RUN_ARGS='--port 8001 --no-celery'), DEMO_ARGS (demo options, e.g. DEMO_ARGS='--count 20'),
# PYTEST_ARGS (extra pytest args, e.g. PYTEST_ARGS='-m "not interop"' or PYTEST_ARGS=tests/unit), PYTEST_WORKERS (default auto),
# TEST_TIMEOUT (seconds per test), BENCH_ARGS (e.g. BENCH_ARGS='--runs 1 --messages 2000').

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp

PYTEST_WORKERS ?= auto
TEST_TIMEOUT ?= 300
# wall-clock guard for the whole pytest session (a hung teardown must not hang CI)
TEST_WALL_TIMEOUT ?= 3600
PYTEST_ARGS ?=
# the tests `make test` runs a second time with no acceleration (ROCKETMQ_PURE_PYTHON=1), and that
# `make accel-check` runs on the compiled modules
PURE_TESTS ?= tests/unit/remoting tests/unit/message tests/unit/store tests/unit/test_accel.py \
	tests/unit/test_eventloop.py tests/integration/test_broker_wire.py tests/integration/test_namesrv.py \
	tests/integration/test_captured_replay.py tests/integration/test_event_loop.py
BENCH_ARGS ?=
RUN_ARGS ?=
DEMO_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv run-deps sysdeps run demo test lint format typecheck pytest pytest-pure accel accel-check \
	bench clean distclean

help:
	@sed -n '1,/^$$/s/^# \{0,1\}//p' Makefile

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# the accel extra (uvloop) is optional: where it does not install, the stdlib loop is used
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,accel]' || { \
		echo "make: the optional accel extra did not install; using the stdlib event loop" >&2; \
		$(BIN)/python -m pip install --quiet -e '.[dev]'; }
	touch $@

## `make run` / `make demo` need only the `run` extra (Django, Celery, kombu), not the dev tools;
## a venv that already has them (a dev venv) is used as it is
run-deps: | $(BIN)/python
	@$(BIN)/python tools/check_run_deps.py || { \
		$(BIN)/python -m pip install --quiet --upgrade pip && \
		$(BIN)/python -m pip install --quiet -e '.[run]'; }
	@test -e $(VENV)/.accel-unavailable || $(BIN)/python tools/check_run_deps.py --accel || \
		$(BIN)/python -m pip install --quiet -e '.[run,accel]' || { touch $(VENV)/.accel-unavailable; \
		echo "make: the optional accel extra did not install; using the stdlib event loop" >&2; }

run: run-deps
	@$(BIN)/python tools/build_accel.py
	$(BIN)/python -m sample_project $(RUN_ARGS)

demo: run-deps
	$(BIN)/python -m rocketmq_integration.demo $(DEMO_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

typecheck: venv
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## the full suite in the default mode: compiled modules when a current build exists, uvloop when
## installed; ROCKETMQ_ACCEL_EXPECTED lets tests/unit/test_accel.py check that mode was really used
pytest: venv
	expected=$$($(BIN)/python tools/build_accel.py --status >/dev/null 2>&1 && echo compiled || echo pure); \
	ROCKETMQ_ACCEL_EXPECTED=$$expected timeout --kill-after=60 $(TEST_WALL_TIMEOUT) \
		$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --timeout=$(TEST_TIMEOUT) $(PYTEST_ARGS)

## the protocol/store/wire tests again without any acceleration (stdlib loop, .py modules)
pytest-pure: venv
	ROCKETMQ_PURE_PYTHON=1 timeout --kill-after=60 $(TEST_WALL_TIMEOUT) \
		$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --timeout=$(TEST_TIMEOUT) -q $(PURE_TESTS)

## mypyc-compile the modules of tools/accel_modules.txt into build/accel (cached by source hash;
## prints why and carries on pure when it cannot build here)
accel: venv
	$(BIN)/python tools/build_accel.py

## before landing a change to a module of tools/accel_modules.txt: it must compile, and the
## protocol/store tests must pass on the compiled modules
accel-check: venv
	$(BIN)/python tools/build_accel.py --require
	ROCKETMQ_ACCEL_EXPECTED=compiled $(BIN)/python -m pytest -n $(PYTEST_WORKERS) \
		--timeout=$(TEST_TIMEOUT) -q $(PURE_TESTS)

## system packages the tests need (make, C++ runtime, redis-server, fuse3), installed only when missing
sysdeps:
	bash tools/system-packages.sh

test: sysdeps lint accel pytest pytest-pure

bench: venv
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
