#!/usr/bin/env bash
# fake-nodes.sh COUNT [--cpu 8] [--memory 16Gi] [--pods 110] [--prefix kwok-] [--start 0]
# Creates (or updates) kwok fake nodes kwok-<i>; kwok keeps them Ready and runs their pods.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
count=$1; shift
cpu=8 memory=16Gi pods=110 prefix=kwok- first=0
while (($#)); do
  case $1 in
    --cpu) cpu=$2 ;; --memory) memory=$2 ;; --pods) pods=$2 ;; --prefix) prefix=$2 ;; --start) first=$2 ;;
    *) die "unknown option $1" ;;
  esac
  shift 2
done
KUBECTL=$(bin kubectl "$KUBE_VERSION")
export KUBECONFIG=${KUBECONFIG:-$CLUSTER_DIR/kubeconfig}
{
  for ((i = first; i < first + count; i++)); do
    cat <<NODE
---
apiVersion: v1
kind: Node
metadata:
  name: $prefix$i
  annotations: {node.alpha.kubernetes.io/ttl: "0", kwok.x-k8s.io/node: fake}
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: $prefix$i
    type: kwok
    podgroup.dev/node-kind: fake
status:
  allocatable: {cpu: "$cpu", memory: "$memory", pods: "$pods"}
  capacity: {cpu: "$cpu", memory: "$memory", pods: "$pods"}
NODE
  done
} | "$KUBECTL" apply -f - >/dev/null
log "$count fake node(s) ${prefix}$first..$((first + count - 1)) ready to use"
