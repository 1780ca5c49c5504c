# kvmlab: two commands for a new user.
#   make lab    set up everything, then open JupyterLab on your own copy of the labs
#   make test   set up everything, then run the whole test suite
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
JUPYTER_ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: setup lab test unit lint bench clean-labs

setup:
	@scripts/setup.sh

# Your own copy of the practice edition (EDITION=guided or exam for the others), in kvmlab's data
# directory: your edits never land in the repository's labs/.
EDITION ?= practice
lab: setup
	@out=$$($(BIN)/kvmlab notebooks build --edition $(EDITION)) && \
	$(BIN)/jupyter lab --no-browser --ip=127.0.0.1 $(JUPYTER_ROOT_FLAG) \
		--ServerApp.root_dir="$$out" --LabApp.default_url=/lab/tree/00-welcome.ipynb

# Two workers, one per core. Three fill the ~30 % the cores sit idle while tests wait on guests and
# finish in ~14 min instead of ~17, but each such run so far met one timing race (README, Tests):
# WORKERS=3 to try it. The durations of every test go to build/test-durations.txt, and when each
# test began, got the host lock and ended to build/test-timeline.txt.
WORKERS ?= 2
test: setup lint
	@mkdir -p build
	rm -f build/test-timeline.txt; set -o pipefail; KVMLAB_TEST_TIMELINE=$(CURDIR)/build/test-timeline.txt \
		$(BIN)/pytest -n $(WORKERS) --dist loadgroup --durations=50 2>&1 | tee build/test-durations.txt

unit:
	$(BIN)/pytest tests/unit -q

lint:
	$(BIN)/ruff check kvmlab graders tests bench conftest.py
	$(BIN)/ruff format --check kvmlab graders tests bench conftest.py
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/all.py
