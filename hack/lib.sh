# Shared helpers for the local cluster scripts. Sourced, not executed.
# shellcheck shell=bash
HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$HACK_DIR")
# shellcheck source=versions.env
source "$HACK_DIR/versions.env"
export PGO_CACHE=${PGO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/podgroup-operator}
export BIN_DIR=$PGO_CACHE/bin
export CLUSTER_DIR=${CLUSTER_DIR:-$REPO_DIR/.cluster}
export PID_DIR=$CLUSTER_DIR/pids
export LOG_DIR=$CLUSTER_DIR/logs
export PKI_DIR=$CLUSTER_DIR/pki

# Ports of the local control plane; fixed so a second `cluster-up` finds the first.
ETCD_CLIENT_PORT=${ETCD_CLIENT_PORT:-23791}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-23801}
APISERVER_PORT=${APISERVER_PORT:-26443}
KCM_PORT=${KCM_PORT:-26257}
SCHEDULER_PORT=${SCHEDULER_PORT:-26259}
KWOK_PORT=${KWOK_PORT:-26080}
export APISERVER=https://127.0.0.1:$APISERVER_PORT

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

bin() { echo "$BIN_DIR/$1-$2"; }

# kube_minor VERSION: 37 for v1.37.2.
kube_minor() { local m=${1#v1.}; echo "${m%%.*}"; }

# running PID: alive and not a zombie. (This machine's PID 1 reaps orphans a second or
# two late; waiting for a zombie to vanish would only slow every stop down.)
running() { [[ -r /proc/$1/stat && $(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) != Z ]]; }

# alive NAME: the process recorded in NAME's pid file is still running.
alive() { [[ -f $PID_DIR/$1.pid ]] && running "$(<"$PID_DIR/$1.pid")"; }

# start NAME CMD...: run CMD in the background, log to logs/NAME.log, record its PID.
start() {
  local name=$1; shift
  if alive "$name"; then log "$name already running (pid $(cat "$PID_DIR/$name.pid"))"; return; fi
  mkdir -p "$PID_DIR" "$LOG_DIR"
  setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$PID_DIR/$name.pid"
  log "started $name (pid $!)"
}

# stop NAME: TERM the recorded PID, then KILL after a grace period. Only our own PIDs.
stop() {
  local f=$PID_DIR/$1.pid pid
  [[ -f $f ]] || return 0
  pid=$(<"$f")
  if running "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do running "$pid" || break; sleep 0.1; done
    running "$pid" && kill -KILL "$pid" 2>/dev/null
    log "stopped $1 (pid $pid)"
  fi
  rm -f "$f"
}

# wait_for DESCRIPTION SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${seconds}s waiting for $what (logs: $LOG_DIR)"
    sleep 0.5
  done
}

# write_kubeconfig FILE USER CERT: a kubeconfig for the local API server that authenticates
# with the client certificate CERT.crt / CERT.key (paths without the extension).
write_kubeconfig() {
  cat > "$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "$APISERVER", certificate-authority: "$PKI_DIR/ca.crt"}
users:
- name: $2
  user: {client-certificate: "$3.crt", client-key: "$3.key"}
contexts:
- name: local
  context: {cluster: local, user: $2}
current-context: local
KC
}
