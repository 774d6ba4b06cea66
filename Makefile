# The two commands of the README. Each sets itself up on a fresh machine:
# a virtualenv in .venv with the project and its test extra, and redis-server from Debian.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test test-all demo setup lint crds clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	bash scripts/bootstrap.sh
	touch $@

# Default suite: unit + integration, minutes on 2 cores.
test: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# Everything, slow tiers included (what CI runs).
test-all: setup lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m xtrinode.crd --check

demo: setup
	bash scripts/demo.sh

crds: setup
	$(BIN)/python -m xtrinode.crd --write

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .hypothesis
