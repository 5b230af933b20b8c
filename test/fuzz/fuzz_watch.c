/* fuzz_watch.c -- the watch-stream splitter on arbitrary bytes and arbitrary chunking: no crash,
 * well-formed events, bounded memory, and the same events as feeding everything at once.
 * Input layout: 2 bytes pick max_event_bytes, 8 bytes pick the chunk sizes, the rest is the
 * stream. */
#include "base/mem.h"
#include "kube/watch.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEADER 10

struct outcome {
    size_t n, cap;
    enum watch_type *type;
    char (*rv)[WATCH_RV_MAX];
    int last_rc; /* of the last next() or failed feed: 0 or -1 */
    enum err_kind kind;
};

static void fuzz_check_text(const char *s, size_t cap)
{
    const char *nul = memchr(s, '\0', cap);
    if (nul == NULL)
        abort();
    for (const char *p = s; p < nul; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
            abort();
}

static void fuzz_check_err(const struct err *err)
{
    if (err->kind != ERR_INVALID && err->kind != ERR_TOO_BIG)
        abort();
    if (err->msg[0] == '\0' || memchr(err->msg, '\0', sizeof(err->msg)) == NULL)
        abort();
}

static void outcome_push(struct outcome *o, const struct watch_event *ev)
{
    if (ev->type > WATCH_ERROR || !cJSON_IsObject(ev->object))
        abort();
    fuzz_check_text(ev->resource_version, sizeof(ev->resource_version));
    fuzz_check_text(ev->error_reason, sizeof(ev->error_reason));
    fuzz_check_text(ev->error_message, sizeof(ev->error_message));
    if (ev->type != WATCH_ERROR &&
        (ev->error_code != 0 || ev->error_reason[0] != '\0' || ev->error_message[0] != '\0'))
        abort();
    if (ev->error_code != 0 && (ev->error_code < 100 || ev->error_code > 599))
        abort();
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 16;
        o->type = xrealloc(o->type, o->cap * sizeof(*o->type));
        o->rv = xrealloc(o->rv, o->cap * sizeof(*o->rv));
    }
    o->type[o->n] = ev->type;
    memcpy(o->rv[o->n], ev->resource_version, WATCH_RV_MAX);
    o->n++;
}

/* Takes every complete event; returns the last rc (0 or -1). */
static int outcome_drain(struct watch_reader *r, struct outcome *o)
{
    for (;;) {
        struct watch_event ev;
        struct err err = {0};
        int rc = watch_reader_next(r, &ev, &err);
        if (rc == 1) {
            outcome_push(o, &ev);
            cJSON_Delete(ev.object);
            continue;
        }
        if (ev.object != NULL || (rc != 0 && rc != -1))
            abort();
        o->last_rc = rc;
        if (rc == -1) {
            fuzz_check_err(&err);
            o->kind = err.kind;
            if (watch_reader_buffered(r) != 0)
                abort();
        }
        return rc;
    }
}

/* Feeds everything at once with the given limit; returns the feed's rc. */
static int outcome_whole(const char *s, size_t n, size_t max, struct outcome *o, size_t *held)
{
    struct watch_reader *r = watch_reader_new(max);
    struct err err = {0};
    int rc = watch_reader_feed(r, s, n, &err);
    if (rc != 0) {
        fuzz_check_err(&err);
        if (err.kind != ERR_TOO_BIG)
            abort();
        o->last_rc = -1;
        o->kind = err.kind;
    } else {
        outcome_drain(r, o);
    }
    *held = watch_reader_buffered(r);
    watch_reader_free(r);
    return rc;
}

static void outcome_free(struct outcome *o)
{
    free(o->type);
    free(o->rv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER)
        return 0;
    size_t max = 1 + ((size_t)data[0] | (size_t)data[1] << 8) % 4096;
    const uint8_t *seeds = data + 2;
    const char *s = (const char *)data + HEADER;
    size_t n = size - HEADER;

    /* The reference: everything at once with a limit nothing can pass. */
    struct outcome ref = {0};
    size_t ref_held = 0;
    if (outcome_whole(s, n, n + 1, &ref, &ref_held) != 0)
        abort();

    /* Everything at once with the real limit. */
    struct outcome whole = {0};
    size_t whole_held = 0;
    int whole_rc = outcome_whole(s, n, max, &whole, &whole_held);

    /* Chunked, draining after every feed. */
    struct outcome ch = {0};
    struct watch_reader *r = watch_reader_new(max);
    size_t off = 0, k = 0;
    int failed = 0;
    while (off < n) {
        uint8_t seed = seeds[k % 8];
        size_t chunk = (seed & 0x80) ? 1 + (size_t)(seed & 0x7f) * 8 : 1 + (size_t)(seed & 0x0f);
        k++;
        if (chunk > n - off)
            chunk = n - off;
        struct err err = {0};
        if (watch_reader_feed(r, s + off, chunk, &err) != 0) {
            fuzz_check_err(&err);
            ch.last_rc = -1;
            ch.kind = err.kind;
            failed = 1;
            break;
        }
        if (watch_reader_buffered(r) > max + chunk)
            abort();
        off += chunk;
        if (outcome_drain(r, &ch) != 0) {
            failed = 1;
            break;
        }
        if (watch_reader_buffered(r) > max)
            abort();
    }
    if (!failed && n == 0)
        outcome_drain(r, &ch);
    size_t ch_held = watch_reader_buffered(r);
    watch_reader_free(r);

    /* Chunked events are a prefix of the reference's. */
    if (ch.n > ref.n)
        abort();
    for (size_t i = 0; i < ch.n; i++)
        if (ch.type[i] != ref.type[i] || strcmp(ch.rv[i], ref.rv[i]) != 0)
            abort();
    if (whole_rc == 0) {
        /* No event passed the limit: all three agree exactly. */
        if (whole.n != ref.n || ch.n != ref.n || whole.last_rc != ref.last_rc ||
            ch.last_rc != ref.last_rc || whole_held != ref_held || ch_held != ref_held)
            abort();
        if (ref.last_rc == -1 && (whole.kind != ref.kind || ch.kind != ref.kind))
            abort();
        for (size_t i = 0; i < ref.n; i++)
            if (whole.type[i] != ref.type[i] || strcmp(whole.rv[i], ref.rv[i]) != 0)
                abort();
    } else {
        /* Some event passes the limit: chunked feeding must fail too, at the latest there. */
        if (ch.last_rc != -1)
            abort();
    }
    outcome_free(&ref);
    outcome_free(&whole);
    outcome_free(&ch);
    return 0;
}
