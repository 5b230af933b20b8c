#!/usr/bin/env bash
# test_audit_controller.sh -- the audit log of the CertificateRequest front door: the controller
# (the real binary as a controller with --audit-log) against the strict fake API server. One JSON line per decision (issued, denied, a bad CSR,
# pending then issued, issued after a 409 on the status write), none for requests that are
# not Ember's and none again after a restart; the fields agree with what openssl reads from
# the CSR and the issued certificate; the requester is spec.username/spec.groups; no key,
# token or raw CSR in the file; the file is created 0600 and appended to.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh
. test/integration/k8s.sh

make_ca "$WORK/ca"

cat >"$WORK/conf.json" <<'JSON'
{"tokens": {
   "tok-ember": {"user": "system:serviceaccount:ember:ember-issuer",
                 "approve_signers": ["issuers.ember.issuer.dev/*", "clusterissuers.ember.issuer.dev/*"]},
   "tok-certmanager": {"user": "system:serviceaccount:team-a:builder",
                       "groups": ["system:serviceaccounts:team-a", "system:authenticated"]}},
 "namespaces": ["default", "ember"],
 "bookmark_interval_seconds": 1}
JSON
check "the fake API server is up" k8s_start "$WORK/conf.json"
ca_secret test-ca "$WORK/ca"
cluster_issuer test-ca test-ca >/dev/null
policy web "$WEB_POLICY"

AUDIT="$WORK/audit.log"
REQUESTER=system:serviceaccount:team-a:builder
# start_ctl: the controller with the audit log (certificates included); sets CTL_PID.
start_ctl() {
  start_ember "ctl$RANDOM" --kubeconfig "$WORK/kubeconfig" --cluster-resource-namespace ember \
    --audit-log "$AUDIT" --audit-log-include-certificate --issuer-recheck-period 2s \
    --watch-timeout 5s || return 1
  CTL_PID=$EMBER_PID
  for _ in $(seq 1 100); do curl -fs -o /dev/null "$PROBES/readyz" && return 0; sleep 0.1; done
  echo "the controller did not sync; log:"; cat "$LOG"
  return 1
}
# req NAME DNS [POLICY [ISSUER [KEYOPTS]]]: a CertificateRequest as cert-manager creates it
# (the fake's webhook writes spec.username/spec.groups from the token); sets CODE.
req() {
  # shellcheck disable=SC2086 # $5 is a list of openssl options
  openssl req -new ${5:--newkey ec -pkeyopt ec_paramgen_curve:P-256} -nodes -keyout "$WORK/$1.key" \
    -out "$WORK/$1.csr" -subj "/CN=$2" -addext "subjectAltName=DNS:$2" 2>/dev/null
  cr_json "$1" default "$WORK/$1.csr" ClusterIssuer "${4:-test-ca}" "${3:-web}" 2160h \
    '["digital signature","key encipherment","server auth"]' |
    python3 -c 'import json,sys; d=json.load(sys.stdin); d["spec"].update(username=sys.argv[1], groups=[sys.argv[2], "system:authenticated"]); print(json.dumps(d))' \
      "$REQUESTER" system:serviceaccounts:team-a >"$WORK/$1.json"
  kapi POST /apis/cert-manager.io/v1/namespaces/default/certificaterequests "$WORK/$1.json"
}
# lines NAME [OUTCOME]: how many audit lines name the request (with that outcome).
lines() {
  python3 - "$AUDIT" "$1" "${2:-}" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    d = json.loads(line)
    if d.get("name") == sys.argv[2] and sys.argv[3] in ("", d.get("outcome")):
        n += 1
print(n)
PY
}
# wait_lines NAME OUTCOME N: polls until N lines (5 s at most).
wait_lines() {
  for _ in $(seq 1 50); do [ "$(lines "$1" "$2")" -ge "$3" ] && return 0; sleep 0.1; done
  return 1
}
# field NAME OUTCOME EXPR: a Python expression over the line `d` of that request and outcome.
field() {
  python3 - "$AUDIT" "$1" "$2" "$3" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    d = json.loads(line)
    if d.get("name") == sys.argv[2] and d.get("outcome") == sys.argv[3]:
        r = eval(sys.argv[4])
        print(json.dumps(r) if isinstance(r, (dict, list)) else r)
        break
PY
}
spki() { openssl req -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1; }
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f'; }
not_after() { date -u -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ; }
issued_leaf() { obj $CM CertificateRequest default "$1"; cp "$WORK/obj.json" "$WORK/$1.out"; chain_out "$WORK/$1.out" "$WORK/$1"; }

check "the controller starts and syncs with an audit log" start_ctl || exit 1
check "the audit file is created with mode 0600" test "$(stat -c %a "$AUDIT")" = 600

# 1. issued
req ok app.example.com
check "1: the request is issued" wait_cond $CM CertificateRequest default ok Ready reason Issued
check "1: ... one audit line, outcome issued" wait_lines ok issued 1
issued_leaf ok
check "1: ... front_door controller, namespace default" \
  test "$(field ok issued 'd["front_door"] + " " + d["namespace"]')" = "controller default"
check "1: ... the caller is spec.username with spec.groups" \
  test "$(field ok issued '[d["caller"]["method"], d["caller"]["username"], d["caller"]["groups"]]')" = \
  "[\"cert-manager\", \"$REQUESTER\", [\"system:serviceaccounts:team-a\", \"system:authenticated\"]]"
check "1: ... policy web, issuer ClusterIssuer/test-ca" \
  test "$(field ok issued 'd["policy"] + " " + d["issuer"]')" = "web ClusterIssuer/test-ca"
check "1: ... public_key_sha256 is openssl's SHA-256 of the CSR's public key" \
  test "$(field ok issued 'd["public_key_sha256"]')" = "$(spki "$WORK/ok.csr")"
check "1: ... serial is the leaf's (openssl x509 -serial)" \
  test "$(field ok issued 'd["serial"]')" = "$(serial "$WORK/ok.leaf.pem")"
check "1: ... not_after is the leaf's notAfter" \
  test "$(field ok issued 'd["not_after"]')" = "$(not_after "$WORK/ok.leaf.pem")"
check "1: ... sans.dns is the leaf's DNS name" test "$(field ok issued 'd["sans"]["dns"]')" = '["app.example.com"]'
check "1: ... the certificate is the leaf's PEM (--include-certificate)" \
  bash -c '[ "$(python3 -c "import json,sys; [print(json.loads(l)[\"certificate\"], end=\"\") for l in open(sys.argv[1]) if json.loads(l).get(\"name\") == \"ok\"]" "$1")" = "$(cat "$2")" ]' \
  _ "$AUDIT" "$WORK/ok.leaf.pem"
check "1: ... the reason is the Ready message" \
  test "$(field ok issued 'd["reason"]')" = "Succeeded signing the CertificateRequest"

# 2. denied by policy
req evil evil.org
check "2: a violating request is denied" wait_cond $CM CertificateRequest default evil Denied status True
check "2: ... one audit line, outcome denied" wait_lines evil denied 1
check "2: ... the reason is the denial's (names the violation and the policy)" \
  bash -c '[[ "$1" == *evil.org* && "$1" == *web* ]]' _ "$(field evil denied 'd["reason"]')"
check "2: ... public_key_sha256 and sans come from the CSR" \
  test "$(field evil denied 'd["public_key_sha256"] + " " + ",".join(d["sans"]["dns"])')" = "$(spki "$WORK/evil.csr") evil.org"
check "2: ... no serial, notAfter or certificate" \
  test "$(field evil denied '[k for k in ("serial", "not_after", "certificate") if k in d]')" = "[]"

# 3. a CSR Ember cannot accept (RSA 1024): denied, the derived fields left out
req weak weak.example.com web test-ca "-newkey rsa:1024"
check "3: an RSA-1024 request is denied" wait_cond $CM CertificateRequest default weak Denied status True
check "3: ... one audit line, outcome denied" wait_lines weak denied 1
check "3: ... without public_key_sha256 or sans (the CSR was refused)" \
  test "$(field weak denied '[k for k in ("public_key_sha256", "sans") if k in d]')" = "[]"
check "3: ... the reason says why" bash -c '[[ "$1" == *RSA* ]]' _ "$(field weak denied 'd["reason"]')"

# 4. pending (the issuer does not exist yet), then issued: two decisions, two lines
req late late.example.com web late
check "4: a request for a missing issuer is Pending" wait_cond $CM CertificateRequest default late Ready reason Pending
check "4: ... one pending line" wait_lines late pending 1
sleep 2 # re-checks of the Pending request write nothing, so they record nothing
cluster_issuer late test-ca >/dev/null
check "4: ... issued once the issuer appears" wait_cond $CM CertificateRequest default late Ready reason Issued
check "4: ... then one issued line" wait_lines late issued 1
check "4: ... two lines in all, pending first" \
  test "$(python3 -c 'import json,sys; print(",".join(json.loads(l)["outcome"] for l in open(sys.argv[1]) if json.loads(l).get("name") == "late"))' "$AUDIT")" = pending,issued
check "4: ... the pending line names the issuer it waits for" \
  bash -c '[[ "$1" == *"ClusterIssuer/late not found"* ]]' _ "$(field late pending 'd["reason"]')"

# 5. a 409 on the status write: the certificate signed for the lost write is not recorded
admin fault '{"count": 1, "status": 409, "verbs": ["patch"], "resource": "certificaterequests", "subresource": "status"}' >/dev/null
req conflict conflict.example.com
check "5: after a 409 on its status write the request is issued" \
  wait_cond $CM CertificateRequest default conflict Ready reason Issued
stats
check "5: ... the 409 was really answered" \
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["faults_fired"] >= 1 and not d["faults"] else 1)' "$WORK/stats.json"
wait_lines conflict issued 1
sleep 1
check "5: ... exactly one audit line (got $(lines conflict))" test "$(lines conflict)" = 1
issued_leaf conflict
check "5: ... whose serial is the stored certificate's" \
  test "$(field conflict issued 'd["serial"]')" = "$(serial "$WORK/conflict.leaf.pem")"

# 6. a request for another issuer group: never written, never recorded
make_csr "$WORK/other" -subj /CN=o.example.com -addext subjectAltName=DNS:o.example.com
cr_json other default "$WORK/other.csr" Issuer ca web "" '[]' |
  sed 's/"group":"ember.issuer.dev"/"group":"cert-manager.io"/' >"$WORK/other.json"
kapi POST /apis/cert-manager.io/v1/namespaces/default/certificaterequests "$WORK/other.json"
sleep 1
check "6: a request for another issuer group has no audit line" test "$(lines other)" = 0

# 7. every line, and a restart
check "7: every line is a JSON object of the controller front door with ts and outcome" python3 - "$AUDIT" <<'PY'
import json, re, sys
raw = open(sys.argv[1], "rb").read()
raw.decode("utf-8")
lines = raw.split(b"\n")
assert lines[-1] == b"", "the file ends with a newline"
for l in lines[:-1]:
    d = json.loads(l)
    assert d["front_door"] == "controller" and d["log"] == "audit", d
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", d["ts"]), d["ts"]
    assert d["outcome"] in ("issued", "denied", "failed", "pending"), d
PY
before=$(wc -l <"$AUDIT")
check "7: one line per decision in all (6 decisions, got $before)" test "$before" = 6
kill -TERM "$CTL_PID"
wait "$CTL_PID"
check "7: SIGTERM stops the controller (exit 0)" test $? = 0
check "7: the controller starts again on the same audit file" start_ctl || exit 1
sleep 2
check "7: ... final requests are not recorded again ($(wc -l <"$AUDIT") lines)" test "$(wc -l <"$AUDIT")" = "$before"
req after after.example.com
check "7: ... a new request is issued" wait_cond $CM CertificateRequest default after Ready reason Issued
check "7: ... and appended to the file" wait_lines after issued 1
check "7: ... the earlier lines are kept" test "$(wc -l <"$AUDIT")" = $((before + 1))
kill -TERM "$CTL_PID"
wait "$CTL_PID"

# 8. nothing secret
keys=("$WORK/ca/subca.key")
for n in ok evil weak late conflict after; do keys+=("$WORK/$n.key"); done
check "8: no private key in the audit log" no_secrets_in "$AUDIT" "${keys[@]}"
check "8: no bearer token in the audit log" absent -F "tok-" "$AUDIT"
check "8: no spec.request (raw CSR) in the audit log" python3 - "$AUDIT" "$WORK" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
for n in ("ok", "evil", "weak", "late", "conflict", "after"):
    req = json.load(open("%s/%s.json" % (sys.argv[2], n)))["spec"]["request"]
    assert req[:80] not in text, n
assert "CERTIFICATE REQUEST" not in text
PY

check "9: an audit path that cannot be opened is refused, naming it" \
  bash -c 'out=$("$1" --kubeconfig "$2" --audit-log /nonexistent/dir/audit.log 2>&1); [ $? = 2 ] && [[ "$out" == *"/nonexistent/dir/audit.log"* ]]' \
  _ "$EMBER_BIN" "$WORK/kubeconfig"
