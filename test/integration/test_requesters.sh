#!/usr/bin/env bash
# test_requesters.sh -- IssuancePolicy.spec.selector.requesters on the controller front door,
# through the real binary against the strict fake API server: a request created with the token
# of a team-a service account (cert-manager's webhook records it in spec.username and
# spec.groups) is issued under a policy admitting "team-a/*"; one created by another user or
# another namespace's service account is Denied naming the requester and the policy; one that
# reached the API server without spec.username is Denied; a policy without requesters still
# admits anybody on this front door. `allowed` patterns with ${serviceAccount},
# ${serviceAccountNamespace} (from spec.username) and ${namespace} match the request's own.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh
. test/integration/k8s.sh

make_ca "$WORK/ca"

BUILDER=system:serviceaccount:team-a:builder
OTHER_SA=system:serviceaccount:team-b:builder
cat >"$WORK/conf.json" <<JSON
{"tokens": {
   "tok-ember": {"user": "system:serviceaccount:ember:ember-issuer",
                 "approve_signers": ["issuers.ember.issuer.dev/*", "clusterissuers.ember.issuer.dev/*"]},
   "tok-certmanager": {"user": "system:serviceaccount:cert-manager:cert-manager"},
   "tok-builder": {"user": "$BUILDER",
                   "groups": ["system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated"]},
   "tok-teamb": {"user": "$OTHER_SA",
                 "groups": ["system:serviceaccounts", "system:serviceaccounts:team-b", "system:authenticated"]},
   "tok-mallory": {"user": "mallory", "groups": ["system:authenticated"]}},
 "namespaces": ["default", "ember", "team-a"],
 "bookmark_interval_seconds": 1}
JSON
check "the fake API server is up" k8s_start "$WORK/conf.json"

ca_secret test-ca "$WORK/ca"
check "seed a ClusterIssuer" bash -c '[[ "$1" == 2?? ]]' _ "$(cluster_issuer test-ca test-ca)"
# WEB_POLICY (k8s.sh) plus who may use it.
TEAM_POLICY=$(python3 -c 'import json,sys; p=json.loads(sys.argv[1]); p["selector"]={"requesters":{"serviceAccounts":["team-a/*"]}}; print(json.dumps(p))' "$WEB_POLICY")
policy team-a "$TEAM_POLICY"
policy open "$WEB_POLICY"
# Issue 14 section 3: patterns relative to the request (checked in 6. below).
policy sa-vars '{"subject":{"commonName":{"rule":"Optional"}},"sans":{"dnsNames":{"rule":"Required","allowed":["${serviceAccount}\\.${serviceAccountNamespace}\\.svc","shared\\.${namespace}\\.svc"]}},"usages":["digital signature","key encipherment","server auth"]}'

# cert-manager's webhook writes the creator into spec.username/spec.groups on create, whatever
# the client put there: the fake does as well.
make_csr "$WORK/probe" -subj /CN=probe.example.com -addext subjectAltName=DNS:probe.example.com
cr_json probe team-a "$WORK/probe.csr" Issuer ca "" "" '[]' |
  sed 's/"group":"ember.issuer.dev"/"group":"cert-manager.io"/' |
  python3 -c 'import json,sys; d=json.load(sys.stdin); d["spec"]["username"]="system:admin"; print(json.dumps(d))' >"$WORK/probe.json"
kapi POST /apis/cert-manager.io/v1/namespaces/team-a/certificaterequests "$WORK/probe.json" "" tok-builder
obj $CM CertificateRequest team-a probe
check "the API server records the creator in spec.username, not what the client wrote" \
  test "$(jqpy '(d.get("spec") or {}).get("username")' "$WORK/obj.json")" = "$BUILDER"

# kcr_as TOKEN NAME POLICY DNS: a request in team-a as cert-manager's client would create it,
# authenticated with TOKEN; sets CODE and BODY.
kcr_as() {
  make_csr "$WORK/$2" -subj "/CN=$4" -addext "subjectAltName=DNS:$4"
  cr_json "$2" team-a "$WORK/$2.csr" ClusterIssuer test-ca "$3" 2160h \
    '["digital signature","key encipherment","server auth"]' >"$WORK/$2.json"
  kapi POST /apis/cert-manager.io/v1/namespaces/team-a/certificaterequests "$WORK/$2.json" "" "$1"
}
# spec_user NAME: spec.username of a team-a request as the server holds it.
spec_user() { obj $CM CertificateRequest team-a "$1"; jqpy '(d.get("spec") or {}).get("username", "")' "$WORK/obj.json"; }
# denied_message NAME: the Denied condition's message of a team-a request.
denied_message() { cond $CM CertificateRequest team-a "$1" Denied message; }

start_ember controller --kubeconfig "$WORK/kubeconfig" --cluster-resource-namespace ember \
  --watch-timeout 5s || exit 1
for _ in $(seq 1 100); do curl -fs -o /dev/null "$PROBES/readyz" && break; sleep 0.1; done
check "the ClusterIssuer becomes Ready" wait_cond $IV ClusterIssuer "" test-ca Ready reason Checked
check "the policy with requesters is Ready" wait_cond $IV IssuancePolicy "" team-a Ready status True

# 1. team-a's service account: admitted by "team-a/*".
kcr_as tok-builder built team-a app.example.com
check "the team-a service account creates a request (201)" test "$CODE" = 201
check "... spec.username is the token's service account" test "$(spec_user built)" = "$BUILDER"
check "... it is issued (Ready=True Issued)" wait_cond $CM CertificateRequest team-a built Ready reason Issued
check "... approved naming the policy" \
  test "$(cond $CM CertificateRequest team-a built Approved message)" = 'Approved by IssuancePolicy "team-a"'
obj $CM CertificateRequest team-a built
cp "$WORK/obj.json" "$WORK/built.out"
chain_out "$WORK/built.out" "$WORK/built"
check "... status.certificate verifies against status.ca with openssl" \
  verify_strict "$WORK/built.ca.pem" "$WORK/built.chain.pem" "$WORK/built.leaf.pem"

# 2. another user: Denied, the message naming the requester and the policy.
kcr_as tok-mallory sneaky team-a sneaky.example.com
check "another user creates a request (201)" test "$CODE" = 201
check "... spec.username is that user" test "$(spec_user sneaky)" = mallory
check "... it is Denied" wait_cond $CM CertificateRequest team-a sneaky Denied status True
msg=$(denied_message sneaky)
check "... the message names the requester and the policy ($msg)" test "$msg" = \
  'policy "team-a": requester "mallory" (groups "system:authenticated") is not admitted by spec.selector.requesters'
has_failure_time=$(jqpy '(d.get("status") or {}).get("failureTime") is not None' "$WORK/obj.json")
check "... with failureTime" test "$has_failure_time" = True
check "... Ready=False reason Denied" test "$(cond $CM CertificateRequest team-a sneaky Ready reason)" = Denied
check "... and no certificate" test "$(jqpy '(d.get("status") or {}).get("certificate", "")' "$WORK/obj.json")" = ""

# 3. a service account of another namespace: "team-a/*" does not reach team-b.
kcr_as tok-teamb teamb team-a teamb.example.com
check "a team-b service account's request is Denied" wait_cond $CM CertificateRequest team-a teamb Denied status True
msg=$(denied_message teamb)
check "... naming it, its groups and the policy ($msg)" test "$msg" = \
  "policy \"team-a\": requester \"$OTHER_SA\" (groups \"system:serviceaccounts\", \"system:serviceaccounts:team-b\", \"system:authenticated\") is not admitted by spec.selector.requesters"

# 4. a request without spec.username (created past the webhook): nobody the policy admits.
make_csr "$WORK/nouser" -subj /CN=nouser.example.com -addext subjectAltName=DNS:nouser.example.com
check "seed a request without spec.username" bash -c '[[ "$1" == 2?? ]]' _ "$(seed "$(cr_json nouser team-a "$WORK/nouser.csr" ClusterIssuer test-ca team-a 2160h '["digital signature","key encipherment","server auth"]')")"
check "... it is Denied" wait_cond $CM CertificateRequest team-a nouser Denied status True
check "... saying the requester is unknown" test "$(denied_message nouser)" = \
  'policy "team-a": requester unknown (spec.username is not set) is not admitted by spec.selector.requesters'

# 5. a policy without requesters admits anybody on this front door.
kcr_as tok-mallory open open open.example.com
check "a policy without requesters issues another user's request" \
  wait_cond $CM CertificateRequest team-a open Ready reason Issued

# 6. ${serviceAccount} and ${serviceAccountNamespace} are spec.username's
# system:serviceaccount:NS:NAME, ${namespace} the request's namespace (all requests in team-a).
kcr_as tok-builder sa-own sa-vars builder.team-a.svc
check "sa-vars: team-a/builder asking for builder.team-a.svc is issued" \
  wait_cond $CM CertificateRequest team-a sa-own Ready reason Issued
kcr_as tok-builder sa-other sa-vars other.team-a.svc
check "... asking for other.team-a.svc (another account's) is Denied" \
  wait_cond $CM CertificateRequest team-a sa-other Denied status True
check "... naming the value" test "$(denied_message sa-other)" = \
  'policy "sa-vars": sans.dnsNames "other.team-a.svc" not allowed'
kcr_as tok-teamb sa-teamb sa-vars builder.team-a.svc
check "... team-b/builder asking for builder.team-a.svc in team-a is Denied (its account's namespace is team-b)" \
  wait_cond $CM CertificateRequest team-a sa-teamb Denied status True
kcr_as tok-teamb sa-teamb-own sa-vars builder.team-b.svc
check "... and builder.team-b.svc is issued to it" \
  wait_cond $CM CertificateRequest team-a sa-teamb-own Ready reason Issued
kcr_as tok-mallory sa-user sa-vars builder.team-a.svc
check "... a user that is no service account: \${serviceAccount} matches nothing (Denied)" \
  wait_cond $CM CertificateRequest team-a sa-user Denied status True
kcr_as tok-mallory sa-user-ns sa-vars shared.team-a.svc
check "... while shared.\${namespace}.svc is issued to it in team-a" \
  wait_cond $CM CertificateRequest team-a sa-user-ns Ready reason Issued

curl -s --cacert "$WORK/ca/root.crt" -H "Authorization: Bearer tok-certmanager" \
  "$URL/api/v1/namespaces/team-a/events" >"$WORK/events.json"
check "a Denied Event names the requester" python3 - "$WORK/events.json" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))["items"]
sys.exit(0 if any(e["involvedObject"]["name"] == "sneaky" and e["reason"] == "Denied"
                  and 'requester "mallory"' in e.get("message", "") for e in items) else 1)
PY
kill -TERM "$EMBER_PID"
wait "$EMBER_PID"
check "SIGTERM stops the controller cleanly (exit 0)" test $? = 0
check "no bearer token in the log" absent -F "tok-" "$LOG"
