/* test_metrics.c -- unit tests for the Prometheus registry (metrics.c). */
/* cmocka.h needs these first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "base/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t count_substr(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The value of the sample line starting with prefix ("name{labels} "), or -1 when absent. */
static double sample(const char *text, const char *prefix)
{
    size_t plen = strlen(prefix);
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, prefix, plen) == 0)
            return strtod(line + plen, NULL);
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    return -1;
}

static void test_render_exact(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    metrics_declare(m, "ember_requests_total", "counter",
                    "CertificateRequests handled, by outcome.");
    metrics_counter_add(m, "ember_requests_total", "outcome=\"issued\"", 2);
    metrics_counter_add(m, "ember_requests_total", "outcome=\"denied\"", 1);
    metrics_counter_add(m, "ember_requests_total", "outcome=\"issued\"", 1);
    metrics_declare(m, "ember_leader", "gauge", "1 when this replica is the leader.");
    metrics_gauge_set(m, "ember_leader", "", 0);
    metrics_gauge_set(m, "ember_leader", "", 1);
    metrics_declare(m, "ember_ca_expiry_timestamp_seconds", "gauge", "First\nsecond \\ line.");
    metrics_gauge_set(m, "ember_ca_expiry_timestamp_seconds", "issuer=\"ClusterIssuer/dev-ca\"",
                      1767225600);
    metrics_gauge_set(m, "ember_ca_expiry_timestamp_seconds", "issuer=\"Issuer/a/b\"", 0.25);
    /* Declared again: ignored, the first HELP stays. */
    metrics_declare(m, "ember_leader", "gauge", "other help");
    /* Declared but without series: not rendered. */
    metrics_declare(m, "ember_unused", "counter", "never incremented");
    char *text = metrics_render(m);
    assert_string_equal(
        text, "# HELP ember_ca_expiry_timestamp_seconds First\\nsecond \\\\ line.\n"
              "# TYPE ember_ca_expiry_timestamp_seconds gauge\n"
              "ember_ca_expiry_timestamp_seconds{issuer=\"ClusterIssuer/dev-ca\"} 1767225600\n"
              "ember_ca_expiry_timestamp_seconds{issuer=\"Issuer/a/b\"} 0.25\n"
              "# HELP ember_leader 1 when this replica is the leader.\n"
              "# TYPE ember_leader gauge\n"
              "ember_leader 1\n"
              "# HELP ember_metrics_dropped_series_total Metric samples dropped for a bad name or "
              "labels, or because the registry holds its maximum number of series.\n"
              "# TYPE ember_metrics_dropped_series_total counter\n"
              "ember_metrics_dropped_series_total 0\n"
              "# HELP ember_requests_total CertificateRequests handled, by outcome.\n"
              "# TYPE ember_requests_total counter\n"
              "ember_requests_total{outcome=\"denied\"} 1\n"
              "ember_requests_total{outcome=\"issued\"} 3\n");
    free(text);
    metrics_free(m);
    metrics_free(NULL);
}

static void test_histogram_cumulative(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    metrics_declare(m, "ember_sign_seconds", "histogram", "Signing latency.");
    const double obs[] = {0.0003, 0.003, 0.1, 0.7, 20};
    for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
        metrics_histogram_observe(m, "ember_sign_seconds", "signer=\"ca\"", obs[i]);
    metrics_histogram_observe(m, "ember_sign_seconds", "", 1);
    char *text = metrics_render(m);
    assert_non_null(strstr(text, "# HELP ember_sign_seconds Signing latency.\n"
                                 "# TYPE ember_sign_seconds histogram\n"
                                 "ember_sign_seconds_bucket{le=\"0.0005\"} 0\n"));
    const char *expect =
        "ember_sign_seconds_bucket{signer=\"ca\",le=\"0.0005\"} 1\n"
        "ember_sign_seconds_bucket{signer=\"ca\",le=\"0.001\"} 1\n"
        "ember_sign_seconds_bucket{signer=\"ca\",le=\"0.0025\"} 1\n"
        "ember_sign_seconds_bucket{signer=\"ca\",le=\"0.005\"} 2\n"
        "ember_sign_seconds_bucket{signer=\"ca\",le=\"0.01\"} 2\n"
        "ember_sign_seconds_bucket{signer=\"ca\",le=\"0.025\"} 2\n"
        "ember_sign_seconds_bucket{signer=\"ca\",le=\"0.05\"} 2\n"
        "ember_sign_seconds_bucket{signer=\"ca\",le=\"0.1\"} 3\n" /* le is inclusive */
        "ember_sign_seconds_bucket{signer=\"ca\",le=\"0.25\"} 3\n"
        "ember_sign_seconds_bucket{signer=\"ca\",le=\"0.5\"} 3\n"
        "ember_sign_seconds_bucket{signer=\"ca\",le=\"1\"} 4\n"
        "ember_sign_seconds_bucket{signer=\"ca\",le=\"2.5\"} 4\n"
        "ember_sign_seconds_bucket{signer=\"ca\",le=\"5\"} 4\n"
        "ember_sign_seconds_bucket{signer=\"ca\",le=\"10\"} 4\n"
        "ember_sign_seconds_bucket{signer=\"ca\",le=\"+Inf\"} 5\n"
        "ember_sign_seconds_sum{signer=\"ca\"} 20.8033\n"
        "ember_sign_seconds_count{signer=\"ca\"} 5\n";
    assert_non_null(strstr(text, expect));
    assert_int_equal(sample(text, "ember_sign_seconds_bucket{le=\"1\"} "), 1);
    assert_int_equal(sample(text, "ember_sign_seconds_bucket{le=\"0.5\"} "), 0);
    assert_int_equal(sample(text, "ember_sign_seconds_count "), 1);
    assert_int_equal(sample(text, "ember_sign_seconds_sum "), 1);
    /* The unlabelled series sorts first ("" < "signer=..."). */
    assert_true(strstr(text, "ember_sign_seconds_count 1") < strstr(text, "signer=\"ca\",le"));
    free(text);
    metrics_free(m);
}

static void test_undeclared_and_mismatched(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    metrics_counter_add(m, "ember_watch_restarts_total", "", 1);
    metrics_gauge_set(m, "ember_watch_restarts_total", "", 42); /* wrong kind: ignored */
    metrics_histogram_observe(m, "ember_watch_restarts_total", "", 1);
    metrics_counter_add(m, "ember_watch_restarts_total", "", -5); /* counters never go down */
    metrics_counter_add(m, "ember_watch_restarts_total", "", 0.0 / 0.0);
    char *text = metrics_render(m);
    assert_non_null(strstr(text, "\n# TYPE ember_watch_restarts_total counter\n"
                                 "ember_watch_restarts_total 1\n"));
    assert_null(strstr(text, "# HELP ember_watch_restarts_total"));
    assert_null(strstr(text, "ember_watch_restarts_total_bucket"));
    assert_int_equal(sample(text, "ember_metrics_dropped_series_total "), 0);
    free(text);

    /* A later declaration still brings the HELP. */
    metrics_declare(m, "ember_watch_restarts_total", "counter", "Watch restarts.");
    text = metrics_render(m);
    assert_non_null(strstr(text, "# HELP ember_watch_restarts_total Watch restarts.\n"
                                 "# TYPE ember_watch_restarts_total counter\n"));
    free(text);
    metrics_free(m);
}

static void test_special_values(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    metrics_gauge_set(m, "g", "k=\"nan\"", 0.0 / 0.0);
    metrics_gauge_set(m, "g", "k=\"pinf\"", 1.0 / 0.0);
    metrics_gauge_set(m, "g", "k=\"minf\"", -1.0 / 0.0);
    metrics_gauge_set(m, "g", "k=\"tenth\"", 0.1);
    metrics_gauge_set(m, "g", "k=\"neg\"", -3);
    metrics_gauge_set(m, "g", "k=\"third\"", 1.0 / 3.0);
    char *text = metrics_render(m);
    assert_non_null(strstr(text, "g{k=\"nan\"} NaN\n"));
    assert_non_null(strstr(text, "g{k=\"pinf\"} +Inf\n"));
    assert_non_null(strstr(text, "g{k=\"minf\"} -Inf\n"));
    assert_non_null(strstr(text, "g{k=\"tenth\"} 0.1\n"));
    assert_non_null(strstr(text, "g{k=\"neg\"} -3\n"));
    /* Round-trips exactly. */
    assert_true(sample(text, "g{k=\"third\"} ") == 1.0 / 3.0);
    free(text);
    metrics_free(m);
}

#define THREADS 4
#define ADDS 50000

static void *adder(void *arg)
{
    struct metrics *m = arg;
    for (int i = 0; i < ADDS; i++) {
        metrics_counter_add(m, "ember_requests_total", "outcome=\"issued\"", 1);
        metrics_histogram_observe(m, "ember_sign_seconds", "", 0.002);
        if (i % 1000 == 0)
            free(metrics_render(m)); /* rendering while others write */
    }
    return NULL;
}

static void test_concurrent_increments(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    metrics_declare(m, "ember_requests_total", "counter", "Requests.");
    metrics_declare(m, "ember_sign_seconds", "histogram", "Latency.");
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, adder, m), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    char *text = metrics_render(m);
    assert_int_equal(sample(text, "ember_requests_total{outcome=\"issued\"} "), THREADS * ADDS);
    assert_int_equal(sample(text, "ember_sign_seconds_count "), THREADS * ADDS);
    assert_int_equal(sample(text, "ember_sign_seconds_bucket{le=\"0.001\"} "), 0);
    assert_int_equal(sample(text, "ember_sign_seconds_bucket{le=\"0.0025\"} "), THREADS * ADDS);
    free(text);
    metrics_free(m);
}

static void test_series_cap(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    metrics_declare(m, "ember_hostile_total", "counter", "One series per label value.");
    const int extra = 50;
    for (int i = 0; i < METRICS_MAX_SERIES + extra; i++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "issuer=\"x%06d\"", i);
        metrics_counter_add(m, "ember_hostile_total", labels, 1);
    }
    /* Existing series still count after the cap is reached. */
    metrics_counter_add(m, "ember_hostile_total", "issuer=\"x000000\"", 1);
    char *text = metrics_render(m);
    /* The dropped-series counter itself is one of the METRICS_MAX_SERIES. */
    assert_int_equal(count_substr(text, "\nember_hostile_total{"), METRICS_MAX_SERIES - 1);
    assert_int_equal(sample(text, "ember_metrics_dropped_series_total "), extra + 1);
    assert_int_equal(sample(text, "ember_hostile_total{issuer=\"x000000\"} "), 2);
    assert_int_equal(sample(text, "ember_hostile_total{issuer=\"x009999\"} "), -1);
    free(text);
    metrics_free(m);
}

static void test_bad_names_and_labels_dropped(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    metrics_counter_add(m, "bad-name", "", 1);
    metrics_counter_add(m, "9starts_with_digit", "", 1);
    metrics_counter_add(m, "", "", 1);
    metrics_counter_add(m, "ok_total", "k=\"line\nbreak\"", 1);
    char *long_labels = malloc(METRICS_MAX_LABELS_LEN + 16);
    memset(long_labels, 'a', METRICS_MAX_LABELS_LEN + 15);
    long_labels[METRICS_MAX_LABELS_LEN + 15] = '\0';
    metrics_counter_add(m, "ok_total", long_labels, 1);
    free(long_labels);
    metrics_counter_add(m, "ok_total", NULL, 1); /* NULL labels = none */
    char *text = metrics_render(m);
    assert_int_equal(sample(text, "ember_metrics_dropped_series_total "), 5);
    assert_null(strstr(text, "bad-name"));
    assert_null(strstr(text, "9starts"));
    assert_int_equal(sample(text, "ok_total "), 1);
    assert_int_equal(count_substr(text, "ok_total"), 2); /* TYPE line and the one sample */
    free(text);
    metrics_free(m);
}

static void test_escape_label(void **state)
{
    (void)state;
    char out[64];
    metrics_escape_label("plain", out, sizeof(out));
    assert_string_equal(out, "plain");
    metrics_escape_label("a\\b\"c\nd", out, sizeof(out));
    assert_string_equal(out, "a\\\\b\\\"c\\nd");
    metrics_escape_label("", out, sizeof(out));
    assert_string_equal(out, "");
    /* Valid UTF-8 passes, invalid bytes become U+FFFD. */
    metrics_escape_label("caf\xc3\xa9 \xff", out, sizeof(out));
    assert_string_equal(out, "caf\xc3\xa9 \xef\xbf\xbd");
    /* Bounded: an escape or a character is never split, output always terminated. */
    metrics_escape_label("ab\"cd", out, 4);
    assert_string_equal(out, "ab");
    metrics_escape_label("ab\"cd", out, 5);
    assert_string_equal(out, "ab\\\"");
    metrics_escape_label("\xc3\xa9", out, 2);
    assert_string_equal(out, "");
    metrics_escape_label("x", out, 1);
    assert_string_equal(out, "");
    out[0] = 'Z';
    metrics_escape_label("x", out, 0);
    assert_int_equal(out[0], 'Z');
}

static void test_escaped_label_renders(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    char v[128], labels[160];
    metrics_escape_label("Issuer/ns/\"evil\"\n", v, sizeof(v));
    snprintf(labels, sizeof(labels), "issuer=\"%s\"", v);
    metrics_gauge_set(m, "ember_ca_expiry_timestamp_seconds", labels, 5);
    char *text = metrics_render(m);
    assert_non_null(strstr(
        text, "ember_ca_expiry_timestamp_seconds{issuer=\"Issuer/ns/\\\"evil\\\"\\n\"} 5\n"));
    free(text);
    metrics_free(m);
}

/* metrics_gauge_retain: keeps the series keep() accepts, in order; counts them out of the cap. */
static bool keep_a_or_c(void *ud, const char *labels)
{
    (*(int *)ud)++;
    return strcmp(labels, "k=\"a\"") == 0 || strcmp(labels, "k=\"c\"") == 0;
}

static void test_gauge_retain(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    metrics_declare(m, "g", "gauge", "G.");
    metrics_gauge_set(m, "g", "k=\"a\"", 1);
    metrics_gauge_set(m, "g", "k=\"b\"", 2);
    metrics_gauge_set(m, "g", "k=\"c\"", 3);
    metrics_counter_add(m, "c_total", "k=\"b\"", 1);
    int calls = 0;
    metrics_gauge_retain(m, "g", keep_a_or_c, &calls);
    assert_int_equal(calls, 3);
    metrics_gauge_retain(m, "c_total", keep_a_or_c, &calls); /* not a gauge: left alone */
    metrics_gauge_retain(m, "absent", keep_a_or_c, &calls);
    assert_int_equal(calls, 3);
    char *text = metrics_render(m);
    assert_non_null(strstr(text, "# TYPE g gauge\ng{k=\"a\"} 1\ng{k=\"c\"} 3\n"));
    assert_non_null(strstr(text, "c_total{k=\"b\"} 1\n"));
    free(text);
    /* a removed series is set again as new */
    metrics_gauge_set(m, "g", "k=\"b\"", 4);
    text = metrics_render(m);
    assert_non_null(strstr(text, "g{k=\"a\"} 1\ng{k=\"b\"} 4\ng{k=\"c\"} 3\n"));
    free(text);
    metrics_free(m);

    /* removed series no longer count against METRICS_MAX_SERIES */
    m = metrics_new();
    char labels[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < METRICS_MAX_SERIES - 1; i++) {
            snprintf(labels, sizeof(labels), "k=\"%d\"", i);
            metrics_gauge_set(m, "g", labels, 1);
        }
        calls = 0;
        metrics_gauge_retain(m, "g", keep_a_or_c, &calls);
        assert_int_equal(calls, METRICS_MAX_SERIES - 1);
    }
    text = metrics_render(m);
    assert_non_null(strstr(text, METRICS_DROPPED_NAME " 0\n"));
    free(text);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact),
        cmocka_unit_test(test_histogram_cumulative),
        cmocka_unit_test(test_undeclared_and_mismatched),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_concurrent_increments),
        cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_bad_names_and_labels_dropped),
        cmocka_unit_test(test_escape_label),
        cmocka_unit_test(test_escaped_label_renders),
        cmocka_unit_test(test_gauge_retain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
