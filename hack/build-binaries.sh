#!/usr/bin/env bash
# Builds the pinned upstream binaries the local cluster needs, from the Go module proxy,
# into a cache outside the repo: $PGO_CACHE/bin/<name>-<version>. Idempotent: a binary
# already in the cache is not built again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${PGO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/podgroup-operator}
bin=$cache/bin
work=$cache/build
mkdir -p "$bin" "$work"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

log() { printf '[build] %s\n' "$*" >&2; }

# k8s.io/kubernetes replaces its k8s.io/* staging modules with local folders, so `go install`
# refuses it. A wrapper module copies its go.mod and points each staging module at the
# published v0.<minor>.<patch> instead.
kube_module() {
  local version=$1
  local dir=$work/kubernetes-$version staging_version=v0.${version#v1.}
  if [[ -f $dir/go.mod ]]; then echo "$dir"; return; fi
  mkdir -p "$dir"
  local upstream
  upstream=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  sed -e 's|^module k8s.io/kubernetes$|module podgroup.dev/kube-build|' \
      -e "s|=> ./staging/src/\(k8s.io/[a-z0-9-]*\)$|=> \1 $staging_version|" \
      "$upstream" > "$dir/go.mod.tmp"
  printf '\nrequire k8s.io/kubernetes %s\n' "$version" >> "$dir/go.mod.tmp"
  mv "$dir/go.mod.tmp" "$dir/go.mod"
  echo "$dir"
}

kube_ldflags() {
  local version=$1
  local minor=${version#v1.}; minor=${minor%%.*}
  local f="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    f+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$f"
}

# build_kube NAME VERSION: k8s.io/kubernetes/cmd/NAME at VERSION (the local cluster's KUBE_VERSION,
# or the kind stage's KIND_KUBE_VERSION: both can sit side by side in the cache).
build_kube() {
  local name=$1 version=$2 out=$bin/$1-$2
  [[ -x $out ]] && return
  local dir; dir=$(kube_module "$version")
  log "building $name $version"
  (cd "$dir" && go build -trimpath -ldflags "$(kube_ldflags "$version")" -o "$out.tmp" "k8s.io/kubernetes/cmd/$name")
  mv "$out.tmp" "$out"
}

# etcd's server module also carries replace directives; a wrapper builds its main package.
build_etcd() {
  local out=$bin/etcd-$ETCD_VERSION
  [[ -x $out ]] && return
  local dir=$work/etcd-$ETCD_VERSION
  mkdir -p "$dir"
  log "building etcd $ETCD_VERSION"
  local upstream
  upstream=$(go mod download -json "go.etcd.io/etcd/server/v3@$ETCD_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  # Its sibling modules are required at the same published version; only the local replaces go.
  sed -e 's|^module go.etcd.io/etcd/server/v3$|module podgroup.dev/etcd-build|' \
      -e '/=> \.\.\//d' -e '/^replace .*FORBIDDEN_DEPENDENCY/d' \
      "$upstream" > "$dir/go.mod"
  printf '\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >> "$dir/go.mod"
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$out.tmp" go.etcd.io/etcd/server/v3)
  mv "$out.tmp" "$out"
}

# kwok, metrics-server and coredns build with a plain `go install`-style build.
build_plain() {
  local name=$1 pkg=$2 version=$3 out=$bin/$1-$3
  [[ -x $out ]] && return
  local dir=$work/$name-$version
  mkdir -p "$dir"
  log "building $name $version"
  (cd "$dir" && GOBIN=$dir/bin go install -trimpath -ldflags "-s -w" "$pkg@$version")
  mv "$dir/bin/$name" "$out"
}

# containerd 2 for the real node: the daemon, ctr and the runc shim, static (CGO off). Its module
# has no replace directives, so each command builds as `go install <cmd>@<version>`; the ldflags
# are its Makefile's (version and package; the revision is the tag, a module has no commit).
build_containerd() {
  local name=$1 out=$bin/$1-$CONTAINERD_VERSION
  [[ -x $out ]] && return
  local dir=$work/containerd-$CONTAINERD_VERSION p=github.com/containerd/containerd/v2
  mkdir -p "$dir"
  log "building $name $CONTAINERD_VERSION"
  local ldflags="-s -w -X $p/version.Version=$CONTAINERD_VERSION -X $p/version.Revision=$CONTAINERD_VERSION"
  ldflags+=" -X $p/version.Package=$p"
  (cd "$dir" && GOBIN=$dir/bin go install -trimpath -tags urfave_cli_no_docs -ldflags "$ldflags" \
    "$p/cmd/$name@$CONTAINERD_VERSION")
  mv "$dir/bin/$name" "$out"
}

# runc needs cgo and libseccomp (Debian's libseccomp-dev, hack/node/install-deps.sh) for its
# seccomp support; its Makefile's tags minus libpathrs (a Rust library Debian 12 lacks: runc
# then uses its Go path-resolution code). Dynamically linked against libc and libseccomp.
build_runc() {
  local out=$bin/runc-$RUNC_VERSION
  [[ -x $out ]] && return
  local dir=$work/runc-$RUNC_VERSION
  mkdir -p "$dir"
  log "building runc $RUNC_VERSION"
  # A new machine has neither: install-deps.sh installs them from Debian's packages.
  pkg-config --exists libseccomp 2>/dev/null || "$here/node/install-deps.sh" || true
  pkg-config --exists libseccomp 2>/dev/null \
    || { echo "runc needs libseccomp-dev and pkg-config: hack/node/install-deps.sh could not install them" >&2; exit 1; }
  (cd "$dir" && CGO_ENABLED=1 GOBIN=$dir/bin go install -trimpath -buildmode=pie \
    -tags "seccomp urfave_cli_no_docs" -ldflags "-s -w -X main.gitCommit=$RUNC_VERSION" \
    "github.com/opencontainers/runc@$RUNC_VERSION")
  mv "$dir/bin/runc" "$out"
}

targets=${*:-etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kwok kwokctl metrics-server coredns containerd containerd-shim-runc-v2 ctr runc}
for t in $targets; do
  case $t in
    etcd) build_etcd ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl|kubelet) build_kube "$t" "$KUBE_VERSION" ;;
    # The kind stage's node (hack/kind/): every Kubernetes binary at KIND_KUBE_VERSION.
    kind-kube) for c in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kubeadm kube-proxy; do
                 build_kube "$c" "$KIND_KUBE_VERSION"; done ;;
    kubeadm|kube-proxy) build_kube "$t" "$KIND_KUBE_VERSION" ;;
    kind) build_plain kind sigs.k8s.io/kind "$KIND_VERSION" ;;
    kwok|kwokctl) build_plain "$t" "sigs.k8s.io/kwok/cmd/$t" "$KWOK_VERSION" ;;
    metrics-server) build_plain metrics-server "sigs.k8s.io/metrics-server/cmd/metrics-server" "$METRICS_SERVER_VERSION" ;;
    coredns) build_plain coredns "github.com/coredns/coredns" "$COREDNS_VERSION" ;;
    containerd|containerd-shim-runc-v2|ctr) build_containerd "$t" ;;
    runc) build_runc ;;
    *) echo "unknown target $t" >&2; exit 2 ;;
  esac
done
log "binaries in $bin"
