/* reflector.c -- list + watch one collection on a thread, recovering as client-go's reflector. */
#include "kube/reflector.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"

/* ---- the keys ("namespace/name") of the objects mirrored ---------------------------------
 * Only keys: the consumer keeps the objects it needs (one copy, in the form it wants); a relist
 * needs no more than the keys to tell which objects vanished. */

struct reflector_entry {
    char *key;
    struct reflector_entry *next;
};

struct reflector_cache {
    struct reflector_entry **slots;
    size_t nslots, count;
};

static uint64_t reflector_hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void reflector_cache_init(struct reflector_cache *c)
{
    c->nslots = 64;
    c->count = 0;
    c->slots = xcalloc(c->nslots, sizeof *c->slots);
}

static void reflector_cache_free(struct reflector_cache *c)
{
    for (size_t i = 0; i < c->nslots; i++) {
        for (struct reflector_entry *e = c->slots[i], *n; e; e = n) {
            n = e->next;
            free(e->key);
            free(e);
        }
    }
    free(c->slots);
    memset(c, 0, sizeof *c);
}

static struct reflector_entry **reflector_cache_find(struct reflector_cache *c, const char *key)
{
    struct reflector_entry **p = &c->slots[reflector_hash_key(key) % c->nslots];
    while (*p && strcmp((*p)->key, key) != 0)
        p = &(*p)->next;
    return p;
}

static void reflector_cache_grow(struct reflector_cache *c)
{
    size_t n = c->nslots * 2;
    struct reflector_entry **slots = xcalloc(n, sizeof *slots);
    for (size_t i = 0; i < c->nslots; i++) {
        for (struct reflector_entry *e = c->slots[i], *nx; e; e = nx) {
            nx = e->next;
            size_t h = reflector_hash_key(e->key) % n;
            e->next = slots[h];
            slots[h] = e;
        }
    }
    free(c->slots);
    c->slots = slots;
    c->nslots = n;
}

static void reflector_cache_put(struct reflector_cache *c, const char *key)
{
    struct reflector_entry **p = reflector_cache_find(c, key);
    if (*p)
        return;
    struct reflector_entry *e = xcalloc(1, sizeof *e);
    e->key = xstrdup(key);
    *p = e;
    if (++c->count > c->nslots)
        reflector_cache_grow(c);
}

static void reflector_cache_take(struct reflector_cache *c, const char *key)
{
    struct reflector_entry **p = reflector_cache_find(c, key);
    if (!*p)
        return;
    struct reflector_entry *e = *p;
    *p = e->next;
    free(e->key);
    free(e);
    c->count--;
}

/* The object remove() gets for a key absent from a relist: metadata.namespace and name. */
static cJSON *reflector_key_stub(const char *key)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(obj, "metadata");
    const char *slash = strchr(key, '/');
    if (slash) {
        char *ns = xstrndup(key, (size_t)(slash - key));
        cJSON_AddStringToObject(md, "namespace", ns);
        free(ns);
        cJSON_AddStringToObject(md, "name", slash + 1);
    } else {
        cJSON_AddStringToObject(md, "name", key);
    }
    return obj;
}

/* "namespace/name" or "name"; NULL when the object has no name. */
static char *reflector_object_key(const cJSON *obj)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(md, "namespace");
    if (!cJSON_IsString(name) || !name->valuestring[0])
        return NULL;
    if (cJSON_IsString(ns) && ns->valuestring[0])
        return xasprintf("%s/%s", ns->valuestring, name->valuestring);
    return xstrdup(name->valuestring);
}

/* ---- the reflector ----------------------------------------------------------------------- */

struct reflector {
    struct kube *k;
    char *path;
    struct reflector_ops ops;
    void *ud;
    struct reflector_opts o;
    pthread_t thread;
    pthread_mutex_t lock; /* stop, stats, synced */
    pthread_cond_t cond;
    bool stop;
    bool synced;
    struct reflector_stats stats;
    unsigned seed;
    struct reflector_cache cache;
    char rv[WATCH_RV_MAX]; /* last seen resourceVersion (only the thread touches it) */
    struct kube_backoff backoff;
    /* the next list (only the thread touches these) */
    bool need_list;
    bool list_rv_set;           /* false: a quorum read, no resourceVersion */
    char list_rv[WATCH_RV_MAX]; /* when list_rv_set */
    /* per watch */
    struct watch_reader *reader;
    bool expired;     /* an ERROR event with 410 arrived */
    bool event_error; /* another ERROR event arrived */
    unsigned long watch_events;
};

enum reflector_list_result { LIST_OK, LIST_FAILED, LIST_EXPIRED, LIST_THROTTLED, LIST_STOPPED };

static bool reflector_stopping(struct reflector *r)
{
    pthread_mutex_lock(&r->lock);
    bool s = r->stop;
    pthread_mutex_unlock(&r->lock);
    return s;
}

static bool reflector_stop_cb(void *ud)
{
    return reflector_stopping(ud);
}

/* Sleeps ms unless stopped first; returns true when stopping. */
static bool reflector_sleep_ms(struct reflector *r, long ms)
{
    struct timespec ts = clock_deadline(ms);
    pthread_mutex_lock(&r->lock);
    while (!r->stop && pthread_cond_timedwait(&r->cond, &r->lock, &ts) == 0)
        ;
    bool s = r->stop;
    pthread_mutex_unlock(&r->lock);
    return s;
}

static double reflector_rnd(struct reflector *r)
{
    return (double)rand_r(&r->seed) / ((double)RAND_MAX + 1.0);
}

#define STAT_INC(r, field)                                                                         \
    do {                                                                                           \
        pthread_mutex_lock(&(r)->lock);                                                            \
        (r)->stats.field++;                                                                        \
        pthread_mutex_unlock(&(r)->lock);                                                          \
    } while (0)

/* Keeps rv (when not "") as the RV to resume from. Every caller passes one of at most
 * WATCH_RV_MAX-1 bytes (watch.c and the list check it); a longer one would resume a watch from
 * a cut RV, so it is not kept. */
static void reflector_set_rv(struct reflector *r, const char *rv)
{
    size_t n = strlen(rv);
    if (n == 0 || n >= sizeof r->rv)
        return;
    memcpy(r->rv, rv, n + 1);
    pthread_mutex_lock(&r->lock);
    memcpy(r->stats.last_rv, r->rv, sizeof r->rv);
    r->stats.objects = r->cache.count;
    pthread_mutex_unlock(&r->lock);
}

/* Waits out a failure with the backoff; true when stopping. */
static bool reflector_back_off(struct reflector *r, const char *what, const struct err *e)
{
    STAT_INC(r, errors);
    long d = kube_backoff_next(&r->backoff, clock_mono_ms(), reflector_rnd(r));
    LOG(LOG_DEBUG, "reflector", r->o.name, e ? e->msg : NULL, "%s failed; retrying in %ld ms", what,
        d);
    return reflector_sleep_ms(r, d);
}

static bool reflector_throttle(struct reflector *r, long retry_after_s)
{
    STAT_INC(r, throttled);
    long d = retry_after_s > 0 ? retry_after_s * 1000
                               : kube_backoff_next(&r->backoff, clock_mono_ms(), reflector_rnd(r));
    LOG(LOG_DEBUG, "reflector", r->o.name, NULL, "throttled (429); retrying in %ld ms", d);
    return reflector_sleep_ms(r, d);
}

/* GETs one page of the list at path: LIST_OK with *page (cJSON_Delete it; NULL when the body is
 * not JSON), else what went wrong. */
static enum reflector_list_result reflector_list_get(struct reflector *r, const char *path,
                                                     long *retry_after, cJSON **page,
                                                     struct err *err)
{
    struct kube_stream_ops ops = {.data = NULL, .stop = reflector_stop_cb};
    struct kube_response resp;
    *page = NULL;
    if (kube_get_stream(r->k, path, 0, &ops, r, &resp, err) < 0) {
        kube_response_free(&resp);
        return reflector_stopping(r) ? LIST_STOPPED : LIST_FAILED;
    }
    enum reflector_list_result res = LIST_FAILED;
    if (resp.code == 410 || (resp.code >= 400 && resp.status.too_large_rv)) {
        res = LIST_EXPIRED;
        err_set(err, ERR_TRANSIENT, "list %s: %ld %s: %s", r->path, resp.code, resp.status.reason,
                resp.status.message);
    } else if (resp.code == 429) {
        *retry_after = resp.status.retry_after_s;
        res = LIST_THROTTLED;
    } else if (resp.code != 200) {
        err_set(err, resp.code >= 500 ? ERR_TRANSIENT : ERR_PERMANENT, "list %s: %ld %s: %s",
                r->path, resp.code, resp.status.reason, resp.status.message);
    } else {
        STAT_INC(r, list_pages);
        *page = cJSON_ParseWithLength(resp.body, resp.len);
        res = LIST_OK;
    }
    kube_response_free(&resp);
    return res;
}

/* Hands every item of a page to upsert and keeps its key in fresh. Level-triggered: every listed
 * object is an upsert, page by page (a list given up half-way has only delivered states the
 * server did hold). */
static WUR int reflector_list_items(struct reflector *r, cJSON *items,
                                    struct reflector_cache *fresh, struct err *err)
{
    while (cJSON_IsArray(items) && items->child) {
        cJSON *it = cJSON_DetachItemViaPointer(items, items->child);
        char *key = reflector_object_key(it);
        if (!key) {
            cJSON_Delete(it);
            continue;
        }
        if (fresh->count >= REFLECTOR_MAX_OBJECTS) {
            free(key);
            cJSON_Delete(it);
            err_set(err, ERR_TOO_BIG, "list %s: more than %d objects", r->path,
                    REFLECTOR_MAX_OBJECTS);
            return -1;
        }
        reflector_cache_put(fresh, key);
        free(key);
        if (r->ops.upsert)
            r->ops.upsert(r->ud, it);
        cJSON_Delete(it);
    }
    return 0;
}

/* One page of a list: its items delivered (their keys in fresh), the first page's
 * resourceVersion in list_rv, the next page's continue token in *cont (NULL after the last). */
static enum reflector_list_result reflector_list_page(struct reflector *r, const char *path,
                                                      struct reflector_cache *fresh,
                                                      char list_rv[WATCH_RV_MAX], char **cont,
                                                      long *retry_after, struct err *err)
{
    cJSON *page = NULL;
    enum reflector_list_result res = reflector_list_get(r, path, retry_after, &page, err);
    if (res != LIST_OK)
        return res;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(page, "metadata");
    const cJSON *prv = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
    const cJSON *pcont = cJSON_GetObjectItemCaseSensitive(md, "continue");
    cJSON *items = cJSON_GetObjectItemCaseSensitive(page, "items");
    if (!cJSON_IsObject(page) || (items && !cJSON_IsArray(items) && !cJSON_IsNull(items)) ||
        !cJSON_IsString(prv) || strlen(prv->valuestring) >= WATCH_RV_MAX) {
        err_set(err, ERR_TRANSIENT,
                "list %s: the answer is not a list with metadata.resourceVersion", r->path);
        cJSON_Delete(page);
        return LIST_FAILED;
    }
    if (!list_rv[0])
        memcpy(list_rv, prv->valuestring, strlen(prv->valuestring) + 1);
    if (reflector_list_items(r, items, fresh, err) != 0) {
        cJSON_Delete(page);
        return LIST_FAILED;
    }
    if (cJSON_IsString(pcont) && pcont->valuestring[0])
        *cont = xstrdup(pcont->valuestring);
    cJSON_Delete(page);
    return LIST_OK;
}

/* A complete list: the objects that vanished since the last list or event are removed, and
 * fresh becomes the cache (fresh is left empty). */
static void reflector_list_done(struct reflector *r, struct reflector_cache *fresh,
                                const char *list_rv)
{
    for (size_t i = 0; i < r->cache.nslots; i++) {
        for (struct reflector_entry *e = r->cache.slots[i]; e; e = e->next) {
            if (!*reflector_cache_find(fresh, e->key) && r->ops.remove) {
                cJSON *stub = reflector_key_stub(e->key);
                r->ops.remove(r->ud, stub);
                cJSON_Delete(stub);
            }
        }
    }
    reflector_cache_free(&r->cache);
    r->cache = *fresh;
    memset(fresh, 0, sizeof *fresh);
    pthread_mutex_lock(&r->lock);
    r->stats.lists++;
    if (r->synced)
        r->stats.relists++;
    r->synced = true;
    pthread_mutex_unlock(&r->lock);
    reflector_set_rv(r, list_rv);
    if (r->ops.synced)
        r->ops.synced(r->ud);
}

/* One full paged list at rv (NULL = quorum read); replaces the cache on success. */
static enum reflector_list_result reflector_list(struct reflector *r, const char *rv,
                                                 long *retry_after, struct err *err)
{
    struct reflector_cache fresh;
    reflector_cache_init(&fresh);
    char list_rv[WATCH_RV_MAX] = "";
    char *cont = NULL;
    enum reflector_list_result res = LIST_OK;
    do {
        char *path = cont ? kube_path_list(r->path, r->o.page_limit, NULL, cont, err)
                          : kube_path_list(r->path, r->o.page_limit, rv, NULL, err);
        free(cont);
        cont = NULL;
        res = path ? reflector_list_page(r, path, &fresh, list_rv, &cont, retry_after, err)
                   : LIST_FAILED;
        free(path);
    } while (res == LIST_OK && cont != NULL);
    if (res == LIST_OK)
        reflector_list_done(r, &fresh, list_rv);
    if (fresh.slots) {
        /* A list given up half-way: what it delivered is known to the consumer now, so a later
         * DELETED event or relist must be able to remove it. */
        for (size_t i = 0; i < fresh.nslots; i++)
            for (struct reflector_entry *e = fresh.slots[i]; e; e = e->next)
                reflector_cache_put(&r->cache, e->key);
        reflector_cache_free(&fresh);
    }
    return res;
}

static WUR int reflector_apply_event(struct reflector *r, struct watch_event *ev, struct err *err)
{
    if (ev->type == WATCH_ERROR) {
        /* watch.c read the Status object's code, reason and message already. */
        if (ev->error_code == 410 || strcmp(ev->error_reason, "Expired") == 0 ||
            strcmp(ev->error_reason, "Gone") == 0) {
            r->expired = true;
            err_set(err, ERR_TRANSIENT, "watch expired: %s", ev->error_message);
        } else {
            r->event_error = true;
            err_set(err, ERR_TRANSIENT, "watch ERROR event %d %s: %s", ev->error_code,
                    ev->error_reason, ev->error_message);
        }
        cJSON_Delete(ev->object);
        return -1;
    }
    if (ev->type == WATCH_BOOKMARK) {
        STAT_INC(r, bookmarks);
        reflector_set_rv(r, ev->resource_version);
        cJSON_Delete(ev->object);
        return 0;
    }
    char *key = reflector_object_key(ev->object);
    if (!key) {
        cJSON_Delete(ev->object);
        reflector_set_rv(r, ev->resource_version);
        return 0;
    }
    if (ev->type == WATCH_DELETED) {
        reflector_cache_take(&r->cache, key);
        if (r->ops.remove)
            r->ops.remove(r->ud, ev->object);
        cJSON_Delete(ev->object);
    } else if (r->cache.count >= REFLECTOR_MAX_OBJECTS && !*reflector_cache_find(&r->cache, key)) {
        cJSON_Delete(ev->object);
        free(key);
        err_set(err, ERR_TOO_BIG, "more than %d objects", REFLECTOR_MAX_OBJECTS);
        return -1;
    } else {
        reflector_cache_put(&r->cache, key);
        if (r->ops.upsert)
            r->ops.upsert(r->ud, ev->object);
        cJSON_Delete(ev->object);
    }
    free(key);
    r->watch_events++;
    STAT_INC(r, events);
    reflector_set_rv(r, ev->resource_version);
    return 0;
}

static WUR int reflector_on_watch_data(void *ud, const char *p, size_t n, struct err *err)
{
    struct reflector *r = ud;
    if (watch_reader_feed(r->reader, p, n, err) < 0)
        return -1;
    for (;;) {
        struct watch_event ev;
        int rc = watch_reader_next(r->reader, &ev, err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return 0;
        if (reflector_apply_event(r, &ev, err) < 0)
            return -1;
    }
}

/* One list attempt; true when stopping. On success the next step is a watch. */
static bool reflector_list_step(struct reflector *r)
{
    long ra = 0;
    struct err err;
    err_clear(&err);
    enum reflector_list_result lr =
        reflector_list(r, r->list_rv_set ? r->list_rv : NULL, &ra, &err);
    switch (lr) {
    case LIST_STOPPED: return true;
    case LIST_OK: r->need_list = false; return false;
    case LIST_EXPIRED:
        STAT_INC(r, expired);
        if (r->list_rv_set) {
            r->list_rv_set = false; /* "not older than" failed: quorum read now */
            return false;
        }
        r->list_rv_set = true; /* even a fresh list expired mid-pages: start over */
        snprintf(r->list_rv, sizeof r->list_rv, "0");
        return reflector_back_off(r, "list", &err);
    case LIST_THROTTLED: return reflector_throttle(r, ra);
    case LIST_FAILED: break;
    }
    return reflector_back_off(r, "list", &err);
}

/* One watch from the last RV, until it ends; true when stopping. */
static bool reflector_watch_step(struct reflector *r)
{
    long span = r->o.watch_max_s - r->o.watch_min_s;
    long timeout = r->o.watch_min_s + (long)(reflector_rnd(r) * (double)(span + 1));
    struct err err;
    err_clear(&err);
    char *path = kube_path_watch(r->path, r->rv, timeout, &err);
    if (!path)
        return reflector_back_off(r, "watch", &err);
    r->reader = watch_reader_new(r->o.max_event_bytes);
    r->expired = r->event_error = false;
    r->watch_events = 0;
    struct kube_stream_ops ops = {.data = reflector_on_watch_data, .stop = reflector_stop_cb};
    struct kube_response resp;
    long started = clock_mono_ms();
    int rc = kube_get_stream(r->k, path, (timeout + 30) * 1000, &ops, r, &resp, &err);
    free(path);
    watch_reader_free(r->reader);
    r->reader = NULL;
    long code = resp.code;
    struct kube_status st = resp.status;
    kube_response_free(&resp);
    if (reflector_stopping(r))
        return true;
    if (code == 200)
        STAT_INC(r, watches);
    if (r->expired || code == 410) {
        STAT_INC(r, expired);
        LOG(LOG_DEBUG, "reflector", r->o.name, NULL, "watch expired at %s; relisting", r->rv);
        /* A quorum read, as client-go relists after "too old resource version": a paged list
         * at the expired RV is served exactly at that RV (etcd may still hold it while the API
         * server's watch cache does not), and watching from it again expires again: a relist
         * loop that never catches up. */
        r->list_rv_set = false;
        r->need_list = true;
        return false;
    }
    if (code == 429)
        return reflector_throttle(r, st.retry_after_s);
    if (code == 200 && !r->event_error && err.kind != ERR_TOO_BIG && err.kind != ERR_INVALID) {
        /* Closed by the server (timeout) or the connection dropped: resume from the last RV. A
         * watch that dies at once without events is a failure, so it backs off. */
        if (rc == 0 || r->watch_events > 0 || clock_mono_ms() - started >= 1000) {
            STAT_INC(r, watch_restarts);
            return false;
        }
    }
    if (code != 200 && rc == 0)
        err_set(&err, ERR_TRANSIENT, "watch %s: %ld %s: %s", r->path, code, st.reason, st.message);
    return reflector_back_off(r, "watch", &err);
}

static void *reflector_run(void *arg)
{
    struct reflector *r = arg;
    r->need_list = true;
    r->list_rv_set = true;
    snprintf(r->list_rv, sizeof r->list_rv, "0");
    while (!reflector_stopping(r)) {
        if (r->need_list ? reflector_list_step(r) : reflector_watch_step(r))
            break;
    }
    return NULL;
}

static void reflector_opts_defaults(struct reflector_opts *o, const char *path)
{
    if (o->page_limit <= 0)
        o->page_limit = 500;
    if (o->watch_min_s <= 0)
        o->watch_min_s = 300;
    if (o->watch_max_s < o->watch_min_s)
        o->watch_max_s = o->watch_min_s == 300 ? 600 : o->watch_min_s;
    if (o->backoff_base_ms <= 0)
        o->backoff_base_ms = 800;
    if (o->backoff_cap_ms <= 0)
        o->backoff_cap_ms = 30000;
    if (o->backoff_reset_ms <= 0)
        o->backoff_reset_ms = 120000;
    if (o->max_event_bytes == 0)
        o->max_event_bytes = WATCH_MAX_EVENT_BYTES_DEFAULT;
    o->name = xstrdup(o->name ? o->name : path);
}

/* What reflector_start set up, but the thread and the condition variable. */
static void reflector_free(struct reflector *r)
{
    pthread_mutex_destroy(&r->lock);
    reflector_cache_free(&r->cache);
    free((char *)r->o.name);
    free(r->path);
    free(r);
}

struct reflector *reflector_start(struct kube *k, const char *list_path,
                                  const struct reflector_ops *ops, void *ud,
                                  const struct reflector_opts *o, struct err *err)
{
    if (!list_path || list_path[0] != '/' || strlen(list_path) >= KUBE_MAX_PATH_BYTES / 2) {
        err_set(err, ERR_INVALID,
                "reflector: the list path must start with '/' and be shorter "
                "than %d bytes",
                KUBE_MAX_PATH_BYTES / 2);
        return NULL;
    }
    struct reflector *r = xcalloc(1, sizeof *r);
    r->k = k;
    r->path = xstrdup(list_path);
    r->ops = *ops;
    r->ud = ud;
    if (o)
        r->o = *o;
    reflector_opts_defaults(&r->o, list_path);
    r->seed = (unsigned)clock_mono_ms() ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)r;
    reflector_cache_init(&r->cache);
    kube_backoff_init(&r->backoff, r->o.backoff_base_ms, r->o.backoff_cap_ms,
                      r->o.backoff_reset_ms);
    pthread_mutex_init(&r->lock, NULL);
    int rc = clock_cond_init(&r->cond);
    if (rc == 0) {
        rc = pthread_create(&r->thread, NULL, reflector_run, r);
        if (rc != 0)
            pthread_cond_destroy(&r->cond);
    }
    if (rc != 0) {
        err_set(err, ERR_INTERNAL, "reflector: cannot start a thread: %s", strerror(rc));
        reflector_free(r);
        return NULL;
    }
    return r;
}

void reflector_stop(struct reflector *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cond);
    reflector_free(r);
}

void reflector_get_stats(struct reflector *r, struct reflector_stats *out)
{
    pthread_mutex_lock(&r->lock);
    *out = r->stats;
    out->objects = r->stats.objects;
    pthread_mutex_unlock(&r->lock);
}

bool reflector_has_synced(struct reflector *r)
{
    pthread_mutex_lock(&r->lock);
    bool s = r->synced;
    pthread_mutex_unlock(&r->lock);
    return s;
}
