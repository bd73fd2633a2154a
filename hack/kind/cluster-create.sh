#!/usr/bin/env bash
# `kind create cluster` on the engine of hack/kind/engine-up.sh with the node image of
# hack/kind/node-image.sh (argument 1), and what this machine needs from kubeadm:
#   failCgroupV1: false          the kubelet exits on cgroup v1 otherwise
#   protectKernelDefaults: true  the kubelet reads, never writes, the non-namespaced kernel keys
#                                (node-entrypoint.sh hides the differing ones inside the node)
#   etcd / CoreDNS images        the ones built here (registry.local), pre-imported in the node
#   scheduler leader-elect=false as the local harness runs it: tests/e2e/test_gang.py pauses the
#                                scheduler (SIGSTOP); with a lease it would lose it and restart
# Writes $KIND_STATE/kubeconfig (the API server on 127.0.0.1 of the engine's network namespace).
# Reuses a cluster of that name when it exists (KEEP_CLUSTER=1 of an earlier run).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
PATH=$(engine_path)
NODE_IMAGE=${1:?usage: cluster-create.sh NODE_IMAGE}
KUBECONFIG_OUT=$KIND_STATE/kubeconfig
KIND=$(bin kind "$KIND_VERSION")
if [[ ! -x $KIND ]]; then  # a new machine: built once from the Go module proxy
  log "building kind $KIND_VERSION (log: $KIND_LOGS/build.log)"
  "$REPO_DIR/hack/build-binaries.sh" kind >> "$KIND_LOGS/build.log" 2>&1 || die "building kind failed (log: $KIND_LOGS/build.log)"
fi

if "$KIND" get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
  "$KIND" get kubeconfig --name "$KIND_CLUSTER" > "$KUBECONFIG_OUT"
  log "reusing kind cluster $KIND_CLUSTER (its label and taint were set when it was made)"
  node_ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$KIND_CLUSTER-control-plane")
  in_engine_net ip route replace 10.244.0.0/24 via "$node_ip"
  exit 0
fi
cat > "$KIND_STATE/kind-config.yaml" <<YAML
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
  image: $NODE_IMAGE
kubeadmConfigPatches:
- |
  kind: KubeletConfiguration
  failCgroupV1: false
  protectKernelDefaults: true
- |
  kind: ClusterConfiguration
  etcd:
    local:
      imageRepository: registry.local
      imageTag: $ETCD_VERSION
  dns:
    imageRepository: registry.local
    imageTag: $COREDNS_VERSION
  scheduler:
    extraArgs:  # kind writes kubeadm v1beta3 here: a map
      leader-elect: "false"
YAML
t0=$SECONDS
log "creating kind cluster $KIND_CLUSTER ($NODE_IMAGE; log $KIND_LOGS/kind.log)"
"$KIND" create cluster --name "$KIND_CLUSTER" --config "$KIND_STATE/kind-config.yaml" \
  --kubeconfig "$KUBECONFIG_OUT" --wait 180s --retain -v 1 >> "$KIND_LOGS/kind.log" 2>&1 \
  || { tail -n 40 "$KIND_LOGS/kind.log" >&2
       die "kind create cluster failed (log: $KIND_LOGS/kind.log; node logs: $KIND export logs --name $KIND_CLUSTER)"; }
# The kind node plays the local harness's real node: labelled podgroup.dev/node-kind=real and
# tainted podgroup.dev/real-node:NoSchedule, so that workloads (the examples, the gang tests)
# land on the fake kwok nodes as they do there (kwok pulls nothing) and only pods that ask for
# it run real containers here. CoreDNS is told to tolerate it, to stay placeable.
k() { in_engine_net "$(bin kubectl "$KIND_KUBE_VERSION")" --kubeconfig "$KUBECONFIG_OUT" "$@"; }
node=$KIND_CLUSTER-control-plane
k label node "$node" podgroup.dev/node-kind=real --overwrite > /dev/null
k taint node "$node" podgroup.dev/real-node=:NoSchedule --overwrite > /dev/null
k -n kube-system patch deployment coredns --type json > /dev/null \
  -p '[{"op": "add", "path": "/spec/template/spec/tolerations/-", "value": {"key": "podgroup.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}}]'
# The pod network seen from the engine's namespace, where the tests run, as the local harness's
# machine sees its real node's pods (tests/install scrapes /metrics on the pod IP).
node_ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$node")
in_engine_net ip route replace 10.244.0.0/24 via "$node_ip"
log "kind cluster $KIND_CLUSTER up in $((SECONDS - t0))s"
