#!/usr/bin/env bash
# The operator deployed IN the local test cluster, on its real node real-0:
#   hack/image/deploy.sh up     build the image (hack/image/build.sh), import it into real-0's
#                               containerd (hack/image/load.sh), apply manifests/local, wait
#                               until the pod is Ready and /metrics answers
#   hack/image/deploy.sh down   delete what `up` applied, except the CRD (deleting it would
#                               delete every PodGroup and, through them, their pods)
# `make deploy` / `make undeploy`. KUBECONFIG defaults to the local cluster's (.cluster/kubeconfig).
# PGO_DEPLOY_NAMESPACES="pgo-install-*": watch only namespaces matching these Kopf patterns
# (space-separated) instead of the whole cluster, so a developer's in-cluster operator leaves
# other people's test namespaces alone on a shared cluster. Kopf resolves globs by watching
# namespaces, so that mode adds a ClusterRole to read them; the cluster-wide install (the
# default, as users install it) needs no such right.
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
SCOPED=${PGO_DEPLOY_NAMESPACES:-}

# The kustomization to apply: manifests/local, or a generated overlay of it that adds
# --namespace arguments and the namespaces-read ClusterRole.
kustomization() {
  [[ -n $SCOPED ]] || { echo "$REPO_DIR/manifests/local"; return; }
  local dir=$CLUSTER_DIR/deploy-scoped pattern
  mkdir -p "$dir"
  {
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "resources:"
    # kustomize accepts only relative paths to a base.
    echo "- $(realpath --relative-to="$dir" "$REPO_DIR/manifests/local")"
    echo "- namespaces-read.yaml"
    echo "patches:"
    echo "- target: {kind: Deployment, name: podgroup-operator}"
    echo "  patch: |-"
    for pattern in $SCOPED; do
      echo "    - {op: add, path: /spec/template/spec/containers/0/args/-, value: '--namespace=$pattern'}"
    done
  } > "$dir/kustomization.yaml"
  cat > "$dir/namespaces-read.yaml" <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: podgroup-operator-namespaces
  labels: {app.kubernetes.io/name: podgroup-operator}
rules:
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: podgroup-operator-namespaces
  labels: {app.kubernetes.io/name: podgroup-operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: podgroup-operator-namespaces}
subjects:
- {kind: ServiceAccount, name: podgroup-operator, namespace: podgroup-system}
YAML
  echo "$dir"
}

up() {
  "$here/load.sh" "$("$here/build.sh")"
  local existed=0
  k -n "$NS" get deploy/podgroup-operator >/dev/null 2>&1 && existed=1
  # --force-conflicts: the CRD may have been applied before by another field manager (the e2e
  # fixtures, hack/run.sh); the operator's install owns it from now on.
  k apply --server-side --force-conflicts --field-manager=podgroup-deploy -k "$(kustomization)" >&2
  k wait --for=condition=Established crd/podgroups.podgroup.dev --timeout=60s >/dev/null
  # A rebuilt image under the same tag is not picked up by a running pod by itself.
  ((existed)) && k -n "$NS" rollout restart deploy/podgroup-operator >/dev/null
  k -n "$NS" rollout status deploy/podgroup-operator --timeout=180s >&2 \
    || { k -n "$NS" describe pod -l app.kubernetes.io/name=podgroup-operator | tail -20 >&2; die "the operator did not become Ready"; }
  # Every replica serves /metrics from its start (a follower's counters stay at zero); the
  # Service answers once one replica is ready. Up to 90 s.
  local metrics="" deadline=$((SECONDS + 90))
  while ((SECONDS < deadline)); do
    metrics=$(k get --raw "/api/v1/namespaces/$NS/services/http:podgroup-operator-metrics:8080/proxy/metrics" 2>/dev/null) && break
    sleep 1
  done
  [[ -n $metrics ]] || die "the operator's /metrics does not answer through its Service"
  log "operator Ready in $NS, watching ${SCOPED:-the whole cluster}; /metrics serves $(grep -c '^podgroup_' <<< "$metrics") podgroup_* samples"
}

down() {
  # The Deployment first, while its RBAC still exists: an operator stripped of its rights
  # mid-shutdown retries until its grace period runs out (30 s) instead of exiting in seconds.
  # Scaled to zero rather than deleted: the ReplicaSet controller stops the pods at once, where
  # the garbage collector's cascade takes its time.
  if k -n "$NS" get deploy/podgroup-operator >/dev/null 2>&1; then
    k -n "$NS" scale deploy/podgroup-operator --replicas=0 >&2
    k -n "$NS" wait --for=delete pod -l app.kubernetes.io/name=podgroup-operator --timeout=60s >&2 || true
  fi
  k delete -k "$(kustomization)" -l 'app.kubernetes.io/component!=crd' --ignore-not-found --wait=true >&2
  # A scoped deploy's extra role, whichever way this one was called.
  k delete clusterrolebinding,clusterrole podgroup-operator-namespaces --ignore-not-found >&2
  log "operator removed (the CRD and PodGroups stay; delete them with: kubectl delete crd podgroups.podgroup.dev)"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
