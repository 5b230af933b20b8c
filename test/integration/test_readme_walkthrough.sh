#!/usr/bin/env bash
# test_readme_walkthrough.sh -- runs README.md's "Five minutes, standalone" as written: `make run`
# from the project root, then every other shell block of that section in a temp dir.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh
root=$PWD

for port in 8080 8081 8082; do
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
    not_ok "port $port is already in use (stop a running 'make run' first)"; exit 1
  fi
done
# In a process group of its own (setsid execs in place: its PID is the group's), so that the
# server make starts under it can be stopped with it, and nothing else.
setsid make --no-print-directory run SANITIZER="${SANITIZER:-}" >"$WORK/run.log" 2>&1 &
RUN_PGID=$!
PIDS+=("$RUN_PGID")
up=false
for _ in $(seq 1 300); do
  curl -fs -o /dev/null http://127.0.0.1:8081/readyz && { up=true; break; }
  sleep 0.1
done
check "make run serves /readyz on 127.0.0.1:8081" $up
$up || { tail -20 "$WORK/run.log"; exit 1; }

# The section's shell blocks, minus the one that starts Ember.
python3 - "$root/README.md" >"$WORK/walkthrough.sh" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
section = text.split("## Five minutes, standalone", 1)[1].split("\n## ", 1)[0]
for block in re.findall(r"```sh\n(.*?)```", section, re.S):
    if block.strip() != "make run":
        print(block)
PY
check "the walkthrough has its blocks" grep -q 'openssl verify' "$WORK/walkthrough.sh"
mkdir -p "$WORK/w"
(cd "$WORK/w" && bash -e -x "$WORK/walkthrough.sh") >"$WORK/w.out" 2>&1
check "every walkthrough command runs" test $? = 0
check "openssl verify says OK" grep -q 'leaf.pem: OK' "$WORK/w.out"
check "the certificate names app.example.com" grep -q 'DNS:app.example.com' "$WORK/w.out"
check "the evil request is denied naming evil.com and code signing" \
  bash -c 'grep -q "\"type\":\"Denied\"" "$1" && grep -q "evil.com" "$1" && grep -q "code signing" "$1"' _ "$WORK/w.out"
check "the Firefly-shaped request returns a chain" grep -q '"certificateChain":"-----BEGIN CERTIFICATE' "$WORK/w.out"
check "readyz and metrics answer as the README says" \
  bash -c 'curl -fs http://127.0.0.1:8081/readyz >/dev/null && curl -fs http://127.0.0.1:8082/metrics | grep -q ember_certificaterequests_total'
# Stop `make run`: make and the server under it, by their process group.
kill -TERM -- "-$RUN_PGID" 2>/dev/null
wait
