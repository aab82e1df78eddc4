# Two commands a new user needs: `make run` (default pipeline) and `make test` (test suite).
# Both create .venv from requirements.lock on first use; later calls reuse it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)
CORES ?= 2
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Quiet TensorFlow's C++ start-up chatter in logs.
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: venv run test lint lock report clean

venv: $(STAMP)

# Byte-compiled at install (--compile-bytecode, compileall src): where
# PYTHONDONTWRITEBYTECODE is set, as on this project's machines, every job would otherwise
# compile jax, pandas, matplotlib... from source at each start (~1-2 s of CPU per job;
# default run 689 -> 566 job-seconds).
$(STAMP): requirements.lock pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip install --compile-bytecode --python $(VENV)/bin/python -r requirements.lock
	$(VENV)/bin/uv pip install --python $(VENV)/bin/python --no-deps -e .
	$(VENV)/bin/python -m compileall -q src
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## run the default pipeline (config/config.yaml, offline, CPU)
run: venv
	snakemake --cores $(CORES) --configfile config/config.yaml --profile workflow/profiles/default

## run the whole test suite
test: venv
	pytest -v --durations=15 tests

lint: venv
	ruff check .
	ruff format --check .
	snakemake --lint --configfile config/config.yaml
	snakefmt --check Snakefile workflow/rules

## re-resolve the locks from requirements*.in (needs the network) and regenerate envs/
lock: venv
	uv pip compile requirements.in --python-version 3.11 -o requirements.lock
	uv pip compile requirements-cuda12.in --python-version 3.11 -o requirements-cuda12.lock
	python tools/write_envs.py

report: venv
	snakemake --cores $(CORES) --configfile config/config.yaml --report results/default/report.html

clean:
	rm -rf results/default .snakemake
