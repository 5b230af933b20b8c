#!/usr/bin/env bash
# test_policy_vars.sh -- `allowed` patterns relative to the request (${namespace},
# ${serviceAccount}, ${serviceAccountNamespace}) on the signing API, through the real binary,
# callers authenticated by service account tokens (TokenReviews by the strict fake API server):
# on /v1/certificaterequests a SPIFFE ID in the caller's own namespace is issued, another
# namespace's is Denied (403), and a service account naming a namespace other than its own in
# metadata.namespace is refused (403) under a policy that uses ${namespace} or selects by
# namespace (selector.namespaces, namespaceSelector), not under one that does neither;
# ${serviceAccount} is the caller's; on the Firefly endpoint ${namespace} is the --api-issuer's
# namespace. The controller door: test_requesters.sh.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh
. test/integration/k8s.sh

make_ca "$WORK/ca"
cat >"$WORK/conf.json" <<'JSON'
{"tokens": {
   "tok-ember": {"user": "system:serviceaccount:ember:ember-issuer"}},
 "token_reviews": {
   "sa-team-a-web-5d1e": {"user": "system:serviceaccount:team-a:web",
                          "groups": ["system:serviceaccounts", "system:serviceaccounts:team-a"],
                          "audiences": ["ember"]},
   "sa-team-b-api-77c0": {"user": "system:serviceaccount:team-b:api",
                          "groups": ["system:serviceaccounts", "system:serviceaccounts:team-b"],
                          "audiences": ["ember"]},
   "user-alice-0b9f": {"user": "alice", "groups": ["system:authenticated"], "audiences": ["ember"]}},
 "namespaces": ["default", "ember", "team-a", "team-b"]}
JSON
check "the fake API server is up" k8s_start "$WORK/conf.json"

# The CA's Secret for a ClusterIssuer (default) and for team-a's Issuer, the Firefly issuer.
{
  cat "$WORK/ca/secret.yaml"
  echo ---
  sed 's/namespace: default/namespace: team-a/' "$WORK/ca/secret.yaml"
  cat <<'YAML'
---
apiVersion: ember.issuer.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: test-ca}
spec: {ca: {secretName: test-ca}}
---
apiVersion: ember.issuer.dev/v1alpha1
kind: Issuer
metadata: {name: ca, namespace: team-a}
spec: {ca: {secretName: test-ca}}
---
apiVersion: ember.issuer.dev/v1alpha1
kind: IssuancePolicy
metadata: {name: mesh}
spec:
  selector:
    requesters: {serviceAccounts: ['*/*'], users: [alice]}
  validity: {max: 24h}
  subject:
    commonName: {rule: Optional}
  sans:
    uris: {rule: Required, allowed: ['spiffe://cluster\.local/ns/${namespace}/sa/.+'], max: 1}
    dnsNames: {rule: Optional, allowed: ['[a-z0-9-]+\.${namespace}\.svc']}
  usages: [digital signature, key encipherment, server auth, client auth]
---
apiVersion: ember.issuer.dev/v1alpha1
kind: IssuancePolicy
metadata: {name: own-sa}
spec:
  selector:
    requesters: {serviceAccounts: ['*/*']}
  validity: {max: 24h}
  subject:
    commonName: {rule: Optional}
  sans:
    uris: {rule: Required, allowed: ['spiffe://cluster\.local/ns/${serviceAccountNamespace}/sa/${serviceAccount}'], max: 1}
    dnsNames: {rule: Optional}
  usages: [digital signature, key encipherment, server auth, client auth]
---
apiVersion: ember.issuer.dev/v1alpha1
kind: IssuancePolicy
metadata: {name: team-a-only}
spec:
  selector:
    requesters: {serviceAccounts: ['*/*']}
    namespaces: [team-a]
  validity: {max: 24h}
  subject:
    commonName: {rule: Optional}
  sans:
    uris: {rule: Optional}
    dnsNames: {rule: Optional}
  usages: [digital signature, key encipherment, server auth, client auth]
---
apiVersion: ember.issuer.dev/v1alpha1
kind: IssuancePolicy
metadata: {name: tenants}
spec:
  selector:
    requesters: {serviceAccounts: ['*/*']}
    namespaceSelector: {matchLabels: {tenant: gold}}
  validity: {max: 24h}
  subject:
    commonName: {rule: Optional}
  sans:
    uris: {rule: Optional}
    dnsNames: {rule: Optional}
  usages: [digital signature, key encipherment, server auth, client auth]
---
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {tenant: gold}}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-b}
YAML
} >"$WORK/manifests.yaml"

start_ember vars --manifests "$WORK/manifests.yaml" --cluster-resource-namespace default \
  --api-issuer Issuer/team-a/ca --kubeconfig "$WORK/kubeconfig" --api-token-auth || exit 1

USAGES='["digital signature","key encipherment","server auth","client auth"]'
# spiffe_csr NAME NS SA: a CSR for spiffe://cluster.local/ns/NS/sa/SA (and DNS SA.NS.svc).
spiffe_csr() {
  make_csr "$WORK/$1" -subj "/CN=$3" \
    -addext "subjectAltName=URI:spiffe://cluster.local/ns/$2/sa/$3,DNS:$3.$2.svc"
}
# cr TOKEN CSR NS POLICY [NAME]: POST /v1/certificaterequests for the CSR named CSR in
# metadata.namespace NS under POLICY with TOKEN; sets CODE and BODY.
cr() {
  local name=${5:-$2}
  cr_json "$name" "$3" "$WORK/$2.csr" ClusterIssuer test-ca "$4" 24h "$USAGES" >"$WORK/$name.json"
  BODY="$WORK/$name.out"
  CODE=$(curl -s -o "$BODY" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $1" --data-binary "@$WORK/$name.json" "$API/v1/certificaterequests")
}
# ff TOKEN NAME POLICY: the Firefly endpoint for the CSR NAME; sets CODE and BODY.
ff() {
  python3 -c 'import json,sys; print(json.dumps({"request": open(sys.argv[1]).read(), "policyName": sys.argv[2]}))' \
    "$WORK/$2.csr" "$3" >"$WORK/$2.ff.json"
  BODY="$WORK/$2.ff.out"
  CODE=$(curl -s -o "$BODY" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $1" --data-binary "@$WORK/$2.ff.json" "$API/v1/certificatesigningrequest")
}
# uri_of FILE: the URI SAN of the certificate in the CertificateRequest FILE's status.
uri_of() {
  jqpy 'd["status"]["certificate"]' "$1" | base64 -d | openssl x509 -noout -ext subjectAltName 2>/dev/null |
    grep -o 'URI:[^,]*' | head -1
}
TA=sa-team-a-web-5d1e
TB=sa-team-b-api-77c0

# 1. Each caller in its own namespace: its own SPIFFE ID is issued, another namespace's is not.
spiffe_csr a-own team-a web
cr $TA a-own team-a mesh
check "team-a's service account, metadata.namespace team-a, ns/team-a SPIFFE ID: issued (201)" test "$CODE" = 201
check "... the certificate carries that SPIFFE ID" \
  test "$(uri_of "$BODY")" = "URI:spiffe://cluster.local/ns/team-a/sa/web"
spiffe_csr b-own team-b api
cr $TB b-own team-b mesh
check "the same policy issues team-b's own SPIFFE ID to team-b (201)" test "$CODE" = 201
spiffe_csr a-other team-b web
cr $TA a-other team-a mesh
check "team-a asking for a ns/team-b SPIFFE ID in team-a: 403" test "$CODE" = 403
check "... Denied naming the URI and the DNS name" has_message \
  'policy "mesh": sans.dnsNames "web.team-b.svc" not allowed; sans.uris "spiffe://cluster.local/ns/team-b/sa/web" not allowed' "$BODY"
check "... Ready=False Denied" test "$(jqpy '[c["reason"] for c in d["status"]["conditions"] if c["type"] == "Ready"][0]' "$BODY")" = Denied

# 2. metadata.namespace is the caller's word: a service account may only claim its own.
cr $TA a-own team-b mesh a-claims
check "team-a's service account claiming metadata.namespace team-b: 403" test "$CODE" = 403
check "... saying why" has_message \
  'policy "mesh": it uses ${namespace}: a service account of namespace "team-a" may only request in namespace "team-a", not "team-b"' "$BODY"
check "... and no certificate" test "$(jqpy '(d.get("status") or {}).get("certificate", "")' "$BODY")" = ""
# A caller that is no service account has no namespace of its own; its requesters decide.
spiffe_csr alice team-b alice
cr user-alice-0b9f alice team-b mesh
check "a user (no service account) naming team-b under the same policy: issued (201)" test "$CODE" = 201

# 3. ${serviceAccount} and ${serviceAccountNamespace}: the caller's own.
spiffe_csr own-sa team-a web
cr $TA own-sa team-a own-sa
check "own-sa: team-a/web's token with spiffe://.../ns/team-a/sa/web: 201" test "$CODE" = 201
spiffe_csr own-sa-other team-a api
cr $TA own-sa-other team-a own-sa
check "... with .../sa/api (another account's): 403" test "$CODE" = 403
check "... naming the URI" has_message 'sans.uris "spiffe://cluster.local/ns/team-a/sa/api" not allowed' "$BODY"
# A policy without ${namespace}: a foreign metadata.namespace is no violation of its own.
cr $TA own-sa team-b own-sa own-sa-b
check "own-sa (no \${namespace}) with metadata.namespace team-b: 201" test "$CODE" = 201

# A policy that selects by namespace (selector.namespaces or namespaceSelector): a service
# account may not pick the namespace the selector sees either.
for pol in team-a-only tenants; do
  cr $TA own-sa team-a "$pol" "own-$pol"
  check "$pol: team-a's service account in its own namespace team-a: 201" test "$CODE" = 201
  spiffe_csr "b-$pol" team-b api
  cr $TB "b-$pol" team-a "$pol"
  check "$pol: team-b's service account claiming metadata.namespace team-a: 403" test "$CODE" = 403
  check "... saying it selects by namespace" has_message \
    'policy "'"$pol"'": it selects by namespace: a service account of namespace "team-b" may only request in namespace "team-b", not "team-a"' "$BODY"
done

# 4. The Firefly endpoint: the namespace is the --api-issuer's (team-a), whoever calls.
spiffe_csr ff-a team-a web
ff $TB ff-a mesh
check "Firefly: a ns/team-a SPIFFE ID under the team-a issuer: 200, even for team-b's caller" test "$CODE" = 200
spiffe_csr ff-b team-b api
ff $TB ff-b mesh
check "Firefly: a ns/team-b SPIFFE ID under the team-a issuer: 403" test "$CODE" = 403
check "... naming the URI" has_message 'sans.uris "spiffe://cluster.local/ns/team-b/sa/api" not allowed' "$BODY"

kill -TERM "$EMBER_PID"; wait "$EMBER_PID"
check "Ember stops cleanly" test $? = 0
check "no token in the log" absent -E 'sa-team-[ab]-[a-z]+-[0-9a-f]{4}|user-alice|tok-ember' "$LOG"
