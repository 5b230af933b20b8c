#!/usr/bin/env bash
# build.sh OUTDIR -- kube-apiserver, etcd and kubectl from this module (k8s.io/kubernetes and
# go.etcd.io/etcd/server/v3 at the versions go.mod pins), with the version stamped in as
# Kubernetes' own build does (hack/lib/version.sh), so that `kubectl version` and clients that
# check the server's version see v1.36.3. Run by test/e2e/lib.sh's e2e_build.
set -eu
out=$1
ver=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
major=$(echo "${ver#v}" | cut -d. -f1)
minor=$(echo "${ver#v}" | cut -d. -f2)
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=$ver -X $p.gitMajor=$major -X $p.gitMinor=$minor"
  ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
go build -ldflags "-s -w" -o "$out/etcd" ./cmd/etcd
go build -ldflags "$ldflags" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
go build -ldflags "$ldflags" -o "$out/kubectl" k8s.io/kubernetes/cmd/kubectl
