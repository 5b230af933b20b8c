#!/usr/bin/env bash
# test_kube_client.sh -- issuer/kube/kube.c and issuer/kube/reflector.c against the strict fake API server
# (test/integration/fake_apiserver.py), through the small driver test/integration/kubeclient.c:
# kubeconfig and in-cluster configuration, pagination, watch events and bookmarks, resume after
# a dropped watch, relist after 410, Retry-After on 429, token rotation, no token in any output.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh

build_tool kubeclient || exit 1
KC="$WORK/kubeclient"

FAKE=test/integration/fake_apiserver.py
ADMIN=kc-admin-$RANDOM
TOK=tok-ember-$RANDOM$RANDOM
TOK2=tok-rotated-$RANDOM$RANDOM
SECRETS=/api/v1/namespaces/team-a/secrets

openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=fake k8s CA" \
  -keyout "$WORK/ca.key" -out "$WORK/ca.crt" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kube-apiserver" \
  -keyout "$WORK/srv.key" -out "$WORK/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$WORK/srv.ext"
openssl x509 -req -in "$WORK/srv.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
  -extfile "$WORK/srv.ext" -out "$WORK/srv.crt" 2>/dev/null

# 250 secrets in team-a for the pagination test.
python3 - "$WORK/conf.json" "$TOK" <<'PY'
import json, sys
objs = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s%03d" % i, "namespace": "team-a"},
         "stringData": {"k": "v"}} for i in range(250)]
conf = {"tokens": {sys.argv[2]: {"user": "system:serviceaccount:ember:ember-issuer"}},
        "namespaces": ["default", "ember", "team-a", "team-b"],
        "bookmark_interval_seconds": 0.5, "objects": objs}
json.dump(conf, open(sys.argv[1], "w"))
PY

PORT=$(free_port)
URL="https://127.0.0.1:$PORT"
python3 "$FAKE" --config "$WORK/conf.json" --port "$PORT" --tls-cert "$WORK/srv.crt" --tls-key "$WORK/srv.key" \
  --admin-token "$ADMIN" --ready-file "$WORK/ready" --kubeconfig-out "$WORK/kubeconfig" \
  --kubeconfig-token "$TOK" --kubeconfig-ca "$WORK/ca.crt" 2>"$WORK/fake.log" &
PIDS+=("$!")
for _ in $(seq 1 100); do [ -s "$WORK/ready" ] && break; sleep 0.1; done
[ -s "$WORK/ready" ] || { not_ok "fake API server starts"; cat "$WORK/fake.log"; exit 1; }

ctl() { curl -s --cacert "$WORK/ca.crt" -H "X-Fake-Apiserver-Admin: $ADMIN" -X "${3:-POST}" \
  ${2:+--data-binary "$2"} "$URL/_fake/$1"; }
# stat KEY: a value from the reflector's stats file.
stat() { sed -n "s/^$1=//p" "$WORK/stats" 2>/dev/null; }
# wait_for SECONDS COMMAND...: polls every 0.1 s.
wait_for() {
  local n=$(($1 * 10)); shift
  while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}
stat_ge() { [ "$(stat "$1")" -ge "$2" ] 2>/dev/null; }
has_event() { grep -qx -- "$1" "$WORK/events" 2>/dev/null; }
OUTPUTS=()
# result NAME: ok when the previous command (list) succeeded.
result() { if [ $? = 0 ]; then ok "$1"; else not_ok "$1"; fi; }
run() { local o="$WORK/out.$RANDOM"; OUTPUTS+=("$o"); "$KC" "$@" >"$o" 2>&1; echo $? >"$o.rc"; OUT=$o; }

# --- configuration -------------------------------------------------------------------------------
run --kubeconfig "$WORK/kubeconfig" request GET "$SECRETS/s007"
grep -q '^code=200 .*' "$OUT" && grep -q '"name":"s007"' "$OUT"
result "kubeconfig with certificate-authority-data + token: GET answers 200 with the object"

python3 - "$WORK/kubeconfig" "$WORK/kc-exec" "$WORK/kc-authp" "$WORK/kc-file" "$WORK/ca.crt" "$WORK/tokfile" "$TOK" <<'PY'
import json, sys
k = json.load(open(sys.argv[1]))
e = json.loads(json.dumps(k)); e["users"][0]["user"] = {"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1"}}
json.dump(e, open(sys.argv[2], "w"))
a = json.loads(json.dumps(k)); a["users"][0]["user"] = {"auth-provider": {"name": "gcp"}}
json.dump(a, open(sys.argv[3], "w"))
f = json.loads(json.dumps(k)); c = f["clusters"][0]["cluster"]; del c["certificate-authority-data"]
c["certificate-authority"] = sys.argv[5]; f["users"][0]["user"] = {"tokenFile": sys.argv[6]}
json.dump(f, open(sys.argv[4], "w"))
open(sys.argv[6], "w").write(sys.argv[7] + "\n")
PY
run --kubeconfig "$WORK/kc-exec" check
[ "$(cat "$OUT.rc")" = 2 ] && grep -q 'exec credential plugin, which Ember does not support' "$OUT"
result "exec user refused (exit 2) with a message saying so"
run --kubeconfig "$WORK/kc-authp" check
[ "$(cat "$OUT.rc")" = 2 ] && grep -q 'auth-provider, which Ember does not support' "$OUT"
result "auth-provider user refused with a message saying so"
run --kubeconfig "$WORK/kc-file" request GET "$SECRETS/s001"
grep -q '^code=200 ' "$OUT"
result "kubeconfig with certificate-authority (file) + tokenFile works"

# A CA that did not sign the server: TLS is verified.
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=other" \
  -keyout "$WORK/other.key" -out "$WORK/other.crt" 2>/dev/null
python3 - "$WORK/kubeconfig" "$WORK/kc-other" "$WORK/other.crt" <<'PY'
import base64, json, sys
k = json.load(open(sys.argv[1]))
k["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(open(sys.argv[3], "rb").read()).decode()
json.dump(k, open(sys.argv[2], "w"))
PY
run --kubeconfig "$WORK/kc-other" request GET "$SECRETS/s001"
grep -q '^error=transient' "$OUT"
result "a server certificate from another CA is refused (TLS always verified)"

run --kubeconfig "$WORK/kubeconfig" request GET "$SECRETS/nope"
grep -q '^code=404 reason=NotFound .*message=secrets "nope" not found' "$OUT"
result "404 answers carry the parsed Status (reason NotFound, message)"

# --- 429 honours Retry-After ---------------------------------------------------------------------
ctl fault '{"count": 1, "status": 429, "retry_after": 2, "verbs": ["list"], "resource": "secrets"}' >/dev/null
run --kubeconfig "$WORK/kubeconfig" request GET "$SECRETS"
grep -q '^code=429 reason=TooManyRequests retry_after=2 ' "$OUT"
result "kube_request reports a 429 with retry_after=2 from the Retry-After header"

# --- reflector: pagination, events, bookmarks ------------------------------------------------------
rm -f "$WORK/stop"
"$KC" --kubeconfig "$WORK/kubeconfig" --page-limit 100 --watch-min 20 --watch-max 30 \
  --backoff-base 100 --backoff-cap 1000 reflect "$SECRETS" "$WORK/events" "$WORK/stats" "$WORK/stop" \
  >"$WORK/reflect.out" 2>&1 &
REFL=$!
PIDS+=("$REFL")
OUTPUTS+=("$WORK/reflect.out" "$WORK/events" "$WORK/stats")
wait_for 10 has_event SYNCED
wait_for 2 stat_ge lists 1  # the stats file lags the events file by up to 100 ms
[ "$(stat list_pages)" = 3 ] && [ "$(grep -c '^UPSERT ' "$WORK/events")" = 250 ] && [ "$(stat lists)" = 1 ]
result "list of 250 objects with limit=100: 3 pages, 250 upserts, synced once"
wait_for 5 stat_ge watches 1
ctl drop-watches '{"graceful": true}' >/dev/null  # a watch shows in the fake's log once it ends
wait_for 5 stat_ge watches 2
ctl stats '' GET >"$WORK/fs.json"
python3 - "$WORK/fs.json" <<'PY'
import json, sys
from urllib.parse import parse_qs
log = json.load(open(sys.argv[1]))["log"]
lists = [parse_qs(e["query"]) for e in log if e["verb"] == "list" and e["path"].endswith("/secrets") and e["code"] == 200]
watches = [parse_qs(e["query"]) for e in log if e["verb"] == "watch"]
ok = len(lists) >= 3 and lists[-3].get("limit") == ["100"] and lists[-3].get("resourceVersion") == ["0"]
ok = ok and "continue" in lists[-2] and "continue" in lists[-1]
ok = ok and len(watches) >= 1 and watches[0].get("allowWatchBookmarks") == ["true"] and \
    20 <= int(watches[0]["timeoutSeconds"][0]) <= 30 and watches[0].get("resourceVersion", [""])[0] != ""
sys.exit(0 if ok else 1)
PY
result "the pages asked limit=100, then continue tokens; the watch starts from the list RV with bookmarks"

ctl objects '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"new1","namespace":"team-a"},"stringData":{"a":"b"}}' >/dev/null
wait_for 5 grep -q '^UPSERT team-a/new1 ' "$WORK/events"
ctl objects '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"new1","namespace":"team-a"},"stringData":{"a":"c"}}' >/dev/null
sleep 0.5
ctl delete-object '{"apiVersion":"v1","kind":"Secret","namespace":"team-a","name":"new1"}' >/dev/null
wait_for 5 has_event "REMOVE team-a/new1"
[ "$(grep -c '^UPSERT team-a/new1 ' "$WORK/events")" = 2 ] && has_event "REMOVE team-a/new1"
result "the watch sees ADDED, MODIFIED and DELETED"

# A change elsewhere moves the global RV; only a bookmark can tell the secrets watch.
ctl objects '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"other","namespace":"team-b"}}' >/dev/null
RV_NOW=$(ctl stats '' GET | python3 -c 'import json,sys; print(json.load(sys.stdin)["rv"])')
rv_is_now() { [ "$(stat last_rv)" = "$RV_NOW" ]; }
wait_for 5 rv_is_now
[ "$(stat last_rv)" = "$RV_NOW" ] && stat_ge bookmarks 1
result "bookmarks advance the last RV ($RV_NOW)"

# --- dropped watch: resume from the last RV without relisting ------------------------------------
W0=$(stat watches); P0=$(stat list_pages)
ctl objects '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"drop1","namespace":"team-a"}}' >/dev/null
wait_for 5 grep -q '^UPSERT team-a/drop1 ' "$WORK/events"
LAST=$(stat last_rv)
ctl drop-watches '{"graceful": false}' >/dev/null
wait_for 5 stat_ge watches $((W0 + 1))
[ "$(stat list_pages)" = "$P0" ] && stat_ge watch_restarts 1
result "a dropped watch (abrupt close) is re-opened without a relist"
ctl drop-watches '{"graceful": true}' >/dev/null
wait_for 5 stat_ge watches $((W0 + 2))
ctl stats '' GET >"$WORK/fs2.json"
[ "$(stat list_pages)" = "$P0" ] && stat_ge watch_restarts 2 && python3 - "$WORK/fs2.json" "$LAST" <<'PY'
import json, sys
from urllib.parse import parse_qs
log = json.load(open(sys.argv[1]))["log"]
w = [parse_qs(e["query"]) for e in log if e["verb"] == "watch"]
rv = w[-1].get("resourceVersion", [""])[0]  # the watch opened after the abrupt drop
sys.exit(0 if rv and int(rv) >= int(sys.argv[2]) else 1)
PY
result "a watch closed cleanly is re-opened from the last RV (not the list RV), without a relist"

# --- 410: relist, absent objects removed -----------------------------------------------------------
L0=$(stat lists)
# Stop the watch stream first so that the deletion is only visible through a relist.
ctl settings '{"max_watches": 0}' >/dev/null
ctl drop-watches '{"graceful": false}' >/dev/null
sleep 0.3
ctl delete-object '{"apiVersion":"v1","kind":"Secret","namespace":"team-a","name":"s100"}' >/dev/null
ctl objects '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"late","namespace":"team-a"}}' >/dev/null
ctl expire-history '{}' >/dev/null
ctl settings '{"max_watches": 100}' >/dev/null
wait_for 10 stat_ge relists 1
wait_for 5 has_event "REMOVE team-a/s100"
stat_ge relists 1 && stat_ge expired 1 && has_event "REMOVE team-a/s100" && grep -q '^UPSERT team-a/late ' "$WORK/events" && [ "$(stat lists)" -gt "$L0" ]
result "history expired -> 410 -> relist; the object deleted meanwhile is reported removed"
stat_ge throttled 1
result "429 on the watch (max_watches) is waited out (throttled counted)"

# --- watch cache rebuilt (API server restart): one quorum relist, then no loop -----------------------
# A real kube-apiserver after a restart serves a paged list at an old RV exactly (from etcd) but
# expires a watch from it (its rebuilt watch cache starts later).  A reflector that relists at
# the expired RV gets that RV back and watches from it again: a relist loop.  It must relist
# with a quorum read (no resourceVersion) instead.
fake_open_watches() { [ "$(ctl stats '' GET | python3 -c 'import json,sys; print(json.load(sys.stdin)["watches"]["open"])')" -ge 1 ]; }
ctl settings '{"bookmark_interval_seconds": 3600}' >/dev/null
wait_for 10 fake_open_watches
sleep 0.8  # the bookmark already due on the open watch goes out; no other comes
# A change the secrets/team-a watch does not see: the global RV moves past the reflector's RV.
ctl objects '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"moved","namespace":"team-b"}}' >/dev/null
REFL_RV=$(stat last_rv); L0=$(stat lists); X0=$(stat expired)
ctl reset-stats '' >/dev/null
T0=$(date +%s%N)
FLOOR=$(ctl watch-cache-reset '{}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["watch_floor_rv"])')
wait_for 5 stat_ge lists $((L0 + 1))
NEW_RV=$(ctl objects '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"after-reset","namespace":"team-a"}}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])')
wait_for 5 grep -q '^UPSERT team-a/after-reset ' "$WORK/events"
seen=no; grep -q '^UPSERT team-a/after-reset ' "$WORK/events" && seen=yes
rv_reached() { [ "$(stat last_rv)" -ge "$NEW_RV" ] 2>/dev/null; }
wait_for 2 rv_reached  # the stats file lags the events file
RV_AFTER=$(stat last_rv)
sleep "$(python3 -c "import time; print(max(0, 3 - (time.clock_gettime_ns(time.CLOCK_REALTIME) - $T0) / 1e9))")"
L1=$(stat lists); X1=$(stat expired)
ctl stats '' GET >"$WORK/fs5.json"
[ "$REFL_RV" -lt "$FLOOR" ] && [ "$((X1 - X0))" -ge 1 ] && python3 - "$WORK/fs5.json" "$REFL_RV" <<'PY'
import json, sys
from urllib.parse import parse_qs
log = json.load(open(sys.argv[1]))["log"]
refl_rv = int(sys.argv[2])
ev = [(e["verb"], parse_qs(e["query"]), e["code"]) for e in log if e["path"].endswith("/team-a/secrets")]
firsts = [i for i, (v, q, c) in enumerate(ev) if v == "list" and "continue" not in q]
if not firsts:
    sys.exit(1)
v, q, c = ev[firsts[0]]
# the expired watch (from the reflector's RV; logged when it ended) came before the relist,
# whose first page is a quorum read (the watch after it is still open, so not logged yet)
expired_watch = any(v == "watch" and q.get("resourceVersion") == [str(refl_rv)] for v, q, c in ev[:firsts[0]])
sys.exit(0 if expired_watch and c == 200 and "resourceVersion" not in q else 1)
PY
result "watch-cache-reset: the watch from RV $REFL_RV expires (floor $FLOOR); the reflector relists with a quorum read (no resourceVersion)"
[ "$seen" = yes ] && [ "$RV_AFTER" -ge "$NEW_RV" ] 2>/dev/null
result "after the watch-cache reset the reflector keeps working: a secret created afterwards arrives (RV $NEW_RV)"
python3 - "$WORK/fs5.json" "$L0" "$L1" <<'PY'
import json, sys
from urllib.parse import parse_qs
log = json.load(open(sys.argv[1]))["log"]
firsts = [e for e in log if e["verb"] == "list" and e["path"].endswith("/team-a/secrets")
          and "continue" not in parse_qs(e["query"])]
n = int(sys.argv[3]) - int(sys.argv[2])
sys.exit(0 if 1 <= n <= 2 and 1 <= len(firsts) <= 2 else 1)
PY
result "after the watch-cache reset: at most 2 lists in 3 s (no relist loop; $((L1 - L0)) counted)"
ctl settings '{"bookmark_interval_seconds": 0.5}' >/dev/null

# --- 429 on a list honours Retry-After --------------------------------------------------------------
touch "$WORK/stop"
wait "$REFL"
python3 -c 'import sys; v=int(open(sys.argv[1]).read().split("=")[1]); sys.exit(0 if v < 2000 else 1)' "$WORK/reflect.out"
result "reflector stops promptly (under 2 s)"
rm -f "$WORK/stop"
ctl fault '{"count": 1, "status": 429, "retry_after": 2, "verbs": ["list"], "resource": "secrets"}' >/dev/null
"$KC" --kubeconfig "$WORK/kubeconfig" --page-limit 500 --watch-min 20 --watch-max 30 \
  reflect "$SECRETS" "$WORK/events2" "$WORK/stats2" "$WORK/stop" >"$WORK/reflect2.out" 2>&1 &
REFL2=$!
PIDS+=("$REFL2")
OUTPUTS+=("$WORK/reflect2.out" "$WORK/events2" "$WORK/stats2")
has_event2() { grep -qx SYNCED "$WORK/events2" 2>/dev/null; }
T0=$(date +%s%N)
wait_for 10 has_event2
T1=$(date +%s%N)
grep -qx SYNCED "$WORK/events2" && [ $(((T1 - T0) / 1000000)) -ge 1800 ] && grep -q '^throttled=1$' "$WORK/stats2"
result "429 on the first list: the reflector waits Retry-After (2 s) then lists"
touch "$WORK/stop"
wait "$REFL2"
rm -f "$WORK/stop"

# --- in cluster: token rotation --------------------------------------------------------------------
SA="$WORK/sa"
mkdir -p "$SA"
cp "$WORK/ca.crt" "$SA/ca.crt"
printf '%s\n' "$TOK" >"$SA/token"
printf 'team-a' >"$SA/namespace"
export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$PORT
run --in-cluster "$SA" check
grep -q "^server=https://127.0.0.1:$PORT namespace=team-a ca=yes token=yes" "$OUT"
result "in cluster: server from KUBERNETES_SERVICE_HOST/PORT, namespace from the file"
"$KC" --in-cluster "$SA" --token-reread 3600 loop "$SECRETS/s001" 100 "$WORK/loop" "$WORK/stop" \
  >"$WORK/loop.out" 2>&1 &
LOOP=$!
PIDS+=("$LOOP")
OUTPUTS+=("$WORK/loop" "$WORK/loop.out")
sleep 0.5
ctl reset-stats '' >/dev/null
printf '%s\n' "$TOK2" >"$SA/token.new" && mv "$SA/token.new" "$SA/token"
ctl rotate-token "{\"old\": \"$TOK\", \"new\": \"$TOK2\"}" >/dev/null
sleep 1
touch "$WORK/stop"
wait "$LOOP"
ctl stats '' GET >"$WORK/fs3.json"
absent -v -x 200 "$WORK/loop" && python3 - "$WORK/fs3.json" <<'PY'
import json, sys
log = json.load(open(sys.argv[1]))["log"]
codes = [e["code"] for e in log if e["verb"] == "get"]
sys.exit(0 if codes.count(401) == 1 and codes[-1] == 200 and len(codes) >= 5 else 1)
PY
result "token rotated in the file: after one 401 the token is re-read and every request succeeds"

rm -f "$WORK/stop"
printf '%s\n' "$TOK" >"$SA/token.new" && mv "$SA/token.new" "$SA/token"
ctl rotate-token "{\"old\": \"$TOK2\", \"new\": \"$TOK\"}" >/dev/null
"$KC" --in-cluster "$SA" --token-reread 1 loop "$SECRETS/s001" 100 "$WORK/loop2" "$WORK/stop" \
  >"$WORK/loop2.out" 2>&1 &
LOOP=$!
PIDS+=("$LOOP")
OUTPUTS+=("$WORK/loop2" "$WORK/loop2.out")
sleep 0.5
TOK3=tok-third-$RANDOM$RANDOM
# As the kubelet does: the new token is valid before it lands in the file; the old one dies later.
ctl tokens "{\"set\": {\"$TOK3\": {\"user\": \"system:serviceaccount:ember:ember-issuer\"}}}" >/dev/null
printf '%s\n' "$TOK3" >"$SA/token.new" && mv "$SA/token.new" "$SA/token"
sleep 1.5
ctl reset-stats '' >/dev/null
ctl tokens "{\"remove\": [\"$TOK\"]}" >/dev/null
sleep 1
touch "$WORK/stop"
wait "$LOOP"
ctl stats '' GET >"$WORK/fs4.json"
absent -v -x 200 "$WORK/loop2" && python3 - "$WORK/fs4.json" <<'PY'
import json, sys
log = json.load(open(sys.argv[1]))["log"]
codes = [e["code"] for e in log if e["verb"] == "get"]
sys.exit(0 if 401 not in codes and len(codes) >= 5 else 1)
PY
result "with a 1 s re-read period the new token is used without any 401"

san=""
for f in "${OUTPUTS[@]}"; do
  [ -f "$f" ] || { san="$san $f(missing)"; continue; }
  grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f" && san="$san $f"
done
[ -z "$san" ]
result "no sanitizer report in the driver's output"
# shellcheck disable=SC2086 # $san is a list of file names made above
[ -n "$san" ] && cat $san

# --- no token anywhere -----------------------------------------------------------------------------
leak=""
[ -s "$WORK/fake.log" ] || leak="$leak $WORK/fake.log(missing or empty)"
for f in "${OUTPUTS[@]}" "$WORK/fake.log"; do
  # A missing file cannot show that no token is in it.
  [ -f "$f" ] || { leak="$leak $f(missing)"; continue; }
  for t in "$TOK" "$TOK2" "$TOK3"; do grep -qF -- "$t" "$f" && leak="$leak $f"; done
done
[ -z "$leak" ]
result "no token in any output of the client (or the fake's log)"
[ -n "$leak" ] && echo "token found in:$leak"
exit 0
