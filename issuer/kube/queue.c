/* queue.c -- rate-limited, deduplicating work queue: a hash table of keys, a FIFO, a timer heap. */
#include "kube/queue.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/clock.h"
#include "base/mem.h"

#define QUEUE_NO_HEAP SIZE_MAX
#define QUEUE_TABLE_MIN 16
/* Longest single condvar wait; the loop recomputes the deadline after it. */
#define QUEUE_WAIT_MAX_MS (3600UL * 1000UL)

/* One per tracked key. It is in the FIFO exactly when dirty && !processing. */
struct queue_ent {
    uint64_t hash;
    uint64_t ready_at; /* monotonic ms, valid when heap_idx != QUEUE_NO_HEAP */
    uint64_t seq;      /* tie-break for equal ready_at: earlier schedule first */
    size_t heap_idx;
    struct queue_ent *next; /* FIFO link */
    unsigned failures;
    unsigned char dirty;      /* needs processing */
    unsigned char processing; /* handed out by queue_get, no queue_done yet */
    size_t len;
    char key[];
};

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    unsigned long base_ms, max_ms;
    size_t max_keys;
    int shut;

    /* open addressing, linear probing, backward-shift deletion */
    struct queue_ent **slots;
    size_t nslots; /* power of two */
    size_t count;
    uint64_t sipkey[2];

    struct queue_ent *head, *tail;
    size_t fifo_len;

    struct queue_ent **heap;
    size_t heap_len, heap_cap;
    uint64_t seq;

    double tokens;
    uint64_t tokens_at;
};

/* ---- SipHash-2-4: keys come from the cluster, so the table is keyed against flooding ---- */

#define QUEUE_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define QUEUE_SIPROUND                                                                             \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = QUEUE_ROTL(v1, 13);                                                                   \
        v1 ^= v0;                                                                                  \
        v0 = QUEUE_ROTL(v0, 32);                                                                   \
        v2 += v3;                                                                                  \
        v3 = QUEUE_ROTL(v3, 16);                                                                   \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = QUEUE_ROTL(v3, 21);                                                                   \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = QUEUE_ROTL(v1, 17);                                                                   \
        v1 ^= v2;                                                                                  \
        v2 = QUEUE_ROTL(v2, 32);                                                                   \
    } while (0)

static uint64_t queue_load64_le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t queue_siphash(const uint64_t k[2], const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t v0 = 0x736f6d6570736575ULL ^ k[0];
    uint64_t v1 = 0x646f72616e646f6dULL ^ k[1];
    uint64_t v2 = 0x6c7967656e657261ULL ^ k[0];
    uint64_t v3 = 0x7465646279746573ULL ^ k[1];
    size_t full = len & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = queue_load64_le(p + i);
        v3 ^= m;
        QUEUE_SIPROUND;
        QUEUE_SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        b |= (uint64_t)p[full + i] << (8 * i);
    v3 ^= b;
    QUEUE_SIPROUND;
    QUEUE_SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    QUEUE_SIPROUND;
    QUEUE_SIPROUND;
    QUEUE_SIPROUND;
    QUEUE_SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- time ---- */

static uint64_t queue_add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

unsigned long queue_backoff_ms(unsigned long base_ms, unsigned long max_ms, unsigned failures)
{
    if (base_ms == 0)
        return 0;
    if (failures >= sizeof(unsigned long) * CHAR_BIT - 1 || base_ms > (ULONG_MAX >> failures))
        return max_ms;
    unsigned long d = base_ms << failures;
    return d > max_ms ? max_ms : d;
}

/* ---- hash table ---- */

static size_t queue_slot_home(const struct queue *q, uint64_t h)
{
    return (size_t)h & (q->nslots - 1);
}

/* Index of key's slot, or of the empty slot where it would go. */
static size_t queue_table_find(const struct queue *q, const char *key, size_t len, uint64_t h)
{
    size_t i = queue_slot_home(q, h);
    for (;;) {
        const struct queue_ent *e = q->slots[i];
        if (!e || (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0))
            return i;
        i = (i + 1) & (q->nslots - 1);
    }
}

static struct queue_ent *queue_table_get(const struct queue *q, const char *key, size_t len)
{
    uint64_t h = queue_siphash(q->sipkey, key, len);
    return q->slots[queue_table_find(q, key, len, h)];
}

static void queue_table_grow(struct queue *q)
{
    size_t old_n = q->nslots;
    struct queue_ent **old = q->slots;
    q->nslots = old_n * 2;
    q->slots = xcalloc(q->nslots, sizeof(*q->slots));
    for (size_t i = 0; i < old_n; i++) {
        struct queue_ent *e = old[i];
        if (!e)
            continue;
        size_t j = queue_slot_home(q, e->hash);
        while (q->slots[j])
            j = (j + 1) & (q->nslots - 1);
        q->slots[j] = e;
    }
    free(old);
}

static void queue_table_remove(struct queue *q, const struct queue_ent *e)
{
    size_t mask = q->nslots - 1;
    size_t i = queue_table_find(q, e->key, e->len, e->hash);
    /* Shift later members of the probe run back so lookups never stop at a hole. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        struct queue_ent *n = q->slots[j];
        if (!n)
            break;
        size_t k = queue_slot_home(q, n->hash);
        /* n may move to i only if its home is not cyclically within (i, j]. */
        int in_range = i <= j ? (k > i && k <= j) : (k > i || k <= j);
        if (!in_range) {
            q->slots[i] = n;
            i = j;
        }
    }
    q->slots[i] = NULL;
    q->count--;
}

/* ---- timer heap, ordered by (ready_at, seq) ---- */

static int queue_heap_less(const struct queue_ent *a, const struct queue_ent *b)
{
    return a->ready_at != b->ready_at ? a->ready_at < b->ready_at : a->seq < b->seq;
}

static void queue_heap_set(struct queue *q, size_t i, struct queue_ent *e)
{
    q->heap[i] = e;
    e->heap_idx = i;
}

static void queue_heap_up(struct queue *q, size_t i)
{
    struct queue_ent *e = q->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!queue_heap_less(e, q->heap[p]))
            break;
        queue_heap_set(q, i, q->heap[p]);
        i = p;
    }
    queue_heap_set(q, i, e);
}

static void queue_heap_down(struct queue *q, size_t i)
{
    struct queue_ent *e = q->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->heap_len)
            break;
        if (c + 1 < q->heap_len && queue_heap_less(q->heap[c + 1], q->heap[c]))
            c++;
        if (!queue_heap_less(q->heap[c], e))
            break;
        queue_heap_set(q, i, q->heap[c]);
        i = c;
    }
    queue_heap_set(q, i, e);
}

static void queue_heap_push(struct queue *q, struct queue_ent *e)
{
    if (q->heap_len == q->heap_cap) {
        q->heap_cap = q->heap_cap ? q->heap_cap * 2 : 16;
        q->heap = xrealloc(q->heap, q->heap_cap * sizeof(*q->heap));
    }
    q->heap[q->heap_len++] = e;
    queue_heap_up(q, q->heap_len - 1);
}

static struct queue_ent *queue_heap_pop(struct queue *q)
{
    struct queue_ent *top = q->heap[0];
    top->heap_idx = QUEUE_NO_HEAP;
    q->heap_len--;
    if (q->heap_len > 0) {
        q->heap[0] = q->heap[q->heap_len];
        queue_heap_down(q, 0);
    }
    return top;
}

/* ---- entries ---- */

static void queue_ent_release_if_idle(struct queue *q, struct queue_ent *e)
{
    if (e->dirty || e->processing || e->heap_idx != QUEUE_NO_HEAP || e->failures > 0)
        return;
    queue_table_remove(q, e);
    free(e);
}

static int queue_key_check(const char *key, size_t *len, struct err *err)
{
    if (!key || !key[0]) {
        err_set(err, ERR_INVALID, "work queue key is empty");
        return -1;
    }
    size_t n = strnlen(key, QUEUE_KEY_MAX + 1);
    if (n > QUEUE_KEY_MAX) {
        err_set(err, ERR_TOO_BIG,
                "work queue key \"%.64s...\" is longer than QUEUE_KEY_MAX (%d bytes)", key,
                QUEUE_KEY_MAX);
        return -1;
    }
    *len = n;
    return 0;
}

/* Finds key's entry, creating it when there is room under max_keys. */
static struct queue_ent *queue_ent_get_or_create(struct queue *q, const char *key, size_t len,
                                                 struct err *err)
{
    uint64_t h = queue_siphash(q->sipkey, key, len);
    size_t i = queue_table_find(q, key, len, h);
    if (q->slots[i])
        return q->slots[i];
    if (q->count >= q->max_keys) {
        err_set(err, ERR_TOO_BIG,
                "work queue already tracks max_keys (%zu) keys; not adding \"%s\"", q->max_keys,
                key);
        return NULL;
    }
    if ((q->count + 1) * 2 > q->nslots) {
        queue_table_grow(q);
        i = queue_table_find(q, key, len, h);
    }
    struct queue_ent *e = xcalloc(1, sizeof(*e) + len + 1);
    e->hash = h;
    e->heap_idx = QUEUE_NO_HEAP;
    e->len = len;
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    q->slots[i] = e;
    q->count++;
    return e;
}

static void queue_fifo_push(struct queue *q, struct queue_ent *e)
{
    e->next = NULL;
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    q->fifo_len++;
}

static struct queue_ent *queue_fifo_pop(struct queue *q)
{
    struct queue_ent *e = q->head;
    q->head = e->next;
    if (!q->head)
        q->tail = NULL;
    e->next = NULL;
    q->fifo_len--;
    return e;
}

/* client-go's Add: dedup while waiting, defer while processing. */
static void queue_ent_add_now(struct queue *q, struct queue_ent *e)
{
    if (e->dirty)
        return;
    e->dirty = 1;
    if (e->processing)
        return;
    queue_fifo_push(q, e);
    pthread_cond_signal(&q->cond);
}

static void queue_ent_add_at(struct queue *q, struct queue_ent *e, uint64_t ready_at)
{
    if (e->heap_idx != QUEUE_NO_HEAP) {
        if (ready_at < e->ready_at) {
            e->ready_at = ready_at;
            queue_heap_up(q, e->heap_idx);
        }
    } else {
        e->ready_at = ready_at;
        e->seq = q->seq++;
        queue_heap_push(q, e);
    }
    /* Blocked getters wait for the old earliest time; let them recompute. */
    if (q->heap[0] == e)
        pthread_cond_broadcast(&q->cond);
}

static void queue_promote_due(struct queue *q, uint64_t now)
{
    while (q->heap_len > 0 && q->heap[0]->ready_at <= now)
        queue_ent_add_now(q, queue_heap_pop(q));
}

/* Delay (ms) from the global token bucket, consuming one token (golang.org/x/time/rate's
 * Reserve: tokens may go negative and the caller waits until they are back to zero). */
static uint64_t queue_bucket_reserve(struct queue *q, uint64_t now)
{
    double elapsed = (double)(now - q->tokens_at) / 1000.0;
    q->tokens_at = now;
    q->tokens += elapsed * QUEUE_BUCKET_QPS;
    if (q->tokens > QUEUE_BUCKET_BURST)
        q->tokens = QUEUE_BUCKET_BURST;
    q->tokens -= 1.0;
    if (q->tokens >= 0)
        return 0;
    return (uint64_t)(-q->tokens * 1000.0 / QUEUE_BUCKET_QPS + 0.999);
}

/* ---- public ---- */

struct queue *queue_new(unsigned long base_ms, unsigned long max_ms, size_t max_keys)
{
    if (max_keys == 0 || base_ms > max_ms)
        return NULL;
    struct queue *q = xcalloc(1, sizeof(*q));
    if (clock_cond_init(&q->cond) != 0) {
        free(q);
        return NULL;
    }
    if (pthread_mutex_init(&q->mu, NULL) != 0) {
        pthread_cond_destroy(&q->cond);
        free(q);
        return NULL;
    }
    q->base_ms = base_ms;
    q->max_ms = max_ms;
    q->max_keys = max_keys;
    q->nslots = QUEUE_TABLE_MIN;
    q->slots = xcalloc(q->nslots, sizeof(*q->slots));
    if (getrandom(q->sipkey, sizeof(q->sipkey), 0) != (ssize_t)sizeof(q->sipkey)) {
        /* No entropy (very old kernel): still a working table, just not flood-resistant. */
        q->sipkey[0] = (uint64_t)clock_mono_ms() ^ (uint64_t)(uintptr_t)q;
        q->sipkey[1] = (uint64_t)(uintptr_t)&q ^ 0x9e3779b97f4a7c15ULL;
    }
    q->tokens = QUEUE_BUCKET_BURST;
    q->tokens_at = (uint64_t)clock_mono_ms();
    return q;
}

void queue_free(struct queue *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nslots; i++)
        free(q->slots[i]);
    free(q->slots);
    free(q->heap);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

/* delay_ms == 0: now; rate_limited: count a failure and compute the delay. */
static int queue_add_common(struct queue *q, const char *key, unsigned long delay_ms,
                            int rate_limited, struct err *err)
{
    size_t len = 0;
    if (queue_key_check(key, &len, err) != 0)
        return -1;
    pthread_mutex_lock(&q->mu);
    if (q->shut) {
        pthread_mutex_unlock(&q->mu);
        return 0;
    }
    struct queue_ent *e = queue_ent_get_or_create(q, key, len, err);
    if (!e) {
        pthread_mutex_unlock(&q->mu);
        return -1;
    }
    uint64_t now = (uint64_t)clock_mono_ms();
    if (rate_limited) {
        uint64_t item = queue_backoff_ms(q->base_ms, q->max_ms, e->failures);
        if (e->failures < UINT_MAX)
            e->failures++;
        uint64_t bucket = queue_bucket_reserve(q, now);
        delay_ms = (unsigned long)(item > bucket ? item : bucket);
    }
    if (delay_ms == 0)
        queue_ent_add_now(q, e);
    else
        queue_ent_add_at(q, e, queue_add_sat(now, delay_ms));
    pthread_mutex_unlock(&q->mu);
    return 0;
}

int queue_add(struct queue *q, const char *key, struct err *err)
{
    return queue_add_common(q, key, 0, 0, err);
}

int queue_add_after(struct queue *q, const char *key, unsigned long delay_ms, struct err *err)
{
    return queue_add_common(q, key, delay_ms, 0, err);
}

int queue_add_rate_limited(struct queue *q, const char *key, struct err *err)
{
    return queue_add_common(q, key, 0, 1, err);
}

void queue_forget(struct queue *q, const char *key)
{
    size_t len = 0;
    if (queue_key_check(key, &len, NULL) != 0)
        return;
    pthread_mutex_lock(&q->mu);
    struct queue_ent *e = queue_table_get(q, key, len);
    if (e) {
        e->failures = 0;
        queue_ent_release_if_idle(q, e);
    }
    pthread_mutex_unlock(&q->mu);
}

unsigned queue_num_requeues(struct queue *q, const char *key)
{
    size_t len = 0;
    if (queue_key_check(key, &len, NULL) != 0)
        return 0;
    pthread_mutex_lock(&q->mu);
    const struct queue_ent *e = queue_table_get(q, key, len);
    unsigned n = e ? e->failures : 0;
    pthread_mutex_unlock(&q->mu);
    return n;
}

int queue_get(struct queue *q, char *key_out, size_t len)
{
    if (!key_out || len < QUEUE_KEY_SIZE)
        return -1;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (q->shut) {
            pthread_mutex_unlock(&q->mu);
            return 0;
        }
        uint64_t now = (uint64_t)clock_mono_ms();
        queue_promote_due(q, now);
        if (q->head)
            break;
        if (q->heap_len == 0) {
            pthread_cond_wait(&q->cond, &q->mu);
            continue;
        }
        uint64_t wait = q->heap[0]->ready_at - now;
        if (wait > QUEUE_WAIT_MAX_MS)
            wait = QUEUE_WAIT_MAX_MS;
        struct timespec ts = clock_deadline((int64_t)wait);
        int rc = pthread_cond_timedwait(&q->cond, &q->mu, &ts);
        (void)rc; /* ETIMEDOUT or a wake-up: either way, look again */
    }
    struct queue_ent *e = queue_fifo_pop(q);
    e->dirty = 0;
    e->processing = 1;
    memcpy(key_out, e->key, e->len + 1);
    pthread_mutex_unlock(&q->mu);
    return 1;
}

void queue_done(struct queue *q, const char *key)
{
    size_t len = 0;
    if (queue_key_check(key, &len, NULL) != 0)
        return;
    pthread_mutex_lock(&q->mu);
    struct queue_ent *e = queue_table_get(q, key, len);
    if (e && e->processing) {
        e->processing = 0;
        if (e->dirty && !q->shut) {
            queue_fifo_push(q, e);
            pthread_cond_signal(&q->cond);
        } else {
            /* After shutdown nothing will be handed out again, so drop the re-add. */
            e->dirty = 0;
            queue_ent_release_if_idle(q, e);
        }
    }
    pthread_mutex_unlock(&q->mu);
}

size_t queue_len(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    if (!q->shut)
        queue_promote_due(q, (uint64_t)clock_mono_ms());
    size_t n = q->fifo_len;
    pthread_mutex_unlock(&q->mu);
    return n;
}

size_t queue_tracked(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->count;
    pthread_mutex_unlock(&q->mu);
    return n;
}

void queue_shutdown(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->shut = 1;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mu);
}
