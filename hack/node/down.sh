#!/usr/bin/env bash
# Stops the real node started by hack/node/up.sh and removes everything it left on the
# machine: its processes (by PID: pid files, processes in its cgroup subtree, shims of its
# own containerd socket), its mount namespace (and with it every container mount), the
# bridge, the cgroup subtree, and its state under $CLUSTER_DIR/node (logs/ is kept).
# Machine-wide things are left alone when the bridge names another cluster folder as their
# owner (see common.sh). Idempotent; exits non-zero, naming what is left, if something
# could not be removed.
set -Eeuo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
trap 'log "ERROR: hack/node/down.sh failed at line $LINENO: $BASH_COMMAND"' ERR

# kill_pids SIGNAL PID...: signal each PID that still exists.
kill_pids() {
  local sig=$1 pid; shift
  for pid in "$@"; do kill "-$sig" "$pid" 2>/dev/null || true; done
}

# The API objects up.sh created, the node's pods, and the Node itself.
# The APIService must go while the API server runs: an unavailable aggregated API blocks
# namespace deletion. Skipped when the API server is already gone.
remove_api_objects() {
  kubectl_ get --raw /readyz >/dev/null 2>&1 || return 0
  kubectl_ delete apiservice,service,endpointslice,clusterrole,clusterrolebinding,rolebinding \
    -A -l podgroup.dev/part-of=real-node --ignore-not-found --wait=false >/dev/null 2>&1 || true
  # Its containers are about to be killed: say so now rather than after the pod GC's delay.
  kubectl_ delete pods -A --field-selector "spec.nodeName=$NODE_NAME" --force --grace-period=0 \
    --wait=false >/dev/null 2>&1 || true
  kubectl_ delete node "$NODE_NAME" --ignore-not-found --wait=false >/dev/null 2>&1 || true
}

# PIDs of the processes in our cgroup subtree (the containers), in every hierarchy.
container_pids() {
  local d
  for d in $(all_cgroup_dirs); do
    if [[ -d $d$CGROUP_ROOT ]]; then
      find "$d$CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null || true
    fi
  done | sort -un
}

kill_containers() {
  local pids
  for _ in $(seq 1 50); do
    pids=$(container_pids)
    [[ -z $pids ]] && return 0
    # shellcheck disable=SC2086
    kill_pids KILL $pids
    sleep 0.1
  done
  log "processes still in the cgroup subtree $CGROUP_ROOT: $(container_pids | tr '\n' ' ')"
}

# PIDs of processes that belong to our containerd: in our mount namespace (shims, and
# anything else up.sh started there) or started with our socket as their address.
node_pids() {
  local ns="" pid
  ns_alive && ns=$(stat -Lc "mnt:[%i]" "$NS_FILE" 2>/dev/null || true)
  for pid in /proc/[0-9]*; do
    pid=${pid#/proc/}
    ((pid == $$)) && continue
    if [[ -n $ns && $(readlink "/proc/$pid/ns/mnt" 2>/dev/null) == "$ns" ]] \
        || { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "-address $CONTAINERD_SOCK "; then
      echo "$pid"
    fi
  done
}

kill_node_processes() {
  local pids
  pids=$(node_pids)
  [[ -z $pids ]] && return 0
  # shellcheck disable=SC2086
  kill_pids TERM $pids
  for _ in $(seq 1 30); do
    pids=$(node_pids)
    [[ -z $pids ]] && return 0
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill_pids KILL $pids
  sleep 0.2
}

# Host mounts under $NODE_DIR (the pinned namespace and its folder), deepest first.
# Unmounting the namespace file frees the namespace, and with it every mount inside.
unmount_all() {
  local m
  for _ in 1 2 3; do
    m=$(awk -v d="$NODE_DIR" 'index($2, d "/") == 1 || $2 == d {print $2}' /proc/self/mounts | sort -r)
    [[ -z $m ]] && return 0
    while read -r m; do
      # /proc/mounts escapes spaces as \040; our paths have none.
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done <<< "$m"
  done
}

remove_network() {
  ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE"
  return 0
}

# rmdir the subtree depth-first in every hierarchy (a cgroup with no processes and no
# children can be removed; its files go with it).
remove_cgroups() {
  local d
  for _ in $(seq 1 20); do
    for d in $(all_cgroup_dirs); do
      [[ -d $d$CGROUP_ROOT ]] || continue
      find "$d$CGROUP_ROOT" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    [[ -z $(leftover_cgroups) ]] && return 0
    sleep 0.2
  done
}

leftover_cgroups() {
  local d
  for d in $(all_cgroup_dirs); do [[ -d $d$CGROUP_ROOT ]] && echo "$d$CGROUP_ROOT"; done
  return 0
}

remove_created_host_dirs() {
  local d
  [[ -f $NODE_DIR/created-host-dirs ]] || return 0
  while read -r d; do rmdir "$d" 2>/dev/null || true; done < <(sort -u "$NODE_DIR/created-host-dirs")
  rm -f "$NODE_DIR/created-host-dirs"
}

# Everything but the logs: the next up.sh starts from a clean slate. --one-file-system
# never follows a mount that is somehow still there.
remove_state() {
  [[ -d $NODE_DIR ]] || return 0
  find "$NODE_DIR" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf --one-file-system {} +
}

# report_leftovers OWNER: fail naming whatever is left (machine-wide things only if OWNER is 1).
report_leftovers() {
  local left=()
  [[ -n $(node_pids) ]] && left+=("processes: $(node_pids | tr '\n' ' ')")
  [[ -n $(awk -v d="$NODE_DIR" 'index($2, d) == 1' /proc/self/mounts) ]] && left+=("mounts under $NODE_DIR")
  if (($1)); then
    [[ -n $(container_pids) ]] && left+=("container processes: $(container_pids | tr '\n' ' ')")
    ip link show "$BRIDGE" >/dev/null 2>&1 && left+=("interface $BRIDGE")
    [[ -n $(leftover_cgroups) ]] && left+=("cgroups: $(leftover_cgroups | tr '\n' ' ')")
  fi
  if ((${#left[@]})); then
    log "ERROR: could not remove: ${left[*]}"
    return 1
  fi
}

main() {
  # The machine-wide resources (bridge, cgroup subtree and the containers in it, the Node
  # object) may belong to another cluster folder's running node: then only what is under
  # this folder is cleaned.
  local owner=1
  if ! owns_node_resources; then
    owner=0
    log "the real node's bridge and cgroups belong to another cluster ($(bridge_owner)): leaving them"
  fi
  ((owner)) && remove_api_objects
  stop metrics-server
  stop coredns
  # The kubelet first, so it restarts nothing; then the containers, then containerd.
  stop kubelet
  ((owner)) && kill_containers
  stop containerd
  kill_node_processes
  ((owner)) && kill_containers
  unmount_all
  if ((owner)); then
    remove_network
    remove_cgroups
    remove_created_host_dirs
  fi
  report_leftovers "$owner"
  remove_state
  log "node $NODE_NAME stopped"
}

main "$@"
