# The two commands of the README. Each sets itself up on a fresh machine:
# a virtualenv in .venv with the project and its test extra, and redis-server from Debian.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test test-all bench-smoke demo setup lint crds clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	bash scripts/bootstrap.sh
	touch $@

# Default suite: unit + integration, minutes on 2 cores.
test: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# Everything, slow tiers included (what CI runs), and a smoke run of the gateway benchmark. The
# Kubernetes contract suite runs on the emulator and on a real control plane (kube-apiserver,
# controller-manager, scheduler, etcd), built once into ~/.cache/xtrinode by
# scripts/fetch-kubernetes.sh (~10-13 minutes the first time, then cached).
test-all: setup lint
	kube_bin="$$(bash scripts/fetch-kubernetes.sh)" && \
	  XTRINODE_KUBE_BIN="$$kube_bin" $(BIN)/python -m pytest --kube=both $(PYTEST_ARGS)
	$(MAKE) --no-print-directory bench-smoke

# The gateway benchmark, short and never judged (bench/gateway.py without --smoke judges on a quiet machine).
bench-smoke: setup
	bash scripts/install-nginx.sh >/dev/null || echo "bench-smoke: no nginx; the benchmark runs without its baseline" >&2
	$(BIN)/python bench/gateway.py --smoke

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
