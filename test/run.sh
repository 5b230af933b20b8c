#!/usr/bin/env bash
# run.sh -- runs the test suite against the binaries in $OUT and ends with "N passed, M failed".
# ONLY=unit|fuzz|integration|e2e runs one part; E2E=0 leaves out the end-to-end suite
# (test/e2e/run.sh, the real servers built from Go modules). Each integration script prints "ok - ..." or
# "not ok - ..." per case (TAP-like), streamed as it runs with its name in front; each cmocka
# binary reports its own counts.
# Nothing passes by saying nothing: a script with no "ok - " line, a unit binary that runs no
# test and a fuzz replay of no input are failures, and so is a skip (cmocka's skip(), TAP's
# "ok - ... # SKIP") unless the output says why in a line "# skip: REASON" (test/shlib.sh's
# `skip`; in C, print_message("# skip: ...\n") before skip()). Skips are listed with their reasons.
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-build}
ONLY=${ONLY:-}
passed=0
failed=0
failures=()
skipped=()

# skip_reasons: the reasons of the skips on stdin, one a line ("# skip: REASON" and TAP
# "ok - NAME # SKIP REASON"); a skip without a reason gives an empty line.
# A TAP skip: "# SKIP" (any case) after white space, as TAP writes directives.
TAP_SKIP='^ok - .*[[:space:]]#[[:space:]]*SKIP[^[:space:]]*([[:space:]]+|$)'
skip_reasons() {
  sed -nE -e 's/^# skip:[[:space:]]*//p' -e "s/${TAP_SKIP}//Ip"
}

run_unit() {
  local t out p f sk n why reason
  for t in "$OUT"/unit/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1)
    local rc=$?
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    sk=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | tail -1)
    p=${p:-0}; f=${f:-0}; sk=${sk:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    why=""; n=0
    while IFS= read -r reason; do
      if [ -n "${reason// /}" ]; then n=$((n + 1)); skipped+=("unit: $(basename "$t"): $reason"); fi
    done < <(printf '%s\n' "$out" | skip_reasons)
    if [ "$sk" -gt "$n" ]; then
      f=$((f + sk - n)); why=", $((sk - n)) skipped without a \"# skip: REASON\" line"
    fi
    if [ $((p + f + n)) -eq 0 ]; then f=1; why=", ran no test"; fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -ne 0 ]; then
      failures+=("unit: $(basename "$t")")
      printf '%s\n' "$out" | grep -E 'FAILED|ERROR|Failure|error|Assert|Sanitizer|runtime error|SKIPPED' | head -20
      echo "not ok - unit $(basename "$t") ($p passed, $f failed$why)"
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
    # A replay of no input (a corpus folder gone or renamed) checks nothing.
    if out=$("$t" "test/fuzz/corpus/$name" 2>&1) && printf '%s\n' "$out" | grep -qE 'replayed [1-9][0-9]* input'; then
      passed=$((passed + 1)); echo "ok - fuzz corpus $name (${out##* replayed })"
    else
      failed=$((failed + 1)); failures+=("fuzz: $name")
      printf '%s\n' "$out" | tail -20; echo "not ok - fuzz corpus $name (failed, or replayed no input)"
    fi
  done
}

run_integration() {
  local s name log rc spid p tp f n reason e extra
  # test_chart.sh renders with the real helm (test/e2e/tools): build it first, outside the
  # per-script timeout (a cold build takes minutes; a warm one links nothing).
  if [ -f test/integration/test_chart.sh ]; then
    (. test/e2e/lib.sh && e2e_build tools >/dev/null) || echo "# the helm build failed; test_chart.sh will say why"
  fi
  for s in test/integration/test_*.sh; do
    [ -f "$s" ] || continue
    name=$(basename "$s" .sh)
    log=$(mktemp)
    # The script writes to a file, not to a pipe, so that a process it leaves behind cannot
    # hold run.sh; tail streams that file while the script runs, each line prefixed with the
    # script's name, and ends once the script has.
    EMBER_BIN="$OUT/ember-issuer" timeout 600 bash "$s" >"$log" 2>&1 &
    spid=$!
    trap 'kill "$spid" 2>/dev/null; exit 130' INT TERM
    tail -s 0.2 -n +1 -f --pid="$spid" "$log" | sed -u "s|^|$name: |"
    wait "$spid"; rc=$?
    trap - INT TERM
    p=$(grep -c '^ok - ' "$log"); tp=$(grep -ciE "$TAP_SKIP" "$log"); p=$((p - tp))
    f=$(grep -c '^not ok - ' "$log")
    extra=(); n=0
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then extra+=("$s exited $rc"); fi
    while IFS= read -r reason; do
      if [ -n "${reason// /}" ]; then
        n=$((n + 1)); skipped+=("integration: $name.sh: $reason")
      else
        extra+=("$s skipped without saying why (\"# skip: REASON\")")
      fi
    done < <(skip_reasons <"$log")
    if [ $((p + f + n)) -eq 0 ] && [ ${#extra[@]} -eq 0 ]; then
      extra+=("$s printed no \"ok - \" line and no \"# skip: REASON\"")
    fi
    for e in "${extra[@]}"; do echo "$name: not ok - $e"; done
    f=$((f + ${#extra[@]}))
    passed=$((passed + p)); failed=$((failed + f))
    [ "$f" -ne 0 ] && failures+=("integration: $name.sh")
    rm -f "$log"
  done
}

run_e2e() {
  local log p f line
  log=$(mktemp)
  EMBER_BIN="$OUT/ember-issuer" bash test/e2e/run.sh 2>&1 | tee "$log" | grep --line-buffered -vE '^e2e: (building|built) '
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

if [ ${#skipped[@]} -gt 0 ]; then
  echo "skipped:"; printf '  %s\n' "${skipped[@]}"
fi
if [ ${#failures[@]} -gt 0 ]; then
  echo "failed:"; printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
