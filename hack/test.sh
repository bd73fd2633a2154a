#!/usr/bin/env bash
# `make test`: `make verify`, unit tests, e2e tests on a local cluster started here, the operator
# installed IN that cluster as users install it (tests/install), the reliability suite at a few
# trials per fault (tests/reliability), a check that stopping the cluster left nothing behind, then
# the same e2e and install tests on a kind cluster at the oldest supported Kubernetes (kind stage).
# Each stage's time is printed as it ends and again, all together, at the end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_DIR"
start=$SECONDS
stage_start=$SECONDS
stages=()
stage() {  # stage NAME: record how long the stage that just ended took
  stages+=("$1 $((SECONDS - stage_start))s")
  log "stage $1 took $((SECONDS - stage_start))s (total $((SECONDS - start))s)"
  stage_start=$SECONDS
}
make -s verify
stage verify
# tests/unit/test_manifests.py renders the chart and the kustomize base: build helm and kubectl first.
hack/build-binaries.sh
hack/image/build-helm.sh
stage binaries
.venv/bin/python -m pytest -q tests/unit
stage unit
trap 'hack/cluster-down.sh' EXIT
hack/cluster-up.sh
stage cluster-up
rc=0
export KUBECONFIG=$CLUSTER_DIR/kubeconfig
.venv/bin/python -m pytest -q tests/e2e || rc=$?
((rc == 0)) || { log "e2e failed; the operator's log ends with:"; tail -n 60 "$LOG_DIR/operator-e2e.log" || true; }
stage e2e
# The install stage, after every other e2e test (their operator processes are gone): the image
# built (its debootstrap base cached after the first build), imported into real-0's containerd,
# manifests/local applied, tests/install run. Cluster-wide, as users install it.
if ((rc == 0)); then
  PGO_DEPLOY_NAMESPACES="" hack/image/install-test.sh || rc=$?
  stage install
fi
# The reliability suite, short: every fault at 3 trials (the long API server outage, ~2 min a
# trial, at 1); `hack/reliability.sh` alone runs 20 of each (docs/reliability.md). Last, because
# its control-plane faults stop and start this cluster's etcd and kube-apiserver.
if ((rc == 0)); then
  PGO_RELIABILITY_TRIALS=3 PGO_RELIABILITY_RESULTS=$LOG_DIR/reliability.json \
    hack/reliability.sh -k "not test_apiserver_down_longer" || rc=$?
  PGO_RELIABILITY_TRIALS=1 PGO_RELIABILITY_RESULTS=$LOG_DIR/reliability-apiserver.json \
    hack/reliability.sh tests/reliability/test_control_plane.py -k test_apiserver_down_longer || rc=$?
  stage reliability
fi
pids=$(mktemp)
cat "$PID_DIR"/*.pid > "$pids"
# Keep the logs (cluster-down removes the cluster folder).
rm -rf "$REPO_DIR/.test-logs" && cp -r "$LOG_DIR" "$REPO_DIR/.test-logs"
trap - EXIT
hack/cluster-down.sh
# The kind stage's own check (test_kind_left_nothing.py) runs inside that stage.
PGO_TEARDOWN_PIDS=$pids .venv/bin/python -m pytest -q tests/teardown/test_nothing_left.py || rc=$?
rm -f "$pids"
stage teardown
# The kind stage, on its own once the local cluster is gone: the e2e and install tests against
# the operator deployed in a kind cluster at $KIND_KUBE_VERSION (the oldest supported Kubernetes;
# the local cluster ran $KUBE_VERSION), then a check that it left nothing behind (hack/kind-e2e.sh).
if ((rc == 0)); then
  hack/kind-e2e.sh || rc=$?
  stage kind
fi
log "stages: ${stages[*]}"
log "make test took $((SECONDS - start))s"
exit $rc
