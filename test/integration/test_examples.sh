#!/usr/bin/env bash
# test_examples.sh -- examples/ as a user runs them. Every manifest parses and every field that
# refers to Ember resolves (examplecheck.py static, which also must fail on broken copies);
# local-ca's make-ca.sh makes a CA whose Secret Ember loads and signs with (openssl verify
# against its root); every Ember object of the examples is loaded by the standalone mode; each
# policy admits what its comment says and denies what it should not, through the signing API,
# with requests shaped as istio-csr, istiod's Certificate and local-ca's Certificate make them;
# vault-approle's vault-setup.sh (against a stub vault CLI) yields an issuer that signs through
# the fake Vault; vault-kubernetes-auth's and vault-subca's vault-setup.sh set up in Vault what
# their manifests name (roles bound to the account and audience of the ClusterIssuers and of
# rbac.yaml; a sign-intermediate policy pinning what the ClusterIssuer sends); the shell blocks of the example READMEs and of README.md's sections on
# istio-csr, migrations and troubleshooting run as written with kubectl/oc/helm/vault stubbed
# (their file arguments must exist); every examples/ path the READMEs mention exists.
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh
. test/integration/vault.sh
EX=test/integration/examplecheck.py
ROOT_DIR=$PWD

# ---- yaml2json, against the same libember.a ----
build_tool yaml2json || exit 1
Y2J="$WORK/yaml2json"

mapfile -t FILES < <(find examples -name '*.yaml' -type f | sort)
mapfile -t LOADABLE < <(printf '%s\n' "${FILES[@]}" | grep -v 'values[^/]*\.yaml$')
check "examples/ has manifests and Helm values files" \
  test "${#FILES[@]}" -gt "${#LOADABLE[@]}" -a "${#LOADABLE[@]}" -gt 10

# ---- 1. static checks, and that they catch broken copies ----
python3 "$EX" static --yaml2json "$Y2J" "${FILES[@]}"
check "examplecheck.py static passes on examples/" test $? = 0

# mutate NAME FILE SED-EXPR EXPECTED-TEXT: a copy of examples/ with FILE changed must give a
# "not ok" line containing EXPECTED-TEXT.
mutate() {
  local d="$WORK/mut-$1"
  rm -rf "$d"; mkdir -p "$d"; cp -r examples "$d/"
  sed -i -e "$3" "$d/$2"
  if cmp -s "$d/$2" "$2"; then not_ok "mutation $1 changes $2"; return; fi
  # shellcheck disable=SC2046
  (cd "$d" && python3 "$ROOT_DIR/$EX" static --yaml2json "$Y2J" $(find examples -name '*.yaml' | sort)) >"$d.out" 2>&1
  check "static checks catch: $1" grep -q "^not ok - .*$4" "$d.out"
}
mutate cert-group examples/local-ca/certificate.yaml 's/group: ember.issuer.dev/group: cert-manager.io/' 'issuerRef.group'
mutate cert-policy examples/local-ca/certificate.yaml 's/policy-name: demo-apps/policy-name: demo-app/' 'policy annotation names'
mutate cert-name examples/local-ca/certificate.yaml 's/- web.demo.example.com/- web.example.org/' 'allows its names'
mutate cert-issuer examples/local-ca/certificate.yaml 's/name: local-ca/name: local/' 'issuerRef names'
mutate values-typo examples/istio-csr/istio-csr-values.yaml 's/additionalAnnotations:/additionalAnnotation:/' "only keys of istio-csr's chart"
mutate values-group examples/istio-csr/istio-csr-values.yaml 's/group: ember.issuer.dev/group: cert-manager.io/' "group is"
mutate values-root examples/istio-csr/istio-csr-values.yaml 's|mountPath: /var/run/secrets/istio-csr|mountPath: /etc/ca|' 'mounted from a Secret'
mutate values-dns examples/istio-csr/istio-csr-values.yaml 's/cert-manager-istio-csr.cert-manager.svc/istio-csr.example.com/' 'allows the names'
mutate configmap examples/istio-csr/runtime-configmap.yaml 's/name: istio-csr-ca/name: istio-csr-cfg/' 'issuer resolves'
mutate smcp-address examples/openshift-service-mesh/servicemeshcontrolplane.yaml 's/cert-manager-istio-csr.cert-manager.svc:443/istio-csr.istio-system.svc:443/' "istio-csr's Service"
mutate smcp-revision examples/openshift-service-mesh/servicemeshcontrolplane.yaml 's/name: basic/name: prod/' 'Istio revision'
mutate memberroll examples/openshift-service-mesh/istio-csr-values.yaml 's/member-of=istio-system/member-of=mesh/' 'selects its members'
mutate default-policy examples/istio-csr/issuer.yaml 's/defaultPolicy: istio-csr/defaultPolicy: istio/' 'defaultPolicy istio is'
mutate unknown-kind examples/istio-csr/runtime-configmap.yaml 's/kind: ConfigMap/kind: ConfigMapp/' 'known apiVersion and kind'

# ---- 2. local-ca/make-ca.sh ----
examples/local-ca/make-ca.sh "$WORK/local" >"$WORK/makeca.out" 2>&1
check "make-ca.sh OUTDIR exits 0" test $? = 0
L=$WORK/local
check "make-ca.sh writes root, intermediate and secret.yaml" \
  test -s "$L/root.crt" -a -s "$L/root.key" -a -s "$L/intermediate.crt" -a -s "$L/intermediate.key" -a -s "$L/secret.yaml"
check "make-ca.sh: keys and secret.yaml are readable by their owner only" \
  test "$(stat -c %a "$L/root.key" "$L/intermediate.key" "$L/secret.yaml" | sort -u)" = 600
check "make-ca.sh: the intermediate verifies against the root" \
  openssl verify -x509_strict -CAfile "$L/root.crt" "$L/intermediate.crt"
check "make-ca.sh: the intermediate is a CA with pathlen 0 and keyCertSign" bash -c \
  'openssl x509 -in "$1" -noout -ext basicConstraints,keyUsage | tr -d " \n" | grep -q "critical.*CA:TRUE,pathlen:0.*critical.*CertificateSign"' _ "$L/intermediate.crt"
check "make-ca.sh: the root is self-signed" bash -c \
  '[ "$(openssl x509 -in "$1" -noout -subject | cut -d= -f2-)" = "$(openssl x509 -in "$1" -noout -issuer | cut -d= -f2-)" ]' _ "$L/root.crt"
"$Y2J" "$L/secret.yaml" >"$WORK/local-secret.json"
check "make-ca.sh: secret.yaml is Secret demo/local-ca of type kubernetes.io/tls" test \
  "$(jqpy '"%s %s/%s %s" % (d[0]["docs"][0]["kind"], d[0]["docs"][0]["metadata"]["namespace"], d[0]["docs"][0]["metadata"]["name"], d[0]["docs"][0]["type"])' "$WORK/local-secret.json")" \
  = "Secret demo/local-ca kubernetes.io/tls"
for kv in tls.crt:intermediate.crt tls.key:intermediate.key ca.crt:root.crt; do
  jqpy "d[0]['docs'][0]['data']['${kv%%:*}']" "$WORK/local-secret.json" | base64 -d >"$WORK/local-${kv%%:*}"
  check "make-ca.sh: secret.yaml's ${kv%%:*} is ${kv#*:}" cmp -s "$WORK/local-${kv%%:*}" "$L/${kv#*:}"
done
cp "$L/root.key" "$WORK/root.key.before"
examples/local-ca/make-ca.sh "$L" >"$WORK/makeca2.out" 2>&1
check "make-ca.sh refuses an OUTDIR that holds a CA (exit 1, root.key kept)" \
  bash -c '[ "$1" = 1 ] && cmp -s "$2" "$3" && grep -q "refusing" "$4"' _ $? "$WORK/root.key.before" "$L/root.key" "$WORK/makeca2.out"
examples/local-ca/make-ca.sh "$WORK/bad-ns" "Not_A_Namespace" >"$WORK/makeca3.out" 2>&1
check "make-ca.sh refuses an invalid namespace (exit 2)" test $? = 2
examples/local-ca/make-ca.sh "$WORK/mesh" istio-system mesh-ca >/dev/null 2>&1
check "make-ca.sh OUTDIR istio-system mesh-ca (the istio-csr example's CA)" \
  grep -q 'namespace: istio-system' "$WORK/mesh/secret.yaml"

# ---- 3. every Ember object of the examples, loaded standalone ----
"$EMBER_BIN" dev-ca --output "$WORK/dev-ca.yaml" --namespace cert-manager 2>/dev/null
"$EMBER_BIN" dev-ca --output "$WORK/dev-ca-default.yaml" --namespace default 2>/dev/null
DEVROOT=$WORK/dev-root.crt
"$Y2J" "$WORK/dev-ca.yaml" >"$WORK/dev-ca.json"
jqpy 'd[0]["docs"][0]["data"]["ca.crt"]' "$WORK/dev-ca.json" | base64 -d >"$DEVROOT"
"$Y2J" "$WORK/dev-ca-default.yaml" >"$WORK/dev-ca-default.json"
jqpy 'd[0]["docs"][0]["data"]["ca.crt"]' "$WORK/dev-ca-default.json" | base64 -d >"$WORK/dev-root-default.crt"
args=()
for f in "${LOADABLE[@]}"; do args+=(--manifests "$f"); done
start_ember examples --cluster-resource-namespace cert-manager --log-format text "${args[@]}" \
  --manifests "$WORK/dev-ca.yaml" --manifests "$WORK/dev-ca-default.yaml" \
  --manifests "$L/secret.yaml" --manifests "$WORK/mesh/secret.yaml" || exit 1
sleep 0.3
"$Y2J" "${LOADABLE[@]}" >"$WORK/loadable.json"
n_iss=$(jqpy 'sum(1 for e in d for o in e["docs"] if o.get("kind") in ("Issuer","ClusterIssuer") and o["apiVersion"].startswith("ember.issuer.dev/"))' "$WORK/loadable.json")
n_pol=$(jqpy 'sum(1 for e in d for o in e["docs"] if o.get("kind") == "IssuancePolicy")' "$WORK/loadable.json")
check "standalone loads every example Issuer and IssuancePolicy ($n_iss and $n_pol)" \
  grep -q "loaded $n_iss issuers and $n_pol policies" "$LOG"
check "... and skips the other kinds by name (Certificate, ConfigMap, ServiceMeshControlPlane, MemberRoll)" \
  bash -c 'for k in "Certificate/web" "ConfigMap/istio-csr-ca" "ServiceMeshControlPlane/basic" "ServiceMeshMemberRoll/default"; do grep -q "$k is not an Ember object, skipped" "$1" || exit 1; done' _ "$LOG"
check "... every local-CA issuer loads its Secret (only the Vault one waits for its vault-ca)" \
  bash -c '. test/shlib.sh && absent -F "named by spec.ca.secretName" "$1" && grep -q "ClusterIssuer/vault" "$1"' _ "$LOG"
check "... and is ready" curl -fs -o /dev/null "$PROBES/readyz"

# sign LABEL WANT FRAGMENT ROOT REQUEST-ARGS...: builds a request with examplecheck.py, posts it.
# WANT 201: the chain verifies against ROOT (a file the test made, not status.ca), status.ca
# is ROOT, and the leaf's SANs contain FRAGMENT. WANT 403: Denied, a message naming a policy
# and containing FRAGMENT. Sets $LEAF to the leaf's file.
n=0
mkdir -p "$WORK/keys"
sign() {
  local label=$1 want=$2 frag=$3 root=$4; shift 4
  LEAF="$WORK/none" # a failed request must not leave the previous leaf to be checked
  n=$((n + 1))
  if ! python3 "$EX" request "$WORK/req$n.json" --name "req$n" --workdir "$WORK/keys" "$@" 2>"$WORK/req$n.err"; then
    not_ok "$label: request built"; cat "$WORK/req$n.err"; return
  fi
  post /v1/certificaterequests "$WORK/req$n.json"
  if [ "$CODE" != "$want" ]; then
    not_ok "$label: HTTP $want (got $CODE)"; messages "$BODY" | sed 's/^/#   /'; return
  fi
  if [ "$want" = 201 ]; then
    chain_out "$BODY" "$WORK/req$n"
    LEAF=$WORK/req$n.leaf.pem
    if ! verify_strict "$root" "$WORK/req$n.chain.pem" "$LEAF"; then
      not_ok "$label: 201 and the chain verifies against the example's root"; return
    fi
    if ! cmp -s <(openssl x509 -in "$root") <(openssl x509 -in "$WORK/req$n.ca.pem"); then
      not_ok "$label: status.ca is the example's root"; return
    fi
    if ! openssl x509 -in "$LEAF" -noout -ext subjectAltName 2>/dev/null | grep -qF -- "$frag"; then
      not_ok "$label: the certificate names $frag"
      openssl x509 -in "$LEAF" -noout -subject -ext subjectAltName | sed 's/^/#   /'; return
    fi
    ok "$label: issued (201), verifies against the root, names $frag"
  else
    # A violation message names the policy; "no policy" names none.
    local pol="" a prev=""
    for a in "$@"; do [ "$prev" = --policy ] && pol=$a; prev=$a; done
    messages "$BODY" >"$WORK/req$n.msg"
    if [ "$(jqpy '[c["status"] for c in d["status"]["conditions"] if c["type"] == "Denied"]' "$BODY")" = '["True"]' ] &&
        grep -qF -- "$frag" "$WORK/req$n.msg" && { [ -z "$pol" ] || grep -qF "policy \"$pol\"" "$WORK/req$n.msg"; }; then
      ok "$label: denied (403) naming $frag"
    else
      not_ok "$label: denied naming $frag"; sed 's/^/#   /' "$WORK/req$n.msg"
    fi
  fi
}
# hours FILE: the certificate's lifetime in hours.
hours() {
  local nb na
  nb=$(date -d "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)" +%s)
  na=$(date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s)
  echo $(((na - nb) / 3600))
}

# 3a. local-ca: the CertificateRequest cert-manager makes from certificate.yaml.
python3 "$EX" from-certificate --yaml2json "$Y2J" --workdir "$WORK/keys" \
  examples/local-ca/certificate.yaml "$WORK/web-cr.json" >"$WORK/web-sans.txt"
check "local-ca: certificate.yaml turns into a request with the policy annotation copied" \
  test "$(jqpy 'd["metadata"]["annotations"]["ember.issuer.dev/policy-name"]' "$WORK/web-cr.json")" = demo-apps
post /v1/certificaterequests "$WORK/web-cr.json"
check "local-ca: the Certificate's request is issued by Issuer demo/local-ca (201)" test "$CODE" = 201
if [ "$CODE" = 201 ]; then
  chain_out "$BODY" "$WORK/web"
  check "local-ca: openssl verify accepts the leaf against make-ca.sh's root.crt" \
    verify_strict "$L/root.crt" "$WORK/web.chain.pem" "$WORK/web.leaf.pem"
  check "local-ca: status.certificate is leaf + intermediate, status.ca the root" bash -c \
    '[ "$(grep -c "BEGIN CERTIFICATE" "$1")" = 2 ] && cmp -s "$2" "$3"' _ "$WORK/web.chain.pem" "$WORK/web.ca.pem" "$L/root.crt"
  check "local-ca: the leaf has every DNS name of certificate.yaml" bash -c \
    'sans=$(openssl x509 -in "$1" -noout -ext subjectAltName); while read -r s; do grep -qF "$s" <<<"$sans" || exit 1; done <"$2"' _ "$WORK/web.leaf.pem" "$WORK/web-sans.txt"
  check "local-ca: the leaf lives the Certificate's 2160h" test "$(hours "$WORK/web.leaf.pem")" = 2160
  check "local-ca: the leaf is issued by the intermediate" bash -c \
    '[ "$(openssl x509 -in "$1" -noout -issuer | cut -d= -f2-)" = "$(openssl x509 -in "$2" -noout -subject | cut -d= -f2-)" ]' _ "$WORK/web.leaf.pem" "$L/intermediate.crt"
fi
sign "local-ca demo-apps: a name outside demo" 403 '"app.example.com" not allowed' "$L/root.crt" \
  --ns demo --issuer Issuer/local-ca --policy demo-apps --usages "digital signature,key encipherment,server auth" \
  --dns web.demo.svc --dns app.example.com
sign "local-ca demo-apps: code signing" 403 '"code signing"' "$L/root.crt" \
  --ns demo --issuer Issuer/local-ca --policy demo-apps --usages "digital signature,code signing" --dns web.demo.svc
sign "local-ca demo-apps: no annotation, Issuer without defaultPolicy" 403 'no policy' "$L/root.crt" \
  --ns demo --issuer Issuer/local-ca --dns web.demo.svc

# 3b. istio-csr: what istio-csr installed with each values file asks for, under the policy and
# issuer its values (or runtime ConfigMap) name. Istio's CSRs carry an empty O=.
ISTIO_USAGES="client auth,server auth"
for values in examples/istio-csr/istio-csr-values.yaml examples/istio-csr/istio-csr-values-runtime.yaml \
    examples/openshift-service-mesh/istio-csr-values.yaml; do
  python3 "$EX" istio-csr --yaml2json "$Y2J" "$values" examples/istio-csr/runtime-configmap.yaml >"$WORK/plan.json" || {
    not_ok "$values: istio-csr's requests derived"; continue; }
  v=${values#examples/}
  ns=$(jqpy 'd["namespace"]' "$WORK/plan.json")
  iss="$(jqpy 'd["issuer_kind"]' "$WORK/plan.json")/$(jqpy 'd["issuer_name"]' "$WORK/plan.json")"
  pol=$(jqpy 'd["policy"]' "$WORK/plan.json")
  td=$(jqpy 'd["trust_domain"]' "$WORK/plan.json")
  sign "$v: workload (SPIFFE URI only, O=, EC P-256)" 201 "URI:spiffe://$td/ns/test-project-1/sa/httpbin" "$WORK/mesh/root.crt" \
    --ns "$ns" --issuer "$iss" --policy "$pol" --usages "$ISTIO_USAGES" --duration 1h \
    --org-empty --uri "spiffe://$td/ns/test-project-1/sa/httpbin"
  check "$v: the workload certificate lives 1h" test "$(hours "$LEAF")" = 1
  sign "$v: workload with an RSA 2048 key" 201 "URI:spiffe://$td/ns/default/sa/sleep" "$WORK/mesh/root.crt" \
    --ns "$ns" --issuer "$iss" --policy "$pol" --usages "$ISTIO_USAGES" --duration 1h --key rsa2048 \
    --org-empty --uri "spiffe://$td/ns/default/sa/sleep"
  dnsargs=()
  for d in $(jqpy '" ".join(d["serving_dns"])' "$WORK/plan.json"); do dnsargs+=(--dns "$d"); done
  sign "$v: istio-csr's serving certificate (DNS, RSA 2048, server auth)" 201 "DNS:$(jqpy 'd["serving_dns"][0]' "$WORK/plan.json")" "$WORK/mesh/root.crt" \
    --ns "$ns" --issuer "$iss" --policy "$pol" --usages "server auth" --duration 1h --key rsa2048 --org-empty "${dnsargs[@]}"
  dnsargs=()
  for d in $(jqpy '" ".join(d["istiod_dns"])' "$WORK/plan.json"); do dnsargs+=(--dns "$d"); done
  sign "$v: istiod's certificate (CN, DNS, URI, RSA 2048, default usages)" 201 "DNS:$(jqpy 'd["istiod_dns"][0]' "$WORK/plan.json")" "$WORK/mesh/root.crt" \
    --ns "$ns" --issuer "$iss" --policy "$pol" --duration 1h --key rsa2048 \
    --cn "$(jqpy 'd["istiod_cn"]' "$WORK/plan.json")" "${dnsargs[@]}" --uri "$(jqpy 'd["istiod_uri"]' "$WORK/plan.json")"
done
P="--ns istio-system --issuer Issuer/mesh-ca --policy istio-csr"
# shellcheck disable=SC2086
{
  sign "istio-csr policy: a web server certificate" 403 '"app.example.com"' "$WORK/mesh/root.crt" \
    $P --usages "digital signature,key encipherment,server auth" --cn app.example.com --dns app.example.com
  sign "istio-csr policy: another trust domain" 403 '"spiffe://evil.org/ns/a/sa/b" not allowed' "$WORK/mesh/root.crt" \
    $P --usages "$ISTIO_USAGES" --org-empty --uri spiffe://evil.org/ns/a/sa/b
  sign "istio-csr policy: two SPIFFE URIs" 403 'sans.uris: 2 values, at most 1' "$WORK/mesh/root.crt" \
    $P --usages "$ISTIO_USAGES" --org-empty --uri spiffe://cluster.local/ns/a/sa/b --uri spiffe://cluster.local/ns/c/sa/d
  sign "istio-csr policy: code signing" 403 '"code signing"' "$WORK/mesh/root.crt" \
    $P --usages "client auth,code signing" --org-empty --uri spiffe://cluster.local/ns/a/sa/b
  sign "istio-csr policy: an organization" 403 'subject.organization "Evil Corp" not allowed' "$WORK/mesh/root.crt" \
    $P --usages "$ISTIO_USAGES" --org "Evil Corp" --uri spiffe://cluster.local/ns/a/sa/b
  sign "istio-csr policy: from another namespace" 403 'namespace "default" is not selected' "$WORK/mesh/root.crt" \
    --ns default --issuer Issuer/mesh-ca --policy istio-csr --usages "$ISTIO_USAGES" --org-empty --uri spiffe://cluster.local/ns/a/sa/b
  sign "istio-csr policy: a workload asking for 24h" 201 "URI:spiffe://cluster.local/ns/a/sa/b" "$WORK/mesh/root.crt" \
    $P --usages "$ISTIO_USAGES" --duration 24h --org-empty --uri spiffe://cluster.local/ns/a/sa/b
  check "istio-csr policy: ... gets 1h (validity.max)" test "$(hours "$LEAF")" = 1
}

# 3c. examples/policies, signed by the development CA (ClusterIssuer dev-ca).
D="--issuer ClusterIssuer/dev-ca"
# shellcheck disable=SC2086
{
  sign "mesh-workloads: an Istio workload" 201 "URI:spiffe://cluster.local/ns/shop/sa/cart" "$DEVROOT" \
    --ns shop $D --policy mesh-workloads --usages "$ISTIO_USAGES" --org-empty --uri spiffe://cluster.local/ns/shop/sa/cart
  check "mesh-workloads: no duration asked gives 1h (validity.default)" test "$(hours "$LEAF")" = 1
  sign "mesh-workloads: a web server" 403 'sans.dnsNames: forbidden' "$DEVROOT" \
    --ns shop $D --policy mesh-workloads --usages "server auth" --dns app.example.com
  sign "mesh-workloads: istiod's certificate (DNS and CN)" 403 'subject.commonName: forbidden' "$DEVROOT" \
    --ns istio-system $D --policy mesh-workloads --key rsa2048 --cn istiod.istio-system.svc \
    --dns istiod.istio-system.svc --uri spiffe://cluster.local/ns/istio-system/sa/istiod-service-account
  sign "mesh-workloads: no URI" 403 'sans.uris: required' "$DEVROOT" \
    --ns shop $D --policy mesh-workloads --usages "$ISTIO_USAGES" --org-empty --ip 10.0.0.1
  sign "mesh-workloads: an RSA 4096 key" 403 'keyAlgorithm RSA_4096 not allowed' "$DEVROOT" \
    --ns shop $D --policy mesh-workloads --usages "$ISTIO_USAGES" --key rsa4096 --org-empty --uri spiffe://cluster.local/ns/shop/sa/cart
  sign "web-servers: www and a wildcard under example.com" 201 "DNS:*.example.com" "$DEVROOT" \
    --ns default $D --policy web-servers --usages "digital signature,key encipherment,server auth" \
    --cn www.example.com --dns www.example.com --dns "*.example.com"
  check "web-servers: no duration asked gives 90 days" test "$(hours "$LEAF")" = 2160
  sign "web-servers: evil.com" 403 '"evil.com" not allowed' "$DEVROOT" \
    --ns default $D --policy web-servers --usages "digital signature,key encipherment,server auth" --dns evil.com
  sign "web-servers: a two-label wildcard" 403 '"*.*.example.com" not allowed' "$DEVROOT" \
    --ns default $D --policy web-servers --usages "server auth" --dns "*.*.example.com"
  sign "web-servers: an IP address" 403 'sans.ipAddresses: forbidden' "$DEVROOT" \
    --ns default $D --policy web-servers --usages "server auth" --dns www.example.com --ip 192.0.2.1
  sign "web-servers: client auth" 403 '"client auth"' "$DEVROOT" \
    --ns default $D --policy web-servers --usages "server auth,client auth" --dns www.example.com
  sign "web-servers: a SPIFFE URI" 403 'sans.uris: forbidden' "$DEVROOT" \
    --ns default $D --policy web-servers --usages "server auth" --dns www.example.com --uri spiffe://cluster.local/ns/a/sa/b
  sign "internal-services: a Service name and a pod IP" 201 "DNS:api.payments.svc.cluster.local" "$DEVROOT" \
    --ns team-payments $D --policy internal-services --usages "digital signature,key encipherment,server auth,client auth" \
    --cn api.payments.svc --dns api.payments.svc --dns api.payments.svc.cluster.local --ip 10.1.2.3
  check "internal-services: no duration asked gives 7 days" test "$(hours "$LEAF")" = 168
  sign "internal-services: asking for 90 days gives 30" 201 "DNS:api.apps.svc" "$DEVROOT" \
    --ns apps $D --policy internal-services --usages "server auth" --duration 2160h --dns api.apps.svc
  check "internal-services: ... (validity.max 720h)" test "$(hours "$LEAF")" = 720
  sign "internal-services: a public name" 403 '"app.example.com" not allowed' "$DEVROOT" \
    --ns team-payments $D --policy internal-services --usages "server auth" --dns app.example.com
  sign "internal-services: a name without .svc" 403 '"web.demo" not allowed' "$DEVROOT" \
    --ns team-payments $D --policy internal-services --usages "server auth" --dns web.demo
  sign "internal-services: another namespace" 403 'namespace "default" is not selected' "$DEVROOT" \
    --ns default $D --policy internal-services --usages "server auth" --dns api.payments.svc
  sign "internal-services: an IP outside 10.0.0.0/8" 403 '"192.168.1.1" not allowed' "$DEVROOT" \
    --ns apps $D --policy internal-services --usages "server auth" --dns api.apps.svc --ip 192.168.1.1
  sign "multi-tenant-mesh: team-a's SPIFFE ID and Service name in team-a" 201 "URI:spiffe://cluster.local/ns/team-a/sa/web" "$DEVROOT" \
    --ns team-a $D --policy multi-tenant-mesh --usages "$ISTIO_USAGES" --uri spiffe://cluster.local/ns/team-a/sa/web --dns web.team-a.svc
  sign "multi-tenant-mesh: the same policy gives team-b its own" 201 "URI:spiffe://cluster.local/ns/team-b/sa/web" "$DEVROOT" \
    --ns team-b $D --policy multi-tenant-mesh --usages "$ISTIO_USAGES" --uri spiffe://cluster.local/ns/team-b/sa/web
  sign "multi-tenant-mesh: team-b's SPIFFE ID asked in team-a" 403 '"spiffe://cluster.local/ns/team-b/sa/web" not allowed' "$DEVROOT" \
    --ns team-a $D --policy multi-tenant-mesh --usages "$ISTIO_USAGES" --uri spiffe://cluster.local/ns/team-b/sa/web
  sign "multi-tenant-mesh: team-b's Service name asked in team-a" 403 'sans.dnsNames "web.team-b.svc" not allowed' "$DEVROOT" \
    --ns team-a $D --policy multi-tenant-mesh --usages "$ISTIO_USAGES" --uri spiffe://cluster.local/ns/team-a/sa/web --dns web.team-b.svc
  U=(--ns default --policy user-certificates --usages "digital signature,client auth")
  sign "user-certificates: a UPN, an email, a street and a title" 201 "othername: UPN::alice@corp.example.com" "$DEVROOT" \
    $D "${U[@]}" --cn "Alice" --upn alice@corp.example.com --email alice@corp.example.com --street "Main St 1" --title Engineer
  check "user-certificates: ... the subject carries the street and the title" \
    bash -c 'openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | grep -qF "title=Engineer,street=Main St 1,CN=Alice"' _ "$LEAF"
  sign "user-certificates: a UPN in another domain" 403 'sans.otherNames 1.3.6.1.4.1.311.20.2.3 "eve@evil.com" not allowed' "$DEVROOT" \
    $D "${U[@]}" --upn eve@evil.com
  sign "user-certificates: no UPN" 403 'sans.otherNames: required, none given' "$DEVROOT" \
    $D "${U[@]}" --cn Alice --email alice@corp.example.com
  sign "user-certificates: a title not listed" 403 'subject 2.5.4.12 (title) "CEO" not allowed' "$DEVROOT" \
    $D "${U[@]}" --upn alice@corp.example.com --title CEO
  sign "user-certificates: a DNS name" 403 'sans.dnsNames: forbidden' "$DEVROOT" \
    $D "${U[@]}" --upn alice@corp.example.com --dns alice.corp.example.com
  LN="--policy labelled-namespaces --dns api.example.com"
  sign "labelled-namespaces: a labelled namespace, server auth" 201 "DNS:api.example.com" "$DEVROOT" \
    --ns shop $D $LN --usages "digital signature,key encipherment,server auth"
  check "labelled-namespaces: no duration asked gives 7 days" test "$(hours "$LEAF")" = 168
  sign "labelled-namespaces: an RSA 3072 key" 201 "DNS:api.example.com" "$DEVROOT" \
    --ns shop $D $LN --usages "server auth,client auth" --key rsa3072 --duration 2h
  sign "labelled-namespaces: a namespace without the label" 403 \
    'namespace "blog" is not selected by spec.selector.namespaceSelector (it has no labels)' "$DEVROOT" \
    --ns blog $D $LN --usages "server auth"
  sign "labelled-namespaces: a namespace with no Namespace object" 403 \
    'namespace "nowhere" is not known to Ember (no Namespace object)' "$DEVROOT" \
    --ns nowhere $D $LN --usages "server auth"
  sign "labelled-namespaces: 30 minutes" 403 'validity: 30m0s requested, at least 1h0m0s (spec.validity.min)' "$DEVROOT" \
    --ns shop $D $LN --usages "server auth" --duration 30m
  sign "labelled-namespaces: an RSA 2048 key" 403 'keySize RSA 2048 bits, at least 3072 (spec.keySizes.rsa.min)' "$DEVROOT" \
    --ns shop $D $LN --usages "server auth" --key rsa2048
  sign "labelled-namespaces: client auth only" 403 'usages server auth required by spec.requiredUsages' "$DEVROOT" \
    --ns shop $D $LN --usages "digital signature,client auth"
  sign "standalone mesh: an Istio workload (empty O=)" 201 "URI:spiffe://cluster.local/ns/istio-system/sa/x" "$DEVROOT" \
    --ns istio-system $D --policy mesh --usages "$ISTIO_USAGES" --org-empty --uri spiffe://cluster.local/ns/istio-system/sa/x
}
kill -TERM "$EMBER_PID"; wait "$EMBER_PID"
check "the examples run stops cleanly" test $? = 0

# 3d. the Ember objects shown in README.md's sections (the Firefly policy translated).
SECTIONS="Examples|Using Ember with istio-csr|Migrating from Firefly|Migrating from cert-manager's Vault issuer|Troubleshooting"
# readme_sections: README.md's sections this test owns, on stdout.
readme_sections() {
  python3 - README.md "$SECTIONS" <<'PY'
import re, sys
keep = set(sys.argv[2].split("|"))
parts = re.split(r"(?m)^## ", open(sys.argv[1]).read())
print("\n".join("## " + p for p in parts[1:] if p.split("\n", 1)[0].strip() in keep))
PY
}
readme_sections >"$WORK/readme-mine.md"
check "README.md has the sections on istio-csr, Firefly, the Vault issuer and troubleshooting" \
  test "$(grep -c '^## ' "$WORK/readme-mine.md")" = 5
python3 - "$WORK/readme-mine.md" >"$WORK/readme-objs.yaml" <<'PY'
import re, sys
blocks = re.findall(r"```yaml\n(.*?)```", open(sys.argv[1]).read(), re.S)
print("\n---\n".join(b for b in blocks if "apiVersion: ember.issuer.dev/" in b))
PY
start_ember readme --manifests examples/standalone/issuers.yaml --manifests "$WORK/dev-ca-default.yaml" \
  --manifests "$WORK/readme-objs.yaml" --cluster-resource-namespace default || exit 1
check "README's IssuancePolicy (from Firefly) loads" grep -q 'and 1 policies' "$LOG"
sign "README's app-tls policy: a name under example.com" 201 "DNS:app.example.com" "$WORK/dev-root-default.crt" \
  --ns default --issuer ClusterIssuer/dev-ca --policy app-tls --usages "digital signature,key encipherment,server auth" \
  --cn app.example.com --dns app.example.com
sign "README's app-tls policy: evil.com" 403 '"evil.com" not allowed' "$DEVROOT" \
  --ns default --issuer ClusterIssuer/dev-ca --policy app-tls --usages "server auth" --dns evil.com
kill -TERM "$EMBER_PID"; wait "$EMBER_PID"

# ---- 4. vault-approle: vault-setup.sh against a stub vault CLI, then the fake Vault ----
make_ca "$WORK/ca"
mkdir -p "$WORK/stubs"
# The stub answers vault-setup.sh's -field reads with this test's CA and AppRole ids, logs
# each call (and stdin for "-") and fails when an @file argument does not exist.
cat >"$WORK/stubs/vault" <<'STUB'
#!/usr/bin/env bash
echo "vault $*" >>"$STUB_LOG"
for a in "$@"; do
  case $a in *=@*) f=${a#*=@}; [ -e "$f" ] || { echo "missing: vault $f" >>"$STUB_MISSING"; exit 1; } ;; esac
done
[ "${!#}" = - ] && sed 's/^/stdin: /' >>"$STUB_LOG"
case "$*" in
  *"-field=certificate pki/root/generate/internal"*) cat "$STUB_VAULT_ROOT" ;;
  *"-field=csr pki_int/intermediate/generate"*) echo "stub CSR" ;;
  *"-field=certificate pki/root/sign-intermediate"*) cat "$STUB_VAULT_INTER" ;;
  *"-field=role_id"*) echo "$STUB_ROLE_ID" ;;
  *"-field=secret_id"*) echo "$STUB_SECRET_ID" ;;
esac
exit 0
STUB
# kubectl, oc, helm, istioctl: do nothing, but every file they are given must exist.
cat >"$WORK/stubs/kubectl" <<'STUB'
#!/usr/bin/env bash
tool=$(basename "$0")
echo "$tool $*" >>"$STUB_LOG"
want() {
  case $1 in ""|-) [ "$1" = - ] && cat >/dev/null; return ;; http://*|https://*) return ;; esac
  [ -e "$1" ] || echo "missing: $tool $1" >>"$STUB_MISSING"
}
prev=""
for a in "$@"; do
  case $prev in -f|--filename|--values) want "$a" ;; esac
  case $a in
    --filename=*|--values=*|-f=*) want "${a#*=}" ;;
    --from-file=*|--from-env-file=*) v=${a#*=}; want "${v#*=}" ;;
  esac
  prev=$a
done
exit 0
STUB
chmod +x "$WORK/stubs/vault" "$WORK/stubs/kubectl"
for t in oc helm istioctl; do ln -s kubectl "$WORK/stubs/$t"; done
export STUB_LOG=$WORK/stub.log STUB_MISSING=$WORK/stub.missing
: >"$STUB_LOG"; : >"$STUB_MISSING"

cat >"$WORK/vault.json" <<JSON
{
  "approle": {"approle": {"roles": {
    "mesh": {"role_id": "rid-mesh", "secret_ids": ["sid-mesh"], "token_ttl": "1h",
             "allowed_paths": ["pki_int/sign/mesh"]}
  }}},
  "pki": {"pki_int": {
    "ca_cert": "ca/inter.crt", "ca_key": "ca/inter.key", "chain": ["ca/root.crt"],
    "roles": {"mesh": {"allowed_domains": ["svc"], "allow_subdomains": true, "allow_bare_domains": false,
                       "allowed_uri_sans": ["spiffe://cluster.local/*"], "require_cn": false,
                       "key_type": "any", "max_ttl": "24h", "ttl": "1h"}}
  }}
}
JSON
vault_start active || exit 1
# shellcheck disable=SC2154 # active_URL is set by vault_start
STUB_VAULT_ROOT=$WORK/ca/root.crt STUB_VAULT_INTER=$WORK/ca/inter.crt STUB_ROLE_ID=rid-mesh \
  STUB_SECRET_ID=sid-mesh VAULT_ADDR=https://vault.invalid:8200 VAULT_TOKEN=stub \
  VAULT_CACERT=$WORK/ca/root.crt EMBER_VAULT_SERVER=$active_URL PATH="$WORK/stubs:$PATH" \
  examples/vault-approle/vault-setup.sh "$WORK/vout" >"$WORK/vsetup.out" 2>&1
rc=$?
check "vault-setup.sh exits 0 (stub vault CLI)" test $rc = 0
[ $rc = 0 ] || sed 's/^/#   /' "$WORK/vsetup.out"
vpath=$(grep -oE 'path: pki_int/sign/[a-z-]+' examples/vault-approle/issuer.yaml | cut -d' ' -f2)
check "vault-setup.sh makes the root PKI, the intermediate and the role issuer.yaml signs with ($vpath)" bash -c \
  'grep -q "^vault secrets enable pki$" "$1" && grep -q "^vault write -field=certificate pki/root/generate/internal" "$1" &&
   grep -q "^vault secrets enable -path=pki_int pki$" "$1" && grep -q "^vault write pki_int/intermediate/set-signed certificate=@" "$1" &&
   grep -q "^vault write ${2%%/sign/*}/roles/${2##*/} " "$1"' _ "$STUB_LOG" "$vpath"
check "vault-setup.sh: the Vault policy allows update on exactly $vpath" bash -c \
  'grep -q "^stdin: path \"$2\" {" "$1" && grep -q "^stdin:   capabilities = \[\"update\"\]" "$1" && [ "$(grep -c "^stdin: path" "$1")" = 1 ]' _ "$STUB_LOG" "$vpath"
check "vault-setup.sh: an AppRole with that policy, then its role_id and a secret_id" bash -c \
  'grep -q "^vault auth enable approle$" "$1" && grep -q "^vault write auth/approle/role/mesh token_policies=pki-mesh" "$1" &&
   grep -q "^vault read -field=role_id auth/approle/role/mesh/role-id$" "$1" && grep -q "^vault write -f -field=secret_id auth/approle/role/mesh/secret-id$" "$1"' _ "$STUB_LOG"
check "vault-setup.sh: issuer.yaml carries the role_id, the server and Secrets with the secret_id and Vault's CA" bash -c \
  'grep -q "roleId: rid-mesh" "$1" && grep -q "secretId: sid-mesh" "$1" && grep -q "server: $2" "$1" && grep -q "name: vault-ca" "$1"' _ "$WORK/vout/issuer.yaml" "$active_URL"
check "vault-setup.sh: root.crt is what Vault's root mount returned" cmp -s "$WORK/vout/root.crt" "$WORK/ca/root.crt"
STUB_VAULT_ROOT=/dev/null VAULT_ADDR=https://vault.invalid:8200 PATH="$WORK/stubs:$PATH" \
  examples/vault-approle/vault-setup.sh "$WORK/vout" >"$WORK/vsetup2.out" 2>&1
check "vault-setup.sh refuses an OUTDIR that already holds issuer.yaml" test $? = 1
start_ember vault --cluster-resource-namespace cert-manager --manifests "$WORK/vout/issuer.yaml" \
  --manifests examples/policies/mesh-workloads.yaml --manifests examples/standalone/policies.yaml || exit 1
sign "vault-approle: an Istio workload under mesh-workloads, through Vault" 201 "URI:spiffe://cluster.local/ns/shop/sa/cart" "$WORK/ca/root.crt" \
  --ns shop --issuer ClusterIssuer/vault --policy mesh-workloads --usages "$ISTIO_USAGES" --duration 1h \
  --org-empty --uri spiffe://cluster.local/ns/shop/sa/cart
sign "vault-approle: no annotation uses defaultPolicy mesh, through Vault" 201 "URI:spiffe://cluster.local/ns/istio-system/sa/y" "$WORK/ca/root.crt" \
  --ns istio-system --issuer ClusterIssuer/vault --usages "$ISTIO_USAGES" --duration 1h \
  --org-empty --uri spiffe://cluster.local/ns/istio-system/sa/y
signs() { vault_stats "$active_URL" 'sum(v for k, v in d["requests"].items() if "/sign/" in k)'; }
check "vault-approle: both went to Vault's $vpath" test "$(signs)" = 2
sign "vault-approle: Ember's policy denies a web name" 403 'sans.dnsNames: forbidden' "$WORK/ca/root.crt" \
  --ns shop --issuer ClusterIssuer/vault --policy mesh-workloads --usages "server auth" --dns app.example.com
check "vault-approle: ... without asking Vault" test "$(signs)" = 2
kill -TERM "$EMBER_PID"; wait "$EMBER_PID"

# ---- 4b. vault-kubernetes-auth and vault-subca: vault-setup.sh against the stub vault CLI; what
# it sets up in Vault agrees with the manifests (the e2e cases 14 and 15 run them for real) ----
: >"$STUB_LOG"; : >"$STUB_MISSING"
printf 'stub reviewer token\n' >"$WORK/reviewer.jwt"
STUB_VAULT_ROOT=$WORK/ca/root.crt STUB_VAULT_INTER=$WORK/ca/inter.crt VAULT_ADDR=https://vault.invalid:8200 \
  VAULT_TOKEN=stub VAULT_CACERT=$WORK/ca/root.crt EMBER_VAULT_SERVER=https://vault.example:8200 \
  KUBERNETES_HOST=https://k8s.example:6443 KUBERNETES_CA_CERT=$WORK/ca/root.crt \
  TOKEN_REVIEWER_JWT_FILE=$WORK/reviewer.jwt PATH="$WORK/stubs:$PATH" \
  examples/vault-kubernetes-auth/vault-setup.sh "$WORK/kout" >"$WORK/ksetup.out" 2>&1
rc=$?
check "vault-kubernetes-auth: vault-setup.sh exits 0 (stub vault CLI)" test $rc = 0
[ $rc = 0 ] || sed 's/^/#   /' "$WORK/ksetup.out"
"$Y2J" examples/vault-kubernetes-auth/issuer.yaml examples/vault-kubernetes-auth/rbac.yaml "$WORK/kout/issuer.yaml" >"$WORK/kube.json"
python3 - "$WORK/kube.json" "$STUB_LOG" <<'PY' ||
import json, re, sys
files = json.load(open(sys.argv[1]))
docs = [d for f in files[:2] for d in f["docs"]]
out = files[2]["docs"]
log = open(sys.argv[2]).read().splitlines()
def ok(c, what):
    print(("ok - " if c else "not ok - ") + "vault-kubernetes-auth: " + what)
def kv(line):
    return dict(a.split("=", 1) for a in line.split()[3:] if "=" in a)
conf = [kv(l) for l in log if l.startswith("vault write auth/kubernetes/config ")]
roles = {l.split()[2].rsplit("/", 1)[1]: kv(l) for l in log if l.startswith("vault write auth/kubernetes/role/")}
ok("vault auth enable kubernetes" in log, "vault-setup.sh enables the Kubernetes auth method")
ok(len(conf) == 1 and conf[0].get("kubernetes_host") == "https://k8s.example:6443"
   and conf[0].get("kubernetes_ca_cert", "").startswith("@") and conf[0].get("token_reviewer_jwt", "").startswith("@")
   and conf[0].get("disable_local_ca_jwt") == "true",
   "auth/kubernetes/config: the API server, its CA and the reviewer token as files (no token on the command line)")
sa = [d for d in docs if d["kind"] == "ServiceAccount"]
role = [d for d in docs if d["kind"] == "Role"][0]
rb = [d for d in docs if d["kind"] == "RoleBinding"][0]
crb = [d for d in docs if d["kind"] == "ClusterRoleBinding"][0]
rule = role["rules"][0]
ok(rule["resources"] == ["serviceaccounts/token"] and rule["verbs"] == ["create"] and len(rule["resourceNames"]) == 1,
   "rbac.yaml: create on serviceaccounts/token, for one account (resourceNames)")
ok(rb["roleRef"]["name"] == role["metadata"]["name"] and rb["subjects"][0]["name"] == "ember-issuer"
   and rb["subjects"][0]["namespace"] == "ember-issuer",
   "rbac.yaml: bound to the chart's service account ember-issuer (README.md's helm install)")
ok(crb["roleRef"]["name"] == "system:auth-delegator" and crb["subjects"][0]["name"] in [s["metadata"]["name"] for s in sa],
   "rbac.yaml: the reviewer account may create TokenReviews (system:auth-delegator)")
for iss in [d for d in docs if d["kind"] == "ClusterIssuer"]:
    k = iss["spec"]["vault"]["auth"]["kubernetes"]
    r = roles.get(k["role"], {})
    acct = (k.get("serviceAccountRef") or {}).get("name")
    if acct is None:
        sec = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == k["secretRef"]["name"]][0]
        acct = sec["metadata"]["annotations"]["kubernetes.io/service-account.name"]
        want_aud = None
    else:
        ok(acct == rule["resourceNames"][0], "%s: its serviceAccountRef is the account rbac.yaml lets Ember make tokens of" % iss["metadata"]["name"])
        want_aud = "vault://" + iss["metadata"]["name"]
    ok(r.get("bound_service_account_names") == acct and r.get("bound_service_account_namespaces") == "ember-issuer"
       and r.get("audience") == want_aud and r.get("token_policies") == "pki-mesh",
       "%s: the Vault role %s is bound to %s, audience %s, policy pki-mesh" % (iss["metadata"]["name"], k["role"], acct, want_aud))
ok(all(d["spec"]["vault"]["server"] == "https://vault.example:8200" for d in out if d["kind"] == "ClusterIssuer")
   and any(d["kind"] == "Secret" and d["metadata"]["name"] == "vault-ca" for d in out),
   "OUTDIR/issuer.yaml: EMBER_VAULT_SERVER and the Secret vault-ca")
PY
  not_ok "vault-kubernetes-auth: the checks of its manifests and vault-setup.sh ran to the end (see the traceback)"
STUB_VAULT_ROOT=$WORK/ca/root.crt VAULT_ADDR=https://vault.invalid:8200 PATH="$WORK/stubs:$PATH" \
  examples/vault-kubernetes-auth/vault-setup.sh "$WORK/kout2" >"$WORK/ksetup2.out" 2>&1
check "vault-kubernetes-auth: without an API server in kubectl's context, vault-setup.sh stops saying to set KUBERNETES_HOST" \
  bash -c '[ "$1" = 1 ] && grep -q "set KUBERNETES_HOST" "$2"' _ $? "$WORK/ksetup2.out"

: >"$STUB_LOG"; : >"$STUB_MISSING"
STUB_VAULT_ROOT=$WORK/ca/root.crt STUB_VAULT_INTER=$WORK/ca/inter.crt STUB_ROLE_ID=rid-subca STUB_SECRET_ID=sid-subca \
  VAULT_ADDR=https://vault.invalid:8200 VAULT_TOKEN=stub VAULT_CACERT=$WORK/ca/root.crt \
  EMBER_VAULT_SERVER=https://vault.example:8200 PATH="$WORK/stubs:$PATH" \
  examples/vault-subca/vault-setup.sh "$WORK/sout" >"$WORK/ssetup.out" 2>&1
rc=$?
check "vault-subca: vault-setup.sh exits 0 (stub vault CLI)" test $rc = 0
[ $rc = 0 ] || sed 's/^/#   /' "$WORK/ssetup.out"
"$Y2J" examples/vault-subca/issuer.yaml "$WORK/sout/issuer.yaml" >"$WORK/subca.json"
python3 - "$WORK/subca.json" "$STUB_LOG" <<'PY' ||
import fnmatch, json, re, sys
files = json.load(open(sys.argv[1]))
iss = [d for d in files[0]["docs"] if d["kind"] == "ClusterIssuer"][0]
out = files[1]["docs"]
log = open(sys.argv[2]).read().splitlines()
sub = iss["spec"]["vault"]["subCA"]
def ok(c, what):
    print(("ok - " if c else "not ok - ") + "vault-subca: " + what)
ok(any(l.startswith("vault write -field=certificate pki/root/generate/internal") and " max_path_length=2" in l for l in log),
   "the root has path length 2 (room for Vault's intermediate and Ember's sub-CA)")
ok(any(l.startswith("vault write -field=certificate pki/root/sign-intermediate") and " max_path_length=1" in l for l in log),
   "Vault's intermediate has path length 1")
hcl = "\n".join(l[len("stdin: "):] for l in log if l.startswith("stdin: "))
paths = re.findall(r'^path "([^"]+)"', hcl, re.M)
ok(paths == [sub["path"]], "the policy grants exactly subCA.path (%s)" % sub["path"])
allowed = dict(re.findall(r'^\s*"([a-z_]+)"\s*=\s*(\[[^]]*\])', hcl, re.M))
allowed = {k: json.loads(v) for k, v in allowed.items()}
ok(allowed.get("max_path_length") == ["0"] and allowed.get("exclude_cn_from_sans") == ["true"]
   and allowed.get("use_csr_values") == ["false"] and allowed.get("csr") == [],
   "the policy pins max_path_length 0, exclude_cn_from_sans true, use_csr_values false")
ok(sub["duration"] in allowed.get("ttl", []), "the policy allows the ttl subCA.duration (%s) only among its forms" % sub["duration"])
ok(any(fnmatch.fnmatchcase(sub["commonNamePrefix"] + " ember-0-1", g) for g in allowed.get("common_name", [])),
   "the policy's common_name glob admits '<commonNamePrefix> <replica>'")
ok(allowed.get("organization") == sub["subject"]["organizations"] and allowed.get("ou") == sub["subject"]["organizationalUnits"]
   and allowed.get("permitted_dns_domains") == sub["permittedDNSDomains"],
   "the policy allows exactly the subject and permittedDNSDomains of the ClusterIssuer")
ok(any(l.startswith("vault write pki_int/config/auto-tidy enabled=true tidy_cert_store=true") for l in log),
   "auto-tidy of the stored sub-CAs")
o = [d for d in out if d["kind"] == "ClusterIssuer"][0]
ok(o["spec"]["vault"]["auth"]["appRole"]["roleId"] == "rid-subca" and o["spec"]["vault"]["server"] == "https://vault.example:8200"
   and any(d["kind"] == "Secret" and d.get("stringData", {}).get("secretId") == "sid-subca" for d in out),
   "OUTDIR/issuer.yaml: the role_id, EMBER_VAULT_SERVER and the secret_id")
PY
  not_ok "vault-subca: the checks of its manifest and vault-setup.sh ran to the end (see the traceback)"

# ---- 5. the READMEs' shell blocks, as written, with the cluster tools stubbed ----
# README.md: only the sections this test owns (the walkthrough has its own test); the READMEs of
# the example folders this test covers.
mkdir -p "$WORK/docs/home" "$WORK/docs/tmp"
cp -r examples api "$WORK/docs/"
mkdir -p "$WORK/docs/build" && ln -s "$EMBER_BIN" "$WORK/docs/build/ember-issuer"
: >"$STUB_LOG"; : >"$STUB_MISSING"
for doc in README.md examples/{standalone,local-ca,vault-approle,vault-subca,istio-csr,openshift-service-mesh,policies}/README.md; do
  src=$doc
  [ "$doc" = README.md ] && src=$WORK/readme-mine.md
  python3 - "$src" >"$WORK/docs/run.sh" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
print("trap 'echo \"$LINENO\" >>\"$DOCS_ERR\"' ERR")
for block in re.findall(r"```sh\n(.*?)```", text, re.S):
    print(block)
print("echo DOCS-END")
PY
  blocks=$(grep -c . "$WORK/docs/run.sh")
  [ "$blocks" -gt 2 ] || continue
  : >"$WORK/docs/err"
  (cd "$WORK/docs" && env PATH="$WORK/stubs:$PATH" HOME="$WORK/docs/home" TMPDIR="$WORK/docs/tmp" \
    DOCS_ERR="$WORK/docs/err" VAULT_ADDR=https://vault.invalid:8200 VAULT_TOKEN=stub \
    VAULT_CACERT="$WORK/ca/root.crt" STUB_VAULT_ROOT="$WORK/ca/root.crt" STUB_VAULT_INTER="$WORK/ca/inter.crt" \
    STUB_ROLE_ID=rid STUB_SECRET_ID=sid bash "$WORK/docs/run.sh") >"$WORK/docs/out" 2>&1
  # A failure is allowed only on a line that talks to a cluster or to Vault (stubbed: no output).
  bad=""
  while read -r ln; do
    line=$(sed -n "${ln}p" "$WORK/docs/run.sh")
    grep -qE '(^|[ |$(])(kubectl|oc|helm|vault|istioctl) ' <<<"$line" || bad="$bad
$ln: $line"
  done <"$WORK/docs/err"
  if [ -z "$bad" ] && grep -q DOCS-END "$WORK/docs/out"; then
    ok "$doc: its local shell commands run as written"
  else
    not_ok "$doc: its local shell commands run as written"
    echo "# failing lines:$bad"; tail -5 "$WORK/docs/out" | sed 's/^/#   /'
  fi
done
check "the READMEs' kubectl/oc/helm/vault commands name files that exist" test ! -s "$STUB_MISSING"
sed 's/^/#   /' "$STUB_MISSING"
check "the READMEs' commands ran (the stubs saw kubectl, helm and oc)" bash -c \
  'grep -q "^kubectl apply -f" "$1" && grep -q "^helm install" "$1" && grep -q "^oc apply -f" "$1"' _ "$STUB_LOG"

# ---- 5b. examples/policies/team-subca.yaml: a sub-CA for team-a's domain. The examples' CAs
# have pathlen 0 (they issue no CA), so a throwaway CA (lib.sh make_ca) signs here. ----
make_ca "$WORK/subca-ca"
start_ember subca --manifests examples/policies/team-subca.yaml \
  --manifests test/integration/manifests/issuers.yaml --manifests "$WORK/subca-ca/secret.yaml" || exit 1
# subca_req NAME NAMECONSTRAINTS [NS]: a CA request as cert-manager makes it for a Certificate
# with isCA and spec.nameConstraints (none when NAMECONSTRAINTS is empty).
subca_req() {
  local nc=()
  [ -n "$2" ] && nc=(-addext "nameConstraints=$2")
  make_csr "$WORK/$1" -subj "/CN=Team A CA" -addext "basicConstraints=critical,CA:TRUE" "${nc[@]}"
  cr_json "$1" "${3:-team-a}" "$WORK/$1.csr" ClusterIssuer test-ca team-a-subca 8760h \
    '["digital signature","key encipherment","cert sign"]' true >"$WORK/$1.json"
  post /v1/certificaterequests "$WORK/$1.json"
}
TEAM_NC="permitted;DNS:team-a.example.com,permitted;IP:10.20.0.0/255.255.0.0,excluded;DNS:secret.team-a.example.com"
subca_req subca-ok "$TEAM_NC"
check "team-a-subca: a sub-CA for team-a.example.com and 10.20.0.0/16 is issued (201)" test "$CODE" = 201
chain_out "$BODY" "$WORK/subca-ok"
check "team-a-subca: ... with pathLen 0" \
  bash -c 'openssl x509 -in "$1" -noout -ext basicConstraints | grep -q "CA:TRUE, pathlen:0"' _ "$WORK/subca-ok.leaf.pem"
check "team-a-subca: ... and exactly the requested nameConstraints" test \
  "$(openssl x509 -in "$WORK/subca-ok.leaf.pem" -noout -ext nameConstraints | sed 's/^ *//' | paste -sd'|')" \
  = "X509v3 Name Constraints: |Permitted:|DNS:team-a.example.com|IP:10.20.0.0/255.255.0.0|Excluded:|DNS:secret.team-a.example.com"
subca_req subca-narrow "permitted;DNS:api.team-a.example.com,permitted;IP:10.20.1.0/255.255.255.0,excluded;DNS:team-a.example.com"
check "team-a-subca: a narrower sub-CA is issued too (201)" test "$CODE" = 201
for t in 'subca-none||ca.nameConstraints: required, none requested' \
  'subca-wide|permitted;DNS:example.com,permitted;IP:10.20.0.0/255.255.0.0,excluded;DNS:secret.team-a.example.com|ca.nameConstraints.permitted.dnsDomains "example.com" not within' \
  'subca-other|permitted;DNS:team-b.example.com,permitted;IP:10.20.0.0/255.255.0.0,excluded;DNS:secret.team-a.example.com|"team-b.example.com" not within' \
  'subca-noip|permitted;DNS:team-a.example.com,excluded;DNS:secret.team-a.example.com|ca.nameConstraints.permitted.ipRanges: none requested' \
  'subca-secret|permitted;DNS:team-a.example.com,permitted;IP:10.20.0.0/255.255.0.0|must exclude "secret.team-a.example.com"'; do
  IFS='|' read -r n nc want <<<"$t"
  subca_req "$n" "$nc"
  check "team-a-subca: $n is denied (403) saying $want" bash -c '[ "$1" = 403 ] && grep -qF -- "$2" <(python3 -c "
import json,sys
for c in json.load(open(sys.argv[1]))[\"status\"][\"conditions\"]: print(c.get(\"message\",\"\"))" "$3")' _ "$CODE" "$want" "$BODY"
done
subca_req subca-ns "$TEAM_NC" team-b
check "team-a-subca: a request from the namespace team-b is denied (403)" test "$CODE" = 403
kill -TERM "$EMBER_PID"; wait "$EMBER_PID"

# ---- 6. every examples/... path the READMEs mention exists ----
missing=""
for doc in README.md examples/*/README.md; do
  for p in $(grep -oE '(^|[^A-Za-z0-9_./-])examples/[A-Za-z0-9._/*-]*' "$doc" | sed -E 's/^[^e]//; s/[.,:]+$//' | sort -u); do
    [ -e "$p" ] || compgen -G "$p" >/dev/null || missing="$missing $doc:$p"
  done
done
check "every examples/ path in README.md and examples/*/README.md exists" test -z "$missing"
[ -z "$missing" ] || echo "# missing:$missing"
exit 0
