/* vault.h -- the HashiCorp Vault signer: a cached token (AppRole, TLS certificate or Kubernetes
 * login, or a static token), PKI sign, health.
 * Does network I/O (base/httpc); thread-safe: one vault object serves every signing thread. */
#ifndef EMBER_VAULT_H
#define EMBER_VAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/err.h"
#include "signers/signer.h"
#include "x509/csr.h"

#define VAULT_MAX_RESPONSE (1024 * 1024) /* any Vault response body */
#define VAULT_CONNECT_TIMEOUT_MS 5000
#define VAULT_TOTAL_TIMEOUT_MS 30000
#define VAULT_MAX_REDIRECTS 3

/* How the client gets its token (spec.vault.auth, cert-manager's methods). */
enum vault_auth {
    VAULT_AUTH_APPROLE,    /* POST /v1/auth/<approle_path>/login {role_id, secret_id} */
    VAULT_AUTH_TOKEN,      /* a static token: never logs in, never revoked; read again after 403 */
    VAULT_AUTH_CERT,       /* POST /v1/<mount_path>/login {name} presenting a TLS certificate */
    VAULT_AUTH_KUBERNETES, /* POST /v1/<mount_path>/login {role, jwt} */
};

/* Fetches the method's secret each time a login needs it: the AppRole secret_id, the
 * Kubernetes service account token (JWT), or the static token. The vault module wipes and frees
 * *out right after use. Returns 0, or -1 with err naming the Secret (or service account) and
 * key: ERR_ISSUER_NOT_READY, or ERR_TRANSIENT when it cannot be had now. */
typedef int (*vault_secret_fn)(void *ud, char **out, size_t *len, struct err *err);

/* Fetches the TLS identity of a certificate login (PEM certificate chain and key) each time one
 * is made; the vault module wipes and frees both. Errors as vault_secret_fn. */
typedef int (*vault_identity_fn)(void *ud, char **cert, size_t *cert_len, char **key,
                                 size_t *key_len, struct err *err);

struct vault_config {
    const char *server;        /* "https://vault.example:8200" (http:// only for loopback tests) */
    const char *path;          /* "pki_int/sign/mesh": POST /v1/<path> */
    const char *namespace;     /* X-Vault-Namespace on login and sign, or NULL */
    const char *ca_bundle_pem; /* trust for Vault's TLS certificate, or NULL = system CAs */
    size_t ca_bundle_len;
    const char *server_name; /* spec.vault.serverName: SNI and the name Vault's TLS certificate
                              * is verified against, or NULL = the server URL's host */
    /* spec.vault.clientCertSecretRef / clientKeySecretRef: the client certificate (PEM chain)
     * and key every request to Vault presents (mTLS), or NULL; copied, the key wiped at free */
    const char *client_cert_pem, *client_key_pem;
    size_t client_cert_len, client_key_len;
    enum vault_auth auth;
    const char *approle_path;  /* AppRole: auth mount, default "approle" */
    const char *mount_path;    /* cert, Kubernetes: the mount's API path after /v1/, such as
                                * "auth/kubernetes" */
    const char *role_id;       /* AppRole roleId; Kubernetes role; cert role name (may be "") */
    vault_secret_fn secret_id; /* AppRole, Kubernetes, token (see vault_secret_fn) */
    void *secret_ud;
    /* cert: the identity to log in with; NULL = the mTLS identity above (cert-manager's
     * clientCertificate without secretName) */
    vault_identity_fn identity;
    const char *secret_name; /* for messages when Vault refuses the login or the token: "Secret
                              * ns/name key secretId"; NULL = "the <method> Secret" */
    const char *name;        /* for messages: "ClusterIssuer/vault" */
    long connect_timeout_ms; /* 0 = VAULT_CONNECT_TIMEOUT_MS */
    long total_timeout_ms;   /* 0 = VAULT_TOTAL_TIMEOUT_MS */
};

struct vault;

/* Copies cfg; does no I/O. NULL with ERR_INVALID for a bad server URL, server name, mount path
 * or missing auth setting, ERR_INTERNAL when libcurl cannot be set up. */
struct vault *vault_new(const struct vault_config *cfg, struct err *err) WUR;

/* Logs in when there is no usable token, then GET /v1/sys/health (without the namespace
 * header): 200/429/472/473 ok; 501 "Vault is not initialized"; 503 "Vault is sealed".
 * Errors: ERR_ISSUER_NOT_READY (credentials, Secret), ERR_TRANSIENT (network, sealed, 5xx). */
int vault_check(struct vault *v, struct err *err) WUR;

/* POST /v1/<path> for csr with ttl = p->duration_s; the response's certificate, issuing_ca and
 * ca_chain are normalised as chain_normalise() does. Reuses the cached token; renews or logs in
 * again as needed; after a 403 logs in once more and retries once. Errors: ERR_PERMANENT (400:
 * Vault's message; a CSR with nameConstraints or a pathLen, or a CA request the policy gives a
 * pathLen (p->has_path_len), which Vault would leave out, before Vault is asked), ERR_TRANSIENT
 * (412, 429, 5xx, sealed, network, timeouts, a 403 that persists), ERR_ISSUER_NOT_READY (login
 * refused). */
int vault_sign(struct vault *v, const struct csr *csr, const struct sign_params *p,
               struct sign_result *out, struct err *err) WUR;

/* POST body (JSON) to /v1/<api_path> with the client's token, as vault_sign does: the cached
 * token, renewed or a new login as needed, one new login and retry after a 403, a standby's
 * 307 followed. *status and *resp (a new NUL-terminated copy of the body, *resp_len bytes, at
 * most VAULT_MAX_RESPONSE; free it) are Vault's answer, whatever its status. -1 with err when
 * there is no token (ERR_ISSUER_NOT_READY: login refused) or no answer (ERR_TRANSIENT). */
int vault_post(struct vault *v, const char *api_path, const char *body, long *status, char **resp,
               size_t *resp_len, struct err *err) WUR;

/* Round trips made so far (for benchmarks and tests). */
unsigned long vault_round_trips(const struct vault *v);

/* Makes every request in flight on v, and every later one, end within about a second with
 * ERR_TRANSIENT "stopped" (a login, a sign, a renewal), so that a thread blocked in Vault can be
 * joined at shutdown without waiting out VAULT_TOTAL_TIMEOUT_MS. For the last moments of v:
 * vault_free still sends its revoke-self. Thread-safe. */
void vault_cancel(struct vault *v);

/* Revokes a token it logged in for (revoke-self, best effort; never a static token), wipes it,
 * frees. NULL is a no-op. */
void vault_free(struct vault *v);

#endif
