#!/usr/bin/env bash
# The install stage of `make test` (hack/test.sh runs it after every other e2e test): the
# operator built as an image, deployed IN the local cluster (hack/image/deploy.sh up),
# tests/install run against it, its log shown on failure, and removed again (deploy.sh down).
# Cluster-wide, as users install it, unless PGO_DEPLOY_NAMESPACES scopes it (deploy.sh);
# hack/test.sh clears that. Prints how long the stage took. KUBECONFIG: the local cluster's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
source "$here/../lib.sh"
cd "$REPO_DIR"
export KUBECONFIG=${KUBECONFIG:-$CLUSTER_DIR/kubeconfig}
start=$SECONDS
rc=0
if "$here/deploy.sh" up; then
  log "deployed in $((SECONDS - start))s"
  PGO_E2E_EXTERNAL_OPERATOR=1 .venv/bin/python -m pytest -q tests/install || rc=$?
else
  rc=1
fi
if ((rc != 0)); then
  log "install stage failed; the deployed operator's log ends with:"
  "$(bin kubectl "$KUBE_VERSION")" -n podgroup-system logs -l app.kubernetes.io/name=podgroup-operator \
    --prefix --tail=60 || true
fi
t=$SECONDS
"$here/deploy.sh" down || rc=1
log "undeployed in $((SECONDS - t))s; install stage (${PGO_DEPLOY_NAMESPACES:-cluster-wide}) took $((SECONDS - start))s"
exit $rc
