/* vaultauth.h -- how the Vault signer proves who it is to Vault: spec.vault.auth with
 * cert-manager's methods and field names (tokenSecretRef, appRole, clientCertificate,
 * kubernetes; aws refused: out of scope) and the mTLS identity of every request
 * (clientCertSecretRef, clientKeySecretRef). Parsing is pure; loading reads the Secrets (and
 * service account tokens) through the signer_env the layer above injects. */
#ifndef EMBER_VAULTAUTH_H
#define EMBER_VAULTAUTH_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "base/err.h"
#include "signers/signer.h"
#include "signers/vault.h"

/* kubernetes.serviceAccountRef.audiences entries: get_token takes at most
 * SIGNER_TOKEN_MAX_AUDIENCES and Ember adds two, vault://... and spec.vault.server. */
#define VAULTAUTH_MAX_AUDIENCES (SIGNER_TOKEN_MAX_AUDIENCES - 2)
#define VAULTAUTH_MAX_AUDIENCE 1024 /* bytes of one audience */
#define VAULTAUTH_TOKEN_EXPIRATION                                                                 \
    600 /* seconds a requested service account token lives, the                                    \
         * TokenRequest API's minimum, as cert-manager asks */

/* A Secret and one of its keys (cert-manager's SecretKeySelector). */
struct vaultauth_ref {
    char *name, *key; /* key: the method's default when the spec leaves it out */
};

/* spec.vault.auth and the mTLS references, as parsed. */
struct vaultauth_spec {
    enum vault_auth method;
    struct vaultauth_ref secret; /* tokenSecretRef, appRole.secretRef or kubernetes.secretRef */
    char *approle_path;          /* appRole.path ("approle" when empty) */
    char *role;        /* appRole.roleId, kubernetes.role or clientCertificate.name ("" allowed) */
    char *mount;       /* clientCertificate / kubernetes mountPath as an API path after /v1/ */
    char *cert_secret; /* clientCertificate.secretName (a kubernetes.io/tls Secret) or NULL */
    char *sa_name;     /* kubernetes.serviceAccountRef.name or NULL */
    char **audiences;  /* kubernetes.serviceAccountRef.audiences */
    size_t n_audiences;
    struct vaultauth_ref client_cert, client_key; /* spec.vault.clientCertSecretRef and
                                                   * clientKeySecretRef; name NULL when unset */
};

/* Reads spec.vault's clientCertSecretRef, clientKeySecretRef and auth into a (cleared first;
 * vaultauth_spec_clear it, also after an error). Members are checked with base/jsonfield
 * (unknown, repeated, wrong type); then cert-manager's rules in its words: exactly one method
 * ("Vault tokenSecretRef, appRole, clientCertificate, or kubernetes is required", "Multiple auth
 * methods cannot be set on the same Vault issuer"), "Vault Token auth requires
 * tokenSecretRef.name", the AppRole rules, "Vault Kubernetes auth requires a role to be set",
 * "... requires either secretRef.name or serviceAccountRef.name to be set", "... cannot be used
 * with both ..."; aws is refused as out of scope; a mountPath must start with "/v1/" as
 * cert-manager's does (it posts to <mountPath>/login); clientCertificate needs secretName or
 * the mTLS references; the mTLS references go together. Defaults: keys "token"
 * (tokenSecretRef, kubernetes.secretRef), "tls.crt" / "tls.key" (the mTLS references); mount
 * paths "/v1/auth/cert", "/v1/auth/kubernetes". ERR_INVALID. */
int vaultauth_parse(const cJSON *vault, struct vaultauth_spec *a, struct err *err) WUR;
void vaultauth_spec_clear(struct vaultauth_spec *a);

/* What a loaded signer keeps for its logins: a copy of env and the names to read again. */
struct vaultauth;

/* Loads a for the issuer where says, for the Vault at server (a token audience): reads the mTLS
 * identity now (both PEMs must parse and the key match the certificate), and sets cfg's auth
 * fields (method, mount, role, the secret and identity callbacks, secret_name for messages,
 * the mTLS PEMs), which point into *out: it must outlive the vault client made from cfg.
 * Errors name the Secret or field: the getter's kind, or ERR_ISSUER_NOT_READY for a Secret's
 * content; ERR_PERMANENT for serviceAccountRef where env has no token source (standalone). */
int vaultauth_load(const struct vaultauth_spec *a, const struct signer_env *env,
                   const struct signer_where *where, const char *server, struct vault_config *cfg,
                   struct vaultauth **out, struct err *err) WUR;

/* Wipes the mTLS identity read by vaultauth_load once vault_new has copied it (cfg's PEM
 * pointers are then dangling). */
void vaultauth_drop_identity(struct vaultauth *l);

/* Frees l (wiping what it holds); NULL is a no-op. */
void vaultauth_free(struct vaultauth *l);

#endif
