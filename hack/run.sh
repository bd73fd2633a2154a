#!/usr/bin/env bash
# `make run`: without a KUBECONFIG, bring up the local cluster; install the CRD, apply an
# example and run the operator in the foreground.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_DIR"
if [[ -z ${KUBECONFIG:-} ]]; then
  hack/cluster-up.sh
  export KUBECONFIG=$CLUSTER_DIR/kubeconfig
  kubectl=$(bin kubectl "$KUBE_VERSION")
else
  kubectl=$(command -v kubectl || bin kubectl "$KUBE_VERSION")
fi
"$kubectl" apply --server-side -f crds/
"$kubectl" wait --for=condition=Established crd/podgroups.podgroup.dev --timeout=60s
"$kubectl" apply -f examples/simple.yaml
log "watch it with: KUBECONFIG=$KUBECONFIG $kubectl get podgroups,pods -o wide"
exec .venv/bin/podgroup-operator run
