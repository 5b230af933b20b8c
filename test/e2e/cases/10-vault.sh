# Case 10: Ember's Vault signer against the real HashiCorp Vault (test/e2e/vault: the server and
# CLI built from github.com/hashicorp/vault). Vault runs on 127.0.0.1 with a TLS listener (a CA
# and server certificate made here), in-memory storage, initialised with one unseal key, and a
# file audit device; examples/vault-approle/vault-setup.sh runs against it as written, and its
# issuer.yaml is applied as written. Then:
#   - a Certificate for ClusterIssuer vault ends Ready; tls.crt verifies to the root and
#     intermediate vault-setup.sh wrote; Ember approved the request;
#   - a name Ember's policy admits but the Vault role refuses: Failed, with Vault's own message;
#   - a second ClusterIssuer (vault-uses2, AppRole role with token_num_uses=2) with a wrong
#     roleId: not Ready with Vault's refusal; fixed by kubectl apply: Ready;
#   - Vault sealed: a new request stays Pending (never Failed) and both ClusterIssuers go
#     Ready=False at their next re-check; unsealed: the same request is issued, no new one
#     created, both Ready again;
#   - 5 requests through vault-uses2 are issued, Ember logs in again as tokens run out (Vault's
#     audit log), no sign request is refused, and no lookup-self is made (the login answer's
#     auth.num_uses says the token's uses).
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/vault-lib.sh"

NS=vault-e2e
CRNS=ember-issuer # Ember's --cluster-resource-namespace (run.sh's release)
V="$CASE_DIR/vault"

vault_bin || exit 1

# ---- 1. Vault with a TLS listener (its CA and serving certificate, IP 127.0.0.1) ----
vault_up vault "$V" || exit 1

# ---- 2. examples/vault-approle/vault-setup.sh as written, its issuer.yaml applied ----
OUT="$CASE_DIR/setup"
EMBER_VAULT_SERVER="$VAULT_ADDR" NAMESPACE="$CRNS" \
  examples/vault-approle/vault-setup.sh "$OUT" >"$CASE_DIR/setup.log" 2>&1
rc=$?
check "examples/vault-approle/vault-setup.sh runs against the real Vault (VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT, EMBER_VAULT_SERVER, NAMESPACE=$CRNS)" \
  test "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/# setup: /' "$CASE_DIR/setup.log" | tail -20
check "... it wrote issuer.yaml, root.crt and intermediate.crt" \
  test -s "$OUT/issuer.yaml" -a -s "$OUT/root.crt" -a -s "$OUT/intermediate.crt"
check "... root.crt is Vault's root (the mount pki's CA, CN Ember Example Root CA)" \
  bash -c 'openssl x509 -in "$1" -noout -subject | grep -q "Ember Example Root CA" &&
    [ "$(openssl x509 -in "$1" -noout -fingerprint -sha256)" = "$(curl -s --cacert "$2" "$3/v1/pki/ca/pem" | openssl x509 -noout -fingerprint -sha256)" ]' \
  _ "$OUT/root.crt" "$V/ca.crt" "$VAULT_ADDR"
kc create namespace $NS >/dev/null
# The IssuancePolicy the ClusterIssuer's defaultPolicy names: names under .svc and SPIFFE URIs of
# cluster.local, 24 hours at most, as the Vault role `mesh`; it also admits *.example.com on
# purpose, so that the Vault role (allowed_domains=svc) is the gate that refuses those.
kc apply -f - >/dev/null <<'YAML'
apiVersion: ember.issuer.dev/v1alpha1
kind: IssuancePolicy
metadata: {name: mesh}
spec:
  selector:
    namespaces: [vault-e2e]
    issuers: ['ClusterIssuer/vault', 'ClusterIssuer/vault-uses2']
  validity: {max: 24h, default: 1h}
  keyAlgorithms: [EC_P256, EC_P384, RSA_2048, RSA_3072]
  subject:
    commonName: {rule: Optional, allowed: ['[a-z0-9-]+(\.[a-z0-9-]+)*\.svc'], max: 1}
  sans:
    dnsNames:
      rule: Optional
      allowed: ['[a-z0-9-]+(\.[a-z0-9-]+)*\.svc', '[a-z0-9-]+\.example\.com']
      max: 10
    uris: {rule: Optional, allowed: ['spiffe://cluster\.local/ns/[a-z0-9-]+/sa/[a-z0-9.-]+'], max: 1}
  usages: [digital signature, key encipherment, server auth, client auth]
YAML
check "kubectl apply -f issuer.yaml (ClusterIssuer vault, Secrets vault-approle and vault-ca in $CRNS)" \
  kc apply -f "$OUT/issuer.yaml"
check "the IssuancePolicy mesh becomes Ready" wait_cond 30 issuancepolicies.ember.issuer.dev "" mesh Ready True
# issuer.yaml holds the ClusterIssuer before its Secrets, so Ember may check the issuer before
# the Secret vault-ca exists; its re-check (every 2^n s while not Ready) must then read it again.
check "issuer.yaml applied as written: the ClusterIssuer vault becomes Ready (AppRole login and sys/health against the real Vault)" \
  wait_cond 60 clusterissuers.ember.issuer.dev "" vault Ready True
echo "# ClusterIssuer vault: $(cond clusterissuers.ember.issuer.dev "" vault Ready status): $(cond clusterissuers.ember.issuer.dev "" vault Ready message)"
if [ "$(cond clusterissuers.ember.issuer.dev "" vault Ready)" != True ]; then
  # Not a fix: only so that the rest of the case can run. With its Secrets in place, a new
  # ClusterIssuer is loaded from scratch.
  echo "# ClusterIssuer vault not Ready: deleting and re-applying it (its Secrets exist now) to go on"
  kc delete clusterissuers.ember.issuer.dev vault >/dev/null
  kc apply -f "$OUT/issuer.yaml" >/dev/null
  check "... re-created once its Secrets exist, the ClusterIssuer vault becomes Ready" \
    wait_cond 60 clusterissuers.ember.issuer.dev "" vault Ready True
fi

# ---- 3. a Certificate for ClusterIssuer vault ends Ready ----
kc apply -f - >/dev/null <<YAML
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: $NS}
spec:
  secretName: web-tls
  dnsNames: [web.$NS.svc]
  uris: [spiffe://cluster.local/ns/$NS/sa/web]
  duration: 48h
  privateKey: {algorithm: ECDSA, size: 256}
  usages: [digital signature, key encipherment, server auth, client auth]
  issuerRef: {group: ember.issuer.dev, kind: ClusterIssuer, name: vault}
YAML
check "the Certificate $NS/web (ClusterIssuer vault) becomes Ready" wait_cond 90 certificates $NS web Ready True
cr=$(cr_of_cert $NS web)
check "its CertificateRequest ($cr) is Approved by Ember (reason ember.issuer.dev)" \
  test "$(cond certificaterequests $NS "$cr" Approved reason)" = ember.issuer.dev
check "... Ready=True, reason Issued" test "$(cond certificaterequests $NS "$cr" Ready reason)" = Issued
secret_field $NS web-tls tls.crt "$CASE_DIR/web.crt"
secret_field $NS web-tls ca.crt "$CASE_DIR/web-ca.crt"
check "tls.crt verifies to vault-setup.sh's root.crt with its intermediate.crt (openssl verify)" \
  openssl verify -x509_strict -CAfile "$OUT/root.crt" -untrusted "$OUT/intermediate.crt" "$CASE_DIR/web.crt"
check "tls.crt verifies to root.crt with the chain tls.crt carries" \
  openssl verify -x509_strict -CAfile "$OUT/root.crt" -untrusted "$CASE_DIR/web.crt" "$CASE_DIR/web.crt"
check "the Secret's ca.crt is Vault's root" test \
  "$(openssl x509 -in "$CASE_DIR/web-ca.crt" -noout -fingerprint -sha256 2>&1)" = "$(openssl x509 -in "$OUT/root.crt" -noout -fingerprint -sha256)"
openssl x509 -in "$CASE_DIR/web.crt" -noout -ext subjectAltName >"$CASE_DIR/web.san" 2>/dev/null
check "the leaf has the Certificate's DNS name and SPIFFE URI" \
  bash -c 'grep -q "DNS:web.$2.svc" "$1" && grep -q "URI:spiffe://cluster.local/ns/$2/sa/web" "$1"' _ "$CASE_DIR/web.san" "$NS"
check "the leaf was issued by Vault's intermediate (Ember Example Intermediate CA)" \
  bash -c 'openssl x509 -in "$1" -noout -issuer | grep -q "Ember Example Intermediate CA"' _ "$CASE_DIR/web.crt"
# The Certificate asks for 48h; the policy clamps to 24h (= the role's max_ttl); Vault backdates
# notBefore by 30 s.
life=$(python3 - "$CASE_DIR/web.crt" <<'PY'
import subprocess, sys, datetime
def t(opt):
    s = subprocess.run(["openssl", "x509", "-in", sys.argv[1], "-noout", opt], capture_output=True, text=True).stdout
    return datetime.datetime.strptime(s.split("=", 1)[1].strip(), "%b %d %H:%M:%S %Y %Z")
print(int((t("-enddate") - t("-startdate")).total_seconds()))
PY
)
check "the leaf lives 24 h (the policy's max; the Certificate asked 48h): $life s" \
  test "${life:-0}" -ge 86400 -a "${life:-0}" -le 86460

# ---- 4. admitted by Ember's policy, refused by the Vault role ----
kc apply -f - >/dev/null <<YAML
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: outside, namespace: $NS}
spec:
  secretName: outside-tls
  dnsNames: [app.example.com]
  privateKey: {algorithm: ECDSA, size: 256}
  issuerRef: {group: ember.issuer.dev, kind: ClusterIssuer, name: vault}
YAML
_cr_failed() { local c; c=$(cr_of_cert $NS outside); [ -n "$c" ] && [ "$(cond certificaterequests $NS "$c" Ready reason)" = Failed ]; }
check "the Certificate $NS/outside (app.example.com): its CertificateRequest ends Failed" e2e_wait 60 _cr_failed
cr=$(cr_of_cert $NS outside)
msg=$(cond certificaterequests $NS "$cr" Ready message)
echo "# $cr Ready message: $msg"
check "... it was Approved by Ember (the policy admits it; the Vault role is the second gate)" \
  test "$(cond certificaterequests $NS "$cr" Approved reason)" = ember.issuer.dev
check "... its Ready message is Vault's own: subject alternate name app.example.com not allowed by this role" \
  bash -c '[[ "$1" == *"subject alternate name app.example.com not allowed by this role"* ]]' _ "$msg"
check "... and says Vault refused the sign (HTTP 400 from POST /v1/pki_int/sign/mesh)" \
  bash -c '[[ "$1" == *"HTTP 400 from POST /v1/pki_int/sign/mesh"* ]]' _ "$msg"
# Vault's audit device HMACs strings; sys/audit-hash gives the HMAC of a text.
want=$(vault write -field=hash sys/audit-hash/file input="subject alternate name app.example.com not allowed by this role")
check "Vault's audit log has that refusal on pki_int/sign/mesh, with that very text (sys/audit-hash)" \
  python3 - "$AUDIT" "$want" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    r = e.get("response") or {}
    if e.get("type") == "response" and e.get("request", {}).get("path") == "pki_int/sign/mesh" \
            and (r.get("data") or {}).get("error") == sys.argv[2]:
        sys.exit(0)
sys.exit(1)
PY

# ---- 5. a second ClusterIssuer: an AppRole role with token_num_uses=2, first with a wrong
# roleId (Vault's refusal in the Ready condition), then fixed with kubectl apply ----
vault policy write pki-mesh-uses2 - >/dev/null <<'HCL'
path "pki_int/sign/mesh" {
  capabilities = ["update"]
}
HCL
vault auth enable -path=approle2 approle >/dev/null
vault write auth/approle2/role/uses2 token_policies=pki-mesh-uses2 token_ttl=1h token_max_ttl=24h \
  token_num_uses=2 secret_id_ttl=0 >/dev/null
role_id=$(vault read -field=role_id auth/approle2/role/uses2/role-id)
secret_id=$(vault write -f -field=secret_id auth/approle2/role/uses2/secret-id)
check "an AppRole role with token_num_uses=2 (mount approle2, role uses2)" test -n "$role_id" -a -n "$secret_id"
kc -n $CRNS create secret generic vault-approle2 --from-literal=secretId="$secret_id" >/dev/null
# uses2_issuer ROLE_ID: the ClusterIssuer vault-uses2 (sharing the Secret vault-ca).
uses2_issuer() {
  kc apply -f - >/dev/null <<YAML
apiVersion: ember.issuer.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: vault-uses2}
spec:
  defaultPolicy: mesh
  vault:
    server: $VAULT_ADDR
    path: pki_int/sign/mesh
    caBundleSecretRef: {name: vault-ca, key: ca.crt}
    auth:
      appRole: {path: approle2, roleId: $1, secretRef: {name: vault-approle2, key: secretId}}
YAML
}
uses2_issuer 00000000-0000-0000-0000-000000000000
check "with a wrong roleId the ClusterIssuer vault-uses2 is not Ready" \
  wait_cond 30 clusterissuers.ember.issuer.dev "" vault-uses2 Ready False
imsg=$(cond clusterissuers.ember.issuer.dev "" vault-uses2 Ready message)
echo "# ClusterIssuer vault-uses2: $imsg"
check "... its message is Vault's refusal of the login: invalid role or secret ID" \
  bash -c '[[ "$1" == *"auth/approle2/login"* && "$1" == *"invalid role or secret ID"* ]]' _ "$imsg"
sleep 5 # a few of Ember's re-checks while not Ready
uses2_issuer "$role_id"
check "kubectl apply with the right roleId: the ClusterIssuer vault-uses2 becomes Ready" \
  wait_cond 60 clusterissuers.ember.issuer.dev "" vault-uses2 Ready True

# ---- 6. Vault sealed: a request stays Pending; unsealed: the same request is issued ----
check "vault operator seal (sys/health 503)" bash -c 'vault operator seal >/dev/null && [ "$(curl -s -o /dev/null -w "%{http_code}" --cacert "$VAULT_CACERT" "$VAULT_ADDR/v1/sys/health")" = 503 ]'
kc apply -f - >/dev/null <<YAML
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: sealed, namespace: $NS}
spec:
  secretName: sealed-tls
  dnsNames: [sealed.$NS.svc]
  privateKey: {algorithm: ECDSA, size: 256}
  issuerRef: {group: ember.issuer.dev, kind: ClusterIssuer, name: vault}
YAML
_cr_pending() { local c; c=$(cr_of_cert $NS sealed); [ -n "$c" ] && [ "$(cond certificaterequests $NS "$c" Ready reason)" = Pending ]; }
check "while Vault is sealed, the request for Certificate $NS/sealed goes Pending" e2e_wait 60 _cr_pending
sealed_cr=$(cr_of_cert $NS sealed)
echo "# $sealed_cr Ready message: $(cond certificaterequests $NS "$sealed_cr" Ready message)"
states=""
for i in $(seq 1 10); do
  states+="$(cond certificaterequests $NS "$sealed_cr" Ready status)/$(cond certificaterequests $NS "$sealed_cr" Ready reason) "
  sleep 1
done
echo "# $sealed_cr over 10 s: $states"
check "... it stays Ready=False, reason Pending for 10 s (never Failed, never Issued)" \
  bash -c '[ -z "$(printf "%s\n" $1 | grep -v "^False/Pending$")" ]' _ "$states"
check "... its message says Vault is sealed" \
  bash -c '[[ "$1" == *"sealed"* ]]' _ "$(cond certificaterequests $NS "$sealed_cr" Ready message)"
for ci in vault vault-uses2; do
  check "the ClusterIssuer $ci goes Ready=False while Vault is sealed (its re-check every 10 s)" \
    wait_cond 30 clusterissuers.ember.issuer.dev "" $ci Ready False
  imsg=$(cond clusterissuers.ember.issuer.dev "" $ci Ready message)
  echo "# ClusterIssuer $ci: $imsg"
  check "... its message says Vault is sealed" bash -c '[[ "$1" == *"sealed"* ]]' _ "$imsg"
done
check "vault operator unseal (sys/health 200)" bash -c 'vault operator unseal "$1" >/dev/null' _ "$UNSEAL_KEY"
e2e_wait 30 vault_health 200
t0=$(date +%s)
check "after the unseal the same request ($sealed_cr) is issued" \
  wait_cond 120 certificaterequests $NS "$sealed_cr" Ready Issued reason
echo "# issued $(( $(date +%s) - t0 )) s after the unseal"
check "... the Certificate $NS/sealed becomes Ready" wait_cond 30 certificates $NS sealed Ready True
n=$(kc -n $NS get certificaterequests -o json | python3 -c '
import json, sys
print(sum(1 for cr in json.load(sys.stdin)["items"]
          if any(o.get("name") == "sealed" for o in cr["metadata"].get("ownerReferences", []))))')
check "... and no other request was created for it ($n CertificateRequest)" test "$n" = 1
for ci in vault vault-uses2; do
  check "the ClusterIssuer $ci is Ready again" wait_cond 30 clusterissuers.ember.issuer.dev "" $ci Ready True
done

# ---- 7. token_num_uses=2: Ember logs in again when a token's uses run out ----
audit_from=$(wc -l <"$AUDIT")
log_from=$(wc -l <"$E2E_DIR/ember-0.log")
for i in 1 2 3 4 5; do
  make_csr "$CASE_DIR/u$i" -subj "/CN=u$i.$NS.svc" -addext "subjectAltName=DNS:u$i.$NS.svc"
  cr_json "u$i" $NS "$CASE_DIR/u$i.csr" ClusterIssuer vault-uses2 >"$CASE_DIR/u$i.json"
done
for i in 1 2 3 4 5; do kc create -f "$CASE_DIR/u$i.json" >/dev/null; done
_all_issued() { local i; for i in 1 2 3 4 5; do [ "$(cond certificaterequests $NS "u$i" Ready reason)" = Issued ] || return 1; done; }
check "5 CertificateRequests for ClusterIssuer vault-uses2 are all issued" e2e_wait 120 _all_issued
for i in 1 2 3 4 5; do
  echo "# u$i: $(cond certificaterequests $NS "u$i" Ready reason): $(cond certificaterequests $NS "u$i" Ready message)"
done
kc -n $NS get certificaterequests u1 -o jsonpath='{.status.certificate}' | base64 -d >"$CASE_DIR/u1.crt"
check "... u1's certificate verifies to root.crt" \
  openssl verify -x509_strict -CAfile "$OUT/root.crt" -untrusted "$CASE_DIR/u1.crt" "$CASE_DIR/u1.crt"
# What Vault's audit device recorded from here on (responses only).
tail -n +"$((audit_from + 1))" "$AUDIT" >"$CASE_DIR/audit-uses2.log"
read -r logins signs sign_errs lookups num_uses_seen most_per_token <<<"$(python3 - "$CASE_DIR/audit-uses2.log" <<'PY'
import collections, json, sys
logins = signs = errs = lookups = 0
seen = []
per_token = collections.Counter()  # signs per token (its accessor, HMAC'd alike every time)
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("type") != "response":
        continue
    path = e.get("request", {}).get("path", "")
    auth = e.get("auth") or {}
    pol = set(auth.get("policies") or []) | set(auth.get("token_policies") or [])
    # A refusal is either "error" (permission denied...) or a logical error response
    # (response.data.error, as the PKI role's refusals).
    err = e.get("error") or ((e.get("response") or {}).get("data") or {}).get("error") or ""
    if path == "auth/approle2/login" and not err:
        logins += 1
    elif path == "pki_int/sign/mesh":
        if err:
            errs += 1
        elif "pki-mesh-uses2" in pol:
            signs += 1
            per_token[auth.get("accessor", "")] += 1
    elif path == "auth/token/lookup-self" and "pki-mesh-uses2" in pol:
        lookups += 1
        nu = ((e.get("response") or {}).get("data") or {}).get("num_uses")
        seen.append(str(nu))
print(logins, signs, errs, lookups, ",".join(seen) or "-", max(per_token.values(), default=0))
PY
)"
echo "# audit (vault-uses2): logins=$logins signs=$signs sign-errors=$sign_errs lookup-self=$lookups (num_uses reported: $num_uses_seen)"
check "Vault signed 5 certificates with approle2 tokens (audit log: $signs)" test "$signs" = 5
# The token held before may have had its 2 uses left: 5 signs need 2 new logins at least.
check "Ember logged in again as tokens ran out: >= 2 approle2 logins for 5 signs (audit log: $logins)" \
  test "$logins" -ge 2
check "no approle2 token signed more than its 2 uses (audit log, signs per token accessor: at most $most_per_token)" \
  test "$most_per_token" -ge 1 -a "$most_per_token" -le 2
check "no sign request was refused (audit log: $sign_errs errors on pki_int/sign/mesh)" test "$sign_errs" = 0
check "no lookup-self spent a use: Vault's login answer says the token's uses (audit log: $lookups)" \
  test "$lookups" = 0
n403=$(tail -n +"$((log_from + 1))" "$E2E_DIR/ember-0.log" | grep -c 'answered 403')
check "Ember never had to retry after a 403 (its log: $n403)" test "$n403" = 0
nlog=$(tail -n +"$((log_from + 1))" "$E2E_DIR/ember-0.log" | grep -c 'logged in to Vault with AppRole')
echo "# Ember logged 'logged in to Vault with AppRole' $nlog times meanwhile"
