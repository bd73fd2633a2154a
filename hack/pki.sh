#!/usr/bin/env bash
# Creates the local cluster's certificates and kubeconfigs under $PKI_DIR (once).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
mkdir -p "$PKI_DIR"
cd "$PKI_DIR"

# Addresses the API server certificate must carry: loopback, the in-cluster service IP,
# and the host address pods use to reach it (CLUSTER_HOST_IP, see node/up.sh).
API_SANS="IP:127.0.0.1,IP:10.96.0.1,IP:${CLUSTER_HOST_IP:-10.244.0.1},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"

ca() { # ca NAME CN
  [[ -f $1.crt ]] && return
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.crt" -days 3650 \
    -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}

cert() { # cert NAME CA SUBJECT EXTKEYUSAGE [SANS]
  local name=$1 ca=$2 subj=$3 eku=$4 sans=${5:-}
  [[ -f $name.crt ]] && return
  openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subj" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [[ -n $sans ]] && echo "subjectAltName=$sans"
  } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
    -out "$name.crt" -days 3650 -extfile "$name.ext" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

kubeconfig() { # kubeconfig NAME CERT
  [[ -f $1.kubeconfig ]] || write_kubeconfig "$PKI_DIR/$1.kubeconfig" "$1" "$PKI_DIR/$2"
}

ca ca podgroup-local-ca
ca front-proxy-ca podgroup-local-front-proxy-ca
cert apiserver ca "/CN=kube-apiserver" serverAuth "$API_SANS"
cert apiserver-kubelet-client ca "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
cert front-proxy-client front-proxy-ca "/CN=front-proxy-client" clientAuth
cert admin ca "/O=system:masters/CN=kubernetes-admin" clientAuth
cert controller-manager ca "/CN=system:kube-controller-manager" clientAuth
cert scheduler ca "/CN=system:kube-scheduler" clientAuth
cert kwok ca "/O=system:masters/CN=kwok" clientAuth
[[ -f sa.key ]] || { openssl genrsa -out sa.key 2048 2>/dev/null; openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null; }
kubeconfig admin admin
kubeconfig controller-manager controller-manager
kubeconfig scheduler scheduler
kubeconfig kwok kwok
