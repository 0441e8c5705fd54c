# Scratchformer — the two commands a reader needs:
#   make book   set everything up, build the book (full profile), print where index.html is
#   make test   set up what is missing, run unit tests + every notebook (quick profile) + browser check
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.scratchformer-setup
JOBS   ?= 2
# Tests run $(JOBS) workers on as many cores: one torch thread each (a second one only spins).
TEST_ENV := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 OMP_NUM_THREADS=1
# Set-up only: a machine without internet access (CI) keeps the web-only corpora (Multi30k)
# in ../shared/data; the fetch copies them from there instead of downloading them.
ifneq ($(wildcard ../shared/data/multi30k),)
export SCRATCHFORMER_DATA_MIRROR ?= $(abspath ../shared/data)
endif

.PHONY: setup system book test unit lint notebooks outputs bench clean

setup: $(STAMP) ## virtual environment, pinned dependencies, package (editable), corpora
	$(BIN)/python -m scratchformer.data fetch

$(STAMP): requirements/lock.txt pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

system: ## as root on Debian/Ubuntu: apt lists (for the de_en corpus) and Chromium (browser check)
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	  if ! command -v chromium >/dev/null || ! apt-cache policy trans-de-en | grep -q 'Candidate: [0-9]'; then
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
	  fi
	else
	  command -v chromium >/dev/null || echo "note: no Chromium and not root with apt-get: the browser check will be skipped (install Debian's 'chromium' to run it)"
	fi

book: system setup ## build the book, executing every notebook in the full profile
	SCRATCHFORMER_PROFILE=$${SCRATCHFORMER_PROFILE:-full} $(BIN)/jupyter-book build . --all -W --keep-going
	echo "The book is at: file://$$(pwd)/_build/html/index.html"

test: system setup ## unit tests + nbval of every notebook (quick profile) + book in a real browser
	$(TEST_ENV) SCRATCHFORMER_PROFILE=quick $(BIN)/python -m pytest -n $(JOBS) --dist loadfile \
	  --nbval-lax --nbval-current-env tests notebooks

unit: setup ## the fast unit tests (about a minute: no notebooks, no book, no tests marked slow)
	$(TEST_ENV) SCRATCHFORMER_PROFILE=quick $(BIN)/python -m pytest -n $(JOBS) tests --ignore=tests/test_book.py -m "not slow"

lint: $(STAMP) ## ruff (lint and format) and mypy, as make test runs them (tests/test_lint.py)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

notebooks: setup ## only the notebooks under nbval (quick profile)
	$(TEST_ENV) SCRATCHFORMER_PROFILE=quick $(BIN)/python -m pytest -n $(JOBS) --dist loadfile \
	  --nbval-lax --nbval-current-env notebooks

# The chapters are committed with the full profile's outputs: what a reader sees on GitHub or
# opens in Colab is what the book shows (nbval's pinned cells are the same in both profiles).
FULL_OUTPUTS ?= $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

outputs: setup ## execute $(FULL_OUTPUTS) in the full profile and save their outputs in place
	for notebook in $(FULL_OUTPUTS); do
	  SCRATCHFORMER_PROFILE=full $(BIN)/jupyter execute --inplace $$notebook
	done

bench: setup ## benchmarks: print speed ratios against reference implementations
	for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script; done

clean: ## remove build output (keeps .venv and the data cache)
	rm -rf _build .pytest_cache .hypothesis
