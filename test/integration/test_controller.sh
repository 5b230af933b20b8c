#!/usr/bin/env bash
# test_controller.sh -- the Kubernetes controller through the real binary against the strict
# fake API server: CertificateRequests made as cert-manager makes them are approved by policy
# and issued (chain checked with openssl), denied with every violation, left alone when they
# are not ours; Issuers and IssuancePolicies get Ready conditions; an issuer created after
# its request; an invalid policy never causes a denial; otherNames and a literal multi-valued
# subject issued byte for byte or denied naming them; Events are recorded; the issuer gauges
# (Ready, CA expiry) are published and go with a deleted issuer; clean shutdown.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh
. test/integration/k8s.sh

make_ca "$WORK/ca"

cat >"$WORK/conf.json" <<'JSON'
{"tokens": {
   "tok-ember": {"user": "system:serviceaccount:ember:ember-issuer",
                 "approve_signers": ["issuers.ember.issuer.dev/*", "clusterissuers.ember.issuer.dev/*"]},
   "tok-certmanager": {"user": "system:serviceaccount:cert-manager:cert-manager"}},
 "namespaces": ["default", "ember", "istio-system"],
 "bookmark_interval_seconds": 1}
JSON
check "the fake API server is up" k8s_start "$WORK/conf.json"

ca_secret test-ca "$WORK/ca"
check "seed a ClusterIssuer" bash -c '[[ "$1" == 2?? ]]' _ "$(cluster_issuer test-ca test-ca)"
policy web "$WEB_POLICY"
policy broken '{"sans":{"dnsNames":{"rule":"Optional","allowed":["[unclosed"]}}}'
policy names '{"subject":{"commonName":{"rule":"Optional"},"organization":{"rule":"Optional"},"organizationalUnit":{"rule":"Optional"},"otherAttributes":[{"oid":"2.5.4.12","rule":"Optional","allowed":["engineer"]}]},"sans":{"dnsNames":{"rule":"Optional","allowed":["([a-z0-9-]+\\.)*example\\.com"]},"otherNames":{"rule":"Optional","allowed":[{"oid":"1.3.6.1.4.1.311.20.2.3","value":"[a-z]+@example\\.com"}]}},"usages":["digital signature","key encipherment","server auth"]}'

start_ember controller --kubeconfig "$WORK/kubeconfig" --cluster-resource-namespace ember \
  --issuer-recheck-period 2s --watch-timeout 5s --log-level debug || exit 1
for _ in $(seq 1 100); do curl -fs -o /dev/null "$PROBES/readyz" && break; sleep 0.1; done
check "readyz turns 200 once the caches are synced" curl -fs -o /dev/null "$PROBES/readyz"

check "the ClusterIssuer becomes Ready (Checked)" wait_cond $IV ClusterIssuer "" test-ca Ready reason Checked
check "... with observedGeneration" test "$(cond $IV ClusterIssuer "" test-ca Ready observedGeneration)" = 1
check "the policy web is Ready" wait_cond $IV IssuancePolicy "" web Ready status True
check "the policy broken is not Ready, saying why" wait_cond $IV IssuancePolicy "" broken Ready reason Invalid
check "... naming the field" bash -c 'grep -q "spec.sans.dnsNames.allowed\[0\]" "$1"' _ "$WORK/obj.json"

kcr ok default ClusterIssuer test-ca web app.example.com
check "cert-manager creates the request (201)" test "$CODE" = 201
check "the request is issued (Ready=True Issued)" wait_cond $CM CertificateRequest default ok Ready reason Issued
check "... approved by ember.issuer.dev naming the policy" \
  test "$(cond $CM CertificateRequest default ok Approved message)" = 'Approved by IssuancePolicy "web"'
obj $CM CertificateRequest default ok
cp "$WORK/obj.json" "$WORK/ok.out"
chain_out "$WORK/ok.out" "$WORK/ok"
check "... status.certificate verifies against status.ca with openssl" \
  verify_strict "$WORK/ok.ca.pem" "$WORK/ok.chain.pem" "$WORK/ok.leaf.pem"
check "... status.ca is the root" cmp -s "$WORK/ok.ca.pem" "$WORK/ca/root.crt"
check "... the leaf has the requested DNS name" \
  bash -c 'openssl x509 -in "$1" -noout -ext subjectAltName | grep -q "DNS:app.example.com"' _ "$WORK/ok.leaf.pem"
writes=$(curl -s --cacert "$WORK/ca/root.crt" -H "X-Fake-Apiserver-Admin: $ADMIN" "$URL/_fake/stats" |
  python3 -c 'import json,sys; print(len([w for w in json.load(sys.stdin)["write_log"] if w["path"].endswith("/certificaterequests/ok/status")]))')
check "... in one status write (Approved and Ready together; got $writes)" test "$writes" = 1

kcr evil default ClusterIssuer test-ca web evil.org
check "a violating request is Denied" wait_cond $CM CertificateRequest default evil Denied status True
check "... the message names the violation" bash -c 'grep -q "evil.org" "$1" && grep -q "policy \\\\\"web\\\\\"" "$1"' _ "$WORK/obj.json"
check "... Ready=False Denied" test "$(cond $CM CertificateRequest default evil Ready reason)" = Denied
check "... with failureTime" bash -c 'grep -q "\"failureTime\"" "$1"' _ "$WORK/obj.json"

# otherNames and a literal subject (cert-manager's otherNames and literalSubject, issue 14 §2).
# ncr NAME SUBJ SAN: a CertificateRequest under policy names, as cert-manager creates it.
ncr() {
  make_csr "$WORK/$1" -subj "$2" -multivalue-rdn -addext "subjectAltName=$3"
  cr_json "$1" default "$WORK/$1.csr" ClusterIssuer test-ca names 2160h '["digital signature","key encipherment","server auth"]' >"$WORK/$1.json"
  kapi POST "/apis/cert-manager.io/v1/namespaces/default/certificaterequests" "$WORK/$1.json"
}
UPN=1.3.6.1.4.1.311.20.2.3
ncr upn "/title=engineer/CN=u.example.com/O=a+OU=b" "DNS:u.example.com,otherName:$UPN;UTF8:bob@example.com"
check "a request with an otherName and a literal multi-valued subject is issued" \
  wait_cond $CM CertificateRequest default upn Ready reason Issued
cp "$WORK/obj.json" "$WORK/upn.out"
chain_out "$WORK/upn.out" "$WORK/upn"
check "... the leaf carries the otherName" \
  bash -c 'openssl x509 -in "$1" -noout -ext subjectAltName | grep -q "othername: UPN::bob@example.com"' _ "$WORK/upn.leaf.pem"
check "... and the CSR's subject, byte for byte" cmp -s \
  <(openssl x509 -in "$WORK/upn.leaf.pem" -noout -subject -nameopt sep_comma_plus_space,dump_all,dump_der,show_type,sname) \
  <(openssl req -in "$WORK/upn.csr" -noout -subject -nameopt sep_comma_plus_space,dump_all,dump_der,show_type,sname)
ncr eve "/CN=e.example.com/title=boss" "DNS:e.example.com,otherName:$UPN;UTF8:eve@evil.org"
check "a request with an otherName and a title the policy does not allow is Denied" \
  wait_cond $CM CertificateRequest default eve Denied status True
check "... naming both" bash -c 'grep -qF "subject 2.5.4.12 (title) \\\"boss\\\" not allowed" "$1" &&
  grep -qF "sans.otherNames $2 \\\"eve@evil.org\\\" not allowed" "$1"' _ "$WORK/obj.json" "$UPN"

kcr nopol default ClusterIssuer test-ca nope x.example.com
check "an unknown policy is Denied saying so" wait_cond $CM CertificateRequest default nopol Denied status True
check "... 'does not exist'" bash -c 'grep -q "does not exist" "$1"' _ "$WORK/obj.json"

kcr waits default ClusterIssuer test-ca broken w.example.com
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

kcr late default ClusterIssuer late web late.example.com
check "a request for an issuer not created yet waits (Pending)" \
  wait_cond $CM CertificateRequest default late Ready reason Pending
check "... 'Waiting for it to be created'" bash -c 'grep -q "Waiting for it to be created" "$1"' _ "$WORK/obj.json"
cluster_issuer late test-ca >/dev/null
check "... and is issued once the issuer appears" wait_cond $CM CertificateRequest default late Ready reason Issued

# The issuer gauges, published in controller mode as in standalone mode (every 2 s).
check "metrics: ember_issuer_ready is 1 for the Ready ClusterIssuer" \
  wait_metric 'ember_issuer_ready{issuer="ClusterIssuer/test-ca"}' 1
check "metrics: ember_ca_expiry_timestamp_seconds is the sub-CA's notAfter" \
  wait_metric 'ember_ca_expiry_timestamp_seconds{issuer="ClusterIssuer/test-ca"}' "$(not_after "$WORK/ca/subca.crt")"
check "metrics: ... for the issuer created later too" \
  wait_metric 'ember_issuer_ready{issuer="ClusterIssuer/late"}' 1
admin delete-object "{\"apiVersion\":\"$IV\",\"kind\":\"ClusterIssuer\",\"namespace\":\"\",\"name\":\"late\"}" >/dev/null
check "metrics: a deleted issuer's gauges go" wait_metric 'ember_issuer_ready{issuer="ClusterIssuer/late"}' ""
check "metrics: ... its expiry too" wait_metric 'ember_ca_expiry_timestamp_seconds{issuer="ClusterIssuer/late"}' ""
check "metrics: ... and the other issuer's stay" test "$(metric 'ember_issuer_ready{issuer="ClusterIssuer/test-ca"}')" = 1
check "metrics: the controller's signings are timed, by signer (ok, upn and late: 3)" \
  test "$(metric 'ember_signing_duration_seconds_count{signer="local"}')" = 3

curl -s --cacert "$WORK/ca/root.crt" -H "Authorization: Bearer tok-certmanager" \
  "$URL/api/v1/namespaces/default/events" >"$WORK/events.json"
check "Events are recorded for the requests (Issued, Denied)" python3 - "$WORK/events.json" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))["items"]
reasons = {(e["involvedObject"]["name"], e["reason"]) for e in items}
sys.exit(0 if ("ok", "Issued") in reasons and ("evil", "Denied") in reasons else 1)
PY

# spec.ca through the controller: a team's sub-CA inside its own domain is issued with the
# policy's pathLen and exactly the requested constraints; one reaching outside is Denied.
policy team-subca '{"isCA":true,"ca":{"maxPathLen":0,"nameConstraints":{"required":true,"permitted":{"dnsDomains":["team-a.example.com"]}}},"subject":{"commonName":{"rule":"Required","max":1}},"usages":["digital signature","cert sign","crl sign"]}'
check "the policy team-subca is Ready" wait_cond $IV IssuancePolicy "" team-subca Ready status True
for t in 'subca-in team-a.example.com' 'subca-out example.com'; do
  n=${t%% *} d=${t#* }
  make_csr "$WORK/$n" -subj "/CN=$n" -addext "basicConstraints=critical,CA:TRUE" -addext "nameConstraints=permitted;DNS:$d"
  cr_json "$n" default "$WORK/$n.csr" ClusterIssuer test-ca team-subca 2160h '["digital signature","cert sign","crl sign"]' true >"$WORK/$n.json"
  kapi POST /apis/cert-manager.io/v1/namespaces/default/certificaterequests "$WORK/$n.json"
done
check "a sub-CA within the policy's nameConstraints is issued" wait_cond $CM CertificateRequest default subca-in Ready reason Issued
obj $CM CertificateRequest default subca-in
cp "$WORK/obj.json" "$WORK/subca-in.out"
chain_out "$WORK/subca-in.out" "$WORK/subca-in"
check "... with the policy's pathLen (the CSR asked for none)" \
  bash -c 'openssl x509 -in "$1" -noout -ext basicConstraints | grep -q "CA:TRUE, pathlen:0"' _ "$WORK/subca-in.leaf.pem"
check "... and exactly the requested nameConstraints" \
  test "$(openssl x509 -in "$WORK/subca-in.leaf.pem" -noout -ext nameConstraints | tail -n +2 | tr -d ' ' | paste -sd,)" = "Permitted:,DNS:team-a.example.com"
check "a sub-CA reaching outside them is Denied" wait_cond $CM CertificateRequest default subca-out Denied status True
check "... naming ca.nameConstraints and the value" \
  bash -c 'grep -q "ca.nameConstraints.permitted.dnsDomains \\\\\"example.com\\\\\" not within" "$1"' _ "$WORK/obj.json"

# Keep-alive: 40 requests at once keep the 4 workers busy together; Ember's calls share a few
# connections (4 watches, the workers' writes), not one TLS handshake each.
for i in $(seq 1 40); do
  make_csr "$WORK/many$i" -subj "/CN=m$i.example.com" -addext "subjectAltName=DNS:m$i.example.com"
  cr_json "many$i" default "$WORK/many$i.csr" ClusterIssuer test-ca web 2160h '["digital signature","key encipherment","server auth"]' >"$WORK/many$i.json"
done
posts=()
for i in $(seq 1 40); do kapi POST /apis/cert-manager.io/v1/namespaces/default/certificaterequests "$WORK/many$i.json" & posts+=($!); done
wait "${posts[@]}"
all_many_issued() {
  local i
  for i in $(seq 1 40); do wait_cond $CM CertificateRequest default "many$i" Ready reason Issued || return 1; done
}
check "40 requests created at once are all issued" all_many_issued
stats
EMBER_USER=system:serviceaccount:ember:ember-issuer
conns=$(jqpy "d['connections_by_user'].get('$EMBER_USER', 0)" "$WORK/stats.json")
reqs=$(jqpy "d['requests_by_user'].get('$EMBER_USER', 0)" "$WORK/stats.json")
check "Ember reuses its connections to the API server ($conns connections for $reqs requests)" \
  test "$conns" -le 12 -a "$reqs" -ge 120
kill -TERM "$EMBER_PID"
wait "$EMBER_PID"
check "SIGTERM stops the controller cleanly (exit 0)" test $? = 0
check "no private key in the log" no_secrets_in "$LOG" "$WORK/ca/subca.key" "$WORK/ok.key"
check "no bearer token in the log" absent -F "tok-ember" "$LOG"
