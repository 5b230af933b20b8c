/* test_queue.c -- the controller work queue: dedup, FIFO, processing/dirty, delays, backoff, cap.
 */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "base/err.h"
#include "kube/queue.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Takes the next key, which must be expected, and marks it done. */
static void get_expect(struct queue *q, const char *expected)
{
    char key[QUEUE_KEY_SIZE];
    assert_int_equal(queue_get(q, key, sizeof(key)), 1);
    assert_string_equal(key, expected);
    queue_done(q, key);
}

static void add_ok(struct queue *q, const char *key)
{
    struct err err = {0};
    assert_int_equal(queue_add(q, key, &err), 0);
}

static void test_queue_new_rejects_bad_arguments(void **state)
{
    (void)state;
    assert_null(queue_new(5, 1000, 0));
    assert_null(queue_new(2000, 1000, 10));
    struct queue *q = queue_new(5, 1000000, 10);
    assert_non_null(q);
    queue_free(q);
    queue_free(NULL);
}

static void test_queue_dedup(void **state)
{
    (void)state;
    struct queue *q = queue_new(5, 1000, 100);
    add_ok(q, "ns/a");
    add_ok(q, "ns/a");
    add_ok(q, "ns/b");
    add_ok(q, "ns/a");
    assert_int_equal(queue_len(q), 2);
    assert_int_equal(queue_tracked(q), 2);
    get_expect(q, "ns/a");
    get_expect(q, "ns/b");
    assert_int_equal(queue_len(q), 0);
    /* Done and not re-added: nothing tracked any more. */
    assert_int_equal(queue_tracked(q), 0);
    queue_free(q);
}

static void test_queue_fifo_order(void **state)
{
    (void)state;
    struct queue *q = queue_new(5, 1000, 1000);
    char key[32];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "ns/k%03d", i);
        add_ok(q, key);
    }
    /* Re-adding a waiting key keeps its original place. */
    add_ok(q, "ns/k000");
    assert_int_equal(queue_len(q), 200);
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "ns/k%03d", i);
        get_expect(q, key);
    }
    queue_free(q);
}

static void test_queue_readd_while_processing(void **state)
{
    (void)state;
    struct queue *q = queue_new(5, 1000, 100);
    char key[QUEUE_KEY_SIZE];
    add_ok(q, "ns/a");
    assert_int_equal(queue_get(q, key, sizeof(key)), 1);
    assert_string_equal(key, "ns/a");
    /* Added while processing: marked dirty, not handed out to a second worker. */
    add_ok(q, "ns/a");
    add_ok(q, "ns/a");
    assert_int_equal(queue_len(q), 0);
    add_ok(q, "ns/b");
    assert_int_equal(queue_len(q), 1);
    queue_done(q, "ns/a");
    /* Requeued once, behind b. */
    assert_int_equal(queue_len(q), 2);
    get_expect(q, "ns/b");
    get_expect(q, "ns/a");
    assert_int_equal(queue_len(q), 0);
    /* queue_done of a key not processing is harmless. */
    queue_done(q, "ns/a");
    queue_done(q, "ns/never");
    assert_int_equal(queue_tracked(q), 0);
    queue_free(q);
}

/* ---- 4 workers over 10,000 adds of 100 keys ---- */

#define STRESS_KEYS 100
#define STRESS_ADDS 10000
#define STRESS_WORKERS 4

struct stress {
    struct queue *q;
    atomic_int held[STRESS_KEYS];
    atomic_long add_seq[STRESS_KEYS];       /* seq of the last add, stored before queue_add */
    atomic_long processed_seq[STRESS_KEYS]; /* add_seq seen at the start of the latest get */
    atomic_int double_held;
    atomic_long taken;
};

static void *stress_worker(void *arg)
{
    struct stress *s = arg;
    char key[QUEUE_KEY_SIZE];
    while (queue_get(s->q, key, sizeof(key)) == 1) {
        int k = -1;
        if (sscanf(key, "ns/k%d", &k) != 1 || k < 0 || k >= STRESS_KEYS) {
            atomic_store(&s->double_held, 2);
            queue_done(s->q, key);
            continue;
        }
        if (atomic_exchange(&s->held[k], 1) != 0)
            atomic_store(&s->double_held, 1);
        long seen = atomic_load(&s->add_seq[k]);
        /* Hold the key a little so a second holder would overlap. */
        for (int i = 0; i < 50; i++)
            sched_yield();
        atomic_store(&s->processed_seq[k], seen);
        atomic_fetch_add(&s->taken, 1);
        atomic_store(&s->held[k], 0);
        queue_done(s->q, key);
    }
    return NULL;
}

static void test_queue_workers_never_share_a_key(void **state)
{
    (void)state;
    static struct stress s;
    memset(&s, 0, sizeof(s));
    s.q = queue_new(5, 1000, STRESS_KEYS);
    pthread_t th[STRESS_WORKERS];
    for (int i = 0; i < STRESS_WORKERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, stress_worker, &s), 0);
    unsigned rnd = 12345;
    char key[32];
    for (long n = 1; n <= STRESS_ADDS; n++) {
        rnd = rnd * 1103515245u + 12345u;
        int k = (int)((rnd >> 16) % STRESS_KEYS);
        atomic_store(&s.add_seq[k], n);
        snprintf(key, sizeof(key), "ns/k%d", k);
        add_ok(s.q, key);
        if (n % 500 == 0)
            sched_yield();
    }
    /* Every key's last add must be followed by a get that saw it. */
    uint64_t deadline = mono_ms() + 1500;
    int settled = 0;
    while (!settled && mono_ms() < deadline) {
        settled = 1;
        for (int k = 0; k < STRESS_KEYS; k++)
            if (atomic_load(&s.processed_seq[k]) != atomic_load(&s.add_seq[k]))
                settled = 0;
        if (!settled)
            sleep_ms(1);
    }
    queue_shutdown(s.q);
    for (int i = 0; i < STRESS_WORKERS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(atomic_load(&s.double_held), 0);
    for (int k = 0; k < STRESS_KEYS; k++)
        assert_int_equal(atomic_load(&s.processed_seq[k]), atomic_load(&s.add_seq[k]));
    assert_true(atomic_load(&s.taken) >= STRESS_KEYS);
    assert_true(atomic_load(&s.taken) <= STRESS_ADDS);
    assert_int_equal(queue_len(s.q), 0);
    queue_free(s.q);
}

/* ---- delays ---- */

static void test_queue_add_after_order(void **state)
{
    (void)state;
    struct queue *q = queue_new(5, 1000, 100);
    struct err err = {0};
    uint64_t t0 = mono_ms();
    assert_int_equal(queue_add_after(q, "ns/late", 60, &err), 0);
    assert_int_equal(queue_add_after(q, "ns/early", 20, &err), 0);
    assert_int_equal(queue_add_after(q, "ns/middle", 40, &err), 0);
    /* Not ready yet: not counted as waiting. */
    assert_int_equal(queue_len(q), 0);
    assert_int_equal(queue_tracked(q), 3);
    get_expect(q, "ns/early");
    assert_true(mono_ms() - t0 >= 20);
    get_expect(q, "ns/middle");
    assert_true(mono_ms() - t0 >= 40);
    get_expect(q, "ns/late");
    assert_true(mono_ms() - t0 >= 60);
    /* A zero delay is an immediate add. */
    assert_int_equal(queue_add_after(q, "ns/now", 0, &err), 0);
    assert_int_equal(queue_len(q), 1);
    get_expect(q, "ns/now");
    queue_free(q);
}

static void test_queue_add_after_sooner_wins(void **state)
{
    (void)state;
    struct queue *q = queue_new(5, 1000, 100);
    struct err err = {0};
    uint64_t t0 = mono_ms();
    assert_int_equal(queue_add_after(q, "ns/a", 5000, &err), 0);
    assert_int_equal(queue_add_after(q, "ns/b", 40, &err), 0);
    /* Sooner time for a wins over its 5 s. */
    assert_int_equal(queue_add_after(q, "ns/a", 20, &err), 0);
    /* A later time for b does not postpone it. */
    assert_int_equal(queue_add_after(q, "ns/b", 5000, &err), 0);
    assert_int_equal(queue_tracked(q), 2);
    get_expect(q, "ns/a");
    get_expect(q, "ns/b");
    assert_true(mono_ms() - t0 < 2000);
    /* Both fired once: nothing left scheduled or tracked. */
    assert_int_equal(queue_tracked(q), 0);
    queue_free(q);
}

struct getter {
    struct queue *q;
    int rc;
    char key[QUEUE_KEY_SIZE];
};

static void *getter_main(void *arg)
{
    struct getter *g = arg;
    g->rc = queue_get(g->q, g->key, sizeof(g->key));
    return NULL;
}

static void test_queue_add_after_wakes_blocked_getter(void **state)
{
    (void)state;
    /* A getter already blocked with no timer must notice a newly scheduled key. */
    struct queue *q = queue_new(5, 1000, 100);
    struct getter g = {.q = q, .rc = -9};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, getter_main, &g), 0);
    sleep_ms(10);
    struct err err = {0};
    assert_int_equal(queue_add_after(q, "ns/x", 5000, &err), 0);
    assert_int_equal(queue_add_after(q, "ns/y", 20, &err), 0);
    /* Fail, rather than hang, if the getter sleeps on through y's time. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    int rc = pthread_timedjoin_np(th, NULL, &until);
    if (rc != 0) {
        queue_shutdown(q);
        assert_int_equal(pthread_join(th, NULL), 0);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(g.rc, 1);
    assert_string_equal(g.key, "ns/y");
    queue_free(q);
}

/* ---- rate limiting ---- */

static void test_queue_backoff_doubles_and_caps(void **state)
{
    (void)state;
    assert_int_equal(queue_backoff_ms(5, 1000000, 0), 5);
    assert_int_equal(queue_backoff_ms(5, 1000000, 1), 10);
    assert_int_equal(queue_backoff_ms(5, 1000000, 2), 20);
    assert_int_equal(queue_backoff_ms(5, 1000000, 10), 5120);
    assert_int_equal(queue_backoff_ms(5, 1000000, 17), 655360);
    assert_int_equal(queue_backoff_ms(5, 1000000, 18), 1000000);
    assert_int_equal(queue_backoff_ms(5, 1000000, 62), 1000000);
    assert_int_equal(queue_backoff_ms(5, 1000000, 63), 1000000);
    assert_int_equal(queue_backoff_ms(5, 1000000, 4000000000u), 1000000);
    assert_int_equal(queue_backoff_ms(0, 1000, 7), 0);
}

/* Takes key, checking it became ready no sooner than min_ms after start. */
static void get_after(struct queue *q, const char *expected, uint64_t start, uint64_t min_ms)
{
    char key[QUEUE_KEY_SIZE];
    assert_int_equal(queue_get(q, key, sizeof(key)), 1);
    uint64_t took = mono_ms() - start;
    assert_string_equal(key, expected);
    assert_true(took >= min_ms);
    assert_true(took < min_ms + 500);
    queue_done(q, key);
}

static void test_queue_rate_limited_backoff_and_forget(void **state)
{
    (void)state;
    struct queue *q = queue_new(10, 40, 100);
    struct err err = {0};
    unsigned long expect[] = {10, 20, 40, 40};
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(queue_num_requeues(q, "ns/r"), i);
        uint64_t t0 = mono_ms();
        assert_int_equal(queue_add_rate_limited(q, "ns/r", &err), 0);
        assert_int_equal(queue_num_requeues(q, "ns/r"), i + 1);
        get_after(q, "ns/r", t0, expect[i]);
    }
    /* The failure counter keeps the key tracked after done. */
    assert_int_equal(queue_tracked(q), 1);
    queue_forget(q, "ns/r");
    assert_int_equal(queue_num_requeues(q, "ns/r"), 0);
    assert_int_equal(queue_tracked(q), 0);
    /* Back to the base delay. */
    uint64_t t0 = mono_ms();
    assert_int_equal(queue_add_rate_limited(q, "ns/r", &err), 0);
    char key[QUEUE_KEY_SIZE];
    assert_int_equal(queue_get(q, key, sizeof(key)), 1);
    assert_true(mono_ms() - t0 >= 10);
    assert_true(mono_ms() - t0 < 40);
    queue_done(q, key);
    /* Counters are per key. */
    assert_int_equal(queue_num_requeues(q, "ns/other"), 0);
    queue_forget(q, "ns/unknown");
    queue_free(q);
}

static void test_queue_rate_limited_global_bucket(void **state)
{
    (void)state;
    /* The first QUEUE_BUCKET_BURST failures pass at the per-key delay; the next waits for a
     * token (1/QUEUE_BUCKET_QPS s). */
    struct queue *q = queue_new(1, 1000, 1000);
    struct err err = {0};
    char key[QUEUE_KEY_SIZE];
    uint64_t t0 = mono_ms();
    for (int i = 0; i <= QUEUE_BUCKET_BURST; i++) {
        snprintf(key, sizeof(key), "ns/b%d", i);
        assert_int_equal(queue_add_rate_limited(q, key, &err), 0);
    }
    for (int i = 0; i < QUEUE_BUCKET_BURST; i++) {
        assert_int_equal(queue_get(q, key, sizeof(key)), 1);
        queue_done(q, key);
    }
    assert_true(mono_ms() - t0 < 1000 / QUEUE_BUCKET_QPS - 20);
    snprintf(key, sizeof(key), "ns/b%d", QUEUE_BUCKET_BURST);
    get_after(q, key, t0, 1000 / QUEUE_BUCKET_QPS - 5);
    queue_free(q);
}

/* ---- shutdown ---- */

static void test_queue_shutdown_wakes_getters(void **state)
{
    (void)state;
    struct queue *q = queue_new(5, 1000, 100);
    struct err err = {0};
    /* One getter has a timer to wait for, the others none. */
    assert_int_equal(queue_add_after(q, "ns/far", 60000, &err), 0);
    struct getter g[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        g[i] = (struct getter){.q = q, .rc = -9};
        assert_int_equal(pthread_create(&th[i], NULL, getter_main, &g[i]), 0);
    }
    sleep_ms(20);
    uint64_t t0 = mono_ms();
    queue_shutdown(q);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    for (int i = 0; i < 3; i++) {
        /* A getter still asleep fails the test; it is left behind (the process ends soon). */
        assert_int_equal(pthread_timedjoin_np(th[i], NULL, &until), 0);
        assert_int_equal(g[i].rc, 0);
    }
    assert_true(mono_ms() - t0 < 1000);
    queue_free(q);
}

static void test_queue_shutdown_does_not_drain(void **state)
{
    (void)state;
    struct queue *q = queue_new(5, 1000, 100);
    char key[QUEUE_KEY_SIZE];
    add_ok(q, "ns/held");
    add_ok(q, "ns/waiting");
    assert_int_equal(queue_get(q, key, sizeof(key)), 1);
    assert_string_equal(key, "ns/held");
    add_ok(q, "ns/held");
    queue_shutdown(q);
    queue_shutdown(q);
    /* Waiting keys are not handed out any more, adds are ignored, done still works. */
    assert_int_equal(queue_get(q, key, sizeof(key)), 0);
    add_ok(q, "ns/new");
    assert_int_equal(queue_len(q), 1);
    queue_done(q, "ns/held");
    assert_int_equal(queue_get(q, key, sizeof(key)), 0);
    queue_free(q);
}

/* ---- limits ---- */

static void test_queue_key_cap(void **state)
{
    (void)state;
    struct queue *q = queue_new(5, 1000, 3);
    struct err err = {0};
    add_ok(q, "ns/a");
    add_ok(q, "ns/b");
    assert_int_equal(queue_add_after(q, "ns/c", 60000, &err), 0);
    assert_int_equal(queue_add(q, "ns/d", &err), -1);
    assert_int_equal(err.kind, ERR_TOO_BIG);
    assert_non_null(strstr(err.msg, "max_keys (3)"));
    assert_non_null(strstr(err.msg, "ns/d"));
    assert_int_equal(queue_add_after(q, "ns/d", 10, &err), -1);
    assert_int_equal(queue_add_rate_limited(q, "ns/d", &err), -1);
    assert_int_equal(queue_num_requeues(q, "ns/d"), 0);
    /* Keys already tracked can still be added. */
    add_ok(q, "ns/a");
    assert_int_equal(queue_add_rate_limited(q, "ns/c", &err), 0);
    /* Processing keys are tracked too. */
    char key[QUEUE_KEY_SIZE];
    assert_int_equal(queue_get(q, key, sizeof(key)), 1);
    assert_string_equal(key, "ns/a");
    assert_int_equal(queue_add(q, "ns/d", &err), -1);
    queue_done(q, "ns/a");
    add_ok(q, "ns/d");
    assert_int_equal(queue_tracked(q), 3);

    /* A failure counter holds its slot until queue_forget() frees it. */
    get_expect(q, "ns/b");
    get_expect(q, "ns/d");
    assert_int_equal(queue_tracked(q), 1);
    assert_int_equal(queue_num_requeues(q, "ns/c"), 1);
    queue_free(q);

    q = queue_new(1, 1, 2);
    assert_int_equal(queue_add_rate_limited(q, "ns/f", &err), 0);
    get_expect(q, "ns/f");
    add_ok(q, "ns/g");
    get_expect(q, "ns/g");
    assert_int_equal(queue_tracked(q), 1);
    add_ok(q, "ns/h");
    assert_int_equal(queue_add(q, "ns/i", &err), -1);
    queue_forget(q, "ns/f");
    add_ok(q, "ns/i");
    queue_free(q);
}

static void test_queue_key_length_limit(void **state)
{
    (void)state;
    struct queue *q = queue_new(5, 1000, 10);
    struct err err = {0};
    char key[QUEUE_KEY_MAX + 2];
    memset(key, 'a', sizeof(key));
    key[0] = 'n';
    key[1] = '/';
    key[QUEUE_KEY_MAX + 1] = '\0'; /* 513 bytes */
    assert_int_equal(queue_add(q, key, &err), -1);
    assert_int_equal(err.kind, ERR_TOO_BIG);
    assert_non_null(strstr(err.msg, "QUEUE_KEY_MAX"));
    assert_int_equal(queue_add_after(q, key, 5, &err), -1);
    assert_int_equal(queue_add_rate_limited(q, key, &err), -1);
    assert_int_equal(queue_tracked(q), 0);

    key[QUEUE_KEY_MAX] = '\0'; /* 512 bytes: accepted and returned whole */
    assert_int_equal(queue_add(q, key, &err), 0);
    char out[QUEUE_KEY_SIZE];
    assert_int_equal(queue_get(q, out, sizeof(out) - 1), -1);
    assert_int_equal(queue_get(q, out, sizeof(out)), 1);
    assert_int_equal(strlen(out), QUEUE_KEY_MAX);
    assert_string_equal(out, key);
    queue_done(q, out);

    assert_int_equal(queue_add(q, "", &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_int_equal(queue_add(q, NULL, &err), -1);
    queue_free(q);
}

static void test_queue_many_keys_table_growth(void **state)
{
    (void)state;
    /* Grows the hash table and empties it again through many inserts and removals. */
    struct queue *q = queue_new(5, 1000, 5000);
    char key[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 5000; i++) {
            snprintf(key, sizeof(key), "ns%d/k%d", round, i);
            add_ok(q, key);
        }
        assert_int_equal(queue_tracked(q), 5000);
        for (int i = 0; i < 5000; i++) {
            snprintf(key, sizeof(key), "ns%d/k%d", round, i);
            get_expect(q, key);
        }
        assert_int_equal(queue_tracked(q), 0);
    }
    /* Interleaved forgets on scattered keys keep lookups right. */
    struct err err = {0};
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "x/%d", i);
        assert_int_equal(queue_add_after(q, key, 60000, &err), 0);
        assert_int_equal(queue_add_rate_limited(q, key, &err), 0);
    }
    for (int i = 0; i < 1000; i += 3) {
        snprintf(key, sizeof(key), "x/%d", i);
        assert_int_equal(queue_num_requeues(q, key), 1);
    }
    queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_new_rejects_bad_arguments),
        cmocka_unit_test(test_queue_dedup),
        cmocka_unit_test(test_queue_fifo_order),
        cmocka_unit_test(test_queue_readd_while_processing),
        cmocka_unit_test(test_queue_workers_never_share_a_key),
        cmocka_unit_test(test_queue_add_after_order),
        cmocka_unit_test(test_queue_add_after_sooner_wins),
        cmocka_unit_test(test_queue_add_after_wakes_blocked_getter),
        cmocka_unit_test(test_queue_backoff_doubles_and_caps),
        cmocka_unit_test(test_queue_rate_limited_backoff_and_forget),
        cmocka_unit_test(test_queue_rate_limited_global_bucket),
        cmocka_unit_test(test_queue_shutdown_wakes_getters),
        cmocka_unit_test(test_queue_shutdown_does_not_drain),
        cmocka_unit_test(test_queue_key_cap),
        cmocka_unit_test(test_queue_key_length_limit),
        cmocka_unit_test(test_queue_many_keys_table_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
