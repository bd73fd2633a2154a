#!/usr/bin/env bash
# metrics-server IN the kind cluster: metrics.k8s.io for the resize code and `kubectl top`, and
# for tests/install/test_rbac.py, whose `kubectl auth can-i get pods.metrics.k8s.io` needs the
# API group served. As the local harness runs it (hack/node/up.sh): only the real node scraped
# (--node-selector podgroup.dev/node-kind=real; the kwok nodes have no kubelet to scrape), 10 s
# resolution (so a 5 s kubelet request timeout: it must be shorter); kind's kubelet serves a self-signed certificate (--kubelet-insecure-tls).
#   image     registry.local/metrics-server:$METRICS_SERVER_VERSION: busybox + the cached binary
#   manifest  the module's manifests/base, read from the Go module cache at run time
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
use_kind_cluster
t0=$SECONDS

"$REPO_DIR/hack/build-binaries.sh" metrics-server >> "$KIND_LOGS/build.log" 2>&1 \
  || die "building metrics-server failed (log: $KIND_LOGS/build.log)"
tar=$KIND_CACHE/images/metrics-server-$METRICS_SERVER_VERSION.tar
mkdir -p "$KIND_CACHE/images"
if [[ ! -s $tar ]]; then
  python3 "$REPO_DIR/hack/images/oci.py" --busybox /bin/busybox --out "$tar.tmp" \
    --ref "registry.local/metrics-server:$METRICS_SERVER_VERSION" --entrypoint '["/metrics-server"]' \
    --file "$(bin metrics-server "$METRICS_SERVER_VERSION"):/metrics-server" > /dev/null
  mv "$tar.tmp" "$tar"
fi
"$KIND" load image-archive "$tar" --name "$KIND_CLUSTER" >> "$KIND_LOGS/kind.log" 2>&1 \
  || die "kind load image-archive $tar failed (log: $KIND_LOGS/kind.log)"

module=$(go mod download -json "sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
dir=$KIND_STATE/metrics-server
mkdir -p "$dir"
"$KUBECTL" kustomize "$module/manifests/base" > "$dir/upstream.yaml" 2> "$KIND_LOGS/metrics-server-apply.log" \
  || die "kubectl kustomize $module/manifests/base failed (log: $KIND_LOGS/metrics-server-apply.log)"
cat > "$dir/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- upstream.yaml
images:
- {name: gcr.io/k8s-staging-metrics-server/metrics-server, newName: registry.local/metrics-server, newTag: $METRICS_SERVER_VERSION}
patches:
- target: {kind: Deployment, name: metrics-server}
  patch: |-
    - {op: add, path: /spec/template/spec/containers/0/args/-, value: --kubelet-insecure-tls}
    - {op: add, path: /spec/template/spec/containers/0/args/-, value: --node-selector=podgroup.dev/node-kind=real}
    - {op: replace, path: /spec/template/spec/containers/0/imagePullPolicy, value: IfNotPresent}
    - {op: add, path: /spec/template/spec/containers/0/args/-, value: --metric-resolution=10s}
    - {op: add, path: /spec/template/spec/containers/0/args/-, value: --kubelet-request-timeout=5s}
    - {op: add, path: /spec/template/spec/nodeSelector, value: {podgroup.dev/node-kind: real}}
    - {op: add, path: /spec/template/spec/tolerations, value: [{key: podgroup.dev/real-node, operator: Exists, effect: NoSchedule}]}
YAML
in_engine_net "$KUBECTL" apply --server-side -k "$dir" >> "$KIND_LOGS/metrics-server-apply.log" 2>&1 \
  || die "applying metrics-server failed (log: $KIND_LOGS/metrics-server-apply.log)"
in_engine_net "$KUBECTL" -n kube-system rollout status deployment/metrics-server --timeout=180s >&2 \
  || die "metrics-server did not become ready ($KUBECTL -n kube-system logs deploy/metrics-server)"
log "metrics-server in kind in $((SECONDS - t0))s"
