#!/usr/bin/env bash
# test_vault_controller.sh -- the Vault signer through the controller front door: the real
# binary against the strict fake API server and the strict fake Vault at once. CertificateRequests
# made as cert-manager makes them for a Vault ClusterIssuer (Secret in the cluster resource
# namespace) and a Vault Issuer (Secret in its own namespace): issued with the chain checked by
# openssl; a role violation Failed with Vault's message; sealed Pending then Issued after
# unsealing without a new request; a token used up by num_uses replaced silently; a standby's
# 307 followed; a revoked secret_id turns the issuer not Ready naming the Secret; a caBundle
# Secret created after the issuer is picked up, and one replaced (another CA, then Vault's) read
# again at a re-check in place, the issuer loaded again; an issuer fixed by a spec change keeps
# being re-checked; a static token (tokenSecretRef) rotated in Vault and in its Secret is read
# again after Vault's 403 and never revoked; Kubernetes auth with serviceAccountRef (a
# TokenRequest per login with cert-manager's audiences; a missing account named); the issuer
# gauges; no secret_id, token or key in the log.
# shellcheck disable=SC2154 # vault_start (vault.sh) sets NAME_URL through printf -v
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh
. test/integration/k8s.sh
. test/integration/vault.sh

NS=ns1/team
make_ca "$WORK/ca"   # root -> inter (Vault's issuing CA); the root also signs both fakes' TLS

cat >"$WORK/vault.json" <<JSON
{
  "namespace": "$NS/",
  "approle": {"approle": {"roles": {
    "ember":   {"role_id": "rid-ember", "secret_ids": ["sid-ember", "sid-team", "sid-revokable"], "token_ttl": "1h"},
    "limited": {"role_id": "rid-limited", "secret_ids": ["sid-limited"], "token_num_uses": 2}
  }}},
  "kubernetes": {"kubernetes": {"roles": {"ember": {"bound_service_account_names": ["vault-auth"],
    "bound_service_account_namespaces": ["team"], "audience": "vault://team/team-vault-sa",
    "allowed_paths": ["pki_int/sign/*"]}}}},
  "pki": {"pki_int": {
    "ca_cert": "ca/inter.crt", "ca_key": "ca/inter.key", "chain": ["ca/root.crt"],
    "roles": {
      "web":    {"allowed_domains": ["example.com"], "allow_subdomains": true, "max_ttl": "72h", "key_type": "any"},
      "strict": {"allowed_domains": ["example.com"], "allow_bare_domains": true, "allow_subdomains": false, "key_type": "any"}
    }
  }}
}
JSON
vault_start active || exit 1
vault_start standby || exit 1
check "the standby fake redirects to the active one" \
  test "$(vault_admin "$standby_URL" standby-on "{\"active_addr\":\"$active_URL\"}")" = 204

cat >"$WORK/conf.json" <<'JSON'
{"tokens": {
   "tok-ember": {"user": "system:serviceaccount:ember:ember-issuer",
                 "approve_signers": ["issuers.ember.issuer.dev/*", "clusterissuers.ember.issuer.dev/*"]},
   "tok-certmanager": {"user": "system:serviceaccount:cert-manager:cert-manager"}},
 "namespaces": ["default", "ember", "team"],
 "bookmark_interval_seconds": 1}
JSON
check "the fake API server is up" k8s_start "$WORK/conf.json"

CABUNDLE=$(base64 -w0 "$WORK/ca/root.crt")
# vault_issuer KIND NS NAME SERVER PATH ROLE_ID SECRET_ID: a Vault issuer and its AppRole Secret
# (in NS for an Issuer, in the cluster resource namespace "ember" for a ClusterIssuer).
vault_issuer() {
  local meta="\"name\":\"$3\"" sns=ember
  if [ "$1" = Issuer ]; then meta="$meta,\"namespace\":\"$2\""; sns=$2; fi
  seed "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"$3-approle\",\"namespace\":\"$sns\"},\"stringData\":{\"secretId\":\"$7\"}}" >/dev/null
  seed "{\"apiVersion\":\"$IV\",\"kind\":\"$1\",\"metadata\":{$meta},\"spec\":{\"vault\":{\"server\":\"$4\",\"path\":\"$5\",\"namespace\":\"$NS\",\"caBundle\":\"$CABUNDLE\",\"auth\":{\"appRole\":{\"roleId\":\"$6\",\"secretRef\":{\"name\":\"$3-approle\",\"key\":\"secretId\"}}}}}}"
}
check "seed a Vault ClusterIssuer" bash -c '[[ "$1" == 2?? ]]' _ \
  "$(vault_issuer ClusterIssuer "" vault "$active_URL" pki_int/sign/web rid-ember sid-ember)"
vault_issuer ClusterIssuer "" vault-strict "$active_URL" pki_int/sign/strict rid-ember sid-ember >/dev/null
vault_issuer ClusterIssuer "" vault-limited "$active_URL" pki_int/sign/web rid-limited sid-limited >/dev/null
vault_issuer ClusterIssuer "" vault-standby "$standby_URL" pki_int/sign/web rid-ember sid-ember >/dev/null
vault_issuer ClusterIssuer "" vault-revoked "$active_URL" pki_int/sign/web rid-ember sid-revokable >/dev/null
check "seed a Vault Issuer in namespace team" bash -c '[[ "$1" == 2?? ]]' _ \
  "$(vault_issuer Issuer team team-vault "$active_URL" pki_int/sign/web rid-ember sid-team)"
policy web "$WEB_POLICY"

start_ember vault-controller --kubeconfig "$WORK/kubeconfig" --cluster-resource-namespace ember \
  --issuer-recheck-period 1s --watch-timeout 5s --log-level debug || exit 1

WAIT_S=20
crc() { cond $CM CertificateRequest "$@"; }
wait_cr() { wait_cond $CM CertificateRequest "$@"; }
# leaf_of NS NAME: the request's status into $WORK/NAME.{chain,leaf,ca}.pem.
leaf_of() { obj $CM CertificateRequest "$1" "$2"; cp "$WORK/obj.json" "$WORK/$2.out"; chain_out "$WORK/$2.out" "$WORK/$2"; }

check "the Vault ClusterIssuer becomes Ready (Checked)" wait_cond $IV ClusterIssuer "" vault Ready reason Checked
check "the Vault Issuer in team becomes Ready (Checked)" wait_cond $IV Issuer team team-vault Ready reason Checked

kcr ok default ClusterIssuer vault web www.example.com
check "cert-manager creates a request for the Vault ClusterIssuer (201)" test "$CODE" = 201
check "the request is issued through Vault" wait_cr default ok Ready reason Issued
check "... approved by policy web" test "$(crc default ok Approved message)" = 'Approved by IssuancePolicy "web"'
leaf_of default ok
check "... the chain verifies with openssl against status.ca" \
  verify_strict "$WORK/ok.ca.pem" "$WORK/ok.chain.pem" "$WORK/ok.leaf.pem"
check "... status.ca is the root from Vault's ca_chain" cmp -s "$WORK/ok.ca.pem" "$WORK/ca/root.crt"
check "... status.certificate is the leaf then Vault's issuing CA, no root" \
  test "$(grep -c 'BEGIN CERTIFICATE' "$WORK/ok.chain.pem")" = 2
check "... the leaf carries the CSR's key" \
  cmp -s <(openssl x509 -in "$WORK/ok.leaf.pem" -noout -pubkey) <(openssl req -in "$WORK/ok.csr" -noout -pubkey)
check "... the sign call carried the Vault namespace header" \
  test "$(vault_stats "$active_URL" '[e["namespace"] for e in d["log"] if "/sign/" in e["path"]][-1]')" = "$NS"

kcr teamreq team Issuer team-vault web team.example.com
check "a request for the namespaced Vault Issuer is issued" wait_cr team teamreq Ready reason Issued
leaf_of team teamreq
check "... and its chain verifies" \
  verify_strict "$WORK/teamreq.ca.pem" "$WORK/teamreq.chain.pem" "$WORK/teamreq.leaf.pem"

# The issuer gauges in controller mode, for Vault issuers as for local CAs.
check "metrics: ember_issuer_ready is 1 for the Vault Issuer in team" \
  wait_metric 'ember_issuer_ready{issuer="Issuer/team/team-vault"}' 1
check "metrics: the Vault ClusterIssuer's CA expiry is that of Vault's issuing CA" \
  wait_metric 'ember_ca_expiry_timestamp_seconds{issuer="ClusterIssuer/vault"}' "$(not_after "$WORK/ca/inter.crt")"

# Steady state: one Vault round trip per certificate besides the issuers' health re-checks.
rt() { vault_stats "$active_URL" 'sum(v for k, v in d["requests"].items() if "sys/health" not in k)'; }
before=$(rt)
for i in 1 2 3 4; do kcr "steady$i" default ClusterIssuer vault web "s$i.example.com"; done
all_issued() { local i; for i in 1 2 3 4; do [ "$(crc default "steady$i" Ready reason)" = Issued ] || return 1; done; }
wait_all() { local i; for i in $(seq 1 200); do all_issued && return 0; sleep 0.1; done; return 1; }
check "4 more requests are issued" wait_all
after=$(rt)
check "... with 4 Vault round trips ($before -> $after)" test $((after - before)) = 4

kcr strict default ClusterIssuer vault-strict web www.example.com
check "a Vault role violation ends Failed" wait_cr default strict Ready reason Failed
check "... with Vault's own message" has_message "not allowed by this role" "$WORK/obj.json"
check "... and failureTime" grep -q '"failureTime"' "$WORK/obj.json"
check "... after being approved (the policy admits it; Vault refused)" test "$(crc default strict Approved status)" = True

# A caBundle Secret that does not exist yet: not Ready naming it, then Ready once it is created
# (the re-check builds the Vault client again instead of checking the one it could not make).
seed "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"vault-bundle-approle\",\"namespace\":\"ember\"},\"stringData\":{\"secretId\":\"sid-ember\"}}" >/dev/null
seed "{\"apiVersion\":\"$IV\",\"kind\":\"ClusterIssuer\",\"metadata\":{\"name\":\"vault-bundle\"},\"spec\":{\"vault\":{\"server\":\"$active_URL\",\"path\":\"pki_int/sign/web\",\"namespace\":\"$NS\",\"caBundleSecretRef\":{\"name\":\"vault-bundle-ca\",\"key\":\"ca.crt\"},\"auth\":{\"appRole\":{\"roleId\":\"rid-ember\",\"secretRef\":{\"name\":\"vault-bundle-approle\",\"key\":\"secretId\"}}}}}}" >/dev/null
check "a Vault ClusterIssuer whose caBundle Secret is missing is not Ready" \
  wait_cond $IV ClusterIssuer "" vault-bundle Ready status False
check "... naming the Secret" bash -c 'grep -q "ember/vault-bundle-ca" "$1"' _ "$WORK/obj.json"
seed "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"vault-bundle-ca\",\"namespace\":\"ember\"},\"stringData\":{\"ca.crt\":$(pem_json "$WORK/ca/root.crt")}}" >/dev/null
check "... and Ready at a re-check once the Secret exists" \
  wait_cond $IV ClusterIssuer "" vault-bundle Ready reason Checked
kcr bundled default ClusterIssuer vault-bundle web bundled.example.com
check "... then it issues" wait_cr default bundled Ready reason Issued

# A caBundle Secret replaced (Vault's CA rotated, or a wrong one fixed): the re-check in place
# reads the Secrets the issuer loaded from again and, as one changed, loads the issuer again.
make_ca "$WORK/other"
bundle_secret() { seed "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"vault-rotate-ca\",\"namespace\":\"ember\"},\"stringData\":{\"ca.crt\":$(pem_json "$1")}}" >/dev/null; }
bundle_secret "$WORK/other/root.crt"
seed "{\"apiVersion\":\"$IV\",\"kind\":\"ClusterIssuer\",\"metadata\":{\"name\":\"vault-rotate\"},\"spec\":{\"vault\":{\"server\":\"$active_URL\",\"path\":\"pki_int/sign/web\",\"namespace\":\"$NS\",\"caBundleSecretRef\":{\"name\":\"vault-rotate-ca\",\"key\":\"ca.crt\"},\"auth\":{\"appRole\":{\"roleId\":\"rid-ember\",\"secretRef\":{\"name\":\"vault-bundle-approle\",\"key\":\"secretId\"}}}}}}" >/dev/null
check "a Vault ClusterIssuer whose caBundle Secret holds another CA is not Ready" \
  wait_cond $IV ClusterIssuer "" vault-rotate Ready status False
check "... for Vault's certificate" bash -c 'grep -qiE "certificate|TLS|SSL" "$1"' _ "$WORK/obj.json"
sleep 2
check "... and still not Ready after some re-checks in place" \
  test "$(cond $IV ClusterIssuer "" vault-rotate Ready status)" = False
bundle_secret "$WORK/ca/root.crt"
check "... then Ready once the Secret holds Vault's CA (the Issuer unchanged)" \
  wait_cond $IV ClusterIssuer "" vault-rotate Ready reason Checked
check "... saying in the log which Secret changed" \
  grep -qF "Secret ember/vault-rotate-ca changed: loading the issuer again" "$LOG"
kcr rotated default ClusterIssuer vault-rotate web rotated.example.com
check "... and it issues" wait_cr default rotated Ready reason Issued

# A wrong roleId fixed by a spec change: Ready, and its periodic re-checks go on after that
# (the seal below must turn it not Ready as it does the others).
vault_issuer ClusterIssuer "" vault-fixed "$active_URL" pki_int/sign/web rid-wrong sid-ember >/dev/null
check "a Vault ClusterIssuer with a wrong roleId is not Ready" \
  wait_cond $IV ClusterIssuer "" vault-fixed Ready status False
vault_issuer ClusterIssuer "" vault-fixed "$active_URL" pki_int/sign/web rid-ember sid-ember >/dev/null
check "... and Ready once its spec is fixed" wait_cond $IV ClusterIssuer "" vault-fixed Ready reason Checked

check "seal the fake Vault" test "$(vault_admin "$active_URL" seal)" = 204
check "sealed Vault: the issuer fixed by a spec change turns not Ready at its next re-check" \
  wait_cond $IV ClusterIssuer "" vault-fixed Ready status False
check "... saying Vault is sealed" bash -c 'grep -qi "sealed" "$1"' _ "$WORK/obj.json"
kcr sealed default ClusterIssuer vault web sealed.example.com
check "sealed Vault: the request is Pending" wait_cr default sealed Ready reason Pending
check "... saying why" bash -c 'grep -qiE "sealed|not Ready|unseal" "$1"' _ "$WORK/obj.json"
sleep 2
check "... and still Pending, not Failed, after a while" test "$(crc default sealed Ready reason)" = Pending
creates_before=$(stats; jqpy 'len([w for w in d["write_log"] if w["verb"] == "create" and "/certificaterequests" in w["path"]])' "$WORK/stats.json")
check "unseal the fake Vault" test "$(vault_admin "$active_URL" unseal)" = 204
check "... the same request is issued after unsealing" wait_cr default sealed Ready reason Issued
creates_after=$(stats; jqpy 'len([w for w in d["write_log"] if w["verb"] == "create" and "/certificaterequests" in w["path"]])' "$WORK/stats.json")
check "... with no new request created" test "$creates_before" = "$creates_after"
check "... and the fixed issuer is Ready again" wait_cond $IV ClusterIssuer "" vault-fixed Ready reason Checked

logins_before=$(vault_stats "$active_URL" 'd["logins"]')
for i in 1 2 3 4 5; do kcr "lim$i" default ClusterIssuer vault-limited web "l$i.example.com"; done
lim_issued() { local i; for i in 1 2 3 4 5; do [ "$(crc default "lim$i" Ready reason)" = Issued ] || return 1; done; }
wait_lim() { local i; for i in $(seq 1 200); do lim_issued && return 0; sleep 0.1; done; return 1; }
check "token_num_uses=2: 5 requests are all issued" wait_lim
logins_after=$(vault_stats "$active_URL" 'd["logins"]')
check "... the used-up tokens were replaced by new logins ($((logins_after - logins_before)))" \
  test $((logins_after - logins_before)) -ge 2
check "... and no sign was refused for a used-up token" \
  test "$(vault_stats "$active_URL" 'len([e for e in d["log"] if "/sign/" in e["path"] and e["status"] == 403])')" = 0

kcr standby default ClusterIssuer vault-standby web sb.example.com
check "a request through a standby Vault is issued" wait_cr default standby Ready reason Issued
check "... the standby answered 307" \
  test "$(vault_stats "$standby_URL" 'len([e for e in d["log"] if e["status"] == 307])')" -ge 1

kcr rev default ClusterIssuer vault-revoked web r.example.com
check "the issuer with the revokable secret_id issues first" wait_cr default rev Ready reason Issued
vault_admin "$active_URL" revoke-secret-id '{"secret_id":"sid-revokable"}' >/dev/null
vault_admin "$active_URL" revoke-tokens >/dev/null
kcr rev2 default ClusterIssuer vault-revoked web r2.example.com
check "revoked secret_id and tokens: a new request waits (Pending), not Failed" wait_cr default rev2 Ready reason Pending
check "... naming the Secret to fix" bash -c 'grep -q "ember/vault-revoked-approle" "$1"' _ "$WORK/obj.json"
check "... the ClusterIssuer turns not Ready" wait_cond $IV ClusterIssuer "" vault-revoked Ready status False
check "... naming the Secret" bash -c 'grep -q "ember/vault-revoked-approle" "$1"' _ "$WORK/obj.json"
sleep 2
check "... and the request is still Pending, not Failed" test "$(crc default rev2 Ready reason)" = Pending
kcr after default ClusterIssuer vault web after.example.com
check "... while the other Vault issuer still issues (it logs in again)" wait_cr default after Ready reason Issued

# A static token (tokenSecretRef): rotated in Vault and in its Secret, read again after the 403.
token_secret() { seed "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"vault-token\",\"namespace\":\"ember\"},\"stringData\":{\"token\":\"$1\"}}" >/dev/null; }
check "a static token in Vault" \
  test "$(vault_admin "$active_URL" add-token '{"token":"hvs.ctl-one","allowed_paths":["pki_int/sign/*"]}')" = 204
token_secret hvs.ctl-one
seed "{\"apiVersion\":\"$IV\",\"kind\":\"ClusterIssuer\",\"metadata\":{\"name\":\"vault-token\"},\"spec\":{\"vault\":{\"server\":\"$active_URL\",\"path\":\"pki_int/sign/web\",\"namespace\":\"$NS\",\"caBundle\":\"$CABUNDLE\",\"auth\":{\"tokenSecretRef\":{\"name\":\"vault-token\"}}}}}" >/dev/null
check "a Vault ClusterIssuer with a static token becomes Ready" wait_cond $IV ClusterIssuer "" vault-token Ready reason Checked
kcr tok1 default ClusterIssuer vault-token web t1.example.com
check "... and issues" wait_cr default tok1 Ready reason Issued
check "rotate the token: a new one in Vault" \
  test "$(vault_admin "$active_URL" add-token '{"token":"hvs.ctl-two","allowed_paths":["pki_int/sign/*"]}')" = 204
token_secret hvs.ctl-two
check "... the old one revoked" test "$(vault_admin "$active_URL" revoke-token '{"token":"hvs.ctl-one"}')" = 204
refused_before=$(vault_stats "$active_URL" 'len([e for e in d["log"] if "/sign/" in e["path"] and e["status"] == 403])')
kcr tok2 default ClusterIssuer vault-token web t2.example.com
check "... a request is issued with the new token from the Secret" wait_cr default tok2 Ready reason Issued
check "... after Vault refused the old one (403)" \
  test "$(vault_stats "$active_URL" 'len([e for e in d["log"] if "/sign/" in e["path"] and e["status"] == 403])')" -gt "$refused_before"

# Kubernetes auth with serviceAccountRef: a TokenRequest per login, then {role, jwt} to Vault.
sa_issuer() {
  seed "{\"apiVersion\":\"$IV\",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"$1\",\"namespace\":\"team\"},\"spec\":{\"vault\":{\"server\":\"$active_URL\",\"path\":\"pki_int/sign/web\",\"namespace\":\"$NS\",\"caBundle\":\"$CABUNDLE\",\"auth\":{\"kubernetes\":{\"role\":\"ember\",\"serviceAccountRef\":{\"name\":\"$2\",\"audiences\":[\"https://extra.example\"]}}}}}}" >/dev/null
}
sa_issuer team-vault-nosa missing-sa
check "serviceAccountRef naming an account that does not exist: the Issuer is not Ready" \
  wait_cond $IV Issuer team team-vault-nosa Ready status False
check "... saying which service account" bash -c 'grep -q "service account team/missing-sa" "$1"' _ "$WORK/obj.json"
seed '{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"vault-auth","namespace":"team"}}' >/dev/null
sa_issuer team-vault-sa vault-auth
check "serviceAccountRef: the Issuer becomes Ready (a TokenRequest, then a Kubernetes login)" \
  wait_cond $IV Issuer team team-vault-sa Ready reason Checked
kcr sareq team Issuer team-vault-sa web sa.example.com
check "... and issues" wait_cr team sareq Ready reason Issued
stats
check "... the token was requested for team/vault-auth, 600 s, with the spec's audiences, vault://team/team-vault-sa and the server" \
  test "$(jqpy '[[e["namespace"], e["name"], e["audiences"], e["expirationSeconds"], e["code"]] for e in d["token_request_log"] if e["name"] == "vault-auth"][-1]' "$WORK/stats.json")" = \
  "[\"team\", \"vault-auth\", [\"https://extra.example\", \"vault://team/team-vault-sa\", \"$active_URL\"], 600, 201]"
check "... and Vault accepted that JWT (its claims name team/vault-auth and the audience)" \
  test "$(vault_stats "$active_URL" 'd["kubernetes_logins"]')" -ge 1

curl -s --cacert "$WORK/ca/root.crt" -H "Authorization: Bearer tok-certmanager" \
  "$URL/api/v1/namespaces/default/events" >"$WORK/events.json"
# sealed: RetryableError when the sign call met the seal, WaitingForIssuerReady when the issuer's
# re-check (sys/health) saw it first; which comes first is a race.
check "Events: Issued for ok, PermanentError for strict, RetryableError or WaitingForIssuerReady for sealed" python3 - "$WORK/events.json" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))["items"]
reasons = {(e["involvedObject"]["name"], e["reason"]) for e in items}
waited = ("sealed", "RetryableError") in reasons or ("sealed", "WaitingForIssuerReady") in reasons
sys.exit(0 if ("ok", "Issued") in reasons and ("strict", "PermanentError") in reasons and waited else 1)
PY

kill -TERM "$EMBER_PID"; wait "$EMBER_PID"
check "Ember stops cleanly (exit 0)" test $? = 0
check "revoke-self on shutdown" \
  test "$(vault_stats "$active_URL" 'd["requests"].get("POST /v1/auth/token/revoke-self", 0)')" -ge 1
code=$(curl -s --cacert "$WORK/ca/root.crt" -o /dev/null -w '%{http_code}' -H "X-Vault-Token: hvs.ctl-two" \
  -H "X-Vault-Namespace: $NS" "$active_URL/v1/auth/token/lookup-self")
check "... but not of the static token: it still works after Ember stopped" test "$code" = 200
check "no secret_id in Ember's log" absent -F "sid-" "$LOG"
check "no Vault token in Ember's log" absent -E 'hvs\.|s\.[A-Za-z0-9]{24}' "$LOG"
check "no Kubernetes token in Ember's log" absent -F "tok-ember" "$LOG"
check "no private key in Ember's log" no_secrets_in "$LOG" "$WORK/ok.key" "$WORK/ca/inter.key"
