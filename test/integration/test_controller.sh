#!/usr/bin/env bash
# test_controller.sh -- the Kubernetes controller through the real binary against the strict
# fake API server: CertificateRequests made as cert-manager makes them are approved by policy
# and issued (chain checked with openssl), denied with every violation, left alone when they
# are not ours; Issuers and IssuancePolicies get Ready conditions; an issuer created after
# its request; an invalid policy never causes a denial; Events are recorded; clean shutdown.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh

FAKE=test/integration/fake_apiserver.py
ADMIN=admin-$RANDOM
make_ca "$WORK/ca"

# The API server's own TLS identity.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kube-apiserver" \
  -keyout "$WORK/srv.key" -out "$WORK/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$WORK/srv.ext"
openssl x509 -req -in "$WORK/srv.csr" -CA "$WORK/ca/root.crt" -CAkey "$WORK/ca/root.key" \
  -CAcreateserial -days 2 -extfile "$WORK/srv.ext" -out "$WORK/srv.crt" 2>/dev/null

cat >"$WORK/conf.json" <<'JSON'
{"tokens": {
   "tok-ember": {"user": "system:serviceaccount:ember:ember-issuer",
                 "approve_signers": ["issuers.ember.issuer.dev/*", "clusterissuers.ember.issuer.dev/*"]},
   "tok-certmanager": {"user": "system:serviceaccount:cert-manager:cert-manager"}},
 "namespaces": ["default", "ember", "istio-system"],
 "bookmark_interval_seconds": 1}
JSON
PORT=$(free_port)
URL="https://127.0.0.1:$PORT"
python3 "$FAKE" --config "$WORK/conf.json" --port "$PORT" --tls-cert "$WORK/srv.crt" \
  --tls-key "$WORK/srv.key" --admin-token "$ADMIN" --ready-file "$WORK/ready" \
  --kubeconfig-out "$WORK/kubeconfig" --kubeconfig-token tok-ember \
  --kubeconfig-ca "$WORK/ca/root.crt" 2>"$WORK/fake.log" &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$WORK/ready" ] && break; sleep 0.1; done
check "the fake API server is up" test -s "$WORK/ready"

# kapi METHOD PATH [JSON-FILE]: a call as cert-manager (token tok-certmanager); sets CODE, BODY.
kapi() {
  BODY="$WORK/k.$RANDOM"
  local args=(-s --cacert "$WORK/ca/root.crt" -o "$BODY" -w '%{http_code}' -X "$1"
    -H "Authorization: Bearer tok-certmanager" -H 'Content-Type: application/json')
  [ $# -ge 3 ] && args+=(--data-binary "@$3")
  CODE=$(curl "${args[@]}" "$URL$2")
}
# seed JSON: an object created directly (no webhook, no auth), as a cluster admin would.
seed() {
  curl -s --cacert "$WORK/ca/root.crt" -o /dev/null -w '%{http_code}' -X POST \
    -H "X-Fake-Apiserver-Admin: $ADMIN" --data-binary "$1" "$URL/_fake/objects"
}
# obj APIVERSION KIND NS NAME: the object as the server holds it, into $WORK/obj.json.
obj() {
  curl -s --cacert "$WORK/ca/root.crt" -H "X-Fake-Apiserver-Admin: $ADMIN" -G \
    --data-urlencode "apiVersion=$1" --data-urlencode "kind=$2" --data-urlencode "namespace=$3" \
    --data-urlencode "name=$4" "$URL/_fake/object" >"$WORK/obj.json"
}
# cond APIVERSION KIND NS NAME TYPE FIELD: a condition's field, "" when absent.
cond() {
  obj "$1" "$2" "$3" "$4"
  python3 - "$WORK/obj.json" "$5" "$6" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for c in (d.get("status") or {}).get("conditions") or []:
    if c.get("type") == sys.argv[2]:
        print(c.get(sys.argv[3], ""))
PY
}
# wait_cond ... VALUE: polls cond until it prints VALUE (10 s at most).
wait_cond() {
  local want=${*: -1} i
  for i in $(seq 1 100); do
    [ "$(cond "${@:1:6}")" = "$want" ] && return 0
    sleep 0.1
  done
  return 1
}

pem_json() { python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"; }
seed "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"type\":\"kubernetes.io/tls\",\"metadata\":{\"name\":\"test-ca\",\"namespace\":\"ember\"},\"stringData\":{\"tls.crt\":$(pem_json "$WORK/ca/tls.crt"),\"tls.key\":$(pem_json "$WORK/ca/subca.key"),\"ca.crt\":$(pem_json "$WORK/ca/root.crt")}}" >/dev/null
check "seed a ClusterIssuer" bash -c '[[ "$1" == 2?? ]]' _ "$(seed '{"apiVersion":"ember.issuer.dev/v1alpha1","kind":"ClusterIssuer","metadata":{"name":"test-ca"},"spec":{"ca":{"secretName":"test-ca"}}}')"
seed '{"apiVersion":"ember.issuer.dev/v1alpha1","kind":"IssuancePolicy","metadata":{"name":"web"},"spec":{"validity":{"max":"720h"},"subject":{"commonName":{"rule":"Optional"}},"sans":{"dnsNames":{"rule":"Required","allowed":["([a-z0-9-]+\\.)*example\\.com"]}},"usages":["digital signature","key encipherment","server auth"]}}' >/dev/null
seed '{"apiVersion":"ember.issuer.dev/v1alpha1","kind":"IssuancePolicy","metadata":{"name":"broken"},"spec":{"sans":{"dnsNames":{"rule":"Optional","allowed":["[unclosed"]}}}}' >/dev/null

start_ember controller --kubeconfig "$WORK/kubeconfig" --cluster-resource-namespace ember \
  --issuer-recheck-period 2s --watch-timeout 5s --log-level debug || exit 1
for _ in $(seq 1 100); do curl -fs -o /dev/null "$PROBES/readyz" && break; sleep 0.1; done
check "readyz turns 200 once the caches are synced" curl -fs -o /dev/null "$PROBES/readyz"

IV=ember.issuer.dev/v1alpha1
check "the ClusterIssuer becomes Ready (Checked)" wait_cond $IV ClusterIssuer "" test-ca Ready reason Checked
check "... with observedGeneration" test "$(cond $IV ClusterIssuer "" test-ca Ready observedGeneration)" = 1
check "the policy web is Ready" wait_cond $IV IssuancePolicy "" web Ready status True
check "the policy broken is not Ready, saying why" wait_cond $IV IssuancePolicy "" broken Ready reason Invalid
check "... naming the field" bash -c 'grep -q "spec.sans.dnsNames.allowed\[0\]" "$1"' _ "$WORK/obj.json"

# cr NAME NS ISSUER_KIND ISSUER POLICY DNS: a CertificateRequest as cert-manager creates it.
cr() {
  make_csr "$WORK/$1" -subj "/CN=$6" -addext "subjectAltName=DNS:$6"
  cr_json "$1" "$2" "$WORK/$1.csr" "$3" "$4" "$5" 2160h '["digital signature","key encipherment","server auth"]' >"$WORK/$1.json"
  kapi POST "/apis/cert-manager.io/v1/namespaces/$2/certificaterequests" "$WORK/$1.json"
}
CM=cert-manager.io/v1
cr ok default ClusterIssuer test-ca web app.example.com
check "cert-manager creates the request (201)" test "$CODE" = 201
check "the request is issued (Ready=True Issued)" wait_cond $CM CertificateRequest default ok Ready reason Issued
check "... approved by ember.issuer.dev naming the policy" \
  test "$(cond $CM CertificateRequest default ok Approved message)" = 'Approved by IssuancePolicy "web"'
obj $CM CertificateRequest default ok
cp "$WORK/obj.json" "$WORK/ok.out"
chain_out "$WORK/ok.out" "$WORK/ok"
check "... status.certificate verifies against status.ca with openssl" \
  openssl verify -CAfile "$WORK/ok.ca.pem" -untrusted "$WORK/ok.chain.pem" "$WORK/ok.leaf.pem"
check "... status.ca is the root" cmp -s "$WORK/ok.ca.pem" "$WORK/ca/root.crt"
check "... the leaf has the requested DNS name" \
  bash -c 'openssl x509 -in "$1" -noout -ext subjectAltName | grep -q "DNS:app.example.com"' _ "$WORK/ok.leaf.pem"
writes=$(curl -s --cacert "$WORK/ca/root.crt" -H "X-Fake-Apiserver-Admin: $ADMIN" "$URL/_fake/stats" |
  python3 -c 'import json,sys; print(len([w for w in json.load(sys.stdin)["write_log"] if w["path"].endswith("/certificaterequests/ok/status")]))')
check "... in one status write (Approved and Ready together; got $writes)" test "$writes" = 1

cr evil default ClusterIssuer test-ca web evil.org
check "a violating request is Denied" wait_cond $CM CertificateRequest default evil Denied status True
check "... the message names the violation" bash -c 'grep -q "evil.org" "$1" && grep -q "policy \\\\\"web\\\\\"" "$1"' _ "$WORK/obj.json"
check "... Ready=False Denied" test "$(cond $CM CertificateRequest default evil Ready reason)" = Denied
check "... with failureTime" bash -c 'grep -q "\"failureTime\"" "$1"' _ "$WORK/obj.json"

cr nopol default ClusterIssuer test-ca nope x.example.com
check "an unknown policy is Denied saying so" wait_cond $CM CertificateRequest default nopol Denied status True
check "... 'does not exist'" bash -c 'grep -q "does not exist" "$1"' _ "$WORK/obj.json"

cr waits default ClusterIssuer test-ca broken w.example.com
sleep 2
check "a request naming an invalid policy is never denied" test -z "$(cond $CM CertificateRequest default waits Denied status)"
check "... nor approved" test -z "$(cond $CM CertificateRequest default waits Approved status)"

make_csr "$WORK/other" -subj /CN=o.example.com -addext subjectAltName=DNS:o.example.com
cr_json other default "$WORK/other.csr" Issuer ca web "" '[]' |
  sed 's/"group":"ember.issuer.dev"/"group":"cert-manager.io"/' >"$WORK/other.json"
kapi POST /apis/cert-manager.io/v1/namespaces/default/certificaterequests "$WORK/other.json"
sleep 1
obj $CM CertificateRequest default other
check "a request for another issuer group is never written to" \
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(1 if (d.get("status") or {}).get("conditions") else 0)' "$WORK/obj.json"

cr late default ClusterIssuer late web late.example.com
check "a request for an issuer not created yet waits (Pending)" \
  wait_cond $CM CertificateRequest default late Ready reason Pending
check "... 'Waiting for it to be created'" bash -c 'grep -q "Waiting for it to be created" "$1"' _ "$WORK/obj.json"
seed '{"apiVersion":"ember.issuer.dev/v1alpha1","kind":"ClusterIssuer","metadata":{"name":"late"},"spec":{"ca":{"secretName":"test-ca"}}}' >/dev/null
check "... and is issued once the issuer appears" wait_cond $CM CertificateRequest default late Ready reason Issued

curl -s --cacert "$WORK/ca/root.crt" -H "Authorization: Bearer tok-certmanager" \
  "$URL/api/v1/namespaces/default/events" >"$WORK/events.json"
check "Events are recorded for the requests (Issued, Denied)" python3 - "$WORK/events.json" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))["items"]
reasons = {(e["involvedObject"]["name"], e["reason"]) for e in items}
sys.exit(0 if ("ok", "Issued") in reasons and ("evil", "Denied") in reasons else 1)
PY

kill -TERM "$EMBER_PID"
wait "$EMBER_PID"
check "SIGTERM stops the controller cleanly (exit 0)" test $? = 0
check "no private key in the log" no_secrets_in "$LOG" "$WORK/ca/subca.key" "$WORK/ok.key"
check "no bearer token in the log" bash -c '! grep -q "tok-ember" "$1"' _ "$LOG"
