# Shared by hack/kind/*.sh (the kind stage on machines without Docker). Sourced, not executed.
# shellcheck shell=bash
KIND_HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
source "$KIND_HACK/../lib.sh"
# Caches (kept between runs): the engine's packages, the node image, the engine's data root.
export KIND_CACHE=$PGO_CACHE/kind
# What one run makes and the stop removes again: pids, logs, sockets, kubeconfig.
export KIND_STATE=${KIND_STATE:-$REPO_DIR/.kind}
export KIND_CLUSTER=${KIND_CLUSTER:-podgroup-e2e}
export DOCKER_HOST=unix://$KIND_STATE/run/docker.sock
export KIND_LOGS=$KIND_STATE/logs

log() { printf '[kind] %s\n' "$*" >&2; }
die() { printf '[kind] ERROR: %s\n' "$*" >&2; exit 1; }

# engine_pid: dockerd's PID (its network namespace is the cluster's), empty when not running.
engine_pid() {
  local f=$KIND_STATE/pids/dockerd.pid
  [[ -f $f ]] && running "$(<"$f")" && cat "$f"
}

# in_engine_net CMD...: CMD in dockerd's network namespace, where kind publishes the API server
# on 127.0.0.1 (the machine's own loopback never sees it); mounts and files stay the machine's.
in_engine_net() {
  local pid; pid=$(engine_pid) || die "the engine is not running (hack/kind/engine-up.sh)"
  nsenter --net="/proc/$pid/ns/net" -- "$@"
}

# engine_path: PATH with the engine's own docker, containerd, runc, iptables first.
engine_path() { echo "$(<"$KIND_STATE/engine-root")/bin:$PATH"; }

# use_kind_cluster: the settings of a step that works on the running kind cluster: the engine's
# tools first on PATH, KUBECTL and KIND pinned, KUBECONFIG the cluster's.
use_kind_cluster() {
  PATH=$(engine_path)
  KUBECTL=${KUBECTL:-$(bin kubectl "$KIND_KUBE_VERSION")}
  export KUBECONFIG=$KIND_STATE/kubeconfig
  KIND=$(bin kind "$KIND_VERSION")
}

# progress WHAT SECONDS CMD...: like wait_for, with a line every 15 s so long waits show.
progress() {
  local what=$1 seconds=$2; shift 2
  local start=$SECONDS next=$((SECONDS + 15))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS - start < seconds)) || return 1
    if ((SECONDS >= next)); then log "  still waiting for $what ($((SECONDS - start))s)"; next=$((SECONDS + 15)); fi
    sleep 1
  done
}
