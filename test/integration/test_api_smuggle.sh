#!/usr/bin/env bash
# test_api_smuggle.sh -- request smuggling (RFC 9112 sections 6.3 and 5.1) on the signing API,
# over plain HTTP and HTTPS: request 1 frames its body ambiguously (two Content-Lengths,
# Content-Length with Transfer-Encoding, white space before a colon, chunked not last, an
# unknown coding, HTTP/1.1 without Host) and a complete signing request hides where its body
# would be. Ember answers request 1 with 400 or 501, closes the connection, and never signs the
# hidden request (the audit log has no line for it, no more certificates are counted).
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh

make_ca "$WORK/ca"
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$WORK/srv.key" -out "$WORK/srv.crt" 2>/dev/null

make_csr "$WORK/good" -subj /CN=s.example.com -addext subjectAltName=DNS:s.example.com

# issued_count: certificates counted as issued on $METRICS (0 when none yet).
issued_count() {
  curl -s "$METRICS/metrics" | awk '/^ember_certificaterequests_total\{outcome="issued"\}/ {n=$2} END {print n+0}'
}

# run_cases LABEL [--tls CA]: every case on one fresh connection each, against $API_PORT.
run_cases() {
  local label=$1; shift
  local case want line n=0 before after name
  # First a request that is signed: the audit log then has lines, so that "no audit line for
  # the hidden request" below looks at a log that records requests.
  sign_fine "$label" "fine-$label-before" "$@"
  # case:status -- RFC 9112: conflicting framing 400, an unknown coding 501.
  for case in cl-cl:400 cl-cl-rev:400 cl-te:400 te-cl:400 te-space:400 te-space-only:400 \
      te-chunked-identity:400 te-chunked-blank:400 te-chunked-comma:400 te-comma-chunked:400 te-two-lines:400 te-xchunked:501 te-gzip-chunked:501 no-host:400; do
    want=${case#*:}; case=${case%%:*}
    n=$((n + 1))
    name="smuggled-$label-$n"
    cr_json "$name" default "$WORK/good.csr" ClusterIssuer test-ca web "" '[]' >"$WORK/$name.json"
    before=$(issued_count)
    line=$(python3 test/integration/smuggle.py 127.0.0.1 "$API_PORT" "$case" "$WORK/$name.json" "$@")
    after=$(issued_count)
    check "$label $case: $want and the connection closed (got $line)" \
      test "$line" = "status=$want closed=yes answers=1"
    check "$label $case: the hidden request is not signed ($before -> $after issued)" \
      test "$after" = "$before"
    check "$label $case: no audit line for the hidden request" \
      absent -F "\"$name\"" "$AUDIT"
  done
  # The server still signs a well-formed request (the checks are not too strict).
  sign_fine "$label" "fine-$label-after" "$@"
}

# sign_fine LABEL NAME [--tls CA]: a well-formed request NAME is signed and has its audit line.
sign_fine() {
  local label=$1 name=$2 code before after curl_tls=()
  shift 2
  [ $# -gt 0 ] && curl_tls=(--cacert "$2")
  cr_json "$name" default "$WORK/good.csr" ClusterIssuer test-ca web "" '[]' >"$WORK/fine.json"
  before=$(issued_count)
  code=$(curl -s -o /dev/null -w '%{http_code}' "${curl_tls[@]}" -X POST \
    -H 'Content-Type: application/json' --data-binary "@$WORK/fine.json" "$SCHEME://127.0.0.1:$API_PORT/v1/certificaterequests")
  after=$(issued_count)
  check "$label: a well-formed request $name is signed ($code; $before -> $after issued)" \
    test "$code" = 201 -a "$after" = $((before + 1))
  check "$label: ... and the audit log has its line" grep -qF "\"$name\"" "$AUDIT"
}

AUDIT=$WORK/audit-http.log
start_ember smuggle --manifests test/integration/manifests --manifests "$WORK/ca/secret.yaml" \
  --audit-log "$AUDIT" || exit 1
API_PORT=${API##*:}; SCHEME=http
run_cases http
kill "$EMBER_PID"; wait "$EMBER_PID" 2>/dev/null

AUDIT=$WORK/audit-https.log
start_ember smuggle-tls --manifests test/integration/manifests --manifests "$WORK/ca/secret.yaml" \
  --audit-log "$AUDIT" --api-tls-cert-file "$WORK/srv.crt" --api-tls-key-file "$WORK/srv.key" || exit 1
API_PORT=${API##*:}; SCHEME=https
run_cases https --tls "$WORK/srv.crt"
check "no private key in the logs" no_secrets_in "$LOG" "$WORK/ca/subca.key" "$WORK/srv.key"
