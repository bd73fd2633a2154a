#!/usr/bin/env bash
# `make kind-e2e`, stock path (hack/kind-e2e.sh picks it): the e2e tests against the operator
# deployed IN a kind cluster, on a machine with the user's own Docker engine, kind, and a
# registry to pull the stock node image and kwok/metrics-server from. (Machines without them
# take the offline path of hack/kind-e2e.sh.)
#
#   1. a kind cluster ($KIND_CLUSTER) from a pinned node image
#   2. kwok's controller in it (the gang tests make fake nodes, as the local harness does) and
#      metrics-server (metrics.k8s.io for resize)
#   3. docker build of the operator image, `kind load docker-image` into the nodes
#   4. kubectl apply --server-side -k manifests/ (the base, as users install it), rollout
#   5. pytest tests/e2e with PGO_E2E_EXTERNAL_OPERATOR=1 (the fixtures then start no operator
#      process of their own, and the tests that start, stop or kill a local operator process are
#      deselected, with a line saying so); the tests that need a node with real containers
#      skip saying so unless one node is labelled podgroup.dev/node-kind=real (and tainted
#      podgroup.dev/real-node:NoSchedule), as the offline path labels its kind node
#   6. pytest tests/install against the same in-cluster operator
#   7. the cluster is deleted again unless KEEP_CLUSTER=1
#
# Needs: docker, kind (a release that lists a Kubernetes 1.35 node image), Python 3.11+ with
# the dev dependencies (make venv). kubectl: $KUBECTL, else the pinned one from the cache, else PATH.
# Environment:
#   KIND_CLUSTER (podgroup-e2e), KIND_NODE_IMAGE (kindest/node:v1.35.0; pin it by digest from
#   the kind release notes), KEEP_CLUSTER=1, E2E_ARGS (extra pytest arguments, e.g. -k gang),
#   IMAGE (registry.local/podgroup-operator:<version>)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
source "$here/../lib.sh"
cd "$REPO_DIR"

KIND_CLUSTER=${KIND_CLUSTER:-podgroup-e2e}
KIND_NODE_IMAGE=${KIND_NODE_IMAGE:-kindest/node:v1.35.0}
KEEP_CLUSTER=${KEEP_CLUSTER:-0}
version=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
IMAGE=${IMAGE:-registry.local/podgroup-operator:$version}
KUBECTL=${KUBECTL:-$(bin kubectl "$KUBE_VERSION")}
[[ -x $KUBECTL ]] || KUBECTL=$(command -v kubectl) || die "kubectl not found"
PYTHON=${PYTHON:-$REPO_DIR/.venv/bin/python}
NS=podgroup-system

for tool in docker kind; do
  command -v "$tool" >/dev/null || die "$tool not found: the stock path needs Docker and kind"
done
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed)"
[[ -x $PYTHON ]] || die "no $PYTHON: run make venv"

export KUBECONFIG=$REPO_DIR/.kind/kubeconfig
mkdir -p "$(dirname "$KUBECONFIG")"
k() { "$KUBECTL" "$@"; }

cleanup() {
  local rc=$?
  if ((rc != 0)); then
    log "failed; operator logs:"
    k -n "$NS" logs deploy/podgroup-operator --tail=100 >&2 2>/dev/null || true
  fi
  if [[ $KEEP_CLUSTER == 1 ]]; then
    log "keeping kind cluster $KIND_CLUSTER (KUBECONFIG=$KUBECONFIG); delete it with: kind delete cluster --name $KIND_CLUSTER"
  else
    kind delete cluster --name "$KIND_CLUSTER" >&2 || true
  fi
  exit "$rc"
}
trap cleanup EXIT

# 1. The cluster (reused when it already exists, e.g. after KEEP_CLUSTER=1).
if ! kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
  log "creating kind cluster $KIND_CLUSTER ($KIND_NODE_IMAGE)"
  kind create cluster --name "$KIND_CLUSTER" --image "$KIND_NODE_IMAGE" --kubeconfig "$KUBECONFIG" --wait 120s
else
  kind get kubeconfig --name "$KIND_CLUSTER" > "$KUBECONFIG"
fi

# 2. kwok's controller (manages the Node objects the tests create with the
#    kwok.x-k8s.io/node=fake annotation) and metrics-server.
k apply --server-side -f "https://github.com/kubernetes-sigs/kwok/releases/download/$KWOK_VERSION/kwok.yaml"
k apply --server-side -f "https://github.com/kubernetes-sigs/kwok/releases/download/$KWOK_VERSION/stage-fast.yaml"
k apply --server-side -f "https://github.com/kubernetes-sigs/metrics-server/releases/download/$METRICS_SERVER_VERSION/components.yaml"
# kind's kubelets serve self-signed certificates.
k -n kube-system patch deployment metrics-server --type=json \
  -p '[{"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": "--kubelet-insecure-tls"}]' >/dev/null || true
k -n kube-system rollout status deployment/kwok-controller --timeout=180s

# 3. The image, built by Docker from the repository's Dockerfile, loaded into every node.
log "building $IMAGE"
docker build -t "$IMAGE" "$REPO_DIR"
kind load docker-image "$IMAGE" --name "$KIND_CLUSTER"

# 4. The operator as users install it (the base: imagePullPolicy IfNotPresent finds the loaded
#    image). The e2e fixtures expect short gang backoffs, as they give their own process.
k apply --server-side --force-conflicts -k manifests/
k -n "$NS" set env deploy/podgroup-operator PGO_GANG_BACKOFF_BASE_SECONDS=2 PGO_GANG_BACKOFF_MAX_SECONDS=10
[[ $IMAGE == "registry.local/podgroup-operator:$version" ]] \
  || k -n "$NS" set image deploy/podgroup-operator "operator=$IMAGE"
k -n "$NS" rollout status deploy/podgroup-operator --timeout=180s
k get --raw "/api/v1/namespaces/$NS/services/http:podgroup-operator-metrics:8080/proxy/metrics" | grep -q '^podgroup_' \
  || die "the operator's /metrics shows no podgroup_* series"

# 5. The e2e tests, against the in-cluster operator.
log "running tests/e2e against the operator in kind"
read -ra args <<< "${E2E_ARGS:-}"
PGO_E2E_EXTERNAL_OPERATOR=1 "$PYTHON" -m pytest -q tests/e2e "${args[@]}"
log "running tests/install against the operator in kind"
PGO_E2E_EXTERNAL_OPERATOR=1 "$PYTHON" -m pytest -q tests/install
