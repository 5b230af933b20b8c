#!/usr/bin/env bash
# test_dockerfile.sh -- what can be checked of the Dockerfile without a Docker engine: every
# shared library the built binary needs comes from a package the runtime stage installs (or
# from what those packages depend on, or from the base image's libc), the user is numeric and
# not root, the binary is the ENTRYPOINT, and the build context leaves keys and build/ out.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh

# The runtime stage is everything after the last FROM.
runtime=$(awk '/^FROM /{stage=$0; buf=""} {buf=buf"\n"$0} END{print buf}' Dockerfile)
# shellcheck disable=SC1003,SC2020 # tr maps blanks and backslashes (line continuations) to newlines
pkgs=$(printf '%s\n' "$runtime" | sed -n '/apt-get install/,/rm -rf/p' | tr ' \\' '\n\n' |
  grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vE '^(apt-get|install|rm|rf|y|no|recommends|DEBIAN_FRONTEND.*)$' | sort -u)
check "the runtime stage installs packages" test -n "$pkgs"
check "the build stage is Debian 12" grep -qE '^FROM debian:12(-slim)? AS build' Dockerfile
check "the runtime stage is Debian 12 slim" bash -c 'grep "^FROM " Dockerfile | tail -1 | grep -q "debian:12-slim"'

# The closure of the runtime packages' dependencies, read from this Debian 12 machine's dpkg.
closure=" libc6 "
queue=$pkgs
while [ -n "$queue" ]; do
  next=""
  for p in $queue; do
    case "$closure" in *" $p "*) continue ;; esac
    closure="$closure$p "
    # shellcheck disable=SC2020 # tr maps both separators of Depends (, and |) to newlines
    deps=$(dpkg-query -W -f='${Depends} ${Pre-Depends}' "$p" 2>/dev/null | tr ',|' '\n\n' |
      sed 's/([^)]*)//g; s/:any//; s/^ *//; s/ *$//' | grep -v '^$')
    next="$next $deps"
  done
  queue=$next
done

# The binary as the build stage makes it (a sanitizer build would list libasan).
make -s -j2 DEPS= WERROR=1 SANITIZER= BUILD="$WORK/dbuild" "$WORK/dbuild/ember-issuer" >"$WORK/dbuild.log" 2>&1
check "the build stage's make command builds" test -x "$WORK/dbuild/ember-issuer"
bin=$WORK/dbuild/ember-issuer
missing=""
for lib in $(ldd "$bin" | awk '/=>/ {print $3}'); do
  real=$(readlink -f "$lib")
  owner=$(dpkg -S "$real" 2>/dev/null | head -1 | cut -d: -f1)
  [ -z "$owner" ] && owner=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1)
  case "$closure" in
    *" $owner "*) ;;
    *) missing="$missing $(basename "$lib")($owner)" ;;
  esac
done
check "every library ldd lists is provided by the runtime stage${missing:+ (missing:$missing)}" test -z "$missing"
# shellcheck disable=SC2086 # one package name per word
check "the runtime installs ca-certificates (Vault over TLS)" grep -qx ca-certificates <(printf '%s\n' $pkgs)
check "a numeric, non-root USER" bash -c 'u=$(grep "^USER " Dockerfile | tail -1 | cut -d" " -f2); [[ "$u" =~ ^[0-9]+(:[0-9]+)?$ ]] && [ "${u%%:*}" != 0 ]'
check "the binary is the ENTRYPOINT" grep -q '^ENTRYPOINT \["/usr/local/bin/ember-issuer"\]' Dockerfile
check "the binary is copied from the build stage" grep -q 'COPY --from=build /src/build/ember-issuer /usr/local/bin/ember-issuer' Dockerfile
check ".dockerignore keeps everything but Makefile and issuer/ out" \
  bash -c 'grep -qx "\*" .dockerignore && grep -qx "!Makefile" .dockerignore && grep -qx "!issuer/" .dockerignore'
check "the build stage builds with DEPS= (no apt-get from make)" grep -q 'make DEPS= WERROR=1 build/ember-issuer' Dockerfile
