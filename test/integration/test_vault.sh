#!/usr/bin/env bash
# test_vault.sh -- the Vault signer through the real binary (standalone, HTTP front door)
# against the strict fake Vault: AppRole with a cached token, PKI sign, chains checked with
# openssl, failure classes (role violation, sealed, faults, num_uses, revoked secret_id), a
# standby's 307, one round trip per certificate in steady state, and the metrics of a Vault
# issuer (signer="vault", the expiry of Vault's issuing CA).
# shellcheck disable=SC2154 # vault_start (vault.sh) sets NAME_URL through printf -v
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh
. test/integration/vault.sh

NS=ns1/team

make_ca "$WORK/ca"          # root -> inter (Vault's issuing CA) -> subca (unused here)

cat >"$WORK/vault.json" <<JSON
{
  "namespace": "$NS/",
  "approle": {"approle": {"roles": {
    "ember":   {"role_id": "rid-ember", "secret_ids": ["sid-ember", "sid-revokable"], "token_ttl": "1h"},
    "limited": {"role_id": "rid-limited", "secret_ids": ["sid-limited"], "token_num_uses": 3},
    "single":  {"role_id": "rid-single", "secret_ids": ["sid-single"], "token_num_uses": 1}
  }}},
  "pki": {"pki_int": {
    "ca_cert": "ca/inter.crt", "ca_key": "ca/inter.key", "chain": ["ca/root.crt"],
    "roles": {
      "web":    {"allowed_domains": ["example.com"], "allow_subdomains": true, "max_ttl": "72h", "key_type": "any"},
      "strict": {"allowed_domains": ["example.com"], "allow_bare_domains": true, "allow_subdomains": false, "key_type": "any"},
      "names":  {"allowed_domains": ["example.com"], "allow_subdomains": true, "key_type": "any",
                 "allowed_other_sans": ["1.3.6.1.4.1.311.20.2.3;UTF8:*@example.com"],
                 "allowed_serial_numbers": ["SN-*"], "street_address": ["Main St 1"]},
      "org":    {"allowed_domains": ["example.com"], "allow_subdomains": true, "key_type": "any",
                 "organization": ["Acme"]}
    }
  }}
}
JSON

vault_start active || exit 1
vault_start standby || exit 1
check "the standby fake redirects to the active one" test "$(vault_admin "$standby_URL" standby-on "{\"active_addr\":\"$active_URL\"}")" = 204
# A plain-HTTP Vault on loopback whose standby answer points off the machine: Ember must not
# follow it (the login's secret_id would cross the network in clear text).
plain_port=$(free_port)
(cd "$WORK" && exec python3 "$OLDPWD/$FAKE_VAULT" --config vault.json --port "$plain_port" --http \
  --admin-token "$VAULT_ADMIN") 2>"$WORK/plain.log" &
PIDS+=($!)
plain_URL="http://127.0.0.1:$plain_port"
for _ in $(seq 1 100); do curl -s -o /dev/null "$plain_URL/v1/sys/health" && break; sleep 0.1; done
check "a plain-HTTP standby fake redirects off loopback" \
  test "$(vault_admin "$plain_URL" standby-on '{"active_addr":"http://192.0.2.1:8200"}')" = 204

# issuer NAME SERVER PATH ROLE_ID SECRET: a ClusterIssuer with AppRole and its Secret.
issuer() {
  cat <<YAML
---
apiVersion: ember.issuer.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: $1}
spec:
  defaultPolicy: web
  vault:
    server: $2
    path: $3
    namespace: $NS
    caBundle: $(base64 -w0 "$WORK/ca/root.crt")
    auth:
      appRole: {roleId: $4, secretRef: {name: $1-approle, key: secretId}}
---
apiVersion: v1
kind: Secret
metadata: {name: $1-approle, namespace: default}
stringData: {secretId: $5}
YAML
}
{
  issuer vault "$active_URL" pki_int/sign/web rid-ember sid-ember
  issuer vault-strict "$active_URL" pki_int/sign/strict rid-ember sid-ember
  issuer vault-limited "$active_URL" pki_int/sign/web rid-limited sid-limited
  issuer vault-single "$active_URL" pki_int/sign/web rid-single sid-single
  issuer vault-standby "$standby_URL" pki_int/sign/web rid-ember sid-ember
  issuer vault-revoked "$active_URL" pki_int/sign/web rid-ember sid-revokable
  issuer vault-plain "$plain_URL" pki_int/sign/web rid-ember sid-ember
  issuer vault-names "$active_URL" pki_int/sign/names rid-ember sid-ember
  issuer vault-org "$active_URL" pki_int/sign/org rid-ember sid-ember
} >"$WORK/issuers.yaml"
# Policy web with a minimum lifetime above the web role's max_ttl (72h).
cat >"$WORK/policies.yaml" <<'YAML'
apiVersion: ember.issuer.dev/v1alpha1
kind: IssuancePolicy
metadata: {name: web-min}
spec:
  validity: {min: 100h, max: 720h}
  subject:
    commonName: {rule: Optional, allowed: ['[a-z0-9.-]+\.example\.com'], max: 1}
  sans:
    dnsNames: {rule: Required, allowed: ['([a-z0-9-]+\.)*example\.com'], min: 1, max: 3}
  usages: [digital signature, key encipherment, server auth, client auth]
YAML
start_ember vault --manifests test/integration/manifests/policies.yaml --manifests "$WORK/issuers.yaml" \
  --manifests "$WORK/policies.yaml" \
  --issuer-recheck-period 1s --log-level debug || exit 1

# req NAME ISSUER DNS [DURATION]: a CertificateRequest for DNS under policy web.
req() {
  make_csr "$WORK/$1" -subj "/CN=$3" -addext "subjectAltName=DNS:$3"
  cr_json "$1" default "$WORK/$1.csr" ClusterIssuer "$2" web "${4:-}" '["digital signature","key encipherment","server auth"]' >"$WORK/$1.json"
}

req ok vault www.example.com 2160h
post /v1/certificaterequests "$WORK/ok.json"
check "issued through Vault (201)" test "$CODE" = 201
chain_out "$BODY" "$WORK/ok"
check "the chain verifies with openssl against status.ca" \
  verify_strict "$WORK/ok.ca.pem" "$WORK/ok.chain.pem" "$WORK/ok.leaf.pem"
check "status.ca is the root from Vault's ca_chain" cmp -s "$WORK/ok.ca.pem" "$WORK/ca/root.crt"
check "status.certificate is leaf then Vault's issuing CA, no root" \
  test "$(grep -c 'BEGIN CERTIFICATE' "$WORK/ok.chain.pem")" = 2
check "the leaf carries the CSR's key" \
  cmp -s <(openssl x509 -in "$WORK/ok.leaf.pem" -noout -pubkey) <(openssl req -in "$WORK/ok.csr" -noout -pubkey)
nb=$(date -d "$(openssl x509 -in "$WORK/ok.leaf.pem" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in "$WORK/ok.leaf.pem" -noout -enddate | cut -d= -f2)" +%s)
check "Vault's role max_ttl (72h) truncates the policy's 720h" test $(((na - nb + 60) / 3600)) = 72
check "a role without subject fields: the subject is the CSR's, nothing added" \
  test "$(openssl x509 -in "$WORK/ok.leaf.pem" -noout -subject -nameopt RFC2253)" = "subject=CN=www.example.com"

# The role's max_ttl cuts the lifetime after the policy approved it: below the policy's
# validity.min, the certificate is refused.
make_csr "$WORK/short" -subj "/CN=short.example.com" -addext "subjectAltName=DNS:short.example.com"
cr_json short default "$WORK/short.csr" ClusterIssuer vault web-min 200h '["digital signature","key encipherment","server auth"]' >"$WORK/short.json"
post /v1/certificaterequests "$WORK/short.json"
check "a lifetime cut by the role's max_ttl below validity.min: Failed (422)" test "$CODE" = 422
check "... naming spec.validity.min and max_ttl" \
  has_message "less than the policy's spec.validity.min 100h0m0s (Vault caps the TTL at its role's max_ttl" "$BODY"
check "... and not issued" absent -F '"certificate"' "$BODY"
check "the sign call carried the namespace header" \
  test "$(vault_stats "$active_URL" '[e["namespace"] for e in d["log"] if "/sign/" in e["path"]][-1]')" = "$NS"

req plain vault-plain www.example.com
post /v1/certificaterequests "$WORK/plain.json"
check "a plain-HTTP Vault's redirect off loopback is not followed (no certificate: $CODE)" test "$CODE" != 201
check "... and the log says why" \
  grep -q 'refusing a redirect to \\"http://192.0.2.1:8200/.*plain HTTP is for loopback only' "$LOG"

check "metrics: the signing histogram is labelled with the Vault signer" \
  test "$(metric 'ember_signing_duration_seconds_count{signer="vault"}')" = 1
check "metrics: ... not with the local CA's" test -z "$(metric 'ember_signing_duration_seconds_count{signer="local"}')"
check "metrics: a Vault issuer's CA expiry is the notAfter of Vault's issuing CA once it signed" \
  wait_metric 'ember_ca_expiry_timestamp_seconds{issuer="ClusterIssuer/vault"}' "$(not_after "$WORK/ca/inter.crt")"
check "metrics: ... and absent for one that has not signed yet (not known)" \
  test -z "$(metric 'ember_ca_expiry_timestamp_seconds{issuer="ClusterIssuer/vault-standby"}')"
check "metrics: ... which is Ready all the same" \
  test "$(metric 'ember_issuer_ready{issuer="ClusterIssuer/vault-standby"}')" = 1

# Steady state: one round trip per certificate (the token is cached).
before=$(vault_stats "$active_URL" 'sum(v for k, v in d["requests"].items() if "sys/health" not in k)')
for i in 1 2 3 4 5; do
  req "steady$i" vault "s$i.example.com"
  post /v1/certificaterequests "$WORK/steady$i.json"
  [ "$CODE" = 201 ] || not_ok "steady state request $i: $CODE $(messages "$BODY" | tr "\n" " " | head -c 400)"
done
after=$(vault_stats "$active_URL" 'sum(v for k, v in d["requests"].items() if "sys/health" not in k)')
check "5 certificates cost 5 Vault round trips besides health checks ($before -> $after)" test $((after - before)) = 5

# A CA request whose nameConstraints or pathLen Vault's sign endpoint would leave out (Vault
# builds extensions from its role): refused before Vault is asked, never dropped silently.
for ext in 'nameConstraints nameConstraints=permitted;DNS:.example.com' \
  'pathLen basicConstraints=critical,CA:TRUE,pathlen:0'; do
  n=${ext%% *} ext=${ext#* }
  make_csr "$WORK/$n" -subj "/CN=ca.example.com" -addext "subjectAltName=DNS:ca.example.com" -addext "$ext"
  cr_json "$n" default "$WORK/$n.csr" ClusterIssuer vault all-optional "" '[]' true >"$WORK/$n.json"
  post /v1/certificaterequests "$WORK/$n.json"
  check "a CA request with $n through Vault is refused (422)" test "$CODE" = 422
  check "... saying Vault cannot honour $n" has_message "$n" "$BODY"
done
# A CA request that asks for no pathLen under a policy with ca.maxPathLen would be issued with
# it: Vault cannot add it, so it is refused rather than issued without it.
make_csr "$WORK/maxpathlen" -subj "/CN=ca.example.com" -addext "basicConstraints=critical,CA:TRUE"
cr_json maxpathlen default "$WORK/maxpathlen.csr" ClusterIssuer vault ca-max-path-len "" '[]' true >"$WORK/maxpathlen.json"
post /v1/certificaterequests "$WORK/maxpathlen.json"
check "a CA request given the policy's ca.maxPathLen through Vault is refused (422)" test "$CODE" = 422
check "... naming spec.ca.maxPathLen" has_message "pathLen 1 (spec.ca.maxPathLen), which a Vault issuer cannot add" "$BODY"
check "... and not issued" absent -F '"certificate"' "$BODY"

# otherNames and subject attributes (issue 14 §2) under policy names: what Vault can honour is
# asked of it (other_sans; serialNumber and street come from the CSR and the role) and the leaf
# must carry every one of them; what it cannot (an attribute by OID) is refused before it is
# asked; never a certificate with less than was approved.
# names_req NAME ISSUER SUBJ SAN: a CertificateRequest under policy names.
names_req() {
  make_csr "$WORK/$1" -subj "$3" -addext "subjectAltName=$4"
  cr_json "$1" default "$WORK/$1.csr" ClusterIssuer "$2" names "" '["digital signature","key encipherment","server auth"]' >"$WORK/$1.json"
  post /v1/certificaterequests "$WORK/$1.json"
}
UPN=1.3.6.1.4.1.311.20.2.3
names_req upn vault-names "/CN=u.example.com/street=Main St 1/serialNumber=SN-7" \
  "DNS:u.example.com,otherName:$UPN;UTF8:bob@example.com"
check "an otherName, a streetAddress and a serialNumber through Vault: issued (201)" test "$CODE" = 201
chain_out "$BODY" "$WORK/upn"
check "... the sign call carried other_sans as Vault writes them" \
  test "$(vault_stats "$active_URL" '[b.get("other_sans") for b in d["sign_requests"] if b["path"].endswith("/names")][-1]')" = "[\"$UPN;UTF8:bob@example.com\"]"
check "... the leaf carries the otherName" \
  bash -c 'openssl x509 -in "$1" -noout -ext subjectAltName | grep -q "othername: UPN::bob@example.com"' _ "$WORK/upn.leaf.pem"
check "... and the street and serialNumber" \
  bash -c 'openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | grep -q "serialNumber=SN-7,CN=u.example.com,street=Main St 1"' _ "$WORK/upn.leaf.pem"
names_req street vault-names "/CN=s.example.com/street=Side Rd 2" "DNS:s.example.com"
check "a streetAddress the Vault role does not set: Failed (422), not issued without it" test "$CODE" = 422
check "... naming what the certificate lacks" \
  has_message 'subject lacks the requested streetAddress "Side Rd 2"' "$BODY"
# A role with organization: Vault puts it in every subject, from the role, not the CSR; the
# policy never saw it, so a certificate with it is refused unless the request asked for it.
names_req org vault-org "/CN=o.example.com" "DNS:o.example.com"
check "a role's organization the request did not ask for: Failed (422)" test "$CODE" = 422
check "... naming the attribute, the value and the role field" \
  has_message 'Vault added subject O "Acme" that the request did not ask for (the role'"'"'s organization); the policy never approved it: clear the role'"'"'s organization or request it' "$BODY"
check "... and not issued" absent -F '"certificate"' "$BODY"
names_req orgasked vault-org "/CN=o.example.com/O=Acme" "DNS:o.example.com"
check "the same organization requested (and approved): issued (201)" test "$CODE" = 201
chain_out "$BODY" "$WORK/orgasked"
check "... with it in the subject" \
  test "$(openssl x509 -in "$WORK/orgasked.leaf.pem" -noout -subject -nameopt RFC2253)" = "subject=CN=o.example.com,O=Acme"
names_req title vault-names "/CN=t.example.com/title=engineer" "DNS:t.example.com"
check "a subject attribute by OID through Vault: refused before Vault is asked (422)" test "$CODE" = 422
check "... naming it" has_message "subject holds 2.5.4.12 (title), which a Vault issuer cannot honour" "$BODY"
names_req eve vault-names "/CN=e.example.com" "DNS:e.example.com,otherName:$UPN;UTF8:eve@example.org"
check "an otherName the policy does not allow: Denied (403)" test "$CODE" = 403
check "... naming it" has_message "sans.otherNames $UPN \"eve@example.org\" not allowed" "$BODY"
names_req noupn vault "/CN=n.example.com" "DNS:n.example.com,otherName:$UPN;UTF8:bob@example.com"
check "an otherName the Vault role does not allow: Failed (422) with Vault's message" \
  bash -c '[ "$1" = 422 ] && grep -q "not allowed for OID" "$2"' _ "$CODE" "$BODY"

req strict vault-strict www.example.com
post /v1/certificaterequests "$WORK/strict.json"
check "a Vault role violation is Failed (422)" test "$CODE" = 422
check "... with Vault's own message" has_message "not allowed by this role" "$BODY"
check "... and failureTime" grep -q '"failureTime"' "$BODY"

check "seal the fake" test "$(vault_admin "$active_URL" seal)" = 204
req sealed vault sealed.example.com
post /v1/certificaterequests "$WORK/sealed.json"
check "sealed Vault: 503" test "$CODE" = 503
check "... with Retry-After" grep -qi '^Retry-After: [0-9]' "$HEADERS"
# The sign call or the issuer's 1 s re-check, whichever sees the seal first, says so.
check "... and Pending saying Vault is sealed" has_message "Vault is sealed" "$BODY"
check "unseal the fake" test "$(vault_admin "$active_URL" unseal)" = 204
# post_until_201 PATH FILE: the client's retry after Retry-After, bounded (10 s).
post_until_201() {
  local i
  for i in $(seq 1 50); do
    post "$1" "$2"
    [ "$CODE" = 201 ] && return 0
    sleep 0.2
  done
  return 1
}
check "the same request is issued after unsealing (the client retrying)" post_until_201 /v1/certificaterequests "$WORK/sealed.json"
check "... and the issuers are Ready again" bash -c 'for i in $(seq 1 50); do
  n=$(curl -s "$1/metrics" | grep -cE "^ember_issuer_ready\{issuer=\"ClusterIssuer/vault(-limited|-single)?\"\} 1")
  [ "$n" = 3 ] && exit 0; sleep 0.2; done; exit 1' _ "$METRICS"

for status in 500 429 412; do
  vault_admin "$active_URL" fault "{\"path\":\"/v1/pki_int/sign/web\",\"status\":$status,\"count\":1}" >/dev/null
  req "fault$status" vault "f$status.example.com"
  post /v1/certificaterequests "$WORK/fault$status.json"
  check "Vault $status on sign: 503 (retryable)" test "$CODE" = 503
  post /v1/certificaterequests "$WORK/fault$status.json"
  check "... and the retry is issued" test "$CODE" = 201
done

# num_uses, twice: first as Vault 1.21 answers a login (auth.num_uses says the token's uses, so
# no lookup-self is spent on it), then as a server whose login answer lacks the field (the
# client asks lookup-self, which itself spends a use).
lookups() { vault_stats "$active_URL" 'sum(v for k, v in d["requests"].items() if "lookup-self" in k)'; }
# uses_round TAG: 6 requests through the 3-use role, 3 through the single-use role.
uses_round() {
  local i logins_before logins_after denied_before
  logins_before=$(vault_stats "$active_URL" 'd["logins"]')
  for i in 1 2 3 4 5 6; do
    req "lim$1$i" vault-limited "l$1$i.example.com"
    post /v1/certificaterequests "$WORK/lim$1$i.json"
    [ "$CODE" = 201 ] || not_ok "token_num_uses=3 request $1$i: $CODE $(messages "$BODY" | tr "\n" " " | head -c 400)"
  done
  logins_after=$(vault_stats "$active_URL" 'd["logins"]')
  check "$1: a token used up by num_uses is replaced silently (6 issued, $((logins_after - logins_before)) new logins)" \
    test $((logins_after - logins_before)) -ge 1 # 6 signs need 2 tokens of 3 uses at least
  check "$1: ... and no sign was refused for a used-up token" \
    test "$(vault_stats "$active_URL" 'len([e for e in d["log"] if "/sign/" in e["path"] and e["status"] == 403])')" = 0
  denied_before=$(vault_stats "$active_URL" 'd["denied"]')
  for i in 1 2 3; do
    req "single$1$i" vault-single "one$1$i.example.com"
    post /v1/certificaterequests "$WORK/single$1$i.json"
    [ "$CODE" = 201 ] || not_ok "token_num_uses=1 request $1$i: $CODE $(messages "$BODY" | tr "\n" " " | head -c 400)"
  done
  check "$1: single-use tokens: 3 requests issued" test "$CODE" = 201
  DENIED=$(( $(vault_stats "$active_URL" 'd["denied"]') - denied_before ))
}
lookups_before=$(lookups)
uses_round login
check "login: ... not one call refused (the login said the token's uses)" test "$DENIED" = 0
check "login: ... and no lookup-self spent a use" test "$(lookups)" = "$lookups_before"
check "a fake Vault whose login answers lack auth.num_uses" \
  test "$(vault_admin "$active_URL" state '{"login_num_uses": false}')" = 204
lookups_before=$(lookups)
uses_round lookup
check "lookup: ... without a refused call after the first token (no login loop)" test "$DENIED" -le 1
check "lookup: ... the client asked lookup-self instead" test "$(lookups)" -gt "$lookups_before"
vault_admin "$active_URL" state '{"login_num_uses": true}' >/dev/null

req standby vault-standby sb.example.com
post /v1/certificaterequests "$WORK/standby.json"
check "a standby's 307 is followed with the token kept (201)" test "$CODE" = 201
check "... the standby answered 307" \
  test "$(vault_stats "$standby_URL" 'len([e for e in d["log"] if e["status"] == 307])')" -ge 1

req rev vault-revoked r.example.com
post /v1/certificaterequests "$WORK/rev.json"
check "the issuer with the revokable secret_id works first" test "$CODE" = 201
vault_admin "$active_URL" revoke-secret-id '{"secret_id":"sid-revokable"}' >/dev/null
vault_admin "$active_URL" revoke-tokens >/dev/null
post /v1/certificaterequests "$WORK/rev.json"
check "a revoked secret_id: 503" test "$CODE" = 503
check "... naming the Secret" has_message "default/vault-revoked-approle" "$BODY"
ready=1
for i in $(seq 1 50); do
  ready=$(curl -s "$METRICS/metrics" | sed -n 's/^ember_issuer_ready{issuer="ClusterIssuer\/vault-revoked"} //p')
  [ "$ready" = 0 ] && break
  sleep 0.1
done
check "... and the issuer turns not Ready on its re-check" test "$ready" = 0
req after vault after.example.com
post /v1/certificaterequests "$WORK/after.json"
check "... a request on another issuer after revoke-tokens is issued" test "$CODE" = 201

kill -TERM "$EMBER_PID"; wait "$EMBER_PID"
check "Ember stops cleanly (exit 0)" test $? = 0
check "revoke-self on shutdown" test "$(vault_stats "$active_URL" 'd["requests"].get("POST /v1/auth/token/revoke-self", 0)')" -ge 1
check "no secret_id in Ember's log" absent -F "sid-" "$LOG"
check "no Vault token in Ember's log" absent -E 'hvs\.|s\.[A-Za-z0-9]{24}' "$LOG"
check "no private key in Ember's log" no_secrets_in "$LOG" "$WORK/ok.key"
