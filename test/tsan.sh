#!/usr/bin/env bash
# tsan.sh -- `make tsan`: the unit tests and the integration tests that drive Ember's threads
# (controller workers, the libmicrohttpd pools of the API, the lease and watch threads, the
# Vault issuer's re-check, the Vault sub-CA's renewal), all built with SANITIZER=thread (in $OUT), under ThreadSanitizer.
# Ends with "N passed, M failed"; any ThreadSanitizer report counts as a failure, also one from
# a process whose exit status no test looks at (reports go to files, see log_path below).
#
# Races in Ember's own code are fixed, not suppressed: test/tsan.supp lists only what happens
# inside libraries that are not built with -fsanitize=thread (OpenSSL, libcurl, GnuTLS,
# libmicrohttpd), each entry with its reason.
#
# gcc 12's TSan runtime aborts with "unexpected memory mapping" on kernels that place mappings
# anywhere in a 47-bit space (vm.mmap_rnd_bits > 28); `setarch -R` (no address randomization)
# avoids that, so the whole run goes under it when setarch is there.
# Environment: OUT (default build/san-thread), TSAN_TESTS (integration scripts, names without
# test/integration/ and .sh; default the list below).
set -u
cd "$(dirname "$0")/.." || exit 2
OUT=${OUT:-build/san-thread}

if [ -z "${EMBER_TSAN_SETARCH:-}" ] && command -v setarch >/dev/null &&
    setarch "$(uname -m)" -R true 2>/dev/null; then
    EMBER_TSAN_SETARCH=1 exec setarch "$(uname -m)" -R bash "$0" "$@"
fi

# Chosen for the threads they drive: the controller's workers and watch threads
# (test_controller, test_controller_faults: watches dropped under a burst of 30 requests), the
# API's connection threads with TLS renewal under concurrent handshakes and bearer-token review
# (test_api_tls, test_api_auth), lease election beside the workers (test_leader) and the Vault
# signer with its re-check thread (test_vault_controller), the Vault sub-CA's renewal threads
# swapping sub-CAs under signing (test_vault_subca). The other scripts run one request at
# a time or no threads of Ember's at all; TSAN_TESTS="..." runs any of them the same way.
TSAN_TESTS=${TSAN_TESTS:-test_controller test_controller_faults test_api_auth test_api_tls
    test_leader test_vault_controller test_vault_subca}

logs=$(mktemp -d /tmp/ember-tsan.XXXXXX)
trap 'rm -rf "$logs"' EXIT
# halt_on_error=0: a run shows every race, not only the first; exitcode: a process with a report
# still fails. second_deadlock_stack: lock-order reports name both acquisitions.
export TSAN_OPTIONS="suppressions=$PWD/test/tsan.supp log_path=$logs/tsan halt_on_error=0 exitcode=66 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"

passed=0
failed=0
count() {
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
    [ -n "$line" ] || line="0 passed, 1 failed"
    passed=$((passed + ${line%% passed*}))
    line=${line#* passed, }
    failed=$((failed + ${line%% failed*}))
}

out=$(mktemp)
OUT=$OUT ONLY=unit bash test/run.sh | tee "$out"
count "$out"

for s in $TSAN_TESTS; do
    EMBER_BIN="$OUT/ember-issuer" timeout 600 bash "test/integration/$s.sh" >"$out" 2>&1
    rc=$?
    p=$(grep -c '^ok - ' "$out")
    f=$(grep -c '^not ok - ' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$f" -ne 0 ]; then
        grep '^not ok - ' "$out" | sed "s|^|$s: |"
        echo "---- $s output (last 40 lines) ----"
        tail -40 "$out"
        echo "----"
    fi
    if [ "$f" -eq 0 ]; then echo "ok - tsan $s ($p cases)"; else echo "not ok - tsan $s ($p passed, $f failed, exit $rc)"; fi
done
rm -f "$out"

reports=("$logs"/tsan.*)
if [ -e "${reports[0]}" ]; then
    n=$(cat "${reports[@]}" | grep -c '^WARNING: ThreadSanitizer')
    echo "not ok - ThreadSanitizer: $n reports in ${#reports[@]} processes"
    cat "${reports[@]}"
    failed=$((failed + 1))
else
    echo "ok - ThreadSanitizer: no reports"
    passed=$((passed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
