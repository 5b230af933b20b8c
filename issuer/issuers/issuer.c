/* issuer.c -- Issuer and ClusterIssuer: spec, signer, readiness. */
#include "issuers/issuer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonfield.h"
#include "base/mem.h"
#include "base/metrics.h"

static const char *const issuer_api_versions[] = {ISSUER_API_VERSION, NULL};
static const char *const issuer_kinds[] = {"Issuer", "ClusterIssuer", NULL};

/* What issuer_read_header read; the strings are borrowed from the object. */
struct issuer_header {
    int kind; /* index in issuer_kinds */
    const char *name, *ns;
    long long generation;
};

/* apiVersion, kind and metadata of obj. namespace and generation are the API server's: read when
 * they are there as it writes them, else "" and 1. */
static int issuer_read_header(const cJSON *obj, struct issuer_header *h, struct err *err)
{
    if (!cJSON_IsObject(obj))
        return jsonfield_expected("", "an object", obj, err);
    int api = -1;
    h->kind = -1;
    if (jsonfield_choice(obj, "", "apiVersion", issuer_api_versions, &api, err) != 0)
        return -1;
    if (api < 0)
        return jsonfield_missing("apiVersion", ISSUER_API_VERSION, err);
    if (jsonfield_choice(obj, "", "kind", issuer_kinds, &h->kind, err) != 0)
        return -1;
    if (h->kind < 0)
        return jsonfield_missing("kind", "one of Issuer, ClusterIssuer", err);
    const cJSON *meta;
    if (jsonfield_object(obj, "", "metadata", &meta, err) != 0 ||
        jsonfield_string(meta, "metadata", "name", &h->name, err) != 0)
        return -1;
    if (h->name == NULL)
        return jsonfield_missing("metadata.name", "a string", err);
    if (h->name[0] == '\0')
        return jsonfield_empty("metadata.name", "a string", err);
    const cJSON *ns = jsonfield_get(meta, "namespace");
    h->ns = cJSON_IsString(ns) ? ns->valuestring : "";
    struct err ignored = {0};
    h->generation = 1;
    if (jsonfield_int(meta, "metadata", "generation", -(1LL << 53), 1LL << 53, &h->generation, NULL,
                      &ignored) != 0)
        h->generation = 1;
    return 0;
}

/* The members of spec: defaultPolicy and each row's spec key, an object. fields has room for
 * SIGNER_MAX_ROWS + 2 rows. */
static void issuer_spec_fields(struct jsonfield *fields)
{
    size_t n = 0;
    fields[n++] = (struct jsonfield){.name = "defaultPolicy", .type = JSONFIELD_STRING};
    for (const struct signer_ops *r; (r = signer_row(n - 1)) != NULL;)
        fields[n++] = (struct jsonfield){.name = r->spec_key, .type = JSONFIELD_OBJECT};
    fields[n] = (struct jsonfield){0};
}

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

/* The row whose spec key is set in spec (exactly one; null is not set), parsed into is->row and
 * is->spec. spec's members have been checked. */
static int issuer_read_signer(struct issuer *is, const cJSON *spec, struct err *err)
{
    const struct signer_ops *row = NULL, *r;
    const cJSON *obj = NULL;
    size_t set = 0;
    for (size_t i = 0; (r = signer_row(i)) != NULL; i++) {
        const cJSON *o = jsonfield_get(spec, r->spec_key);
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
    if (row->parse(obj, &is->spec, err) != 0)
        return -1;
    is->row = row;
    return 0;
}

/* obj's spec: its members, defaultPolicy and the signer. */
static int issuer_read_spec(struct issuer *is, const cJSON *obj, struct err *err)
{
    const cJSON *spec;
    if (jsonfield_object(obj, "", "spec", &spec, err) != 0)
        return -1;
    if (spec == NULL)
        return jsonfield_missing("spec", "an object", err);
    struct jsonfield fields[SIGNER_MAX_ROWS + 2];
    issuer_spec_fields(fields);
    if (jsonfield_check(spec, "spec", fields, 0, err) != 0 ||
        signer_spec_copy(spec, "spec", "defaultPolicy", &is->default_policy, err) != 0)
        return -1;
    return issuer_read_signer(is, spec, err);
}

struct issuer *issuer_from_json(const cJSON *obj, struct err *err)
{
    struct issuer_header h;
    if (issuer_read_header(obj, &h, err) != 0)
        return NULL;
    bool cluster = strcmp(issuer_kinds[h.kind], "ClusterIssuer") == 0;
    struct issuer *is = xcalloc(1, sizeof(*is));
    is->refs = 1;
    pthread_mutex_init(&is->lock, NULL);
    is->kind = xstrdup(issuer_kinds[h.kind]);
    is->name = xstrdup(h.name);
    is->namespace = xstrdup(cluster ? "" : h.ns[0] != '\0' ? h.ns : "default");
    is->generation = h.generation;
    if (issuer_read_spec(is, obj, err) != 0) {
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
    char msg[sizeof(is->state.message)] = "Succeeded checking the issuer";
    if (is->signer.ops != NULL && is->signer.ops->ready_message != NULL)
        is->signer.ops->ready_message(is->signer.ctx, msg, sizeof(msg));
    pthread_mutex_lock(&is->lock);
    is->state.ready = true;
    snprintf(is->state.reason, sizeof(is->state.reason), "Checked");
    snprintf(is->state.message, sizeof(is->state.message), "%s", msg);
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
    struct signer_where where = {.ns = issuer_secret_namespace(is, cluster_ns),
                                 .ref = ref,
                                 .issuer_ns = is->namespace,
                                 .issuer_name = is->name};
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
    if (rc == 1)
        return false; /* a Secret it read at load changed: load it again */
    issuer_record(is, rc, &e);
    return true;
}

void issuer_declare_metrics(struct metrics *m)
{
    metrics_declare(m, "ember_issuer_ready", "gauge", "1 when the issuer can sign, else 0.");
    metrics_declare(m, "ember_ca_expiry_timestamp_seconds", "gauge",
                    "notAfter of the CA that signs for the issuer, Unix seconds.");
    for (size_t i = 0; signer_row(i) != NULL; i++)
        if (signer_row(i)->declare_metrics != NULL)
            signer_row(i)->declare_metrics(m);
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

/* The index of row in the signer table. */
static size_t issuer_row_index(const struct signer_ops *row)
{
    size_t i = 0;
    while (signer_row(i) != NULL && signer_row(i) != row)
        i++;
    return i;
}

/* Sorts l and drops every series of gauge whose labels l does not hold. */
static void issuer_labels_retain(struct metrics *m, const char *gauge, struct issuer_labels *l)
{
    qsort(l->v, l->n, sizeof(*l->v), issuer_labels_cmp);
    metrics_gauge_retain(m, gauge, issuer_labels_keep, l);
}

void issuer_publish_metrics(struct metrics *m, struct issuer *const *list, size_t n)
{
    struct issuer_labels ready = {xcalloc(n + 1, sizeof(char *)), 0};
    struct issuer_labels expiry = {xcalloc(n + 1, sizeof(char *)), 0};
    struct issuer_labels rows[SIGNER_MAX_ROWS]; /* per row: the issuers it published gauges for */
    for (size_t r = 0; r < SIGNER_MAX_ROWS; r++)
        rows[r] = (struct issuer_labels){xcalloc(n + 1, sizeof(char *)), 0};
    for (size_t i = 0; i < n; i++) {
        char labels[800];
        if (!issuer_metric_labels(list[i], labels, sizeof(labels)))
            continue;
        metrics_gauge_set(m, "ember_issuer_ready", labels, issuer_is_ready(list[i]) ? 1 : 0);
        ready.v[ready.n++] = xstrdup(labels);
        const struct signer *s = &list[i]->signer;
        size_t r = s->ops != NULL ? issuer_row_index(s->ops) : SIGNER_MAX_ROWS;
        if (r < SIGNER_MAX_ROWS && s->ops->publish_metrics != NULL &&
            s->ops->publish_metrics(s->ctx, m, labels))
            rows[r].v[rows[r].n++] = xstrdup(labels);
        time_t not_after = s->ops != NULL ? s->ops->expiry(s->ctx) : 0;
        if (not_after == 0)
            continue;
        metrics_gauge_set(m, "ember_ca_expiry_timestamp_seconds", labels, (double)not_after);
        expiry.v[expiry.n++] = xstrdup(labels);
    }
    issuer_labels_retain(m, "ember_issuer_ready", &ready);
    issuer_labels_retain(m, "ember_ca_expiry_timestamp_seconds", &expiry);
    for (size_t r = 0; r < SIGNER_MAX_ROWS; r++) {
        const struct signer_ops *row = signer_row(r);
        for (size_t g = 0; row != NULL && row->gauges != NULL && row->gauges[g] != NULL; g++)
            issuer_labels_retain(m, row->gauges[g], &rows[r]);
        issuer_labels_free(&rows[r]);
    }
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
