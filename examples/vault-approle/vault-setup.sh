#!/usr/bin/env bash
# vault-setup.sh -- the Vault side of examples/vault-approle with the Vault CLI: a root PKI
# (mount pki) and an intermediate PKI (mount pki_int) signed by it, a PKI role "mesh", a Vault
# policy that may only sign with that role, and an AppRole "mesh" holding that policy (the
# steps of the OpenShift Service Mesh + Vault write-up Ember started from, with Ember's names).
# Then it writes what Ember needs as manifests.
#
# Usage: VAULT_ADDR=... VAULT_TOKEN=... vault-setup.sh OUTDIR
#   Run it once, against a Vault without the mounts pki and pki_int (`vault server -dev` is
#   enough to try it); it stops at the first command Vault refuses.
#   VAULT_TOKEN needs rights to mount engines, write policies and enable auth methods.
#   VAULT_CACERT (optional): the CA that signed Vault's TLS certificate; it becomes the Secret
#   vault-ca that issuer.yaml trusts (without it, write that Secret yourself).
#   EMBER_VAULT_SERVER (optional): Vault's address as Ember reaches it (default: the server in
#   issuer.yaml, https://vault.vault.svc:8200).
#   NAMESPACE (optional): Ember's --cluster-resource-namespace, where the ClusterIssuer's
#   Secrets live (default: cert-manager).
#
# Writes into OUTDIR: root.crt (the root CA: trust anchor, e.g. istio-csr's rootCAFile),
# intermediate.crt, and issuer.yaml (the ClusterIssuer of issuer.yaml with the AppRole role_id,
# plus the Secret vault-approle holding the secret_id and, with VAULT_CACERT, the Secret vault-ca).
set -u

if [ $# -ne 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  echo "usage: VAULT_ADDR=... VAULT_TOKEN=... $0 OUTDIR" >&2
  exit 2
fi
out=$1
ns=${NAMESPACE:-cert-manager}
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "vault-setup.sh: $*" >&2; exit 1; }
[ -n "${VAULT_ADDR:-}" ] || fail "set VAULT_ADDR (and VAULT_TOKEN)"
command -v vault >/dev/null || fail "the vault CLI is not on PATH"
[ -e "$out/issuer.yaml" ] && fail "$out/issuer.yaml exists; choose another OUTDIR"
mkdir -p "$out" || exit 1
set -e

# 1. The root CA, in the mount pki (10 years). Its key never leaves Vault (generate/internal).
vault secrets enable pki
vault secrets tune -max-lease-ttl=87600h pki
vault write -field=certificate pki/root/generate/internal \
  common_name="Ember Example Root CA" issuer_name=root ttl=87600h \
  key_type=rsa key_bits=4096 max_path_length=1 >"$out/root.crt"

# 2. The intermediate CA, in the mount pki_int (5 years): Vault makes its key and CSR, the root
#    signs it, and the signed certificate goes back into pki_int.
vault secrets enable -path=pki_int pki
vault secrets tune -max-lease-ttl=43800h pki_int
vault write -field=csr pki_int/intermediate/generate/internal \
  common_name="Ember Example Intermediate CA" key_type=rsa key_bits=4096 >"$out/intermediate.csr"
vault write -field=certificate pki/root/sign-intermediate issuer_ref=root \
  csr=@"$out/intermediate.csr" format=pem_bundle ttl=43800h max_path_length=0 >"$out/intermediate.crt"
vault write pki_int/intermediate/set-signed certificate=@"$out/intermediate.crt"

# 3. The PKI role Ember signs with (POST /v1/pki_int/sign/mesh): names under .svc and SPIFFE
#    URIs of the trust domain cluster.local, no CN required (istio-csr's requests have none),
#    24 hours at most. Ember's IssuancePolicy is checked first; this role is the second gate.
vault write pki_int/roles/mesh \
  allowed_domains=svc allow_subdomains=true allow_bare_domains=false \
  allowed_uri_sans="spiffe://cluster.local/*" require_cn=false \
  key_type=any max_ttl=24h ttl=1h

# 4. A Vault policy that may only sign with that role, and the AppRole that holds it. Ember
#    caches and renews the AppRole token, so a short token_ttl costs no extra logins per
#    certificate.
vault policy write pki-mesh - <<'HCL'
path "pki_int/sign/mesh" {
  capabilities = ["update"]
}
HCL
vault auth enable approle
vault write auth/approle/role/mesh token_policies=pki-mesh token_ttl=1h token_max_ttl=24h \
  secret_id_ttl=0
role_id=$(vault read -field=role_id auth/approle/role/mesh/role-id)
secret_id=$(vault write -f -field=secret_id auth/approle/role/mesh/secret-id)
set +e
[ -n "$role_id" ] && [ -n "$secret_id" ] || fail "Vault returned no role_id or secret_id"

# 5. The manifests: issuer.yaml with this role_id (and server, namespace), the secret_id.
umask 077
server=${EMBER_VAULT_SERVER:-}
fill_issuer() {
  # issuer.yaml with its placeholders replaced.
  sed -e "s|roleId: 00000000-0000-0000-0000-000000000000|roleId: $role_id|" \
    -e "s|secretId: REPLACE-WITH-THE-SECRET-ID|secretId: $secret_id|" \
    -e "s|namespace: cert-manager$|namespace: $ns|" \
    ${server:+-e "s|server: https://vault.vault.svc:8200|server: $server|"} "$here/issuer.yaml"
}
{
  fill_issuer
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
echo "vault-setup.sh: wrote $out/issuer.yaml (ClusterIssuer vault, Secrets in $ns); root CA: $out/root.crt"
[ -n "${VAULT_CACERT:-}" ] || echo "vault-setup.sh: no VAULT_CACERT: create the Secret $ns/vault-ca (key ca.crt) yourself" >&2
exit 0
