#!/usr/bin/env bash
# The kind node image, assembled offline (`kind build node-image` downloads from the release site
# or registry.k8s.io in every mode). Three layers, loaded into the engine as NODE_IMAGE:
#   base    hack/kind/node-base.sh: Debian bookworm, systemd, containerd 1.6, runc, CNI plugins
#   kind    kind's own node files, read from the kind Go module at build time (never committed):
#           entrypoint, /kind/bin, systemd units and drop-ins, containerd config; the Kubernetes
#           binaries at KIND_KUBE_VERSION; /kind/version; a static ptp + host-local CNI (kindnetd
#           is not on the Go proxy: the cluster is single-node); this machine's adjustments
#           (node-entrypoint.sh, OOM scores left alone)
#   images  /var/lib/containerd with the control-plane, etcd, CoreDNS, kube-proxy and pause images
#           imported (not unpacked: containerd unpacks on first use) and labelled pinned
# Cached by its inputs: $KIND_CACHE/node-<key>.tar; when the engine already has the image, a run
# takes a second. Prints the image reference. Needs the engine (hack/kind/engine-up.sh) running.
set -Eeuo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
exec 3>&1 1>&2
PATH=$(engine_path)
RECIPE=1
EPOCH=1767225600
v=$KIND_KUBE_VERSION
kind_files=$(go env GOMODCACHE)/sigs.k8s.io/kind@$KIND_VERSION/images/base/files
[[ -d $kind_files ]] || go mod download "sigs.k8s.io/kind@$KIND_VERSION" 2>/dev/null || true
[[ -d $kind_files ]] || die "kind's node files are missing: $kind_files (go mod download sigs.k8s.io/kind@$KIND_VERSION)"

base=$("$KIND_HACK/node-base.sh")
mapfile -t images < <("$KIND_HACK/k8s-images.sh")
((${#images[@]} == 7)) || die "expected 7 node images, got ${#images[@]} (log: $KIND_LOGS/build.log)"
inputs=$KIND_CACHE/node-inputs
{
  echo "$RECIPE $v $(basename "$base")"
  # Contents and base names only: the key must not depend on where the repo or cache lives.
  for f in "$KIND_HACK/node-image.sh" "$KIND_HACK/node-entrypoint.sh" "${images[@]}" \
      "$(bin kubeadm "$v")" "$(bin kubelet "$v")" "$(bin kubectl "$v")"; do
    echo "$(sha256sum < "$f" | cut -d' ' -f1) $(basename "$f")"
  done
  (cd "$kind_files" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
} > "$inputs.tmp"
# (The inputs of the last key stay in the cache, to tell why an image was rebuilt.)
key=$(sha256sum < "$inputs.tmp" | cut -c1-16)
mv "$inputs.tmp" "$KIND_CACHE/node-inputs-$key.txt"
NODE_IMAGE=pgo.local/kind-node:$v-$key
if docker image inspect "$NODE_IMAGE" > /dev/null 2>&1; then echo "$NODE_IMAGE" >&3; exit 0; fi

out=$KIND_CACHE/node-$key.tar
if [[ ! -s $out ]]; then
  t0=$SECONDS
  log "assembling the node image $NODE_IMAGE"
  stage=$KIND_CACHE/node-stage
  rm -rf "$stage"
  mkdir -p "$stage/kind" "$stage/images"
  r=$stage/kind
  # kind's files, with the modes its Dockerfile gives them.
  cp -r "$kind_files/." "$r/"
  find "$r" -type d -exec chmod 0755 {} + ; find "$r" -type f -exec chmod 0644 {} +
  chmod 0755 "$r"/usr/local/bin/* "$r"/kind/bin/*
  install -m 0755 "$KIND_HACK/node-entrypoint.sh" "$r/usr/local/bin/pgo-entrypoint"
  for b in kubeadm kubelet kubectl; do install -D -m 0755 "$(bin "$b" "$v")" "$r/usr/bin/$b"; done
  echo "$v" > "$r/kind/version"
  mkdir -p "$r/etc/kubernetes/manifests" "$r/kind/manifests" "$r/etc/cni/net.d" \
    "$r/etc/systemd/system/multi-user.target.wants" "$r/etc/systemd/system/containerd.service.d"
  for unit in kubelet containerd undo-mount-hacks; do
    ln -s "/etc/systemd/system/$unit.service" "$r/etc/systemd/system/multi-user.target.wants/$unit.service"
  done
  # (systemd-binfmt registers formats kernel-wide.)
  ln -s /dev/null "$r/etc/systemd/system/systemd-binfmt.service"
  # Nothing may lower an OOM score on these machines (no CAP_SYS_RESOURCE).
  printf '[Service]\nOOMScoreAdjust=0\n' > "$r/etc/systemd/system/containerd.service.d/10-pgo.conf"
  sed -i -e 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' \
    -e 's|sandbox_image = .*|sandbox_image = "registry.local/pause:3.10"|' "$r/etc/containerd/config.toml"
  grep -q 'restrict_oom_score_adj = true' "$r/etc/containerd/config.toml" || die "kind's containerd config changed: no restrict_oom_score_adj"
  # cri-base.json as kind makes it: containerd's default spec + kind's product_uuid hook, no rlimits.
  ctr oci spec | python3 -c '
import json, sys
spec = json.load(sys.stdin)
spec.setdefault("hooks", {}).setdefault("createContainer", []).append({"path": "/kind/bin/mount-product-files.sh"})
spec["process"].pop("rlimits", None)
json.dump(spec, sys.stdout, indent=2)' > "$r/etc/containerd/cri-base.json"
  # The pod network: one node, so a static ptp + host-local conflist on kind's first node range.
  cat > "$r/etc/cni/net.d/10-pgo-ptp.conflist" <<'JSON'
{"cniVersion": "0.4.0", "name": "pgo-ptp", "plugins": [
  {"type": "ptp", "ipMasq": true, "mtu": 1500,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON
  # kind applies this after kubeadm init; the network above needs no objects, so it records it.
  cat > "$r/kind/manifests/default-cni.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: pgo-node-cni, namespace: kube-system}
data: {cni: "static ptp + host-local 10.244.0.0/24 in /etc/cni/net.d/10-pgo-ptp.conflist (hack/kind/node-image.sh)"}
YAML

  # The images, imported by a containerd of our own in private namespaces (its state on a private
  # tmpfs); only its content store and metadata under var/lib/containerd go in the layer.
  mkdir -p "$stage/images/var/lib/containerd"
  cat > "$stage/containerd.toml" <<TOML
version = 2
root = "$stage/images/var/lib/containerd"
state = "/run/pgo-import/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "/run/pgo-import/containerd.sock"
TOML
  # shellcheck disable=SC2016  # expanded by the inner shell
  unshare --net --mount --propagation private -- bash -euc '
    mount -t tmpfs pgo-import /run
    mkdir -p /run/pgo-import
    containerd --config "$1" > "$2" 2>&1 &
    for _ in $(seq 1 100); do [[ -S /run/pgo-import/containerd.sock ]] && break; sleep 0.1; done
    shift 2
    for tar in "$@"; do
      ref=$(ctr -a /run/pgo-import/containerd.sock -n k8s.io images import --no-unpack "$tar" | sed -n "s/^unpacking \(.*\) (sha256.*/\1/p; s/^\(.*\) saved$/\1/p" | head -1)
      for name in $(python3 -c "import json,sys,tarfile; t=tarfile.open(sys.argv[1]); print(\" \".join(m[\"annotations\"][\"io.containerd.image.name\"] for m in json.load(t.extractfile(\"index.json\"))[\"manifests\"]))" "$tar"); do
        ctr -a /run/pgo-import/containerd.sock -n k8s.io images label "$name" io.cri-containerd.pinned=pinned > /dev/null
      done
    done
    ctr -a /run/pgo-import/containerd.sock -n k8s.io images ls -q
    kill %1; wait
  ' _ "$stage/containerd.toml" "$stage/containerd.log" "${images[@]}" > "$stage/imported.txt" \
    || die "importing the node's images failed (log: $stage/containerd.log)"
  log "images in the node: $(tr '\n' ' ' < "$stage/imported.txt")"
  for layer in kind images; do
    python3 "$REPO_DIR/hack/image/oci_image.py" layer --root "$stage/$layer" --epoch "$EPOCH" \
      --out "$stage/$layer.tar.gz" > "$stage/$layer.tar.gz.json"
  done
  cat > "$stage/config.json" <<'JSON'
{"Env": ["container=docker", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
 "Entrypoint": ["/usr/local/bin/pgo-entrypoint", "/sbin/init"], "StopSignal": "SIGRTMIN+3"}
JSON
  python3 "$KIND_HACK/docker_archive.py" --layer "$base/layer.tar.gz.json" --layer "$stage/kind.tar.gz.json" \
    --layer "$stage/images.tar.gz.json" --config "$stage/config.json" --tag "$NODE_IMAGE" --out "$out" > /dev/null
  rm -rf "$stage"
  log "node image assembled in $((SECONDS - t0))s ($(du -h "$out" | cut -f1))"
fi
t0=$SECONDS
docker load -q -i "$out" > "$KIND_LOGS/node-load.log" 2>&1 || die "docker load of the node image failed (log: $KIND_LOGS/node-load.log)"
log "node image loaded into the engine in $((SECONDS - t0))s"
echo "$NODE_IMAGE" >&3
