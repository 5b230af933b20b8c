#!/usr/bin/env bash
# test_controller_faults.sh -- the Kubernetes controller through the real binary against the
# strict fake API server, in the situations issue #3 §5 lists beyond test_controller.sh:
# someone else approves a violating request (Failed); --approve=false (no write, one
# WaitingForApproval event); the policy annotation edited after approval (Failed naming both
# policies); an issuer whose Secret appears later; a rotated CA Secret; watches dropped and
# history expired during a burst of requests (one status write each); 409 and 500 on the
# status write; a rotated token file; hostile objects; requests created while the caches are
# slow to sync; and no private key or token in any log.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh
. test/integration/k8s.sh

make_ca "$WORK/ca"
make_ca "$WORK/ca2"

cat >"$WORK/conf.json" <<'JSON'
{"tokens": {
   "tok-ember": {"user": "system:serviceaccount:ember:ember-issuer",
                 "approve_signers": ["issuers.ember.issuer.dev/*", "clusterissuers.ember.issuer.dev/*"]},
   "tok-other": {"user": "someone-else",
                 "approve_signers": ["issuers.ember.issuer.dev/*", "clusterissuers.ember.issuer.dev/*"]},
   "tok-certmanager": {"user": "system:serviceaccount:cert-manager:cert-manager"}},
 "namespaces": ["default", "ember"],
 "bookmark_interval_seconds": 1}
JSON
check "the fake API server is up" k8s_start "$WORK/conf.json"

# ---- helpers (k8s.sh has the common ones) ------------------------------------------------------
# cr NAME ISSUER POLICY DNS: a CertificateRequest as cert-manager creates it (namespace default).
cr() { kcr "$1" default ClusterIssuer "$2" "$3" "$4"; }
crc() { cond $CM CertificateRequest default "$@"; }
wait_cr() { wait_cond $CM CertificateRequest default "$@"; }
# approve_as_other NAME REASON MESSAGE: someone-else adds Approved=True through /status.
approve_as_other() {
  printf '{"status":{"conditions":[{"type":"Approved","status":"True","reason":"%s","message":"%s","lastTransitionTime":"%s"}]}}' \
    "$2" "$3" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$WORK/approve.json"
  kapi PATCH "/apis/cert-manager.io/v1/namespaces/default/certificaterequests/$1/status" \
    "$WORK/approve.json" application/merge-patch+json tok-other
}
# status_writes NAME [all]: Ember's successful (with "all": anyone's, any answer) PATCHes of the
# request's /status in the fake's write log.
status_writes() {
  stats
  python3 - "$WORK/stats.json" "$1" "${2:-ok}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
n = [w for w in d["write_log"] if w["path"].split("?")[0].endswith("/certificaterequests/%s/status" % sys.argv[2])
     and (sys.argv[3] == "all" or (200 <= int(w["code"]) < 300 and w["user"].endswith(":ember-issuer")))]
print(len(n))
PY
}
# events NAME REASON: how many Events with that reason the request has.
events() {
  curl -s --cacert "$WORK/ca/root.crt" -H "Authorization: Bearer tok-certmanager" \
    "$URL/api/v1/namespaces/default/events" >"$WORK/events.json"
  python3 - "$WORK/events.json" "$1" "$2" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))["items"]
print(len([e for e in items if e["involvedObject"]["name"] == sys.argv[2] and e["reason"] == sys.argv[3]]))
PY
}
# jqpy_count: the count of the last Event listed by events (WaitingForApproval of s2).
jqpy_count() {
  python3 -c 'import json,sys; print(max([e.get("count", 1) for e in json.load(open(sys.argv[1]))["items"] if e["involvedObject"]["name"] == "s2" and e["reason"] == "WaitingForApproval"] or [0]))' "$WORK/events.json"
}
# leaf_ca NAME: the issued request's status.ca into $WORK/NAME.ca.pem (and chain, leaf).
leaf_of() { obj $CM CertificateRequest default "$1"; cp "$WORK/obj.json" "$WORK/$1.out"; chain_out "$WORK/$1.out" "$WORK/$1"; }
# wait_final NAME: polls (10 s at most) until the request's Ready reason is final; prints it.
wait_final() {
  local i r=""
  for i in $(seq 1 100); do
    r=$(crc "$1" Ready reason)
    case "$r" in Issued | Denied | Failed) break ;; esac
    sleep 0.1
  done
  echo "$r"
}
# show_unless CHECK... FILE: the check; on failure the messages of FILE (the last argument).
show_unless() { "$@" || { echo "# messages: $(messages "${@: -1}" | tr '\n' '|')"; return 1; }; }
jqpy_quiet() { jqpy "$@" >/dev/null; }
wait_readyz() {
  local i
  for i in $(seq 1 150); do curl -fs -o /dev/null "$PROBES/readyz" && return 0; sleep 0.1; done
  return 1
}

# ---- objects ----------------------------------------------------------------------------------
ca_secret test-ca "$WORK/ca"
cluster_issuer test-ca test-ca >/dev/null
policy web "$WEB_POLICY"
policy web2 "$WEB_POLICY"

# ==== Phase A: --approve=false (scenarios 1 and 2) ================================================
start_ember noapprove --kubeconfig "$WORK/kubeconfig" --cluster-resource-namespace ember \
  --issuer-recheck-period 1s --watch-timeout 5s --approve=false --log-level debug || exit 1
LOG_A=$LOG
check "A: readyz turns 200 once the caches are synced" wait_readyz
check "A: the ClusterIssuer becomes Ready" wait_cond $IV ClusterIssuer "" test-ca Ready reason Checked

# 2. no approval -> no status write at all, one WaitingForApproval event.
cr s2 test-ca web s2.example.com
check "A: cert-manager creates the request (201)" test "$CODE" = 201
# 1. approved by someone else, violating the policy -> Failed with failureTime.
cr s1 test-ca web evil.org
check "1: someone-else may add Approved through /status (200)" approve_as_other s1 someone-else "approved by hand"
test "$CODE" = 200 || cat "$BODY"
check "1: the violating request approved by someone else ends Ready=False Failed" wait_cr s1 Ready reason Failed
check "1: ... with failureTime" jqpy_quiet 'd["status"]["failureTime"]' "$WORK/obj.json"
check "1: ... the message names the violation" show_unless has_message evil.org "$WORK/obj.json"
check "1: ... the Approved condition is still someone-else's" test "$(crc s1 Approved reason)" = someone-else
check "1: ... never signed (no status.certificate)" \
  python3 -c 'import json,sys; sys.exit("certificate" in json.load(open(sys.argv[1])).get("status", {}))' "$WORK/obj.json"
check "1: ... Denied is never added" test -z "$(crc s1 Denied status)"

sleep 2.5 # a few issuer re-checks (every 1 s) re-enqueue every request
check "2: a request nobody approved gets no status write (got $(status_writes s2 all))" test "$(status_writes s2 all)" = 0
check "2: ... no condition at all" test -z "$(crc s2 Ready status)$(crc s2 Approved status)"
n=$(events s2 WaitingForApproval)
check "2: ... and exactly one WaitingForApproval Event object (got $n)" test "$n" = 1
check "2: ... recorded once, not repeated on every issuer re-check (count $(jqpy_count))" test "$(jqpy_count)" = 1
approve_as_other s2 someone-else "approved by hand"
check "2: once someone else approves it, it is issued" wait_cr s2 Ready reason Issued
check "2: ... in exactly one status write by Ember (got $(status_writes s2))" test "$(status_writes s2)" = 1
kill -TERM "$EMBER_PID"
wait "$EMBER_PID"
check "A: SIGTERM stops the controller cleanly (exit 0)" test $? = 0

# ==== Phase B: approval on, a kubeconfig with tokenFile, slow API server at start ================
# 10. requests created before Ember starts, while every API call takes 300 ms.
for i in 1 2 3; do cr early$i test-ca web early$i.example.com; done
check "10: three requests exist before Ember starts" test "$CODE" = 201
admin latency '{"ms": 300}' >/dev/null
echo tok-ember >"$WORK/token"
python3 - "$WORK/kubeconfig" "$WORK/kubeconfig-file" "$WORK/token" <<'PY'
import json, sys
kc = json.load(open(sys.argv[1]))
kc["users"][0]["user"] = {"tokenFile": sys.argv[3]}
json.dump(kc, open(sys.argv[2], "w"))
PY
start_ember approve --kubeconfig "$WORK/kubeconfig-file" --cluster-resource-namespace ember \
  --issuer-recheck-period 1s --watch-timeout 5s --token-reread-period 1s --workers 4 \
  --log-level debug || exit 1
LOG_B=$LOG
check "B: readyz turns 200 once the (slow) caches are synced" wait_readyz
finals=$(for i in 1 2 3; do wait_final early$i; done | tr '\n' ' ')
check "10: every request created before the caches synced ends Issued (got: $finals)" \
  test "$finals" = "Issued Issued Issued "
denied=0
for i in 1 2 3; do [ -n "$(crc early$i Denied status)" ] && denied=$((denied + 1)) && crc early$i Denied message >"$WORK/denied10"; done
check "10: ... none was denied ($denied denied${denied/#[1-9]*/: $(cat "$WORK/denied10" 2>/dev/null)})" test $denied = 0
admin latency '{"ms": 0}' >/dev/null

# 4. the issuer not Ready (Secret missing) -> Pending with the issuer's message; the Secret
#    appears -> Issued, nothing done to the request.
cluster_issuer later4 later4 >/dev/null
check "4: an issuer whose Secret is missing is not Ready" wait_cond $IV ClusterIssuer "" later4 Ready status False
imsg=$(cond $IV ClusterIssuer "" later4 Ready message)
cr s4 later4 web s4.example.com
check "4: its request is Pending" wait_cr s4 Ready reason Pending
check "4: ... with the issuer's message ($imsg)" has_message "$imsg" "$WORK/obj.json"
check "4: ... approved already" test "$(crc s4 Approved status)" = True
ca_secret later4 "$WORK/ca"
check "4: the Secret created -> the request is issued without touching it" wait_cr s4 Ready reason Issued

# 3. the policy annotation edited after approval -> Failed naming both policies.
cluster_issuer later3 later3 >/dev/null
check "3: a second issuer whose Secret is missing is not Ready" wait_cond $IV ClusterIssuer "" later3 Ready status False
cr s3 later3 web s3.example.com
check "3: the request is approved under web and Pending" wait_cr s3 Ready reason Pending
check "3: ... Approved names the policy" test "$(crc s3 Approved message)" = 'Approved by IssuancePolicy "web"'
echo '{"metadata":{"annotations":{"ember.issuer.dev/policy-name":"web2"}}}' >"$WORK/ann.json"
kapi PATCH /apis/cert-manager.io/v1/namespaces/default/certificaterequests/s3 "$WORK/ann.json" application/merge-patch+json
check "3: the annotation may be edited to another policy (200)" test "$CODE" = 200
ca_secret later3 "$WORK/ca"
check "3: once the issuer is Ready the request ends Failed" wait_cr s3 Ready reason Failed
check "3: ... with failureTime" jqpy_quiet 'd["status"]["failureTime"]' "$WORK/obj.json"
check "3: ... the message names both policies" \
  bash -c 'grep -q "\\\\\"web\\\\\"" "$1" && grep -q "\\\\\"web2\\\\\"" "$1"' _ "$WORK/obj.json"
check "3: ... never signed" \
  python3 -c 'import json,sys; sys.exit("certificate" in json.load(open(sys.argv[1])).get("status", {}))' "$WORK/obj.json"

# 5. the CA Secret rotated -> after the issuer re-check new requests are signed by the new CA.
cr s5a test-ca web s5a.example.com
wait_cr s5a Ready reason Issued
leaf_of s5a
check "5: before the rotation the old CA signs" \
  verify_strict "$WORK/ca/root.crt" "$WORK/s5a.chain.pem" "$WORK/s5a.leaf.pem"
ca_secret test-ca "$WORK/ca2"
sleep 2.5
cr s5b test-ca web s5b.example.com
check "5: a request after the rotation is issued" wait_cr s5b Ready reason Issued
leaf_of s5b
check "5: ... by the new CA (openssl verify against the new root)" \
  verify_strict "$WORK/ca2/root.crt" "$WORK/s5b.chain.pem" "$WORK/s5b.leaf.pem"
check "5: ... status.ca is the new root" cmp -s "$WORK/s5b.ca.pem" "$WORK/ca2/root.crt"
check "5: ... the leaf's issuer key is the new sub-CA's" bash -c \
  '[ "$(openssl x509 -in "$1" -noout -ext authorityKeyIdentifier | tail -1 | tr -d " ")" = "keyid:$(openssl x509 -in "$2" -noout -ext subjectKeyIdentifier | tail -1 | tr -d " ")" ] ||
   [ "$(openssl x509 -in "$1" -noout -ext authorityKeyIdentifier | tail -1 | tr -d " ")" = "$(openssl x509 -in "$2" -noout -ext subjectKeyIdentifier | tail -1 | tr -d " ")" ]' \
  _ "$WORK/s5b.leaf.pem" "$WORK/ca2/subca.crt"

# 6. watches dropped and history expired during a burst of 30 requests.
admin reset-stats >/dev/null
for i in $(seq 1 30); do
  cr "burst$i" test-ca web "burst$i.example.com"
  [ "$i" = 10 ] && admin drop-watches >/dev/null
  [ "$i" = 20 ] && admin expire-history >/dev/null
done
issued=0
for i in $(seq 1 30); do wait_cr "burst$i" Ready reason Issued && issued=$((issued + 1)); done
check "6: all 30 requests of the burst are issued ($issued)" test $issued = 30
sleep 1
stats
check "6: ... each with exactly one successful status write (none signed twice)" python3 - "$WORK/stats.json" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
n = {}
for w in d["write_log"]:
    m = re.search(r"/certificaterequests/(burst\d+)/status", w["path"])
    if m and 200 <= int(w["code"]) < 300:
        n[m.group(1)] = n.get(m.group(1), 0) + 1
bad = {k: v for k, v in n.items() if v != 1}
missing = [i for i in range(1, 31) if "burst%d" % i not in n]
if bad or missing:
    print("status writes: wrong counts %s, none for %s" % (bad, missing))
    sys.exit(1)
PY
check "6: ... the watches were really dropped and reopened" \
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["watches"]["total"] >= 4 else 1)' "$WORK/stats.json"
check "B: readyz still 200 after the drop" curl -fs -o /dev/null "$PROBES/readyz"

# 7. a 409 and a 500 on the status write: re-decided, issued once.
admin reset-stats >/dev/null
admin fault '{"count": 1, "status": 409, "verbs": ["patch"], "resource": "certificaterequests", "subresource": "status"}' >/dev/null
cr s7a test-ca web s7a.example.com
check "7: after a 409 on its status write the request is still issued" wait_cr s7a Ready reason Issued
stats
check "7: ... the 409 was really answered" \
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["faults_fired"] >= 1 and not d["faults"] else 1)' "$WORK/stats.json"
check "7: ... with exactly one successful status write (got $(status_writes s7a))" test "$(status_writes s7a)" = 1
admin fault '{"count": 1, "status": 500, "verbs": ["patch"], "resource": "certificaterequests", "subresource": "status"}' >/dev/null
cr s7b test-ca web s7b.example.com
check "7: after a 500 on its status write the request is still issued" wait_cr s7b Ready reason Issued
stats
check "7: ... the 500 was really answered" \
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["faults_fired"] >= 2 and not d["faults"] else 1)' "$WORK/stats.json"
check "7: ... with exactly one successful status write (got $(status_writes s7b))" test "$(status_writes s7b)" = 1

# 8. the token file rotated, as the kubelet does it: the new token is valid first, written to
#    the file, and the old one dies later -> read within the re-read period, never a 401.
EMBER_ID='{"user": "system:serviceaccount:ember:ember-issuer", "approve_signers": ["issuers.ember.issuer.dev/*", "clusterissuers.ember.issuer.dev/*"]}'
admin tokens "{\"set\": {\"tok-ember-rotated\": $EMBER_ID}}" >/dev/null
echo tok-ember-rotated >"$WORK/token.new"
mv "$WORK/token.new" "$WORK/token"
sleep 2.2 # two re-read periods
admin reset-stats >/dev/null
admin tokens '{"remove": ["tok-ember"]}' >/dev/null
cr s8 test-ca web s8.example.com
check "8: a request after the token rotation is issued" wait_cr s8 Ready reason Issued
stats
check "8: ... and no call of Ember was refused with 401 (the file was re-read on time)" python3 - "$WORK/stats.json" <<'PY2'
import json, sys
d = json.load(open(sys.argv[1]))
bad = {k: v for k, v in d["requests"].items() if k.endswith(" 401")}
if bad:
    print("401 answers: %s" % bad)
    sys.exit(1)
PY2
#    The token revoked at once (rotate-token) and the file rewritten right after: a 401 makes
#    Ember read the file again and retry.
admin rotate-token '{"old": "tok-ember-rotated", "new": "tok-ember-third"}' >/dev/null
echo tok-ember-third >"$WORK/token.new"
mv "$WORK/token.new" "$WORK/token"
cr s8b test-ca web s8b.example.com
check "8: after an abrupt revocation and a new file, a new request is issued" wait_cr s8b Ready reason Issued
admin drop-watches >/dev/null # every watch is reopened, with the new token
sleep 0.5
cr s8c test-ca web s8c.example.com
check "8: ... and one after every watch was reopened too" wait_cr s8c Ready reason Issued

# 9. hostile objects: each ends with a condition and a message; the queue keeps moving.
hostile() { # NAME REQUEST-B64 DURATION USAGES
  seed "{\"apiVersion\":\"$CM\",\"kind\":\"CertificateRequest\",\"metadata\":{\"name\":\"$1\",\"namespace\":\"default\",\"annotations\":{\"ember.issuer.dev/policy-name\":\"web\"}},\"spec\":{\"request\":\"$2\",\"duration\":\"$3\",\"usages\":$4,\"issuerRef\":{\"group\":\"ember.issuer.dev\",\"kind\":\"ClusterIssuer\",\"name\":\"test-ca\"}}}"
}
make_csr "$WORK/h" -subj /CN=h.example.com -addext subjectAltName=DNS:h.example.com
H=$(base64 -w0 "$WORK/h.csr")
admin reset-stats >/dev/null
check "9: seed a request whose spec.request is not base64" bash -c '[[ "$1" == 2?? ]]' _ "$(hostile h-b64 'not base64!!' 24h '["server auth"]')"
hostile h-notcsr "$(printf 'hello, not a CSR' | base64 -w0)" 24h '["server auth"]' >/dev/null
hostile h-dur "$H" 999999999h '["server auth"]' >/dev/null
hostile h-usage "$H" 24h '["server auth","frobnicate"]' >/dev/null
seed '{"apiVersion":"ember.issuer.dev/v1alpha1","kind":"Issuer","metadata":{"name":"both","namespace":"default"},"spec":{"ca":{"secretName":"test-ca"},"vault":{"server":"https://vault.example:8200","path":"pki/sign/x","auth":{"appRole":{"path":"approle","roleId":"r","secretRef":{"name":"v","key":"secretId"}}}}}}' >/dev/null
# The API server refuses every status write on h-b64 (its spec fails the CRD schema, 422):
# the contract (§7 item 31) says a 422 is not retried blindly; with exponential backoff only a
# few attempts fall in a 3 s window that starts 3 s after the object appeared.
sleep 3
n0=$(status_writes h-b64 all)
sleep 3
n1=$(status_writes h-b64 all)
check "9: h-b64 (every status write refused with 422) is not retried in a loop ($((n1 - n0)) attempts in 3 s, $n1 in all)" \
  test $((n1 - n0)) -le 4
for h in h-notcsr h-dur h-usage; do
  check "9: $h ends Denied" wait_cr "$h" Denied status True
  check "9: ... Ready=False Denied with a message" bash -c \
    '[ "$2" = Denied ] && [ -n "$3" ]' _ "$h" "$(crc "$h" Ready reason)" "$(crc "$h" Denied message)"
done
check "9: an Issuer with both ca and vault is Ready=False Failed" wait_cond $IV Issuer default both Ready reason Failed
check "9: ... with a message" test -n "$(cond $IV Issuer default both Ready message)"
cr s9 test-ca web s9.example.com
check "9: a good request created after them is issued" wait_cr s9 Ready reason Issued
check "9: Ember is still running" kill -0 "$EMBER_PID"

kill -TERM "$EMBER_PID"
wait "$EMBER_PID"
check "B: SIGTERM stops the controller cleanly (exit 0)" test $? = 0

# 11. no private key and no bearer token in any log.
for l in "$LOG_A" "$LOG_B"; do
  check "11: no private key in $(basename "$l")" no_secrets_in "$l" "$WORK/ca/subca.key" \
    "$WORK/ca2/subca.key" "$WORK/s2.key" "$WORK/burst1.key"
  check "11: no bearer token in $(basename "$l")" absent -E "tok-ember|tok-other|Bearer " "$l"
done
