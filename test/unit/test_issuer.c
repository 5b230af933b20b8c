/* test_issuer.c -- Issuer and ClusterIssuer objects: reading, readiness, references. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
// clang-format on

#include "base/mem.h"
#include "base/metrics.h"
#include "issuers/issuer.h"
#include "signers/localca.h"
#include "signers/vaultspec.h"
#include "standalone/store.h"
#include "testpki.h"

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
static const struct signer_ops fake_ops = {.name = "fake", .free = fake_free};

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
    assert_ptr_equal(is->row, &localca_row);
    assert_string_equal(((const struct localca_spec *)is->spec)->secret_name, "sub-ca");
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
    assert_ptr_equal(is->row, &vault_row);
    issuer_unref(is);
}

#define VS(is) ((const struct vault_spec *)(is)->spec)

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
    assert_string_equal(VS(is)->server, "https://v:8200");
    assert_string_equal(VS(is)->path, "pki/sign/web");
    assert_string_equal(VS(is)->namespace, "team");
    assert_int_equal(VS(is)->ca_bundle_len, 5);
    assert_memory_equal(VS(is)->ca_bundle, "hello", 5);
    assert_int_equal(VS(is)->auth.method, VAULT_AUTH_APPROLE);
    assert_string_equal(VS(is)->auth.approle_path, "approle"); /* cert-manager's default */
    assert_string_equal(VS(is)->auth.role, "r");
    assert_string_equal(VS(is)->auth.secret.name, "s");
    assert_string_equal(VS(is)->auth.secret.key, "k");
    issuer_unref(is);

    is = parse(VI("{\"server\":\"https://v\",\"path\":\"p/sign/r\",\"caBundleSecretRef\":{"
                  "\"name\":\"ca\"}," AR "}"),
               &e);
    if (is == NULL)
        fail_msg("%s", e.msg);
    assert_string_equal(VS(is)->ca_bundle_secret_name, "ca");
    assert_string_equal(VS(is)->ca_bundle_secret_key, "ca.crt"); /* cert-manager's default */
    issuer_unref(is);

    const struct {
        const char *json, *msg;
    } bad[] = {
        {VI("{\"path\":\"p\"," AR "}"), "Vault server and path are required fields"},
        {VI("{\"server\":\"https://v\"," AR "}"), "Vault server and path are required fields"},
        {VI("{\"server\":\"ftp://v\",\"path\":\"p\"," AR "}"), "https://"},
        {VI("{\"server\":\"https://v\",\"path\":\"/v1/p\"," AR "}"), "after /v1/"},
        {VI("{\"server\":\"https://v\",\"path\":\"p\"}"),
         "Vault tokenSecretRef, appRole, clientCertificate, or kubernetes is required"},
        {VI("{\"server\":\"https://v\",\"path\":\"p\",\"auth\":{\"kubernetes\":{}}}"),
         "Vault Kubernetes auth requires a role to be set"},
        {VI("{\"server\":\"https://v\",\"path\":\"p\",\"auth\":{\"tokenSecretRef\":{}}}"),
         "Vault Token auth requires tokenSecretRef.name"},
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
        {VI("{\"server\":\"https://v\",\"path\":\"p\",\"serverName\":\"x/y\"," AR "}"),
         "spec.vault.serverName must be a host name such as \"vault.internal\", not \"x/y\""},
        {VI("{\"server\":\"https://v\",\"path\":\"p\",\"serverName\":7," AR "}"),
         "spec.vault.serverName: expected a string, got a number"},
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

/* ---- the spec through base/jsonfield: one message shape ---- */

#define HDR(kind)                                                                                  \
    "{" API_V ",\"kind\":\"" kind "\",\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},"
#define IS(spec) HDR("Issuer") "\"spec\":" spec "}"
#define VSPEC(auth) IS("{\"vault\":{\"server\":\"https://v\",\"path\":\"p\",\"auth\":" auth "}}")

/* An object refused, and the whole message it is refused with. */
struct refusal {
    const char *json, *msg;
};

static void expect_refused(const struct refusal *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct err e = {0};
        struct issuer *is = parse(cases[i].json, &e);
        if (is != NULL)
            fail_msg("case %zu accepted: %s", i, cases[i].json);
        assert_int_equal(e.kind, ERR_INVALID);
        if (strcmp(e.msg, cases[i].msg) != 0)
            fail_msg("case %zu: \"%s\", not \"%s\"", i, e.msg, cases[i].msg);
    }
}

/* Every message, whole: the path of what it is about, then jsonfield's words. */
static void test_spec_messages(void **state)
{
    (void)state;
    const struct refusal cases[] = {
        /* the header */
        {"[1]", "expected an object, got a list"},
        {"{\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},\"spec\":{}}",
         "apiVersion: missing (expected ember.issuer.dev/v1alpha1)"},
        {"{\"apiVersion\":\"cert-manager.io/"
         "v1\",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"}}",
         "apiVersion: \"cert-manager.io/v1\" is not one of ember.issuer.dev/v1alpha1"},
        {"{" API_V ",\"kind\":7,\"metadata\":{\"name\":\"a\"}}",
         "kind: expected a string, got a number"},
        {"{" API_V ",\"metadata\":{\"name\":\"a\"}}",
         "kind: missing (expected one of Issuer, ClusterIssuer)"},
        {"{" API_V ",\"kind\":\"Certificate\",\"metadata\":{\"name\":\"a\"}}",
         "kind: \"Certificate\" is not one of Issuer, ClusterIssuer"},
        {"{" API_V ",\"kind\":\"Issuer\",\"metadata\":[]}",
         "metadata: expected an object, got a list"},
        {"{" API_V ",\"kind\":\"Issuer\",\"metadata\":{}}",
         "metadata.name: missing (expected a string)"},
        {"{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"\"}}",
         "metadata.name: empty (expected a string)"},
        {"{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":true}}",
         "metadata.name: expected a string, got a boolean"},
        /* spec and its members: after the issuer's reference */
        {HDR("Issuer") "\"spec\":null}", "Issuer/n/a: spec: missing (expected an object)"},
        {HDR("ClusterIssuer") "\"spec\":[]}",
         "ClusterIssuer/a: spec: expected an object, got a list"},
        {IS("{\"ca\":{\"secretName\":\"s\"},\"acme\":{}}"),
         "Issuer/n/a: spec.acme: unknown field (known: defaultPolicy, ca, vault)"},
        {IS("{\"ca\":\"s\"}"), "Issuer/n/a: spec.ca: expected an object, got a string"},
        {IS("{\"vault\":[]}"), "Issuer/n/a: spec.vault: expected an object, got a list"},
        {IS("{\"defaultPolicy\":7,\"ca\":{\"secretName\":\"s\"}}"),
         "Issuer/n/a: spec.defaultPolicy: expected a string, got a number"},
        {IS("{}"), "Issuer/n/a: spec must set exactly one signer: ca or vault"},
        /* spec.ca */
        {IS("{\"ca\":{}}"), "Issuer/n/a: spec.ca.secretName: missing (expected a string)"},
        {IS("{\"ca\":{\"secretName\":\"\"}}"),
         "Issuer/n/a: spec.ca.secretName: empty (expected a string)"},
        {IS("{\"ca\":{\"secretName\":{}}}"),
         "Issuer/n/a: spec.ca.secretName: expected a string, got an object"},
        {IS("{\"ca\":{\"secretName\":\"s\",\"crlDistributionPoints\":[]}}"),
         "Issuer/n/a: spec.ca.crlDistributionPoints: unknown field (known: secretName)"},
        /* spec.vault */
        {IS("{\"vault\":{\"server\":5}}"),
         "Issuer/n/a: spec.vault.server: expected a string, got a number"},
        {IS("{\"vault\":{\"server\":\"https://v\",\"path\":\"p\",\"caBundleSecretRef\":\"ca\"}}"),
         "Issuer/n/a: spec.vault.caBundleSecretRef: expected an object, got a string"},
        {IS("{\"vault\":{\"server\":\"https://v\",\"path\":\"p\",\"caBundleSecretRef\":{\"key\":"
            "\"k\"}}}"),
         "Issuer/n/a: spec.vault.caBundleSecretRef.name: missing (expected a string)"},
        {IS("{\"vault\":{\"server\":\"https://v\",\"path\":\"p\",\"caBundleSecretRef\":{\"name\":"
            "\"c\",\"namespace\":\"x\"}}}"),
         "Issuer/n/a: spec.vault.caBundleSecretRef.namespace: unknown field (known: name, key)"},
        {VSPEC("\"approle\""), "Issuer/n/a: spec.vault.auth: expected an object, got a string"},
        {VSPEC("{\"userpass\":{}}"),
         "Issuer/n/a: spec.vault.auth.userpass: unknown field (known: tokenSecretRef, appRole, "
         "clientCertificate, kubernetes, aws)"},
        {VSPEC("{\"appRole\":{\"roleId\":[\"r\"]}}"),
         "Issuer/n/a: spec.vault.auth.appRole.roleId: expected a string, got a list"},
        {VSPEC("{\"appRole\":{\"roleId\":\"r\",\"secretId\":\"x\"}}"),
         "Issuer/n/a: spec.vault.auth.appRole.secretId: unknown field (known: path, roleId, "
         "secretRef)"},
        {VSPEC("{\"appRole\":{\"roleId\":\"r\",\"secretRef\":\"approle\"}}"),
         "Issuer/n/a: spec.vault.auth.appRole.secretRef: expected an object, got a string"},
        {VSPEC("{\"appRole\":{\"roleId\":\"r\",\"secretRef\":{\"name\":5,\"key\":\"k\"}}}"),
         "Issuer/n/a: spec.vault.auth.appRole.secretRef.name: expected a string, got a number"},
        {VSPEC("{\"appRole\":{\"roleId\":\"r\",\"secretRef\":{\"name\":\"s\",\"key\":\"k\","
               "\"optional\":true}}}"),
         "Issuer/n/a: spec.vault.auth.appRole.secretRef.optional: unknown field (known: name, "
         "key)"},
    };
    expect_refused(cases, sizeof(cases) / sizeof(*cases));
}

/* A member given twice is refused at every level, never read as its first or last value. */
static void test_spec_duplicates(void **state)
{
    (void)state;
    const struct refusal cases[] = {
        {IS("{\"ca\":{\"secretName\":\"s\"},\"ca\":{\"secretName\":\"t\"}}"),
         "Issuer/n/a: spec.ca: duplicate field"},
        {IS("{\"ca\":{\"secretName\":\"s\",\"secretName\":\"t\"}}"),
         "Issuer/n/a: spec.ca.secretName: duplicate field"},
        {IS("{\"defaultPolicy\":\"p\",\"ca\":{\"secretName\":\"s\"},\"defaultPolicy\":\"q\"}"),
         "Issuer/n/a: spec.defaultPolicy: duplicate field"},
        {IS("{\"vault\":{\"server\":\"https://v\",\"path\":\"p\",\"server\":\"https://w\"}}"),
         "Issuer/n/a: spec.vault.server: duplicate field"},
        {IS("{\"vault\":{\"server\":\"https://v\",\"path\":\"p\",\"caBundleSecretRef\":{\"name\":"
            "\"c\",\"name\":\"d\"}}}"),
         "Issuer/n/a: spec.vault.caBundleSecretRef.name: duplicate field"},
        {VSPEC("{\"appRole\":{\"roleId\":\"r\"},\"appRole\":{\"roleId\":\"q\"}}"),
         "Issuer/n/a: spec.vault.auth.appRole: duplicate field"},
        {VSPEC("{\"appRole\":{\"roleId\":\"r\",\"roleId\":\"q\"}}"),
         "Issuer/n/a: spec.vault.auth.appRole.roleId: duplicate field"},
        {VSPEC("{\"appRole\":{\"roleId\":\"r\",\"secretRef\":{\"name\":\"s\",\"key\":\"k\","
               "\"key\":\"j\"}}}"),
         "Issuer/n/a: spec.vault.auth.appRole.secretRef.key: duplicate field"},
    };
    expect_refused(cases, sizeof(cases) / sizeof(*cases));
}

/* JSON null is absent, as the API server prunes it: a null signer is not set, a null optional
 * member takes its default. */
static void test_spec_nulls(void **state)
{
    (void)state;
    struct err e = {0};
    struct issuer *is =
        parse(IS("{\"defaultPolicy\":null,\"ca\":null,\"vault\":{\"server\":\"https://v\","
                 "\"path\":\"p\",\"namespace\":null,\"caBundle\":\"aGVsbG8=\","
                 "\"caBundleSecretRef\":null,\"auth\":{\"appRole\":{\"path\":null,\"roleId\":\"r\","
                 "\"secretRef\":{\"name\":\"s\",\"key\":\"k\"}}}}}"),
              &e);
    if (is == NULL)
        fail_msg("%s", e.msg);
    assert_ptr_equal(is->row, &vault_row);
    assert_null(is->default_policy);
    assert_null(VS(is)->namespace);
    assert_null(VS(is)->ca_bundle_secret_name);
    assert_string_equal(VS(is)->auth.approle_path, "approle");
    issuer_unref(is);
    is = parse(HDR("ClusterIssuer") "\"spec\":{\"vault\":null,\"ca\":{\"secretName\":\"s\"}}}", &e);
    if (is == NULL)
        fail_msg("%s", e.msg);
    assert_ptr_equal(is->row, &localca_row);
    issuer_unref(is);
    /* both null: no signer set */
    assert_null(parse(IS("{\"ca\":null,\"vault\":null}"), &e));
    assert_string_equal(e.msg, "Issuer/n/a: spec must set exactly one signer: ca or vault");
    /* a required member given as null is missing */
    assert_null(parse(IS("{\"vault\":{\"server\":\"https://v\",\"path\":\"p\","
                         "\"caBundleSecretRef\":{\"name\":null}}}"),
                      &e));
    assert_string_equal(
        e.msg, "Issuer/n/a: spec.vault.caBundleSecretRef.name: missing (expected a string)");
    /* null metadata.namespace: "default"; a null generation: 1 */
    is = parse("{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\",\"namespace\":null,"
               "\"generation\":null},\"spec\":{\"ca\":{\"secretName\":\"s\"}}}",
               &e);
    if (is == NULL)
        fail_msg("%s", e.msg);
    assert_string_equal(is->namespace, "default");
    assert_int_equal(is->generation, 1);
    issuer_unref(is);
}
#undef VSPEC
#undef IS
#undef HDR

/* ---- the signer table ---- */

static void test_signer_table(void **state)
{
    (void)state;
    size_t n = 0;
    bool local = false, vault = false;
    for (const struct signer_ops *r; (r = signer_row(n)) != NULL; n++) {
        /* a row does the whole job: every entry but the optional in-place recheck */
        assert_non_null(r->name);
        assert_non_null(r->spec_key);
        assert_non_null(r->parse);
        assert_non_null(r->free_spec);
        assert_non_null(r->load);
        assert_non_null(r->sign);
        assert_non_null(r->check);
        assert_non_null(r->expiry);
        assert_non_null(r->free);
        /* the name is a metrics label value written without escaping */
        assert_true(r->name[0] != '\0' &&
                    strspn(r->name, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(r->name));
        for (size_t j = 0; j < n; j++) {
            assert_string_not_equal(signer_row(j)->name, r->name);
            assert_string_not_equal(signer_row(j)->spec_key, r->spec_key);
        }
        local = local || r == &localca_row;
        vault = vault || r == &vault_row;
    }
    assert_true(n >= 2 && n <= SIGNER_MAX_ROWS);
    assert_true(local && vault);
    assert_null(signer_row(n + 1));
    assert_string_equal(localca_row.name, "local");
    assert_string_equal(vault_row.name, "vault");
    assert_null(localca_row.recheck);
    assert_non_null(vault_row.recheck);
}

/* A fake row with an in-place recheck that fails as told, and an expiry. */
static int rechecks;
static enum err_kind recheck_fails;
static bool recheck_reload; /* recheck returns 1: a Secret changed */
static time_t fake_not_after;
static int fake_recheck(void *ctx, time_t now, struct err *err)
{
    (void)ctx;
    (void)now;
    rechecks++;
    if (recheck_reload)
        return 1;
    if (recheck_fails == ERR_NONE)
        return 0;
    err_set(err, recheck_fails, "recheck said no");
    return -1;
}
static time_t fake_expiry(void *ctx)
{
    (void)ctx;
    return fake_not_after;
}
static const struct signer_ops fake_recheck_ops = {
    .name = "fake", .recheck = fake_recheck, .expiry = fake_expiry, .free = fake_free};

static void test_recheck_in_place(void **state)
{
    (void)state;
    struct err e = {0};
    struct issuer *is = parse("{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"a\"},"
                              "\"spec\":{\"ca\":{\"secretName\":\"s\"}}}",
                              &e);
    rechecks = 0;
    assert_false(issuer_recheck(is, 0)); /* no signer loaded: load it again */
    static int ctx;
    issuer_set_signer(is, (struct signer){&fake_ops, &ctx});
    assert_false(issuer_recheck(is, 0)); /* a row without recheck (a local CA): load again */
    issuer_set_signer(is, (struct signer){&fake_recheck_ops, &ctx});
    recheck_fails = ERR_TRANSIENT;
    assert_true(issuer_recheck(is, 0));
    assert_int_equal(rechecks, 1);
    struct issuer_state s;
    issuer_get_state(is, &s);
    assert_false(s.ready);
    assert_string_equal(s.reason, "Pending");
    assert_string_equal(s.message, "recheck said no");
    recheck_fails = ERR_PERMANENT;
    assert_true(issuer_recheck(is, 0));
    issuer_get_state(is, &s);
    assert_string_equal(s.reason, "Failed");
    recheck_fails = ERR_NONE;
    assert_true(issuer_recheck(is, 0));
    assert_true(issuer_is_ready(is));
    assert_int_equal(rechecks, 3);
    /* The row says a Secret it read changed: load it again, the state left as it was. */
    recheck_reload = true;
    assert_false(issuer_recheck(is, 0));
    recheck_reload = false;
    assert_int_equal(rechecks, 4);
    assert_true(issuer_is_ready(is));
    issuer_unref(is);
}

/* ---- loading a Vault signer through the injected environment ---- */

static char secrets_asked[4][128];
static int n_asked;
static cJSON *bundle_secret; /* returned for "ca"; everything else is not found */

/* Thread-safe, as signer_env requires: a sub-CA's renewal thread calls it too. */
static pthread_mutex_t env_mu = PTHREAD_MUTEX_INITIALIZER;

static cJSON *env_get_secret(void *ud, const char *ns, const char *name, struct err *err)
{
    assert_ptr_equal(ud, &bundle_secret);
    cJSON *out = NULL;
    pthread_mutex_lock(&env_mu);
    if (n_asked < 4)
        snprintf(secrets_asked[n_asked++], sizeof(*secrets_asked), "%s/%s", ns, name);
    if (strcmp(name, "ca") == 0 && bundle_secret != NULL)
        out = cJSON_Duplicate(bundle_secret, 1);
    pthread_mutex_unlock(&env_mu);
    if (out == NULL)
        err_set(err, ERR_ISSUER_NOT_READY, "not found");
    return out;
}

static struct issuer *load_vault(const char *vault_json, struct issuer_state *s)
{
    char *json = xasprintf("{" API_V ",\"kind\":\"ClusterIssuer\",\"metadata\":{\"name\":\"v\"},"
                           "\"spec\":{\"vault\":%s}}",
                           vault_json);
    struct err e = {0};
    struct issuer *is = parse(json, &e);
    free(json);
    if (is == NULL)
        fail_msg("%s", e.msg);
    n_asked = 0;
    struct signer_env env = {.get_secret = env_get_secret, .ud = &bundle_secret};
    issuer_load_signer(is, &env, "ember-system", 0);
    issuer_get_state(is, s);
    return is;
}

static void test_load_vault_signer(void **state)
{
    (void)state;
#define AR                                                                                         \
    "\"auth\":{\"appRole\":{\"roleId\":\"r\",\"secretRef\":{\"name\":\"approle\",\"key\":\"k\"}}}"
    struct issuer_state s;
    /* the caBundle Secret is read at load: missing, the issuer waits (Pending) naming it */
    bundle_secret = NULL;
    struct issuer *is = load_vault("{\"server\":\"https://127.0.0.1:1\",\"path\":\"p/sign/r\","
                                   "\"caBundleSecretRef\":{\"name\":\"ca\"}," AR "}",
                                   &s);
    assert_null(is->signer.ops);
    assert_false(s.ready);
    assert_string_equal(s.reason, "Pending");
    assert_string_equal(s.message,
                        "Secret ember-system/ca (spec.vault.caBundleSecretRef): not found");
    issuer_unref(is);
    /* there but without the key */
    bundle_secret = cJSON_Parse("{\"stringData\":{\"other\":\"x\"}}");
    is = load_vault("{\"server\":\"https://127.0.0.1:1\",\"path\":\"p/sign/r\","
                    "\"caBundleSecretRef\":{\"name\":\"ca\"}," AR "}",
                    &s);
    assert_string_equal(s.reason, "Pending");
    assert_string_equal(s.message,
                        "Secret ember-system/ca (spec.vault.caBundleSecretRef) has no key ca.crt");
    issuer_unref(is);
    cJSON_Delete(bundle_secret);
    bundle_secret = NULL;
    /* a spec the client refuses can never work: Failed */
    is = load_vault("{\"server\":\"http://vault.example\",\"path\":\"p/sign/r\"," AR "}", &s);
    assert_null(is->signer.ops);
    assert_string_equal(s.reason, "Failed");
    assert_contains(s.message, "plain http:// is allowed only to a loopback address");
    issuer_unref(is);
    /* loopback is an address of 127.0.0.0/8, localhost or [::1], never a name that starts so */
    static const char *const not_loopback[] = {"127.attacker.example", "127.0.0.1.evil.example",
                                               "localhost.evil.example", "[::1]x"};
    for (size_t i = 0; i < sizeof(not_loopback) / sizeof(not_loopback[0]); i++) {
        char *spec = xasprintf("{\"server\":\"http://%s:8200\",\"path\":\"p/sign/r\"," AR "}",
                               not_loopback[i]);
        is = load_vault(spec, &s);
        free(spec);
        assert_null(is->signer.ops);
        assert_contains(s.message, "plain http:// is allowed only to a loopback address");
        issuer_unref(is);
    }
    static const char *const loopback[] = {"127.0.0.1:1", "127.1.2.3:1", "localhost:1", "[::1]:1"};
    for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++) {
        char *spec =
            xasprintf("{\"server\":\"http://%s\",\"path\":\"p/sign/r\"," AR "}", loopback[i]);
        is = load_vault(spec, &s);
        free(spec);
        assert_ptr_equal(is->signer.ops, &vault_row);
        issuer_unref(is);
    }
    n_asked = 0;
    /* built: the check's login reads the secret_id through the env, in the Secret namespace */
    is = load_vault("{\"server\":\"https://127.0.0.1:1\",\"path\":\"p/sign/r\"," AR "}", &s);
    assert_ptr_equal(is->signer.ops, &vault_row);
    assert_string_equal(s.reason, "Pending");
    assert_contains(s.message, "ember-system/approle");
    assert_int_equal(n_asked, 1);
    assert_string_equal(secrets_asked[0], "ember-system/approle");
    assert_int_equal(is->signer.ops->expiry(is->signer.ctx), 0); /* nothing signed yet */
    /* re-checked in place: the same client logs in again, reading the Secret again */
    assert_true(issuer_recheck(is, 0));
    assert_int_equal(n_asked, 2);
    issuer_unref(is);
    /* the caBundle Secret read at load is read again at each re-check: while it is the same the
     * signer is re-checked in place; replaced or gone, it must be loaded again */
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *ca1 = make_ca_cert("Vault CA 1", k, NULL, NULL, "critical,CA:TRUE", 1);
    X509 *ca2 = make_ca_cert("Vault CA 2", k, NULL, NULL, "critical,CA:TRUE", 2);
    char *pem1 = cert_pem(ca1), *pem2 = cert_pem(ca2);
    bundle_secret = cJSON_CreateObject();
    cJSON_AddStringToObject(cJSON_AddObjectToObject(bundle_secret, "stringData"), "ca.crt", pem1);
    is = load_vault("{\"server\":\"https://127.0.0.1:1\",\"path\":\"p/sign/r\","
                    "\"caBundleSecretRef\":{\"name\":\"ca\"}," AR "}",
                    &s);
    assert_ptr_equal(is->signer.ops, &vault_row);
    n_asked = 0;
    assert_true(issuer_recheck(is, 0)); /* the same bundle: checked in place (a login) */
    assert_int_equal(n_asked, 2);
    assert_string_equal(secrets_asked[0], "ember-system/ca");
    assert_string_equal(secrets_asked[1], "ember-system/approle");
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(bundle_secret, "stringData"), "ca.crt",
                              cJSON_CreateString(pem2));
    n_asked = 0;
    assert_false(issuer_recheck(is, 0)); /* replaced: load it again, no login */
    assert_int_equal(n_asked, 1);
    cJSON_Delete(bundle_secret);
    bundle_secret = NULL;
    assert_false(issuer_recheck(is, 0)); /* gone */
    issuer_unref(is);
    free(pem1);
    free(pem2);
    X509_free(ca1);
    X509_free(ca2);
    EVP_PKEY_free(k);
#undef AR
}

/* ---- the issuer gauges ---- */

/* A row with the optional ops: its own Ready message and metrics. */
static int published;
static void fake_ready_message(void *ctx, char *buf, size_t len)
{
    snprintf(buf, len, "Signing with sub-CA serial %d", *(int *)ctx);
}
static bool fake_publish(void *ctx, struct metrics *m, const char *labels)
{
    (void)ctx;
    (void)m;
    assert_string_equal(labels, "issuer=\"ClusterIssuer/a\"");
    published++;
    return false; /* no gauges of its own */
}
static const struct signer_ops fake_optional_ops = {.name = "fake",
                                                    .free = fake_free,
                                                    .expiry = fake_expiry,
                                                    .ready_message = fake_ready_message,
                                                    .publish_metrics = fake_publish};

static void test_optional_ops(void **state)
{
    (void)state;
    struct err e = {0};
    struct issuer *is = parse("{" API_V ",\"kind\":\"ClusterIssuer\",\"metadata\":{\"name\":"
                              "\"a\"},\"spec\":{\"ca\":{\"secretName\":\"s\"}}}",
                              &e);
    static int serial = 42;
    issuer_set_signer(is, (struct signer){&fake_optional_ops, &serial});
    struct issuer_state st;
    issuer_get_state(is, &st);
    assert_true(st.ready);
    assert_string_equal(st.reason, "Checked");
    assert_string_equal(st.message, "Signing with sub-CA serial 42");
    struct metrics *m = metrics_new();
    issuer_declare_metrics(m);
    published = 0;
    issuer_publish_metrics(m, &is, 1);
    assert_int_equal(published, 1);
    metrics_free(m);
    issuer_unref(is);
}

static void test_publish_metrics(void **state)
{
    (void)state;
    struct err e = {0};
    struct issuer *a = parse("{" API_V ",\"kind\":\"ClusterIssuer\",\"metadata\":{\"name\":"
                             "\"a\"},\"spec\":{\"ca\":{\"secretName\":\"s\"}}}",
                             &e);
    struct issuer *b = parse("{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"b\\\"q\","
                             "\"namespace\":\"ns\"},\"spec\":{\"ca\":{\"secretName\":\"s\"}}}",
                             &e);
    assert_non_null(a);
    assert_non_null(b);
    static int ctx;
    issuer_set_signer(a, (struct signer){&fake_recheck_ops, &ctx});
    fake_not_after = 1767225600;
    struct metrics *m = metrics_new();
    issuer_declare_metrics(m);
    struct issuer *both[] = {a, b};
    issuer_publish_metrics(m, both, 2);
    char *text = metrics_render(m);
    assert_contains(text, "# TYPE ember_issuer_ready gauge\n");
    assert_contains(text, "# TYPE ember_ca_expiry_timestamp_seconds gauge\n");
    assert_contains(text, "\nember_issuer_ready{issuer=\"ClusterIssuer/a\"} 1\n");
    assert_contains(text, "\nember_issuer_ready{issuer=\"Issuer/ns/b\\\"q\"} 0\n");
    assert_contains(text,
                    "\nember_ca_expiry_timestamp_seconds{issuer=\"ClusterIssuer/a\"} 1767225600\n");
    /* b has no signer: its CA's expiry is not known, so not published */
    assert_null(strstr(text, "ember_ca_expiry_timestamp_seconds{issuer=\"Issuer/ns/b"));
    free(text);

    /* a turns not ready and forgets its expiry; b is gone */
    issuer_set_not_ready(a, "Pending", "x");
    fake_not_after = 0;
    issuer_publish_metrics(m, both, 1);
    text = metrics_render(m);
    assert_contains(text, "\nember_issuer_ready{issuer=\"ClusterIssuer/a\"} 0\n");
    assert_null(strstr(text, "Issuer/ns/b"));
    assert_null(strstr(text, "ember_ca_expiry_timestamp_seconds{"));
    free(text);
    issuer_publish_metrics(m, NULL, 0);
    text = metrics_render(m);
    assert_null(strstr(text, "ember_issuer_ready{"));
    free(text);
    metrics_free(m);
    issuer_unref(a);
    issuer_unref(b);
}

/* ember_subca_ready of an issuer that is gone, or back in per-certificate mode, goes. */
static void test_subca_gauge_pruned(void **state)
{
    (void)state;
#define SUBCA_AR                                                                                   \
    "\"auth\":{\"appRole\":{\"roleId\":\"r\",\"secretRef\":{\"name\":\"approle\",\"key\":\"k\"}}}"
#define SUBCA_V                                                                                    \
    "{\"server\":\"https://127.0.0.1:1\",\"subCA\":{\"path\":\"p/root/"                            \
    "sign-intermediate\"}," SUBCA_AR "}"
    struct issuer_state s;
    struct metrics *m = metrics_new();
    issuer_declare_metrics(m);
    struct issuer *is = load_vault(SUBCA_V, &s);
    assert_non_null(is->signer.ops);
    issuer_publish_metrics(m, &is, 1);
    char *text = metrics_render(m);
    assert_contains(text, "\nember_subca_ready{issuer=\"ClusterIssuer/v\"} 0\n");
    free(text);
    /* the same issuer back in per-certificate mode: its sub-CA gauge goes */
    struct issuer *pc =
        load_vault("{\"server\":\"https://127.0.0.1:1\",\"path\":\"p/sign/r\"," SUBCA_AR "}", &s);
    issuer_unref(is);
    issuer_publish_metrics(m, &pc, 1);
    text = metrics_render(m);
    assert_contains(text, "\nember_issuer_ready{issuer=\"ClusterIssuer/v\"}");
    assert_null(strstr(text, "ember_subca_ready{"));
    free(text);
    issuer_unref(pc);
    /* a deleted sub-CA issuer: its gauge goes */
    is = load_vault(SUBCA_V, &s);
    issuer_publish_metrics(m, &is, 1);
    text = metrics_render(m);
    assert_contains(text, "\nember_subca_ready{issuer=\"ClusterIssuer/v\"} 0\n");
    free(text);
    issuer_unref(is);
    issuer_publish_metrics(m, NULL, 0);
    text = metrics_render(m);
    assert_null(strstr(text, "ember_subca_ready{"));
    free(text);
    metrics_free(m);
#undef SUBCA_V
#undef SUBCA_AR
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issuer_read),        cmocka_unit_test(test_issuer_defaults),
        cmocka_unit_test(test_cluster_issuer),     cmocka_unit_test(test_vault_issuer),
        cmocka_unit_test(test_issuer_errors),      cmocka_unit_test(test_format_ref),
        cmocka_unit_test(test_readiness),          cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_ref_outlives_store), cmocka_unit_test(test_vault_spec),
        cmocka_unit_test(test_signer_table),       cmocka_unit_test(test_recheck_in_place),
        cmocka_unit_test(test_load_vault_signer),  cmocka_unit_test(test_publish_metrics),
        cmocka_unit_test(test_subca_gauge_pruned), cmocka_unit_test(test_spec_messages),
        cmocka_unit_test(test_spec_duplicates),    cmocka_unit_test(test_spec_nulls),
        cmocka_unit_test(test_optional_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
