# The course in two commands:  make lab   (open the notebooks)   make test   (prove they all run)
#
# Both create .venv on first use and install the course into it. Options:
#   make setup CPU=1          install torch from PyTorch's CPU-only wheel index (small download)
#   make execute PROFILE=laptop   re-run every notebook in place to refresh the kept outputs
#   make unit                 the fast loop: unit tests without the slow markers
#   make lint                 ruff on code and notebooks
#   make book                 the course site in site/ (kept outputs, builds offline)
#   make test-browser         every chapter run in JupyterLab in headless Chromium
#   make student OUT=DIR      a copy of the notebooks without solutions, for a class (FORCE=1:
#                             overwrite notebooks already in DIR; the course is never overwritten)
#   make release-check        site + wheel + every test: what a release must pass
#   LAB_ARGS="--no-browser --port 8899" make lab

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.course-installed
CPU ?= 0
PROFILE ?= laptop
LAB_ARGS ?=
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# Jupyter refuses to run as root unless told; containers (and CI) often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

OUT ?= student-notebooks

.PHONY: setup lab test unit notebooks lint execute doctor bench clean help book test-browser \
	student release-check rehearse-gpu

help:
	@echo "make lab                 open JupyterLab on notebooks/ (sets up .venv on first use)"
	@echo "make test                unit tests, notebook hygiene, lint, every notebook under nbval (smoke)"
	@echo "make setup [CPU=1]       only create .venv and install the course (CPU=1: CPU-only torch)"
	@echo "make execute PROFILE=laptop   re-run notebooks in place (refresh kept outputs)"
	@echo "make book                the course site in site/ (offline, from the kept outputs)"
	@echo "make test-browser        every chapter in JupyterLab, driven in headless Chromium"
	@echo "make student OUT=DIR [FORCE=1]  the notebooks without solutions (FORCE=1: overwrite DIR's)"
	@echo "make release-check       site, wheel and every test"
	@echo "make unit                the fast loop: unit tests without the slow markers"
	@echo "make rehearse-gpu        the Colab gpu path (fetch, prepare, train, score) against 127.0.0.1"
	@echo "make lint | make doctor | make bench | make gpu-check | make clean"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if [ "$(CPU)" = "1" ]; then \
		$(PY) -m pip install torch torchvision --index-url $(TORCH_CPU_INDEX); fi
	$(PY) -m pip install -e ".[dev]"
	@touch $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	$(PY) .ci/check_notebooks.py notebooks
	$(PY) .ci/notebook_links.py
	$(PY) .ci/timings.py
	$(PY) .ci/exercises.py
	$(PY) -m ruff check .
	$(PY) -m pytest tests -n 2 --dist loadfile -q
	CI=true COURSE_PROFILE=smoke $(PY) -m pytest -q -n 2 --dist loadscope -p no:cacheprovider \
		--nbval-lax --nbval-sanitize-with .ci/nbval_sanitize.cfg --nbval-cell-timeout=600 notebooks

# the maintainer's fast loop: every test but the slow kinds (marked in pyproject.toml)
UNIT_MARKERS := not slow and not subprocess and not torchrun and not jupyterlab and not browser
unit: $(STAMP)
	$(PY) -m pytest tests -n 2 --dist loadfile -q -m "$(UNIT_MARKERS)"

# the Colab gpu path rehearsed on the CPU against 127.0.0.1 (.ci/run runs it; under 90 s)
rehearse-gpu: $(STAMP)
	$(PY) -m pytest tests/test_rehearse_gpu.py -q -p no:cacheprovider -m rehearsal

notebooks: $(STAMP)
	CI=true COURSE_PROFILE=smoke $(PY) -m pytest -q -n 2 --dist loadscope -p no:cacheprovider \
		--nbval-lax --nbval-sanitize-with .ci/nbval_sanitize.cfg notebooks

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) .ci/check_notebooks.py notebooks

# Re-runs every notebook (or NB="notebooks/06_training_core.ipynb ...") under PROFILE, training
# the reference model afresh first, and records each one's wall time and peak memory in
# docs/timings.json, which .ci/timings.py spreads to the README, the headers and the guide.
# PRECISION=fp32 times them as a CPU without bf16 runs them, leaving their outputs as they are.
NB ?=
PRECISION ?= auto
execute: $(STAMP)
	$(PY) .ci/execute.py --profile $(PROFILE) --precision $(PRECISION) $(if $(NB),,--reference) $(NB)

doctor: $(STAMP)
	$(PY) -m course_lib doctor

bench: $(STAMP)
	$(PY) -m course_lib bench --save

# On a machine with a CUDA GPU (no network needed): the CUDA-only tests, the CUDA benchmarks and
# every chapter under the gpu profile on a generated Imagenette-format set; results in
# benchmarks/results/. A part: make gpu-check STEPS="imagenette chapters" CHAPTERS="06 08".
# Uses .venv when there is one, else $(PYTHON) as it is (a lent machine may have no network).
.PHONY: gpu-check
gpu-check:
	$(if $(wildcard $(PY)),$(PY),$(PYTHON)) .ci/gpu_check.py $(if $(STEPS),--steps $(STEPS)) \
		$(if $(CHAPTERS),--chapters $(CHAPTERS))

book: $(STAMP)
	$(PY) .ci/build_book.py

test-browser: $(STAMP)
	COURSE_BROWSER_NOTEBOOKS=all $(PY) -m pytest tests/test_browser.py -q -p no:cacheprovider

# OUT reaches the shell as an environment variable, so any folder name (spaces, quotes) works.
student: export STUDENT_OUT = $(OUT)
student: $(STAMP)
	$(PY) .ci/exercises.py --strip notebooks "$$STUDENT_OUT" $(if $(filter 1,$(FORCE)),--force)

release-check: $(STAMP)
	$(PY) .ci/build_book.py --quiet
	rm -rf dist && $(PY) -m pip wheel --no-deps --no-build-isolation -w dist . -q
	$(MAKE) test
	$(MAKE) test-browser

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site .book dist
