# Case 0: cert-manager itself, as run.sh installed it (test/e2e/certmanager): its controller and
# webhook run as their own service accounts, its CA issuer issues, the feature gates later cases
# and users need are on (otherNames, literalSubject), and its webhook validates. Everything after
# this relies on a cert-manager that behaves as in a cluster.
. "$(dirname "$0")/common.sh"

NS=cmtest
check "the controller's kubeconfig is cert-manager's service account, not the admin" \
  grep -q "name: cert-manager$" "$E2E_DIR/cert-manager/controller.kubeconfig"
kc create namespace $NS >/dev/null
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=cm-ca" \
  -keyout "$CASE_DIR/ca.key" -out "$CASE_DIR/ca.crt" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
kc -n $NS create secret tls ca-key-pair --cert "$CASE_DIR/ca.crt" --key "$CASE_DIR/ca.key" >/dev/null
kc apply -f - >/dev/null <<YAML
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: ca, namespace: $NS}
spec:
  ca: {secretName: ca-key-pair}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: $NS}
spec:
  secretName: web-tls
  dnsNames: [web.$NS.svc]
  issuerRef: {name: ca, kind: Issuer}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: gates, namespace: $NS}
spec:
  secretName: gates-tls
  literalSubject: "CN=gates,O=Smoke"
  otherNames:
  - oid: 1.3.6.1.4.1.311.20.2.3
    utf8Value: gates@smoke.example
  dnsNames: [gates.$NS.svc]
  issuerRef: {name: ca, kind: Issuer}
YAML
check "a cert-manager CA Issuer becomes Ready (its issuers controller)" wait_cond 30 issuers $NS ca Ready True
check "a Certificate for it becomes Ready" wait_cond 60 certificates $NS web Ready True
cr=$(cr_of_cert $NS web)
check "... its CertificateRequest was approved by cert-manager's approver (reason cert-manager.io)" \
  test "$(cond certificaterequests $NS "$cr" Approved reason)" = cert-manager.io
check "... and carries the controller's service account in spec.username (the webhook)" \
  test "$(kc -n $NS get certificaterequest "$cr" -o jsonpath='{.spec.username}')" = "$CM_USER"
secret_field $NS web-tls tls.crt "$CASE_DIR/web.crt"
check "... the Secret's certificate verifies to the CA (openssl verify)" openssl verify -CAfile "$CASE_DIR/ca.crt" "$CASE_DIR/web.crt"
check "a Certificate with otherNames and literalSubject becomes Ready (feature gates on)" \
  wait_cond 60 certificates $NS gates Ready True
secret_field $NS gates-tls tls.crt "$CASE_DIR/gates.crt"
# literalSubject is an RFC 4514 string: its last RDN (O) comes first in the certificate.
check "... its subject is the literal one and it carries the otherName SAN" \
  bash -c 'openssl x509 -in "$1" -noout -subject | grep -q "O *= *Smoke, *CN *= *gates" &&
    openssl x509 -in "$1" -noout -ext subjectAltName | grep -q "othername"' _ "$CASE_DIR/gates.crt"
out=$(kc apply -f - 2>&1 <<YAML
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: bad, namespace: $NS}
spec:
  secretName: bad
  dnsNames: [bad.example]
  duration: 10m
  issuerRef: {name: "", kind: Issuer}
YAML
)
check "the webhook refuses an invalid Certificate (no issuerRef name) with cert-manager's message" \
  bash -c '[[ "$1" == *"denied the request"* && "$1" == *issuerRef.name* ]]' _ "$out"
