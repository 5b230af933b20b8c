#!/usr/bin/env bash
# make-ca.sh -- a root CA and an intermediate CA for Ember's local signer, made with the openssl
# CLI, and the intermediate written as a kubernetes.io/tls Secret manifest (no kubectl needed).
#
# Usage: make-ca.sh OUTDIR [NAMESPACE [SECRET_NAME]]    (defaults: demo, local-ca)
#
# Writes into OUTDIR (created; refused if it already holds a CA, so a root key is never
# overwritten):
#   root.key, root.crt                  the root CA (EC P-384, 10 years): keep root.key offline
#   intermediate.key, intermediate.crt  the CA Ember signs with (EC P-256, 5 years, pathlen 0)
#   secret.yaml                         Secret NAMESPACE/SECRET_NAME, type kubernetes.io/tls:
#                                       tls.crt = the intermediate (the chain below the root),
#                                       tls.key = its key, ca.crt = the root
# Key files and secret.yaml are readable by their owner only. Environment: ROOT_CN and
# INTERMEDIATE_CN name the CAs; ROOT_DAYS and INTERMEDIATE_DAYS set their lifetimes.
set -u

if [ $# -lt 1 ] || [ $# -gt 3 ] || [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  echo "usage: $0 OUTDIR [NAMESPACE [SECRET_NAME]]" >&2
  exit 2
fi
out=$1
ns=${2:-demo}
name=${3:-local-ca}
root_cn=${ROOT_CN:-Ember Example Root CA}
inter_cn=${INTERMEDIATE_CN:-Ember Example Intermediate CA}
root_days=${ROOT_DAYS:-3650}
inter_days=${INTERMEDIATE_DAYS:-1825}

# Kubernetes object names: DNS-1123 labels / subdomains.
valid_name() { [[ $1 =~ ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$ ]] && [ ${#1} -le 253 ]; }
valid_name "$ns" || { echo "make-ca.sh: invalid namespace '$ns'" >&2; exit 2; }
valid_name "$name" || { echo "make-ca.sh: invalid Secret name '$name'" >&2; exit 2; }
for f in root.key intermediate.key secret.yaml; do
  if [ -e "$out/$f" ]; then
    echo "make-ca.sh: $out/$f exists; refusing to overwrite a CA (choose another OUTDIR)" >&2
    exit 1
  fi
done
command -v openssl >/dev/null || { echo "make-ca.sh: openssl not found" >&2; exit 1; }
mkdir -p "$out" || exit 1
umask 077

fail() { echo "make-ca.sh: $*" >&2; exit 1; }

openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -sha384 \
  -days "$root_days" -subj "/CN=$root_cn" -keyout "$out/root.key" -out "$out/root.crt" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" 2>"$out/openssl.log" || fail "root CA: $(cat "$out/openssl.log")"

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$inter_cn" \
  -keyout "$out/intermediate.key" -out "$out/intermediate.csr" 2>"$out/openssl.log" ||
  fail "intermediate key and CSR: $(cat "$out/openssl.log")"
# pathlen:0 -- the intermediate signs leaves only; Ember never issues further CAs from it.
cat >"$out/intermediate.ext" <<EXT
basicConstraints=critical,CA:TRUE,pathlen:0
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
EXT
openssl x509 -req -sha384 -in "$out/intermediate.csr" -CA "$out/root.crt" -CAkey "$out/root.key" \
  -set_serial "0x$(openssl rand -hex 16)" -days "$inter_days" -extfile "$out/intermediate.ext" \
  -out "$out/intermediate.crt" 2>"$out/openssl.log" ||
  fail "signing the intermediate: $(cat "$out/openssl.log")"
openssl verify -x509_strict -CAfile "$out/root.crt" "$out/intermediate.crt" >/dev/null 2>"$out/openssl.log" ||
  fail "the intermediate does not verify against the root: $(cat "$out/openssl.log")"
rm -f "$out/intermediate.csr" "$out/intermediate.ext" "$out/openssl.log"
chmod 644 "$out/root.crt" "$out/intermediate.crt"

# The Secret Ember's Issuer names in spec.ca.secretName. base64 -w0: one line per value.
{
  echo "# The CA Ember signs with: intermediate \"$inter_cn\" under root \"$root_cn\"."
  echo "# Made by examples/local-ca/make-ca.sh; it holds a private key: apply it, then delete it."
  echo "apiVersion: v1"
  echo "kind: Secret"
  echo "type: kubernetes.io/tls"
  echo "metadata:"
  echo "  name: $name"
  echo "  namespace: $ns"
  echo "data:"
  echo "  tls.crt: $(base64 -w0 "$out/intermediate.crt")"
  echo "  tls.key: $(base64 -w0 "$out/intermediate.key")"
  echo "  ca.crt: $(base64 -w0 "$out/root.crt")"
} >"$out/secret.yaml" || fail "cannot write $out/secret.yaml"

echo "make-ca.sh: wrote $out/secret.yaml (Secret $ns/$name); the root is $out/root.crt"
