/* test_kube.c -- unit tests of kube.c's pure parts: kubeconfig, in-cluster config, URLs, Status,
 * backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/b64.h"
#include "base/mem.h"
#include "kube/kube.h"

static const char CA_PEM[] =
    "-----BEGIN CERTIFICATE-----\nQ0EgYnl0ZXM=\n-----END CERTIFICATE-----\n";
static const char CERT_PEM[] = "-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n";
/* Not a key (base64 of "key"); the PEM label is split so no scanner takes this file for one. */
static const char KEY_PEM[] = "-----BEGIN "
                              "PRIVATE KEY-----\na2V5\n-----END "
                              "PRIVATE KEY-----\n";

static char *kubeconfig_yaml(const char *user_block, const char *cluster_extra)
{
    char *ca = b64_encode(CA_PEM, strlen(CA_PEM));
    char *y = xasprintf("apiVersion: v1\n"
                        "kind: Config\n"
                        "current-context: dev\n"
                        "contexts:\n"
                        "- name: dev\n"
                        "  context: {cluster: c1, user: u1, namespace: team-a}\n"
                        "- name: other\n"
                        "  context: {cluster: c2, user: u2}\n"
                        "clusters:\n"
                        "- name: c1\n"
                        "  cluster:\n"
                        "    server: https://10.0.0.1:6443/\n"
                        "    certificate-authority-data: %s\n%s"
                        "- name: c2\n"
                        "  cluster: {server: 'https://other:443'}\n"
                        "users:\n"
                        "- name: u1\n"
                        "  user:\n%s"
                        "- name: u2\n"
                        "  user: {token: tok-two}\n",
                        ca, cluster_extra ? cluster_extra : "", user_block);
    free(ca);
    return y;
}

static void test_kubeconfig_data_fields(void **state)
{
    (void)state;
    char *cert = b64_encode(CERT_PEM, strlen(CERT_PEM));
    char *key = b64_encode(KEY_PEM, strlen(KEY_PEM));
    char *user = xasprintf("    token: tok-one\n"
                           "    client-certificate-data: %s\n"
                           "    client-key-data: %s\n",
                           cert, key);
    char *y = kubeconfig_yaml(user, NULL);
    struct kube_config c;
    struct err err = {0};
    assert_int_equal(kube_config_parse_kubeconfig(y, strlen(y), NULL, NULL, &c, &err), 0);
    assert_string_equal(c.server, "https://10.0.0.1:6443");
    assert_int_equal(c.ca_len, strlen(CA_PEM));
    assert_memory_equal(c.ca_pem, CA_PEM, c.ca_len);
    assert_string_equal(c.token, "tok-one");
    assert_null(c.token_file);
    assert_memory_equal(c.client_cert_pem, CERT_PEM, strlen(CERT_PEM));
    assert_int_equal(c.client_key_len, strlen(KEY_PEM));
    assert_memory_equal(c.client_key_pem, KEY_PEM, c.client_key_len);
    assert_string_equal(c.namespace, "team-a");
    assert_int_equal(c.token_reread_s, 60);
    kube_config_free(&c);
    free(y);
    free(user);
    free(cert);
    free(key);
}

static void test_kubeconfig_named_context(void **state)
{
    (void)state;
    char *y = kubeconfig_yaml("    token: tok-one\n", NULL);
    struct kube_config c;
    struct err err = {0};
    assert_int_equal(kube_config_parse_kubeconfig(y, strlen(y), NULL, "other", &c, &err), 0);
    assert_string_equal(c.server, "https://other:443");
    assert_null(c.ca_pem);
    assert_string_equal(c.token, "tok-two");
    assert_string_equal(c.namespace, "default");
    kube_config_free(&c);
    assert_int_equal(kube_config_parse_kubeconfig(y, strlen(y), NULL, "missing", &c, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.msg, "no entry named missing in contexts"));
    assert_null(c.server);
    free(y);
}

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static void test_kubeconfig_files_relative(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_kube.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *p;
    p = xasprintf("%s/ca.crt", dir), write_file(p, CA_PEM), free(p);
    p = xasprintf("%s/c.crt", dir), write_file(p, CERT_PEM), free(p);
    p = xasprintf("%s/c.key", dir), write_file(p, KEY_PEM), free(p);
    p = xasprintf("%s/tok", dir), write_file(p, "  file-token\n"), free(p);
    const char *y = "current-context: x\n"
                    "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                    "clusters: [{name: c, cluster: {server: 'https://h', certificate-authority: "
                    "ca.crt}}]\n"
                    "users: [{name: u, user: {tokenFile: tok, client-certificate: c.crt, "
                    "client-key: c.key}}]\n";
    char *kc = xasprintf("%s/config", dir);
    write_file(kc, y);
    struct kube_config c;
    struct err err = {0};
    assert_int_equal(kube_config_from_kubeconfig(kc, NULL, &c, &err), 0);
    assert_memory_equal(c.ca_pem, CA_PEM, strlen(CA_PEM));
    assert_memory_equal(c.client_cert_pem, CERT_PEM, strlen(CERT_PEM));
    assert_memory_equal(c.client_key_pem, KEY_PEM, strlen(KEY_PEM));
    p = xasprintf("%s/tok", dir);
    assert_string_equal(c.token_file, p);
    kube_config_free(&c);
    /* A missing referenced file names the field. */
    unlink(p);
    free(p);
    assert_int_equal(kube_config_from_kubeconfig(kc, NULL, &c, &err), -1);
    assert_non_null(strstr(err.msg, "tokenFile"));
    const char *names[] = {"ca.crt", "c.crt", "c.key", "config"};
    for (size_t i = 0; i < 4; i++) {
        p = xasprintf("%s/%s", dir, names[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
    free(kc);
}

/* kube_config_parse_kubeconfig on y fails with kind and a message holding needle. */
static void expect_parse_fails(const char *y, enum err_kind kind, const char *needle)
{
    struct kube_config c;
    struct err err = {0};
    assert_int_equal(kube_config_parse_kubeconfig(y, strlen(y), NULL, NULL, &c, &err), -1);
    assert_int_equal(err.kind, kind);
    if (!strstr(err.msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
    assert_null(c.server);
    assert_null(c.namespace);
}

static void expect_refused(const char *user, const char *cluster_extra, const char *needle)
{
    char *y = kubeconfig_yaml(user, cluster_extra);
    expect_parse_fails(y, ERR_INVALID, needle);
    free(y);
}

static void test_kubeconfig_exec_refused(void **state)
{
    (void)state;
    expect_refused("    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}\n", NULL,
                   "exec credential plugin, which Ember does not support");
}

static void test_kubeconfig_auth_provider_refused(void **state)
{
    (void)state;
    expect_refused("    auth-provider: {name: gcp}\n", NULL,
                   "auth-provider, which Ember does not support");
}

static void test_kubeconfig_other_refusals(void **state)
{
    (void)state;
    expect_refused("    username: a\n    password: b\n", NULL, "username/password");
    expect_refused("    token: t\n", "    insecure-skip-tls-verify: true\n",
                   "insecure-skip-tls-verify is not supported");
    expect_refused("    token: t\n", "    tls-server-name: x\n",
                   "tls-server-name is not supported");
    char *cert = b64_encode(CERT_PEM, strlen(CERT_PEM));
    char *u = xasprintf("    client-certificate-data: %s\n", cert);
    expect_refused(u, NULL, "client-certificate and client-key must be given together");
    free(u);
    free(cert);
    expect_refused("    token: t\n", "    proxy-url: http://p\n", "proxy-url is not supported");
}

/* Each step of reading a kubeconfig: the context, its cluster, its user. */
static void test_kubeconfig_steps(void **state)
{
    (void)state;
    expect_parse_fails("current-context: x\ncontexts: {x: 1}\n", ERR_INVALID,
                       "kubeconfig: contexts: expected a list, got an object");
    expect_parse_fails("current-context: x\ncontexts: [{name: x, context: {user: u}}]\n",
                       ERR_INVALID, "context x names no cluster");
    expect_parse_fails("current-context: x\ncontexts: [{name: x, context: {cluster: 7}}]\n",
                       ERR_INVALID, "kubeconfig: context.cluster: expected a string, got a number");
    expect_parse_fails("current-context: x\n"
                       "contexts: [{name: x, context: {cluster: c, user: ghost}}]\n"
                       "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                       "users: [{name: u, user: {}}]\n",
                       ERR_INVALID, "no entry named ghost in users");
    char *big = xmalloc(KUBE_MAX_TOKEN_BYTES + 1);
    memset(big, 'a', KUBE_MAX_TOKEN_BYTES);
    big[KUBE_MAX_TOKEN_BYTES] = '\0';
    char *u = xasprintf("    token: %s\n", big);
    char *y = kubeconfig_yaml(u, NULL);
    expect_parse_fails(y, ERR_TOO_BIG, "user u1: token is longer than 16384 bytes");
    free(y);
    free(u);
    free(big);
    /* A context without a user or namespace: no credentials, the default namespace. */
    const char *anon = "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                       "clusters: [{name: c, cluster: {server: 'https://h:6443///'}}]\n";
    struct kube_config c;
    struct err err = {0};
    assert_int_equal(kube_config_parse_kubeconfig(anon, strlen(anon), NULL, NULL, &c, &err), 0);
    assert_string_equal(c.server, "https://h:6443");
    assert_null(c.token);
    assert_null(c.token_file);
    assert_null(c.client_cert_pem);
    assert_string_equal(c.namespace, "default");
    kube_config_free(&c);
}

static void test_kubeconfig_bad_input(void **state)
{
    (void)state;
    struct kube_config c;
    struct err err = {0};
    const char *bad = "current-context: [unclosed\n";
    assert_int_equal(kube_config_parse_kubeconfig(bad, strlen(bad), NULL, NULL, &c, &err), -1);
    assert_non_null(strstr(err.msg, "kubeconfig"));
    assert_non_null(strstr(err.msg, "line"));
    const char *http = "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                       "clusters: [{name: c, cluster: {server: 'http://h:8080'}}]\n";
    assert_int_equal(kube_config_parse_kubeconfig(http, strlen(http), NULL, NULL, &c, &err), -1);
    assert_non_null(strstr(err.msg, "https://"));
    const char *nocur = "contexts: []\n";
    assert_int_equal(kube_config_parse_kubeconfig(nocur, strlen(nocur), NULL, NULL, &c, &err), -1);
    assert_non_null(strstr(err.msg, "current-context"));
    const char *badb64 = "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                         "clusters: [{name: c, cluster: {server: 'https://h', "
                         "certificate-authority-data: '!!notb64'}}]\n";
    assert_int_equal(kube_config_parse_kubeconfig(badb64, strlen(badb64), NULL, NULL, &c, &err),
                     -1);
    assert_non_null(strstr(err.msg, "certificate-authority-data"));
    assert_int_equal(kube_config_from_kubeconfig("/nonexistent/kubeconfig", NULL, &c, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/kubeconfig"));
}

static void test_in_cluster(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_kube_sa.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *ca = xasprintf("%s/ca.crt", dir), *tok = xasprintf("%s/token", dir),
         *ns = xasprintf("%s/namespace", dir);
    write_file(ca, CA_PEM);
    write_file(tok, "sa-token\n");
    write_file(ns, "ember\n");
    struct kube_config c;
    struct err err = {0};
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    assert_int_equal(kube_config_in_cluster(dir, &c, &err), -1);
    assert_non_null(strstr(err.msg, "not running in a cluster"));
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(kube_config_in_cluster(dir, &c, &err), 0);
    assert_string_equal(c.server, "https://[fd00::1]:443");
    assert_string_equal(c.token_file, tok);
    assert_null(c.token);
    assert_string_equal(c.namespace, "ember");
    assert_memory_equal(c.ca_pem, CA_PEM, strlen(CA_PEM));
    kube_config_free(&c);
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    write_file(tok, "  \n");
    assert_int_equal(kube_config_in_cluster(dir, &c, &err), -1);
    assert_non_null(strstr(err.msg, "is empty"));
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    unlink(ca), unlink(tok), unlink(ns), rmdir(dir);
    free(ca), free(tok), free(ns);
}

static void test_paths(void **state)
{
    (void)state;
    struct err err = {0};
    char *p = kube_path_list("/api/v1/secrets", 100, "0", NULL, &err);
    assert_string_equal(p, "/api/v1/secrets?limit=100&resourceVersion=0");
    free(p);
    p = kube_path_list("/api/v1/secrets?labelSelector=a%3Db", 100, NULL, "abc+/=", &err);
    assert_string_equal(p, "/api/v1/secrets?labelSelector=a%3Db&limit=100&continue=abc%2B%2F%3D");
    free(p);
    p = kube_path_list("/x", 0, NULL, "", &err);
    assert_string_equal(p, "/x");
    free(p);
    p = kube_path_watch("/apis/g/v1/things", "123", 321, &err);
    assert_string_equal(p, "/apis/g/v1/things?watch=1&resourceVersion=123&"
                           "allowWatchBookmarks=true&timeoutSeconds=321");
    free(p);
    p = kube_path_watch("/x", "", 5, &err);
    assert_string_equal(p, "/x?watch=1&allowWatchBookmarks=true&timeoutSeconds=5");
    free(p);
    char *huge = xmalloc(KUBE_MAX_PATH_BYTES + 10);
    memset(huge, 'a', KUBE_MAX_PATH_BYTES + 9);
    huge[0] = '/';
    huge[KUBE_MAX_PATH_BYTES + 9] = '\0';
    assert_null(kube_path_watch(huge, "1", 5, &err));
    assert_int_equal(err.kind, ERR_TOO_BIG);
    free(huge);
}

static void test_status_parse(void **state)
{
    (void)state;
    struct kube_status st;
    const char *b = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                    "\"message\":\"too many\\nrequests\",\"reason\":\"TooManyRequests\","
                    "\"details\":{\"retryAfterSeconds\":7},\"code\":429}";
    kube_status_parse(b, strlen(b), 429, NULL, &st);
    assert_int_equal(st.code, 429);
    assert_string_equal(st.reason, "TooManyRequests");
    assert_string_equal(st.message, "too many?requests");
    assert_int_equal(st.retry_after_s, 7);
    assert_false(st.too_large_rv);
    kube_status_parse(b, strlen(b), 429, " 3\r\n", &st);
    assert_int_equal(st.retry_after_s, 3); /* the header wins */
    kube_status_parse(b, strlen(b), 429, "999999999999", &st);
    assert_int_equal(st.retry_after_s, KUBE_RETRY_AFTER_MAX_S);
    kube_status_parse("<html>", 6, 502, "Wed, 21 Oct 2015 07:28:00 GMT", &st);
    assert_int_equal(st.code, 502);
    assert_string_equal(st.reason, "");
    assert_int_equal(st.retry_after_s, 0);
    const char *tl = "{\"kind\":\"Status\",\"reason\":\"Timeout\",\"code\":504,\"details\":{"
                     "\"causes\":[{\"reason\":\"ResourceVersionTooLarge\",\"message\":\"x\"}],"
                     "\"retryAfterSeconds\":1}}";
    kube_status_parse(tl, strlen(tl), 504, NULL, &st);
    assert_true(st.too_large_rv);
    /* Not a Status: only the HTTP code. */
    const char *notst = "{\"kind\":\"Secret\",\"code\":200,\"reason\":\"x\"}";
    kube_status_parse(notst, strlen(notst), 404, NULL, &st);
    assert_int_equal(st.code, 404);
    assert_string_equal(st.reason, "");
    kube_status_parse(NULL, 0, 500, NULL, &st);
    assert_int_equal(st.code, 500);
    /* A long message is cut on a UTF-8 boundary. */
    char *longmsg = xmalloc(4000);
    static const char head[] = "{\"kind\":\"Status\",\"message\":\"";
    memcpy(longmsg, head, sizeof head);
    size_t n = sizeof head - 1;
    for (int i = 0; i < 600; i++, n += 2)
        memcpy(longmsg + n, "\xc3\xa9", 2);
    memcpy(longmsg + n, "\"}", 3);
    kube_status_parse(longmsg, strlen(longmsg), 400, NULL, &st);
    assert_true(strlen(st.message) < KUBE_STATUS_MESSAGE_MAX);
    assert_int_equal(strlen(st.message) % 2, 0);
    free(longmsg);
}

static void test_backoff_bounds(void **state)
{
    (void)state;
    struct kube_backoff b;
    kube_backoff_init(&b, 800, 30000, 120000);
    long base = 800, t = 0;
    for (int i = 0; i < 10; i++, t += 100) {
        long d0 = kube_backoff_next(&b, t, 0.0);
        long exp = base < 30000 ? base : 30000;
        assert_int_equal(d0, exp);
        base *= 2;
    }
    /* jitter stays within [cur, 2*cur] and under the cap */
    kube_backoff_init(&b, 800, 30000, 120000);
    assert_int_equal(kube_backoff_next(&b, 0, 0.999), 1599);
    long d = kube_backoff_next(&b, 10, 0.5);
    assert_int_equal(d, 2400);
    for (int i = 0; i < 20; i++) {
        d = kube_backoff_next(&b, 20 + i, 0.999);
        assert_true(d <= 30000 && d >= 800);
    }
    assert_int_equal(d, 30000);
    /* a quiet period resets it */
    assert_int_equal(kube_backoff_next(&b, 20 + 19 + 120001, 0.0), 800);
    /* random draws over many attempts stay within bounds */
    kube_backoff_init(&b, 100, 1000, 5000);
    unsigned seed = 1;
    for (int i = 0; i < 1000; i++) {
        double u = (double)rand_r(&seed) / ((double)RAND_MAX + 1.0);
        d = kube_backoff_next(&b, i, u);
        assert_true(d >= 100 && d <= 1000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kubeconfig_data_fields),
        cmocka_unit_test(test_kubeconfig_named_context),
        cmocka_unit_test(test_kubeconfig_files_relative),
        cmocka_unit_test(test_kubeconfig_exec_refused),
        cmocka_unit_test(test_kubeconfig_auth_provider_refused),
        cmocka_unit_test(test_kubeconfig_other_refusals),
        cmocka_unit_test(test_kubeconfig_steps),
        cmocka_unit_test(test_kubeconfig_bad_input),
        cmocka_unit_test(test_in_cluster),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_status_parse),
        cmocka_unit_test(test_backoff_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
