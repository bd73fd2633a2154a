#!/usr/bin/env bash
# `make test`: unit tests, then e2e tests on a local cluster started here and stopped on exit.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_DIR"
start=$SECONDS
.venv/bin/python -m pytest -q tests/unit
trap 'hack/cluster-down.sh' EXIT
hack/cluster-up.sh
log "cluster up after $((SECONDS - start))s"
KUBECONFIG=$CLUSTER_DIR/kubeconfig .venv/bin/python -m pytest -q tests/e2e
log "make test took $((SECONDS - start))s"
