#!/usr/bin/env bash
# test_lint.sh -- the two checks test/lint-c.pl makes for `make lint` (function length and file
# prefixes) fail on C files written here to break them, pass on their fixed forms, and say what
# to fix; then test/lint.sh itself, run on a throwaway tree, fails on a long function and on an
# unprefixed static.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh
LINTC="$PWD/test/lint-c.pl"
D="$WORK/c"
mkdir -p "$D"

# lintc CODE TEXT ARGS...: test/lint-c.pl ARGS exits with CODE, and its output holds TEXT (with
# TEXT "": is empty).
lintc() {
  local code=$1 text=$2 out rc; shift 2
  out=$(perl "$LINTC" "$@" 2>&1); rc=$?
  if [ "$rc" -eq "$code" ]; then
    if [ -z "$text" ]; then
      [ -z "$out" ] && return 0
    elif grep -qF -- "$text" <<<"$out"; then
      return 0
    fi
  fi
  echo "# lint-c.pl $*: expected exit $code and ${text:-no output}; exit $rc, output: ${out:0:400}"
  return 1
}

# func NAME LINES [SIG_LINES]: a C function of exactly LINES lines from its signature (SIG_LINES
# lines long, default 1) to its closing brace.
func() {
  local name=$1 lines=$2 sig=${3:-1} i
  if [ "$sig" -eq 1 ]; then
    echo "int $name(int x)"
  else
    echo "int $name(int x,"
    for ((i = 2; i < sig; i++)); do echo "        int unused$i,"; done
    echo "        int last)"
  fi
  echo "{"
  for ((i = 0; i < lines - sig - 2; i++)); do echo "    x++; /* { not a brace */"; done
  echo "}"
}

# --- length ---------------------------------------------------------------------------------
{ echo '/* a.c -- test */'; func a_ok 80; echo; func a_long 81; echo; func a_sig 80 3; } >"$D/a.c"
check "length: an 81-line function fails, named with its length and the fix" \
  lintc 1 "$D/a.c:" length "$D/a.c"
check "length: ... the message names the function, its length and the way out" \
  lintc 1 "a_long() is 81 lines (lines 83-163), over the limit of 80 -- split it" \
  length "$D/a.c"
perl "$LINTC" length "$D/a.c" >"$D/a.out" 2>&1
check "length: an 80-line function passes, also one whose signature takes 3 of its lines" \
  absent -e 'a_ok' -e 'a_sig' "$D/a.out"
{ echo '/* b.c -- test */'; func b_sig 81 3; } >"$D/b.c"
check "length: the signature's lines count (3 of them + 78 = 81)" \
  lintc 1 "b_sig() is 81 lines" length "$D/b.c"
# Braces in strings, characters and comments, an initializer and a struct at file scope, and a
# macro with braces do not count.
cat >"$D/c.c" <<'EOF'
/* c.c -- braces that are not blocks */
#define BLOCK(x) { (x)++; }
static const char *const c_text = "}}}{";
struct c_pair { int a, b; };
static const struct c_pair c_pairs[] = {{1, 2}, {3, 4}};
int c_f(void)
{
    char open = '{'; /* } */
    // }
    return open + c_pairs[0].a + (int)c_text[0];
}
EOF
func c_long 81 >>"$D/c.c"
check "length: braces in strings, comments and macros are not blocks (c_long is found at 81)" \
  lintc 1 "c_long() is 81 lines (lines 12-92)" length "$D/c.c"
check "length: --max sets the limit" lintc 0 "" length --max 81 "$D/c.c"

# The exemption list.
printf '# comment\n\n%s:a_long -- one table, read top to bottom\n' "$D/a.c" >"$D/ex1"
check "exempt: a listed function passes" lintc 0 "" length --exempt "$D/ex1" "$D/a.c"
printf '%s:a_long\n' "$D/a.c" >"$D/ex2"
check "exempt: an entry without a reason fails" \
  lintc 1 "is not \`path:function -- reason\`" length --exempt "$D/ex2" "$D/a.c"
printf '%s:a_long -- why\n%s:a_gone -- why\n' "$D/a.c" "$D/a.c" >"$D/ex3"
check "exempt: an entry for a function that does not exist fails" \
  lintc 1 "$D/a.c:a_gone: no such function" length --exempt "$D/ex3" "$D/a.c"
printf '%s:a_long -- why\n%s:a_ok -- why\n' "$D/a.c" "$D/a.c" >"$D/ex4"
check "exempt: an entry for a function no longer long fails" \
  lintc 1 "$D/a.c:a_ok is 80 lines, not over 80 any more -- remove the entry" \
  length --exempt "$D/ex4" "$D/a.c"
{
  echo '/* six.c -- test */'
  for i in 1 2 3 4 5 6; do func "six_$i" 90; done
} >"$D/six.c"
for i in 1 2 3 4 5 6; do echo "$D/six.c:six_$i -- reason $i"; done >"$D/ex6"
check "exempt: six entries are one too many" \
  lintc 1 "6 exemptions, at most 5 are allowed" length --exempt "$D/ex6" "$D/six.c"
head -5 "$D/ex6" >"$D/ex5"
check "exempt: five entries are allowed (the sixth long function is reported)" \
  lintc 1 "six_6() is 90 lines" length --exempt "$D/ex5" "$D/six.c"
out=$(perl "$LINTC" length --exempt "$D/ex5" "$D/six.c" 2>&1)
check "exempt: ... and only that one" \
  bash -c '[ "$(printf "%s\n" "$1" | grep -c .)" -eq 1 ]' _ "$out"

# --- prefix ---------------------------------------------------------------------------------
mkdir -p "$D/kube"
cat >"$D/kube/refl.c" <<'EOF'
/* refl.c -- file-static names */
#include <stddef.h>
struct cache {
    int n;
};
static int hits;
static int refl_ok_var, stray_second;
static const char *const REFL_NAMES[] = {"a", "b"};
static void (*hook)(int);
static int helper(int x);
static int refl_fine(int x)
{
    static int local_counter; /* block scope: not checked */
    struct local_tag {
        int a;
    } l = {x};
    return l.a + local_counter++;
}
static int helper(int x)
{
    return refl_fine(x) + hits;
}
int refl_public(void); /* not static: not checked */
int refl_public(void)
{
    return helper(1) + refl_ok_var + stray_second + (hook != NULL) + (REFL_NAMES[0] != NULL);
}
int main(void)
{
    return refl_public();
}
EOF
out=$(perl "$LINTC" prefix "$D/kube/refl.c" 2>&1); rc=$?
printf '%s\n' "$out" >"$D/prefix.out"
check "prefix: unprefixed statics fail" [ "$rc" -eq 1 ]
check "prefix: a struct tag, with the new name to give it" \
  grep -qF "refl.c:3: struct tag \`cache\` lacks the file's prefix \`refl_\` -- rename it (e.g. \`refl_cache\`)" "$D/prefix.out"
check "prefix: a static variable" grep -qF "static variable \`hits\`" "$D/prefix.out"
check "prefix: the second name of a declaration" grep -qF "static variable \`stray_second\`" "$D/prefix.out"
check "prefix: a pointer to function" grep -qF "static variable \`hook\`" "$D/prefix.out"
check "prefix: a static function, reported once for its prototype and definition" \
  bash -c '[ "$(grep -c "static function \`helper\`" "$1")" -eq 1 ]' _ "$D/prefix.out"
check "prefix: exactly those five" bash -c '[ "$(grep -c . "$1")" -eq 5 ]' _ "$D/prefix.out"
check "prefix: prefixed names, upper case, block scope, public functions and main are not reported" \
  absent -e refl_ok_var -e REFL_NAMES -e local_counter -e local_tag -e refl_public -e main \
  -e refl_fine "$D/prefix.out"
sed -e 's/\bcache\b/refl_cache/; s/\bhits\b/refl_hits/g; s/stray_second/refl_second/g' \
  -e 's/\bhook\b/refl_hook/g; s/\bhelper\b/refl_helper/g' "$D/kube/refl.c" >"$D/kube/refl2.c"
sed -i 's/refl\.c --/refl2.c --/' "$D/kube/refl2.c"
printf '%s refl -- the short name\n' "$D/kube/refl2.c" >"$D/alias1"
check "prefix: the fixed file passes with its alias" lintc 0 "" prefix --alias "$D/alias1" "$D/kube/refl2.c"
check "prefix: ... and without it fails (refl is not refl2)" \
  lintc 1 "lacks the file's prefix \`refl2_\`" prefix "$D/kube/refl2.c"
printf '%s refl\n' "$D/kube/refl2.c" >"$D/alias2"
check "prefix: an alias without a reason fails" \
  lintc 1 "is not \`path alias -- reason\`" prefix --alias "$D/alias2" "$D/kube/refl2.c"
printf '%s refl -- why\n%s/gone.c g -- why\n' "$D/kube/refl2.c" "$D" >"$D/alias3"
check "prefix: an alias for a file not checked fails" \
  lintc 1 "gone.c is not among the files checked -- remove its alias" \
  prefix --alias "$D/alias3" "$D/kube/refl2.c"
printf '/* refl.h -- a header */\nstruct anything {\n    int a;\n};\n' >"$D/kube/refl.h"
check "prefix: struct tags in a header are its interface, not file-local" lintc 0 "" prefix "$D/kube/refl.h"
# A type macro before the name and a pointer to function among the parameters are not names.
cat >"$D/kube/macro.c" <<'EOF'
/* macro.c -- a type macro in a return type, a pointer to function as a parameter */
#define STACK_OF(t) struct stack_##t
#define PRINTF_LIKE(a, b) __attribute__((format(printf, a, b)))
static STACK_OF(X509) *macro_roots;
static STACK_OF(X509) *
    macro_set(int n, int (*valid)(const char *, int))
{
    return n && valid("", 0) ? macro_roots : NULL;
}
static void macro_say(const char *fmt, ...) PRINTF_LIKE(1, 2);
static STACK_OF(X509) *untold(int (*pick)(int));
EOF
check "prefix: the names of a type-macro return type and pointer-to-function parameters" \
  lintc 1 "macro.c:11: static function \`untold\` lacks the file's prefix" prefix "$D/kube/macro.c"
perl "$LINTC" prefix "$D/kube/macro.c" >"$D/macro.out" 2>&1
check "prefix: ... and only the unprefixed one is reported" \
  bash -c '[ "$(grep -c . "$1")" -eq 1 ]' _ "$D/macro.out"
check "length: ... the function is listed under its own name" \
  bash -c 'perl "$1" list "$2" | grep -q "macro.c:5: macro_set 5$"' _ "$LINTC" "$D/kube/macro.c"

check "usage: an unknown mode is a usage error (exit 2)" lintc 2 "usage: lint-c.pl" lengthy "$D/a.c"
check "usage: an unreadable file is an error (exit 2), not a pass" \
  lintc 2 "cannot read $D/none.c" length "$D/none.c"

# --- test/lint.sh on a throwaway tree ---------------------------------------------------------
if ! command -v clang-format >/dev/null || ! command -v cppcheck >/dev/null ||
  ! command -v shellcheck >/dev/null; then
  skip "clang-format, cppcheck or shellcheck missing (make deps-lint): test/lint.sh not run"
  exit 0
fi
T="$WORK/tree"
mkdir -p "$T/test" "$T/issuer/base"
cp test/lint.sh test/lint-c.pl test/cppcheck-suppressions.txt .clang-format "$T/test/" 2>/dev/null
mv "$T/test/.clang-format" "$T/"
printf '# none\n' >"$T/test/lint-long-functions.txt"
printf '# none\n' >"$T/test/lint-prefixes.txt"
good() {
  cat >"$T/issuer/base/tiny.c" <<'EOF'
/* tiny.c -- a tiny module */
static int tiny_twice(int x)
{
    return 2 * x;
}

int tiny_four(int x);
int tiny_four(int x)
{
    return tiny_twice(tiny_twice(x));
}
EOF
}
good
(cd "$T" && bash test/lint.sh) >"$T/out" 2>&1
echo $? >"$T/rc"
check "lint.sh: the tree of one tidy file passes" [ "$(cat "$T/rc")" -eq 0 ] || sed 's/^/#   /' "$T/out"
check "lint.sh: ... through the function length check" grep -q 'ok   function length' "$T/out"
check "lint.sh: ... and the prefix check" grep -q 'ok   file prefixes' "$T/out"
{ echo; func tiny_long 81; } >>"$T/issuer/base/tiny.c"
sed -i 's/int tiny_four(int x);/int tiny_four(int x);\nint tiny_long(int x);/' "$T/issuer/base/tiny.c"
(cd "$T" && bash test/lint.sh) >"$T/out" 2>&1
check "lint.sh: a long function fails make lint, naming it" \
  grep -q 'FAIL function length: 1 findings' "$T/out"
check "lint.sh: ... with the detail" grep -qF 'issuer/base/tiny.c:14: tiny_long() is 81 lines' "$T/out"
good
sed -i 's/tiny_twice/twice/g' "$T/issuer/base/tiny.c"
(cd "$T" && bash test/lint.sh) >"$T/out" 2>&1
check "lint.sh: an unprefixed static fails make lint, naming it" \
  grep -qF "issuer/base/tiny.c:2: static function \`twice\` lacks the file's prefix \`tiny_\`" "$T/out"
