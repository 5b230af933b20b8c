# tap.sh -- the "ok - ..." / "not ok - ..." lines test/run.sh counts, for the integration scripts
# (test/integration/lib.sh) and the end-to-end cases (test/e2e/cases/common.sh). Source it.
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }
# check NAME COMMAND...: ok when the command succeeds.
check() {
  local name=$1; shift
  if "$@"; then ok "$name"; else not_ok "$name"; fi
}
# free_port: a free TCP port on 127.0.0.1 (the kernel picks it; a race with other processes is
# unlikely).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
