/* test_watch.c -- the watch-stream splitter: chunking, framing, limits, event mapping. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "base/buf.h"
#include "base/mem.h"
#include "kube/watch.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEEN 2048

/* What a drain saw: each event's type and RV, the last return code and error. */
struct seen {
    size_t n;
    enum watch_type type[MAX_SEEN];
    char rv[MAX_SEEN][WATCH_RV_MAX];
    int last_rc;
    struct err err;
};

/* Takes every complete event, checking each is well formed, until 0 or -1. */
static void drain(struct watch_reader *r, struct seen *s)
{
    for (;;) {
        struct watch_event ev;
        int rc = watch_reader_next(r, &ev, &s->err);
        s->last_rc = rc;
        if (rc != 1) {
            assert_null(ev.object);
            return;
        }
        assert_true(cJSON_IsObject(ev.object));
        assert_true(s->n < MAX_SEEN);
        s->type[s->n] = ev.type;
        memcpy(s->rv[s->n], ev.resource_version, sizeof(ev.resource_version));
        s->n++;
        cJSON_Delete(ev.object);
    }
}

/* Feeds text in one call and drains. */
static void feed_all(struct watch_reader *r, const char *text, struct seen *s)
{
    struct err err = {0};
    assert_int_equal(watch_reader_feed(r, text, strlen(text), &err), 0);
    drain(r, s);
}

/* Feeds text one byte at a time, draining after each. Returns the first feed failure or 0. */
static int feed_bytes(struct watch_reader *r, const char *text, size_t n, struct seen *s)
{
    for (size_t i = 0; i < n; i++) {
        if (watch_reader_feed(r, text + i, 1, &s->err) != 0)
            return -1;
        drain(r, s);
    }
    return 0;
}

static const char *EV_MODIFIED =
    "{\"type\":\"MODIFIED\",\"object\":{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":"
    "\"CertificateRequest\",\"metadata\":{\"name\":\"web\",\"namespace\":\"default\","
    "\"resourceVersion\":\"12345\"},\"spec\":{\"issuerRef\":{\"name\":\"ember\"}}}}";

static const char *EV_BOOKMARK =
    "{\"type\":\"BOOKMARK\",\"object\":{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":"
    "\"CertificateRequest\",\"metadata\":{\"resourceVersion\":\"12399\"}}}";

static const char *EV_EXPIRED =
    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
    "\"status\":\"Failure\",\n  \"message\":\"too old resource version: 12000 (12399)\","
    "\"reason\":\"Expired\",\"code\":410}}";

/* A small event of the given type and RV. */
static char *mkevent(const char *type, unsigned rv)
{
    return xasprintf("{\"type\":\"%s\",\"object\":{\"kind\":\"CertificateRequest\",\"metadata\":"
                     "{\"name\":\"cr-%u\",\"resourceVersion\":\"%u\"}}}",
                     type, rv, rv);
}

static void test_single_event(void **state)
{
    (void)state;
    struct watch_reader *r = watch_reader_new(WATCH_MAX_EVENT_BYTES_DEFAULT);
    struct err err = {0};
    assert_int_equal(watch_reader_feed(r, EV_MODIFIED, strlen(EV_MODIFIED), &err), 0);
    assert_int_equal(watch_reader_buffered(r), strlen(EV_MODIFIED));
    struct watch_event ev;
    assert_int_equal(watch_reader_next(r, &ev, &err), 1);
    assert_int_equal(ev.type, WATCH_MODIFIED);
    assert_string_equal(ev.resource_version, "12345");
    assert_int_equal(ev.error_code, 0);
    assert_string_equal(ev.error_reason, "");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(ev.object, "kind");
    assert_true(cJSON_IsString(kind));
    assert_string_equal(kind->valuestring, "CertificateRequest");
    cJSON_Delete(ev.object);
    assert_int_equal(watch_reader_next(r, &ev, &err), 0);
    assert_null(ev.object);
    assert_int_equal(watch_reader_buffered(r), 0);
    watch_reader_free(r);
    watch_reader_free(NULL);
}

static void test_many_events_one_feed(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    const char *types[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK"};
    for (unsigned i = 0; i < 40; i++) {
        char *e = mkevent(types[i % 4], 100 + i);
        assert_int_equal(buf_printf(&b, NULL, "%s\n", e), 0);
        free(e);
    }
    struct watch_reader *r = watch_reader_new(4096);
    struct seen *s = calloc(1, sizeof(*s));
    feed_all(r, b.data, s);
    assert_int_equal(s->last_rc, 0);
    assert_int_equal(s->n, 40);
    for (unsigned i = 0; i < 40; i++) {
        assert_int_equal(s->type[i], (enum watch_type)(i % 4));
        char want[16];
        snprintf(want, sizeof(want), "%u", 100 + i);
        assert_string_equal(s->rv[i], want);
    }
    assert_int_equal(watch_reader_buffered(r), 0);
    free(s);
    watch_reader_free(r);
    buf_free(&b);
}

static void test_one_byte_at_a_time(void **state)
{
    (void)state;
    char *text = xasprintf("%s\n%s\n%s\n", EV_MODIFIED, EV_BOOKMARK, EV_EXPIRED);
    struct watch_reader *r = watch_reader_new(4096);
    struct seen *s = calloc(1, sizeof(*s));
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(watch_reader_feed(r, text + i, 1, &s->err), 0);
        size_t before = s->n;
        drain(r, s);
        assert_int_equal(s->last_rc, 0);
        /* An event is returned exactly when its closing brace arrives. */
        if (s->n > before)
            assert_int_equal(text[i], '}');
    }
    assert_int_equal(s->n, 3);
    assert_int_equal(s->type[0], WATCH_MODIFIED);
    assert_int_equal(s->type[1], WATCH_BOOKMARK);
    assert_int_equal(s->type[2], WATCH_ERROR);
    assert_string_equal(s->rv[0], "12345");
    assert_string_equal(s->rv[1], "12399");
    assert_int_equal(watch_reader_buffered(r), 0);
    free(s);
    free(text);
    watch_reader_free(r);
}

static void test_random_chunking_matches_whole(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4 << 20);
    const char *types[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK"};
    for (unsigned i = 0; i < 1000; i++) {
        char *e = mkevent(types[(i * 7) % 4], 5000 + i);
        /* Vary the separators: newline, CRLF, nothing, spaces. */
        const char *sep[] = {"\n", "\r\n", "", "  \t"};
        assert_int_equal(buf_printf(&b, NULL, "%s%s", e, sep[i % 4]), 0);
        free(e);
    }
    struct watch_reader *whole = watch_reader_new(4096);
    struct seen *sw = calloc(1, sizeof(*sw));
    feed_all(whole, b.data, sw);
    assert_int_equal(sw->n, 1000);
    assert_int_equal(sw->last_rc, 0);

    srand(20240611);
    for (int round = 0; round < 5; round++) {
        struct watch_reader *r = watch_reader_new(4096);
        struct seen *sc = calloc(1, sizeof(*sc));
        size_t off = 0;
        while (off < b.len) {
            size_t chunk = 1 + (size_t)rand() % (round == 0 ? 3 : 700);
            if (chunk > b.len - off)
                chunk = b.len - off;
            assert_int_equal(watch_reader_feed(r, b.data + off, chunk, &sc->err), 0);
            /* Not draining sometimes: several chunks may pile up before a drain. */
            if (rand() % 3 != 0)
                drain(r, sc);
            off += chunk;
        }
        drain(r, sc);
        assert_int_equal(sc->last_rc, 0);
        assert_int_equal(sc->n, sw->n);
        for (size_t i = 0; i < sw->n; i++) {
            assert_int_equal(sc->type[i], sw->type[i]);
            assert_string_equal(sc->rv[i], sw->rv[i]);
        }
        assert_int_equal(watch_reader_buffered(r), 0);
        free(sc);
        watch_reader_free(r);
    }
    free(sw);
    watch_reader_free(whole);
    buf_free(&b);
}

static void test_glued_events(void **state)
{
    (void)state;
    char *a = mkevent("ADDED", 1), *m = mkevent("MODIFIED", 2), *d = mkevent("DELETED", 3);
    char *text = xasprintf("%s%s%s", a, m, d);
    struct watch_reader *r = watch_reader_new(1024);
    struct seen *s = calloc(1, sizeof(*s));
    feed_all(r, text, s);
    assert_int_equal(s->n, 3);
    assert_int_equal(s->type[0], WATCH_ADDED);
    assert_int_equal(s->type[1], WATCH_MODIFIED);
    assert_int_equal(s->type[2], WATCH_DELETED);
    assert_string_equal(s->rv[2], "3");
    free(s);
    free(text);
    free(a);
    free(m);
    free(d);
    watch_reader_free(r);
}

static void test_crlf_and_blank_lines(void **state)
{
    (void)state;
    char *text = xasprintf("\r\n\r\n%s\r\n\r\n  %s\r\n", EV_MODIFIED, EV_BOOKMARK);
    struct watch_reader *r = watch_reader_new(1024);
    struct seen *s = calloc(1, sizeof(*s));
    feed_all(r, text, s);
    assert_int_equal(s->last_rc, 0);
    assert_int_equal(s->n, 2);
    assert_int_equal(s->type[1], WATCH_BOOKMARK);
    assert_int_equal(watch_reader_buffered(r), 0);
    free(s);
    free(text);
    watch_reader_free(r);
}

static void test_strings_with_structure_chars(void **state)
{
    (void)state;
    /* Braces, brackets, quotes, escaped quotes, escaped backslashes at a string's end and
     * \n inside strings must not move the event boundary. */
    const char *text =
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"7\","
        "\"annotations\":{\"a\":\"}}}{{{\",\"b\":\"]][[\",\"c\":\"say \\\"}\\\" now\","
        "\"d\":\"ends in backslash\\\\\",\"e\":\"line1\\nline2}\"}}}}"
        "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"resourceVersion\":\"8\"}}}";
    struct watch_reader *r = watch_reader_new(1024);
    struct seen *s = calloc(1, sizeof(*s));
    assert_int_equal(feed_bytes(r, text, strlen(text), s), 0);
    assert_int_equal(s->last_rc, 0);
    assert_int_equal(s->n, 2);
    assert_string_equal(s->rv[0], "7");
    assert_string_equal(s->rv[1], "8");

    /* And the object's content is intact. */
    struct watch_reader *r2 = watch_reader_new(1024);
    struct err err = {0};
    assert_int_equal(watch_reader_feed(r2, text, strlen(text), &err), 0);
    struct watch_event ev;
    assert_int_equal(watch_reader_next(r2, &ev, &err), 1);
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(ev.object, "metadata"), "annotations");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ann, "c")->valuestring, "say \"}\" now");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ann, "e")->valuestring, "line1\nline2}");
    cJSON_Delete(ev.object);
    free(s);
    watch_reader_free(r);
    watch_reader_free(r2);
}

static void test_nested_arrays(void **state)
{
    (void)state;
    const char *text =
        "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"},"
        "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"x\":[[1,[2,{}]],[]]}],"
        "\"m\":[[[[[]]]]]}}}\n";
    struct watch_reader *r = watch_reader_new(1024);
    struct seen *s = calloc(1, sizeof(*s));
    assert_int_equal(feed_bytes(r, text, strlen(text), s), 0);
    assert_int_equal(s->last_rc, 0);
    assert_int_equal(s->n, 1);
    assert_string_equal(s->rv[0], "9");
    free(s);
    watch_reader_free(r);
}

static void test_bookmark_only_rv(void **state)
{
    (void)state;
    const char *text = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"CertificateRequest\","
                       "\"apiVersion\":\"cert-manager.io/v1\",\"metadata\":{\"resourceVersion\":"
                       "\"12399\",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}";
    struct watch_reader *r = watch_reader_new(1024);
    struct err err = {0};
    assert_int_equal(watch_reader_feed(r, text, strlen(text), &err), 0);
    struct watch_event ev;
    assert_int_equal(watch_reader_next(r, &ev, &err), 1);
    assert_int_equal(ev.type, WATCH_BOOKMARK);
    assert_string_equal(ev.resource_version, "12399");
    assert_int_equal(ev.error_code, 0);
    cJSON_Delete(ev.object);
    watch_reader_free(r);
}

static void test_error_410_expired(void **state)
{
    (void)state;
    struct watch_reader *r = watch_reader_new(1024);
    struct err err = {0};
    assert_int_equal(watch_reader_feed(r, EV_EXPIRED, strlen(EV_EXPIRED), &err), 0);
    struct watch_event ev;
    assert_int_equal(watch_reader_next(r, &ev, &err), 1);
    assert_int_equal(ev.type, WATCH_ERROR);
    assert_int_equal(ev.error_code, 410);
    assert_string_equal(ev.error_reason, "Expired");
    assert_string_equal(ev.error_message, "too old resource version: 12000 (12399)");
    assert_string_equal(ev.resource_version, "");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ev.object, "kind")->valuestring, "Status");
    cJSON_Delete(ev.object);
    /* Older servers say Gone. */
    const char *gone = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
                       "\"reason\":\"Gone\",\"message\":\"x\"}}";
    assert_int_equal(watch_reader_feed(r, gone, strlen(gone), &err), 0);
    assert_int_equal(watch_reader_next(r, &ev, &err), 1);
    assert_int_equal(ev.error_code, 410);
    assert_string_equal(ev.error_reason, "Gone");
    cJSON_Delete(ev.object);
    watch_reader_free(r);
}

static void test_error_message_cut_and_cleaned(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 16);
    assert_int_equal(buf_append_str(&b,
                                    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":"
                                    "500,\"reason\":\"Internal\\u0001Error\",\"message\":\"bad\\t",
                                    NULL),
                     0);
    /* 2-byte UTF-8 characters so the cut has to avoid splitting one. */
    for (int i = 0; i < 400; i++)
        assert_int_equal(buf_append_str(&b, "\xc3\xa9", NULL), 0);
    assert_int_equal(buf_append_str(&b, "\"}}", NULL), 0);
    struct watch_reader *r = watch_reader_new(4096);
    struct err err = {0};
    assert_int_equal(watch_reader_feed(r, b.data, b.len, &err), 0);
    struct watch_event ev;
    assert_int_equal(watch_reader_next(r, &ev, &err), 1);
    assert_int_equal(ev.error_code, 500);
    assert_string_equal(ev.error_reason, "Internal?Error");
    assert_memory_equal(ev.error_message, "bad?", 4);
    size_t n = strlen(ev.error_message);
    assert_true(n <= WATCH_MESSAGE_MAX - 1);
    assert_true(n >= WATCH_MESSAGE_MAX - 3);
    /* 4 ASCII bytes then whole 2-byte characters: an even number of UTF-8 bytes after. */
    assert_int_equal((n - 4) % 2, 0);
    assert_int_equal((unsigned char)ev.error_message[n - 1], 0xa9);
    cJSON_Delete(ev.object);
    watch_reader_free(r);
    buf_free(&b);
}

/* An ADDED event of exactly n bytes (n >= 64), padded inside a string. */
static char *event_of_size(size_t n)
{
    const char *head = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"1\"},"
                       "\"p\":\"";
    const char *tail = "\"}}";
    size_t h = strlen(head), t = strlen(tail);
    assert_true(n >= h + t);
    char *e = xmalloc(n + 1);
    memcpy(e, head, h);
    memset(e + h, 'x', n - h - t);
    memcpy(e + n - t, tail, t);
    e[n] = '\0';
    return e;
}

static void test_event_size_limit(void **state)
{
    (void)state;
    const size_t max = 300;
    char *ok = event_of_size(max), *over = event_of_size(max + 1);

    /* Exactly at the limit, whole and byte by byte. */
    struct watch_reader *r = watch_reader_new(max);
    struct seen *s = calloc(1, sizeof(*s));
    feed_all(r, ok, s);
    assert_int_equal(s->n, 1);
    assert_int_equal(feed_bytes(r, ok, max, s), 0);
    assert_int_equal(s->n, 2);
    assert_int_equal(s->last_rc, 0);
    watch_reader_free(r);

    /* One byte over: fails in feed, naming the limit. */
    r = watch_reader_new(max);
    struct err err = {0};
    assert_int_equal(watch_reader_feed(r, over, max + 1, &err), -1);
    assert_int_equal(err.kind, ERR_TOO_BIG);
    assert_non_null(strstr(err.msg, "max_event_bytes"));
    assert_non_null(strstr(err.msg, "300"));
    assert_int_equal(watch_reader_buffered(r), 0);
    /* Broken: every later call fails. */
    struct err err2 = {0};
    assert_int_equal(watch_reader_feed(r, ok, max, &err2), -1);
    assert_int_equal(err2.kind, ERR_TOO_BIG);
    struct watch_event ev;
    assert_int_equal(watch_reader_next(r, &ev, &err2), -1);
    assert_int_equal(err2.kind, ERR_TOO_BIG);
    assert_null(ev.object);
    watch_reader_free(r);

    /* Byte by byte it fails on the byte that passes the limit, before the event ends. */
    r = watch_reader_new(max);
    memset(s, 0, sizeof(*s));
    size_t i = 0;
    for (; i < max + 1; i++)
        if (watch_reader_feed(r, over + i, 1, &err) != 0)
            break;
    assert_int_equal(i, max);
    assert_int_equal(err.kind, ERR_TOO_BIG);
    watch_reader_free(r);
    free(s);
    free(ok);
    free(over);
}

static void test_garbage_between_events(void **state)
{
    (void)state;
    char *text = xasprintf("%s\nHTTP/1.1 200 OK\n%s", EV_MODIFIED, EV_BOOKMARK);
    struct watch_reader *r = watch_reader_new(1024);
    struct seen *s = calloc(1, sizeof(*s));
    feed_all(r, text, s);
    /* The event before the garbage is delivered, then the error. */
    assert_int_equal(s->n, 1);
    assert_int_equal(s->last_rc, -1);
    assert_int_equal(s->err.kind, ERR_INVALID);
    char want[64];
    snprintf(want, sizeof(want), "byte %zu", strlen(EV_MODIFIED) + 1);
    assert_non_null(strstr(s->err.msg, want));
    assert_non_null(strstr(s->err.msg, "'H'"));
    struct err err = {0};
    assert_int_equal(watch_reader_feed(r, EV_BOOKMARK, strlen(EV_BOOKMARK), &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    free(s);
    free(text);
    watch_reader_free(r);

    /* A stray closing brace or a comma between events is garbage too. */
    const char *bad[] = {"}", ",", "]", "\"x\"", "\f"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = watch_reader_new(1024);
        struct seen *s2 = calloc(1, sizeof(*s2));
        char *t = xasprintf("%s%s%s", EV_BOOKMARK, bad[i], EV_BOOKMARK);
        feed_all(r, t, s2);
        assert_int_equal(s2->n, 1);
        assert_int_equal(s2->last_rc, -1);
        assert_int_equal(s2->err.kind, ERR_INVALID);
        free(t);
        free(s2);
        watch_reader_free(r);
    }
}

static void test_truncated_then_completed(void **state)
{
    (void)state;
    size_t n = strlen(EV_MODIFIED);
    struct watch_reader *r = watch_reader_new(1024);
    struct seen *s = calloc(1, sizeof(*s));
    struct err err = {0};
    assert_int_equal(watch_reader_feed(r, EV_MODIFIED, n - 1, &err), 0);
    drain(r, s);
    assert_int_equal(s->n, 0);
    assert_int_equal(s->last_rc, 0);
    assert_int_equal(watch_reader_buffered(r), n - 1);
    assert_int_equal(watch_reader_feed(r, EV_MODIFIED + n - 1, 1, &err), 0);
    drain(r, s);
    assert_int_equal(s->n, 1);
    assert_string_equal(s->rv[0], "12345");
    assert_int_equal(watch_reader_buffered(r), 0);
    free(s);
    watch_reader_free(r);
}

/* Feeds text and expects the first next() to fail with ERR_INVALID and msg containing want. */
static void expect_invalid(const char *text, const char *want)
{
    struct watch_reader *r = watch_reader_new(1 << 20);
    struct err err = {0};
    assert_int_equal(watch_reader_feed(r, text, strlen(text), &err), 0);
    struct watch_event ev;
    assert_int_equal(watch_reader_next(r, &ev, &err), -1);
    assert_null(ev.object);
    assert_int_equal(err.kind, ERR_INVALID);
    if (strstr(err.msg, want) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);
    /* Broken afterwards. */
    assert_int_equal(watch_reader_next(r, &ev, &err), -1);
    assert_int_equal(watch_reader_buffered(r), 0);
    watch_reader_free(r);
}

static void test_unknown_or_missing_type(void **state)
{
    (void)state;
    expect_invalid("{\"type\":\"RENAMED\",\"object\":{}}", "unknown type \"RENAMED\"");
    expect_invalid("{\"type\":\"added\",\"object\":{}}", "unknown type");
    expect_invalid("{\"object\":{}}", "\"type\"");
    expect_invalid("{\"type\":7,\"object\":{}}", "\"type\"");
    expect_invalid("{\"type\":\"ADDED\\n\\u0001\",\"object\":{}}", "unknown type \"ADDED??\"");
}

static void test_not_an_object(void **state)
{
    (void)state;
    expect_invalid("[{\"type\":\"ADDED\",\"object\":{}}]", "byte 0");
    expect_invalid("\"ADDED\"", "byte 0");
    expect_invalid("{\"type\":\"ADDED\",\"object\":[1]}", "\"object\"");
    expect_invalid("{\"type\":\"ADDED\",\"object\":null}", "\"object\"");
    expect_invalid("{\"type\":\"ADDED\"}", "\"object\"");
    expect_invalid("{\"type\":\"ADDED\",\"object\":{\"metadata\":[]}}", "metadata");
    expect_invalid("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":5}}}",
                   "resourceVersion");
    /* Balanced but not JSON. */
    expect_invalid("{\"type\":\"ADDED\",,\"object\":{}}", "not valid JSON");
    expect_invalid("{\"type\":\"ADDED\",\"object\":{]}", "not valid JSON");
    expect_invalid("{type:ADDED}", "not valid JSON");
}

static void test_resource_version_bounds(void **state)
{
    (void)state;
    char rv[WATCH_RV_MAX + 1];
    memset(rv, '7', sizeof(rv));
    rv[WATCH_RV_MAX - 1] = '\0'; /* 127 bytes: allowed */
    char *text = xasprintf(
        "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"resourceVersion\":\"%s\"}}}", rv);
    struct watch_reader *r = watch_reader_new(1024);
    struct seen *s = calloc(1, sizeof(*s));
    feed_all(r, text, s);
    assert_int_equal(s->n, 1);
    assert_string_equal(s->rv[0], rv);
    free(text);
    free(s);
    watch_reader_free(r);

    rv[WATCH_RV_MAX - 1] = '7';
    rv[WATCH_RV_MAX] = '\0'; /* 128 bytes: too long */
    text = xasprintf(
        "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"resourceVersion\":\"%s\"}}}", rv);
    expect_invalid(text, "127");
    free(text);
    expect_invalid("{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"resourceVersion\":"
                   "\"1\\n2\"}}}",
                   "control character");
}

static void test_deep_nesting(void **state)
{
    (void)state;
    size_t depth = 100000;
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_append_str(&b, "{\"type\":\"ADDED\",\"object\":{\"x\":", NULL), 0);
    for (size_t i = 0; i < depth; i++)
        assert_int_equal(buf_append(&b, "[", 1, NULL), 0);
    for (size_t i = 0; i < depth; i++)
        assert_int_equal(buf_append(&b, "]", 1, NULL), 0);
    assert_int_equal(buf_append_str(&b, "}}", NULL), 0);
    expect_invalid(b.data, "not valid JSON");
    buf_free(&b);
}

static void test_whitespace_is_not_kept(void **state)
{
    (void)state;
    struct watch_reader *r = watch_reader_new(256);
    struct seen *s = calloc(1, sizeof(*s));
    char spaces[4096];
    memset(spaces, ' ', sizeof(spaces));
    spaces[100] = '\n';
    for (int i = 0; i < 256; i++) {
        assert_int_equal(watch_reader_feed(r, spaces, sizeof(spaces), &s->err), 0);
        drain(r, s);
        assert_int_equal(watch_reader_buffered(r), 0);
    }
    /* Keep-alive-like white space inside a slow event does not count against anything but
     * that event. */
    assert_int_equal(feed_bytes(r, EV_BOOKMARK, strlen(EV_BOOKMARK), s), 0);
    assert_int_equal(s->n, 1);
    free(s);
    watch_reader_free(r);
}

static void test_linear_time(void **state)
{
    (void)state;
    /* One 200 KB event fed one byte at a time: quadratic rescanning or copying would take
     * minutes here. */
    size_t n = 200 * 1024;
    char *big = event_of_size(n);
    struct watch_reader *r = watch_reader_new(n);
    struct seen *s = calloc(1, sizeof(*s));
    assert_int_equal(feed_bytes(r, big, n, s), 0);
    assert_int_equal(s->n, 1);
    assert_int_equal(watch_reader_buffered(r), 0);
    watch_reader_free(r);
    free(big);

    /* About 10 MB of small events in 16 KiB chunks (curl's usual write size). */
    struct buf b;
    buf_init(&b, 1 << 20);
    for (unsigned i = 0; b.len < 512 * 1024; i++) {
        char *e = mkevent("MODIFIED", i);
        assert_int_equal(buf_printf(&b, NULL, "%s\n", e), 0);
        free(e);
    }
    /* Every line is one event. */
    size_t per_copy = 0;
    for (size_t i = 0; i < b.len; i++)
        per_copy += b.data[i] == '\n';
    r = watch_reader_new(1024);
    size_t total = 0, held_max = 0;
    for (int copy = 0; copy < 20; copy++) {
        for (size_t off = 0; off < b.len; off += 16384) {
            size_t chunk = b.len - off < 16384 ? b.len - off : 16384;
            assert_int_equal(watch_reader_feed(r, b.data + off, chunk, &s->err), 0);
            if (watch_reader_buffered(r) > held_max)
                held_max = watch_reader_buffered(r);
            for (;;) {
                struct watch_event ev;
                int rc = watch_reader_next(r, &ev, &s->err);
                assert_int_not_equal(rc, -1);
                if (rc == 0)
                    break;
                cJSON_Delete(ev.object);
                total++;
            }
        }
    }
    assert_int_equal(total, 20 * per_copy);
    /* Drained after every feed: never more than one event plus one chunk held. */
    assert_true(held_max <= 1024 + 16384);
    free(s);
    watch_reader_free(r);
    buf_free(&b);
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(watch_type_name(WATCH_ADDED), "ADDED");
    assert_string_equal(watch_type_name(WATCH_ERROR), "ERROR");
    assert_string_equal(watch_type_name((enum watch_type)99), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_event),
        cmocka_unit_test(test_many_events_one_feed),
        cmocka_unit_test(test_one_byte_at_a_time),
        cmocka_unit_test(test_random_chunking_matches_whole),
        cmocka_unit_test(test_glued_events),
        cmocka_unit_test(test_crlf_and_blank_lines),
        cmocka_unit_test(test_strings_with_structure_chars),
        cmocka_unit_test(test_nested_arrays),
        cmocka_unit_test(test_bookmark_only_rv),
        cmocka_unit_test(test_error_410_expired),
        cmocka_unit_test(test_error_message_cut_and_cleaned),
        cmocka_unit_test(test_event_size_limit),
        cmocka_unit_test(test_garbage_between_events),
        cmocka_unit_test(test_truncated_then_completed),
        cmocka_unit_test(test_unknown_or_missing_type),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_resource_version_bounds),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_whitespace_is_not_kept),
        cmocka_unit_test(test_linear_time),
        cmocka_unit_test(test_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
