/* namespaces.c -- the controller's cache of Namespace labels (spec.selector.namespaceSelector):
 * list + watch /api/v1/namespaces into an nslabels table, labels only. The watch can lag behind
 * the watch of CertificateRequests (a Namespace and a Certificate applied together), so a
 * Namespace the cache lacks is read with one GET (kept, provisionally, while the watch runs);
 * only a 404 means it does not exist. Unlike the other watches it does not hold the controller
 * back once listing fails (403 without RBAC on namespaces, or another error): lookups then
 * GET, and the log says why. Its reflector sits in the controller's list (watch metrics, stop),
 * which controller_synced skips. */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/k8sname.h"
#include "base/log.h"
#include "base/mem.h"
#include "controller/controller_int.h"

#define CTL_NS_PATH "/api/v1/namespaces"

static void namespaces_upsert(void *ud, const cJSON *obj)
{
    struct controller *c = ud;
    struct err e = {0};
    if (nslabels_put(c->ns, obj, &e) != 0)
        LOG(LOG_WARN, "controller", CTL_NS_PATH, e.msg, "Namespace not kept");
}

static void namespaces_remove(void *ud, const cJSON *obj)
{
    struct controller *c = ud;
    const char *name = ctl_str(obj, "metadata", "name");
    if (name != NULL)
        nslabels_remove(c->ns, name);
}

static void namespaces_synced(void *ud)
{
    struct controller *c = ud;
    /* Entries a GET kept that this list did not confirm: gone since (or newer than the list). */
    size_t dropped = nslabels_drop_provisional(c->ns);
    if (dropped > 0)
        LOG(LOG_DEBUG, "controller", CTL_NS_PATH, NULL,
            "%zu Namespaces read by GET and not in the list forgotten", dropped);
    if (!__atomic_exchange_n(&c->ns_synced, true, __ATOMIC_ACQ_REL))
        LOG(LOG_INFO, "controller", CTL_NS_PATH, NULL, "%zu Namespaces listed",
            nslabels_count(c->ns));
}

/* One GET with limit=1 first, so that a missing RBAC rule is said once, clearly (the
 * reflector then retries with its backoff, and recovers when the rule is granted). */
static void namespaces_probe(struct controller *c)
{
    struct kube_response r = {0};
    struct err e = {0};
    if (ctl_request(c, "GET", CTL_NS_PATH "?limit=1", NULL, NULL, &r, &e) != 0) {
        LOG(LOG_WARN, "controller", CTL_NS_PATH, e.msg, "cannot list Namespaces yet");
    } else if (r.code == 403) {
        __atomic_store_n(&c->ns_forbidden, true, __ATOMIC_RELEASE);
        LOG(LOG_WARN, "controller", CTL_NS_PATH, r.status.message,
            "cannot list Namespaces (403 Forbidden): requests under an IssuancePolicy with "
            "spec.selector.namespaceSelector read their Namespace with a GET each time, and "
            "wait when that is forbidden too, until Ember may get, list and watch namespaces "
            "(the chart's ClusterRole grants it)");
    } else if (r.code != 200) {
        LOG(LOG_WARN, "controller", CTL_NS_PATH, r.status.message,
            "cannot list Namespaces yet (HTTP %ld)", r.code);
    }
    kube_response_free(&r);
}

int ctl_watch_namespaces(struct controller *c, struct err *err)
{
    namespaces_probe(c);
    static const struct reflector_ops ops = {
        .upsert = namespaces_upsert, .remove = namespaces_remove, .synced = namespaces_synced};
    struct reflector_opts o = {
        .watch_min_s = c->cfg.watch_min_s,
        .watch_max_s = c->cfg.watch_max_s,
        .name = CTL_NS_PATH,
    };
    if (c->n_refl == CTL_MAX_WATCHES) {
        err_set(err, ERR_TOO_BIG, "more than %d watches", CTL_MAX_WATCHES);
        return -1;
    }
    c->ns_refl = reflector_start(c->cfg.kube, CTL_NS_PATH, &ops, c, &o, err);
    if (c->ns_refl == NULL)
        return -1;
    /* Beside the others for the watch metrics and the stop; controller_synced skips it. */
    c->refl_names[c->n_refl] = xstrdup(CTL_NS_PATH);
    c->refl[c->n_refl++] = c->ns_refl;
    return 0;
}

bool ctl_namespaces_ready(struct controller *c)
{
    if (c->ns_refl == NULL || __atomic_load_n(&c->ns_synced, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&c->ns_forbidden, __ATOMIC_ACQUIRE))
        return true;
    /* A failing list (an error logged at the probe, or by the reflector's backoff) does not
     * hold the controller, and need not: the cache is then empty, and every lookup it cannot
     * answer GETs the Namespace (a request waits when that fails too, it is never denied for
     * a Namespace Ember could not read). Waiting while the list is merely under way saves a
     * GET per pending request at start. */
    struct reflector_stats st;
    reflector_get_stats(c->ns_refl, &st);
    return st.errors > 0;
}

/* A failed GET's reason, remembered for CTL_NS_GET_QUIET_MS, into why for Namespace ns; false
 * when none is. */
static bool namespaces_quiet(struct controller *c, const char *ns, struct err *why)
{
    pthread_mutex_lock(&c->ns_get_lock);
    bool quiet = clock_mono_ms() < c->ns_get_quiet_until_ms;
    if (quiet && strcmp(ns, c->ns_get_ns) == 0)
        err_set(why, ERR_TRANSIENT, "%s", c->ns_get_why);
    else if (quiet)
        err_set(why, ERR_TRANSIENT, "%s, moments ago; not asked again for %d s", c->ns_get_why,
                CTL_NS_GET_QUIET_MS / 1000);
    pthread_mutex_unlock(&c->ns_get_lock);
    return quiet;
}

static enum pipeline_ns namespaces_unavailable(struct controller *c, const char *ns,
                                               struct err *why)
{
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&c->ns_get_lock);
    /* Said once a minute at most as a warning (the requests' Events say it each time). */
    bool was_quiet = c->ns_get_quiet_until_ms != 0 && now < c->ns_get_quiet_until_ms + 60000;
    c->ns_get_quiet_until_ms = now + CTL_NS_GET_QUIET_MS;
    snprintf(c->ns_get_why, sizeof(c->ns_get_why), "%s", why->msg);
    snprintf(c->ns_get_ns, sizeof(c->ns_get_ns), "%s", ns);
    pthread_mutex_unlock(&c->ns_get_lock);
    LOG(was_quiet ? LOG_DEBUG : LOG_WARN, "controller", CTL_NS_PATH, why->msg,
        "cannot read Namespace %s: requests under a namespaceSelector there wait%s", ns,
        strstr(why->msg, "403") != NULL ? " (grant get on namespaces: the chart's ClusterRole does)"
                                        : "");
    return PIPELINE_NS_UNAVAILABLE;
}

/* One GET of the Namespace ns (a valid name): its labels into labels, kept in the cache when
 * the watch of Namespaces runs (so that its later events keep the entry current). */
static enum pipeline_ns namespaces_get(struct controller *c, const char *ns, struct strv *labels,
                                       struct err *why)
{
    if (namespaces_quiet(c, ns, why))
        return PIPELINE_NS_UNAVAILABLE;
    unsigned long seq = nslabels_seq(c->ns);
    char path[CTL_PATH_MAX];
    snprintf(path, sizeof(path), CTL_NS_PATH "/%s", ns);
    struct kube_response r = {0};
    struct err e = {0};
    enum pipeline_ns out = PIPELINE_NS_UNAVAILABLE;
    cJSON *obj = NULL;
    if (ctl_request(c, "GET", path, NULL, NULL, &r, &e) != 0)
        err_set(why, ERR_TRANSIENT, "%s on GET namespaces/%s", e.msg, ns);
    else if (r.code == 404)
        out = PIPELINE_NS_NOT_FOUND;
    else if (r.code != 200)
        err_set(why, ERR_TRANSIENT, "%ld %s on GET namespaces/%s", r.code,
                r.status.reason[0] != '\0' ? r.status.reason : "error", ns);
    else if ((obj = cJSON_ParseWithLength(r.body, r.len)) == NULL)
        err_set(why, ERR_TRANSIENT, "GET namespaces/%s answered something that is not JSON", ns);
    else if (nslabels_offer(c->ns, obj, ns, __atomic_load_n(&c->ns_synced, __ATOMIC_ACQUIRE), seq,
                            labels, &e) == 0)
        out = PIPELINE_NS_KNOWN;
    else {
        /* As a watch event with such labels: not kept, so not known. */
        LOG(LOG_WARN, "controller", CTL_NS_PATH, e.msg, "Namespace not kept");
        out = PIPELINE_NS_NOT_FOUND;
    }
    cJSON_Delete(obj);
    kube_response_free(&r);
    return out == PIPELINE_NS_UNAVAILABLE ? namespaces_unavailable(c, ns, why) : out;
}

enum pipeline_ns controller_namespace_labels(void *ud, const char *ns, struct strv *labels,
                                             struct err *why)
{
    struct controller *c = ud;
    if (nslabels_get(c->ns, ns, labels))
        return PIPELINE_NS_KNOWN;
    /* No Namespace can have a name that is not a DNS label. */
    if (ns == NULL || !k8sname_is_label(ns, strlen(ns)))
        return PIPELINE_NS_NOT_FOUND;
    return namespaces_get(c, ns, labels, why);
}
