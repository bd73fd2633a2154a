#!/usr/bin/env bash
# The reliability suite (tests/reliability) against a running local cluster: faults injected,
# repeated, invariants checked from cluster state; prints the figures at the end.
#
#   hack/reliability.sh [pytest args...]      e.g. -k "gang or etcd", or test files to run only those
#
# Settings (environment):
#   KUBECONFIG / CLUSTER_DIR   the cluster (default: .cluster of this repo). The control-plane
#                              faults stop and start that cluster's kube-apiserver and etcd through
#                              hack/lib.sh, by the PIDs in CLUSTER_DIR/pids: point this at a
#                              cluster nobody else is using.
#   PGO_RELIABILITY_TRIALS     trials per fault (20)
#   PGO_RELIABILITY_APISERVER_DOWN_SECONDS  outage length (default: the operator's error backoff
#                              window + 10 s, i.e. 138 s)
#   PGO_RELIABILITY_ETCD_PAUSE_SECONDS (30), PGO_RELIABILITY_429_BURST_SECONDS (10)
#   PGO_RELIABILITY_RESULTS    where the trials are written as JSON (CLUSTER_DIR/logs/reliability.json)
set -euo pipefail
# A KUBECONFIG given alone names its cluster's folder (cluster-up.sh writes it there).
[[ -z ${CLUSTER_DIR:-} && -n ${KUBECONFIG:-} ]] && CLUSTER_DIR=$(cd "$(dirname "$KUBECONFIG")" && pwd)
source "$(dirname "$0")/lib.sh"
cd "$REPO_DIR"
export KUBECONFIG=${KUBECONFIG:-$CLUSTER_DIR/kubeconfig}
[[ -f $KUBECONFIG ]] || die "no cluster at $KUBECONFIG (start one with hack/cluster-up.sh)"
start=$SECONDS
rc=0
args=("$@")
[[ " $* " == *" tests/"* ]] || args=(tests/reliability "${args[@]}")  # no files given: the whole suite
.venv/bin/python -m pytest -q -p no:cacheprovider "${args[@]}" || rc=$?
log "reliability suite took $((SECONDS - start))s (PGO_RELIABILITY_TRIALS=${PGO_RELIABILITY_TRIALS:-20})"
exit $rc
