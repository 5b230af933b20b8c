/* test_config.c -- unit tests for the flag table (config.c). */
/* cmocka.h needs these first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ARGS 32

/* Parses a NULL-terminated list of arguments with env (NULL-terminated, may be NULL). */
static int parse_env(struct config *cfg, struct err *err, char **out_text, char **env, ...)
{
    char *argv[MAX_ARGS];
    int argc = 0;
    argv[argc++] = (char *)"ember-issuer";
    va_list ap;
    va_start(ap, env);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < MAX_ARGS - 1)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    err_clear(err);
    int rc = config_parse(cfg, argc, argv, env, out, err);
    fclose(out);
    if (out_text != NULL)
        *out_text = text;
    else
        free(text);
    return rc;
}

#define PARSE(cfg, err, ...) parse_env(cfg, err, NULL, NULL, __VA_ARGS__, (const char *)NULL)
#define PARSE_ENV(cfg, err, env, ...)                                                              \
    parse_env(cfg, err, NULL, env, __VA_ARGS__, (const char *)NULL)

/* Expects the arguments to fail with exactly msg. */
static void expect_error(const char *msg, ...)
{
    char *argv[MAX_ARGS];
    int argc = 0;
    argv[argc++] = (char *)"ember-issuer";
    va_list ap;
    va_start(ap, msg);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < MAX_ARGS - 1)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    struct config cfg;
    struct err err;
    err_clear(&err);
    FILE *out = fopen("/dev/null", "w");
    assert_non_null(out);
    assert_int_equal(config_parse(&cfg, argc, argv, NULL, out, &err), -1);
    fclose(out);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_string_equal(err.msg, msg);
    /* cfg holds nothing after a failure; freeing it again is harmless. */
    assert_null(cfg.api_bind_address);
    config_free(&cfg);
}

#define EXPECT_ERROR(msg, ...) expect_error(msg, __VA_ARGS__, (const char *)NULL)

static void test_defaults(void **state)
{
    (void)state;
    struct config cfg;
    struct err err;
    assert_int_equal(PARSE(&cfg, &err, NULL), 0);
    assert_string_equal(cfg.api_bind_address, "127.0.0.1:8080");
    assert_string_equal(cfg.health_probe_bind_address, ":8081");
    assert_string_equal(cfg.metrics_bind_address, ":8082");
    assert_string_equal(cfg.api_issuer, "");
    assert_false(cfg.api_allow_unauthenticated);
    assert_int_equal(cfg.api_max_body_bytes, 1048576);
    assert_int_equal(cfg.http_threads, 0);
    assert_int_equal(cfg.manifests.n, 0);
    assert_int_equal(cfg.policy_annotations.n, 0);
    assert_true(cfg.approve);
    assert_int_equal(cfg.max_retry_duration_s, 3600);
    assert_int_equal(cfg.log_format, LOG_FORMAT_JSON);
    assert_int_equal(cfg.log_level, LOG_INFO);
    char *pod_ns = config_read_namespace_file(CONFIG_NAMESPACE_FILE);
    assert_string_equal(cfg.cluster_resource_namespace, pod_ns ? pod_ns : "default");
    free(pod_ns);
    config_free(&cfg);
    assert_null(cfg.api_bind_address);
    config_free(&cfg); /* twice is harmless */
}

static void test_string_forms(void **state)
{
    (void)state;
    struct config cfg;
    struct err err;
    assert_int_equal(PARSE(&cfg, &err, "--api-bind-address", "0.0.0.0:9443",
                           "--metrics-bind-address=0", "--health-probe-bind-address", "[::1]:81",
                           "--api-issuer", "Issuer/team-a/mesh-ca",
                           "--cluster-resource-namespace=cert-manager"),
                     0);
    assert_string_equal(cfg.api_bind_address, "0.0.0.0:9443");
    assert_string_equal(cfg.metrics_bind_address, "0");
    assert_string_equal(cfg.health_probe_bind_address, "[::1]:81");
    assert_string_equal(cfg.api_issuer, "Issuer/team-a/mesh-ca");
    assert_string_equal(cfg.cluster_resource_namespace, "cert-manager");
    config_free(&cfg);

    assert_int_equal(PARSE(&cfg, &err, "--api-issuer=ClusterIssuer/dev-ca"), 0);
    assert_string_equal(cfg.api_issuer, "ClusterIssuer/dev-ca");
    config_free(&cfg);
}

static void test_last_single_value_wins(void **state)
{
    (void)state;
    struct config cfg;
    struct err err;
    assert_int_equal(PARSE(&cfg, &err, "--http-threads", "2", "--http-threads=3"), 0);
    assert_int_equal(cfg.http_threads, 3);
    config_free(&cfg);
}

static void test_bool_forms(void **state)
{
    (void)state;
    struct config cfg;
    struct err err;
    assert_int_equal(PARSE(&cfg, &err, "--api-allow-unauthenticated", "--approve=false"), 0);
    assert_true(cfg.api_allow_unauthenticated);
    assert_false(cfg.approve);
    config_free(&cfg);
    assert_int_equal(PARSE(&cfg, &err, "--approve=0", "--api-allow-unauthenticated=1"), 0);
    assert_false(cfg.approve);
    assert_true(cfg.api_allow_unauthenticated);
    config_free(&cfg);
    assert_int_equal(
        PARSE(&cfg, &err, "--approve=false", "--approve=true", "--api-allow-unauthenticated=false"),
        0);
    assert_true(cfg.approve);
    assert_false(cfg.api_allow_unauthenticated);
    config_free(&cfg);
}

static void test_integers(void **state)
{
    (void)state;
    struct config cfg;
    struct err err;
    assert_int_equal(PARSE(&cfg, &err, "--http-threads", "64", "--api-max-body-bytes=16777216"), 0);
    assert_int_equal(cfg.http_threads, 64);
    assert_int_equal(cfg.api_max_body_bytes, 16777216);
    config_free(&cfg);
    assert_int_equal(PARSE(&cfg, &err, "--http-threads=1", "--api-max-body-bytes", "1024"), 0);
    assert_int_equal(cfg.http_threads, 1);
    assert_int_equal(cfg.api_max_body_bytes, 1024);
    config_free(&cfg);
}

static void test_duration(void **state)
{
    (void)state;
    struct config cfg;
    struct err err;
    assert_int_equal(PARSE(&cfg, &err, "--max-retry-duration", "1h30m"), 0);
    assert_int_equal(cfg.max_retry_duration_s, 5400);
    config_free(&cfg);
    assert_int_equal(PARSE(&cfg, &err, "--max-retry-duration=1s"), 0);
    assert_int_equal(cfg.max_retry_duration_s, 1);
    config_free(&cfg);
    assert_int_equal(PARSE(&cfg, &err, "--max-retry-duration=720h"), 0);
    assert_int_equal(cfg.max_retry_duration_s, 720 * 3600);
    config_free(&cfg);
}

static void test_enums(void **state)
{
    (void)state;
    struct config cfg;
    struct err err;
    assert_int_equal(PARSE(&cfg, &err, "--log-format", "text", "--log-level=debug"), 0);
    assert_int_equal(cfg.log_format, LOG_FORMAT_TEXT);
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    config_free(&cfg);
    assert_int_equal(PARSE(&cfg, &err, "--log-format=json", "--log-level", "error"), 0);
    assert_int_equal(cfg.log_format, LOG_FORMAT_JSON);
    assert_int_equal(cfg.log_level, LOG_ERROR);
    config_free(&cfg);
    assert_int_equal(PARSE(&cfg, &err, "--log-level=warn"), 0);
    assert_int_equal(cfg.log_level, LOG_WARN);
    config_free(&cfg);
}

static void test_repeatable(void **state)
{
    (void)state;
    struct config cfg;
    struct err err;
    assert_int_equal(PARSE(&cfg, &err, "--manifests", "examples/standalone",
                           "--manifests=build/run/dev-ca.yaml", "--policy-annotation",
                           "firefly.venafi.com/policy-name", "--policy-annotation=policy"),
                     0);
    assert_int_equal(cfg.manifests.n, 2);
    assert_string_equal(cfg.manifests.v[0], "examples/standalone");
    assert_string_equal(cfg.manifests.v[1], "build/run/dev-ca.yaml");
    assert_int_equal(cfg.policy_annotations.n, 2);
    assert_string_equal(cfg.policy_annotations.v[0], "firefly.venafi.com/policy-name");
    assert_string_equal(cfg.policy_annotations.v[1], "policy");
    config_free(&cfg);
    /* A comma on the command line is part of the path. */
    assert_int_equal(PARSE(&cfg, &err, "--manifests", "a,b"), 0);
    assert_int_equal(cfg.manifests.n, 1);
    assert_string_equal(cfg.manifests.v[0], "a,b");
    config_free(&cfg);
}

static void test_env_used_when_no_flag(void **state)
{
    (void)state;
    char *env[] = {"PATH=/usr/bin",
                   "EMBER_HTTP_THREADS=8",
                   "EMBER_APPROVE=false",
                   "EMBER_LOG_FORMAT=text",
                   "EMBER_MAX_RETRY_DURATION=2h",
                   "EMBER_API_ISSUER=ClusterIssuer/vault",
                   "EMBER_MANIFESTS= /etc/ember/a.yaml, /etc/ember/dir,,",
                   "EMBER_POLICY_ANNOTATION=firefly.venafi.com/policy-name",
                   NULL};
    struct config cfg;
    struct err err;
    assert_int_equal(PARSE_ENV(&cfg, &err, env, NULL), 0);
    assert_int_equal(cfg.http_threads, 8);
    assert_false(cfg.approve);
    assert_int_equal(cfg.log_format, LOG_FORMAT_TEXT);
    assert_int_equal(cfg.max_retry_duration_s, 7200);
    assert_string_equal(cfg.api_issuer, "ClusterIssuer/vault");
    assert_int_equal(cfg.manifests.n, 2);
    assert_string_equal(cfg.manifests.v[0], "/etc/ember/a.yaml");
    assert_string_equal(cfg.manifests.v[1], "/etc/ember/dir");
    assert_int_equal(cfg.policy_annotations.n, 1);
    config_free(&cfg);
}

static void test_flag_wins_over_env(void **state)
{
    (void)state;
    char *env[] = {"EMBER_HTTP_THREADS=8", "EMBER_MANIFESTS=/from/env,/also/env",
                   "EMBER_APPROVE=false", NULL};
    struct config cfg;
    struct err err;
    assert_int_equal(
        PARSE_ENV(&cfg, &err, env, "--http-threads=16", "--manifests", "/from/flag", "--approve"),
        0);
    assert_int_equal(cfg.http_threads, 16);
    assert_int_equal(cfg.manifests.n, 1);
    assert_string_equal(cfg.manifests.v[0], "/from/flag");
    assert_true(cfg.approve);
    config_free(&cfg);

    /* A bad environment value is not even looked at when the flag is given. */
    char *bad_env[] = {"EMBER_HTTP_THREADS=lots", NULL};
    assert_int_equal(PARSE_ENV(&cfg, &err, bad_env, "--http-threads", "2"), 0);
    assert_int_equal(cfg.http_threads, 2);
    config_free(&cfg);
}

static void test_env_empty_and_unknown_ignored(void **state)
{
    (void)state;
    char *env[] = {"EMBER_HTTP_THREADS=", "EMBER_ISSUER_SERVICE_HOST=10.0.0.1",
                   "EMBER_ISSUER_PORT=tcp://10.0.0.1:8080", "EMBER_HTTP_THREADSX=9", NULL};
    struct config cfg;
    struct err err;
    assert_int_equal(PARSE_ENV(&cfg, &err, env, NULL), 0);
    assert_int_equal(cfg.http_threads, 0);
    config_free(&cfg);
}

static void test_env_error_names_variable(void **state)
{
    (void)state;
    char *env[] = {"EMBER_HTTP_THREADS=-1", NULL};
    struct config cfg;
    struct err err;
    assert_int_equal(PARSE_ENV(&cfg, &err, env, NULL), -1);
    assert_string_equal(err.msg, "EMBER_HTTP_THREADS: -1 is below the minimum 0");
    char *env2[] = {"EMBER_LOG_LEVEL=verbose", NULL};
    assert_int_equal(PARSE_ENV(&cfg, &err, env2, NULL), -1);
    assert_string_equal(err.msg, "EMBER_LOG_LEVEL: must be one of debug, info, warn, error");
    char *env3[] = {"EMBER_POLICY_ANNOTATION=ok/key, bad key", NULL};
    assert_int_equal(PARSE_ENV(&cfg, &err, env3, NULL), -1);
    assert_non_null(strstr(err.msg, "EMBER_POLICY_ANNOTATION: \"bad key\" is not an annotation"));
    config_free(&cfg);
}

static void test_error_unknown_flag(void **state)
{
    (void)state;
    EXPECT_ERROR("unknown flag --foo", "--foo");
    EXPECT_ERROR("unknown flag --foo", "--foo=bar");
    EXPECT_ERROR("unknown flag -v", "-v");
    EXPECT_ERROR("unknown flag --leader-elected", "--approve", "--leader-elected");
}

static void test_error_unexpected_argument(void **state)
{
    (void)state;
    EXPECT_ERROR("unexpected argument \"serve\"", "serve");
    EXPECT_ERROR("unexpected argument \"false\" (a boolean takes its value as --approve=false)",
                 "--approve", "false");
    EXPECT_ERROR("unexpected argument \"--\"", "--");
}

static void test_error_missing_value(void **state)
{
    (void)state;
    EXPECT_ERROR("--http-threads: missing value (N)", "--http-threads");
    EXPECT_ERROR("--manifests: missing value (PATH)", "--approve", "--manifests");
}

static void test_http_front_door(void **state)
{
    (void)state;
    struct config cfg;
    struct err err;
    assert_int_equal(PARSE(&cfg, &err, NULL), 0);
    assert_int_equal(cfg.http_header_timeout_s, 10);
    assert_int_equal(cfg.http_read_timeout_s, 30);
    assert_int_equal(cfg.http_max_conns, 1024);
    assert_int_equal(cfg.http_max_conns_per_addr, 64);
    config_free(&cfg);
    char *env[] = {(char *)"EMBER_HTTP_READ_HEADER_TIMEOUT=3s",
                   (char *)"EMBER_HTTP_MAX_CONNECTIONS_PER_ADDRESS=8", NULL};
    assert_int_equal(
        PARSE_ENV(&cfg, &err, env, "--http-read-timeout=1m", "--http-max-connections", "4096"), 0);
    assert_int_equal(cfg.http_header_timeout_s, 3);
    assert_int_equal(cfg.http_read_timeout_s, 60);
    assert_int_equal(cfg.http_max_conns, 4096);
    assert_int_equal(cfg.http_max_conns_per_addr, 8);
    config_free(&cfg);
    EXPECT_ERROR("--http-read-header-timeout: 0s is below the minimum 1s",
                 "--http-read-header-timeout=0s");
    EXPECT_ERROR("--http-max-connections: 0 is below the minimum 1", "--http-max-connections=0");
    EXPECT_ERROR("--http-max-connections-per-address: 65537 is above the maximum 65536",
                 "--http-max-connections-per-address=65537");
}

/* --secure-heap-bytes: 256 KiB by default (the 32 KiB of old held ~14 RSA-4096 keys), a power of
 * two within its bounds, from the flag or EMBER_SECURE_HEAP_BYTES. */
static void test_secure_heap_bytes(void **state)
{
    (void)state;
    struct config cfg;
    struct err err;
    assert_int_equal(PARSE(&cfg, &err, "--manifests", "x"), 0);
    assert_int_equal(cfg.secure_heap_bytes, 262144);
    config_free(&cfg);
    assert_int_equal(PARSE(&cfg, &err, "--manifests", "x", "--secure-heap-bytes=1048576"), 0);
    assert_int_equal(cfg.secure_heap_bytes, 1048576);
    config_free(&cfg);
    char *env[] = {"EMBER_SECURE_HEAP_BYTES=65536", NULL};
    assert_int_equal(parse_env(&cfg, &err, NULL, env, "--manifests", "x", (const char *)NULL), 0);
    assert_int_equal(cfg.secure_heap_bytes, 65536);
    config_free(&cfg);
    EXPECT_ERROR("--secure-heap-bytes: must be a power of two (such as 65536 or 262144), got "
                 "100000",
                 "--secure-heap-bytes=100000");
    EXPECT_ERROR("--secure-heap-bytes: 8192 is below the minimum 16384",
                 "--secure-heap-bytes=8192");
    EXPECT_ERROR("--secure-heap-bytes: 134217728 is above the maximum 67108864",
                 "--secure-heap-bytes=134217728");
}

static void test_error_bounds(void **state)
{
    (void)state;
    EXPECT_ERROR("--http-threads: -2 is below the minimum 0", "--http-threads", "-2");
    EXPECT_ERROR("--http-threads: 65 is above the maximum 64", "--http-threads=65");
    EXPECT_ERROR("--api-max-body-bytes: 1023 is below the minimum 1024",
                 "--api-max-body-bytes=1023");
    EXPECT_ERROR("--api-max-body-bytes: 16777217 is above the maximum 16777216",
                 "--api-max-body-bytes=16777217");
    EXPECT_ERROR("--max-retry-duration: 500ms is below the minimum 1s",
                 "--max-retry-duration=500ms");
    EXPECT_ERROR("--max-retry-duration: 721h is above the maximum 720h0m0s",
                 "--max-retry-duration=721h");
}

static void test_error_bad_numbers(void **state)
{
    (void)state;
    EXPECT_ERROR("--http-threads: \"four\" is not an integer", "--http-threads=four");
    EXPECT_ERROR("--http-threads: \" 4\" is not an integer", "--http-threads= 4");
    EXPECT_ERROR("--http-threads: \"4x\" is not an integer", "--http-threads=4x");
    EXPECT_ERROR("--http-threads: \"\" is not an integer", "--http-threads=");
    EXPECT_ERROR("--api-max-body-bytes: \"99999999999999999999\" is not an integer",
                 "--api-max-body-bytes=99999999999999999999");
    EXPECT_ERROR("--http-threads: -1 is below the minimum 0", "--http-threads=-1");
}

static void test_error_bad_duration(void **state)
{
    (void)state;
    struct config cfg;
    struct err err;
    assert_int_equal(PARSE(&cfg, &err, "--max-retry-duration=soon"), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_memory_equal(err.msg, "--max-retry-duration: ", 22);
    assert_true(strlen(err.msg) > 22);
}

static void test_error_bad_bool(void **state)
{
    (void)state;
    EXPECT_ERROR("--approve: \"yes\" is not a boolean (true, false, 1 or 0)", "--approve=yes");
}

static void test_error_bad_enum(void **state)
{
    (void)state;
    EXPECT_ERROR("--log-format: must be one of json, text", "--log-format", "xml");
    EXPECT_ERROR("--log-level: must be one of debug, info, warn, error", "--log-level=INFO");
}

static void test_error_bad_strings(void **state)
{
    (void)state;
    EXPECT_ERROR("--api-bind-address: \"8080\" is not HOST:PORT, :PORT or 0 (off)",
                 "--api-bind-address", "8080");
    EXPECT_ERROR("--metrics-bind-address: \":99999\" is not HOST:PORT, :PORT or 0 (off)",
                 "--metrics-bind-address=:99999");
    EXPECT_ERROR("--health-probe-bind-address: \"::1:80\" is not HOST:PORT, :PORT or 0 (off)",
                 "--health-probe-bind-address=::1:80");
    EXPECT_ERROR("--api-bind-address: \"\" is not HOST:PORT, :PORT or 0 (off)",
                 "--api-bind-address=");
    EXPECT_ERROR("--api-issuer: \"Issuer/mesh\" is not Issuer/NAMESPACE/NAME or "
                 "ClusterIssuer/NAME",
                 "--api-issuer=Issuer/mesh");
    EXPECT_ERROR("--api-issuer: \"ClusterIssuer/a/b\" is not Issuer/NAMESPACE/NAME or "
                 "ClusterIssuer/NAME",
                 "--api-issuer=ClusterIssuer/a/b");
    EXPECT_ERROR("--cluster-resource-namespace: \"Cert_Manager\" is not a namespace name (up to "
                 "63 lowercase letters, digits and '-')",
                 "--cluster-resource-namespace=Cert_Manager");
    EXPECT_ERROR("--manifests: empty path", "--manifests=");
    EXPECT_ERROR("--policy-annotation: \"a/b/c\" is not an annotation key (an optional DNS "
                 "prefix and '/', then up to 63 letters, digits, '-', '_' or '.')",
                 "--policy-annotation=a/b/c");
}

static void test_error_value_too_long(void **state)
{
    (void)state;
    char *big = malloc(CONFIG_VALUE_MAX + 2);
    assert_non_null(big);
    memset(big, 'a', CONFIG_VALUE_MAX + 1);
    big[CONFIG_VALUE_MAX + 1] = '\0';
    char msg[128];
    snprintf(msg, sizeof(msg), "--manifests: value longer than %d bytes", CONFIG_VALUE_MAX);
    EXPECT_ERROR(msg, "--manifests", big);
    free(big);
}

static const char *const all_flags[] = {
    "api-bind-address",
    "health-probe-bind-address",
    "metrics-bind-address",
    "api-issuer",
    "api-allow-unauthenticated",
    "api-allow-plaintext-tokens",
    "api-max-body-bytes",
    "api-tls-cert-file",
    "api-tls-key-file",
    "api-client-ca-file",
    "api-token-auth",
    "api-token-audience",
    "api-token-cache-ttl",
    "audit-log",
    "audit-log-include-certificate",
    "http-threads",
    "http-read-header-timeout",
    "http-read-timeout",
    "http-max-connections",
    "http-max-connections-per-address",
    "manifests",
    "kubeconfig",
    "workers",
    "watch-timeout",
    "token-reread-period",
    "namespace",
    "leader-elect",
    "leader-election-namespace",
    "leader-election-lease-duration",
    "leader-election-renew-deadline",
    "leader-election-retry-period",
    "cluster-resource-namespace",
    "policy-annotation",
    "approve",
    "max-retry-duration",
    "issuer-recheck-period",
    "secure-heap-bytes",
    "log-format",
    "log-level",
};

static size_t count_lines_starting(const char *text, const char *prefix)
{
    size_t n = 0;
    size_t plen = strlen(prefix);
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, prefix, plen) == 0)
            n++;
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    return n;
}

static void test_help_lists_every_flag_once(void **state)
{
    (void)state;
    struct config cfg;
    struct err err;
    char *text = NULL;
    assert_int_equal(
        parse_env(&cfg, &err, &text, NULL, "--manifests", "x", "--help", (const char *)NULL), 1);
    assert_non_null(text);
    assert_memory_equal(text, "Usage: ember-issuer [flags]\n", 28);
    assert_non_null(strstr(
        text, "\n       ember-issuer dev-ca --output FILE [--namespace NS] [--name NAME]\n"));
    size_t nflags = sizeof(all_flags) / sizeof(all_flags[0]);
    for (size_t i = 0; i < nflags; i++) {
        char prefix[96];
        /* "--approve" must not also count "--approve-x": the name is followed by a blank. */
        snprintf(prefix, sizeof(prefix), "  --%s ", all_flags[i]);
        assert_int_equal(count_lines_starting(text, prefix), 1);
        char env[96];
        size_t k = (size_t)snprintf(env, sizeof(env), "[env EMBER_");
        for (const char *p = all_flags[i]; *p; p++)
            env[k++] = *p == '-' ? '_' : (char)(*p - 'a' + 'A');
        env[k++] = ']';
        env[k] = '\0';
        assert_non_null(strstr(text, env));
    }
    /* Every flag line is in the table above: nothing undocumented, nothing missing. */
    assert_int_equal(count_lines_starting(text, "  --"), nflags + 1 /* --version */);
    assert_non_null(strstr(text, "--http-threads N "));
    assert_non_null(strstr(text, "(default: 127.0.0.1:8080)"));
    assert_non_null(strstr(text, "(default: 1h)"));
    assert_non_null(strstr(text, "(default: the pod's namespace, else default)"));
    free(text);
    assert_null(cfg.api_bind_address);

    /* The generated help and the one --help prints are the same text. */
    char *direct = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&direct, &len);
    config_print_help(out);
    fclose(out);
    assert_int_equal(parse_env(&cfg, &err, &text, NULL, "-h", (const char *)NULL), 1);
    assert_string_equal(direct, text);
    free(direct);
    free(text);
}

static void test_help_ignores_bad_env(void **state)
{
    (void)state;
    char *env[] = {"EMBER_HTTP_THREADS=-1", NULL};
    struct config cfg;
    struct err err;
    char *text = NULL;
    assert_int_equal(parse_env(&cfg, &err, &text, env, "--help", (const char *)NULL), 1);
    assert_non_null(strstr(text, "Usage: "));
    free(text);
}

static void test_version(void **state)
{
    (void)state;
    struct config cfg;
    struct err err;
    char *text = NULL;
    assert_int_equal(parse_env(&cfg, &err, &text, NULL, "--version", (const char *)NULL), 1);
    assert_string_equal(text, "ember-issuer " EMBER_VERSION "\n");
    free(text);
}

static void test_namespace_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/ember-config-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/namespace", dir);

    assert_null(config_read_namespace_file(path)); /* missing */
    FILE *f = fopen(path, "w");
    fputs("team-a\n", f);
    fclose(f);
    char *ns = config_read_namespace_file(path);
    assert_non_null(ns);
    assert_string_equal(ns, "team-a");
    free(ns);

    f = fopen(path, "w");
    fputs("Not A Namespace", f);
    fclose(f);
    assert_null(config_read_namespace_file(path));

    f = fopen(path, "w");
    fputs("", f);
    fclose(f);
    assert_null(config_read_namespace_file(path));

    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_string_forms),
        cmocka_unit_test(test_last_single_value_wins),
        cmocka_unit_test(test_bool_forms),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_enums),
        cmocka_unit_test(test_repeatable),
        cmocka_unit_test(test_env_used_when_no_flag),
        cmocka_unit_test(test_flag_wins_over_env),
        cmocka_unit_test(test_env_empty_and_unknown_ignored),
        cmocka_unit_test(test_env_error_names_variable),
        cmocka_unit_test(test_error_unknown_flag),
        cmocka_unit_test(test_error_unexpected_argument),
        cmocka_unit_test(test_error_missing_value),
        cmocka_unit_test(test_http_front_door),
        cmocka_unit_test(test_error_bounds),
        cmocka_unit_test(test_secure_heap_bytes),
        cmocka_unit_test(test_error_bad_numbers),
        cmocka_unit_test(test_error_bad_duration),
        cmocka_unit_test(test_error_bad_bool),
        cmocka_unit_test(test_error_bad_enum),
        cmocka_unit_test(test_error_bad_strings),
        cmocka_unit_test(test_error_value_too_long),
        cmocka_unit_test(test_help_lists_every_flag_once),
        cmocka_unit_test(test_help_ignores_bad_env),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_namespace_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
