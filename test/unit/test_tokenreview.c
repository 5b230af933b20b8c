/* test_tokenreview.c -- unit tests of tokenreview.c: the answer parser, the unverified exp
 * reader, and tokenreview_check's cache, clock and error mapping through the test hooks (no
 * network). */
/* cmocka.h needs these first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "kube/tokenreview.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "kube/kube.h"

#define SA_USER "system:serviceaccount:team-a:builder"
#define T0_MS 1700000000000LL /* the fake clock's start */

/* A TokenReview answer with the given status JSON (spec echoes a token, as the API server
 * does). */
static char *answer(const char *status)
{
    return xasprintf("{\"kind\":\"TokenReview\",\"apiVersion\":\"authentication.k8s.io/v1\","
                     "\"metadata\":{\"creationTimestamp\":null},"
                     "\"spec\":{\"token\":\"echoed-token-value\",\"audiences\":[\"ember\"]},"
                     "\"status\":%s}",
                     status);
}

static const char OK_STATUS[] =
    "{\"authenticated\":true,\"user\":{\"username\":\"" SA_USER "\",\"uid\":\"u-1\","
    "\"groups\":[\"system:serviceaccounts\",\"system:serviceaccounts:team-a\","
    "\"system:authenticated\"],\"extra\":{\"authentication.kubernetes.io/pod-name\":[\"p\"]}},"
    "\"audiences\":[\"ember\"]}";

/* Parses status through tokenreview_parse for audience "ember"; returns its result. */
static int parse_status(const char *status, struct caller *c, struct err *err)
{
    char *body = answer(status);
    int rc = tokenreview_parse(body, strlen(body), "ember", c, err);
    free(body);
    return rc;
}

/* ---- tokenreview_parse ----------------------------------------------------------------------- */

static void test_parse_authenticated(void **state)
{
    (void)state;
    struct caller c;
    struct err err = {0};
    assert_int_equal(parse_status(OK_STATUS, &c, &err), 0);
    assert_int_equal(c.method, CALLER_TOKEN);
    assert_string_equal(c.username, SA_USER);
    assert_int_equal(c.groups.n, 3);
    assert_string_equal(c.groups.v[0], "system:serviceaccounts");
    assert_string_equal(c.groups.v[1], "system:serviceaccounts:team-a");
    assert_string_equal(c.groups.v[2], "system:authenticated");
    assert_null(c.common_name);
    assert_int_equal(c.uris.n, 0);
    caller_free(&c);

    /* several audiences confirmed, ours among them; groups absent */
    assert_int_equal(parse_status("{\"authenticated\":true,\"user\":{\"username\":\"alice\"},"
                                  "\"audiences\":[\"vault\",\"ember\"],\"error\":\"\"}",
                                  &c, &err),
                     0);
    assert_string_equal(c.username, "alice");
    assert_int_equal(c.groups.n, 0);
    caller_free(&c);
}

/* Every refusal is ERR_PERMANENT with *out zeroed and a message containing want. */
static void expect_refused(const char *status, const char *want)
{
    struct caller c;
    memset(&c, 0x5a, sizeof c);
    struct err err = {0};
    assert_int_equal(parse_status(status, &c, &err), -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    if (!strstr(err.msg, want))
        fail_msg("message \"%s\" does not contain \"%s\"", err.msg, want);
    assert_null(c.username);
    assert_int_equal(c.method, CALLER_NONE);
    assert_int_equal(c.groups.n, 0);
    assert_null(strstr(err.msg, "echoed-token-value"));
}

static void test_parse_not_authenticated(void **state)
{
    (void)state;
    /* Go's omitempty drops authenticated:false, so absent is what the API server sends */
    expect_refused("{\"user\":{}}", "did not authenticate");
    expect_refused("{\"authenticated\":false,\"user\":{\"username\":\"x\"},"
                   "\"audiences\":[\"ember\"]}",
                   "did not authenticate");
    expect_refused("{\"authenticated\":\"true\",\"user\":{\"username\":\"x\"},"
                   "\"audiences\":[\"ember\"]}",
                   "did not authenticate");
    expect_refused("{\"authenticated\":1,\"user\":{\"username\":\"x\"},\"audiences\":[\"ember\"]}",
                   "did not authenticate");
}

static void test_parse_status_error(void **state)
{
    (void)state;
    /* an error wins even with authenticated true */
    expect_refused("{\"authenticated\":true,\"user\":{\"username\":\"x\"},"
                   "\"audiences\":[\"ember\"],\"error\":\"token has been invalidated\"}",
                   "TokenReview says: token has been invalidated");
    expect_refused("{\"error\":\"[invalid bearer token, square/go-jose: error in cryptographic "
                   "primitive]\"}",
                   "invalid bearer token");
    /* control characters in the server's message do not reach ours */
    struct caller c;
    struct err err = {0};
    assert_int_equal(
        parse_status("{\"error\":\"bad\\n{\\\"level\\\":\\\"info\\\"}\\u0007\"}", &c, &err), -1);
    assert_non_null(strstr(err.msg, "bad?{\"level\":\"info\"}?"));
    /* a long one is cut */
    char big[3000];
    memset(big, 'e', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char *st = xasprintf("{\"error\":\"%s\"}", big);
    assert_int_equal(parse_status(st, &c, &err), -1);
    assert_true(strlen(err.msg) < 100 + TOKENREVIEW_MAX_ERROR_BYTES);
    free(st);
    expect_refused("{\"authenticated\":true,\"user\":{\"username\":\"x\"},"
                   "\"audiences\":[\"ember\"],\"error\":42}",
                   "status.error is not a string");
}

static void test_parse_empty_audiences(void **state)
{
    (void)state;
    /* authenticated, but no audience confirmed: an API-server-only token or an
     * audience-unaware authenticator */
    expect_refused("{\"authenticated\":true,\"user\":{\"username\":\"x\"}}",
                   "confirmed no audience");
    expect_refused("{\"authenticated\":true,\"user\":{\"username\":\"x\"},\"audiences\":[]}",
                   "confirmed no audience");
    expect_refused("{\"authenticated\":true,\"user\":{\"username\":\"x\"},\"audiences\":null}",
                   "confirmed no audience");
    expect_refused("{\"authenticated\":true,\"user\":{\"username\":\"x\"},\"audiences\":\"ember\"}",
                   "confirmed no audience");
}

static void test_parse_other_audience(void **state)
{
    (void)state;
    expect_refused("{\"authenticated\":true,\"user\":{\"username\":\"x\"},"
                   "\"audiences\":[\"vault\",\"https://kubernetes.default.svc\"]}",
                   "not valid for audience \"ember\"");
    /* no prefix or case games */
    expect_refused("{\"authenticated\":true,\"user\":{\"username\":\"x\"},"
                   "\"audiences\":[\"Ember\",\"ember2\",\"embe\",7]}",
                   "not valid for audience \"ember\"");
}

static void test_parse_missing_user(void **state)
{
    (void)state;
    expect_refused("{\"authenticated\":true,\"audiences\":[\"ember\"]}", "no usable user");
    expect_refused("{\"authenticated\":true,\"user\":{},\"audiences\":[\"ember\"]}",
                   "no usable user");
    expect_refused(
        "{\"authenticated\":true,\"user\":{\"username\":\"\"},\"audiences\":[\"ember\"]}",
        "no usable user");
    expect_refused("{\"authenticated\":true,\"user\":{\"username\":7},\"audiences\":[\"ember\"]}",
                   "no usable user");
    expect_refused("{\"authenticated\":true,\"user\":{\"username\":\"a\\nb\"},"
                   "\"audiences\":[\"ember\"]}",
                   "no usable user");
    char *longname = xmalloc(TOKENREVIEW_MAX_NAME_BYTES + 2);
    memset(longname, 'u', TOKENREVIEW_MAX_NAME_BYTES + 1);
    longname[TOKENREVIEW_MAX_NAME_BYTES + 1] = '\0';
    char *st = xasprintf("{\"authenticated\":true,\"user\":{\"username\":\"%s\"},"
                         "\"audiences\":[\"ember\"]}",
                         longname);
    expect_refused(st, "no usable user");
    free(st);
    free(longname);
    expect_refused("{\"authenticated\":true,\"user\":{\"username\":\"x\",\"groups\":\"g\"},"
                   "\"audiences\":[\"ember\"]}",
                   "user.groups is not a list");
}

static void test_parse_malformed(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "",
        "{",
        "not json",
        "[]",
        "null",
        "{\"kind\":\"TokenReview\"",
        "{\"kind\":\"Status\",\"status\":{\"authenticated\":true}}",
        "{\"status\":{\"authenticated\":true,\"user\":{\"username\":\"x\"},\"audiences\":"
        "[\"ember\"]}}",
        "{\"kind\":\"TokenReview\"}",
        "{\"kind\":\"TokenReview\",\"status\":[]}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        struct caller c;
        struct err err = {0};
        assert_int_equal(tokenreview_parse(bodies[i], strlen(bodies[i]), "ember", &c, &err), -1);
        assert_int_equal(err.kind, ERR_PERMANENT);
        assert_null(c.username);
    }
    struct caller c;
    struct err err = {0};
    assert_int_equal(tokenreview_parse(NULL, 0, "ember", &c, &err), -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    /* len is honoured: a valid answer cut short is malformed */
    char *body = answer(OK_STATUS);
    assert_int_equal(tokenreview_parse(body, strlen(body) - 1, "ember", &c, &err), -1);
    free(body);
}

static void test_parse_huge_groups(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 22);
    assert_int_equal(buf_append_str(&b,
                                    "{\"authenticated\":true,\"audiences\":[\"ember\"],"
                                    "\"user\":{\"username\":\"bob\",\"groups\":[",
                                    NULL),
                     0);
    /* odd entries first: they are skipped, not counted */
    assert_int_equal(buf_append_str(&b, "7,null,\"\",\"bad\\u0001g\",", NULL), 0);
    for (int i = 0; i < 20000; i++)
        assert_int_equal(buf_printf(&b, NULL, "%s\"group-%05d\"", i ? "," : "", i), 0);
    assert_int_equal(buf_append_str(&b, "]}}", NULL), 0);
    struct caller c;
    struct err err = {0};
    assert_int_equal(parse_status(b.data, &c, &err), 0);
    assert_int_equal(c.groups.n, CALLER_MAX_NAMES);
    assert_string_equal(c.groups.v[0], "group-00000");
    char last[32];
    snprintf(last, sizeof last, "group-%05d", CALLER_MAX_NAMES - 1);
    assert_string_equal(c.groups.v[CALLER_MAX_NAMES - 1], last);
    caller_free(&c);
    buf_free(&b);
}

/* ---- tokenreview_token_exp ------------------------------------------------------------------- */

/* base64url without padding of s. */
static char *b64url(const char *s)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(s);
    char *out = xmalloc(n * 4 / 3 + 4);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (uint32_t)(unsigned char)s[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = tbl[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = tbl[v & 63];
    }
    out[o] = '\0';
    return out;
}

/* A JWT-shaped token (unsigned: the signature is junk) with the given claims JSON. */
static char *jwt(const char *claims)
{
    char *h = b64url("{\"alg\":\"RS256\",\"kid\":\"k1\"}");
    char *p = b64url(claims);
    char *t = xasprintf("%s.%s.c2lnbmF0dXJlLW5vdC1jaGVja2Vk", h, p);
    free(h);
    free(p);
    return t;
}

static void test_token_exp(void **state)
{
    (void)state;
    long long exp = 0;
    char *t = jwt("{\"aud\":[\"ember\"],\"exp\":1700000600,\"iat\":1700000000,"
                  "\"iss\":\"https://kubernetes.default.svc\",\"sub\":\"" SA_USER "\"}");
    assert_int_equal(tokenreview_token_exp(t, &exp), 0);
    assert_int_equal(exp, 1700000600LL);
    free(t);
    /* payload lengths that need 0, 1 and 2 padding characters */
    const char *claims[] = {"{\"exp\":12345}", "{\"exp\":123456}", "{\"exp\":1234567}"};
    const long long want[] = {12345, 123456, 1234567};
    for (int i = 0; i < 3; i++) {
        t = jwt(claims[i]);
        assert_int_equal(tokenreview_token_exp(t, &exp), 0);
        assert_int_equal(exp, want[i]);
        free(t);
    }
    /* tolerated: '=' padding on the payload */
    char *p = b64url("{\"exp\":1234567}");
    t = xasprintf("eyJhbGciOiJub25lIn0.%s==.", p);
    assert_int_equal(tokenreview_token_exp(t, &exp), 0);
    assert_int_equal(exp, 1234567);
    free(t);
    free(p);

    static const char *const bad[] = {
        "opaque-token-without-dots",
        "only.one-dot",
        "a.b.c.d.e",     /* JWE, not a JWS */
        "eyJhIjoxfQ..x", /* empty payload */
        "x.!!!!.y",      /* not base64url */
        "x.eyJleHAiOjF9+.y",
        "x.e.y", /* 1 character: impossible length */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(tokenreview_token_exp(bad[i], &exp), -1);
    static const char *const claims_bad[] = {
        "{\"sub\":\"x\"}", "{\"exp\":\"1700000000\"}",
        "{\"exp\":-5}",    "{\"exp\":1e300}",
        "[1700000000]",    "not json",
    };
    for (size_t i = 0; i < sizeof claims_bad / sizeof *claims_bad; i++) {
        t = jwt(claims_bad[i]);
        assert_int_equal(tokenreview_token_exp(t, &exp), -1);
        free(t);
    }
    assert_int_equal(tokenreview_token_exp(NULL, &exp), -1);
}

/* ---- tokenreview_check through the hooks ----------------------------------------------------- */

/* The fake API server of the hooks: a clock and one canned answer. */
struct fake {
    long long now_ms;
    long code;        /* HTTP code of the answer */
    const char *body; /* its body (copied per call); NULL: the default positive answer */
    int fail_send;    /* post returns -1 (a network error) */
    unsigned long posts;
    char *last_body; /* the last request body, for the wire-format test */
    pthread_mutex_t lock;
};

static long long fake_clock(void *ud)
{
    struct fake *f = ud;
    pthread_mutex_lock(&f->lock);
    long long t = f->now_ms;
    pthread_mutex_unlock(&f->lock);
    return t;
}

static int fake_post(void *ud, const char *body, size_t len, struct kube_response *out,
                     struct err *err)
{
    struct fake *f = ud;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&f->lock);
    f->posts++;
    free(f->last_body);
    f->last_body = xstrndup(body, len);
    int fail = f->fail_send;
    long code = f->code;
    char *b = f->body ? xstrdup(f->body) : answer(OK_STATUS);
    pthread_mutex_unlock(&f->lock);
    if (fail) {
        free(b);
        err_set(err, ERR_TRANSIENT, "POST https://127.0.0.1:1/x: Couldn't connect to server");
        return -1;
    }
    out->code = code;
    out->body = b;
    out->len = strlen(b);
    if (code >= 300)
        kube_status_parse(out->body, out->len, code, NULL, &out->status);
    return 0;
}

static struct tokenreview *fake_tr(struct fake *f, long long ttl_s, struct metrics *m)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->lock, NULL);
    f->now_ms = T0_MS;
    f->code = 201;
    struct tokenreview *tr = tokenreview_new(NULL, "ember", ttl_s, m);
    assert_non_null(tr);
    tokenreview_set_hooks(tr, fake_clock, fake_post, f);
    return tr;
}

static void fake_done(struct fake *f, struct tokenreview *tr)
{
    tokenreview_free(tr);
    free(f->last_body);
    pthread_mutex_destroy(&f->lock);
}

/* Checks token: expects rc, and on success the service account's identity. */
static void check_token(struct tokenreview *tr, const char *token, int rc_want,
                        enum err_kind kind_want)
{
    struct caller c;
    struct err err = {0};
    int rc = tokenreview_check(tr, token, &c, &err);
    if (rc != rc_want)
        fail_msg("check: rc %d, want %d (%s: %s)", rc, rc_want, err_kind_name(err.kind), err.msg);
    if (rc == 0) {
        assert_int_equal(c.method, CALLER_TOKEN);
        assert_string_equal(c.username, SA_USER);
        assert_int_equal(c.groups.n, 3);
    } else {
        assert_int_equal(err.kind, kind_want);
        assert_null(c.username);
        if (strlen(token) >= 8)
            assert_null(strstr(err.msg, token));
    }
    caller_free(&c);
}

static void test_check_request_wire_format(void **state)
{
    (void)state;
    struct fake f;
    struct tokenreview *tr = fake_tr(&f, 10, NULL);
    check_token(tr, "tok\"with\\quote-and-backslash", 0, ERR_NONE);
    cJSON *req = cJSON_Parse(f.last_body);
    assert_non_null(req);
    assert_string_equal(cJSON_GetObjectItem(req, "apiVersion")->valuestring,
                        "authentication.k8s.io/v1");
    assert_string_equal(cJSON_GetObjectItem(req, "kind")->valuestring, "TokenReview");
    cJSON *spec = cJSON_GetObjectItem(req, "spec");
    assert_string_equal(cJSON_GetObjectItem(spec, "token")->valuestring,
                        "tok\"with\\quote-and-backslash");
    cJSON *auds = cJSON_GetObjectItem(spec, "audiences");
    assert_int_equal(cJSON_GetArraySize(auds), 1);
    assert_string_equal(cJSON_GetArrayItem(auds, 0)->valuestring, "ember");
    cJSON_Delete(req);
    assert_int_equal(tokenreview_calls(tr), 1);
    fake_done(&f, tr);
}

static void test_check_refuses_odd_tokens_locally(void **state)
{
    (void)state;
    struct fake f;
    struct tokenreview *tr = fake_tr(&f, 10, NULL);
    static const char *const odd[] = {"",         "has space",   "tab\there",
                                      "nl\nhere", "del\x7fhere", "utf8-\xc3\xa9"};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++)
        check_token(tr, odd[i], -1, ERR_PERMANENT);
    char *huge = xmalloc(KUBE_MAX_TOKEN_BYTES + 2);
    memset(huge, 'a', KUBE_MAX_TOKEN_BYTES + 1);
    huge[KUBE_MAX_TOKEN_BYTES + 1] = '\0';
    check_token(tr, huge, -1, ERR_PERMANENT);
    huge[KUBE_MAX_TOKEN_BYTES] = '\0'; /* exactly the limit: sent */
    assert_int_equal(f.posts, 0);
    check_token(tr, huge, 0, ERR_NONE);
    assert_int_equal(f.posts, 1);
    free(huge);
    struct caller c;
    assert_int_equal(tokenreview_check(tr, NULL, &c, NULL), -1);
    assert_int_equal(tokenreview_calls(tr), 1);
    fake_done(&f, tr);
}

static void test_check_cache_ttl(void **state)
{
    (void)state;
    struct fake f;
    struct tokenreview *tr = fake_tr(&f, 10, NULL);
    check_token(tr, "opaque-token-aaaa", 0, ERR_NONE);
    check_token(tr, "opaque-token-aaaa", 0, ERR_NONE);
    f.now_ms += 9999;
    check_token(tr, "opaque-token-aaaa", 0, ERR_NONE);
    assert_int_equal(f.posts, 1);
    assert_int_equal(tokenreview_calls(tr), 1);
    /* another token is another entry */
    check_token(tr, "opaque-token-bbbb", 0, ERR_NONE);
    assert_int_equal(f.posts, 2);
    /* TTL over: reviewed again */
    f.now_ms += 1;
    check_token(tr, "opaque-token-aaaa", 0, ERR_NONE);
    assert_int_equal(f.posts, 3);
    check_token(tr, "opaque-token-aaaa", 0, ERR_NONE);
    assert_int_equal(f.posts, 3);
    /* a clock set back before the entry was made ends it */
    f.now_ms -= 60000;
    check_token(tr, "opaque-token-aaaa", 0, ERR_NONE);
    assert_int_equal(f.posts, 4);
    assert_int_equal(tokenreview_calls(tr), 4);
    fake_done(&f, tr);
}

static void test_check_ttl_zero_never_caches(void **state)
{
    (void)state;
    struct fake f;
    struct tokenreview *tr = fake_tr(&f, 0, NULL);
    for (int i = 0; i < 3; i++)
        check_token(tr, "opaque-token-aaaa", 0, ERR_NONE);
    assert_int_equal(f.posts, 3);
    assert_int_equal(tokenreview_cache_size(tr), 0);
    fake_done(&f, tr);
}

static void test_check_exp_shortens_ttl(void **state)
{
    (void)state;
    struct fake f;
    struct tokenreview *tr = fake_tr(&f, 60, NULL);
    /* exp 5 s after now: cached 5 s, not 60 */
    char *claims = xasprintf("{\"exp\":%lld}", T0_MS / 1000 + 5);
    char *t = jwt(claims);
    check_token(tr, t, 0, ERR_NONE);
    f.now_ms += 4999;
    check_token(tr, t, 0, ERR_NONE);
    assert_int_equal(f.posts, 1);
    f.now_ms += 1;
    check_token(tr, t, 0, ERR_NONE);
    assert_int_equal(f.posts, 2);
    free(t);
    free(claims);
    /* exp already past (clock skew with the API server): answered, never cached */
    claims = xasprintf("{\"exp\":%lld}", f.now_ms / 1000 - 30);
    t = jwt(claims);
    check_token(tr, t, 0, ERR_NONE);
    check_token(tr, t, 0, ERR_NONE);
    assert_int_equal(f.posts, 4);
    free(t);
    free(claims);
    /* exp far away: the TTL bounds it */
    claims = xasprintf("{\"exp\":%lld}", f.now_ms / 1000 + 86400);
    t = jwt(claims);
    check_token(tr, t, 0, ERR_NONE);
    f.now_ms += 59999;
    check_token(tr, t, 0, ERR_NONE);
    assert_int_equal(f.posts, 5);
    f.now_ms += 1;
    check_token(tr, t, 0, ERR_NONE);
    assert_int_equal(f.posts, 6);
    free(t);
    free(claims);
    fake_done(&f, tr);
}

/* Checks a JWT whose exp claim is exp_s twice; by then the fake has seen posts_want reviews. */
static void check_exp_twice(struct tokenreview *tr, const struct fake *f, long long exp_s,
                            unsigned long posts_want)
{
    char *claims = xasprintf("{\"exp\":%lld}", exp_s);
    char *t = jwt(claims);
    check_token(tr, t, 0, ERR_NONE);
    check_token(tr, t, 0, ERR_NONE);
    assert_int_equal(f->posts, posts_want);
    free(t);
    free(claims);
}

/* The default clocks: cached answers are timed on the monotonic clock, a token's exp (Unix
 * seconds) is compared with the wall clock. A token valid for another minute is cached; one that
 * expired 30 s ago is not (comparing exp with the monotonic clock, which counts from boot, would
 * cache it). */
static void test_check_exp_with_the_default_clocks(void **state)
{
    (void)state;
    struct fake f;
    memset(&f, 0, sizeof f);
    pthread_mutex_init(&f.lock, NULL);
    f.code = 201;
    struct tokenreview *tr = tokenreview_new(NULL, "ember", 10, NULL);
    assert_non_null(tr);
    tokenreview_set_hooks(tr, NULL, fake_post, &f); /* no clock: the real ones */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    check_exp_twice(tr, &f, (long long)now.tv_sec + 60, 1);
    check_exp_twice(tr, &f, (long long)now.tv_sec - 30, 3);
    fake_done(&f, tr);
}

static void test_check_negative_not_cached(void **state)
{
    (void)state;
    struct fake f;
    struct tokenreview *tr = fake_tr(&f, 60, NULL);
    char *no = answer("{\"user\":{},\"error\":\"[invalid bearer token]\"}");
    f.body = no;
    check_token(tr, "opaque-token-aaaa", -1, ERR_PERMANENT);
    check_token(tr, "opaque-token-aaaa", -1, ERR_PERMANENT);
    assert_int_equal(f.posts, 2);
    assert_int_equal(tokenreview_cache_size(tr), 0);
    /* the token becomes valid (e.g. the reviewer was wrong): the next check sees it */
    f.body = NULL;
    check_token(tr, "opaque-token-aaaa", 0, ERR_NONE);
    assert_int_equal(f.posts, 3);
    free(no);
    /* failures do not evict a cached positive answer either: it is served until its TTL */
    f.code = 500;
    check_token(tr, "opaque-token-aaaa", 0, ERR_NONE);
    assert_int_equal(f.posts, 3);
    fake_done(&f, tr);
}

static void test_check_cache_bounded_lru(void **state)
{
    (void)state;
    struct fake f;
    struct tokenreview *tr = fake_tr(&f, 600, NULL);
    char tok[64];
    for (int i = 0; i < TOKENREVIEW_CACHE_MAX; i++) {
        snprintf(tok, sizeof tok, "opaque-token-%05d", i);
        check_token(tr, tok, 0, ERR_NONE);
    }
    assert_int_equal(tokenreview_cache_size(tr), TOKENREVIEW_CACHE_MAX);
    /* use token 0 again: it becomes the most recent, so token 1 is the oldest */
    check_token(tr, "opaque-token-00000", 0, ERR_NONE);
    assert_int_equal(f.posts, TOKENREVIEW_CACHE_MAX);
    for (int i = 0; i < 10; i++) {
        snprintf(tok, sizeof tok, "opaque-token-new-%02d", i);
        check_token(tr, tok, 0, ERR_NONE);
    }
    assert_int_equal(tokenreview_cache_size(tr), TOKENREVIEW_CACHE_MAX);
    unsigned long p = f.posts;
    check_token(tr, "opaque-token-00000", 0, ERR_NONE); /* kept */
    check_token(tr, "opaque-token-new-09", 0, ERR_NONE);
    check_token(tr, "opaque-token-00011", 0, ERR_NONE);
    assert_int_equal(f.posts, p);
    check_token(tr, "opaque-token-00001", 0, ERR_NONE); /* evicted */
    check_token(tr, "opaque-token-00010", 0, ERR_NONE);
    assert_int_equal(f.posts, p + 2);
    assert_int_equal(tokenreview_cache_size(tr), TOKENREVIEW_CACHE_MAX);
    /* expired entries are dropped when the cache is swept (on the next insert after a TTL) */
    f.now_ms += 600 * 1000;
    check_token(tr, "opaque-token-after", 0, ERR_NONE);
    assert_int_equal(tokenreview_cache_size(tr), 1);
    fake_done(&f, tr);
}

static void test_check_http_errors_are_transient(void **state)
{
    (void)state;
    struct fake f;
    struct tokenreview *tr = fake_tr(&f, 60, NULL);
    struct {
        long code;
        const char *body;
        const char *want;
    } cases[] = {
        {403,
         "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
         "\"tokenreviews.authentication.k8s.io is forbidden: User \\\"system:serviceaccount:"
         "ember:ember-issuer\\\" cannot create resource \\\"tokenreviews\\\" in API group "
         "\\\"authentication.k8s.io\\\" at the cluster scope\",\"reason\":\"Forbidden\","
         "\"code\":403}",
         "Ember may not create tokenreviews"},
        {401,
         "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
         "\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}",
         "Ember's own credentials"},
        {429, "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"code\":429}", "HTTP 429"},
        {500, "{\"kind\":\"Status\",\"message\":\"boom\",\"reason\":\"InternalError\"}",
         "HTTP 500 InternalError: boom"},
        {503, "upstream connect error", "HTTP 503"},
        {404, "404 page not found", "HTTP 404"},
        {400, "{\"kind\":\"Status\",\"reason\":\"BadRequest\",\"code\":400}", "HTTP 400"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        f.code = cases[i].code;
        f.body = cases[i].body;
        struct caller c;
        struct err err = {0};
        assert_int_equal(tokenreview_check(tr, "opaque-token-aaaa", &c, &err), -1);
        assert_int_equal(err.kind, ERR_TRANSIENT);
        if (!strstr(err.msg, cases[i].want))
            fail_msg("HTTP %ld: \"%s\" lacks \"%s\"", cases[i].code, err.msg, cases[i].want);
        assert_null(c.username);
    }
    /* no answer at all */
    f.fail_send = 1;
    struct caller c;
    struct err err = {0};
    assert_int_equal(tokenreview_check(tr, "opaque-token-aaaa", &c, &err), -1);
    assert_int_equal(err.kind, ERR_TRANSIENT);
    assert_non_null(strstr(err.msg, "could not be sent"));
    /* a 2xx that is not a TokenReview is the token's refusal (never a pass) */
    f.fail_send = 0;
    f.code = 201;
    f.body = "{\"kind\":\"Status\"}";
    check_token(tr, "opaque-token-aaaa", -1, ERR_PERMANENT);
    /* the default transport without a Kubernetes client is transient too */
    struct tokenreview *bare = tokenreview_new(NULL, "ember", 10, NULL);
    assert_int_equal(tokenreview_check(bare, "opaque-token-aaaa", &c, &err), -1);
    assert_int_equal(err.kind, ERR_TRANSIENT);
    assert_int_equal(tokenreview_calls(bare), 1);
    tokenreview_free(bare);
    assert_int_equal(tokenreview_cache_size(tr), 0);
    fake_done(&f, tr);
}

static void test_check_never_returns_the_token(void **state)
{
    (void)state;
    struct fake f;
    struct tokenreview *tr = fake_tr(&f, 60, NULL);
    const char *tok = "secret-token-value-1234567890";
    char *body =
        answer("{\"error\":\"token secret-token-value-1234567890 is not known\",\"user\":{}}");
    f.body = body;
    struct caller c;
    struct err err = {0};
    assert_int_equal(tokenreview_check(tr, tok, &c, &err), -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_null(strstr(err.msg, tok));
    assert_non_null(strstr(err.msg, "withheld"));
    free(body);
    fake_done(&f, tr);
}

static void test_metrics(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct fake f;
    struct tokenreview *tr = fake_tr(&f, 60, m);
    check_token(tr, "opaque-token-aaaa", 0, ERR_NONE);
    check_token(tr, "opaque-token-aaaa", 0, ERR_NONE);
    check_token(tr, "opaque-token-aaaa", 0, ERR_NONE);
    f.body = "{\"kind\":\"TokenReview\",\"status\":{}}";
    check_token(tr, "opaque-token-bbbb", -1, ERR_PERMANENT);
    f.code = 500;
    check_token(tr, "opaque-token-cccc", -1, ERR_TRANSIENT);
    check_token(tr, "bad token", -1, ERR_PERMANENT); /* refused locally: not a review */
    char *text = metrics_render(m);
    assert_non_null(strstr(text, "# TYPE ember_tokenreview_requests_total counter"));
    assert_non_null(strstr(text, "ember_tokenreview_requests_total{result=\"authenticated\"} 1\n"));
    assert_non_null(
        strstr(text, "ember_tokenreview_requests_total{result=\"unauthenticated\"} 1\n"));
    assert_non_null(strstr(text, "ember_tokenreview_requests_total{result=\"error\"} 1\n"));
    assert_non_null(strstr(text, "ember_tokenreview_cache_hits_total 2\n"));
    assert_null(strstr(text, "opaque-token"));
    free(text);
    assert_int_equal(tokenreview_calls(tr), 3);
    fake_done(&f, tr);
    metrics_free(m);
}

static void test_new_checks_audience(void **state)
{
    (void)state;
    assert_null(tokenreview_new(NULL, NULL, 10, NULL));
    assert_null(tokenreview_new(NULL, "", 10, NULL));
    assert_null(tokenreview_new(NULL, "two words", 10, NULL));
    assert_null(tokenreview_new(NULL, "ctl\x01", 10, NULL));
    char big[TOKENREVIEW_MAX_AUDIENCE_BYTES + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_null(tokenreview_new(NULL, big, 10, NULL));
    big[sizeof big - 2] = '\0';
    struct tokenreview *tr = tokenreview_new(NULL, big, -5, NULL);
    assert_non_null(tr);
    tokenreview_free(tr);
    tr = tokenreview_new(NULL, "https://ember.example/api", 1LL << 40, NULL);
    assert_non_null(tr);
    tokenreview_free(tr);
    tokenreview_free(NULL);
}

struct worker {
    struct tokenreview *tr;
    int id;
    int failures;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    char tok[64];
    for (int i = 0; i < 2000; i++) {
        snprintf(tok, sizeof tok, "opaque-token-%d-%d", w->id, i % 50);
        struct caller c;
        struct err err;
        if (tokenreview_check(w->tr, tok, &c, &err) != 0 || strcmp(c.username, SA_USER) != 0)
            w->failures++;
        caller_free(&c);
    }
    return NULL;
}

static void test_check_concurrent(void **state)
{
    (void)state;
    struct fake f;
    struct tokenreview *tr = fake_tr(&f, 60, NULL);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){tr, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    /* 4 threads x 50 distinct tokens each: one review per token */
    assert_int_equal(f.posts, 200);
    assert_int_equal(tokenreview_cache_size(tr), 200);
    fake_done(&f, tr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_authenticated),
        cmocka_unit_test(test_parse_not_authenticated),
        cmocka_unit_test(test_parse_status_error),
        cmocka_unit_test(test_parse_empty_audiences),
        cmocka_unit_test(test_parse_other_audience),
        cmocka_unit_test(test_parse_missing_user),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_parse_huge_groups),
        cmocka_unit_test(test_token_exp),
        cmocka_unit_test(test_check_request_wire_format),
        cmocka_unit_test(test_check_refuses_odd_tokens_locally),
        cmocka_unit_test(test_check_cache_ttl),
        cmocka_unit_test(test_check_ttl_zero_never_caches),
        cmocka_unit_test(test_check_exp_shortens_ttl),
        cmocka_unit_test(test_check_exp_with_the_default_clocks),
        cmocka_unit_test(test_check_negative_not_cached),
        cmocka_unit_test(test_check_cache_bounded_lru),
        cmocka_unit_test(test_check_http_errors_are_transient),
        cmocka_unit_test(test_check_never_returns_the_token),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_new_checks_audience),
        cmocka_unit_test(test_check_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
