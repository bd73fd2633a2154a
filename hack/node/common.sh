# Settings and helpers shared by hack/node/up.sh and hack/node/down.sh. Sourced, not executed.
# shellcheck shell=bash disable=SC2034  # the settings here are used by up.sh and down.sh
#
# The real node "real-0" runs as host processes: a private containerd (+ runc shims), the
# kubelet, and metrics-server. containerd 2 and runc are hack/versions.env's, built by
# hack/build-binaries.sh (Debian's containerd 1.6 is too old for kubelets from 1.36 on).
# What each of them could leave on the machine is kept in one of four places, all cleaned
# by down.sh:
#   - files:    $NODE_DIR (= $CLUSTER_DIR/node)
#   - mounts:   a private mount namespace, pinned at $NODE_DIR/ns/mnt. containerd, its shims
#               and the kubelet run in it, so every rootfs, shm, netns and volume mount they
#               make is invisible to the host and disappears with the namespace.
#   - network:  the bridge $BRIDGE (host address $NODE_IP) and the pods' veths/netns
#   - cgroups:  the subtree $CGROUP_ROOT in each cgroup hierarchy
NODE_HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
source "$NODE_HACK_DIR/../lib.sh"

NODE_NAME=real-0
NODE_DIR=$CLUSTER_DIR/node
LOG_DIR=$NODE_DIR/logs                 # lib.sh's start() logs to $LOG_DIR/<name>.log
NODE_PKI=$NODE_DIR/pki
NS_DIR=$NODE_DIR/ns
NS_FILE=$NS_DIR/mnt
UNAVAILABLE=$NODE_DIR/unavailable
CONTAINERD_DIR=$NODE_DIR/containerd
CONTAINERD_SOCK=$CONTAINERD_DIR/containerd.sock
KUBELET_DIR=$NODE_DIR/kubelet
# The pods' network: a bridge that is obviously ours, whose address is also the node's
# address (kubelet --node-ip). Pods reach the API server through it (it binds 0.0.0.0),
# and no packet for it ever leaves this machine.
BRIDGE=pgo-cni0
NODE_IP=${CLUSTER_HOST_IP:-10.244.0.1}
POD_CIDR=${POD_CIDR:-10.244.0.0/24}
CNI_NETWORK=pgo-pods
CGROUP_ROOT=/pgo-kubelet
KUBELET_PORT=${KUBELET_PORT:-10250}
KUBELET_HEALTHZ_PORT=${KUBELET_HEALTHZ_PORT:-10248}
METRICS_SERVER_PORT=${METRICS_SERVER_PORT:-26445}
# Host folders that containerd/CNI hard-code; inside our mount namespace they are bind
# mounts of folders under $NODE_DIR, so nothing is written to the host's copies.
#   /run/containerd: runc shim sockets (/run/containerd/s/<hash>)
#   /var/lib/cni:    libcni's result cache
REDIRECTED_DIRS=(/run/containerd /var/lib/cni)

# The bridge, the node address, the ports and the cgroup subtree are machine-wide: one
# real node per machine. The bridge's alias names the cluster folder that owns them, so
# that up.sh or down.sh of another cluster folder never takes them from a running node.
OWNER_TAG="podgroup real node: $NODE_DIR"

KUBECTL=$(bin kubectl "$KUBE_VERSION")
export KUBECONFIG=${KUBECONFIG:-$CLUSTER_DIR/kubeconfig}

log() { printf '[node] %s\n' "$*" >&2; }


kubectl_() { "$KUBECTL" --request-timeout=10s "$@"; }
CTR=$(bin ctr "$CONTAINERD_VERSION")
# containerd 2 warns at every ctr call that its cgroup v1 support is deprecated: said once, in
# containerd's log, is enough.
ctr_() {
  "$CTR" -a "$CONTAINERD_SOCK" -n k8s.io "$@" 2> >(grep -v 'DEPRECATION: The support for cgroup v1' >&2 || true)
}

# in_ns CMD...: run CMD inside the node's mount namespace.
in_ns() { nsenter --mount="$NS_FILE" -- "$@"; }
ns_alive() { mountpoint -q "$NS_FILE" 2>/dev/null || findmnt -rn "$NS_FILE" >/dev/null 2>&1; }

cgroup_v2() { [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; }

# The cgroup hierarchies to create $CGROUP_ROOT in: every v1 hierarchy (cpu, memory,
# name=systemd, ...), or the v2 root. A hybrid machine's extra "unified" v2 mount is not
# used by the kubelet's cgroupfs driver.
cgroup_dirs() {
  if cgroup_v2; then echo /sys/fs/cgroup; return; fi
  awk '$3 == "cgroup" {print $2}' /proc/self/mounts
}

# Every mounted cgroup hierarchy, v1 and v2 (where down.sh looks for leftovers).
all_cgroup_dirs() { awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts; }

# The owner recorded on the bridge ("" when there is no bridge).
bridge_owner() { cat "/sys/class/net/$BRIDGE/ifalias" 2>/dev/null || true; }

# owns_node_resources: the machine-wide resources are this cluster's, or nobody's.
owns_node_resources() {
  local owner
  owner=$(bridge_owner)
  [[ -z $owner || $owner == "$OWNER_TAG" ]]
}

# other_owner_running: the cluster folder named on the bridge still runs its kubelet.
other_owner_running() {
  local owner pid_file
  owner=$(bridge_owner)
  owner=${owner#podgroup real node: }
  pid_file=$(dirname "$owner")/pids/kubelet.pid
  [[ -f $pid_file ]] && running "$(<"$pid_file")"
}
