#!/usr/bin/env bash
# Stops every process hack/cluster-up.sh started (by the PIDs it recorded) and removes the
# cluster's state. Idempotent.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[[ -x $HACK_DIR/node/down.sh && -d $CLUSTER_DIR/node ]] && "$HACK_DIR/node/down.sh"
for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$name"; done
# Anything else left in the pid folder was started by us too (e.g. by node/up.sh).
for f in "$PID_DIR"/*.pid; do [[ -e $f ]] && stop "$(basename "$f" .pid)"; done
rm -rf "$CLUSTER_DIR"
log "cluster stopped"
