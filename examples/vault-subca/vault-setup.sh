#!/usr/bin/env bash
# vault-setup.sh -- the Vault side of examples/vault-subca with the Vault CLI: a root PKI (mount
# pki, path length 2) and an intermediate PKI (mount pki_int, path length 1) signed by it, so
# that the intermediate may sign Ember's sub-CA (path length 0); a Vault policy that may only
# call pki_int/root/sign-intermediate, with the request's parameters pinned; auto-tidy of the
# sub-CA certificates Vault keeps; and an AppRole "ember-subca" holding that policy.
# Then it writes what Ember needs as manifests.
#
# Usage: VAULT_ADDR=... VAULT_TOKEN=... vault-setup.sh OUTDIR
#   Run it once, against a Vault without the mounts pki and pki_int and without the auth mount
#   approle (`vault server -dev` is enough to try it); it stops at the first command Vault
#   refuses. VAULT_TOKEN needs rights to mount engines, write policies and enable auth methods.
#   VAULT_CACERT (optional): the CA that signed Vault's TLS certificate; it becomes the Secret
#   vault-ca that issuer.yaml trusts (without it, write that Secret yourself).
#   EMBER_VAULT_SERVER (optional): Vault's address as Ember reaches it (default: the server in
#   issuer.yaml, https://vault.vault.svc:8200).
#   NAMESPACE (optional): Ember's --cluster-resource-namespace, where the ClusterIssuer's
#   Secrets live (default: ember-issuer).
#
# Writes into OUTDIR: root.crt (the root CA: the trust anchor; Ember puts it in every
# certificate's ca.crt), intermediate.crt, and issuer.yaml (the ClusterIssuer with the AppRole
# role_id, plus the Secret vault-subca-approle holding the secret_id and, with VAULT_CACERT, the
# Secret vault-ca).
set -u

if [ $# -ne 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  echo "usage: VAULT_ADDR=... VAULT_TOKEN=... $0 OUTDIR" >&2
  exit 2
fi
out=$1
ns=${NAMESPACE:-ember-issuer}
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "vault-setup.sh: $*" >&2; exit 1; }
[ -n "${VAULT_ADDR:-}" ] || fail "set VAULT_ADDR (and VAULT_TOKEN)"
command -v vault >/dev/null || fail "the vault CLI is not on PATH"
[ -e "$out/issuer.yaml" ] && fail "$out/issuer.yaml exists; choose another OUTDIR"
mkdir -p "$out" || exit 1
set -e

# 1. The root CA, in the mount pki (10 years), path length 2: below it the Vault intermediate
#    and Ember's sub-CA.
vault secrets enable pki
vault secrets tune -max-lease-ttl=87600h pki
vault write -field=certificate pki/root/generate/internal \
  common_name="Ember Example Root CA" issuer_name=root ttl=87600h \
  key_type=rsa key_bits=4096 max_path_length=2 >"$out/root.crt"

# 2. The intermediate CA, in the mount pki_int (5 years), path length 1: it may sign one more CA
#    level (Ember's sub-CA), which may sign only leaves. With max_path_length=0 here Vault would
#    refuse every sub-CA ("signing certificate has a max path length of zero").
#    The mount's max lease TTL (43800h) caps the sub-CA's ttl: keep it above subCA.duration.
vault secrets enable -path=pki_int pki
vault secrets tune -max-lease-ttl=43800h pki_int
vault write -field=csr pki_int/intermediate/generate/internal \
  common_name="Ember Example Intermediate CA" key_type=rsa key_bits=4096 >"$out/intermediate.csr"
vault write -field=certificate pki/root/sign-intermediate issuer_ref=root \
  csr=@"$out/intermediate.csr" format=pem_bundle ttl=43800h max_path_length=1 >"$out/intermediate.crt"
vault write pki_int/intermediate/set-signed certificate=@"$out/intermediate.crt"

# 3. Every sub-CA Ember gets is stored in pki_int (sign-intermediate has no no_store); tidy
#    removes them a while after they expire.
vault write pki_int/config/auto-tidy enabled=true tidy_cert_store=true tidy_revoked_certs=true \
  safety_buffer=72h interval_duration=12h

# 4. The policy: sign-intermediate on pki_int and nothing else, with what a stolen token could
#    ask pinned: path length 0, no SANs on the CA (exclude_cn_from_sans, use_csr_values false),
#    the CN prefix, the TTL (subCA.duration, as Ember sends it), the subject and the name
#    constraints of issuer.yaml. Any parameter not listed is refused. Vault matches each value
#    of a list (or comma-separated string) against the allowed values. Ember sends every value
#    as a string, ttl as subCA.duration is written (168h); the other two forms are the same
#    week written as Vault would accept it.
vault policy write ember-subca - <<'HCL'
path "pki_int/root/sign-intermediate" {
  capabilities        = ["update"]
  required_parameters = ["csr", "common_name", "ttl", "max_path_length", "exclude_cn_from_sans"]
  allowed_parameters  = {
    "csr"                   = []
    "common_name"           = ["Ember sub-CA*"]
    "ttl"                   = ["168h", "604800s", "604800"]
    "max_path_length"       = ["0"]
    "exclude_cn_from_sans"  = ["true"]
    "use_csr_values"        = ["false"]
    "format"                = ["pem"]
    "organization"          = ["Example Org"]
    "ou"                    = ["Mesh"]
    "permitted_dns_domains" = ["svc"]
  }
}
HCL
# 5. An AppRole holding that policy (any auth method works; see examples/vault-approle/ and
#    examples/vault-kubernetes-auth/).
vault auth enable approle
vault write auth/approle/role/ember-subca token_policies=ember-subca token_ttl=1h token_max_ttl=24h \
  secret_id_ttl=0
role_id=$(vault read -field=role_id auth/approle/role/ember-subca/role-id)
secret_id=$(vault write -f -field=secret_id auth/approle/role/ember-subca/secret-id)
set +e
[ -n "$role_id" ] && [ -n "$secret_id" ] || fail "Vault returned no role_id or secret_id"

# 6. The manifests: issuer.yaml with this role_id (and server, namespace), the secret_id.
umask 077
server=${EMBER_VAULT_SERVER:-}
{
  sed -e "s|roleId: 00000000-0000-0000-0000-000000000000|roleId: $role_id|" \
    -e "s|secretId: REPLACE-WITH-THE-SECRET-ID|secretId: $secret_id|" \
    -e "s|namespace: ember-issuer$|namespace: $ns|" \
    ${server:+-e "s|server: https://vault.vault.svc:8200|server: $server|"} "$here/issuer.yaml"
  if [ -n "${VAULT_CACERT:-}" ]; then
    echo "---"
    echo "# The CA that signed Vault's TLS certificate (caBundleSecretRef in the ClusterIssuer)."
    echo "apiVersion: v1"
    echo "kind: Secret"
    echo "metadata:"
    echo "  name: vault-ca"
    echo "  namespace: $ns"
    echo "data:"
    echo "  ca.crt: $(base64 -w0 "$VAULT_CACERT")"
  fi
} >"$out/issuer.yaml" || fail "cannot write $out/issuer.yaml"
rm -f "$out/intermediate.csr"
echo "vault-setup.sh: wrote $out/issuer.yaml (ClusterIssuer vault-subca, Secrets in $ns); root CA: $out/root.crt"
[ -n "${VAULT_CACERT:-}" ] || echo "vault-setup.sh: no VAULT_CACERT: create the Secret $ns/vault-ca (key ca.crt) yourself" >&2
exit 0
