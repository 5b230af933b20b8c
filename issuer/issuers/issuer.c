/* issuer.c -- Issuer and ClusterIssuer: spec, signer, readiness. */
#include "issuers/issuer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/metrics.h"

/* "ca or vault": the table's spec keys, for messages. */
static void issuer_spec_choices(char *out, size_t outlen)
{
    size_t n = 0;
    while (signer_row(n) != NULL)
        n++;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(out);
        snprintf(out + used, outlen - used, "%s%s",
                 i == 0       ? ""
                 : i + 1 == n ? " or "
                              : ", ",
                 signer_row(i)->spec_key);
    }
}

/* The row whose spec key is set in spec (exactly one), parsed into is->row and is->spec. */
static int issuer_read_signer(struct issuer *is, const cJSON *spec, struct err *err)
{
    const struct signer_ops *row = NULL, *r;
    const cJSON *obj = NULL;
    size_t set = 0;
    for (size_t i = 0; (r = signer_row(i)) != NULL; i++) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(spec, r->spec_key);
        if (o != NULL) {
            row = r;
            obj = o;
            set++;
        }
    }
    if (set != 1) {
        char choices[256];
        issuer_spec_choices(choices, sizeof(choices));
        err_set(err, ERR_INVALID, "spec must set exactly one signer: %s", choices);
        return -1;
    }
    if (!cJSON_IsObject(obj)) {
        err_set(err, ERR_INVALID, "spec.%s must be an object", row->spec_key);
        return -1;
    }
    if (row->parse(obj, &is->spec, err) != 0)
        return -1;
    is->row = row;
    return 0;
}

static int issuer_read_spec(struct issuer *is, const cJSON *spec, struct err *err)
{
    const char *keys[SIGNER_MAX_ROWS + 2] = {"defaultPolicy"};
    size_t n = 1;
    const struct signer_ops *r;
    while ((r = signer_row(n - 1)) != NULL)
        keys[n++] = r->spec_key;
    keys[n] = NULL;
    if (signer_spec_keys(spec, "spec", keys, err) != 0 ||
        signer_spec_string(spec, "defaultPolicy", "spec", false, &is->default_policy, err) != 0)
        return -1;
    return issuer_read_signer(is, spec, err);
}

struct issuer *issuer_from_json(const cJSON *obj, struct err *err)
{
    const cJSON *api = cJSON_GetObjectItemCaseSensitive(obj, "apiVersion");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    if (!cJSON_IsString(api) || strcmp(api->valuestring, ISSUER_API_VERSION) != 0) {
        err_set(err, ERR_INVALID, "apiVersion must be %s", ISSUER_API_VERSION);
        return NULL;
    }
    if (!cJSON_IsString(kind) || (strcmp(kind->valuestring, "Issuer") != 0 &&
                                  strcmp(kind->valuestring, "ClusterIssuer") != 0)) {
        err_set(err, ERR_INVALID, "kind must be Issuer or ClusterIssuer");
        return NULL;
    }
    bool cluster = strcmp(kind->valuestring, "ClusterIssuer") == 0;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(meta, "generation");
    if (!cJSON_IsString(name) || name->valuestring[0] == '\0') {
        err_set(err, ERR_INVALID, "metadata.name is required");
        return NULL;
    }
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    if (!cJSON_IsObject(spec)) {
        err_set(err, ERR_INVALID, "%s %s: spec is required", kind->valuestring, name->valuestring);
        return NULL;
    }
    struct issuer *is = xcalloc(1, sizeof(*is));
    is->refs = 1;
    pthread_mutex_init(&is->lock, NULL);
    is->kind = xstrdup(kind->valuestring);
    is->name = xstrdup(name->valuestring);
    is->namespace = xstrdup(cluster                                    ? ""
                            : cJSON_IsString(ns) && ns->valuestring[0] ? ns->valuestring
                                                                       : "default");
    is->generation = cJSON_IsNumber(gen) ? (long long)gen->valuedouble : 1;
    if (issuer_read_spec(is, spec, err) != 0) {
        char ref[512];
        issuer_format_ref(is, ref, sizeof(ref));
        err_prefix(err, "%s", ref);
        issuer_unref(is);
        return NULL;
    }
    issuer_set_not_ready(is, "Pending", "the signer has not been loaded yet");
    return is;
}

void issuer_format_ref(const struct issuer *is, char *out, size_t outlen)
{
    if (is->namespace[0] == '\0')
        snprintf(out, outlen, "%s/%s", is->kind, is->name);
    else
        snprintf(out, outlen, "%s/%s/%s", is->kind, is->namespace, is->name);
}

const char *issuer_secret_namespace(const struct issuer *is, const char *cluster_ns)
{
    return is->namespace[0] != '\0' ? is->namespace : cluster_ns;
}

void issuer_set_signer(struct issuer *is, struct signer s)
{
    if (is->signer.ops != NULL)
        is->signer.ops->free(is->signer.ctx);
    is->signer = s;
    issuer_set_ready(is);
}

void issuer_set_ready(struct issuer *is)
{
    pthread_mutex_lock(&is->lock);
    is->state.ready = true;
    snprintf(is->state.reason, sizeof(is->state.reason), "Checked");
    snprintf(is->state.message, sizeof(is->state.message), "Succeeded checking the issuer");
    pthread_mutex_unlock(&is->lock);
}

void issuer_set_not_ready(struct issuer *is, const char *reason, const char *fmt, ...)
{
    pthread_mutex_lock(&is->lock);
    is->state.ready = false;
    snprintf(is->state.reason, sizeof(is->state.reason), "%s", reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(is->state.message, sizeof(is->state.message), fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&is->lock);
}

void issuer_get_state(struct issuer *is, struct issuer_state *out)
{
    pthread_mutex_lock(&is->lock);
    *out = is->state;
    pthread_mutex_unlock(&is->lock);
}

bool issuer_is_ready(struct issuer *is)
{
    pthread_mutex_lock(&is->lock);
    bool ready = is->state.ready;
    pthread_mutex_unlock(&is->lock);
    return ready;
}

void issuer_load_signer(struct issuer *is, const struct signer_env *env, const char *cluster_ns,
                        time_t now)
{
    char ref[600];
    issuer_format_ref(is, ref, sizeof(ref));
    struct signer_where where = {.ns = issuer_secret_namespace(is, cluster_ns), .ref = ref};
    struct err e = {0};
    void *ctx = NULL;
    if (is->row->load(is->spec, env, &where, now, &ctx, &e) != 0)
        issuer_set_not_ready(is, e.kind == ERR_PERMANENT ? "Failed" : "Pending", "%s", e.msg);
    else
        issuer_set_signer(is, (struct signer){.ops = is->row, .ctx = ctx});
    issuer_check(is, now);
}

/* Records the outcome of a check; true when the state changed. */
static bool issuer_record(struct issuer *is, int rc, const struct err *e)
{
    struct issuer_state before;
    issuer_get_state(is, &before);
    if (rc == 0)
        issuer_set_ready(is);
    else
        issuer_set_not_ready(
            is, e->kind == ERR_PERMANENT || e->kind == ERR_INVALID ? "Failed" : "Pending", "%s",
            e->msg);
    struct issuer_state after;
    issuer_get_state(is, &after);
    return before.ready != after.ready || strcmp(before.message, after.message) != 0;
}

bool issuer_check(struct issuer *is, time_t now)
{
    if (is->signer.ops == NULL)
        return false;
    struct err e = {0};
    int rc = is->signer.ops->check(is->signer.ctx, now, &e);
    return issuer_record(is, rc, &e);
}

bool issuer_recheck(struct issuer *is, time_t now)
{
    if (is->signer.ops == NULL || is->signer.ops->recheck == NULL)
        return false;
    struct err e = {0};
    int rc = is->signer.ops->recheck(is->signer.ctx, now, &e);
    issuer_record(is, rc, &e);
    return true;
}

void issuer_declare_metrics(struct metrics *m)
{
    metrics_declare(m, "ember_issuer_ready", "gauge", "1 when the issuer can sign, else 0.");
    metrics_declare(m, "ember_ca_expiry_timestamp_seconds", "gauge",
                    "notAfter of the CA that signs for the issuer, Unix seconds.");
}

/* The label sets published in one pass, sorted, for metrics_gauge_retain. */
struct issuer_labels {
    char **v;
    size_t n;
};

static int issuer_labels_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool issuer_labels_keep(void *ud, const char *labels)
{
    const struct issuer_labels *l = ud;
    return l->n > 0 && bsearch(&labels, l->v, l->n, sizeof(*l->v), issuer_labels_cmp) != NULL;
}

static void issuer_labels_free(struct issuer_labels *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* issuer="Kind/ns/name" into out; false when it does not fit. */
static bool issuer_metric_labels(const struct issuer *is, char *out, size_t outlen)
{
    char ref[600], esc[700];
    issuer_format_ref(is, ref, sizeof(ref));
    metrics_escape_label(ref, esc, sizeof(esc));
    int w = snprintf(out, outlen, "issuer=\"%s\"", esc);
    return w > 0 && (size_t)w < outlen;
}

void issuer_publish_metrics(struct metrics *m, struct issuer *const *list, size_t n)
{
    struct issuer_labels ready = {xcalloc(n + 1, sizeof(char *)), 0};
    struct issuer_labels expiry = {xcalloc(n + 1, sizeof(char *)), 0};
    for (size_t i = 0; i < n; i++) {
        char labels[800];
        if (!issuer_metric_labels(list[i], labels, sizeof(labels)))
            continue;
        metrics_gauge_set(m, "ember_issuer_ready", labels, issuer_is_ready(list[i]) ? 1 : 0);
        ready.v[ready.n++] = xstrdup(labels);
        const struct signer *s = &list[i]->signer;
        time_t not_after = s->ops != NULL ? s->ops->expiry(s->ctx) : 0;
        if (not_after == 0)
            continue;
        metrics_gauge_set(m, "ember_ca_expiry_timestamp_seconds", labels, (double)not_after);
        expiry.v[expiry.n++] = xstrdup(labels);
    }
    qsort(ready.v, ready.n, sizeof(*ready.v), issuer_labels_cmp);
    qsort(expiry.v, expiry.n, sizeof(*expiry.v), issuer_labels_cmp);
    metrics_gauge_retain(m, "ember_issuer_ready", issuer_labels_keep, &ready);
    metrics_gauge_retain(m, "ember_ca_expiry_timestamp_seconds", issuer_labels_keep, &expiry);
    issuer_labels_free(&ready);
    issuer_labels_free(&expiry);
}

struct issuer *issuer_ref(struct issuer *is)
{
    __atomic_add_fetch(&is->refs, 1, __ATOMIC_RELAXED);
    return is;
}

void issuer_unref(struct issuer *is)
{
    if (is == NULL || __atomic_sub_fetch(&is->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (is->signer.ops != NULL)
        is->signer.ops->free(is->signer.ctx);
    if (is->row != NULL)
        is->row->free_spec(is->spec);
    free(is->kind);
    free(is->namespace);
    free(is->name);
    free(is->default_policy);
    pthread_mutex_destroy(&is->lock);
    free(is);
}
