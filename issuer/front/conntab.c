/* conntab.c -- a listener's open connections: caps per address and in all, request deadlines
 * (see conntab.h). */
#include "front/conntab.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

enum conntab_state {
    CONNTAB_HEADERS, /* waiting for the request line and headers */
    CONNTAB_BODY,    /* headers in, waiting for the rest of the body */
    CONNTAB_BUSY,    /* the request is in whole: being answered, no deadline */
    CONNTAB_CUT,     /* late, shut down: waiting for the server to close it */
};

struct conntab_entry {
    int key, hold;
    struct conntab_addr addr;
    bool refusing;
    enum conntab_state state;
    int64_t start_ms; /* when the current request started: accepted, or the previous one done */
    int64_t extra_ms; /* added to both deadlines (keep-alive: up to the idle timeout) */
    int64_t cut_ms;
};

struct conntab {
    struct conntab_limits lim;
    struct conntab_entry *v;
    size_t n, cap;
    size_t refusing;
};

struct conntab *conntab_new(const struct conntab_limits *lim)
{
    struct conntab *t = xcalloc(1, sizeof(*t));
    t->lim = *lim;
    if (t->lim.request_ms < t->lim.header_ms)
        t->lim.request_ms = t->lim.header_ms;
    return t;
}

void conntab_free(struct conntab *t)
{
    if (t == NULL)
        return;
    free(t->v);
    free(t);
}

static struct conntab_entry *conntab_find(const struct conntab *t, int key)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].key == key)
            return &t->v[i];
    return NULL;
}

/* Removes v[i] (the last entry moves into its place); returns its hold. */
static WUR int conntab_drop(struct conntab *t, size_t i)
{
    int hold = t->v[i].hold;
    if (t->v[i].refusing)
        t->refusing--;
    t->v[i] = t->v[--t->n];
    return hold;
}

size_t conntab_count(const struct conntab *t)
{
    return t->n;
}

size_t conntab_count_addr(const struct conntab *t, const struct conntab_addr *addr)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (!t->v[i].refusing && memcmp(&t->v[i].addr, addr, sizeof(*addr)) == 0)
            n++;
    return n;
}

enum conntab_verdict conntab_check(const struct conntab *t, const struct conntab_addr *addr)
{
    if (t->n - t->refusing >= t->lim.max_total)
        return CONNTAB_OVER_TOTAL;
    if (conntab_count_addr(t, addr) >= t->lim.max_per_addr)
        return CONNTAB_OVER_ADDRESS;
    return CONNTAB_ADMIT;
}

int conntab_add(struct conntab *t, int key, int hold, const struct conntab_addr *addr,
                bool refusing, int64_t now, int *stale, struct err *err)
{
    *stale = -1;
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i].key == key) {
            *stale = conntab_drop(t, i);
            break;
        }
    }
    if (refusing && t->refusing >= t->lim.max_refusing) {
        err_set(err, ERR_TOO_BIG, "%u connections over a cap are being answered already",
                t->lim.max_refusing);
        return -1;
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
    }
    t->v[t->n++] = (struct conntab_entry){
        .key = key,
        .hold = hold,
        .addr = *addr,
        .refusing = refusing,
        .state = CONNTAB_HEADERS,
        .start_ms = now,
    };
    if (refusing)
        t->refusing++;
    return 0;
}

bool conntab_headers(struct conntab *t, int key)
{
    struct conntab_entry *e = conntab_find(t, key);
    if (e == NULL)
        return false;
    if (e->state == CONNTAB_HEADERS)
        e->state = CONNTAB_BODY;
    return e->refusing;
}

void conntab_arrived(struct conntab *t, int key)
{
    struct conntab_entry *e = conntab_find(t, key);
    if (e != NULL && e->state != CONNTAB_CUT)
        e->state = CONNTAB_BUSY;
}

void conntab_completed(struct conntab *t, int key, int64_t now)
{
    struct conntab_entry *e = conntab_find(t, key);
    if (e == NULL || e->state == CONNTAB_CUT)
        return;
    /* A kept-alive connection may idle between requests as long as the server's idle timeout
     * allows, which cannot be told from a slow request: give the next one that much at least. */
    e->state = CONNTAB_HEADERS;
    e->start_ms = now;
    e->extra_ms = t->lim.idle_ms > t->lim.header_ms ? t->lim.idle_ms - t->lim.header_ms : 0;
}

int conntab_remove(struct conntab *t, int key)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].key == key)
            return conntab_drop(t, i);
    return -1;
}

int conntab_take_any(struct conntab *t)
{
    return t->n > 0 ? conntab_drop(t, t->n - 1) : -1;
}

/* When e next needs a sweep, or INT64_MAX. */
static int64_t conntab_due(const struct conntab *t, const struct conntab_entry *e)
{
    switch (e->state) {
    case CONNTAB_HEADERS: return e->start_ms + e->extra_ms + t->lim.header_ms;
    case CONNTAB_BODY: return e->start_ms + e->extra_ms + t->lim.request_ms;
    case CONNTAB_CUT: return e->cut_ms + CONNTAB_REAP_GRACE_MS;
    default: return INT64_MAX;
    }
}

void conntab_sweep(struct conntab *t, int64_t now, struct conntab_sweep *out)
{
    out->n_cut = out->n_close = 0;
    for (size_t i = 0; i < t->n;) {
        struct conntab_entry *e = &t->v[i];
        if (conntab_due(t, e) > now) {
            i++;
        } else if (e->state != CONNTAB_CUT) {
            if (out->n_cut == CONNTAB_SWEEP_MAX)
                break;
            out->cut[out->n_cut++] = e->hold;
            e->state = CONNTAB_CUT;
            e->cut_ms = now;
            i++;
        } else {
            if (out->n_close == CONNTAB_SWEEP_MAX)
                break;
            out->close[out->n_close++] = conntab_drop(t, i); /* v[i] is now another entry */
        }
    }
}

int64_t conntab_next_deadline(const struct conntab *t)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < t->n; i++) {
        int64_t d = conntab_due(t, &t->v[i]);
        if (d < next)
            next = d;
    }
    return next;
}
