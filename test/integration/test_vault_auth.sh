#!/usr/bin/env bash
# test_vault_auth.sh -- every way Ember authenticates to Vault, through the real binary
# (standalone, issuers and Secrets from manifests) against the strict fake Vault: a static token
# (tokenSecretRef: looked up, never logged in, renewed only when renewable with a TTL, read again
# after a 403, never revoked), TLS
# certificate auth (clientCertificate with its own Secret, or with the mTLS identity), Kubernetes
# auth with a JWT from a Secret (the JWT Vault got checked), mTLS to a Vault that requires a
# client certificate on every connection, serverName (right: issued; wrong or missing: a clear
# TLS error), serviceAccountRef refused in standalone mode, aws and two methods refused at start.
# shellcheck disable=SC2154 # vault_start (vault.sh) sets NAME_URL through printf -v
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh
. test/integration/vault.sh

make_ca "$WORK/ca" # root -> inter (Vault's issuing CA); the root signs the fakes' TLS too
make_client_ca "$WORK"
make_client_cert "$WORK" ember-login # clientCertificate.secretName's identity
make_client_cert "$WORK" ember-mtls  # clientCertSecretRef / clientKeySecretRef
printf 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZW1iZXI6ZW1iZXIifQ.c2ln' >"$WORK/sa.jwt"

cat >"$WORK/vault.json" <<JSON
{
  "tokens": {"hvs.static-ember": {"allowed_paths": ["pki_int/sign/*"]},
             "hvs.static-revokable": {"allowed_paths": ["pki_int/sign/*"]},
             "hvs.static-short": {"ttl": "6s", "renewable": true, "allowed_paths": ["pki_int/sign/*"]},
             "hvs.static-nodefault": {"policies": ["pki"], "allowed_paths": ["pki_int/sign/*"]}},
  "cert": {"cert": {"roles": {"web": {"certificate": "clientca.crt", "token_ttl": "1h",
                                      "allowed_paths": ["pki_int/sign/*"]}}}},
  "kubernetes": {"kubernetes": {"jwt_file": "sa.jwt", "roles": {"ember": {"token_ttl": "1h",
                                      "allowed_paths": ["pki_int/sign/*"]}}}},
  "pki": {"pki_int": {
    "ca_cert": "ca/inter.crt", "ca_key": "ca/inter.key", "chain": ["ca/root.crt"],
    "roles": {"web": {"allowed_domains": ["example.com"], "allow_subdomains": true, "max_ttl": "72h", "key_type": "any"}}
  }}
}
JSON
vault_start main || exit 1

# A second fake whose certificate names only vault.internal (not 127.0.0.1) and which requires
# a client certificate from clientca on every connection.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=vault.internal" \
  -keyout "$WORK/named.key" -out "$WORK/named.csr" 2>/dev/null
printf 'subjectAltName=DNS:vault.internal\nextendedKeyUsage=serverAuth\n' >"$WORK/named.ext"
openssl x509 -req -in "$WORK/named.csr" -CA "$WORK/ca/root.crt" -CAkey "$WORK/ca/root.key" \
  -CAcreateserial -days 2 -extfile "$WORK/named.ext" -out "$WORK/named.crt" 2>/dev/null
VAULT_PROBE_CERT=ember-mtls VAULT_PROBE_NAME=vault.internal \
  vault_start mtls --tls-cert named.crt --tls-key named.key --require-client-cert clientca.crt || exit 1
mtls_port=${mtls_URL##*:}
# mtls_stats PYTHON-EXPR: vault_stats for the mTLS fake (its name, a client certificate).
mtls_stats() {
  curl -s --cacert "$WORK/ca/root.crt" --cert "$WORK/ember-mtls.crt" --key "$WORK/ember-mtls.key" \
    --connect-to "vault.internal:$mtls_port:127.0.0.1:$mtls_port" -H "X-Fake-Vault-Admin: $VAULT_ADMIN" \
    "https://vault.internal:$mtls_port/_fake/stats" >"$WORK/mstats.json"
  jqpy "$1" "$WORK/mstats.json"
}

CABUNDLE=$(base64 -w0 "$WORK/ca/root.crt")
# issuer NAME SERVER EXTRA AUTH: a ClusterIssuer with spec.vault's EXTRA members and auth AUTH
# (flow-style YAML); its Secrets go in namespace default (the cluster resource namespace).
issuer() {
  cat <<YAML
---
apiVersion: ember.issuer.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: $1}
spec:
  defaultPolicy: web
  vault: {server: "$2", path: pki_int/sign/web, caBundle: $CABUNDLE, $3 auth: $4}
YAML
}
# secret NAME KEY=FILE...: an Opaque Secret in default with those keys.
secret() {
  local name=$1 kv
  shift
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: default}\ndata:\n' "$name"
  for kv in "$@"; do printf '  %s: %s\n' "${kv%%=*}" "$(base64 -w0 "${kv#*=}")"; done
}
printf 'hvs.static-ember\n' >"$WORK/tok1"
printf 'hvs.static-revokable' >"$WORK/tok2"
printf 'hvs.static-short' >"$WORK/tok3"
printf 'hvs.static-nodefault' >"$WORK/tok4"
MTLS='clientCertSecretRef: {name: mtls}, clientKeySecretRef: {name: mtls},'
{
  issuer vault-token "$main_URL" "" '{tokenSecretRef: {name: vault-token}}'
  secret vault-token token="$WORK/tok1"
  issuer vault-token-revoked "$main_URL" "" '{tokenSecretRef: {name: vault-token2, key: t}}'
  secret vault-token2 t="$WORK/tok2"
  issuer vault-token-short "$main_URL" "" '{tokenSecretRef: {name: vault-token3}}'
  issuer vault-token-nodefault "$main_URL" "" '{tokenSecretRef: {name: vault-token4}}'
  secret vault-token4 token="$WORK/tok4"
  secret vault-token3 token="$WORK/tok3"
  issuer vault-kube "$main_URL" "" '{kubernetes: {role: ember, secretRef: {name: kube-jwt}}}'
  secret kube-jwt token="$WORK/sa.jwt"
  issuer vault-cert "$main_URL" "" '{clientCertificate: {secretName: login-cert, name: web}}'
  secret login-cert tls.crt="$WORK/ember-login.crt" tls.key="$WORK/ember-login.key"
  secret mtls tls.crt="$WORK/ember-mtls.crt" tls.key="$WORK/ember-mtls.key"
  issuer vault-mtls-cert "$mtls_URL" "serverName: vault.internal, $MTLS" \
    '{clientCertificate: {mountPath: /v1/auth/cert}}'
  issuer vault-mtls-token "$mtls_URL" "serverName: vault.internal, $MTLS" '{tokenSecretRef: {name: vault-token}}'
  issuer vault-mtls-nocert "$mtls_URL" "serverName: vault.internal," '{tokenSecretRef: {name: vault-token}}'
  issuer vault-mtls-noname "$mtls_URL" "$MTLS" '{tokenSecretRef: {name: vault-token}}'
  issuer vault-mtls-wrongname "$mtls_URL" "serverName: vault.example, $MTLS" '{tokenSecretRef: {name: vault-token}}'
  issuer vault-sa "$main_URL" "" '{kubernetes: {role: ember, serviceAccountRef: {name: ember}}}'
} >"$WORK/issuers.yaml"
start_ember vault-auth --manifests test/integration/manifests/policies.yaml --manifests "$WORK/issuers.yaml" \
  --issuer-recheck-period 1s --log-level debug || exit 1

# req NAME ISSUER DNS: a CertificateRequest for DNS under policy web.
req() {
  make_csr "$WORK/$1" -subj "/CN=$3" -addext "subjectAltName=DNS:$3"
  cr_json "$1" default "$WORK/$1.csr" ClusterIssuer "$2" web "" '["digital signature","key encipherment","server auth"]' >"$WORK/$1.json"
}
# issued NAME ISSUER DNS: the request is issued and its chain verifies against Vault's root.
issued() {
  req "$1" "$2" "$3"
  post /v1/certificaterequests "$WORK/$1.json"
  [ "$CODE" = 201 ] || { messages "$BODY" | head -c 600; echo; return 1; }
  chain_out "$BODY" "$WORK/$1"
  verify_strict "$WORK/$1.ca.pem" "$WORK/$1.chain.pem" "$WORK/$1.leaf.pem"
}
# refused NAME ISSUER: a request through the issuer is not issued; BODY says why.
refused() {
  req "$1" "$2" "$1.example.com"
  post /v1/certificaterequests "$WORK/$1.json"
  [ "$CODE" != 201 ]
}
ready() { wait_metric "ember_issuer_ready{issuer=\"ClusterIssuer/$1\"}" "$2"; }

# --- a static token -------------------------------------------------------------------------------
check "tokenSecretRef: issued with the static token" issued tok1 vault-token t1.example.com
# The fake logs which token a request carried as a hash of it (never the token).
T1=$(printf 'hvs.static-ember' | sha256sum | cut -c1-12)
check "... the sign call carrying the Secret's token itself (no login made for it)" \
  test "$(vault_stats "$main_URL" "[e['token_id'] for e in d['log'] if '/sign/' in e['path']][-1]")" = "$T1"
check "... looked up (lookup-self with it) before its first sign" \
  test "$(vault_stats "$main_URL" "[e['path'] for e in d['log'] if e['token_id'] == '$T1'][0]")" = /v1/auth/token/lookup-self
check "a static token without Vault's default policy (its lookup-self refused) is used as is: issued" \
  issued tok4 vault-token-nodefault t4.example.com
check "... with a warning that says what its policy lacks" \
  grep -q 'cannot look up the Vault token of Secret default/vault-token4 key token (HTTP 403 from lookup-self): using it as is' "$LOG"
check "tokenSecretRef with its own key issues too" issued tok2 vault-token-revoked t2.example.com
vault_admin "$main_URL" revoke-token '{"token":"hvs.static-revokable"}' >/dev/null
lookups_before=$(vault_stats "$main_URL" 'd["requests"].get("GET /v1/auth/token/lookup-self", 0)')
check "a revoked static token: the request is not issued" refused tok3 vault-token-revoked
check "... saying Vault refused the token of the Secret (read again after the 403)" \
  has_message "Vault refused the token of Secret default/vault-token2 key t (HTTP 403 from lookup-self)" "$BODY"
check "... having read the Secret again and looked the token up" \
  test "$(vault_stats "$main_URL" 'd["requests"].get("GET /v1/auth/token/lookup-self", 0)')" -gt "$lookups_before"
check "... and the issuer turns not Ready" ready vault-token-revoked 0

# renewals N: wait (10 s at most) until the fake has renewed at least N tokens.
renewals() {
  local _
  for _ in $(seq 1 100); do
    [ "$(vault_stats "$main_URL" 'd["renewals"]')" -ge "$1" ] && return 0
    sleep 0.1
  done
  return 1
}
check "a static token with a 6 s TTL that lookup-self calls renewable is renewed (renew-self)" renewals 2
sleep 1
check "... and still issues past its first 6 s" issued tok4 vault-token-short t4.example.com

# --- Kubernetes auth with a JWT from a Secret ------------------------------------------------------
check "kubernetes with secretRef: issued" issued kube1 vault-kube k1.example.com
check "... Vault got {role: ember, jwt: the Secret's JWT}" \
  test "$(vault_stats "$main_URL" 'd["kubernetes_jwts"][-1]')" = "$(cat "$WORK/sa.jwt")"
check "... one login at /v1/auth/kubernetes/login" \
  test "$(vault_stats "$main_URL" 'd["requests"].get("POST /v1/auth/kubernetes/login", 0)')" = 1
check "a rejected JWT: the fake accepts another one from now" \
  test "$(vault_admin "$main_URL" kubernetes-jwt '{"jwt":"eyJ.other.jwt"}')" = 204
vault_admin "$main_URL" revoke-tokens '{"mount":"kubernetes"}' >/dev/null
check "... then the request is not issued" refused kube2 vault-kube
check "... saying Vault refused the Kubernetes login and what to check" \
  has_message "Vault refused the Kubernetes login at /v1/auth/kubernetes/login (HTTP 403): permission denied; check spec.vault.auth.kubernetes.role and Secret default/kube-jwt key token" "$BODY"
vault_admin "$main_URL" kubernetes-jwt "{\"jwt\":\"$(cat "$WORK/sa.jwt")\"}" >/dev/null

# --- TLS certificate auth with its own Secret -------------------------------------------------------
check "clientCertificate with secretName: issued" issued cert1 vault-cert c1.example.com
check "... after a certificate login presenting the Secret's certificate" \
  test "$(vault_stats "$main_URL" '",".join(d["cert_login_cns"])')" = ember-login

# --- serviceAccountRef in standalone mode ---------------------------------------------------------
check "serviceAccountRef in standalone mode: the issuer is not Ready" ready vault-sa 0
check "... a request is refused" refused sa1 vault-sa
check "... saying it needs the Kubernetes API" \
  has_message "spec.vault.auth.kubernetes.serviceAccountRef needs the Kubernetes API" "$BODY"

# --- mTLS to a Vault that requires a client certificate, and serverName ---------------------------
check "mTLS + serverName + cert auth with the mTLS identity: issued" issued mc1 vault-mtls-cert mc1.example.com
check "... the certificate login presented the transport's certificate" \
  test "$(mtls_stats '",".join(d["cert_login_cns"])')" = ember-mtls
check "mTLS + serverName + a static token: issued" issued mt1 vault-mtls-token mt1.example.com
check "without the client certificate: not issued" refused nocert vault-mtls-nocert
check "... a TLS failure naming the request, hinting at the client certificate" \
  has_message "(if Vault requires a client certificate, set spec.vault.clientCertSecretRef and clientKeySecretRef)" "$BODY"
check "... and the issuer is not Ready" ready vault-mtls-nocert 0
check "without serverName (the certificate names vault.internal, not 127.0.0.1): not issued" refused noname vault-mtls-noname
check "... Vault's TLS certificate is not trusted, saying to check serverName" \
  has_message "Vault's TLS certificate is not trusted (check spec.vault.caBundle and spec.vault.serverName)" "$BODY"
check "with a wrong serverName: not issued" refused wrongname vault-mtls-wrongname
check "... the same TLS verification error" has_message "Vault's TLS certificate is not trusted" "$BODY"

# --- shutdown: login tokens revoked, static tokens never -----------------------------------------
revokes_before=$(vault_stats "$main_URL" 'd["revocations"]')
kill -TERM "$EMBER_PID"
wait "$EMBER_PID"
check "Ember stops cleanly (exit 0)" test $? = 0
check "the tokens of the certificate and Kubernetes logins are revoked at shutdown" \
  test "$(vault_stats "$main_URL" 'd["revocations"]')" -ge $((revokes_before + 2))
code=$(curl -s --cacert "$WORK/ca/root.crt" -o /dev/null -w '%{http_code}' -H "X-Vault-Token: hvs.static-ember" \
  "$main_URL/v1/auth/token/lookup-self")
check "the static token was not revoked (it still works after Ember stopped)" test "$code" = 200
check "... and on the mTLS Vault only the certificate login's token was revoked" \
  test "$(mtls_stats 'd["revocations"]')" = 1
check "... and no static token without a TTL was renewed there" test "$(mtls_stats 'd["renewals"]')" = 0
check "no token, JWT or key in Ember's log" absent -F -e "hvs." -e "$(cat "$WORK/sa.jwt")" -e "eyJ.other" "$LOG"
check "no private key in Ember's log" no_secrets_in "$LOG" "$WORK/ember-login.key" "$WORK/ember-mtls.key"

# --- refused at start: aws, two methods -------------------------------------------------------------
# start_refused NAME AUTH: Ember exits 2 on an issuer with AUTH; the log is $WORK/NAME.log.
start_refused() {
  issuer "$1" "$main_URL" "" "$2" >"$WORK/$1.yaml"
  timeout 10 "$EMBER_BIN" --manifests "$WORK/$1.yaml" --api-bind-address "127.0.0.1:$(free_port)" \
    --health-probe-bind-address "127.0.0.1:$(free_port)" --metrics-bind-address "127.0.0.1:$(free_port)" \
    >"$WORK/$1.log" 2>&1
  test $? = 2
}
check "auth.aws: Ember refuses to start (exit 2)" start_refused aws '{aws: {role: ember}}'
check "... saying AWS auth is out of scope" grep -q "spec.vault.auth.aws: Vault's AWS IAM auth is out of scope for Ember" "$WORK/aws.log"
check "two auth methods: refused at start" start_refused two '{tokenSecretRef: {name: t}, appRole: {roleId: r, secretRef: {name: s, key: k}}}'
check "... with cert-manager's message" grep -q "Multiple auth methods cannot be set on the same Vault issuer" "$WORK/two.log"
