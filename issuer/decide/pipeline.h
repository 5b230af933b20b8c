/* pipeline.h -- the decision for one CertificateRequest: approve or deny by policy, sign, and
 * the status that results. Called by the Kubernetes controller and the HTTP API alike.
 * No I/O of its own (a signer may do I/O), no logging, no clock (now comes in env). */
#ifndef EMBER_PIPELINE_H
#define EMBER_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/err.h"
#include "base/metrics.h"
#include "decide/cr.h"
#include "decide/policy.h"
#include "issuers/issuer.h"

#define PIPELINE_POLICY_ANNOTATION "ember.issuer.dev/policy-name"
#define PIPELINE_APPROVER "ember.issuer.dev" /* reason of our Approved/Denied conditions */

/* What pipeline_env.namespace_labels found out about a Namespace. */
enum pipeline_ns {
    PIPELINE_NS_KNOWN,       /* it exists: its labels are given */
    PIPELINE_NS_NOT_FOUND,   /* no such Namespace (404; not in the manifests) */
    PIPELINE_NS_UNAVAILABLE, /* cannot tell now (403, API server unreachable): retry later */
};

struct pipeline_env {
    const char *group;                     /* ISSUER_GROUP */
    const char *const *policy_annotations; /* keys in precedence order */
    size_t n_policy_annotations;
    bool approve; /* act as the approver */
    bool synced;  /* issuers and policies loaded; never deny before */
    time_t now;
    long long max_retry_s; /* transient failures turn Failed after this */
    /* The signing API with authentication on: a policy without spec.selector.requesters is not
     * usable (policy_request.require_requesters). Off for the controller. */
    bool require_requesters;
    /* The request's namespace is the caller's word (the signing API's CertificateRequest
     * endpoint): policy_request.namespace_claimed. Off for the controller and Firefly. */
    bool namespace_claimed;

    /* Returns a reference (issuer_unref it) or NULL when the issuer does not exist. */
    struct issuer *(*find_issuer)(void *ud, const char *kind, const char *ns, const char *name);
    /* Returns 1 with *p set (borrowed for the call), 0 when no such policy exists, -1 when it
     * exists but does not validate (*invalid_msg set, borrowed). */
    int (*find_policy)(void *ud, const char *name, const struct policy **p,
                       const char **invalid_msg);
    /* Optional: called once the pipeline no longer uses what find_policy returned (for
     * lookups whose policies can be replaced meanwhile). NULL when they never change. */
    void (*release_policy)(void *ud, const struct policy *p, const char *invalid_msg);
    /* Optional: the labels of the Namespace named ns into labels (empty when called), as
     * "key=value" strings (the controller's cache of Namespaces, with a GET when it does not
     * know ns yet; the Namespace objects of --manifests). PIPELINE_NS_UNAVAILABLE sets why (a
     * short reason, e.g. "403 Forbidden on GET namespaces/x"): the request then waits (503 on
     * the signing API) instead of being denied. Asked only under a policy with
     * spec.selector.namespaceSelector. NULL: no Namespace is known, so a namespaceSelector
     * matches nothing. */
    enum pipeline_ns (*namespace_labels)(void *ud, const char *ns, struct strv *labels,
                                         struct err *why);
    void *ud;
};

enum pipeline_action {
    PIPELINE_IGNORE, /* not ours: write nothing, emit nothing */
    PIPELINE_NOOP,   /* ours, already final: nothing to do */
    PIPELINE_WAIT,   /* nothing to write now (waiting for approval, caches, a valid policy) */
    PIPELINE_WRITE,  /* cr's status changed: write it (then run again for the next step) */
};

enum pipeline_state {
    PIPELINE_STATE_NONE,
    PIPELINE_STATE_DENIED,
    PIPELINE_STATE_ISSUED,
    PIPELINE_STATE_FAILED,
    PIPELINE_STATE_PENDING, /* Ready=False Pending: issuer missing/not ready, retrying */
    PIPELINE_STATE_WAITING, /* no status write: approval, caches, invalid policy */
};

struct pipeline_result {
    enum pipeline_action action;
    enum pipeline_state state;
    bool requeue;                     /* try again later (with backoff) */
    bool retryable;                   /* Pending because the signer failed transiently */
    bool bad_request;                 /* Denied or Failed because the request itself is malformed
                                         (CSR, spec), not because of policy */
    char policy[POLICY_MAX_NAME + 1]; /* the IssuancePolicy this step evaluated (the annotation
                                         or the issuer's defaultPolicy); "" when none was */
    const char *signer; /* the signer table row that signed (signer_ops.name, static), or NULL */
    /* Events for this step (Kubernetes Events; log lines for the HTTP API). */
    struct pipeline_event {
        const char *type; /* "Normal" or "Warning" */
        char reason[48];  /* CamelCase, stable */
        char message[ERR_MSG_MAX];
    } events[2];
    size_t n_events;
};

/* Runs one step for cr (its status is updated in place when action is PIPELINE_WRITE).
 * Every policy check (approval, and again at signing) passes &cr->requester: a policy with
 * spec.selector.requesters denies (or, approved by someone else, fails) a requester it does
 * not admit, CALLER_NONE (no spec.username) included, with a message naming the requester
 * and the policy. A policy without requesters does not look at the requester. The signing
 * API puts the authenticated caller into cr->requester first. ${namespace} in a policy's
 * patterns is cr->namespace; ${serviceAccount} and ${serviceAccountNamespace} come from a
 * cr->requester named system:serviceaccount:NS:NAME (caller_service_account).
 * A request whose CSR came as PEM (cr->request_pem: the Firefly endpoint) is read as it is and
 * gets its chain as PEM in cr->chain_pem, status.certificate and status.ca left unset: no
 * base64 either way. Any other reads spec.request and gets status.certificate and status.ca.
 * Approval and signing happen in the same step, so one write carries Approved and Ready; the
 * HTTP API needs one call, the controller writes and runs again on the next watch event.
 * Events are emitted on every run that decides them (WaitingForApproval each time): the
 * caller deduplicates repeats. Thread-safe as long as the lookups are. */
void pipeline_run(const struct pipeline_env *env, struct cr *cr, struct pipeline_result *res);

/* Declares ember_signing_duration_seconds (every caller that signs does; declaring twice is
 * harmless). m may be NULL. */
void pipeline_declare_metrics(struct metrics *m);
/* Records seconds, the run time of a pipeline_run that issued, in that histogram labelled with
 * the signer's table name; nothing for a run that did not issue, or when m is NULL. */
void pipeline_observe_signing(struct metrics *m, const struct pipeline_result *res, double seconds);

/* The state of a request nothing will change any more (Ready=True, Ready=False Failed or
 * Denied, InvalidRequest=True), else PIPELINE_STATE_NONE. pipeline_run does nothing for
 * these; the controller keeps only a stub of them. */
enum pipeline_state pipeline_final_state(const struct cr *cr);

/* The policy name a request selects: the first policy annotation present, else "" (caller
 * falls back to the issuer's defaultPolicy). Borrowed. */
const char *pipeline_policy_annotation(const struct pipeline_env *env, const struct cr *cr);

#endif
