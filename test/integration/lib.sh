# lib.sh -- helpers for integration tests: a throwaway CA made with the openssl CLI, the real
# ember-issuer binary on loopback, and "ok - / not ok - " lines that test/run.sh counts.
# Source it; it makes $WORK (removed on exit) and stops every process it started.
#
# The rules test/run.sh holds every script to (helpers in test/shlib.sh, sourced below):
#   - check absence with `absent`, never with `! grep` (which passes on a missing file):
#       check "no token in the log" absent -E 'tok-[a-z]+|Bearer ' "$LOG"
#       check "no private key in the log" no_secrets_in "$LOG" "$WORK/app.key"
#     both fail when the file is missing or empty;
#   - print at least one "ok - " line; a script that cannot run says why with
#       skip "REASON"      # the line "# skip: REASON", listed by run.sh; no reason = failure
#   - output is streamed by run.sh as the script runs, each line prefixed with its name.
# shellcheck disable=SC2034 # sets API, METRICS, CODE... for the scripts that source it
set -u
EMBER_BIN=${EMBER_BIN:-build/ember-issuer}
case "$EMBER_BIN" in /*) ;; *) EMBER_BIN="$PWD/$EMBER_BIN" ;; esac
WORK=$(mktemp -d /tmp/ember-it.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
[ -n "${KEEP_WORK:-}" ] && trap - EXIT

# ok, not_ok, check, skip, absent, free_port, make_csr
. "$(dirname "${BASH_SOURCE[0]}")/../shlib.sh"

# make_ca DIR: root (self-signed) -> intermediate -> sub-CA, EC P-256, with the openssl CLI.
# Writes DIR/{root,inter,subca}.{key,crt} and DIR/secret.yaml (Secret default/test-ca:
# tls.crt = sub-CA + intermediate, tls.key = sub-CA key, ca.crt = root).
make_ca() {
  local d=$1
  mkdir -p "$d"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=Test Root" -keyout "$d/root.key" -out "$d/root.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  local name parent
  for name in inter subca; do
    parent=$([ "$name" = inter ] && echo root || echo inter)
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=Test $name" \
      -keyout "$d/$name.key" -out "$d/$name.csr" 2>/dev/null
    printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$d/$name.ext"
    openssl x509 -req -in "$d/$name.csr" -CA "$d/$parent.crt" -CAkey "$d/$parent.key" \
      -CAcreateserial -days 365 -extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null
  done
  cat "$d/subca.crt" "$d/inter.crt" >"$d/tls.crt"
  secret_yaml default test-ca "$d/tls.crt" "$d/subca.key" "$d/root.crt" >"$d/secret.yaml"
}

# secret_yaml NS NAME CRT KEY [CA]: a kubernetes.io/tls Secret manifest on stdout.
secret_yaml() {
  cat <<YAML
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: {name: $2, namespace: $1}
data:
  tls.crt: $(base64 -w0 "$3")
  tls.key: $(base64 -w0 "$4")
YAML
  [ $# -ge 5 ] && echo "  ca.crt: $(base64 -w0 "$5")"
  return 0
}

# start_ember NAME ARGS...: starts the binary with the API on a free port; sets $API (base
# URL), $PROBES, $METRICS and $LOG; waits for /healthz. Fails when it does not come up.
start_ember() {
  local name=$1; shift
  local ap pp mp
  ap=$(free_port); pp=$(free_port); mp=$(free_port)
  API="http://127.0.0.1:$ap"; PROBES="http://127.0.0.1:$pp"; METRICS="http://127.0.0.1:$mp"
  LOG="$WORK/$name.log"
  "$EMBER_BIN" --api-bind-address "127.0.0.1:$ap" --health-probe-bind-address "127.0.0.1:$pp" \
    --metrics-bind-address "127.0.0.1:$mp" "$@" >"$LOG" 2>&1 &
  EMBER_PID=$!
  PIDS+=("$EMBER_PID")
  local i
  for i in $(seq 1 100); do
    curl -fs "$PROBES/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$EMBER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "ember-issuer did not start; log:"; cat "$LOG"
  return 1
}


# cr_json NAME NS CSR_FILE ISSUER_KIND ISSUER_NAME POLICY DURATION USAGES_JSON [ISCA]: a
# CertificateRequest as cert-manager creates it (spec.request = base64 of the PEM CSR).
cr_json() {
  local ann=""
  [ -n "$6" ] && ann="\"annotations\":{\"ember.issuer.dev/policy-name\":\"$6\"},"
  local dur=""
  [ -n "$7" ] && dur="\"duration\":\"$7\","
  printf '{"apiVersion":"cert-manager.io/v1","kind":"CertificateRequest","metadata":{"name":"%s","namespace":"%s",%s"labels":{}},"spec":{"request":"%s",%s"isCA":%s,"usages":%s,"issuerRef":{"group":"ember.issuer.dev","kind":"%s","name":"%s"}}}' \
    "$1" "$2" "$ann" "$(base64 -w0 "$3")" "$dur" "${9:-false}" "$8" "$4" "$5"
}

# post PATH FILE [CONTENT_TYPE]: POSTs to the API; sets $CODE, $BODY (file) and $HEADERS.
post() {
  BODY="$WORK/body.$RANDOM"; HEADERS="$BODY.h"
  CODE=$(curl -s -o "$BODY" -D "$HEADERS" -w '%{http_code}' -X POST \
    -H "Content-Type: ${3:-application/json}" --data-binary "@$2" "$API$1")
}

# jqpy EXPR FILE: evaluates a Python expression over the JSON in FILE bound to `d`.
jqpy() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[2])); r=eval(sys.argv[1]); print(r if not isinstance(r,(dict,list)) else json.dumps(r))' "$1" "$2"
}

# messages FILE: every condition message of a CertificateRequest in FILE, or a Status's message.
messages() {
  python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
st = d.get("status")
if d.get("kind") == "Status":
    print(d.get("message", ""))
elif isinstance(st, dict):
    for c in st.get("conditions", []):
        print(c.get("message", ""))
PY
}
# has_message TEXT FILE: some message in FILE (see messages) contains TEXT (grep reads all of
# it: with -q it would stop early and break the pipe of messages, which then prints a traceback).
has_message() { messages "$2" | grep -F -- "$1" >/dev/null; }

# metric SAMPLE: the value of one sample on $METRICS/metrics, SAMPLE written as rendered
# ('name{label="value"}' or a bare name); "" when there is no such sample.
metric() { curl -s "$METRICS/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
# wait_metric SAMPLE VALUE: polls metric until it prints VALUE ("" waits for the sample to go),
# $WAIT_S seconds at most (default 10).
wait_metric() {
  for _ in $(seq 1 $((${WAIT_S:-10} * 10))); do
    [ "$(metric "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
# not_after CERT: the certificate's notAfter, Unix seconds.
not_after() { date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s; }

# chain_out FILE PREFIX: decodes status.certificate and status.ca of a response into
# PREFIX.chain.pem, PREFIX.leaf.pem and PREFIX.ca.pem, and checks (an "ok"/"not ok" line) that
# the chain passes `openssl verify -x509_strict` against status.ca: every certificate a test
# takes out of a response goes through it.
chain_out() {
  jqpy 'd["status"]["certificate"]' "$1" | base64 -d >"$2.chain.pem"
  jqpy 'd["status"]["ca"]' "$1" | base64 -d >"$2.ca.pem"
  openssl x509 -in "$2.chain.pem" -out "$2.leaf.pem"
  check "$(basename "$2"): the issued chain passes openssl verify -x509_strict against status.ca" \
    verify_strict "$2.ca.pem" "$2.chain.pem" "$2.leaf.pem"
}

# no_secrets_in LOGFILE KEYFILES...: the log exists, is not empty and holds no "PRIVATE KEY"
# and no line of any private key given. Fails when a key file is missing or has no key line.
no_secrets_in() {
  local log=$1; shift
  local k line n
  absent -F -- 'PRIVATE KEY' "$log" || return 1
  [ $# -gt 0 ] || { echo "no_secrets_in: no key file given"; return 1; }
  for k in "$@"; do
    n=0
    while IFS= read -r line; do
      case "$line" in -----* | "") continue ;; esac
      n=$((n + 1))
      absent -F -- "$line" "$log" >/dev/null || { echo "no_secrets_in: a line of $k is in $log"; return 1; }
    done < <(cat -- "$k" 2>/dev/null)
    [ "$n" -gt 0 ] || { echo "no_secrets_in: $k is missing or holds no key line"; return 1; }
  done
  return 0
}

# build_tool NAME: builds test/integration/NAME.c against the libember.a beside $EMBER_BIN
# (with the same sanitizers when it was built with them) into $WORK/NAME; prints ok / not ok.
build_tool() {
  local lib cflags san=""
  lib="$(dirname "$EMBER_BIN")/libember.a"
  cflags="-std=c17 -D_GNU_SOURCE -g -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Werror -Iissuer"
  # A library built with SANITIZER=... needs the same runtime at link time.
  if nm -A "$lib" 2>/dev/null | grep -q '__asan_'; then san="$san,address"; fi
  if nm -A "$lib" 2>/dev/null | grep -q '__ubsan_'; then san="$san,undefined"; fi
  if nm -A "$lib" 2>/dev/null | grep -q '__tsan_'; then san="$san,thread"; fi
  [ -n "$san" ] && cflags="$cflags -fsanitize=${san#,} -fno-sanitize-recover=all"
  # shellcheck disable=SC2086,SC2046
  if gcc $cflags -o "$WORK/$1" "test/integration/$1.c" "$lib" \
      $(pkg-config --cflags --libs libmicrohttpd libcjson openssl libcurl yaml-0.1) -lpthread -lm \
      2>"$WORK/$1.cc.log"; then
    ok "build test/integration/$1.c against $lib"
  else
    not_ok "build test/integration/$1.c against $lib"; cat "$WORK/$1.cc.log"; return 1
  fi
}
