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

struct metrics;

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
    /* The signer its spec names: the table row whose spec_key is set, and what the row's
     * parse made of spec.<spec_key> (the row's own type, freed by the row). */
    const struct signer_ops *row;
    void *spec;

    struct signer signer; /* ops == NULL until a signer is loaded; set before publishing */
    pthread_mutex_t lock; /* guards state: re-checks update it while requests read it */
    struct issuer_state state;
    int refs; /* atomic */
};

/* Reads an Issuer or ClusterIssuer object. ERR_INVALID in base/jsonfield's message shape,
 * naming the field: apiVersion or kind missing or not ours, metadata.name missing or empty;
 * then, after "Kind/ns/name: ", spec missing or not an object, its members unknown, repeated or
 * of the wrong type (defaultPolicy a string, each signer table spec key an object), "spec must
 * set exactly one signer: ca or vault" (the table's keys), then the row's parse says what is
 * wrong inside its object (signers/localca.h, signers/vaultspec.h). JSON null is absent, as the
 * API server prunes it. The issuer starts not ready (reason Pending) with one reference. */
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

/* Loads the issuer's signer with its row's load (signers/signer.h), before the issuer is
 * published: Secrets are read through env (cluster_ns: where a ClusterIssuer's Secrets live).
 * On failure the issuer stays not ready with the row's message naming the Secret: reason
 * Failed when the row says it can never load (ERR_PERMANENT), else Pending. Then runs
 * issuer_check. */
void issuer_load_signer(struct issuer *is, const struct signer_env *env, const char *cluster_ns,
                        time_t now);
/* Runs the signer's own check (CA validity; Vault login and health) and records Ready or not.
 * Returns true when the state changed. Thread-safe. */
bool issuer_check(struct issuer *is, time_t now);
/* The controller's periodic re-check in place, when the issuer has a loaded signer whose row
 * has one (Vault: keeps its cached token): runs it, records Ready or not and returns true.
 * Returns false, doing nothing, otherwise, or when the row's recheck says a Secret it read
 * at load changed: the caller loads the issuer again from its object and Secrets (a local CA's
 * Secret may have been rotated; a Secret that was missing may be there now). Thread-safe. */
bool issuer_recheck(struct issuer *is, time_t now);

/* Declares the issuer gauges below (TYPE and HELP). */
void issuer_declare_metrics(struct metrics *m);
/* Publishes the issuer gauges for the n issuers of list, labelled issuer="Kind/ns/name":
 * ember_issuer_ready (1 when Ready, else 0) and, when the signer knows it (signer_ops.expiry),
 * ember_ca_expiry_timestamp_seconds, the notAfter of the CA that signs. Series of issuers not
 * in list, and expiry series no longer known, are removed: list is every issuer m shows (one
 * caller per registry). Standalone mode (every issuer of the store) and the controller (every
 * issuer it loaded) both publish through this. Thread-safe. */
void issuer_publish_metrics(struct metrics *m, struct issuer *const *list, size_t n);

struct issuer *issuer_ref(struct issuer *is);
/* Drops a reference; the last one frees the issuer and its signer. NULL is a no-op. */
void issuer_unref(struct issuer *is);

#endif
