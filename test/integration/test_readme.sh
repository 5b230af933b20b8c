#!/usr/bin/env bash
# test_readme.sh -- README.md agrees with the binary and the tree: its flag reference matches
# `ember-issuer --help`, flag for flag; its Code layout names the folders of issuer/ in layer order.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh

"$EMBER_BIN" --help >"$WORK/help.txt"
check "--help exits 0" test $? = 0
# Flag lines start with spaces and a dash ("  --name VALUE" or "  -h, --help").
grep -E '^ +-' "$WORK/help.txt" | grep -oE -- '--[a-z0-9-]+' | sort -u >"$WORK/help.flags"
sed -n '/^## Flags/,/^## /p' README.md | grep -oE '^\| `--[a-z0-9-]+' | tr -d '|` ' | sort -u >"$WORK/readme.flags"
check "--help lists flags" test -s "$WORK/help.flags"
for f in $(cat "$WORK/help.flags"); do
  check "README documents $f" grep -qx -- "$f" "$WORK/readme.flags"
done
for f in $(cat "$WORK/readme.flags"); do
  check "README's $f exists in --help" grep -qx -- "$f" "$WORK/help.flags"
done
# Each default in the README table is the one --help prints.
while IFS= read -r line; do
  flag=$(printf '%s' "$line" | grep -oE '`--[a-z0-9-]+' | head -1 | tr -d '`')
  def=$(printf '%s' "$line" | awk -F'|' '{print $3}' | sed 's/^ *//; s/ *$//; s/^`//; s/`$//')
  [ -z "$def" ] || [ "$def" = "-" ] && continue
  check "README default of $flag ($def) matches --help" grep -qE -- "^ +$flag .*\(default: $(printf '%s' "$def" | sed 's/[][\.*^$/]/\\&/g')\)" "$WORK/help.txt"
done < <(sed -n '/^## Flags/,/^## /p' README.md | grep -E '^\| `--')

# README's "Code layout" table names every folder of issuer/, in the order of the layers that
# test/lint.sh enforces (LAYERS, lowest first), and nothing else; each named file exists.
sed -n '/^### Code layout/,/^## /p' README.md | grep -oE '^\| `issuer/[a-z0-9]+/`' |
  sed -E 's/.*issuer\/([a-z0-9]+)\/.*/\1/' >"$WORK/layout.readme"
sed -n 's/^LAYERS=(\(.*\))$/\1/p' test/lint.sh | tr -d '"' | tr ' ' '\n' >"$WORK/layout.lint"
find issuer -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort >"$WORK/layout.tree"
check "README's Code layout lists the folders in test/lint.sh's layer order" \
  diff "$WORK/layout.lint" "$WORK/layout.readme"
check "README's Code layout lists every folder of issuer/ and no other" \
  diff "$WORK/layout.tree" <(sort "$WORK/layout.readme")
missing=""
for f in $(sed -n '/^### Code layout/,/^## /p' README.md | grep -oE '`[a-z_0-9]+\.[ch]`' | tr -d '`' | sort -u); do
  [ -n "$(find issuer -name "$f" -print -quit)" ] || missing="$missing $f"
done
check "every file README's Code layout names is in issuer/${missing:+ (missing:$missing)}" test -z "$missing"
