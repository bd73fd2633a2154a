# podgroup-operator. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
CRD := crds/podgroup.dev_podgroups.yaml

.PHONY: help venv crds verify lint unit binaries cluster-up cluster-down e2e test run

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## Create .venv with the pinned dependencies
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip==26.3
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

crds: venv ## Regenerate crds/ from the pydantic models
	$(PY) -m podgroup_operator.api.crd --pod-openapi "$$(hack/pod-openapi.sh)" --output $(CRD)

verify: venv ## Fail when crds/ drifts from the models; lint, types, import layering
	$(PY) -m podgroup_operator.api.crd --pod-openapi "$$(hack/pod-openapi.sh)" | diff -u $(CRD) - \
	  || { echo "crds/ is stale: run 'make crds'"; exit 1; }
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

unit: venv ## Unit tests: pure logic, no cluster
	$(PY) -m pytest -q tests/unit

binaries: ## Build the pinned Kubernetes binaries into the cache (once)
	hack/build-binaries.sh

cluster-up: ## Start the local cluster (control plane, kwok nodes, the real node)
	hack/cluster-up.sh

cluster-down: ## Stop the local cluster and remove everything it left
	hack/cluster-down.sh

e2e: venv ## e2e tests against the current cluster (KUBECONFIG, else .cluster/kubeconfig)
	$(PY) -m pytest -q tests/e2e

test: venv ## Unit + e2e on a local cluster this target starts and stops
	hack/test.sh

run: venv ## Run the operator in the foreground (local cluster unless KUBECONFIG is set)
	hack/run.sh
