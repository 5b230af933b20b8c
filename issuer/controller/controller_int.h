/* controller_int.h -- what the controller's files share: its state, the object caches, the Event
 * recorder and the three reconcilers. Private to issuer/controller/ and its unit test
 * (test/unit/test_controller.c), which builds a controller with ctl_new, feeds it objects as
 * the watches would and runs the reconcilers against an in-process kube_request. */
#ifndef EMBER_CONTROLLER_INT_H
#define EMBER_CONTROLLER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/clock.h"
#include "controller/controller.h"
#include "decide/cr.h"
#include "decide/nslabels.h"
#include "kube/queue.h"
#include "kube/reflector.h"

#define CTL_BUCKETS 4096
#define CTL_EVENT_CACHE 512 /* recent Events remembered for aggregation */
#define CTL_PATH_MAX 1024
#define CTL_KEY_MAX 600  /* a cache key: "ns/name", an issuer's cr_issuer_ref, a policy name */
#define CTL_QKEY_MAX 640 /* a work-queue key: "cr:", "issuer:" or "policy:" + a cache key */
#define CTL_NOT_SYNCED_RETRY_MS 500
#define CTL_ISSUER_PENDING_RETRY_MS 200 /* a request whose issuer is listed, not checked yet */
#define CTL_WAIT_RETRY_MS 1000          /* a request waiting (approval by policy, caches) */
#define CTL_NS_GET_QUIET_MS 2000 /* after a failed GET of a Namespace, no other for this long */
/* Two per watched namespace (up to 64), the cluster-wide ones, and Namespaces (namespaces.c). */
#define CTL_MAX_WATCHES 131

enum ctl_kind { CTL_CR, CTL_ISSUER, CTL_CLUSTER_ISSUER, CTL_POLICY, CTL_KINDS };

/* One cached object under its key ("ns/name", "Issuer/ns/name", "ClusterIssuer/name", a
 * policy's name). A CertificateRequest, the kind that comes by the thousand, is parsed once
 * when the watch brings it and kept as the struct the reconciler needs, policy annotations
 * only (cr_keep_annotations); one nothing will change any more (Issued, Denied, Failed) is
 * kept as its key alone. */
struct ctl_node {
    char *key;
    cJSON *obj;       /* Issuers, ClusterIssuers, IssuancePolicies */
    struct cr *cr;    /* a CertificateRequest not final */
    char *unreadable; /* a CertificateRequest cr_from_json refused: why */
    bool final;       /* a CertificateRequest in a final state */
    bool checked;     /* an Issuer or ClusterIssuer reconciled at least once (valid or not) */
    struct ctl_node *next;
};
struct ctl_map {
    struct ctl_node *b[CTL_BUCKETS];
    size_t n;
};

/* An IssuancePolicy as loaded; kept alive while a pipeline uses it. */
struct ctl_policy {
    char *name;
    struct policy *p; /* NULL when invalid */
    char *invalid;    /* why, when invalid */
    char *uid;        /* metadata.uid of the object compiled, or NULL */
    long long generation;
    bool reconciled; /* compiled by the policy reconciler (not on demand by a lookup) */
    int refs;        /* the table's own reference + one per pipeline using it */
    bool retired;    /* replaced or deleted: freed at the last release */
};

/* A live Issuer or ClusterIssuer with its signer. */
struct ctl_slot {
    char *key;
    struct issuer *is;
    long long generation;
    uint64_t next_check_ms; /* clock_mono_ms() time of the next re-check */
    int failures;
};

struct ctl_feed {
    struct controller *c;
    enum ctl_kind kind;
};

/* The Event ring: recent Events by digest, for aggregation. Guarded by controller.lock; copy
 * what is needed out of a slot before unlocking (another thread may reuse it meanwhile). */
struct ctl_event {
    char key[700];  /* uid + reason + message digest */
    char rv[128];   /* resourceVersion of the object when last recorded */
    char name[300]; /* Event object name */
    char ns[256];
    int count;
};

struct controller {
    struct controller_config cfg;
    pthread_mutex_t lock; /* guards objs, slots, pols, events */
    struct ctl_map objs[CTL_KINDS];
    struct ctl_slot *slots;
    size_t n_slots, cap_slots;
    struct ctl_policy **pols; /* current and retired */
    size_t n_pols, cap_pols;
    struct ctl_event events[CTL_EVENT_CACHE];
    size_t next_event;
    struct queue *q;
    struct ctl_feed feeds[CTL_KINDS];
    struct reflector *refl[CTL_MAX_WATCHES];
    char *refl_names[CTL_MAX_WATCHES];
    size_t n_refl;
    struct reflector_stats last_stats[CTL_MAX_WATCHES];
    int leader; /* __atomic builtins */
    pthread_t metrics_thread;
    bool metrics_started;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond; /* on CLOCK_MONOTONIC */
    bool stopping;
    pthread_t *workers;
    int n_workers;
    char *instance, *cluster_ns; /* owned copies of the config's strings */
    /* Namespaces' labels (namespaces.c); ns_refl is also in refl (for the watch metrics and
     * the stop), but controller_synced asks ctl_namespaces_ready about it */
    struct nslabels *ns;
    struct reflector *ns_refl;
    bool ns_synced, ns_forbidden; /* __atomic builtins */
    /* A GET of a Namespace that failed (not 404): until then, answer its reason without
     * asking again (so that many waiting requests do not each GET every second). */
    pthread_mutex_t ns_get_lock;
    int64_t ns_get_quiet_until_ms; /* clock_mono_ms() */
    char ns_get_why[ERR_MSG_MAX];
    char ns_get_ns[64]; /* the Namespace that GET was for */
};

/* What the worker does with a key once its reconciler returns. */
enum ctl_next_kind {
    CTL_NEXT_FORGET, /* done (or gone): reset its backoff */
    CTL_NEXT_RETRY,  /* again after its rate-limited backoff */
    CTL_NEXT_AFTER,  /* again after after_ms */
};
struct ctl_next {
    enum ctl_next_kind kind;
    unsigned long after_ms;
};

/* ---- controller.c: state, helpers, the worker's step ---- */

/* A controller without watches or workers (controller_start adds them): config copied
 * (request defaults to kube_request), queue made, leader unless cfg->start_as_follower.
 * Free with ctl_free. */
struct controller *ctl_new(const struct controller_config *cfg);
/* Frees what ctl_new made and everything cached; no thread may use c any more. */
void ctl_free(struct controller *c);
/* One API call through cfg.request, counted by verb and code. */
int ctl_request(struct controller *c, const char *method, const char *path, const char *ctype,
                const char *body, struct kube_response *r, struct err *err) WUR;
/* Counts one reconcile of kind with outcome (ember_reconcile_total). */
void ctl_count(struct controller *c, const char *kind, const char *outcome);
/* Milliseconds on CLOCK_MONOTONIC: every local timeout and re-check is measured on it. */
/* Borrowed string at obj.a(.b), or NULL. */
const char *ctl_str(const cJSON *obj, const char *a, const char *b);
/* metadata.generation, 1 when absent. */
long long ctl_generation(const cJSON *obj);
/* One worker step for qkey (taken from the queue, not yet done): a follower forgets it,
 * partial caches put it back, else its reconciler runs and the queue learns what next. */
void ctl_process(struct controller *c, const char *qkey);

/* ---- cache.c: the object maps, fed by the watches ---- */

/* The node under key in m, or the NULL link where it would go. c->lock held. */
struct ctl_node **ctl_map_find(struct ctl_map *m, const char *key);
/* Frees every node of m. */
void ctl_map_free(struct ctl_map *m);
/* The cache key of an object of kind k into out (CTL_KEY_MAX bytes). False when it does not
 * fit (names longer than Kubernetes allows): such an object is not cached. */
bool ctl_key(enum ctl_kind k, const cJSON *obj, char *out, size_t len);
/* Caches the CertificateRequest obj under key, parsed once (see struct ctl_node). */
void ctl_cache_cr(struct controller *c, const char *key, const cJSON *obj);
enum ctl_take { CTL_TAKE_GONE, CTL_TAKE_FINAL, CTL_TAKE_UNREADABLE, CTL_TAKE_OK };
/* A copy of the CertificateRequest cached under key for one reconcile: CTL_TAKE_OK with *out
 * filled (cr_free it), CTL_TAKE_UNREADABLE with *why (free it), or neither. */
enum ctl_take ctl_cache_take_cr(struct controller *c, const char *key, struct cr *out, char **why);
/* A copy of the object of kind cached under key (cJSON_Delete it), or NULL. */
cJSON *ctl_cache_dup(struct controller *c, enum ctl_kind kind, const char *key);
/* Reflector callbacks; ud is a struct ctl_feed. */
void ctl_upsert(void *ud, const cJSON *obj);
void ctl_remove(void *ud, const cJSON *obj);
/* Queues qkey now (errors are logged). */
void ctl_enqueue(struct controller *c, const char *qkey);
/* Queues every cached object that is not final; only CertificateRequests when crs_only (an
 * issuer or a policy changed). */
void ctl_enqueue_all(struct controller *c, bool crs_only);

/* ---- namespaces.c: the Namespace labels cache ---- */

/* Starts the watch of Namespaces (after one probing GET that logs a 403 clearly). */
int ctl_watch_namespaces(struct controller *c, struct err *err) WUR;
/* True once Namespaces are listed, or when listing them fails (403 or errors): only until then
 * does the controller wait for them. Not "the cache holds every Namespace": a lookup the cache
 * cannot answer GETs the Namespace (controller_namespace_labels). */
bool ctl_namespaces_ready(struct controller *c);

/* ---- events.c: the Event recorder (core/v1 Events, repeats aggregated by count) ---- */

/* The object an Event is about; every string borrowed. ns NULL: cluster-scoped. */
struct ctl_objref {
    const char *kind, *api_version, *name, *ns, *uid, *rv;
};
/* ref of obj's metadata, with kind and api_version. */
void ctl_objref_from_json(struct ctl_objref *ref, const cJSON *obj, const char *kind,
                          const char *api_version);
/* Records an Event about o, best effort: the same object at the same resourceVersion is not
 * recorded twice; a repeat at another resourceVersion raises the count of the last one. */
void ctl_event(struct controller *c, const struct ctl_objref *o, const char *type,
               const char *reason, const char *message);

/* ---- the reconcilers: reconcile_cr.c, reconcile_issuer.c, reconcile_policy.c ---- */

/* The CertificateRequest cached under key ("ns/name") through the pipeline (design.md §2). */
struct ctl_next ctl_reconcile_cr(struct controller *c, const char *key);
/* The Issuer or ClusterIssuer cached under key (cr_issuer_ref form): load, check, publish. */
struct ctl_next ctl_reconcile_issuer(struct controller *c, const char *key);
/* The IssuancePolicy name: compile it and write its Ready condition, unless the object is the
 * echo of that write (same uid and generation as the policy compiled). */
struct ctl_next ctl_reconcile_policy(struct controller *c, const char *name);

/* Writes status.conditions = [Ready] with observedGeneration to path (a status subresource)
 * unless obj already says so; an Event and a log line when status or reason changed. Returns
 * false when the write failed. */
bool ctl_write_ready(struct controller *c, const cJSON *obj, const char *path, bool ready,
                     const char *reason, const char *message, const char *kind,
                     const char *api_version);
/* Publishes is (a reference is taken) as the live issuer at key, with its generation, the
 * time of its next re-check and its failure count, and marks the cached object checked. */
void ctl_slot_publish(struct controller *c, enum ctl_kind kind, const char *key, struct issuer *is,
                      long long generation, uint64_t next_check_ms, int failures);
/* The live slot at key, or NULL. c->lock held. */
struct ctl_slot *ctl_slot_find(struct controller *c, const char *key);
/* Frees every policy of the table (at stop). */
void ctl_policies_free(struct controller *c);

#endif
