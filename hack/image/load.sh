#!/usr/bin/env bash
# Imports the operator's image into the local cluster's real node (containerd of real-0), as
# hack/node/up.sh does for the cluster's own images:
#   hack/image/load.sh [IMAGE.tar]     (default: build it with hack/image/build.sh)
# The image is pinned, so the kubelet's image GC never removes it; pods use it with
# imagePullPolicy Never (manifests/local/). Needs root and a running real node
# (make cluster-up); CLUSTER_DIR as for the cluster scripts (default: .cluster).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
source "$here/../lib.sh"

tar=${1:-$("$here/build.sh")}
sock=$CLUSTER_DIR/node/containerd/containerd.sock
config=$CLUSTER_DIR/node/containerd/config.toml
[[ -S $sock ]] || die "no containerd socket at $sock: is the real node running? (make cluster-up)"
# (Without containerd 2's cgroup v1 deprecation warning, which every ctr call repeats.)
ctr_() {
  "$(bin ctr "$CONTAINERD_VERSION")" -a "$sock" -n k8s.io "$@" \
    2> >(grep -v 'DEPRECATION: The support for cgroup v1' >&2 || true)
}

# The snapshotter the node's CRI plugin uses (overlayfs, or native where overlay cannot mount):
# an image unpacked for another snapshotter would be unpacked again at the first pod start.
snapshotter=$(sed -n 's/^ *snapshotter = "\(.*\)"/\1/p' "$config" | head -1)
refs=$(python3 -c 'import json, sys, tarfile
index = json.load(tarfile.open(sys.argv[1]).extractfile("index.json"))
print(" ".join(m["annotations"]["io.containerd.image.name"] for m in index["manifests"]))' "$tar")

ctr_ images import ${snapshotter:+--snapshotter "$snapshotter"} "$tar" >/dev/null
for ref in $refs; do
  ctr_ images label "$ref" io.cri-containerd.pinned=pinned >/dev/null
  log "imported $ref into $(basename "$CLUSTER_DIR")'s real node ($(ctr_ images ls "name==$ref" | awk 'NR == 2 {print $3, $4, $5}'))"
done
