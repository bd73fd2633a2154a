#!/usr/bin/env bash
# The kind node's base filesystem: Debian bookworm by debootstrap, with what kind's node image
# carries (systemd 252 still runs on cgroup v1) and Debian's containerd, runc and CNI plugins.
# Cached as $KIND_CACHE/node-base-<key>/{rootfs,layer.tar.gz,layer.tar.gz.json}, the key being
# the suite, mirror, packages and this recipe; prints the folder. Made once (a minute or two).
set -Eeuo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
exec 3>&1 1>&2

SUITE=bookworm
PACKAGES=systemd,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,bash,ca-certificates,curl,jq,procps,containerd,runc,containernetworking-plugins,socat
RECIPE=1
EPOCH=1767225600  # 2026-01-01T00:00:00Z: the layer's clamp time
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

key=$(printf '%s\n' "$SUITE" "$MIRROR" "$PACKAGES" "$RECIPE" | sha256sum | cut -c1-16)
dir=$KIND_CACHE/node-base-$key
if [[ -s $dir/layer.tar.gz.json ]]; then echo "$dir" >&3; exit 0; fi
((EUID == 0)) || die "needs root (debootstrap)"
command -v debootstrap > /dev/null || "$(dirname "$0")/../node/install-deps.sh" || die "debootstrap is missing: apt-get install debootstrap"
t0=$SECONDS
log "making the node's base filesystem (debootstrap $SUITE, log $dir/debootstrap.log); once per key $key"
rm -rf "$dir"
mkdir -p "$dir" "$KIND_CACHE/debs"
rootfs=$dir/rootfs
# Its /proc and /sys mounts in the target stay inside this private mount namespace.
unshare --mount --propagation private -- \
  debootstrap --variant=minbase --include="$PACKAGES" --cache-dir="$KIND_CACHE/debs" \
    "$SUITE" "$rootfs" "$MIRROR" > "$dir/debootstrap.log" 2>&1 \
  || die "debootstrap failed (log: $dir/debootstrap.log)"
(
  cd "$rootfs"
  # What kind's base image does to the packaged systemd: no units wanted by default (kind's own
  # are enabled by node-image.sh), no kmsg in the journal.
  find lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
  rm -f lib/systemd/system/multi-user.target.wants/* etc/systemd/system/*.wants/* \
    lib/systemd/system/local-fs.target.wants/* lib/systemd/system/sockets.target.wants/*udev* \
    lib/systemd/system/sockets.target.wants/*initctl* lib/systemd/system/basic.target.wants/*
  echo "ReadKMsg=no" >> etc/systemd/journald.conf
  ln -sf /usr/lib/systemd/systemd sbin/init
  # Debian's sysctl defaults change machine-wide keys (kernel.pid_max, fs.protected_*,
  # kernel.sysrq) from a privileged container: the node keeps only kind's per-namespace ones.
  rm -f usr/lib/sysctl.d/*.conf etc/sysctl.d/*.conf
  # kind's units expect containerd and the CNI plugins where its own builds put them.
  ln -sf /usr/bin/containerd usr/local/bin/containerd
  mkdir -p opt/cni/bin
  for p in host-local loopback ptp portmap bridge; do ln -sf "/usr/lib/cni/$p" "opt/cni/bin/$p"; done
  rm -rf var/cache/apt/* var/lib/apt/lists/* var/log/* tmp/* usr/share/man/* usr/share/doc/* \
    etc/resolv.conf etc/hostname
  : > etc/machine-id
)
log "writing the base layer"
python3 "$REPO_DIR/hack/image/oci_image.py" layer --root "$rootfs" --epoch "$EPOCH" \
  --exclude-contents dev --exclude-contents proc --exclude-contents sys --exclude-contents run \
  --out "$dir/layer.tar.gz" > "$dir/layer.tar.gz.json.tmp"
mv "$dir/layer.tar.gz.json.tmp" "$dir/layer.tar.gz.json"
log "node base ready in $((SECONDS - t0))s ($(du -sh "$rootfs" | cut -f1), layer $(du -h "$dir/layer.tar.gz" | cut -f1))"
echo "$dir" >&3
