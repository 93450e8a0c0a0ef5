# ltutorial: a fresh machine with only python3 needs two commands.
#
#   make tutorial   set up .venv, then execute every notebook headless with papermill
#                   (profile cpu, or full when CUDA is present); executed copies in build/executed/
#   make test       set up .venv, then the whole test suite: unit tests + a papermill smoke run
#                   of every notebook (executed copies in build/executed/smoke/)
#
# Other targets: setup, unit, smoke, browser, book, student, lab, data, dry-full, clean. Variables: PROFILE, ONLY, WORKERS, PYTEST_ARGS,
# TORCH, PIP_TORCH_ARGS, LTUTORIAL_DATA (see README.md).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ltutorial-setup-done
PIP := $(PY) -m pip --disable-pip-version-check

# torch: this machine kind keeps the wheels of torch 2.14.1 / torchvision 0.29.1 (x86_64) or
# 2.9.1 / 0.24.1 (aarch64) on disk, capped by /etc/xdg/pip; pin them there so pip takes the local
# files. Elsewhere pip picks the newest release that pyproject.toml allows. For a CPU-only
# build: make setup PIP_TORCH_ARGS="--index-url https://download.pytorch.org/whl/cpu"
ifneq ($(wildcard /etc/xdg/pip/constraints.txt),)
  ifeq ($(shell uname -m),aarch64)
    TORCH ?= torch==2.9.1 torchvision==0.24.1
  else
    TORCH ?= torch==2.14.1 torchvision==0.29.1
  endif
else
  TORCH ?= torch>=2.2 torchvision>=0.17
endif
PIP_TORCH_ARGS ?=

# Data: when LTUTORIAL_DATA is not set, use ./data if it holds CIFAR-10 (`make data` puts it
# there), else a copy beside the checkout (../shared/data/cifar10, as in CI). The notebooks run
# in notebooks/, so the folder is passed as an absolute path. Without any copy the notebooks say
# so and fall back to digits-LT.
ifeq ($(origin LTUTORIAL_DATA),undefined)
  ifneq ($(wildcard data/cifar10 data/cifar-10-batches-py data/cifar10.ltpack),)
    export LTUTORIAL_DATA := $(CURDIR)/data
  else ifneq ($(wildcard ../shared/data/cifar10),)
    export LTUTORIAL_DATA := $(abspath ../shared/data)
  endif
endif

PROFILE ?= auto
ONLY ?=
OUT ?= build/executed
# Two pytest workers with one thread each use 2 cores better than one worker with two threads:
# the smoke notebooks train tiny models whose ops are too small to split across threads.
WORKERS ?= 2
THREADS ?= 1
PYTEST_ARGS ?=

.PHONY: help setup tutorial test unit smoke lab data dry-full clean book browser

help:
	@echo "make tutorial   set up .venv and run every notebook headless (build/executed/)"
	@echo "make test       set up .venv and run the whole test suite (unit + notebook smoke runs)"
	@echo "make book       the notebooks executed by make tutorial as an HTML book (build/book/html/)"
	@echo "make setup | unit | smoke | browser | student | lab | data | dry-full | clean"

setup: $(STAMP)

# Re-runs only when pyproject.toml changes (or the venv is new): `make setup` is idempotent.
$(STAMP): pyproject.toml
	@test -x $(PY) || { echo "creating $(VENV) with $$($(PYTHON) --version)"; $(PYTHON) -m venv $(VENV); }
	$(PIP) install --progress-bar off $(PIP_TORCH_ARGS) $(TORCH)
	$(PIP) install --progress-bar off -e ".[notebooks,test,workshop,docs,browser]"
	@# papermill and JupyterLab ask for the kernel named python3: make it this venv's interpreter.
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ltutorial)" >/dev/null
	@$(PY) -c "import torch, ltutorial; print(f'ltutorial {ltutorial.__version__}, torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}')"
	@touch $@

tutorial: setup
	$(PY) -m ltutorial.notebooks --profile $(PROFILE) --out $(OUT) $(if $(ONLY),--only $(ONLY))

# Two passes: the browser tests (the book, JupyterLab) read the smoke-executed copies that the
# first pass writes, so they run after it; each browser test file goes to one worker.
# (pytest exits 5 when a PYTEST_ARGS selection holds no browser test: not a failure.)
test: setup
	OMP_NUM_THREADS=$(THREADS) MKL_NUM_THREADS=$(THREADS) $(PY) -m pytest -n $(WORKERS) --durations=15 -m "not browser" $(PYTEST_ARGS)
	OMP_NUM_THREADS=$(THREADS) MKL_NUM_THREADS=$(THREADS) $(PY) -m pytest -n $(WORKERS) --dist loadfile --durations=5 -m browser $(PYTEST_ARGS) || [ $$? -eq 5 ]

unit: setup
	OMP_NUM_THREADS=$(THREADS) MKL_NUM_THREADS=$(THREADS) $(PY) -m pytest -n $(WORKERS) -m "not notebooks and not browser" $(PYTEST_ARGS)

smoke: setup
	OMP_NUM_THREADS=$(THREADS) MKL_NUM_THREADS=$(THREADS) $(PY) -m pytest -n $(WORKERS) -m notebooks --durations=0 $(PYTEST_ARGS)

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

# Issue 14: the book and the browser tests.
# make book: a static HTML site of the notebooks as `make tutorial` executed them (BOOK_FROM,
# default build/executed/), built with Sphinx + MyST-NB without running a cell; open
# build/book/html/index.html. make browser: only the browser tests (headless Chromium).
BOOK_FROM ?= $(OUT)
BOOK_OUT ?= build/book
book: setup
	$(PY) docs/book/build_book.py --executed $(BOOK_FROM) --out $(BOOK_OUT)

browser: setup
	OMP_NUM_THREADS=$(THREADS) MKL_NUM_THREADS=$(THREADS) $(PY) -m pytest -n $(WORKERS) --dist loadfile -m browser $(PYTEST_ARGS)

# The full (GPU) profile of each notebook on the CPU at tiny sizes: every cell of the GPU code path
# runs, slide-claim asserts only print (ci/dry_run_full.py). About 45 min for all twelve on 2 cores.
dry-full: setup
	$(PY) ci/dry_run_full.py $(ONLY)

# CIFAR-10's official files through torchvision into ./data (about 170 MB, once).
data: setup
	$(PY) -c "import ltutorial as lt; lt.data.load_dataset('cifar10-lt', root='data', download=True, verbose=True)"

# issue 14: workshop hand-outs, $(WORKSHOP_OUT)/student/ (solutions replaced by stubs, outputs cleared)
# and $(WORKSHOP_OUT)/instructor/ (with solutions), via nbgrader's preprocessors (the workshop extra).
WORKSHOP_OUT ?= build/workshop
.PHONY: student
student: setup
	$(PY) -m ltutorial student --out $(WORKSHOP_OUT) $(if $(ONLY),--only $(ONLY))

clean:
	rm -rf build .pytest_cache
