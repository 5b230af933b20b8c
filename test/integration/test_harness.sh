#!/usr/bin/env bash
# test_harness.sh -- self-test of the test harness: the absence checks of test/shlib.sh and
# lib.sh fail on a file that is missing or empty, and test/run.sh fails a script that checks
# nothing, a skip that gives no reason, a unit binary that runs no test or skips one silently,
# and streams each script's output while it runs. Each case runs a copy of test/run.sh in a
# throwaway tree, on scripts and binaries made here.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh

# --- absent and no_secrets_in ---------------------------------------------------------------
printf 'level=info msg="issued default/app"\nlevel=info msg="stopped"\n' >"$WORK/clean.log"
: >"$WORK/empty.log"
make_csr "$WORK/app"
{ cat "$WORK/clean.log"; sed -n 2p "$WORK/app.key"; } >"$WORK/leaky.log"

# fails_saying TEXT COMMAND...: the command fails and its output says TEXT (so it failed for
# that reason, not because the helper is missing).
fails_saying() {
  local text=$1 out rc; shift
  out=$("$@" 2>&1); rc=$?
  [ "$rc" -ne 0 ] && grep -qF -- "$text" <<<"$out" && return 0
  echo "# expected a failure saying \"$text\"; exit $rc, output: ${out:0:300}"
  return 1
}

check "absent: passes when the file has no match" absent 'tok-' "$WORK/clean.log"
check "absent: -F and -E pass through to grep" \
  bash -c '. test/shlib.sh; absent -F "a.b" "$1" && absent -E "tok-[0-9]+|Bearer " "$1"' _ "$WORK/clean.log"
check "absent: fails on a missing file, naming it" fails_saying "$WORK/nothing.log" absent 'tok-' "$WORK/nothing.log"
check "absent: fails on an empty file, saying so" fails_saying "empty" absent 'tok-' "$WORK/empty.log"
check "absent: fails on a match, showing the line" fails_saying 'msg="stopped"' absent 'stopped' "$WORK/clean.log"
check "absent: fails when one of several files is missing" \
  fails_saying "$WORK/nothing.log" absent 'tok-' "$WORK/clean.log" "$WORK/nothing.log"
check "absent: fails when the second of several files matches" \
  fails_saying "leaky.log" absent -F "$(sed -n 2p "$WORK/app.key")" "$WORK/clean.log" "$WORK/leaky.log"
check "absent: several -e patterns: fails when any one matches" \
  fails_saying 'msg="stopped"' absent -F -e 'tok-' -e 'stopped' "$WORK/clean.log"
check "absent: several -e patterns: passes when none matches" absent -F -e 'tok-' -e 'sid-' "$WORK/clean.log"
check "absent -v: passes when every line matches, fails on one that does not" \
  bash -c '. test/shlib.sh; printf "200\n200\n" >"$1.200" && absent -v -x 200 "$1.200" && printf "200\n401\n" >"$1.401" && ! absent -v -x 200 "$1.401" >/dev/null' _ "$WORK/codes"
check "absent: a grep error (bad pattern) is a failure" fails_saying "grep" absent -E '(' "$WORK/clean.log"

check "no_secrets_in: passes on a log without the key" no_secrets_in "$WORK/clean.log" "$WORK/app.key"
check "no_secrets_in: fails on a log holding a key line" \
  fails_saying "app.key" no_secrets_in "$WORK/leaky.log" "$WORK/app.key"
check "no_secrets_in: fails on a missing log, naming it" \
  fails_saying "$WORK/nothing.log" no_secrets_in "$WORK/nothing.log" "$WORK/app.key"
check "no_secrets_in: fails on an empty log" fails_saying "empty" no_secrets_in "$WORK/empty.log" "$WORK/app.key"
check "no_secrets_in: fails on a missing key file (nothing to compare)" \
  fails_saying "$WORK/nokey.key" no_secrets_in "$WORK/clean.log" "$WORK/nokey.key"

# --- test/run.sh ----------------------------------------------------------------------------
# tree NAME: a throwaway tree $WORK/NAME holding a copy of this test/run.sh and test/shlib.sh.
tree() {
  T="$WORK/$1"
  mkdir -p "$T/test/integration" "$T/build/unit" "$T/build/fuzz" "$T/test/fuzz/corpus"
  cp test/run.sh test/shlib.sh "$T/test/"
}
# script NAME BODY: test/integration/NAME.sh in $T, running BODY.
script() { printf '#!/usr/bin/env bash\n%s\n' "$2" >"$T/test/integration/$1.sh"; }
# run_tree [PART]: runs $T's run.sh (ONLY=PART, default integration) into $T/out and $T/rc.
run_tree() {
  (cd "$T" && OUT=build ONLY=${1:-integration} timeout 120 bash test/run.sh) >"$T/out" 2>&1
  echo $? >"$T/rc"
}
# last_line_is TEXT: run.sh's last line is TEXT, in the "N passed, M failed" format.
last_line_is() { [ "$(tail -1 "$T/out")" = "$1" ] || { echo "# last line: $(tail -1 "$T/out")"; return 1; }; }
failed_run() { [ "$(cat "$T/rc")" -ne 0 ]; }
passed_run() { [ "$(cat "$T/rc")" -eq 0 ] || { echo "# run.sh exited $(cat "$T/rc"):"; sed 's/^/#   /' "$T/out"; return 1; }; }

tree silent
script test_silent 'echo "starting, then nothing"'
script test_good 'echo "ok - one"; echo "ok - two"'
run_tree
check "run.sh: a script that prints no ok line is a failure" \
  bash -c 'grep -q "not ok - .*test_silent" "$1/out" && grep -qx "  integration: test_silent.sh" "$1/out"' _ "$T"
check "run.sh: ... counted as one failure next to the other script's passes" last_line_is "2 passed, 1 failed"
check "run.sh: ... and the run fails" failed_run

tree skips
script test_skipped '. test/shlib.sh; skip "no Docker engine on this machine"'
script test_good 'echo "ok - one"'
run_tree
check "run.sh: a script that skips, saying why, is not a failure" last_line_is "1 passed, 0 failed"
check "run.sh: ... and the run passes" passed_run
check "run.sh: ... and the skip is listed with its reason" \
  grep -qx "  integration: test_skipped.sh: no Docker engine on this machine" "$T/out"

tree noreason
script test_bare '. test/shlib.sh; echo "ok - one"; echo "# skip:"'
script test_tap 'echo "ok - one"; echo "ok - two # SKIP"'
run_tree
check "run.sh: a skip without a reason is a failure" \
  bash -c 'grep -qx "  integration: test_bare.sh" "$1/out" && grep -qx "  integration: test_tap.sh" "$1/out"' _ "$T"
check "run.sh: ... and a TAP \"# SKIP\" is not counted as a pass" last_line_is "2 passed, 2 failed"

tree tapskip
script test_tap 'echo "ok - one"; echo "ok - two # SKIP no IPv6 here"'
run_tree
check "run.sh: a TAP \"# SKIP reason\" is listed as a skip, not a pass" \
  bash -c 'grep -qx "  integration: test_tap.sh: no IPv6 here" "$1/out"' _ "$T"
check "run.sh: ... counted as such" last_line_is "1 passed, 0 failed"

tree skipword
script test_words "echo 'ok - the words \"# SKIP\" quoted in a name'"
run_tree
check "run.sh: an ok line that only names a \"# SKIP\" in quotes is a pass, not a skip" \
  bash -c '. test/shlib.sh; [ "$(tail -1 "$1/out")" = "1 passed, 0 failed" ] && absent "^skipped:" "$1/out"' _ "$T"

tree exits
script test_exits 'echo "ok - one"; exit 3'
run_tree
check "run.sh: a script that exits non-zero after ok lines is a failure" \
  bash -c 'grep -q "not ok - .*test_exits.sh exited 3" "$1/out"' _ "$T"
check "run.sh: ... counted" last_line_is "1 passed, 1 failed"

# Streaming: the script prints a line, then waits until that line has come out of run.sh; a
# run.sh that holds output until the script ends never lets it go on.
tree stream
script test_stream "echo 'ok - first'; for i in \$(seq 1 100); do [ -e '$T/seen' ] && { echo 'ok - second'; exit 0; }; sleep 0.1; done; echo 'not ok - run.sh did not show the first line while the script ran'"
(cd "$T" && OUT=build ONLY=integration timeout 60 bash test/run.sh) >"$T/out" 2>&1 &
runpid=$!
for _ in $(seq 1 100); do
  grep -qx "test_stream: ok - first" "$T/out" && { touch "$T/seen"; break; }
  sleep 0.1
done
wait "$runpid"
check "run.sh: a script's lines come out while it runs, prefixed with its name" last_line_is "2 passed, 0 failed"

# cmocka: a real test binary that skips.
cmocka_bin() {
  printf '%s\n' '#include <stdarg.h>' '#include <stddef.h>' '#include <stdint.h>' '#include <setjmp.h>' \
    '#include <cmocka.h>' 'static void passes(void **s) { (void)s; assert_true(1); }' \
    "static void skips(void **s) { (void)s; $2 skip(); }" \
    'int main(void) { const struct CMUnitTest t[] = {cmocka_unit_test(passes), cmocka_unit_test(skips)};' \
    '  return cmocka_run_group_tests(t, NULL, NULL); }' >"$WORK/$1.c"
  gcc -std=c17 -o "$T/build/unit/$1" "$WORK/$1.c" -lcmocka
}
tree cmocka
if check "a cmocka test that skips builds" cmocka_bin test_skipsilently ''; then
  run_tree unit
  check "run.sh: a cmocka test skipped without a reason is a failure" \
    bash -c 'grep -q "not ok - unit test_skipsilently" "$1/out"' _ "$T"
  check "run.sh: ... counted (1 passed, the skip failed)" last_line_is "1 passed, 1 failed"
fi
tree cmockareason
if check "a cmocka test that skips saying why builds" \
  cmocka_bin test_skipsaying 'print_message("# skip: /dev/full is not writable here\n");'; then
  run_tree unit
  check "run.sh: a cmocka test that says why it skips is not a failure" last_line_is "1 passed, 0 failed"
  check "run.sh: ... and its reason is listed" \
    grep -qx "  unit: test_skipsaying: /dev/full is not writable here" "$T/out"
fi

tree nounit
printf '#!/bin/sh\necho "[==========] Running 0 test(s)."\necho "[  PASSED  ] 0 test(s)."\n' >"$T/build/unit/test_empty"
printf '#!/bin/sh\necho "[  PASSED  ] 3 test(s)."\n' >"$T/build/unit/test_three"
chmod +x "$T/build/unit/test_empty" "$T/build/unit/test_three"
run_tree unit
check "run.sh: a unit binary that runs no test is a failure" \
  bash -c 'grep -q "not ok - unit test_empty" "$1/out"' _ "$T"
check "run.sh: ... counted" last_line_is "3 passed, 1 failed"

tree nofuzz
printf '#!/bin/sh\necho "replayed 0 inputs"\n' >"$T/build/fuzz/fuzz_empty"
chmod +x "$T/build/fuzz/fuzz_empty"
run_tree fuzz
check "run.sh: a fuzz replay of no input is a failure" \
  bash -c 'grep -q "not ok - fuzz corpus fuzz_empty" "$1/out"' _ "$T"
