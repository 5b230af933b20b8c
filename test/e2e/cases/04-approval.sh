# Case 4: approval. With the chart's RBAC cert-manager's approver cannot approve Ember's requests
# (the real webhook refuses it); the README's SubjectAccessReview check says so. With
# approve=false and another approver granted `approve` by RBAC, Ember only signs.
. "$(dirname "$0")/common.sh"

# The README's troubleshooting check (a SubjectAccessReview per service account), as written.
python3 - README.md "$CASE_DIR/sar.sh" <<'PY2'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"Only\nEmber's service account may\..*?```sh\n(.*?)```", text, re.S)
open(sys.argv[2], "w").write(m.group(1) if m else "exit 1\n")
PY2
KUBECTL_DIR="$CASE_DIR/bin"; mkdir -p "$KUBECTL_DIR"
printf '#!/bin/sh\nexec "%s" --kubeconfig "%s" "$@"\n' "$KUBE_BIN/kubectl" "$ADMIN_KUBECONFIG" >"$KUBECTL_DIR/kubectl"
chmod +x "$KUBECTL_DIR/kubectl"
PATH="$KUBECTL_DIR:$PATH" bash "$CASE_DIR/sar.sh" >"$CASE_DIR/sar.out" 2>&1
check "README: the SubjectAccessReviews say false for cert-manager's account, true for Ember's ($(tr '\n' ' ' <"$CASE_DIR/sar.out"))" \
  test "$(tr '\n' ' ' <"$CASE_DIR/sar.out")" = "false true "
# sar USER SIGNER: whether USER may approve for SIGNER.
sar() {
  kc create -o jsonpath='{.status.allowed}' -f - <<YAML
apiVersion: authorization.k8s.io/v1
kind: SubjectAccessReview
spec:
  user: $1
  resourceAttributes: {group: cert-manager.io, resource: signers, verb: approve, name: "$2"}
YAML
}
check "cert-manager's account may approve its own signers (clusterissuers.cert-manager.io/*)" \
  test "$(sar "$CM_USER" 'clusterissuers.cert-manager.io/*')" = true
check "... and not Ember's ClusterIssuers (clusterissuers.ember.issuer.dev/*)" \
  test "$(sar "$CM_USER" 'clusterissuers.ember.issuer.dev/*')" = false
cr=$(cr_of_cert demo web)
check "case 1's Certificate's request ($cr) was approved by Ember, not by cert-manager" \
  test "$(cond certificaterequests demo "$cr" Approved reason)" = ember.issuer.dev
check "no status write of cert-manager's on Ember's requests succeeded" \
  test "$(audit_count "o.get('resource') == 'certificaterequests' and o.get('subresource') == 'status' and o.get('namespace') in ('demo', 'deny') and u == '$CM_USER' and code < 300")" = 0

# approve=false: a second release (no CRDs) whose Ember only signs; the primary stops meanwhile
# (both would sign otherwise: each release elects its own leader).
ember_stop ember-0
trap 'ember_start ember-0 ember-issuer ember-issuer >/dev/null' EXIT
check "the chart with approve=false applies (release ember-signer)" \
  ember_install ember-signer ember-signer --set approve=false,crds.enabled=false,replicaCount=1
check "... it grants its service account no approve on Ember's signers" \
  test "$(sar system:serviceaccount:ember-signer:ember-signer 'issuers.ember.issuer.dev/*')" = false
check "ember-issuer starts with --approve=false" ember_start ember-signer ember-signer ember-signer

NS=approver
ca_issuer $NS local-ca || not_ok "the Issuer $NS/local-ca is created"
dns_policy approver-apps $NS '[a-z]+\.approver\.svc' || not_ok "the IssuancePolicy approver-apps applies"
kc apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e-external-approver}
rules:
- apiGroups: [cert-manager.io]
  resources: [signers]
  verbs: [approve]
  resourceNames: ["issuers.ember.issuer.dev/*"]
- apiGroups: [cert-manager.io]
  resources: [certificaterequests, certificaterequests/status]
  verbs: [get, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-external-approver}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-external-approver}
subjects: [{kind: ServiceAccount, name: approver, namespace: $NS}]
YAML
check "the Issuer $NS/local-ca becomes Ready" wait_cond 30 issuers.ember.issuer.dev $NS local-ca Ready True
make_csr "$CASE_DIR/a" -subj "/CN=a.approver.svc" -addext "subjectAltName=DNS:a.approver.svc"
cr_json a $NS "$CASE_DIR/a.csr" Issuer local-ca approver-apps >"$CASE_DIR/a.json"
kc create -f "$CASE_DIR/a.json" >/dev/null
_waiting() { kc -n $NS get events --field-selector reason=WaitingForApproval,involvedObject.name=a -o name | grep -q .; }
check "Ember records WaitingForApproval and approves nothing" e2e_wait 30 _waiting
sleep 2
check "... the request has no Approved or Denied condition" \
  test -z "$(cond certificaterequests $NS a Approved)$(cond certificaterequests $NS a Denied)"
check "... and is not signed" test -z "$(kc -n $NS get certificaterequest a -o jsonpath='{.status.certificate}')"
# Nobody approves it meanwhile: cert-manager's approver tries and the real webhook refuses it.
_cm_refused() {
  [ "$(audit_count "o.get('resource') == 'certificaterequests' and o.get('subresource') == 'status' and o.get('namespace') == '$NS' and o.get('name') == 'a' and u == '$CM_USER' and code == 403")" -gt 0 ]
}
check "cert-manager's approver tried to approve it and the API server refused (403, audit log)" e2e_wait 30 _cm_refused
check "... with the real webhook's message in cert-manager's log" \
  grep -q 'does not have permissions to set approved/denied conditions for issuer {local-ca Issuer ember.issuer.dev}' "$E2E_DIR/cert-manager-controller.log"
check "... and the request is still not approved" test -z "$(cond certificaterequests $NS a Approved)"
e2e_sa_kubeconfig $NS approver "$CASE_DIR/approver.kubeconfig"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# What an approver does (cmctl approve): an Approved condition on the status (a merge patch: the
# request has no status yet).
check "the approver (its own service account, approve granted by RBAC) approves it" \
  "$KUBE_BIN/kubectl" --kubeconfig "$CASE_DIR/approver.kubeconfig" -n $NS patch certificaterequest a \
  --subresource status --type merge -p "{\"status\":{\"conditions\":[{\"type\":\"Approved\",\"status\":\"True\",\"reason\":\"e2e-approver\",\"message\":\"approved by the e2e approver\",\"lastTransitionTime\":\"$now\"}]}}"
check "Ember signs the approved request (Ready=True, Issued)" wait_cond 30 certificaterequests $NS a Ready True
check "... the Approved condition is the approver's, untouched" \
  test "$(cond certificaterequests $NS a Approved reason)" = e2e-approver
kc -n $NS get certificaterequest a -o jsonpath='{.status.certificate}' | base64 -d >"$CASE_DIR/a.chain"
check "... its chain verifies to the Issuer's root" \
  openssl verify -x509_strict -CAfile "$CASE_DIR/local-ca-ca/root.crt" -untrusted "$CASE_DIR/a.chain" "$CASE_DIR/a.chain"
ember_stop ember-signer
