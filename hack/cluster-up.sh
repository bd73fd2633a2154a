#!/usr/bin/env bash
# Starts the local cluster as processes: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok with fake nodes, and (hack/node/up.sh) one real kubelet node.
# Idempotent: components already running are left alone. Stop with hack/cluster-down.sh.
#
# Settings (environment):
#   KWOK_NODES (4), KWOK_NODE_CPU (8), KWOK_NODE_MEMORY (16Gi), KWOK_NODE_PODS (110)
#   KUBE_VERSION    the Kubernetes version to run (default: hack/versions.env's), e.g. v1.35.4
#   FEATURE_GATES   feature gates for every component (default: what it takes, at this minor, for the
#                   native in-place pod restart of KEP-5532 to be exercised, see default_feature_gates;
#                   FEATURE_GATES= runs the cluster with the release defaults)
#   RUNTIME_CONFIG  the API server's --runtime-config, for API versions off by default (e.g.
#                   scheduling.k8s.io/v1beta1=true with FEATURE_GATES=GenericWorkload=true on 1.37:
#                   docs/kubernetes-versions.md, "Workload and PodGroup")
#   REAL_NODE=0     skip the real node
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KWOK_NODES=${KWOK_NODES:-4}
KWOK_NODE_CPU=${KWOK_NODE_CPU:-8}
KWOK_NODE_MEMORY=${KWOK_NODE_MEMORY:-16Gi}
KWOK_NODE_PODS=${KWOK_NODE_PODS:-110}
# KEP-5532's gates by minor (pkg/features/kube_features.go; `kube-apiserver --help` lists each gate's
# stage): 1.35 has RestartAllContainersOnContainerExits and NodeDeclaredFeatures alpha, off by default;
# from 1.36 both are beta and on by default, and 1.37 locks NodeDeclaredFeatures on (GA). The release
# defaults then exercise the path, and naming no gate keeps every minor startable: a component refuses
# a removed gate, or a locked one set against its default.
default_feature_gates() {
  case $(kube_minor "$KUBE_VERSION") in
    35) echo RestartAllContainersOnContainerExits=true,NodeDeclaredFeatures=true ;;
    *) echo "" ;;
  esac
}
export FEATURE_GATES=${FEATURE_GATES-$(default_feature_gates)}
gates=${FEATURE_GATES:+--feature-gates=$FEATURE_GATES}

log "Kubernetes $KUBE_VERSION, feature gates: ${FEATURE_GATES:-release defaults}"
"$HACK_DIR/node/install-deps.sh"  # Debian packages: openssl, curl, CNI plugins, runc's build deps
"$HACK_DIR/build-binaries.sh"
"$HACK_DIR/pki.sh"
mkdir -p "$CLUSTER_DIR/etcd" "$PID_DIR" "$LOG_DIR"
KUBECTL=$(bin kubectl "$KUBE_VERSION")
export KUBECONFIG=$CLUSTER_DIR/kubeconfig
cp "$PKI_DIR/admin.kubeconfig" "$KUBECONFIG"

start etcd "$(bin etcd "$ETCD_VERSION")" \
  --name local --data-dir "$CLUSTER_DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" \
  --quota-backend-bytes 4294967296 --log-level warn
wait_for etcd 60 curl -sf "http://127.0.0.1:$ETCD_CLIENT_PORT/health"

# The API server listens on every address so pods on the real node can reach it through
# the node's host address; it accepts only client certificates and service-account tokens.
start kube-apiserver "$(bin kube-apiserver "$KUBE_VERSION")" \
  --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --bind-address 0.0.0.0 --secure-port "$APISERVER_PORT" --advertise-address "${CLUSTER_HOST_IP:-10.244.0.1}" \
  --tls-cert-file "$PKI_DIR/apiserver.crt" --tls-private-key-file "$PKI_DIR/apiserver.key" \
  --client-ca-file "$PKI_DIR/ca.crt" \
  --kubelet-client-certificate "$PKI_DIR/apiserver-kubelet-client.crt" \
  --kubelet-client-key "$PKI_DIR/apiserver-kubelet-client.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$PKI_DIR/sa.pub" --service-account-signing-key-file "$PKI_DIR/sa.key" \
  --service-cluster-ip-range 10.96.0.0/16 \
  --authorization-mode Node,RBAC --anonymous-auth=false --allow-privileged=true \
  --enable-admission-plugins NodeRestriction \
  --requestheader-client-ca-file "$PKI_DIR/front-proxy-ca.crt" \
  --requestheader-allowed-names front-proxy-client \
  --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
  --requestheader-extra-headers-prefix X-Remote-Extra- \
  --proxy-client-cert-file "$PKI_DIR/front-proxy-client.crt" \
  --proxy-client-key-file "$PKI_DIR/front-proxy-client.key" \
  --enable-aggregator-routing=true \
  --kubelet-preferred-address-types InternalIP,Hostname \
  --profiling=false $gates ${RUNTIME_CONFIG:+--runtime-config=$RUNTIME_CONFIG}
wait_for kube-apiserver 120 "$KUBECTL" get --raw /readyz

start kube-controller-manager "$(bin kube-controller-manager "$KUBE_VERSION")" \
  --kubeconfig "$PKI_DIR/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$PKI_DIR/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$PKI_DIR/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --leader-elect=false \
  --service-account-private-key-file "$PKI_DIR/sa.key" --root-ca-file "$PKI_DIR/ca.crt" \
  --cluster-signing-cert-file "$PKI_DIR/ca.crt" --cluster-signing-key-file "$PKI_DIR/ca.key" \
  --use-service-account-credentials=true --controllers '*' \
  --node-monitor-grace-period 40s $gates

start kube-scheduler "$(bin kube-scheduler "$KUBE_VERSION")" \
  --kubeconfig "$PKI_DIR/scheduler.kubeconfig" \
  --authentication-kubeconfig "$PKI_DIR/scheduler.kubeconfig" \
  --authorization-kubeconfig "$PKI_DIR/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --leader-elect=false $gates

# kwok plays the kubelet of every node annotated kwok.x-k8s.io/node=fake. It renews node
# leases: without them its status heartbeats alone miss the 40 s grace period on a busy
# machine, and the node controller marks long-lived kwok pods NotReady for good.
# Its node stages are given here, from the kwok module itself: node-initialize, and the status
# heartbeat of a node that renews a lease (every 10 min +- 10, as a kubelet with a lease reports
# an unchanged status only every 5 min). Left to itself kwok v0.7.0 picks its lease-less 20 s
# heartbeat even with leases on (`getDefaultNodeStages(NodeLeaseDurationSeconds == 0)`), and
# 1000 fake nodes sent 50 status updates a second, 15 times what real kubelets send.
kwok_stages=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')/kustomize/stage/node
{
  printf 'apiVersion: config.kwok.x-k8s.io/v1alpha1\nkind: KwokConfiguration\noptions: {}\n'
  for stage in fast/node-initialize heartbeat-with-lease/node-heartbeat-with-lease; do
    printf -- '---\n'
    cat "$kwok_stages/$stage.yaml"
  done
} > "$CLUSTER_DIR/kwok.yaml"
start kwok "$(bin kwok "$KWOK_VERSION")" -c "$CLUSTER_DIR/kwok.yaml" \
  --kubeconfig "$PKI_DIR/kwok.kubeconfig" --manage-all-nodes=false \
  --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
  --cidr 10.250.0.1/16 --node-ip 127.0.0.1 --server-address "127.0.0.1:$KWOK_PORT" \
  --node-lease-duration-seconds 40

"$HACK_DIR/fake-nodes.sh" "$KWOK_NODES" --cpu "$KWOK_NODE_CPU" --memory "$KWOK_NODE_MEMORY" --pods "$KWOK_NODE_PODS"

if [[ ${REAL_NODE:-1} == 1 && -x $HACK_DIR/node/up.sh ]]; then
  "$HACK_DIR/node/up.sh" || log "continuing without the real node: $(cat "$CLUSTER_DIR/node/unavailable" 2>/dev/null || echo 'see logs')"
fi

wait_for "the default service account" 60 "$KUBECTL" -n default get serviceaccount default
log "cluster ready: export KUBECONFIG=$KUBECONFIG"
