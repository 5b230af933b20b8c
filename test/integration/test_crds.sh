#!/usr/bin/env bash
# test_crds.sh -- the CRDs in api/ are well-formed, every ember.issuer.dev object in examples/
# and test/integration/manifests/ validates against them, known-bad objects are refused naming
# the field, and Ember's own loaders agree (test/integration/crdcheck.py does the checking).
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh

LIB="$(dirname "$EMBER_BIN")/libember.a"
CFLAGS="-std=c17 -D_GNU_SOURCE -g -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Werror -Iissuer"
# A library built with SANITIZER=... needs the same runtime at link time.
SAN=""
if nm -A "$LIB" 2>/dev/null | grep -q '__asan_'; then SAN="$SAN,address"; fi
if nm -A "$LIB" 2>/dev/null | grep -q '__ubsan_'; then SAN="$SAN,undefined"; fi
[ -n "$SAN" ] && CFLAGS="$CFLAGS -fsanitize=${SAN#,} -fno-sanitize-recover=all"

built=1
for t in yaml2json crdagree; do
  # shellcheck disable=SC2086,SC2046
  if gcc $CFLAGS -o "$WORK/$t" "test/integration/$t.c" "$LIB" \
      $(pkg-config --cflags --libs libmicrohttpd libcjson openssl libcurl yaml-0.1) -lpthread -lm \
      2>"$WORK/$t.cc.log"; then
    ok "build test/integration/$t.c against $LIB"
  else
    not_ok "build test/integration/$t.c against $LIB"; cat "$WORK/$t.cc.log"; built=0
  fi
done
[ "$built" = 1 ] || exit 1

mapfile -t manifests < <(find examples test/integration/manifests -name '*.yaml' -type f | sort)
crds=()
for f in api/ember.issuer.dev_*.yaml; do crds+=(--crd "$f"); done
python3 test/integration/crdcheck.py --yaml2json "$WORK/yaml2json" --crdagree "$WORK/crdagree" \
  "${crds[@]}" "${manifests[@]}"
rc=$?
[ "$rc" = 0 ] || not_ok "crdcheck.py exited $rc"
exit 0
