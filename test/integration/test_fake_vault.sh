#!/usr/bin/env bash
# test_fake_vault.sh -- self-test of test/integration/fake_vault.py with curl: the strict fake
# Vault must behave as vault.md says before Ember's Vault tests can trust it.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh
. test/integration/vault.sh # make_client_ca, make_client_cert

FAKE=test/integration/fake_vault.py
ADMIN=test-admin-$RANDOM
NS=ns1/team

# --- a throwaway PKI: root -> inter -> subca (lib.sh), inter is the Vault issuer ------------------
make_ca "$WORK/ca"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=fake-vault" \
  -keyout "$WORK/srv.key" -out "$WORK/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$WORK/srv.ext"
openssl x509 -req -in "$WORK/srv.csr" -CA "$WORK/ca/root.crt" -CAkey "$WORK/ca/root.key" \
  -CAcreateserial -days 2 -extfile "$WORK/srv.ext" -out "$WORK/srv.crt" 2>/dev/null

cat >"$WORK/vault.json" <<JSON
{
  "namespace": "$NS/",
  "approle": {
    "approle": {"roles": {
      "ember":   {"role_id": "rid-ember", "secret_ids": ["sid-ember", {"secret_id": "sid-twice", "num_uses": 2}],
                  "token_ttl": "60s", "token_max_ttl": "90s", "allowed_paths": ["pki_int/sign/*"]},
      "limited": {"role_id": "rid-limited", "secret_ids": ["sid-limited"], "token_num_uses": 3},
      "batch":   {"role_id": "rid-batch", "secret_ids": ["sid-batch"], "token_type": "batch"}
    }}
  },
  "pki": {
    "pki_int": {
      "ca_cert": "ca/inter.crt", "ca_key": "ca/inter.key", "chain": ["ca/root.crt"],
      "roles": {
        "web": {"allowed_domains": ["example.com"], "allow_subdomains": true, "allow_bare_domains": true,
                "allowed_uri_sans": ["spiffe://td/ns/*"], "max_ttl": "72h", "key_type": "ec"},
        "noip": {"allowed_domains": ["example.com"], "allow_subdomains": true, "allow_ip_sans": false,
                 "key_type": "any"}
      }
    }
  }
}
JSON

PORT=$(free_port)
URL="https://127.0.0.1:$PORT"
python3 "$FAKE" --config "$WORK/vault.json" --port "$PORT" --tls-cert "$WORK/srv.crt" \
  --tls-key "$WORK/srv.key" --admin-token "$ADMIN" 2>"$WORK/fake.log" &
FAKE_PID=$!
PIDS+=("$FAKE_PID")
up=no
for _ in $(seq 1 100); do
  curl -s --cacert "$WORK/ca/root.crt" -o /dev/null "$URL/v1/sys/health" && { up=yes; break; }
  sleep 0.1
done
check "fake vault starts with HTTPS on 127.0.0.1" [ "$up" = yes ]

# vreq METHOD PATH [BODY_FILE] [curl args...]: sets CODE, BODY (file) and HEADERS (file).
N=0
vreq() {
  local m=$1 p=$2 data=${3:-}; shift 3 2>/dev/null || shift $#
  N=$((N + 1)); BODY="$WORK/r$N.json"; HEADERS="$WORK/r$N.h"
  local args=(-s --cacert "$WORK/ca/root.crt" -o "$BODY" -D "$HEADERS" -w '%{http_code}' -X "$m")
  [ -n "$data" ] && args+=(--data-binary "@$data")
  [ "$m" = HEAD ] && args=(-s --cacert "$WORK/ca/root.crt" -o "$BODY" -D "$HEADERS" -w '%{http_code}' -I)
  CODE=$(curl "${args[@]}" "$@" "$URL$p")
}
nsh=(-H "X-Vault-Namespace: $NS")
admin() { curl -s --cacert "$WORK/ca/root.crt" -o /dev/null -w '%{http_code}' -X POST -H "$ADMIN_HDR" \
  --data-binary "${2:-{\}}" "$URL/_fake/$1"; }
ADMIN_HDR="X-Fake-Vault-Admin: $ADMIN"
j() { jqpy "$1" "$BODY" 2>/dev/null; }
has_error() { python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["errors"]; sys.exit(0 if sys.argv[2] in e else 1)' "$BODY" "$1"; }
login_json() { printf '{"role_id":"%s","secret_id":"%s"}' "$1" "$2" >"$WORK/login.json"; echo "$WORK/login.json"; }
login() { vreq POST /v1/auth/approle/login "$(login_json "$1" "$2")" "${nsh[@]}"; TOKEN=$(j 'd["auth"]["client_token"]'); }

# sign_json CSR [TTL]: the body cert-manager's Vault issuer sends (vault.md §2.3), all strings.
sign_json() {
  python3 - "$1" "${2:-2160h0m0s}" >"$WORK/sign.json" <<'PY'
import json, subprocess, sys
csr = open(sys.argv[1]).read()
txt = subprocess.run(["openssl", "req", "-noout", "-text", "-nameopt", "RFC2253"], input=csr.encode(), capture_output=True).stdout.decode()
cn = ""; dns = []; ips = []; uris = []
lines = txt.splitlines()
for i, l in enumerate(lines):
    s = l.strip()
    if s.startswith("Subject:"):
        cn = next((p[3:] for p in s[8:].strip().split(",") if p.startswith("CN=")), "")
    if s.startswith("X509v3 Subject Alternative Name"):
        for it in lines[i + 1].strip().split(", "):
            k, _, v = it.partition(":")
            {"DNS": dns, "IP Address": ips, "URI": uris}.get(k, []).append(v)
print(json.dumps({"common_name": cn, "alt_names": ",".join(dns), "ip_sans": ",".join(ips),
                  "uri_sans": ",".join(uris), "ttl": sys.argv[2], "csr": csr, "exclude_cn_from_sans": "true"}))
PY
  echo "$WORK/sign.json"
}

# --- health ------------------------------------------------------------------------------------
vreq GET /v1/sys/health
check "health: active node answers 200 with a JSON body" [ "$CODE" = 200 ] && [ "$(j 'd["sealed"]')" = False ]
vreq HEAD /v1/sys/health
check "health: HEAD answers 200" [ "$CODE" = 200 ]
vreq GET /v1/sys/health "" "${nsh[@]}"
check "health: a namespace header is refused (404): sys/health is root-only" [ "$CODE" = 404 ]

# --- login -------------------------------------------------------------------------------------
login rid-ember sid-ember
check "login: 200 with auth.client_token, service token, lease_duration = token_ttl" \
  [ "$CODE" = 200 ] && [ -n "$TOKEN" ] && [ "$(j 'd["auth"]["token_type"]')" = service ] &&
  [ "$(j 'd["auth"]["lease_duration"]')" = 60 ] && [ "$(j 'd["auth"]["renewable"]')" = True ] &&
  [ "$(j 'd["auth"]["orphan"]')" = True ] && [ "$(j 'd["data"]')" = None ]
EMBER_TOKEN=$TOKEN
vreq POST /v1/auth/approle/login "$(login_json rid-ember wrong)" "${nsh[@]}"
check "login: wrong secret_id -> 400 invalid role or secret ID" [ "$CODE" = 400 ] && has_error "invalid role or secret ID"
vreq POST /v1/auth/approle/login "$(login_json rid-nope sid-ember)" "${nsh[@]}"
check "login: unknown role_id -> 400 invalid role or secret ID" [ "$CODE" = 400 ] && has_error "invalid role or secret ID"
vreq POST /v1/auth/approle/login "$(login_json rid-ember sid-ember)"
check "namespace: login without X-Vault-Namespace -> 403" [ "$CODE" = 403 ]
vreq POST /v1/auth/approle/login "$(login_json rid-ember sid-ember)" -H "X-Vault-Namespace: ns1/other"
check "namespace: login with a wrong namespace -> 403" [ "$CODE" = 403 ]
vreq POST /v1/ns1/team/auth/approle/login "$(login_json rid-ember sid-ember)"
check "namespace: the path-prefix form /v1/ns1/team/... works" [ "$CODE" = 200 ]
printf 'role_id=x' >"$WORK/bad.json"
vreq POST /v1/auth/approle/login "$WORK/bad.json" "${nsh[@]}"
check "non-JSON body -> 400 failed to parse JSON input" [ "$CODE" = 400 ] && grep -q 'failed to parse JSON input' "$BODY"
vreq GET /v1/auth/approle/login "" "${nsh[@]}"
check "wrong method -> 405" [ "$CODE" = 405 ]

# secret_id_num_uses: sid-twice works twice, then never again.
login rid-ember sid-twice; c1=$CODE
login rid-ember sid-twice; c2=$CODE
login rid-ember sid-twice; c3=$CODE
check "secret_id num_uses=2: 200, 200, then 400" [ "$c1$c2$c3" = 200200400 ]

# --- sign --------------------------------------------------------------------------------------
make_csr "$WORK/ok" -subj "/CN=app.example.com" \
  -addext "subjectAltName=DNS:app.example.com,DNS:api.example.com,IP:10.0.0.1,URI:spiffe://td/ns/default/sa/app"
vreq POST /v1/pki_int/sign/web "$(sign_json "$WORK/ok.csr")" "${nsh[@]}" -H "X-Vault-Token: $EMBER_TOKEN"
check "sign: 200 with certificate, issuing_ca, ca_chain (incl. root), serial_number" \
  [ "$CODE" = 200 ] && [ "$(j 'len(d["data"]["ca_chain"])')" = 2 ] && [ "$(j 'd["lease_id"]')" = "" ] &&
  [ "$(j '":" in d["data"]["serial_number"]')" = True ]
j 'd["data"]["certificate"]' >"$WORK/leaf.pem"
j 'd["data"]["ca_chain"][0]' >"$WORK/chain0.pem"
check "sign: PEM values carry no trailing newline (as Vault trims them)" \
  [ "$(j 'd["data"]["certificate"].endswith("-----END CERTIFICATE-----")')" = True ]
verify_leaf() { openssl verify -x509_strict -CAfile "$WORK/ca/root.crt" -untrusted "$WORK/chain0.pem" "$WORK/leaf.pem" >/dev/null 2>&1; }
check "sign: leaf verifies with ca_chain up to the root" verify_leaf
check "sign: ttl 2160h is truncated to the role max_ttl 72h with Vault's warning" \
  [ "$(j 'any("longer than permitted maxTTL \"72h0m0s\"" in w for w in d["warnings"])')" = True ]
check "sign: notBefore is backdated 30 s and notAfter = now + 72h" python3 - "$WORK/leaf.pem" <<'PY'
import subprocess, sys, time, calendar
out = subprocess.run(["openssl", "x509", "-noout", "-startdate", "-enddate", "-in", sys.argv[1]], capture_output=True).stdout.decode()
d = dict(l.split("=", 1) for l in out.splitlines())
p = lambda s: calendar.timegm(time.strptime(s.strip(), "%b %d %H:%M:%S %Y GMT"))
now = time.time()
sys.exit(0 if 20 <= now - p(d["notBefore"]) <= 45 and abs(p(d["notAfter"]) - (now + 72 * 3600)) < 15 else 1)
PY
openssl x509 -in "$WORK/leaf.pem" -noout -text >"$WORK/leaf.txt"
check "sign: SANs from the CSR, role KU/EKU (server+client)" \
  grep -q 'DNS:api.example.com, DNS:app.example.com, IP Address:10.0.0.1, URI:spiffe://td/ns/default/sa/app' "$WORK/leaf.txt" &&
  grep -q 'TLS Web Server Authentication, TLS Web Client Authentication' "$WORK/leaf.txt"

make_csr "$WORK/evil" -subj "/CN=foo.evil.com"
vreq POST /v1/pki_int/sign/web "$(sign_json "$WORK/evil.csr")" "${nsh[@]}" -H "X-Vault-Token: $EMBER_TOKEN"
check "sign: CN outside the role -> 400 common name foo.evil.com not allowed by this role" \
  [ "$CODE" = 400 ] && has_error "common name foo.evil.com not allowed by this role"
make_csr "$WORK/san" -subj "/CN=ok.example.com" -addext "subjectAltName=DNS:ok.example.com,DNS:x.evil.com"
vreq POST /v1/pki_int/sign/web "$(sign_json "$WORK/san.csr")" "${nsh[@]}" -H "Authorization: Bearer $EMBER_TOKEN"
check "sign: SAN outside the role -> 400 subject alternate name x.evil.com not allowed by this role" \
  [ "$CODE" = 400 ] && has_error "subject alternate name x.evil.com not allowed by this role"
make_csr "$WORK/uri" -subj "/CN=ok.example.com" -addext "subjectAltName=URI:spiffe://other/x"
vreq POST /v1/pki_int/sign/web "$(sign_json "$WORK/uri.csr")" "${nsh[@]}" -H "X-Vault-Token: $EMBER_TOKEN"
check "sign: URI outside allowed_uri_sans -> 400" [ "$CODE" = 400 ] &&
  has_error "URI Subject Alternative Names were provided via CSR which are not valid for this role"
vreq POST /v1/pki_int/sign/noip "$(sign_json "$WORK/ok.csr")" "${nsh[@]}" -H "X-Vault-Token: $EMBER_TOKEN"
check "sign: IP SAN on a role with allow_ip_sans=false -> 400" [ "$CODE" = 400 ] && grep -q 'IP Subject Alternative Names are not allowed' "$BODY"
openssl req -new -newkey rsa:2048 -nodes -subj "/CN=rsa.example.com" -keyout "$WORK/rsa.key" -out "$WORK/rsa.csr" 2>/dev/null
vreq POST /v1/pki_int/sign/web "$(sign_json "$WORK/rsa.csr")" "${nsh[@]}" -H "X-Vault-Token: $EMBER_TOKEN"
check "sign: RSA CSR on an ec role -> 400 role requires keys of type ec" [ "$CODE" = 400 ] && has_error "role requires keys of type ec"
vreq POST /v1/pki_int/sign/web "$(sign_json "$WORK/ok.csr")" "${nsh[@]}"
check "sign: no token -> 403" [ "$CODE" = 403 ]
vreq POST /v1/pki_int/sign/web "$(sign_json "$WORK/ok.csr")" -H "X-Vault-Token: $EMBER_TOKEN"
check "namespace: sign without X-Vault-Namespace -> 403" [ "$CODE" = 403 ]
vreq POST /v1/pki_int/sign/nope "$(sign_json "$WORK/ok.csr")" "${nsh[@]}" -H "X-Vault-Token: $EMBER_TOKEN"
check "sign: unknown role -> 400 unknown role" [ "$CODE" = 400 ] && has_error "unknown role: nope"
vreq GET /v1/secret/data/x "" "${nsh[@]}" -H "X-Vault-Token: $EMBER_TOKEN"
check "ACL: a path outside the role's allowed_paths -> 403" [ "$CODE" = 403 ]

# --- token uses, lookup-self, renew-self, revoke-self ------------------------------------------
login rid-limited sid-limited
LIM=$TOKEN
check "the login answer says the token's uses (auth.num_uses 3, the role's token_num_uses, as Vault's HTTPAuth)" \
  [ "$(j 'd["auth"]["num_uses"]')" = 3 ]
admin state '{"login_num_uses": false}' >/dev/null
login rid-ember sid-ember
check "state login_num_uses=false: the login answer has no auth.num_uses (an older server)" \
  [ "$(j '"num_uses" in d["auth"]')" = False ] && [ -n "$TOKEN" ]
admin state '{"login_num_uses": true}' >/dev/null
vreq GET /v1/auth/token/lookup-self "" "${nsh[@]}" -H "X-Vault-Token: $LIM"
check "lookup-self spends a use (num_uses 3 -> 2)" [ "$CODE" = 200 ] && [ "$(j 'd["data"]["num_uses"]')" = 2 ]
vreq POST /v1/pki_int/sign/web "$(sign_json "$WORK/ok.csr")" "${nsh[@]}" -H "X-Vault-Token: $LIM"; c1=$CODE
vreq GET /v1/auth/token/lookup-self "" "${nsh[@]}" -H "X-Vault-Token: $LIM"; c2=$CODE; left=$(j 'd["data"]["num_uses"]')
vreq POST /v1/pki_int/sign/web "$(sign_json "$WORK/ok.csr")" "${nsh[@]}" -H "X-Vault-Token: $LIM"
check "num_uses exhausted: the lookup that spends the last use says -1, the 4th call -> 403" \
  [ "$c1$c2$left" = 200200-1 ] && [ "$CODE" = 403 ] && has_error "permission denied"

vreq POST /v1/auth/token/renew-self "" "${nsh[@]}" -H "X-Vault-Token: $EMBER_TOKEN"
check "renew-self: 200, lease_duration = token_ttl 60" [ "$CODE" = 200 ] && [ "$(j 'd["auth"]["lease_duration"]')" = 60 ]
echo '{"increment":"1h"}' >"$WORK/inc.json"
vreq POST /v1/auth/token/renew-self "$WORK/inc.json" "${nsh[@]}" -H "X-Vault-Token: $EMBER_TOKEN"
check "renew-self: increment 1h is capped by token_max_ttl 90s" \
  [ "$CODE" = 200 ] && [ "$(j 'd["auth"]["lease_duration"] <= 90')" = True ] && [ "$(j 'd["warnings"] is not None')" = True ]
login rid-batch sid-batch
vreq POST /v1/auth/token/renew-self "" "${nsh[@]}" -H "X-Vault-Token: $TOKEN"
check "renew-self: a batch token -> 400" [ "$CODE" = 400 ] && has_error "batch tokens cannot be renewed"

login rid-ember sid-ember
vreq POST /v1/auth/token/revoke-self "" "${nsh[@]}" -H "X-Vault-Token: $TOKEN"; c1=$CODE
vreq GET /v1/auth/token/lookup-self "" "${nsh[@]}" -H "X-Vault-Token: $TOKEN"
check "revoke-self: 204, then the token is refused with 403" [ "$c1" = 204 ] && [ "$CODE" = 403 ]

login rid-ember sid-ember
admin clock '{"advance_seconds": 120}' >/dev/null
vreq GET /v1/auth/token/lookup-self "" "${nsh[@]}" -H "X-Vault-Token: $TOKEN"
check "expiry: a token past its max TTL -> 403" [ "$CODE" = 403 ]

# --- sealed, standby, faults, control ------------------------------------------------------------
check "control: no admin header -> 403" [ "$(curl -s --cacert "$WORK/ca/root.crt" -o /dev/null -w '%{http_code}' -X POST "$URL/_fake/seal")" = 403 ]
admin seal >/dev/null
vreq POST /v1/auth/approle/login "$(login_json rid-ember sid-ember)" "${nsh[@]}"; c1=$CODE; sealed_ok=no
has_error "Vault is sealed" && sealed_ok=yes
vreq GET /v1/sys/health
check "sealed: login -> 503 Vault is sealed, health -> 503" [ "$c1" = 503 ] && [ "$sealed_ok" = yes ] && [ "$CODE" = 503 ]
vreq GET "/v1/sys/health?sealedcode=200"
check "health: sealedcode=200 overrides the code" [ "$CODE" = 200 ]
admin unseal >/dev/null

admin standby-on '{"active_addr": "https://active.example:8200"}' >/dev/null
vreq POST "/v1/pki_int/sign/web?x=1" "$(sign_json "$WORK/ok.csr")" "${nsh[@]}" -H "X-Vault-Token: $EMBER_TOKEN"
check "standby: 307 with Location to the active node, path kept" \
  [ "$CODE" = 307 ] && grep -qi '^Location: https://active.example:8200/v1/pki_int/sign/web?x=1' "$HEADERS"
vreq GET /v1/sys/health; c1=$CODE
vreq GET "/v1/sys/health?standbyok=true"
check "standby: health 429, 200 with standbyok=true" [ "$c1" = 429 ] && [ "$CODE" = 200 ]
admin standby-off >/dev/null
admin state '{"perf_standby": true}' >/dev/null
vreq GET /v1/sys/health; c1=$CODE
admin state '{"perf_standby": false, "dr_secondary": true}' >/dev/null
vreq GET /v1/sys/health; c2=$CODE
admin state '{"dr_secondary": false, "initialized": false}' >/dev/null
vreq GET /v1/sys/health; c3=$CODE
admin state '{"initialized": true}' >/dev/null
check "health: 473 perf standby, 472 DR secondary, 501 not initialized" [ "$c1$c2$c3" = 473472501 ]

admin fault '{"path": "/v1/sys/health", "count": 2, "status": 502, "errors": ["upstream"]}' >/dev/null
vreq GET /v1/sys/health; c1=$CODE
vreq GET /v1/sys/health; c2=$CODE
vreq GET /v1/sys/health; c3=$CODE
check "fault: the next 2 requests answer 502, then normal again" [ "$c1$c2$c3" = 502502200 ]
admin fault '{"path": "/v1/sys/health", "drop": true}' >/dev/null
curl -s --cacert "$WORK/ca/root.crt" -o /dev/null "$URL/v1/sys/health"; rc=$?
check "fault: drop closes the connection without an answer (curl exit 52)" [ "$rc" = 52 ]

admin revoke-secret-id '{"secret_id": "sid-ember"}' >/dev/null
login rid-ember sid-ember
check "control: a revoked secret_id -> 400 invalid role or secret ID" [ "$CODE" = 400 ]

head -c $((32 * 1024 * 1024 + 10)) /dev/zero >"$WORK/big.bin"
vreq POST /v1/auth/approle/login "$WORK/big.bin" "${nsh[@]}"
check "a body over 32 MiB is refused (413)" [ "$CODE" = 413 ]
rm -f "$WORK/big.bin"

# --- sign-intermediate (the Vault sub-CA mode; vault-subca.md §6.4) ------------------------------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=ignored" \
  -keyout "$WORK/sub.key" -out "$WORK/sub.csr" 2>/dev/null
# subreq TTL [extra JSON members]: POST pki_int/root/sign-intermediate with the batch role's token.
subreq() {
  python3 - "$WORK/sub.csr" "$1" "${2:-}" >"$WORK/subreq.json" <<'PY'
import json, sys
b = {"csr": open(sys.argv[1]).read(), "common_name": "Ember sub-CA pod-1", "ttl": sys.argv[2],
     "max_path_length": "0", "exclude_cn_from_sans": "true", "format": "pem", "use_csr_values": "false",
     "permitted_dns_domains": "example.com,.svc.cluster.local"}
b.update(json.loads(sys.argv[3] or "{}"))
print(json.dumps(b))
PY
  vreq POST /v1/pki_int/root/sign-intermediate "$WORK/subreq.json" "${nsh[@]}" -H "X-Vault-Token: $TOKEN"
  j 'd["data"]["certificate"]' >"$WORK/sub.pem"
}
login rid-batch sid-batch
subreq 24h
check "sign-intermediate: 200" [ "$CODE" = 200 ]
check "... CA:TRUE with the requested pathlen:0" grep -q 'CA:TRUE, pathlen:0' <(openssl x509 -in "$WORK/sub.pem" -noout -ext basicConstraints)
check "... critical DNS name constraints" \
  bash -c 'openssl x509 -in "$1" -noout -text | grep -A3 "Name Constraints: critical" | grep -q "DNS:.svc.cluster.local"' _ "$WORK/sub.pem"
check "... AKI = the parent's SKI" test "$(openssl x509 -in "$WORK/sub.pem" -noout -ext authorityKeyIdentifier | tail -n +2 | tr -d ' ')" = \
  "$(openssl x509 -in "$WORK/ca/inter.crt" -noout -ext subjectKeyIdentifier | tail -n +2 | tr -d ' ')"
check "... for the CSR's key" cmp -s <(openssl x509 -in "$WORK/sub.pem" -noout -pubkey) <(openssl req -in "$WORK/sub.csr" -noout -pubkey)
check "... no SAN (exclude_cn_from_sans)" test -z "$(openssl x509 -in "$WORK/sub.pem" -noout -ext subjectAltName 2>/dev/null)"
check "... ca_chain: the new certificate, the issuer, the root" \
  [ "$(j '[len(d["data"]["ca_chain"]), d["data"]["ca_chain"][0] == d["data"]["certificate"], d["data"]["issuing_ca"] == d["data"]["ca_chain"][1]]')" = "[3, true, true]" ]
check "... serial_number and expiration" [ "$(j 'd["data"]["expiration"] == int(d["data"]["expiration"]) and ":" in d["data"]["serial_number"]')" = True ]
subreq 24h '{"format":"der"}'
check "format der: the certificate as base64 DER, for the CSR's key" \
  cmp -s <(base64 -d "$WORK/sub.pem" | openssl x509 -inform der -noout -pubkey) <(openssl req -in "$WORK/sub.csr" -noout -pubkey)
check "... issuing_ca and ca_chain[1] the issuer's DER" \
  [ "$(j '[d["data"]["issuing_ca"], d["data"]["ca_chain"][1]]')" = "[\"$(openssl x509 -in "$WORK/ca/inter.crt" -outform der | base64 -w0)\", \"$(openssl x509 -in "$WORK/ca/inter.crt" -outform der | base64 -w0)\"]" ]
subreq 24h '{"format":"p12"}'
check "an unknown format: 400" [ "$CODE" = 400 ]
check "... with Vault's message" has_error 'the "format" path parameter must be "pem", "der", or "pem_bundle"'
subreq 1000h
check "a ttl over the mount's max (768h): cut, with Vault's warning" \
  [ "$(j 'any("is longer than permitted maxTTL" in w for w in d["warnings"])')" = True ]
check "... to 768h" [ $(( $(not_after "$WORK/sub.pem") - $(date +%s) )) -le $((768 * 3600)) ]
check "the parent's notAfter: truncate mode" [ "$(admin subca '{"max_ttl":"9000h","not_after_behavior":"truncate"}')" = 204 ]
subreq 9000h
check "... cuts the sub-CA to the parent's notAfter, with a warning" \
  [ "$(not_after "$WORK/sub.pem")" = "$(not_after "$WORK/ca/inter.crt")" ] && [ "$(j 'any("truncated" in w for w in d["warnings"])')" = True ]
admin subca '{"not_after_behavior":"permit"}' >/dev/null
subreq 9000h
check "... permit mode (OpenBao) lets it outlive the parent, with a warning" \
  [ "$(not_after "$WORK/sub.pem")" -gt "$(not_after "$WORK/ca/inter.crt")" ] && [ "$(j 'any("after the CA" in w for w in d["warnings"])')" = True ]
admin subca '{"not_after_behavior":"err"}' >/dev/null
subreq 9000h
check "... err mode: 400" [ "$CODE" = 400 ]
admin subca '{"not_after_behavior":"permit","max_ttl":"768h","answers":["not_ca","wrong_key","no_root"]}' >/dev/null
subreq 1h
check "injected answers: a certificate that is not a CA" grep -q 'CA:FALSE' <(openssl x509 -in "$WORK/sub.pem" -noout -ext basicConstraints)
subreq 1h
check "... a CA for another key" bash -c '! cmp -s <(openssl x509 -in "$1" -noout -pubkey) <(openssl req -in "$2" -noout -pubkey)' _ "$WORK/sub.pem" "$WORK/sub.csr"
subreq 1h
check "... a ca_chain without the root" [ "$(j 'len(d["data"]["ca_chain"])')" = 2 ]
subreq 1h
check "... then normal answers again" [ "$(j 'len(d["data"]["ca_chain"])')" = 3 ]
curl -s --cacert "$WORK/ca/root.crt" -H "$ADMIN_HDR" "$URL/_fake/stats" >"$WORK/stats.json"
check "stats: the request bodies are recorded, csr left out" \
  [ "$(jqpy '[r["max_path_length"] for r in d["subca_requests"]][0] == "0" and all("csr" not in r for r in d["subca_requests"])' "$WORK/stats.json")" = True ]

curl -s --cacert "$WORK/ca/root.crt" -H "$ADMIN_HDR" "$URL/_fake/stats" >"$WORK/stats.json"
BODY="$WORK/stats.json"
check "stats: counts logins, sign requests and live tokens" \
  [ "$(j 'd["logins"] >= 8 and d["signs"] >= 2 and d["tokens_alive"] >= 1 and d["requests"]["POST /v1/pki_int/sign/web"] >= 5')" = True ]
check "log: no token or secret_id value on stderr" absent -F -e "$EMBER_TOKEN" -e sid-ember -e sid-twice "$WORK/fake.log"

# --- static tokens, TLS certificate and Kubernetes logins, mTLS required ---------------------------
make_client_ca "$WORK"
make_client_cert "$WORK" ember-client
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=Other CA" \
  -keyout "$WORK/otherca.key" -out "$WORK/otherca.crt" 2>/dev/null
make_client_cert "$WORK" stranger otherca
cat >"$WORK/auth.json" <<JSON
{"cert": {"cert": {"roles": {"web": {"certificate": "clientca.crt", "token_ttl": "1h"},
                              "other": {"certificate": "otherca.crt"}}}},
 "kubernetes": {"kubernetes": {"jwt": "jwt-one", "roles": {"ember": {"token_ttl": "30m"}}},
                "k8s-bound": {"roles": {"ember": {"bound_service_account_names": ["ember"],
                  "bound_service_account_namespaces": ["team"], "audience": "vault://team/v"}}}},
 "pki": {"pki_int": {"ca_cert": "ca/inter.crt", "ca_key": "ca/inter.key", "roles": {}}}}
JSON
P3=$(free_port)
(cd "$WORK" && exec python3 "$OLDPWD/$FAKE" --config auth.json --port "$P3" --tls-cert srv.crt --tls-key srv.key \
  --admin-token "$ADMIN" --static-token hvs.static-plain --static-token hvs.static-renew:1h:renewable) \
  2>"$WORK/auth.log" &
PIDS+=($!)
A3="https://127.0.0.1:$P3"
for _ in $(seq 1 100); do curl -s --cacert "$WORK/ca/root.crt" -o /dev/null "$A3/v1/sys/health" && break; sleep 0.1; done
# areq METHOD PATH [JSON] [curl args...]: like vreq against the auth instance.
areq() {
  local m=$1 p=$2 data=${3:-}; shift 3 2>/dev/null || shift $#
  N=$((N + 1)); BODY="$WORK/r$N.json"
  local args=(-s --cacert "$WORK/ca/root.crt" -o "$BODY" -w '%{http_code}' -X "$m")
  [ -n "$data" ] && args+=(--data-binary "$data")
  CODE=$(curl "${args[@]}" "$@" "$A3$p")
}
areq GET /v1/auth/token/lookup-self "" -H "X-Vault-Token: hvs.static-plain"
check "static token: lookup-self 200, no TTL, not renewable" \
  [ "$CODE" = 200 ] && [ "$(j 'd["data"]["ttl"]')" = 0 ] && [ "$(j 'd["data"]["renewable"]')" = False ]
areq POST /v1/auth/token/renew-self '{}' -H "X-Vault-Token: hvs.static-plain"
check "static token: renew-self of a token that is not renewable: 400 lease is not renewable" \
  [ "$CODE" = 400 ] && has_error "lease is not renewable"
areq GET /v1/auth/token/lookup-self "" -H "X-Vault-Token: hvs.static-renew"
check "static token with a TTL: lookup-self says renewable, ttl 3600" \
  [ "$(j 'd["data"]["renewable"]')" = True ] && [ "$(j 'd["data"]["ttl"]')" = 3600 ]
areq POST /v1/auth/token/renew-self '{}' -H "X-Vault-Token: hvs.static-renew"
check "... renew-self 200" [ "$CODE" = 200 ] && [ "$(j 'd["auth"]["lease_duration"]')" = 3600 ]
check "add-token: a token added at run time (a rotation)" \
  [ "$(curl -s --cacert "$WORK/ca/root.crt" -o /dev/null -w '%{http_code}' -X POST -H "$ADMIN_HDR" \
    --data '{"token":"hvs.rotated"}' "$A3/_fake/add-token")" = 204 ]
areq GET /v1/auth/token/lookup-self "" -H "X-Vault-Token: hvs.rotated"
check "... which works" [ "$CODE" = 200 ]
curl -s --cacert "$WORK/ca/root.crt" -o /dev/null -X POST -H "$ADMIN_HDR" --data '{"token":"hvs.rotated"}' "$A3/_fake/revoke-token"
areq GET /v1/auth/token/lookup-self "" -H "X-Vault-Token: hvs.rotated"
check "revoke-token: then 403 permission denied" [ "$CODE" = 403 ] && has_error "permission denied"

areq POST /v1/auth/cert/login '{"name":"web"}' --cert "$WORK/ember-client.crt" --key "$WORK/ember-client.key"
check "cert login with a certificate the role's CA signed: 200, a token with the role's ttl" \
  [ "$CODE" = 200 ] && [ "$(j 'd["auth"]["lease_duration"]')" = 3600 ] &&
  [ "$(j 'd["auth"]["metadata"]["cert_name"]')" = web ]
CTOKEN=$(j 'd["auth"]["client_token"]')
areq GET /v1/auth/token/lookup-self "" -H "X-Vault-Token: $CTOKEN"
check "... and the token works" [ "$CODE" = 200 ]
areq POST /v1/auth/cert/login '{}' --cert "$WORK/ember-client.crt" --key "$WORK/ember-client.key"
check "cert login without a name: the role whose CA matches" [ "$CODE" = 200 ] && [ "$(j 'd["auth"]["metadata"]["cert_name"]')" = web ]
areq POST /v1/auth/cert/login '{"name":"web"}'
check "cert login without a client certificate: 400 client certificate must be supplied" \
  [ "$CODE" = 400 ] && has_error "client certificate must be supplied"
areq POST /v1/auth/cert/login '{"name":"other"}' --cert "$WORK/ember-client.crt" --key "$WORK/ember-client.key"
check "cert login naming a role whose CA did not sign it: 400 invalid certificate" \
  [ "$CODE" = 400 ] && has_error "invalid certificate or no client certificate supplied"

areq POST /v1/auth/kubernetes/login '{"role":"ember","jwt":"jwt-one"}'
check "kubernetes login with the accepted JWT: 200, the role's ttl" [ "$CODE" = 200 ] && [ "$(j 'd["auth"]["lease_duration"]')" = 1800 ]
areq POST /v1/auth/kubernetes/login '{"role":"ember","jwt":"jwt-two"}'
check "kubernetes login with another JWT: 403 permission denied" [ "$CODE" = 403 ] && has_error "permission denied"
areq POST /v1/auth/kubernetes/login '{"role":"nobody","jwt":"jwt-one"}'
check "kubernetes login for an unknown role: 400 invalid role name" [ "$CODE" = 400 ] && has_error 'invalid role name "nobody"'
areq POST /v1/auth/kubernetes/login '{"jwt":"jwt-one"}'
check "kubernetes login without a role: 400 missing role" [ "$CODE" = 400 ] && has_error "missing role"
# jwt SUB AUD: a JWT-shaped token (unsigned) for SUB with audience AUD, valid 10 minutes.
jwt() {
  python3 -c 'import base64, json, sys, time
b = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).decode().rstrip("=")
print(b({"alg": "RS256"}) + "." + b({"sub": sys.argv[1], "aud": [sys.argv[2]], "exp": int(time.time()) + 600}) + ".c2ln")' "$1" "$2"
}
areq POST /v1/auth/k8s-bound/login "{\"role\":\"ember\",\"jwt\":\"$(jwt system:serviceaccount:team:ember vault://team/v)\"}"
check "kubernetes login bound by service account and audience: a matching JWT -> 200" [ "$CODE" = 200 ]
areq POST /v1/auth/k8s-bound/login "{\"role\":\"ember\",\"jwt\":\"$(jwt system:serviceaccount:other:ember vault://team/v)\"}"
check "... another namespace's account -> 403" [ "$CODE" = 403 ]
areq POST /v1/auth/k8s-bound/login "{\"role\":\"ember\",\"jwt\":\"$(jwt system:serviceaccount:team:ember vault://x)\"}"
check "... another audience -> 403" [ "$CODE" = 403 ]
curl -s --cacert "$WORK/ca/root.crt" -H "$ADMIN_HDR" "$A3/_fake/stats" >"$WORK/astats.json"
BODY="$WORK/astats.json"
check "stats: the JWTs kubernetes logins sent, and the cert logins" \
  [ "$(j 'd["kubernetes_jwts"][-7:-3] == ["jwt-one", "jwt-two", "jwt-one", "jwt-one"] and d["cert_logins"] == 2')" = True ]

P4=$(free_port)
(cd "$WORK" && exec python3 "$OLDPWD/$FAKE" --config auth.json --port "$P4" --tls-cert srv.crt --tls-key srv.key \
  --admin-token "$ADMIN" --require-client-cert clientca.crt) 2>"$WORK/mtls.log" &
PIDS+=($!)
for _ in $(seq 1 100); do
  curl -s --cacert "$WORK/ca/root.crt" --cert "$WORK/ember-client.crt" --key "$WORK/ember-client.key" \
    -o /dev/null "https://127.0.0.1:$P4/v1/sys/health" && break
  sleep 0.1
done
code=$(curl -s --cacert "$WORK/ca/root.crt" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$P4/v1/sys/health")
check "--require-client-cert: no answer without a client certificate (handshake refused)" [ "$code" = 000 ]
code=$(curl -s --cacert "$WORK/ca/root.crt" --cert "$WORK/ember-client.crt" --key "$WORK/ember-client.key" \
  -o /dev/null -w '%{http_code}' "https://127.0.0.1:$P4/v1/sys/health")
check "... 200 with one its CA signed" [ "$code" = 200 ]
code=$(curl -s --cacert "$WORK/ca/root.crt" --cert "$WORK/stranger.crt" --key "$WORK/stranger.key" \
  -o /dev/null -w '%{http_code}' "https://127.0.0.1:$P4/v1/sys/health")
check "... and none with one another CA signed" [ "$code" = 000 ]

# --- plain HTTP mode without namespace (OSS-like), then SIGTERM -----------------------------------
cat >"$WORK/oss.json" <<JSON
{"approle": {"approle": {"roles": {"r": {"role_id": "a", "secret_ids": ["b"]}}}}}
JSON
P2=$(free_port)
python3 "$FAKE" --config "$WORK/oss.json" --port "$P2" --http --admin-token "$ADMIN" 2>"$WORK/oss.log" &
OSS_PID=$!
PIDS+=("$OSS_PID")
code=000
for _ in $(seq 1 100); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P2/v1/sys/health") && [ "$code" = 200 ] && break
  sleep 0.1
done
l=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-Vault-Namespace: whatever" \
  --data '{"role_id":"a","secret_id":"b"}' "http://127.0.0.1:$P2/v1/auth/approle/login")
check "--http mode: health 200; without a configured namespace the header is ignored" [ "$code" = 200 ] && [ "$l" = 200 ]
kill -TERM "$OSS_PID"
wait "$OSS_PID"; rc=$?
check "SIGTERM: clean exit 0" [ "$rc" = 0 ]
kill -TERM "$FAKE_PID"
wait "$FAKE_PID"; rc=$?
check "SIGTERM (HTTPS instance): clean exit 0" [ "$rc" = 0 ]
