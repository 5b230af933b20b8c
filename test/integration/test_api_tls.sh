#!/usr/bin/env bash
# test_api_tls.sh -- HTTPS on the signing API through the real binary: ECDSA and RSA server keys,
# TLS 1.2 and 1.3 (1.1 refused), a renewed certificate served without a restart (a Secret's
# ..data symlink swap, and a plain rename), a bad renewal kept out with one warning; with
# --api-client-ca-file, clients are asked for a certificate, answered at the HTTP level either
# way, and the verdict (trusted, self-signed, other CA, expired, no clientAuth, rotated CA) is
# what the debug log says; start-up refusals; probes and metrics stay plain HTTP.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh

"$EMBER_BIN" dev-ca --output "$WORK/dev-ca.yaml" 2>"$WORK/devca.err"
PKI=$WORK/pki
mkdir -p "$PKI"

# ---- certificates ----------------------------------------------------------------------------
# The server's: root -> intermediate -> sub-CA (lib.sh); clients trust the root only, so the
# served chain must carry the sub-CA and the intermediate.
make_ca "$PKI/srv"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n' >"$PKI/server.ext"

# server_cert DIR ec|rsa: DIR/tls.key and DIR/tls.crt (leaf, sub-CA, intermediate) for
# 127.0.0.1, with a random serial; prints the serial as openssl prints it.
server_cert() {
  local d=$1 newkey
  mkdir -p "$d"
  if [ "$2" = rsa ]; then newkey=(-newkey rsa:2048); else newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); fi
  openssl req -new "${newkey[@]}" -nodes -subj "/CN=localhost" -keyout "$d/tls.key" \
    -out "$d/tls.csr" 2>/dev/null
  openssl x509 -req -in "$d/tls.csr" -CA "$PKI/srv/subca.crt" -CAkey "$PKI/srv/subca.key" \
    -set_serial "0x$(openssl rand -hex 12)" -days 30 -extfile "$PKI/server.ext" \
    -out "$d/leaf.crt" 2>/dev/null
  cat "$d/leaf.crt" "$PKI/srv/tls.crt" >"$d/tls.crt"
  openssl x509 -in "$d/leaf.crt" -noout -serial | cut -d= -f2
}

# root_ca NAME: a self-signed EC CA, PKI/NAME.{key,crt}.
root_ca() {
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/CN=$1" -keyout "$PKI/$1.key" -out "$PKI/$1.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
}

# client_cert NAME CA DAYS EKU: PKI/NAME.{key,crt}, a SPIFFE URI SAN, signed by PKI/CA (DAYS -1:
# expired yesterday).
client_cert() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -keyout "$PKI/$1.key" -out "$PKI/$1.csr" 2>/dev/null
  printf 'subjectAltName=URI:spiffe://cluster.local/ns/team-a/sa/%s\nextendedKeyUsage=%s\n' "$1" "$4" >"$PKI/$1.ext"
  openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.crt" -CAkey "$PKI/$2.key" \
    -set_serial "0x$(openssl rand -hex 8)" -days "$3" -extfile "$PKI/$1.ext" -out "$PKI/$1.crt" 2>/dev/null
}

root_ca "Client CA One"
root_ca "Client CA Two"
mv "$PKI/Client CA One.crt" "$PKI/ca1.crt"; mv "$PKI/Client CA One.key" "$PKI/ca1.key"
mv "$PKI/Client CA Two.crt" "$PKI/ca2.crt"; mv "$PKI/Client CA Two.key" "$PKI/ca2.key"
client_cert builder ca1 30 clientAuth
client_cert stranger ca2 30 clientAuth
client_cert expired ca1 -1 clientAuth
client_cert webserver ca1 30 serverAuth
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=selfie" -keyout "$PKI/selfie.key" -out "$PKI/selfie.crt" \
  -addext "extendedKeyUsage=clientAuth" -addext "subjectAltName=URI:spiffe://cluster.local/ns/team-a/sa/selfie" 2>/dev/null

make_csr "$WORK/app" -subj "/CN=app.example.com" -addext "subjectAltName=DNS:app.example.com"
cr_json app default "$WORK/app.csr" ClusterIssuer dev-ca web 2160h \
  '["digital signature","key encipherment","server auth"]' >"$WORK/cr.json"

# ---- helpers -----------------------------------------------------------------------------------
# start_tls NAME ARGS...: Ember over HTTPS with the standalone examples; sets $HP (127.0.0.1:PORT
# of the API) and $API_S (its https:// URL).
start_tls() {
  local name=$1; shift
  start_ember "$name" --manifests examples/standalone --manifests "$WORK/dev-ca.yaml" \
    --api-issuer ClusterIssuer/dev-ca "$@" || return 1
  HP="127.0.0.1:${API##*:}"
  API_S="https://$HP"
}

# post_s PATH FILE [CURL OPTIONS...]: POSTs over HTTPS trusting the server's root; sets $CODE and
# $BODY. CODE 000 means no HTTP answer (the TLS handshake failed).
post_s() {
  local path=$1 file=$2; shift 2
  BODY="$WORK/body.$RANDOM"
  CODE=$(curl -s -o "$BODY" -w '%{http_code}' --cacert "$PKI/srv/root.crt" "$@" -X POST \
    -H "Content-Type: application/json" --data-binary "@$file" "$API_S$path")
}

# served_serial: the serial of the certificate a new connection is served.
served_serial() {
  openssl s_client -connect "$HP" </dev/null 2>/dev/null | openssl x509 -noout -serial | cut -d= -f2
}

# handshake [S_CLIENT OPTIONS...]: the output of openssl s_client for one new connection.
handshake() {
  openssl s_client -connect "$HP" "$@" </dev/null 2>&1
}
# handshake_has TEXT [S_CLIENT OPTIONS...]: that output has a line containing TEXT.
handshake_has() {
  local text=$1; shift
  handshake "$@" | grep -qF -- "$text"
}
# asks_for_a_certificate [S_CLIENT OPTIONS...]: the server sent a CertificateRequest.
asks_for_a_certificate() {
  handshake -msg "$@" | grep -q '^<<< TLS.*, CertificateRequest'
}
# no_certificate_request [S_CLIENT OPTIONS...]: the handshake completes without one.
no_certificate_request() {
  local out="$WORK/handshake.$RANDOM"
  handshake -msg "$@" >"$out"
  grep -qE 'Cipher is [A-Z0-9]' "$out" && absent -- '^<<< TLS.*, CertificateRequest' "$out"
}
# served_key_is ALGORITHM: the served certificate's public key algorithm, as openssl names it.
served_key_is() {
  openssl s_client -connect "$HP" </dev/null 2>/dev/null | openssl x509 -noout -text |
    grep -qF "Public Key Algorithm: $1"
}

# tls_version [CURL OPTIONS...]: the TLS version curl negotiated for a GET of /healthz.
tls_version() {
  curl -sv -o /dev/null --cacert "$PKI/srv/root.crt" "$@" "$API_S/healthz" 2>&1 |
    sed -n 's/^\* SSL connection using \(TLSv[0-9.]*\).*/\1/p'
}

# log_since N TEXT: some line of $LOG after its first N lines contains TEXT.
log_since() { tail -n +"$(($1 + 1))" "$LOG" | grep -qF -- "$2"; }
log_lines() { wc -l <"$LOG"; }
count_in_log() { grep -cF -- "$1" "$LOG"; }

# fingerprint CRT: "sha256:<lowercase hex>" of the certificate's DER, as Ember logs it.
fingerprint() {
  echo "sha256:$(openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr 'A-F' 'a-f')"
}

# secret_swap DIR SRC: what the kubelet does for a Secret update: a new timestamped directory,
# then DIR/..data (which tls.crt and tls.key point through) renamed to point at it.
secret_swap() {
  local d=$1 v
  v="..$(date +%s%N)"
  mkdir "$d/$v"
  cp "$2/tls.crt" "$2/tls.key" "$d/$v/"
  ln -s "$v" "$d/..data_tmp"
  mv -T "$d/..data_tmp" "$d/..data"
}

# ---- 1. ECDSA server key, a Secret-like mount, a pool of threads ------------------------------
SECRET=$WORK/secret
mkdir -p "$SECRET"
ec1=$(server_cert "$PKI/ec1" ec)
secret_swap "$SECRET" "$PKI/ec1"
ln -s ..data/tls.crt "$SECRET/tls.crt"
ln -s ..data/tls.key "$SECRET/tls.key"
start_tls ecdsa --api-tls-cert-file "$SECRET/tls.crt" --api-tls-key-file "$SECRET/tls.key" \
  --http-threads 4 || exit 1
EC_PID=$EMBER_PID

post_s /v1/certificaterequests "$WORK/cr.json"
check "ecdsa: a CertificateRequest is signed over HTTPS (201)" test "$CODE" = 201
check "ecdsa: the served key is ECDSA" served_key_is id-ecPublicKey
check "ecdsa: the chain to the root is served (sub-CA and intermediate)" \
  test "$(handshake -showcerts | grep -c 'BEGIN CERTIFICATE')" = 3
check "ecdsa: the served serial is the file's" test "$(served_serial)" = "$ec1"
check "ecdsa: TLS 1.3 is negotiated" test "$(tls_version --tlsv1.3)" = TLSv1.3
check "ecdsa: TLS 1.2 is negotiated when the client stops there" test "$(tls_version --tls-max 1.2)" = TLSv1.2
# TLS 1.1: the client must be able to speak it (OpenSSL's security level 0), so its refusal is
# the server's. Control: the same client against `openssl s_server -tls1_1`.
ctl_port=$(free_port)
openssl s_server -accept "127.0.0.1:$ctl_port" -cert "$PKI/ec1/leaf.crt" -key "$PKI/ec1/tls.key" \
  -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' -www >/dev/null 2>&1 &
CTL_PID=$!
PIDS+=("$CTL_PID")
ctl_ok=1
for _ in $(seq 1 50); do
  out=$(openssl s_client -connect "127.0.0.1:$ctl_port" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null 2>&1)
  grep -q 'Protocol  *: TLSv1.1$' <<<"$out" && grep -qE 'Cipher is [A-Z0-9]' <<<"$out" && { ctl_ok=0; break; }
  sleep 0.1
done
kill "$CTL_PID" 2>/dev/null
check "control: this openssl client speaks TLS 1.1 to a server that allows it" test "$ctl_ok" = 0
# old_tls_refused S_CLIENT_VERSION_FLAG: the handshake fails (s_client reports no cipher).
old_tls_refused() {
  local out="$WORK/handshake.$RANDOM"
  handshake "$1" -cipher 'DEFAULT:@SECLEVEL=0' >"$out"
  grep -q 'Cipher is (NONE)' "$out" && absent -E 'Cipher is [A-Z0-9]' "$out"
}
check "ecdsa: TLS 1.1 is refused" old_tls_refused -tls1_1
check "ecdsa: TLS 1.0 is refused" old_tls_refused -tls1
check "ecdsa: plain HTTP on the HTTPS port gets no HTTP answer" \
  test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$HP/healthz")" = 000
check "ecdsa: no client certificate is asked for without --api-client-ca-file (TLS 1.3)" \
  no_certificate_request -tls1_3
check "ecdsa: nor with TLS 1.2" no_certificate_request -tls1_2
check "probes stay plain HTTP" curl -fs -o /dev/null "$PROBES/readyz"
check "metrics stay plain HTTP" bash -c 'curl -fs "$1/metrics" | grep -q ember_http_requests_total' _ "$METRICS"

# A renewed certificate: the Secret's ..data swapped; the next connection gets it.
ec2=$(server_cert "$PKI/ec2" ec)
n=$(log_lines)
secret_swap "$SECRET" "$PKI/ec2"
sleep 1.2
check "renewal: a new connection is served the renewed certificate" test "$(served_serial)" = "$ec2"
check "renewal: without a restart" kill -0 "$EC_PID"
check "renewal: logged with the new serial" log_since "$n" "now serving the certificate of --api-tls-cert-file $SECRET/tls.crt: serial"
post_s /v1/certificaterequests "$WORK/cr.json"
check "renewal: requests still signed (201)" test "$CODE" = 201

# A bad renewal (a key that is not the certificate's): the previous pair stays, one warning.
server_cert "$PKI/ec3" ec >/dev/null
cp "$PKI/ec1/tls.key" "$PKI/ec3/tls.key"
warning="the server certificate or key changed on disk but cannot be used"
w0=$(count_in_log "$warning")
secret_swap "$SECRET" "$PKI/ec3"
sleep 1.2
check "bad renewal: the previous certificate is still served" test "$(served_serial)" = "$ec2"
post_s /v1/certificaterequests "$WORK/cr.json"
check "bad renewal: requests still signed (201)" test "$CODE" = 201
sleep 1.2
served_serial >/dev/null
check "bad renewal: one warning, naming the problem" \
  bash -c '[ "$(grep -cF "$1" "$2")" = "$(($3 + 1))" ] && grep -F "$1" "$2" | grep -q "is not the key of the first certificate"' _ "$warning" "$LOG" "$w0"
# A good one after it is taken.
ec4=$(server_cert "$PKI/ec4" ec)
secret_swap "$SECRET" "$PKI/ec4"
sleep 1.2
check "renewal after a bad one: served" test "$(served_serial)" = "$ec4"

# Many handshakes at once while the certificate changes: every one completes.
server_cert "$PKI/ec5" ec >/dev/null
for i in $(seq 1 16); do
  curl -s -o /dev/null -w '%{http_code}\n' --cacert "$PKI/srv/root.crt" "$API_S/healthz" >"$WORK/burst.$i" &
  [ "$i" = 8 ] && secret_swap "$SECRET" "$PKI/ec5"
done
wait_bursts() { local i; for i in $(seq 1 16); do [ "$(cat "$WORK/burst.$i" 2>/dev/null)" = 200 ] || return 1; done; }
for _ in $(seq 1 50); do wait_bursts && break; sleep 0.1; done
check "16 concurrent handshakes during a renewal all get 200" wait_bursts
check "no key material in the log" no_secrets_in "$LOG" "$PKI"/ec*/tls.key
kill "$EC_PID"; wait "$EC_PID" 2>/dev/null

# ---- 2. RSA server key, renewed by renaming the files over, a thread per connection ------------
RSA=$WORK/rsa
rsa1=$(server_cert "$RSA" rsa)
start_tls rsa --api-tls-cert-file "$RSA/tls.crt" --api-tls-key-file "$RSA/tls.key" \
  --http-threads 0 || exit 1
RSA_PID=$EMBER_PID
post_s /v1/certificaterequests "$WORK/cr.json"
check "rsa: a CertificateRequest is signed over HTTPS (201)" test "$CODE" = 201
check "rsa: the served key is RSA" served_key_is rsaEncryption
check "rsa: TLS 1.3 is negotiated" test "$(tls_version --tlsv1.3)" = TLSv1.3
check "rsa: TLS 1.2 is negotiated (ECDHE-RSA)" bash -c '[ "$1" = TLSv1.2 ] && curl -sv -o /dev/null --cacert "$2" --tls-max 1.2 "$3/healthz" 2>&1 | grep -q "ECDHE-RSA"' _ "$(tls_version --tls-max 1.2)" "$PKI/srv/root.crt" "$API_S"
check "rsa: the served serial is the file's" test "$(served_serial)" = "$rsa1"
rsa2=$(server_cert "$PKI/rsa2" rsa)
cp "$PKI/rsa2/tls.crt" "$RSA/tls.crt.new"
cp "$PKI/rsa2/tls.key" "$RSA/tls.key.new"
mv -f "$RSA/tls.key.new" "$RSA/tls.key"
mv -f "$RSA/tls.crt.new" "$RSA/tls.crt"
sleep 1.2
check "rsa renewal (rename over): served on the next connection" test "$(served_serial)" = "$rsa2"
check "rsa renewal: without a restart" kill -0 "$RSA_PID"
# A garbage certificate renamed over: kept out.
printf 'not a certificate\n' >"$RSA/tls.crt.new"
mv -f "$RSA/tls.crt.new" "$RSA/tls.crt"
sleep 1.2
check "rsa: a garbage certificate keeps the previous one" test "$(served_serial)" = "$rsa2"
check "rsa: and says why" bash -c 'grep -F "$1" "$2" | grep -q "not a PEM certificate"' _ "$warning" "$LOG"
kill "$RSA_PID"; wait "$RSA_PID" 2>/dev/null

# ---- 3. client certificates (--api-client-ca-file) ---------------------------------------------
cp "$PKI/ca1.crt" "$PKI/clientca.pem"
MT=$WORK/mtls
server_cert "$MT" ec >/dev/null
start_tls mtls --api-tls-cert-file "$MT/tls.crt" --api-tls-key-file "$MT/tls.key" \
  --api-client-ca-file "$PKI/clientca.pem" --log-level debug --http-threads 0 || exit 1
MT_PID=$EMBER_PID
check "mtls: the TLS 1.3 handshake asks for a client certificate" asks_for_a_certificate -tls1_3
check "mtls: the TLS 1.2 handshake asks for one too" asks_for_a_certificate -tls1_2
# It names no CA: the names would be those of the file at start, and Go's and GnuTLS's clients
# send only a certificate from a named CA, so a rotated CA would lock them out.
check "mtls: the certificate request names no CA (TLS 1.3)" \
  handshake_has "No client certificate CA names sent" -tls1_3
check "mtls: nor with TLS 1.2" handshake_has "No client certificate CA names sent" -tls1_2

# mtls_case NAME CURL_CERT_OPTS EXPECTED_LOG: an HTTP answer (not a TLS failure) and the debug
# line for this request.
mtls_case() {
  local name=$1 want=$3 n
  n=$(log_lines)
  # shellcheck disable=SC2086 # $2 is a list of curl options
  post_s /v1/certificaterequests "$WORK/cr.json" $2
  check "mtls: $name: an HTTP answer, not a TLS failure (got $CODE)" bash -c '[[ "$1" =~ ^[1-5][0-9][0-9]$ ]]' _ "$CODE"
  check "mtls: $name: the log says \"$want\"" log_since "$n" "$want"
}
mtls_case "no certificate" "" ": no client certificate"
mtls_case "trusted" "--cert $PKI/builder.crt --key $PKI/builder.key" \
  "client certificate verified (spiffe://cluster.local/ns/team-a/sa/builder, $(fingerprint "$PKI/builder.crt"))"
mtls_case "trusted, TLS 1.2" "--tls-max 1.2 --cert $PKI/builder.crt --key $PKI/builder.key" \
  "client certificate verified (spiffe://cluster.local/ns/team-a/sa/builder"
mtls_case "self-signed" "--cert $PKI/selfie.crt --key $PKI/selfie.key" \
  "client certificate not verified: the client certificate is not signed by a CA of --api-client-ca-file ($(fingerprint "$PKI/selfie.crt"))"
mtls_case "another CA" "--cert $PKI/stranger.crt --key $PKI/stranger.key" \
  "client certificate not verified: the client certificate is not signed by a CA of --api-client-ca-file"
mtls_case "expired" "--cert $PKI/expired.crt --key $PKI/expired.key" \
  "client certificate not verified: the client certificate expired at "
mtls_case "no clientAuth" "--cert $PKI/webserver.crt --key $PKI/webserver.key" \
  "client certificate not verified: the client certificate is not valid for client authentication"

# The client CA file rotated (renamed over): a new connection is checked against the new CAs.
cp "$PKI/ca2.crt" "$PKI/clientca.new"
mv -f "$PKI/clientca.new" "$PKI/clientca.pem"
sleep 1.2
mtls_case "rotated CA: the new CA's client" "--cert $PKI/stranger.crt --key $PKI/stranger.key" \
  "client certificate verified (spiffe://cluster.local/ns/team-a/sa/stranger"
mtls_case "rotated CA: the old CA's client" "--cert $PKI/builder.crt --key $PKI/builder.key" \
  "client certificate not verified: the client certificate is not signed by a CA of --api-client-ca-file"
check "rotated CA: without a restart" kill -0 "$MT_PID"
# A bad CA file: the previous CAs stay, one warning.
ca_warning="the client CA file changed on disk but cannot be used"
printf 'junk\n' >"$PKI/clientca.new"
mv -f "$PKI/clientca.new" "$PKI/clientca.pem"
sleep 1.2
mtls_case "bad CA file: the previous CAs still hold" "--cert $PKI/stranger.crt --key $PKI/stranger.key" \
  "client certificate verified (spiffe://cluster.local/ns/team-a/sa/stranger"
sleep 1.2
post_s /v1/certificaterequests "$WORK/cr.json"
check "bad CA file: one warning" test "$(count_in_log "$ca_warning")" = 1
check "mtls: no certificate in the log" absent -F "BEGIN CERTIFICATE" "$LOG"
check "mtls: no line of a client key in the log" no_secrets_in "$LOG" "$PKI"/builder.key "$PKI"/selfie.key "$MT/tls.key"
kill "$MT_PID"; wait "$MT_PID" 2>/dev/null

# ---- 4. start-up refusals ----------------------------------------------------------------------
# refuse NAME ERE ARGS...: the binary exits non-zero (not hanging) and its log matches ERE.
refuse() {
  local name=$1 text=$2; shift 2
  local p rc
  p=$(free_port)
  REFUSALS=$((${REFUSALS:-0} + 1))
  RLOG="$WORK/refuse.$REFUSALS.log"
  timeout 20 "$EMBER_BIN" --manifests examples/standalone --manifests "$WORK/dev-ca.yaml" \
    --api-bind-address "127.0.0.1:$p" --health-probe-bind-address 0 --metrics-bind-address 0 \
    "$@" >"$RLOG" 2>&1
  rc=$?
  check "refused: $name (exit $rc)" bash -c '[ "$1" != 0 ] && [ "$1" != 124 ] && grep -qE -- "$2" "$3"' _ "$rc" "$text" "$RLOG"
}
refuse "a client CA without a certificate" "--api-client-ca-file needs --api-tls-cert-file" \
  --api-client-ca-file "$PKI/ca1.crt"
# (main.c may refuse these flag combinations before the listener does, in its own words.)
refuse "a certificate without a key" "--api-tls-cert-file (needs|and) --api-tls-key-file" \
  --api-tls-cert-file "$MT/tls.crt"
refuse "a missing certificate file, named" "--api-tls-cert-file $WORK/nope.crt: cannot open it" \
  --api-tls-cert-file "$WORK/nope.crt" --api-tls-key-file "$MT/tls.key"
refuse "a key of another certificate" "is not the key of the first certificate of --api-tls-cert-file $MT/tls.crt" \
  --api-tls-cert-file "$MT/tls.crt" --api-tls-key-file "$PKI/ec1/tls.key"
refuse "a bad client CA file, named" "--api-client-ca-file $PKI/ec1/tls.key: not a list of PEM CA certificates" \
  --api-tls-cert-file "$MT/tls.crt" --api-tls-key-file "$MT/tls.key" --api-client-ca-file "$PKI/ec1/tls.key"
check "refused: no key material in that log" no_secrets_in "$RLOG" "$PKI/ec1/tls.key"

# Every run above ended cleanly: no sanitizer report (SANITIZER=... builds) in any log.
check "no sanitizer report in any Ember log" \
  absent -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WORK"/*.log
