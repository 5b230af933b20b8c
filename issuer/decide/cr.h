/* cr.h -- cert-manager CertificateRequest (cert-manager.io/v1): read from JSON, status to JSON.
 * Pure. */
#ifndef EMBER_CR_H
#define EMBER_CR_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/err.h"
#include "decide/caller.h"
#include "x509/usage.h"

#define CR_API_VERSION "cert-manager.io/v1"
#define CR_KIND "CertificateRequest"
#define CR_MAX_CONDITIONS 64           /* more in one object is refused as hostile */
#define CR_MAX_REQUEST_B64 (96 * 1024) /* base64 of a CSR_MAX_BYTES PEM */
#define CR_MAX_USER_NAME 1024          /* bytes in spec.username or one of spec.groups */
#define CR_REF_PART_MAX 253            /* a namespace or name in cr_issuer_ref (Kubernetes' own) */
#define CR_ISSUER_REF_MAX 600          /* buffer that holds any cr_issuer_ref string */

struct cr_condition {
    char *type, *status, *reason, *message, *last_transition_time;
};

/* Everything Ember reads from a CertificateRequest, as owned copies. */
struct cr {
    char *name, *namespace, *uid, *resource_version, *creation_timestamp;
    cJSON *annotations; /* object (possibly empty) */
    char *issuer_group; /* "" when absent (means cert-manager.io) */
    char *issuer_kind;  /* "Issuer" when absent or empty */
    char *issuer_name;
    char *request_b64;    /* spec.request as sent (base64 of PEM) */
    char *request_pem;    /* or, from a front door that has the PEM itself (the Firefly
                             endpoint), the PEM CSR: request_b64 is then NULL */
    long long duration_s; /* 0 = not given */
    bool is_ca;
    usage_set usages; /* 0 = not given */
    /* Who created the request, as cert-manager's webhook wrote it: spec.username and
     * spec.groups (the first CALLER_MAX_NAMES; more are dropped, which can only narrow what
     * spec.selector.requesters admits), method CALLER_CERT_MANAGER. spec.username absent or
     * "": method CALLER_NONE, username NULL, no groups. A username or group that is not a
     * string or longer than CR_MAX_USER_NAME bytes is a spec_error. The signing API replaces
     * it with the authenticated caller (caller_free, then caller_copy) before pipeline_run. */
    struct caller requester;
    /* Set when spec is present but unusable (bad duration, unknown usage, request missing or
     * not base64...): the approver denies with this, a signer fails with it. */
    char *spec_error;

    struct cr_condition *conds; /* grows: adding a condition never fails */
    size_t n_conds, cap_conds;
    char *certificate;  /* status.certificate (base64) or NULL */
    char *ca;           /* status.ca (base64) or NULL */
    char *chain_pem;    /* instead of certificate and ca for a request_pem: the chain as PEM */
    char *failure_time; /* status.failureTime or NULL */
};

/* Reads obj. Fails (ERR_INVALID) only when obj is not a CertificateRequest at all: not an
 * object, wrong apiVersion/kind when present, no metadata.name, no spec object, or more than
 * CR_MAX_CONDITIONS conditions. Problems inside spec go to cr->spec_error instead.
 * namespace defaults to "default". cr_free() it afterwards (also after failure). */
int cr_from_json(const cJSON *obj, struct cr *cr, struct err *err) WUR;
void cr_free(struct cr *cr);
/* A deep copy of src into dst (dst is overwritten, not freed first): cr_free both. */
void cr_copy(struct cr *dst, const struct cr *src);
/* Drops every annotation but those named in keys[0..n) (what a cache of thousands of requests
 * needs to keep: the policy annotations, not kubectl's last-applied-configuration). */
void cr_keep_annotations(struct cr *cr, const char *const *keys, size_t n);

/* How logs, messages, audit records and the controller's caches name an issuer:
 * "ClusterIssuer/NAME" when kind is "ClusterIssuer", else "Issuer/NS/NAME" (ns ignored for a
 * ClusterIssuer). Each part is cut at CR_REF_PART_MAX bytes, so CR_ISSUER_REF_MAX bytes hold any
 * result. Returns false when something was cut (a part longer than any Kubernetes name, or len
 * too small): fine for a message, but no Kubernetes object has that name, so it is no key. */
bool cr_issuer_ref(const char *kind, const char *ns, const char *name, char *out, size_t len);

/* Borrowed annotation value, or NULL. */
const char *cr_annotation(const struct cr *cr, const char *key);
/* Borrowed condition of that type, or NULL. */
const struct cr_condition *cr_condition(const struct cr *cr, const char *type);
/* True when the condition of that type exists with status "True". */
bool cr_condition_true(const struct cr *cr, const char *type);
/* Adds or replaces the condition of that type. lastTransitionTime becomes now only when the
 * status changes (or the condition is new). */
void cr_set_condition(struct cr *cr, const char *type, const char *status, const char *reason,
                      const char *message, time_t now);
/* Replaces status.certificate / ca / failureTime (NULL removes). */
void cr_set_status_field(char **field, const char *value);

/* Drops every condition and status field (a status nobody may be trusted for). */
void cr_clear_status(struct cr *cr);

/* The status object: {conditions:[...], certificate?, ca?, failureTime?}. Caller owns it. */
cJSON *cr_status_to_json(const struct cr *cr);

#endif
