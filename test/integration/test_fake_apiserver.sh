#!/usr/bin/env bash
# test_fake_apiserver.sh -- self-test of test/integration/fake_apiserver.py with curl: the strict
# fake Kubernetes API server must behave as contract.md §2.1 and §5 say before Ember's
# controller tests can trust it.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh
# checked NAME: ok when the previous command (list) succeeded.  Use it for `A && B && ...`:
# `check NAME A && B` reports A alone (check prints first; the shell evaluates `&& B` after).
checked() { if [ $? = 0 ]; then ok "$1"; else not_ok "$1"; fi; }

FAKE=test/integration/fake_apiserver.py
ADMIN=test-admin-$RANDOM
ADMIN_HDR="X-Fake-Apiserver-Admin: $ADMIN"
CRS=/apis/cert-manager.io/v1/namespaces/team-a/certificaterequests
ISS=/apis/ember.issuer.dev/v1alpha1/namespaces/team-a/issuers
SECRETS=/api/v1/namespaces/team-a/secrets
LEASES=/apis/coordination.k8s.io/v1/namespaces/ember/leases
EVENTS=/api/v1/namespaces/team-a/events

# --- a throwaway CA and server certificate for 127.0.0.1 ------------------------------------------
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=fake k8s CA" \
  -keyout "$WORK/ca.key" -out "$WORK/ca.crt" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kube-apiserver" \
  -keyout "$WORK/srv.key" -out "$WORK/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$WORK/srv.ext"
openssl x509 -req -in "$WORK/srv.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
  -extfile "$WORK/srv.ext" -out "$WORK/srv.crt" 2>/dev/null
CA="$WORK/ca.crt"

cat >"$WORK/conf.json" <<'JSON'
{
  "tokens": {
    "tok-ember": {"user": "system:serviceaccount:ember:ember-issuer",
                  "approve_signers": ["issuers.ember.issuer.dev/*", "clusterissuers.ember.issuer.dev/*"]},
    "tok-reader": {"user": "system:serviceaccount:ember:reader", "readonly": true},
    "tok-other": {"user": "alice"},
    "tok-secrets-get": {"user": "bob", "rules": [{"verbs": ["get"], "resources": ["secrets"], "namespaces": ["team-a"]}]}
  },
  "namespaces": ["default", "ember", "team-a", "team-b"],
  "bookmark_interval_seconds": 0.5,
  "too_large_wait_seconds": 0.3,
  "objects": [
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "preloaded", "namespace": "team-a"},
     "stringData": {"token": "s3cr3t"}}
  ]
}
JSON

PORT=$(free_port)
URL="https://127.0.0.1:$PORT"
python3 "$FAKE" --config "$WORK/conf.json" --port "$PORT" --tls-cert "$WORK/srv.crt" --tls-key "$WORK/srv.key" \
  --admin-token "$ADMIN" --ready-file "$WORK/ready" --kubeconfig-out "$WORK/kubeconfig" \
  --kubeconfig-token system:serviceaccount:ember:ember-issuer --kubeconfig-ca "$CA" 2>"$WORK/fake.log" &
FAKE_PID=$!
PIDS+=("$FAKE_PID")
for _ in $(seq 1 100); do [ -s "$WORK/ready" ] && break; sleep 0.1; done
[ "$(cat "$WORK/ready" 2>/dev/null)" = "$PORT" ] &&
  [ "$(curl -s --cacert "$CA" "$URL/healthz")" = ok ]
checked "starts with HTTPS (own CA), writes the ready file; /healthz needs no token"
check "kubeconfig: server, certificate-authority-data of the CA, bearer token" python3 - "$WORK/kubeconfig" "$URL" "$CA" <<'PY'
import base64, json, sys
k = json.load(open(sys.argv[1]))
c = k["clusters"][0]["cluster"]
ok = c["server"] == sys.argv[2] and base64.b64decode(c["certificate-authority-data"]) == open(sys.argv[3], "rb").read()
ok = ok and k["users"][0]["user"]["token"] == "tok-ember" and k["current-context"] == "fake"
sys.exit(0 if ok else 1)
PY

TOK=tok-ember
N=0
# req METHOD PATH [DATA] [curl args...]: sets CODE, BODY (file), HEADERS (file).
req() {
  local m=$1 p=$2 data=${3:-}; shift 3 2>/dev/null || shift $#
  N=$((N + 1)); BODY="$WORK/r$N.json"; HEADERS="$WORK/r$N.h"
  local args=(-s --cacert "$CA" -o "$BODY" -D "$HEADERS" -w '%{http_code}' -X "$m")
  [ -n "$TOK" ] && args+=(-H "Authorization: Bearer $TOK")
  [ -n "$data" ] && args+=(--data-binary "$data")
  CODE=$(curl "${args[@]}" "$@" "$URL$p")
}
JSONCT=(-H "Content-Type: application/json")
MERGE=(-H "Content-Type: application/merge-patch+json")
JPATCH=(-H "Content-Type: application/json-patch+json")
# j EXPR: evaluates a Python expression over the JSON in $BODY bound to `d` (as lib.sh's jqpy), in
# one long-lived helper process: starting python per check costs more than the whole server work.
coproc JQ { python3 -u -c '
import json, sys
for line in sys.stdin:
    f, _, expr = line.rstrip("\n").partition("\t")
    try:
        d = json.load(open(f))
        r = eval(expr)
        out = json.dumps(r) if isinstance(r, (dict, list)) else str(r)
    except Exception as e:
        out = "<error %s>" % e.__class__.__name__
    print(out.replace("\n", "\\n"), flush=True)
'; }
PIDS+=("$JQ_PID")
j() { local out; printf '%s\t%s\n' "$BODY" "$1" >&"${JQ[1]}"; IFS= read -r out <&"${JQ[0]}"; printf '%s\n' "$out"; }
admin() { curl -s --cacert "$CA" -H "$ADMIN_HDR" -X POST --data-binary "${2:-{\}}" "$URL/_fake/$1"; }
is_status() { # is_status CODE REASON: the body is a Failure Status with that code and reason
  [ "$(j 'd["kind"]+"|"+d["apiVersion"]+"|"+json.dumps(d["metadata"])+"|"+d["status"]+"|"+d["reason"]+"|"+str(d["code"])')" = "Status|v1|{}|Failure|$2|$1" ]
}
msg_has() { local m; m=$(j 'd["message"]'); [[ "$m" == *"$1"* ]]; }

# --- authentication / authorization ---------------------------------------------------------------
TOK="" req GET "$CRS"
[ "$CODE" = 401 ] && is_status 401 Unauthorized && msg_has Unauthorized
checked "no token -> 401 Unauthorized Status"
TOK=nope req GET "$CRS"
[ "$CODE" = 401 ] && is_status 401 Unauthorized
checked "unknown token -> 401"
TOK=tok-reader req GET "$CRS"
check "read-only token: list -> 200" [ "$CODE" = 200 ]
TOK=tok-reader req POST "$SECRETS" '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}' "${JSONCT[@]}"
[ "$CODE" = 403 ] && is_status 403 Forbidden &&
  [ "$(j 'd["message"]')" = 'secrets is forbidden: User "system:serviceaccount:ember:reader" cannot create resource "secrets" in API group "" in the namespace "team-a"' ]
checked "read-only token: create -> 403 Forbidden with the RBAC wording"
TOK=tok-secrets-get req GET "$SECRETS/preloaded"; c1=$CODE
TOK=tok-secrets-get req GET "$SECRETS"
[ "$c1" = 200 ] && [ "$CODE" = 403 ] &&
  msg_has 'cannot list resource "secrets"'
checked "rules: get allowed, list of secrets -> 403"

# --- CertificateRequest CRUD ----------------------------------------------------------------------
make_csr "$WORK/app" -subj "/CN=app.example.com"
CSR_B64=$(base64 -w0 "$WORK/app.csr")
cr_body() { # cr_body NAME_FIELD
  printf '{"apiVersion":"cert-manager.io/v1","kind":"CertificateRequest","metadata":{%s,"annotations":{"cert-manager.io/certificate-name":"app"}},"spec":{"request":"%s","issuerRef":{"group":"ember.issuer.dev","kind":"Issuer","name":"web"}},"status":{"conditions":[{"type":"Approved","status":"True","reason":"sneaky","message":"x"}]}}' "$1" "$CSR_B64"
}
req POST "$CRS" "$(cr_body '"generateName":"app-"')" "${JSONCT[@]}"
CR=$(j 'd["metadata"]["name"]')
[ "$CODE" = 201 ] && [[ "$CR" =~ ^app-[a-z0-9]{5}$ ]] && [ -n "$(j 'd["metadata"]["uid"]')" ] &&
  [[ "$(j 'd["metadata"]["creationTimestamp"]')" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ ]] &&
  [ "$(j 'd["metadata"]["generation"]')" = 1 ]
checked "create with generateName -> 201, name app-XXXXX, uid, RFC3339 creationTimestamp, generation 1"
check "create drops status (status subresource enabled)" [ "$(j '"status" in d')" = False ]
RV1=$(j 'd["metadata"]["resourceVersion"]')
req POST "$CRS" "$(cr_body "\"name\":\"$CR\"")" "${JSONCT[@]}"
[ "$CODE" = 409 ] && is_status 409 AlreadyExists &&
  [ "$(j 'd["message"]')" = "certificaterequests.cert-manager.io \"$CR\" already exists" ] &&
  [ "$(j 'd["details"]')" = "{\"name\": \"$CR\", \"group\": \"cert-manager.io\", \"kind\": \"certificaterequests\"}" ]
checked "create of an existing name -> 409 AlreadyExists with details"
req GET "$CRS/nope"
[ "$CODE" = 404 ] && is_status 404 NotFound &&
  [ "$(j 'd["message"]')" = 'certificaterequests.cert-manager.io "nope" not found' ] &&
  [ "$(j 'd["details"]["kind"]')" = certificaterequests ]
checked "get missing -> 404 NotFound Status shaped as §5.6"
req POST "$CRS" "{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":\"CertificateRequest\",\"metadata\":{\"name\":\"nocsr\"},\"spec\":{\"request\":\"$(printf 'not a csr' | base64 -w0)\",\"issuerRef\":{\"name\":\"web\"}}}" "${JSONCT[@]}"
[ "$CODE" = 403 ] &&
  msg_has 'admission webhook "webhook.cert-manager.io" denied the request: spec.request: Invalid value'
checked "create with a non-CSR request -> 403 from the cert-manager webhook"
req POST "/apis/cert-manager.io/v1/namespaces/nowhere/certificaterequests" "$(cr_body '"name":"x"')" "${JSONCT[@]}"
[ "$CODE" = 404 ] && msg_has 'namespaces "nowhere" not found'
checked "create in an unknown namespace -> 404 namespaces not found"
req POST "$CRS" "$(cr_body '"name":"x","resourceVersion":"5"')" "${JSONCT[@]}"
[ "$CODE" = 500 ] &&
  msg_has "resourceVersion should not be set on objects to be created"
checked "create with metadata.resourceVersion -> 500 as the apiserver answers"

# --- status subresource, merge patch, RV precondition, webhook ---------------------------------------
APPROVED='{"type":"Approved","status":"True","reason":"ember.issuer.dev","message":"Approved by policy \"web\"","lastTransitionTime":"2025-01-01T00:00:00Z"}'
req PATCH "$CRS/$CR/status" "{\"metadata\":{\"resourceVersion\":\"1\"},\"status\":{\"conditions\":[$APPROVED]}}" "${MERGE[@]}"
[ "$CODE" = 409 ] && is_status 409 Conflict &&
  [ "$(j 'd["message"]')" = "Operation cannot be fulfilled on certificaterequests.cert-manager.io \"$CR\": the object has been modified; please apply your changes to the latest version and try again" ]
checked "merge patch on /status with a stale resourceVersion -> 409 Conflict"
TOK=tok-other req PATCH "$CRS/$CR/status" "{\"metadata\":{\"resourceVersion\":\"$RV1\"},\"status\":{\"conditions\":[$APPROVED]}}" "${MERGE[@]}"
[ "$CODE" = 403 ] &&
  is_status 403 Forbidden && [ "$(j '"details" in d')" = False ] &&
  [ "$(j 'd["message"]')" = 'admission webhook "webhook.cert-manager.io" denied the request: status.conditions: Forbidden: user "alice" does not have permissions to set approved/denied conditions for issuer {web Issuer ember.issuer.dev}' ]
checked "adding Approved without approve permission on the signer -> 403 from the webhook"
req PATCH "$CRS/$CR/status" "{\"metadata\":{\"resourceVersion\":\"$RV1\"},\"status\":{\"conditions\":[$APPROVED]}}" "${MERGE[@]}"
RV2=$(j 'd["metadata"]["resourceVersion"]')
[ "$CODE" = 200 ] &&
  [ "$RV2" != "$RV1" ] && [ "$(j 'd["status"]["conditions"][0]["type"]')" = Approved ] &&
  [ "$(j 'd["metadata"]["generation"]')" = 1 ]
checked "merge patch on /status with the current RV -> 200, new RV, generation unchanged"
READY='{"type":"Ready","status":"False","reason":"Pending","message":"waiting"}'
req PATCH "$CRS/$CR/status" "{\"status\":{\"conditions\":[$READY]}}" "${MERGE[@]}"
[ "$CODE" = 403 ] &&
  [ "$(j 'd["message"]')" = "admission webhook \"webhook.cert-manager.io\" denied the request: status.conditions: Forbidden: 'Approved' condition may not be modified once set" ]
checked "status write dropping Approved -> 403 'may not be modified once set'"
req PATCH "$CRS/$CR/status" "{\"status\":{\"conditions\":[${APPROVED/web/other},$READY]}}" "${MERGE[@]}"
[ "$CODE" = 403 ] && msg_has "'Approved' condition may not be modified once set"
checked "status write rewriting Approved's message -> 403"
req PATCH "$CRS/$CR/status" "{\"status\":{\"conditions\":[$APPROVED,{\"type\":\"Denied\",\"status\":\"True\",\"reason\":\"x\",\"message\":\"y\"}]}}" "${MERGE[@]}"
[ "$CODE" = 403 ] && msg_has "both 'Denied' and 'Approved' conditions cannot coexist"
checked "Denied next to Approved -> 403 cannot coexist"
req PATCH "$CRS/$CR/status" "{\"status\":{\"conditions\":[$APPROVED,$APPROVED]}}" "${MERGE[@]}"
[ "$CODE" = 422 ] && is_status 422 Invalid &&
  [ "$(j 'd["details"]["causes"][0]["reason"]')" = FieldValueDuplicate ] && msg_has "CertificateRequest.cert-manager.io \"$CR\" is invalid"
checked "duplicate condition type -> 422 Invalid (CRD list-map) before the webhook"
req PATCH "$CRS/$CR/status" "{\"metadata\":{\"resourceVersion\":\"$RV2\"},\"status\":{\"conditions\":[$APPROVED,$READY],\"certificate\":\"$(printf 'PEM' | base64 -w0)\"}}" "${MERGE[@]}"
RV3=$(j 'd["metadata"]["resourceVersion"]')
[ "$CODE" = 200 ] &&
  [ "$(j 'len(d["status"]["conditions"])')" = 2 ]
checked "status write keeping Approved byte-for-byte + Ready -> 200"
req PATCH "$CRS/$CR/status" "{\"metadata\":{\"resourceVersion\":\"$RV3\"},\"status\":{\"conditions\":[$APPROVED,$READY]}}" "${MERGE[@]}"
[ "$CODE" = 200 ] && [ "$(j 'd["metadata"]["resourceVersion"]')" = "$RV3" ]
checked "no-op patch -> 200, resourceVersion unchanged"
req PATCH "$CRS/$CR/status" '{"spec":{"isCA":true},"metadata":{"labels":{"a":"b"}},"status":{"failureTime":"2025-01-01T00:00:00Z"}}' "${MERGE[@]}"
[ "$CODE" = 200 ] &&
  [ "$(j '"isCA" in d["spec"] or "labels" in d["metadata"]')" = False ] && [ "$(j 'd["status"]["failureTime"]')" = 2025-01-01T00:00:00Z ]
checked "/status write keeps only status (spec and labels ignored)"
req PATCH "$CRS/$CR" '{"metadata":{"labels":{"team":"a"}},"status":{"conditions":[]}}' "${MERGE[@]}"
[ "$CODE" = 200 ] &&
  [ "$(j 'len(d["status"]["conditions"])')" = 2 ] && [ "$(j 'd["metadata"]["labels"]["team"]')" = a ] &&
  [ "$(j 'd["metadata"]["generation"]')" = 1 ]
checked "main-resource write ignores status; label change keeps generation"
req PATCH "$CRS/$CR" '{"spec":{"duration":"1h0m0s"}}' "${MERGE[@]}"
[ "$CODE" = 403 ] &&
  [ "$(j 'd["message"]')" = 'admission webhook "webhook.cert-manager.io" denied the request: spec: Forbidden: cannot change spec after creation' ]
checked "spec change on a CertificateRequest -> 403 cannot change spec after creation"
req PATCH "$CRS/$CR" '{"metadata":{"annotations":{"cert-manager.io/certificate-name":"other"}}}' "${MERGE[@]}"
[ "$CODE" = 403 ] &&
  msg_has "metadata.annotations.cert-manager.io/certificate-name: Forbidden: cannot change cert-manager annotation after creation"
checked "changing a cert-manager.io annotation -> 403"
req PATCH "$CRS/$CR" '{"spec":{}}' -H "Content-Type: application/strategic-merge-patch+json"
[ "$CODE" = 415 ] && is_status 415 UnsupportedMediaType
checked "strategic merge patch on a custom resource -> 415 UnsupportedMediaType"
req PATCH "$CRS/$CR/status" '{}' -H "Content-Type: application/apply-patch+yaml"
check "server-side apply -> 415 (not implemented by the fake, said loudly)" [ "$CODE" = 415 ]
req GET "$CRS/$CR"
RV4=$(j 'd["metadata"]["resourceVersion"]')
req PATCH "$CRS/$CR/status" "[{\"op\":\"test\",\"path\":\"/metadata/resourceVersion\",\"value\":\"1\"},{\"op\":\"add\",\"path\":\"/status/conditions/-\",\"value\":{\"type\":\"Issuing\",\"status\":\"True\"}}]" "${JPATCH[@]}"
[ "$CODE" = 422 ] && is_status 422 Invalid &&
  [ "$(j 'd["details"]["causes"][0]["message"]')" = "testing value /metadata/resourceVersion failed: test failed" ]
checked "JSON patch with a failing test op -> 422"
req PATCH "$CRS/$CR/status" "[{\"op\":\"test\",\"path\":\"/metadata/resourceVersion\",\"value\":\"$RV4\"},{\"op\":\"add\",\"path\":\"/status/conditions/-\",\"value\":{\"type\":\"Issuing\",\"status\":\"True\"}}]" "${JPATCH[@]}"
[ "$CODE" = 200 ] && [ "$(j 'd["status"]["conditions"][-1]["type"]')" = Issuing ]
checked "JSON patch with a passing test op -> 200, condition appended"
req GET "$CRS/$CR"
j 'd' >"$WORK/cr.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["metadata"]["resourceVersion"]="2"; print(json.dumps(d))' "$WORK/cr.json" >"$WORK/cr-stale.json"
req PUT "$CRS/$CR" "@$WORK/cr-stale.json" "${JSONCT[@]}"
[ "$CODE" = 409 ] && is_status 409 Conflict
checked "PUT with a stale resourceVersion -> 409 Conflict"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); del d["metadata"]["resourceVersion"]; print(json.dumps(d))' "$WORK/cr.json" >"$WORK/cr-norv.json"
req PUT "$CRS/$CR" "@$WORK/cr-norv.json" "${JSONCT[@]}"
[ "$CODE" = 422 ] &&
  msg_has "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
checked "PUT of a custom resource without resourceVersion -> 422 must be specified for an update"
req PUT "$CRS/$CR/status" "@$WORK/cr.json" "${JSONCT[@]}"
check "PUT /status with the current resourceVersion (no change) -> 200" [ "$CODE" = 200 ]

# --- Issuer: generation on spec changes only ---------------------------------------------------------
req POST "$ISS" '{"apiVersion":"ember.issuer.dev/v1alpha1","kind":"Issuer","metadata":{"name":"web"},"spec":{"url":"a"}}' "${JSONCT[@]}"
g1=$(j 'd["metadata"]["generation"]')
req PATCH "$ISS/web/status" '{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Checked","message":"ok","observedGeneration":1}]}}' "${MERGE[@]}"
g2=$(j 'd["metadata"]["generation"]')
req PATCH "$ISS/web" '{"spec":{"url":"b"}}' "${MERGE[@]}"
g3=$(j 'd["metadata"]["generation"]')
check "Issuer generation: 1 on create, unchanged by /status, 2 after a spec change" [ "$g1$g2$g3" = 112 ]
req PATCH /apis/ember.issuer.dev/v1alpha1/clusterissuers/nope '{}' "${MERGE[@]}"
[ "$CODE" = 404 ] && msg_has 'clusterissuers.ember.issuer.dev "nope" not found'
checked "cluster-scoped path: missing ClusterIssuer -> 404"

# --- list, pagination, continue, RV semantics ----------------------------------------------------------
for n in 1 2 3; do req POST "$CRS" "$(cr_body "\"name\":\"page-$n\"")" "${JSONCT[@]}"; done
req POST /apis/cert-manager.io/v1/namespaces/team-b/certificaterequests "$(cr_body '"name":"elsewhere"')" "${JSONCT[@]}"
req GET "$CRS?limit=2"
LRV=$(j 'd["metadata"]["resourceVersion"]'); CONT=$(j 'd["metadata"]["continue"]')
[ "$CODE" = 200 ] &&
  [ "$(j 'len(d["items"])')" = 2 ] && [ -n "$CONT" ] && [ "$(j 'd["kind"]')" = CertificateRequestList ]
checked "list ?limit=2: 2 items, continue token, kind CertificateRequestList"
req POST "$CRS" "$(cr_body '"name":"page-0"')" "${JSONCT[@]}"
req GET "$CRS?limit=2&continue=$CONT"
c2=$(j 'd["metadata"]["continue"]'); r2=$(j 'd["metadata"]["resourceVersion"]'); n2=$(j 'len(d["items"])')
# 4 CRs in team-a at LRV ($CR, page-1..3): the second page holds the last 2, without continue.
[ "$r2" = "$LRV" ] && [ "$n2" = 2 ] &&
  [ "$(j '"page-0" in [i["metadata"]["name"] for i in d["items"]]')" = False ] && [ "$(j '"continue" in d["metadata"]')" = False ]
checked "continue pages share the first page's RV (a later create is not seen)"
req GET /apis/cert-manager.io/v1/certificaterequests
[ "$CODE" = 200 ] &&
  [ "$(j 'sorted(set(i["metadata"]["namespace"] for i in d["items"]))')" = '["team-a", "team-b"]' ]
checked "cluster-wide list of a namespaced type spans namespaces"
req GET "$CRS?fieldSelector=metadata.name%3Dpage-2"
check "fieldSelector metadata.name" [ "$(j '[i["metadata"]["name"] for i in d["items"]]')" = '["page-2"]' ]
req GET "$CRS?resourceVersion=999999"
[ "$CODE" = 504 ] &&
  is_status 504 Timeout && [ "$(j 'd["details"]["causes"][0]["reason"]')" = ResourceVersionTooLarge ] &&
  grep -qi '^Retry-After: 1' "$HEADERS" && msg_has "Too large resource version: 999999"
checked "list with a future RV -> 504 Timeout, cause ResourceVersionTooLarge, Retry-After"
req GET "$CRS?resourceVersion=$LRV&resourceVersionMatch=Exact"
[ "$CODE" = 200 ] &&
  [ "$(j 'd["metadata"]["resourceVersion"]')" = "$LRV" ] && [ "$(j '"page-0" in [i["metadata"]["name"] for i in d["items"]]')" = False ]
checked "list resourceVersionMatch=Exact at an old RV -> that snapshot"
admin expire-history >/dev/null
req GET "$CRS?limit=2&continue=$CONT"
[ "$CODE" = 410 ] && is_status 410 Expired
checked "continue token older than the history window -> 410 Expired"
req GET "$CRS?resourceVersion=$LRV&resourceVersionMatch=Exact"
check "Exact list of a compacted RV -> 410" [ "$CODE" = 410 ]
req GET "$CRS?resourceVersion=$LRV"
[ "$CODE" = 200 ] && [ "$(j 'd["metadata"]["resourceVersion"]')" != "$LRV" ]
checked "list with an old RV (not older than) -> 200 at the current RV"
req GET "$SECRETS"
[ "$CODE" = 200 ] &&
  [ "$(j '"kind" in d["items"][0]')" = False ] && [ "$(j 'd["items"][0]["data"]["token"]')" = "$(printf s3cr3t | base64)" ] &&
  [ "$(j 'd["kind"]')" = SecretList ]
checked "core list items carry no apiVersion/kind; stringData became data"

# --- watch --------------------------------------------------------------------------------------------
# watch_to FILE QUERY [curl args]: a background watch of CRs in team-a; sets WPID.
watch_to() {
  local f=$1 qs=$2; shift 2
  curl -sN --cacert "$CA" -H "Authorization: Bearer $TOK" -D "$f.h" -o "$f" "$@" "$URL$CRS?watch=1&$qs" &
  WPID=$!
}
events() { python3 -c 'import json,sys; [print(json.loads(l)["type"]) for l in open(sys.argv[1]) if l.strip()]' "$1" | sort | uniq -c | tr -s ' ' | tr '\n' ';'; }
req GET "$CRS"
WRV=$(j 'd["metadata"]["resourceVersion"]')
T0=$(date +%s%N)
watch_to "$WORK/w1" "resourceVersion=$WRV&allowWatchBookmarks=true&timeoutSeconds=2"
sleep 0.3
req POST "$CRS" "$(cr_body '"name":"watched"')" "${JSONCT[@]}"
req DELETE "$CRS/watched"
del_code=$CODE; del_kind=$(j 'd["kind"]')
wait "$WPID"; wrc=$?
T1=$(date +%s%N)
[ "$wrc" = 0 ] && grep -qi '^Transfer-Encoding: chunked' "$WORK/w1.h" && grep -q '^HTTP/1.1 200' "$WORK/w1.h" &&
  events "$WORK/w1" | grep -q '1 ADDED;' && events "$WORK/w1" | grep -q 'BOOKMARK' &&
  events "$WORK/w1" | grep -q '1 DELETED;' && [ $(((T1 - T0) / 1000000)) -ge 1900 ] && [ $(((T1 - T0) / 1000000)) -lt 4000 ]
checked "watch: 200, chunked, ADDED + DELETED live events, BOOKMARKs, ends after timeoutSeconds"
[ "$del_code" = 200 ] && [ "$del_kind" = CertificateRequest ]
checked "delete of a custom resource -> 200 with the object"
check "BOOKMARK carries only kind, apiVersion, metadata.resourceVersion" python3 - "$WORK/w1" <<'PY'
import json, sys
bms = [json.loads(l)["object"] for l in open(sys.argv[1]) if '"BOOKMARK"' in l]
ok = bms and all(set(b) == {"kind", "apiVersion", "metadata"} and list(b["metadata"]) == ["resourceVersion"] for b in bms)
sys.exit(0 if ok else 1)
PY
watch_to "$WORK/w0" "resourceVersion=0&timeoutSeconds=1"
wait "$WPID"
req GET "$CRS"
check "watch from RV 0: one synthetic ADDED per existing object" \
  [ "$(events "$WORK/w0")" = " $(j 'len(d["items"])') ADDED;" ]
admin expire-history >/dev/null
watch_to "$WORK/w410" "resourceVersion=$WRV&allowWatchBookmarks=true&timeoutSeconds=5"
wait "$WPID"
check "watch from a compacted RV -> HTTP 200 stream with one ERROR 410 Expired event, then close" python3 - "$WORK/w410" "$WRV" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
o = lines[0]["object"] if lines else {}
ok = len(lines) == 1 and lines[0]["type"] == "ERROR" and o.get("kind") == "Status" and o.get("code") == 410 \
    and o.get("reason") == "Expired" and o.get("message", "").startswith("too old resource version: %s (" % sys.argv[2])
sys.exit(0 if ok else 1)
PY
grep -q '^HTTP/1.1 200' "$WORK/w410.h" || echo "not ok - watch 410 arrived without HTTP 200"
req GET "$CRS?watch=1&resourceVersion=999999"
check "watch from a future RV -> HTTP 504 too large" [ "$CODE" = 504 ]

# --- paged lists at an RV are Exact; the watch cache's window is not etcd's ------------------------
# Real kube-apiserver (watch cache on) after a restart: GET ...?limit=500&resourceVersion=690 ->
# 200 at exactly 690 (from etcd), while a watch from 690 -> one ERROR "too old resource version:
# 690 (777)" (the rebuilt watch cache starts at 777).
names() { j '" ".join(i["metadata"]["name"] for i in d["items"])'; }
req GET "$CRS"; XRV=$(j 'd["metadata"]["resourceVersion"]'); XNAMES=$(names)
req POST "$CRS" "$(cr_body '"name":"after-xrv"')" "${JSONCT[@]}"; XC=$CODE
req GET "$CRS?limit=500&resourceVersion=$XRV"
[ "$XC" = 201 ] && [ "$CODE" = 200 ] && [ "$(j 'd["metadata"]["resourceVersion"]')" = "$XRV" ] &&
  [ "$(names)" = "$XNAMES" ]
checked "paged list (limit, resourceVersionMatch unset) at an old RV -> Exact: that RV, that state"
req GET "$CRS?limit=1&resourceVersion=$XRV"; c1=$(j 'd["metadata"]["continue"]'); n1=$(names)
req GET "$CRS?limit=500&continue=$c1"
[ "$CODE" = 200 ] && [ "$(j 'd["metadata"]["resourceVersion"]')" = "$XRV" ] && [ "$n1 $(names)" = "$XNAMES" ]
checked "paged Exact list: its continue pages stay at that RV"
req GET "$CRS?resourceVersion=$XRV"
[ "$CODE" = 200 ] && [ "$(j 'int(d["metadata"]["resourceVersion"]) > '"$XRV")" = True ] &&
  [ "$(j '"after-xrv" in [i["metadata"]["name"] for i in d["items"]]')" = True ]
checked "unpaged list at the same old RV -> NotOlderThan: the current RV and state"
req GET "$CRS?limit=500&resourceVersion=$XRV&resourceVersionMatch=NotOlderThan"
[ "$CODE" = 200 ] && [ "$(j '"after-xrv" in [i["metadata"]["name"] for i in d["items"]]')" = True ]
checked "paged list with resourceVersionMatch=NotOlderThan -> the current state"
watch_to "$WORK/wreset" "allowWatchBookmarks=true&timeoutSeconds=30"
sleep 0.3
admin watch-cache-reset >"$WORK/reset.json"
FLOOR=$(jqpy 'd["watch_floor_rv"]' "$WORK/reset.json" 2>/dev/null)
wait "$WPID"; rc=$?
req GET "$CRS"
[ "$rc" = 18 ] && [ -n "$FLOOR" ] && [ "$FLOOR" = "$(j 'd["metadata"]["resourceVersion"]')" ] &&
  [ "$(jqpy 'd["dropped"]' "$WORK/reset.json")" -ge 1 ]
checked "watch-cache-reset: floor = the current RV, open watches cut (curl exit 18)"
watch_to "$WORK/wfloor" "resourceVersion=$XRV&allowWatchBookmarks=true&timeoutSeconds=5"
wait "$WPID"
grep -q '^HTTP/1.1 200' "$WORK/wfloor.h" && [ "$(cat "$WORK/wfloor")" = \
  "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource version: $XRV ($FLOOR)\",\"reason\":\"Expired\",\"code\":410}}" ]
checked "watch from an RV below the watch-cache floor -> 200 with exactly the real ERROR event, then close"
req GET "$CRS?limit=500&resourceVersion=$XRV"
[ "$CODE" = 200 ] && [ "$(j 'd["metadata"]["resourceVersion"]')" = "$XRV" ] && [ "$(names)" = "$XNAMES" ]
checked "after watch-cache-reset a paged list at that RV still answers exactly that RV (etcd kept it)"
watch_to "$WORK/wfl2" "resourceVersion=$FLOOR&timeoutSeconds=1"
sleep 0.3
req POST "$CRS" "$(cr_body '"name":"after-floor"')" "${JSONCT[@]}"
wait "$WPID"
[ "$(events "$WORK/wfl2")" = " 1 ADDED;" ] && grep -q '"name":"after-floor"' "$WORK/wfl2"
checked "watch from the floor RV itself -> live events (no ERROR)"
admin expire-history >/dev/null
req GET "$CRS?limit=500&resourceVersion=$XRV"
[ "$CODE" = 410 ] && is_status 410 Expired && [ "$(j 'd["message"]')" = "The resourceVersion for the provided list is too old." ]
checked "paged list at a compacted RV -> 410 Expired 'The resourceVersion for the provided list is too old.'"
req GET "$CRS?resourceVersion=$XRV"
[ "$CODE" = 200 ] && [ "$(j 'd["metadata"]["resourceVersion"]')" != "$XRV" ]
checked "unpaged list at a compacted RV -> 200 at the current RV (NotOlderThan)"
req DELETE "$CRS/after-xrv"; req DELETE "$CRS/after-floor"

watch_to "$WORK/wdrop" "allowWatchBookmarks=true&timeoutSeconds=30"
sleep 0.3
dropped=$(admin drop-watches | jqpy 'd["dropped"]' /dev/stdin)
wait "$WPID"; rc=$?
[ "$rc" = 18 ] && [ "$dropped" -ge 1 ]
checked "control drop-watches: open watch cut without the last chunk (curl exit 18)"

admin settings '{"split_chunks": true}' >/dev/null
req GET "$CRS"; SRV=$(j 'd["metadata"]["resourceVersion"]')
watch_to "$WORK/wsplit" "resourceVersion=$SRV&timeoutSeconds=2" --raw
sleep 0.3
for n in 1 2 3; do req PATCH "$CRS/page-$n" "{\"metadata\":{\"labels\":{\"n\":\"$n\"}}}" "${MERGE[@]}"; done
wait "$WPID"
admin settings '{"split_chunks": false}' >/dev/null
check "split_chunks: events cut into many chunks still decode to 3 MODIFIED lines" python3 - "$WORK/wsplit" <<'PY'
import json, sys
raw = open(sys.argv[1], "rb").read()
out, pos, chunks = b"", 0, 0
while True:
    nl = raw.index(b"\r\n", pos)
    n = int(raw[pos:nl], 16)
    if n == 0:
        break
    out += raw[nl + 2:nl + 2 + n]
    pos = nl + 2 + n + 2
    chunks += 1
ev = [json.loads(l) for l in out.decode().splitlines() if l]
sys.exit(0 if chunks > 3 and [e["type"] for e in ev] == ["MODIFIED"] * 3 else 1)
PY

req GET "$CRS"; NRV=$(j 'd["metadata"]["resourceVersion"]')
curl -sN --cacert "$CA" -H "Authorization: Bearer $TOK" -o "$WORK/wname" "$URL$CRS/page-1?watch=1&resourceVersion=$NRV&timeoutSeconds=1" &
WPID=$!
sleep 0.3
req PATCH "$CRS/page-1" '{"metadata":{"labels":{"w":"1"}}}' "${MERGE[@]}"
req PATCH "$CRS/page-2" '{"metadata":{"labels":{"w":"1"}}}' "${MERGE[@]}"
wait "$WPID"
[ "$(events "$WORK/wname")" = " 1 MODIFIED;" ] &&
  grep -q '"name":"page-1"' "$WORK/wname"
checked "watch on a named object sees only that object"
admin history '{"window": 1}' >/dev/null
req PATCH "$CRS/page-1" '{"metadata":{"labels":{"w":"2"}}}' "${MERGE[@]}"
req PATCH "$CRS/page-2" '{"metadata":{"labels":{"w":"2"}}}' "${MERGE[@]}"
req GET "$CRS?watch=1&resourceVersion=$NRV&timeoutSeconds=1"
w1=$(j 'd["type"]')
admin history '{"window": 1000}' >/dev/null
check "history window shrunk to 1 event: a watch 2 writes back -> ERROR 410" [ "$w1" = ERROR ]

admin settings '{"max_watches": 1}' >/dev/null
watch_to "$WORK/wmax1" "timeoutSeconds=2"
sleep 0.3
req GET "$CRS?watch=1&timeoutSeconds=1"
wait "$WPID"
admin settings '{"max_watches": 100}' >/dev/null
[ "$CODE" = 429 ] && grep -qi '^Retry-After:' "$HEADERS"
checked "more watches than max_watches -> 429 with Retry-After"

# --- Leases, Events, Secrets ------------------------------------------------------------------------
lease() { printf '{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"ember-leader"%s},"spec":{"holderIdentity":"%s","leaseDurationSeconds":60,"acquireTime":"%s","renewTime":"%s","leaseTransitions":0}}' "$1" "$2" "$3" "$3"; }
req POST "$LEASES" "$(lease "" pod-a 2025-01-01T00:00:00Z)" "${JSONCT[@]}"
[ "$CODE" = 400 ] && is_status 400 BadRequest
checked "Lease with a non-MicroTime renewTime -> 400"
req POST "$LEASES" "$(lease "" pod-a 2025-01-01T00:00:00.000000Z)" "${JSONCT[@]}"
LRV1=$(j 'd["metadata"]["resourceVersion"]'); lc=$CODE
req PUT "$LEASES/ember-leader" "$(lease ",\"resourceVersion\":\"$LRV1\"" pod-a 2025-01-01T00:00:15.000000Z)" "${JSONCT[@]}"; c2=$CODE
req PUT "$LEASES/ember-leader" "$(lease ",\"resourceVersion\":\"$LRV1\"" pod-b 2025-01-01T00:00:20.000000Z)" "${JSONCT[@]}"
check "Lease: create 201, renew PUT with RV 200, PUT with the old RV -> 409 (someone else won)" \
  [ "$lc$c2$CODE" = 201200409 ]
req GET "$LEASES/ember-leader"
check "Lease: get shows the renewed holder" [ "$(j 'd["spec"]["holderIdentity"]')" = pod-a ]

evt() { printf '{"apiVersion":"v1","kind":"Event","metadata":{"name":"%s"},"involvedObject":{"apiVersion":"cert-manager.io/v1","kind":"CertificateRequest","namespace":"%s","name":"page-1"},"type":"Normal","reason":"Issued","message":"ok","firstTimestamp":"2025-01-01T00:00:00Z","lastTimestamp":"2025-01-01T00:00:00Z","count":1,"source":{"component":"ember-issuer"}}' "$1" "$2"; }
req POST "$EVENTS" "$(evt page-1.1 team-b)" "${JSONCT[@]}"
[ "$CODE" = 422 ] && msg_has "does not match event.namespace"
checked "Event whose involvedObject.namespace differs -> 422"
req POST "$EVENTS" "$(evt page-1.1 team-a)" "${JSONCT[@]}"; c1=$CODE
req PATCH "$EVENTS/page-1.1" '{"count":2,"lastTimestamp":"2025-01-01T00:01:00Z"}' -H "Content-Type: application/strategic-merge-patch+json"
[ "$c1" = 201 ] && [ "$CODE" = 200 ] && [ "$(j 'd["count"]')" = 2 ]
checked "Event: create 201, count bumped by a (strategic) merge patch"
req GET "$EVENTS"
[ "$CODE" = 200 ] && [ "$(j 'len(d["items"])')" = 1 ]
checked "Event list"
req DELETE "$SECRETS/preloaded"
[ "$CODE" = 200 ] && [ "$(j 'd["status"]')" = Success ]
checked "delete of a Secret -> 200 Status Success"
req DELETE "$SECRETS/preloaded"
check "delete again -> 404" [ "$CODE" = 404 ]

# --- faults, limits, tokens, control -------------------------------------------------------------------
admin fault '{"count": 2, "status": 429, "retry_after": 3}' >/dev/null
req PATCH "$CRS/page-1" '{"metadata":{"labels":{"x":"1"}}}' "${MERGE[@]}"; c1=$CODE
grep -qi '^Retry-After: 3' "$HEADERS" && ra=yes || ra=no
req GET "$CRS/page-1"; g=$CODE
req PATCH "$CRS/page-1" '{"metadata":{"labels":{"x":"1"}}}' "${MERGE[@]}"; c2=$CODE
req PATCH "$CRS/page-1" '{"metadata":{"labels":{"x":"1"}}}' "${MERGE[@]}"; c3=$CODE
[ "$c1$g$c2$c3" = 429200429200 ] && [ "$ra" = yes ]
checked "fault: next 2 writes -> 429 with Retry-After (reads untouched), then 200"
admin fault '{"count": 1, "status": 503}' >/dev/null
req POST "$SECRETS" '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s503"}}' "${JSONCT[@]}"
[ "$CODE" = 503 ] && is_status 503 ServiceUnavailable
checked "fault: 503 ServiceUnavailable Status"
admin random-faults '{"rate": 0.5, "seed": 7, "statuses": [500]}' >/dev/null
codes=""
for i in 1 2 3 4 5 6 7 8; do req PATCH "$CRS/page-2" "{\"metadata\":{\"labels\":{\"i\":\"$i\"}}}" "${MERGE[@]}"; codes="$codes $CODE"; done
admin faults-clear >/dev/null
check "random faults: a seeded mix of 500 and 200 on writes" sh -c "echo '$codes' | grep -q 500 && echo '$codes' | grep -q 200"
admin latency '{"ms": 300}' >/dev/null
s=$(date +%s%N); req GET "$CRS/page-1"; e=$(date +%s%N)
admin latency '{"ms": 0}' >/dev/null
check "latency injection delays requests" [ $(((e - s) / 1000000)) -ge 280 ]

head -c $((3 * 1024 * 1024 + 10)) /dev/zero >"$WORK/big.bin"
req POST "$SECRETS" "@$WORK/big.bin" "${JSONCT[@]}"
[ "$CODE" = 413 ] && is_status 413 RequestEntityTooLarge
checked "a body over 3 MiB -> 413 RequestEntityTooLarge"
rm -f "$WORK/big.bin"

admin rotate-token '{"old": "tok-ember", "new": "tok-ember-2"}' >/dev/null
req GET "$CRS/page-1"; c1=$CODE
TOK=tok-ember-2 req GET "$CRS/page-1"
[ "$c1" = 401 ] && [ "$CODE" = 200 ]
checked "rotate-token: the old token -> 401, the new one works"
TOK=tok-ember-2

check "control: no admin header -> 403" [ "$(curl -s --cacert "$CA" -o /dev/null -w '%{http_code}' "$URL/_fake/stats")" = 403 ]
admin objects "{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":\"CertificateRequest\",\"metadata\":{\"name\":\"direct\",\"namespace\":\"team-a\"},\"spec\":{\"request\":\"$CSR_B64\",\"issuerRef\":{\"name\":\"web\"}},\"status\":{\"conditions\":[$APPROVED]}}" >"$WORK/direct.json"
req GET "$CRS/direct"
[ "$CODE" = 200 ] &&
  [ "$(j 'd["status"]["conditions"][0]["type"]')" = Approved ]
checked "control objects: direct create keeps status (an already-Approved CR)"
curl -s --cacert "$CA" -H "$ADMIN_HDR" "$URL/_fake/object?apiVersion=cert-manager.io/v1&kind=CertificateRequest&namespace=team-a&name=$CR" >"$WORK/dump.json"
check "control object: dump" [ "$(jqpy 'd["metadata"]["name"]' "$WORK/dump.json")" = "$CR" ]
curl -s --cacert "$CA" -H "$ADMIN_HDR" "$URL/_fake/stats" >"$WORK/stats.json"
BODY="$WORK/stats.json"
[ "$(j 'd["requests"]["patch '"$CRS/$CR"'/status 409"] >= 1')" = True ] &&
  [ "$(j 'd["writes"]["certificaterequests/team-a/'"$CR"'"] >= 4')" = True ] &&
  [ "$(j 'd["watches"]["total"] >= 5 and d["watches"]["open"] == 0')" = True ] &&
  [ "$(j 'any(w["subresource"] == "status" and w["code"] == 403 for w in d["write_log"])')" = True ]
checked "stats: requests by verb/path/code, writes per object, watch counts, write log"
check "log: no token value on stderr" absent -E 'tok-ember|tok-reader' "$WORK/fake.log"

# --- TokenRequest: serviceaccounts/NAME/token -----------------------------------------------------
SAS=/api/v1/namespaces/team-a/serviceaccounts
req POST "$SAS" '{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"vault-auth"}}' "${JSONCT[@]}"
SA_UID=$(j 'd["metadata"]["uid"]')
check "ServiceAccount: create -> 201" [ "$CODE" = 201 ]
req POST "$SAS/vault-auth/token" '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"audiences":["vault://team-a/vault","https://vault.example"],"expirationSeconds":600}}' "${JSONCT[@]}"
[ "$CODE" = 201 ] &&
  [ "$(j 'd["kind"]+"|"+d["apiVersion"]+"|"+d["metadata"]["name"]+"|"+d["metadata"]["namespace"]')" = "TokenRequest|authentication.k8s.io/v1|vault-auth|team-a" ] &&
  [ "$(j 'd["spec"]["audiences"]')" = '["vault://team-a/vault", "https://vault.example"]' ] &&
  [ "$(j 'd["spec"]["expirationSeconds"]')" = 600 ]
checked "TokenRequest: 201 with the TokenRequest echoed (audiences, expirationSeconds)"
SA_TOKEN=$(j 'd["status"]["token"]')
cp "$BODY" "$WORK/tokenrequest.json"
[ "$(python3 - "$BODY" "$SA_UID" <<'PY'
import base64, datetime, json, sys
d = json.load(open(sys.argv[1]))
tok = d["status"]["token"]
parts = tok.split(".")
pad = lambda s: s + "=" * (-len(s) % 4)
c = json.loads(base64.urlsafe_b64decode(pad(parts[1])))
exp = datetime.datetime.strptime(d["status"]["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
ok = len(parts) == 3 and c["aud"] == ["vault://team-a/vault", "https://vault.example"] and \
    c["sub"] == "system:serviceaccount:team-a:vault-auth" and c["exp"] - c["iat"] == 600 and \
    int(exp.timestamp()) == c["exp"] and c["kubernetes.io"]["serviceaccount"] == {"name": "vault-auth", "uid": sys.argv[2]}
print("yes" if ok else "no")
PY
)" = yes ]
checked "TokenRequest: status.token is a JWT (aud, sub, exp = iat + 600 = expirationTimestamp, the account's uid)"
review() { req POST /apis/authentication.k8s.io/v1/tokenreviews "{\"spec\":{\"token\":\"$1\",\"audiences\":[\"$2\"]}}" "${JSONCT[@]}"; }
review "$SA_TOKEN" vault://team-a/vault
[ "$CODE" = 201 ] && [ "$(j 'd["status"]["authenticated"]')" = True ] &&
  [ "$(j 'd["status"]["user"]["username"]+"|"+d["status"]["user"]["uid"]+"|"+",".join(d["status"]["audiences"])')" = "system:serviceaccount:team-a:vault-auth|$SA_UID|vault://team-a/vault" ]
checked "TokenRequest: a TokenReview authenticates the minted token for its audience"
review "$SA_TOKEN" ember
[ "$CODE" = 201 ] && [ "$(j '"authenticated" in d["status"]')" = False ] &&
  [[ "$(j 'd["status"]["error"]')" == 'token audiences ["vault://team-a/vault", "https://vault.example"] is invalid for the target audiences ["ember"]' ]]
checked "TokenRequest: ... and refuses it for another audience"
req POST "$SAS/vault-auth/token" '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{}}' "${JSONCT[@]}"
[ "$CODE" = 201 ] && [ "$(j 'd["spec"]["expirationSeconds"]')" = 3600 ] &&
  [ "$(j 'd["spec"]["audiences"]')" = '["https://kubernetes.default.svc.cluster.local"]' ]
checked "TokenRequest: defaults: expirationSeconds 3600, the API server's audiences"
req POST "$SAS/nope/token" '{"spec":{"audiences":["a"],"expirationSeconds":600}}' "${JSONCT[@]}"
[ "$CODE" = 404 ] && is_status 404 NotFound && [ "$(j 'd["message"]')" = 'serviceaccounts "nope" not found' ] &&
  [ "$(j 'd["details"]')" = '{"name": "nope", "kind": "serviceaccounts"}' ]
checked "TokenRequest: no such ServiceAccount -> 404 NotFound"
req POST "$SAS/vault-auth/token" '{"spec":{"audiences":["a"],"expirationSeconds":599}}' "${JSONCT[@]}"
[ "$CODE" = 422 ] && is_status 422 Invalid &&
  [ "$(j 'd["message"]')" = 'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes' ]
checked "TokenRequest: expirationSeconds under 10 minutes -> 422 Invalid"
req POST "$SAS/vault-auth/token" '{"spec":{"audiences":["a"],"expirationSeconds":4294967297}}' "${JSONCT[@]}"
[ "$CODE" = 422 ] && msg_has "may not specify a duration larger than 2^32 seconds"
checked "TokenRequest: expirationSeconds over 2^32 -> 422 Invalid"
admin token-reviews '{"set": {"expired-sa-token": {"user": "system:serviceaccount:team-a:vault-auth", "audiences": ["a"], "expires": 1}}}' >/dev/null
review expired-sa-token a
[ "$CODE" = 201 ] && [ "$(j 'd["status"]')" = '{"user": {}, "error": "[invalid bearer token, service account token has expired]"}' ]
checked "TokenReview: a service account token past its exp -> error 'service account token has expired'"
req POST "$SAS/vault-auth/token" '{"metadata":{"name":"other"},"spec":{"audiences":["a"]}}' "${JSONCT[@]}"
[ "$CODE" = 422 ] && msg_has 'metadata.name: Invalid value: "other": must match the service account name if specified'
checked "TokenRequest: a body naming another account -> 422 Invalid"
req POST "$SAS/vault-auth/token" '{"spec":{"audiences":"a"}}' "${JSONCT[@]}"
[ "$CODE" = 400 ] && is_status 400 BadRequest && msg_has 'cannot be handled as a TokenRequest'
c1=$CODE; req POST "$SAS/vault-auth/token" '{"kind":"TokenReview","spec":{}}' "${JSONCT[@]}"
[ "$c1" = 400 ] && [ "$CODE" = 400 ] && msg_has 'the kind in the data (TokenReview) does not match the expected kind (TokenRequest)'
checked "TokenRequest: a wrong type or kind in the body -> 400 BadRequest"
req GET "$SAS/vault-auth/token"
check "TokenRequest: GET -> 405" [ "$CODE" = 405 ]
admin tokens '{"set": {"tok-sa-one": {"user": "carol", "rules": [{"verbs": ["create"], "resources": ["serviceaccounts/token"], "apiGroups": [""], "namespaces": ["team-a"], "names": ["vault-auth"]}]},
                       "tok-sa-noverb": {"user": "dave", "rules": [{"verbs": ["create", "get"], "resources": ["serviceaccounts"]}]}}}' >/dev/null
TOK=tok-sa-one req POST "$SAS/vault-auth/token" '{"spec":{"audiences":["a"],"expirationSeconds":600}}' "${JSONCT[@]}"; c1=$CODE
TOK=tok-sa-one req POST "$SAS/other/token" '{"spec":{"audiences":["a"],"expirationSeconds":600}}' "${JSONCT[@]}"
[ "$c1" = 201 ] && [ "$CODE" = 403 ] && is_status 403 Forbidden &&
  [ "$(j 'd["message"]')" = 'serviceaccounts "other" is forbidden: User "carol" cannot create resource "serviceaccounts/token" in API group "" in the namespace "team-a"' ]
checked "TokenRequest: RBAC by resourceNames: the granted account -> 201, another -> 403 with the RBAC wording"
TOK=tok-sa-noverb req POST "$SAS/vault-auth/token" '{"spec":{"audiences":["a"],"expirationSeconds":600}}' "${JSONCT[@]}"
[ "$CODE" = 403 ] && msg_has 'cannot create resource "serviceaccounts/token"'
checked "TokenRequest: create on serviceaccounts alone does not allow serviceaccounts/token -> 403"
admin fault '{"count": 1, "status": 500, "verbs": ["create"], "resource": "serviceaccounts", "subresource": "token"}' >/dev/null
req POST "$SAS/vault-auth/token" '{"spec":{"audiences":["a"],"expirationSeconds":600}}' "${JSONCT[@]}"; c1=$CODE
req POST "$SAS/vault-auth/token" '{"spec":{"audiences":["a"],"expirationSeconds":600}}' "${JSONCT[@]}"
check "TokenRequest: an injected fault (resource serviceaccounts, subresource token) -> 500 once" [ "$c1/$CODE" = 500/201 ]
req GET /api/v1
[ "$(j '[r for r in d["resources"] if r["name"] == "serviceaccounts/token"]')" = '[{"name": "serviceaccounts/token", "singularName": "", "namespaced": true, "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest", "verbs": ["create"]}]' ]
checked "discovery: v1 lists serviceaccounts/token (authentication.k8s.io/v1 TokenRequest, create)"
curl -s --cacert "$CA" -H "$ADMIN_HDR" "$URL/_fake/stats" >"$WORK/stats.json"
BODY="$WORK/stats.json"
[ "$(j 'd["token_request_log"][0]')" = '{"requester": "system:serviceaccount:ember:ember-issuer", "namespace": "team-a", "name": "vault-auth", "audiences": ["vault://team-a/vault", "https://vault.example"], "expirationSeconds": 600, "code": 201}' ] &&
  [ "$(j '[(e["name"], e["code"]) for e in d["token_request_log"]][2:]')" = '[["nope", 404], ["vault-auth", 422], ["vault-auth", 422], ["vault-auth", 422], ["vault-auth", 400], ["vault-auth", 400], ["vault-auth", 405], ["vault-auth", 201], ["other", 403], ["vault-auth", 403], ["vault-auth", 500], ["vault-auth", 201]]' ] &&
  [ "$(j 'd["token_requests"]')" = 4 ]
checked "stats: token_request_log records each TokenRequest's account, audiences, expirationSeconds and answer"
absent -F "$SA_TOKEN" "$WORK/fake.log" && absent -F "${SA_TOKEN:0:40}" "$WORK/stats.json"
checked "TokenRequest: the minted token is in neither the log nor the stats"

# --- Namespaces (cluster-scoped, v1): what Ember's namespaceSelector cache lists and watches -------
NSP=/api/v1/namespaces
req GET "$NSP?limit=500"; LRV=$(j 'd["metadata"]["resourceVersion"]'); n0=$(j 'len(d["items"])')
[ "$CODE" = 200 ] && [ "$(j 'd["kind"]')" = NamespaceList ]
checked "namespaces: list -> 200 NamespaceList with a resourceVersion"
curl -sN --cacert "$CA" -H "Authorization: Bearer $TOK" -o "$WORK/wns" \
  "$URL$NSP?watch=1&resourceVersion=$LRV&timeoutSeconds=2" &
NSW=$!
sleep 0.3
req POST "$NSP" '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"labelled","labels":{"team":"a"}}}' "${JSONCT[@]}"
[ "$CODE" = 201 ] && [ "$(j 'd["status"]["phase"]')" = Active ]
checked "namespaces: create -> 201, status.phase Active"
req PATCH "$NSP/labelled" '{"metadata":{"labels":{"ember":"yes"}}}' -H 'Content-Type: application/merge-patch+json'
[ "$CODE" = 200 ] && [ "$(j 'd["metadata"]["labels"]')" = '{"team": "a", "ember": "yes"}' ]
checked "namespaces: a label added by merge patch"
req GET "$NSP"
[ "$(j 'len(d["items"])')" = $((n0 + 1)) ] && [ "$(j '"labelled" in [i["metadata"]["name"] for i in d["items"]]')" = True ]
checked "namespaces: the list holds the new Namespace"
wait "$NSW"
check "namespaces: watch -> ADDED then MODIFIED with the new label" python3 - "$WORK/wns" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ev = [(e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"].get("labels")) for e in ev if e["type"] != "BOOKMARK"]
sys.exit(0 if ev == [("ADDED", "labelled", {"team": "a"}), ("MODIFIED", "labelled", {"team": "a", "ember": "yes"})] else 1)
PY
TOK=tok-secrets-get req GET "$NSP"
[ "$CODE" = 403 ] && msg_has 'cannot list resource "namespaces" in API group "" at the cluster scope'
checked "namespaces: a token without a rule for namespaces -> 403 with the RBAC wording"
req GET "$NSP/labelled"
[ "$CODE" = 200 ] && [ "$(j 'd["kind"]+" "+d["metadata"]["name"]+" "+json.dumps(d["metadata"]["labels"])')" = 'Namespace labelled {"team": "a", "ember": "yes"}' ]
checked "namespaces: get of one Namespace -> 200 with its labels"
req GET "$NSP/nowhere"
[ "$CODE" = 404 ] && is_status 404 NotFound && msg_has 'namespaces "nowhere" not found'
checked "namespaces: get of a Namespace that does not exist -> 404 NotFound"
TOK=tok-secrets-get req GET "$NSP/labelled"
[ "$CODE" = 403 ] && is_status 403 Forbidden && msg_has 'namespaces "labelled" is forbidden: User "bob" cannot get resource "namespaces" in API group "" at the cluster scope'
checked "namespaces: get without the rule -> 403 Forbidden with the RBAC wording"

# hold-watch: the watch of Namespaces holds its live events (no BOOKMARK passes them) while
# gets and lists see the change; released, the events come in order.
req GET "$NSP"; HRV=$(j 'd["metadata"]["resourceVersion"]')
[ "$(admin hold-watch '{"resources": ["namespaces"]}')" = '{"resources":["namespaces"]}' ]
checked "hold-watch: namespaces held"
curl -sN --cacert "$CA" -H "Authorization: Bearer $TOK" -o "$WORK/whold" \
  "$URL$NSP?watch=1&resourceVersion=$HRV&allowWatchBookmarks=true&timeoutSeconds=4" &
NSW=$!
sleep 0.3
req POST "$NSP" '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"held","labels":{"x":"y"}}}' "${JSONCT[@]}"
sleep 1.5
req GET "$NSP/held"
[ "$CODE" = 200 ] && [ ! -s "$WORK/whold" ]
checked "hold-watch: the new Namespace is served by get while its watch event (and any BOOKMARK) is held"
admin hold-watch '{"resources": []}' >/dev/null
wait "$NSW"
check "hold-watch: released, the held ADDED arrives (then bookmarks past it)" python3 - "$WORK/whold" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
names = [(e["type"], e["object"]["metadata"].get("name")) for e in ev]
sys.exit(0 if names and names[0] == ("ADDED", "held") else 1)
PY
req DELETE "$NSP/held"
req DELETE "$NSP/labelled"
check "namespaces: delete -> 200" [ "$CODE" = 200 ]

# --- SIGTERM with a watch open ---------------------------------------------------------------------
watch_to "$WORK/wterm" "timeoutSeconds=60"
sleep 0.3
kill -TERM "$FAKE_PID"
wait "$FAKE_PID"; rc=$?
wait "$WPID"
check "SIGTERM with an open watch: clean exit 0" [ "$rc" = 0 ]
