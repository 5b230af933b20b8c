#!/usr/bin/env bash
# Builds SPIRE v1.13.3's spire-server and spire-agent from the Go module proxy into OUTDIR.
# Usage (cwd = this directory, the e2e Go environment exported): bash build.sh OUTDIR
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: bash build.sh OUTDIR" >&2; exit 2; }
out=$1
mkdir -p "$out"
version=$(go list -m -f '{{.Version}}' github.com/spiffe/spire)
# As SPIRE's Makefile does: strip symbols, stamp the release tag without its "v" into the
# version package (the SQL datastore parses it as semver at init and panics on "v1.13.3").
ldflags="-s -w -X github.com/spiffe/spire/pkg/common/version.gittag=${version#v}"
for cmd in spire-server spire-agent; do
  go build -trimpath -ldflags "$ldflags" -o "$out/$cmd" "github.com/spiffe/spire/cmd/$cmd"
done
