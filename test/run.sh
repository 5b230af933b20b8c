#!/usr/bin/env bash
# run.sh -- runs the test suite against the binaries in $OUT and ends with "N passed, M failed".
# ONLY=unit|fuzz|integration|e2e runs one part; E2E=0 leaves out the end-to-end suite
# (test/e2e/run.sh, the real servers built from Go modules). Each integration script prints "ok - ..." or
# "not ok - ..." per case (TAP-like); each cmocka binary reports its own counts.
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-build}
ONLY=${ONLY:-}
passed=0
failed=0
failures=()

run_unit() {
  local t out p f
  for t in "$OUT"/unit/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1)
    local rc=$?
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    p=${p:-0}; f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -ne 0 ]; then
      failures+=("unit: $(basename "$t")")
      printf '%s\n' "$out" | grep -E 'FAILED|ERROR|Failure|error|Assert|Sanitizer|runtime error' | head -20
      echo "not ok - unit $(basename "$t") ($p passed, $f failed)"
    else
      echo "ok - unit $(basename "$t") ($p cases)"
    fi
  done
}

run_fuzz_replay() {
  local t name
  for t in "$OUT"/fuzz/fuzz_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    if out=$("$t" "test/fuzz/corpus/$name" 2>&1); then
      passed=$((passed + 1)); echo "ok - fuzz corpus $name (${out##* replayed })"
    else
      failed=$((failed + 1)); failures+=("fuzz: $name")
      printf '%s\n' "$out" | tail -20; echo "not ok - fuzz corpus $name"
    fi
  done
}

run_integration() {
  local s log p f
  # test_chart.sh renders with the real helm (test/e2e/tools): build it first, outside the
  # per-script timeout (a cold build takes minutes; a warm one links nothing).
  (. test/e2e/lib.sh && e2e_build tools >/dev/null) || echo "# the helm build failed; test_chart.sh will say why"
  for s in test/integration/test_*.sh; do
    [ -f "$s" ] || continue
    log=$(mktemp)
    EMBER_BIN="$OUT/ember-issuer" timeout 600 bash "$s" >"$log" 2>&1
    local rc=$?
    p=$(grep -c '^ok - ' "$log"); f=$(grep -c '^not ok - ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $s exited $rc" >>"$log"; fi
    passed=$((passed + p)); failed=$((failed + f))
    grep -E '^(ok|not ok) - ' "$log" | sed "s|^|$(basename "$s" .sh): |"
    if [ "$f" -ne 0 ]; then
      failures+=("integration: $(basename "$s")")
      echo "---- $(basename "$s") output (last 60 lines) ----"; tail -60 "$log"; echo "----"
    fi
    rm -f "$log"
  done
}

run_e2e() {
  local log p f line
  log=$(mktemp)
  EMBER_BIN="$OUT/ember-issuer" bash test/e2e/run.sh 2>&1 | tee "$log" | grep -vE '^e2e: (building|built) '
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  p=$(printf '%s' "$line" | sed -E 's/^([0-9]+) passed.*/\1/'); p=${p:-0}
  f=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/'); f=${f:-1}
  passed=$((passed + p)); failed=$((failed + f))
  [ "$f" -ne 0 ] && failures+=("e2e: test/e2e/run.sh")
  rm -f "$log"
}

case "$ONLY" in
  unit) run_unit ;;
  fuzz) run_fuzz_replay ;;
  integration) run_integration ;;
  e2e) run_e2e ;;
  *) run_unit; run_fuzz_replay; run_integration; [ "${E2E:-1}" = 0 ] || run_e2e ;;
esac

if [ ${#failures[@]} -gt 0 ]; then
  echo "failed:"; printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
