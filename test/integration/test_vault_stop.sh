#!/usr/bin/env bash
# test_vault_stop.sh -- shutdown is not held up by a Vault that never answers: a sub-CA issuer's
# renewal thread is inside an AppRole login to a server that accepts the connection and then
# says nothing (its backlog holds the connection; nothing is ever read or written). SIGTERM must
# end the process within 10 s, not after Vault's 30 s request timeout (a Kubernetes pod has 30 s
# before SIGKILL, and the revoke-self at shutdown would be lost with it).
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh

# A TCP listener that never accepts: the kernel completes the handshake, curl sends its request
# and waits for an answer that never comes.
PORT=$(free_port)
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
print("listening", flush=True)
time.sleep(120)' "$PORT" >"$WORK/mute.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 50); do grep -q listening "$WORK/mute.log" && break; sleep 0.1; done

cat >"$WORK/issuers.yaml" <<YAML
apiVersion: ember.issuer.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: mute}
spec:
  vault:
    server: http://127.0.0.1:$PORT
    auth:
      appRole: {roleId: rid, secretRef: {name: mute-approle, key: secretId}}
    subCA: {path: pki_int/root/sign-intermediate}
---
apiVersion: v1
kind: Secret
metadata: {name: mute-approle, namespace: default}
stringData: {secretId: sid-never-shown}
YAML
start_ember stop --manifests "$WORK/issuers.yaml" || exit 1
# The renewal thread's first login is now waiting on the mute server (it connects at once).
sleep 2
check "the sub-CA issuer is not ready while Vault does not answer" \
  test "$(metric 'ember_issuer_ready{issuer="ClusterIssuer/mute"}')" = 0
t0=$(date +%s)
kill -TERM "$EMBER_PID"
for _ in $(seq 1 150); do kill -0 "$EMBER_PID" 2>/dev/null || break; sleep 0.1; done
t1=$(date +%s)
check "SIGTERM ends ember-issuer within 10 s while a Vault login hangs (took $((t1 - t0)) s)" \
  eval '! kill -0 "$EMBER_PID" 2>/dev/null'
wait "$EMBER_PID" 2>/dev/null
check "it exits with status 0 after SIGTERM" test "$?" = 0
check "no secret_id in the log" absent -F sid-never-shown "$LOG"
