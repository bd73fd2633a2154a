#!/usr/bin/env bash
# kwok's controller IN the kind cluster, for the e2e tests' fake nodes (the Node objects they
# annotate kwok.x-k8s.io/node=fake), as the local harness runs it (hack/cluster-up.sh):
#   image     registry.local/kwok:$KWOK_VERSION: busybox + the cached kwok binary
#             ($PGO_CACHE/bin/kwok-$KWOK_VERSION), loaded with `kind load image-archive`
#   manifest  kwok's own kustomize/kwok (Deployment, RBAC, CRDs, Service) read from the kwok Go
#             module at run time, with that image, and a configuration whose node stages are the
#             module's lease-aware ones (fast/node-initialize, heartbeat-with-lease) instead of
#             the 20 s lease-less heartbeat kwok v0.7.0 picks by itself; on the kind node
#             (podgroup.dev/node-kind=real, its taint tolerated: see cluster-create.sh)
# Then the harness's fake nodes kwok-0..3 (hack/fake-nodes.sh). Run on the machine: only kubectl goes
# into the engine's network namespace, where the kind API server listens.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
use_kind_cluster
t0=$SECONDS

"$REPO_DIR/hack/build-binaries.sh" kwok >> "$KIND_LOGS/build.log" 2>&1 || die "building kwok failed (log: $KIND_LOGS/build.log)"
tar=$KIND_CACHE/images/kwok-$KWOK_VERSION.tar
mkdir -p "$KIND_CACHE/images"
if [[ ! -s $tar ]]; then
  python3 "$REPO_DIR/hack/images/oci.py" --busybox /bin/busybox --out "$tar.tmp" --ref "registry.local/kwok:$KWOK_VERSION" \
    --entrypoint '["/usr/local/bin/kwok"]' --file "$(bin kwok "$KWOK_VERSION"):/usr/local/bin/kwok" > /dev/null
  mv "$tar.tmp" "$tar"
fi
"$KIND" load image-archive "$tar" --name "$KIND_CLUSTER" >> "$KIND_LOGS/kind.log" 2>&1 \
  || die "kind load image-archive $tar failed (log: $KIND_LOGS/kind.log)"

module=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
dir=$KIND_STATE/kwok
mkdir -p "$dir"
"$KUBECTL" kustomize "$module/kustomize/kwok" > "$dir/upstream.yaml" || die "kubectl kustomize $module/kustomize/kwok failed"
{
  # kwok's in-cluster options (kustomize/kwok/kwok.yaml) less its Stage CRDs, so that the stages
  # given here are the ones it plays; the harness's pod CIDR.
  sed -e '/^  enableCRDs:/,$d' -e 's|^  cidr: .*|  cidr: 10.250.0.1/16|' "$module/kustomize/kwok/kwok.yaml"
  for stage in fast/node-initialize heartbeat-with-lease/node-heartbeat-with-lease; do
    printf -- '---\n'
    cat "$module/kustomize/stage/node/$stage.yaml"
  done
} > "$dir/kwok.yaml"
cat > "$dir/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- upstream.yaml
images:
- {name: registry.k8s.io/kwok/kwok, newName: registry.local/kwok, newTag: $KWOK_VERSION}
patches:
- target: {kind: Deployment, name: kwok-controller}
  patch: |-
    - {op: add, path: /spec/template/spec/nodeSelector, value: {podgroup.dev/node-kind: real}}
    - {op: add, path: /spec/template/spec/tolerations, value: [{key: podgroup.dev/real-node, operator: Exists, effect: NoSchedule}]}
configMapGenerator:
- name: kwok
  namespace: kube-system
  behavior: replace
  options: {disableNameSuffixHash: true, labels: {app: kwok-controller}}
  files: [kwok.yaml]
YAML
in_engine_net "$KUBECTL" apply --server-side -k "$dir" > "$KIND_LOGS/kwok-apply.log" 2>&1 || die "applying kwok failed (log: $KIND_LOGS/kwok-apply.log)"
in_engine_net "$KUBECTL" -n kube-system rollout status deployment/kwok-controller --timeout=180s >&2 \
  || die "kwok-controller did not become ready ($KUBECTL -n kube-system logs deploy/kwok-controller)"
in_engine_net "$REPO_DIR/hack/fake-nodes.sh" 4 >&2
log "kwok in kind in $((SECONDS - t0))s"
