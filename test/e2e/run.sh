#!/usr/bin/env bash
# run.sh -- `make e2e`: Ember's real binary against a real etcd, kube-apiserver, cert-manager
# (controller and webhook), helm and SPIRE, all built from Go modules (cached:
# see lib.sh) and run on loopback. Starts the cluster once, installs cert-manager and Ember (the
# chart rendered by helm), runs test/e2e/cases/NN-*.sh in order, each a separate bash process
# printing "ok - ..." / "not ok - ...", and ends with "N passed, M failed". Every process it
# starts is stopped by PID on exit; the whole run is bounded by E2E_TIMEOUT (s, default 2700).
#
# Environment: EMBER_BIN (default build/ember-issuer), E2E_CACHE (see lib.sh), E2E_CASES (a
# grep -E pattern over case file names: run only those), KEEP_E2E=1 keeps the work folder.
set -u
cd "$(dirname "$0")/../.." || exit 1
EMBER_BIN=${EMBER_BIN:-build/ember-issuer}
case "$EMBER_BIN" in /*) ;; *) EMBER_BIN="$PWD/$EMBER_BIN" ;; esac
export EMBER_BIN
. test/e2e/lib.sh
. test/e2e/cluster.sh
. test/e2e/ember.sh
. test/e2e/certmanager/cm.sh

passed=0
failed=0
failures=()
t_start=$(date +%s)
result() { # result ok|not_ok TEXT
  if [ "$1" = ok ]; then passed=$((passed + 1)); echo "ok - e2e: $2"
  else failed=$((failed + 1)); failures+=("$2"); echo "not ok - e2e: $2"; fi
}
finish() {
  [ ${#failures[@]} -gt 0 ] && { echo "failed:"; printf '  %s\n' "${failures[@]}"; }
  echo "e2e: $(( $(date +%s) - t_start )) s"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}

if ! e2e_go_env; then
  result not_ok "Go $E2E_GO_MIN or newer at /usr/local/go (make e2e needs it to build the real servers)"
  finish; exit 1
fi
[ -x "$EMBER_BIN" ] || { result not_ok "the binary $EMBER_BIN exists (make first)"; finish; exit 1; }

# The watchdog: the whole run is bounded; on expiry every process the harness started is stopped.
E2E_TIMEOUT=${E2E_TIMEOUT:-2700}
E2E_DIR=$(mktemp -d /tmp/ember-e2e.XXXXXX)
export E2E_DIR
on_exit() {
  e2e_stop_all
  [ -n "${WATCHDOG:-}" ] && kill "$WATCHDOG" 2>/dev/null
  if [ -n "${KEEP_E2E:-}" ]; then echo "e2e: kept $E2E_DIR"; else rm -rf "$E2E_DIR"; fi
}
trap on_exit EXIT
# It holds none of this script's output (a pipe reader such as test/run.sh's tee would wait for
# it), and its sleep goes with it.
( exec >/dev/null 2>&1 </dev/null
  sleep "$E2E_TIMEOUT" & s=$!
  trap 'kill $s; exit 0' TERM
  wait $s && kill -TERM $$ ) &
WATCHDOG=$!
trap 'echo "e2e: stopped by a signal (or E2E_TIMEOUT=$E2E_TIMEOUT s passed)" >&2; exit 1' TERM INT

# Build everything first (cached), so that the build time is not counted against any case.
for b in test/e2e/*/build.sh; do
  comp=$(basename "$(dirname "$b")")
  t0=$(date +%s)
  if out=$(e2e_build "$comp"); then
    result ok "build $comp (test/e2e/$comp, $(( $(date +%s) - t0 )) s; first build took $(cat "$out/.built") s)"
  else
    result not_ok "build $comp (test/e2e/$comp)"
  fi
done

if e2e_cluster_up "$E2E_DIR"; then
  result ok "etcd and kube-apiserver $(kc version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])') up on loopback with RBAC"
else
  result not_ok "etcd and kube-apiserver start"; finish; exit 1
fi
if cm_install "$ADMIN_KUBECONFIG" "$E2E_DIR" && cm_start "$E2E_DIR"; then
  result ok "cert-manager's CRDs, RBAC and webhook configurations applied; its controller and webhook run as its own service accounts"
else
  result not_ok "cert-manager installs and starts"; finish; exit 1
fi
# The release every case uses: short leader election timings (case 6), a 10 s issuer re-check
# (case 3: a rotated CA Secret), the signing API with Kubernetes tokens on loopback (case 9) and
# the audit log (cases 6 and 7 count issued UIDs with it).
# shellcheck disable=SC2054 # helm --set takes comma-separated key=value pairs
EMBER_VALUES=(--set replicaCount=1,issuerRecheckPeriod=10s
  --set leaderElection.leaseDuration=15s,leaderElection.renewDeadline=10s,leaderElection.retryPeriod=2s
  --set api.enabled=true,api.tokenAuth.enabled=true,api.tokenAuth.allowWithoutTLS=true,api.audit.enabled=true)
if ember_install ember-issuer ember-issuer "${EMBER_VALUES[@]}" && ember_start ember-0 ember-issuer ember-issuer; then
  result ok "Ember's chart (helm template) applied; ember-issuer runs with the chart's ServiceAccount and RBAC"
else
  result not_ok "Ember installs and starts"; finish; exit 1
fi

for c in test/e2e/cases/[0-9]*.sh; do
  name=$(basename "$c" .sh)
  if [ -n "${E2E_CASES:-}" ] && ! printf '%s\n' "$name" | grep -qE -- "$E2E_CASES"; then continue; fi
  log="$E2E_DIR/case-$name.log"
  t0=$(date +%s)
  echo "# $name: started"
  # Results are counted and printed as the case prints them, so a hang shows where it is. The
  # case writes to $log and tail follows the file until the case ends: a process the case left
  # behind may keep the file open, but never holds up the reading of a pipe.
  : >"$log"
  timeout -k 10 900 bash "$c" >"$log" 2>&1 &
  cpid=$!
  while IFS= read -r line; do
    case "$line" in
      "ok - "*) result ok "$name: ${line#ok - }" ;;
      "not ok - "*) result not_ok "$name: ${line#not ok - }" ;;
    esac
  done < <(tail -n +1 -s 0.2 -f --pid="$cpid" "$log")
  wait "$cpid"
  rc=$?
  grep -qE '^(ok|not ok) - ' "$log" || result not_ok "$name printed no result"
  # A case's exit status counts when it printed no failure (its last check may have failed) or
  # when it was stopped (timeout: 124, killed: 137).
  if [ "$rc" -ge 124 ] || { [ "$rc" -ne 0 ] && ! grep -q '^not ok - ' "$log"; }; then
    result not_ok "$name exited $rc"
  fi
  echo "# $name: $(( $(date +%s) - t0 )) s"
  if grep -q '^not ok - ' "$log" || [ "$rc" -ne 0 ]; then
    echo "---- $name (last 60 lines) ----"; tail -60 "$log"; echo "----"
  fi
done
finish
