#!/usr/bin/env bash
# Builds the pinned Helm CLI from the Go module proxy into the cache:
#   $PGO_CACHE/bin/helm-$HELM_VERSION
# Used by tests/unit/test_manifests.py (`helm template`, `helm lint`) and docs/install.md.
# Idempotent: a binary already in the cache is not built again (a cold build takes a few
# minutes on 2 cores; GOMAXPROCS/`nice` keep it polite on a shared machine). Prints the path.
#
# helm.sh/helm/v3 has no replace directives, so a plain module-mode `go install` works. The
# ldflags are the ones Helm's own Makefile sets: without the chartutil/lint k8s version stamps
# `helm template` would assume Kubernetes v1.20 and refuse charts with a newer kubeVersion.
set -euo pipefail
HELM_VERSION=${HELM_VERSION:-v3.22.0}
cache=${PGO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/podgroup-operator}
out=$cache/bin/helm-$HELM_VERSION
if [[ -x $out ]]; then echo "$out"; exit 0; fi

export GOFLAGS=-mod=mod GOTOOLCHAIN=${GOTOOLCHAIN:-local} CGO_ENABLED=0
work=$cache/build/helm-$HELM_VERSION
mkdir -p "$work" "$cache/bin"

# The Kubernetes version Helm assumes by default: that of the client-go it is built with
# (k8s.io/client-go v0.N.x -> 1.N), read from Helm's go.mod as its Makefile does.
gomod=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
k8s_minor=$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$gomod" | head -1)
[[ -n $k8s_minor ]] || { echo "build-helm.sh: no k8s.io/client-go in $gomod" >&2; exit 1; }

ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done

printf '[build] building helm %s (assumes Kubernetes 1.%s by default)\n' "$HELM_VERSION" "$k8s_minor" >&2
(cd "$work" && GOBIN=$work/bin nice go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
mv "$work/bin/helm" "$out"
echo "$out"
