#!/usr/bin/env bash
# test_tokenreview.sh -- issuer/kube/tokenreview.c (Kubernetes bearer tokens checked with a
# TokenReview, api-auth.md §2) against the strict fake API server, through the small driver
# test/integration/trclient.c; and the fake's own TokenReview endpoint with curl (wire format,
# RBAC, audiences). A valid token names its service account; the cache spares the second review;
# another audience, an unknown token or an audience-unaware answer is refused for good (401);
# 500, 429, a timeout, a stopped API server and Ember lacking RBAC are transient (503); no token
# ever shows in any output.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh

build_tool trclient || exit 1
TRC="$WORK/trclient"

FAKE=test/integration/fake_apiserver.py
ADMIN=tr-admin-$RANDOM
# Every token ends in 32 random hex digits, so that even a part of one is found in a log.
rnd() { openssl rand -hex 16; }
TOK_EMBER=tok-ember-$(rnd)
TOK_NORBAC=tok-norbac-$(rnd)
CLIENT=client-builder-$(rnd)
CLIENT_VAULT=client-vault-$(rnd)
CLIENT_UNAWARE=client-unaware-$(rnd)
CLIENT_LATE=client-late-$(rnd)
UNKNOWN=client-unknown-$(rnd)
SA=system:serviceaccount:team-a:builder
TR=/apis/authentication.k8s.io/v1/tokenreviews

openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=fake k8s CA" \
  -keyout "$WORK/ca.key" -out "$WORK/ca.crt" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kube-apiserver" \
  -keyout "$WORK/srv.key" -out "$WORK/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$WORK/srv.ext"
openssl x509 -req -in "$WORK/srv.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
  -extfile "$WORK/srv.ext" -out "$WORK/srv.crt" 2>/dev/null

python3 - "$WORK/conf.json" <<PY
import json, sys
sa = "$SA"
groups = ["system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated"]
conf = {
    "tokens": {
        "$TOK_EMBER": {"user": "system:serviceaccount:ember:ember-issuer",
                       "rules": [{"verbs": ["create"], "resources": ["tokenreviews"], "apiGroups": ["authentication.k8s.io"]},
                                 {"verbs": ["get", "list", "watch"], "resources": ["*"]}]},
        "$TOK_NORBAC": {"user": "system:serviceaccount:ember:ember-issuer-norbac",
                        "rules": [{"verbs": ["*"], "resources": ["*"], "apiGroups": [""]},
                                  {"verbs": ["create"], "resources": ["tokenreviews"], "apiGroups": ["example.com"]}]},
    },
    "token_reviews": {
        "$CLIENT": {"user": sa, "groups": groups, "audiences": ["ember", "other"],
                    "extra": {"authentication.kubernetes.io/pod-name": ["builder-0"]}},
        "$CLIENT_VAULT": {"user": sa, "groups": groups, "audiences": ["vault"]},
        "$CLIENT_UNAWARE": {"user": sa, "groups": groups, "audience_unaware": True},
    },
    "namespaces": ["default", "ember", "team-a"],
}
json.dump(conf, open(sys.argv[1], "w"))
PY

start_fake() {
  rm -f "$WORK/ready"
  python3 "$FAKE" --config "$WORK/conf.json" --port "$PORT" --tls-cert "$WORK/srv.crt" --tls-key "$WORK/srv.key" \
    --admin-token "$ADMIN" --ready-file "$WORK/ready" --kubeconfig-out "$WORK/kubeconfig" \
    --kubeconfig-token "$TOK_EMBER" --kubeconfig-ca "$WORK/ca.crt" 2>>"$WORK/fake.log" &
  FAKE_PID=$!
  PIDS+=("$FAKE_PID")
  for _ in $(seq 1 100); do [ -s "$WORK/ready" ] && return 0; sleep 0.1; done
  return 1
}
PORT=$(free_port)
URL="https://127.0.0.1:$PORT"
start_fake || { not_ok "fake API server starts"; cat "$WORK/fake.log"; exit 1; }

ctl() { curl -s --cacert "$WORK/ca.crt" -H "X-Fake-Apiserver-Admin: $ADMIN" -X "${3:-POST}" \
  ${2:+--data-binary "$2"} "$URL/_fake/$1"; }
reviews() { ctl stats '' GET | python3 -c 'import json,sys; print(json.load(sys.stdin)["token_reviews"])'; }
# kreq METHOD PATH [BODY [TOKEN]]: an API call as Ember (default); sets CODE and BODY (a file).
kreq() {
  BODY="$WORK/k.$RANDOM"
  local args=(-s --cacert "$WORK/ca.crt" -o "$BODY" -w '%{http_code}' -X "$1" -H "Content-Type: application/json")
  [ "${4-$TOK_EMBER}" != "" ] && args+=(-H "Authorization: Bearer ${4-$TOK_EMBER}")
  [ $# -ge 3 ] && [ -n "$3" ] && args+=(--data-binary "$3")
  CODE=$(curl "${args[@]}" "$URL$2")
}
j() { python3 -c 'import json,sys; d=json.load(open(sys.argv[2])); print(json.dumps(eval(sys.argv[1])))' "$1" "$BODY"; }
review_body() { printf '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"%s","audiences":%s}}' "$1" "$2"; }

for t in CLIENT CLIENT_VAULT CLIENT_UNAWARE CLIENT_LATE UNKNOWN; do
  printf '%s\n' "${!t}" >"$WORK/$t"
done
# A kubeconfig for Ember's service account without create on tokenreviews.
python3 - "$WORK/kubeconfig" "$WORK/kubeconfig-norbac" "$TOK_NORBAC" <<'PY'
import json, sys
k = json.load(open(sys.argv[1]))
k["users"][0]["user"]["token"] = sys.argv[3]
json.dump(k, open(sys.argv[2], "w"))
PY
OUTPUTS=()
# trc ARGS...: runs the driver; OUT is its output file.
trc() { OUT="$WORK/out.$RANDOM"; OUTPUTS+=("$OUT"); "$TRC" "$@" >"$OUT" 2>&1; echo $? >"$OUT.rc"; }
line() { sed -n "${1}p" "$OUT"; }
result() { if [ $? = 0 ]; then ok "$1"; else not_ok "$1"; echo "--- $OUT:"; cat "$OUT"; fi; }

# --- the fake's endpoint, with curl ---------------------------------------------------------------
kreq POST "$TR" "$(review_body "$CLIENT" '["ember"]')"
[ "$CODE" = 201 ] && [ "$(j 'd["kind"]')" = '"TokenReview"' ] && [ "$(j 'd["status"]["authenticated"]')" = true ] &&
  [ "$(j 'd["status"]["user"]["username"]')" = "\"$SA\"" ] && [ "$(j 'd["status"]["audiences"]')" = '["ember"]' ] &&
  [ "$(j 'len(d["status"]["user"]["groups"])')" = 3 ] && [ "$(j '"error" in d["status"]')" = false ] &&
  [ "$(j 'd["status"]["user"]["uid"] != ""')" = true ] && [ "$(j 'd["spec"]["audiences"]')" = '["ember"]' ]
result "fake: a known token for ember -> 201, authenticated, user with uid and groups, audiences [ember], no error"
kreq POST "$TR" "$(review_body "$UNKNOWN" '["ember"]')"
[ "$CODE" = 201 ] && [ "$(j '"authenticated" in d["status"]')" = false ] && [ "$(j '"audiences" in d["status"]')" = false ] &&
  [ "$(j 'd["status"]["user"]')" = '{}' ] && [ "$(j 'd["status"]["error"]')" = '"[invalid bearer token, token lookup failed]"' ]
result "fake: an unknown token -> 201, authenticated omitted (omitempty), user {}, an error string"
kreq POST "$TR" "$(review_body "$CLIENT_VAULT" '["ember"]')"
[ "$CODE" = 201 ] && [ "$(j '"authenticated" in d["status"]')" = false ] &&
  [ "$(j 'd["status"]["error"]')" = '"token audiences [\"vault\"] is invalid for the target audiences [\"ember\"]"' ]
result "fake: a token for another audience -> not authenticated, the service-account authenticator's error"
kreq POST "$TR" "$(review_body "$CLIENT" '["other","ember","x"]')"
[ "$(j 'd["status"]["audiences"]')" = '["other", "ember"]' ]
result "fake: status.audiences is the intersection of spec.audiences and the token's audiences"
kreq POST "$TR" "$(review_body "$CLIENT" '[]')"
[ "$CODE" = 201 ] && [ "$(j '"authenticated" in d["status"]')" = false ] &&
  [[ "$(j 'd["status"]["error"]')" == *'target audiences [\"https://kubernetes.default.svc.cluster.local\"]'* ]]
result "fake: empty spec.audiences -> the API server's own audience is the target (an ember token fails it)"
kreq POST "$TR" "$(review_body "$CLIENT_UNAWARE" '["ember"]')"
[ "$(j 'd["status"]["authenticated"]')" = true ] && [ "$(j '"audiences" in d["status"]')" = false ]
result "fake: audience_unaware -> authenticated with no status.audiences"
kreq POST "$TR" '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"audiences":["ember"]}}'
[ "$CODE" = 400 ] && [ "$(j 'd["message"]')" = '"token is required for TokenReview in authentication"' ]
result "fake: no spec.token -> 400 BadRequest"
kreq POST "$TR" '{"apiVersion":"v1","kind":"TokenReview","spec":{"token":"x"}}'
c1=$CODE
kreq POST /apis/authentication.k8s.io/v1/namespaces/team-a/tokenreviews "$(review_body "$CLIENT" '["ember"]')"
c2=$CODE
kreq GET "$TR"
[ "$c1" = 400 ] && [ "$c2" = 404 ] && [ "$CODE" = 405 ]
result "fake: wrong apiVersion -> 400, namespaced path -> 404, GET -> 405"
kreq GET /apis/authentication.k8s.io/v1
[ "$CODE" = 200 ] && [ "$(j '[(r["name"], r["namespaced"], r["verbs"]) for r in d["resources"]]')" = '[["tokenreviews", false, ["create"]]]' ]
result "fake: discovery lists tokenreviews, cluster-scoped, verb create"
kreq POST "$TR" "$(review_body "$CLIENT" '["ember"]')" "$TOK_NORBAC"
[ "$CODE" = 403 ] && [ "$(j 'd["message"]')" = '"tokenreviews.authentication.k8s.io is forbidden: User \"system:serviceaccount:ember:ember-issuer-norbac\" cannot create resource \"tokenreviews\" in API group \"authentication.k8s.io\" at the cluster scope"' ]
result "fake: a reviewer without create on tokenreviews (apiGroups checked) -> 403 with the RBAC wording"
kreq POST "$TR" "$(review_body "$CLIENT" '["ember"]')" ""
[ "$CODE" = 401 ]
result "fake: a TokenReview without a bearer token -> 401"
N0=$(reviews)
[ "$N0" = 6 ] && ctl stats '' GET | python3 -c '
import json, sys
log = json.load(sys.stdin)["token_review_log"]
sys.exit(0 if log[0] == {"reviewer": "system:serviceaccount:ember:ember-issuer", "audiences": ["ember"], "known": True, "authenticated": True} else 1)'
result "fake: /_fake/stats counts the 6 answered reviews; its log names reviewer and audiences, not the token"

# --- the client ------------------------------------------------------------------------------------
N0=$(reviews)
trc --kubeconfig "$WORK/kubeconfig" --ttl 60 check "$WORK/CLIENT" "$WORK/CLIENT"
[ "$(line 1)" = "1 ok calls=1 user=$SA groups=system:serviceaccounts,system:serviceaccounts:team-a,system:authenticated method=token" ]
result "a valid token -> its service account and groups (method token)"
[ "$(line 2)" = "2 ok calls=1 user=$SA groups=system:serviceaccounts,system:serviceaccounts:team-a,system:authenticated method=token" ] &&
  [ "$(reviews)" = $((N0 + 1)) ] && grep -qx 'ember_tokenreview_cache_hits_total 1' "$OUT" &&
  grep -qx 'ember_tokenreview_requests_total{result="authenticated"} 1' "$OUT"
result "a second check within the TTL -> same identity, no new TokenReview (the fake counted 1; cache hit metric 1)"

N0=$(reviews)
trc --kubeconfig "$WORK/kubeconfig" --ttl 0 check "$WORK/CLIENT" "$WORK/CLIENT" "$WORK/CLIENT"
[ "$(line 3)" = "3 ok calls=3 user=$SA groups=system:serviceaccounts,system:serviceaccounts:team-a,system:authenticated method=token" ] &&
  [ "$(reviews)" = $((N0 + 3)) ]
result "TTL 0 -> every check is a TokenReview"

# A JWT-shaped client token whose exp is 3 s away (the fake treats it as an opaque string; the
# client reads exp, unverified, only to shorten the cache lifetime).
CLIENT_JWT=$(python3 - <<'PY'
import base64, json, secrets, time
b = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
print("%s.%s.%s" % (b({"alg": "RS256", "kid": "k1"}),
                    b({"aud": ["ember"], "exp": int(time.time()) + 3, "sub": "system:serviceaccount:team-a:builder"}),
                    secrets.token_hex(16)))
PY
)
printf '%s\n' "$CLIENT_JWT" >"$WORK/CLIENT_JWT"
ctl token-reviews "{\"set\": {\"$CLIENT_JWT\": {\"user\": \"$SA\", \"audiences\": [\"ember\"]}}}" >/dev/null
N0=$(reviews)
trc --kubeconfig "$WORK/kubeconfig" --ttl 60 check "$WORK/CLIENT_JWT" "$WORK/CLIENT_JWT" "$WORK/CLIENT" sleep=3500 "$WORK/CLIENT_JWT" "$WORK/CLIENT"
[ "$(line 2 | cut -d' ' -f1-3)" = "2 ok calls=1" ] && [ "$(line 4 | cut -d' ' -f1-3)" = "4 ok calls=3" ] &&
  [ "$(line 5 | cut -d' ' -f1-3)" = "5 ok calls=3" ] && [ "$(reviews)" = $((N0 + 3)) ]
result "a JWT is cached until its exp, then reviewed again although the TTL (60 s) has not passed"

trc --kubeconfig "$WORK/kubeconfig" check "$WORK/CLIENT_VAULT"
[[ "$(line 1)" == '1 permanent calls=1 msg='*'the API server'*'token audiences ["vault"] is invalid for the target audiences ["ember"]'* ]]
result "a token for another audience -> PERMANENT (401), the API server's reason quoted"
trc --kubeconfig "$WORK/kubeconfig" --audience vault check "$WORK/CLIENT_VAULT"
[ "$(line 1 | cut -d' ' -f1-2)" = "1 ok" ]
result "the same token with --audience vault -> accepted (the audience is what decides)"
trc --kubeconfig "$WORK/kubeconfig" check "$WORK/UNKNOWN"
[[ "$(line 1)" == '1 permanent calls=1 msg='*'invalid bearer token'* ]]
result "an unknown token -> PERMANENT (401)"
trc --kubeconfig "$WORK/kubeconfig" check "$WORK/CLIENT_UNAWARE"
[[ "$(line 1)" == '1 permanent calls=1 msg='*'confirmed no audience'* ]]
result "authenticated but no audience confirmed (audience-unaware) -> PERMANENT, never a pass"
printf 'has space\n' >"$WORK/SPACED"
N0=$(reviews)
trc --kubeconfig "$WORK/kubeconfig" check "$WORK/SPACED"
[[ "$(line 1)" == '1 permanent calls=0 msg='* ]] && [ "$(reviews)" = "$N0" ]
result "a token with a space -> PERMANENT without a TokenReview"

# Tokens added and removed at run time (control endpoint).
trc --kubeconfig "$WORK/kubeconfig" --ttl 60 check "$WORK/CLIENT_LATE"
r1=$(line 1 | cut -d' ' -f2)
ctl token-reviews "{\"set\": {\"$CLIENT_LATE\": {\"user\": \"system:serviceaccount:team-b:late\", \"audiences\": [\"ember\"]}}}" >/dev/null
trc --kubeconfig "$WORK/kubeconfig" --ttl 60 check "$WORK/CLIENT_LATE"
r2=$(line 1)
ctl token-reviews "{\"remove\": [\"$CLIENT_LATE\"]}" >/dev/null
trc --kubeconfig "$WORK/kubeconfig" --ttl 60 check "$WORK/CLIENT_LATE"
r3=$(line 1 | cut -d' ' -f2)
[ "$r1" = permanent ] && [ "$r2" = "1 ok calls=1 user=system:serviceaccount:team-b:late groups= method=token" ] && [ "$r3" = permanent ]
result "a token added at run time is accepted, removed again is refused"

# --- the API server cannot answer: TRANSIENT (503), never a pass -----------------------------------
ctl fault '{"count": 1, "status": 500, "verbs": ["create"], "resource": "tokenreviews"}' >/dev/null
trc --kubeconfig "$WORK/kubeconfig" --ttl 60 check "$WORK/CLIENT" "$WORK/CLIENT"
[[ "$(line 1)" == '1 transient calls=1 msg='*'HTTP 500 InternalError'* ]] && [ "$(line 2 | cut -d' ' -f1-3)" = "2 ok calls=2" ] &&
  grep -qx 'ember_tokenreview_requests_total{result="error"} 1' "$OUT"
result "the fake answering 500 -> TRANSIENT; the next check (fault spent) passes"
ctl fault '{"count": 1, "status": 429, "retry_after": 1, "verbs": ["create"], "resource": "tokenreviews"}' >/dev/null
trc --kubeconfig "$WORK/kubeconfig" check "$WORK/CLIENT"
[[ "$(line 1)" == '1 transient calls=1 msg='*'HTTP 429 TooManyRequests'* ]]
result "429 -> TRANSIENT"
ctl latency '{"ms": 2500}' >/dev/null
T0=$(date +%s%N)
trc --kubeconfig "$WORK/kubeconfig" --timeout-ms 800 check "$WORK/CLIENT"
T1=$(date +%s%N)
ctl faults-clear '{}' >/dev/null
[[ "$(line 1)" == '1 transient calls=1 msg='*'could not be sent'* ]] && [ $(((T1 - T0) / 1000000)) -lt 2400 ]
result "a TokenReview slower than the request timeout -> TRANSIENT, without waiting for it"

N0=$(reviews)
trc --kubeconfig "$WORK/kubeconfig-norbac" check "$WORK/CLIENT"
[[ "$(line 1)" == '1 transient calls=1 msg=Ember may not create tokenreviews'*'403 Forbidden'*'cannot create resource "tokenreviews"'* ]] &&
  [ "$(reviews)" = "$N0" ]
result "Ember's own token lacking RBAC -> TRANSIENT (503) saying Ember may not create tokenreviews"

ctl stats '' GET >"$WORK/stats.json"  # scanned for tokens below
kill "$FAKE_PID" 2>/dev/null
wait "$FAKE_PID" 2>/dev/null
trc --kubeconfig "$WORK/kubeconfig" check "$WORK/CLIENT"
[[ "$(line 1)" == '1 transient calls=1 msg=the TokenReview could not be sent:'*'onnect'* ]]
result "the API server stopped (connection refused) -> TRANSIENT"

# --- hygiene -----------------------------------------------------------------------------------------
san=""
for f in "${OUTPUTS[@]}"; do
  [ -f "$f" ] || { san="$san $f(missing)"; continue; }
  grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f" && san="$san $f"
done
[ -z "$san" ]
result "no sanitizer report in the driver's output"
# shellcheck disable=SC2086 # $san is a list of file names made above
[ -n "$san" ] && cat $san
leak=""
for f in "$WORK/fake.log" "$WORK/stats.json"; do
  [ -s "$f" ] || leak="$leak $f(missing or empty)"
done
for f in "${OUTPUTS[@]}" "$WORK/fake.log" "$WORK/stats.json"; do
  # A missing file cannot show that no token is in it (grep's error would read as "not found").
  [ -f "$f" ] || { leak="$leak $f(missing)"; continue; }
  for t in "$CLIENT" "$CLIENT_JWT" "$CLIENT_VAULT" "$CLIENT_UNAWARE" "$CLIENT_LATE" "$UNKNOWN" "$TOK_EMBER" "$TOK_NORBAC"; do
    grep -qF -- "$t" "$f" && leak="$leak $f"
  done
  # not even a part of one (the random tail of each token is unique)
  for t in "$CLIENT" "$CLIENT_VAULT" "$UNKNOWN" "$TOK_EMBER"; do
    grep -qF -- "${t##*-}" "$f" && leak="$leak $f(part)"
  done
done
[ -z "$leak" ]
result "no token, not even its random part, in the driver's output, the fake's log or its /_fake/stats"
[ -n "$leak" ] && echo "token found in:$leak"
exit 0
