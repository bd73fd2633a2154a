#!/usr/bin/env bash
# The operator IN the kind cluster, as users install it: its image built without Docker
# (hack/image/build.sh) and the images the e2e tests run (hack/images/build.sh:
# registry.local/tools, rendezvous, etcd, pause) go in with `kind load image-archive`; then
# `kubectl apply --server-side -k manifests/` (the base; imagePullPolicy IfNotPresent finds the
# loaded image) with the e2e fixtures' short gang backoffs and resize intervals, as
# tests/e2e/conftest.py gives its own operator process, and the kind node as its place. Waits for the rollout and /metrics.
# Run on the machine (the image builds need the network): only kubectl goes into the engine's network
# namespace, where the kind API server listens.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
use_kind_cluster
NS=podgroup-system
k() { in_engine_net "$KUBECTL" --request-timeout=30s "$@"; }
cd "$REPO_DIR"

t0=$SECONDS
operator_tar=$("$REPO_DIR/hack/image/build.sh" 2>> "$KIND_LOGS/image-build.log") \
  || die "building the operator image failed (log: $KIND_LOGS/image-build.log)"
mapfile -t test_tars < <("$REPO_DIR/hack/images/build.sh")
log "images built in $((SECONDS - t0))s"
t0=$SECONDS
for tar in "$operator_tar" "${test_tars[@]}"; do
  "$KIND" load image-archive "$tar" --name "$KIND_CLUSTER" >> "$KIND_LOGS/kind.log" 2>&1 \
    || die "kind load image-archive $tar failed (log: $KIND_LOGS/kind.log)"
done
log "loaded $((1 + ${#test_tars[@]})) image archives into kind in $((SECONDS - t0))s"

t0=$SECONDS
existed=0
k -n "$NS" get deploy/podgroup-operator > /dev/null 2>&1 && existed=1
# manifests/ as it is, and what only this test cluster needs, in the same apply (one rollout):
# the kind node for the operator's pods (the fake kwok nodes would take them and never run them;
# manifests/local pins the local harness's real node the same way: label, taint of cluster-create.sh) and the fixtures' settings.
overlay=$KIND_STATE/operator
mkdir -p "$overlay"
cat > "$overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- $(realpath --relative-to="$overlay" "$REPO_DIR/manifests")
patches:
- target: {kind: Deployment, name: podgroup-operator}
  patch: |-
    - {op: add, path: /spec/template/spec/nodeSelector, value: {podgroup.dev/node-kind: real}}
    - {op: add, path: /spec/template/spec/tolerations, value: [{key: podgroup.dev/real-node, operator: Exists, effect: NoSchedule}]}
    - {op: add, path: /spec/template/spec/containers/0/env/-, value: {name: PGO_GANG_BACKOFF_BASE_SECONDS, value: "2"}}
    - {op: add, path: /spec/template/spec/containers/0/env/-, value: {name: PGO_GANG_BACKOFF_MAX_SECONDS, value: "10"}}
    - {op: add, path: /spec/template/spec/containers/0/env/-, value: {name: PGO_RESIZE_INTERVAL_SECONDS, value: "5"}}
    - {op: add, path: /spec/template/spec/containers/0/env/-, value: {name: PGO_RESIZE_MIN_SAMPLES, value: "2"}}
    - {op: add, path: /spec/template/spec/containers/0/env/-, value: {name: PGO_RESIZE_MIN_HISTORY_SECONDS, value: "10"}}
YAML
k apply --server-side --force-conflicts --field-manager=podgroup-kind -k "$overlay" > "$KIND_LOGS/operator-apply.log" 2>&1 \
  || die "kubectl apply -k manifests/ failed (log: $KIND_LOGS/operator-apply.log)"
k wait --for=condition=Established crd/podgroups.podgroup.dev --timeout=60s > /dev/null
# A rebuilt image under the same tag is not picked up by a running pod by itself.
((existed)) && k -n "$NS" rollout restart deploy/podgroup-operator > /dev/null
k -n "$NS" rollout status deploy/podgroup-operator --timeout=180s >&2 || {
  k -n "$NS" describe pod -l app.kubernetes.io/name=podgroup-operator | tail -20 >&2
  die "the operator did not become Ready in kind"
}
progress "the operator's /metrics through its Service" 90 \
  in_engine_net bash -c "'$KUBECTL' get --raw /api/v1/namespaces/$NS/services/http:podgroup-operator-metrics:8080/proxy/metrics | grep -q '^podgroup_'" \
  || die "the operator's /metrics shows no podgroup_* series"
log "operator Ready in kind in $((SECONDS - t0))s"
