#!/usr/bin/env bash
# vault-setup.sh -- the Vault side of examples/vault-kubernetes-auth with the Vault CLI: a root
# PKI (mount pki) and an intermediate PKI (mount pki_int) signed by it, a PKI role "mesh", a
# Vault policy that may only sign with that role, and Vault's Kubernetes auth method configured
# against your cluster's API server, with two roles: "ember" (the service account ember-vault,
# audience vault://vault-k8s: issuer.yaml's vault-k8s, serviceAccountRef) and "ember-secret"
# (the same account, no audience: vault-k8s-secret, a service-account-token Secret).
# Then it writes what Ember needs as manifests.
#
# Usage: VAULT_ADDR=... VAULT_TOKEN=... vault-setup.sh OUTDIR
#   Apply rbac.yaml first (the service accounts ember-vault and vault-auth). Run it once, against
#   a Vault without the mounts pki and pki_int and without auth/kubernetes; it stops at the first
#   command Vault refuses. VAULT_TOKEN needs rights to mount engines, write policies and enable
#   auth methods. kubectl must reach the cluster (its current context).
#   VAULT_CACERT (optional): the CA that signed Vault's TLS certificate; it becomes the Secret
#   vault-ca that issuer.yaml trusts (without it, write that Secret yourself).
#   EMBER_VAULT_SERVER (optional): Vault's address as Ember reaches it (default: the server in
#   issuer.yaml, https://vault.vault.svc:8200).
#   NAMESPACE (optional): Ember's --cluster-resource-namespace, where ember-vault, vault-auth
#   and the ClusterIssuers' Secrets live (default: ember-issuer, as rbac.yaml).
#   KUBERNETES_HOST, KUBERNETES_CA_CERT (optional): the API server's URL as Vault reaches it and
#   a file with the CA of its certificate (default: those of kubectl's current context).
#   TOKEN_REVIEWER_JWT_FILE (optional): a file holding the token Vault sends TokenReviews with
#   (default: a one-year token of the service account vault-auth, from kubectl create token);
#   "none" when Vault runs in the cluster and reviews with its own pod's token.
#
# Writes into OUTDIR: root.crt (the root CA: the trust anchor for your clients),
# intermediate.crt, and issuer.yaml (this folder's issuer.yaml with the server and namespace,
# plus, with VAULT_CACERT, the Secret vault-ca). No token is written anywhere.
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
command -v kubectl >/dev/null || fail "kubectl is not on PATH (the API server's address and CA, the reviewer token)"
[ -e "$out/issuer.yaml" ] && fail "$out/issuer.yaml exists; choose another OUTDIR"
mkdir -p "$out" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
umask 077

# 0. What Vault needs to ask the API server: its URL, the CA of its certificate and (unless Vault
#    runs in the cluster) a token allowed to create TokenReviews.
host=${KUBERNETES_HOST:-$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')}
[ -n "$host" ] || fail "cannot tell the API server's URL from kubectl's context; set KUBERNETES_HOST"
if [ -n "${KUBERNETES_CA_CERT:-}" ]; then
  cp "$KUBERNETES_CA_CERT" "$tmp/k8s-ca.crt" || fail "cannot read KUBERNETES_CA_CERT=$KUBERNETES_CA_CERT"
else
  kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' |
    base64 -d >"$tmp/k8s-ca.crt" 2>/dev/null
  if [ ! -s "$tmp/k8s-ca.crt" ]; then
    f=$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')
    [ -n "$f" ] && cp "$f" "$tmp/k8s-ca.crt"
  fi
fi
grep -q 'BEGIN CERTIFICATE' "$tmp/k8s-ca.crt" 2>/dev/null ||
  fail "no CA certificate for the API server in kubectl's context; set KUBERNETES_CA_CERT"
reviewer=()
case ${TOKEN_REVIEWER_JWT_FILE:-} in
  none) ;;
  "")
    kubectl -n "$ns" create token vault-auth --duration=8760h >"$tmp/reviewer.jwt" ||
      fail "cannot create a token of $ns/vault-auth (kubectl apply -f rbac.yaml first)"
    reviewer=(token_reviewer_jwt=@"$tmp/reviewer.jwt") ;;
  *) reviewer=(token_reviewer_jwt=@"$TOKEN_REVIEWER_JWT_FILE") ;;
esac
set -e

# 1. The root CA, in the mount pki (10 years). Its key never leaves Vault (generate/internal).
vault secrets enable pki
vault secrets tune -max-lease-ttl=87600h pki
vault write -field=certificate pki/root/generate/internal \
  common_name="Ember Example Root CA" issuer_name=root ttl=87600h \
  key_type=rsa key_bits=4096 max_path_length=1 >"$out/root.crt"

# 2. The intermediate CA, in the mount pki_int (5 years), signed by the root.
vault secrets enable -path=pki_int pki
vault secrets tune -max-lease-ttl=43800h pki_int
vault write -field=csr pki_int/intermediate/generate/internal \
  common_name="Ember Example Intermediate CA" key_type=rsa key_bits=4096 >"$tmp/intermediate.csr"
vault write -field=certificate pki/root/sign-intermediate issuer_ref=root \
  csr=@"$tmp/intermediate.csr" format=pem_bundle ttl=43800h max_path_length=0 >"$out/intermediate.crt"
vault write pki_int/intermediate/set-signed certificate=@"$out/intermediate.crt"

# 3. The PKI role Ember signs with (POST /v1/pki_int/sign/mesh): names under .svc and SPIFFE
#    URIs of cluster.local, no CN required, 24 hours at most.
vault write pki_int/roles/mesh \
  allowed_domains=svc allow_subdomains=true allow_bare_domains=false \
  allowed_uri_sans="spiffe://cluster.local/*" require_cn=false \
  key_type=any max_ttl=24h ttl=1h

# 4. A Vault policy that may only sign with that role.
vault policy write pki-mesh - <<'HCL'
path "pki_int/sign/mesh" {
  capabilities = ["update"]
}
HCL

# 5. Kubernetes auth. Vault checks each token Ember sends by POSTing a TokenReview to the API
#    server (kubernetes_host, trusting kubernetes_ca_cert), authenticated with the reviewer
#    token; disable_local_ca_jwt=true when Vault runs outside the cluster (there is no pod token
#    to fall back on). The roles bind the service account ember-vault of namespace $ns.
vault auth enable kubernetes
if [ ${#reviewer[@]} -gt 0 ]; then
  vault write auth/kubernetes/config kubernetes_host="$host" \
    kubernetes_ca_cert=@"$tmp/k8s-ca.crt" "${reviewer[@]}" disable_local_ca_jwt=true
else
  vault write auth/kubernetes/config kubernetes_host="$host" kubernetes_ca_cert=@"$tmp/k8s-ca.crt"
fi
# serviceAccountRef: Ember's TokenRequest tokens carry the audience vault://<issuer> (a
# ClusterIssuer) or vault://<namespace>/<issuer> (an Issuer); the role accepts only that one, so
# a token minted for another issuer, or for the API server, does not log in here.
vault write auth/kubernetes/role/ember \
  bound_service_account_names=ember-vault bound_service_account_namespaces="$ns" \
  audience=vault://vault-k8s token_policies=pki-mesh token_ttl=1h token_max_ttl=24h
# secretRef: a service-account-token Secret's token has no audience.
vault write auth/kubernetes/role/ember-secret \
  bound_service_account_names=ember-vault bound_service_account_namespaces="$ns" \
  token_policies=pki-mesh token_ttl=1h token_max_ttl=24h
set +e

# 6. The manifests: issuer.yaml with the server and namespace, and Vault's CA.
server=${EMBER_VAULT_SERVER:-}
{
  sed -e "s|namespace: ember-issuer$|namespace: $ns|" \
    ${server:+-e "s|server: https://vault.vault.svc:8200|server: $server|"} "$here/issuer.yaml"
  if [ -n "${VAULT_CACERT:-}" ]; then
    echo "---"
    echo "# The CA that signed Vault's TLS certificate (caBundleSecretRef in the ClusterIssuers)."
    echo "apiVersion: v1"
    echo "kind: Secret"
    echo "metadata:"
    echo "  name: vault-ca"
    echo "  namespace: $ns"
    echo "data:"
    echo "  ca.crt: $(base64 -w0 "$VAULT_CACERT")"
  fi
} >"$out/issuer.yaml" || fail "cannot write $out/issuer.yaml"
echo "vault-setup.sh: wrote $out/issuer.yaml (ClusterIssuers vault-k8s and vault-k8s-secret, Secrets in $ns); root CA: $out/root.crt"
[ -n "${VAULT_CACERT:-}" ] || echo "vault-setup.sh: no VAULT_CACERT: create the Secret $ns/vault-ca (key ca.crt) yourself" >&2
exit 0
