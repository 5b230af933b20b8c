#!/usr/bin/env bash
# test_name_constraints.sh -- a sub-CA issued by Ember under a policy's spec.ca keeps its limits
# where they count, in the clients: the team-subca policy (manifests/policies.yaml) gives team-a a
# CA for team-a.example.com only (pathLen 0, secret.team-a.example.com excluded). The sub-CA
# (its key made here) signs leaves with the openssl CLI: one inside its domain, one outside, one
# in the excluded subtree, and a CA below it with a leaf of its own. `openssl verify -x509_strict`
# and Go's crypto/x509 (test/e2e/tools/x509verify, built with /usr/local/go/bin/go; that part is
# skipped, saying so, without it) must accept the inside leaf and reject the three others.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh

make_ca "$WORK/ca"
start_ember nc --manifests test/integration/manifests --manifests "$WORK/ca/secret.yaml" || exit 1

# The sub-CA, as cert-manager asks for it: isCA, nameConstraints, no pathLen.
make_csr "$WORK/team" -subj "/CN=Team A CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,digitalSignature,keyCertSign,cRLSign" \
  -addext "nameConstraints=critical,permitted;DNS:team-a.example.com,permitted;IP:10.1.0.0/255.255.0.0,excluded;DNS:secret.team-a.example.com"
cr_json team default "$WORK/team.csr" ClusterIssuer test-ca team-subca 2160h \
  '["digital signature","cert sign","crl sign"]' true >"$WORK/team.json"
post /v1/certificaterequests "$WORK/team.json"
check "Ember issues team-a's sub-CA under the policy team-subca (201)" test "$CODE" = 201 || {
  messages "$BODY" | sed 's/^/#   /'
  exit 1
}
chain_out "$BODY" "$WORK/team"
sub="$WORK/team.leaf.pem"
check "... with the policy's pathLen 0 (the CSR asked for none)" \
  bash -c 'openssl x509 -in "$1" -noout -ext basicConstraints | grep -qx " *CA:TRUE, pathlen:0"' _ "$sub"
check "... and exactly the requested nameConstraints, critical" test \
  "$(openssl x509 -in "$sub" -noout -ext nameConstraints | sed 's/^ *//' | paste -sd'|')" \
  = "X509v3 Name Constraints: critical|Permitted:|DNS:team-a.example.com|IP:10.1.0.0/255.255.0.0|Excluded:|DNS:secret.team-a.example.com"

# sign_leaf NAME DNS ISSUER_CERT ISSUER_KEY [CA]: a leaf (or with CA, a CA) for DNS signed by
# the issuer with the openssl CLI, into $WORK/NAME.{key,crt}.
sign_leaf() {
  local ext="$WORK/$1.ext"
  make_csr "$WORK/$1" -subj "/CN=$2"
  if [ -n "${5:-}" ]; then
    printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >"$ext"
  else
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >"$ext"
  fi
  printf 'subjectAltName=DNS:%s\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' "$2" >>"$ext"
  openssl x509 -req -in "$WORK/$1.csr" -CA "$3" -CAkey "$4" -CAcreateserial -days 7 \
    -extfile "$ext" -out "$WORK/$1.crt" 2>/dev/null
}
sign_leaf inside api.team-a.example.com "$sub" "$WORK/team.key"
sign_leaf outside api.team-b.example.com "$sub" "$WORK/team.key"
sign_leaf excluded secret.team-a.example.com "$sub" "$WORK/team.key"
sign_leaf deeper deeper.team-a.example.com "$sub" "$WORK/team.key" ca
sign_leaf belowdeep x.deeper.team-a.example.com "$WORK/deeper.crt" "$WORK/deeper.key"
check "the sub-CA (and the CA below it) signed the five test certificates with openssl" \
  test -s "$WORK/inside.crt" -a -s "$WORK/outside.crt" -a -s "$WORK/excluded.crt" -a -s "$WORK/deeper.crt" -a -s "$WORK/belowdeep.crt"

# The untrusted part of each chain: the sub-CA and the CAs above it that Ember returned.
cat "$WORK/team.chain.pem" >"$WORK/untrusted.pem"
cat "$WORK/team.chain.pem" "$WORK/deeper.crt" >"$WORK/untrusted-deep.pem"

# ossl_verify LEAF UNTRUSTED: openssl's verdict, "ok" or its error line.
ossl_verify() {
  local out
  if out=$(openssl verify -x509_strict -CAfile "$WORK/team.ca.pem" -untrusted "$2" "$1" 2>&1); then
    echo ok
  else
    printf '%s\n' "$out" | grep -m1 -i 'error' || echo "failed: $out"
  fi
}
check "openssl -x509_strict: the leaf inside team-a.example.com verifies" \
  test "$(ossl_verify "$WORK/inside.crt" "$WORK/untrusted.pem")" = ok
v=$(ossl_verify "$WORK/outside.crt" "$WORK/untrusted.pem")
check "openssl -x509_strict: the leaf outside it fails, on the permitted subtree ($v)" \
  bash -c '[[ "$1" == *"permitted subtree violation"* ]]' _ "$v"
v=$(ossl_verify "$WORK/excluded.crt" "$WORK/untrusted.pem")
check "openssl -x509_strict: the leaf in the excluded subtree fails ($v)" \
  bash -c '[[ "$1" == *"excluded subtree violation"* ]]' _ "$v"
v=$(ossl_verify "$WORK/belowdeep.crt" "$WORK/untrusted-deep.pem")
check "openssl -x509_strict: a leaf under a CA below the pathLen-0 sub-CA fails ($v)" \
  bash -c '[[ "$1" == *"path length constraint exceeded"* ]]' _ "$v"

if [ ! -x /usr/local/go/bin/go ]; then
  skip "Go's crypto/x509 half: /usr/local/go/bin/go is not installed (the openssl half ran)"
  exit 0
fi
(. test/e2e/lib.sh && e2e_go_env && cd test/e2e/tools/x509verify && go build -o "$WORK/x509verify" .) \
  >"$WORK/go-build.log" 2>&1
check "build test/e2e/tools/x509verify with /usr/local/go/bin/go" test -x "$WORK/x509verify" || {
  sed 's/^/#   /' "$WORK/go-build.log"
  exit 1
}
# go_verify LEAF UNTRUSTED DNS: Go's verdict, "ok" or "error: ...".
go_verify() {
  "$WORK/x509verify" -roots "$WORK/team.ca.pem" -untrusted "$2" -leaf "$1" -dns "$3" 2>&1
}
check "Go x509.Verify: the leaf inside team-a.example.com verifies" \
  test "$(go_verify "$WORK/inside.crt" "$WORK/untrusted.pem" api.team-a.example.com)" = ok
v=$(go_verify "$WORK/outside.crt" "$WORK/untrusted.pem" api.team-b.example.com)
check "Go x509.Verify: the leaf outside it fails, on the name constraint ($v)" \
  bash -c '[[ "$1" == "error: "*"not permitted by any constraint"* ]]' _ "$v"
v=$(go_verify "$WORK/excluded.crt" "$WORK/untrusted.pem" secret.team-a.example.com)
check "Go x509.Verify: the leaf in the excluded subtree fails ($v)" \
  bash -c '[[ "$1" == "error: "*"excluded by constraint"* ]]' _ "$v"
v=$(go_verify "$WORK/belowdeep.crt" "$WORK/untrusted-deep.pem" x.deeper.team-a.example.com)
check "Go x509.Verify: a leaf under a CA below the pathLen-0 sub-CA fails ($v)" \
  bash -c '[[ "$1" == "error: "*"path length constraint"* ]]' _ "$v"
