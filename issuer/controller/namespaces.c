/* namespaces.c -- the controller's cache of Namespace labels (spec.selector.namespaceSelector):
 * list + watch /api/v1/namespaces into an nslabels table, labels only. Unlike the other
 * watches it does not hold the controller back: while it cannot list (403 without RBAC on
 * namespaces, or another error) a namespaceSelector matches nothing, and the log says why. Its
 * reflector sits in the controller's list (watch metrics, stop), which controller_synced skips. */
#include <stdio.h>
#include <string.h>

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
            "cannot list Namespaces (403 Forbidden): an IssuancePolicy with "
            "spec.selector.namespaceSelector matches nothing until Ember may list and watch "
            "namespaces (the chart's ClusterRole grants it)");
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
     * hold the controller: the selector matches nothing meanwhile. */
    struct reflector_stats st;
    reflector_get_stats(c->ns_refl, &st);
    return st.errors > 0;
}

bool controller_namespace_labels(void *ud, const char *ns, struct strv *labels)
{
    struct controller *c = ud;
    return nslabels_get(c->ns, ns, labels);
}
