/* tokenreview.c -- Kubernetes bearer tokens checked with a TokenReview, positive answers cached
 * under SHA-256(token) (see tokenreview.h). */
#include "kube/tokenreview.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "base/b64.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/utf8.h"
#include "kube/kube.h"

/* Hash buckets of the cache: a power of two, twice the entries, so chains stay short. */
#define TOKENREVIEW_BUCKETS 8192

/* One cached positive answer. The key is SHA-256 of the token; the audience is the
 * authenticator's own (one cache per audience), so the full key is SHA-256(token) || audience. */
struct tokenreview_entry {
    unsigned char key[SHA256_DIGEST_LENGTH];
    struct caller who;
    long long added_ms, expires_ms;
    struct tokenreview_entry *hnext;         /* bucket chain */
    struct tokenreview_entry *newer, *older; /* recency list: head is the most recently used */
};

struct tokenreview {
    struct kube *kube;
    char *audience;
    long long ttl_ms;
    struct metrics *metrics;
    tokenreview_clock_fn clock; /* monotonic: the cache's lifetimes */
    tokenreview_clock_fn wall;  /* since the Unix epoch: a token's exp */
    void *clock_ud;
    tokenreview_post_fn post;
    void *post_ud;
    pthread_mutex_t lock; /* everything below */
    struct tokenreview_entry *buckets[TOKENREVIEW_BUCKETS];
    struct tokenreview_entry *head, *tail;
    size_t n;
    long long last_sweep_ms;
    unsigned long calls;
};

/* ---- pure helpers ---------------------------------------------------------------------------- */

static bool tokenreview_has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* Wipes spec.token of a parsed TokenReview (the API server echoes the spec). */
static void tokenreview_wipe_spec_token(cJSON *root)
{
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(root, "spec");
    cJSON *tok = cJSON_GetObjectItemCaseSensitive(spec, "token");
    if (cJSON_IsString(tok) && tok->valuestring)
        OPENSSL_cleanse(tok->valuestring, strlen(tok->valuestring));
}

/* Checks the status of a TokenReview answer: no error, authenticated, and audience among the
 * audiences the API server confirmed. */
static WUR int tokenreview_check_status(const cJSON *st, const char *audience, struct err *err)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(st, "error");
    if (e && !cJSON_IsNull(e) && !cJSON_IsString(e)) {
        err_set(err, ERR_PERMANENT, "the TokenReview answer's status.error is not a string");
        return -1;
    }
    if (cJSON_IsString(e) && e->valuestring[0]) {
        char why[TOKENREVIEW_MAX_ERROR_BYTES + 1];
        utf8_copy_printable(why, sizeof why, e->valuestring, TOKENREVIEW_MAX_ERROR_BYTES);
        err_set(err, ERR_PERMANENT, "the token is not valid: the API server's TokenReview says: %s",
                why);
        return -1;
    }
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "authenticated"))) {
        err_set(err, ERR_PERMANENT,
                "the token is not valid: the API server did not authenticate it");
        return -1;
    }
    const cJSON *auds = cJSON_GetObjectItemCaseSensitive(st, "audiences");
    if (!cJSON_IsArray(auds) || cJSON_GetArraySize(auds) == 0) {
        /* authenticated without an audience: the token is only good for the API server itself
         * (or an audience-unaware authenticator answered), so it proves nothing to Ember */
        err_set(err, ERR_PERMANENT,
                "the token is not valid for audience \"%s\": the API server confirmed no audience",
                audience);
        return -1;
    }
    bool found = false;
    const cJSON *a;
    cJSON_ArrayForEach(a, auds)
    {
        if (cJSON_IsString(a) && strcmp(a->valuestring, audience) == 0)
            found = true;
    }
    if (!found) {
        err_set(err, ERR_PERMANENT,
                "the token is not valid for audience \"%s\" (it was made for another)", audience);
        return -1;
    }
    return 0;
}

/* Fills out (method TOKEN) with status.user: its username and the usable groups. */
static WUR int tokenreview_read_user(const cJSON *st, struct caller *out, struct err *err)
{
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(st, "user");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(user, "username");
    if (!cJSON_IsString(name) || !name->valuestring[0] ||
        strlen(name->valuestring) > TOKENREVIEW_MAX_NAME_BYTES ||
        tokenreview_has_control(name->valuestring)) {
        err_set(err, ERR_PERMANENT, "the TokenReview answer names no usable user");
        return -1;
    }
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(user, "groups");
    if (groups && !cJSON_IsNull(groups) && !cJSON_IsArray(groups)) {
        err_set(err, ERR_PERMANENT, "the TokenReview answer's user.groups is not a list");
        return -1;
    }
    out->method = CALLER_TOKEN;
    out->username = xstrdup(name->valuestring);
    const cJSON *glist = cJSON_IsArray(groups) ? groups : NULL;
    const cJSON *g;
    cJSON_ArrayForEach(g, glist)
    {
        if (out->groups.n >= CALLER_MAX_NAMES)
            break;
        /* Dropping a group can only deny (groups grant), so odd ones are skipped, not fatal. */
        if (cJSON_IsString(g) && g->valuestring[0] &&
            strlen(g->valuestring) <= TOKENREVIEW_MAX_NAME_BYTES &&
            !tokenreview_has_control(g->valuestring))
            strv_push(&out->groups, g->valuestring);
    }
    return 0;
}

int tokenreview_parse(const char *body, size_t len, const char *audience, struct caller *out,
                      struct err *err)
{
    memset(out, 0, sizeof *out);
    cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    int rc = -1;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "status");
    if (!cJSON_IsObject(root))
        err_set(err, ERR_PERMANENT, "the TokenReview answer is not a JSON object");
    else if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "TokenReview") != 0)
        err_set(err, ERR_PERMANENT, "the answer to the TokenReview is not a TokenReview");
    else if (!cJSON_IsObject(st))
        err_set(err, ERR_PERMANENT, "the TokenReview answer has no status");
    else if (tokenreview_check_status(st, audience, err) == 0 &&
             tokenreview_read_user(st, out, err) == 0)
        rc = 0;
    if (rc < 0)
        caller_free(out);
    if (root) {
        tokenreview_wipe_spec_token(root);
        cJSON_Delete(root);
    }
    return rc;
}

static int tokenreview_b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes n base64url characters (no padding) into a new NUL-terminated buffer. */
static WUR unsigned char *tokenreview_b64url_decode(const char *s, size_t n, size_t *out_len)
{
    if (n % 4 == 1)
        return NULL;
    unsigned char *out = xmalloc(n / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = tokenreview_b64url_value((unsigned char)s[i]);
        if (v < 0) {
            xfree_secret(out, n / 4 * 3 + 3);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

int tokenreview_token_exp(const char *token, long long *exp)
{
    const char *p1 = token ? strchr(token, '.') : NULL;
    const char *p2 = p1 ? strchr(p1 + 1, '.') : NULL;
    if (!p2 || strchr(p2 + 1, '.'))
        return -1;
    size_t n = (size_t)(p2 - (p1 + 1));
    while (n > 0 && p1[n] == '=') /* tolerate padding */
        n--;
    if (n == 0 || n > KUBE_MAX_TOKEN_BYTES)
        return -1;
    size_t len = 0;
    unsigned char *payload = tokenreview_b64url_decode(p1 + 1, n, &len);
    if (!payload)
        return -1;
    cJSON *claims = cJSON_ParseWithLength((const char *)payload, len);
    xfree_secret(payload, n / 4 * 3 + 3);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(claims, "exp");
    int rc = -1;
    if (cJSON_IsNumber(e) && isfinite(e->valuedouble) && e->valuedouble > 0 &&
        e->valuedouble < 1e15) {
        *exp = (long long)e->valuedouble;
        rc = 0;
    }
    cJSON_Delete(claims);
    return rc;
}

/* Bytes of s once escaped for a JSON string (quotes not counted). */
static size_t tokenreview_json_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += (*s == '"' || *s == '\\') ? 2 : (unsigned char)*s < 0x20 ? 6 : 1;
    return n;
}

/* ---- cache (lock held) ----------------------------------------------------------------------- */

static size_t tokenreview_bucket_of(const unsigned char *key)
{
    uint64_t h;
    memcpy(&h, key, sizeof h);
    return (size_t)(h & (TOKENREVIEW_BUCKETS - 1));
}

static void tokenreview_lru_unlink(struct tokenreview *tr, struct tokenreview_entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        tr->head = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        tr->tail = e->newer;
    e->newer = e->older = NULL;
}

static void tokenreview_lru_push_head(struct tokenreview *tr, struct tokenreview_entry *e)
{
    e->newer = NULL;
    e->older = tr->head;
    if (tr->head)
        tr->head->newer = e;
    tr->head = e;
    if (!tr->tail)
        tr->tail = e;
}

static void tokenreview_entry_remove(struct tokenreview *tr, struct tokenreview_entry *e)
{
    struct tokenreview_entry **pp = &tr->buckets[tokenreview_bucket_of(e->key)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    tokenreview_lru_unlink(tr, e);
    caller_free(&e->who);
    OPENSSL_cleanse(e->key, sizeof e->key);
    free(e);
    tr->n--;
}

static bool tokenreview_entry_live(const struct tokenreview_entry *e, long long now)
{
    /* a clock set back before the entry was added also ends it */
    return now >= e->added_ms && now < e->expires_ms;
}

static void tokenreview_cache_sweep(struct tokenreview *tr, long long now)
{
    struct tokenreview_entry *e = tr->tail;
    while (e) {
        struct tokenreview_entry *newer = e->newer;
        if (!tokenreview_entry_live(e, now))
            tokenreview_entry_remove(tr, e);
        e = newer;
    }
    tr->last_sweep_ms = now;
}

static struct tokenreview_entry *tokenreview_cache_find(struct tokenreview *tr,
                                                        const unsigned char *key)
{
    for (struct tokenreview_entry *e = tr->buckets[tokenreview_bucket_of(key)]; e; e = e->hnext)
        if (CRYPTO_memcmp(e->key, key, sizeof e->key) == 0)
            return e;
    return NULL;
}

/* True (and *out a copy of the identity) on a live entry; an expired one is dropped. */
static bool tokenreview_cache_get(struct tokenreview *tr, const unsigned char *key, long long now,
                                  struct caller *out)
{
    struct tokenreview_entry *e = tokenreview_cache_find(tr, key);
    if (!e)
        return false;
    if (!tokenreview_entry_live(e, now)) {
        tokenreview_entry_remove(tr, e);
        return false;
    }
    tokenreview_lru_unlink(tr, e);
    tokenreview_lru_push_head(tr, e);
    caller_copy(out, &e->who);
    return true;
}

static void tokenreview_cache_put(struct tokenreview *tr, const unsigned char *key,
                                  const struct caller *who, long long now, long long expires)
{
    struct tokenreview_entry *e = tokenreview_cache_find(tr, key);
    if (e) /* two checks of the same token raced: keep the newer answer */
        tokenreview_entry_remove(tr, e);
    if (tr->n >= TOKENREVIEW_CACHE_MAX || now - tr->last_sweep_ms >= tr->ttl_ms ||
        now < tr->last_sweep_ms)
        tokenreview_cache_sweep(tr, now);
    while (tr->n >= TOKENREVIEW_CACHE_MAX && tr->tail)
        tokenreview_entry_remove(tr, tr->tail);
    e = xcalloc(1, sizeof *e);
    memcpy(e->key, key, sizeof e->key);
    caller_copy(&e->who, who);
    e->added_ms = now;
    e->expires_ms = expires;
    size_t b = tokenreview_bucket_of(key);
    e->hnext = tr->buckets[b];
    tr->buckets[b] = e;
    tokenreview_lru_push_head(tr, e);
    tr->n++;
}

/* ---- the authenticator ----------------------------------------------------------------------- */

static long long tokenreview_clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long tokenreview_clock_monotonic_ms(void *ud)
{
    (void)ud;
    return tokenreview_clock_ms(CLOCK_MONOTONIC);
}

static long long tokenreview_clock_realtime_ms(void *ud)
{
    (void)ud;
    return tokenreview_clock_ms(CLOCK_REALTIME);
}

static WUR int tokenreview_post_kube(void *ud, const char *body, size_t len,
                                     struct kube_response *out, struct err *err)
{
    struct tokenreview *tr = ud;
    if (!tr->kube) {
        memset(out, 0, sizeof *out);
        err_set(err, ERR_TRANSIENT, "no Kubernetes client to send the TokenReview with");
        return -1;
    }
    return kube_request(tr->kube, "POST", TOKENREVIEW_PATH, "application/json", body, len, out,
                        err);
}

struct tokenreview *tokenreview_new(struct kube *k, const char *audience, long long cache_ttl_s,
                                    struct metrics *m)
{
    if (!audience || !audience[0] || strlen(audience) > TOKENREVIEW_MAX_AUDIENCE_BYTES)
        return NULL;
    for (const char *p = audience; *p; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
            return NULL;
    struct tokenreview *tr = xcalloc(1, sizeof *tr);
    tr->kube = k;
    tr->audience = xstrdup(audience);
    if (cache_ttl_s < 0)
        cache_ttl_s = 0;
    if (cache_ttl_s > TOKENREVIEW_MAX_TTL_S)
        cache_ttl_s = TOKENREVIEW_MAX_TTL_S;
    tr->ttl_ms = cache_ttl_s * 1000;
    tr->metrics = m;
    tr->clock = tokenreview_clock_monotonic_ms;
    tr->wall = tokenreview_clock_realtime_ms;
    tr->post = tokenreview_post_kube;
    tr->post_ud = tr;
    pthread_mutex_init(&tr->lock, NULL);
    if (m) {
        metrics_declare(m, "ember_tokenreview_requests_total", "counter",
                        "TokenReviews sent to the API server, by result (authenticated, "
                        "unauthenticated, error).");
        metrics_declare(m, "ember_tokenreview_cache_hits_total", "counter",
                        "Bearer tokens authenticated from the TokenReview cache.");
    }
    return tr;
}

void tokenreview_set_hooks(struct tokenreview *tr, tokenreview_clock_fn clock,
                           tokenreview_post_fn post, void *ud)
{
    if (clock) {
        tr->clock = clock;
        tr->wall = clock;
        tr->clock_ud = ud;
    }
    if (post) {
        tr->post = post;
        tr->post_ud = ud;
    }
}

size_t tokenreview_cache_size(struct tokenreview *tr)
{
    pthread_mutex_lock(&tr->lock);
    size_t n = tr->n;
    pthread_mutex_unlock(&tr->lock);
    return n;
}

unsigned long tokenreview_calls(struct tokenreview *tr)
{
    pthread_mutex_lock(&tr->lock);
    unsigned long n = tr->calls;
    pthread_mutex_unlock(&tr->lock);
    return n;
}

void tokenreview_free(struct tokenreview *tr)
{
    if (!tr)
        return;
    while (tr->tail)
        tokenreview_entry_remove(tr, tr->tail);
    pthread_mutex_destroy(&tr->lock);
    free(tr->audience);
    free(tr);
}

static void tokenreview_count(struct tokenreview *tr, const char *result)
{
    char labels[64]; /* result is one of three words: a series key is never cut */
    if (!tr->metrics ||
        snprintf(labels, sizeof labels, "result=\"%s\"", result) >= (int)sizeof labels)
        return;
    metrics_counter_add(tr->metrics, "ember_tokenreview_requests_total", labels, 1);
}

/* Refuses, without asking the API server, what cannot be a token. */
static WUR int tokenreview_token_shape_ok(const char *token, size_t *len, struct err *err)
{
    if (!token || !token[0]) {
        err_set(err, ERR_PERMANENT, "the bearer token is empty");
        return -1;
    }
    size_t n = strnlen(token, KUBE_MAX_TOKEN_BYTES + 1);
    if (n > KUBE_MAX_TOKEN_BYTES) {
        err_set(err, ERR_PERMANENT, "the bearer token is longer than %d bytes",
                KUBE_MAX_TOKEN_BYTES);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)token[i];
        if (c < 0x21 || c > 0x7e) {
            err_set(err, ERR_PERMANENT,
                    "the bearer token holds a space, a control character or a non-ASCII byte");
            return -1;
        }
    }
    *len = n;
    return 0;
}

/* The request body (*len bytes, NUL-terminated). It holds the token and is allocated once at
 * its final size, so no reallocation leaves a copy behind: free it with xfree_secret(p, *len + 1).
 */
static char *tokenreview_review_body(const char *token, const char *audience, size_t *len)
{
    static const char head[] =
        "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\","
        "\"spec\":{\"token\":\"";
    static const char mid[] = "\",\"audiences\":[\"";
    static const char tail[] = "\"]}}";
    size_t n = sizeof head - 1 + tokenreview_json_len(token) + sizeof mid - 1 +
               tokenreview_json_len(audience) + sizeof tail - 1;
    char *out = xmalloc(n + 1);
    char *p = out;
    memcpy(p, head, sizeof head - 1);
    p = json_escape_into(p + sizeof head - 1, token, strlen(token));
    memcpy(p, mid, sizeof mid - 1);
    p = json_escape_into(p + sizeof mid - 1, audience, strlen(audience));
    memcpy(p, tail, sizeof tail);
    *len = n;
    return out;
}

/* The error of a non-2xx answer: always transient (Ember's side, never the caller's token). */
static void tokenreview_answer_error(const struct kube_response *r, struct err *err)
{
    const char *msg = r->status.message[0] ? r->status.message : "no message";
    if (r->code == 403)
        err_set(err, ERR_TRANSIENT,
                "Ember may not create tokenreviews (authentication.k8s.io): the API server "
                "answered 403 Forbidden: %s; grant its service account the verb create on "
                "tokenreviews",
                msg);
    else if (r->code == 401)
        err_set(err, ERR_TRANSIENT,
                "the API server refused Ember's own credentials for the TokenReview (401 "
                "Unauthorized): %s",
                msg);
    else
        err_set(err, ERR_TRANSIENT, "the API server could not review the token: HTTP %ld %s: %s",
                r->code, r->status.reason[0] ? r->status.reason : "", msg);
}

int tokenreview_check(struct tokenreview *tr, const char *token, struct caller *out,
                      struct err *err)
{
    memset(out, 0, sizeof *out);
    size_t len = 0;
    if (tokenreview_token_shape_ok(token, &len, err) < 0)
        return -1;
    unsigned char key[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, len, key);
    long long t0 = tr->clock(tr->clock_ud);
    pthread_mutex_lock(&tr->lock);
    bool hit = tr->ttl_ms > 0 && tokenreview_cache_get(tr, key, t0, out);
    if (!hit)
        tr->calls++;
    pthread_mutex_unlock(&tr->lock);
    if (hit) {
        if (tr->metrics)
            metrics_counter_add(tr->metrics, "ember_tokenreview_cache_hits_total", NULL, 1);
        return 0;
    }

    struct err e = {0};
    size_t blen = 0;
    char *body = tokenreview_review_body(token, tr->audience, &blen);
    struct kube_response r;
    memset(&r, 0, sizeof r);
    int rc = tr->post(tr->post_ud, body, blen, &r, &e);
    xfree_secret(body, blen + 1);
    if (rc < 0) {
        /* whatever kube_request said (network, TLS, timeout, a body too big), it is not the
         * caller's fault: 503 */
        char why[ERR_MSG_MAX - 64];
        utf8_copy_printable(why, sizeof why, e.msg, sizeof why - 1);
        err_set(&e, ERR_TRANSIENT, "the TokenReview could not be sent: %s", why);
    } else if (r.code == 200 || r.code == 201) {
        rc = tokenreview_parse(r.body, r.len, tr->audience, out, &e);
    } else {
        tokenreview_answer_error(&r, &e);
        rc = -1;
    }
    /* The answer echoes spec.token. */
    if (r.body)
        OPENSSL_cleanse(r.body, r.len);
    kube_response_free(&r);
    if (rc < 0 && len >= 8 && strstr(e.msg, token)) /* never hand the token back */
        err_set(&e, e.kind,
                "the TokenReview failed (its message is withheld: it quoted the token)");
    tokenreview_count(tr, rc == 0                   ? "authenticated"
                          : e.kind == ERR_TRANSIENT ? "error"
                                                    : "unauthenticated");
    if (rc < 0) {
        if (err)
            *err = e;
        return -1;
    }

    /* Cached until min(now + TTL, the token's own exp); exp is read unverified, only to
     * shorten the lifetime. The TTL runs on the monotonic clock; exp is a wall-clock time, so
     * what is left of it now is what counts. */
    long long expires = t0 + tr->ttl_ms;
    long long exp_s;
    if (tokenreview_token_exp(token, &exp_s) == 0) {
        long long exp_ms = exp_s > LLONG_MAX / 1000 ? LLONG_MAX : exp_s * 1000;
        long long left = exp_ms - tr->wall(tr->clock_ud);
        if (left < tr->ttl_ms)
            expires = t0 + left;
    }
    if (tr->ttl_ms > 0 && expires > t0) {
        pthread_mutex_lock(&tr->lock);
        tokenreview_cache_put(tr, key, out, t0, expires);
        pthread_mutex_unlock(&tr->lock);
    }
    return 0;
}
