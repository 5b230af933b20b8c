#!/usr/bin/env bash
# test_api_hostile.sh -- malformed and hostile bodies and CSRs get a 4xx with a message, and
# the server stays healthy; wrong methods, paths, content types and sizes are refused.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh

make_ca "$WORK/ca"
start_ember hostile --manifests test/integration/manifests --manifests "$WORK/ca/secret.yaml" \
  --api-max-body-bytes 65536 || exit 1

make_csr "$WORK/good" -subj /CN=h.example.com -addext subjectAltName=DNS:h.example.com
cr_json good default "$WORK/good.csr" ClusterIssuer test-ca web "" '[]' >"$WORK/good.json"

# expect_code NAME CODE FILE [CONTENT_TYPE] [MESSAGE_SUBSTRING]
expect_code() {
  post /v1/certificaterequests "$3" "${4:-application/json}"
  if [ "$CODE" != "$2" ]; then not_ok "$1 (got $CODE, want $2: $(head -c 300 "$BODY"))"; return; fi
  if [ -n "${5:-}" ] && ! grep -qF -- "$5" "$BODY"; then not_ok "$1 (no \"$5\" in $(head -c 300 "$BODY"))"; return; fi
  ok "$1"
}

printf '{"apiVersion": "cert-manager.io/v1", "kind":' >"$WORK/truncated.json"
expect_code "truncated JSON is 400" 400 "$WORK/truncated.json" application/json "not one valid JSON object"
printf '\x00\x01\x02\xff\xfe' >"$WORK/binary.bin"
expect_code "binary garbage is 400" 400 "$WORK/binary.bin"
expect_code "text/plain is 415" 415 "$WORK/good.json" text/plain "Content-Type"
head -c 70000 /dev/zero | tr '\0' 'a' >"$WORK/big.json"
expect_code "a body over --api-max-body-bytes is 413" 413 "$WORK/big.json" application/json "65536"
printf '[1,2,3]' >"$WORK/array.json"
expect_code "a JSON array is 400" 400 "$WORK/array.json" application/json "not an object"
printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{}}' >"$WORK/pod.json"
expect_code "another kind is 422" 422 "$WORK/pod.json" application/json "kind CertificateRequest; got v1 Pod"
sed 's/"request":"[^"]*"/"request":"%%%not-base64%%%"/' "$WORK/good.json" >"$WORK/notb64.json"
expect_code "spec.request not base64 is 422" 422 "$WORK/notb64.json" application/json "base64"
sed "s/\"request\":\"[^\"]*\"/\"request\":\"$(printf 'hello, not a CSR' | base64 -w0)\"/" "$WORK/good.json" >"$WORK/notcsr.json"
expect_code "spec.request not a CSR is 422" 422 "$WORK/notcsr.json" application/json "spec.request"
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/self.key" -subj /CN=x -out "$WORK/self.crt" 2>/dev/null
cr_json cert default "$WORK/self.crt" ClusterIssuer test-ca web "" '[]' >"$WORK/cert.json"
expect_code "a certificate instead of a CSR is 422" 422 "$WORK/cert.json" application/json "spec.request"
openssl req -new -newkey rsa:1024 -nodes -keyout "$WORK/weak.key" -out "$WORK/weak.csr" -subj /CN=w.example.com -addext subjectAltName=DNS:w.example.com 2>/dev/null
cr_json weak default "$WORK/weak.csr" ClusterIssuer test-ca web "" '[]' >"$WORK/weak.json"
expect_code "an RSA 1024 CSR is refused" 422 "$WORK/weak.json" application/json "1024"
# A CSR whose signature does not match its content: flip one byte inside the signature.
python3 - "$WORK/good.csr" "$WORK/tampered.csr" <<'PY'
import base64, sys
pem = open(sys.argv[1]).read().split("\n")
der = bytearray(base64.b64decode("".join(l for l in pem if l and not l.startswith("-----"))))
der[-5] ^= 0x01
b = base64.b64encode(bytes(der)).decode()
open(sys.argv[2], "w").write("-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join(b[i:i+64] for i in range(0, len(b), 64)) + "\n-----END CERTIFICATE REQUEST-----\n")
PY
cr_json tampered default "$WORK/tampered.csr" ClusterIssuer test-ca web "" '[]' >"$WORK/tampered.json"
expect_code "a CSR with a bad signature is refused" 422 "$WORK/tampered.json" application/json "signature"
sed 's/"usages":\[\]/"usages":["flying"]/' "$WORK/good.json" >"$WORK/usage.json"
expect_code "an unknown usage is 422" 422 "$WORK/usage.json" application/json "flying"
sed 's/"isCA":false/"isCA":false,"duration":"forever"/' "$WORK/good.json" >"$WORK/dur.json"
expect_code "a bad duration is 422" 422 "$WORK/dur.json" application/json "spec.duration"
sed 's/"group":"ember.issuer.dev"/"group":"cert-manager.io"/' "$WORK/good.json" >"$WORK/group.json"
expect_code "another issuer group is 422" 422 "$WORK/group.json" application/json "ember.issuer.dev"
# Kubernetes' own limits on names: metadata.name a DNS-1123 subdomain of at most 253 bytes,
# metadata.namespace a DNS-1123 label of at most 63.
# with_meta FIELD VALUE OUT: good.json with metadata.FIELD set to VALUE (Python escapes allowed).
with_meta() {
  python3 - "$WORK/good.json" "$3" "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["metadata"][sys.argv[3]] = sys.argv[4].encode().decode("unicode_escape")
json.dump(d, open(sys.argv[2], "w"))
PY
}
with_meta name "$(head -c 60000 /dev/zero | tr '\0' 'a')" "$WORK/name-long.json"
expect_code "a metadata.name of 60,000 bytes is 422" 422 "$WORK/name-long.json" application/json "metadata.name"
with_meta name "$(head -c 254 /dev/zero | tr '\0' 'a')" "$WORK/name-254.json"
expect_code "a metadata.name of 254 bytes is 422" 422 "$WORK/name-254.json" application/json "253"
with_meta name 'bad\nname\u0007' "$WORK/name-ctl.json"
expect_code "a metadata.name with control characters is 422" 422 "$WORK/name-ctl.json" application/json "metadata.name"
with_meta name 'Upper.Case' "$WORK/name-upper.json"
expect_code "a metadata.name with capitals is 422" 422 "$WORK/name-upper.json" application/json "DNS-1123"
with_meta name 'a..b' "$WORK/name-dots.json"
expect_code "a metadata.name with an empty label is 422" 422 "$WORK/name-dots.json" application/json "metadata.name"
with_meta namespace "$(head -c 64 /dev/zero | tr '\0' 'n')" "$WORK/ns-64.json"
expect_code "a metadata.namespace of 64 bytes is 422" 422 "$WORK/ns-64.json" application/json "63"
with_meta namespace 'team.a' "$WORK/ns-dot.json"
expect_code "a metadata.namespace with a dot is 422" 422 "$WORK/ns-dot.json" application/json "metadata.namespace"
with_meta name "a.$(head -c 251 /dev/zero | tr '\0' 'b')" "$WORK/name-253.json"
expect_code "a metadata.name of 253 bytes is signed" 201 "$WORK/name-253.json" application/json '"Issued"'
python3 - "$WORK/good.json" "$WORK/gen.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
del d["metadata"]["name"]
d["metadata"]["generateName"] = "Bad_\u0001"
json.dump(d, open(sys.argv[2], "w"))
PY
expect_code "a metadata.generateName that makes an invalid name is 422" 422 "$WORK/gen.json" application/json "metadata.name"
# Deep nesting and many keys in YAML are bounded, never a crash.
python3 -c 'print("a: " + "["*20000 + "]"*20000)' >"$WORK/deep.yaml"
expect_code "20,000 nested lists are refused" 400 "$WORK/deep.yaml" application/yaml ""
printf 'a: &x [1]\nb: *x\n' >"$WORK/alias.yaml"
expect_code "YAML aliases are refused" 400 "$WORK/alias.yaml" application/yaml "alias"
# A client cannot bring its own approval.
python3 - "$WORK/good.json" "$WORK/preapproved.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["metadata"]["annotations"] = {"ember.issuer.dev/policy-name": "nope"}
d["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "me", "message": "trust me"}]}
json.dump(d, open(sys.argv[2], "w"))
PY
expect_code "a status sent by the client is ignored" 403 "$WORK/preapproved.json" application/json "does not exist"
# YAML works as well as JSON.
cat >"$WORK/good.yaml" <<YAML
apiVersion: cert-manager.io/v1
kind: CertificateRequest
metadata: {name: good-yaml, namespace: default, annotations: {ember.issuer.dev/policy-name: web}}
spec:
  request: $(base64 -w0 "$WORK/good.csr")
  issuerRef: {group: ember.issuer.dev, kind: ClusterIssuer, name: test-ca}
YAML
expect_code "a YAML CertificateRequest is issued" 201 "$WORK/good.yaml" application/yaml '"Issued"'
expect_code "a JSON CertificateRequest is issued" 201 "$WORK/good.json" "application/json; charset=utf-8" '"Issued"'

code=$(curl -s -o /dev/null -w '%{http_code}' "$API/v1/certificaterequests")
check "GET on the signing endpoint is 405" test "$code" = 405
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$API/v1/nothing")
check "an unknown path is 404" test "$code" = 404
code=$(curl -s -o /dev/null -w '%{http_code}' "$PROBES/v1/certificaterequests" -X POST -H 'Content-Type: application/json' --data-binary "@$WORK/good.json")
check "the probes listener does not sign" test "$code" = 404
code=$(curl -s -o /dev/null -w '%{http_code}' "$API/metrics")
check "the API listener does not serve /metrics" test "$code" = 404
# Many concurrent bad and good requests; the server keeps answering (bounded: 200 requests).
storm=()
for i in $(seq 1 50); do
  for f in binary.bin:application/json good.json:application/json big.json:application/json deep.yaml:application/yaml; do
    curl -s -m 30 -o /dev/null -X POST -H "Content-Type: ${f#*:}" --data-binary "@$WORK/${f%%:*}" "$API/v1/certificaterequests" &
    storm+=($!)
  done
  if [ $((i % 10)) -eq 0 ]; then wait "${storm[@]}"; storm=(); fi
done
check "healthz answers after the storm" curl -fs "$PROBES/healthz" -o /dev/null
check "readyz answers after the storm" curl -fs "$PROBES/readyz" -o /dev/null
check "the process is still running" kill -0 "$EMBER_PID"
curl -s "$METRICS/metrics" >"$WORK/metrics.txt"
check "metrics count invalid requests" grep -qE '^ember_certificaterequests_total\{outcome="invalid"\} [1-9]' "$WORK/metrics.txt"
check "metrics count HTTP 413s" grep -qE '^ember_http_requests_total\{.*code="413".*\} [1-9]' "$WORK/metrics.txt"
check "metrics count issued requests" grep -qE '^ember_certificaterequests_total\{outcome="issued"\} [1-9]' "$WORK/metrics.txt"
check "metrics have the signing histogram" grep -qE '^ember_signing_duration_seconds_count\{signer="local"\} [1-9]' "$WORK/metrics.txt"
check "no private key in the log" no_secrets_in "$LOG" "$WORK/ca/subca.key" "$WORK/good.key"
