# Cluster DNS for the pods on real-0: CoreDNS (built from the Go module proxy, pinned in
# hack/versions.env) as a host process, like metrics-server. Sourced by up.sh; down.sh stops it
# by its PID and removes its API objects by their label.
#
# It listens on $NODE_IP:53 only (the node's bridge address, which pods reach; the kubelet's
# clusterDNS), serves the cluster domain from the API server (kubernetes plugin: Services,
# EndpointSlices, so headless names <pod>.<subdomain>.<ns>.svc resolve to pod IPs, no
# kube-proxy needed) and answers nothing else: no forwarding, and nothing of the machine's own
# resolver, iptables or network is touched.
# shellcheck shell=bash
COREDNS=$(bin coredns "$COREDNS_VERSION")
CLUSTER_DOMAIN=${CLUSTER_DOMAIN:-cluster.local}
COREDNS_READY_PORT=${COREDNS_READY_PORT:-26446}
COREDNS_DIR=$NODE_DIR/coredns

coredns_objects() {
  local labels="{podgroup.dev/part-of: real-node}"
  cat <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:podgroup-coredns", labels: $labels}
rules:
- {apiGroups: [""], resources: [services, endpoints, namespaces, pods], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:podgroup-coredns", labels: $labels}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:podgroup-coredns"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:podgroup-coredns"}]
YAML
}

corefile() {
  cat <<COREFILE
$CLUSTER_DOMAIN:53 {
    bind $NODE_IP
    errors
    ready $NODE_IP:$COREDNS_READY_PORT
    kubernetes $CLUSTER_DOMAIN {
        kubeconfig $NODE_DIR/coredns.kubeconfig local
        ttl 5
    }
}
COREFILE
}

coredns_ready() { curl -sf --max-time 2 "http://$NODE_IP:$COREDNS_READY_PORT/ready"; }

start_coredns() {
  [[ -x $COREDNS ]] || fail "missing $COREDNS: run hack/build-binaries.sh coredns"
  coredns_objects | kubectl_ apply -f - >/dev/null || fail "could not create CoreDNS's RBAC objects"
  mkdir -p "$COREDNS_DIR"
  local config
  config=$(corefile)
  if ! alive coredns || [[ $config != "$(cat "$COREDNS_DIR/Corefile" 2>/dev/null)" ]]; then
    alive coredns && { log "CoreDNS configuration changed: restarting it"; stop coredns; }
    echo "$config" > "$COREDNS_DIR/Corefile"
    start_ coredns "$COREDNS" -conf "$COREDNS_DIR/Corefile"
  fi
  poll 60 coredns_ready || fail "CoreDNS is not ready: $(why_exited coredns)"
}
