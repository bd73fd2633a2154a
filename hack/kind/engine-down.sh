#!/usr/bin/env bash
# Stops what engine-up.sh started and removes what it made: the kind cluster (when still there),
# dockerd (TERM, then KILL), every process still in its network namespace (containerd, shims,
# node containers: all started by it, found by the namespace recorded at start), the cgroups
# under /pgo-kind, /usr/lib/modules when the engine made it, the state folder. Its namespaces and
# mounts go with its last process. The data root (a cache) stays.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

t0=$SECONDS
if pid=$(engine_pid); then
  PATH=$(engine_path)
  # Deleted, not just stopped: dockerd would restart the node container with the next engine.
  kind=$(bin kind "$KIND_VERSION")
  if "$kind" get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
    t=$SECONDS
    "$kind" delete cluster --name "$KIND_CLUSTER" >> "$KIND_LOGS/kind.log" 2>&1 || log "kind delete cluster failed (log: $KIND_LOGS/kind.log)"
    log "deleted kind cluster $KIND_CLUSTER in $((SECONDS - t))s"
  fi
  # Any container left (an interrupted kind create) goes too, for the same reason.
  mapfile -t left < <(docker ps -aq)
  ((${#left[@]} == 0)) || docker rm -f -v "${left[@]}" > /dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do running "$pid" || break; sleep 0.2; done
  running "$pid" && kill -KILL "$pid" 2>/dev/null
  log "stopped dockerd (pid $pid)"
fi
# What is left in the engine's network namespace was started by it: end those, by PID.
if [[ -f $KIND_STATE/netns ]]; then
  ns=$(<"$KIND_STATE/netns")
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    left=()
    for p in /proc/[0-9]*; do
      [[ $(readlink "$p/ns/net" 2>/dev/null) == "$ns" ]] && running "${p#/proc/}" && left+=("${p#/proc/}")
    done
    ((${#left[@]})) || break
    log "ending ${#left[@]} process(es) left in the engine's namespace: ${left[*]}"
    kill -KILL "${left[@]}" 2>/dev/null || true
    sleep 0.5
  done
fi
# Cgroups docker and the kubelet in the node made, deepest first (only empty ones go).
for hier in /sys/fs/cgroup/*/; do
  [[ -d ${hier}pgo-kind ]] || continue
  find "${hier}pgo-kind" -depth -type d -exec rmdir {} + 2>/dev/null || true
  [[ -d ${hier}pgo-kind ]] && log "WARNING: ${hier}pgo-kind is not empty"
done
if [[ -f $KIND_STATE/made-usr-lib-modules ]]; then
  rmdir /usr/lib/modules 2>/dev/null || log "WARNING: /usr/lib/modules is not empty, left in place"
fi
rm -rf "$KIND_STATE"
log "engine down in $((SECONDS - t0))s"
