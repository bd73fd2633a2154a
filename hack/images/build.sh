#!/usr/bin/env bash
# Builds the local cluster's container images as OCI layout tarballs, from Debian's
# busybox-static (no docker, no registry: nothing can be pulled on these machines):
#   registry.local/pause:3.10   the pod sandbox ("pause") image named in containerd's sandbox_image
#   registry.local/tools:1.0    busybox with every applet linked in /bin; entrypoint sh
# Each image also has a second tag, <ref>-alt, naming the very same manifest digest, so a pod can
# switch image reference to an identical image (the in-place restart on kind, where `kind load`
# leaves no digest the node resolves: tests/e2e/realnode.py name_restart_images).
#   registry.local/etcd:$ETCD_VERSION  tools + the harness's static etcd at /usr/local/bin/etcd
#                               (the path of the upstream etcd image)
#   registry.local/rendezvous:1.0  tools + /usr/local/bin/rendezvous, built here from
#                               hack/images/rendezvous (a rank rendezvous; Go standard library only)
# Output: $PGO_CACHE/images/<name>.tar, rebuilt only when an input changed; prints their paths.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../versions.env
source "$here/../versions.env"
cache=${PGO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/podgroup-operator}
out=${IMAGES_DIR:-$cache/images}
busybox=/bin/busybox  # from busybox-static (hack/node/install-deps.sh installs it)
# Debian's python3 where there is one; the script needs only the standard library.
python=$(command -v /usr/bin/python3 || command -v python3)

if ! [[ -x $busybox ]] || ! "$busybox" --list | grep -qx sh; then
  echo "images/build.sh: $busybox (Debian busybox-static) is missing: run hack/node/install-deps.sh" >&2
  exit 1
fi
mkdir -p "$out"

# PID 1 of every pod sandbox: sleeps until TERM/INT and exits 0 then. (busybox `sleep` alone
# would ignore TERM as PID 1 and make every sandbox stop wait for a KILL.)
pause_script='trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'

# image NAME ARGS...: build $out/NAME.tar unless it is newer than every input (INPUTS: extra ones).
image() {
  local tar=$out/$1.tar; shift
  local input stale=0
  [[ -f $tar ]] || stale=1
  for input in "$here/oci.py" "$here/build.sh" "$busybox" ${INPUTS:-}; do
    [[ $input -nt $tar ]] && stale=1
  done
  if ((stale)); then
    "$python" "$here/oci.py" --busybox "$busybox" --out "$tar.tmp" "$@" >/dev/null
    mv "$tar.tmp" "$tar"
  fi
  echo "$tar"
}

image pause --ref registry.local/pause:3.10 \
  --entrypoint "$("$python" -c 'import json,sys; print(json.dumps(["/bin/sh", "-c", sys.argv[1]]))' "$pause_script")"
# The tools image runs like the pause one when a pod gives neither command nor args.
image tools --ref registry.local/tools:1.0 --ref registry.local/tools:1.0-alt \
  --entrypoint '["/bin/sh"]' \
  --cmd "$("$python" -c 'import json,sys; print(json.dumps(["-c", sys.argv[1]]))' "$pause_script")"

# Programs for the real node's e2e tests of networking (tests/e2e/test_networking.py).
etcd=$cache/bin/etcd-$ETCD_VERSION
[[ -x $etcd ]] || { echo "images/build.sh: $etcd is missing: run hack/build-binaries.sh etcd" >&2; exit 1; }
INPUTS=$etcd image etcd --ref "registry.local/etcd:$ETCD_VERSION" --ref "registry.local/etcd:$ETCD_VERSION-alt" \
  --entrypoint '["/usr/local/bin/etcd"]' --file "$etcd:/usr/local/bin/etcd"

rendezvous=$out/rendezvous-bin
if [[ ! -x $rendezvous || $here/rendezvous/main.go -nt $rendezvous || $here/rendezvous/go.mod -nt $rendezvous ]]; then
  (cd "$here/rendezvous" && CGO_ENABLED=0 GOFLAGS= GOTOOLCHAIN=local go build -trimpath -ldflags "-s -w" -o "$rendezvous.tmp" .)
  mv "$rendezvous.tmp" "$rendezvous"
fi
INPUTS=$rendezvous image rendezvous --ref registry.local/rendezvous:1.0 --ref registry.local/rendezvous:1.0-alt \
  --entrypoint '["/usr/local/bin/rendezvous"]' --file "$rendezvous:/usr/local/bin/rendezvous"
