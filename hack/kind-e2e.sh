#!/usr/bin/env bash
# `make kind-e2e`: the e2e suite (tests/e2e) and the install tests (tests/install) against the
# operator deployed IN a kind cluster at Kubernetes $KIND_KUBE_VERSION (the oldest supported; the
# local cluster runs the newest).
#
# Two paths:
#   stock    the user's Docker engine answers and kind is on PATH: hack/kind/stock.sh (stock node
#            image, kwok and metrics-server from their release manifests; needs a registry)
#   offline  otherwise (these machines: no Docker engine, no registry): everything from Debian's
#            packages, the Go module proxy and this repository:
#     engine    hack/kind/engine-up.sh: Debian's dockerd in network + mount namespaces of its own
#     node      hack/kind/node-image.sh: the node image assembled offline (cached by its inputs)
#     cluster   hack/kind/cluster-create.sh: kind create cluster, cgroup-v1 kubelet patches
#     kwok      hack/kind/kwok.sh: kwok's controller in kind, the harness's fake nodes;
#               hack/kind/metrics-server.sh: metrics.k8s.io
#     operator  hack/kind/deploy-operator.sh: images in with `kind load image-archive`, the
#               operator applied from manifests/
#     e2e       pytest tests/e2e, PGO_E2E_EXTERNAL_OPERATOR=1, inside the engine's network
#               namespace (where kind publishes the API server on 127.0.0.1). The kind node is
#               the real node (real containers, cgroups) of the tests that need one; those that
#               start, stop or kill a local operator process are deselected, saying so.
#     install   pytest tests/install, likewise
#     teardown  hack/kind/engine-down.sh, then tests/teardown/test_kind_left_nothing.py: no
#               process, namespace, mount, cgroup, interface of the stage left, the machine's
#               /proc/sys and nftables as before
#   Each step's time is printed as it ends and all together at the end.
#
# Environment: KIND_OFFLINE=1 (offline path even with a Docker engine) / 0 (stock path),
#   KEEP_CLUSTER=1 (leave engine and cluster running; hack/kind/engine-down.sh ends them),
#   E2E_ARGS / INSTALL_ARGS (extra pytest arguments, e.g. -k gang), SKIP_INSTALL=1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

stock_possible() {
  command -v kind > /dev/null && command -v docker > /dev/null && docker info > /dev/null 2>&1
}
case ${KIND_OFFLINE:-auto} in
  0) exec "$here/kind/stock.sh" ;;
  auto) stock_possible && exec "$here/kind/stock.sh" ;;
esac

# shellcheck source=kind/lib.sh
source "$here/kind/lib.sh"
cd "$REPO_DIR"
KEEP_CLUSTER=${KEEP_CLUSTER:-0}
PYTHON=${PYTHON:-$REPO_DIR/.venv/bin/python}
[[ -x $PYTHON ]] || die "no $PYTHON: run make venv"
((EUID == 0)) || die "the offline path needs root (namespaces, debootstrap)"

start=$SECONDS step_start=$SECONDS
steps=()
step() {  # step NAME: record how long the step that just ended took
  steps+=("$1 $((SECONDS - step_start))s")
  log "step $1 took $((SECONDS - step_start))s (total $((SECONDS - start))s)"
  step_start=$SECONDS
}

# The machine as it is before the stage, for the teardown check.
record=$(mktemp /tmp/pgo-kind-teardown.XXXXXX.json)
before=$(mktemp /tmp/pgo-kind-before.XXXXXX.json)
python3 -m tests.teardown.kind_state "$before"
engine_started=0
[[ -n $(engine_pid) ]] || engine_started=1

# shellcheck disable=SC2329  # called from the EXIT trap
teardown() {
  local rc=$1 pid netns mntns
  pid=$(engine_pid) || true
  netns=$(cat "$KIND_STATE/netns" 2>/dev/null || true) mntns=$(cat "$KIND_STATE/mntns" 2>/dev/null || true)
  if ((rc != 0)) && [[ -n $pid && -f $KIND_STATE/kubeconfig ]]; then
    log "failed; the operator's log ends with:"
    KUBECONFIG=$KIND_STATE/kubeconfig in_engine_net "$(bin kubectl "$KIND_KUBE_VERSION")" -n podgroup-system logs \
      -l app.kubernetes.io/name=podgroup-operator --prefix --tail=60 >&2 2>/dev/null || true
    rm -rf "$REPO_DIR/.kind-logs" && cp -r "$KIND_LOGS" "$REPO_DIR/.kind-logs" 2>/dev/null && log "logs kept in .kind-logs/"
  fi
  if [[ $KEEP_CLUSTER == 1 ]]; then
    log "keeping engine and cluster: KUBECONFIG=$KIND_STATE/kubeconfig, inside 'nsenter --net=/proc/$pid/ns/net'; end them with hack/kind/engine-down.sh"
    return "$rc"
  fi
  "$KIND_HACK/engine-down.sh" || rc=1
  if ((engine_started)) && [[ -n $pid ]]; then
    python3 - "$before" "$record" "$pid" "$netns" "$mntns" "$KIND_STATE" "$KIND_CACHE/docker" <<'PY'
import json, sys
before, out, pid, netns, mntns, state, data = sys.argv[1:]
json.dump({"before": json.load(open(before)), "pids": [int(pid)], "netns": netns, "mntns": mntns,
           "state": state, "folders": [state, data]}, open(out, "w"))
PY
    PGO_KIND_TEARDOWN=$record "$PYTHON" -m pytest -q -p no:cacheprovider tests/teardown/test_kind_left_nothing.py || rc=1
  fi
  step teardown
  rm -f "$record" "$before"
  return "$rc"
}
trap 'rc=$?; trap - EXIT; teardown "$rc"; log "steps: ${steps[*]}"; log "kind-e2e took $((SECONDS - start))s"; exit $rc' EXIT

"$KIND_HACK/engine-up.sh"
step engine
node_image=$("$KIND_HACK/node-image.sh")
step node-image
"$KIND_HACK/cluster-create.sh" "$node_image"
step create-cluster
"$KIND_HACK/kwok.sh"
"$KIND_HACK/metrics-server.sh"
"$KIND_HACK/deploy-operator.sh"
step load-and-deploy

export KUBECONFIG=$KIND_STATE/kubeconfig PGO_E2E_EXTERNAL_OPERATOR=1
# The test images went in with `kind load`: their templates name each image's second tag for the
# operator's image switch (tests/e2e/realnode.py name_restart_images, README "On kind").
export PGO_E2E_IMAGES_KIND_LOADED=1
# The node's kube-scheduler, by its PID on the machine, for the test that pauses it
# (tests/e2e/nodes.py: scheduler_paused checks that the PID is a kube-scheduler).
export PGO_E2E_SCHEDULER_PID_FILE=$KIND_STATE/pids/kube-scheduler.pid
PATH=$(engine_path) docker top "$KIND_CLUSTER-control-plane" -eo pid,args \
  | awk '$2 == "kube-scheduler" { print $1 }' > "$PGO_E2E_SCHEDULER_PID_FILE"
[[ -s $PGO_E2E_SCHEDULER_PID_FILE ]] || die "no kube-scheduler process in the kind node (docker top)"
rc=0
log "running tests/e2e against the operator in kind ($KIND_KUBE_VERSION)"
read -ra e2e_args <<< "${E2E_ARGS:-}"
# needs_restart_all (pyproject.toml says why): deselected here, run by the local stage.
pending=(-m "not needs_restart_all")
in_engine_net "$PYTHON" -m pytest -q "${pending[@]}" tests/e2e "${e2e_args[@]}" || rc=1
step e2e
if [[ ${SKIP_INSTALL:-0} != 1 ]]; then
  log "running tests/install against the operator in kind"
  read -ra install_args <<< "${INSTALL_ARGS:-}"
  in_engine_net "$PYTHON" -m pytest -q "${pending[@]}" tests/install "${install_args[@]}" || rc=1
  step install
fi
exit "$rc"
