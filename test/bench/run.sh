#!/usr/bin/env bash
# run.sh -- `make bench`: Ember's speed as ratios to baselines measured in the same run (raw
# OpenSSL, cfssl), plus its memory. Prints measures beside targets; never fails on timing.
# Loopback only, bounded in time (about a minute), every process it starts is stopped on exit.
#
# Environment: OUT (build dir, default build), CRYPTO_SECONDS (2), PIPELINE_SECONDS (2),
# HTTP_SECONDS (10), HTTP_CR_SECONDS (5; 0 skips the /v1/certificaterequests run),
# HTTP_CONNS (2), HTTP_MAX_REQUESTS (500000), CTRL_REQUESTS (10000; 0 skips the controller run),
# CTRL_CONNS (4), CTRL_STEADY_SECONDS (10), AUTH_SECONDS (5; 0 skips the authenticated API run),
# VAULT_SECONDS (5), SUBCA_ROUNDS (3), SUBCA_ROUND_SECONDS (2: section 5b's interleaved rounds),
# E2E_BENCH_REQUESTS (2000; 0 skips section 8, the real kube-apiserver beside cert-manager's CA
# issuer: it needs Go 1.26 at /usr/local/go, and takes a few minutes), E2E_BENCH_CONNS (4),
# KEEP_BENCH=1 keeps the temp dir (logs, the audit log of section 8).
set -euo pipefail

cd "$(dirname "$0")/../.."
OUT=${OUT:-build}
HTTP_SECONDS=${HTTP_SECONDS:-10}
HTTP_CR_SECONDS=${HTTP_CR_SECONDS:-5}
HTTP_CONNS=${HTTP_CONNS:-2}
HTTP_MAX_REQUESTS=${HTTP_MAX_REQUESTS:-500000}
BIN=$OUT/ember-issuer
LIB=$OUT/libember.a

die() { echo "bench: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "$BIN is missing: run 'make' first"
[ -f "$LIB" ] || die "$LIB is missing: run 'make' first"
for tool in gcc pkg-config openssl python3 curl; do
  command -v "$tool" >/dev/null || die "$tool is missing: run 'make deps'"
done

TMP=$(mktemp -d /tmp/ember-bench.XXXXXX)
PIDS=()
cleanup() {
  trap '' INT TERM # a second signal must not cut the cleanup short
  for p in "${PIDS[@]:-}"; do
    # || true: wait answers the killed process's status, which would end the cleanup (set -e).
    [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
  # Section 8: its script and what it runs in the foreground (its own process group), then the
  # servers test/e2e's e2e_spawn recorded, by PID.
  if [ -n "${E2E_PID:-}" ] && kill -TERM -- "-$E2E_PID" 2>/dev/null; then
    for _ in $(seq 1 300); do kill -0 "$E2E_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$E2E_PID" 2>/dev/null || true
    wait "$E2E_PID" 2>/dev/null || true
  fi
  if [ -f "$TMP/e2e-bench/e2e/pids" ]; then
    (E2E_DIR=$TMP/e2e-bench/e2e; . test/e2e/lib.sh; . test/e2e/cluster.sh; e2e_stop_all) || true
  fi
  if [ -n "${KEEP_BENCH:-}" ]; then echo "bench: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build the drivers ----------------------------------------------------------------------
mkdir -p "$OUT/bench"
PKG=$(pkg-config --cflags --libs libmicrohttpd libcjson openssl libcurl yaml-0.1)
CFLAGS="-O2 -g -std=c17 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes"
# shellcheck disable=SC2086
gcc $CFLAGS -Iissuer -o "$OUT/bench/bench_inproc" test/bench/bench_inproc.c "$LIB" $PKG -lpthread -lm
# shellcheck disable=SC2086
gcc $CFLAGS -o "$OUT/bench/loadgen" test/bench/loadgen.c $PKG -lpthread

RES=$TMP/results
: >"$RES"
r() { sed -n "s/^$1=//p" "$RES" | tail -n 1; }
put() { echo "$1=$2" >>"$RES"; }

echo "Ember bench on $(nproc) CPU(s), $(openssl version | cut -d' ' -f1-2), $(date -u +%FT%TZ)"
echo

# ---- 1 and 2: raw OpenSSL and the in-process pipeline ---------------------------------------
"$OUT/bench/bench_inproc" examples/standalone "$RES"
echo

# ---- helpers for the HTTP runs ---------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# thread_ticks PID: "tid ticks" per thread, to see how many threads did the work
thread_ticks() { for t in /proc/"$1"/task/*; do echo "${t##*/} $(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0)"; done | sort; }
wait_http() { # URL PID: until the server answers anything (or 10 s)
  for _ in $(seq 1 100); do
    kill -0 "$2" 2>/dev/null || return 1
    code=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "$1" || true)
    [ "$code" != "000" ] && return 0
    sleep 0.1
  done
  return 1
}
HZ=$(getconf CLK_TCK)
# load NAME URL BODY PID SECONDS: runs the load generator, records NAME_{rate,ok,non2xx,errors,cpu_us}
load() {
  local name=$1 url=$2 body=$3 pid=$4 secs=$5 c0 c1 line t0 t1 busy
  c0=$(cpu_ticks "$pid")
  t0=$(thread_ticks "$pid")
  line=$("$OUT/bench/loadgen" "$url" "$body" application/json "$HTTP_CONNS" "$secs" \
    "$HTTP_MAX_REQUESTS" "$TMP/$name.sample")
  c1=$(cpu_ticks "$pid")
  t1=$(thread_ticks "$pid")
  # shellcheck disable=SC2001 # loadgen's summary is several lines: each one is indented
  echo "$line" | sed 's/^/    /'
  # Threads that were busy more than 20% of the run: with 2 connections and a thread pool,
  # 1 means both connections were served by the same thread, one after the other.
  busy=$(join <(echo "$t0") <(echo "$t1") | awk -v lim="$(awk -v s="$secs" -v hz="$HZ" 'BEGIN { print s * hz * 0.2 }')" \
    '$3 - $2 > lim { n++ } END { print n + 0 }')
  echo "    server threads busy > 20% of the run: $busy"
  put "${name}_busy_threads" "$busy"
  local rate ok
  rate=$(echo "$line" | sed -n 's/.*rate=\([0-9.]*\).*/\1/p')
  ok=$(echo "$line" | sed -n 's/.*ok=\([0-9]*\).*/\1/p')
  put "${name}_rate" "$rate"
  put "${name}_ok" "$ok"
  put "${name}_non2xx" "$(echo "$line" | sed -n 's/.*non2xx=\([0-9]*\).*/\1/p')"
  put "${name}_errors" "$(echo "$line" | sed -n 's/.*errors=\([0-9]*\).*/\1/p')"
  put "${name}_cpu_us" "$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$ok" 'BEGIN { printf "%.0f", n ? t / hz * 1e6 / n : 0 }')"
  # Firefly and cfssl answer PEM; a CertificateRequest carries it base64-encoded.
  grep -q -e 'BEGIN CERTIFICATE' -e '"certificate":"LS0tLS1CRUdJTi' "$TMP/$name.sample" ||
    echo "    WARNING: the first 2xx answer holds no certificate"
}

# ---- inputs: the CA (shared by both servers) and one EC P-256 CSR -----------------------------
"$BIN" dev-ca --output "$TMP/dev-ca.yaml" 2>/dev/null
b64field() { sed -n "s/^  $1: //p" "$TMP/dev-ca.yaml" | base64 -d; }
b64field 'tls\.crt' >"$TMP/ca.pem"
b64field 'tls\.key' >"$TMP/ca-key.pem"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/leaf-key.pem" \
  -subj /CN=bench.example.com -addext subjectAltName=DNS:bench.example.com \
  -out "$TMP/csr.pem" 2>/dev/null
python3 - "$TMP" <<'EOF'
import base64, json, sys
d = sys.argv[1]
pem = open(d + "/csr.pem").read()
json.dump({"request": pem}, open(d + "/firefly.json", "w"))
json.dump({"certificate_request": pem}, open(d + "/cfssl.json", "w"))
json.dump({"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
           "metadata": {"name": "bench", "namespace": "default"},
           "spec": {"request": base64.b64encode(pem.encode()).decode(),
                    "issuerRef": {"group": "ember.issuer.dev", "kind": "ClusterIssuer",
                                  "name": "dev-ca"}}}, open(d + "/cr.json", "w"))
EOF

# ember_dev_ca PORT PROBE_PORT LOG: ember-issuer in the background (its PID in $!) with the
# development CA of the inputs above as the signing API's issuer, as sections 3 and 5b run it.
ember_dev_ca() {
  "$BIN" --manifests "$TMP/dev-ca.yaml" --manifests examples/standalone \
    --api-bind-address "127.0.0.1:$1" --health-probe-bind-address "127.0.0.1:$2" \
    --metrics-bind-address 0 --api-issuer ClusterIssuer/dev-ca --log-format text 2>"$3" &
}

# ---- 3 and 4: Ember over HTTP, and its memory -------------------------------------------------
echo "3. HTTP, $HTTP_CONNS keep-alive connections, closed loop, same CSR (EC P-256) and CA (EC P-256)"
EPORT=$(free_port)
PPORT=$(free_port)
ember_dev_ca "$EPORT" "$PPORT" "$TMP/ember.log"
EPID=$!
PIDS+=("$EPID")
wait_http "http://127.0.0.1:$PPORT/healthz" "$EPID" || { cat "$TMP/ember.log" >&2; die "ember-issuer did not start"; }
sleep 1
put rss_idle "$(rss_kib "$EPID")"
echo "  ember-issuer (pid $EPID) idle RSS after 1 s: $(r rss_idle) KiB"
echo "  ember  POST /v1/certificatesigningrequest, ${HTTP_SECONDS} s:"
load ember "http://127.0.0.1:$EPORT/v1/certificatesigningrequest" "$TMP/firefly.json" "$EPID" "$HTTP_SECONDS"
if [ "$HTTP_CR_SECONDS" != 0 ]; then
  echo "  ember  POST /v1/certificaterequests, ${HTTP_CR_SECONDS} s:"
  load ember_cr "http://127.0.0.1:$EPORT/v1/certificaterequests" "$TMP/cr.json" "$EPID" "$HTTP_CR_SECONDS"
fi
sleep 1
put rss_load "$(rss_kib "$EPID")"
echo "  ember-issuer RSS 1 s after the load: $(r rss_load) KiB"
kill "$EPID" && wait "$EPID" 2>/dev/null || true

if command -v cfssl >/dev/null; then
  cat >"$TMP/cfssl-config.json" <<'EOF'
{"signing": {"default": {"expiry": "720h",
  "usages": ["digital signature", "key encipherment", "server auth", "client auth"]}}}
EOF
  CPORT=$(free_port)
  cfssl serve -address 127.0.0.1 -port "$CPORT" -ca "$TMP/ca.pem" -ca-key "$TMP/ca-key.pem" \
    -config "$TMP/cfssl-config.json" 2>"$TMP/cfssl.log" &
  CPID=$!
  PIDS+=("$CPID")
  wait_http "http://127.0.0.1:$CPORT/api/v1/cfssl/sign" "$CPID" || { tail -5 "$TMP/cfssl.log" >&2; die "cfssl serve did not start"; }
  sleep 1
  put cfssl_rss_idle "$(rss_kib "$CPID")"
  echo "  cfssl  POST /api/v1/cfssl/sign, ${HTTP_SECONDS} s:"
  load cfssl "http://127.0.0.1:$CPORT/api/v1/cfssl/sign" "$TMP/cfssl.json" "$CPID" "$HTTP_SECONDS"
  put cfssl_rss_load "$(rss_kib "$CPID")"
  kill "$CPID" && wait "$CPID" 2>/dev/null || true
else
  echo "  cfssl is not installed (make deps-bench): no HTTP baseline"
fi
echo

# ---- 5: the Vault signer through the strict fake Vault ----------------------------------------
# The fake signs with the openssl CLI, so certs/s mostly measures the fake; what this shows is
# Ember's cost in Vault round trips per certificate (target: 1 in steady state; cert-manager's
# Vault issuer logs in for every signature: 2).
echo "5. Vault signer: POST /v1/certificatesigningrequest through the fake Vault (plain HTTP), ${VAULT_SECONDS:-5} s"
b64field 'ca\.crt' >"$TMP/root.pem"
cat >"$TMP/vault.json" <<'EOF2'
{"approle": {"approle": {"roles": {"bench": {"role_id": "rid-bench", "secret_ids": ["sid-bench"], "token_ttl": "1h"}}}},
 "pki": {"pki": {"ca_cert": "ca.pem", "ca_key": "ca-key.pem", "chain": ["root.pem"],
   "roles": {"bench": {"allowed_domains": ["example.com"], "allow_subdomains": true, "key_type": "any", "max_ttl": "720h"}}}}}
EOF2
VPORT=$(free_port)
python3 test/integration/fake_vault.py --config "$TMP/vault.json" --port "$VPORT" --http \
  --admin-token bench-admin 2>/dev/null &
VPID=$!
PIDS+=("$VPID")
wait_http "http://127.0.0.1:$VPORT/v1/sys/health" "$VPID" || die "the fake Vault did not start"
cat >"$TMP/vault-issuer.yaml" <<EOF2
apiVersion: ember.issuer.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: vault}
spec:
  defaultPolicy: web
  vault:
    server: http://127.0.0.1:$VPORT
    path: pki/sign/bench
    auth: {appRole: {roleId: rid-bench, secretRef: {name: vault-approle, key: secretId}}}
---
apiVersion: v1
kind: Secret
metadata: {name: vault-approle, namespace: default}
stringData: {secretId: sid-bench}
EOF2
EPORT=$(free_port)
PPORT=$(free_port)
"$BIN" --manifests "$TMP/vault-issuer.yaml" --manifests examples/standalone \
  --api-bind-address "127.0.0.1:$EPORT" --health-probe-bind-address "127.0.0.1:$PPORT" \
  --metrics-bind-address 0 --api-issuer ClusterIssuer/vault --log-format text 2>"$TMP/ember-vault.log" &
EPID=$!
PIDS+=("$EPID")
wait_http "http://127.0.0.1:$PPORT/healthz" "$EPID" || { cat "$TMP/ember-vault.log" >&2; die "ember-issuer did not start"; }
vstats() { curl -s -H "X-Fake-Vault-Admin: bench-admin" "http://127.0.0.1:$VPORT/_fake/stats" >"$TMP/vstats.json"; }
vcount() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(v for k, v in d["requests"].items() if "sys/health" not in k))' "$TMP/vstats.json"; }
load vault "http://127.0.0.1:$EPORT/v1/certificatesigningrequest" "$TMP/firefly.json" "$EPID" "${VAULT_SECONDS:-5}"
vstats
put vault_round_trips "$(vcount)"
put vault_logins "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["logins"])' "$TMP/vstats.json")"
awk -v n="$(r vault_round_trips)" -v ok="$(r vault_ok)" 'BEGIN { if (ok > 0) printf "vault_trips_per_cert=%.3f\n", n / ok }' >>"$RES"
echo "  Vault requests (without health checks): $(r vault_round_trips), logins: $(r vault_logins), certificates: $(r vault_ok)"
kill "$EPID" && wait "$EPID" 2>/dev/null || true
kill "$VPID" && wait "$VPID" 2>/dev/null || true
echo

# ---- 5b: the Vault sub-CA (spec.vault.subCA): Vault signs one intermediate, Ember signs leaves ---
# The same load as section 3 (local CA) and 5 (Vault per certificate), through a sub-CA whose key
# Ember made in memory and Vault (the fake) signed once at start-up: the rate against the local
# CA's, measured in rounds interleaved with it (target >= 0.9: the same local signing), and
# against the per-certificate Vault signer, and
# Vault round trips per certificate once the sub-CA is there (target 0).
echo "5b. Vault sub-CA: POST /v1/certificatesigningrequest, leaves signed locally with a Vault-signed sub-CA, ${SUBCA_ROUNDS:-3} rounds of ${SUBCA_ROUND_SECONDS:-2} s against the local CA"
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=Bench root" \
  -keyout "$TMP/sroot.key" -out "$TMP/sroot.pem" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=Bench Vault intermediate" \
  -keyout "$TMP/sinter.key" -out "$TMP/sinter.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$TMP/sinter.ext"
openssl x509 -req -in "$TMP/sinter.csr" -CA "$TMP/sroot.pem" -CAkey "$TMP/sroot.key" -CAcreateserial \
  -days 30 -extfile "$TMP/sinter.ext" -out "$TMP/sinter.pem" 2>/dev/null
cat >"$TMP/vault-sub.json" <<'EOF2'
{"approle": {"approle": {"roles": {"bench": {"role_id": "rid-bench", "secret_ids": ["sid-bench"], "token_ttl": "1h"}}}},
 "pki": {"pki_int": {"ca_cert": "sinter.pem", "ca_key": "sinter.key", "chain": ["sroot.pem"]}}}
EOF2
VPORT=$(free_port)
python3 test/integration/fake_vault.py --config "$TMP/vault-sub.json" --port "$VPORT" --http \
  --admin-token bench-admin 2>/dev/null &
VPID=$!
PIDS+=("$VPID")
wait_http "http://127.0.0.1:$VPORT/v1/sys/health" "$VPID" || die "the fake Vault did not start"
sed -e "s|path: pki/sign/bench|subCA: {path: pki_int/root/sign-intermediate}|" "$TMP/vault-issuer.yaml" |
  sed -e "s|http://127.0.0.1:[0-9]*|http://127.0.0.1:$VPORT|" >"$TMP/subca-issuer.yaml"
EPORT=$(free_port)
PPORT=$(free_port)
"$BIN" --manifests "$TMP/subca-issuer.yaml" --manifests examples/standalone \
  --api-bind-address "127.0.0.1:$EPORT" --health-probe-bind-address "127.0.0.1:$PPORT" \
  --metrics-bind-address 0 --api-issuer ClusterIssuer/vault --log-format text \
  --issuer-recheck-period 1s 2>"$TMP/ember-subca.log" &
EPID=$!
PIDS+=("$EPID")
# /readyz turns 200 once an issuer is Ready: here, once the sub-CA is signed and checked.
ready=0
for _ in $(seq 1 150); do
  kill -0 "$EPID" 2>/dev/null || break
  curl -fs --noproxy '*' -o /dev/null "http://127.0.0.1:$PPORT/readyz" && { ready=1; break; }
  sleep 0.1
done
[ "$ready" = 1 ] || { cat "$TMP/ember-subca.log" >&2; die "ember-issuer (sub-CA) did not become ready"; }
vstats
put subca_trips_startup "$(vcount)"
# The local CA beside it, started as section 3 starts it, so that the ratio compares the two
# signers in the same minute: SUBCA_ROUNDS rounds of SUBCA_ROUND_SECONDS each, sub-CA then local
# CA, and the median of each side (a neighbour's burst hits one round of each, not a whole side).
LPORT=$(free_port)
LPPORT=$(free_port)
ember_dev_ca "$LPORT" "$LPPORT" "$TMP/ember-local5b.log"
LPID=$!
PIDS+=("$LPID")
wait_http "http://127.0.0.1:$LPPORT/healthz" "$LPID" || { cat "$TMP/ember-local5b.log" >&2; die "ember-issuer (local CA, 5b) did not start"; }
SR=${SUBCA_ROUNDS:-3}
subca_all_ok=0
for i in $(seq 1 "$SR"); do
  echo "  round $i/$SR, sub-CA:"
  load "subca$i" "http://127.0.0.1:$EPORT/v1/certificatesigningrequest" "$TMP/firefly.json" "$EPID" "${SUBCA_ROUND_SECONDS:-2}"
  echo "  round $i/$SR, local CA:"
  load "local5b$i" "http://127.0.0.1:$LPORT/v1/certificatesigningrequest" "$TMP/firefly.json" "$LPID" "${SUBCA_ROUND_SECONDS:-2}"
  subca_all_ok=$((subca_all_ok + $(r "subca${i}_ok")))
done
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
put subca_rate "$(for i in $(seq 1 "$SR"); do r "subca${i}_rate"; done | median)"
put local5b_rate "$(for i in $(seq 1 "$SR"); do r "local5b${i}_rate"; done | median)"
echo "  median certs/s: sub-CA $(r subca_rate), local CA $(r local5b_rate)"
vstats
put subca_trips_load "$(( $(vcount) - $(r subca_trips_startup) ))"
awk -v n="$(r subca_trips_load)" -v ok="$subca_all_ok" 'BEGIN { if (ok > 0) printf "subca_trips_per_cert=%.3f\n", n / ok }' >>"$RES"
echo "  Vault requests: $(r subca_trips_startup) at start-up (login, sign-intermediate), $(r subca_trips_load) during the load of $subca_all_ok certificates"
kill "$EPID" && wait "$EPID" 2>/dev/null || true
kill "$LPID" && wait "$LPID" 2>/dev/null || true
kill "$VPID" && wait "$VPID" 2>/dev/null || true
echo

# ---- 6: the controller: 10,000 CertificateRequests through the strict fake API server -----------
# The fake (Python) is the bottleneck on purpose: its own ceiling for the same writes with no
# issuer (the driver creates each request and writes its status itself) is measured first, then
# Ember's rate, creation->Ready latency and peak RSS with every request cached; then a steady
# 100 requests/s on top of the 10,000 cached ones for the p99 target.
if [ "${CTRL_REQUESTS:-10000}" != 0 ]; then
  N=${CTRL_REQUESTS:-10000}
  CC=${CTRL_CONNS:-4}
  echo "6. Controller: $N CertificateRequests (EC P-256, local CA) created over $CC connections in the fake API server"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=fake-apiserver \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$TMP/kapi.key" -out "$TMP/kapi.crt" 2>/dev/null
  openssl x509 -req -in "$TMP/csr.pem" -CA "$TMP/ca.pem" -CAkey "$TMP/ca-key.pem" -CAcreateserial -days 30 \
    -out "$TMP/leaf.pem" 2>/dev/null
  python3 - "$TMP" <<'EOF3'
import base64, json, sys
d = sys.argv[1]
rd = lambda f: open(d + "/" + f).read()
b64 = lambda s: base64.b64encode(s.encode()).decode()
now = "2026-01-01T00:00:00Z"
conf = {
  "tokens": {
    "tok-ember": {"user": "system:serviceaccount:ember:ember-issuer",
                  "approve_signers": ["issuers.ember.issuer.dev/*", "clusterissuers.ember.issuer.dev/*"]},
    "tok-certmanager": {"user": "system:serviceaccount:cert-manager:cert-manager"}},
  "namespaces": ["default", "ember"], "history_window": 100000, "bookmark_interval_seconds": 60,
  "objects": [
    {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
     "metadata": {"name": "bench-ca", "namespace": "ember"},
     "stringData": {"tls.crt": rd("ca.pem"), "tls.key": rd("ca-key.pem"), "ca.crt": rd("root.pem")}},
    {"apiVersion": "ember.issuer.dev/v1alpha1", "kind": "ClusterIssuer", "metadata": {"name": "bench-ca"},
     "spec": {"ca": {"secretName": "bench-ca"}}},
    {"apiVersion": "ember.issuer.dev/v1alpha1", "kind": "IssuancePolicy", "metadata": {"name": "web"},
     "spec": {"validity": {"max": "2160h"}, "subject": {"commonName": {"rule": "Optional"}},
              "sans": {"dnsNames": {"rule": "Required", "allowed": ["([a-z0-9-]+\\.)*example\\.com"]}},
              "usages": ["digital signature", "key encipherment", "server auth"]}}]}
json.dump(conf, open(d + "/kapi.json", "w"))
json.dump({"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
           "metadata": {"name": "x", "namespace": "default",
                        "annotations": {"ember.issuer.dev/policy-name": "web",
                                        "cert-manager.io/certificate-name": "bench",
                                        "cert-manager.io/certificate-revision": "1",
                                        "cert-manager.io/private-key-secret-name": "bench-tls"}},
           "spec": {"request": b64(rd("csr.pem")), "duration": "2160h",
                    "usages": ["digital signature", "key encipherment", "server auth"],
                    "issuerRef": {"group": "ember.issuer.dev", "kind": "ClusterIssuer", "name": "bench-ca"}}},
          open(d + "/cr-template.json", "w"))
json.dump({"conditions": [
             {"type": "Approved", "status": "True", "reason": "ember.issuer.dev",
              "message": "Approved by IssuancePolicy \"web\"", "lastTransitionTime": now},
             {"type": "Ready", "status": "True", "reason": "Issued",
              "message": "Certificate fetched from issuer successfully", "lastTransitionTime": now}],
           "certificate": b64(rd("leaf.pem") + rd("ca.pem")), "ca": b64(rd("root.pem"))},
          open(d + "/status.json", "w"))
EOF3
  # kapi_start NAME: a fresh fake API server; sets KURL, KPID.
  kapi_start() {
    local port
    port=$(free_port)
    KURL="https://127.0.0.1:$port"
    python3 test/integration/fake_apiserver.py --config "$TMP/kapi.json" --port "$port" \
      --tls-cert "$TMP/kapi.crt" --tls-key "$TMP/kapi.key" --admin-token bench-admin \
      --ready-file "$TMP/$1.ready" --kubeconfig-out "$TMP/$1.kubeconfig" --kubeconfig-token tok-ember \
      2>/dev/null &
    KPID=$!
    PIDS+=("$KPID")
    for _ in $(seq 1 100); do [ -s "$TMP/$1.ready" ] && return 0; sleep 0.1; done
    die "the fake API server did not start"
  }
  # crbench NAME ARGS...: runs the driver; records NAME_<field> for every field of its answer.
  crbench() {
    local name=$1; shift
    local line
    line=$(python3 test/bench/crbench.py "$@" 2>"$TMP/$name.err") || echo "    WARNING: not every request became Ready"
    echo "    $line"
    python3 -c 'import json,sys; [print("%s_%s=%s" % (sys.argv[1], k, v)) for k, v in json.loads(sys.argv[2]).items()]' \
      "$name" "$line" >>"$RES" 2>/dev/null || tail -3 "$TMP/$name.err"
  }

  kapi_start ceiling
  echo "  the fake's ceiling: create, then the writes Ember makes (status patch, 2 Events) by the driver itself, no issuer"
  crbench ceil burst "$KURL" "$TMP/kapi.crt" "$TMP/cr-template.json" "$N" "$CC" --patch "$TMP/status.json"
  kill "$KPID" && wait "$KPID" 2>/dev/null || true

  kapi_start ember
  KMP=$(free_port); KPP=$(free_port)
  "$BIN" --kubeconfig "$TMP/ember.kubeconfig" --cluster-resource-namespace ember \
    --api-bind-address 0 --health-probe-bind-address "127.0.0.1:$KPP" --metrics-bind-address "127.0.0.1:$KMP" \
    --log-format json 2>"$TMP/ember-ctl.log" &
  EPID=$!
  PIDS+=("$EPID")
  for _ in $(seq 1 100); do
    curl -s "http://127.0.0.1:$KMP/metrics" | grep -q '^ember_issuer_ready{issuer="ClusterIssuer/bench-ca"} 1' && break
    sleep 0.1
  done
  put ctl_rss_start "$(rss_kib "$EPID")"
  echo "  ember-issuer controller (pid $EPID), RSS before the load: $(r ctl_rss_start) KiB"
  echo "  Ember: the same $N requests, signed and written back by the controller"
  crbench ctl burst "$KURL" "$TMP/kapi.crt" "$TMP/cr-template.json" "$N" "$CC"
  echo "  Ember: a steady 100 requests/s for ${CTRL_STEADY_SECONDS:-10} s with the $N above cached"
  crbench steady steady "$KURL" "$TMP/kapi.crt" "$TMP/cr-template.json" 100 "${CTRL_STEADY_SECONDS:-10}" --prefix steady
  put ctl_rss_peak "$(awk '/^VmHWM:/ {print $2}' "/proc/$EPID/status")"
  put ctl_rss_end "$(rss_kib "$EPID")"
  put ctl_cpu_s "$(awk -v t="$(cpu_ticks "$EPID")" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }')"
  echo "  ember-issuer peak RSS $(r ctl_rss_peak) KiB, now $(r ctl_rss_end) KiB, CPU $(r ctl_cpu_s) s"
  echo "  error lines in its log: $(grep -c '"level":"error"' "$TMP/ember-ctl.log" || true)"
  kill "$EPID" && wait "$EPID" 2>/dev/null || true
  kill "$KPID" && wait "$KPID" 2>/dev/null || true
  echo
fi

# ---- 7: the signing API with authentication -----------------------------------------------------
# HTTPS with a client certificate over keep-alive connections against plain HTTP, the same
# request and CA; then 1,000 requests from one caller with a Kubernetes token, counting the
# TokenReviews the strict fake API server answered.
AUTH_SECONDS=${AUTH_SECONDS:-5}
if [ "$AUTH_SECONDS" != 0 ]; then
  echo "7. Signing API with authentication: HTTPS + mTLS vs plain HTTP, $HTTP_CONNS keep-alive connections, $AUTH_SECONDS s each"
  A=$TMP/auth
  mkdir -p "$A"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-tls-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
    -keyout "$A/ca.key" -out "$A/ca.crt" 2>/dev/null
  tls_leaf() { # NAME EXT
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
      -keyout "$A/$1.key" -out "$A/$1.csr" 2>/dev/null
    printf '%s\n' "$2" >"$A/$1.ext"
    openssl x509 -req -in "$A/$1.csr" -CA "$A/ca.crt" -CAkey "$A/ca.key" -CAcreateserial -days 2 \
      -extfile "$A/$1.ext" -out "$A/$1.crt" 2>/dev/null
  }
  tls_leaf server $'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'
  tls_leaf client $'subjectAltName=URI:spiffe://cluster.local/ns/bench/sa/client\nextendedKeyUsage=clientAuth'
  cat >"$A/manifests.yaml" <<'EOF4'
apiVersion: ember.issuer.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: bench-ca}
spec: {ca: {secretName: dev-ca}}
---
apiVersion: ember.issuer.dev/v1alpha1
kind: IssuancePolicy
metadata: {name: bench}
spec:
  selector:
    requesters:
      certificates: ['spiffe://cluster.local/ns/bench/sa/*']
      serviceAccounts: ['bench/*']
  subject:
    commonName: {rule: Optional, allowed: ['[a-z0-9.-]+\.example\.com'], max: 1}
  sans:
    dnsNames: {rule: Required, allowed: ['([a-z0-9-]+\.)*example\.com'], min: 1, max: 3}
---
apiVersion: ember.issuer.dev/v1alpha1
kind: IssuancePolicy
metadata: {name: bench-open}
spec:
  subject:
    commonName: {rule: Optional, allowed: ['[a-z0-9.-]+\.example\.com'], max: 1}
  sans:
    dnsNames: {rule: Required, allowed: ['([a-z0-9-]+\.)*example\.com'], min: 1, max: 3}
EOF4
  python3 - "$TMP" <<'EOF4'
import json, sys
d = sys.argv[1]
pem = open(d + "/csr.pem").read()
for name in ("bench", "bench-open"):
    json.dump({"request": pem, "policyName": name}, open("%s/auth/ff-%s.json" % (d, name), "w"))
json.dump({"tokens": {"tok-ember": {"user": "system:serviceaccount:ember:ember-issuer"}},
           "token_reviews": {"bench-token-5d1f0c": {"user": "system:serviceaccount:bench:client",
                                                    "groups": ["system:serviceaccounts"],
                                                    "audiences": ["ember"]}}},
          open(d + "/auth/kapi.json", "w"))
EOF4
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=fake-apiserver \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$A/kapi.key" -out "$A/kapi.crt" 2>/dev/null
  APORT=$(free_port)
  python3 test/integration/fake_apiserver.py --config "$A/kapi.json" --port "$APORT" \
    --tls-cert "$A/kapi.crt" --tls-key "$A/kapi.key" --admin-token bench-admin \
    --ready-file "$A/kapi.ready" --kubeconfig-out "$A/kubeconfig" --kubeconfig-token tok-ember 2>/dev/null &
  APID=$!
  PIDS+=("$APID")
  for _ in $(seq 1 100); do [ -s "$A/kapi.ready" ] && break; sleep 0.1; done
  # auth_ember NAME ARGS...: Ember standalone with the bench manifests; sets EPID, EPORT.
  auth_ember() {
    local name=$1; shift
    EPORT=$(free_port); PPORT=$(free_port)
    "$BIN" --manifests "$TMP/dev-ca.yaml" --manifests "$A/manifests.yaml" \
      --api-bind-address "127.0.0.1:$EPORT" --health-probe-bind-address "127.0.0.1:$PPORT" \
      --metrics-bind-address 0 --api-issuer ClusterIssuer/bench-ca --log-format text "$@" \
      2>"$A/$name.log" &
    EPID=$!
    PIDS+=("$EPID")
    wait_http "http://127.0.0.1:$PPORT/healthz" "$EPID" || { cat "$A/$name.log" >&2; die "ember-issuer did not start"; }
  }
  auth_ember plain
  echo "  plain HTTP, anonymous (loopback development mode):"
  load auth_plain "http://127.0.0.1:$EPORT/v1/certificatesigningrequest" "$A/ff-bench-open.json" "$EPID" "$AUTH_SECONDS"
  kill "$EPID" && wait "$EPID" 2>/dev/null || true
  auth_ember mtls --api-tls-cert-file "$A/server.crt" --api-tls-key-file "$A/server.key" \
    --api-client-ca-file "$A/ca.crt" --api-token-auth --kubeconfig "$A/kubeconfig"
  echo "  HTTPS, client certificate (mTLS), policy bound to the caller:"
  LOADGEN_CACERT="$A/ca.crt" LOADGEN_CERT="$A/client.crt" LOADGEN_KEY="$A/client.key" \
    load auth_mtls "https://127.0.0.1:$EPORT/v1/certificatesigningrequest" "$A/ff-bench.json" "$EPID" "$AUTH_SECONDS"
  echo "  HTTPS, one service account token, 1,000 requests:"
  line=$(LOADGEN_CACERT="$A/ca.crt" LOADGEN_BEARER=bench-token-5d1f0c "$OUT/bench/loadgen" \
    "https://127.0.0.1:$EPORT/v1/certificatesigningrequest" "$A/ff-bench.json" application/json 1 60 1000 "$A/token.sample")
  echo "    $line"
  put auth_token_ok "$(echo "$line" | sed -n 's/.*ok=\([0-9]*\).*/\1/p')"
  put auth_token_rate "$(echo "$line" | sed -n 's/.*rate=\([0-9.]*\).*/\1/p')"
  put auth_token_reviews "$(curl -s --cacert "$A/kapi.crt" -H 'X-Fake-Apiserver-Admin: bench-admin' \
    "https://127.0.0.1:$APORT/_fake/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("token_reviews", 0))')"
  echo "  TokenReviews for $(r auth_token_ok) requests: $(r auth_token_reviews)"
  kill "$EPID" && wait "$EPID" 2>/dev/null || true
  kill "$APID" && wait "$APID" 2>/dev/null || true
  echo
fi

# ---- 8: the controller through a real kube-apiserver, beside cert-manager's CA issuer ------------
# test/e2e's etcd + kube-apiserver + cert-manager (controller and webhook) + Ember's chart, one EC
# P-256 CA for an Ember Issuer and cert-manager CA Issuers; E2E_BENCH_REQUESTS requests in a burst
# for each controller, one at a time (test/bench/e2e_bench.sh says how).
E2E_BENCH_REQUESTS=${E2E_BENCH_REQUESTS:-2000}
E2E_FAILED=0
if [ "$E2E_BENCH_REQUESTS" != 0 ]; then
  echo "8. Controller through a real kube-apiserver: Ember beside cert-manager's CA issuer, $E2E_BENCH_REQUESTS requests each (EC P-256 CSR, same EC P-256 CA)"
  # In its own process group, waited for in the background so that a signal stops it at once.
  BIN="$BIN" setsid bash test/bench/e2e_bench.sh "$TMP/e2e-bench" "$RES" &
  E2E_PID=$!
  wait "$E2E_PID" || E2E_FAILED=1
  E2E_PID=
  echo
fi

# ---- the table --------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
mark() { awk -v m="$1" -v t="$2" -v dir="$3" 'BEGIN { if (m == "n/a" || m == "") print "?"; else if ((dir == ">=" && m + 0 >= t) || (dir == "<=" && m + 0 <= t)) print "met"; else print "MISSED" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
row() { printf "  %-52s %14s   %-10s %s\n" "$1" "$2" "$3" "$4"; }

echo "Summary (ratios against baselines measured in this run; targets are goals, not a test)"
row "measure" "value" "target" ""
row "raw EC P-256 sign / verify per s" "$(r crypto_ec256_sign) / $(r crypto_ec256_verify)" "" ""
row "raw RSA 2048 sign / verify per s" "$(r crypto_rsa2048_sign) / $(r crypto_rsa2048_verify)" "" ""
for t in ec256_ec256 ec256_rsa2048 rsa2048_ec256; do
  ca=${t%_*}; csr=${t#*_}
  if [ "$t" = ec256_ec256 ]; then tgt=">= 0.60"; m=$(mark "$(r ratio_$t)" 0.6 ">="); else tgt=""; m=""; fi
  row "pipeline CA $ca, CSR $csr: certs/s" "$(r pipeline_$t)" "" ""
  row "  ... / bound 1/(1/sign+1/verify) = $(r bound_$t)/s" "$(r ratio_$t)" "$tgt" "$m"
  row "  api_handle_firefly in-process (no HTTP): certs/s" "$(r firefly_$t)" "" ""
done
E=$(r ember_rate); C=$(r cfssl_rate); EC=$(ratio "$E" "$C")
row "HTTP ember /v1/certificatesigningrequest certs/s" "${E:-n/a}" "" ""
[ "$HTTP_CR_SECONDS" != 0 ] && row "HTTP ember /v1/certificaterequests certs/s" "$(r ember_cr_rate)" "" ""
row "HTTP cfssl /api/v1/cfssl/sign certs/s" "${C:-n/a}" "" ""
row "HTTP ember / cfssl" "$EC" ">= 3.00" "$(mark "$EC" 3 ">=")"
row "server CPU per cert, ember / cfssl (us)" "$(r ember_cpu_us) / $(r cfssl_cpu_us)" "" ""
row "  cfssl CPU / ember CPU per cert" "$(ratio "$(r cfssl_cpu_us)" "$(r ember_cpu_us)")" "" ""
row "ember threads busy during the load (of $HTTP_CONNS conns)" "$(r ember_busy_threads)" "" ""
row "HTTP non-2xx / transport errors (ember, cfssl)" "$(r ember_non2xx)+$(r ember_cr_non2xx)/$(r ember_errors)+$(r ember_cr_errors), $(r cfssl_non2xx)/$(r cfssl_errors)" "0" ""
RI=$(mib "$(r rss_idle)"); RL=$(mib "$(r rss_load)")
row "Vault signer through the fake Vault: certs/s" "$(r vault_rate)" "" ""
row "  Vault round trips per certificate (incl. the login)" "$(r vault_trips_per_cert)" "<= 1.05" "$(mark "$(r vault_trips_per_cert)" 1.05 "<=")"
SL=$(ratio "$(r subca_rate)" "$(r local5b_rate)"); SV=$(ratio "$(r subca_rate)" "$(r vault_rate)")
row "Vault sub-CA (leaves signed locally): certs/s (median)" "$(r subca_rate)" "" ""
row "  sub-CA / local CA, interleaved rounds (5b) certs/s" "$SL" ">= 0.90" "$(mark "$SL" 0.9 ">=")"
row "  sub-CA / Vault per certificate (section 5) certs/s" "$SV" "" ""
row "  Vault round trips per certificate after start-up" "$(r subca_trips_per_cert)" "0" "$(mark "$(r subca_trips_per_cert)" 0 "<=")"
row "ember-issuer RSS idle (MiB)" "$RI" "<= 16" "$(mark "$RI" 16 "<=")"
row "ember-issuer RSS after the load (MiB)" "$RL" "" ""
if [ "$AUTH_SECONDS" != 0 ]; then
  AR=$(ratio "$(r auth_mtls_rate)" "$(r auth_plain_rate)")
  row "signing API plain HTTP / HTTPS+mTLS certs/s" "$(r auth_plain_rate) / $(r auth_mtls_rate)" "" ""
  row "  HTTPS+mTLS / plain HTTP" "$AR" ">= 0.80" "$(mark "$AR" 0.8 ">=")"
  row "  non-2xx (plain, mTLS, token)" "$(r auth_plain_non2xx), $(r auth_mtls_non2xx), $((1000 - $(r auth_token_ok)))" "0" ""
  TPK=$(awk -v n="$(r auth_token_reviews)" -v ok="$(r auth_token_ok)" 'BEGIN { if (ok > 0) printf "%.1f", n * 1000 / ok; else print "n/a" }')
  row "TokenReviews per 1,000 requests from one caller" "$TPK" "<= 5" "$(mark "$TPK" 5 "<=")"
fi
if [ "${CTRL_REQUESTS:-10000}" != 0 ]; then
  CEIL=$(r ceil_rate); CR=$(r ctl_rate)
  GOAL=$(awk -v c="$CEIL" 'BEGIN { g = c * 0.5; if (g > 1000) g = 1000; printf "%.0f", g }')
  row "controller: fake API server ceiling, requests/s" "$CEIL" "" ""
  row "controller: Ember requests/s to Ready ($(r ctl_ready)/$(r ctl_n))" "$CR" ">= $GOAL" "$(mark "$CR" "$GOAL" ">=")"
  row "  ... / the fake's ceiling" "$(ratio "$CR" "$CEIL")" "" ""
  row "  creation->Ready p50 / p99 in the burst (ms)" "$(r ctl_p50_ms) / $(r ctl_p99_ms)" "" ""
  row "  fake alone, creation->Ready p50 / p99 (ms)" "$(r ceil_p50_ms) / $(r ceil_p99_ms)" "" ""
  row "controller: steady 100/s creation->Ready p50 (ms)" "$(r steady_p50_ms)" "" ""
  row "controller: steady 100/s creation->Ready p99 (ms)" "$(r steady_p99_ms)" "< 100" "$(mark "$(r steady_p99_ms)" 100 "<=")"
  PK=$(mib "$(r ctl_rss_peak)")
  row "controller: peak RSS with $(( $(r ctl_n) + $(r steady_n) )) requests cached (MiB)" "$PK" "<= 64" "$(mark "$PK" 64 "<=")"
fi
if [ "$E2E_BENCH_REQUESTS" != 0 ]; then
  if [ -n "$(r e2e_skipped)" ]; then
    row "real API server (section 8)" "skipped" "" "no Go 1.26 at /usr/local/go"
  elif [ -n "$(r e2e_failed)" ]; then
    row "real API server (section 8)" "FAILED" "" "$(r e2e_failed)"
  else
    row "real API server: Ember requests/s to Ready ($(r e2e_ember_ready)/$(r e2e_ember_n))" "$(r e2e_ember_rate)" "" ""
    row "  cert-manager CA, QPS 10000 / its default 20 ($(r e2e_cm_ready), $(r e2e_cmdef_ready))" "$(r e2e_cm_rate) / $(r e2e_cmdef_rate)" "" ""
    row "  Ember / cert-manager (QPS 10000 / default)" "$(ratio "$(r e2e_ember_rate)" "$(r e2e_cm_rate)") / $(ratio "$(r e2e_ember_rate)" "$(r e2e_cmdef_rate)")" "" ""
    row "  creation->Ready p50 / p99 (ms), Ember" "$(r e2e_ember_p50_ms) / $(r e2e_ember_p99_ms)" "" ""
    row "  ... cert-manager, QPS 10000" "$(r e2e_cm_p50_ms) / $(r e2e_cm_p99_ms)" "" ""
    row "  ... cert-manager, its defaults" "$(r e2e_cmdef_p50_ms) / $(r e2e_cmdef_p99_ms)" "" ""
    row "  API writes per request, Ember / cert-manager" "$(r e2e_ember_writes_per_cert) / $(r e2e_cm_writes_per_cert)" "" ""
    row "  API reads per request, Ember / cert-manager" "$(awk -v a="$(r e2e_ember_reads)" -v b="$(r e2e_cm_reads)" -v n="$(r e2e_ember_n)" 'BEGIN { printf "%.2f / %.2f", a / n, b / n }')" "" ""
    row "  controller CPU per request (ms), Ember / cert-manager" "$(r e2e_ember_cpu_ms) / $(r e2e_cm_cpu_ms)" "" ""
    row "  kube-apiserver CPU per request (ms), Ember / c-m" "$(r e2e_ember_apiserver_cpu_ms) / $(r e2e_cm_apiserver_cpu_ms)" "" ""
    row "  etcd + c-m webhook CPU per request (ms), Ember / c-m" "$(r e2e_ember_etcd_webhook_cpu_ms) / $(r e2e_cm_etcd_webhook_cpu_ms)" "" ""
    row "  peak RSS (MiB), Ember / cert-manager" "$(mib "$(r e2e_ember_rss_peak)") / $(mib "$(r e2e_cm_rss_peak)")" "" ""
    row "  Ember: 409s / error log lines" "$(r e2e_ember_conflicts) / $(r e2e_ember_log_errors)" "" ""
  fi
fi
[ -n "$(r cfssl_rss_idle)" ] && row "cfssl RSS idle / after the load (MiB)" "$(mib "$(r cfssl_rss_idle)") / $(mib "$(r cfssl_rss_load)")" "" ""
echo "  (the load generator runs on the same $(nproc) CPU(s) as the server, for both servers alike)"
[ "$E2E_FAILED" = 0 ] || { echo "bench: section 8 could not set up its cluster (see above)" >&2; exit 1; }
exit 0
