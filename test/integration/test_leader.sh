#!/usr/bin/env bash
# test_leader.sh -- leader election through the real binary: two controller replicas (each with
# its own token, so the fake API server tells their writes apart) against one strict fake API
# server. Exactly one holds the coordination.k8s.io/v1 Lease and only it writes statuses;
# kill -9 of the leader lets the other take over within leaseDuration + retryPeriod (plus the
# acquire jitter and some slack) with leaseTransitions + 1, and it then issues; SIGTERM of a
# leader releases the Lease (holderIdentity "") so the other takes over at once.
# shellcheck disable=SC2153,SC2154 # replica sets PID_x, LOG_x and ID_x through printf -v
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh
. test/integration/k8s.sh

LEASE_S=4 RENEW_S=3 RETRY_S=1
make_ca "$WORK/ca"

USER_A=system:serviceaccount:ember:ember-issuer-a
USER_B=system:serviceaccount:ember:ember-issuer-b
cat >"$WORK/conf.json" <<JSON
{"tokens": {
   "tok-ember-a": {"user": "$USER_A",
                   "approve_signers": ["issuers.ember.issuer.dev/*", "clusterissuers.ember.issuer.dev/*"]},
   "tok-ember-b": {"user": "$USER_B",
                   "approve_signers": ["issuers.ember.issuer.dev/*", "clusterissuers.ember.issuer.dev/*"]},
   "tok-certmanager": {"user": "system:serviceaccount:cert-manager:cert-manager"}},
 "namespaces": ["default", "ember"],
 "bookmark_interval_seconds": 1}
JSON
check "the fake API server is up" k8s_start "$WORK/conf.json" --kubeconfig-out "$WORK/kubeconfig-a" --kubeconfig-token tok-ember-a
sed 's/tok-ember-a/tok-ember-b/' "$WORK/kubeconfig-a" >"$WORK/kubeconfig-b"

# lease_field FIELD: a spec field of the Lease ("" when absent or no Lease).
lease_field() {
  obj coordination.k8s.io/v1 Lease ember ember-issuer-leader
  python3 - "$WORK/obj.json" "$1" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit(0)
v = (d.get("spec") or {}).get(sys.argv[2]) if d.get("kind") == "Lease" else None
print("" if v is None else v)
PY
}
# status_writers [NAME]: the users of successful status writes (of request NAME, or any object).
status_writers() {
  curl -s --cacert "$WORK/ca/root.crt" -H "X-Fake-Apiserver-Admin: $ADMIN" "$URL/_fake/stats" |
    python3 -c '
import json, sys
name = sys.argv[1] if len(sys.argv) > 1 else ""
users = sorted({w["user"] for w in json.load(sys.stdin)["write_log"]
                if w.get("subresource") == "status" and int(w.get("code") or 0) < 300
                and (not name or w.get("name") == name)})
print(" ".join(users))' "$@"
}
# identity_of LOG: the identity a replica announced in its log.
identity_of() {
  sed -n 's/.*"msg":"\([^" ]*\) is trying to acquire the Lease".*/\1/p' "$1" | head -1
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# wait_holder WANT SECONDS: polls every 50 ms until holderIdentity is WANT.
wait_holder() {
  local end=$(($(now_ms) + $2 * 1000))
  while [ "$(now_ms)" -lt "$end" ]; do
    [ "$(lease_field holderIdentity)" = "$1" ] && return 0
    sleep 0.05
  done
  return 1
}

ca_secret test-ca "$WORK/ca"
cluster_issuer test-ca test-ca >/dev/null
policy web "$WEB_POLICY"

# replica NAME: starts one controller replica with leader election; sets PID_<NAME>, LOG_<NAME>.
replica() {
  start_ember "$1" --kubeconfig "$WORK/kubeconfig-$2" --cluster-resource-namespace ember \
    --issuer-recheck-period 2s --watch-timeout 5s --log-level debug --log-format json \
    --leader-elect --leader-election-namespace ember \
    --leader-election-lease-duration ${LEASE_S}s --leader-election-renew-deadline ${RENEW_S}s \
    --leader-election-retry-period ${RETRY_S}s || return 1
  printf -v "PID_$1" '%s' "$EMBER_PID"
  printf -v "LOG_$1" '%s' "$LOG"
}
replica a a || exit 1
replica b b || exit 1

has_holder() {
  for _ in $(seq 1 100); do [ -n "$(lease_field holderIdentity)" ] && return 0; sleep 0.1; done
  return 1
}
check "a Lease holder appears" has_holder
for _ in $(seq 1 50); do [ -n "$(identity_of "$LOG_a")" ] && [ -n "$(identity_of "$LOG_b")" ] && break; sleep 0.1; done
ID_a=$(identity_of "$LOG_a")
ID_b=$(identity_of "$LOG_b")
check "the replicas have distinct identities ($ID_a, $ID_b)" bash -c '[ -n "$1" ] && [ -n "$2" ] && [ "$1" != "$2" ]' _ "$ID_a" "$ID_b"
HOLDER=$(lease_field holderIdentity)
if [ "$HOLDER" = "$ID_a" ]; then L=a F=b; else L=b F=a; fi
eval "LPID=\$PID_$L FPID=\$PID_$F LLOG=\$LOG_$L FLOG=\$LOG_$F ID_L=\$ID_$L ID_F=\$ID_$F"
USER_L=$([ $L = a ] && echo "$USER_A" || echo "$USER_B")
USER_F=$([ $F = a ] && echo "$USER_A" || echo "$USER_B")
check "the holder is one of the two replicas" bash -c '[ "$1" = "$2" ] || [ "$1" = "$3" ]' _ "$HOLDER" "$ID_a" "$ID_b"
check "the Lease has the configured leaseDurationSeconds" test "$(lease_field leaseDurationSeconds)" = "$LEASE_S"
check "... and MicroTime renewTime (6 fractional digits)" \
  bash -c '[[ "$1" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$ ]]' _ "$(lease_field renewTime)"
T0=$(lease_field leaseTransitions)
R0=$(lease_field renewTime)
sleep $((RETRY_S * 3))
check "the leader renews (renewTime moves) and keeps the Lease (transitions unchanged)" \
  bash -c '[ "$1" = "$2" ] && [ "$3" = "$4" ] && [ "$5" != "$6" ]' _ \
  "$(lease_field holderIdentity)" "$HOLDER" "$(lease_field leaseTransitions)" "$T0" "$(lease_field renewTime)" "$R0"
check "only the leader logs that it leads" \
  bash -c '. test/shlib.sh && grep -q "acquired the Lease" "$1" && absent -F "acquired the Lease" "$2"' _ "$LLOG" "$FLOG"
check "the follower sees who holds the Lease" grep -qF "the Lease is held by $ID_L" "$FLOG"

# cr NAME DNS: a CertificateRequest as cert-manager creates it.
cr() { kcr "$1" default ClusterIssuer test-ca web "$2"; }

cr first app.example.com
check "cert-manager creates a request (201)" test "$CODE" = 201
check "the request is issued" wait_cond $CM CertificateRequest default first Ready reason Issued
check "every status write so far came from the leader ($USER_L; got: $(status_writers))" \
  test "$(status_writers)" = "$USER_L"

# kill -9: no release, the follower must wait for the lease to expire by its own clock.
KILLED=$(now_ms)
{ kill -9 "$LPID"; wait "$LPID"; } 2>/dev/null
wait_holder "$ID_F" 20
TOOK=$(($(now_ms) - KILLED))
# Worst case by the algorithm: the follower may have seen the last renewal up to
# 2.2 x retryPeriod (jittered poll) after it happened, then waits leaseDuration from that
# observation; 1.5 s of slack for a loaded machine.
LIMIT=$((LEASE_S * 1000 + RETRY_S * 2200 + 1500))
check "after kill -9 the follower takes over in ${TOOK} ms (leaseDuration ${LEASE_S}s + retryPeriod ${RETRY_S}s; limit $LIMIT ms)" \
  bash -c '[ "$1" = "$2" ] && [ "$3" -le "$4" ]' _ "$(lease_field holderIdentity)" "$ID_F" "$TOOK" "$LIMIT"
check "... and not before leaseDuration - retryPeriod (${TOOK} ms >= $((LEASE_S * 1000 - RETRY_S * 1000 - 500)) ms)" \
  test "$TOOK" -ge $((LEASE_S * 1000 - RETRY_S * 1000 - 500))
check "... leaseTransitions incremented by exactly 1 ($T0 -> $(lease_field leaseTransitions))" \
  test "$(lease_field leaseTransitions)" = $((T0 + 1))
check "... the new leader logs that it leads" grep -q "acquired the Lease" "$FLOG"

cr second b.example.com
check "a new request is issued by the new leader" wait_cond $CM CertificateRequest default second Ready reason Issued
check "... its status was written only by the new leader ($USER_F; got: $(status_writers second))" \
  test "$(status_writers second)" = "$USER_F"

# A fresh follower (the killed replica restarted, with a new identity), then SIGTERM the leader.
replica c "$L" || exit 1
for _ in $(seq 1 50); do grep -qF "the Lease is held by $ID_F" "$LOG_c" && break; sleep 0.1; done
ID_c=$(identity_of "$LOG_c")
check "the restarted replica follows" grep -qF "the Lease is held by $ID_F" "$LOG_c"
T1=$(lease_field leaseTransitions)
kill -TERM "$FPID"
STOPPED=$(now_ms)
# Poll every 50 ms: when the Lease is seen released (holder "") and when the other holds it.
RELEASED=""
END=$(($(now_ms) + 10000))
while [ "$(now_ms)" -lt "$END" ]; do
  h=$(lease_field holderIdentity)
  [ -z "$h" ] && [ -z "$RELEASED" ] && RELEASED=$(now_ms)
  [ "$h" = "$ID_c" ] && break
  sleep 0.05
done
TAKEN=$(now_ms)
wait "$FPID"
RC=$?
check "SIGTERM stops the leader cleanly (exit 0)" test "$RC" = 0
check "... after it released the Lease (PUT holderIdentity \"\")" grep -q "released the Lease" "$FLOG"
# Once released the follower takes it at its next attempt (<= 2.2 x retryPeriod), not after
# leaseDuration; if the released state was too short to be seen, count from the SIGTERM.
TOOK=$((TAKEN - ${RELEASED:-$STOPPED}))
LIMIT=$((RETRY_S * 2200 + 700))
check "... so the other replica takes over ${TOOK} ms after the release, well under leaseDuration (${LEASE_S}s; limit $LIMIT ms)" \
  bash -c '[ "$1" = "$2" ] && [ "$3" -le "$4" ]' _ "$(lease_field holderIdentity)" "$ID_c" "$TOOK" "$LIMIT"
check "... leaseTransitions incremented by exactly 1 ($T1 -> $(lease_field leaseTransitions))" \
  test "$(lease_field leaseTransitions)" = $((T1 + 1))
curl -s --cacert "$WORK/ca/root.crt" -H "X-Fake-Apiserver-Admin: $ADMIN" "$URL/_fake/stats" >"$WORK/stats.json"
check "the release is a PUT with holderIdentity \"\" and leaseDurationSeconds 1" python3 - "$WORK/stats.json" "$USER_F" <<'PY'
import json, sys
ok = False
for w in json.load(open(sys.argv[1]))["write_log"]:
    if w["resource"] == "leases" and w["verb"] == "update" and w["user"] == sys.argv[2] and int(w["code"]) == 200:
        spec = json.loads(w["body"]).get("spec", {})
        ok = ok or (spec.get("holderIdentity") == "" and spec.get("leaseDurationSeconds") == 1)
sys.exit(0 if ok else 1)
PY

# The API server fails every Lease request: the leader must stop leading (and writing) once it
# could not renew for renewDeadline, and lead again (same identity: no transition) after.
T2=$(lease_field leaseTransitions)
curl -s --cacert "$WORK/ca/root.crt" -H "X-Fake-Apiserver-Admin: $ADMIN" -o /dev/null -X POST \
  --data-binary '{"count":100000,"status":503,"verbs":["get","create","update"],"resource":"leases"}' "$URL/_fake/fault"
FAULTED=$(now_ms)
for _ in $(seq 1 150); do grep -q "stopped leading" "$LOG_c" && break; sleep 0.05; done
TOOK=$(($(now_ms) - FAULTED))
check "with the Lease API failing, the leader stops leading in ${TOOK} ms (renewDeadline ${RENEW_S}s)" \
  bash -c 'grep -q "could not renew the Lease within the renew deadline" "$1" && [ "$2" -le $(($3 * 1000 + 1500)) ]' _ "$LOG_c" "$TOOK" "$RENEW_S"
cr third c.example.com
sleep 2
check "... and a request created meanwhile is not written to (got: '$(status_writers third)')" \
  test -z "$(status_writers third)"
curl -s --cacert "$WORK/ca/root.crt" -H "X-Fake-Apiserver-Admin: $ADMIN" -o /dev/null -X POST \
  --data-binary '{}' "$URL/_fake/faults-clear"
check "once the API server recovers it leads again and issues the request" \
  wait_cond $CM CertificateRequest default third Ready reason Issued
check "... leaseTransitions unchanged (same holder: $T2 -> $(lease_field leaseTransitions))" \
  bash -c '[ "$1" = "$2" ] && [ "$3" = "$4" ]' _ "$(lease_field leaseTransitions)" "$T2" "$(lease_field holderIdentity)" "$ID_c"

for f in "$LOG_a" "$LOG_b" "$LOG_c"; do
  check "no bearer token in $(basename "$f")" absent -F "tok-ember" "$f"
done
