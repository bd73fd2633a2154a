#!/usr/bin/env bash
# The images kubeadm runs in the kind node, as OCI layout tarballs, built here (nothing can be
# pulled on these machines): each a minimal filesystem around the locally built static binary.
#   registry.k8s.io/kube-{apiserver,controller-manager,scheduler}:$KIND_KUBE_VERSION
#                         busybox (hack/images/oci.py) + /usr/local/bin/<name>
#   registry.k8s.io/kube-proxy:$KIND_KUBE_VERSION
#                         the node's Debian base (iptables, nft, conntrack and their libraries;
#                         a kube-proxy without libm.so.6, needed by libxt_statistic.so, leaves
#                         every Service dead) + /usr/local/bin/kube-proxy
#   registry.local/coredns:$COREDNS_VERSION   busybox + /coredns
#   registry.local/etcd:$ETCD_VERSION, registry.local/pause:3.10   from hack/images/build.sh
# Output: $KIND_CACHE/images/*.tar (made once per version); prints their paths.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
exec 3>&1 1>&2
out=$KIND_CACHE/images
mkdir -p "$out"
v=$KIND_KUBE_VERSION

"$REPO_DIR/hack/build-binaries.sh" kind-kube etcd coredns >> "$KIND_LOGS/build.log" 2>&1 \
  || die "building the Kubernetes binaries failed (log: $KIND_LOGS/build.log)"
# pause and etcd: the local harness's own (hack/images/build.sh).
for tar in $("$REPO_DIR/hack/images/build.sh"); do
  case $(basename "$tar") in pause.tar|etcd.tar) echo "$tar" >&3 ;; esac
done

busybox_image() {  # NAME REF BINARY IMAGE_PATH
  local tar=$out/$1.tar
  if [[ ! -s $tar || $3 -nt $tar ]]; then
    python3 "$REPO_DIR/hack/images/oci.py" --busybox /bin/busybox --out "$tar.tmp" --ref "$2" \
      --entrypoint "[\"$4\"]" --file "$3:$4" > /dev/null
    mv "$tar.tmp" "$tar"
  fi
  echo "$tar" >&3
}
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  busybox_image "$c-$v" "registry.k8s.io/$c:$v" "$(bin "$c" "$v")" "/usr/local/bin/$c"
done
busybox_image "coredns-$COREDNS_VERSION" "registry.local/coredns:$COREDNS_VERSION" "$(bin coredns "$COREDNS_VERSION")" /coredns

# kube-proxy: the node's base layer (shared, cached) + a layer with the binary.
base=$("$KIND_HACK/node-base.sh")
tar=$out/kube-proxy-$v-$(basename "$base").tar
if [[ ! -s $tar ]]; then
  stage=$(mktemp -d "$out/.kube-proxy.XXXXXX")
  install -D -m 0755 "$(bin kube-proxy "$v")" "$stage/root/usr/local/bin/kube-proxy"
  python3 "$REPO_DIR/hack/image/oci_image.py" layer --root "$stage/root" --epoch 1767225600 \
    --out "$stage/bin.tar.gz" > "$stage/bin.tar.gz.json"
  echo '{"config": {"Entrypoint": ["/usr/local/bin/kube-proxy"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}}' > "$stage/config.json"
  python3 "$REPO_DIR/hack/image/oci_image.py" image --layer "$base/layer.tar.gz.json" --layer "$stage/bin.tar.gz.json" \
    --config "$stage/config.json" --ref "registry.k8s.io/kube-proxy:$v" --out "$tar" > /dev/null
  rm -rf "$stage"
fi
echo "$tar" >&3
