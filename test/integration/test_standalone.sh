#!/usr/bin/env bash
# test_standalone.sh -- the README's walkthrough with examples/standalone and the development CA
# from `ember-issuer dev-ca`; the Firefly-shaped endpoint; start-up refusals; clean SIGTERM.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh

"$EMBER_BIN" dev-ca --output "$WORK/dev-ca.yaml" 2>"$WORK/devca.err"
check "dev-ca writes a Secret manifest" grep -q 'kind: Secret' "$WORK/dev-ca.yaml"
check "dev-ca's file is readable by its owner only" test "$(stat -c %a "$WORK/dev-ca.yaml")" = 600
start_ember walkthrough --manifests examples/standalone --manifests "$WORK/dev-ca.yaml" \
  --api-issuer ClusterIssuer/dev-ca || exit 1
check "readyz is 200 once the dev CA is loaded" curl -fs "$PROBES/readyz" -o /dev/null
check "healthz answers on the API listener too" curl -fs "$API/healthz" -o /dev/null
check "healthz answers on the metrics listener too" curl -fs "$METRICS/healthz" -o /dev/null

# The walkthrough: a key and CSR with openssl, a CertificateRequest, the chain, openssl verify.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/app.key" \
  -out "$WORK/app.csr" -subj "/CN=app.example.com" -addext "subjectAltName=DNS:app.example.com" 2>/dev/null
cat >"$WORK/cr.yaml" <<YAML
apiVersion: cert-manager.io/v1
kind: CertificateRequest
metadata:
  name: app
  namespace: default
  annotations:
    ember.issuer.dev/policy-name: web
spec:
  request: $(base64 -w0 "$WORK/app.csr")
  duration: 2160h
  usages: [digital signature, key encipherment, server auth]
  issuerRef: {group: ember.issuer.dev, kind: ClusterIssuer, name: dev-ca}
YAML
post /v1/certificaterequests "$WORK/cr.yaml" application/yaml
check "walkthrough: 201 Created" test "$CODE" = 201
chain_out "$BODY" "$WORK/app"
check "walkthrough: openssl verify accepts the chain against status.ca" \
  verify_strict "$WORK/app.ca.pem" "$WORK/app.chain.pem" "$WORK/app.leaf.pem"
check "walkthrough: the chain is leaf then sub-CA (no root)" test "$(grep -c 'BEGIN CERTIFICATE' "$WORK/app.chain.pem")" = 2
check "walkthrough: status.ca is self-signed" bash -c 'openssl x509 -in "$1" -noout -subject -issuer | sed "s/^[a-z]*=//" | uniq | wc -l | grep -qx 1' _ "$WORK/app.ca.pem"

# Firefly's REST shape, signed by --api-issuer.
python3 -c 'import json,sys; print(json.dumps({"request": open(sys.argv[1]).read(), "policyName": "web", "validityPeriod": "P7D"}))' "$WORK/app.csr" >"$WORK/ff.json"
post /v1/certificatesigningrequest "$WORK/ff.json"
check "firefly: 200" test "$CODE" = 200
jqpy 'd["certificateChain"]' "$BODY" >"$WORK/ff.chain.pem"
openssl x509 -in "$WORK/ff.chain.pem" -out "$WORK/ff.leaf.pem"
check "firefly: the chain verifies against the dev root" \
  verify_strict "$WORK/app.ca.pem" "$WORK/ff.chain.pem" "$WORK/ff.leaf.pem"
nb=$(date -d "$(openssl x509 -in "$WORK/ff.leaf.pem" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in "$WORK/ff.leaf.pem" -noout -enddate | cut -d= -f2)" +%s)
check "firefly: validityPeriod P7D gives 7 days" test $(((na - nb) / 86400)) = 7
python3 -c 'import json,sys; print(json.dumps({"request": open(sys.argv[1]).read(), "policyName": "mesh"}))' "$WORK/app.csr" >"$WORK/ff-deny.json"
post /v1/certificatesigningrequest "$WORK/ff-deny.json"
check "firefly: a policy violation is 403 with the violations" bash -c '[ "$1" = 403 ] && grep -q "policy \\\\\"mesh\\\\\"" "$2"' _ "$CODE" "$BODY"
printf '{"request": "x", "keyType": "EC_P256"}' >"$WORK/ff-unknown.json"
post /v1/certificatesigningrequest "$WORK/ff-unknown.json"
check "firefly: an unknown field is 422 naming it" bash -c '[ "$1" = 422 ] && grep -q keyType "$2"' _ "$CODE" "$BODY"

printf '{"request": "x"' >"$WORK/ff-trunc.json"
post /v1/certificatesigningrequest "$WORK/ff-trunc.json"
check "firefly: truncated JSON is 400" test "$CODE" = 400
post /v1/certificatesigningrequest "$WORK/ff.json" text/plain
check "firefly: text/plain is 415" test "$CODE" = 415
head -c 1100000 /dev/zero | tr '\0' 'a' >"$WORK/ff-big.json"
post /v1/certificatesigningrequest "$WORK/ff-big.json"
check "firefly: a body over the limit is 413" test "$CODE" = 413
python3 -c 'import json,sys; print(json.dumps({"request": open(sys.argv[1]).read(), "policyName": "nope"}))' "$WORK/app.csr" >"$WORK/ff-nope.json"
post /v1/certificatesigningrequest "$WORK/ff-nope.json"
check "firefly: an unknown policy is 403 saying so" bash -c '[ "$1" = 403 ] && grep -q "does not exist" "$2"' _ "$CODE" "$BODY"

# A permanent signer refusal is Failed (422) with failureTime: the dev sub-CA has pathlen:0,
# so it cannot issue another CA even when a policy allows it.
cat >"$WORK/sub-ca-policy.yaml" <<'YAML'
apiVersion: ember.issuer.dev/v1alpha1
kind: IssuancePolicy
metadata: {name: sub-ca}
spec:
  isCA: true
  subject: {commonName: {rule: Required}}
  usages: [digital signature, cert sign, crl sign]
YAML
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/sub.key" \
  -out "$WORK/sub.csr" -subj "/CN=Team CA" -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null
cr_json sub default "$WORK/sub.csr" ClusterIssuer dev-ca sub-ca "" '["digital signature","cert sign","crl sign"]' true >"$WORK/sub.json"

kill -TERM "$EMBER_PID"
wait "$EMBER_PID"
check "SIGTERM stops it with exit code 0" test $? = 0
check "the log says it shut down" grep -q 'shutting down' "$LOG"
check "the JSON log lines parse" python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1]) if l.strip()]' "$LOG"
check "no private key in the log" no_secrets_in "$LOG" "$WORK/app.key"

start_ember failed --manifests examples/standalone --manifests "$WORK/dev-ca.yaml" \
  --manifests "$WORK/sub-ca-policy.yaml" || exit 1
post /v1/certificaterequests "$WORK/sub.json"
check "a permanent signing failure is 422" test "$CODE" = 422
check "... with Ready=False Failed" test "$(jqpy '[c["reason"] for c in d["status"]["conditions"] if c["type"]=="Ready"][0]' "$BODY")" = Failed
check "... and failureTime in the same answer" grep -q '"failureTime"' "$BODY"
check "... and a message naming the cause" has_message "Failed permanently to sign" "$BODY"
kill -TERM "$EMBER_PID"; wait "$EMBER_PID"

# Pending answers carry Retry-After.
start_ember pending --manifests examples/standalone --api-issuer ClusterIssuer/dev-ca || exit 1
post /v1/certificatesigningrequest "$WORK/ff.json"
check "an issuer without its Secret answers 503" test "$CODE" = 503
check "... with Retry-After" grep -qi '^Retry-After: [0-9]' "$HEADERS"
check "... and a message naming the Secret" grep -q 'default/dev-ca' "$BODY"
kill -TERM "$EMBER_PID"; wait "$EMBER_PID"

# --api-allow-unauthenticated lets the API listen beyond loopback, loudly.
port=$(free_port)
timeout 10 "$EMBER_BIN" --manifests examples/standalone --api-bind-address ":$port" \
  --health-probe-bind-address 0 --metrics-bind-address 0 --api-allow-unauthenticated \
  >"$WORK/open.log" 2>&1 &
open_pid=$!
PIDS+=("$open_pid")
for _ in $(seq 1 50); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
check "--api-allow-unauthenticated serves on all addresses" curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"
check "... and says so loudly" grep -q 'UNAUTHENTICATED' "$WORK/open.log"
kill -TERM "$open_pid"; wait "$open_pid"

# Start-up refusals: exit code 2 and a message saying what to fix.
timeout 10 "$EMBER_BIN" --manifests examples/standalone --api-bind-address 0.0.0.0:18080 >"$WORK/refuse.log" 2>&1
rc=$?
check "the API refuses a non-loopback address without auth (exit 2)" test $rc = 2
check "the refusal says what to do" grep -q -- '--api-allow-unauthenticated' "$WORK/refuse.log"
timeout 10 "$EMBER_BIN" --no-such-flag >"$WORK/bad.log" 2>&1
check "an unknown flag exits 2" test $? = 2
check "an unknown flag is named" grep -q -- '--no-such-flag' "$WORK/bad.log"
timeout 10 "$EMBER_BIN" --manifests "$WORK/nowhere" >"$WORK/missing.log" 2>&1
check "a missing manifests path exits 2" test $? = 2
check "a missing manifests path is named" grep -q "$WORK/nowhere" "$WORK/missing.log"
printf 'kind: [unclosed\n' >"$WORK/broken.yaml"
timeout 10 "$EMBER_BIN" --manifests "$WORK/broken.yaml" >"$WORK/broken.log" 2>&1
check "a broken manifest exits 2 naming the file and line" bash -c '[ "$1" = 2 ] && grep -q "broken.yaml" "$2" && grep -q "line" "$2"' _ $? "$WORK/broken.log"
