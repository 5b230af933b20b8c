/* test_lease.c -- leader election's pure parts: MicroTime, the Lease record <-> JSON, the
 * acquire/renew decision, jitter and the configuration invariants. */
#include "base/err.h"
#include "kube/lease.h"

/* cmocka.h needs these first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ME "node-a_1f2e3d"
#define OTHER "node-b_9a8b7c"

/* ---- MicroTime ---- */

static void test_microtime_format_has_six_fraction_digits(void **state)
{
    (void)state;
    char out[LEASE_MICROTIME_LEN];
    lease_format_microtime(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000Z");
    lease_format_microtime(1735689615000007LL, out); /* 2025-01-01T00:00:15.000007Z */
    assert_string_equal(out, "2025-01-01T00:00:15.000007Z");
    lease_format_microtime(1735689615123456LL, out);
    assert_string_equal(out, "2025-01-01T00:00:15.123456Z");
}

static void test_microtime_round_trip(void **state)
{
    (void)state;
    const long long samples[] = {0,
                                 1,
                                 999999,
                                 1000000,
                                 1735689600000000LL,
                                 1735689615123456LL,
                                 4102444799999999LL /* 2099-12-31T23:59:59.999999Z */};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char out[LEASE_MICROTIME_LEN];
        long long back = -1;
        lease_format_microtime(samples[i], out);
        if (lease_parse_microtime(out, &back) != 0)
            fail_msg("cannot parse what we wrote: %s", out);
        assert_int_equal(back, samples[i]);
    }
}

static void test_microtime_parse_accepts_rfc3339_variants(void **state)
{
    (void)state;
    long long us = 0;
    assert_int_equal(lease_parse_microtime("2025-01-01T00:00:15.000000Z", &us), 0);
    assert_int_equal(us, 1735689615000000LL);
    assert_int_equal(lease_parse_microtime("2025-01-01T00:00:15Z", &us), 0);
    assert_int_equal(us, 1735689615000000LL);
    assert_int_equal(lease_parse_microtime("2025-01-01T00:00:15.5Z", &us), 0);
    assert_int_equal(us, 1735689615500000LL);
    /* Nanoseconds: truncated to microseconds. */
    assert_int_equal(lease_parse_microtime("2025-01-01T00:00:15.123456789Z", &us), 0);
    assert_int_equal(us, 1735689615123456LL);
    /* An offset: 02:00:15+02:00 is 00:00:15Z. */
    assert_int_equal(lease_parse_microtime("2025-01-01T02:00:15.000001+02:00", &us), 0);
    assert_int_equal(us, 1735689615000001LL);
}

static void test_microtime_parse_rejects_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "2025-01-01",
        "2025-01-01T00:00:15",                              /* no zone */
        "2025-01-01 00:00:15.000000Z",                      /* space */
        "2025-1-01T00:00:15.000000Z",                       /* short month */
        "2025-13-01T00:00:15.000000Z",                      /* month 13 */
        "2025-01-01T24:00:15.000000Z",                      /* hour 24 */
        "2025-01-01T00:00:15.Z",                            /* empty fraction */
        "2025-01-01T00:00:15.1234567890Z",                  /* 10 fraction digits */
        "2025-01-01T00:00:15.000000Zjunk",                  /* trailing bytes */
        "2025-01-01T00:00:15.000000+2:00",                  /* short offset */
        "2025-01-01T00:00:15.000000000000000000000000000Z", /* too long */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long long us = 42;
        if (lease_parse_microtime(bad[i], &us) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(us, 42);
    }
    long long us = 0;
    assert_int_equal(lease_parse_microtime(NULL, &us), -1);
}

/* ---- Record <-> JSON ---- */

static const char *LEASE_JSON =
    "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
    "\"metadata\":{\"name\":\"ember-issuer-leader\",\"namespace\":\"ember\","
    "\"resourceVersion\":\"1234\"},"
    "\"spec\":{\"holderIdentity\":\"" OTHER "\",\"leaseDurationSeconds\":60,"
    "\"acquireTime\":\"2025-01-01T00:00:00.000000Z\","
    "\"renewTime\":\"2025-01-01T00:00:15.000000Z\",\"leaseTransitions\":3}}";

static void test_record_parse_reads_every_field(void **state)
{
    (void)state;
    struct lease_record r;
    char rv[LEASE_RV_MAX];
    struct err e = {0};
    assert_int_equal(lease_record_parse(LEASE_JSON, strlen(LEASE_JSON), &r, rv, &e), 0);
    assert_string_equal(rv, "1234");
    assert_string_equal(r.holder, OTHER);
    assert_int_equal(r.duration_s, 60);
    assert_string_equal(r.acquire_time, "2025-01-01T00:00:00.000000Z");
    assert_string_equal(r.renew_time, "2025-01-01T00:00:15.000000Z");
    assert_int_equal(r.transitions, 3);
}

static void test_record_parse_empty_spec_is_nobody(void **state)
{
    (void)state;
    const char *j = "{\"kind\":\"Lease\",\"metadata\":{\"resourceVersion\":\"7\"},\"spec\":{}}";
    struct lease_record r;
    char rv[LEASE_RV_MAX];
    assert_int_equal(lease_record_parse(j, strlen(j), &r, rv, NULL), 0);
    assert_string_equal(r.holder, "");
    assert_int_equal(r.duration_s, 0);
    assert_string_equal(r.acquire_time, "");
    assert_int_equal(r.transitions, 0);
    const char *nospec = "{\"kind\":\"Lease\",\"metadata\":{\"resourceVersion\":\"8\"}}";
    assert_int_equal(lease_record_parse(nospec, strlen(nospec), &r, rv, NULL), 0);
    assert_string_equal(rv, "8");
    assert_string_equal(r.holder, "");
}

static void parse_bad(const char *j, enum err_kind kind, const char *want)
{
    struct lease_record r;
    char rv[LEASE_RV_MAX];
    struct err e = {0};
    if (lease_record_parse(j, strlen(j), &r, rv, &e) == 0)
        fail_msg("accepted %s", j);
    assert_int_equal(e.kind, kind);
    if (strstr(e.msg, want) == NULL)
        fail_msg("message \"%s\" does not contain \"%s\"", e.msg, want);
}

static void test_record_parse_names_the_bad_field(void **state)
{
    (void)state;
    parse_bad("not json", ERR_INVALID, "not a JSON object");
    parse_bad("{\"kind\":\"Secret\",\"metadata\":{\"resourceVersion\":\"1\"}}", ERR_INVALID,
              "not a Lease");
    parse_bad("{\"kind\":\"Lease\",\"metadata\":{}}", ERR_INVALID, "resourceVersion");
    parse_bad("{\"kind\":\"Lease\",\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":"
              "{\"holderIdentity\":5}}",
              ERR_INVALID, "holderIdentity");
    parse_bad("{\"kind\":\"Lease\",\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":"
              "{\"leaseDurationSeconds\":\"60\"}}",
              ERR_INVALID, "leaseDurationSeconds");
    parse_bad("{\"kind\":\"Lease\",\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":"
              "{\"leaseTransitions\":-1}}",
              ERR_INVALID, "leaseTransitions");
    parse_bad("{\"kind\":\"Lease\",\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":"
              "{\"renewTime\":\"yesterday\"}}",
              ERR_INVALID, "renewTime");
}

static void test_record_parse_enforces_limits(void **state)
{
    (void)state;
    /* holderIdentity past LEASE_IDENTITY_MAX. */
    char holder[LEASE_IDENTITY_MAX + 10];
    memset(holder, 'h', sizeof(holder) - 1);
    holder[sizeof(holder) - 1] = '\0';
    char *j = NULL;
    size_t n = strlen(holder) + 200;
    j = malloc(n);
    assert_non_null(j);
    snprintf(j, n,
             "{\"kind\":\"Lease\",\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":"
             "{\"holderIdentity\":\"%s\"}}",
             holder);
    parse_bad(j, ERR_TOO_BIG, "holderIdentity");
    free(j);
    /* A body past LEASE_MAX_BODY_BYTES is refused before parsing. */
    size_t big = LEASE_MAX_BODY_BYTES + 1;
    char *b = malloc(big + 1);
    assert_non_null(b);
    memset(b, ' ', big);
    b[big] = '\0';
    struct lease_record r;
    char rv[LEASE_RV_MAX];
    struct err e = {0};
    assert_int_equal(lease_record_parse(b, big, &r, rv, &e), -1);
    assert_int_equal(e.kind, ERR_TOO_BIG);
    free(b);
}

static void test_record_json_is_the_lease_shape(void **state)
{
    (void)state;
    struct lease_record r = {.holder = ME,
                             .duration_s = 60,
                             .acquire_time = "2025-01-01T00:00:00.000000Z",
                             .renew_time = "2025-01-01T00:00:15.000000Z",
                             .transitions = 2};
    char *s = lease_record_json("ember", "ember-issuer-leader", "99", &r);
    cJSON *o = cJSON_Parse(s);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "apiVersion")->valuestring,
                        "coordination.k8s.io/v1");
    assert_string_equal(cJSON_GetObjectItem(o, "kind")->valuestring, "Lease");
    cJSON *meta = cJSON_GetObjectItem(o, "metadata");
    assert_string_equal(cJSON_GetObjectItem(meta, "name")->valuestring, "ember-issuer-leader");
    assert_string_equal(cJSON_GetObjectItem(meta, "namespace")->valuestring, "ember");
    assert_string_equal(cJSON_GetObjectItem(meta, "resourceVersion")->valuestring, "99");
    cJSON *spec = cJSON_GetObjectItem(o, "spec");
    assert_string_equal(cJSON_GetObjectItem(spec, "holderIdentity")->valuestring, ME);
    assert_int_equal(cJSON_GetObjectItem(spec, "leaseDurationSeconds")->valueint, 60);
    assert_int_equal(cJSON_GetObjectItem(spec, "leaseTransitions")->valueint, 2);
    assert_string_equal(cJSON_GetObjectItem(spec, "acquireTime")->valuestring,
                        "2025-01-01T00:00:00.000000Z");
    cJSON_Delete(o);

    /* And it parses back to the same record. */
    struct lease_record back;
    char rv[LEASE_RV_MAX];
    assert_int_equal(lease_record_parse(s, strlen(s), &back, rv, NULL), 0);
    assert_true(lease_record_equal(&r, &back));
    assert_string_equal(rv, "99");
    free(s);

    /* Create: no resourceVersion; a released record keeps holderIdentity "". */
    struct lease_record rel = {.holder = "", .duration_s = 1, .transitions = 2};
    s = lease_record_json("ember", "l", NULL, &rel);
    o = cJSON_Parse(s);
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "resourceVersion"));
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(o, "spec"), "holderIdentity")->valuestring, "");
    cJSON_Delete(o);
    free(s);
}

static void test_record_equal_sees_every_field(void **state)
{
    (void)state;
    struct lease_record a = {
        .holder = ME, .duration_s = 60, .acquire_time = "x", .renew_time = "y", .transitions = 1};
    struct lease_record b = a;
    assert_true(lease_record_equal(&a, &b));
    b.renew_time[0] = 'z';
    assert_false(lease_record_equal(&a, &b));
    b = a;
    b.transitions = 2;
    assert_false(lease_record_equal(&a, &b));
    b = a;
    b.duration_s = 61;
    assert_false(lease_record_equal(&a, &b));
    b = a;
    b.holder[0] = 'x';
    assert_false(lease_record_equal(&a, &b));
}

/* ---- Decision ---- */

static struct lease_record held_by(const char *holder, long duration_s, long transitions)
{
    struct lease_record r;
    memset(&r, 0, sizeof(r));
    snprintf(r.holder, sizeof(r.holder), "%s", holder);
    r.duration_s = duration_s;
    r.transitions = transitions;
    snprintf(r.acquire_time, sizeof(r.acquire_time), "2025-01-01T00:00:00.000000Z");
    snprintf(r.renew_time, sizeof(r.renew_time), "2025-01-01T00:00:15.000000Z");
    return r;
}

static void test_decide_other_holder_valid_is_held_elsewhere(void **state)
{
    (void)state;
    struct lease_record r = held_by(OTHER, 60, 0);
    /* Observed at 1000 ms; valid until 61000 ms (exclusive). */
    assert_int_equal(lease_decide(&r, 1000, 1000, ME), LEASE_HELD_ELSEWHERE);
    assert_int_equal(lease_decide(&r, 1000, 60999, ME), LEASE_HELD_ELSEWHERE);
}

static void test_decide_other_holder_expired_is_takeover(void **state)
{
    (void)state;
    struct lease_record r = held_by(OTHER, 60, 4);
    assert_int_equal(lease_decide(&r, 1000, 61000, ME), LEASE_TAKEOVER);
    assert_int_equal(lease_decide(&r, 1000, 500000, ME), LEASE_TAKEOVER);
}

static void test_decide_ignores_the_records_renew_time(void **state)
{
    (void)state;
    /* A renewTime years in the past (a skewed clock on the holder's node) does not make the
     * lease expire: only our local observation time counts. */
    struct lease_record r = held_by(OTHER, 15, 0);
    snprintf(r.renew_time, sizeof(r.renew_time), "2001-01-01T00:00:00.000000Z");
    assert_int_equal(lease_decide(&r, 5000, 6000, ME), LEASE_HELD_ELSEWHERE);
    /* And one far in the future does not keep it alive. */
    snprintf(r.renew_time, sizeof(r.renew_time), "2999-01-01T00:00:00.000000Z");
    assert_int_equal(lease_decide(&r, 5000, 20001, ME), LEASE_TAKEOVER);
}

static void test_decide_empty_holder_is_takeover(void **state)
{
    (void)state;
    /* Released (holderIdentity "", leaseDurationSeconds 1) or never held: take it at once. */
    struct lease_record r = held_by("", 1, 3);
    assert_int_equal(lease_decide(&r, 1000, 1000, ME), LEASE_TAKEOVER);
    struct lease_record r2 = held_by("", 60, 3);
    assert_int_equal(lease_decide(&r2, 1000, 1001, ME), LEASE_TAKEOVER);
}

static void test_decide_mine_is_renew(void **state)
{
    (void)state;
    struct lease_record r = held_by(ME, 60, 2);
    assert_int_equal(lease_decide(&r, 1000, 2000, ME), LEASE_RENEW);
    /* Even once expired by our own observation it stays ours: no transition. */
    assert_int_equal(lease_decide(&r, 1000, 90000, ME), LEASE_RENEW);
}

static void test_next_renew_keeps_acquire_time_and_transitions(void **state)
{
    (void)state;
    struct lease_record obs = held_by(ME, 60, 5);
    struct lease_record out;
    lease_record_next(&obs, LEASE_RENEW, ME, 4, "2025-01-01T00:01:00.000000Z", &out);
    assert_string_equal(out.holder, ME);
    assert_int_equal(out.duration_s, 4);
    assert_string_equal(out.acquire_time, "2025-01-01T00:00:00.000000Z");
    assert_string_equal(out.renew_time, "2025-01-01T00:01:00.000000Z");
    assert_int_equal(out.transitions, 5);
}

static void test_next_takeover_increments_transitions(void **state)
{
    (void)state;
    struct lease_record obs = held_by(OTHER, 60, 5);
    struct lease_record out;
    lease_record_next(&obs, LEASE_TAKEOVER, ME, 60, "2025-01-01T00:02:00.000000Z", &out);
    assert_string_equal(out.holder, ME);
    assert_string_equal(out.acquire_time, "2025-01-01T00:02:00.000000Z");
    assert_string_equal(out.renew_time, "2025-01-01T00:02:00.000000Z");
    assert_int_equal(out.transitions, 6);
    /* Nothing observed (the create path): transitions 0. */
    lease_record_next(NULL, LEASE_TAKEOVER, ME, 60, "2025-01-01T00:02:00.000000Z", &out);
    assert_int_equal(out.transitions, 0);
}

/* ---- Jitter and configuration ---- */

static void test_jitter_stays_within_factor(void **state)
{
    (void)state;
    assert_int_equal(lease_jitter_ms(15, 1.2, 0.0), 15000);
    assert_int_equal(lease_jitter_ms(15, 1.2, 0.5), 24000);
    long long top = lease_jitter_ms(15, 1.2, 0.9999999);
    assert_true(top >= 15000 && top <= 33000);
    /* Out-of-range draws are clamped. */
    assert_int_equal(lease_jitter_ms(1, 1.2, -3.0), 1000);
    assert_true(lease_jitter_ms(1, 1.2, 7.0) <= 2200);
}

static struct lease_config good_config(void)
{
    struct lease_config c = {.kube = (struct kube *)&c, /* never dereferenced by the check */
                             .ns = "ember",
                             .name = "ember-issuer-leader",
                             .identity = ME,
                             .lease_duration_s = 60,
                             .renew_deadline_s = 40,
                             .retry_period_s = 15};
    return c;
}

static void config_bad(struct lease_config c, const char *want)
{
    struct err e = {0};
    if (lease_config_check(&c, &e) == 0)
        fail_msg("accepted a config that should fail with \"%s\"", want);
    assert_int_equal(e.kind, ERR_INVALID);
    if (strstr(e.msg, want) == NULL)
        fail_msg("message \"%s\" does not contain \"%s\"", e.msg, want);
}

static void test_config_defaults_and_test_values_pass(void **state)
{
    (void)state;
    struct lease_config c = good_config();
    struct err e = {0};
    assert_int_equal(lease_config_check(&c, &e), 0);
    c.lease_duration_s = 4;
    c.renew_deadline_s = 3;
    c.retry_period_s = 1;
    assert_int_equal(lease_config_check(&c, &e), 0);
}

static void test_config_invariants_are_enforced(void **state)
{
    (void)state;
    struct lease_config c = good_config();
    c.lease_duration_s = 40; /* == renew deadline */
    config_bad(c, "--leader-election-lease-duration");
    c = good_config();
    c.renew_deadline_s = 18; /* == 1.2 * 15 */
    config_bad(c, "--leader-election-renew-deadline");
    c = good_config();
    c.renew_deadline_s = 19; /* > 18: fine */
    struct err e = {0};
    assert_int_equal(lease_config_check(&c, &e), 0);
    c = good_config();
    c.retry_period_s = 0;
    config_bad(c, "--leader-election-retry-period");
    c = good_config();
    c.ns = "Bad/NS";
    config_bad(c, "--leader-election-namespace");
    c = good_config();
    c.identity = "";
    config_bad(c, "identity");
    c = good_config();
    c.kube = NULL;
    config_bad(c, "Kubernetes client");
}

static void test_start_refuses_bad_config(void **state)
{
    (void)state;
    struct lease_config c = good_config();
    c.renew_deadline_s = 60;
    struct err e = {0};
    assert_null(lease_start(&c, &e));
    assert_int_equal(e.kind, ERR_INVALID);
    lease_stop(NULL); /* no-op */
    assert_false(lease_is_leader(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_microtime_format_has_six_fraction_digits),
        cmocka_unit_test(test_microtime_round_trip),
        cmocka_unit_test(test_microtime_parse_accepts_rfc3339_variants),
        cmocka_unit_test(test_microtime_parse_rejects_malformed),
        cmocka_unit_test(test_record_parse_reads_every_field),
        cmocka_unit_test(test_record_parse_empty_spec_is_nobody),
        cmocka_unit_test(test_record_parse_names_the_bad_field),
        cmocka_unit_test(test_record_parse_enforces_limits),
        cmocka_unit_test(test_record_json_is_the_lease_shape),
        cmocka_unit_test(test_record_equal_sees_every_field),
        cmocka_unit_test(test_decide_other_holder_valid_is_held_elsewhere),
        cmocka_unit_test(test_decide_other_holder_expired_is_takeover),
        cmocka_unit_test(test_decide_ignores_the_records_renew_time),
        cmocka_unit_test(test_decide_empty_holder_is_takeover),
        cmocka_unit_test(test_decide_mine_is_renew),
        cmocka_unit_test(test_next_renew_keeps_acquire_time_and_transitions),
        cmocka_unit_test(test_next_takeover_increments_transitions),
        cmocka_unit_test(test_jitter_stays_within_factor),
        cmocka_unit_test(test_config_defaults_and_test_values_pass),
        cmocka_unit_test(test_config_invariants_are_enforced),
        cmocka_unit_test(test_start_refuses_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
