/* watch.h -- splits a Kubernetes watch response body into events, whatever the chunking.
 * Pure: no I/O, no logging, no globals. A reader is not thread-safe; separate readers are. */
#ifndef EMBER_WATCH_H
#define EMBER_WATCH_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "base/err.h"

/* A sensible max_event_bytes for watch_reader_new(): the API server refuses objects past
 * ~1.5 MiB in etcd and requests past 3 MiB, so one event is far below this. */
#define WATCH_MAX_EVENT_BYTES_DEFAULT (4u * 1024 * 1024)
#define WATCH_RV_MAX 128      /* object.metadata.resourceVersion bytes, NUL included */
#define WATCH_REASON_MAX 64   /* Status reason bytes kept, NUL included */
#define WATCH_MESSAGE_MAX 512 /* Status message bytes kept, NUL included */

struct watch_reader; /* opaque */

enum watch_type { WATCH_ADDED, WATCH_MODIFIED, WATCH_DELETED, WATCH_BOOKMARK, WATCH_ERROR };

struct watch_event {
    enum watch_type type;
    cJSON *object; /* owned by the caller: cJSON_Delete it; always a JSON object */
    /* object.metadata.resourceVersion, "" when absent; never holds a control character */
    char resource_version[WATCH_RV_MAX];
    /* For ERROR (object is a Status): "code" (e.g. 410) or 0 when absent or not an HTTP code;
     * 0 for every other type. */
    int error_code;
    /* For ERROR: Status "reason" (Expired, Gone, ...) and "message", cut to fit on a UTF-8
     * boundary with control characters replaced by '?'; "" when absent or for other types. */
    char error_reason[WATCH_REASON_MAX];
    char error_message[WATCH_MESSAGE_MAX];
};

/* A reader whose events may each be at most max_event_bytes long (from '{' to the matching
 * '}'). Never NULL (aborts on out-of-memory). */
struct watch_reader *watch_reader_new(size_t max_event_bytes);

/* Frees the reader and what it holds; NULL is a no-op. Events already returned stay valid. */
void watch_reader_free(struct watch_reader *r);

/* Appends len bytes of the body (data is copied; it may be NULL when len is 0). Events need
 * not line up with calls: one may span many calls and one call may hold many events. Returns
 * 0, or -1 with ERR_TOO_BIG (naming max_event_bytes) once an event in progress passes
 * max_event_bytes. Bytes that cannot start an event are not an error here: the events before
 * them are still returned, then watch_reader_next() fails. Once the reader is broken (any -1
 * from either function) every later call fails with the same error.
 * Drain with watch_reader_next() after each feed: the reader then holds at most
 * max_event_bytes + len bytes. Amortised O(len): earlier bytes are never rescanned. */
int watch_reader_feed(struct watch_reader *r, const char *data, size_t len, struct err *err) WUR;

/* Takes the next complete event: returns 1 and fills *ev (the caller owns ev->object), 0 when
 * no event is complete yet (*ev is zeroed), or -1 (*ev zeroed, reader broken) with
 * ERR_INVALID when the event is not JSON, not an object, lacks a known "type" or an "object"
 * object, has a metadata.resourceVersion that is not a string, is longer than WATCH_RV_MAX-1
 * bytes or holds a control character, or when something other than white space sits
 * between events; ERR_TOO_BIG after a failed feed. */
int watch_reader_next(struct watch_reader *r, struct watch_event *ev, struct err *err) WUR;

/* Bytes held (complete events not yet taken plus the event in progress); 0 once broken. */
size_t watch_reader_buffered(const struct watch_reader *r);

/* Static name of a type as it appears on the wire ("ADDED", ...), "?" when out of range. */
const char *watch_type_name(enum watch_type type);

#endif
