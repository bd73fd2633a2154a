#!/usr/bin/env bash
# The operator deployed IN the local test cluster, on its real node real-0:
#   hack/image/deploy.sh up     build the image (hack/image/build.sh), import it into real-0's
#                               containerd (hack/image/load.sh), apply manifests/local, wait
#                               until the pod is Ready and /metrics answers
#   hack/image/deploy.sh down   delete what `up` applied, except the CRD (deleting it would
#                               delete every PodGroup and, through them, their pods)
# `make deploy` / `make undeploy`. KUBECONFIG defaults to the local cluster's (.cluster/kubeconfig).
# Do not run an operator outside the cluster at the same time (`make run`, or `make e2e` without
# PGO_E2E_EXTERNAL_OPERATOR=1): two operators would fight over the same PodGroups.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
source "$here/../lib.sh"
export KUBECONFIG=${KUBECONFIG:-$CLUSTER_DIR/kubeconfig}
KUBECTL=${KUBECTL:-$(bin kubectl "$KUBE_VERSION")}
[[ -x $KUBECTL ]] || KUBECTL=$(command -v kubectl) || die "no kubectl: run make binaries"
k() { "$KUBECTL" --request-timeout=30s "$@"; }
NS=podgroup-system

up() {
  "$here/load.sh" "$("$here/build.sh")"
  local existed=0
  k -n "$NS" get deploy/podgroup-operator >/dev/null 2>&1 && existed=1
  # --force-conflicts: the CRD may have been applied before by another field manager (the e2e
  # fixtures, hack/run.sh); the operator's install owns it from now on.
  k apply --server-side --force-conflicts --field-manager=podgroup-deploy -k "$REPO_DIR/manifests/local" >&2
  k wait --for=condition=Established crd/podgroups.podgroup.dev --timeout=60s >/dev/null
  # A rebuilt image under the same tag is not picked up by a running pod by itself.
  ((existed)) && k -n "$NS" rollout restart deploy/podgroup-operator >/dev/null
  k -n "$NS" rollout status deploy/podgroup-operator --timeout=180s >&2 \
    || { k -n "$NS" describe pod -l app.kubernetes.io/name=podgroup-operator | tail -20 >&2; die "the operator did not become Ready"; }
  local metrics
  metrics=$(k get --raw "/api/v1/namespaces/$NS/services/http:podgroup-operator-metrics:8080/proxy/metrics") \
    || die "the operator's /metrics does not answer through its Service"
  log "operator Ready in $NS; /metrics serves $(grep -c '^podgroup_' <<< "$metrics") podgroup_* samples"
}

down() {
  k delete -k "$REPO_DIR/manifests/local" -l 'app.kubernetes.io/component!=crd' --ignore-not-found --wait=true >&2
  log "operator removed (the CRD and PodGroups stay; delete them with: kubectl delete crd podgroups.podgroup.dev)"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
