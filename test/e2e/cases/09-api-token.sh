# Case 9: the signing API with a real token: a TokenRequest for a service account with audience
# `ember`, checked by Ember (--api-token-auth) with a real TokenReview; a token for another
# audience is refused, and so is an account the policy's requesters do not name.
. "$(dirname "$0")/common.sh"

NS=api
API=$(cat "$E2E_DIR/ember-0.api")
ca_issuer $NS local-ca || not_ok "the Issuer $NS/local-ca is created"
kc -n $NS create serviceaccount builder >/dev/null
kc -n $NS create serviceaccount other >/dev/null
dns_policy api-builder $NS '[a-z]+\.api\.svc' $NS/builder || not_ok "the IssuancePolicy api-builder applies"
check "the Issuer $NS/local-ca becomes Ready" wait_cond 30 issuers.ember.issuer.dev $NS local-ca Ready True
check "the IssuancePolicy api-builder becomes Ready" wait_cond 30 issuancepolicies.ember.issuer.dev "" api-builder Ready True
make_csr "$CASE_DIR/c" -subj "/CN=c.api.svc" -addext "subjectAltName=DNS:c.api.svc"
cr_json c $NS "$CASE_DIR/c.csr" Issuer local-ca api-builder >"$CASE_DIR/c.json"
# post TOKEN: POST /v1/certificaterequests with the token; sets CODE, BODY.
post() {
  BODY="$CASE_DIR/body.$RANDOM"
  CODE=$(curl -s -o "$BODY" -w '%{http_code}' -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' --data-binary @"$CASE_DIR/c.json" "$API/v1/certificaterequests")
}

# The README's command for a token, as written (kubectl create token SA --audience ember).
TOKEN=$(kc create token builder -n $NS --audience ember --duration 10m)
reviews0=$(audit_count "verb == 'create' and o.get('resource') == 'tokenreviews' and u == '$EMBER_USER'")
post "$TOKEN"
check "a token of $NS/builder for audience ember gets a certificate (201; got $CODE)" test "$CODE" = 201
python3 -c 'import json,sys,base64; d=json.load(open(sys.argv[1])); open(sys.argv[2],"wb").write(base64.b64decode(d["status"]["certificate"]))' "$BODY" "$CASE_DIR/c.chain" 2>/dev/null
check "... its chain verifies to the Issuer's root" \
  openssl verify -x509_strict -CAfile "$CASE_DIR/local-ca-ca/root.crt" -untrusted "$CASE_DIR/c.chain" "$CASE_DIR/c.chain"
reviews1=$(audit_count "verb == 'create' and o.get('resource') == 'tokenreviews' and u == '$EMBER_USER'")
check "... Ember asked the real API server with a TokenReview (audit log: $reviews0 -> $reviews1)" test "$reviews1" -gt "$reviews0"

OTHER_AUD=$(kc create token builder -n $NS --audience https://kubernetes.default.svc.cluster.local --duration 10m)
post "$OTHER_AUD"
check "a token of the same account for the API server's audience is refused (401; got $CODE)" test "$CODE" = 401
post "not-a-token"
check "a made-up token is refused (401; got $CODE)" test "$CODE" = 401
post "$(kc create token other -n $NS --audience ember --duration 10m)"
check "a valid token of $NS/other, which the policy's requesters do not name, is refused (403; got $CODE)" test "$CODE" = 403
check "... the answer names the caller" grep -q "system:serviceaccount:$NS:other" "$BODY"
kc -n $NS delete serviceaccount builder >/dev/null
sleep 11 # past the chart's token cache TTL (10s)
post "$TOKEN"
check "once its service account is deleted, the token is refused (401; got $CODE)" test "$CODE" = 401
