# Case 14: every Vault auth method of spec.vault.auth, and mutual TLS to Vault, against the real
# HashiCorp Vault (vault-lib.sh: a TLS listener on 127.0.0.1, init, unseal, file audit device)
# and the real kube-apiserver. A second Vault listener requires and verifies a client
# certificate and serves a certificate valid only for vault.e2e.test. Each issuer issues a
# cert-manager Certificate that ends Ready and whose tls.crt verifies (openssl -x509_strict) to
# the root of examples/vault-kubernetes-auth/vault-setup.sh:
#   - kubernetes + serviceAccountRef: examples/vault-kubernetes-auth (rbac.yaml, vault-setup.sh,
#     issuer.yaml) as written: Ember's TokenRequest for ember-vault (the API server's audit log),
#     Vault's login checks the JWT with a TokenReview through the real API server (made by
#     vault-auth); an Issuer (audience vault://<ns>/<name>) too, and a Vault role bound to another
#     audience refuses it;
#   - kubernetes + secretRef: the example's ClusterIssuer vault-k8s-secret; its
#     service-account-token Secret is filled here (no kube-controller-manager runs here);
#   - tokenSecretRef: a token from `vault token create`; revoked: requests stay Pending, the
#     issuer goes Ready=False; the Secret updated with a new token: the same request is issued;
#   - clientCertificate: `vault auth enable cert`, a cert role trusting a client CA, a
#     kubernetes.io/tls Secret;
#   - mutual TLS (serverName, clientCertSecretRef, clientKeySecretRef) to the second listener;
#     without the client certificate, or without serverName: Ready=False with a TLS error;
#   - two auth methods on one issuer: refused, "Multiple auth methods cannot be set on the same
#     Vault issuer" (by the API server's CRD rules, or by Ember);
#   - no token, JWT or key in Ember's log.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/vault-lib.sh"

NS=vault-auth-e2e
CRNS=ember-issuer # Ember's --cluster-resource-namespace (run.sh's release)
V="$CASE_DIR/vault"
OUT="$CASE_DIR/setup"
CI=clusterissuers.ember.issuer.dev
IS=issuers.ember.issuer.dev
vault_bin || exit 1
export PATH="$KUBE_BIN:$PATH" KUBECONFIG="$ADMIN_KUBECONFIG"

# ---- 1. Vault: the usual listener, and one for mutual TLS (vault.e2e.test only) ----
vault_tls_ca "$V" e2e-vault-tls-ca
vault_tls_ca "$V/client" e2e-vault-client-ca
vault_tls_cert "$V" mtls "DNS:vault.e2e.test" serverAuth
vault_tls_cert "$V/client" ember-mtls "DNS:ember.e2e.test" clientAuth
vault_tls_cert "$V/client" ember-login "DNS:ember-login.e2e.test" clientAuth
MPORT=$(e2e_free_port)
vault_up vault14 "$V" "listener \"tcp\" {
  address                            = \"127.0.0.1:$MPORT\"
  tls_cert_file                      = \"$V/mtls.crt\"
  tls_key_file                       = \"$V/mtls.key\"
  tls_require_and_verify_client_cert = true
  tls_client_ca_file                 = \"$V/client/ca.crt\"
}" || exit 1
MTLS_ADDR="https://127.0.0.1:$MPORT"
check "the mTLS listener refuses a client without a certificate (curl)" \
  bash -c '! curl -s -o /dev/null --cacert "$1" --resolve "vault.e2e.test:$2:127.0.0.1" "https://vault.e2e.test:$2/v1/sys/health"' _ "$VAULT_CACERT" "$MPORT"
check "... and answers one with a client certificate, for the name vault.e2e.test (curl: sys/health 200)" \
  test "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$VAULT_CACERT" --cert "$V/client/ember-mtls.crt" \
    --key "$V/client/ember-mtls.key" --resolve "vault.e2e.test:$MPORT:127.0.0.1" "https://vault.e2e.test:$MPORT/v1/sys/health")" = 200

kc create namespace $NS >/dev/null
# The policy of every Certificate here (annotation) and of the namespaced Issuers (defaultPolicy).
dns_policy vault-auth $NS '[a-z0-9-]+\.'"$NS"'\.svc' "" 24h
check "the IssuancePolicy vault-auth becomes Ready" wait_cond 30 issuancepolicies.ember.issuer.dev "" vault-auth Ready True

# cert NAME KIND ISSUER: a Certificate NAME (DNS NAME.$NS.svc, policy vault-auth) for KIND/ISSUER.
cert() { policy_cert $NS "$1" vault-auth "$2" "$3" 1h; }
# issued NAME WHAT: the Certificate NAME ends Ready and its tls.crt verifies to root.crt.
issued() {
  check "$2: the Certificate $NS/$1 becomes Ready" wait_cond 90 certificates $NS "$1" Ready True || {
    local c; c=$(cr_of_cert $NS "$1")
    echo "# $1: request $c: $(cond certificaterequests $NS "$c" Ready reason): $(cond certificaterequests $NS "$c" Ready message)"
    return 1; }
  secret_field $NS "$1-tls" tls.crt "$CASE_DIR/$1.crt"
  check "... its tls.crt verifies to the root with the chain it carries (openssl verify -x509_strict)" \
    verify_strict "$OUT/root.crt" "$CASE_DIR/$1.crt" "$CASE_DIR/$1.crt"
}
# ready ISSUER-RESOURCE NS NAME WHAT: the issuer becomes Ready (its message printed otherwise).
ready() {
  check "$4: $1 ${2:+$2/}$3 becomes Ready" wait_cond 60 "$1" "$2" "$3" Ready True ||
    echo "# $3: $(cond "$1" "$2" "$3" Ready reason): $(cond "$1" "$2" "$3" Ready message)"
}

# ---- 2. kubernetes + serviceAccountRef: examples/vault-kubernetes-auth as written ----
check "kubectl apply -f examples/vault-kubernetes-auth/rbac.yaml (ember-vault, its token Role, vault-auth)" \
  kc apply -f examples/vault-kubernetes-auth/rbac.yaml
EMBER_VAULT_SERVER="$VAULT_ADDR" examples/vault-kubernetes-auth/vault-setup.sh "$OUT" >"$CASE_DIR/setup.log" 2>&1
rc=$?
check "examples/vault-kubernetes-auth/vault-setup.sh runs against the real Vault and API server (VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT, EMBER_VAULT_SERVER; kubectl's context)" \
  test "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/# setup: /' "$CASE_DIR/setup.log" | tail -20
check "... Vault's auth/kubernetes/config names this API server and its CA" bash -c \
  'vault read -format=json auth/kubernetes/config | python3 -c "
import json, sys
d = json.load(sys.stdin)[\"data\"]
sys.exit(0 if d[\"kubernetes_host\"] == sys.argv[1] and \"BEGIN CERTIFICATE\" in d[\"kubernetes_ca_cert\"] else 1)" "$1"' _ "$APISERVER_URL"
# issuer.yaml brings the Secret vault-ca after the ClusterIssuers; one left by an earlier case
# (case 10's Vault) would be read first, and Ember does not read a changed caBundleSecretRef
# again. As on a fresh cluster, there is none here.
kc -n $CRNS delete secret vault-ca --ignore-not-found >/dev/null
check "kubectl apply -f issuer.yaml (ClusterIssuers vault-k8s and vault-k8s-secret, Secrets in $CRNS)" \
  kc apply -f "$OUT/issuer.yaml"
audit_from=$(wc -l <"$AUDIT_LOG")
ready $CI "" vault-k8s "serviceAccountRef"
cert k8s ClusterIssuer vault-k8s
issued k8s "kubernetes auth, serviceAccountRef"
# What the API server saw: Ember's TokenRequests for ember-vault, Vault's TokenReviews.
tail -n +"$((audit_from + 1))" "$AUDIT_LOG" >"$CASE_DIR/audit-k8s.log"
AUDIT_ALL=$AUDIT_LOG AUDIT_LOG="$CASE_DIR/audit-k8s.log"
n_tr=$(audit_count "verb == 'create' and o.get('resource') == 'serviceaccounts' and o.get('subresource') == 'token' and o.get('namespace') == '$CRNS' and o.get('name') == 'ember-vault' and u == '$EMBER_USER' and code == 201")
n_rev=$(audit_count "verb == 'create' and o.get('resource') == 'tokenreviews' and u == 'system:serviceaccount:$CRNS:vault-auth' and code == 201")
AUDIT_LOG=$AUDIT_ALL
check "Ember asked the TokenRequest API for a token of $CRNS/ember-vault (API audit log: $n_tr)" test "$n_tr" -ge 1
check "Vault checked it with a TokenReview by $CRNS/vault-auth on the real API server (API audit log: $n_rev)" test "$n_rev" -ge 1
check "Vault's audit log has a successful auth/kubernetes/login with the role ember" \
  python3 - "$AUDIT" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("type") == "response" and e.get("request", {}).get("path") == "auth/kubernetes/login" \
            and not e.get("error") and (e.get("auth") or {}).get("client_token") \
            and "pki-mesh" in ((e.get("auth") or {}).get("token_policies") or []):
        sys.exit(0)
sys.exit(1)
PY

# The example's Vault side without Ember: a token of ember-vault for the audience vault://vault-k8s
# logs in with the role ember; one for the API server's own audience is refused.
# vlogin ROLE [AUDIENCE]: Vault's answer to a login with a fresh token of $CRNS/ember-vault (JSON).
vlogin() {
  local aud=()
  [ -n "${2:-}" ] && aud=(--audience "$2")
  kc -n $CRNS create token ember-vault "${aud[@]}" --duration 10m |
    vault write -format=json auth/kubernetes/login role="$1" jwt=- 2>&1
}
_vlogin_ok() { vlogin "$@" | python3 -c 'import json, sys; sys.exit(0 if "pki-mesh" in json.load(sys.stdin)["auth"]["token_policies"] else 1)'; }
check "without Ember: a TokenRequest token of ember-vault for vault://vault-k8s logs in with the role ember (policy pki-mesh)" \
  _vlogin_ok ember vault://vault-k8s
check "... one for the API server's audience is refused (invalid audience)" \
  bash -c 'grep -qi "invalid audience" <<<"$1"' _ "$(vlogin ember)"

# An Issuer with serviceAccountRef: its tokens carry the audience vault://<ns>/<name>. The role
# ember-ns accepts exactly that audience; the role ember-other another one.
kc -n $NS create serviceaccount ember-vault >/dev/null
kc apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: ember-vault-token, namespace: $NS}
rules:
  - {apiGroups: [""], resources: [serviceaccounts/token], resourceNames: [ember-vault], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ember-vault-token, namespace: $NS}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: ember-vault-token}
subjects: [{kind: ServiceAccount, name: ember-issuer, namespace: $CRNS}]
YAML
kc -n $NS create secret generic vault-ca --from-file=ca.crt="$VAULT_CACERT" >/dev/null
vault write auth/kubernetes/role/ember-ns bound_service_account_names=ember-vault \
  bound_service_account_namespaces=$NS audience="vault://$NS/vault-k8s-ns" token_policies=pki-mesh token_ttl=1h >/dev/null
vault write auth/kubernetes/role/ember-other bound_service_account_names=ember-vault \
  bound_service_account_namespaces=$NS audience="vault://$NS/someone-else" token_policies=pki-mesh token_ttl=1h >/dev/null
# ns_issuer NAME AUTH-YAML [EXTRA-VAULT-YAML] [SERVER]: an Issuer in $NS signing with pki_int/sign/mesh.
ns_issuer() {
  kc apply -f - <<YAML
apiVersion: ember.issuer.dev/v1alpha1
kind: Issuer
metadata: {name: $1, namespace: $NS}
spec:
  defaultPolicy: vault-auth
  vault:
    server: ${4:-$VAULT_ADDR}
    path: pki_int/sign/mesh
    caBundleSecretRef: {name: vault-ca, key: ca.crt}
${3:-}
    auth:
$2
YAML
}
ns_issuer vault-k8s-ns "      kubernetes: {role: ember-ns, serviceAccountRef: {name: ember-vault}}" >/dev/null
ready $IS $NS vault-k8s-ns "serviceAccountRef on an Issuer (audience vault://$NS/vault-k8s-ns)"
cert k8s-ns Issuer vault-k8s-ns
issued k8s-ns "kubernetes auth, an Issuer's serviceAccountRef"
ns_issuer vault-k8s-other "      kubernetes: {role: ember-other, serviceAccountRef: {name: ember-vault}}" >/dev/null
check "a Vault role bound to another audience: the Issuer vault-k8s-other is not Ready" \
  wait_cond 60 $IS $NS vault-k8s-other Ready False
msg=$(cond $IS $NS vault-k8s-other Ready message)
echo "# vault-k8s-other: $msg"
check "... its message is Vault's refusal of the login (auth/kubernetes/login, invalid audience)" \
  bash -c '[[ "$1" == *"auth/kubernetes/login"* && "$1" == *"audience"* ]]' _ "$msg"

# ---- 3. kubernetes + secretRef: the example's vault-k8s-secret. Its Secret is of type
# kubernetes.io/service-account-token, which kube-controller-manager's token controller fills;
# none runs here, so the token of that account is put in by hand (TokenRequest, 24 h). ----
SA_JWT=$(kc -n $CRNS create token ember-vault --duration 24h)
kc -n $CRNS patch secret ember-vault-token --type merge \
  -p "{\"data\":{\"token\":\"$(printf %s "$SA_JWT" | base64 -w0)\"}}" >/dev/null
check "the Secret $CRNS/ember-vault-token holds a token of ember-vault" \
  test "$(kc -n $CRNS get secret ember-vault-token -o jsonpath='{.data.token}' | base64 -d | cut -c1-3)" = eyJ
ready $CI "" vault-k8s-secret "secretRef"
cert k8s-secret ClusterIssuer vault-k8s-secret
issued k8s-secret "kubernetes auth, secretRef"

check "without Ember: that token logs in with the role ember-secret" \
  bash -c 'printf %s "$1" | vault write -field=token_policies auth/kubernetes/login role=ember-secret jwt=- | grep -q pki-mesh' _ "$SA_JWT"

# ---- 4. tokenSecretRef: a Vault token; revoked, then replaced in the Secret ----
TOK1=$(vault token create -policy=pki-mesh -ttl=24h -field=token)
TOK2=$(vault token create -policy=pki-mesh -ttl=24h -field=token)
check "vault token create -policy=pki-mesh gives two tokens" test -n "$TOK1" -a -n "$TOK2"
kc -n $NS create secret generic vault-token --from-literal=token="$TOK1" >/dev/null
ns_issuer vault-token "      tokenSecretRef: {name: vault-token, key: token}" >/dev/null
ready $IS $NS vault-token "tokenSecretRef"
cert tok1 Issuer vault-token
issued tok1 "tokenSecretRef"
check "vault token revoke (the token in the Secret)" vault token revoke "$TOK1"
cert tok2 Issuer vault-token
_tok2_pending() { local c; c=$(cr_of_cert $NS tok2); [ -n "$c" ] && [ "$(cond certificaterequests $NS "$c" Ready reason)" = Pending ] &&
  [ "$(cond certificaterequests $NS "$c" Approved)" = True ]; }
check "with the token revoked, the approved request for $NS/tok2 goes Pending" e2e_wait 60 _tok2_pending
tok2_cr=$(cr_of_cert $NS tok2)
echo "# $tok2_cr: $(cond certificaterequests $NS "$tok2_cr" Ready message)"
check "the Issuer vault-token goes Ready=False (its re-check, every 10 s)" wait_cond 40 $IS $NS vault-token Ready False
msg=$(cond $IS $NS vault-token Ready message)
echo "# vault-token: $msg"
check "... its message says Vault refused the token (403 / permission denied)" \
  bash -c '[[ "$1" == *"403"* || "$1" == *"permission denied"* ]]' _ "$msg"
check "... and names the Secret to fix (vault-token)" bash -c '[[ "$1" == *"vault-token"* ]]' _ "$msg"
states=""
for _ in 1 2 3 4 5; do states+="$(cond certificaterequests $NS "$tok2_cr" Ready reason) "; sleep 1; done
check "... the request stays Pending, never Failed ($states)" bash -c '[ -z "$(printf "%s\n" $1 | grep -v "^Pending$")" ]' _ "$states"
kc -n $NS create secret generic vault-token --from-literal=token="$TOK2" --dry-run=client -o yaml | kc apply -f - >/dev/null
t0=$(date +%s)
check "the Secret updated with a new token: the same request ($tok2_cr) is issued" \
  wait_cond 90 certificaterequests $NS "$tok2_cr" Ready Issued reason
echo "# issued $(( $(date +%s) - t0 )) s after the Secret's update"
issued tok2 "tokenSecretRef, new token"
ready $IS $NS vault-token "tokenSecretRef, new token"
n=$(kc -n $NS get certificaterequests -o json | python3 -c '
import json, sys
print(sum(1 for cr in json.load(sys.stdin)["items"]
          if any(o.get("name") == "tok2" for o in cr["metadata"].get("ownerReferences", []))))')
check "... no other request was made for tok2 ($n CertificateRequest)" test "$n" = 1

# ---- 5. clientCertificate: Vault's cert auth method ----
vault auth enable cert >/dev/null
check "vault auth enable cert; a cert role ember trusting the client CA, policy pki-mesh" \
  vault write auth/cert/certs/ember certificate=@"$V/client/ca.crt" token_policies=pki-mesh token_ttl=1h
kc -n $NS create secret tls vault-client-cert --cert="$V/client/ember-login.crt" --key="$V/client/ember-login.key" >/dev/null
ns_issuer vault-cert "      clientCertificate: {secretName: vault-client-cert, name: ember}" >/dev/null
ready $IS $NS vault-cert "clientCertificate"
cert certauth Issuer vault-cert
issued certauth "clientCertificate"
check "Vault's audit log has a successful auth/cert/login" python3 - "$AUDIT" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("type") == "response" and e.get("request", {}).get("path") == "auth/cert/login" \
            and not e.get("error") and (e.get("auth") or {}).get("client_token"):
        sys.exit(0)
sys.exit(1)
PY

check "without Ember: vault login -method=cert with that certificate works (cert role ember)" bash -c \
  '[ -n "$(vault login -no-store -token-only -method=cert -client-cert="$1/ember-login.crt" -client-key="$1/ember-login.key" name=ember)" ]' _ "$V/client"

# ---- 6. mutual TLS to the second listener ----
TOK3=$(vault token create -policy=pki-mesh -ttl=24h -field=token)
kc -n $NS create secret generic vault-token3 --from-literal=token="$TOK3" >/dev/null
kc -n $NS create secret tls vault-mtls --cert="$V/client/ember-mtls.crt" --key="$V/client/ember-mtls.key" >/dev/null
MTLS_REFS="    serverName: vault.e2e.test
    clientCertSecretRef: {name: vault-mtls, key: tls.crt}
    clientKeySecretRef: {name: vault-mtls, key: tls.key}"
ns_issuer vault-mtls "      tokenSecretRef: {name: vault-token3, key: token}" "$MTLS_REFS" "$MTLS_ADDR" >/dev/null
ready $IS $NS vault-mtls "mutual TLS (serverName vault.e2e.test, client certificate)"
cert mtls Issuer vault-mtls
issued mtls "mutual TLS"
ns_issuer vault-mtls-nocert "      tokenSecretRef: {name: vault-token3, key: token}" "    serverName: vault.e2e.test" "$MTLS_ADDR" >/dev/null
check "without a client certificate: the Issuer vault-mtls-nocert is not Ready" wait_cond 60 $IS $NS vault-mtls-nocert Ready False
msg=$(cond $IS $NS vault-mtls-nocert Ready message)
echo "# vault-mtls-nocert: $msg"
check "... its message says to set clientCertSecretRef and clientKeySecretRef (whichever way libcurl words the dropped connection)" \
  bash -c 'grep -qF "set spec.vault.clientCertSecretRef and clientKeySecretRef" <<<"$1"' _ "$msg"
ns_issuer vault-mtls-noname "      tokenSecretRef: {name: vault-token3, key: token}" \
  "    clientCertSecretRef: {name: vault-mtls, key: tls.crt}
    clientKeySecretRef: {name: vault-mtls, key: tls.key}" "$MTLS_ADDR" >/dev/null
check "without serverName (the certificate is for vault.e2e.test, not 127.0.0.1): the Issuer vault-mtls-noname is not Ready" \
  wait_cond 60 $IS $NS vault-mtls-noname Ready False
msg=$(cond $IS $NS vault-mtls-noname Ready message)
echo "# vault-mtls-noname: $msg"
check "... its message is a TLS error about the name" \
  bash -c 'grep -qiE "tls|ssl|certificate" <<<"$1" && grep -qiE "name|127\.0\.0\.1|host" <<<"$1"' _ "$msg"

# ---- 7. two auth methods on one issuer ----
ns_issuer vault-two "      tokenSecretRef: {name: vault-token3, key: token}
      appRole: {path: approle, roleId: x, secretRef: {name: vault-token3, key: token}}" >"$CASE_DIR/two.out" 2>&1
rc=$?
if [ "$rc" != 0 ]; then
  echo "# the API server refused it: $(cat "$CASE_DIR/two.out")"
  check "two auth methods (tokenSecretRef and appRole): the API server refuses the Issuer: Multiple auth methods cannot be set on the same Vault issuer" \
    grep -q "Multiple auth methods cannot be set on the same Vault issuer" "$CASE_DIR/two.out"
else
  check "two auth methods (tokenSecretRef and appRole): the Issuer vault-two is not Ready" \
    wait_cond 30 $IS $NS vault-two Ready False
  msg=$(cond $IS $NS vault-two Ready message)
  echo "# vault-two: $msg"
  check "... its message: Multiple auth methods cannot be set on the same Vault issuer" \
    bash -c '[[ "$1" == *"Multiple auth methods cannot be set on the same Vault issuer"* ]]' _ "$msg"
fi

# ---- 8. secrets stay out of Ember's log ----
check "Ember's log holds none of the Vault tokens, the service account JWT or the client keys" \
  absent -F -e "$TOK1" -e "$TOK2" -e "$TOK3" -e "$SA_JWT" -e "eyJ" -e "PRIVATE KEY" "$E2E_DIR/ember-0.log"
# The ClusterIssuers and their Secrets go with this case's Vault (the issuers would fail their
# re-checks from now on; a later case's issuer.yaml brings its own vault-ca).
kc delete $CI vault-k8s vault-k8s-secret >/dev/null
kc -n $CRNS delete secret vault-ca ember-vault-token >/dev/null
vault_stop vault14
