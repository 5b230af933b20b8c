/* issuer.h -- Issuer and ClusterIssuer (ember.issuer.dev/v1alpha1): spec, signer, readiness. */
#ifndef EMBER_ISSUER_H
#define EMBER_ISSUER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <time.h>

#include "err.h"
#include "signer.h"

#define ISSUER_GROUP "ember.issuer.dev"
#define ISSUER_API_VERSION "ember.issuer.dev/v1alpha1"

enum issuer_signer_kind { ISSUER_SIGNER_CA, ISSUER_SIGNER_VAULT };

/* Reference-counted: lookups hand out a reference (issuer_ref), released with issuer_unref.
 * Immutable once published, so many threads may sign with it at once. */
struct issuer {
    char *kind;           /* "Issuer" or "ClusterIssuer" */
    char *namespace;      /* "" for a ClusterIssuer */
    char *name;
    long long generation;
    char *default_policy; /* NULL when none */
    enum issuer_signer_kind signer_kind;
    char *ca_secret_name; /* spec.ca.secretName */

    struct signer signer; /* ops == NULL until a signer is loaded */
    bool ready;
    char reason[32];      /* Checked, Pending, Failed */
    char message[ERR_MSG_MAX];
    int refs;             /* atomic */
};

/* Reads an Issuer or ClusterIssuer object. ERR_INVALID names the field: wrong
 * apiVersion/kind, metadata.name missing, spec not an object, unknown fields, not exactly one
 * of spec.ca / spec.vault, spec.ca.secretName missing. The issuer starts not ready
 * (reason Pending) with one reference. */
struct issuer *issuer_from_json(const cJSON *obj, struct err *err) WUR;

/* "Issuer/ns/name" or "ClusterIssuer/name" into out. */
void issuer_format_ref(const struct issuer *is, char *out, size_t outlen);
/* The namespace its Secrets are read from: its own, or cluster_ns for a ClusterIssuer. */
const char *issuer_secret_namespace(const struct issuer *is, const char *cluster_ns);

/* Installs a loaded signer (taking it over) and marks the issuer Ready (reason Checked). */
void issuer_set_signer(struct issuer *is, struct signer s);
/* Marks the issuer not ready with reason ("Pending" or "Failed") and a message. */
void issuer_set_not_ready(struct issuer *is, const char *reason, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

struct issuer *issuer_ref(struct issuer *is);
/* Drops a reference; the last one frees the issuer and its signer. NULL is a no-op. */
void issuer_unref(struct issuer *is);

#endif
