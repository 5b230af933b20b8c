#!/usr/bin/env bash
# test_crds.sh -- the CRDs in api/ are well-formed, every ember.issuer.dev object in examples/
# and test/integration/manifests/ validates against them, known-bad objects are refused naming
# the field, and Ember's own loaders agree (test/integration/crdcheck.py does the checking).
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh

build_tool yaml2json || exit 1
build_tool crdagree || exit 1

mapfile -t manifests < <(find examples test/integration/manifests -name '*.yaml' -type f | sort)
crds=()
for f in api/ember.issuer.dev_*.yaml; do crds+=(--crd "$f"); done
python3 test/integration/crdcheck.py --yaml2json "$WORK/yaml2json" --crdagree "$WORK/crdagree" \
  "${crds[@]}" "${manifests[@]}"
rc=$?
[ "$rc" = 0 ] || not_ok "crdcheck.py exited $rc"
exit 0
