#!/usr/bin/env bash
# Builds cert-manager's controller and webhook (test harness only) into OUTDIR.
# Usage: cd test/e2e/certmanager && bash build.sh OUTDIR
# Expects the Go environment of test/e2e (GOMODCACHE, GOCACHE, GOTOOLCHAIN=local,
# GOFLAGS=-mod=mod, /usr/local/go/bin first in PATH).
set -euo pipefail
out=${1:?usage: build.sh OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")"
mkdir -p "$out"
out=$(cd "$out" && pwd)
# The version cert-manager reports (util.VersionInfo) comes from these.
ver=$(go list -m -f '{{.Version}}' github.com/cert-manager/cert-manager)
ldflags="-s -w -X github.com/cert-manager/cert-manager/pkg/util.AppVersion=$ver -X github.com/cert-manager/cert-manager/pkg/util.AppGitCommit=ember-e2e"
go build -trimpath -ldflags "$ldflags" -o "$out/cert-manager-controller" ./cmd/cert-manager-controller
go build -trimpath -ldflags "$ldflags" -o "$out/cert-manager-webhook" ./cmd/cert-manager-webhook
echo "built $out/cert-manager-controller $out/cert-manager-webhook (cert-manager $ver)"
