#!/usr/bin/env bash
# test_namespaces.sh -- spec.selector.namespaceSelector and the smaller constraints of issue 14
# (validity.min, keySizes, requiredUsages) through the controller door: the real binary against
# the strict fake API server. Ember lists and watches Namespaces: a request in a labelled
# namespace is issued, one in an unlabelled namespace denied naming its labels, one in a
# namespace with no Namespace object denied saying it is not known; a label added to a
# Namespace later admits a new request there. A Namespace created together with its request,
# while the watch of Namespaces lags (the fake holds its events back), is read with one GET:
# the request is issued, not denied. With GET forbidden, such a request waits (an Event says
# why; 503 on the signing API) and is issued once the watch brings the Namespace. Without any
# RBAC on namespaces (403) Ember logs it clearly, still becomes ready and issues under other
# policies, and a request under a namespaceSelector waits, never denied.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh
. test/integration/k8s.sh

make_ca "$WORK/ca"

# tok-nons may do everything Ember does but list or watch namespaces.
cat >"$WORK/conf.json" <<'JSON'
{"tokens": {
   "tok-ember": {"user": "system:serviceaccount:ember:ember-issuer",
                 "approve_signers": ["issuers.ember.issuer.dev/*", "clusterissuers.ember.issuer.dev/*"]},
   "tok-nons": {"user": "system:serviceaccount:ember:no-namespaces",
                "approve_signers": ["issuers.ember.issuer.dev/*", "clusterissuers.ember.issuer.dev/*"],
                "rules": [{"verbs": ["*"], "resources": ["certificaterequests", "certificaterequests/status",
                  "issuers", "issuers/status", "clusterissuers", "clusterissuers/status",
                  "issuancepolicies", "issuancepolicies/status", "secrets", "events", "leases"]}]},
   "tok-noget": {"user": "system:serviceaccount:ember:no-namespace-get",
                "approve_signers": ["issuers.ember.issuer.dev/*", "clusterissuers.ember.issuer.dev/*"],
                "rules": [{"verbs": ["*"], "resources": ["certificaterequests", "certificaterequests/status",
                  "issuers", "issuers/status", "clusterissuers", "clusterissuers/status",
                  "issuancepolicies", "issuancepolicies/status", "secrets", "events", "leases"]},
                  {"verbs": ["list", "watch"], "resources": ["namespaces"]}]},
   "tok-certmanager": {"user": "system:serviceaccount:cert-manager:cert-manager"}},
 "namespaces": ["default", "ember", "team-a", "team-b", "team-c", "team-d", "team-e", "team-f"],
 "bookmark_interval_seconds": 1,
 "objects": [
   {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a", "labels": {"ember.issuer.dev/certs": "yes", "env": "dev"}}},
   {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b"}}
 ]}
JSON
check "the fake API server is up" k8s_start "$WORK/conf.json"

ca_secret test-ca "$WORK/ca"
cluster_issuer test-ca test-ca >/dev/null
policy web "$WEB_POLICY"
policy labelled '{"selector":{"namespaceSelector":{"matchLabels":{"ember.issuer.dev/certs":"yes"},"matchExpressions":[{"key":"env","operator":"NotIn","values":["prod"]}]}},"subject":{"commonName":{"rule":"Optional"}},"sans":{"dnsNames":{"rule":"Required"}},"usages":["digital signature","key encipherment","server auth"]}'
policy strict '{"validity":{"min":"1h","max":"720h"},"keySizes":{"rsa":{"min":3072}},"subject":{"commonName":{"rule":"Optional"}},"sans":{"dnsNames":{"rule":"Required"}},"usages":["digital signature","key encipherment","server auth","client auth"],"requiredUsages":["server auth"]}'
policy needsclient '{"subject":{"commonName":{"rule":"Optional"}},"sans":{"dnsNames":{"rule":"Required"}},"usages":["digital signature","key encipherment","server auth","client auth"],"requiredUsages":["client auth"]}'

start_ember controller --kubeconfig "$WORK/kubeconfig" --cluster-resource-namespace ember \
  --watch-timeout 5s --log-level debug || exit 1
for _ in $(seq 1 100); do curl -fs -o /dev/null "$PROBES/readyz" && break; sleep 0.1; done
check "readyz turns 200 once the caches (Namespaces too) are synced" curl -fs -o /dev/null "$PROBES/readyz"
check "the policy labelled is Ready" wait_cond $IV IssuancePolicy "" labelled Ready status True
# ns_watched: Ember has listed and watches /api/v1/namespaces (the fake's request log).
ns_watched() {
  local _
  for _ in $(seq 1 50); do
    stats
    [ "$(jqpy '[k for k in d["requests"] if k.startswith(("list /api/v1/namespaces ", "watch /api/v1/namespaces "))]' "$WORK/stats.json")" = \
      '["list /api/v1/namespaces 200", "watch /api/v1/namespaces 200"]' ] && return 0
    sleep 0.1
  done
  return 1
}
check "Ember lists then watches /api/v1/namespaces" ns_watched
check "metrics: ember_watch_objects counts the 2 Namespaces" \
  wait_metric 'ember_watch_objects{watch="/api/v1/namespaces"}' 2

# event_with NS NAME REASON TEXT: an Event about request NAME in NS with REASON and TEXT in
# its message appears (5 s at most).
event_with() {
  local _
  for _ in $(seq 1 50); do
    curl -s --cacert "$WORK/ca/root.crt" -H "X-Fake-Apiserver-Admin: $ADMIN" -G \
      --data-urlencode apiVersion=v1 --data-urlencode kind=Event "$URL/_fake/objects" >"$WORK/events.json"
    python3 - "$WORK/events.json" "$@" <<'PY' && return 0
import json, sys
d = json.load(open(sys.argv[1]))
ns, name, reason, text = sys.argv[2:6]
sys.exit(0 if any(e["metadata"].get("namespace") == ns and e.get("involvedObject", {}).get("name") == name
                  and e.get("reason") == reason and text in e.get("message", "") for e in d["items"]) else 1)
PY
    sleep 0.1
  done
  return 1
}

# denied_with NS NAME TEXT: the request is Denied and its Denied message holds TEXT.
denied_with() {
  wait_cond $CM CertificateRequest "$1" "$2" Denied status True &&
    [[ "$(cond $CM CertificateRequest "$1" "$2" Denied message)" == *"$3"* ]]
}

kcr a1 team-a ClusterIssuer test-ca labelled a1.example.com
check "a request in the labelled namespace team-a is issued" wait_cond $CM CertificateRequest team-a a1 Ready reason Issued
kcr b1 team-b ClusterIssuer test-ca labelled b1.example.com
check "a request in the unlabelled namespace team-b is Denied naming it" \
  denied_with team-b b1 'namespace "team-b" is not selected by spec.selector.namespaceSelector (it has no labels)'
kcr c1 team-c ClusterIssuer test-ca labelled c1.example.com
check "a request in team-c (no Namespace object) is Denied: not known to Ember" \
  denied_with team-c c1 'namespace "team-c" is not known to Ember (no Namespace object), so spec.selector.namespaceSelector matches nothing'

echo '{"metadata":{"labels":{"ember.issuer.dev/certs":"yes"}}}' >"$WORK/label.json"
kapi PATCH /api/v1/namespaces/team-b "$WORK/label.json" application/merge-patch+json
check "the label is added to Namespace team-b (200)" test "$CODE" = 200
# The watch brings the change within moments; a request made meanwhile would be denied, so
# each try is a new request until one is issued (at most 5 s).
issued_after_label() {
  local i
  for i in $(seq 1 10); do
    kcr "b2-$i" team-b ClusterIssuer test-ca labelled "b2-$i.example.com"
    WAIT_S=3 wait_cond $CM CertificateRequest team-b "b2-$i" Ready reason Issued && return 0
    sleep 0.5
  done
  return 1
}
check "... then a new request in team-b is issued" issued_after_label
check "... the old denial stays (Denied is final)" test "$(cond $CM CertificateRequest team-b b1 Denied status)" = True

# The signing API beside the controller reads the same cache of Namespaces.
make_csr "$WORK/api" -subj /CN=api.example.com -addext subjectAltName=DNS:api.example.com
for ns in team-b team-c; do
  cr_json "api-$ns" "$ns" "$WORK/api.csr" ClusterIssuer test-ca labelled 2h '["digital signature","key encipherment","server auth"]' >"$WORK/api-$ns.json"
done
post /v1/certificaterequests "$WORK/api-team-b.json"
check "signing API in controller mode: team-b, labelled since, is issued (201)" test "$CODE" = 201
post /v1/certificaterequests "$WORK/api-team-c.json"
check "signing API in controller mode: team-c is denied (403), not known to Ember" \
  bash -c '[ "$1" = 403 ] && grep -qF "namespace \\\"team-c\\\" is not known to Ember" "$2"' _ "$CODE" "$BODY"

echo '{"metadata":{"labels":{"env":"prod"}}}' >"$WORK/prod.json"
kapi PATCH /api/v1/namespaces/team-a "$WORK/prod.json" application/merge-patch+json
denied_after_prod() {
  local i
  for i in $(seq 1 10); do
    kcr "a2-$i" team-a ClusterIssuer test-ca labelled "a2-$i.example.com"
    WAIT_S=3 denied_with team-a "a2-$i" '"env=prod"' && return 0
    sleep 0.5
  done
  return 1
}
check "env=prod on team-a (matchExpressions NotIn prod): a new request there is Denied naming its labels" denied_after_prod

# A Namespace and its request applied together, the watch of Namespaces lagging behind (its
# events held back by the fake): the request is decided from one GET of the Namespace.
ns_json() { echo "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$1\",\"labels\":{\"ember.issuer.dev/certs\":\"yes\"}}}" >"$WORK/ns-$1.json"; }
check "the fake holds the watch events of Namespaces" \
  test "$(admin hold-watch '{"resources": ["namespaces"]}')" = '{"resources":["namespaces"]}'
ns_json team-d
kapi POST /api/v1/namespaces "$WORK/ns-team-d.json"
check "Namespace team-d (labelled) is created (201)" test "$CODE" = 201
kcr d1 team-d ClusterIssuer test-ca labelled d1.example.com
check "a request made right after its Namespace, the watch lagging, is issued (not denied)" \
  wait_cond $CM CertificateRequest team-d d1 Ready reason Issued
# ns_gets NAME: how many GETs of Namespace NAME the fake answered 200.
ns_gets() { stats; jqpy "d['requests'].get('get /api/v1/namespaces/$1 200', 0)" "$WORK/stats.json"; }
check "... its Namespace was read with one GET (the watch had not brought it)" test "$(ns_gets team-d)" = 1
check "... and the watch still holds 2 Namespaces (team-d not delivered)" \
  test "$(metric 'ember_watch_objects{watch="/api/v1/namespaces"}')" = 2
ns_json team-f
kapi POST /api/v1/namespaces "$WORK/ns-team-f.json"
cr_json api-team-f team-f "$WORK/api.csr" ClusterIssuer test-ca labelled 2h '["digital signature","key encipherment","server auth"]' >"$WORK/api-team-f.json"
post /v1/certificaterequests "$WORK/api-team-f.json"
check "signing API in controller mode: a request in a Namespace the watch has not brought is issued (201)" \
  test "$CODE" = 201
admin hold-watch '{"resources": []}' >/dev/null
check "released, the watch brings team-d and team-f" \
  wait_metric 'ember_watch_objects{watch="/api/v1/namespaces"}' 4

# The smaller constraints, through the same door.
make_csr "$WORK/short" -subj /CN=s.example.com -addext subjectAltName=DNS:s.example.com
cr_json short default "$WORK/short.csr" ClusterIssuer test-ca strict 30m '["digital signature","key encipherment","server auth"]' >"$WORK/short.json"
kapi POST /apis/cert-manager.io/v1/namespaces/default/certificaterequests "$WORK/short.json"
check "validity.min: a 30m request is Denied naming the minimum" \
  denied_with default short 'validity: 30m0s requested, at least 1h0m0s (spec.validity.min)'
openssl req -new -newkey rsa:2048 -nodes -subj /CN=r.example.com -addext subjectAltName=DNS:r.example.com \
  -keyout "$WORK/rsa.key" -out "$WORK/rsa.csr" 2>/dev/null
cr_json rsa2048 default "$WORK/rsa.csr" ClusterIssuer test-ca strict 2h '["digital signature","key encipherment","server auth"]' >"$WORK/rsa.json"
kapi POST /apis/cert-manager.io/v1/namespaces/default/certificaterequests "$WORK/rsa.json"
check "keySizes: an RSA 2048 key is Denied under rsa.min 3072" \
  denied_with default rsa2048 'keySize RSA 2048 bits, at least 3072 (spec.keySizes.rsa.min)'
kcr ecok default ClusterIssuer test-ca strict ec.example.com
check "... an EC key with server auth for 2160h is issued under the same policy" \
  wait_cond $CM CertificateRequest default ecok Ready reason Issued
kcr noclient default ClusterIssuer test-ca needsclient n.example.com
check "requiredUsages: a request without client auth is Denied naming it" \
  denied_with default noclient 'usages client auth required by spec.requiredUsages, not requested'
kill -TERM "$EMBER_PID"
wait "$EMBER_PID"
check "SIGTERM stops the controller cleanly" test $? = 0

# Without RBAC on namespaces: a clear log line, the controller still works.
python3 - "$WORK/kubeconfig" "$WORK/kubeconfig.nons" <<'PY'
import json, sys
k = json.load(open(sys.argv[1]))
k["users"][0]["user"]["token"] = "tok-nons"
json.dump(k, open(sys.argv[2], "w"))
PY
start_ember nons --kubeconfig "$WORK/kubeconfig.nons" --cluster-resource-namespace ember \
  --watch-timeout 5s || exit 1
for _ in $(seq 1 100); do curl -fs -o /dev/null "$PROBES/readyz" && break; sleep 0.1; done
check "403 on namespaces: readyz still turns 200" curl -fs -o /dev/null "$PROBES/readyz"
check "... the log says so clearly, naming the remedy" \
  grep -q "cannot list Namespaces (403 Forbidden): requests under an IssuancePolicy with spec.selector.namespaceSelector read their Namespace with a GET each time, and wait when that is forbidden too, until Ember may get, list and watch namespaces" "$LOG"
kcr n1 team-a ClusterIssuer test-ca web n1.example.com
check "... a request under a policy without namespaceSelector is issued" \
  wait_cond $CM CertificateRequest team-a n1 Ready reason Issued
kcr n2 team-a ClusterIssuer test-ca labelled n2.example.com
check "... one under namespaceSelector waits: an Event says its labels could not be read" \
  event_with team-a n2 NamespaceUnavailable 'policy "labelled": namespace "team-a": its labels could not be read (403 Forbidden on GET namespaces/team-a); the request waits'
sleep 1.5
check "... and it is not Denied (nor anything else written: it is retried)" \
  test "$(cond $CM CertificateRequest team-a n2 Denied status)|$(cond $CM CertificateRequest team-a n2 Ready reason)" = "|"
check "... the log names the missing rule" grep -q 'grant get on namespaces' "$LOG"
kill -TERM "$EMBER_PID"
wait "$EMBER_PID"
check "SIGTERM stops it cleanly" test $? = 0
check "no bearer token in the logs" absent -F "tok-nons" "$LOG"

# GET of namespaces forbidden, list and watch allowed, the watch lagging: a request in a new
# Namespace waits (not Denied), and is issued once the watch brings the Namespace.
python3 - "$WORK/kubeconfig" "$WORK/kubeconfig.noget" <<'PY'
import json, sys
k = json.load(open(sys.argv[1]))
k["users"][0]["user"]["token"] = "tok-noget"
json.dump(k, open(sys.argv[2], "w"))
PY
start_ember noget --kubeconfig "$WORK/kubeconfig.noget" --cluster-resource-namespace ember \
  --watch-timeout 5s || exit 1
for _ in $(seq 1 100); do curl -fs -o /dev/null "$PROBES/readyz" && break; sleep 0.1; done
check "GET of namespaces forbidden: readyz turns 200 (list and watch work)" curl -fs -o /dev/null "$PROBES/readyz"
check "... the Namespaces are listed (4)" wait_metric 'ember_watch_objects{watch="/api/v1/namespaces"}' 4
admin hold-watch '{"resources": ["namespaces"]}' >/dev/null
ns_json team-e
kapi POST /api/v1/namespaces "$WORK/ns-team-e.json"
kcr e1 team-e ClusterIssuer test-ca labelled e1.example.com
check "a request in the new Namespace team-e waits: an Event says the GET was forbidden" \
  event_with team-e e1 NamespaceUnavailable 'policy "labelled": namespace "team-e": its labels could not be read (403 Forbidden on GET namespaces/team-e); the request waits'
cr_json api-team-e team-e "$WORK/api.csr" ClusterIssuer test-ca labelled 2h '["digital signature","key encipherment","server auth"]' >"$WORK/api-team-e.json"
post /v1/certificaterequests "$WORK/api-team-e.json"
check "... the signing API answers 503 (retry), saying why" \
  bash -c '[ "$1" = 503 ] && grep -qF "its labels could not be read (403 Forbidden on GET namespaces/team-e); the request waits" "$2"' _ "$CODE" "$BODY"
sleep 1.5
check "... the request is not Denied (nothing written while it waits)" \
  test "$(cond $CM CertificateRequest team-e e1 Denied status)|$(cond $CM CertificateRequest team-e e1 Ready reason)" = "|"
admin hold-watch '{"resources": []}' >/dev/null
check "... once the watch brings team-e, the request is issued" \
  wait_cond $CM CertificateRequest team-e e1 Ready reason Issued
post /v1/certificaterequests "$WORK/api-team-e.json"
check "... and the signing API issues (201)" test "$CODE" = 201
kill -TERM "$EMBER_PID"
wait "$EMBER_PID"
check "SIGTERM stops it cleanly" test $? = 0
check "no bearer token in the logs" absent -F "tok-noget" "$LOG"
