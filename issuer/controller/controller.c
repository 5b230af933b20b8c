/* controller.c -- the Kubernetes controller: start and stop, watches, workers, leadership. The
 * caches are in cache.c, Events in events.c, the reconcilers in reconcile_*.c. */
#include "controller/controller.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "controller/controller_int.h"
#include "decide/pipeline.h"

/* ---- helpers the controller's files share ------------------------------------------------ */

const char *ctl_str(const cJSON *obj, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
    if (b != NULL)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

long long ctl_generation(const cJSON *obj)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "generation");
    return cJSON_IsNumber(g) ? (long long)g->valuedouble : 1;
}

void ctl_count(struct controller *c, const char *kind, const char *outcome)
{
    if (c->cfg.metrics == NULL)
        return;
    char labels[128];
    snprintf(labels, sizeof(labels), "kind=\"%s\",outcome=\"%s\"", kind, outcome);
    metrics_counter_add(c->cfg.metrics, "ember_reconcile_total", labels, 1);
}

int ctl_request(struct controller *c, const char *method, const char *path, const char *ctype,
                const char *body, struct kube_response *r, struct err *err)
{
    int rc =
        c->cfg.request(c->cfg.kube, method, path, ctype, body, body ? strlen(body) : 0, r, err);
    if (c->cfg.metrics != NULL) {
        char labels[96];
        snprintf(labels, sizeof(labels), "verb=\"%s\",code=\"%ld\"", method, rc == 0 ? r->code : 0);
        metrics_counter_add(c->cfg.metrics, "ember_api_requests_total", labels, 1);
    }
    return rc;
}

/* ---- leadership and sync ----------------------------------------------------------------- */

bool controller_synced(struct controller *c)
{
    for (size_t k = 0; k < c->n_refl; k++)
        if (c->refl[k] != c->ns_refl && !reflector_has_synced(c->refl[k]))
            return false;
    return ctl_namespaces_ready(c);
}

void controller_set_leader(struct controller *c, bool leader)
{
    int was = __atomic_exchange_n(&c->leader, leader ? 1 : 0, __ATOMIC_ACQ_REL);
    if (c->cfg.metrics != NULL)
        metrics_gauge_set(c->cfg.metrics, "ember_leader", "", leader ? 1 : 0);
    if (!leader || was)
        return;
    /* Keys dropped while following: look at everything again. */
    ctl_enqueue_all(c, false);
}

/* ---- workers ----------------------------------------------------------------------------- */

static void ctl_apply_next(struct controller *c, const char *qkey, const struct ctl_next *next)
{
    struct err e = {0};
    int rc = 0;
    switch (next->kind) {
    case CTL_NEXT_FORGET: queue_forget(c->q, qkey); break;
    case CTL_NEXT_RETRY: rc = queue_add_rate_limited(c->q, qkey, &e); break;
    case CTL_NEXT_AFTER: rc = queue_add_after(c->q, qkey, next->after_ms, &e); break;
    }
    if (rc != 0)
        LOG(LOG_ERROR, "controller", qkey, e.msg, "cannot requeue");
}

void ctl_process(struct controller *c, const char *qkey)
{
    struct ctl_next next = {CTL_NEXT_FORGET, 0};
    if (!__atomic_load_n(&c->leader, __ATOMIC_ACQUIRE)) {
        /* Followers write nothing; controller_set_leader queues everything again. */
    } else if (!controller_synced(c)) {
        /* Never decide on partial caches (a missing policy is only "not seen yet"). */
        next = (struct ctl_next){CTL_NEXT_AFTER, CTL_NOT_SYNCED_RETRY_MS};
    } else if (strncmp(qkey, "cr:", 3) == 0) {
        next = ctl_reconcile_cr(c, qkey + 3);
    } else if (strncmp(qkey, "issuer:", 7) == 0) {
        next = ctl_reconcile_issuer(c, qkey + 7);
    } else if (strncmp(qkey, "policy:", 7) == 0) {
        next = ctl_reconcile_policy(c, qkey + 7);
    }
    ctl_apply_next(c, qkey, &next);
}

static void *ctl_worker(void *arg)
{
    struct controller *c = arg;
    char qkey[QUEUE_KEY_SIZE];
    while (queue_get(c->q, qkey, sizeof(qkey)) == 1) {
        if (c->cfg.metrics != NULL)
            metrics_gauge_set(c->cfg.metrics, "ember_queue_depth", "", (double)queue_len(c->q));
        ctl_process(c, qkey);
        queue_done(c->q, qkey);
    }
    return NULL;
}

/* ---- watches ----------------------------------------------------------------------------- */

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

/* Every collection watched: cluster-wide, or once per configured namespace for the namespaced
 * kinds (CertificateRequests, Issuers). */
static int ctl_watch_all(struct controller *c, struct err *err)
{
    for (int k = 0; k < CTL_KINDS; k++) {
        bool namespaced = k == CTL_CR || k == CTL_ISSUER;
        if (!namespaced || c->cfg.n_namespaces == 0) {
            if (ctl_watch(c, (enum ctl_kind)k, ctl_paths[k], err) != 0)
                return -1;
            continue;
        }
        for (size_t i = 0; i < c->cfg.n_namespaces; i++) {
            char path[CTL_PATH_MAX];
            const char *ns = c->cfg.namespaces[i];
            int n = k == CTL_CR
                        ? snprintf(path, sizeof(path),
                                   "/apis/cert-manager.io/v1/namespaces/%s/"
                                   "certificaterequests",
                                   ns)
                        : snprintf(path, sizeof(path),
                                   "/apis/ember.issuer.dev/v1alpha1/namespaces/%s/issuers", ns);
            if (n < 0 || (size_t)n >= sizeof(path)) {
                err_set(err, ERR_TOO_BIG, "namespace \"%.64s...\" is too long", ns);
                return -1;
            }
            if (ctl_watch(c, (enum ctl_kind)k, path, err) != 0)
                return -1;
        }
    }
    return 0;
}

/* Publishes the gauges of the issuers loaded (issuer_publish_metrics, as standalone mode
 * does), with references taken under the lock and the publishing outside it. */
static void ctl_publish_issuers(struct controller *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->n_slots;
    struct issuer **issuers = xcalloc(n + 1, sizeof(*issuers));
    for (size_t i = 0; i < n; i++)
        issuers[i] = issuer_ref(c->slots[i].is);
    pthread_mutex_unlock(&c->lock);
    issuer_publish_metrics(c->cfg.metrics, issuers, n);
    for (size_t i = 0; i < n; i++)
        issuer_unref(issuers[i]);
    free(issuers);
}

/* Publishes every 2 s the watches' counters (restarts, relists, expired histories) and the
 * gauges of the issuers loaded. */
static void *ctl_metrics_thread(void *arg)
{
    struct controller *c = arg;
    pthread_mutex_lock(&c->stop_lock);
    while (!c->stopping) {
        struct timespec until = clock_deadline(2000);
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
        ctl_publish_issuers(c);
    }
    pthread_mutex_unlock(&c->stop_lock);
    return NULL;
}

/* The controller's own metrics, and those of its watches (declared once they start). */
static const struct ctl_metric {
    const char *name, *type, *help;
    bool watches;
} ctl_metrics[] = {
    {"ember_queue_depth", "gauge", "Keys waiting in the controller's work queue.", false},
    {"ember_reconcile_total", "counter", "Reconciles by kind and outcome.", false},
    {"ember_api_requests_total", "counter",
     "Kubernetes API calls by verb and HTTP code (0: no answer).", false},
    {"ember_watch_restarts_total", "counter",
     "Watches re-opened from the last resourceVersion, by collection.", true},
    {"ember_watch_relists_total", "counter", "Lists after the first (410 Expired), by collection.",
     true},
    {"ember_watch_objects", "gauge", "Objects mirrored, by collection.", true},
    {"ember_leader", "gauge", "1 while this replica leads (or runs without leader election).",
     true},
};

static void ctl_declare_metrics(struct controller *c, bool watches)
{
    if (!watches)
        pipeline_declare_metrics(c->cfg.metrics);
    for (size_t i = 0; i < sizeof(ctl_metrics) / sizeof(ctl_metrics[0]); i++)
        if (ctl_metrics[i].watches == watches)
            metrics_declare(c->cfg.metrics, ctl_metrics[i].name, ctl_metrics[i].type,
                            ctl_metrics[i].help);
}

/* ---- start and stop ---------------------------------------------------------------------- */

struct controller *ctl_new(const struct controller_config *cfg)
{
    struct controller *c = xcalloc(1, sizeof(*c));
    c->cfg = *cfg;
    c->cfg.instance = c->instance = xstrdup(cfg->instance ? cfg->instance : "ember-issuer");
    c->cfg.cluster_ns = c->cluster_ns = xstrdup(cfg->cluster_ns ? cfg->cluster_ns : "default");
    if (c->cfg.workers <= 0)
        c->cfg.workers = 4;
    if (c->cfg.request == NULL)
        c->cfg.request = kube_request;
    pthread_mutex_init(&c->lock, NULL);
    c->q = queue_new((unsigned long)(cfg->backoff_base_ms > 0 ? cfg->backoff_base_ms : 5),
                     (unsigned long)(cfg->backoff_cap_ms > 0 ? cfg->backoff_cap_ms : 1000000),
                     CONTROLLER_MAX_KEYS);
    if (c->cfg.metrics != NULL)
        ctl_declare_metrics(c, false);
    __atomic_store_n(&c->leader, cfg->start_as_follower ? 0 : 1, __ATOMIC_RELEASE);
    pthread_mutex_init(&c->stop_lock, NULL);
    if (clock_cond_init(&c->stop_cond) != 0)
        abort(); /* as xcalloc does when memory runs out: nothing to go on with */
    for (int k = 0; k < CTL_KINDS; k++)
        c->feeds[k] = (struct ctl_feed){.c = c, .kind = (enum ctl_kind)k};
    c->ns = nslabels_new();
    pthread_mutex_init(&c->ns_get_lock, NULL);
    return c;
}

void ctl_free(struct controller *c)
{
    for (size_t i = 0; i < c->n_slots; i++) {
        issuer_unref(c->slots[i].is);
        free(c->slots[i].key);
    }
    free(c->slots);
    ctl_policies_free(c);
    for (int k = 0; k < CTL_KINDS; k++)
        ctl_map_free(&c->objs[k]);
    queue_free(c->q);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->stop_lock);
    pthread_cond_destroy(&c->stop_cond);
    free(c->instance);
    free(c->cluster_ns);
    nslabels_free(c->ns);
    pthread_mutex_destroy(&c->ns_get_lock);
    free(c);
}

struct controller *controller_start(const struct controller_config *cfg, struct err *err)
{
    struct controller *c = ctl_new(cfg);
    if (ctl_watch_all(c, err) != 0 || ctl_watch_namespaces(c, err) != 0) {
        controller_stop(c);
        return NULL;
    }
    if (c->cfg.metrics != NULL) {
        ctl_declare_metrics(c, true);
        metrics_gauge_set(c->cfg.metrics, "ember_leader", "",
                          __atomic_load_n(&c->leader, __ATOMIC_ACQUIRE));
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
    ctl_free(c);
}
