# podgroup-operator. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
CRD := crds/podgroup.dev_podgroups.yaml

.PHONY: help venv crds docs verify lint unit binaries cluster-up cluster-down e2e test run helm image deploy undeploy install-tests reliability kind-e2e

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## Create .venv with the pinned dependencies
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip==26.3
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

crds: venv ## Regenerate crds/ from the pydantic models (and the copies kustomize and Helm install)
	$(PY) -m podgroup_operator.api.crd --pod-openapi "$$(hack/pod-openapi.sh)" --output $(CRD)
	cp $(CRD) manifests/base/crds/
	cp $(CRD) charts/podgroup-operator/crds/

docs: venv ## Regenerate docs/api.md (from the pydantic models) and docs/metrics.md (from metrics.py)
	$(PY) hack/gen_docs.py

verify: venv ## Fail when crds/ or the generated docs drift from the code; lint, types, import layering
	$(PY) -m podgroup_operator.api.crd --pod-openapi "$$(hack/pod-openapi.sh)" | diff -u $(CRD) - \
	  || { echo "crds/ is stale: run 'make crds'"; exit 1; }
	$(PY) hack/gen_docs.py --check
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) hack/image/lock.py --check

unit: venv helm ## Unit tests: pure logic, no cluster
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

helm: ## Build the pinned helm into the cache (tests/unit/test_manifests.py uses it)
	hack/image/build-helm.sh

image: ## Build the operator image as an OCI tarball, no Docker (root; uses debootstrap)
	hack/image/build.sh

deploy: ## Build the image, load it into the real node, run the operator IN the local cluster
	hack/image/deploy.sh up

undeploy: ## Remove the in-cluster operator (the CRD and PodGroups stay)
	hack/image/deploy.sh down

install-tests: venv ## tests/install against the operator `make deploy` put in the local cluster
	PGO_E2E_EXTERNAL_OPERATOR=1 $(PY) -m pytest -q tests/install

reliability: venv ## The reliability suite, 20 trials a fault, on the running cluster (stops its etcd/API server!)
	hack/reliability.sh

kind-e2e: venv ## e2e + install tests against the operator in kind (user Docker + kind, else an offline engine and node image; root)
	hack/kind-e2e.sh

run: venv ## Run the operator in the foreground (local cluster unless KUBECONFIG is set)
	hack/run.sh
