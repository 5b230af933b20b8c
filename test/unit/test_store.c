/* test_store.c -- the standalone object store: manifest files in a temporary directory, Secrets,
 * issuer readiness, lookups. A CA is made in-process and written at test time only. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "base/b64.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/strv.h"
#include "issuers/issuer.h"
#include "standalone/store.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static time_t NOW;
static char *ca_pem, *ca_key_pem;

/* ---- a self-signed CA made in-process ---- */

static void add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

static char *bio_take(BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *s = xstrndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

static int group_setup(void **state)
{
    (void)state;
    NOW = time(NULL);
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"Store Test CA", -1,
                               -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    X509_NAME_free(n);
    X509_time_adj_ex(X509_getm_notBefore(x), 0, -3600, &NOW);
    X509_time_adj_ex(X509_getm_notAfter(x), 30, 0, &NOW);
    X509_set_pubkey(x, k);
    add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(x, NID_subject_key_identifier, "hash");
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    ca_pem = bio_take(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    ca_key_pem = bio_take(b);
    X509_free(x);
    EVP_PKEY_free(k);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free(ca_pem);
    OPENSSL_cleanse(ca_key_pem, strlen(ca_key_pem));
    free(ca_key_pem);
    return 0;
}

/* ---- temporary manifest directories ---- */

static char dir[64];
static struct strv written;

static int test_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/ember-store-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int test_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < written.n; i++)
        unlink(written.v[i]);
    strv_free(&written);
    rmdir(dir);
    return 0;
}

static void write_file(const char *name, const char *content)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    strv_push_take(&written, path);
}

/* PEM text as a YAML block scalar body, indented by n spaces. */
static char *indent(const char *text, int n)
{
    size_t lines = 1;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    char *out = xmalloc(strlen(text) + lines * (size_t)n + 1);
    char *o = out;
    bool bol = true;
    for (const char *p = text; *p; p++) {
        if (bol && *p != '\n') {
            memset(o, ' ', (size_t)n);
            o += n;
        }
        *o++ = *p;
        bol = *p == '\n';
    }
    *o = '\0';
    return out;
}

/* A Secret in YAML with stringData tls.crt / tls.key (either may be NULL). */
static char *secret_yaml_string(const char *ns, const char *name, const char *crt, const char *key)
{
    char *c = crt ? indent(crt, 4) : NULL, *k = key ? indent(key, 4) : NULL;
    char *s = xasprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n"
                        "stringData:\n%s%s%s%s",
                        name, ns, c ? "  tls.crt: |\n" : "", c ? c : "", k ? "  tls.key: |\n" : "",
                        k ? k : "");
    if (k != NULL)
        OPENSSL_cleanse(k, strlen(k));
    free(c);
    free(k);
    return s;
}

/* A Secret in JSON with data (base64) tls.crt / tls.key. */
static char *secret_json_data(const char *ns, const char *name, const char *crt, const char *key)
{
    char *c = b64_encode(crt, strlen(crt)), *k = b64_encode(key, strlen(key));
    char *s = xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"%s\","
                        "\"namespace\":\"%s\"},\"type\":\"kubernetes.io/tls\",\"data\":{"
                        "\"tls.crt\":\"%s\",\"tls.key\":\"%s\"}}",
                        name, ns, c, k);
    OPENSSL_cleanse(k, strlen(k));
    free(c);
    free(k);
    return s;
}

static char *issuer_yaml(const char *kind, const char *ns, const char *name, const char *secret)
{
    return xasprintf(
        "apiVersion: ember.issuer.dev/v1alpha1\nkind: %s\nmetadata:\n  name: %s\n%s%s%s"
        "spec:\n  ca:\n    secretName: %s\n",
        kind, name, ns ? "  namespace: " : "", ns ? ns : "", ns ? "\n" : "", secret);
}

static const char *POLICY_YAML = "apiVersion: ember.issuer.dev/v1alpha1\n"
                                 "kind: IssuancePolicy\n"
                                 "metadata:\n  name: web\n"
                                 "spec:\n  validity:\n    max: 24h\n";

/* Collects store_resolve reports as "object|problem". */
static void on_report(void *ud, const char *object, const char *problem)
{
    strv_push_take(ud, xasprintf("%s|%s", object, problem));
}

static const char *find_report(const struct strv *r, const char *part)
{
    for (size_t i = 0; i < r->n; i++)
        if (strstr(r->v[i], part) != NULL)
            return r->v[i];
    return NULL;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (hay == NULL || strstr(hay, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", hay ? hay : "(null)", needle);
}

static struct issuer *find(struct store *st, const char *kind, const char *ns, const char *name)
{
    return store_find_issuer(st, kind, ns, name);
}

/* A store of the manifests in dir, resolved at NOW, its reports into *reports. */
static struct store *resolved_store(const char *cluster_ns, struct strv *reports)
{
    struct store *st = store_new(cluster_ns);
    struct err e = {0};
    if (store_load_path(st, dir, &e) != 0)
        fail_msg("%s", e.msg);
    store_resolve(st, NOW, on_report, reports);
    return st;
}

/* ---- tests ---- */

static void test_load_directory(void **state)
{
    (void)state;
    write_file("10-policy.yaml", POLICY_YAML);
    char *i1 = issuer_yaml("Issuer", "team-a", "ca", "ca-secret");
    char *i2 = issuer_yaml("ClusterIssuer", NULL, "cluster-ca", "cluster-secret");
    char *both = xasprintf("%s---\n%s", i1, i2);
    write_file("20-issuers.yml", both);
    char *s1 = secret_json_data("team-a", "ca-secret", ca_pem, ca_key_pem);
    write_file("30-secret.json", s1);
    char *s2 = secret_yaml_string("ember-system", "cluster-secret", ca_pem, ca_key_pem);
    write_file("40-secret.yaml", s2);
    write_file("50-other.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n");
    /* not manifests: never read (they would not parse) */
    write_file("README.md", "# {{{ not yaml: [\n");
    write_file("notes.txt", "a: [\n");
    write_file("old.yaml.bak", "a: [\n");
    write_file("Makefile", "a: [\n");

    struct store *st = store_new("ember-system");
    struct err e = {0};
    if (store_load_path(st, dir, &e) != 0)
        fail_msg("store_load_path: %s", e.msg);
    assert_int_equal(store_count_issuers(st), 2);
    assert_int_equal(store_count_policies(st), 1);

    struct strv reports = {0};
    store_resolve(st, NOW, on_report, &reports);
    /* the ConfigMap is reported as skipped, naming its file */
    const char *cm = find_report(&reports, "ConfigMap");
    assert_non_null(cm);
    assert_contains(cm, "50-other.yaml");
    assert_null(find_report(&reports, "Issuer/"));

    struct issuer *is = find(st, "Issuer", "team-a", "ca");
    assert_non_null(is);
    assert_true(issuer_is_ready(is));
    assert_non_null(is->signer.ops);
    issuer_unref(is);
    is = find(st, "ClusterIssuer", "", "cluster-ca");
    assert_non_null(is);
    assert_true(issuer_is_ready(is)); /* stringData, cluster resource namespace */
    issuer_unref(is);
    strv_free(&reports);
    store_free(st);
    free(i1);
    free(i2);
    free(both);
    free(s1);
    free(s2);
}

static void test_duplicates_refused_with_file_name(void **state)
{
    (void)state;
    char *i1 = issuer_yaml("Issuer", "team-a", "ca", "s");
    /* b.yaml is created first; sorted loading reads a.yaml first, so b.yaml is the duplicate */
    write_file("b.yaml", i1);
    write_file("a.yaml", i1);
    struct store *st = store_new("ember-system");
    struct err e = {0};
    assert_int_equal(store_load_path(st, dir, &e), -1);
    assert_int_equal(e.kind, ERR_INVALID);
    assert_contains(e.msg, "b.yaml");
    assert_contains(e.msg, "Issuer/team-a/ca");
    store_free(st);
    free(i1);
}

static void test_duplicates_of_each_kind(void **state)
{
    (void)state;
    char *sec = secret_json_data("team-a", "s", ca_pem, ca_key_pem);
    char *i1 = issuer_yaml("ClusterIssuer", NULL, "c", "s");
    const char *docs[] = {POLICY_YAML, sec, i1};
    const char *want[] = {"IssuancePolicy/web", "Secret/team-a/s", "ClusterIssuer/c"};
    for (size_t i = 0; i < 3; i++) {
        char *two = xasprintf("%s\n---\n%s", docs[i], docs[i]);
        char *path = xasprintf("%s/dup%zu.yaml", dir, i);
        write_file(strrchr(path, '/') + 1, two);
        struct store *st = store_new("ember-system");
        struct err e = {0};
        assert_int_equal(store_load_path(st, path, &e), -1);
        assert_contains(e.msg, path);
        assert_contains(e.msg, want[i]);
        store_free(st);
        free(two);
        free(path);
    }
    /* same name, different namespace or kind: not duplicates */
    char *a = issuer_yaml("Issuer", "team-a", "c", "s");
    char *b = issuer_yaml("Issuer", "team-b", "c", "s");
    char *all = xasprintf("%s---\n%s---\n%s", a, b, i1);
    write_file("ok.yaml", all);
    struct store *st = store_new("ember-system");
    struct err e = {0};
    char *path = xasprintf("%s/ok.yaml", dir);
    assert_int_equal(store_load_path(st, path, &e), 0);
    assert_int_equal(store_count_issuers(st), 3);
    store_free(st);
    free(path);
    free(a);
    free(b);
    free(all);
    free(sec);
    free(i1);
}

static void test_parse_errors_name_the_file(void **state)
{
    (void)state;
    write_file("bad.yaml", "apiVersion: v1\nkind: [Secret\n");
    struct store *st = store_new("ember-system");
    struct err e = {0};
    assert_int_equal(store_load_path(st, dir, &e), -1);
    assert_contains(e.msg, "bad.yaml");
    store_free(st);

    write_file("bad2.json", "{\"apiVersion\": \"v1\"");
    char *path = xasprintf("%s/bad2.json", dir);
    st = store_new("ember-system");
    assert_int_equal(store_load_path(st, path, &e), -1);
    assert_contains(e.msg, "bad2.json");
    store_free(st);
    free(path);

    /* an object without apiVersion/kind */
    write_file("nokind.yaml", "metadata:\n  name: x\n");
    path = xasprintf("%s/nokind.yaml", dir);
    st = store_new("ember-system");
    assert_int_equal(store_load_path(st, path, &e), -1);
    assert_contains(e.msg, "nokind.yaml");
    store_free(st);
    free(path);
}

static void test_missing_path(void **state)
{
    (void)state;
    struct store *st = store_new("ember-system");
    struct err e = {0};
    char *path = xasprintf("%s/does-not-exist", dir);
    assert_int_equal(store_load_path(st, path, &e), -1);
    assert_contains(e.msg, "does-not-exist");
    store_free(st);
    free(path);
}

static void test_single_file_and_empty_dir(void **state)
{
    (void)state;
    struct store *st = store_new("ember-system");
    struct err e = {0};
    assert_int_equal(store_load_path(st, dir, &e), 0); /* empty directory: nothing, no error */
    assert_int_equal(store_count_issuers(st), 0);
    write_file("one.yaml", POLICY_YAML);
    char *path = xasprintf("%s/one.yaml", dir);
    assert_int_equal(store_load_path(st, path, &e), 0);
    assert_int_equal(store_count_policies(st), 1);
    store_free(st);
    free(path);
}

static void test_issuer_not_ready_names_the_secret(void **state)
{
    (void)state;
    char *missing = issuer_yaml("Issuer", "team-a", "no-secret", "gone");
    char *garbage = issuer_yaml("Issuer", "team-a", "garbage", "junk");
    char *half = issuer_yaml("Issuer", "team-a", "half", "only-crt");
    char *notb64 = issuer_yaml("Issuer", "team-a", "notb64", "bad-data");
    char *junk = secret_yaml_string("team-a", "junk", "not a certificate\n", "not a key\n");
    char *only = secret_yaml_string("team-a", "only-crt", ca_pem, NULL);
    const char *bad_data = "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":"
                           "\"bad-data\",\"namespace\":\"team-a\"},\"data\":{\"tls.crt\":\"***\","
                           "\"tls.key\":\"***\"}}";
    char *all = xasprintf("%s---\n%s---\n%s---\n%s---\n%s---\n%s---\n%s\n", missing, garbage, half,
                          notb64, junk, only, bad_data);
    write_file("all.yaml", all);
    struct store *st = store_new("ember-system");
    struct err e = {0};
    if (store_load_path(st, dir, &e) != 0)
        fail_msg("%s", e.msg);
    struct strv reports = {0};
    store_resolve(st, NOW, on_report, &reports);
    const struct {
        const char *name, *secret;
    } cases[] = {
        {"no-secret", "team-a/gone"},
        {"garbage", "team-a/junk"},
        {"half", "team-a/only-crt"},
        {"notb64", "team-a/bad-data"},
    };
    for (size_t i = 0; i < 4; i++) {
        struct issuer *is = find(st, "Issuer", "team-a", cases[i].name);
        assert_non_null(is);
        struct issuer_state s;
        issuer_get_state(is, &s);
        assert_false(s.ready);
        assert_string_equal(s.reason, "Pending");
        assert_contains(s.message, cases[i].secret);
        char ref[300];
        snprintf(ref, sizeof(ref), "Issuer/team-a/%s|", cases[i].name);
        const char *r = find_report(&reports, ref);
        if (r == NULL)
            fail_msg("no report for %s", ref);
        assert_contains(r, cases[i].secret);
        issuer_unref(is);
    }
    struct issuer *is = find(st, "Issuer", "team-a", "half");
    struct issuer_state s;
    issuer_get_state(is, &s);
    assert_contains(s.message, "tls.key");
    issuer_unref(is);
    strv_free(&reports);
    store_free(st);
    free(missing);
    free(garbage);
    free(half);
    free(notb64);
    free(junk);
    free(only);
    free(all);
}

static void test_cluster_issuer_reads_cluster_namespace(void **state)
{
    (void)state;
    /* the Secret exists in "default" only; the ClusterIssuer reads "ember-system" */
    char *sec = secret_json_data("default", "ca", ca_pem, ca_key_pem);
    char *ci = issuer_yaml("ClusterIssuer", NULL, "c", "ca");
    char *ni = issuer_yaml("Issuer", "default", "nsd", "ca");
    char *all = xasprintf("%s\n---\n%s---\n%s", sec, ci, ni);
    write_file("all.yaml", all);
    struct strv reports = {0};
    struct store *st = resolved_store("ember-system", &reports);
    struct issuer *c = find(st, "ClusterIssuer", "", "c");
    struct issuer *n = find(st, "Issuer", "default", "nsd");
    assert_non_null(c);
    assert_non_null(n);
    struct issuer_state s;
    issuer_get_state(c, &s);
    assert_false(s.ready);
    assert_contains(s.message, "ember-system/ca");
    assert_true(issuer_is_ready(n));
    issuer_unref(c);
    issuer_unref(n);
    strv_free(&reports);
    store_free(st);

    /* with another cluster namespace, it is found */
    st = resolved_store("default", &reports);
    c = find(st, "ClusterIssuer", "", "c");
    assert_true(issuer_is_ready(c));
    issuer_unref(c);
    strv_free(&reports);
    store_free(st);
    free(sec);
    free(ci);
    free(ni);
    free(all);
}

/* Kubernetes merges stringData into data on write, stringData winning: a manifest with both
 * means the stringData value. */
static void test_string_data_overrides_data(void **state)
{
    (void)state;
    char *crt = b64_encode(ca_pem, strlen(ca_pem));
    char *s = xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\","
                        "\"namespace\":\"team-a\"},\"data\":{\"tls.crt\":\"%s\",\"tls.key\":"
                        "\"Z2FyYmFnZQ==\"},\"stringData\":{\"tls.key\":\"\"}}",
                        crt);
    cJSON *o = cJSON_Parse(s);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(o, "stringData"), "tls.key",
                              cJSON_CreateString(ca_key_pem));
    struct store *st = store_new("ember-system");
    struct err e = {0};
    assert_int_equal(store_add_object(st, o, "mem", &e), 0);
    cJSON *i = cJSON_Parse("{\"apiVersion\":\"ember.issuer.dev/v1alpha1\",\"kind\":\"Issuer\","
                           "\"metadata\":{\"name\":\"x\",\"namespace\":\"team-a\"},"
                           "\"spec\":{\"ca\":{\"secretName\":\"s\"}}}");
    assert_int_equal(store_add_object(st, i, "mem", &e), 0);
    struct strv reports = {0};
    store_resolve(st, NOW, on_report, &reports);
    struct issuer *is = find(st, "Issuer", "team-a", "x");
    struct issuer_state state_;
    issuer_get_state(is, &state_);
    issuer_unref(is);
    strv_free(&reports);
    store_free(st);
    cJSON_Delete(i);
    cJSON_Delete(o);
    free(crt);
    free(s);
    /* checked after cleaning up, so a failure leaks nothing under ASan */
    if (!state_.ready)
        fail_msg("not ready: %s", state_.message);
}

static void test_find_functions(void **state)
{
    (void)state;
    struct store *st = store_new("ember-system");
    struct err e = {0};
    const char *objs[] = {
        "{\"apiVersion\":\"ember.issuer.dev/v1alpha1\",\"kind\":\"Issuer\",\"metadata\":{\"name\":"
        "\"ca\",\"namespace\":\"team-a\"},\"spec\":{\"ca\":{\"secretName\":\"s\"}}}",
        "{\"apiVersion\":\"ember.issuer.dev/v1alpha1\",\"kind\":\"ClusterIssuer\",\"metadata\":{"
        "\"name\":\"ca\"},\"spec\":{\"ca\":{\"secretName\":\"s\"}}}",
        "{\"apiVersion\":\"ember.issuer.dev/v1alpha1\",\"kind\":\"IssuancePolicy\",\"metadata\":{"
        "\"name\":\"web\"},\"spec\":{}}",
        "{\"apiVersion\":\"ember.issuer.dev/v1alpha1\",\"kind\":\"IssuancePolicy\",\"metadata\":{"
        "\"name\":\"bad\"},\"spec\":{\"validity\":{\"max\":\"1x\"}}}",
    };
    for (size_t i = 0; i < 4; i++) {
        cJSON *o = cJSON_Parse(objs[i]);
        assert_int_equal(store_add_object(st, o, "mem", &e), 0);
        cJSON_Delete(o);
    }
    struct issuer *is = store_find_issuer(st, "Issuer", "team-a", "ca");
    assert_non_null(is);
    assert_string_equal(is->kind, "Issuer");
    issuer_unref(is);
    is = store_find_issuer(st, "ClusterIssuer", "", "ca");
    assert_non_null(is);
    assert_string_equal(is->kind, "ClusterIssuer");
    assert_null(store_find_issuer(st, "Issuer", "team-b", "ca"));
    assert_null(store_find_issuer(st, "Issuer", "team-a", "cb"));
    assert_null(store_find_issuer(st, "ClusterIssuer", "team-a", "ca"));

    const struct policy *p = NULL;
    const char *invalid = NULL;
    assert_int_equal(store_find_policy(st, "web", &p, &invalid), 1);
    assert_non_null(p);
    assert_string_equal(policy_name(p), "web");
    assert_int_equal(store_find_policy(st, "nope", &p, &invalid), 0);
    assert_int_equal(store_find_policy(st, "bad", &p, &invalid), -1);
    assert_non_null(invalid);
    assert_contains(invalid, "spec.validity.max");

    assert_int_equal(store_count_issuers(st), 2);
    assert_non_null(store_issuer_at(st, 0));
    assert_non_null(store_issuer_at(st, 1));
    assert_null(store_issuer_at(st, 2));

    /* the invalid policy is reported by resolve */
    struct strv reports = {0};
    store_resolve(st, NOW, on_report, &reports);
    assert_non_null(find_report(&reports, "IssuancePolicy/bad|"));
    strv_free(&reports);

    /* a reference outlives the store */
    store_free(st);
    assert_string_equal(is->name, "ca");
    assert_string_equal(is->namespace, "");
    issuer_unref(is);
}

/* Standalone mode's issuer gauges: every issuer of the store, through issuer_publish_metrics. */
static void test_issuer_gauges(void **state)
{
    (void)state;
    char *good = issuer_yaml("ClusterIssuer", NULL, "cluster-ca", "cluster-secret");
    char *missing = issuer_yaml("Issuer", "team-a", "no-secret", "gone");
    char *sec = secret_yaml_string("ember-system", "cluster-secret", ca_pem, ca_key_pem);
    char *all = xasprintf("%s---\n%s---\n%s", good, missing, sec);
    write_file("all.yaml", all);
    struct strv reports = {0};
    struct store *st = resolved_store("ember-system", &reports);
    assert_int_equal(store_count_issuers(st), 2);
    assert_ptr_equal(store_issuers(st)[0], store_issuer_at(st, 0));
    assert_ptr_equal(store_issuers(st)[1], store_issuer_at(st, 1));
    struct metrics *m = metrics_new();
    issuer_declare_metrics(m);
    issuer_publish_metrics(m, store_issuers(st), store_count_issuers(st));
    char *text = metrics_render(m);
    char want[200];
    /* the CA of group_setup: notAfter 30 days after NOW */
    snprintf(want, sizeof(want),
             "\nember_ca_expiry_timestamp_seconds{issuer=\"ClusterIssuer/cluster-ca\"} %lld\n",
             (long long)NOW + 30 * 86400LL);
    assert_contains(text, want);
    assert_contains(text, "\nember_issuer_ready{issuer=\"ClusterIssuer/cluster-ca\"} 1\n");
    assert_contains(text, "\nember_issuer_ready{issuer=\"Issuer/team-a/no-secret\"} 0\n");
    assert_null(strstr(text, "ember_ca_expiry_timestamp_seconds{issuer=\"Issuer/team-a"));
    free(text);
    metrics_free(m);
    strv_free(&reports);
    store_free(st);
    free(good);
    free(missing);
    free(sec);
    free(all);
}

/* Namespace objects (v1) are kept for their labels (spec.selector.namespaceSelector); one named
 * twice is refused; other kinds are still skipped. */
static void test_namespaces_kept_for_labels(void **state)
{
    (void)state;
    write_file("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n"
                          "  labels:\n    env: dev\n    ember.issuer.dev/certs: \"yes\"\n---\n"
                          "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: plain\n---\n"
                          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n");
    struct store *st = store_new("ember-system");
    struct err e = {0};
    char *path = xasprintf("%s/ns.yaml", dir);
    assert_int_equal(store_load_path(st, path, &e), 0);
    struct strv l = {0};
    assert_int_equal(store_namespace_labels(st, "team-a", &l, &e), PIPELINE_NS_KNOWN);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0], "env=dev");
    assert_string_equal(l.v[1], "ember.issuer.dev/certs=yes");
    strv_free(&l);
    assert_int_equal(store_namespace_labels(st, "plain", &l, &e), PIPELINE_NS_KNOWN);
    assert_int_equal(l.n, 0);
    /* The manifests are the truth: a Namespace they lack does not exist (never "unavailable",
     * which would make a request wait for nothing). */
    assert_int_equal(store_namespace_labels(st, "team-b", &l, &e), PIPELINE_NS_NOT_FOUND);
    store_free(st);

    write_file("ns2.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n"
                           "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n");
    st = store_new("ember-system");
    char *path2 = xasprintf("%s/ns2.yaml", dir);
    assert_int_equal(store_load_path(st, path2, &e), -1);
    assert_contains(e.msg, "Namespace/a is defined twice");
    store_free(st);
    /* A label Kubernetes would refuse refuses the manifest, naming the Namespace and key. */
    write_file("ns3.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-c\n"
                           "  labels:\n    \"team=a\": \"yes\"\n");
    st = store_new("ember-system");
    char *path3 = xasprintf("%s/ns3.yaml", dir);
    assert_int_equal(store_load_path(st, path3, &e), -1);
    assert_contains(e.msg, "Namespace team-c: metadata.labels \"team=a\": invalid label key");
    assert_contains(e.msg, "ns3.yaml");
    store_free(st);
    free(path3);
    free(path);
    free(path2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)
        T(test_load_directory),
        T(test_duplicates_refused_with_file_name),
        T(test_duplicates_of_each_kind),
        T(test_parse_errors_name_the_file),
        T(test_missing_path),
        T(test_single_file_and_empty_dir),
        T(test_issuer_not_ready_names_the_secret),
        T(test_cluster_issuer_reads_cluster_namespace),
        T(test_string_data_overrides_data),
        T(test_find_functions),
        T(test_issuer_gauges),
        T(test_namespaces_kept_for_labels),
#undef T
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
