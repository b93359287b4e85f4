# snn-deploy: `make demo` (train, compile for Loihi 2, emulate) and `make test` (the suite).
# Both set up what they need, idempotently: .venv (Python 3.11) and .venv-lava (Python 3.10);
# `make test` also .venv-netx (Python 3.10, lava-dl 0.6.0), .venv-pynn, .venv-xylo (Python 3.10,
# xylosim) and the interop environments.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/snn-deploy
DEMO := build/demo
PIP_QUIET := { grep -v -E "is ignored: it is neither a file nor a directory" || true; }

.PHONY: help venv lava-env netx-env xylo-env pynn-env interop-envs interop-fixtures chromium demo test bench lint clean

help:
	@echo "make demo   train a digits SNN, compile it for Loihi 2, emulate it (and run Lava)"
	@echo "make test   run the whole test suite (what CI runs)"
	@echo "make bench  run the benchmarks in benchmarks/ (minutes; not part of make test)"
	@echo "make clean  remove build outputs (keeps the virtual environments)"
	@echo "make chromium  install Debian's chromium-headless-shell (the sweep.html rendering test)"
	@echo "make interop-fixtures  regenerate tests/interop/fixtures/ with Norse 1.1.0 and Sinabs 3.1.3"

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements/main.txt scripts/find-python
	@py=$$(scripts/find-python 3.11) || { \
	  echo "error: Python 3.11 not found; install it (pyenv install 3.11, or apt-get install python3.11 python3.11-venv) and run make again" >&2; exit 1; }; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then \
	  echo "creating $(VENV) with $$py"; rm -rf $(VENV); "$$py" -m venv $(VENV); fi
	@echo "installing pinned requirements into $(VENV) (first run: a few minutes) ..."
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements/main.txt 2>&1 | $(PIP_QUIET)
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps -e . 2>&1 | $(PIP_QUIET)
	@touch $@

lava-env:
	@scripts/setup-lava-env

netx-env:
	@scripts/setup-netx-env

pynn-env:
	@scripts/setup-pynn-env

xylo-env:
	@scripts/setup-xylo-env

interop-envs:
	@scripts/setup-interop-envs

interop-fixtures:
	@scripts/make-interop-fixtures

# a headless Chromium for the test that renders sweep.html (skipped without one): Debian's
# package, from the distribution's archive (no browser download of its own)
chromium:
	@command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null || \
	  { command -v apt-get >/dev/null && apt-get install -y -q chromium-headless-shell; } || \
	  { echo "error: no apt-get; install a headless Chromium and set SNN_DEPLOY_CHROMIUM to it" >&2; exit 1; }

$(DEMO)/model.pt: $(VENV)/.installed
	@mkdir -p $(DEMO)
	$(CLI) train digits -o $@

demo: venv lava-env $(DEMO)/model.pt
	$(CLI) compile $(DEMO)/model.pt --target loihi2 -o $(DEMO)/digits-loihi2
	$(CLI) emulate $(DEMO)/digits-loihi2 --data digits
	@if [ -x .venv-lava/bin/python ] && [ -f .venv-lava/.installed ]; then \
	  echo; echo "same network in Lava 0.10.0 (bit-accurate models), checked against the emulator:"; \
	  $(CLI) emulate $(DEMO)/digits-loihi2 --data digits --backend lava; \
	else echo "(Lava backend not set up: no Python 3.10; see above)"; fi
	@echo; echo "fit report: $(DEMO)/digits-loihi2/report.md"

test: venv lava-env netx-env pynn-env xylo-env interop-envs
	@$(MAKE) -s chromium >/dev/null 2>&1 || echo "note: no headless Chromium (make chromium needs apt-get); the sweep.html rendering test will be skipped"
	$(PY) -m pytest -q

bench: venv lava-env xylo-env
	$(PY) benchmarks/emulator_vs_lava.py
	$(PY) benchmarks/emulator_scale.py
	$(PY) benchmarks/train_vs_snntorch.py
	$(PY) benchmarks/fptt_memory.py
	$(PY) benchmarks/map_1m_neurons.py
	$(PY) benchmarks/plastic_engine.py
	$(PY) benchmarks/emulate_workers.py
	$(PY) benchmarks/emulator_vs_xylosim.py

lint: venv
	$(PY) -m ruff check toolchain tests benchmarks examples

clean:
	rm -rf build .pytest_cache
