#!/usr/bin/env bash
# test_vault_subca.sh -- spec.vault.subCA through the real binary (standalone, HTTP front door)
# against the strict fake Vault's sign-intermediate: the exact request, a leaf chained leaf ->
# sub-CA -> Vault's intermediate with the root as status.ca (openssl -x509_strict), no Vault
# round trip per certificate, leaves capped at maxLeafDuration, renewal to a new sub-CA (new
# serial, new AKI; old leaves still verify), a sealed Vault during renewal, Vault's answers that
# must be refused (not a CA, another key, a pathLen 0 parent, a policy refusal), the anchor from
# caBundleSecretRef, two replicas with their own sub-CAs under one root, and
# requireLockedMemory with memlock 0 and CAP_IPC_LOCK dropped.
# shellcheck disable=SC2154 # vault_start (vault.sh) sets NAME_URL through printf -v
cd "$(dirname "$0")/../.." || exit 1
. test/integration/lib.sh
. test/integration/vault.sh

make_ca "$WORK/ca" # root -> inter (Vault's issuing CA, no pathLen)
make_ca "$WORK/ca2" # another root -> inter: a Vault issuer under another root
# A Vault intermediate under the root, itself name-constrained to example.com.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=Test constrained" \
  -keyout "$WORK/ca/ncint.key" -out "$WORK/ca/ncint.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\nnameConstraints=critical,permitted;DNS:example.com\n' >"$WORK/ca/ncint.ext"
openssl x509 -req -in "$WORK/ca/ncint.csr" -CA "$WORK/ca/root.crt" -CAkey "$WORK/ca/root.key" \
  -CAcreateserial -days 30 -extfile "$WORK/ca/ncint.ext" -out "$WORK/ca/ncint.crt" 2>/dev/null
# A second Vault intermediate with pathlen:0: it cannot sign a sub-CA.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=Test zero" \
  -keyout "$WORK/ca/zero.key" -out "$WORK/ca/zero.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$WORK/ca/zero.ext"
openssl x509 -req -in "$WORK/ca/zero.csr" -CA "$WORK/ca/root.crt" -CAkey "$WORK/ca/root.key" \
  -CAcreateserial -days 30 -extfile "$WORK/ca/zero.ext" -out "$WORK/ca/zero.crt" 2>/dev/null

cat >"$WORK/vault.json" <<JSON
{
  "approle": {"approle": {"roles": {
    "ember":  {"role_id": "rid-ember", "secret_ids": ["sid-ember"], "token_ttl": "1h"},
    "nosub":  {"role_id": "rid-nosub", "secret_ids": ["sid-nosub"], "allowed_paths": ["pki_int/sign/*"]}
  }}},
  "pki": {
    "pki_int":  {"ca_cert": "ca/inter.crt", "ca_key": "ca/inter.key", "chain": ["ca/root.crt"],
                 "sign_intermediate": {"max_ttl": "50m"}},
    "pki_bad":  {"ca_cert": "ca/inter.crt", "ca_key": "ca/inter.key", "chain": ["ca/root.crt"]},
    "pki_nr":   {"ca_cert": "ca/inter.crt", "ca_key": "ca/inter.key", "chain": ["ca/root.crt"],
                 "sign_intermediate": {"include_root": false}},
    "pki_zero": {"ca_cert": "ca/zero.crt", "ca_key": "ca/zero.key", "chain": ["ca/root.crt"]},
    "pki_other": {"ca_cert": "ca2/inter.crt", "ca_key": "ca2/inter.key", "chain": ["ca2/root.crt"]},
    "pki_nc":   {"ca_cert": "ca/ncint.crt", "ca_key": "ca/ncint.key", "chain": ["ca/root.crt"]},
    "pki_nonc": {"ca_cert": "ca/inter.crt", "ca_key": "ca/inter.key", "chain": ["ca/root.crt"]},
    "pki_pin":  {"ca_cert": "ca/inter.crt", "ca_key": "ca/inter.key", "chain": ["ca/root.crt"]},
    "pki_short": {"ca_cert": "ca/inter.crt", "ca_key": "ca/inter.key", "chain": ["ca/root.crt"],
                 "sign_intermediate": {"max_ttl": "30m"}}
  }
}
JSON
vault_start vault || exit 1
V=$vault_URL
# The first two answers of pki_bad: a certificate that is not a CA, then one for another key.
check "the fake answers pki_bad's first sign-intermediates with a non-CA, then another key's CA" \
  test "$(vault_admin "$V" subca '{"mount":"pki_bad","answers":["not_ca","wrong_key"]}')" = 204
check "... pki_nonc's first without the name constraints asked for" \
  test "$(vault_admin "$V" subca '{"mount":"pki_nonc","answers":["no_constraints"]}')" = 204

# issuer NAME ROLE_ID SECRET_ID SUBCA-YAML: a ClusterIssuer in sub-CA mode (no spec.vault.path).
issuer() {
  cat <<YAML
---
apiVersion: ember.issuer.dev/v1alpha1
kind: ClusterIssuer
metadata: {name: $1}
spec:
  defaultPolicy: web
  vault:
    server: $V
    caBundle: $(base64 -w0 "$WORK/ca/root.crt")
    auth:
      appRole: {roleId: $2, secretRef: {name: $1-approle, key: secretId}}
    subCA: $4
---
apiVersion: v1
kind: Secret
metadata: {name: $1-approle, namespace: default}
stringData: {secretId: $3}
YAML
}
LONG='{path: pki_int/issuer/default/sign-intermediate, duration: 1h, maxLeafDuration: 10m, permittedDNSDomains: [example.com], subject: {organizations: [Acme]}}'
{
  issuer subca rid-ember sid-ember "$LONG"
  issuer subca-short rid-ember sid-ember '{path: pki_int/root/sign-intermediate, duration: 20s, renewBefore: 10s, maxLeafDuration: 5s}'
  issuer subca-bad rid-ember sid-ember '{path: pki_bad/root/sign-intermediate, duration: 1h, maxLeafDuration: 10m}'
  issuer subca-zero rid-ember sid-ember '{path: pki_zero/root/sign-intermediate, duration: 1h, maxLeafDuration: 10m}'
  issuer subca-denied rid-nosub sid-nosub '{path: pki_int/root/sign-intermediate, duration: 1h, maxLeafDuration: 10m}'
  issuer subca-cut rid-ember sid-ember '{path: pki_short/root/sign-intermediate, duration: 1h, maxLeafDuration: 10m}'
  issuer subca-wrongbundle rid-ember sid-ember '{path: pki_other/root/sign-intermediate, duration: 1h, maxLeafDuration: 10m, caBundleSecretRef: {name: root-ca}}'
  issuer subca-nc rid-ember sid-ember '{path: pki_nc/root/sign-intermediate, duration: 1h, maxLeafDuration: 10m}'
  issuer subca-nonc rid-ember sid-ember '{path: pki_nonc/root/sign-intermediate, duration: 1h, maxLeafDuration: 10m, permittedDNSDomains: [example.com, .svc.cluster.local]}'
  issuer subca-pin rid-ember sid-ember '{path: pki_pin/root/sign-intermediate, duration: 20s, renewBefore: 10s, maxLeafDuration: 5s}'
  issuer subca-nr rid-ember sid-ember '{path: pki_nr/root/sign-intermediate, duration: 1h, maxLeafDuration: 10m, caBundleSecretRef: {name: root-ca}}'
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: root-ca, namespace: default}\ndata: {ca.crt: %s}\n' \
    "$(base64 -w0 "$WORK/ca/root.crt")"
} >"$WORK/issuers.yaml"
# A policy whose minimum lifetime (1h) is above the sub-CA's maxLeafDuration (10m).
cat >"$WORK/policies.yaml" <<'YAML'
apiVersion: ember.issuer.dev/v1alpha1
kind: IssuancePolicy
metadata: {name: web-min}
spec:
  validity: {min: 1h, max: 720h}
  subject:
    commonName: {rule: Optional, allowed: ['[a-z0-9.-]+\.example\.com'], max: 1}
  sans:
    dnsNames: {rule: Required, allowed: ['([a-z0-9-]+\.)*example\.com'], min: 1, max: 3}
  usages: [digital signature, key encipherment, server auth, client auth]
YAML
HOSTNAME=ember-a start_ember a --manifests test/integration/manifests/policies.yaml \
  --manifests "$WORK/issuers.yaml" --manifests "$WORK/policies.yaml" --issuer-recheck-period 1s || exit 1

ready() { metric "ember_issuer_ready{issuer=\"ClusterIssuer/$1\"}"; }
check "the sub-CA issuer turns Ready once Vault signed its sub-CA" \
  env WAIT_S=15 bash -c '. test/integration/lib.sh; METRICS=$1; wait_metric "ember_issuer_ready{issuer=\"ClusterIssuer/subca\"}" 1' _ "$METRICS"

# The request Ember sent: every value a string, exactly these keys.
# shellcheck disable=SC2016
body_of() { vault_stats "$V" '[r for r in d["subca_requests"] if "'"$1"'" in r["path"]][0]'"$2"; }
check "sign-intermediate carried exactly the documented keys, each a string" \
  test "$(vault_stats "$V" '" ".join(sorted(k for k, v in [r for r in d["subca_requests"] if "pki_int/issuer/default" in r["path"]][0].items() if isinstance(v, str)))')" = \
  "common_name csr_cn exclude_cn_from_sans format max_path_length organization path permitted_dns_domains ttl use_csr_values"
for kv in 'max_path_length 0' 'exclude_cn_from_sans true' 'format pem' 'use_csr_values false' 'ttl 1h' \
  'permitted_dns_domains example.com' 'organization Acme'; do
  check "... ${kv% *} is the string \"${kv#* }\"" test "$(body_of pki_int/issuer/default "[\"${kv% *}\"]")" = "${kv#* }"
done
check "... common_name is the prefix, the host name and the generation" \
  test "$(body_of pki_int/issuer/default '["common_name"]')" = "Ember sub-CA ember-a-1"
check "... the CSR has that CN" test "$(body_of pki_int/issuer/default '["csr_cn"]')" = "Ember sub-CA ember-a-1"
check "... the CSR carries no SAN" test "$(body_of pki_int/issuer/default '["csr_sans"]')" = "[]"

# req NAME ISSUER DNS: a CertificateRequest for DNS under policy web, asking for 720h.
req() {
  make_csr "$WORK/$1" -subj "/CN=$3" -addext "subjectAltName=DNS:$3"
  cr_json "$1" default "$WORK/$1.csr" ClusterIssuer "$2" web 720h '["digital signature","key encipherment","server auth"]' >"$WORK/$1.json"
}
# issue NAME ISSUER DNS: req then post; the chain into $WORK/NAME.*.pem.
issue() {
  req "$1" "$2" "$3"
  post /v1/certificaterequests "$WORK/$1.json"
  [ "$CODE" = 201 ] || { echo "# $1: HTTP $CODE $(messages "$BODY" | tr '\n' ' ' | head -c 400)"; return 1; }
  jqpy 'd["status"]["certificate"]' "$BODY" | base64 -d >"$WORK/$1.chain.pem"
  jqpy 'd["status"]["ca"]' "$BODY" | base64 -d >"$WORK/$1.ca.pem"
  openssl x509 -in "$WORK/$1.chain.pem" -out "$WORK/$1.leaf.pem"
  # the second certificate of the chain: the sub-CA
  awk '/BEGIN CERT/{n++} n==2' "$WORK/$1.chain.pem" >"$WORK/$1.sub.pem"
}
aki() { openssl x509 -in "$1" -noout -ext authorityKeyIdentifier | tail -n +2 | tr -d ' '; }
serial() { openssl x509 -in "$1" -noout -serial; }

check "a certificate is issued through the sub-CA (201)" issue leaf subca www.example.com
chain_out "$BODY" "$WORK/leaf"
check "status.ca is the root" cmp -s "$WORK/leaf.ca.pem" "$WORK/ca/root.crt"
check "status.certificate is leaf, sub-CA, Vault's intermediate (no root)" \
  test "$(grep -c 'BEGIN CERTIFICATE' "$WORK/leaf.chain.pem")" = 3
check "the third certificate is Vault's intermediate" \
  cmp -s <(awk '/BEGIN CERT/{n++} n==3' "$WORK/leaf.chain.pem" | openssl x509) <(openssl x509 -in "$WORK/ca/inter.crt")
check "the sub-CA is CA:TRUE with pathlen:0" \
  grep -q 'CA:TRUE, pathlen:0' <(openssl x509 -in "$WORK/leaf.sub.pem" -noout -ext basicConstraints)
check "... with critical name constraints permitting exactly example.com" \
  test "$(openssl x509 -in "$WORK/leaf.sub.pem" -noout -ext nameConstraints | tr -d ' \n')" = \
  "X509v3NameConstraints:criticalPermitted:DNS:example.com"
check "... no SAN" test -z "$(openssl x509 -in "$WORK/leaf.sub.pem" -noout -ext subjectAltName 2>/dev/null)"
check "... subject O=Acme, CN=Ember sub-CA ember-a-1" \
  test "$(openssl x509 -in "$WORK/leaf.sub.pem" -noout -subject -nameopt RFC2253)" = "subject=CN=Ember sub-CA ember-a-1,O=Acme"
check "the leaf's AKI is the sub-CA's SKI" \
  test "$(aki "$WORK/leaf.leaf.pem")" = "$(openssl x509 -in "$WORK/leaf.sub.pem" -noout -ext subjectKeyIdentifier | tail -n +2 | tr -d ' ')"
nb=$(date -d "$(openssl x509 -in "$WORK/leaf.leaf.pem" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in "$WORK/leaf.leaf.pem" -noout -enddate | cut -d= -f2)" +%s)
check "the leaf asked for 720h lives maxLeafDuration (10m): $((na - nb))s" test $((na - nb)) = 600
check "metrics: the cut is counted (published within the 1 s re-check)" \
  wait_metric 'ember_subca_leaf_truncations_total{issuer="ClusterIssuer/subca"}' 1
# maxLeafDuration cuts the lifetime after the policy approved it: below validity.min, refused.
make_csr "$WORK/short" -subj "/CN=short.example.com" -addext "subjectAltName=DNS:short.example.com"
cr_json short default "$WORK/short.csr" ClusterIssuer subca web-min 720h '["digital signature","key encipherment","server auth"]' >"$WORK/short.json"
post /v1/certificaterequests "$WORK/short.json"
check "a lifetime cut to maxLeafDuration below the policy's validity.min: Failed (422)" test "$CODE" = 422
check "... naming maxLeafDuration and spec.validity.min" has_message \
  "the certificate would live only 10m0s (spec.vault.subCA.maxLeafDuration), less than the policy's spec.validity.min 1h0m0s" "$BODY"
check "... and not issued" absent -F '"certificate"' "$BODY"
snb=$(date -d "$(openssl x509 -in "$WORK/leaf.sub.pem" -noout -startdate | cut -d= -f2)" +%s)
check "Vault cut the 1h ttl to the mount's max_lease_ttl (50m, +30s backdating)" \
  test $(($(not_after "$WORK/leaf.sub.pem") - snb)) = 3030
check "... Ember logged Vault's warning" grep -q 'is longer than permitted maxTTL' "$LOG"
check "metrics: the CA expiry is the sub-CA's notAfter (as Vault cut it)" \
  test "$(metric 'ember_ca_expiry_timestamp_seconds{issuer="ClusterIssuer/subca"}')" = "$(not_after "$WORK/leaf.sub.pem")"
check "metrics: ember_subca_ready 1" test "$(metric 'ember_subca_ready{issuer="ClusterIssuer/subca"}')" = 1
check "metrics: one sub-CA renewal ok" \
  test "$(metric 'ember_subca_renewals_total{issuer="ClusterIssuer/subca",result="ok"}')" -ge 1
# The secure heap (256 KiB by default) is locked when RLIMIT_MEMLOCK allows it or CAP_IPC_LOCK
# is there (bit 14 of CapEff); the gauge must say what this host allows.
heap_expect=0
memlock=$(ulimit -l)
if [ "$memlock" = unlimited ] || [ $((memlock * 1024)) -ge 262144 ] ||
  [ $((0x$(awk '/^CapEff/ {print $2}' /proc/self/status) >> 14 & 1)) = 1 ]; then heap_expect=1; fi
check "metrics: ember_secure_heap_locked is $heap_expect, as memlock $memlock and CAP_IPC_LOCK imply" \
  test "$(metric ember_secure_heap_locked)" = "$heap_expect"
check "... and the start-up log names its size" grep -q 'secure heap of 262144 bytes for sub-CA keys' "$LOG"

# No Vault round trip per certificate (the other issuers renew in the background meanwhile:
# replica b below counts every request).
count() { vault_stats "$V" 'sum(v for k, v in d["requests"].items() if "/sign/" in k or "issuer/default" in k)'; }
before=$(count)
n=0
for i in 1 2 3 4 5 6 7 8; do issue "n$i" subca "n$i.example.com" && n=$((n + 1)); done
check "8 more certificates issued" test "$n" = 8
check "... with no sign request to Vault ($before -> $(count))" test "$(count)" = "$before"

req isca subca ca.example.com
cr_json isca default "$WORK/isca.csr" ClusterIssuer subca all-optional "" '[]' true >"$WORK/isca.json"
post /v1/certificaterequests "$WORK/isca.json"
check "a CA request (isCA) through the sub-CA is refused (422)" test "$CODE" = 422
check "... saying the pathLen 0 sub-CA cannot issue CAs" has_message "cannot issue CA certificates" "$BODY"

make_csr "$WORK/outside" -subj "/CN=www.example.org" -addext "subjectAltName=DNS:www.example.org"
cr_json outside default "$WORK/outside.csr" ClusterIssuer subca all-optional "" '["digital signature","server auth"]' >"$WORK/outside.json"
post /v1/certificaterequests "$WORK/outside.json"
check "a DNS name outside permittedDNSDomains is refused (422), not signed into a chain no client accepts" test "$CODE" = 422
check "... saying so" has_message "outside the sub-CA's name constraints" "$BODY"

make_csr "$WORK/cnonly" -subj "/CN=www.example.org"
cr_json cnonly default "$WORK/cnonly.csr" ClusterIssuer subca all-optional "" '["digital signature","server auth"]' >"$WORK/cnonly.json"
post /v1/certificaterequests "$WORK/cnonly.json"
check "a DNS-like CN outside permittedDNSDomains, without SAN, is refused too (422)" test "$CODE" = 422
check "... saying it is outside the name constraints" has_message "outside the name constraints of" "$BODY"

# The name constraints of Vault's own issuer count too: its sub-CA carries none (no
# permittedDNSDomains), its parent permits only example.com.
check "a Vault issuer constrained to example.com: the sub-CA issuer is Ready" \
  env WAIT_S=15 bash -c '. test/integration/lib.sh; METRICS=$1; wait_metric "ember_issuer_ready{issuer=\"ClusterIssuer/subca-nc\"}" 1' _ "$METRICS"
check "... issues inside example.com" issue ncin subca-nc in.example.com
make_csr "$WORK/ncout" -subj "/CN=www.example.org" -addext "subjectAltName=DNS:www.example.org"
cr_json ncout default "$WORK/ncout.csr" ClusterIssuer subca-nc all-optional "" '["digital signature","server auth"]' >"$WORK/ncout.json"
post /v1/certificaterequests "$WORK/ncout.json"
check "... and refuses www.example.org (422), which its parent's constraints exclude" test "$CODE" = 422
check "... naming that parent" has_message "outside the name constraints of /CN=Test constrained" "$BODY"

# Vault's answer must carry exactly the permittedDNSDomains asked for.
check "a sub-CA without the name constraints asked for is refused; the next answer is taken" \
  env WAIT_S=20 bash -c '. test/integration/lib.sh; METRICS=$1; wait_metric "ember_issuer_ready{issuer=\"ClusterIssuer/subca-nonc\"}" 1' _ "$METRICS"
check "... saying so" grep -q 'returned has no nameConstraints: Ember asked for exactly permitted_dns_domains example.com,...' "$LOG"

check "the anchor from caBundleSecretRef when Vault's ca_chain has no root" issue nr subca-nr nr.example.com
check "... status.ca is that root" cmp -s "$WORK/nr.ca.pem" "$WORK/ca/root.crt"
check "... and the chain verifies" verify_strict "$WORK/nr.ca.pem" "$WORK/nr.chain.pem" "$WORK/nr.leaf.pem"

# pki_short's max_lease_ttl (30m) is below renewBefore (default 35m for 1h and 10m): the sub-CA
# is renewed halfway to where leaves would be cut (10m), not at once and again every second.
check "a sub-CA Vault cut below renewBefore: the issuer is Ready" \
  env WAIT_S=15 bash -c '. test/integration/lib.sh; METRICS=$1; wait_metric "ember_issuer_ready{issuer=\"ClusterIssuer/subca-cut\"}" 1' _ "$METRICS"
cut_requests() { vault_stats "$V" 'd["requests"].get("POST /v1/pki_short/root/sign-intermediate", 0)'; }
sleep 10
check "... and asked Vault at most twice in 10 s ($(cut_requests) sign-intermediate requests)" \
  test "$(cut_requests)" -le 2
check "... warning once that Vault shortened it below renewBefore, naming max_lease_ttl" \
  test "$(grep -c 'less than renewBefore (2100s): the Vault mount.s max_lease_ttl' "$LOG")" = 1

# caBundleSecretRef's certificates are the only anchors: Vault's answer chaining (with its root)
# to another root is refused, not trusted because Vault sent that root.
req wrongbundle subca-wrongbundle wb.example.com
post /v1/certificaterequests "$WORK/wrongbundle.json"
check "a Vault issuer under another root than caBundleSecretRef's: not issued (HTTP $CODE)" test "$CODE" = 503
check "... saying the sub-CA does not chain to caBundleSecretRef" \
  has_message "does not chain to a certificate of spec.vault.subCA.caBundleSecretRef" "$BODY"
check "... and the issuer is not Ready" test "$(ready subca-wrongbundle)" = 0

# Without caBundleSecretRef the first sub-CA's root is pinned: a renewal under another root is
# refused (the current sub-CA stays), saying what to do.
check "the root-pinning issuer is Ready" \
  env WAIT_S=15 bash -c '. test/integration/lib.sh; METRICS=$1; wait_metric "ember_issuer_ready{issuer=\"ClusterIssuer/subca-pin\"}" 1' _ "$METRICS"
check "pki_pin now signs with the issuer under the other root" \
  test "$(vault_admin "$V" subca '{"mount":"pki_pin","issuer_of":"pki_other"}')" = 204
pin_ok() { metric 'ember_subca_renewals_total{issuer="ClusterIssuer/subca-pin",result="ok"}'; }
sleep 1.5 # a renewal in flight at the swap is published by the 1 s re-check
pin_before=$(pin_ok)
for _ in $(seq 1 40); do grep -q "issuer's root changed" "$LOG" && break; sleep 0.5; done
check "the renewal under the other root is refused, saying the Vault issuer's root changed" \
  grep -q "the Vault issuer's root changed since the first sub-CA (its root is pinned); set spec.vault.subCA.caBundleSecretRef to the new root, or restart Ember" "$LOG"
sleep 1.5 # the 1 s re-check publishes the counters
check "... no sub-CA taken under the other root ($pin_before ok before, $(pin_ok) after)" \
  test "$(pin_ok)" = "$pin_before"
pin_freed() { grep 'subca-pin' "$LOG" | grep -q 'expired without a renewal: its key is freed'; }
for _ in $(seq 1 50); do pin_freed && break; sleep 0.5; done
check "... its last sub-CA, expired, is freed, saying so" pin_freed
check "... ember_subca_ready 0" wait_metric 'ember_subca_ready{issuer="ClusterIssuer/subca-pin"}' 0

# Refusals that keep the issuer not Ready with a clear message.
req zero subca-zero z.example.com
post /v1/certificaterequests "$WORK/zero.json"
check "a pathLen 0 Vault issuer: not issued (HTTP $CODE)" test "$CODE" = 503
check "... sub-CA pending: the Vault issuer cannot sign intermediates (pathLen 0)" \
  has_message "sub-CA pending: the Vault issuer cannot sign intermediates (pathLen 0)" "$BODY"
check "... and the issuer is not Ready" test "$(ready subca-zero)" = 0
req denied subca-denied d.example.com
post /v1/certificaterequests "$WORK/denied.json"
check "a token without the policy: not issued, saying the policy needs update on the path" \
  has_message 'needs the "update" capability on pki_int/root/sign-intermediate' "$BODY"
check "the non-CA answer was refused" grep -q 'is not a CA' "$LOG"

# Renewal: sign every 0.3 s until the sub-CA changes (duration 20s, renewBefore 10s: ~10 s).
check "the short-lived sub-CA issuer is Ready" \
  env WAIT_S=15 bash -c '. test/integration/lib.sh; METRICS=$1; wait_metric "ember_issuer_ready{issuer=\"ClusterIssuer/subca-short\"}" 1' _ "$METRICS"
issue s0 subca-short s0.example.com
first=$(serial "$WORK/s0.sub.pem")
last=s0 new=""
for i in $(seq 1 80); do
  issue "s$i" subca-short "s$i.example.com" || break
  if [ "$(serial "$WORK/s$i.sub.pem")" != "$first" ]; then new=s$i; break; fi
  last=s$i
  sleep 0.3
done
check "a renewed sub-CA (new serial) within 25 s" test -n "$new"
check "... new leaves carry a new AKI" test "$(aki "$WORK/$new.leaf.pem")" != "$(aki "$WORK/$last.leaf.pem")"
check "... the last leaf of the old sub-CA still verifies against the root" \
  verify_strict "$WORK/ca/root.crt" "$WORK/$last.chain.pem" "$WORK/$last.leaf.pem"
check "... as do the new ones" verify_strict "$WORK/ca/root.crt" "$WORK/$new.chain.pem" "$WORK/$new.leaf.pem"
# Renewal starts at least maxLeafDuration before the old sub-CA's end, so its last leaf (asked
# for 720h) still lives exactly maxLeafDuration.
last_life=$(($(not_after "$WORK/$last.leaf.pem") - $(date -d "$(openssl x509 -in "$WORK/$last.leaf.pem" -noout -startdate | cut -d= -f2)" +%s)))
check "... the old sub-CA's last leaf lives exactly maxLeafDuration (5s): ${last_life}s" \
  test "$last_life" = 5

# Sealed during the next renewal: signing goes on with the current sub-CA, renewal resumes.
second=$(serial "$WORK/$new.sub.pem")
errs() { metric 'ember_subca_renewals_total{issuer="ClusterIssuer/subca-short",result="error"}'; }
errs_before=$(errs)
check "seal the fake" test "$(vault_admin "$V" seal)" = 204
sealed_ok=1
for i in $(seq 1 60); do
  issue "sealed$i" subca-short "x$i.example.com" || { sealed_ok=0; break; }
  [ "$(serial "$WORK/sealed$i.sub.pem")" = "$second" ] || { sealed_ok=0; break; }
  [ "$(errs)" -gt "${errs_before:-0}" ] && break
  sleep 0.3
done
check "while sealed, leaves are signed with the current sub-CA (up to its failed renewal)" test "$sealed_ok" = 1
check "... the failed renewal is counted" test "$(errs)" -gt "${errs_before:-0}"
check "... and logged as Vault sealed" grep -q 'Vault is sealed' "$LOG"
check "still sealed: the issuer turns not Ready once its sub-CA has less than maxLeafDuration left" \
  env WAIT_S=15 bash -c '. test/integration/lib.sh; METRICS=$1; wait_metric "ember_issuer_ready{issuer=\"ClusterIssuer/subca-short\"}" 0' _ "$METRICS"
req late subca-short late.example.com
post /v1/certificaterequests "$WORK/late.json"
check "... saying why (HTTP $CODE)" has_message "less than maxLeafDuration, and its renewal fails" "$BODY"
check "unseal the fake" test "$(vault_admin "$V" unseal)" = 204
third=""
for i in $(seq 1 60); do
  issue "un$i" subca-short "u$i.example.com" || { sleep 0.3; continue; }
  s=$(serial "$WORK/un$i.sub.pem")
  [ "$s" != "$second" ] && { third=$s; break; }
  sleep 0.3
done
check "after unsealing, renewal resumes: a third sub-CA" test -n "$third"

check "Vault's bad answers were refused, then a good one taken: subca-bad Ready" \
  env WAIT_S=30 bash -c '. test/integration/lib.sh; METRICS=$1; wait_metric "ember_issuer_ready{issuer=\"ClusterIssuer/subca-bad\"}" 1' _ "$METRICS"
check "... the answer for another key was refused" grep -q 'not for the key Ember sent' "$LOG"

# Replica a stops: every Vault request from now on is replica b's.
revokes=$(vault_stats "$V" 'd["requests"].get("POST /v1/auth/token/revoke-self", 0)')
kill -TERM "$EMBER_PID"; wait "$EMBER_PID"
check "Ember stops cleanly (exit 0)" test $? = 0
check "revoke-self on shutdown" test "$(vault_stats "$V" 'd["requests"].get("POST /v1/auth/token/revoke-self", 0)')" -gt "$revokes"
check "no private key in Ember's logs" absent -F "PRIVATE KEY" "$WORK/a.log"
check "no secret_id in Ember's log" absent -F "sid-" "$WORK/a.log"

# A second replica, with memlock 0 and no CAP_IPC_LOCK: its own sub-CA under the same root; a
# requireLockedMemory issuer is not Ready there.
{
  issuer subca rid-ember sid-ember "$LONG"
  issuer subca-locked rid-ember sid-ember '{path: pki_int/root/sign-intermediate, duration: 1h, maxLeafDuration: 10m, requireLockedMemory: true}'
} >"$WORK/issuers-b.yaml"
cat >"$WORK/locked.sh" <<SH
#!/bin/sh
if [ "\$(id -u)" = 0 ]; then
  exec prlimit --memlock=0:0 setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock "$EMBER_BIN" "\$@"
fi
exec prlimit --memlock=0:0 "$EMBER_BIN" "\$@"
SH
chmod +x "$WORK/locked.sh"
if command -v prlimit >/dev/null && command -v setpriv >/dev/null; then
  EMBER_BIN="$WORK/locked.sh" HOSTNAME=ember-b start_ember b --manifests test/integration/manifests/policies.yaml \
    --manifests "$WORK/issuers-b.yaml" --issuer-recheck-period 1s || exit 1
  check "replica b: Ready with its own sub-CA" \
    env WAIT_S=15 bash -c '. test/integration/lib.sh; METRICS=$1; wait_metric "ember_issuer_ready{issuer=\"ClusterIssuer/subca\"}" 1' _ "$METRICS"
  all() { vault_stats "$V" 'sum(v for k, v in d["requests"].items() if "sys/health" not in k)'; }
  before=$(all)
  check "replica b issues" issue b subca b.example.com
  for i in 1 2 3 4 5; do issue "b$i" subca "b$i.example.com" || break; done
  check "... 6 certificates, while replica a is stopped, with no Vault request at all" test "$(all)" = "$before"
  check "... its sub-CA's subject differs from replica a's" \
    test "$(openssl x509 -in "$WORK/b.sub.pem" -noout -subject)" != "$(openssl x509 -in "$WORK/leaf.sub.pem" -noout -subject)"
  check "... ember-b in its CN" grep -q 'ember-b-1' <(openssl x509 -in "$WORK/b.sub.pem" -noout -subject)
  check "... so does its serial" test "$(serial "$WORK/b.sub.pem")" != "$(serial "$WORK/leaf.sub.pem")"
  check "... both replicas' leaves verify against the one root" \
    bash -c 'verify_strict() { openssl verify -x509_strict -CAfile "$1" -untrusted "$2" "$3" >/dev/null; }; verify_strict "$0" "$1" "$2" && verify_strict "$0" "$3" "$4"' \
    "$WORK/ca/root.crt" "$WORK/b.chain.pem" "$WORK/b.leaf.pem" "$WORK/leaf.chain.pem" "$WORK/leaf.leaf.pem"
  check "replica b: the secure heap is not locked (gauge 0)" test "$(metric ember_secure_heap_locked)" = 0
  check "... and its log says so" grep -q 'NOT locked in memory' "$LOG"
  req locked subca-locked l.example.com
  post /v1/certificaterequests "$WORK/locked.json"
  check "requireLockedMemory without locked memory: not issued (HTTP $CODE)" test "$CODE" = 503
  check "... the issuer is not Ready, saying how to fix it" \
    has_message "raise RLIMIT_MEMLOCK" "$BODY"
  check "... not Ready in the metrics" test "$(ready subca-locked)" = 0
  kill -TERM "$EMBER_PID"; wait "$EMBER_PID"
  check "replica b stops cleanly" test $? = 0
else
  skip "prlimit or setpriv missing: no second replica with memlock 0"
fi

# A small secure heap (16 KiB: about 13 RSA-2048 keys, fewer while several are being made at once)
# and 15 RSA-2048 sub-CAs: the keys that do not fit leave their issuers pending, saying the heap is full and which flag raises it.
{
  for i in $(seq 1 15); do
    issuer "subca-rsa$i" rid-ember sid-ember '{path: pki_int/root/sign-intermediate, duration: 1h, maxLeafDuration: 10m, keyAlgorithm: RSA2048}'
  done
} >"$WORK/issuers-c.yaml"
HOSTNAME=ember-c start_ember c --manifests test/integration/manifests/policies.yaml \
  --manifests "$WORK/issuers-c.yaml" --issuer-recheck-period 1s --secure-heap-bytes 16384 || exit 1
for _ in $(seq 1 60); do grep -q 'is full: raise --secure-heap-bytes' "$LOG" && break; sleep 0.5; done
check "a full secure heap: key generation fails saying so and naming --secure-heap-bytes" \
  grep -q 'the secure heap (16384 bytes, [0-9]* in use) is full: raise --secure-heap-bytes' "$LOG"
ready_rsa() { curl -s "$METRICS/metrics" | awk '$1 ~ /^ember_subca_ready\{issuer="ClusterIssuer\/subca-rsa/ {n += $2} END {print n + 0}'; }
sleep 2
check "... the issuers whose keys fit are Ready, not all 15 ($(ready_rsa))" \
  bash -c 'n=$1; [ "$n" -ge 1 ] && [ "$n" -lt 15 ]' _ "$(ready_rsa)"
kill -TERM "$EMBER_PID"; wait "$EMBER_PID"
check "replica c stops cleanly" test $? = 0
