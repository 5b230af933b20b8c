# Case 15: Ember's sub-CA mode (spec.vault.subCA) against the real HashiCorp Vault (vault-lib.sh).
#   1. examples/vault-subca/vault-setup.sh and issuer.yaml as written: the ClusterIssuer
#      vault-subca becomes Ready, its message giving the sub-CA's serial and notAfter; a
#      Certificate through it: tls.crt is leaf + Ember's sub-CA + Vault's intermediate, ca.crt is
#      Vault's root, and it verifies with openssl -x509_strict against the root; the sub-CA is
#      what the policy pins (CA, pathlen 0, the CN prefix, the subject, critical name
#      constraints); the leaf lives at most maxLeafDuration; Vault's audit log shows one
#      sign-intermediate and no per-certificate sign for three certificates; Ember's metrics
#      agree; the example's AppRole token gets what Ember asks for and is refused pathLen 1 or
#      another common name (the policy's pins, against the real Vault).
#   2. Renewal: a second ClusterIssuer (duration 90s, renewBefore 45s, maxLeafDuration 30s; the
#      example's policy with that ttl): requests made every few seconds see a new sub-CA serial
#      within a bounded wait; the last leaf of the old sub-CA still verifies against the root
#      afterwards, the first of the new one has another AKI.
#   3. Vault sealed during renewal: requests are still issued with the current sub-CA (no leaf
#      outlives it); Ready stays True while the sub-CA has more than maxLeafDuration left, then
#      goes False; unsealed: a new sub-CA is signed and the issuer is Ready again; the metrics
#      count the refusals while sealed.
#   4. A parent with pathLen 0 (an intermediate signed with max_path_length=0): the issuer is
#      Ready=False with a message about pathLen 0, not a bare HTTP 400.
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/vault-lib.sh"

NS=vault-subca-e2e
CRNS=ember-issuer # Ember's --cluster-resource-namespace (run.sh's release); the example's default
V="$CASE_DIR/vault"
OUT="$CASE_DIR/setup"
CI=clusterissuers.ember.issuer.dev
vault_bin || exit 1
vault_up vault15 "$V" || exit 1

# ---- helpers over PEM chains ----
# split_chain FILE PREFIX: each certificate of FILE into PREFIX.0.pem, PREFIX.1.pem...; prints
# their number.
split_chain() {
  rm -f "$2".*.pem
  awk -v p="$2" '/BEGIN CERTIFICATE/ {f = sprintf("%s.%d.pem", p, n++)} f {print > f} /END CERTIFICATE/ {f = ""} END {print n + 0}' "$1"
}
# x FILE OPTION...: openssl x509 -noout OPTION... of FILE.
x() { local f=$1; shift; openssl x509 -in "$f" -noout "$@" 2>/dev/null; }
serial_of() { x "$1" -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//'; }
aki_of() { x "$1" -ext authorityKeyIdentifier | sed -n 's/^ *\(keyid:\)\{0,1\}\([0-9A-F:]\{20,\}\).*/\2/p' | head -1; }
end_of() { date -d "$(x "$1" -enddate | cut -d= -f2)" +%s; }
start_of() { date -d "$(x "$1" -startdate | cut -d= -f2)" +%s; }
# metric SERIES: the value of a series (name{labels}) on Ember's /metrics, or nothing.
metric() { curl -s "$(cat "$E2E_DIR/ember-0.metrics")/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
# norm TEXT: lower case, without colons (to find a serial in a message).
norm() { tr 'A-F' 'a-f' <<<"$1" | tr -d ':'; }

# ---- 1. examples/vault-subca as written ----
EMBER_VAULT_SERVER="$VAULT_ADDR" examples/vault-subca/vault-setup.sh "$OUT" >"$CASE_DIR/setup.log" 2>&1
rc=$?
check "examples/vault-subca/vault-setup.sh runs against the real Vault (VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT, EMBER_VAULT_SERVER)" test "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/# setup: /' "$CASE_DIR/setup.log" | tail -20
check "... it wrote issuer.yaml, root.crt and intermediate.crt" \
  test -s "$OUT/issuer.yaml" -a -s "$OUT/root.crt" -a -s "$OUT/intermediate.crt"
split_chain "$OUT/intermediate.crt" "$CASE_DIR/int" >/dev/null
check "... Vault's intermediate has path length 1 (it may sign Ember's sub-CA)" \
  bash -c 'openssl x509 -in "$1" -noout -ext basicConstraints | grep -q "CA:TRUE, pathlen:1"' _ "$CASE_DIR/int.0.pem"
check "... the policy ember-subca pins max_path_length to 0 (vault policy read)" \
  bash -c 'vault policy read ember-subca | grep -qE "\"max_path_length\" *= \[\"0\"\]"'

kc create namespace $NS >/dev/null
dns_policy vault-subca $NS '[a-z0-9-]+\.'"$NS"'\.svc' "" 48h
check "the IssuancePolicy vault-subca becomes Ready" wait_cond 30 issuancepolicies.ember.issuer.dev "" vault-subca Ready True
# issuer.yaml brings the Secret vault-ca after the ClusterIssuer; one left by an earlier case
# (case 10's or 14's Vault) would be read first, and Ember does not read a changed
# caBundleSecretRef again while it retries the sub-CA. As on a fresh cluster, there is none here.
kc -n $CRNS delete secret vault-ca --ignore-not-found >/dev/null
audit_from=$(wc -l <"$AUDIT")
check "kubectl apply -f issuer.yaml (ClusterIssuer vault-subca, Secrets vault-subca-approle and vault-ca in $CRNS)" \
  kc apply -f "$OUT/issuer.yaml"
check "the ClusterIssuer vault-subca becomes Ready (Vault signed its sub-CA)" wait_cond 90 $CI "" vault-subca Ready True
imsg=$(cond $CI "" vault-subca Ready message)
echo "# vault-subca: $(cond $CI "" vault-subca Ready reason): $imsg"

# cert NAME ISSUER [DURATION]: a Certificate NAME (DNS NAME.$NS.svc, policy vault-subca).
cert() { policy_cert $NS "$1" vault-subca ClusterIssuer "$2" "${3:-48h}"; }
cert web vault-subca
check "the Certificate $NS/web (ClusterIssuer vault-subca) becomes Ready" wait_cond 90 certificates $NS web Ready True
secret_field $NS web-tls tls.crt "$CASE_DIR/web.crt"
secret_field $NS web-tls ca.crt "$CASE_DIR/web-ca.crt"
n=$(split_chain "$CASE_DIR/web.crt" "$CASE_DIR/web")
check "tls.crt holds 3 certificates: the leaf, Ember's sub-CA, Vault's intermediate ($n)" test "$n" = 3
check "... the third is Vault's intermediate (vault-setup.sh's intermediate.crt)" test \
  "$(x "$CASE_DIR/web.2.pem" -fingerprint -sha256)" = "$(x "$CASE_DIR/int.0.pem" -fingerprint -sha256)"
check "ca.crt is Vault's root (vault-setup.sh's root.crt)" test \
  "$(x "$CASE_DIR/web-ca.crt" -fingerprint -sha256)" = "$(x "$OUT/root.crt" -fingerprint -sha256)"
check "tls.crt verifies to root.crt with the chain it carries (openssl verify -x509_strict)" \
  verify_strict "$OUT/root.crt" "$CASE_DIR/web.crt" "$CASE_DIR/web.0.pem"
SUB=$CASE_DIR/web.1.pem
echo "# Ember's sub-CA: $(x "$SUB" -subject) serial $(x "$SUB" -serial) $(x "$SUB" -enddate)"
check "the sub-CA is a CA with path length 0" bash -c 'openssl x509 -in "$1" -noout -ext basicConstraints | grep -q "CA:TRUE, pathlen:0"' _ "$SUB"
check "... its subject: CN with the prefix Ember sub-CA, O Example Org, OU Mesh" \
  bash -c 's=$(openssl x509 -in "$1" -noout -subject -nameopt RFC2253); [[ "$s" == *"CN=Ember sub-CA"* && "$s" == *"O=Example Org"* && "$s" == *"OU=Mesh"* ]]' _ "$SUB"
check "... critical name constraints permitting DNS svc" \
  bash -c 'openssl x509 -in "$1" -noout -text | grep -A2 "Name Constraints: critical" | grep -q "DNS:svc"' _ "$SUB"
check "... no subject alternative name" bash -c 'openssl x509 -in "$1" -noout && [ -z "$(openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null)" ]' _ "$SUB"
check "... it lives 168h (subCA.duration), give or take Vault's 30 s backdating" \
  bash -c 'l=$(( $1 - $2 )); [ "$l" -ge $((168*3600 - 60)) ] && [ "$l" -le $((168*3600 + 60)) ]' _ "$(end_of "$SUB")" "$(start_of "$SUB")"
check "the leaf's AKI is the sub-CA's SKI" bash -c '[ -n "$1" ] && [ "$1" = "$2" ]' _ "$(aki_of "$CASE_DIR/web.0.pem")" \
  "$(x "$SUB" -ext subjectKeyIdentifier | sed -n 's/^ *\([0-9A-F:]\{20,\}\).*/\1/p')"
life=$(( $(end_of "$CASE_DIR/web.0.pem") - $(start_of "$CASE_DIR/web.0.pem") ))
check "the leaf lives at most maxLeafDuration 24h (the Certificate asked 48h): $life s" test "$life" -gt 0 -a "$life" -le 86400
s1=$(serial_of "$SUB")
check "the ClusterIssuer's Ready message gives the sub-CA's serial ($s1)" bash -c '[ -n "$2" ] && [[ "$1" == *"$2"* ]]' _ "$(norm "$imsg")" "$s1"
check "... and its notAfter (year $(date -d "@$(end_of "$SUB")" +%Y))" bash -c '[[ "$1" == *"$2"* ]]' _ "$imsg" "$(date -d "@$(end_of "$SUB")" +%Y)"
cert api vault-subca
cert db vault-subca
_two_ready() { wait_cond 60 certificates $NS api Ready True && wait_cond 60 certificates $NS db Ready True; }
check "two more Certificates through vault-subca become Ready" _two_ready
# Vault's audit log since issuer.yaml: sign-intermediate and sign calls (responses).
# audit_paths FROM: "OK ERR PATH" per path of Vault's answers after line FROM of its audit log.
audit_paths() {
  tail -n +"$(($1 + 1))" "$AUDIT" | python3 -c '
import collections, json, sys
n = collections.Counter()
for line in sys.stdin:
    e = json.loads(line)
    if e.get("type") != "response":
        continue
    err = e.get("error") or ((e.get("response") or {}).get("data") or {}).get("error") or ""
    n[(e.get("request", {}).get("path", ""), "ERR" if err else "OK")] += 1
for (p, k), v in sorted(n.items()):
    print(k, v, p)'
}
audit_paths "$audit_from" >"$CASE_DIR/audit1.txt"
sed 's/^/# vault audit: /' "$CASE_DIR/audit1.txt"
check "Vault's audit log: exactly one sign-intermediate (pki_int/root/sign-intermediate) for three Certificates" \
  test "$(awk '$1 == "OK" && $3 == "pki_int/root/sign-intermediate" {s += $2} END {print s + 0}' "$CASE_DIR/audit1.txt")" = 1
check "... no refused call, and no per-certificate sign (no pki_int/sign/*)" absent -E '^ERR|/sign/' "$CASE_DIR/audit1.txt"

L='{issuer="ClusterIssuer/vault-subca"'
# subca_metrics: ember_subca_ready/renewals ok/renewals error/leaf truncations of vault-subca
# (published at the issuer's re-checks, every 10 s here: a bounded wait).
subca_metrics() {
  echo "$(metric "ember_subca_ready$L}")/$(metric "ember_subca_renewals_total$L,result=\"ok\"}")/$(metric "ember_subca_renewals_total$L,result=\"error\"}")/$(metric "ember_subca_leaf_truncations_total$L}")"
}
_subca_metrics() { local m; m=$(subca_metrics); [ "${m%/*}" = 1/1/0 ] && [ "${m##*/}" -ge 3 ] 2>/dev/null; }
check "Ember's metrics: ember_subca_ready 1, one sub-CA asked of Vault, none refused, the 3 leaves (48h asked) counted as cut to maxLeafDuration" \
  e2e_wait 20 _subca_metrics
echo "# vault-subca's metrics (ready/ok/error/truncations): $(subca_metrics)"
echo "# ember_secure_heap_locked $(metric ember_secure_heap_locked)"

# The policy as a stolen token of the example's AppRole meets it: what Ember asks is signed; a
# path length of 1, or another common name, is refused.
rid=$(awk '$1 == "roleId:" {print $2; exit}' "$OUT/issuer.yaml")
sid=$(awk '$1 == "secretId:" {print $2; exit}' "$OUT/issuer.yaml")
TOK=$(VAULT_TOKEN='' vault write -field=token auth/approle/login role_id="$rid" secret_id="$sid" 2>/dev/null)
make_csr "$CASE_DIR/thief" -subj "/CN=Ember sub-CA thief"
# as_thief ARGS...: vault write pki_int/root/sign-intermediate with the AppRole's token.
as_thief() {
  VAULT_TOKEN=$TOK vault write -field=certificate pki_int/root/sign-intermediate csr=@"$CASE_DIR/thief.csr" \
    ttl=168h exclude_cn_from_sans=true use_csr_values=false format=pem organization="Example Org" ou=Mesh \
    permitted_dns_domains=svc "$@" >"$CASE_DIR/thief.out" 2>&1
}
check "the example's AppRole token gets what Ember asks for (pathLen 0, the CN prefix)" \
  as_thief common_name="Ember sub-CA thief" max_path_length=0
_refused() { ! as_thief "$@" && grep -q "permission denied" "$CASE_DIR/thief.out"; }
check "... but not a sub-CA with path length 1 (permission denied)" _refused common_name="Ember sub-CA thief" max_path_length=1
check "... nor one with another common name (permission denied)" _refused common_name="Evil CA" max_path_length=0

# ---- 2. renewal: duration 90s, renewBefore 45s, maxLeafDuration 30s ----
# The example's policy with this ttl, and an AppRole role holding it.
vault policy read ember-subca | sed 's|"ttl" *= \[[^]]*\]|"ttl" = ["90s", "90", "1m30s"]|' >"$CASE_DIR/short.hcl"
check "the policy ember-subca-short: the example's ember-subca with the ttl 90s" bash -c \
  'grep -q "\"ttl\" = \[\"90s\"" "$1" && vault policy write ember-subca-short "$1" >/dev/null' _ "$CASE_DIR/short.hcl"
vault write auth/approle/role/ember-subca-short token_policies=ember-subca-short token_ttl=1h secret_id_ttl=0 >/dev/null
short_rid=$(vault read -field=role_id auth/approle/role/ember-subca-short/role-id)
short_sid=$(vault write -f -field=secret_id auth/approle/role/ember-subca-short/secret-id)
kc -n $CRNS create secret generic vault-subca-short --from-literal=secretId="$short_sid" >/dev/null
# subca_issuer NAME ROLE_ID SECRET PATH DURATION RENEW_BEFORE MAX_LEAF
subca_issuer() {
  kc apply -f - <<YAML
apiVersion: ember.issuer.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: $1}
spec:
  defaultPolicy: vault-subca
  vault:
    server: $VAULT_ADDR
    caBundleSecretRef: {name: vault-ca, key: ca.crt}
    auth:
      appRole: {path: approle, roleId: $2, secretRef: {name: $3, key: secretId}}
    subCA:
      enabled: true
      path: $4
      keyAlgorithm: ECDSAP256
      duration: $5
      renewBefore: $6
      maxLeafDuration: $7
      commonNamePrefix: Ember sub-CA
      subject: {organizations: [Example Org], organizationalUnits: [Mesh]}
      permittedDNSDomains: [svc]
YAML
}
audit_from=$(wc -l <"$AUDIT")
check "a ClusterIssuer vault-subca-short (duration 90s, renewBefore 45s, maxLeafDuration 30s) is accepted" \
  subca_issuer vault-subca-short "$short_rid" vault-subca-short pki_int/root/sign-intermediate 90s 45s 30s
check "... it becomes Ready" wait_cond 60 $CI "" vault-subca-short Ready True
echo "# vault-subca-short: $(cond $CI "" vault-subca-short Ready message)"
# req NAME: a CertificateRequest NAME for vault-subca-short (DNS NAME.$NS.svc), created now.
req() {
  make_csr "$CASE_DIR/$1" -subj "/CN=$1.$NS.svc" -addext "subjectAltName=DNS:$1.$NS.svc"
  cr_json "$1" $NS "$CASE_DIR/$1.csr" ClusterIssuer "${2:-vault-subca-short}" vault-subca >"$CASE_DIR/$1.json"
  kc create -f "$CASE_DIR/$1.json" >/dev/null
}
# got NAME: waits (30 s) until the request NAME is issued; its chain into $CASE_DIR/NAME.{0,1,..}.pem.
got() {
  wait_cond 30 certificaterequests $NS "$1" Ready Issued reason || return 1
  kc -n $NS get certificaterequests "$1" -o jsonpath='{.status.certificate}' | base64 -d >"$CASE_DIR/$1.crt"
  split_chain "$CASE_DIR/$1.crt" "$CASE_DIR/$1" >/dev/null
}
req r0; got r0
first=$(serial_of "$CASE_DIR/r0.1.pem")
check "a request through vault-subca-short is issued by a sub-CA (serial ${first:-none})" test -n "$first"
rlife=$(( $(end_of "$CASE_DIR/r0.0.pem") - $(start_of "$CASE_DIR/r0.0.pem") ))
check "... its leaf lives at most maxLeafDuration 30s ($rlife s)" test "$rlife" -gt 0 -a "$rlife" -le 30
# A request every 4 s until one comes from another sub-CA (bounded: 150 s, the sub-CA lives 90 s).
prev=r0 new="" t0=$(date +%s) i=0
while [ $(( $(date +%s) - t0 )) -lt 150 ]; do
  i=$((i + 1)); req "r$i"
  got "r$i" || { echo "# r$i: $(cond certificaterequests $NS "r$i" Ready reason): $(cond certificaterequests $NS "r$i" Ready message)"; sleep 4; continue; }
  if [ "$(serial_of "$CASE_DIR/r$i.1.pem")" != "$first" ]; then new=r$i; break; fi
  prev=r$i; sleep 4
done
echo "# a new sub-CA after $(( $(date +%s) - t0 )) s, request $new; the last of the old one: $prev"
check "renewal: within 150 s a request is issued by a new sub-CA ($(serial_of "$CASE_DIR/$new.1.pem" 2>/dev/null))" test -n "$new"
check "... the last leaf of the old sub-CA ($prev) still verifies against the root now (openssl verify -x509_strict)" \
  verify_strict "$OUT/root.crt" "$CASE_DIR/$prev.crt" "$CASE_DIR/$prev.0.pem"
check "... the new leaf verifies against the root too" verify_strict "$OUT/root.crt" "$CASE_DIR/$new.crt" "$CASE_DIR/$new.0.pem"
check "... the new leaf's AKI differs from the old one's (a new sub-CA key)" \
  bash -c '[ -n "$1" ] && [ -n "$2" ] && [ "$1" != "$2" ]' _ "$(aki_of "$CASE_DIR/$prev.0.pem")" "$(aki_of "$CASE_DIR/$new.0.pem")"
check "... the new sub-CA has another subject than the old one, or the same with a new key (distinct serials)" \
  test "$(serial_of "$CASE_DIR/$new.1.pem")" != "$(serial_of "$CASE_DIR/$prev.1.pem")"
cur=$(serial_of "$CASE_DIR/$new.1.pem")
_msg_has_cur() { [[ "$(norm "$(cond $CI "" vault-subca-short Ready message)")" == *"$cur"* ]]; }
check "... the ClusterIssuer's Ready message gives the new serial" e2e_wait 20 _msg_has_cur

# ---- 3. Vault sealed during renewal ----
sub_end=$(end_of "$CASE_DIR/$new.1.pem")
check "vault operator seal (sys/health 503)" vault_seal
sealed_at=$(date +%s)
req s1; got s1
check "while Vault is sealed a request is issued with the current sub-CA" \
  test "$(serial_of "$CASE_DIR/s1.1.pem" 2>/dev/null)" = "$cur"
check "... and its leaf does not outlive that sub-CA" \
  bash -c '[ "$(date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s)" -le "$2" ]' _ "$CASE_DIR/s1.0.pem" "$sub_end"
if [ "$(date +%s)" -lt $((sub_end - 30 - 5)) ]; then
  check "... the ClusterIssuer is still Ready while its sub-CA has more than maxLeafDuration left" \
    test "$(cond $CI "" vault-subca-short Ready)" = True
fi
# From notAfter - maxLeafDuration on, with the renewal failing, the issuer may no longer promise a
# full leaf: Ready=False.
wait_s=$(( sub_end - 30 - $(date +%s) + 30 )); [ "$wait_s" -lt 10 ] && wait_s=10
check "with Vault still sealed, the ClusterIssuer goes Ready=False once its sub-CA has less than maxLeafDuration left" \
  wait_cond "$wait_s" $CI "" vault-subca-short Ready False
smsg=$(cond $CI "" vault-subca-short Ready message)
echo "# vault-subca-short while sealed: $(cond $CI "" vault-subca-short Ready reason): $smsg"
check "... its message: sub-CA pending, and why (Vault is sealed)" \
  bash -c '[[ "$1" == "sub-CA pending"* && "$1" == *"sealed"* ]]' _ "$smsg"
echo "# sealed for $(( $(date +%s) - sealed_at )) s"
check "vault operator unseal (sys/health 200)" vault_unseal
t0=$(date +%s)
check "after the unseal the ClusterIssuer vault-subca-short is Ready again (a new sub-CA)" \
  wait_cond 120 $CI "" vault-subca-short Ready True
echo "# Ready $(( $(date +%s) - t0 )) s after the unseal: $(cond $CI "" vault-subca-short Ready message)"
req s2; got s2
check "... a request is issued by a sub-CA signed after the unseal (serial not $cur)" \
  bash -c '[ -n "$1" ] && [ "$1" != "$2" ]' _ "$(serial_of "$CASE_DIR/s2.1.pem" 2>/dev/null)" "$cur"
check "... and verifies against the root" verify_strict "$OUT/root.crt" "$CASE_DIR/s2.crt" "$CASE_DIR/s2.0.pem"
# Ember publishes an issuer's metrics at its re-checks (every 10 s here): a bounded wait.
L='{issuer="ClusterIssuer/vault-subca-short"'
_short_metrics() {
  ok_n=$(metric "ember_subca_renewals_total$L,result=\"ok\"}") err_n=$(metric "ember_subca_renewals_total$L,result=\"error\"}")
  [ "${ok_n:-0}" -ge 3 ] && [ "${err_n:-0}" -ge 1 ]
}
check "Ember's metrics: at least 3 sub-CAs asked of Vault for vault-subca-short, the refusals while sealed counted as errors" \
  e2e_wait 30 _short_metrics
echo "# vault-subca-short's renewals: ok $ok_n, error $err_n"
audit_paths "$audit_from" >"$CASE_DIR/audit2.txt"
sed 's/^/# vault audit: /' "$CASE_DIR/audit2.txt"
check "Vault's audit log: no per-certificate sign during all this (no pki_int/sign/*)" absent /sign/ "$CASE_DIR/audit2.txt"
kc delete $CI vault-subca-short >/dev/null

# ---- 4. a parent with pathLen 0 ----
vault secrets enable -path=pki_zero pki >/dev/null
vault secrets tune -max-lease-ttl=43800h pki_zero >/dev/null
vault write -field=csr pki_zero/intermediate/generate/internal common_name="Ember Example pathlen-0 Intermediate" \
  key_type=ec key_bits=256 >"$CASE_DIR/zero.csr"
vault write -field=certificate pki/root/sign-intermediate issuer_ref=root csr=@"$CASE_DIR/zero.csr" \
  format=pem_bundle ttl=8760h max_path_length=0 >"$CASE_DIR/zero.crt"
vault write pki_zero/intermediate/set-signed certificate=@"$CASE_DIR/zero.crt" >/dev/null
check "an intermediate pki_zero signed with max_path_length=0" \
  bash -c 'openssl x509 -in "$1" -noout -ext basicConstraints | grep -q "CA:TRUE, pathlen:0"' _ "$CASE_DIR/zero.crt"
vault policy read ember-subca | sed 's|pki_int/|pki_zero/|g' | vault policy write ember-subca-zero - >/dev/null
vault write auth/approle/role/ember-subca-zero token_policies=ember-subca-zero token_ttl=1h secret_id_ttl=0 >/dev/null
zero_rid=$(vault read -field=role_id auth/approle/role/ember-subca-zero/role-id)
kc -n $CRNS create secret generic vault-subca-zero \
  --from-literal=secretId="$(vault write -f -field=secret_id auth/approle/role/ember-subca-zero/secret-id)" >/dev/null
subca_issuer vault-subca-zero "$zero_rid" vault-subca-zero pki_zero/root/sign-intermediate 168h 56h 24h >/dev/null
check "a ClusterIssuer whose parent is pki_zero is Ready=False" wait_cond 60 $CI "" vault-subca-zero Ready False
# Vault's own refusal says "max path length of zero"; Ember's message names the cause itself. The
# first message is "sub-CA pending" until Vault has answered.
_zero_msg() { grep -qiE "pathlen[ :=(]*0" <<<"$(cond $CI "" vault-subca-zero Ready message)"; }
check "... its message says the parent's pathLen is 0 (in Ember's words, not only Vault's HTTP 400)" e2e_wait 60 _zero_msg
echo "# vault-subca-zero: $(cond $CI "" vault-subca-zero Ready status) $(cond $CI "" vault-subca-zero Ready reason): $(cond $CI "" vault-subca-zero Ready message)"
kc delete $CI vault-subca-zero vault-subca >/dev/null
kc -n $CRNS delete secret vault-ca vault-subca-approle vault-subca-short vault-subca-zero >/dev/null
vault_stop vault15
