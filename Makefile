# Two commands for a newcomer: `make lab` opens the course, `make test` checks it.
# Both create .venv on first use (Python 3.10+ is all a fresh machine needs).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The course's matrices are small (at most a few hundred rows): one BLAS thread is
# as fast, deterministic across machines, and doesn't fight the Jupyter server and
# browser for the 2 cores during the tests.
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.DEFAULT_GOAL := help
.PHONY: help lab test test-unit test-notebooks test-browser lint format clean-notebooks \
        check-clean bench bench-browser bench-notebooks reproduce-figure1 clean \
        site test-site colab-cells

help:
	@echo "make lab            open JupyterLab on notebooks/ (creates .venv on first use)"
	@echo "make test           lint + unit tests + every notebook (nbval) + browser tests"
	@echo "make site           a reading copy of the series in build/site/ (open index.html)"
	@echo "make bench          time Batch Norm and training steps (prints a table)"
	@echo "make bench-browser  slider-to-figure latency in a real browser"
	@echo "make bench-notebooks  each notebook's time, CPU and memory from a fresh kernel"
	@echo "make format         format code and notebooks with ruff"
	@echo "make clean-notebooks  strip outputs from notebooks/ before committing"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed; set PYTHON=python3.x")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[lab,test,site]'
	@touch $(STAMP)

# As root (a container, a cloud VM's default user) Jupyter refuses to start
# without --allow-root: pass it, and say so. Still 127.0.0.1 only, with a token.
lab: $(STAMP)
	@if [ "$$(id -u)" = 0 ]; then \
	  echo "make lab: running as root, so Jupyter gets --allow-root (still on 127.0.0.1 only, with its token)"; \
	  set -- --allow-root; \
	fi; \
	echo "$(BIN)/jupyter lab --ip=127.0.0.1 --notebook-dir=notebooks $$*"; \
	exec $(BIN)/jupyter lab --ip=127.0.0.1 --notebook-dir=notebooks "$$@"

lint: $(STAMP)
	$(BIN)/ruff check bnutils tests scripts notebooks
	$(BIN)/ruff format --check bnutils tests scripts notebooks

format: $(STAMP)
	$(BIN)/ruff check --fix bnutils tests scripts notebooks
	$(BIN)/ruff format bnutils tests scripts notebooks

check-clean: $(STAMP)
	$(BIN)/python scripts/clean_notebooks.py --check

# The Colab set-up cell of every notebook, from pyproject.toml's [project.urls]
# Repository, and Colab forms for the collapsed (source_hidden) cells
# (idempotent: run it again after editing notebooks or the address).
colab-cells: $(STAMP)
	$(BIN)/python scripts/sync_colab_cell.py

clean-notebooks: $(STAMP)
	$(BIN)/python scripts/clean_notebooks.py

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests --ignore=tests/browser

test-notebooks: $(STAMP)
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then \
	  $(BIN)/python -m pytest --nbval-lax --nbval-current-env -p no:randomly notebooks; \
	else echo "no notebooks yet"; fi

test-browser: $(STAMP)
	@if [ -d tests/browser ]; then $(BIN)/python -m pytest tests/browser --durations=10; fi

test: lint check-clean test-unit test-notebooks test-browser

# The reading copy: every notebook executed from a fresh kernel, with static twins
# of the slider panels, as pages that work from file:// (scripts/build_site.py).
site: $(STAMP)
	$(BIN)/python scripts/build_site.py --out build/site

# The browser test of the reading copy against the full build/site (make test
# runs the same test on a reduced site it builds itself).
test-site: site
	BNUTILS_SITE=build/site $(BIN)/python -m pytest tests/browser/test_site.py

bench: $(STAMP)
	$(BIN)/python scripts/bench.py

bench-browser: $(STAMP)
	$(BIN)/python scripts/bench_browser.py

bench-notebooks: $(STAMP)
	$(BIN)/python scripts/bench_notebooks.py

reproduce-figure1: $(STAMP)
	$(BIN)/python scripts/reproduce_figure1.py

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
