# Case 1: a cert-manager Certificate for Ember's Issuer, under a policy that admits it, ends Ready
# through cert-manager's real controllers; its Secret verifies with openssl; the request was
# approved by Ember. Done with examples/local-ca as its README says (kubectl against the real
# API server).
. "$(dirname "$0")/common.sh"

kubectl() { kc "$@"; }
out="$CASE_DIR"
examples/local-ca/make-ca.sh "$out/ca" demo local-ca >/dev/null
kubectl create namespace demo >/dev/null
check "examples/local-ca: the Secret made by make-ca.sh applies" kubectl apply -f "$out/ca/secret.yaml"
# The README's other way to make the same Secret, from the files.
kubectl -n demo delete secret local-ca >/dev/null
check "examples/local-ca: kubectl create secret generic --type=kubernetes.io/tls as the README says" \
  kubectl -n demo create secret generic local-ca --type=kubernetes.io/tls \
  --from-file=tls.crt="$out/ca/intermediate.crt" --from-file=tls.key="$out/ca/intermediate.key" \
  --from-file=ca.crt="$out/ca/root.crt"
check "examples/local-ca: policy.yaml and issuer.yaml apply" \
  kubectl apply -f examples/local-ca/policy.yaml -f examples/local-ca/issuer.yaml
check "the Issuer demo/local-ca becomes Ready" wait_cond 30 issuers.ember.issuer.dev demo local-ca Ready True
check "the IssuancePolicy demo-apps becomes Ready" wait_cond 30 issuancepolicies.ember.issuer.dev "" demo-apps Ready True
check "kubectl get issuers.ember.issuer.dev prints the Ready column" \
  bash -c 'kubectl() { "$KUBE_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }; kubectl -n demo get issuers.ember.issuer.dev local-ca | grep -qE "^local-ca +True"'
check "examples/local-ca: certificate.yaml applies" kubectl apply -f examples/local-ca/certificate.yaml
check "the Certificate demo/web becomes Ready" wait_cond 60 certificates demo web Ready True
cr=$(cr_of_cert demo web)
check "cert-manager created a CertificateRequest for it ($cr)" test -n "$cr"
check "... Approved by Ember (reason ember.issuer.dev)" test "$(cond certificaterequests demo "$cr" Approved reason)" = ember.issuer.dev
check "... Ready=True, reason Issued" test "$(cond certificaterequests demo "$cr" Ready reason)" = Issued
check "... the Approved message names the policy" bash -c "[[ \"\$1\" == *demo-apps* ]]" _ "$(cond certificaterequests demo "$cr" Approved message)"

secret_field demo web-tls tls.crt "$out/tls.crt"
secret_field demo web-tls tls.key "$out/tls.key"
secret_field demo web-tls ca.crt "$out/ca.crt"
check "the Secret's ca.crt is the root make-ca.sh wrote" cmp -s "$out/ca.crt" "$out/ca/root.crt"
check "tls.crt verifies to ca.crt with the intermediate from tls.crt (openssl verify)" \
  openssl verify -x509_strict -CAfile "$out/ca.crt" -untrusted "$out/tls.crt" "$out/tls.crt"
check "tls.key is the leaf's key" \
  test "$(openssl x509 -in "$out/tls.crt" -noout -pubkey | sha256sum)" = "$(openssl pkey -in "$out/tls.key" -pubout | sha256sum)"
openssl x509 -in "$out/tls.crt" -noout -ext subjectAltName >"$out/san.txt" 2>/dev/null
check "the leaf has the Certificate's DNS names" \
  grep -q 'DNS:web.demo.svc, DNS:web.demo.svc.cluster.local, DNS:web.demo.example.com' "$out/san.txt"
# The README's last command, as written.
check "examples/local-ca/README.md: the verify command as written" bash -c \
  'kubectl() { "$KUBE_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }; out=$1
   kubectl -n demo get secret web-tls -o jsonpath="{.data.tls\.crt}" | base64 -d | openssl verify -x509_strict -CAfile "$out/ca/root.crt" -untrusted "$out/ca/intermediate.crt"' _ "$out"
check "kubectl get certificaterequests shows APPROVED True and READY True" \
  bash -c 'kubectl() { "$KUBE_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }; kubectl -n demo get certificaterequests "$1" | grep -qE "^$1 +True +True"' _ "$cr"
