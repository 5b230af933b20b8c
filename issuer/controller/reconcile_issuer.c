/* reconcile_issuer.c -- the Issuer and ClusterIssuer reconciler: each one's signer loaded from its
 * Secrets, checked, published as a live slot and re-checked on a schedule; the Ready condition
 * it and the policy reconciler write. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timefmt.h"
#include "controller/controller_int.h"
#include "kube/tokenrequest.h"

_Static_assert(SIGNER_TOKEN_MAX_AUDIENCES <= TOKENREQUEST_MAX_AUDIENCES,
               "signers may ask get_token for more audiences than a TokenRequest takes");

/* ---- the Ready condition ----------------------------------------------------------------- */

/* The Ready condition in obj's status, or NULL. */
static const cJSON *reconcile_issuer_ready_of(const cJSON *obj)
{
    const cJSON *conds = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "status"), "conditions");
    const cJSON *old = NULL, *cond;
    cJSON_ArrayForEach(cond, conds)
    {
        const char *t = ctl_str(cond, "type", NULL);
        if (t != NULL && strcmp(t, "Ready") == 0)
            old = cond;
    }
    return old;
}

/* The merge patch: metadata.resourceVersion and status.conditions = [Ready]. */
static char *reconcile_issuer_ready_patch(const cJSON *obj, const char *status, const char *reason,
                                          const char *message, const char *since, long long gen)
{
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
    cJSON_AddStringToObject(r, "lastTransitionTime", since);
    cJSON_AddNumberToObject(r, "observedGeneration", (double)gen);
    cJSON_AddItemToArray(list, r);
    char *body = cJSON_PrintUnformatted(patch);
    cJSON_Delete(patch);
    return body;
}

bool ctl_write_ready(struct controller *c, const cJSON *obj, const char *path, bool ready,
                     const char *reason, const char *message, const char *kind,
                     const char *api_version)
{
    long long gen = ctl_generation(obj);
    const cJSON *old = reconcile_issuer_ready_of(obj);
    const char *status = ready ? "True" : "False";
    const cJSON *og = cJSON_GetObjectItemCaseSensitive(old, "observedGeneration");
    const char *os = ctl_str(old, "status", NULL), *orr = ctl_str(old, "reason", NULL),
               *om = ctl_str(old, "message", NULL), *olt = ctl_str(old, "lastTransitionTime", NULL);
    if (os && orr && om && strcmp(os, status) == 0 && strcmp(orr, reason) == 0 &&
        strcmp(om, message) == 0 && cJSON_IsNumber(og) && (long long)og->valuedouble == gen)
        return true;
    char ts[TIMEFMT_LEN];
    timefmt_rfc3339(time(NULL), ts); /* on the wire: wall-clock time */
    char *body = reconcile_issuer_ready_patch(obj, status, reason, message,
                                              os && olt && strcmp(os, status) == 0 ? olt : ts, gen);
    struct kube_response resp = {0};
    struct err e = {0};
    const char *name = ctl_str(obj, "metadata", "name");
    bool ok = ctl_request(c, "PATCH", path, "application/merge-patch+json", body, &resp, &e) == 0 &&
              resp.code < 300;
    if (!ok) {
        LOG(LOG_WARN, "controller", name, resp.code ? resp.status.message : e.msg,
            "cannot write the Ready condition of %s (%ld)", kind, resp.code);
    } else if (!os || strcmp(os, status) != 0 || !orr || strcmp(orr, reason) != 0) {
        struct ctl_objref ref;
        ctl_objref_from_json(&ref, obj, kind, api_version);
        ctl_event(c, &ref, ready ? "Normal" : "Warning", reason, message);
        LOG(ready ? LOG_INFO : LOG_WARN, "controller", name, NULL, "%s Ready=%s %s: %s", kind,
            status, reason, message);
    }
    kube_response_free(&resp);
    free(body);
    return ok;
}

/* ---- the live slots ---------------------------------------------------------------------- */

struct ctl_slot *ctl_slot_find(struct controller *c, const char *key)
{
    for (size_t i = 0; i < c->n_slots; i++)
        if (strcmp(c->slots[i].key, key) == 0)
            return &c->slots[i];
    return NULL;
}

static void reconcile_issuer_slot_remove(struct controller *c, const char *key)
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
 * "not found" to them, and its own Ready condition says why). c->lock held. */
static void reconcile_issuer_mark_checked_locked(struct controller *c, enum ctl_kind kind,
                                                 const char *key)
{
    struct ctl_node *n = *ctl_map_find(&c->objs[kind], key);
    if (n != NULL)
        n->checked = true;
}

void ctl_slot_publish(struct controller *c, enum ctl_kind kind, const char *key, struct issuer *is,
                      long long generation, uint64_t next_check_ms, int failures)
{
    pthread_mutex_lock(&c->lock);
    struct issuer *old = NULL;
    struct ctl_slot *slot = ctl_slot_find(c, key);
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
    }
    if (slot->is != is)
        slot->is = issuer_ref(is);
    slot->generation = generation;
    slot->next_check_ms = next_check_ms;
    slot->failures = failures;
    reconcile_issuer_mark_checked_locked(c, kind, key);
    pthread_mutex_unlock(&c->lock);
    issuer_unref(old);
}

struct issuer *controller_find_issuer(void *ud, const char *kind, const char *ns, const char *name)
{
    struct controller *c = ud;
    char key[CR_ISSUER_REF_MAX];
    if (!cr_issuer_ref(kind, ns, name, key, sizeof(key)))
        return NULL; /* longer than any Kubernetes name: no such issuer */
    pthread_mutex_lock(&c->lock);
    const struct ctl_slot *slot = ctl_slot_find(c, key);
    struct issuer *is = slot != NULL ? issuer_ref(slot->is) : NULL;
    pthread_mutex_unlock(&c->lock);
    return is;
}

/* ---- the reconciler ---------------------------------------------------------------------- */

/* signer_env.get_secret: a Secret read from the API server with get (never listed or watched). */
static cJSON *reconcile_issuer_get_secret(void *ud, const char *ns, const char *name,
                                          struct err *err)
{
    struct controller *c = ud;
    char path[CTL_PATH_MAX];
    int n = snprintf(path, sizeof(path), "/api/v1/namespaces/%s/secrets/%s", ns, name);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        err_set(err, ERR_ISSUER_NOT_READY, "not found (the name is too long)");
        return NULL;
    }
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

/* tokenrequest's post: through ctl_request, as every other API call (injectable, counted). */
static int reconcile_issuer_post_token(void *ud, const char *path, const char *body, size_t len,
                                       struct kube_response *out, struct err *err)
{
    (void)len; /* body is NUL-terminated: ctl_request measures it */
    return ctl_request(ud, "POST", path, "application/json", body, out, err);
}

/* signer_env.get_token: a token of the service account ns/name made by a TokenRequest. */
static int reconcile_issuer_get_token(void *ud, const char *ns, const char *name,
                                      const char *const *audiences, size_t n_audiences,
                                      long expiration_s, char **token, struct err *err)
{
    return tokenrequest_create(reconcile_issuer_post_token, ud, ns, name, audiences, n_audiences,
                               expiration_s, token, err);
}

/* What one reconcile starts from: the cached object and the live slot, read under one lock. */
struct reconcile_issuer_snap {
    cJSON *obj;             /* a copy, or NULL when the object is gone */
    struct issuer *current; /* the live issuer (a reference), or NULL */
    long long slot_gen;     /* its generation, -1 when none */
    uint64_t next_ms;       /* its next re-check */
    int failures;
    uint64_t mono; /* (uint64_t)clock_mono_ms() now */
};

static void reconcile_issuer_snapshot(struct controller *c, enum ctl_kind kind, const char *key,
                                      struct reconcile_issuer_snap *s)
{
    pthread_mutex_lock(&c->lock);
    const struct ctl_node *n = *ctl_map_find(&c->objs[kind], key);
    s->obj = n != NULL && n->obj != NULL ? cJSON_Duplicate(n->obj, 1) : NULL;
    const struct ctl_slot *slot = ctl_slot_find(c, key);
    s->slot_gen = slot ? slot->generation : -1;
    s->next_ms = slot ? slot->next_check_ms : 0;
    s->failures = slot ? slot->failures : 0;
    s->current = slot ? issuer_ref(slot->is) : NULL;
    pthread_mutex_unlock(&c->lock);
    s->mono = (uint64_t)clock_mono_ms();
}

/* The issuer to publish: current re-checked in place, or a new one built from obj and loaded
 * (NULL: obj is invalid, e says why). Takes over the reference to current. */
static struct issuer *reconcile_issuer_build(struct controller *c, const cJSON *obj,
                                             struct issuer *current, long long slot_gen,
                                             long long gen, time_t now, struct err *e)
{
    if (current != NULL && slot_gen == gen && issuer_recheck(current, now)) {
        /* Periodic re-check in place, when the signer row has one (Vault: keeps its cached
         * token). Otherwise (a local CA; a signer that could not be built) it is loaded again. */
        return current;
    }
    issuer_unref(current);
    struct issuer *is = issuer_from_json(obj, e);
    if (is == NULL)
        return NULL;
    struct signer_env env = {.get_secret = reconcile_issuer_get_secret,
                             .get_token = reconcile_issuer_get_token,
                             .ud = c};
    issuer_load_signer(is, &env, c->cfg.cluster_ns, now);
    return is;
}

/* The status path of the issuer obj; false when it does not fit. */
static bool reconcile_issuer_path(const cJSON *obj, bool cluster, char *path, size_t len)
{
    const char *name = ctl_str(obj, "metadata", "name");
    const char *ns = ctl_str(obj, "metadata", "namespace");
    int n =
        cluster
            ? snprintf(path, len, "/apis/ember.issuer.dev/v1alpha1/clusterissuers/%s/status",
                       name ? name : "")
            : snprintf(path, len, "/apis/ember.issuer.dev/v1alpha1/namespaces/%s/issuers/%s/status",
                       ns ? ns : "", name ? name : "");
    return n >= 0 && (size_t)n < len;
}

/* Loads or re-checks the issuer of s, writes its Ready condition and publishes it. */
static struct ctl_next reconcile_issuer_check(struct controller *c, enum ctl_kind kind,
                                              const char *key, struct reconcile_issuer_snap *s,
                                              long long gen)
{
    const char *kname = kind == CTL_CLUSTER_ISSUER ? "ClusterIssuer" : "Issuer";
    char path[CTL_PATH_MAX];
    if (!reconcile_issuer_path(s->obj, kind == CTL_CLUSTER_ISSUER, path, sizeof(path))) {
        LOG(LOG_ERROR, "controller", key, NULL, "the status path is too long; not checking");
        issuer_unref(s->current);
        return (struct ctl_next){CTL_NEXT_FORGET, 0};
    }
    time_t now = time(NULL); /* CA validity, Vault tokens: wall-clock time */
    bool was_ready = s->current != NULL && issuer_is_ready(s->current);
    struct err e = {0};
    struct issuer *is = reconcile_issuer_build(c, s->obj, s->current, s->slot_gen, gen, now, &e);
    if (is == NULL) {
        ctl_write_ready(c, s->obj, path, false, "Failed", e.msg, kname, ISSUER_API_VERSION);
        reconcile_issuer_slot_remove(c, key);
        pthread_mutex_lock(&c->lock);
        reconcile_issuer_mark_checked_locked(c, kind, key);
        pthread_mutex_unlock(&c->lock);
        ctl_enqueue_all(c, true);
        return (struct ctl_next){CTL_NEXT_FORGET, 0};
    }
    struct issuer_state st;
    issuer_get_state(is, &st);
    ctl_write_ready(c, s->obj, path, st.ready, st.reason, st.message, kname, ISSUER_API_VERSION);
    int failures = st.ready ? 0 : s->failures + 1;
    long long delay = c->cfg.issuer_recheck_s;
    if (!st.ready) {
        long long backoff = 1LL << (failures < 8 ? failures : 8);
        delay = backoff < delay ? backoff : delay;
    }
    ctl_slot_publish(c, kind, key, is, gen, s->mono + (uint64_t)delay * 1000u, failures);
    issuer_unref(is);
    ctl_count(c, kname, st.ready ? "ready" : "not-ready");
    if (st.ready != was_ready || s->slot_gen != gen)
        ctl_enqueue_all(c, true);
    return (struct ctl_next){CTL_NEXT_AFTER, (unsigned long)delay * 1000u};
}

struct ctl_next ctl_reconcile_issuer(struct controller *c, const char *key)
{
    enum ctl_kind kind = strncmp(key, "ClusterIssuer/", 14) == 0 ? CTL_CLUSTER_ISSUER : CTL_ISSUER;
    struct reconcile_issuer_snap s;
    reconcile_issuer_snapshot(c, kind, key, &s);
    if (s.obj == NULL) {
        issuer_unref(s.current);
        reconcile_issuer_slot_remove(c, key);
        ctl_enqueue_all(c, true);
        return (struct ctl_next){CTL_NEXT_FORGET, 0};
    }
    long long gen = ctl_generation(s.obj);
    struct ctl_next next;
    if (s.current != NULL && s.slot_gen == gen && s.mono < s.next_ms) {
        /* Our own status write came back through the watch: nothing new. The event took the
         * key out of the queue's schedule (the sooner time wins), so put the re-check back. */
        issuer_unref(s.current);
        next = (struct ctl_next){CTL_NEXT_AFTER, (unsigned long)(s.next_ms - s.mono)};
    } else {
        next = reconcile_issuer_check(c, kind, key, &s, gen);
    }
    cJSON_Delete(s.obj);
    return next;
}
