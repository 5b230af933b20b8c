# Case 5: requesters. CertificateRequests created directly with a team service account's token
# (as istio-csr, SPIRE or csi-driver-spiffe do) carry the spec.username the real webhook wrote;
# a policy bound to that account admits them, and refuses another account's.
. "$(dirname "$0")/common.sh"

NS=team
ca_issuer $NS local-ca || not_ok "the Issuer $NS/local-ca is created"
dns_policy team-builder $NS '[a-z]+\.team\.svc' $NS/builder || not_ok "the IssuancePolicy team-builder applies"
kc apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: cr-creator, namespace: $NS}
rules:
- apiGroups: [cert-manager.io]
  resources: [certificaterequests]
  verbs: [create, get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: cr-creator, namespace: $NS}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cr-creator}
subjects:
- {kind: ServiceAccount, name: builder, namespace: $NS}
- {kind: ServiceAccount, name: intruder, namespace: $NS}
YAML
check "the Issuer $NS/local-ca becomes Ready" wait_cond 30 issuers.ember.issuer.dev $NS local-ca Ready True
check "the IssuancePolicy team-builder becomes Ready" wait_cond 30 issuancepolicies.ember.issuer.dev "" team-builder Ready True
e2e_sa_kubeconfig $NS builder "$CASE_DIR/builder.kubeconfig"
e2e_sa_kubeconfig $NS intruder "$CASE_DIR/intruder.kubeconfig"
as() { local who=$1; shift; "$KUBE_BIN/kubectl" --kubeconfig "$CASE_DIR/$who.kubeconfig" "$@"; }

make_csr "$CASE_DIR/b" -subj "/CN=b.team.svc" -addext "subjectAltName=DNS:b.team.svc"
cr_json by-builder $NS "$CASE_DIR/b.csr" Issuer local-ca team-builder >"$CASE_DIR/b.json"
check "the builder service account creates a CertificateRequest with its own token" \
  as builder create -f "$CASE_DIR/b.json"
check "... the real webhook wrote spec.username system:serviceaccount:$NS:builder" \
  test "$(kc -n $NS get certificaterequest by-builder -o jsonpath='{.spec.username}')" = "system:serviceaccount:$NS:builder"
check "... and spec.groups holds system:serviceaccounts:$NS" \
  bash -c '[[ "$("$KUBE_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" -n team get certificaterequest by-builder -o jsonpath="{.spec.groups}")" == *system:serviceaccounts:team* ]]'
check "the policy bound to builder admits it: Approved by Ember and issued" \
  wait_cond 30 certificaterequests $NS by-builder Ready True
check "... Approved reason ember.issuer.dev" test "$(cond certificaterequests $NS by-builder Approved reason)" = ember.issuer.dev

cr_json by-intruder $NS "$CASE_DIR/b.csr" Issuer local-ca team-builder >"$CASE_DIR/i.json"
check "the intruder service account creates the same request with its token" \
  as intruder create -f "$CASE_DIR/i.json"
check "... it is Denied by Ember" wait_cond 30 certificaterequests $NS by-intruder Denied True
msg=$(cond certificaterequests $NS by-intruder Denied message)
check "... the message names the requester the webhook recorded" \
  bash -c '[[ "$1" == *system:serviceaccount:team:intruder* ]]' _ "$msg"
echo "# denied: $msg"

# spec.username cannot be claimed: the webhook overwrites (or refuses) what a client sends.
python3 - "$CASE_DIR/i.json" "$CASE_DIR/forged.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["metadata"]["name"] = "forged"
d["spec"]["username"] = "system:serviceaccount:team:builder"
d["spec"]["groups"] = ["system:serviceaccounts", "system:serviceaccounts:team"]
json.dump(d, open(sys.argv[2], "w"))
PY
if as intruder create -f "$CASE_DIR/forged.json" >/dev/null 2>"$CASE_DIR/forged.err"; then
  check "a forged spec.username is replaced by the real webhook" \
    test "$(kc -n $NS get certificaterequest forged -o jsonpath='{.spec.username}')" = "system:serviceaccount:$NS:intruder"
  check "... and the forged request is Denied" wait_cond 30 certificaterequests $NS forged Denied True
else
  check "a forged spec.username is refused by the real webhook" grep -qi username "$CASE_DIR/forged.err"
fi
