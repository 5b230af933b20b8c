# vault.sh -- helpers for tests against the strict fake Vault (fake_vault.py). Source it after
# lib.sh and make_ca "$WORK/ca"; the fake's TLS identity is signed by that root. Its config
# file is $WORK/vault.json (paths in it are relative to $WORK).
FAKE_VAULT=test/integration/fake_vault.py
VAULT_ADMIN=vadmin-$RANDOM

# vault_start NAME [FAKE ARGS...]: a fake Vault on a free port; sets ${NAME}_URL. The extra
# arguments go to fake_vault.py (--static-token, --require-client-cert, --tls-cert/--tls-key to
# replace the default identity, whose SAN is IP:127.0.0.1); the readiness probe then presents
# $WORK/$VAULT_PROBE_CERT.{crt,key} when VAULT_PROBE_CERT is set, and reaches the fake as
# VAULT_PROBE_NAME (for a server certificate without the IP) when that is set.
vault_start() {
  if [ ! -s "$WORK/vsrv.crt" ]; then
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=fake-vault" \
      -keyout "$WORK/vsrv.key" -out "$WORK/vsrv.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$WORK/vsrv.ext"
    openssl x509 -req -in "$WORK/vsrv.csr" -CA "$WORK/ca/root.crt" -CAkey "$WORK/ca/root.key" \
      -CAcreateserial -days 2 -extfile "$WORK/vsrv.ext" -out "$WORK/vsrv.crt" 2>/dev/null
  fi
  local port
  port=$(free_port)
  local name=$1; shift
  (cd "$WORK" && exec python3 "$OLDPWD/$FAKE_VAULT" --config vault.json --port "$port" \
    --tls-cert vsrv.crt --tls-key vsrv.key --admin-token "$VAULT_ADMIN" "$@") 2>"$WORK/$name.log" &
  PIDS+=($!)
  printf -v "${name}_URL" 'https://127.0.0.1:%s' "$port"
  local probe=(-s --cacert "$WORK/ca/root.crt" -o /dev/null)
  [ -n "${VAULT_PROBE_CERT:-}" ] && probe+=(--cert "$WORK/$VAULT_PROBE_CERT.crt" --key "$WORK/$VAULT_PROBE_CERT.key")
  [ -n "${VAULT_PROBE_NAME:-}" ] && probe+=(--connect-to "$VAULT_PROBE_NAME:$port:127.0.0.1:$port")
  local host=${VAULT_PROBE_NAME:-127.0.0.1}
  for _ in $(seq 1 100); do
    curl "${probe[@]}" "https://$host:$port/v1/sys/health" && return 0
    sleep 0.1
  done
  echo "fake vault $name did not start"; cat "$WORK/$name.log"; return 1
}
# vault_admin URL NAME [JSON]: a control call of the fake (seal, unseal, fault, ...); prints the code.
vault_admin() {
  curl -s --cacert "$WORK/ca/root.crt" -o /dev/null -w '%{http_code}' -X POST \
    -H "X-Fake-Vault-Admin: $VAULT_ADMIN" --data-binary "${3:-{\}}" "$1/_fake/$2"
}
# vault_stats URL PYTHON-EXPR: the expression over d = the fake's stats object.
vault_stats() {
  curl -s --cacert "$WORK/ca/root.crt" -H "X-Fake-Vault-Admin: $VAULT_ADMIN" "$1/_fake/stats" >"$WORK/vstats.json"
  jqpy "$2" "$WORK/vstats.json"
}
# make_client_ca DIR: a self-signed CA for client certificates, DIR/clientca.{crt,key}.
make_client_ca() {
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=Test Client CA" -keyout "$1/clientca.key" -out "$1/clientca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
}
# make_client_cert DIR NAME [CA]: DIR/NAME.{crt,key}, a clientAuth certificate for CN=NAME
# signed by DIR/CA.{crt,key} (default clientca).
make_client_cert() {
  local ca=${3:-clientca}
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$1/$2.key" -out "$1/$2.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >"$1/$2.ext"
  openssl x509 -req -in "$1/$2.csr" -CA "$1/$ca.crt" -CAkey "$1/$ca.key" -CAcreateserial \
    -days 2 -extfile "$1/$2.ext" -out "$1/$2.crt" 2>/dev/null
}
