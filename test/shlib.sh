# shlib.sh -- what the integration scripts (test/integration/lib.sh) and the end-to-end cases
# (test/e2e/cases/common.sh) share: the "ok - ..." / "not ok - ..." lines test/run.sh counts, a
# free loopback port, a key and CSR made with openssl, and the two rules test/run.sh holds every
# script to:
#   - a check that something is NOT in a file goes through `absent`, never `! grep`: a missing
#     or empty file must fail the check, not pass it
#       check "no token in the log" absent -E 'tok-[a-z]+|Bearer ' "$LOG"
#       check "no secret in the log" absent -F -e "$TOKEN" -e "$SECRET_ID" "$LOG"
#   - a script that prints no "ok - " line fails, and so does any skip, unless it says why:
#       skip "no Docker engine on this machine"     # prints "# skip: no Docker ..."
# Source it.
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }
# skip REASON: this script, or a part of it, did not run, and why: the line "# skip: REASON"
# that test/run.sh lists (a skip without a reason, like a script with no check, is a failure).
skip() { echo "# skip: $*"; }
# check NAME COMMAND...: ok when the command succeeds; returns the command's status, so that
# `check NAME CMD || exit 1` stops when it failed.
check() {
  local name=$1; shift
  if "$@"; then ok "$name"; else not_ok "$name"; return 1; fi
}

# absent [-F|-E|-i|-w|-x|-v]... [-e PATTERN]... [--] [PATTERN] FILE...: succeeds when no FILE
# has a line matching PATTERN (grep's syntax and options; several -e PATTERNs: none of them).
# Fails, saying why, when a FILE is missing or empty (a log that was never written proves
# nothing), when one matches (the first matching lines follow, as "#   " lines) or when grep
# fails (a bad pattern). With -v: every line of every FILE matches.
absent() {
  local opts=() pats=() f out rc
  while [ $# -gt 0 ]; do
    case "$1" in
      -F | -E | -i | -w | -x | -v) opts+=("$1"); shift ;;
      -e) [ $# -ge 2 ] || break; pats+=(-e "$2"); shift 2 ;;
      --) shift; break ;;
      *) break ;;
    esac
  done
  if [ ${#pats[@]} -eq 0 ] && [ $# -ge 1 ]; then pats=(-e "$1"); shift; fi
  if [ ${#pats[@]} -eq 0 ] || [ $# -lt 1 ]; then
    echo "absent: usage: absent [-F|-E|-i|-w|-x|-v]... [-e PATTERN]... [--] [PATTERN] FILE..."
    return 2
  fi
  for f in "$@"; do
    if [ ! -e "$f" ]; then
      echo "absent: $f is missing, so it cannot show that grep ${opts[*]} ${pats[*]} finds nothing"; return 1
    fi
    if [ ! -s "$f" ]; then
      echo "absent: $f is empty, so it cannot show that grep ${opts[*]} ${pats[*]} finds nothing"; return 1
    fi
    out=$(grep -n -m 3 "${opts[@]}" "${pats[@]}" -- "$f" 2>&1); rc=$?
    case $rc in
      1) ;;
      0) echo "absent: $f has lines for grep ${opts[*]} ${pats[*]}:"; printf '%s\n' "$out" | cut -c1-200 | sed 's/^/#   /'; return 1 ;;
      *) echo "absent: grep failed (exit $rc) on $f: $out"; return 1 ;;
    esac
  done
  return 0
}

# free_port: a free TCP port on 127.0.0.1 (the kernel picks it; a race with other processes is
# unlikely).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# verify_strict ROOT CHAIN LEAF: LEAF verifies through the untrusted CHAIN to ROOT under
# `openssl verify -x509_strict`, which adds RFC 5280's rules on every certificate (a subject or a
# SAN, SAN critical when the subject is empty, AKI and SKI, a CA's basicConstraints critical and
# keyUsage present, keyCertSign only in a CA...). Prints openssl's complaint as "#" lines.
verify_strict() {
  local out
  out=$(openssl verify -x509_strict -CAfile "$1" -untrusted "$2" "$3" 2>&1) && return 0
  printf '%s\n' "$out" | sed 's/^/#   /'
  return 1
}

# make_csr OUT_PREFIX [openssl req options...]: EC P-256 key and CSR (PEM) via the openssl CLI.
make_csr() {
  local out=$1; shift
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$out.key" \
    -out "$out.csr" "$@" 2>/dev/null
}
