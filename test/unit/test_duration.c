/* test_duration.c -- Go and ISO-8601 duration parsing and Go formatting. */
#include "base/duration.h"
#include "base/err.h"

/* cmocka.h needs these first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <string.h>

static long long go_ok(const char *s)
{
    struct err err = {0};
    long long v = -1;
    if (duration_parse_go(s, &v, &err) != 0)
        fail_msg("duration_parse_go(\"%s\") failed: %s", s, err.msg);
    return v;
}

static void go_bad(const char *s, const char *want_in_msg)
{
    struct err err = {0};
    long long v = -7;
    if (duration_parse_go(s, &v, &err) == 0)
        fail_msg("duration_parse_go(\"%s\") accepted (%lld)", s, v);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_int_equal(v, -7);
    if (want_in_msg != NULL && strstr(err.msg, want_in_msg) == NULL)
        fail_msg("message for \"%s\" is \"%s\", expected it to contain \"%s\"", s, err.msg,
                 want_in_msg);
}

static long long iso_ok(const char *s)
{
    struct err err = {0};
    long long v = -1;
    if (duration_parse_iso8601(s, &v, &err) != 0)
        fail_msg("duration_parse_iso8601(\"%s\") failed: %s", s, err.msg);
    return v;
}

static void iso_bad(const char *s)
{
    struct err err = {0};
    long long v = -7;
    if (duration_parse_iso8601(s, &v, &err) == 0)
        fail_msg("duration_parse_iso8601(\"%s\") accepted (%lld)", s, v);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.msg, "invalid duration"));
}

static void test_go_simple_units(void **state)
{
    (void)state;
    assert_int_equal(go_ok("45s"), 45);
    assert_int_equal(go_ok("90m"), 5400);
    assert_int_equal(go_ok("24h"), 86400);
    assert_int_equal(go_ok("2160h"), 2160LL * 3600);
    assert_int_equal(go_ok("1h30m"), 5400);
    assert_int_equal(go_ok("1h0m0s"), 3600);
    assert_int_equal(go_ok("2h45m30s"), 2 * 3600 + 45 * 60 + 30);
}

static void test_go_zero_and_sign(void **state)
{
    (void)state;
    assert_int_equal(go_ok("0"), 0);
    assert_int_equal(go_ok("0s"), 0);
    assert_int_equal(go_ok("+0"), 0);
    assert_int_equal(go_ok("+5m"), 300);
    go_bad("-1h", "negative");
    go_bad("-0", "negative");
    go_bad("+", NULL);
}

static void test_go_fractions(void **state)
{
    (void)state;
    assert_int_equal(go_ok("1.5h"), 5400);
    assert_int_equal(go_ok(".5h"), 1800);
    assert_int_equal(go_ok("1.h"), 3600);
    assert_int_equal(go_ok("0.5m"), 30);
    assert_int_equal(go_ok("1.999999999s"), 1);
    /* Go ignores fraction digits beyond what fits rather than failing. */
    assert_int_equal(go_ok("1.00000000000000000000000000000000000000001h"), 3600);
    go_bad(".", "digits");
    go_bad(".h", "digits");
}

static void test_go_subsecond_truncated(void **state)
{
    (void)state;
    assert_int_equal(go_ok("300ms"), 0);
    assert_int_equal(go_ok("1500ms"), 1);
    assert_int_equal(go_ok("2000000us"), 2);
    assert_int_equal(go_ok("2000000\xc2\xb5s"), 2);
    assert_int_equal(go_ok("2000000\xce\xbcs"), 2);
    assert_int_equal(go_ok("3000000000ns"), 3);
    assert_int_equal(go_ok("1s999ms"), 1);
    assert_int_equal(go_ok("500ms500ms"), 1);
}

static void test_go_repeated_units_add(void **state)
{
    (void)state;
    /* time.ParseDuration accepts repeated and unordered units and sums them. */
    assert_int_equal(go_ok("1h1h"), 7200);
    assert_int_equal(go_ok("30s1m"), 90);
}

static void test_go_rejects_garbage(void **state)
{
    (void)state;
    go_bad("", "empty");
    go_bad("h", "expected a number");
    go_bad("1", "missing unit");
    go_bad("10", "missing unit");
    go_bad("1x", "unknown unit");
    go_bad("1d", "unknown unit");
    go_bad("1H", "unknown unit");
    go_bad("1h ", "unknown unit");
    go_bad(" 1h", "expected a number");
    go_bad("1h-1m", "unknown unit");
    go_bad("1hh", "unknown unit");
    go_bad("1..5h", "missing unit");
    go_bad("1e3s", "unknown unit");
    go_bad("0x10s", "unknown unit");
}

static void test_go_overflow_and_limit(void **state)
{
    (void)state;
    char digits[4096];
    memset(digits, '9', sizeof(digits) - 2);
    digits[sizeof(digits) - 2] = 's';
    digits[sizeof(digits) - 1] = '\0';
    go_bad(digits, "too large");
    go_bad("9223372036854775808ns", "too large"); /* 1<<63: one past Go's range */
    go_bad("2562048h", "too large");              /* past int64 nanoseconds */
    go_bad("876001h", "limit");                   /* just past 100 years */
    assert_int_equal(go_ok("876000h"), DURATION_MAX_SECONDS);
    go_bad("800000h800000h", "limit");
    go_bad("2000000h2000000h", "too large");
}

static void test_go_error_echo_is_bounded_and_escaped(void **state)
{
    (void)state;
    char longbad[600];
    memset(longbad, 'q', sizeof(longbad) - 1);
    longbad[sizeof(longbad) - 1] = '\0';
    longbad[0] = '1';
    struct err err = {0};
    long long v;
    assert_int_equal(duration_parse_go(longbad, &v, &err), -1);
    assert_true(strlen(err.msg) < 200);
    assert_non_null(strstr(err.msg, "...\""));

    assert_int_equal(duration_parse_go("1\"\n", &v, &err), -1);
    assert_non_null(strstr(err.msg, "\"1\\\"\\x0a\""));
    assert_null(strchr(err.msg, '\n'));
}

static void test_iso_components(void **state)
{
    (void)state;
    assert_int_equal(iso_ok("PT1H"), 3600);
    assert_int_equal(iso_ok("PT90M"), 5400);
    assert_int_equal(iso_ok("PT45S"), 45);
    assert_int_equal(iso_ok("P7D"), 7 * 86400);
    assert_int_equal(iso_ok("P2W"), 14 * 86400);
    assert_int_equal(iso_ok("P1M"), 30 * 86400);
    assert_int_equal(iso_ok("P1Y"), 365 * 86400);
    assert_int_equal(iso_ok("P1Y2M3W4DT5H6M7S"),
                     365 * 86400 + 60 * 86400 + 21 * 86400 + 4 * 86400 + 5 * 3600 + 6 * 60 + 7);
    assert_int_equal(iso_ok("P0D"), 0);
    assert_int_equal(iso_ok("PT0S"), 0);
}

static void test_iso_fraction_last_only(void **state)
{
    (void)state;
    assert_int_equal(iso_ok("PT1.5H"), 5400);
    assert_int_equal(iso_ok("PT0,5M"), 30);
    assert_int_equal(iso_ok("P0.5D"), 43200);
    assert_int_equal(iso_ok("PT1H0.5M"), 3630);
    assert_int_equal(iso_ok("PT1.9S"), 1);
    iso_bad("PT1.5H1M");
    iso_bad("P1.5DT1H");
    iso_bad("PT1.H");
    iso_bad("PT.5H");
}

static void test_iso_rejects_garbage(void **state)
{
    (void)state;
    iso_bad("");
    iso_bad("P");
    iso_bad("PT");
    iso_bad("P1DT");
    iso_bad("1H");
    iso_bad("pt1h");
    iso_bad("-PT1H");
    iso_bad("PT1");
    iso_bad("PT1X");
    iso_bad("P1H");    /* H only after T */
    iso_bad("PT1D");   /* D only before T */
    iso_bad("PT1M1H"); /* out of order */
    iso_bad("P1D1D");  /* repeated */
    iso_bad("PTT1H");
    iso_bad("PT1H ");
    iso_bad("P101Y"); /* past 100 years */
    assert_int_equal(iso_ok("P100Y"), DURATION_MAX_SECONDS);
    char digits[2048] = "P";
    memset(digits + 1, '9', sizeof(digits) - 3);
    digits[sizeof(digits) - 2] = 'D';
    digits[sizeof(digits) - 1] = '\0';
    iso_bad(digits);
    iso_bad("PT99999999999999999999S");
}

static void test_format_go(void **state)
{
    (void)state;
    char out[64];
    duration_format_go(3600, out, sizeof(out));
    assert_string_equal(out, "1h0m0s");
    duration_format_go(2160LL * 3600, out, sizeof(out));
    assert_string_equal(out, "2160h0m0s");
    duration_format_go(90, out, sizeof(out));
    assert_string_equal(out, "1m30s");
    duration_format_go(60, out, sizeof(out));
    assert_string_equal(out, "1m0s");
    duration_format_go(45, out, sizeof(out));
    assert_string_equal(out, "45s");
    duration_format_go(0, out, sizeof(out));
    assert_string_equal(out, "0s");
    duration_format_go(3661, out, sizeof(out));
    assert_string_equal(out, "1h1m1s");
    duration_format_go(-90, out, sizeof(out));
    assert_string_equal(out, "-1m30s");
    duration_format_go(3600, out, 4);
    assert_string_equal(out, "1h0");
}

static void test_format_parse_round_trip(void **state)
{
    (void)state;
    const long long values[] = {0, 1, 59, 60, 61, 3599, 3600, 86400, 7776000, DURATION_MAX_SECONDS};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char out[64];
        duration_format_go(values[i], out, sizeof(out));
        assert_int_equal(go_ok(out), values[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_simple_units),
        cmocka_unit_test(test_go_zero_and_sign),
        cmocka_unit_test(test_go_fractions),
        cmocka_unit_test(test_go_subsecond_truncated),
        cmocka_unit_test(test_go_repeated_units_add),
        cmocka_unit_test(test_go_rejects_garbage),
        cmocka_unit_test(test_go_overflow_and_limit),
        cmocka_unit_test(test_go_error_echo_is_bounded_and_escaped),
        cmocka_unit_test(test_iso_components),
        cmocka_unit_test(test_iso_fraction_last_only),
        cmocka_unit_test(test_iso_rejects_garbage),
        cmocka_unit_test(test_format_go),
        cmocka_unit_test(test_format_parse_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
