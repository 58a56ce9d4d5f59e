#!/usr/bin/env bash
# Makes throwaway TLS material for the node tests, in the folder given:
#   ca.pem / ca.key                 the cluster's certificate authority
#   node.pem / node.key             the blackboard node, signed by ca
#   worker.pem / worker.key         a worker, signed by ca
#   rogue-ca.pem / rogue-ca.key     another authority
#   rogue.pem / rogue.key           a worker signed by the other authority
# EC P-256 keys, valid for one day; CN is the role. Never use these outside tests.
set -euo pipefail
dir=${1:?usage: make_test_certs.sh DIR}
mkdir -p "$dir"
cd "$dir"

mkca() {  # name
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$1.key" -out "$1.pem" -days 1 -subj "/CN=$1" 2>/dev/null
}
mkcert() {  # name ca
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
    -out "$1.pem" -days 1 2>/dev/null
  rm -f "$1.csr"
}

mkca ca
mkca rogue-ca
mkcert node ca
mkcert worker ca
mkcert rogue rogue-ca
