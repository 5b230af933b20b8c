/* metrics.c -- a small thread-safe Prometheus registry (text exposition format 0.0.4). */
#include "base/metrics.h"

#include "base/buf.h"
#include "base/mem.h"
#include "base/utf8.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounded by the caps in metrics.h: 10000 series x 17 lines x ~700 bytes stays below this. */
#define METRICS_RENDER_MAX ((size_t)256 << 20)

enum metrics_kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };

#define N_BUCKETS 15 /* the last one is +Inf */
static const double metrics_bucket_le[N_BUCKETS - 1] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const char *const metrics_bucket_le_text[N_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25",   "0.5",   "1",      "2.5",   "5",    "10",    "+Inf"};

struct metrics_series {
    char *labels;
    double value;               /* counter, gauge */
    uint64_t bucket[N_BUCKETS]; /* histogram: per bucket, not cumulative */
    double sum;
    uint64_t count;
};

struct metrics_family {
    char *name;
    char *help; /* NULL until declared */
    enum metrics_kind kind;
    struct metrics_series *s; /* sorted by labels */
    size_t n, cap;
};

struct metrics {
    pthread_mutex_t mu;
    struct metrics_family *f; /* sorted by name */
    size_t n, cap;
    size_t nseries;
};

static bool metrics_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > METRICS_MAX_NAME_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

/* Index of key in a sorted array of n structs of stride bytes, each holding its key as a
 * const char * at byte offset off; or -(insertion point) - 1. */
static long metrics_bsearch(const void *base, size_t n, size_t stride, size_t off, const char *key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *k;
        memcpy(&k, (const char *)base + mid * stride + off, sizeof(k));
        int c = strcmp(k, key);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

/* Index of name in m->f, or -(insertion point) - 1. */
static long metrics_family_find(const struct metrics *m, const char *name)
{
    return metrics_bsearch(m->f, m->n, sizeof(m->f[0]), offsetof(struct metrics_family, name),
                           name);
}

static long metrics_series_find(const struct metrics_family *f, const char *labels)
{
    return metrics_bsearch(f->s, f->n, sizeof(f->s[0]), offsetof(struct metrics_series, labels),
                           labels);
}

static struct metrics_family *metrics_family_add(struct metrics *m, size_t at, const char *name,
                                                 enum metrics_kind kind)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->f = xrealloc(m->f, m->cap * sizeof(*m->f));
    }
    memmove(&m->f[at + 1], &m->f[at], (m->n - at) * sizeof(*m->f));
    m->n++;
    struct metrics_family *f = &m->f[at];
    memset(f, 0, sizeof(*f));
    f->name = xstrdup(name);
    f->kind = kind;
    return f;
}

static struct metrics_series *metrics_series_add(struct metrics *m, struct metrics_family *f,
                                                 size_t at, const char *labels)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 4;
        f->s = xrealloc(f->s, f->cap * sizeof(*f->s));
    }
    memmove(&f->s[at + 1], &f->s[at], (f->n - at) * sizeof(*f->s));
    f->n++;
    m->nseries++;
    struct metrics_series *s = &f->s[at];
    memset(s, 0, sizeof(*s));
    s->labels = xstrdup(labels);
    return s;
}

/* Counts a dropped sample in METRICS_DROPPED_NAME (created by metrics_new, so always there). */
static void metrics_drop(struct metrics *m)
{
    long i = metrics_family_find(m, METRICS_DROPPED_NAME);
    if (i >= 0 && m->f[i].n > 0)
        m->f[i].s[0].value += 1;
}

/* The series for (name, labels), created when missing; NULL (and counted) when it may not be.
 * Called with m->mu held. */
static struct metrics_series *metrics_series_get(struct metrics *m, const char *name,
                                                 const char *labels, enum metrics_kind kind)
{
    if (labels == NULL)
        labels = "";
    if (name == NULL || !metrics_name_valid(name) || strlen(labels) > METRICS_MAX_LABELS_LEN ||
        strchr(labels, '\n') != NULL) {
        metrics_drop(m);
        return NULL;
    }
    long fi = metrics_family_find(m, name);
    struct metrics_family *f;
    if (fi >= 0) {
        f = &m->f[fi];
        if (f->kind != kind)
            return NULL;
    } else {
        if (m->n >= METRICS_MAX_FAMILIES || m->nseries >= METRICS_MAX_SERIES) {
            metrics_drop(m);
            return NULL;
        }
        f = metrics_family_add(m, (size_t)(-fi - 1), name, kind);
    }
    long si = metrics_series_find(f, labels);
    if (si >= 0)
        return &f->s[si];
    if (m->nseries >= METRICS_MAX_SERIES) {
        metrics_drop(m);
        return NULL;
    }
    return metrics_series_add(m, f, (size_t)(-si - 1), labels);
}

struct metrics *metrics_new(void)
{
    struct metrics *m = xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->mu, NULL);
    metrics_declare(m, METRICS_DROPPED_NAME, "counter",
                    "Metric samples dropped for a bad name or labels, or because the registry "
                    "holds its maximum number of series.");
    metrics_counter_add(m, METRICS_DROPPED_NAME, "", 0);
    return m;
}

void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++) {
        struct metrics_family *f = &m->f[i];
        for (size_t j = 0; j < f->n; j++)
            free(f->s[j].labels);
        free(f->s);
        free(f->name);
        free(f->help);
    }
    free(m->f);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void metrics_declare(struct metrics *m, const char *name, const char *type, const char *help)
{
    enum metrics_kind kind;
    if (type == NULL)
        return;
    if (strcmp(type, "counter") == 0)
        kind = KIND_COUNTER;
    else if (strcmp(type, "gauge") == 0)
        kind = KIND_GAUGE;
    else if (strcmp(type, "histogram") == 0)
        kind = KIND_HISTOGRAM;
    else
        return;
    if (name == NULL || !metrics_name_valid(name))
        return;
    pthread_mutex_lock(&m->mu);
    long fi = metrics_family_find(m, name);
    struct metrics_family *f = NULL;
    if (fi >= 0)
        f = &m->f[fi];
    else if (m->n < METRICS_MAX_FAMILIES)
        f = metrics_family_add(m, (size_t)(-fi - 1), name, kind);
    /* A sample may have created the family first; the declaration still brings its HELP. */
    if (f != NULL && f->kind == kind && f->help == NULL && help != NULL)
        f->help = xstrndup(help, METRICS_MAX_HELP_LEN);
    pthread_mutex_unlock(&m->mu);
}

void metrics_counter_add(struct metrics *m, const char *name, const char *labels, double v)
{
    if (isnan(v) || v < 0)
        return;
    pthread_mutex_lock(&m->mu);
    struct metrics_series *s = metrics_series_get(m, name, labels, KIND_COUNTER);
    if (s != NULL)
        s->value += v;
    pthread_mutex_unlock(&m->mu);
}

void metrics_gauge_set(struct metrics *m, const char *name, const char *labels, double v)
{
    pthread_mutex_lock(&m->mu);
    struct metrics_series *s = metrics_series_get(m, name, labels, KIND_GAUGE);
    if (s != NULL)
        s->value = v;
    pthread_mutex_unlock(&m->mu);
}

void metrics_gauge_retain(struct metrics *m, const char *name,
                          bool (*keep)(void *ud, const char *labels), void *ud)
{
    pthread_mutex_lock(&m->mu);
    long fi = name != NULL ? metrics_family_find(m, name) : -1;
    if (fi >= 0 && m->f[fi].kind == KIND_GAUGE) {
        struct metrics_family *f = &m->f[fi];
        size_t kept = 0;
        for (size_t i = 0; i < f->n; i++) {
            if (keep(ud, f->s[i].labels)) {
                f->s[kept++] = f->s[i]; /* order kept: still sorted */
                continue;
            }
            free(f->s[i].labels);
            m->nseries--;
        }
        f->n = kept;
    }
    pthread_mutex_unlock(&m->mu);
}

void metrics_histogram_observe(struct metrics *m, const char *name, const char *labels, double v)
{
    if (isnan(v))
        return;
    size_t b = 0;
    while (b < N_BUCKETS - 1 && v > metrics_bucket_le[b])
        b++;
    pthread_mutex_lock(&m->mu);
    struct metrics_series *s = metrics_series_get(m, name, labels, KIND_HISTOGRAM);
    if (s != NULL) {
        s->bucket[b]++;
        s->sum += v;
        s->count++;
    }
    pthread_mutex_unlock(&m->mu);
}

/* Shortest "%g" form that reads back as v; Prometheus spellings for NaN and infinities. */
static void metrics_format_value(double v, char *out, size_t outlen)
{
    if (isnan(v)) {
        snprintf(out, outlen, "NaN");
    } else if (isinf(v)) {
        snprintf(out, outlen, v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(out, outlen, "%.15g", v);
        if (strtod(out, NULL) != v)
            snprintf(out, outlen, "%.17g", v);
    }
}

static WUR int metrics_render_help(struct buf *b, const struct metrics_family *f)
{
    static const char *const kind_name[] = {"counter", "gauge", "histogram"};
    if (f->help != NULL) {
        if (buf_printf(b, NULL, "# HELP %s ", f->name) != 0)
            return -1;
        /* HELP escapes only backslash and newline. */
        for (const char *p = f->help; *p != '\0'; p++) {
            const char *piece = *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : NULL;
            int rc = piece ? buf_append_str(b, piece, NULL) : buf_append(b, p, 1, NULL);
            if (rc != 0)
                return -1;
        }
        if (buf_append_str(b, "\n", NULL) != 0)
            return -1;
    }
    return buf_printf(b, NULL, "# TYPE %s %s\n", f->name, kind_name[f->kind]);
}

static WUR int metrics_render_series(struct buf *b, const struct metrics_family *f,
                                     const struct metrics_series *s)
{
    char v[64];
    const char *lb = s->labels[0] ? "{" : "";
    const char *rb = s->labels[0] ? "}" : "";
    if (f->kind != KIND_HISTOGRAM) {
        metrics_format_value(s->value, v, sizeof(v));
        return buf_printf(b, NULL, "%s%s%s%s %s\n", f->name, lb, s->labels, rb, v);
    }
    uint64_t cum = 0;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        cum += s->bucket[i];
        if (buf_printf(b, NULL, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", f->name, s->labels,
                       s->labels[0] ? "," : "", metrics_bucket_le_text[i], cum) != 0)
            return -1;
    }
    metrics_format_value(s->sum, v, sizeof(v));
    if (buf_printf(b, NULL, "%s_sum%s%s%s %s\n", f->name, lb, s->labels, rb, v) != 0)
        return -1;
    return buf_printf(b, NULL, "%s_count%s%s%s %" PRIu64 "\n", f->name, lb, s->labels, rb,
                      s->count);
}

char *metrics_render(const struct metrics *m)
{
    struct buf b;
    buf_init(&b, METRICS_RENDER_MAX);
    /* The registry is logically const; only its lock changes. */
    pthread_mutex_t *mu = (pthread_mutex_t *)&m->mu;
    pthread_mutex_lock(mu);
    for (size_t i = 0; i < m->n; i++) {
        const struct metrics_family *f = &m->f[i];
        if (f->n == 0)
            continue;
        if (metrics_render_help(&b, f) != 0)
            break;
        size_t j = 0;
        while (j < f->n && metrics_render_series(&b, f, &f->s[j]) == 0)
            j++;
        if (j < f->n)
            break;
    }
    pthread_mutex_unlock(mu);
    return buf_take(&b, NULL);
}

void metrics_escape_label(const char *in, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    size_t len = 0;
    const unsigned char *s = (const unsigned char *)in;
    while (*s != '\0') {
        const char *piece;
        size_t plen;
        size_t adv = 1;
        if (*s == '\\') {
            piece = "\\\\", plen = 2;
        } else if (*s == '"') {
            piece = "\\\"", plen = 2;
        } else if (*s == '\n') {
            piece = "\\n", plen = 2;
        } else {
            adv = utf8_seq_len(s, strnlen((const char *)s, 4));
            if (adv == 0) {
                adv = 1;
                piece = "\xef\xbf\xbd", plen = 3;
            } else {
                piece = (const char *)s, plen = adv;
            }
        }
        if (len + plen + 1 > outlen)
            break;
        memcpy(out + len, piece, plen);
        len += plen;
        s += adv;
    }
    out[len] = '\0';
}
