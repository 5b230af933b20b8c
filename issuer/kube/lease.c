/* lease.c -- leader election with a coordination.k8s.io/v1 Lease (client-go's leaderelection). */
#include "kube/lease.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timefmt.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define LEASE_LOGGER "leader-election"
#define LEASE_NAME_MAX 253 /* a DNS subdomain: namespace and Lease name */

/* ---- Pure parts ---- */

/* Lowercase letters, digits, '-' and '.', 1..LEASE_NAME_MAX characters: safe in a path. */
static bool lease_dns_name_ok(const char *s)
{
    size_t n = strnlen(s, LEASE_NAME_MAX + 1);
    if (n == 0 || n > LEASE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return false;
    }
    return true;
}

int lease_config_check(const struct lease_config *cfg, struct err *err)
{
    if (cfg == NULL || cfg->kube == NULL) {
        err_set(err, ERR_INVALID, "leader election needs a Kubernetes client");
        return -1;
    }
    if (cfg->ns == NULL || cfg->ns[0] == '\0') {
        err_set(err, ERR_INVALID, "--leader-election-namespace must not be empty");
        return -1;
    }
    if (cfg->name == NULL || cfg->name[0] == '\0') {
        err_set(err, ERR_INVALID, "the leader election Lease name must not be empty");
        return -1;
    }
    if (!lease_dns_name_ok(cfg->ns)) {
        err_set(err, ERR_INVALID,
                "--leader-election-namespace \"%.253s\" is not a DNS name (lowercase letters, "
                "digits, '-' and '.', at most %d characters)",
                cfg->ns, LEASE_NAME_MAX);
        return -1;
    }
    if (!lease_dns_name_ok(cfg->name)) {
        err_set(err, ERR_INVALID,
                "the leader election Lease name \"%.253s\" is not a DNS name (lowercase "
                "letters, digits, '-' and '.', at most %d characters)",
                cfg->name, LEASE_NAME_MAX);
        return -1;
    }
    if (cfg->identity == NULL || cfg->identity[0] == '\0') {
        err_set(err, ERR_INVALID, "the leader election identity must not be empty");
        return -1;
    }
    if (strlen(cfg->identity) >= LEASE_IDENTITY_MAX) {
        err_set(err, ERR_INVALID, "the leader election identity is longer than %d bytes",
                LEASE_IDENTITY_MAX - 1);
        return -1;
    }
    if (cfg->retry_period_s < 1) {
        err_set(err, ERR_INVALID, "--leader-election-retry-period must be at least 1s (got %lds)",
                cfg->retry_period_s);
        return -1;
    }
    /* Kubernetes stores leaseDurationSeconds as an int32. */
    if (cfg->lease_duration_s > 2147483647L) {
        err_set(err, ERR_INVALID, "--leader-election-lease-duration is too long (%lds)",
                cfg->lease_duration_s);
        return -1;
    }
    if (cfg->lease_duration_s <= cfg->renew_deadline_s) {
        err_set(err, ERR_INVALID,
                "--leader-election-lease-duration (%lds) must be greater than "
                "--leader-election-renew-deadline (%lds)",
                cfg->lease_duration_s, cfg->renew_deadline_s);
        return -1;
    }
    /* renew_deadline > 1.2 * retry_period, in integers: 10 * renew > 12 * retry. */
    if (cfg->renew_deadline_s * 10 <= cfg->retry_period_s * 12) {
        err_set(err, ERR_INVALID,
                "--leader-election-renew-deadline (%lds) must be greater than 1.2 x "
                "--leader-election-retry-period (%lds)",
                cfg->renew_deadline_s, cfg->retry_period_s);
        return -1;
    }
    return 0;
}

void lease_format_microtime(long long unix_us, char out[LEASE_MICROTIME_LEN])
{
    if (unix_us < 0)
        unix_us = 0;
    time_t s = (time_t)(unix_us / 1000000);
    long us = (long)(unix_us % 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, LEASE_MICROTIME_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
             (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100,
             tm.tm_min % 100, tm.tm_sec % 100, us);
}

static bool lease_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int lease_parse_microtime(const char *s, long long *unix_us)
{
    if (s == NULL)
        return -1;
    size_t n = strnlen(s, LEASE_MICROTIME_LEN);
    if (n >= LEASE_MICROTIME_LEN || n < 20)
        return -1;
    /* The fixed part "YYYY-MM-DDTHH:MM:SS": strptime alone would accept short fields. */
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == 'd' ? !lease_is_digit(s[i]) : s[i] != shape[i])
            return -1;
    }
    const char *p = s + 19;
    long long frac_us = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (lease_is_digit(*p)) {
            if (digits < 6)
                frac_us = frac_us * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (digits < 1 || digits > 9)
            return -1;
        for (int i = digits; i < 6; i++)
            frac_us *= 10;
    }
    if (*p != 'Z' && *p != '+' && *p != '-')
        return -1;
    time_t t;
    if (timefmt_parse_rfc3339(s, &t) != 0)
        return -1;
    /* Reject what strptime normalises silently (month 13, second 61, ...). */
    int mon = (s[5] - '0') * 10 + (s[6] - '0');
    int day = (s[8] - '0') * 10 + (s[9] - '0');
    int hh = (s[11] - '0') * 10 + (s[12] - '0');
    int mm = (s[14] - '0') * 10 + (s[15] - '0');
    int ss = (s[17] - '0') * 10 + (s[18] - '0');
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
        return -1;
    *unix_us = (long long)t * 1000000 + frac_us;
    return 0;
}

bool lease_record_equal(const struct lease_record *a, const struct lease_record *b)
{
    return strcmp(a->holder, b->holder) == 0 && a->duration_s == b->duration_s &&
           strcmp(a->acquire_time, b->acquire_time) == 0 &&
           strcmp(a->renew_time, b->renew_time) == 0 && a->transitions == b->transitions;
}

/* An optional int32 field of spec (0 when absent or null). */
static WUR int lease_spec_int(const cJSON *spec, const char *field, long *out, struct err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, field);
    *out = 0;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!cJSON_IsNumber(v) || d < 0 || d > 2147483647.0 || d != (double)(long)d) {
        err_set(err, ERR_INVALID, "Lease spec.%s is not a non-negative int32", field);
        return -1;
    }
    *out = (long)d;
    return 0;
}

/* An optional MicroTime field of spec, copied into out ("" when absent or null). */
static WUR int lease_spec_time(const cJSON *spec, const char *field, char out[LEASE_MICROTIME_LEN],
                               struct err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, field);
    out[0] = '\0';
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    long long us;
    if (!cJSON_IsString(v) || lease_parse_microtime(v->valuestring, &us) != 0) {
        err_set(err, ERR_INVALID,
                "Lease spec.%s is not a MicroTime (RFC 3339, e.g. "
                "\"2006-01-02T15:04:05.000000Z\")",
                field);
        return -1;
    }
    snprintf(out, LEASE_MICROTIME_LEN, "%s", v->valuestring);
    return 0;
}

int lease_record_parse(const char *body, size_t len, struct lease_record *rec,
                       char rv[LEASE_RV_MAX], struct err *err)
{
    if (len > LEASE_MAX_BODY_BYTES) {
        err_set(err, ERR_TOO_BIG, "the Lease is %zu bytes, more than the %d bytes accepted", len,
                LEASE_MAX_BODY_BYTES);
        return -1;
    }
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        err_set(err, ERR_INVALID, "the Lease is not a JSON object");
        return -1;
    }
    int rc = -1;
    struct lease_record r;
    memset(&r, 0, sizeof(r));
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    const cJSON *rvj = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(root, "spec");
    if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "Lease") != 0) {
        err_set(err, ERR_INVALID, "the object is not a Lease (kind)");
        goto out;
    }
    if (!cJSON_IsString(rvj) || rvj->valuestring[0] == '\0') {
        err_set(err, ERR_INVALID, "the Lease has no metadata.resourceVersion");
        goto out;
    }
    if (strlen(rvj->valuestring) >= LEASE_RV_MAX) {
        err_set(err, ERR_TOO_BIG, "the Lease metadata.resourceVersion is longer than %d bytes",
                LEASE_RV_MAX - 1);
        goto out;
    }
    if (spec != NULL && !cJSON_IsNull(spec)) {
        if (!cJSON_IsObject(spec)) {
            err_set(err, ERR_INVALID, "the Lease spec is not an object");
            goto out;
        }
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(spec, "holderIdentity");
        if (h != NULL && !cJSON_IsNull(h)) {
            if (!cJSON_IsString(h)) {
                err_set(err, ERR_INVALID, "Lease spec.holderIdentity is not a string");
                goto out;
            }
            if (strlen(h->valuestring) >= LEASE_IDENTITY_MAX) {
                err_set(err, ERR_TOO_BIG, "Lease spec.holderIdentity is longer than %d bytes",
                        LEASE_IDENTITY_MAX - 1);
                goto out;
            }
            snprintf(r.holder, sizeof(r.holder), "%s", h->valuestring);
        }
        if (lease_spec_int(spec, "leaseDurationSeconds", &r.duration_s, err) != 0 ||
            lease_spec_int(spec, "leaseTransitions", &r.transitions, err) != 0 ||
            lease_spec_time(spec, "acquireTime", r.acquire_time, err) != 0 ||
            lease_spec_time(spec, "renewTime", r.renew_time, err) != 0)
            goto out;
    }
    snprintf(rv, LEASE_RV_MAX, "%s", rvj->valuestring);
    *rec = r;
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

char *lease_record_json(const char *ns, const char *name, const char *rv,
                        const struct lease_record *rec)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        abort();
    cJSON_AddStringToObject(o, "apiVersion", "coordination.k8s.io/v1");
    cJSON_AddStringToObject(o, "kind", "Lease");
    cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "namespace", ns);
    if (rv != NULL && rv[0] != '\0')
        cJSON_AddStringToObject(meta, "resourceVersion", rv);
    cJSON *spec = cJSON_AddObjectToObject(o, "spec");
    cJSON_AddStringToObject(spec, "holderIdentity", rec->holder);
    cJSON_AddNumberToObject(spec, "leaseDurationSeconds", (double)rec->duration_s);
    if (rec->acquire_time[0] != '\0')
        cJSON_AddStringToObject(spec, "acquireTime", rec->acquire_time);
    if (rec->renew_time[0] != '\0')
        cJSON_AddStringToObject(spec, "renewTime", rec->renew_time);
    cJSON_AddNumberToObject(spec, "leaseTransitions", (double)rec->transitions);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s == NULL)
        abort(); /* cJSON fails only when out of memory */
    return s;
}

enum lease_decision lease_decide(const struct lease_record *observed, long long observed_ms,
                                 long long now_ms, const char *identity)
{
    bool mine = strcmp(observed->holder, identity) == 0;
    if (mine)
        return LEASE_RENEW;
    bool valid = observed_ms + (long long)observed->duration_s * 1000 > now_ms;
    if (observed->holder[0] != '\0' && valid)
        return LEASE_HELD_ELSEWHERE;
    return LEASE_TAKEOVER;
}

void lease_record_next(const struct lease_record *observed, enum lease_decision d,
                       const char *identity, long duration_s, const char *now,
                       struct lease_record *out)
{
    struct lease_record r;
    memset(&r, 0, sizeof(r));
    snprintf(r.holder, sizeof(r.holder), "%s", identity);
    r.duration_s = duration_s;
    snprintf(r.renew_time, sizeof(r.renew_time), "%s", now);
    if (d == LEASE_RENEW && observed != NULL) {
        snprintf(r.acquire_time, sizeof(r.acquire_time), "%s",
                 observed->acquire_time[0] != '\0' ? observed->acquire_time : now);
        r.transitions = observed->transitions;
    } else {
        snprintf(r.acquire_time, sizeof(r.acquire_time), "%s", now);
        r.transitions = observed != NULL ? observed->transitions + 1 : 0;
    }
    *out = r;
}

long long lease_jitter_ms(long period_s, double factor, double u)
{
    if (u < 0)
        u = 0;
    if (u >= 1)
        u = 0.999999;
    long long base = (long long)period_s * 1000;
    return base + (long long)((double)base * factor * u);
}

/* ---- The election thread ---- */

struct lease {
    struct kube *kube;
    char *ns, *name, *identity, *object; /* object = "ns/name" for the logs */
    char *path_coll, *path_item;
    long duration_s, renew_deadline_s, retry_s;
    void (*on_change)(void *ud, bool leader);
    void *ud;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;      /* CLOCK_MONOTONIC */
    bool stop;                /* under mu */
    bool leader;              /* under mu */
    long long valid_until_ms; /* under mu: last successful renewal attempt + renew deadline */

    /* Owned by the thread. */
    struct lease_record observed; /* the record last seen or written */
    long long observed_ms;        /* when it was first seen in that form (monotonic) */
    bool have_observed;
    char rv[LEASE_RV_MAX]; /* resourceVersion of the Lease last seen or written */
    uint64_t rng;
};

static void lease_now_microtime(char out[LEASE_MICROTIME_LEN])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lease_format_microtime((long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, out);
}

/* A draw in [0,1) from a xorshift64* generator (jitter only, no secrecy needed). */
static double lease_rand(struct lease *l)
{
    uint64_t x = l->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    l->rng = x;
    return (double)((x * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static bool lease_stopping(struct lease *l)
{
    pthread_mutex_lock(&l->mu);
    bool s = l->stop;
    pthread_mutex_unlock(&l->mu);
    return s;
}

static bool lease_stop_cb(void *ud)
{
    return lease_stopping(ud);
}

/* Sleeps until monotonic time until_ms or lease_stop; returns true when stopping. */
static bool lease_sleep_until(struct lease *l, long long until_ms)
{
    struct timespec ts = {.tv_sec = (time_t)(until_ms / 1000),
                          .tv_nsec = (long)(until_ms % 1000) * 1000000};
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        int rc = pthread_cond_timedwait(&l->cond, &l->mu, &ts);
        if (rc == ETIMEDOUT)
            break;
    }
    bool s = l->stop;
    pthread_mutex_unlock(&l->mu);
    return s;
}

static void lease_set_leader(struct lease *l, bool leader, long long valid_until_ms)
{
    pthread_mutex_lock(&l->mu);
    bool changed = l->leader != leader;
    l->leader = leader;
    l->valid_until_ms = valid_until_ms;
    pthread_mutex_unlock(&l->mu);
    if (changed && l->on_change != NULL)
        l->on_change(l->ud, leader);
}

/* Remembers rec as observed at now_ms when it differs from the record seen before. */
static void lease_observe(struct lease *l, const struct lease_record *rec, long long now_ms)
{
    if (!l->have_observed || !lease_record_equal(&l->observed, rec)) {
        if ((!l->have_observed || strcmp(l->observed.holder, rec->holder) != 0) &&
            rec->holder[0] != '\0' && strcmp(rec->holder, l->identity) != 0)
            LOG(LOG_INFO, LEASE_LOGGER, l->object, NULL, "the Lease is held by %s", rec->holder);
        l->observed = *rec;
        l->observed_ms = now_ms;
        l->have_observed = true;
    }
}

enum lease_try_result { TRY_OK, TRY_HELD, TRY_FAILED };

/* Writes rec (POST when create, else PUT with l->rv); on success observes the record the
 * server returned. Returns TRY_OK, TRY_HELD (409: someone else wrote first) or TRY_FAILED. */
static enum lease_try_result lease_write(struct lease *l, bool create,
                                         const struct lease_record *rec, long long now_ms)
{
    char *body = lease_record_json(l->ns, l->name, create ? NULL : l->rv, rec);
    struct kube_response r;
    memset(&r, 0, sizeof(r));
    struct err e = {0};
    int rc = kube_request(l->kube, create ? "POST" : "PUT", create ? l->path_coll : l->path_item,
                          "application/json", body, strlen(body), &r, &e);
    free(body);
    enum lease_try_result res = TRY_FAILED;
    if (rc != 0) {
        LOG(LOG_WARN, LEASE_LOGGER, l->object, e.msg, "cannot %s the Lease",
            create ? "create" : "update");
    } else if (r.code == 409) {
        LOG(LOG_DEBUG, LEASE_LOGGER, l->object, r.status.message,
            "another replica wrote the Lease first");
        res = TRY_HELD;
    } else if (r.code < 200 || r.code >= 300) {
        LOG(LOG_WARN, LEASE_LOGGER, l->object, r.status.message, "cannot %s the Lease (HTTP %ld)",
            create ? "create" : "update", r.code);
    } else {
        struct lease_record got;
        char rv[LEASE_RV_MAX];
        if (lease_record_parse(r.body, r.len, &got, rv, &e) != 0) {
            LOG(LOG_WARN, LEASE_LOGGER, l->object, e.msg, "the API server's answer is not a Lease");
        } else {
            /* What we wrote counts as a change observed now, like client-go's setObservedRecord. */
            l->observed = got;
            l->observed_ms = now_ms;
            l->have_observed = true;
            snprintf(l->rv, sizeof(l->rv), "%s", rv);
            res = strcmp(got.holder, l->identity) == 0 ? TRY_OK : TRY_HELD;
        }
    }
    kube_response_free(&r);
    return res;
}

/* client-go's tryAcquireOrRenew; now_ms is taken before any request. */
static enum lease_try_result lease_try(struct lease *l, long long now_ms)
{
    char now[LEASE_MICROTIME_LEN];
    lease_now_microtime(now);
    struct lease_record rec;

    /* Fast path: still ours by our own observation: update with the RV we wrote last. */
    if (l->have_observed && l->rv[0] != '\0' && strcmp(l->observed.holder, l->identity) == 0 &&
        l->observed_ms + (long long)l->observed.duration_s * 1000 > now_ms) {
        lease_record_next(&l->observed, LEASE_RENEW, l->identity, l->duration_s, now, &rec);
        if (lease_write(l, false, &rec, now_ms) == TRY_OK)
            return TRY_OK;
        LOG(LOG_DEBUG, LEASE_LOGGER, l->object, NULL,
            "optimistic Lease update failed, reading it again");
    }

    struct kube_response r;
    memset(&r, 0, sizeof(r));
    struct err e = {0};
    struct kube_stream_ops ops = {.data = NULL, .stop = lease_stop_cb};
    if (kube_get_stream(l->kube, l->path_item, l->renew_deadline_s * 1000, &ops, l, &r, &e) != 0) {
        LOG(LOG_WARN, LEASE_LOGGER, l->object, e.msg, "cannot read the Lease");
        kube_response_free(&r);
        return TRY_FAILED;
    }
    if (r.code == 404) {
        kube_response_free(&r);
        lease_record_next(NULL, LEASE_TAKEOVER, l->identity, l->duration_s, now, &rec);
        rec.transitions = 0;
        return lease_write(l, true, &rec, now_ms);
    }
    if (r.code != 200) {
        LOG(LOG_WARN, LEASE_LOGGER, l->object, r.status.message, "cannot read the Lease (HTTP %ld)",
            r.code);
        kube_response_free(&r);
        return TRY_FAILED;
    }
    struct lease_record got;
    char rv[LEASE_RV_MAX];
    int prc = lease_record_parse(r.body, r.len, &got, rv, &e);
    kube_response_free(&r);
    if (prc != 0) {
        LOG(LOG_WARN, LEASE_LOGGER, l->object, e.msg, "cannot read the Lease");
        return TRY_FAILED;
    }
    lease_observe(l, &got, now_ms);
    snprintf(l->rv, sizeof(l->rv), "%s", rv);
    enum lease_decision d = lease_decide(&l->observed, l->observed_ms, now_ms, l->identity);
    if (d == LEASE_HELD_ELSEWHERE)
        return TRY_HELD;
    lease_record_next(&l->observed, d, l->identity, l->duration_s, now, &rec);
    return lease_write(l, false, &rec, now_ms);
}

/* client-go's release: holder "", leaseDurationSeconds 1, transitions kept. */
static void lease_release(struct lease *l)
{
    if (!l->have_observed || l->rv[0] == '\0' || strcmp(l->observed.holder, l->identity) != 0)
        return;
    struct lease_record rec;
    memset(&rec, 0, sizeof(rec));
    rec.duration_s = 1;
    lease_now_microtime(rec.renew_time);
    memcpy(rec.acquire_time, rec.renew_time, sizeof(rec.acquire_time));
    rec.transitions = l->observed.transitions;
    char *body = lease_record_json(l->ns, l->name, l->rv, &rec);
    struct kube_response r;
    memset(&r, 0, sizeof(r));
    struct err e = {0};
    int rc =
        kube_request(l->kube, "PUT", l->path_item, "application/json", body, strlen(body), &r, &e);
    free(body);
    if (rc != 0)
        LOG(LOG_WARN, LEASE_LOGGER, l->object, e.msg, "cannot release the Lease");
    else if (r.code < 200 || r.code >= 300)
        LOG(LOG_WARN, LEASE_LOGGER, l->object, r.status.message,
            "cannot release the Lease (HTTP %ld)", r.code);
    else
        LOG(LOG_INFO, LEASE_LOGGER, l->object, NULL, "%s released the Lease", l->identity);
    kube_response_free(&r);
}

/* When to try acquiring next: the jittered retry period, or just after the current holder's
 * lease expires by our observation if that comes sooner (takeover without an extra period). */
static long long lease_next_acquire(struct lease *l, long long now_ms)
{
    long long next = now_ms + lease_jitter_ms(l->retry_s, LEASE_JITTER_FACTOR, lease_rand(l));
    if (l->have_observed && l->observed.holder[0] != '\0') {
        long long expiry = l->observed_ms + (long long)l->observed.duration_s * 1000 + 1;
        if (expiry > now_ms && expiry < next)
            next = expiry;
    }
    return next;
}

static void *lease_thread(void *arg)
{
    struct lease *l = arg;
    while (!lease_stopping(l)) {
        /* Acquire. */
        LOG(LOG_INFO, LEASE_LOGGER, l->object, NULL, "%s is trying to acquire the Lease",
            l->identity);
        long long t0 = 0;
        bool got = false;
        while (!got) {
            t0 = clock_mono_ms();
            if (lease_try(l, t0) == TRY_OK) {
                got = true;
                break;
            }
            if (lease_sleep_until(l, lease_next_acquire(l, clock_mono_ms())))
                break;
        }
        if (!got)
            break;
        LOG(LOG_INFO, LEASE_LOGGER, l->object, NULL,
            "%s acquired the Lease and is the leader (leaseTransitions %ld)", l->identity,
            l->observed.transitions);
        lease_set_leader(l, true, t0 + l->renew_deadline_s * 1000);

        /* Renew every retry period; stop leading when it fails for the renew deadline or
         * another holder shows up. */
        long long last_ok = t0;
        long long next = t0 + l->retry_s * 1000;
        const char *why = NULL;
        while (why == NULL) {
            if (lease_sleep_until(l, next))
                break;
            long long t = clock_mono_ms();
            enum lease_try_result res = lease_try(l, t);
            if (res == TRY_OK) {
                last_ok = t;
                lease_set_leader(l, true, t + l->renew_deadline_s * 1000);
                next = t + l->retry_s * 1000;
                continue;
            }
            long long now = clock_mono_ms();
            if (res == TRY_HELD && l->have_observed && strcmp(l->observed.holder, l->identity) != 0)
                why = "another replica holds the Lease";
            else if (now - last_ok >= l->renew_deadline_s * 1000)
                why = "could not renew the Lease within the renew deadline";
            next = now + l->retry_s * 1000;
            if (next > last_ok + l->renew_deadline_s * 1000)
                next = last_ok + l->renew_deadline_s * 1000;
        }
        if (why != NULL) {
            LOG(LOG_WARN, LEASE_LOGGER, l->object, why, "%s stopped leading", l->identity);
            lease_set_leader(l, false, 0);
        }
    }
    /* Stopping. */
    bool was_leader;
    pthread_mutex_lock(&l->mu);
    was_leader = l->leader;
    pthread_mutex_unlock(&l->mu);
    if (was_leader) {
        LOG(LOG_INFO, LEASE_LOGGER, l->object, NULL, "%s stopped leading (shutting down)",
            l->identity);
        lease_set_leader(l, false, 0);
        lease_release(l);
    }
    return NULL;
}

static void lease_free(struct lease *l)
{
    free(l->ns);
    free(l->name);
    free(l->identity);
    free(l->object);
    free(l->path_coll);
    free(l->path_item);
    free(l);
}

struct lease *lease_start(const struct lease_config *cfg, struct err *err)
{
    if (lease_config_check(cfg, err) != 0)
        return NULL;
    struct lease *l = xcalloc(1, sizeof(*l));
    l->kube = cfg->kube;
    l->ns = xstrdup(cfg->ns);
    l->name = xstrdup(cfg->name);
    l->identity = xstrdup(cfg->identity);
    l->object = xasprintf("%s/%s", cfg->ns, cfg->name);
    l->duration_s = cfg->lease_duration_s;
    l->renew_deadline_s = cfg->renew_deadline_s;
    l->retry_s = cfg->retry_period_s;
    l->on_change = cfg->on_change;
    l->ud = cfg->ud;
    l->path_coll = xasprintf("/apis/coordination.k8s.io/v1/namespaces/%s/leases", l->ns);
    l->path_item = xasprintf("%s/%s", l->path_coll, l->name);
    if (getrandom(&l->rng, sizeof(l->rng), 0) != (ssize_t)sizeof(l->rng))
        l->rng = (uint64_t)clock_mono_ms() * 0x9E3779B97F4A7C15ULL;
    if (l->rng == 0)
        l->rng = 0x9E3779B97F4A7C15ULL;

    if (clock_cond_init(&l->cond) != 0) {
        err_set(err, ERR_INTERNAL, "leader election: cannot set up a condition variable");
        lease_free(l);
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    int rc = pthread_create(&l->thread, NULL, lease_thread, l);
    if (rc != 0) {
        err_set(err, ERR_INTERNAL, "leader election: cannot start a thread: %s", strerror(rc));
        pthread_cond_destroy(&l->cond);
        pthread_mutex_destroy(&l->mu);
        lease_free(l);
        return NULL;
    }
    return l;
}

bool lease_is_leader(struct lease *l)
{
    if (l == NULL)
        return false;
    long long now = clock_mono_ms();
    pthread_mutex_lock(&l->mu);
    bool leader = l->leader && now < l->valid_until_ms;
    pthread_mutex_unlock(&l->mu);
    return leader;
}

void lease_stop(struct lease *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->mu);
    lease_free(l);
}
