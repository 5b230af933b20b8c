/* controller.h -- the Kubernetes controller: caches fed by watches, a work queue, workers that
 * run the pipeline on CertificateRequests and keep Issuers and IssuancePolicies Ready. */
#ifndef EMBER_CONTROLLER_H
#define EMBER_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "base/metrics.h"
#include "decide/audit.h"
#include "decide/pipeline.h"
#include "decide/policy.h"
#include "issuers/issuer.h"
#include "kube/kube.h"

#define CONTROLLER_MAX_KEYS 100000 /* distinct work-queue keys tracked at once */

struct controller_config {
    struct kube *kube;                     /* borrowed; outlives the controller */
    const char *const *policy_annotations; /* borrowed, in precedence order */
    size_t n_policy_annotations;
    bool approve;
    long long max_retry_s;
    const char *cluster_ns; /* Secrets of ClusterIssuers */
    int workers;            /* reconcile threads, default 4 */
    long long issuer_recheck_s;
    long watch_min_s, watch_max_s; /* watch timeoutSeconds range (5-10 min in production) */
    long backoff_base_ms, backoff_cap_ms;
    const char *const *namespaces; /* CertificateRequests and Issuers watched there only; 0 = all */
    size_t n_namespaces;
    bool start_as_follower;  /* leader election on: write nothing until controller_set_leader */
    const char *instance;    /* reportingInstance of Events (the pod name); copied */
    struct metrics *metrics; /* may be NULL */
    struct audit *audit;     /* borrowed, may be NULL (off): one line per CertificateRequest
                                decision written (Issued, Denied, Failed, entering Pending) */
    /* Every API call the reconcilers and the Event recorder make (not the watches) goes
     * through this, called with kube; NULL = kube_request. A unit test answers in-process. */
    int (*request)(struct kube *k, const char *method, const char *path, const char *content_type,
                   const char *body, size_t len, struct kube_response *out, struct err *err);
};

struct controller;

/* Starts the watches and the workers. Returns NULL with err when a watch cannot start. */
struct controller *controller_start(const struct controller_config *cfg, struct err *err) WUR;
/* True once every watch has listed its collection (caches synced). Thread-safe. */
bool controller_synced(struct controller *c);
/* Lookups with the pipeline_env signatures, for the HTTP API beside the controller
 * (ud is the controller). A policy found must be released with controller_release_policy. */
struct issuer *controller_find_issuer(void *ud, const char *kind, const char *ns, const char *name);
int controller_find_policy(void *ud, const char *name, const struct policy **p,
                           const char **invalid_msg);
void controller_release_policy(void *ud, const struct policy *p, const char *invalid_msg);
/* pipeline_env.namespace_labels over the controller's cache of Namespaces (ud is the
 * controller): a Namespace the cache lacks (the watch may lag behind a Namespace created
 * moments ago, or the list has not succeeded) is read with one GET, kept when the watch of
 * Namespaces runs; only a 404 is "not found", a 403 or another failure is "unavailable"
 * (repeated failures are not re-asked for CTL_NS_GET_QUIET_MS). Thread-safe. */
enum pipeline_ns controller_namespace_labels(void *ud, const char *ns, struct strv *labels,
                                             struct err *why);
/* Leader election: a leader reconciles everything it caches; a follower writes nothing
 * (keys it takes are dropped and queued again when it becomes leader). Thread-safe. */
void controller_set_leader(struct controller *c, bool leader);

/* Stops the watches and the workers (the requests in progress finish), frees. */
void controller_stop(struct controller *c);

#endif
