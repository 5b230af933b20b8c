/* queue.h -- the controller's rate-limited work queue of "namespace/name" keys (client-go's
 * workqueue). */
#ifndef EMBER_QUEUE_H
#define EMBER_QUEUE_H

#include <stddef.h>

#include "base/err.h"

/* Longest key in bytes, not counting the NUL ("namespace/name": 63 + 1 + 253 fits easily). */
#define QUEUE_KEY_MAX 512
/* Size of the buffer queue_get() needs. */
#define QUEUE_KEY_SIZE (QUEUE_KEY_MAX + 1)

/* The global token bucket queue_add_rate_limited() also applies, on top of the per-key
 * backoff (client-go's DefaultControllerRateLimiter: 10 qps, burst 100). */
#define QUEUE_BUCKET_QPS 10
#define QUEUE_BUCKET_BURST 100

/* Semantics, as client-go's workqueue:
 * - a key is waiting at most once: adding a waiting key does nothing (dedup);
 * - a key handed out by queue_get() is "processing" until queue_done(); adding it meanwhile
 *   marks it dirty and it is queued again at queue_done(), so no two workers ever hold the
 *   same key at once;
 * - waiting keys come out in the order they were first added (FIFO);
 * - at most max_keys distinct keys are tracked at any time (waiting, processing, delayed, or
 *   with a failure counter); adds that would track one more fail with ERR_TOO_BIG.
 * Shutdown does NOT drain: after queue_shutdown() every queue_get() returns 0 at once, even if
 * keys are still waiting, and adds are ignored. Workers finish the key they hold (and may
 * call queue_done()/queue_forget() on it). This differs from client-go's ShutDown, which
 * hands out the keys already waiting: Ember shuts down on SIGTERM or lost leadership, and the
 * next leader relists everything anyway (level-triggered), so finishing quickly is better.
 * Every function is thread-safe (one mutex, one condition variable on CLOCK_MONOTONIC). */
struct queue;

/* Creates a queue. Rate-limited adds wait base_ms * 2^failures, capped at max_ms
 * (client-go's default is 5 ms and 1000 s). Returns NULL when max_keys is 0 or base_ms >
 * max_ms (programming errors) or when the mutex/condvar cannot be set up. Free with
 * queue_free(). */
struct queue *queue_new(unsigned long base_ms, unsigned long max_ms, size_t max_keys);

/* Frees the queue and every key it tracks. No thread may be using it any more (call
 * queue_shutdown() and join the workers first). q may be NULL. */
void queue_free(struct queue *q);

/* Adds key now unless it is already waiting. Returns 0 (also when deduplicated, or ignored
 * after shutdown), or -1 with ERR_INVALID (NULL or empty key), ERR_TOO_BIG (key longer than
 * QUEUE_KEY_MAX bytes, or max_keys keys already tracked). key is copied. */
int queue_add(struct queue *q, const char *key, struct err *err) WUR;

/* Adds key once delay_ms milliseconds have passed (0: now, as queue_add()). If key is
 * already scheduled, the sooner of the two times wins. Returns as queue_add(). */
int queue_add_after(struct queue *q, const char *key, unsigned long delay_ms, struct err *err) WUR;

/* Counts one more failure for key and adds it after the larger of its backoff
 * (queue_backoff_ms() of the failures counted before this one) and the global bucket's
 * delay. Returns as queue_add(). */
int queue_add_rate_limited(struct queue *q, const char *key, struct err *err) WUR;

/* Resets key's failure counter (call it when key was processed successfully or is gone), and
 * stops tracking key if it is not waiting, processing or scheduled. Unknown keys: no-op. */
void queue_forget(struct queue *q, const char *key);

/* Failures counted for key by queue_add_rate_limited() since the last queue_forget(). */
unsigned queue_num_requeues(struct queue *q, const char *key);

/* Blocks until a key is ready, copies it into key_out (len >= QUEUE_KEY_SIZE) and marks it
 * processing: returns 1. Returns 0 once the queue is shut down (see above). Returns -1 without
 * taking a key when key_out is NULL or len < QUEUE_KEY_SIZE (a programming error). Scheduled
 * keys become ready here: the wait ends at the earliest scheduled time. */
int queue_get(struct queue *q, char *key_out, size_t len) WUR;

/* Ends processing of key (from queue_get()). If key was added while processing, it is
 * queued again. Keys not processing: no-op. */
void queue_done(struct queue *q, const char *key);

/* Keys waiting and ready now (for the ember_queue_depth metric); excludes keys being
 * processed and keys scheduled for later. */
size_t queue_len(struct queue *q);

/* Number of distinct keys tracked (waiting, processing, scheduled, or with failures). */
size_t queue_tracked(struct queue *q);

/* Stops the queue: wakes every blocked queue_get(), which returns 0, as do later calls;
 * later adds are ignored. Idempotent. */
void queue_shutdown(struct queue *q);

/* Pure: base_ms * 2^failures, capped at max_ms (and at max_ms when it would overflow). */
unsigned long queue_backoff_ms(unsigned long base_ms, unsigned long max_ms, unsigned failures);

#endif
