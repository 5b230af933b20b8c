# shlib.sh -- what the integration scripts (test/integration/lib.sh) and the end-to-end cases
# (test/e2e/cases/common.sh) share: the "ok - ..." / "not ok - ..." lines test/run.sh counts, a
# free loopback port, a key and CSR made with openssl. Source it.
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }
# check NAME COMMAND...: ok when the command succeeds; returns the command's status, so that
# `check NAME CMD || exit 1` stops when it failed.
check() {
  local name=$1; shift
  if "$@"; then ok "$name"; else not_ok "$name"; return 1; fi
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
