/* watch.c -- splits a Kubernetes watch response body into events by JSON structure. */
#include "kube/watch.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"

/* Where the structural scanner stands: it only tracks what it needs to find where an event
 * ends ({} and [] depth, strings and their escapes); cJSON validates the event afterwards. */
struct watch_scan {
    size_t depth; /* open { and [ of the event in progress; 0 between events */
    bool in_str;
    bool esc;
};

enum watch_step { STEP_SPACE, STEP_START, STEP_INSIDE, STEP_END, STEP_BAD };

struct watch_reader {
    size_t max; /* max_event_bytes */
    char *data; /* data[rpos..len) are the bytes held */
    size_t len, cap;
    size_t rpos;     /* watch_reader_next() resumes here */
    size_t spos;     /* watch_reader_feed() scanned data[..spos) */
    size_t done;     /* every event before this offset is complete */
    size_t ev_start; /* where the event in progress began (when scan.depth > 0) */
    uint64_t base;   /* stream offset of data[0], for messages */
    struct watch_scan scan;
    bool garbage; /* scanning stopped at a byte that cannot start an event */
    unsigned char garbage_byte;
    uint64_t garbage_at; /* its stream offset */
    bool broken;
    struct err broken_err;
};

static enum watch_step watch_scan_byte(struct watch_scan *s, unsigned char c)
{
    if (s->depth == 0) {
        if (c == '{') {
            s->depth = 1;
            return STEP_START;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            return STEP_SPACE;
        return STEP_BAD;
    }
    if (s->in_str) {
        if (s->esc)
            s->esc = false;
        else if (c == '\\')
            s->esc = true;
        else if (c == '"')
            s->in_str = false;
        return STEP_INSIDE;
    }
    switch (c) {
    case '"': s->in_str = true; break;
    case '{':
    case '[': s->depth++; break;
    case '}':
    case ']':
        s->depth--;
        if (s->depth == 0)
            return STEP_END;
        break;
    default: break;
    }
    return STEP_INSIDE;
}

struct watch_reader *watch_reader_new(size_t max_event_bytes)
{
    struct watch_reader *r = xcalloc(1, sizeof(*r));
    r->max = max_event_bytes;
    return r;
}

void watch_reader_free(struct watch_reader *r)
{
    if (r == NULL)
        return;
    free(r->data);
    free(r);
}

size_t watch_reader_buffered(const struct watch_reader *r)
{
    return r->len - r->rpos;
}

const char *watch_type_name(enum watch_type type)
{
    switch (type) {
    case WATCH_ADDED: return "ADDED";
    case WATCH_MODIFIED: return "MODIFIED";
    case WATCH_DELETED: return "DELETED";
    case WATCH_BOOKMARK: return "BOOKMARK";
    case WATCH_ERROR: return "ERROR";
    }
    return "?";
}

/* Breaks the reader for good: the error is kept for every later call, the memory released. */
static WUR int watch_break(struct watch_reader *r, const struct err *e, struct err *err)
{
    r->broken = true;
    r->broken_err = *e;
    free(r->data);
    r->data = NULL;
    r->len = r->cap = r->rpos = r->spos = r->done = r->ev_start = 0;
    if (err != NULL)
        *err = *e;
    return -1;
}

static WUR int watch_fail_broken(const struct watch_reader *r, struct err *err)
{
    if (err != NULL)
        *err = r->broken_err;
    return -1;
}

/* Drops data[..rpos), which watch_reader_next() has consumed, shifting every offset. */
static void watch_compact(struct watch_reader *r)
{
    size_t off = r->rpos;
    if (off == 0)
        return;
    if (r->len > off)
        memmove(r->data, r->data + off, r->len - off);
    r->len -= off;
    r->spos -= off;
    r->done = r->done > off ? r->done - off : 0;
    r->ev_start = r->ev_start > off ? r->ev_start - off : 0;
    r->base += off;
    r->rpos = 0;
}

/* Makes room for n more bytes. Only moves the held bytes down without growing when at least
 * as many were consumed as would be moved, so each byte is moved O(1) times on average;
 * otherwise grows geometrically (compacting on the way). */
static void watch_reserve(struct watch_reader *r, size_t n)
{
    if (r->cap - r->len >= n)
        return;
    size_t live = r->len - r->rpos;
    if (live + n <= r->cap && r->rpos >= live) {
        watch_compact(r);
        return;
    }
    watch_compact(r);
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < live + n)
        cap = cap > SIZE_MAX / 2 ? live + n : cap * 2;
    r->data = xrealloc(r->data, cap);
    r->cap = cap;
}

int watch_reader_feed(struct watch_reader *r, const char *data, size_t len, struct err *err)
{
    if (r->broken)
        return watch_fail_broken(r, err);
    /* Past a byte that cannot start an event nothing more will be returned: drop the rest. */
    if (r->garbage || len == 0)
        return 0;
    if (r->rpos == r->len && r->scan.depth == 0) {
        /* Nothing held: restart at the front of the buffer without moving anything. */
        r->base += r->len;
        r->len = r->rpos = r->spos = r->done = r->ev_start = 0;
    }
    watch_reserve(r, len);
    memcpy(r->data + r->len, data, len);
    r->len += len;

    const unsigned char *p = (const unsigned char *)r->data;
    size_t i = r->spos;
    for (; i < r->len; i++) {
        enum watch_step st = watch_scan_byte(&r->scan, p[i]);
        if (st == STEP_SPACE)
            continue;
        if (st == STEP_BAD) {
            r->garbage = true;
            r->garbage_byte = p[i];
            r->garbage_at = r->base + i;
            r->len = i;
            break;
        }
        if (st == STEP_START)
            r->ev_start = i;
        if (i + 1 - r->ev_start > r->max) {
            struct err e;
            err_set(&e, ERR_TOO_BIG,
                    "watch event starting at byte %llu of the stream is larger than "
                    "max_event_bytes (%zu bytes)",
                    (unsigned long long)(r->base + r->ev_start), r->max);
            return watch_break(r, &e, err);
        }
        if (st == STEP_END)
            r->done = i + 1;
    }
    r->spos = i;
    return 0;
}

static void watch_parse_status(const cJSON *obj, struct watch_event *ev)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
    if (cJSON_IsNumber(code) && code->valuedouble >= 100 && code->valuedouble <= 599)
        ev->error_code = (int)code->valuedouble;
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(obj, "reason");
    if (cJSON_IsString(reason))
        utf8_copy_printable(ev->error_reason, sizeof(ev->error_reason), reason->valuestring,
                            SIZE_MAX);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(obj, "message");
    if (cJSON_IsString(msg))
        utf8_copy_printable(ev->error_message, sizeof(ev->error_message), msg->valuestring,
                            SIZE_MAX);
}

static const struct {
    const char *name;
    enum watch_type type;
} watch_types[] = {
    {"ADDED", WATCH_ADDED},       {"MODIFIED", WATCH_MODIFIED}, {"DELETED", WATCH_DELETED},
    {"BOOKMARK", WATCH_BOOKMARK}, {"ERROR", WATCH_ERROR},
};
#define WATCH_NTYPES (sizeof(watch_types) / sizeof(watch_types[0]))

/* The index in watch_types of the event's "type". */
static WUR int watch_event_type(const cJSON *root, uint64_t at, size_t *t, struct err *err)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    if (!cJSON_IsString(type)) {
        err_set(err, ERR_INVALID, "watch event at byte %llu of the stream has no \"type\" string",
                (unsigned long long)at);
        return -1;
    }
    *t = 0;
    while (*t < WATCH_NTYPES && strcmp(watch_types[*t].name, type->valuestring) != 0)
        (*t)++;
    if (*t == WATCH_NTYPES) {
        char shown[48];
        utf8_copy_printable(shown, sizeof(shown), type->valuestring, SIZE_MAX);
        err_set(err, ERR_INVALID,
                "watch event at byte %llu of the stream has unknown type \"%s\" (expected "
                "ADDED, MODIFIED, DELETED, BOOKMARK or ERROR)",
                (unsigned long long)at, shown);
        return -1;
    }
    return 0;
}

/* Copies obj.metadata.resourceVersion, when there is one, into ev->resource_version: a string
 * of at most WATCH_RV_MAX-1 bytes without control characters. */
static WUR int watch_event_rv(const cJSON *obj, uint64_t at, struct watch_event *ev,
                              struct err *err)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *rv = NULL;
    if (meta != NULL && !cJSON_IsNull(meta)) {
        if (!cJSON_IsObject(meta)) {
            err_set(err, ERR_INVALID,
                    "watch event at byte %llu of the stream: object.metadata is not an object",
                    (unsigned long long)at);
            return -1;
        }
        rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
    }
    if (rv == NULL || cJSON_IsNull(rv))
        return 0;
    if (!cJSON_IsString(rv)) {
        err_set(err, ERR_INVALID,
                "watch event at byte %llu of the stream: object.metadata.resourceVersion "
                "is not a string",
                (unsigned long long)at);
        return -1;
    }
    size_t rvlen = strlen(rv->valuestring);
    if (rvlen >= sizeof(ev->resource_version)) {
        err_set(err, ERR_INVALID,
                "watch event at byte %llu of the stream: object.metadata.resourceVersion "
                "is %zu bytes, more than the %zu allowed",
                (unsigned long long)at, rvlen, sizeof(ev->resource_version) - 1);
        return -1;
    }
    for (size_t i = 0; i < rvlen; i++) {
        unsigned char c = (unsigned char)rv->valuestring[i];
        if (c < 0x20 || c == 0x7f) {
            err_set(err, ERR_INVALID,
                    "watch event at byte %llu of the stream: "
                    "object.metadata.resourceVersion holds a control character",
                    (unsigned long long)at);
            return -1;
        }
    }
    memcpy(ev->resource_version, rv->valuestring, rvlen + 1);
    return 0;
}

/* Maps one complete event's text into *ev. On error *ev is left zeroed. */
static WUR int watch_parse_event(const char *text, size_t n, uint64_t at, struct watch_event *ev,
                                 struct err *err)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (root == NULL || end != text + n) {
        size_t near = end != NULL && end >= text && end <= text + n ? (size_t)(end - text) : 0;
        cJSON_Delete(root);
        err_set(err, ERR_INVALID,
                "watch event at byte %llu of the stream is not valid JSON (near byte %zu of "
                "the event)",
                (unsigned long long)at, near);
        return -1;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        err_set(err, ERR_INVALID, "watch event at byte %llu of the stream is not a JSON object",
                (unsigned long long)at);
        return -1;
    }
    size_t t = 0;
    if (watch_event_type(root, at, &t, err) != 0) {
        cJSON_Delete(root);
        return -1;
    }
    cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, "object");
    if (!cJSON_IsObject(obj)) {
        cJSON_Delete(root);
        err_set(err, ERR_INVALID,
                "watch event at byte %llu of the stream (%s) has no \"object\" object",
                (unsigned long long)at, watch_types[t].name);
        return -1;
    }
    if (watch_event_rv(obj, at, ev, err) != 0) {
        cJSON_Delete(root);
        return -1;
    }
    ev->type = watch_types[t].type;
    if (ev->type == WATCH_ERROR)
        watch_parse_status(obj, ev);
    ev->object = cJSON_DetachItemViaPointer(root, obj);
    cJSON_Delete(root);
    return 0;
}

int watch_reader_next(struct watch_reader *r, struct watch_event *ev, struct err *err)
{
    memset(ev, 0, sizeof(*ev));
    if (r->broken)
        return watch_fail_broken(r, err);

    if (r->rpos >= r->done) {
        if (r->garbage) {
            struct err e;
            unsigned char c = r->garbage_byte;
            err_set(&e, ERR_INVALID,
                    "watch stream byte %llu is 0x%02x ('%c'), not the start of a JSON object",
                    (unsigned long long)r->garbage_at, c, c >= 0x20 && c < 0x7f ? c : '?');
            return watch_break(r, &e, err);
        }
        /* Only white space or an unfinished event is held: forget the white space. */
        r->rpos = r->scan.depth > 0 ? r->ev_start : r->spos;
        return 0;
    }

    /* data[rpos..done) is white space and complete events: find where the first one ends.
     * Only this event's bytes are walked again, so the stream is scanned at most twice. */
    struct watch_scan s = {0};
    const unsigned char *p = (const unsigned char *)r->data;
    size_t start = r->rpos, i = r->rpos;
    for (; i < r->done; i++) {
        enum watch_step st = watch_scan_byte(&s, p[i]);
        if (st == STEP_START)
            start = i;
        else if (st == STEP_END)
            break;
    }
    if (i == r->done) {
        /* Cannot happen: done always closes an event. Fail loudly rather than loop. */
        struct err e;
        err_set(&e, ERR_INTERNAL, "watch reader lost track of event boundaries");
        return watch_break(r, &e, err);
    }
    size_t end = i + 1;
    r->rpos = end;
    struct err e = {0};
    if (watch_parse_event(r->data + start, end - start, r->base + start, ev, &e) != 0) {
        memset(ev, 0, sizeof(*ev));
        return watch_break(r, &e, err);
    }
    return 1;
}
