# Case 7: watch recovery for real. With the API server's watch cache off (watches served from
# etcd), etcd compacted past Ember's resourceVersion while its watch is dropped (the API server
# stopped): Ember gets a real 410 "too old resource version", relists (the audit log shows the
# list), and the requests made meanwhile are all issued once. Then the API server restarted in
# the middle of a run of requests: the same.
. "$(dirname "$0")/common.sh"

NS=watch
METRICS=$(cat "$E2E_DIR/ember-0.metrics")
relists() { curl -fs "$METRICS/metrics" | awk '$1 ~ /^ember_watch_relists_total/ {n += $2} END {print n + 0}'; }
ca_issuer $NS local-ca watch-apps || not_ok "the Issuer $NS/local-ca is created"
dns_policy watch-apps $NS '[a-z0-9]+\.watch\.svc' || not_ok "the IssuancePolicy watch-apps applies"
check "the Issuer $NS/local-ca becomes Ready" wait_cond 30 issuers.ember.issuer.dev $NS local-ca Ready True
make_csr "$CASE_DIR/w" -subj "/CN=w.watch.svc" -addext "subjectAltName=DNS:w.watch.svc"
# create_crs PREFIX FROM TO: requests PREFIXi, each retried until the API server takes it (it
# may be restarting); bounded to 60 tries each.
create_crs() {
  local i
  for i in $(seq "$2" "$3"); do
    cr_json "$1$i" $NS "$CASE_DIR/w.csr" Issuer local-ca >"$CASE_DIR/$1$i.json"
    for _ in $(seq 1 60); do
      kc create -f "$CASE_DIR/$1$i.json" >/dev/null 2>&1 && break
      kc -n $NS get certificaterequest "$1$i" >/dev/null 2>&1 && break
      sleep 0.5
    done
  done
}
# issued_once PREFIX N: each of PREFIX1..N is Ready and was signed once: one "issued" record in
# Ember's audit log (a request may also have had a status write before it was signed, e.g.
# Approved and Pending while its Issuer was being re-checked during the restart).
issued_once() {
  local i bad=0 n w
  audit_count_by "o.get('name')" "verb == 'patch' and o.get('resource') == 'certificaterequests' and o.get('subresource') == 'status' and o.get('namespace') == '$NS' and u == '$EMBER_USER' and code == 200" >"$CASE_DIR/writes"
  for i in $(seq 1 "$2"); do
    [ "$(cond certificaterequests $NS "$1$i" Ready)" = True ] || { echo "# $1$i not Ready"; bad=1; }
    n=$(grep -F '"log":"audit"' "$E2E_DIR/ember-0.log" | grep -F "\"namespace\":\"$NS\",\"name\":\"$1$i\"," |
      grep -cF '"outcome":"issued"')
    [ "$n" = 1 ] || { echo "# $1$i: issued $n times in Ember's audit log"; bad=1; }
    w=$(awk -v n="$1$i" '$1 == n {print $2}' "$CASE_DIR/writes")
    [ "${w:-0}" -le 2 ] || { echo "# $1$i: $w successful status writes by Ember"; bad=1; }
  done
  return $bad
}
_ready() { # PREFIX N
  [ "$(kc -n $NS get certificaterequests -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -cE "^$1[0-9]+ True$")" = "$2" ]
}

# 1. The API server again, with its watch cache off.
e2e_apiserver_stop
check "kube-apiserver restarts with --watch-cache=false" e2e_apiserver_start --watch-cache=false
create_crs a 1 5
check "Ember issues requests through the restarted API server (watch served from etcd)" e2e_wait 60 _ready a 5

# 2. Drop the watch (API server stopped), move etcd's revision past Ember's and compact it.
r0=$(relists)
e2e_apiserver_stop
t_gone=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
for i in $(seq 1 20); do
  rev=$(curl -fs -X POST "$ETCD_URL/v3/kv/put" \
    -d "{\"key\":\"$(printf '/e2e/filler/%s' "$i" | base64 -w0)\",\"value\":\"$(printf 'x%s' "$i" | base64 -w0)\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
done
check "etcd compacted at revision $rev, past every resourceVersion Ember has seen" \
  curl -fs -X POST "$ETCD_URL/v3/kv/compaction" -d "{\"revision\":\"$rev\",\"physical\":true}" -o /dev/null
check "kube-apiserver starts again (watch cache off)" e2e_apiserver_start --watch-cache=false
create_crs b 1 10
_relisted() { [ "$(relists)" -gt "$r0" ]; }
check "Ember relisted after the 410 (ember_watch_relists_total rose)" e2e_wait 60 _relisted
cr_lists="verb == 'list' and o.get('resource') == 'certificaterequests' and u == '$EMBER_USER' and e.get('requestReceivedTimestamp', '') > '$t_gone'"
_cr_relisted() { [ "$(audit_count "$cr_lists")" -ge 1 ]; }
check "the API server's audit log shows Ember's relist of certificaterequests" e2e_wait 30 _cr_relisted
check "the 10 requests made meanwhile are all issued" e2e_wait 60 _ready b 10
check "... each signed exactly once (Ember's audit log; at most one status write before it)" issued_once b 10

# 3. The API server restarted in the middle of a run of requests (watch cache back on).
create_crs c 1 6
e2e_apiserver_stop
( sleep 3; e2e_apiserver_start >/dev/null 2>&1 ) &
starter=$!
create_crs c 7 14
wait "$starter"
check "kube-apiserver is back (watch cache on)" e2e_apiserver_ready
check "the 14 requests made around the restart are all issued" e2e_wait 90 _ready c 14
check "... each signed exactly once" issued_once c 14
# No relist loop: after each of the two restarts, one relist per collection (requests, issuers,
# cluster issuers, policies) is what recovery needs (a paged list at the expired RV would be
# served exactly at that RV, and watching from it again expires again: the loop this guards).
sleep 5
lists=$(audit_count "verb == 'list' and u == '$EMBER_USER' and e.get('requestReceivedTimestamp', '') > '$t_gone'")
check "Ember listed $lists times in all since the first compaction (no relist loop: at most 16)" test "$lists" -le 16
