# vault-lib.sh -- the real HashiCorp Vault (test/e2e/vault, built from github.com/hashicorp/vault)
# for the Vault cases (10, 14, 15). Source common.sh first, then this. Each case starts its own
# Vault: in-memory storage, a TLS listener on 127.0.0.1 (a CA, kept when the case made it first
# to sign more certificates, and a serving certificate for IP 127.0.0.1 and DNS localhost),
# initialised with one unseal key, unsealed, and a file audit device.
#
#   vault_bin                  builds (cached) and puts the vault binary first on PATH; sets VAULT_BIN
#   vault_up NAME DIR [HCL]    the whole start above, printing a check line per step; HCL (text)
#                              is appended to the server's configuration (e.g. a second listener).
#                              Sets and exports VAULT_ADDR, VAULT_CACERT, VAULT_TOKEN (the root
#                              token); sets V (= DIR), VAULT_PORT, UNSEAL_KEY, ROOT_TOKEN, AUDIT
#                              (the audit log). The process is e2e_spawn'ed as NAME.
#   vault_health CODE          sys/health answers CODE (501 uninitialised, 503 sealed, 200 active)
#   vault_seal / vault_unseal  vault operator seal / unseal (with UNSEAL_KEY), waiting for 503 / 200
#   vault_stop NAME            stops the Vault this case started as NAME, by PID
#   vault_tls_ca DIR CN        a CA DIR/ca.{crt,key} (kept when DIR/ca.crt exists)
#   vault_tls_cert DIR NAME SAN EKU   a key and certificate DIR/NAME.{key,crt} signed by DIR's
#                              CA, subjectAltName SAN, EKU serverAuth or clientAuth

vault_bin() {
  VAULT_BIN=$(e2e_build vault) || { not_ok "build the real Vault (test/e2e/vault)"; return 1; }
  export PATH="$VAULT_BIN:$PATH"
  check "the vault binary on PATH is the one built from github.com/hashicorp/vault ($(vault version 2>/dev/null))" \
    test "$(command -v vault)" = "$VAULT_BIN/vault"
}

vault_tls_ca() {
  [ -s "$1/ca.crt" ] && return 0
  mkdir -p "$1"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$2" -keyout "$1/ca.key" -out "$1/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
  chmod 600 "$1/ca.key"
}

vault_tls_cert() {
  local d=$1 n=$2
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" \
    -keyout "$d/$n.key" -out "$d/$n.csr" 2>/dev/null || return 1
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$3" "$4" >"$d/$n.ext"
  openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/$n.ext" -out "$d/$n.crt" 2>/dev/null || return 1
  chmod 600 "$d/$n.key"
}

vault_health() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$VAULT_CACERT" "$VAULT_ADDR/v1/sys/health")" = "$1" ]
}

vault_up() {
  local name=$1 extra=${3:-} cport
  V=$2
  vault_tls_ca "$V" e2e-vault-tls-ca
  vault_tls_cert "$V" tls "IP:127.0.0.1,DNS:localhost" serverAuth
  VAULT_PORT=$(e2e_free_port)
  cport=$(e2e_free_port)
  export VAULT_ADDR="https://127.0.0.1:$VAULT_PORT" VAULT_CACERT="$V/ca.crt"
  unset VAULT_TOKEN
  cat >"$V/config.hcl" <<EOF
storage "inmem" {}
listener "tcp" {
  address       = "127.0.0.1:$VAULT_PORT"
  tls_cert_file = "$V/tls.crt"
  tls_key_file  = "$V/tls.key"
}
api_addr      = "$VAULT_ADDR"
cluster_addr  = "https://127.0.0.1:$cport"
disable_mlock = true
ui            = false
log_level     = "info"
$extra
EOF
  e2e_spawn "$name" "$E2E_DIR/$name.log" "$VAULT_BIN/vault" server -config "$V/config.hcl"
  check "vault server starts with a TLS listener on 127.0.0.1:$VAULT_PORT (sys/health 501: not initialised)" \
    e2e_wait 30 vault_health 501 || return 1
  vault operator init -key-shares=1 -key-threshold=1 -format=json >"$V/init.json" 2>"$V/init.err"
  chmod 600 "$V/init.json"
  UNSEAL_KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["unseal_keys_b64"][0])' "$V/init.json" 2>/dev/null)
  ROOT_TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["root_token"])' "$V/init.json" 2>/dev/null)
  check "vault operator init -key-shares=1 -key-threshold=1 gives an unseal key and a root token" \
    test -n "$UNSEAL_KEY" -a -n "$ROOT_TOKEN" || return 1
  vault operator unseal "$UNSEAL_KEY" >/dev/null
  check "vault operator unseal: Vault is active (sys/health 200)" e2e_wait 30 vault_health 200 || return 1
  export VAULT_TOKEN="$ROOT_TOKEN"
  AUDIT="$V/audit.log"
  check "vault audit enable file (every request and response, $AUDIT)" \
    vault audit enable file file_path="$AUDIT"
}

vault_seal() { vault operator seal >/dev/null && e2e_wait 30 vault_health 503; }
vault_unseal() { vault operator unseal "$UNSEAL_KEY" >/dev/null && e2e_wait 30 vault_health 200; }
vault_stop() { e2e_kill "$(e2e_pid "$1")"; }
