#!/usr/bin/env bash
# Builds the test tools of this module into OUTDIR:
#   helm          the real helm CLI (helm.sh/helm/v3/cmd/helm, version from go.mod),
#                 linked as helm's own Makefile links it (version and default Kubernetes
#                 version stamped in);
#   chart-render  cmd/chart-render: renders a chart with helm's library as `helm template`
#                 does and prints JSON for test/chart/chartcheck.py.
# Usage (cwd = test/e2e/tools, Go env exported: /usr/local/go first on PATH,
# GOMODCACHE, GOCACHE, GOTOOLCHAIN=local, GOFLAGS=-mod=mod):  bash build.sh OUTDIR
# Nothing built here ships.
set -euo pipefail

out=${1:?usage: bash build.sh OUTDIR}
cd "$(dirname "${BASH_SOURCE[0]}")"
mkdir -p "$out"
out=$(cd "$out" && pwd)

go=$(command -v go) || { echo "build.sh: no go on PATH (want /usr/local/go/bin/go)" >&2; exit 1; }
gover=$("$go" env GOVERSION)
case "$gover" in
  go1.2[6-9]*|go1.[3-9][0-9]*) ;;
  *) echo "build.sh: $go is $gover; needs Go 1.26 (/usr/local/go/bin first on PATH)" >&2; exit 1 ;;
esac

modver() { "$go" list -m -f '{{.Version}}' "$1"; }
helm_ver=$(modver helm.sh/helm/v3)
k8s_ver=$(modver k8s.io/client-go)          # v0.36.2 -> Kubernetes 1.36
k8s_minor=$(echo "$k8s_ver" | cut -d. -f2)
k8s_major=$(( $(echo "${k8s_ver#v}" | cut -d. -f1) + 1 ))

ldflags="-w -s"
ldflags+=" -X helm.sh/helm/v3/internal/version.version=$helm_ver"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $p.k8sVersionMajor=$k8s_major -X $p.k8sVersionMinor=$k8s_minor"
done

export CGO_ENABLED=0
"$go" build -trimpath -ldflags "$ldflags" -o "$out/helm" helm.sh/helm/v3/cmd/helm
if [ -d cmd ]; then
  for d in cmd/*/; do
    "$go" build -trimpath -ldflags "$ldflags" -o "$out/$(basename "$d")" "./$d"
  done
fi
echo "build.sh: helm $helm_ver (Kubernetes $k8s_major.$k8s_minor) -> $out"
