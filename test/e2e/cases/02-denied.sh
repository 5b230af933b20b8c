# Case 2: a Certificate its policy forbids: the request is Denied by Ember, the Certificate is not
# Ready with cert-manager's own message, and nothing retries: over 60 s the API server's audit
# log shows one CertificateRequest created and one status write by Ember.
. "$(dirname "$0")/common.sh"

NS=deny
EMBER_USER=system:serviceaccount:ember-issuer:ember-issuer
kc create namespace $NS >/dev/null
examples/local-ca/make-ca.sh "$CASE_DIR/ca" $NS local-ca >/dev/null
kc apply -f "$CASE_DIR/ca/secret.yaml" >/dev/null
kc apply -f - >/dev/null <<YAML
apiVersion: ember.issuer.dev/v1alpha1
kind: IssuancePolicy
metadata: {name: deny-apps}
spec:
  selector: {namespaces: [$NS], issuers: [Issuer/local-ca]}
  validity: {max: 2160h}
  sans:
    dnsNames: {rule: Required, allowed: ['[a-z0-9-]+\.deny\.svc']}
  usages: [digital signature, key encipherment, server auth]
---
apiVersion: ember.issuer.dev/v1alpha1
kind: Issuer
metadata: {name: local-ca, namespace: $NS}
spec: {ca: {secretName: local-ca}, defaultPolicy: deny-apps}
YAML
check "the Issuer $NS/local-ca becomes Ready" wait_cond 30 issuers.ember.issuer.dev $NS local-ca Ready True
t0=$(date +%s)
kc apply -f - >/dev/null <<YAML
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: outside, namespace: $NS}
spec:
  secretName: outside-tls
  dnsNames: [app.example.com]
  usages: [digital signature, key encipherment, server auth]
  issuerRef: {group: ember.issuer.dev, kind: Issuer, name: local-ca}
YAML
check "cert-manager marks the Certificate Issuing=False after the denial" \
  wait_cond 60 certificates $NS outside Issuing False
cr=$(cr_of_cert $NS outside)
check "its CertificateRequest ($cr) is Denied by Ember (reason ember.issuer.dev)" \
  test "$(cond certificaterequests $NS "$cr" Denied reason)" = ember.issuer.dev
msg=$(cond certificaterequests $NS "$cr" Denied message)
check "... the Denied message names the policy and the DNS name it refused" \
  bash -c '[[ "$1" == *deny-apps* && "$1" == *app.example.com* ]]' _ "$msg"
check "... and it is not Approved" test -z "$(cond certificaterequests $NS "$cr" Approved)"
check "... Ready=False, reason Denied" test "$(cond certificaterequests $NS "$cr" Ready reason)" = Denied
imsg=$(cond certificates $NS outside Issuing message)
check "the Certificate's Issuing message is cert-manager's, with Ember's reason" \
  bash -c '[[ "$1" == "The certificate request has failed to complete and will be retried: "*deny-apps* ]]' _ "$imsg"
check "the Certificate is not Ready" test "$(cond certificates $NS outside Ready)" != True
check "no Secret outside-tls was written" bash -c '! "$KUBE_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" -n deny get secret outside-tls >/dev/null 2>&1'
left=$(( 60 - ($(date +%s) - t0) ))
[ "$left" -gt 0 ] && sleep "$left"
creates=$(audit_count "verb == 'create' and o.get('resource') == 'certificaterequests' and o.get('namespace') == '$NS' and code == 201")
writes=$(audit_count "verb in ('patch', 'update') and o.get('resource') == 'certificaterequests' and o.get('subresource') == 'status' and o.get('namespace') == '$NS' and u == '$EMBER_USER'")
check "over 60 s: one CertificateRequest created (audit log: $creates)" test "$creates" = 1
check "over 60 s: one status write by Ember (audit log: $writes)" test "$writes" = 1
