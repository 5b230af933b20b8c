/* controller.c -- the Kubernetes controller: watches, caches, work queue, reconcilers. */
#include "controller/controller.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timefmt.h"
#include "decide/audit.h"
#include "decide/cr.h"
#include "decide/pipeline.h"
#include "kube/queue.h"
#include "kube/reflector.h"
#include "signers/secret.h"

#define CTL_BUCKETS 4096
#define CTL_EVENT_CACHE 512 /* recent Events remembered for aggregation */
#define CTL_PATH_MAX 1024
#define CTL_NOT_SYNCED_RETRY_MS 500

/* A cache of objects by key ("ns/name", "ClusterIssuer/name", ...), owned cJSON copies.
 * CertificateRequests, the one kind that comes by the thousand, are kept as compact JSON text
 * instead (a parsed tree is about four times larger), and a request nothing will change any
 * more (Issued, Denied, Failed) only as a stub: name, issuerRef and conditions. */
struct ctl_node {
    char *key;
    cJSON *obj;   /* Issuers, ClusterIssuers, IssuancePolicies */
    char *text;   /* CertificateRequests */
    bool final;   /* a CertificateRequest in a final state (text is its stub) */
    bool checked; /* an Issuer or ClusterIssuer reconciled at least once (valid or not) */
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
    int refs;         /* the table's own reference + one per pipeline using it */
    bool retired;     /* replaced or deleted: freed at the last release */
};

/* A live Issuer or ClusterIssuer with its signer. */
struct ctl_slot {
    char *key;
    struct issuer *is;
    long long generation;
    time_t next_check;
    int failures;
};

enum ctl_kind { CTL_CR, CTL_ISSUER, CTL_CLUSTER_ISSUER, CTL_POLICY, CTL_KINDS };

#define CTL_MAX_WATCHES 130 /* two per watched namespace (up to 64) plus the cluster-wide ones */

struct ctl_feed {
    struct controller *c;
    enum ctl_kind kind;
};

struct ctl_event {
    char key[700];  /* uid + reason + message digest */
    char rv[128];   /* resourceVersion of the object when last recorded */
    char name[300]; /* Event object name */
    char ns[256];
    int count;
};

struct controller {
    struct controller_config cfg;
    pthread_mutex_t lock; /* guards maps, slots, policies, events */
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
    int leader; /* atomic */
    pthread_t metrics_thread;
    bool metrics_started;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stopping;
    pthread_t *workers;
    int n_workers;
    char *instance, *cluster_ns; /* owned copies of the config's strings */
};

/* ---- the object maps --------------------------------------------------------------------- */

static unsigned long ctl_hash(const char *s)
{
    unsigned long h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h % CTL_BUCKETS;
}

static struct ctl_node **ctl_map_find(struct ctl_map *m, const char *key)
{
    struct ctl_node **pp = &m->b[ctl_hash(key)];
    while (*pp != NULL && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* Stores obj or text (taking it) under key, replacing what was there. */
static void ctl_map_set(struct ctl_map *m, const char *key, cJSON *obj, char *text, bool final)
{
    struct ctl_node **pp = ctl_map_find(m, key);
    struct ctl_node *n = *pp;
    if (n != NULL) {
        secret_delete(n->obj);
        free(n->text);
    } else {
        n = xcalloc(1, sizeof(*n));
        n->key = xstrdup(key);
        *pp = n;
        m->n++;
    }
    n->obj = obj;
    n->text = text;
    n->final = final;
}

static void ctl_map_put(struct ctl_map *m, const char *key, cJSON *obj)
{
    ctl_map_set(m, key, obj, NULL, false);
}

static void ctl_map_del(struct ctl_map *m, const char *key)
{
    struct ctl_node **pp = ctl_map_find(m, key);
    if (*pp == NULL)
        return;
    struct ctl_node *n = *pp;
    *pp = n->next;
    secret_delete(n->obj);
    free(n->text);
    free(n->key);
    free(n);
    m->n--;
}

static void ctl_map_free(struct ctl_map *m)
{
    for (size_t i = 0; i < CTL_BUCKETS; i++) {
        while (m->b[i] != NULL)
            ctl_map_del(m, m->b[i]->key);
    }
}

/* ---- small helpers ----------------------------------------------------------------------- */

static const char *ctl_str(const cJSON *obj, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
    if (b != NULL)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long long ctl_generation(const cJSON *obj)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "generation");
    return cJSON_IsNumber(g) ? (long long)g->valuedouble : 1;
}

/* The cache key of an object of kind k. */
static void ctl_key(enum ctl_kind k, const cJSON *obj, char *out, size_t len)
{
    const char *ns = ctl_str(obj, "metadata", "namespace");
    const char *name = ctl_str(obj, "metadata", "name");
    ns = ns ? ns : "";
    name = name ? name : "";
    switch (k) {
    case CTL_CR: snprintf(out, len, "%s/%s", ns, name); break;
    case CTL_ISSUER: snprintf(out, len, "Issuer/%s/%s", ns, name); break;
    case CTL_CLUSTER_ISSUER: snprintf(out, len, "ClusterIssuer/%s", name); break;
    default: snprintf(out, len, "%s", name); break;
    }
}

static const char *const ctl_prefix[CTL_KINDS] = {"cr:", "issuer:", "issuer:", "policy:"};

static void ctl_enqueue(struct controller *c, const char *qkey)
{
    struct err e = {0};
    if (queue_add(c->q, qkey, &e) != 0)
        LOG(LOG_ERROR, "controller", NULL, e.msg, "cannot queue %s", qkey);
}

/* Every cached CertificateRequest is looked at again (an issuer or a policy changed). */
static void ctl_enqueue_all_crs(struct controller *c)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < CTL_BUCKETS; i++) {
        for (struct ctl_node *n = c->objs[CTL_CR].b[i]; n != NULL; n = n->next) {
            if (n->final)
                continue;
            char qkey[600];
            snprintf(qkey, sizeof(qkey), "cr:%s", n->key);
            ctl_enqueue(c, qkey);
        }
    }
    pthread_mutex_unlock(&c->lock);
}

static void ctl_count(struct controller *c, const char *kind, const char *outcome)
{
    if (c->cfg.metrics == NULL)
        return;
    char labels[128];
    snprintf(labels, sizeof(labels), "kind=\"%s\",outcome=\"%s\"", kind, outcome);
    metrics_counter_add(c->cfg.metrics, "ember_reconcile_total", labels, 1);
}

/* One API call, counted by verb and code. */
static int ctl_request(struct controller *c, const char *method, const char *path,
                       const char *ctype, const char *body, struct kube_response *r,
                       struct err *err)
{
    int rc = kube_request(c->cfg.kube, method, path, ctype, body, body ? strlen(body) : 0, r, err);
    if (c->cfg.metrics != NULL) {
        char labels[96];
        snprintf(labels, sizeof(labels), "verb=\"%s\",code=\"%ld\"", method, rc == 0 ? r->code : 0);
        metrics_counter_add(c->cfg.metrics, "ember_api_requests_total", labels, 1);
    }
    return rc;
}

/* ---- the CertificateRequest cache ------------------------------------------------------- */

/* The stub kept of a final request: what pipeline_run needs to see it is final and ours. */
static cJSON *ctl_cr_stub(const cJSON *obj)
{
    cJSON *stub = cJSON_CreateObject();
    cJSON_AddStringToObject(stub, "apiVersion", CR_API_VERSION);
    cJSON_AddStringToObject(stub, "kind", CR_KIND);
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    cJSON *smd = cJSON_AddObjectToObject(stub, "metadata");
    static const char *const keep[] = {"name", "namespace", "uid", "resourceVersion"};
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, keep[i]);
        if (cJSON_IsString(v))
            cJSON_AddStringToObject(smd, keep[i], v->valuestring);
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "spec"), "issuerRef");
    cJSON *spec = cJSON_AddObjectToObject(stub, "spec");
    if (ref != NULL)
        cJSON_AddItemToObject(spec, "issuerRef", cJSON_Duplicate(ref, 1));
    const cJSON *conds = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "status"), "conditions");
    cJSON *st = cJSON_AddObjectToObject(stub, "status");
    if (conds != NULL)
        cJSON_AddItemToObject(st, "conditions", cJSON_Duplicate(conds, 1));
    return stub;
}

/* Caches a CertificateRequest under key: its stub when final, else its compact text. */
static void ctl_cache_cr(struct controller *c, const char *key, const cJSON *obj)
{
    struct cr cr;
    struct err e = {0};
    bool final =
        cr_from_json(obj, &cr, &e) == 0 && pipeline_final_state(&cr) != PIPELINE_STATE_NONE;
    cr_free(&cr);
    char *text;
    if (final) {
        cJSON *stub = ctl_cr_stub(obj);
        text = cJSON_PrintUnformatted(stub);
        cJSON_Delete(stub);
    } else {
        text = cJSON_PrintUnformatted(obj);
    }
    if (text == NULL)
        return; /* cJSON allocates through mem.c, which aborts on OOM: not reached */
    pthread_mutex_lock(&c->lock);
    ctl_map_set(&c->objs[CTL_CR], key, NULL, text, final);
    pthread_mutex_unlock(&c->lock);
}

/* ---- reflector callbacks ----------------------------------------------------------------- */

static void ctl_upsert(void *ud, const cJSON *obj)
{
    struct ctl_feed *f = ud;
    struct controller *c = f->c;
    if (f->kind == CTL_CR) {
        /* Only our group's requests are kept: the others are never written to. */
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(obj, "spec"), "issuerRef");
        const char *group = ctl_str(ref, "group", NULL);
        if (group == NULL || strcmp(group, ISSUER_GROUP) != 0)
            return;
    }
    char key[600], qkey[640];
    ctl_key(f->kind, obj, key, sizeof(key));
    if (f->kind == CTL_CR) {
        ctl_cache_cr(c, key, obj);
    } else {
        pthread_mutex_lock(&c->lock);
        ctl_map_put(&c->objs[f->kind], key, cJSON_Duplicate(obj, 1));
        pthread_mutex_unlock(&c->lock);
    }
    snprintf(qkey, sizeof(qkey), "%s%s", ctl_prefix[f->kind], key);
    ctl_enqueue(c, qkey);
}

static void ctl_remove(void *ud, const cJSON *obj)
{
    struct ctl_feed *f = ud;
    struct controller *c = f->c;
    char key[600], qkey[640];
    ctl_key(f->kind, obj, key, sizeof(key));
    pthread_mutex_lock(&c->lock);
    ctl_map_del(&c->objs[f->kind], key);
    pthread_mutex_unlock(&c->lock);
    if (f->kind != CTL_CR) {
        snprintf(qkey, sizeof(qkey), "%s%s", ctl_prefix[f->kind], key);
        ctl_enqueue(c, qkey);
    }
}

bool controller_synced(struct controller *c)
{
    for (size_t k = 0; k < c->n_refl; k++)
        if (!reflector_has_synced(c->refl[k]))
            return false;
    return true;
}

void controller_set_leader(struct controller *c, bool leader)
{
    int was = __atomic_exchange_n(&c->leader, leader ? 1 : 0, __ATOMIC_ACQ_REL);
    if (c->cfg.metrics != NULL)
        metrics_gauge_set(c->cfg.metrics, "ember_leader", "", leader ? 1 : 0);
    if (!leader || was)
        return;
    /* Keys dropped while following: look at everything again. */
    for (int k = 0; k < CTL_KINDS; k++) {
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < CTL_BUCKETS; i++) {
            for (struct ctl_node *n = c->objs[k].b[i]; n != NULL; n = n->next) {
                if (n->final)
                    continue;
                char qkey[640];
                snprintf(qkey, sizeof(qkey), "%s%s", ctl_prefix[k], n->key);
                ctl_enqueue(c, qkey);
            }
        }
        pthread_mutex_unlock(&c->lock);
    }
}

/* ---- lookups for the pipeline ------------------------------------------------------------ */

static struct ctl_slot *ctl_slot_find(struct controller *c, const char *key);

struct issuer *controller_find_issuer(void *ud, const char *kind, const char *ns, const char *name)
{
    struct controller *c = ud;
    char key[600];
    if (strcmp(kind, "ClusterIssuer") == 0)
        snprintf(key, sizeof(key), "ClusterIssuer/%s", name);
    else
        snprintf(key, sizeof(key), "Issuer/%s/%s", ns, name);
    pthread_mutex_lock(&c->lock);
    struct ctl_slot *slot = ctl_slot_find(c, key);
    struct issuer *is = slot != NULL ? issuer_ref(slot->is) : NULL;
    pthread_mutex_unlock(&c->lock);
    return is;
}

static struct ctl_policy *ctl_policy_new(const char *name, const cJSON *obj)
{
    struct err e = {0};
    struct ctl_policy *cp = xcalloc(1, sizeof(*cp));
    cp->name = xstrdup(name);
    cp->refs = 1;
    cp->p = policy_from_json(obj, &e);
    if (cp->p == NULL)
        cp->invalid = xstrdup(e.msg);
    return cp;
}

/* Adds cp to the table; c->lock held. */
static void ctl_policy_add_locked(struct controller *c, struct ctl_policy *cp)
{
    if (c->n_pols == c->cap_pols) {
        c->cap_pols = c->cap_pols ? c->cap_pols * 2 : 8;
        c->pols = xrealloc(c->pols, c->cap_pols * sizeof(*c->pols));
    }
    c->pols[c->n_pols++] = cp;
}

int controller_find_policy(void *ud, const char *name, const struct policy **p,
                           const char **invalid_msg)
{
    struct controller *c = ud;
    pthread_mutex_lock(&c->lock);
    struct ctl_policy *found = NULL;
    for (size_t i = 0; i < c->n_pols && found == NULL; i++)
        if (!c->pols[i]->retired && strcmp(c->pols[i]->name, name) == 0)
            found = c->pols[i];
    if (found == NULL) {
        /* Listed but not reconciled yet: load it now rather than call it missing (a request
         * must never be denied for a policy Ember has not looked at). */
        struct ctl_node *n = *ctl_map_find(&c->objs[CTL_POLICY], name);
        if (n != NULL) {
            found = ctl_policy_new(name, n->obj);
            ctl_policy_add_locked(c, found);
        }
    }
    int rc = 0;
    if (found != NULL) {
        found->refs++;
        *p = found->p;
        *invalid_msg = found->invalid;
        rc = found->p != NULL ? 1 : -1;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static void ctl_policy_free(struct ctl_policy *cp)
{
    free(cp->name);
    policy_free(cp->p);
    free(cp->invalid);
    free(cp);
}

/* Drops one reference of cp; c->lock held. */
static void ctl_policy_unref_locked(struct controller *c, struct ctl_policy *cp)
{
    if (--cp->refs > 0)
        return;
    for (size_t i = 0; i < c->n_pols; i++) {
        if (c->pols[i] == cp) {
            c->pols[i] = c->pols[--c->n_pols];
            break;
        }
    }
    ctl_policy_free(cp);
}

void controller_release_policy(void *ud, const struct policy *p, const char *invalid_msg)
{
    struct controller *c = ud;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_pols; i++) {
        struct ctl_policy *cp = c->pols[i];
        if ((p != NULL && cp->p == p) ||
            (p == NULL && invalid_msg != NULL && cp->invalid == invalid_msg)) {
            ctl_policy_unref_locked(c, cp);
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

/* ---- Events (core/v1), repeats aggregated by count --------------------------------------- */

static void ctl_event(struct controller *c, const cJSON *obj, const char *kind,
                      const char *api_version, const char *type, const char *reason,
                      const char *message)
{
    const char *name = ctl_str(obj, "metadata", "name");
    const char *ns = ctl_str(obj, "metadata", "namespace");
    const char *uid = ctl_str(obj, "metadata", "uid");
    if (name == NULL)
        return;
    if (ns == NULL || ns[0] == '\0')
        ns = "default"; /* cluster-scoped objects: client-go's recorder uses default */
    char key[700], ts[TIMEFMT_LEN];
    snprintf(key, sizeof(key), "%.64s|%.48s|%.500s", uid ? uid : name, reason, message);
    timefmt_rfc3339(time(NULL), ts);
    struct kube_response r = {0};
    struct err e = {0};
    char path[CTL_PATH_MAX];

    pthread_mutex_lock(&c->lock);
    struct ctl_event *seen = NULL;
    for (size_t i = 0; i < CTL_EVENT_CACHE; i++)
        if (c->events[i].count > 0 && strcmp(c->events[i].key, key) == 0)
            seen = &c->events[i];
    const char *obj_rv = ctl_str(obj, "metadata", "resourceVersion");
    if (seen != NULL && obj_rv != NULL && strcmp(seen->rv, obj_rv) == 0) {
        /* The same object looked at again (a re-check, a requeue): nothing new happened. */
        pthread_mutex_unlock(&c->lock);
        return;
    }
    if (seen != NULL) {
        snprintf(seen->rv, sizeof(seen->rv), "%s", obj_rv ? obj_rv : "");
        int count = ++seen->count;
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events/%s", seen->ns, seen->name);
        pthread_mutex_unlock(&c->lock);
        char body[200];
        snprintf(body, sizeof(body), "{\"count\":%d,\"lastTimestamp\":\"%s\"}", count, ts);
        if (ctl_request(c, "PATCH", path, "application/merge-patch+json", body, &r, &e) == 0 &&
            r.code < 300) {
            kube_response_free(&r);
            return;
        }
        kube_response_free(&r);
        pthread_mutex_lock(&c->lock);
        seen->count = 0; /* expired or deleted: create it again */
    }
    struct ctl_event *slot = &c->events[c->next_event];
    c->next_event = (c->next_event + 1) % CTL_EVENT_CACHE;
    unsigned char rnd[8];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        memset(rnd, 0, sizeof(rnd));
    snprintf(slot->name, sizeof(slot->name), "%.200s.%02x%02x%02x%02x%02x%02x%02x%02x", name,
             rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    snprintf(slot->ns, sizeof(slot->ns), "%s", ns);
    snprintf(slot->key, sizeof(slot->key), "%s", key);
    snprintf(slot->rv, sizeof(slot->rv), "%s", obj_rv ? obj_rv : "");
    slot->count = 1;
    char ev_name[300];
    snprintf(ev_name, sizeof(ev_name), "%s", slot->name);
    pthread_mutex_unlock(&c->lock);

    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "apiVersion", "v1");
    cJSON_AddStringToObject(ev, "kind", "Event");
    cJSON *meta = cJSON_AddObjectToObject(ev, "metadata");
    cJSON_AddStringToObject(meta, "name", ev_name);
    cJSON_AddStringToObject(meta, "namespace", ns);
    cJSON *inv = cJSON_AddObjectToObject(ev, "involvedObject");
    cJSON_AddStringToObject(inv, "apiVersion", api_version);
    cJSON_AddStringToObject(inv, "kind", kind);
    cJSON_AddStringToObject(inv, "name", name);
    if (ctl_str(obj, "metadata", "namespace") != NULL)
        cJSON_AddStringToObject(inv, "namespace", ns);
    if (uid != NULL)
        cJSON_AddStringToObject(inv, "uid", uid);
    const char *rv = ctl_str(obj, "metadata", "resourceVersion");
    if (rv != NULL)
        cJSON_AddStringToObject(inv, "resourceVersion", rv);
    cJSON_AddStringToObject(ev, "type", type);
    cJSON_AddStringToObject(ev, "reason", reason);
    cJSON_AddStringToObject(ev, "message", message);
    cJSON_AddStringToObject(ev, "firstTimestamp", ts);
    cJSON_AddStringToObject(ev, "lastTimestamp", ts);
    cJSON_AddNumberToObject(ev, "count", 1);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(ev, "source"), "component", "ember-issuer");
    cJSON_AddStringToObject(ev, "reportingComponent", "ember-issuer");
    cJSON_AddStringToObject(ev, "reportingInstance", c->cfg.instance ? c->cfg.instance : "");
    char *body = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ns);
    if (ctl_request(c, "POST", path, "application/json", body, &r, &e) != 0 || r.code >= 300)
        LOG(LOG_DEBUG, "controller", name, r.code ? r.status.message : e.msg,
            "cannot record event %s", reason); /* events are best effort */
    kube_response_free(&r);
    free(body);
}

/* ---- CertificateRequests ----------------------------------------------------------------- */

/* True when the request's issuer object is cached but has no live slot yet. */
static bool ctl_issuer_pending(struct controller *c, const struct cr *cr)
{
    char key[600];
    enum ctl_kind kind;
    if (strcmp(cr->issuer_kind, "ClusterIssuer") == 0) {
        kind = CTL_CLUSTER_ISSUER;
        snprintf(key, sizeof(key), "ClusterIssuer/%s", cr->issuer_name);
    } else {
        kind = CTL_ISSUER;
        snprintf(key, sizeof(key), "Issuer/%s/%s", cr->namespace, cr->issuer_name);
    }
    pthread_mutex_lock(&c->lock);
    struct ctl_node *n = *ctl_map_find(&c->objs[kind], key);
    bool pending = n != NULL && !n->checked;
    pthread_mutex_unlock(&c->lock);
    return pending;
}

/* One audit line for a decision just written: Issued, Denied, Failed, or Pending when the
 * request was not Pending before (a Pending whose message changed is not a new decision).
 * Only called after a successful status write, so a write retried after a 409 is recorded
 * once, when it lands. */
static void ctl_audit_cr(struct controller *c, const struct cr *cr, const char *policy,
                         enum pipeline_state state, bool was_pending)
{
    if (c->cfg.audit == NULL)
        return;
    const char *outcome;
    switch (state) {
    case PIPELINE_STATE_ISSUED: outcome = "issued"; break;
    case PIPELINE_STATE_DENIED: outcome = "denied"; break;
    case PIPELINE_STATE_FAILED: outcome = "failed"; break;
    case PIPELINE_STATE_PENDING:
        if (was_pending)
            return;
        outcome = "pending";
        break;
    default: return;
    }
    /* Denied: the denial's own message says why (Ready only says "it is denied"). */
    const struct cr_condition *why =
        state == PIPELINE_STATE_DENIED ? cr_condition(cr, "Denied") : NULL;
    if (why == NULL || why->message == NULL)
        why = cr_condition(cr, "Ready");
    audit_request(c->cfg.audit, "controller", &cr->requester /* spec.username, spec.groups */, cr,
                  policy, outcome, why != NULL ? why->message : NULL);
}

static void ctl_reconcile_cr(struct controller *c, const char *key, const char *qkey)
{
    pthread_mutex_lock(&c->lock);
    struct ctl_node *n = *ctl_map_find(&c->objs[CTL_CR], key);
    bool final = n != NULL && n->final;
    char *text = n != NULL && !final ? xstrdup(n->text) : NULL;
    pthread_mutex_unlock(&c->lock);
    if (final)
        ctl_count(c, "CertificateRequest", "final");
    cJSON *obj = text != NULL ? cJSON_Parse(text) : NULL;
    free(text);
    if (obj == NULL) {
        queue_forget(c->q, qkey);
        return;
    }
    struct cr cr;
    struct err e = {0};
    int parsed = cr_from_json(obj, &cr, &e);
    if (parsed == 0 && ctl_issuer_pending(c, &cr)) {
        /* Its issuer is listed but not checked yet: decide once it is, not "not found". */
        struct err qe = {0};
        if (queue_add_after(c->q, qkey, 200, &qe) != 0)
            LOG(LOG_ERROR, "controller", key, qe.msg, "cannot requeue");
        cr_free(&cr);
        cJSON_Delete(obj);
        return;
    }
    if (parsed != 0) {
        LOG(LOG_WARN, "controller", key, e.msg, "ignoring a CertificateRequest Ember cannot read");
        ctl_count(c, "CertificateRequest", "unreadable");
        cr_free(&cr);
        cJSON_Delete(obj);
        queue_forget(c->q, qkey);
        return;
    }
    struct pipeline_env env = {
        .group = ISSUER_GROUP,
        .policy_annotations = c->cfg.policy_annotations,
        .n_policy_annotations = c->cfg.n_policy_annotations,
        .approve = c->cfg.approve,
        .synced = true,
        .now = time(NULL),
        .max_retry_s = c->cfg.max_retry_s,
        .find_issuer = controller_find_issuer,
        .find_policy = controller_find_policy,
        .release_policy = controller_release_policy,
        .ud = c,
    };
    const struct cr_condition *ready = cr_condition(&cr, "Ready");
    bool was_pending =
        ready != NULL && ready->reason != NULL && strcmp(ready->reason, "Pending") == 0;
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    if (res.action == PIPELINE_IGNORE) {
        cr_free(&cr);
        cJSON_Delete(obj);
        queue_forget(c->q, qkey);
        return;
    }
    bool written = true;
    if (res.action == PIPELINE_WRITE) {
        cJSON *patch = cJSON_CreateObject();
        cJSON *meta = cJSON_AddObjectToObject(patch, "metadata");
        cJSON_AddStringToObject(meta, "resourceVersion",
                                cr.resource_version ? cr.resource_version : "");
        cJSON_AddItemToObject(patch, "status", cr_status_to_json(&cr));
        char *body = cJSON_PrintUnformatted(patch);
        cJSON_Delete(patch);
        char path[CTL_PATH_MAX];
        snprintf(path, sizeof(path),
                 "/apis/cert-manager.io/v1/namespaces/%s/certificaterequests/%s/status",
                 cr.namespace, cr.name);
        struct kube_response r = {0};
        int rc = ctl_request(c, "PATCH", path, "application/merge-patch+json", body, &r, &e);
        free(body);
        if (rc != 0 || r.code >= 300) {
            written = false;
            if (rc == 0 && r.code >= 400 && r.code < 500 && r.code != 409 && r.code != 429) {
                /* 404: gone; 400/403/422: the server will refuse the same write again, so it
                 * is not retried blindly (the next change of the object brings it back). */
                if (r.code != 404)
                    LOG(LOG_ERROR, "controller", key, r.status.message,
                        "the API server refused the status write (%ld); not retrying", r.code);
                queue_forget(c->q, qkey);
            } else {
                /* 409: someone else wrote first; decide again on the object the watch brings. */
                LOG(r.code == 409 ? LOG_DEBUG : LOG_WARN, "controller", key,
                    rc == 0 ? r.status.message : e.msg, "status write answered %ld", r.code);
                struct err qe = {0};
                if (queue_add_rate_limited(c->q, qkey, &qe) != 0)
                    LOG(LOG_ERROR, "controller", key, qe.msg, "cannot requeue");
            }
            ctl_count(c, "CertificateRequest", r.code == 409 ? "conflict" : "write-error");
        } else {
            cJSON *fresh = cJSON_ParseWithLength(r.body, r.len);
            if (fresh != NULL) {
                /* The object as written, so a requeue before the watch event is not stale. */
                ctl_cache_cr(c, key, fresh);
                cJSON_Delete(fresh);
            }
        }
        kube_response_free(&r);
    }
    if (written) {
        if (res.action == PIPELINE_WRITE)
            ctl_audit_cr(c, &cr, res.policy, res.state, was_pending);
        for (size_t i = 0; i < res.n_events; i++) {
            ctl_event(c, obj, CR_KIND, CR_API_VERSION, res.events[i].type, res.events[i].reason,
                      res.events[i].message);
            LOG(LOG_INFO, "controller", key, NULL, "%s: %s", res.events[i].reason,
                res.events[i].message);
        }
        static const char *const states[] = {"none",   "denied",  "issued",
                                             "failed", "pending", "waiting"};
        ctl_count(c, "CertificateRequest",
                  res.action == PIPELINE_NOOP ? "final" : states[res.state]);
        struct err qe = {0};
        if (res.requeue && res.state == PIPELINE_STATE_PENDING) {
            if (queue_add_rate_limited(c->q, qkey, &qe) != 0)
                LOG(LOG_ERROR, "controller", key, qe.msg, "cannot requeue");
        } else if (res.requeue) {
            if (queue_add_after(c->q, qkey, 1000, &qe) != 0)
                LOG(LOG_ERROR, "controller", key, qe.msg, "cannot requeue");
        } else {
            queue_forget(c->q, qkey);
        }
    }
    cr_free(&cr);
    cJSON_Delete(obj);
}

/* ---- Issuers, ClusterIssuers and IssuancePolicies: the Ready condition ------------------- */

/* Writes status.conditions = [Ready] with observedGeneration when it differs from obj's. */
static void ctl_write_ready(struct controller *c, const cJSON *obj, const char *path, bool ready,
                            const char *reason, const char *message, const char *kind,
                            const char *api_version)
{
    long long gen = ctl_generation(obj);
    const cJSON *conds = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "status"), "conditions");
    const cJSON *old = NULL, *cond;
    cJSON_ArrayForEach(cond, conds)
    {
        const char *t = ctl_str(cond, "type", NULL);
        if (t != NULL && strcmp(t, "Ready") == 0)
            old = cond;
    }
    const char *status = ready ? "True" : "False";
    const cJSON *og = cJSON_GetObjectItemCaseSensitive(old, "observedGeneration");
    const char *os = ctl_str(old, "status", NULL), *orr = ctl_str(old, "reason", NULL),
               *om = ctl_str(old, "message", NULL), *olt = ctl_str(old, "lastTransitionTime", NULL);
    if (os && orr && om && strcmp(os, status) == 0 && strcmp(orr, reason) == 0 &&
        strcmp(om, message) == 0 && cJSON_IsNumber(og) && (long long)og->valuedouble == gen)
        return;
    char ts[TIMEFMT_LEN];
    timefmt_rfc3339(time(NULL), ts);
    cJSON *patch = cJSON_CreateObject();
    const char *rv = ctl_str(obj, "metadata", "resourceVersion");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(patch, "metadata"), "resourceVersion",
                            rv ? rv : "");
    cJSON *list = cJSON_AddArrayToObject(cJSON_AddObjectToObject(patch, "status"), "conditions");
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "type", "Ready");
    cJSON_AddStringToObject(r, "status", status);
    cJSON_AddStringToObject(r, "reason", reason);
    cJSON_AddStringToObject(r, "message", message);
    cJSON_AddStringToObject(r, "lastTransitionTime",
                            os && olt && strcmp(os, status) == 0 ? olt : ts);
    cJSON_AddNumberToObject(r, "observedGeneration", (double)gen);
    cJSON_AddItemToArray(list, r);
    char *body = cJSON_PrintUnformatted(patch);
    cJSON_Delete(patch);
    struct kube_response resp = {0};
    struct err e = {0};
    const char *name = ctl_str(obj, "metadata", "name");
    if (ctl_request(c, "PATCH", path, "application/merge-patch+json", body, &resp, &e) != 0 ||
        resp.code >= 300) {
        LOG(LOG_WARN, "controller", name, resp.code ? resp.status.message : e.msg,
            "cannot write the Ready condition of %s (%ld)", kind, resp.code);
    } else if (!os || strcmp(os, status) != 0 || !orr || strcmp(orr, reason) != 0) {
        ctl_event(c, obj, kind, api_version, ready ? "Normal" : "Warning", reason, message);
        LOG(ready ? LOG_INFO : LOG_WARN, "controller", name, NULL, "%s Ready=%s %s: %s", kind,
            status, reason, message);
    }
    kube_response_free(&resp);
    free(body);
}

/* signer_env.get_secret: a Secret read from the API server with get (never listed or watched). */
static cJSON *ctl_get_secret(void *ud, const char *ns, const char *name, struct err *err)
{
    struct controller *c = ud;
    char path[CTL_PATH_MAX];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/%s", ns, name);
    struct kube_response r = {0};
    if (ctl_request(c, "GET", path, NULL, NULL, &r, err) != 0) {
        err->kind = ERR_TRANSIENT;
        return NULL;
    }
    cJSON *obj = NULL;
    if (r.code == 404)
        err_set(err, ERR_ISSUER_NOT_READY, "not found");
    else if (r.code >= 300)
        err_set(err, r.code == 403 ? ERR_ISSUER_NOT_READY : ERR_TRANSIENT, "%ld %s", r.code,
                r.status.message);
    else if ((obj = cJSON_ParseWithLength(r.body, r.len)) == NULL)
        err_set(err, ERR_TRANSIENT, "the API server answered something that is not JSON");
    if (r.body != NULL)
        OPENSSL_cleanse(r.body, r.len);
    kube_response_free(&r);
    return obj;
}

static struct ctl_slot *ctl_slot_find(struct controller *c, const char *key)
{
    for (size_t i = 0; i < c->n_slots; i++)
        if (strcmp(c->slots[i].key, key) == 0)
            return &c->slots[i];
    return NULL;
}

static void ctl_slot_remove(struct controller *c, const char *key)
{
    pthread_mutex_lock(&c->lock);
    struct ctl_slot *s = ctl_slot_find(c, key);
    struct issuer *old = NULL;
    if (s != NULL) {
        old = s->is;
        free(s->key);
        *s = c->slots[--c->n_slots];
    }
    pthread_mutex_unlock(&c->lock);
    issuer_unref(old); /* requests signing with it keep their own reference */
}

/* Requests naming the issuer at key are decided from now on (valid or not: an invalid one is
 * "not found" to them, and its own Ready condition says why). */
static void ctl_mark_checked(struct controller *c, enum ctl_kind kind, const char *key)
{
    pthread_mutex_lock(&c->lock);
    struct ctl_node *n = *ctl_map_find(&c->objs[kind], key);
    if (n != NULL)
        n->checked = true;
    pthread_mutex_unlock(&c->lock);
}

static void ctl_reconcile_issuer(struct controller *c, const char *key, const char *qkey)
{
    bool cluster = strncmp(key, "ClusterIssuer/", 14) == 0;
    enum ctl_kind kind = cluster ? CTL_CLUSTER_ISSUER : CTL_ISSUER;
    pthread_mutex_lock(&c->lock);
    struct ctl_node *n = *ctl_map_find(&c->objs[kind], key);
    cJSON *obj = n ? cJSON_Duplicate(n->obj, 1) : NULL;
    struct ctl_slot *slot = ctl_slot_find(c, key);
    long long slot_gen = slot ? slot->generation : -1;
    time_t next = slot ? slot->next_check : 0;
    int failures = slot ? slot->failures : 0;
    struct issuer *current = slot ? issuer_ref(slot->is) : NULL;
    pthread_mutex_unlock(&c->lock);
    if (obj == NULL) {
        issuer_unref(current);
        ctl_slot_remove(c, key);
        queue_forget(c->q, qkey);
        ctl_enqueue_all_crs(c);
        return;
    }
    long long gen = ctl_generation(obj);
    time_t now = time(NULL);
    char path[CTL_PATH_MAX];
    const char *name = ctl_str(obj, "metadata", "name");
    const char *ns = ctl_str(obj, "metadata", "namespace");
    if (cluster)
        snprintf(path, sizeof(path), "/apis/ember.issuer.dev/v1alpha1/clusterissuers/%s/status",
                 name);
    else
        snprintf(path, sizeof(path),
                 "/apis/ember.issuer.dev/v1alpha1/namespaces/%s/issuers/%s/status", ns, name);
    const char *kname = cluster ? "ClusterIssuer" : "Issuer";
    if (current != NULL && slot_gen == gen && now < next) {
        /* Our own status write came back through the watch: nothing new. The event took the
         * key out of the queue's schedule (the sooner time wins), so put the re-check back. */
        issuer_unref(current);
        cJSON_Delete(obj);
        struct err qe = {0};
        if (queue_add_after(c->q, qkey, (unsigned long)(next - now) * 1000, &qe) != 0)
            LOG(LOG_ERROR, "controller", key, qe.msg, "cannot schedule the re-check");
        return;
    }
    struct err e = {0};
    struct issuer *is = NULL;
    bool was_ready = current != NULL && issuer_is_ready(current);
    if (current != NULL && slot_gen == gen && issuer_recheck(current, now)) {
        /* Periodic re-check in place, when the signer row has one (Vault: keeps its cached
         * token). Otherwise (a local CA; a signer that could not be built) it is loaded again. */
        is = current;
        current = NULL;
    } else {
        is = issuer_from_json(obj, &e);
        if (is == NULL) {
            ctl_write_ready(c, obj, path, false, "Failed", e.msg, kname, ISSUER_API_VERSION);
            issuer_unref(current);
            ctl_slot_remove(c, key);
            ctl_mark_checked(c, kind, key);
            cJSON_Delete(obj);
            queue_forget(c->q, qkey);
            ctl_enqueue_all_crs(c);
            return;
        }
        struct signer_env env = {.get_secret = ctl_get_secret, .ud = c};
        issuer_load_signer(is, &env, c->cfg.cluster_ns, now);
        issuer_unref(current);
        current = NULL;
    }
    struct issuer_state st;
    issuer_get_state(is, &st);
    ctl_write_ready(c, obj, path, st.ready, st.reason, st.message, kname, ISSUER_API_VERSION);
    failures = st.ready ? 0 : failures + 1;
    long long delay = c->cfg.issuer_recheck_s;
    if (!st.ready) {
        long long backoff = 1LL << (failures < 8 ? failures : 8);
        delay = backoff < delay ? backoff : delay;
    }
    pthread_mutex_lock(&c->lock);
    struct issuer *old = NULL;
    slot = ctl_slot_find(c, key);
    if (slot == NULL) {
        if (c->n_slots == c->cap_slots) {
            c->cap_slots = c->cap_slots ? c->cap_slots * 2 : 8;
            c->slots = xrealloc(c->slots, c->cap_slots * sizeof(*c->slots));
        }
        slot = &c->slots[c->n_slots++];
        memset(slot, 0, sizeof(*slot));
        slot->key = xstrdup(key);
    } else if (slot->is != is) {
        old = slot->is;
    } else {
        old = is; /* the re-checked issuer: drop the reference this function held */
    }
    if (slot->is != is)
        slot->is = issuer_ref(is);
    slot->generation = gen;
    slot->next_check = now + (time_t)delay;
    struct ctl_node *node = *ctl_map_find(&c->objs[kind], key);
    if (node != NULL)
        node->checked = true;
    slot->failures = failures;
    pthread_mutex_unlock(&c->lock);
    issuer_unref(old);
    if (old != is)
        issuer_unref(is);
    struct err qe = {0};
    if (queue_add_after(c->q, qkey, (unsigned long)delay * 1000, &qe) != 0)
        LOG(LOG_ERROR, "controller", key, qe.msg, "cannot schedule the re-check");
    ctl_count(c, kname, st.ready ? "ready" : "not-ready");
    if (st.ready != was_ready || slot_gen != gen)
        ctl_enqueue_all_crs(c);
    cJSON_Delete(obj);
}

static void ctl_reconcile_policy(struct controller *c, const char *name, const char *qkey)
{
    pthread_mutex_lock(&c->lock);
    struct ctl_node *n = *ctl_map_find(&c->objs[CTL_POLICY], name);
    cJSON *obj = n ? cJSON_Duplicate(n->obj, 1) : NULL;
    pthread_mutex_unlock(&c->lock);
    struct ctl_policy *cp = obj != NULL ? ctl_policy_new(name, obj) : NULL;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_pols; i++) {
        struct ctl_policy *old = c->pols[i];
        if (!old->retired && strcmp(old->name, name) == 0) {
            old->retired = true;
            ctl_policy_unref_locked(c, old);
            break;
        }
    }
    if (cp != NULL)
        ctl_policy_add_locked(c, cp);
    bool valid = cp != NULL && cp->p != NULL;
    char *invalid = cp != NULL && cp->invalid ? xstrdup(cp->invalid) : NULL;
    pthread_mutex_unlock(&c->lock);
    if (obj != NULL) {
        char path[CTL_PATH_MAX];
        snprintf(path, sizeof(path), "/apis/ember.issuer.dev/v1alpha1/issuancepolicies/%s/status",
                 name);
        ctl_write_ready(c, obj, path, valid, valid ? "Valid" : "Invalid",
                        valid ? "The policy is valid" : invalid, POLICY_KIND, POLICY_GROUP_VERSION);
    }
    ctl_count(c, POLICY_KIND, obj == NULL ? "deleted" : valid ? "valid" : "invalid");
    free(invalid);
    cJSON_Delete(obj);
    queue_forget(c->q, qkey);
    ctl_enqueue_all_crs(c);
}

/* ---- workers ----------------------------------------------------------------------------- */

static void *ctl_worker(void *arg)
{
    struct controller *c = arg;
    char qkey[QUEUE_KEY_SIZE];
    while (queue_get(c->q, qkey, sizeof(qkey)) == 1) {
        if (c->cfg.metrics != NULL)
            metrics_gauge_set(c->cfg.metrics, "ember_queue_depth", "", (double)queue_len(c->q));
        if (!__atomic_load_n(&c->leader, __ATOMIC_ACQUIRE)) {
            /* Followers write nothing; controller_set_leader queues everything again. */
            queue_forget(c->q, qkey);
        } else if (!controller_synced(c)) {
            /* Never decide on partial caches (a missing policy is only "not seen yet"). */
            struct err e = {0};
            if (queue_add_after(c->q, qkey, CTL_NOT_SYNCED_RETRY_MS, &e) != 0)
                LOG(LOG_ERROR, "controller", qkey, e.msg, "cannot requeue");
        } else if (strncmp(qkey, "cr:", 3) == 0) {
            ctl_reconcile_cr(c, qkey + 3, qkey);
        } else if (strncmp(qkey, "issuer:", 7) == 0) {
            ctl_reconcile_issuer(c, qkey + 7, qkey);
        } else if (strncmp(qkey, "policy:", 7) == 0) {
            ctl_reconcile_policy(c, qkey + 7, qkey);
        }
        queue_done(c->q, qkey);
    }
    return NULL;
}

static const char *const ctl_paths[CTL_KINDS] = {
    "/apis/cert-manager.io/v1/certificaterequests",
    "/apis/ember.issuer.dev/v1alpha1/issuers",
    "/apis/ember.issuer.dev/v1alpha1/clusterissuers",
    "/apis/ember.issuer.dev/v1alpha1/issuancepolicies",
};
static int ctl_watch(struct controller *c, enum ctl_kind k, const char *path, struct err *err)
{
    if (c->n_refl == CTL_MAX_WATCHES) {
        err_set(err, ERR_TOO_BIG, "more than %d watches", CTL_MAX_WATCHES);
        return -1;
    }
    struct reflector_ops ops = {.upsert = ctl_upsert, .remove = ctl_remove};
    struct reflector_opts o = {
        .watch_min_s = c->cfg.watch_min_s,
        .watch_max_s = c->cfg.watch_max_s,
        .name = path,
    };
    struct reflector *r = reflector_start(c->cfg.kube, path, &ops, &c->feeds[k], &o, err);
    if (r == NULL)
        return -1;
    c->refl_names[c->n_refl] = xstrdup(path);
    c->refl[c->n_refl++] = r;
    return 0;
}

/* Publishes every 2 s the watches' counters (restarts, relists, expired histories) and the
 * gauges of the issuers loaded (issuer_publish_metrics, as standalone mode does). */
static void *ctl_metrics_thread(void *arg)
{
    struct controller *c = arg;
    pthread_mutex_lock(&c->stop_lock);
    while (!c->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 2;
        pthread_cond_timedwait(&c->stop_cond, &c->stop_lock, &until);
        if (c->stopping)
            break;
        for (size_t i = 0; i < c->n_refl; i++) {
            struct reflector_stats st;
            reflector_get_stats(c->refl[i], &st);
            char esc[300], labels[400];
            metrics_escape_label(c->refl_names[i], esc, sizeof(esc));
            snprintf(labels, sizeof(labels), "watch=\"%s\"", esc);
            struct reflector_stats *last = &c->last_stats[i];
            metrics_counter_add(c->cfg.metrics, "ember_watch_restarts_total", labels,
                                (double)(st.watch_restarts - last->watch_restarts));
            metrics_counter_add(c->cfg.metrics, "ember_watch_relists_total", labels,
                                (double)(st.relists - last->relists));
            metrics_gauge_set(c->cfg.metrics, "ember_watch_objects", labels, (double)st.objects);
            *last = st;
        }
        metrics_gauge_set(c->cfg.metrics, "ember_queue_depth", "", (double)queue_len(c->q));
        pthread_mutex_lock(&c->lock);
        struct issuer **issuers = xcalloc(c->n_slots + 1, sizeof(*issuers));
        size_t n = c->n_slots;
        for (size_t i = 0; i < n; i++)
            issuers[i] = issuer_ref(c->slots[i].is);
        pthread_mutex_unlock(&c->lock);
        issuer_publish_metrics(c->cfg.metrics, issuers, n);
        for (size_t i = 0; i < n; i++)
            issuer_unref(issuers[i]);
        free(issuers);
    }
    pthread_mutex_unlock(&c->stop_lock);
    return NULL;
}

struct controller *controller_start(const struct controller_config *cfg, struct err *err)
{
    struct controller *c = xcalloc(1, sizeof(*c));
    c->cfg = *cfg;
    c->cfg.instance = c->instance = xstrdup(cfg->instance ? cfg->instance : "ember-issuer");
    c->cfg.cluster_ns = c->cluster_ns = xstrdup(cfg->cluster_ns ? cfg->cluster_ns : "default");
    if (c->cfg.workers <= 0)
        c->cfg.workers = 4;
    pthread_mutex_init(&c->lock, NULL);
    c->q = queue_new((unsigned long)(cfg->backoff_base_ms > 0 ? cfg->backoff_base_ms : 5),
                     (unsigned long)(cfg->backoff_cap_ms > 0 ? cfg->backoff_cap_ms : 1000000),
                     CONTROLLER_MAX_KEYS);
    if (c->cfg.metrics != NULL) {
        metrics_declare(c->cfg.metrics, "ember_queue_depth", "gauge",
                        "Keys waiting in the controller's work queue.");
        metrics_declare(c->cfg.metrics, "ember_reconcile_total", "counter",
                        "Reconciles by kind and outcome.");
        metrics_declare(c->cfg.metrics, "ember_api_requests_total", "counter",
                        "Kubernetes API calls by verb and HTTP code (0: no answer).");
    }
    c->leader = cfg->start_as_follower ? 0 : 1;
    pthread_mutex_init(&c->stop_lock, NULL);
    pthread_cond_init(&c->stop_cond, NULL);
    for (int k = 0; k < CTL_KINDS; k++)
        c->feeds[k] = (struct ctl_feed){.c = c, .kind = (enum ctl_kind)k};
    for (int k = 0; k < CTL_KINDS; k++) {
        bool namespaced = k == CTL_CR || k == CTL_ISSUER;
        if (!namespaced || cfg->n_namespaces == 0) {
            if (ctl_watch(c, (enum ctl_kind)k, ctl_paths[k], err) != 0) {
                controller_stop(c);
                return NULL;
            }
            continue;
        }
        for (size_t i = 0; i < cfg->n_namespaces; i++) {
            char path[CTL_PATH_MAX];
            if (k == CTL_CR)
                snprintf(path, sizeof(path),
                         "/apis/cert-manager.io/v1/namespaces/%s/certificaterequests",
                         cfg->namespaces[i]);
            else
                snprintf(path, sizeof(path),
                         "/apis/ember.issuer.dev/v1alpha1/namespaces/%s/issuers",
                         cfg->namespaces[i]);
            if (ctl_watch(c, (enum ctl_kind)k, path, err) != 0) {
                controller_stop(c);
                return NULL;
            }
        }
    }
    if (c->cfg.metrics != NULL) {
        metrics_declare(c->cfg.metrics, "ember_watch_restarts_total", "counter",
                        "Watches re-opened from the last resourceVersion, by collection.");
        metrics_declare(c->cfg.metrics, "ember_watch_relists_total", "counter",
                        "Lists after the first (410 Expired), by collection.");
        metrics_declare(c->cfg.metrics, "ember_watch_objects", "gauge",
                        "Objects mirrored, by collection.");
        metrics_declare(c->cfg.metrics, "ember_leader", "gauge",
                        "1 while this replica leads (or runs without leader election).");
        metrics_gauge_set(c->cfg.metrics, "ember_leader", "", c->leader);
        c->metrics_started = pthread_create(&c->metrics_thread, NULL, ctl_metrics_thread, c) == 0;
    }
    c->workers = xcalloc((size_t)c->cfg.workers, sizeof(*c->workers));
    for (int i = 0; i < c->cfg.workers; i++) {
        if (pthread_create(&c->workers[i], NULL, ctl_worker, c) != 0) {
            err_set(err, ERR_INTERNAL, "cannot start worker threads");
            controller_stop(c);
            return NULL;
        }
        c->n_workers++;
    }
    return c;
}

void controller_stop(struct controller *c)
{
    if (c == NULL)
        return;
    if (c->metrics_started) {
        pthread_mutex_lock(&c->stop_lock);
        c->stopping = true;
        pthread_cond_signal(&c->stop_cond);
        pthread_mutex_unlock(&c->stop_lock);
        pthread_join(c->metrics_thread, NULL);
    }
    /* Workers first (they ask the reflectors whether they synced), then the watches (their
     * callbacks only add to the queue, which ignores adds once shut down). */
    if (c->q != NULL)
        queue_shutdown(c->q);
    for (int i = 0; i < c->n_workers; i++)
        pthread_join(c->workers[i], NULL);
    free(c->workers);
    for (size_t k = 0; k < c->n_refl; k++) {
        reflector_stop(c->refl[k]);
        free(c->refl_names[k]);
    }
    for (size_t i = 0; i < c->n_slots; i++) {
        issuer_unref(c->slots[i].is);
        free(c->slots[i].key);
    }
    free(c->slots);
    for (size_t i = 0; i < c->n_pols; i++)
        ctl_policy_free(c->pols[i]);
    free(c->pols);
    for (int k = 0; k < CTL_KINDS; k++)
        ctl_map_free(&c->objs[k]);
    queue_free(c->q);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->stop_lock);
    pthread_cond_destroy(&c->stop_cond);
    free(c->instance);
    free(c->cluster_ns);
    free(c);
}
