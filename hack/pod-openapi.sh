#!/usr/bin/env bash
# Prints the path of the upstream core/v1 OpenAPI v3 document of POD_SCHEMA_KUBE_VERSION (the
# oldest supported Kubernetes, not the cluster's KUBE_VERSION; hack/versions.env says why), from the
# Go module cache, which the CRD generator embeds for pod templates.
set -euo pipefail
source "$(dirname "$0")/versions.env"
dir=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$POD_SCHEMA_KUBE_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
echo "$dir/api/openapi-spec/v3/api__v1_openapi.json"
