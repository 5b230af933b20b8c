/* test_conntab.c -- connection caps and request deadlines: per address and in all, refusing
 * connections, header and body deadlines, keep-alive, cut and forgotten connections. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "front/conntab.h"

#include <string.h>

static const struct conntab_limits limits = {
    .max_total = 4,
    .max_per_addr = 2,
    .max_refusing = 1,
    .header_ms = 10000,
    .request_ms = 30000,
    .idle_ms = 30000,
};

static struct conntab_addr addr(unsigned char last)
{
    struct conntab_addr a = {{0}};
    a.b[10] = a.b[11] = 0xff;
    a.b[12] = 127;
    a.b[15] = last;
    return a;
}

/* Adds key (hold key + 100) from address last at now; must succeed with no stale entry. */
static void add(struct conntab *t, int key, unsigned char last, bool refusing, int64_t now)
{
    struct conntab_addr a = addr(last);
    int stale = 7;
    struct err e = {0};
    assert_int_equal(conntab_add(t, key, key + 100, &a, refusing, now, &stale, &e), 0);
    assert_int_equal(stale, -1);
}

static void test_caps(void **state)
{
    (void)state;
    struct conntab *t = conntab_new(&limits);
    struct conntab_addr a1 = addr(1), a2 = addr(2), a3 = addr(3);
    assert_int_equal(conntab_check(t, &a1), CONNTAB_ADMIT);
    add(t, 10, 1, false, 0);
    add(t, 11, 1, false, 0);
    assert_int_equal(conntab_check(t, &a1), CONNTAB_OVER_ADDRESS);
    assert_int_equal(conntab_check(t, &a2), CONNTAB_ADMIT);
    assert_int_equal(conntab_count_addr(t, &a1), 2);
    add(t, 12, 2, false, 0);
    add(t, 13, 3, false, 0);
    assert_int_equal(conntab_check(t, &a3), CONNTAB_OVER_TOTAL);
    assert_int_equal(conntab_count(t), 4);
    /* A closed connection frees its place, and its hold comes back to be closed. */
    assert_int_equal(conntab_remove(t, 10), 110);
    assert_int_equal(conntab_remove(t, 10), -1);
    assert_int_equal(conntab_check(t, &a1), CONNTAB_ADMIT);
    conntab_free(t);
}

static void test_refusing(void **state)
{
    (void)state;
    struct conntab *t = conntab_new(&limits);
    add(t, 10, 1, false, 0);
    add(t, 11, 1, false, 0);
    add(t, 12, 1, true, 0); /* over the cap, kept only to answer 503 */
    struct conntab_addr a1 = addr(1), a2 = addr(2);
    assert_int_equal(conntab_count_addr(t, &a1), 2); /* refusing ones take no place */
    assert_int_equal(conntab_check(t, &a2), CONNTAB_ADMIT);
    /* Only max_refusing of them at once. */
    int stale = -1;
    struct err e = {0};
    assert_int_equal(conntab_add(t, 13, 113, &a1, true, 0, &stale, &e), -1);
    assert_int_equal(e.kind, ERR_TOO_BIG);
    assert_non_null(strstr(e.msg, "1 connections"));
    assert_true(conntab_headers(t, 12));
    assert_false(conntab_headers(t, 10));
    assert_false(conntab_headers(t, 99)); /* unknown */
    assert_int_equal(conntab_remove(t, 12), 112);
    add(t, 13, 1, true, 0);
    conntab_free(t);
}

static void test_header_deadline(void **state)
{
    (void)state;
    struct conntab *t = conntab_new(&limits);
    struct conntab_sweep s;
    add(t, 10, 1, false, 1000);
    add(t, 11, 1, false, 2000);
    assert_int_equal(conntab_next_deadline(t), 11000);
    conntab_sweep(t, 10999, &s);
    assert_int_equal(s.n_cut, 0);
    assert_int_equal(s.n_close, 0);
    conntab_sweep(t, 11000, &s);
    assert_int_equal(s.n_cut, 1);
    assert_int_equal(s.cut[0], 110);
    /* Cut once; its server closes it, or it is forgotten after the grace. */
    assert_int_equal(conntab_next_deadline(t), 12000);
    conntab_sweep(t, 12000, &s);
    assert_int_equal(s.n_cut, 1);
    assert_int_equal(s.cut[0], 111);
    assert_int_equal(conntab_remove(t, 11), 111); /* closed by its server */
    assert_int_equal(conntab_next_deadline(t), 11000 + CONNTAB_REAP_GRACE_MS);
    conntab_sweep(t, 11000 + CONNTAB_REAP_GRACE_MS, &s);
    assert_int_equal(s.n_cut, 0);
    assert_int_equal(s.n_close, 1);
    assert_int_equal(s.close[0], 110);
    assert_int_equal(conntab_count(t), 0);
    assert_int_equal(conntab_next_deadline(t), INT64_MAX);
    conntab_free(t);
}

static void test_body_and_busy(void **state)
{
    (void)state;
    struct conntab *t = conntab_new(&limits);
    struct conntab_sweep s;
    add(t, 10, 1, false, 0);
    assert_false(conntab_headers(t, 10)); /* headers in: the whole request has until 30 s */
    conntab_sweep(t, 29999, &s);
    assert_int_equal(s.n_cut, 0);
    conntab_sweep(t, 30000, &s);
    assert_int_equal(s.n_cut, 1);
    /* A request in whole has no deadline while it is answered, however long. */
    add(t, 11, 2, false, 0);
    assert_false(conntab_headers(t, 11));
    conntab_arrived(t, 11);
    assert_int_equal(conntab_next_deadline(t), 30000 + CONNTAB_REAP_GRACE_MS); /* key 10's */
    assert_int_equal(conntab_remove(t, 10), 110);
    assert_int_equal(conntab_next_deadline(t), INT64_MAX);
    conntab_sweep(t, 1000000, &s);
    assert_int_equal(s.n_cut, 0);
    conntab_free(t);
}

static void test_keep_alive(void **state)
{
    (void)state;
    struct conntab *t = conntab_new(&limits);
    struct conntab_sweep s;
    add(t, 10, 1, false, 0);
    assert_false(conntab_headers(t, 10));
    conntab_arrived(t, 10);
    conntab_completed(t, 10, 5000);
    /* The next request: idle up to the idle timeout (30 s), then it must be in. */
    assert_int_equal(conntab_next_deadline(t), 5000 + 30000);
    assert_false(conntab_headers(t, 10));
    assert_int_equal(conntab_next_deadline(t), 5000 + 20000 + 30000);
    conntab_sweep(t, 5000 + 50000, &s);
    assert_int_equal(s.n_cut, 1);
    /* Events for a cut connection change nothing. */
    conntab_arrived(t, 10);
    conntab_completed(t, 10, 60000);
    assert_int_equal(conntab_next_deadline(t), 55000 + CONNTAB_REAP_GRACE_MS);
    conntab_free(t);
}

static void test_stale_and_take(void **state)
{
    (void)state;
    struct conntab *t = conntab_new(&limits);
    add(t, 10, 1, false, 0);
    /* The server closed 10 without telling; a new connection got descriptor 10. */
    struct conntab_addr a = addr(2);
    int stale = -1;
    assert_int_equal(conntab_add(t, 10, 210, &a, false, 0, &stale, NULL), 0);
    assert_int_equal(stale, 110);
    assert_int_equal(conntab_count(t), 1);
    add(t, 11, 1, true, 0);
    int holds = 0;
    for (int h = conntab_take_any(t); h >= 0; h = conntab_take_any(t))
        holds += h;
    assert_int_equal(holds, 210 + 111);
    assert_int_equal(conntab_count(t), 0);
    conntab_free(t);
    conntab_free(NULL);
}

static void test_request_deadline_at_least_header(void **state)
{
    (void)state;
    struct conntab_limits lim = limits;
    lim.request_ms = 1000; /* below header_ms: raised to it */
    struct conntab *t = conntab_new(&lim);
    add(t, 10, 1, false, 0);
    assert_false(conntab_headers(t, 10));
    assert_int_equal(conntab_next_deadline(t), 10000);
    conntab_free(t);
}

static void test_many_late(void **state)
{
    (void)state;
    struct conntab_limits lim = limits;
    lim.max_total = lim.max_per_addr = 1000;
    struct conntab *t = conntab_new(&lim);
    for (int i = 0; i < 600; i++)
        add(t, i, 1, false, 0);
    struct conntab_sweep s;
    size_t cut = 0;
    int rounds = 0;
    do {
        conntab_sweep(t, 10000, &s);
        cut += s.n_cut;
        rounds++;
    } while (s.n_cut == CONNTAB_SWEEP_MAX && rounds < 10);
    assert_int_equal(cut, 600);
    assert_int_equal(rounds, 3);
    conntab_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_refusing),
        cmocka_unit_test(test_header_deadline),
        cmocka_unit_test(test_body_and_busy),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_stale_and_take),
        cmocka_unit_test(test_request_deadline_at_least_header),
        cmocka_unit_test(test_many_late),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
