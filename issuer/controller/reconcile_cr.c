/* reconcile_cr.c -- the CertificateRequest reconciler: a request from the cache through the
 * pipeline (design.md §2) with its issuer resolved once, its status written, its Events and its
 * audit line recorded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "controller/controller_int.h"
#include "decide/audit.h"
#include "decide/pipeline.h"

/* One reconcile of one request. */
struct reconcile_cr_run {
    struct controller *c;
    const char *key;       /* "ns/name" */
    struct cr cr;          /* a copy of the cached request; the pipeline updates its status */
    struct issuer *is;     /* its issuer, resolved once (a reference), NULL when none is live */
    bool issuer_unchecked; /* its issuer's object is cached but not reconciled yet */
    bool was_pending;      /* Ready=False Pending before this step */
    struct pipeline_result res;
};

static const struct ctl_next reconcile_cr_forget = {CTL_NEXT_FORGET, 0};

/* The request's issuer: one lookup, under one lock, of its cached object and its live slot. */
static void reconcile_cr_resolve(struct reconcile_cr_run *run)
{
    const struct cr *cr = &run->cr;
    char key[CR_ISSUER_REF_MAX];
    if (!cr_issuer_ref(cr->issuer_kind, cr->namespace, cr->issuer_name, key, sizeof(key)))
        return; /* longer than any Kubernetes name: no such issuer */
    enum ctl_kind kind =
        strcmp(cr->issuer_kind, "ClusterIssuer") == 0 ? CTL_CLUSTER_ISSUER : CTL_ISSUER;
    struct controller *c = run->c;
    pthread_mutex_lock(&c->lock);
    const struct ctl_node *n = *ctl_map_find(&c->objs[kind], key);
    run->issuer_unchecked = n != NULL && !n->checked;
    const struct ctl_slot *slot = ctl_slot_find(c, key);
    run->is = slot != NULL ? issuer_ref(slot->is) : NULL;
    pthread_mutex_unlock(&c->lock);
}

/* pipeline_env.find_issuer: the issuer resolved for this request. */
static struct issuer *reconcile_cr_find_issuer(void *ud, const char *kind, const char *ns,
                                               const char *name)
{
    struct reconcile_cr_run *run = ud;
    const struct cr *cr = &run->cr;
    bool cluster = strcmp(cr->issuer_kind, "ClusterIssuer") == 0;
    if (strcmp(kind, cr->issuer_kind) == 0 && strcmp(name, cr->issuer_name) == 0 &&
        strcmp(ns, cluster ? "" : cr->namespace) == 0)
        return run->is != NULL ? issuer_ref(run->is) : NULL;
    return controller_find_issuer(run->c, kind, ns, name); /* not asked today; still right */
}

static int reconcile_cr_find_policy(void *ud, const char *name, const struct policy **p,
                                    const char **invalid_msg)
{
    return controller_find_policy(((struct reconcile_cr_run *)ud)->c, name, p, invalid_msg);
}

static void reconcile_cr_release_policy(void *ud, const struct policy *p, const char *invalid_msg)
{
    controller_release_policy(((struct reconcile_cr_run *)ud)->c, p, invalid_msg);
}

static enum pipeline_ns reconcile_cr_namespace_labels(void *ud, const char *ns, struct strv *labels,
                                                      struct err *why)
{
    return controller_namespace_labels(((struct reconcile_cr_run *)ud)->c, ns, labels, why);
}

/* A status write the API server refused: count it, say what to do with the key. */
static struct ctl_next reconcile_cr_write_failed(struct controller *c, const char *key, int rc,
                                                 const struct kube_response *r, const struct err *e)
{
    ctl_count(c, CR_KIND, r->code == 409 ? "conflict" : "write-error");
    if (rc == 0 && r->code >= 400 && r->code < 500 && r->code != 409 && r->code != 429) {
        /* 404: gone; 400/403/422: the server will refuse the same write again, so it is not
         * retried blindly (the next change of the object brings it back). */
        if (r->code != 404)
            LOG(LOG_ERROR, "controller", key, r->status.message,
                "the API server refused the status write (%ld); not retrying", r->code);
        return reconcile_cr_forget;
    }
    /* 409: someone else wrote first; decide again on the object the watch brings. */
    LOG(r->code == 409 ? LOG_DEBUG : LOG_WARN, "controller", key,
        rc == 0 ? r->status.message : e->msg, "status write answered %ld", r->code);
    return (struct ctl_next){CTL_NEXT_RETRY, 0};
}

/* Writes the request's status (a merge patch with its resourceVersion, design.md §2). True
 * when written (the object as written replaces the cached one); else *next says what next. */
static bool reconcile_cr_write(struct reconcile_cr_run *run, struct ctl_next *next)
{
    struct controller *c = run->c;
    const struct cr *cr = &run->cr;
    char path[CTL_PATH_MAX];
    int n = snprintf(path, sizeof(path),
                     "/apis/cert-manager.io/v1/namespaces/%s/certificaterequests/%s/status",
                     cr->namespace, cr->name);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        LOG(LOG_ERROR, "controller", run->key, NULL, "the status path is too long; not writing");
        ctl_count(c, CR_KIND, "write-error");
        *next = reconcile_cr_forget;
        return false;
    }
    cJSON *patch = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(patch, "metadata");
    cJSON_AddStringToObject(meta, "resourceVersion",
                            cr->resource_version ? cr->resource_version : "");
    cJSON_AddItemToObject(patch, "status", cr_status_to_json(cr));
    char *body = cJSON_PrintUnformatted(patch);
    cJSON_Delete(patch);
    struct kube_response r = {0};
    struct err e = {0};
    int rc = ctl_request(c, "PATCH", path, "application/merge-patch+json", body, &r, &e);
    free(body);
    bool ok = rc == 0 && r.code < 300;
    if (ok) {
        /* The object as written, so a requeue before the watch event is not stale. */
        cJSON *fresh = cJSON_ParseWithLength(r.body, r.len);
        if (fresh != NULL)
            ctl_cache_cr(c, run->key, fresh);
        cJSON_Delete(fresh);
    } else {
        *next = reconcile_cr_write_failed(c, run->key, rc, &r, &e);
    }
    kube_response_free(&r);
    return ok;
}

/* One audit line for a decision just written: Issued, Denied, Failed, or Pending when the
 * request was not Pending before (a Pending whose message changed is not a new decision).
 * Only called after a successful status write, so a write retried after a 409 is recorded
 * once, when it lands. */
static void reconcile_cr_audit(const struct reconcile_cr_run *run)
{
    struct controller *c = run->c;
    const struct cr *cr = &run->cr;
    if (c->cfg.audit == NULL)
        return;
    const char *outcome;
    switch (run->res.state) {
    case PIPELINE_STATE_ISSUED: outcome = "issued"; break;
    case PIPELINE_STATE_DENIED: outcome = "denied"; break;
    case PIPELINE_STATE_FAILED: outcome = "failed"; break;
    case PIPELINE_STATE_PENDING:
        if (run->was_pending)
            return;
        outcome = "pending";
        break;
    default: return;
    }
    /* Denied: the denial's own message says why (Ready only says "it is denied"). */
    const struct cr_condition *why =
        run->res.state == PIPELINE_STATE_DENIED ? cr_condition(cr, "Denied") : NULL;
    if (why == NULL || why->message == NULL)
        why = cr_condition(cr, "Ready");
    audit_request(c->cfg.audit, "controller", &cr->requester /* spec.username, spec.groups */, cr,
                  run->res.policy, outcome, why != NULL ? why->message : NULL);
}

/* After the step's status was written (or there was none to write): audit, Events, log lines,
 * the count, and when to look again. */
static struct ctl_next reconcile_cr_done(const struct reconcile_cr_run *run)
{
    struct controller *c = run->c;
    const struct pipeline_result *res = &run->res;
    if (res->action == PIPELINE_WRITE)
        reconcile_cr_audit(run);
    /* The Events are about the object this step read (its resourceVersion, not the write's). */
    const struct ctl_objref ref = {
        .kind = CR_KIND,
        .api_version = CR_API_VERSION,
        .name = run->cr.name,
        .ns = run->cr.namespace,
        .uid = run->cr.uid,
        .rv = run->cr.resource_version,
    };
    for (size_t i = 0; i < res->n_events; i++) {
        ctl_event(c, &ref, res->events[i].type, res->events[i].reason, res->events[i].message);
        LOG(LOG_INFO, "controller", run->key, NULL, "%s: %s", res->events[i].reason,
            res->events[i].message);
    }
    static const char *const states[] = {"none",   "denied",  "issued",
                                         "failed", "pending", "waiting"};
    ctl_count(c, CR_KIND, res->action == PIPELINE_NOOP ? "final" : states[res->state]);
    if (res->requeue && res->state == PIPELINE_STATE_PENDING)
        return (struct ctl_next){CTL_NEXT_RETRY, 0};
    if (res->requeue)
        return (struct ctl_next){CTL_NEXT_AFTER, CTL_WAIT_RETRY_MS};
    return reconcile_cr_forget;
}

/* The pipeline's step for the request in run, and what it leads to. */
static struct ctl_next reconcile_cr_step(struct reconcile_cr_run *run)
{
    struct controller *c = run->c;
    reconcile_cr_resolve(run);
    if (run->issuer_unchecked) {
        /* Its issuer is listed but not checked yet: decide once it is, not "not found". */
        return (struct ctl_next){CTL_NEXT_AFTER, CTL_ISSUER_PENDING_RETRY_MS};
    }
    struct pipeline_env env = {
        .group = ISSUER_GROUP,
        .policy_annotations = c->cfg.policy_annotations,
        .n_policy_annotations = c->cfg.n_policy_annotations,
        .approve = c->cfg.approve,
        .synced = true,
        .now = time(NULL), /* timestamps on the wire, creationTimestamp: wall-clock time */
        .max_retry_s = c->cfg.max_retry_s,
        .find_issuer = reconcile_cr_find_issuer,
        .find_policy = reconcile_cr_find_policy,
        .release_policy = reconcile_cr_release_policy,
        .namespace_labels = reconcile_cr_namespace_labels,
        .ud = run,
    };
    const struct cr_condition *ready = cr_condition(&run->cr, "Ready");
    run->was_pending =
        ready != NULL && ready->reason != NULL && strcmp(ready->reason, "Pending") == 0;
    double t0 = clock_mono_seconds();
    pipeline_run(&env, &run->cr, &run->res);
    pipeline_observe_signing(run->c->cfg.metrics, &run->res, clock_mono_seconds() - t0);
    if (run->res.action == PIPELINE_IGNORE)
        return reconcile_cr_forget;
    struct ctl_next next;
    if (run->res.action == PIPELINE_WRITE && !reconcile_cr_write(run, &next))
        return next;
    return reconcile_cr_done(run);
}

struct ctl_next ctl_reconcile_cr(struct controller *c, const char *key)
{
    struct reconcile_cr_run run = {.c = c, .key = key};
    char *why = NULL;
    switch (ctl_cache_take_cr(c, key, &run.cr, &why)) {
    case CTL_TAKE_GONE: return reconcile_cr_forget;
    case CTL_TAKE_FINAL: ctl_count(c, CR_KIND, "final"); return reconcile_cr_forget;
    case CTL_TAKE_UNREADABLE:
        LOG(LOG_WARN, "controller", key, why, "ignoring a CertificateRequest Ember cannot read");
        ctl_count(c, CR_KIND, "unreadable");
        free(why);
        return reconcile_cr_forget;
    case CTL_TAKE_OK: break;
    }
    struct ctl_next next = reconcile_cr_step(&run);
    issuer_unref(run.is);
    cr_free(&run.cr);
    return next;
}
