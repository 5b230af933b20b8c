#!/usr/bin/env bash
# build.sh OUTDIR -- the real HashiCorp Vault (server and CLI in one binary, `vault`) from
# github.com/hashicorp/vault at the version go.mod pins, built as Vault's scripts/build.sh builds
# it (CGO off, build tag "vault", version.GitCommit and BuildDate stamped; no web UI). Run by
# test/e2e/lib.sh's e2e_build (cwd = this folder, Go environment exported). Nothing here ships.
set -euo pipefail

out=${1:?usage: bash build.sh OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")"
mkdir -p "$out"
out=$(cd "$out" && pwd)

go=$(command -v go) || { echo "build.sh: no go on PATH (want /usr/local/go/bin/go)" >&2; exit 1; }
case "$("$go" env GOVERSION)" in
  go1.2[6-9]*|go1.[3-9][0-9]*) ;;
  *) echo "build.sh: $go is $("$go" env GOVERSION); needs Go 1.26 (/usr/local/go/bin first on PATH)" >&2; exit 1 ;;
esac

ver=$("$go" list -m -f '{{.Version}}' github.com/hashicorp/vault)
# The release's commit and time, as the module proxy recorded them (.info: Version, Time,
# Origin.Hash when the proxy knows it).
info=$("$go" mod download -json "github.com/hashicorp/vault@$ver")
commit=$(printf '%s' "$info" | python3 -c 'import json,sys
d = json.load(sys.stdin)
try:
    print(json.load(open(d["Info"])).get("Origin", {}).get("Hash", ""))
except Exception:
    print("")')
date=$(printf '%s' "$info" | python3 -c 'import json,sys
d = json.load(sys.stdin)
try:
    print(json.load(open(d["Info"])).get("Time", ""))
except Exception:
    print("")')

# The sdk. Vault's go.mod builds against its own sdk/ folder (replace => ./sdk, the release
# branch's sdk), which is not in the module zip and which no published sdk version matches:
#   - v0.21.0, the version v1.21.4's go.mod requires, has everything v1.21.4 uses (the PKI
#     certificate counter, observations) except two things:
#     framework.Backend.ActivationFunc takes a third argument there (the flag's name; changed on
#     main after 1.21 branched), which vault/identity_store.go does not pass; and
#     keysutil.LockManager.RestorePolicy returns only an error, where transit's path_restore.go
#     wants (name, error) (backported to 1.21.x; published in sdk v0.25.x);
#   - v0.20.0 lacks the observation API; v0.25.1 drops the PKI certificate counter v1.21.4 uses.
# So Vault is built against sdk v0.21.0 with exactly those two things as v1.21.4 expects them:
# a copy of v0.21.0 in a work folder, ActivationFunc's field type edited, and
# helper/keysutil/lock_manager.go taken from sdk v0.25.1 (it differs from v0.21.0's only in
# RestorePolicy), used through -modfile; go.mod and the module cache are left alone. The inputs
# are immutable module versions, so the files are pinned by their SHA-256.
work=$(mktemp -d "${TMPDIR:-/tmp}/vault-build.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
sdk_ver=$("$go" list -m -f '{{.Version}}' github.com/hashicorp/vault/sdk)
[ "$sdk_ver" = v0.21.0 ] ||
  { echo "build.sh: expected github.com/hashicorp/vault/sdk v0.21.0, go.mod selects $sdk_ver" >&2; exit 1; }
# `go mod download -json` fetches a module first when the module cache has not got it (a cold
# cache: `go list -m -f {{.Dir}}` would print nothing then) and prints where it is.
mod_dir() {
  "$go" mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("Dir", ""))'
}
sdk_dir=$(mod_dir "github.com/hashicorp/vault/sdk@$sdk_ver")
new_dir=$(mod_dir github.com/hashicorp/vault/sdk@v0.25.1)
[ -d "$sdk_dir" ] && [ -d "$new_dir" ] ||
  { echo "build.sh: the module cache has no github.com/hashicorp/vault/sdk ($sdk_ver: '$sdk_dir', v0.25.1: '$new_dir')" >&2; exit 1; }
pin() { # pin FILE SHA256
  [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ] || { echo "build.sh: $1 is not the expected file" >&2; exit 1; }
}
pin "$sdk_dir/framework/backend.go" 30044087ddd57f5a83c4a3d853bf00d02a289bcf41e39930da8650f466b03684
pin "$sdk_dir/helper/keysutil/lock_manager.go" d4d3411d9df7a68bf60ad1d0141a57250710855165f3e45e54bab72bdf1d4e82
pin "$new_dir/helper/keysutil/lock_manager.go" b1907f6a91cc79700dc1ab1ba6a68a1e7c8f331d7e95fea859b81cc928391139
cp -r "$sdk_dir" "$work/sdk"
chmod -R u+w "$work/sdk"
sed -i 's/^\tActivationFunc func(context.Context, \*logical.Request, string) error$/\tActivationFunc func(context.Context, *logical.Request) error/' \
  "$work/sdk/framework/backend.go"
grep -qxF $'\tActivationFunc func(context.Context, *logical.Request) error' "$work/sdk/framework/backend.go" ||
  { echo "build.sh: could not edit ActivationFunc in sdk/framework/backend.go" >&2; exit 1; }
cp "$new_dir/helper/keysutil/lock_manager.go" "$work/sdk/helper/keysutil/lock_manager.go"
cp go.mod go.sum "$work/"
"$go" mod edit -modfile="$work/go.mod" -replace "github.com/hashicorp/vault/sdk=$work/sdk"

ldflags="-s -w -X github.com/hashicorp/vault/version.GitCommit=${commit:-$ver}"
[ -n "$date" ] && ldflags+=" -X github.com/hashicorp/vault/version.BuildDate=$date"
export CGO_ENABLED=0
"$go" build -modfile="$work/go.mod" -trimpath -tags vault -ldflags "$ldflags" -o "$out/vault" \
  github.com/hashicorp/vault
"$out/vault" version
echo "build.sh: vault $ver -> $out"
