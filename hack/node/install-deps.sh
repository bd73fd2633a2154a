#!/usr/bin/env bash
# Installs the Debian packages the real node (hack/node/up.sh) and its images
# (hack/images/build.sh) need, and debootstrap for the operator's own image
# (hack/image/build.sh). Idempotent and quiet when everything is already there.
# containerd and runc are not Debian's (its containerd 1.6 is too old for kubelets from 1.36 on):
# hack/build-binaries.sh builds containerd 2 and runc from the Go module proxy; runc's cgo build
# needs libseccomp's headers and pkg-config from here. This script stops and enables nothing.
set -euo pipefail

# package:command-that-proves-it-is-installed
wanted=(
  libseccomp-dev:/usr/include/seccomp.h  # runc's seccomp (hack/build-binaries.sh runc)
  pkg-config:/usr/bin/pkg-config
  gcc:/usr/bin/gcc                       # runc is built with cgo
  containernetworking-plugins:/usr/lib/cni/bridge
  busybox-static:/bin/busybox
  util-linux:/usr/bin/unshare
  iproute2:/usr/sbin/ip
  openssl:/usr/bin/openssl
  curl:/usr/bin/curl
  debootstrap:/usr/sbin/debootstrap  # the operator image's base (hack/image/build.sh)
)

missing=()
for w in "${wanted[@]}"; do
  [[ -e ${w#*:} ]] || missing+=("${w%%:*}")
done
((${#missing[@]} == 0)) && exit 0

if ((EUID != 0)); then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# On a machine with an init system, a package's postinst could start (and enable) a system
# service; a policy-rc.d answering 101 ("action forbidden") prevents that during the install.
# A machine's own policy is left alone.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh
exit 101
' > "$policy"
  chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
