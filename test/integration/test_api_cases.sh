#!/usr/bin/env bash
# test_api_cases.sh -- POST /v1/certificaterequests for every case in cases/: each folder holds
# `csr` (openssl req options), optionally `key` (the openssl -newkey argument, e.g. rsa:3072;
# default EC P-256), `request` (key=value: namespace, issuer, policy, duration, usages,
# isCA; body json (default) or yaml: how the request is written; content_type, by default
# application/json or application/yaml as body says) and `expect` (one check a line: code N | message TEXT (in a condition's message, or a
# Status error's) | contains TEXT (anywhere in the body) | not-contains TEXT | reason R | verify (the
# chain passes openssl verify -x509_strict against status.ca) |
# ca | pubkey | subject TEXT (as "C=US, O=SPIFFE") | sans TEXT | eku TEXT | ku TEXT |
# lifetime-hours N | ext NAME TEXT: `openssl x509 -ext NAME` of the leaf, lines trimmed and joined
# with " | ", as "X509v3 Basic Constraints: critical | CA:TRUE, pathlen:0"; TEXT "none": absent |
# same-subject: the leaf's subject DER is byte for byte the CSR's).
# DEBUG_CASES=1 prints each case's HTTP code and messages as "#" lines.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh

make_ca "$WORK/ca"
cp "$WORK/ca/secret.yaml" "$WORK/secret.yaml"
start_ember cases --manifests test/integration/manifests --manifests "$WORK/secret.yaml" || exit 1

# to_yaml FILE: the JSON object in FILE as block YAML (strings double-quoted) on stdout.
to_yaml() {
  python3 - "$1" <<'PY'
import json, sys
def out(v, ind):
    pad = " " * ind
    for k, x in v.items():
        if isinstance(x, dict) and x:
            print("%s%s:" % (pad, k)); out(x, ind + 2)
        else:
            print("%s%s: %s" % (pad, k, json.dumps(x)))
out(json.load(open(sys.argv[1])), 0)
PY
}

# leaf_ext CERT NAME: the extension's lines as the `ext` expectation compares them, or "none".
leaf_ext() {
  local out
  out=$(openssl x509 -in "$1" -noout -ext "$2" 2>/dev/null | sed 's/^ *//; s/ *$//' | paste -sd'|' | sed 's/|/ | /g')
  echo "${out:-none}"
}

# subject_der FILE: the subject Name of the PEM CSR or certificate in FILE, DER as hex.
subject_der() {
  local kind=x509
  [[ $(head -1 "$1") == *REQUEST* ]] && kind=req
  openssl "$kind" -in "$1" -outform DER | python3 -c '
import sys
b = sys.stdin.buffer.read()
def tlv(i):  # (tag, start of contents, end) of the DER element at i
    tag, n = b[i], b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7f
        n = int.from_bytes(b[i:i + k], "big")
        i += k
    return tag, i, i + n
_, info, _ = tlv(0)             # CertificationRequest / Certificate
_, i, _ = tlv(info)             # CertificationRequestInfo / TBSCertificate
# Before the subject: version | [0] version (absent in v1), serial, signature, issuer, validity.
skip = 1 if sys.argv[1] == "req" else (5 if b[i] == 0xa0 else 4)
for _ in range(skip):
    i = tlv(i)[2]
print(b[i:tlv(i)[2]].hex())' "$kind"
}

for dir in test/integration/cases/*/; do
  case=$(basename "$dir")
  if [ -f "$dir/key" ]; then # another key than EC P-256: the openssl -newkey argument
    eval "openssl req -new -newkey $(cat "$dir/key") -nodes -keyout \"$WORK/$case.key\" -out \"$WORK/$case.csr\" $(cat "$dir/csr")" 2>/dev/null
  else
    # shellcheck disable=SC2046
    eval "make_csr \"$WORK/$case\" $(cat "$dir/csr")"
  fi
  ns=default issuer=ClusterIssuer/test-ca policy='' duration='' usages='[]' isCA=false body=json content_type=''
  while IFS='=' read -r k v; do [ -n "$k" ] && printf -v "$k" '%s' "$v"; done <"$dir/request"
  cr_json "$case" "$ns" "$WORK/$case.csr" "${issuer%%/*}" "${issuer#*/}" "$policy" "$duration" "$usages" "$isCA" >"$WORK/$case.json"
  if [ "$body" = yaml ]; then to_yaml "$WORK/$case.json" >"$WORK/$case.body"; else cp "$WORK/$case.json" "$WORK/$case.body"; fi
  post /v1/certificaterequests "$WORK/$case.body" "${content_type:-application/$body}"
  resp=$BODY; [ -n "${DEBUG_CASES:-}" ] && { echo "# $case: $CODE"; messages "$resp" | sed "s/^/#   /"; }
  while read -r what arg; do
    [ -z "$what" ] && continue
    name="$case: $what $arg"
    case "$what" in
      code) check "$name" test "$CODE" = "$arg" ;;
      contains) check "$name" grep -qF -- "$arg" "$resp" ;;
      message) check "$name" has_message "$arg" "$resp" ;;
      not-contains) check "$name" absent -F -- "$arg" "$resp" ;;
      reason) check "$name" test "$(jqpy '[c["reason"] for c in d["status"]["conditions"] if c["type"]=="Ready"][0]' "$resp")" = "$arg" ;;
      verify)
        chain_out "$resp" "$WORK/$case" ;; # checks openssl verify -x509_strict against status.ca
      ca) check "$name" cmp -s "$WORK/$case.ca.pem" "$WORK/ca/root.crt" ;;
      subject) check "$name" test "$(openssl x509 -in "$WORK/$case.leaf.pem" -noout -subject -nameopt sep_comma_plus_space,sname | sed 's/^subject=//')" = "$arg" ;;
      sans) check "$name" test "$(openssl x509 -in "$WORK/$case.leaf.pem" -noout -ext subjectAltName | tail -n +2 | sed 's/^ *//')" = "$arg" ;;
      eku) check "$name" test "$(openssl x509 -in "$WORK/$case.leaf.pem" -noout -ext extendedKeyUsage | tail -n +2 | sed 's/^ *//')" = "$arg" ;;
      ext) check "$name" test "$(leaf_ext "$WORK/$case.leaf.pem" "${arg%% *}")" = "${arg#* }" ;;
      ku) check "$name" test "$(openssl x509 -in "$WORK/$case.leaf.pem" -noout -ext keyUsage | tail -n +2 | sed 's/^ *//')" = "$arg" ;;
      lifetime-hours)
        nb=$(date -d "$(openssl x509 -in "$WORK/$case.leaf.pem" -noout -startdate | cut -d= -f2)" +%s)
        na=$(date -d "$(openssl x509 -in "$WORK/$case.leaf.pem" -noout -enddate | cut -d= -f2)" +%s)
        check "$name" test $(((na - nb) / 3600)) = "$arg" ;;
      same-subject)
        check "$name" bash -c '[ -n "$1" ] && [ "$1" = "$2" ]' _ \
          "$(subject_der "$WORK/$case.leaf.pem")" "$(subject_der "$WORK/$case.csr")" ;;
      pubkey)
        check "$name" cmp -s <(openssl x509 -in "$WORK/$case.leaf.pem" -noout -pubkey) <(openssl req -in "$WORK/$case.csr" -noout -pubkey) ;;
      *) not_ok "$name: unknown expectation" ;;
    esac
  done <"$dir/expect"
done

check "server still healthy after all cases" curl -fs "$PROBES/healthz" -o /dev/null
check "no private key in the log" no_secrets_in "$LOG" "$WORK/ca/subca.key" "$WORK/ca/root.key"
