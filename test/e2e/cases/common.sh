# common.sh -- sourced by every case: the cluster run.sh started ($E2E_DIR/env), the harness's
# functions, "ok - / not ok - " lines, and cert-manager object helpers over kubectl.
# shellcheck disable=SC2034 # sets EMBER_USER, CM_USER... for the cases that source it
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../../.." || exit 1
. test/e2e/lib.sh
. test/e2e/cluster.sh
. test/e2e/ember.sh
. "$E2E_DIR/env"
export E2E_DIR KUBE_BIN ADMIN_KUBECONFIG AUDIT_LOG
e2e_go_env >/dev/null
CASE_DIR=$(mktemp -d "$E2E_DIR/case.XXXXXX")

# ok, not_ok and check come with cluster.sh (test/shlib.sh).

# cond KIND NS NAME TYPE [FIELD]: a condition's status (or FIELD: reason, message) of an object.
cond() {
  local nsarg=()
  [ -n "$2" ] && nsarg=(-n "$2")
  kc "${nsarg[@]}" get "$1" "$3" -o jsonpath="{.status.conditions[?(@.type==\"$4\")].${5:-status}}" 2>/dev/null
}
# wait_cond SECONDS KIND NS NAME TYPE WANT [FIELD]: until the condition's status (or FIELD) is WANT.
wait_cond() {
  local s=$1; shift
  local want=$5 field=${6:-status}
  _wc() { [ "$(cond "$1" "$2" "$3" "$4" "$field")" = "$want" ]; }
  e2e_wait "$s" _wc "$1" "$2" "$3" "$4"
}
# cr_of_cert NS CERT [REVISION]: the name of the Certificate's CertificateRequest (the newest, or
# the one of REVISION).
cr_of_cert() {
  local rev=${3:-}
  kc -n "$1" get certificaterequests -o json | python3 -c '
import json, sys
cert, rev = sys.argv[1], sys.argv[2]
best = None
for cr in json.load(sys.stdin)["items"]:
    m = cr["metadata"]
    if not any(o.get("kind") == "Certificate" and o.get("name") == cert for o in m.get("ownerReferences", [])):
        continue
    r = m.get("annotations", {}).get("cert-manager.io/certificate-revision", "")
    if rev and r != rev:
        continue
    if best is None or int(r or 0) > int(best[0] or 0):
        best = (r, m["name"])
print(best[1] if best else "")' "$2" "$rev"
}
# secret_field NS NAME KEY OUT: a Secret's data KEY, decoded, into OUT.
secret_field() {
  kc -n "$1" get secret "$2" -o jsonpath="{.data.${3//./\\.}}" | base64 -d >"$4"
}
# ember_log_count REGEX: lines of the primary Ember's log matching REGEX.
ember_log_count() { grep -cE -- "$1" "$E2E_DIR/ember-0.log"; }

# cr_json NAME NS CSR ISSUER_KIND ISSUER_NAME [POLICY [USAGES_JSON]]: a CertificateRequest.
cr_json() {
  local ann=""
  [ -n "${6:-}" ] && ann="\"annotations\":{\"ember.issuer.dev/policy-name\":\"$6\"},"
  printf '{"apiVersion":"cert-manager.io/v1","kind":"CertificateRequest","metadata":{"name":"%s","namespace":"%s",%s"labels":{"e2e":"yes"}},"spec":{"request":"%s","usages":%s,"issuerRef":{"group":"ember.issuer.dev","kind":"%s","name":"%s"}}}\n' \
    "$1" "$2" "$ann" "$(base64 -w0 "$3")" "${7:-[\"digital signature\",\"key encipherment\",\"server auth\"]}" "$4" "$5"
}
# ca_issuer NS NAME [POLICY]: a root and intermediate from examples/local-ca/make-ca.sh into
# $CASE_DIR/NAME-ca, its Secret NS/NAME and an Issuer NS/NAME using it (defaultPolicy POLICY).
ca_issuer() {
  kc get namespace "$1" >/dev/null 2>&1 || kc create namespace "$1" >/dev/null
  examples/local-ca/make-ca.sh "$CASE_DIR/$2-ca" "$1" "$2" >/dev/null || return 1
  kc apply -f "$CASE_DIR/$2-ca/secret.yaml" >/dev/null || return 1
  kc apply -f - >/dev/null <<YAML
apiVersion: ember.issuer.dev/v1alpha1
kind: Issuer
metadata: {name: $2, namespace: $1}
spec:
  ca: {secretName: $2}
${3:+  defaultPolicy: $3}
YAML
}
# status_writes NS NAME USER: the status writes (patch/update) USER made on a CertificateRequest.
status_writes() {
  audit_count "verb in ('patch', 'update') and o.get('resource') == 'certificaterequests' and o.get('subresource') == 'status' and o.get('namespace') == '$1' and o.get('name') == '$2' and u == '$3'"
}
# dns_policy NAME NS REGEX [SERVICE_ACCOUNT [MAX_VALIDITY]]: an IssuancePolicy for requests of
# namespace NS: DNS names (required) and the common name (optional) matching REGEX,
# TLS server usages; with SERVICE_ACCOUNT (NS/NAME; "" for any) only requests that account made;
# with MAX_VALIDITY (24h) that validity.max, a 1h default and EC P-256 keys only.
dns_policy() {
  local req="" val=""
  [ -n "${4:-}" ] && req="    requesters: {serviceAccounts: ['$4']}"
  [ -n "${5:-}" ] && val="  validity: {max: $5, default: 1h}
  keyAlgorithms: [EC_P256]"
  kc apply -f - >/dev/null <<YAML
apiVersion: ember.issuer.dev/v1alpha1
kind: IssuancePolicy
metadata: {name: $1}
spec:
  selector:
    namespaces: [$2]
$req
$val
  subject: {commonName: {rule: Optional, allowed: ['$3']}}
  sans: {dnsNames: {rule: Required, allowed: ['$3']}}
  usages: [digital signature, key encipherment, server auth]
YAML
}
EMBER_USER=system:serviceaccount:ember-issuer:ember-issuer
CM_USER=system:serviceaccount:cert-manager:cert-manager
# policy_cert NS NAME POLICY KIND ISSUER DURATION: a Certificate NS/NAME for DNS NAME.NS.svc
# (Secret NAME-tls, an EC P-256 key, TLS server usages) under the IssuancePolicy POLICY
# (annotation), for the ember.issuer.dev KIND/ISSUER.
policy_cert() {
  kc apply -f - >/dev/null <<YAML
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: $2
  namespace: $1
  annotations: {ember.issuer.dev/policy-name: $3}
spec:
  secretName: $2-tls
  dnsNames: [$2.$1.svc]
  duration: $6
  privateKey: {algorithm: ECDSA, size: 256}
  usages: [digital signature, key encipherment, server auth]
  issuerRef: {group: ember.issuer.dev, kind: $4, name: $5}
YAML
}
