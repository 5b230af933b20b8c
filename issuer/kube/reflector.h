/* reflector.h -- keeps one Kubernetes collection mirrored through list + watch on its own thread,
 * with client-go's recovery rules (contract.md §5.4): paged list at RV 0, watch from the list RV
 * with bookmarks, resume from the last RV after a close, relist after 410 (RV=last, then ""),
 * Retry-After on 429, exponential backoff with jitter on other failures. */
#ifndef EMBER_REFLECTOR_H
#define EMBER_REFLECTOR_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "base/err.h"
#include "kube/kube.h"
#include "kube/watch.h"

#define REFLECTOR_MAX_OBJECTS 1000000 /* objects mirrored; a list with more fails (too big) */

/* Callbacks, all called on the reflector's thread, one at a time. obj is borrowed for the call. */
struct reflector_ops {
    void (*upsert)(void *ud, const cJSON *obj); /* ADDED/MODIFIED, and every object of a list */
    void (*remove)(void *ud, const cJSON *obj); /* DELETED (the object), or absent from a relist
                                                   (only metadata.namespace and name) */
    void (*synced)(void *ud);                   /* after each complete list; may be NULL */
};

/* Every timing is a knob so tests run in seconds. Zero fields take the defaults shown. */
struct reflector_opts {
    long page_limit;        /* list page size, 500 */
    long watch_min_s;       /* watch timeoutSeconds drawn in [min, max]: 300 */
    long watch_max_s;       /* 600 */
    long backoff_base_ms;   /* 800 */
    long backoff_cap_ms;    /* 30000 */
    long backoff_reset_ms;  /* quiet period that resets the backoff: 120000 */
    size_t max_event_bytes; /* one watch event, WATCH_MAX_EVENT_BYTES_DEFAULT */
    const char *name;       /* for logs, default the list path */
};

struct reflector_stats {
    unsigned long lists;          /* complete lists (first one included) */
    unsigned long relists;        /* complete lists after the first */
    unsigned long list_pages;     /* list requests answered 200 */
    unsigned long watches;        /* watch requests answered 200 */
    unsigned long watch_restarts; /* watches re-opened from the last RV without a relist */
    unsigned long events;         /* ADDED/MODIFIED/DELETED applied */
    unsigned long bookmarks;
    unsigned long expired;      /* 410s (HTTP or ERROR event) seen */
    unsigned long throttled;    /* 429s waited out */
    unsigned long errors;       /* other failures (backed off) */
    size_t objects;             /* objects mirrored now */
    char last_rv[WATCH_RV_MAX]; /* last resourceVersion seen */
};

struct reflector; /* opaque */

/* Starts mirroring list_path (a collection, e.g. /apis/cert-manager.io/v1/certificaterequests,
 * may carry a labelSelector query) on a new thread. k, ops and ud must outlive the reflector;
 * o may be NULL (defaults) and is copied. NULL with an error when the thread cannot start. */
struct reflector *reflector_start(struct kube *k, const char *list_path,
                                  const struct reflector_ops *ops, void *ud,
                                  const struct reflector_opts *o, struct err *err) WUR;
/* Stops the thread (transfers are aborted within about a second), joins it and frees r. No
 * callback runs after it returns. NULL is a no-op. */
void reflector_stop(struct reflector *r);
/* A snapshot of the counters. Thread-safe. */
void reflector_get_stats(struct reflector *r, struct reflector_stats *out);
/* True once the first list completed. Thread-safe. */
bool reflector_has_synced(struct reflector *r);

#endif
