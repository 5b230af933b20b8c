/* issuer.h -- Issuer and ClusterIssuer (ember.issuer.dev/v1alpha1): spec, signer, readiness. */
#ifndef EMBER_ISSUER_H
#define EMBER_ISSUER_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "base/err.h"
#include "signers/signer.h"

#define ISSUER_GROUP "ember.issuer.dev"
#define ISSUER_API_VERSION "ember.issuer.dev/v1alpha1"
#define ISSUER_MAX_CA_BUNDLE (1024 * 1024) /* decoded spec.vault.caBundle */

enum issuer_signer_kind { ISSUER_SIGNER_CA, ISSUER_SIGNER_VAULT };

/* The Ready condition of an issuer. */
struct issuer_state {
    bool ready;
    char reason[32]; /* Checked, Pending, Failed */
    char message[ERR_MSG_MAX];
};

/* Reference-counted: lookups hand out a reference (issuer_ref), released with issuer_unref.
 * Immutable once published, so many threads may sign with it at once. */
struct issuer {
    char *kind;      /* "Issuer" or "ClusterIssuer" */
    char *namespace; /* "" for a ClusterIssuer */
    char *name;
    long long generation;
    char *default_policy; /* NULL when none */
    enum issuer_signer_kind signer_kind;
    char *ca_secret_name; /* spec.ca.secretName */
    struct issuer_vault { /* spec.vault, field names as cert-manager's Vault issuer */
        char *server, *path, *namespace;
        unsigned char *ca_bundle; /* decoded spec.vault.caBundle (PEM), or NULL */
        size_t ca_bundle_len;
        char *ca_bundle_secret_name, *ca_bundle_secret_key; /* caBundleSecretRef; key: ca.crt */
        char *approle_path; /* auth.appRole.path, default "approle" */
        char *role_id;
        char *secret_name, *secret_key; /* auth.appRole.secretRef (key required) */
    } vault;

    struct signer signer; /* ops == NULL until a signer is loaded; set before publishing */
    void *signer_aux;     /* owned by the signer's callbacks (the Vault secret_id source) */
    pthread_mutex_t lock; /* guards state: re-checks update it while requests read it */
    struct issuer_state state;
    int refs; /* atomic */
};

/* Reads an Issuer or ClusterIssuer object. ERR_INVALID names the field: wrong
 * apiVersion/kind, metadata.name missing, spec not an object, unknown fields, not exactly one
 * of spec.ca / spec.vault, spec.ca.secretName missing; for spec.vault the messages of
 * cert-manager's Vault issuer where they apply ("Vault server and path are required fields",
 * "Vault AppRole auth requires both roleId and secretRef.name", ...), and a clear refusal of
 * the auth methods Ember does not support (tokenSecretRef, kubernetes, clientCertificate). The
 * issuer starts not ready (reason Pending) with one reference. */
struct issuer *issuer_from_json(const cJSON *obj, struct err *err) WUR;

/* "Issuer/ns/name" or "ClusterIssuer/name" into out. */
void issuer_format_ref(const struct issuer *is, char *out, size_t outlen);
/* The namespace its Secrets are read from: its own, or cluster_ns for a ClusterIssuer. */
const char *issuer_secret_namespace(const struct issuer *is, const char *cluster_ns);

/* Installs a loaded signer (taking it over) and marks the issuer Ready (reason Checked).
 * Only before the issuer is shared with other threads. */
void issuer_set_signer(struct issuer *is, struct signer s);
/* Marks the issuer Ready (reason Checked). Thread-safe. */
void issuer_set_ready(struct issuer *is);
/* Copies the current state. Thread-safe. */
void issuer_get_state(struct issuer *is, struct issuer_state *out);
bool issuer_is_ready(struct issuer *is);
/* Marks the issuer not ready with reason ("Pending" or "Failed") and a message. Thread-safe. */
void issuer_set_not_ready(struct issuer *is, const char *reason, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

/* Where an issuer's Secrets come from: the standalone store or the API server. */
struct issuer_secrets {
    /* Returns the Secret namespace/name (the caller deletes it with secret_delete), or NULL
     * with err: ERR_ISSUER_NOT_READY when it does not exist, ERR_TRANSIENT when it could not be
     * read now. Called from signing threads too (Vault logins): must be thread-safe. */
    cJSON *(*get)(void *ud, const char *ns, const char *name, struct err *err);
    void *ud; /* must outlive every issuer loaded from it */
};

/* Builds the issuer's signer from its Secrets, before the issuer is published: a local CA from
 * spec.ca.secretName (tls.crt, tls.key, ca.crt), or a Vault client (caBundleSecretRef read now,
 * the AppRole secret_id read again at each login). On failure the issuer stays not ready with
 * a message naming the Secret. cluster_ns: where a ClusterIssuer's Secrets live. Then runs
 * issuer_check. */
void issuer_load_signer(struct issuer *is, const struct issuer_secrets *src, const char *cluster_ns,
                        time_t now);
/* Runs the signer's own check (CA validity; Vault login and health) and records Ready or not.
 * Returns true when the state changed. Thread-safe. */
bool issuer_check(struct issuer *is, time_t now);
/* True once issuer_load_signer built a signer (a CA loaded, a Vault client made), ready or
 * not; false when a Secret it needs was missing or invalid, so a re-check must load again. */
bool issuer_has_signer(const struct issuer *is);

struct issuer *issuer_ref(struct issuer *is);
/* Drops a reference; the last one frees the issuer and its signer. NULL is a no-op. */
void issuer_unref(struct issuer *is);

#endif
