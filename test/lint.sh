#!/usr/bin/env bash
# lint.sh -- `make lint`: clang-format, cppcheck, banned functions, file header comments, layers,
# function length and file prefixes (test/lint-c.pl) and ShellCheck (gcc's -fanalyzer is
# `make analyze`, which `make lint` runs after this).
#
# Prints one line per check (ok/FAIL), then the details of any failure, and exits 1 when a
# check failed (2 when a tool is missing). Run from anywhere; it works on the repository that
# holds it. Environment: CLANG_FORMAT, CPPCHECK (tool names), LINT_VERBOSE=1 (show the
# clang-format diffs), SHELLCHECK.
set -u
shopt -s nullglob

cd "$(dirname "$0")/.." || exit 2

CLANG_FORMAT=${CLANG_FORMAT:-$(command -v clang-format-14 || command -v clang-format || true)}
CPPCHECK=${CPPCHECK:-$(command -v cppcheck || true)}
SHELLCHECK=${SHELLCHECK:-$(command -v shellcheck || true)}
failed=0
details=""

ok() { printf 'lint: ok   %s\n' "$1"; }
fail() {
    printf 'lint: FAIL %s\n' "$1"
    details+="== $1"$'\n'"$2"$'\n'
    failed=1
}

ISSUER_C=(issuer/*.c issuer/*.h issuer/*/*.c issuer/*/*.h)
FORMAT_FILES=("${ISSUER_C[@]}" test/unit/*.c test/unit/*.h test/fuzz/*.c test/fuzz/*.h
              test/bench/*.c test/bench/*.h)
TEST_C=()
while IFS= read -r -d '' f; do TEST_C+=("$f"); done \
    < <(find test -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)

# 1. Formatting, as .clang-format says.
if [ -z "$CLANG_FORMAT" ]; then
    echo "lint: clang-format not found (Debian: apt-get install clang-format)" >&2
    exit 2
fi
bad=()
for f in "${FORMAT_FILES[@]}"; do
    "$CLANG_FORMAT" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -eq 0 ]; then
    ok "clang-format: ${#FORMAT_FILES[@]} files formatted as .clang-format says"
else
    msg="reformat with: $CLANG_FORMAT -i ${bad[*]}"
    if [ -n "${LINT_VERBOSE:-}" ]; then
        for f in "${bad[@]}"; do msg+=$'\n'"$("$CLANG_FORMAT" "$f" | diff -u "$f" -)"; done
    fi
    fail "clang-format: ${#bad[@]} of ${#FORMAT_FILES[@]} files need formatting: ${bad[*]}" "$msg"
fi

# 2. cppcheck over issuer/, zero findings. Reviewed false positives are listed, with the
#    reason, in test/cppcheck-suppressions.txt; one-off ones may use
#    `// cppcheck-suppress <id>` on the line before.
if [ -z "$CPPCHECK" ]; then
    echo "lint: cppcheck not found (Debian: apt-get install cppcheck)" >&2
    exit 2
fi
out=$("$CPPCHECK" --enable=warning,performance,portability --error-exitcode=1 --inline-suppr -q \
    --std=c11 --platform=unix64 --library=gnu,posix,openssl,libcurl \
    -D_GNU_SOURCE -Iissuer \
    --suppressions-list=test/cppcheck-suppressions.txt \
    --template='{file}:{line}: {severity}: {message} [{id}]' issuer/ 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ]; then
    ok "cppcheck: issuer/ has no findings"
else
    n=$(printf '%s\n' "$out" | grep -c '^issuer/.*:[0-9]*: ')
    fail "cppcheck: $n findings in issuer/ (exit $rc)" "$out"
fi

# 3. Banned functions (style.md, after curl's checksrc), matched as whole words in code, with
#    comments and string literals blanked out first so prose may still say "gets".
BANNED='gets|strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol'
# Blanks comments, strings and character constants, keeping the line numbers.
strip_c() {
    perl -0777 -pe 's{/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\x27(?:\\.|[^\x27\\\n])*\x27}{
        (my $m = $&) =~ s/[^\n]/ /g; $m }gse' "$1"
}
hits=""
for f in "${ISSUER_C[@]}" "${TEST_C[@]}"; do
    h=$(strip_c "$f" | grep -nwE "$BANNED" | sed "s|^|$f:|" | cut -d: -f1,2)
    [ -n "$h" ] && hits+="$h"$'\n'
done
if [ -z "$hits" ]; then
    ok "banned functions: none of $BANNED in issuer/ or test/"
else
    n=$(printf '%s' "$hits" | grep -c .)
    fail "banned functions: $n uses of $BANNED" \
        "$(printf '%s' "$hits" | while IFS=: read -r f l; do echo "$f:$l: $(sed -n "${l}p" "$f")"; done)"
fi

# 4. Every issuer/ file opens with `/* <its name> -- <what it is for>` (style.md). The
#    comment usually closes on that line; it may go on for a few more lines of detail.
nohdr=""
for f in "${ISSUER_C[@]}"; do
    name=$(basename "$f")
    first=$(head -n 1 "$f")
    case "$first" in
    "/* $name -- "?*) ;;
    *) nohdr+="$f:1: expected \"/* $name -- what it is for */\", got: ${first:0:80}"$'\n' ;;
    esac
done
if [ -z "$nohdr" ]; then
    ok "header comments: all ${#ISSUER_C[@]} issuer/ files open with /* name -- purpose */"
else
    fail "header comments: $(printf '%s' "$nohdr" | grep -c .) issuer/ files lack /* name -- purpose */" "$nohdr"
fi

# 4b. The layers of issuer/ (README "Code layout"): a file includes headers of its own folder
#     and of folders below it, never above or beside. Lowest first; folders on one line are
#     beside each other. issuer/*.c (main, config) sits on top and may include any folder.
LAYERS=("base" "x509" "signers" "issuers" "decide" "kube standalone" "controller" "front")
rank_of() {
    local i d
    for i in "${!LAYERS[@]}"; do
        for d in ${LAYERS[$i]}; do [ "$d" = "$1" ] && { echo "$i"; return; }; done
    done
    echo -1
}
uplinks=""
nfolders=0
for f in issuer/*/*.c issuer/*/*.h; do
    own=$(basename "$(dirname "$f")")
    r=$(rank_of "$own")
    if [ "$r" -lt 0 ]; then
        uplinks+="$f: folder issuer/$own/ is not in test/lint.sh's LAYERS"$'\n'
        continue
    fi
    while IFS=: read -r ln inc; do
        d=${inc%%/*}
        [ "$d" = "$own" ] && continue
        ri=$(rank_of "$d")
        if [ "$ri" -lt 0 ] || [ "$ri" -ge "$r" ]; then
            uplinks+="$f:$ln: includes \"$inc\" (issuer/$d/), not below issuer/$own/"$'\n'
        fi
    done < <(grep -n '^#include "' "$f" | sed -E 's/^([0-9]+):#include "([^"]*)".*/\1:\2/')
done
nfolders=$(find issuer -mindepth 1 -maxdepth 1 -type d | wc -l)
if [ -z "$uplinks" ]; then
    ok "layers: includes in the $nfolders folders of issuer/ point only downwards"
else
    fail "layers: $(printf '%s' "$uplinks" | grep -c .) includes point up or sideways" "$uplinks"
fi

# 4c. No function in issuer/ is longer than 80 lines (style.md: a function fits a screen). The
#     length runs from the first line of the definition (return type, `static`) to the closing
#     brace, both counted; test/lint-c.pl says how it is read. The exceptions, at most five, are
#     in test/lint-long-functions.txt as `path:function -- reason`; an entry for a function
#     gone or no longer long fails too.
ISSUER_SRC=(issuer/*.c issuer/*/*.c)
if out=$(perl test/lint-c.pl length --max 80 --exempt test/lint-long-functions.txt \
    "${ISSUER_SRC[@]}" 2>&1); then
    ok "function length: no function of issuer/ over 80 lines but the listed exceptions"
else
    fail "function length: $(printf '%s\n' "$out" | grep -c .) findings" "$out"
fi

# 4d. File-static names carry their file's prefix (style.md: functions named foo_verb_object in
#     foo.c): every static function, file-scope static variable and struct/union/enum tag
#     defined in a .c file starts with the file's base name and `_` (`reflector_run` in
#     reflector.c), in either case, or with the short alias test/lint-prefixes.txt gives the
#     file (`path alias -- reason`); `main` is allowed. test/lint-c.pl says how it is read.
if out=$(perl test/lint-c.pl prefix --alias test/lint-prefixes.txt "${ISSUER_C[@]}" 2>&1); then
    ok "file prefixes: every file-static name of issuer/ carries its file's prefix"
else
    fail "file prefixes: $(printf '%s\n' "$out" | grep -c .) names lack their file's prefix" "$out"
fi

# 4e. One atomics style (issue 12): gcc's __atomic builtins, never C11 <stdatomic.h> beside
#     them (one memory-order vocabulary to read).
c11=$(grep -n -E '#include <stdatomic.h>|\b_Atomic\b|\batomic_(int|uint|long|ulong|bool|flag)\b' \
    "${ISSUER_C[@]}" 2>/dev/null)
if [ -z "$c11" ]; then
    ok "atomics: issuer/ uses the __atomic builtins only"
else
    fail "atomics: C11 atomics in issuer/ (use __atomic_load_n, __atomic_store_n, ...)" "$c11"
fi

# 5. shellcheck over every shell script: *.sh and files whose shebang names sh or bash (.ci/run),
#    as git lists them (find outside a git checkout). Project-wide choices, each with its reason,
#    are in .shellcheckrc; one-off ones are `# shellcheck disable=SCxxxx # reason` on the line
#    before.
if [ -z "$SHELLCHECK" ]; then
    echo "lint: shellcheck not found (Debian: apt-get install shellcheck)" >&2
    exit 2
fi
SH_FILES=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    while IFS= read -r -d '' f; do SH_FILES+=("$f"); done < <(git ls-files -z --cached --others \
        --exclude-standard)
else
    while IFS= read -r -d '' f; do SH_FILES+=("${f#./}"); done < <(find . -path ./build -prune -o \
        -path ./.git -prune -o -type f -print0)
fi
scripts=()
for f in "${SH_FILES[@]}"; do
    [ -f "$f" ] || continue
    case "$f" in
    build/*) continue ;;
    *.sh) scripts+=("$f") ;;
    *) head -n 1 "$f" 2>/dev/null | grep -qE '^#!.*[/ ](ba)?sh( |$)' && scripts+=("$f") ;;
    esac
done
if out=$("$SHELLCHECK" -f gcc "${scripts[@]}" 2>&1); then
    ok "shellcheck: ${#scripts[@]} shell scripts have no findings"
else
    n=$(printf '%s\n' "$out" | grep -c ':[0-9]*:[0-9]*: ')
    fail "shellcheck: $n findings in shell scripts" "$out"
fi

if [ $failed -ne 0 ]; then
    printf '\n%s' "$details" >&2
    exit 1
fi
exit 0
