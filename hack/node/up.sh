#!/usr/bin/env bash
# Starts the local cluster's one REAL node, "real-0": a private containerd 2 + runc (both built
# from the Go module proxy, versions in hack/versions.env), Debian's CNI plugins, the built kubelet, metrics-server (metrics.k8s.io, for `kubectl top`) and CoreDNS
# (cluster DNS for the pods, hack/node/coredns.sh).
# Called by hack/cluster-up.sh once the control plane is healthy; stopped by hack/node/down.sh.
# Idempotent: what already runs is left alone (a changed kubelet or containerd
# configuration, e.g. other KUBELET_FEATURE_GATES, restarts that one). On failure it prints one line saying why, writes it to
# $CLUSTER_DIR/node/unavailable (tests skip with that reason) and exits non-zero.
#
# Environment:
#   CLUSTER_DIR, KUBECONFIG     as set by hack/cluster-up.sh (defaults: see hack/lib.sh)
#   KUBELET_FEATURE_GATES       e.g. "Foo=true,Bar=false" (default: $FEATURE_GATES)
#   KUBELET_PORT (10250), KUBELET_HEALTHZ_PORT (10248), METRICS_SERVER_PORT (26445)
#   NODE_READY_TIMEOUT (120)    seconds to wait for the node to become Ready
#
# Pods run on real-0 only if they tolerate its taint and select it:
#   tolerations:  [{key: podgroup.dev/real-node, operator: Exists, effect: NoSchedule}]
#   nodeSelector: {podgroup.dev/node-kind: real}
# Images (never pulled): registry.local/tools:1.0, registry.local/etcd:$ETCD_VERSION and
# registry.local/rendezvous:1.0, each with an -alt tag naming the same image (hack/images/build.sh),
# with imagePullPolicy IfNotPresent or Never.
set -Eeuo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
# shellcheck source=coredns.sh
source "$(dirname "$0")/coredns.sh"

KUBELET_FEATURE_GATES=${KUBELET_FEATURE_GATES-${FEATURE_GATES:-}}
NODE_READY_TIMEOUT=${NODE_READY_TIMEOUT:-120}
KUBELET=$(bin kubelet "$KUBE_VERSION")
CONTAINERD=$(bin containerd "$CONTAINERD_VERSION")
CONTAINERD_SHIM=$(bin containerd-shim-runc-v2 "$CONTAINERD_VERSION")
RUNC=$(bin runc "$RUNC_VERSION")
METRICS_SERVER=$(bin metrics-server "$METRICS_SERVER_VERSION")
PAUSE_IMAGE=registry.local/pause:3.10

# fail MESSAGE: the one line that says why the node is unavailable.
fail() {
  mkdir -p "$NODE_DIR"
  echo "$*" > "$UNAVAILABLE"
  printf '[node] real node unavailable: %s\n' "$*" >&2
  exit 1
}
# An unexpected failure still leaves a reason behind (unless fail() already wrote one,
# e.g. from inside a command substitution).
trap '[[ -s $UNAVAILABLE ]] || fail "hack/node/up.sh failed at line $LINENO: $BASH_COMMAND"; exit 1' ERR

# poll SECONDS CMD...: true once CMD succeeds, false after SECONDS.
poll() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# why_exited NAME: the most telling line of a process's log (its last error).
# Only what the latest run wrote counts: the log files are appended to.
why_exited() {
  local f=$LOG_DIR/$1.log out line
  out=$(tail -c "+$(($(cat "$LOG_DIR/$1.offset" 2>/dev/null || echo 0) + 1))" "$f" 2>/dev/null || true)
  # A flag error or a panic (both fatal, printed once), else the last error-level line,
  # else the last line.
  line=$(grep -m1 -E '^(Error|panic): ' <<< "$out") \
    || line=$(grep -E 'command failed|level=(fatal|error)|^[EF][0-9]{4} ' <<< "$out" | tail -1) \
    || line=$(tail -1 <<< "$out") || true
  echo "$line (log: $f)" | cut -c1-400
}

# start_ NAME CMD...: lib.sh's start, remembering where this run's log output begins.
start_() {
  alive "$1" && return
  rm -f "$PID_DIR/$1.pid"  # a dead or zombie process's: lib.sh's start would trust it
  mkdir -p "$LOG_DIR"
  { stat -c %s "$LOG_DIR/$1.log" 2>/dev/null || echo 0; } > "$LOG_DIR/$1.offset"
  start "$@"
}

preflight() {
  ((EUID == 0)) || fail "hack/node/up.sh needs root (it runs containerd, runc and the kubelet)"
  [[ $(uname -s) == Linux ]] || fail "the real node needs Linux"
  "$NODE_HACK_DIR/install-deps.sh" >&2 || fail "could not install the node's Debian packages (hack/node/install-deps.sh)"
  local b
  for b in "$KUBELET" "$METRICS_SERVER" "$KUBECTL" "$CONTAINERD" "$CONTAINERD_SHIM" "$CTR" "$RUNC"; do
    [[ -x $b ]] || fail "missing $b: run hack/build-binaries.sh kubelet metrics-server kubectl containerd containerd-shim-runc-v2 ctr runc"
  done
  [[ -f $PKI_DIR/ca.crt && -f $PKI_DIR/ca.key ]] || fail "missing the cluster CA $PKI_DIR/ca.{crt,key} (hack/pki.sh)"
  kubectl_ get --raw /readyz >/dev/null 2>&1 || fail "the API server is not reachable with KUBECONFIG=$KUBECONFIG"
  if ! cgroup_v2; then
    local c
    for c in cpu cpuacct cpuset memory pids; do
      awk -v c="$c" '$3 == "cgroup" && ("," $4 ",") ~ ("," c ",") {found = 1} END {exit !found}' /proc/self/mounts \
        || fail "cgroup v1 controller '$c' is not mounted"
    done
  fi
  # Unix socket paths are limited to 108 bytes (containerd adds ".ttrpc").
  ((${#CONTAINERD_SOCK} < 100)) || fail "CLUSTER_DIR is too long for containerd's socket path: $CONTAINERD_SOCK"
  local owner
  owner=$(ip -o -4 addr show to "$NODE_IP/32" | awk '{print $2}' | grep -vx "$BRIDGE" | head -1 || true)
  [[ -z $owner ]] || fail "the node address $NODE_IP is already on interface $owner"
  if ! owns_node_resources && other_owner_running; then
    fail "this machine's real node already runs for another cluster ($(bridge_owner)); stop it with its hack/node/down.sh"
  fi
  # Ports someone else listens on (ours are fine once they run).
  if ! alive kubelet; then
    check_port_free KUBELET_PORT "$KUBELET_PORT"
    check_port_free KUBELET_HEALTHZ_PORT "$KUBELET_HEALTHZ_PORT"
  fi
  alive metrics-server || check_port_free METRICS_SERVER_PORT "$METRICS_SERVER_PORT"
  if ! alive coredns; then
    check_port_free COREDNS_READY_PORT "$COREDNS_READY_PORT"
    ! ss -Hlnu "sport = :53" | grep -qE "(0\.0\.0\.0|\*|$NODE_IP):53 " \
      || fail "UDP port 53 on $NODE_IP is taken on this machine: CoreDNS cannot serve the pods"
  fi
}

# check_port_free VARIABLE PORT: fail, naming the setting to change, if a TCP PORT is in use.
check_port_free() {
  if ss -Htln "sport = :$2" | grep -q .; then
    fail "TCP port $2 is already in use on this machine (choose another with $1=...)"
  fi
}

# ---------------------------------------------------------------- certificates

# sign NAME SUBJECT EXTKEYUSAGE [SANS]: a key and a certificate signed by the cluster CA,
# in $NODE_PKI, kept while it still verifies against that CA.
sign() {
  local name=$1 subj=$2 eku=$3 sans=${4:-} crt=$NODE_PKI/$1.crt
  if [[ -f $crt ]] && openssl verify -CAfile "$PKI_DIR/ca.crt" "$crt" >/dev/null 2>&1; then return; fi
  openssl req -newkey rsa:2048 -nodes -keyout "$NODE_PKI/$name.key" -out "$NODE_PKI/$name.csr" -subj "$subj" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [[ -z $sans ]] || echo "subjectAltName=$sans"
  } > "$NODE_PKI/$name.ext"
  # Our own serial file: the cluster's pki.sh owns $PKI_DIR/ca.srl.
  openssl x509 -req -in "$NODE_PKI/$name.csr" -CA "$PKI_DIR/ca.crt" -CAkey "$PKI_DIR/ca.key" \
    -CAserial "$NODE_PKI/ca.srl" -CAcreateserial -out "$crt" -days 3650 -extfile "$NODE_PKI/$name.ext" 2>/dev/null
  rm -f "$NODE_PKI/$name.csr" "$NODE_PKI/$name.ext"
}

# kubeconfig NAME: $NODE_DIR/NAME.kubeconfig using the client certificate $NODE_PKI/NAME-client.
kubeconfig() { write_kubeconfig "$NODE_DIR/$1.kubeconfig" "$1" "$NODE_PKI/$1-client"; }

setup_pki() {
  mkdir -p "$NODE_PKI"
  chmod 700 "$NODE_PKI"
  # The Node authorizer and NodeRestriction know the kubelet by this name and group.
  sign kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
  sign kubelet-serving "/CN=$NODE_NAME" serverAuth "IP:$NODE_IP,IP:127.0.0.1,DNS:$NODE_NAME"
  sign metrics-server-client "/CN=system:metrics-server" clientAuth
  sign coredns-client "/CN=system:podgroup-coredns" clientAuth
  # The aggregator checks the name <service>.<namespace>.svc against the caBundle (our CA).
  sign metrics-server-serving "/CN=metrics-server.kube-system.svc" serverAuth \
    "DNS:metrics-server.kube-system.svc,DNS:metrics-server.kube-system.svc.cluster.local,IP:$NODE_IP"
  kubeconfig kubelet
  kubeconfig metrics-server
  kubeconfig coredns
}

# ---------------------------------------------------------------- host plumbing

setup_bridge() {
  if ! owns_node_resources; then
    other_owner_running && fail "this machine's real node already runs for another cluster ($(bridge_owner)); stop it with its hack/node/down.sh"
    log "taking over the real node's resources left by a stopped cluster ($(bridge_owner))"
  fi
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  ip link set dev "$BRIDGE" alias "$OWNER_TAG"
  # IPv4 only: no link-local IPv6 chatter from our bridge.
  echo 1 > "/proc/sys/net/ipv6/conf/$BRIDGE/disable_ipv6" 2>/dev/null || true
  ip -o -4 addr show dev "$BRIDGE" | grep -q " $NODE_IP/" || ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

setup_cgroups() {
  local d
  for d in $(cgroup_dirs); do
    mkdir -p "$d$CGROUP_ROOT"
    # A new v1 cpuset starts with no CPUs and no memory nodes: give it the parent's.
    if [[ -f $d$CGROUP_ROOT/cpuset.cpus && -z $(<"$d$CGROUP_ROOT/cpuset.cpus") ]]; then
      cat "$d/cpuset.cpus" > "$d$CGROUP_ROOT/cpuset.cpus"
      cat "$d/cpuset.mems" > "$d$CGROUP_ROOT/cpuset.mems"
    fi
  done
  if cgroup_v2; then  # delegate every controller the root offers (untested on this v1 machine)
    local c
    for c in $(<"/sys/fs/cgroup/cgroup.subtree_control"); do
      echo "+$c" > "/sys/fs/cgroup$CGROUP_ROOT/cgroup.subtree_control" 2>/dev/null || true
    done
  fi
}

# ns_bind SRC DST: bind-mount SRC on DST inside the node's mount namespace, once.
ns_bind() {
  in_ns findmnt -rn -M "$2" >/dev/null 2>&1 || in_ns mount --bind "$1" "$2"
}

# What the kubelet writes machine-wide unless protectKernelDefaults is set, and then
# insists on reading back (pkg/kubelet/cm/container_manager_linux.go setupKernelTunables).
declare -A KUBELET_SYSCTLS=(
  [vm/overcommit_memory]=1 [vm/panic_on_oom]=0 [kernel/panic]=10 [kernel/panic_on_oops]=1
  [kernel/keys/root_maxkeys]=1000000 [kernel/keys/root_maxbytes]=25000000
)

setup_namespace() {
  mkdir -p "$NS_DIR"
  if ! ns_alive; then
    # The file pinning a mount namespace must sit on a mount that does not propagate
    # (else the kernel refuses); a private bind of its folder guarantees that anywhere.
    if ! mountpoint -q "$NS_DIR"; then
      mount --bind "$NS_DIR" "$NS_DIR"
      mount --make-private "$NS_DIR"
    fi
    touch "$NS_FILE"
    # Everything in the new namespace is private: nothing mounted in it reaches the host.
    unshare --mount="$NS_FILE" --propagation private true
  fi
  local d private
  for d in "${REDIRECTED_DIRS[@]}"; do
    private=$NODE_DIR/host${d}
    mkdir -p "$private"
    if [[ ! -d $d ]]; then  # the mount point must exist on the host; down.sh removes it again
      mkdir -p "$d"
      echo "$d" >> "$NODE_DIR/created-host-dirs"
    fi
    ns_bind "$private" "$d"
  done
  # The kubelet runs with protectKernelDefaults (it never writes these sysctls) and reads
  # the values it insists on from files mounted over them in its namespace only.
  local key want
  mkdir -p "$NODE_DIR/sysctl"
  for key in "${!KUBELET_SYSCTLS[@]}"; do
    want=${KUBELET_SYSCTLS[$key]}
    [[ $(<"/proc/sys/$key") == "$want" ]] && continue
    echo "$want" > "$NODE_DIR/sysctl/${key//\//.}"
    ns_bind "$NODE_DIR/sysctl/${key//\//.}" "/proc/sys/$key" \
      || fail "cannot mask /proc/sys/$key for the kubelet inside its mount namespace"
  done
}

# ---------------------------------------------------------------- containerd

# overlayfs where the kernel and $CONTAINERD_DIR's filesystem allow it, else native (copies).
pick_snapshotter() {
  local t=$CONTAINERD_DIR/overlay-test
  mkdir -p "$t"/{lower,upper,work,merged}
  if in_ns mount -t overlay overlay -o "lowerdir=$t/lower,upperdir=$t/upper,workdir=$t/work" "$t/merged" 2>/dev/null; then
    in_ns umount "$t/merged"
    rm -rf "$t"
    echo overlayfs
  else
    rm -rf "$t"
    log "overlayfs is not usable under $CONTAINERD_DIR; containerd uses the native snapshotter"
    echo native
  fi
}

containerd_config() {
  local snapshotter=$1
  cat <<TOML
# Private containerd $CONTAINERD_VERSION of the local cluster's node $NODE_NAME (hack/node/up.sh): its
# own root, state and socket; never the machine's /var/lib/containerd or /run/containerd/containerd.sock.
# Configuration format 4, containerd 2.4's own (it migrates 3, the format of 2.0 to 2.3, with a
# warning at every start). Since format 3 the CRI plugin's settings are split into
# io.containerd.cri.v1.images, io.containerd.cri.v1.runtime and io.containerd.grpc.v1.cri; since 4
# the sockets are the server plugins' (io.containerd.server.v1.*), no longer [grpc] and [ttrpc].
version = 4
root = "$CONTAINERD_DIR/root"
state = "$CONTAINERD_DIR/state"
# Snapshotters this machine cannot use anyway; they would only log errors.
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.blockfile",
                    "io.containerd.snapshotter.v1.erofs"]

[plugins."io.containerd.server.v1.grpc"]
  address = "$CONTAINERD_SOCK"

# The shims' event socket; format 4 no longer derives it from the gRPC address.
[plugins."io.containerd.server.v1.ttrpc"]
  address = "$CONTAINERD_SOCK.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$CONTAINERD_DIR/opt"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "$snapshotter"

  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "$PAUSE_IMAGE"

[plugins."io.containerd.cri.v1.runtime"]
  # Pod network namespaces under our state folder, not /run/netns.
  netns_mounts_under_state_dir = true
  # Clamp every oom_score_adj to containerd's own (0 here) instead of lowering it: lowering
  # needs CAP_SYS_RESOURCE, which these machines do not grant even to root, and runc then
  # fails every sandbox with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true

  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$NODE_DIR/cni/net.d"

  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"

    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      # The shim and runc built with it (hack/build-binaries.sh), by path: not from PATH.
      runtime_path = "$CONTAINERD_SHIM"

      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "$RUNC"
        Root = "$CONTAINERD_DIR/runc"
        SystemdCgroup = false

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
TOML
}

# The pods' network: bridge + host-local IPAM. No gateway role and no routes: pods reach
# the host address $NODE_IP and each other on the bridge and nothing else, so no IP
# forwarding, masquerading or iptables rule is needed (ipMasq false, isGateway false).
write_cni_config() {
  cat > "$NODE_DIR/cni/net.d/10-$CNI_NETWORK.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$NODE_DIR/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]]
      }
    }
  ]
}
JSON
}

start_containerd() {
  mkdir -p "$CONTAINERD_DIR" "$NODE_DIR/cni/net.d" "$NODE_DIR/cni/ipam"
  write_cni_config
  local config
  config=$(containerd_config "$(pick_snapshotter)")
  # A running containerd with this very configuration is left alone; else it is
  # (re)started (its shims and containers survive a restart).
  if ! alive containerd || [[ $config != "$(cat "$CONTAINERD_DIR/config.toml" 2>/dev/null)" ]]; then
    alive containerd && { log "containerd configuration changed: restarting it"; stop containerd; }
    echo "$config" > "$CONTAINERD_DIR/config.toml"
    # In the node's mount namespace; the shim and runc are named by path in its configuration,
    # the CNI plugins come from Debian's package.
    PATH=/usr/sbin:/usr/bin:/sbin:/bin start_ containerd \
      nsenter --mount="$NS_FILE" -- "$CONTAINERD" --config "$CONTAINERD_DIR/config.toml"
  fi
  poll 30 ctr_ version || fail "containerd did not answer on $CONTAINERD_SOCK: $(why_exited containerd)"
}

import_images() {
  local tar snapshotter ref
  snapshotter=$(sed -n 's/^ *snapshotter = "\(.*\)"/\1/p' "$CONTAINERD_DIR/config.toml")
  for tar in $("$REPO_DIR/hack/images/build.sh"); do
    ctr_ images import --snapshotter "$snapshotter" "$tar" >/dev/null \
      || fail "ctr could not import $tar into containerd"
  done
  # Pinned images are never removed by the kubelet's image GC (containerd >= 1.7 reports
  # the label; on 1.6 imageGCHighThresholdPercent=100 alone keeps them).
  local programs=(registry.local/tools:1.0 "registry.local/etcd:$ETCD_VERSION" registry.local/rendezvous:1.0)
  for ref in "$PAUSE_IMAGE" "${programs[@]}" "${programs[@]/%/-alt}"; do
    ctr_ images label "$ref" io.cri-containerd.pinned=pinned >/dev/null
  done
  # A repository digest, as a pulled image has: the runtime then reports the image as
  # registry.local/tools@sha256:..., like any image from a registry.
  local digest
  for ref in "${programs[@]}"; do
    digest=$(ctr_ images ls | awk -v r="$ref" '$1 == r {print $3}')
    ctr_ images tag --force "$ref" "${ref%:*}@$digest" >/dev/null
  done
}

# ---------------------------------------------------------------- kubelet

feature_gates_yaml() {
  local kv
  if [[ -z $KUBELET_FEATURE_GATES ]]; then echo "featureGates: {}"; return; fi
  echo "featureGates:"
  IFS=, read -ra kvs <<< "$KUBELET_FEATURE_GATES"
  for kv in "${kvs[@]}"; do
    [[ $kv == *=* ]] || fail "bad KUBELET_FEATURE_GATES entry '$kv' (want Name=true|false)"
    echo "  ${kv%%=*}: ${kv#*=}"
  done
}

write_kubelet_config() {
  cat <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $NODE_PKI/kubelet-serving.crt
tlsPrivateKeyFile: $NODE_PKI/kubelet-serving.key
rotateCertificates: false
serverTLSBootstrap: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true, cacheTTL: 30s}
  x509: {clientCAFile: $PKI_DIR/ca.crt}
authorization:
  mode: Webhook
  webhook: {cacheAuthorizedTTL: 30s, cacheUnauthorizedTTL: 5s}
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
imageServiceEndpoint: unix://$CONTAINERD_SOCK
# cgroup v1 + cgroupfs, in a subtree of our own (the machine's hierarchies are not touched).
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupRoot: $CGROUP_ROOT
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failSwapOn: false
# Lowering an oom_score_adj needs CAP_SYS_RESOURCE, which root lacks on these machines.
oomScoreAdj: 0
# It never writes the machine's sysctls; up.sh shows it the values it wants (see setup_namespace).
protectKernelDefaults: true
# Images cannot be pulled here: never garbage-collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
imageMaximumGCAge: 0s
evictionHard:
  memory.available: 100Mi
  nodefs.available: 2%
  nodefs.inodesFree: 2%
  imagefs.available: 2%
evictionPressureTransitionPeriod: 30s
podLogsDir: $NODE_DIR/pod-logs
maxPods: 110
registerNode: true
registerWithTaints:
- {key: podgroup.dev/real-node, value: "true", effect: NoSchedule}
nodeStatusUpdateFrequency: 10s
# Pods resolve through CoreDNS on the node address (hack/node/coredns.sh). resolvConf is only
# read (for the host's search domains), never written.
clusterDomain: $CLUSTER_DOMAIN
clusterDNS: [$NODE_IP]
resolvConf: /etc/resolv.conf
$(feature_gates_yaml)
YAML
}

kubelet_args() {
  printf '%s\n' --config "$KUBELET_DIR/config.yaml" --kubeconfig "$NODE_DIR/kubelet.kubeconfig" \
    --root-dir "$KUBELET_DIR" --cert-dir "$KUBELET_DIR/pki" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
    --node-labels "podgroup.dev/node-kind=real" --v 2
}

start_kubelet() {
  mkdir -p "$KUBELET_DIR" "$NODE_DIR/pod-logs"
  local config args
  config=$(write_kubelet_config)
  args=$(kubelet_args)
  # Same configuration as the running kubelet: nothing to do. Else (re)start it.
  if alive kubelet && [[ $config == "$(cat "$KUBELET_DIR/config.yaml" 2>/dev/null)" \
      && $args == "$(cat "$KUBELET_DIR/args" 2>/dev/null)" ]]; then
    return
  fi
  alive kubelet && { log "kubelet configuration changed: restarting it"; stop kubelet; }
  echo "$config" > "$KUBELET_DIR/config.yaml"
  echo "$args" > "$KUBELET_DIR/args"
  local -a argv
  mapfile -t argv <<< "$args"
  # PATH without sbin: the kubelet then finds no iptables binary and adds no iptables
  # chains to the machine (it needs none: no kube-proxy, no hostPorts here).
  PATH=/usr/bin:/bin start_ kubelet nsenter --mount="$NS_FILE" -- "$KUBELET" "${argv[@]}"
}

node_ready() {
  [[ $(kubectl_ get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

kubelet_healthy() { curl -sf --max-time 2 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz"; }

# The kubelet's own health first (the Node object may still say Ready from before a
# restart), then the Node's Ready condition.
wait_node_ready() {
  local deadline=$((SECONDS + NODE_READY_TIMEOUT))
  until kubelet_healthy >/dev/null 2>&1 && node_ready; do
    alive kubelet || fail "the kubelet exited: $(why_exited kubelet)"
    alive containerd || fail "containerd exited: $(why_exited containerd)"
    if ((SECONDS >= deadline)); then
      local why
      why=$(kubectl_ get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}' 2>/dev/null || true)
      fail "node $NODE_NAME not Ready after ${NODE_READY_TIMEOUT}s: ${why:-not registered} ($(why_exited kubelet))"
    fi
    sleep 1
  done
}

# ---------------------------------------------------------------- metrics-server

# metrics-server runs on the host at $NODE_IP:$METRICS_SERVER_PORT; the API server reaches it
# through a selector-less Service whose endpoint is that address (--enable-aggregator-routing),
# authenticating as front-proxy-client; it scrapes real-0's kubelet only (kwok's fake nodes
# have no kubelet and addresses that are not on this machine).
metrics_server_objects() {
  local labels="{podgroup.dev/part-of: real-node}"
  cat <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:metrics-server", labels: $labels}
rules:
- {apiGroups: [""], resources: [nodes/metrics], verbs: [get]}
- {apiGroups: [""], resources: [pods, nodes], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: "system:aggregated-metrics-reader"
  labels:
    podgroup.dev/part-of: real-node
    rbac.authorization.k8s.io/aggregate-to-admin: "true"
    rbac.authorization.k8s.io/aggregate-to-edit: "true"
    rbac.authorization.k8s.io/aggregate-to-view: "true"
rules:
- {apiGroups: [metrics.k8s.io], resources: [pods, nodes], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:metrics-server", labels: $labels}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:metrics-server"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:metrics-server"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "metrics-server:system:auth-delegator", labels: $labels}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:metrics-server"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: metrics-server-auth-reader, namespace: kube-system, labels: $labels}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:metrics-server"}]
---
apiVersion: v1
kind: Service
metadata: {name: metrics-server, namespace: kube-system, labels: $labels}
spec:
  ports: [{name: https, port: 443, protocol: TCP, targetPort: $METRICS_SERVER_PORT}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: metrics-server-host
  namespace: kube-system
  labels:
    podgroup.dev/part-of: real-node
    kubernetes.io/service-name: metrics-server
    endpointslice.kubernetes.io/managed-by: podgroup.dev-node-up
addressType: IPv4
ports: [{name: https, port: $METRICS_SERVER_PORT, protocol: TCP}]
endpoints: [{addresses: ["$NODE_IP"], conditions: {ready: true}}]
YAML
}

apiservice_object() {
  cat <<YAML
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.metrics.k8s.io, labels: {podgroup.dev/part-of: real-node}}
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  service: {name: metrics-server, namespace: kube-system, port: 443}
  caBundle: $(base64 -w0 "$PKI_DIR/ca.crt")
YAML
}

metrics_server_ready() {
  curl -sf --max-time 2 --cacert "$PKI_DIR/ca.crt" --resolve "metrics-server.kube-system.svc:$METRICS_SERVER_PORT:$NODE_IP" \
    "https://metrics-server.kube-system.svc:$METRICS_SERVER_PORT/readyz"
}

apiservice_available() {
  [[ $(kubectl_ get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.status.conditions[?(@.type=="Available")].status}') == True ]]
}

start_metrics_server() {
  metrics_server_objects | kubectl_ apply -f - >/dev/null || fail "could not create metrics-server's RBAC/Service objects"
  if ! alive metrics-server; then
    start_ metrics-server "$METRICS_SERVER" \
      --bind-address "$NODE_IP" --secure-port "$METRICS_SERVER_PORT" \
      --tls-cert-file "$NODE_PKI/metrics-server-serving.crt" --tls-private-key-file "$NODE_PKI/metrics-server-serving.key" \
      --kubeconfig "$NODE_DIR/metrics-server.kubeconfig" \
      --authentication-kubeconfig "$NODE_DIR/metrics-server.kubeconfig" \
      --authorization-kubeconfig "$NODE_DIR/metrics-server.kubeconfig" \
      --kubelet-certificate-authority "$PKI_DIR/ca.crt" \
      --kubelet-preferred-address-types InternalIP --kubelet-use-node-status-port \
      --node-selector podgroup.dev/node-kind=real \
      --metric-resolution 10s --kubelet-request-timeout 5s
  fi
  poll 60 metrics_server_ready || fail "metrics-server is not ready: $(why_exited metrics-server)"
  apiservice_object | kubectl_ apply -f - >/dev/null || fail "could not register the metrics.k8s.io APIService"
  poll 60 apiservice_available || fail "APIService v1beta1.metrics.k8s.io is not Available: $(kubectl_ get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.status.conditions[0].message}' 2>&1)"
}

main() {
  local t0=$SECONDS
  mkdir -p "$NODE_DIR" "$LOG_DIR" "$PID_DIR"
  rm -f "$UNAVAILABLE"
  preflight
  setup_pki
  setup_bridge
  setup_cgroups
  setup_namespace
  start_containerd
  import_images
  start_coredns
  start_kubelet
  wait_node_ready
  start_metrics_server
  log "node $NODE_NAME Ready at $NODE_IP (kubelet :$KUBELET_PORT, metrics-server :$METRICS_SERVER_PORT, DNS :53) in $((SECONDS - t0))s"
}

main "$@"
