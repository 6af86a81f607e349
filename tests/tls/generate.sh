#!/usr/bin/env bash
# Regenerates the test certificates of tests/tests/tls.rs (valid for 100 years; the keys are
# for tests only, never trust ca.pem anywhere else):
#   ca.pem                 the test CA
#   server.pem/.key        signed by it, for 127.0.0.1 and localhost
#   wrong-name.pem/.key    signed by it, for elsewhere.invalid only
#   other-ca.pem           an unrelated CA (a client trusting it must refuse server.pem)
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
days=36500
ca() { # name cn
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
    -subj "/CN=$2" -keyout "$tmp/$1.key" -out "$1.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
leaf() { # name san
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=stomp test server" \
    -keyout "$1.key" -out "$tmp/$1.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$2" > "$tmp/$1.ext"
  openssl x509 -req -in "$tmp/$1.csr" -CA ca.pem -CAkey "$tmp/ca.key" -CAcreateserial \
    -days "$days" -extfile "$tmp/$1.ext" -out "$1.pem" 2>/dev/null
}
ca ca "stomp-axum test CA"
ca other-ca "unrelated test CA"
leaf server "IP:127.0.0.1,DNS:localhost"
leaf wrong-name "DNS:elsewhere.invalid"
rm -f ca.srl
