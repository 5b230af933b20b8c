# lib.sh -- the end-to-end harness's base: Go from /usr/local/go with its module and build caches
# in a fixed place outside the clone, and components built from their own go.mod into a cache
# folder keyed by what they are built from (a second run relinks nothing).
#
# Source it from the repository root. Environment:
#   E2E_CACHE  the cache root (default /var/cache/ember-e2e): go/mod, go/build and bin/ live there
# Components: test/e2e/COMP/ with go.mod, go.sum, Go sources and build.sh (run as
# `bash build.sh OUTDIR` in that folder, with the Go environment below exported).
set -u
E2E_ROOT=$(pwd)
E2E_CACHE=${E2E_CACHE:-/var/cache/ember-e2e}
E2E_GO=/usr/local/go/bin/go
E2E_GO_MIN=1.26

# e2e_go_env: checks Go and exports its environment; fails saying what is needed.
e2e_go_env() {
  if [ ! -x "$E2E_GO" ]; then
    echo "e2e: needs Go $E2E_GO_MIN or newer at /usr/local/go (not found); Debian's golang-go is too old" >&2
    return 1
  fi
  local v
  v=$("$E2E_GO" env GOVERSION 2>/dev/null | sed 's/^go//')
  if [ -z "$v" ] || [ "$(printf '%s\n%s\n' "$E2E_GO_MIN" "$v" | sort -V | head -1)" != "$E2E_GO_MIN" ]; then
    echo "e2e: needs Go $E2E_GO_MIN or newer at /usr/local/go (found ${v:-nothing usable})" >&2
    return 1
  fi
  export PATH="/usr/local/go/bin:$PATH" GOTOOLCHAIN=local GOFLAGS=-mod=mod \
    GOMODCACHE="$E2E_CACHE/go/mod" GOCACHE="$E2E_CACHE/go/build"
  mkdir -p "$GOMODCACHE" "$GOCACHE" "$E2E_CACHE/bin"
}

# e2e_key COMP: a hash of what COMP is built from and of the Go version.
e2e_key() {
  local d="$E2E_ROOT/test/e2e/$1"
  { "$E2E_GO" env GOVERSION
    (cd "$d" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum -o -name build.sh \) \
      -not -path './testdata/*' | LC_ALL=C sort | xargs sha256sum); } | sha256sum | cut -c1-16
}

# e2e_build COMP: prints the folder holding COMP's binaries, building them first when that
# folder is not there yet. The build log goes to $E2E_CACHE/bin/COMP-KEY.log.
e2e_build() {
  local comp=$1 key out lockfd rc
  e2e_go_env || return 1
  key=$(e2e_key "$comp")
  out="$E2E_CACHE/bin/$comp-$key"
  # Two runs at once (make test while make e2e runs) build one after the other: the second
  # finds the first's result.
  mkdir -p "$E2E_CACHE/bin" || return 1
  exec {lockfd}>"$E2E_CACHE/bin/.$comp.lock" || return 1
  if flock "$lockfd"; then
    e2e_build_locked "$comp" "$out"; rc=$?
  else
    echo "e2e: cannot lock $E2E_CACHE/bin/.$comp.lock" >&2; rc=1
  fi
  exec {lockfd}>&-
  [ "$rc" -eq 0 ] && echo "$out"
  return "$rc"
}

# e2e_build_locked COMP OUT: e2e_build's work, under its lock.
e2e_build_locked() {
  local comp=$1 out=$2 t0 old
  if [ ! -f "$out/.built" ]; then
    t0=$(date +%s)
    rm -rf "$out.tmp"; mkdir -p "$out.tmp"
    echo "e2e: building $comp (log: $out.log)" >&2
    if ! (cd "$E2E_ROOT/test/e2e/$comp" && bash build.sh "$out.tmp") >"$out.log" 2>&1; then
      echo "e2e: building $comp failed; the end of $out.log:" >&2
      tail -30 "$out.log" >&2
      rm -rf "$out.tmp"
      return 1
    fi
    echo "$(( $(date +%s) - t0 ))" >"$out.tmp/.built"
    rm -rf "$out"; mv "$out.tmp" "$out"
    echo "e2e: built $comp in $(cat "$out/.built") s" >&2
    # Older builds of this component go (the build cache keeps what they shared).
    for old in "$E2E_CACHE/bin/$comp"-*; do
      case "$old" in "$out"|"$out.log") ;; *.tmp) ;; *) rm -rf "$old" ;; esac
    done
  fi
  [ -L "$E2E_CACHE/bin/$comp" ] || rm -rf "${E2E_CACHE:?}/bin/${comp:?}"
  ln -sfn "$out" "$E2E_CACHE/bin/$comp"
}
