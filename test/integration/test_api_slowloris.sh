#!/usr/bin/env bash
# test_api_slowloris.sh -- Slowloris cannot lock clients out of the signing API: 150 slow
# connections from each of five 127.0.0.x addresses, each sending one header line every 10 s,
# held 30 s, while a client from a sixth address keeps getting its certificate within 2 s; a
# connection over a cap is answered 503 with Retry-After, not closed silently; a request that
# has not arrived whole by the header deadline is closed; RSS stays under 64 MiB. Then the same
# over HTTPS with small limits: slow handshakes and slow headers are cut at the deadline, and
# a client over its address's cap gets a 503 over TLS.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh

# The attackers hold 750 sockets; Ember holds its side of them.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

make_ca "$WORK/ca"
make_csr "$WORK/good" -subj /CN=s.example.com -addext subjectAltName=DNS:s.example.com
cr_json slow default "$WORK/good.csr" ClusterIssuer test-ca web "" '[]' >"$WORK/good.json"

# field FILE KEY: a value of the driver's JSON summary.
field() { jqpy "d.get('$2')" "$1"; }
# le A B: A <= B (numbers, maybe with decimals).
le() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "$1" "$2"; }
# metric_positive NAME: some series of NAME has a value above 0 on /metrics.
metric_positive() { curl -s "$METRICS/metrics" | grep -qE "^$1(\{[^}]*\})? [1-9]"; }

# ---- plain HTTP, default limits --------------------------------------------------------------
start_ember slowloris --manifests test/integration/manifests --manifests "$WORK/ca/secret.yaml" || exit 1
port=${API##*:}
python3 test/integration/slowloris.py --port "$port" --per-address 150 --hold 30 --line-every 10 \
  --body "$WORK/good.json" --pid "$EMBER_PID" --out "$WORK/plain.json"
python3 -c 'import json,sys; d=json.load(sys.stdin); d.pop("lifetimes_unanswered"); d.pop("victim_latencies"); print("# " + json.dumps(d))' <"$WORK/plain.json"

total=$(field "$WORK/plain.json" victim_total)
ok2=$(field "$WORK/plain.json" victim_ok_2s)
if [ "$total" -ge 20 ] && [ "$ok2" = "$total" ]; then
  ok "a client from a sixth address got all $total certificates within 2 s during the attack"
else
  not_ok "a client from a sixth address got $ok2 of $total certificates within 2 s ($(field "$WORK/plain.json" victim_codes))"
fi
early=$(field "$WORK/plain.json" closed_unanswered_early)
a503=$(field "$WORK/plain.json" answered_503)
ra=$(field "$WORK/plain.json" retry_after)
check "no connection over a cap is closed without an answer ($early were)" test "$early" = 0
if [ "$a503" -gt 0 ] && [ "$ra" = "$a503" ]; then
  ok "connections over a cap are answered 503 with Retry-After ($a503)"
else
  not_ok "connections over a cap are answered 503 with Retry-After ($a503 503s, $ra with Retry-After; statuses $(field "$WORK/plain.json" statuses))"
fi
cut=$(field "$WORK/plain.json" closed_unanswered)
longest=$(field "$WORK/plain.json" max_lifetime_unanswered)
if [ "$cut" -gt 0 ] && le "$longest" 13; then
  ok "slow requests are closed at the 10 s header deadline ($cut closed, the longest after ${longest} s)"
else
  not_ok "slow requests are closed at the 10 s header deadline ($cut closed, the longest after ${longest} s; a line every 10 s keeps the idle timeout away)"
fi
rss=$(field "$WORK/plain.json" rss_max_kib)
# 64 MiB for the build users run; AddressSanitizer's shadow memory and quarantine roughly
# triple a process's RSS, so a sanitizer build gets three times that.
limit=64
if nm "$EMBER_BIN" 2>/dev/null | grep -q '__asan_'; then limit=192; fi
if [ "$rss" -gt 0 ] && [ "$rss" -lt $((limit * 1024)) ]; then
  ok "RSS stayed under $limit MiB (at most $((rss / 1024)) MiB)"
else
  not_ok "RSS stayed under $limit MiB (at most $((rss / 1024)) MiB)"
fi
check "healthz answers after the attack" curl -fs "$PROBES/healthz" -o /dev/null
check "readyz answers after the attack" curl -fs "$PROBES/readyz" -o /dev/null
check "rejected connections are counted" metric_positive ember_http_connections_rejected_total
check "timed-out requests are counted" metric_positive ember_http_requests_timed_out_total
check "the process is still running" kill -0 "$EMBER_PID"
kill "$EMBER_PID"; wait "$EMBER_PID" 2>/dev/null

# ---- HTTPS, small limits ---------------------------------------------------------------------
S=$WORK/srv
mkdir -p "$S"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -keyout "$S/tls.key" -out "$S/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$S/ext"
openssl x509 -req -in "$S/tls.csr" -CA "$WORK/ca/subca.crt" -CAkey "$WORK/ca/subca.key" \
  -set_serial 7 -days 2 -extfile "$S/ext" -out "$S/leaf.crt" 2>/dev/null
cat "$S/leaf.crt" "$WORK/ca/tls.crt" >"$S/tls.crt"
start_ember slowtls --manifests test/integration/manifests --manifests "$WORK/ca/secret.yaml" \
  --api-tls-cert-file "$S/tls.crt" --api-tls-key-file "$S/tls.key" \
  --http-read-header-timeout 3s --http-max-connections-per-address 8 || exit 1
port=${API##*:}
# 12 per address: 4 never start a handshake, 8 send a header line a second; 4 over the cap.
python3 test/integration/slowloris.py --port "$port" --attackers 127.0.0.2,127.0.0.3 \
  --per-address 12 --raw 4 --hold 12 --line-every 1 --tls-ca "$WORK/ca/root.crt" \
  --body "$WORK/good.json" --pid "$EMBER_PID" --out "$WORK/tls.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.pop("lifetimes_unanswered"); d.pop("victim_latencies"); print("# " + json.dumps(d))' "$WORK/tls.json"
total=$(field "$WORK/tls.json" victim_total)
ok2=$(field "$WORK/tls.json" victim_ok_2s)
if [ "$total" -ge 5 ] && [ "$ok2" = "$total" ]; then
  ok "HTTPS: the victim got all $total certificates within 2 s"
else
  not_ok "HTTPS: the victim got $ok2 of $total certificates within 2 s ($(field "$WORK/tls.json" victim_codes))"
fi
cut=$(field "$WORK/tls.json" closed_unanswered)
longest=$(field "$WORK/tls.json" max_lifetime_unanswered)
if [ "$cut" -gt 0 ] && le "$longest" 5; then
  ok "HTTPS: slow handshakes and headers are closed at the 3 s deadline ($cut closed, the longest after ${longest} s)"
else
  not_ok "HTTPS: slow handshakes and headers are closed at the 3 s deadline ($cut closed, the longest after ${longest} s)"
fi
# Eight idle TLS connections from one address fill its cap; the ninth request is answered 503.
python3 - "$port" "$WORK/ca/root.crt" "$WORK/over.txt" <<'PY' &
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
held = []
for _ in range(8):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5, source_address=("127.0.0.9", 0))
    held.append(ctx.wrap_socket(s, server_hostname="127.0.0.1"))
open(sys.argv[3], "w").write("held\n")
time.sleep(2.5)
PY
holder=$!
PIDS+=("$holder")
for _ in $(seq 1 50); do [ -s "$WORK/over.txt" ] && break; sleep 0.1; done
code=$(curl -s -o "$WORK/over.body" -D "$WORK/over.h" -w '%{http_code}' --interface 127.0.0.9 \
  --cacert "$WORK/ca/root.crt" -m 5 -X POST -H 'Content-Type: application/json' \
  --data-binary "@$WORK/good.json" "https://127.0.0.1:$port/v1/certificaterequests")
if [ "$code" = 503 ] && grep -qi '^Retry-After: [0-9]' "$WORK/over.h"; then
  ok "HTTPS: a connection over its address's cap is answered 503 with Retry-After"
else
  not_ok "HTTPS: a connection over its address's cap is answered 503 with Retry-After (got $code: $(head -c 200 "$WORK/over.body"))"
fi
wait "$holder" 2>/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.9 --cacert "$WORK/ca/root.crt" \
  -m 5 -X POST -H 'Content-Type: application/json' --data-binary "@$WORK/good.json" \
  "https://127.0.0.1:$port/v1/certificaterequests")
check "HTTPS: once they are gone, that address is served again" test "$code" = 201
check "HTTPS: healthz answers" curl -fs "$PROBES/healthz" -o /dev/null
check "no private key in the logs" no_secrets_in "$LOG" "$WORK/ca/subca.key" "$S/tls.key"
