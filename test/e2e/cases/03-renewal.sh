# Case 3: renewal. Marking the Certificate of case 1 for re-issue (the Issuing condition, as
# `cmctl renew` does) gives a new CertificateRequest and a new certificate; a CA Secret rotated
# before that is the one that signs it.
. "$(dirname "$0")/common.sh"

NS=demo
old_cr=$(cr_of_cert $NS web)
check "case 1's Certificate $NS/web is Ready (revision 1, $old_cr)" \
  test "$(cond certificates $NS web Ready)" = True -a -n "$old_cr"
kc -n $NS get secret web-tls -o jsonpath='{.data.tls\.crt}' | base64 -d >"$CASE_DIR/old.crt"
old_serial=$(openssl x509 -in "$CASE_DIR/old.crt" -noout -serial)

# Rotate the CA: a new root and intermediate in the same Secret.
ROOT_CN="Rotated Root" INTERMEDIATE_CN="Rotated Intermediate" \
  examples/local-ca/make-ca.sh "$CASE_DIR/ca2" $NS local-ca >/dev/null
check "the CA Secret $NS/local-ca is replaced with a new intermediate" \
  kc apply -f "$CASE_DIR/ca2/secret.yaml"
# Ember reads Secrets with get only: the Issuer's periodic re-check (the chart's
# issuerRecheckPeriod, 10s in this run) reads the Secret again; seen in the audit log.
gets="verb == 'get' and o.get('resource') == 'secrets' and o.get('namespace') == '$NS' and o.get('name') == 'local-ca' and u == 'system:serviceaccount:ember-issuer:ember-issuer'"
before=$(audit_count "$gets")
_reread() { [ "$(audit_count "$gets")" -gt "$before" ]; }
check "Ember's issuer re-check reads the rotated Secret again (audit log)" e2e_wait 60 _reread
check "... and the Issuer stays Ready" test "$(cond issuers.ember.issuer.dev $NS local-ca Ready)" = True

# What `cmctl renew` does: add the Issuing condition with reason ManuallyTriggered.
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
check "mark the Certificate for re-issue (status Issuing=True, ManuallyTriggered)" \
  kc -n $NS patch certificate web --subresource status --type json -p \
  "[{\"op\":\"add\",\"path\":\"/status/conditions/-\",\"value\":{\"type\":\"Issuing\",\"status\":\"True\",\"reason\":\"ManuallyTriggered\",\"message\":\"Certificate re-issuance manually triggered\",\"lastTransitionTime\":\"$now\"}}]"
_new_cr() { local c; c=$(cr_of_cert $NS web 2); [ -n "$c" ]; }
check "cert-manager creates a new CertificateRequest (revision 2)" e2e_wait 60 _new_cr
new_cr=$(cr_of_cert $NS web 2)
check "... Ember approves and issues it" wait_cond 60 certificaterequests $NS "$new_cr" Ready True
check "the Certificate is Ready again at revision 2" \
  e2e_wait 60 bash -c '[ "$("$KUBE_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" -n demo get certificate web -o jsonpath="{.status.revision}")" = 2 ]'
wait_cond 30 certificates $NS web Ready True
kc -n $NS get secret web-tls -o jsonpath='{.data.tls\.crt}' | base64 -d >"$CASE_DIR/new.crt"
kc -n $NS get secret web-tls -o jsonpath='{.data.ca\.crt}' | base64 -d >"$CASE_DIR/new-ca.crt"
check "the Secret holds a new certificate (serial changed)" \
  test "$(openssl x509 -in "$CASE_DIR/new.crt" -noout -serial)" != "$old_serial"
check "the new certificate verifies to the rotated root (ca.crt is the new root)" \
  openssl verify -x509_strict -CAfile "$CASE_DIR/ca2/root.crt" -untrusted "$CASE_DIR/new.crt" "$CASE_DIR/new.crt"
check "... and the Secret's ca.crt is the rotated root" cmp -s "$CASE_DIR/new-ca.crt" "$CASE_DIR/ca2/root.crt"
check "... its issuer is the rotated intermediate" \
  bash -c 'openssl x509 -in "$1" -noout -issuer | grep -q "Rotated Intermediate"' _ "$CASE_DIR/new.crt"
