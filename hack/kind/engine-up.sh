#!/usr/bin/env bash
# Starts the kind stage's Docker engine in network and mount namespaces of its own:
#   unshare --net --mount --propagation private, a private tmpfs on /run (its exec-root and pid
#   file live there and vanish with it), its own data root (a cache: the node image stays loaded
#   between runs), socket $KIND_STATE/run/docker.sock, cgroup parent /pgo-kind, OOM score 0
#   (nothing may lower one here). docker0, the kind bridge and every iptables rule exist only in
#   that network namespace; the machine's `nft list tables` stays as it was.
# Records dockerd's PID, its namespaces and whether /usr/lib/modules existed, for engine-down.sh.
# Idempotent: a running engine is reused.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

if pid=$(engine_pid); then log "engine already running (dockerd pid $pid)"; exit 0; fi
t0=$SECONDS
root=$("$KIND_HACK/engine-fetch.sh")
mkdir -p "$KIND_STATE/pids" "$KIND_STATE/run" "$KIND_LOGS" "$KIND_CACHE/docker"
echo "$root" > "$KIND_STATE/engine-root"
# kind mounts /lib/modules into its nodes; docker makes the folder on the machine when it is
# missing. Remember whether it was there, so engine-down.sh removes only what this made.
[[ -e /usr/lib/modules ]] || touch "$KIND_STATE/made-usr-lib-modules"

cat > "$KIND_STATE/daemon.json" <<JSON
{
  "runtimes": {"pgo-runc": {"path": "$KIND_HACK/runc-capdrop"}},
  "default-runtime": "pgo-runc",
  "oom-score-adjust": 0,
  "cgroup-parent": "/pgo-kind",
  "exec-opts": ["native.cgroupdriver=cgroupfs"],
  "storage-driver": "overlay2",
  "log-driver": "json-file",
  "features": {"buildkit": false}
}
JSON

libs=$root/root/usr/lib/x86_64-linux-gnu:$root/root/lib/x86_64-linux-gnu
# shellcheck disable=SC2016  # expanded by the inner shell
setsid env PATH="$root/bin:$PATH" LD_LIBRARY_PATH="$libs" \
  unshare --net --mount --propagation private -- bash -euc '
    mount -t tmpfs -o mode=0755 pgo-kind-run /run
    ip link set lo up
    exec dockerd --config-file "$1/daemon.json" --data-root "$2" --exec-root /run/pgo-docker \
      --pidfile /run/pgo-docker.pid --host "unix://$1/run/docker.sock"
  ' _ "$KIND_STATE" "$KIND_CACHE/docker" >> "$KIND_LOGS/dockerd.log" 2>&1 < /dev/null &
# `exec` keeps one PID: unshare execs bash, bash execs dockerd.
echo $! > "$KIND_STATE/pids/dockerd.pid"
pid=$!
progress "dockerd to answer" 60 env PATH="$root/bin:$PATH" docker version \
  || die "dockerd did not start (log: $KIND_LOGS/dockerd.log)"
readlink "/proc/$pid/ns/net" > "$KIND_STATE/netns"
readlink "/proc/$pid/ns/mnt" > "$KIND_STATE/mntns"
log "engine up in $((SECONDS - t0))s: dockerd pid $pid, $(<"$KIND_STATE/netns"), socket $KIND_STATE/run/docker.sock"
