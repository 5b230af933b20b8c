#!/usr/bin/env bash
# test_readme.sh -- README.md's flag reference matches `ember-issuer --help`, flag for flag.
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
