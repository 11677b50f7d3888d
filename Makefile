# k8s-install: set-up, checks and tests. `make demo` and `make test` are the README's two commands.
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
# helm for the rendering tests: scripts/setup.sh installs the official binary here.
export K8S_INSTALL_HELM ?= $(BIN)/helm

.PHONY: setup demo lint test test-fast test-integration test-cluster test-upgrade bench clean-sandbox

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

lint: setup
	ruff check wrapper tests bench scripts molecule
	ruff format --check wrapper tests bench scripts molecule
	mypy
	cd scripts/artifacts && MYPYPATH=../../wrapper mypy --strict --explicit-package-bases *.py
	yamllint -s .
	ansible-lint -q
	lint-imports

test-fast: setup
	pytest -m "not integration and not cluster"

test-integration: setup
	pytest -m "integration and not cluster"

# A real cluster: builds the components from Go modules (cached), installs them, then runs
# the lifecycle chain on it (docs/testing-boundary.md).
test-cluster: setup
	pytest -m "cluster and not upgrade" tests/cluster

# An upgrade 1.34.4 -> 1.35.4 on a cluster of its own (builds the 1.34 set too). About 35
# minutes on a warm cache: CI's budget has no room for it next to test-cluster.
test-upgrade: setup
	pytest -m upgrade tests/cluster

test: lint test-fast test-integration test-cluster

bench: setup
	bash scripts/bench.sh

clean-sandbox: setup
	k8s-install sandbox down --all || true
