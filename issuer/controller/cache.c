/* cache.c -- the controller's object caches, fed by the watches: Issuers, ClusterIssuers and
 * IssuancePolicies as JSON, CertificateRequests parsed once into the struct their reconciler
 * reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "controller/controller_int.h"
#include "decide/pipeline.h"
#include "signers/secret.h"

static const char *const cache_prefix[CTL_KINDS] = {"cr:", "issuer:", "issuer:", "policy:"};

/* ---- the maps ---------------------------------------------------------------------------- */

static unsigned long cache_hash(const char *s)
{
    unsigned long h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h % CTL_BUCKETS;
}

struct ctl_node **ctl_map_find(struct ctl_map *m, const char *key)
{
    struct ctl_node **pp = &m->b[cache_hash(key)];
    while (*pp != NULL && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* Frees what n holds (not its key). */
static void cache_node_clear(struct ctl_node *n)
{
    secret_delete(n->obj);
    n->obj = NULL;
    if (n->cr != NULL)
        cr_free(n->cr);
    free(n->cr);
    n->cr = NULL;
    free(n->unreadable);
    n->unreadable = NULL;
    n->final = false;
}

/* The node under key, emptied, created when missing. c->lock held. */
static struct ctl_node *cache_node(struct ctl_map *m, const char *key)
{
    struct ctl_node **pp = ctl_map_find(m, key);
    if (*pp != NULL) {
        cache_node_clear(*pp);
        return *pp;
    }
    struct ctl_node *n = xcalloc(1, sizeof(*n));
    n->key = xstrdup(key);
    *pp = n;
    m->n++;
    return n;
}

static void cache_del(struct ctl_map *m, const char *key)
{
    struct ctl_node **pp = ctl_map_find(m, key);
    if (*pp == NULL)
        return;
    struct ctl_node *n = *pp;
    *pp = n->next;
    cache_node_clear(n);
    free(n->key);
    free(n);
    m->n--;
}

void ctl_map_free(struct ctl_map *m)
{
    for (size_t i = 0; i < CTL_BUCKETS; i++) {
        while (m->b[i] != NULL)
            cache_del(m, m->b[i]->key);
    }
}

bool ctl_key(enum ctl_kind k, const cJSON *obj, char *out, size_t len)
{
    const char *ns = ctl_str(obj, "metadata", "namespace");
    const char *name = ctl_str(obj, "metadata", "name");
    ns = ns ? ns : "";
    name = name ? name : "";
    int n;
    switch (k) {
    case CTL_ISSUER: return cr_issuer_ref("Issuer", ns, name, out, len);
    case CTL_CLUSTER_ISSUER: return cr_issuer_ref("ClusterIssuer", ns, name, out, len);
    case CTL_CR: n = snprintf(out, len, "%s/%s", ns, name); break;
    default: n = snprintf(out, len, "%s", name); break;
    }
    return n >= 0 && (size_t)n < len;
}

/* ---- CertificateRequests: parsed once ---------------------------------------------------- */

void ctl_cache_cr(struct controller *c, const char *key, const cJSON *obj)
{
    struct cr *cr = xcalloc(1, sizeof(*cr));
    struct err e = {0};
    char *why = NULL;
    bool final = false;
    if (cr_from_json(obj, cr, &e) != 0) {
        why = xstrdup(e.msg);
    } else if (pipeline_final_state(cr) != PIPELINE_STATE_NONE) {
        final = true; /* nothing will change it any more: its key is enough */
    } else {
        cr_keep_annotations(cr, c->cfg.policy_annotations, c->cfg.n_policy_annotations);
    }
    if (why != NULL || final) {
        cr_free(cr);
        free(cr);
        cr = NULL;
    }
    pthread_mutex_lock(&c->lock);
    struct ctl_node *n = cache_node(&c->objs[CTL_CR], key);
    n->cr = cr;
    n->unreadable = why;
    n->final = final;
    pthread_mutex_unlock(&c->lock);
}

enum ctl_take ctl_cache_take_cr(struct controller *c, const char *key, struct cr *out, char **why)
{
    enum ctl_take t = CTL_TAKE_GONE;
    pthread_mutex_lock(&c->lock);
    const struct ctl_node *n = *ctl_map_find(&c->objs[CTL_CR], key);
    if (n != NULL && n->final) {
        t = CTL_TAKE_FINAL;
    } else if (n != NULL && n->unreadable != NULL) {
        *why = xstrdup(n->unreadable);
        t = CTL_TAKE_UNREADABLE;
    } else if (n != NULL && n->cr != NULL) {
        cr_copy(out, n->cr);
        t = CTL_TAKE_OK;
    }
    pthread_mutex_unlock(&c->lock);
    return t;
}

cJSON *ctl_cache_dup(struct controller *c, enum ctl_kind kind, const char *key)
{
    pthread_mutex_lock(&c->lock);
    const struct ctl_node *n = *ctl_map_find(&c->objs[kind], key);
    cJSON *obj = n != NULL && n->obj != NULL ? cJSON_Duplicate(n->obj, 1) : NULL;
    pthread_mutex_unlock(&c->lock);
    return obj;
}

/* ---- the work queue ---------------------------------------------------------------------- */

void ctl_enqueue(struct controller *c, const char *qkey)
{
    struct err e = {0};
    if (queue_add(c->q, qkey, &e) != 0)
        LOG(LOG_ERROR, "controller", NULL, e.msg, "cannot queue %s", qkey);
}

/* Queues prefix + key (CTL_KEY_MAX bytes at most, so it always fits). */
static void cache_enqueue_key(struct controller *c, enum ctl_kind k, const char *key)
{
    char qkey[CTL_QKEY_MAX];
    snprintf(qkey, sizeof(qkey), "%s%s", cache_prefix[k], key);
    ctl_enqueue(c, qkey);
}

void ctl_enqueue_all(struct controller *c, bool crs_only)
{
    for (int k = 0; k < (crs_only ? 1 : CTL_KINDS); k++) {
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < CTL_BUCKETS; i++) {
            for (const struct ctl_node *n = c->objs[k].b[i]; n != NULL; n = n->next)
                if (!n->final)
                    cache_enqueue_key(c, (enum ctl_kind)k, n->key);
        }
        pthread_mutex_unlock(&c->lock);
    }
}

/* ---- reflector callbacks ----------------------------------------------------------------- */

/* obj's cache key into key; false (logged) when its names are longer than Kubernetes allows. */
static bool cache_key_of(const struct ctl_feed *f, const cJSON *obj, char *key, size_t len)
{
    if (ctl_key(f->kind, obj, key, len))
        return true;
    LOG(LOG_WARN, "controller", NULL, NULL, "ignoring an object whose name is too long: %.64s...",
        key);
    return false;
}

void ctl_upsert(void *ud, const cJSON *obj)
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
    char key[CTL_KEY_MAX];
    if (!cache_key_of(f, obj, key, sizeof(key)))
        return;
    if (f->kind == CTL_CR) {
        ctl_cache_cr(c, key, obj);
    } else {
        pthread_mutex_lock(&c->lock);
        cache_node(&c->objs[f->kind], key)->obj = cJSON_Duplicate(obj, 1);
        pthread_mutex_unlock(&c->lock);
    }
    cache_enqueue_key(c, f->kind, key);
}

void ctl_remove(void *ud, const cJSON *obj)
{
    struct ctl_feed *f = ud;
    struct controller *c = f->c;
    char key[CTL_KEY_MAX];
    if (!cache_key_of(f, obj, key, sizeof(key)))
        return;
    pthread_mutex_lock(&c->lock);
    cache_del(&c->objs[f->kind], key);
    pthread_mutex_unlock(&c->lock);
    if (f->kind != CTL_CR)
        cache_enqueue_key(c, f->kind, key);
}
