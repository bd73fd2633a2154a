#!/usr/bin/env bash
# `make test`: unit tests, e2e tests on a local cluster started here, then a check that
# stopping the cluster left nothing behind.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_DIR"
start=$SECONDS
# tests/unit/test_manifests.py renders the chart and the kustomize base: build helm and kubectl first.
hack/build-binaries.sh
hack/image/build-helm.sh
.venv/bin/python -m pytest -q tests/unit
trap 'hack/cluster-down.sh' EXIT
hack/cluster-up.sh
log "cluster up after $((SECONDS - start))s"
rc=0
KUBECONFIG=$CLUSTER_DIR/kubeconfig .venv/bin/python -m pytest -q tests/e2e || rc=$?
pids=$(mktemp)
cat "$PID_DIR"/*.pid > "$pids"
# Keep the logs (cluster-down removes the cluster folder); show the operator's on failure.
rm -rf "$REPO_DIR/.test-logs" && cp -r "$LOG_DIR" "$REPO_DIR/.test-logs"
((rc == 0)) || { log "e2e failed; the operator's log ends with:"; tail -n 60 "$LOG_DIR/operator-e2e.log" || true; }
trap - EXIT
hack/cluster-down.sh
PGO_TEARDOWN_PIDS=$pids .venv/bin/python -m pytest -q tests/teardown || rc=$?
rm -f "$pids"
log "make test took $((SECONDS - start))s"
exit $rc
