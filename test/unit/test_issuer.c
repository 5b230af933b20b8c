/* test_issuer.c -- Issuer and ClusterIssuer objects: reading, readiness, references. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "base/mem.h"
#include "issuers/issuer.h"
#include "standalone/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_V "\"apiVersion\":\"ember.issuer.dev/v1alpha1\""
#define VAULT_OK                                                                                   \
    "\"vault\":{\"server\":\"https://vault.example:8200\",\"path\":\"pki_int/sign/mesh\","         \
    "\"auth\":{\"appRole\":{\"roleId\":\"r-1\",\"secretRef\":{\"name\":\"approle\","               \
    "\"key\":\"secretId\"}}}}"

static void assert_contains(const char *hay, const char *needle)
{
    if (hay == NULL || strstr(hay, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", hay ? hay : "(null)", needle);
}

static struct issuer *parse(const char *json, struct err *e)
{
    cJSON *o = cJSON_Parse(json);
    if (o == NULL)
        fail_msg("bad test JSON: %s", json);
    struct issuer *is = issuer_from_json(o, e);
    cJSON_Delete(o);
    return is;
}

/* A fake signer row that counts frees. */
static int frees;
static void fake_free(void *ctx)
{
    (void)ctx;
    frees++;
}
static const struct signer_ops fake_ops = {"fake", NULL, NULL, fake_free};

static void test_issuer_read(void **state)
{
    (void)state;
    struct err e = {0};
    struct issuer *is = parse("{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"mesh-ca\","
                              "\"namespace\":\"istio-system\",\"generation\":3},\"spec\":{"
                              "\"defaultPolicy\":\"mesh\",\"ca\":{\"secretName\":\"sub-ca\"}}}",
                              &e);
    if (is == NULL)
        fail_msg("%s", e.msg);
    assert_string_equal(is->kind, "Issuer");
    assert_string_equal(is->namespace, "istio-system");
    assert_string_equal(is->name, "mesh-ca");
    assert_int_equal(is->generation, 3);
    assert_string_equal(is->default_policy, "mesh");
    assert_int_equal(is->signer_kind, ISSUER_SIGNER_CA);
    assert_string_equal(is->ca_secret_name, "sub-ca");
    assert_null(is->signer.ops);
    /* starts not ready, reason Pending */
    struct issuer_state s;
    issuer_get_state(is, &s);
    assert_false(s.ready);
    assert_string_equal(s.reason, "Pending");
    assert_false(issuer_is_ready(is));
    assert_string_equal(issuer_secret_namespace(is, "ember-system"), "istio-system");
    issuer_unref(is);
}

static void test_issuer_defaults(void **state)
{
    (void)state;
    struct err e = {0};
    /* a namespaced Issuer without namespace is in "default"; no defaultPolicy */
    struct issuer *is = parse("{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},"
                              "\"spec\":{\"ca\":{\"secretName\":\"s\"}}}",
                              &e);
    assert_non_null(is);
    assert_string_equal(is->namespace, "default");
    assert_null(is->default_policy);
    issuer_unref(is);
}

static void test_cluster_issuer(void **state)
{
    (void)state;
    struct err e = {0};
    /* a namespace on a cluster-scoped object means nothing */
    struct issuer *is = parse("{" API_V ",\"kind\":\"ClusterIssuer\",\"metadata\":{\"name\":\"c\","
                              "\"namespace\":\"x\"},\"spec\":{\"ca\":{\"secretName\":\"s\"}}}",
                              &e);
    assert_non_null(is);
    assert_string_equal(is->kind, "ClusterIssuer");
    assert_string_equal(is->namespace, "");
    assert_string_equal(issuer_secret_namespace(is, "ember-system"), "ember-system");
    issuer_unref(is);
}

static void test_vault_issuer(void **state)
{
    (void)state;
    struct err e = {0};
    struct issuer *is = parse("{" API_V ",\"kind\":\"ClusterIssuer\",\"metadata\":{\"name\":\"v\"},"
                              "\"spec\":{" VAULT_OK "}}",
                              &e);
    if (is == NULL)
        fail_msg("%s", e.msg);
    assert_int_equal(is->signer_kind, ISSUER_SIGNER_VAULT);
    assert_null(is->ca_secret_name);
    issuer_unref(is);
}

/* spec.vault: cert-manager's Vault issuer messages where they apply, and every field read. */
static void test_vault_spec(void **state)
{
    (void)state;
#define VI(spec)                                                                                   \
    "{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"v\",\"namespace\":\"n\"},"            \
    "\"spec\":{\"vault\":" spec "}}"
#define AR "\"auth\":{\"appRole\":{\"roleId\":\"r\",\"secretRef\":{\"name\":\"s\",\"key\":\"k\"}}}"
    struct err e = {0};
    struct issuer *is = parse(VI("{\"server\":\"https://v:8200\",\"path\":\"pki/sign/web\","
                                 "\"namespace\":\"team\",\"caBundle\":\"aGVsbG8=\"," AR "}"),
                              &e);
    if (is == NULL)
        fail_msg("%s", e.msg);
    assert_string_equal(is->vault.server, "https://v:8200");
    assert_string_equal(is->vault.path, "pki/sign/web");
    assert_string_equal(is->vault.namespace, "team");
    assert_int_equal(is->vault.ca_bundle_len, 5);
    assert_memory_equal(is->vault.ca_bundle, "hello", 5);
    assert_string_equal(is->vault.approle_path, "approle"); /* cert-manager's default */
    assert_string_equal(is->vault.role_id, "r");
    assert_string_equal(is->vault.secret_name, "s");
    assert_string_equal(is->vault.secret_key, "k");
    issuer_unref(is);

    is = parse(VI("{\"server\":\"https://v\",\"path\":\"p/sign/r\",\"caBundleSecretRef\":{"
                  "\"name\":\"ca\"}," AR "}"),
               &e);
    if (is == NULL)
        fail_msg("%s", e.msg);
    assert_string_equal(is->vault.ca_bundle_secret_name, "ca");
    assert_string_equal(is->vault.ca_bundle_secret_key, "ca.crt"); /* cert-manager's default */
    issuer_unref(is);

    const struct {
        const char *json, *msg;
    } bad[] = {
        {VI("{\"path\":\"p\"," AR "}"), "Vault server and path are required fields"},
        {VI("{\"server\":\"https://v\"," AR "}"), "Vault server and path are required fields"},
        {VI("{\"server\":\"ftp://v\",\"path\":\"p\"," AR "}"), "https://"},
        {VI("{\"server\":\"https://v\",\"path\":\"/v1/p\"," AR "}"), "after /v1/"},
        {VI("{\"server\":\"https://v\",\"path\":\"p\"}"), "appRole auth is required"},
        {VI("{\"server\":\"https://v\",\"path\":\"p\",\"auth\":{\"kubernetes\":{}}}"),
         "Ember supports AppRole only"},
        {VI("{\"server\":\"https://v\",\"path\":\"p\",\"auth\":{\"tokenSecretRef\":{}}}"),
         "spec.vault.auth.tokenSecretRef"},
        {VI("{\"server\":\"https://v\",\"path\":\"p\",\"auth\":{\"appRole\":{\"secretRef\":{"
            "\"name\":\"s\",\"key\":\"k\"}}}}"),
         "Vault AppRole auth requires both roleId and secretRef.name"},
        {VI("{\"server\":\"https://v\",\"path\":\"p\",\"auth\":{\"appRole\":{\"roleId\":\"r\","
            "\"secretRef\":{\"name\":\"s\"}}}}"),
         "Vault AppRole auth requires secretRef.key"},
        {VI("{\"server\":\"https://v\",\"path\":\"p\",\"caBundle\":\"aGVsbG8=\","
            "\"caBundleSecretRef\":{\"name\":\"c\"}," AR "}"),
         "specified caBundle and caBundleSecretRef cannot be used together"},
        {VI("{\"server\":\"https://v\",\"path\":\"p\",\"caBundle\":\"%%%\"," AR "}"),
         "spec.vault.caBundle"},
        {VI("{\"server\":\"https://v\",\"path\":\"p\",\"serverName\":\"x\"," AR "}"),
         "spec.vault.serverName: unknown field"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        struct err be = {0};
        struct issuer *b = parse(bad[i].json, &be);
        if (b != NULL)
            fail_msg("case %zu accepted: %s", i, bad[i].json);
        assert_int_equal(be.kind, ERR_INVALID);
        assert_contains(be.msg, bad[i].msg);
    }
#undef VI
#undef AR
}

static void test_issuer_errors(void **state)
{
    (void)state;
    const struct {
        const char *json, *msg;
    } cases[] = {
        {"{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},"
         "\"spec\":{\"ca\":{\"secretName\":\"s\"}}}",
         "apiVersion"},
        {"{\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"ca\":{\"secretName\":"
         "\"s\"}}}",
         "apiVersion"},
        {"{" API_V ",\"kind\":\"IssuancePolicy\",\"metadata\":{\"name\":\"a\"},\"spec\":{}}",
         "kind"},
        {"{" API_V ",\"kind\":\"Issuer\",\"metadata\":{},\"spec\":{\"ca\":{\"secretName\":\"s\"}}}",
         "metadata.name"},
        {"{" API_V ",\"kind\":\"Issuer\",\"spec\":{\"ca\":{\"secretName\":\"s\"}}}",
         "metadata.name"},
        {"{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"}}", "spec"},
        {"{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},\"spec\":\"ca\"}", "spec"},
        /* neither signer, both signers */
        {"{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},\"spec\":{}}",
         "ca or vault"},
        {"{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"defaultPolicy\":"
         "\"p\"}}",
         "ca or vault"},
        {"{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"ca\":{"
         "\"secretName\":\"s\"}," VAULT_OK "}}",
         "ca or vault"},
        /* unknown fields, at each level */
        {"{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"ca\":{"
         "\"secretName\":\"s\"},\"acme\":{}}}",
         "spec.acme"},
        {"{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"ca\":{"
         "\"secretName\":\"s\",\"crlDistributionPoints\":[]}}}",
         "spec.ca.crlDistributionPoints"},
        /* secretName */
        {"{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"ca\":{}}}",
         "spec.ca.secretName"},
        {"{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"ca\":{"
         "\"secretName\":\"\"}}}",
         "spec.ca.secretName"},
        {"{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"ca\":{"
         "\"secretName\":5}}}",
         "spec.ca.secretName"},
        {"{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"ca\":\"s\"}}",
         "spec.ca"},
        {"{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"defaultPolicy\":"
         "7,\"ca\":{\"secretName\":\"s\"}}}",
         "spec.defaultPolicy"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct err e = {0};
        struct issuer *is = parse(cases[i].json, &e);
        if (is != NULL)
            fail_msg("case %zu accepted: %s", i, cases[i].json);
        assert_int_equal(e.kind, ERR_INVALID);
        assert_contains(e.msg, cases[i].msg);
    }
    /* spec errors name the object */
    struct err e = {0};
    assert_null(parse("{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\",\"namespace\":"
                      "\"ns\"},\"spec\":{\"ca\":{}}}",
                      &e));
    assert_contains(e.msg, "Issuer/ns/a");
    /* not an object at all */
    cJSON *arr = cJSON_CreateArray();
    assert_null(issuer_from_json(arr, &e));
    assert_null(issuer_from_json(NULL, &e));
    cJSON_Delete(arr);
}

static void test_format_ref(void **state)
{
    (void)state;
    struct err e = {0};
    struct issuer *a = parse("{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"mesh-ca\","
                             "\"namespace\":\"istio-system\"},\"spec\":{\"ca\":{\"secretName\":"
                             "\"s\"}}}",
                             &e);
    struct issuer *c = parse("{" API_V ",\"kind\":\"ClusterIssuer\",\"metadata\":{\"name\":"
                             "\"dev-ca\"},\"spec\":{\"ca\":{\"secretName\":\"s\"}}}",
                             &e);
    char buf[256];
    issuer_format_ref(a, buf, sizeof(buf));
    assert_string_equal(buf, "Issuer/istio-system/mesh-ca");
    issuer_format_ref(c, buf, sizeof(buf));
    assert_string_equal(buf, "ClusterIssuer/dev-ca");
    /* bounded */
    char small[8];
    issuer_format_ref(a, small, sizeof(small));
    assert_string_equal(small, "Issuer/");
    issuer_unref(a);
    issuer_unref(c);
}

static void test_readiness(void **state)
{
    (void)state;
    struct err e = {0};
    struct issuer *is = parse("{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},"
                              "\"spec\":{\"ca\":{\"secretName\":\"s\"}}}",
                              &e);
    frees = 0;
    static int ctx1, ctx2;
    issuer_set_signer(is, (struct signer){&fake_ops, &ctx1});
    assert_true(issuer_is_ready(is));
    struct issuer_state s;
    issuer_get_state(is, &s);
    assert_string_equal(s.reason, "Checked");

    issuer_set_not_ready(is, "Pending", "Secret %s/%s not found", "default", "s");
    issuer_get_state(is, &s);
    assert_false(s.ready);
    assert_string_equal(s.reason, "Pending");
    assert_string_equal(s.message, "Secret default/s not found");
    issuer_set_ready(is);
    assert_true(issuer_is_ready(is));

    /* a new signer replaces (and frees) the old one */
    issuer_set_signer(is, (struct signer){&fake_ops, &ctx2});
    assert_int_equal(frees, 1);
    assert_ptr_equal(is->signer.ctx, &ctx2);
    issuer_unref(is);
    assert_int_equal(frees, 2); /* the last reference frees the signer */
}

static void test_refcount(void **state)
{
    (void)state;
    struct err e = {0};
    struct issuer *is = parse("{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},"
                              "\"spec\":{\"ca\":{\"secretName\":\"s\"}}}",
                              &e);
    frees = 0;
    static int ctx;
    issuer_set_signer(is, (struct signer){&fake_ops, &ctx});
    assert_ptr_equal(issuer_ref(is), is);
    issuer_unref(is);
    assert_int_equal(frees, 0);
    assert_string_equal(is->name, "a"); /* still alive: one reference left */
    issuer_unref(is);
    assert_int_equal(frees, 1);
    issuer_unref(NULL); /* no-op */
}

static void test_ref_outlives_store(void **state)
{
    (void)state;
    struct store *st = store_new("ember-system");
    cJSON *o = cJSON_Parse("{" API_V ",\"kind\":\"ClusterIssuer\",\"metadata\":{\"name\":\"c\"},"
                           "\"spec\":{\"defaultPolicy\":\"p\",\"ca\":{\"secretName\":\"s\"}}}");
    struct err e = {0};
    assert_int_equal(store_add_object(st, o, "mem", &e), 0);
    cJSON_Delete(o);
    struct issuer *is = store_find_issuer(st, "ClusterIssuer", "", "c");
    assert_non_null(is);
    struct issuer *again = store_find_issuer(st, "ClusterIssuer", "", "c");
    assert_ptr_equal(is, again);
    issuer_unref(again);
    store_free(st);
    /* under ASan a use after free here would abort */
    assert_string_equal(is->name, "c");
    assert_string_equal(is->default_policy, "p");
    char buf[64];
    issuer_format_ref(is, buf, sizeof(buf));
    assert_string_equal(buf, "ClusterIssuer/c");
    issuer_unref(is);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issuer_read),        cmocka_unit_test(test_issuer_defaults),
        cmocka_unit_test(test_cluster_issuer),     cmocka_unit_test(test_vault_issuer),
        cmocka_unit_test(test_issuer_errors),      cmocka_unit_test(test_format_ref),
        cmocka_unit_test(test_readiness),          cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_ref_outlives_store), cmocka_unit_test(test_vault_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
