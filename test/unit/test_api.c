/* test_api.c -- the signing API without HTTP: POST /v1/certificaterequests and Firefly's
 * /v1/certificatesigningrequest, over a store built in memory with an in-process CA. */
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
#include "front/api.h"
#include "issuers/issuer.h"
#include "standalone/store.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static time_t NOW;

/* ---- in-process PKI: a root and an intermediate CA (pathlen 0) that signs ---- */

static EVP_PKEY *root_key, *int_key;
static X509 *root_cert, *int_cert;
static char *int_pem, *int_key_pem, *root_pem;

#include "testpki.h"

/* A P-256 CSR (PEM) with DNS SANs and subject CN=cn (none when cn is NULL); *pub receives its
 * public key when pub is not NULL. */
static char *make_csr_pem(const char *cn, const char *sans, EVP_PKEY **pub)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    char *pem = testpki_csr_pem(k, cn, sans, NULL, NULL);
    if (pub != NULL)
        *pub = k;
    else
        EVP_PKEY_free(k);
    return pem;
}

/* ---- the store and the API ---- */

static struct store *st;
static struct api api;
static char *csr_ok_pem, *csr_evil_pem;
static char *csr_ok_b64, *csr_evil_b64;
static EVP_PKEY *csr_ok_pub;
static int reports;

static void on_report(void *ud, const char *object, const char *problem)
{
    (void)ud;
    (void)object;
    (void)problem;
    reports++;
}

static void store_add_json(const char *json)
{
    cJSON *o = cJSON_Parse(json);
    if (o == NULL)
        fail_msg("bad test JSON: %s", json);
    struct err e = {0};
    int rc = store_add_object(st, o, "test", &e);
    cJSON_Delete(o);
    if (rc != 0)
        fail_msg("store_add_object: %s", e.msg);
}

#define API_V "\"apiVersion\":\"ember.issuer.dev/v1alpha1\""

static const char *const annotations[] = {PIPELINE_POLICY_ANNOTATION};

static int group_setup(void **state)
{
    (void)state;
    NOW = time(NULL);
    testpki_now = &NOW;
    root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    int_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    root_cert = make_ca_cert("API Test Root", root_key, NULL, NULL, "critical,CA:TRUE", 1);
    int_cert = make_ca_cert("API Test Intermediate", int_key, root_cert, root_key,
                            "critical,CA:TRUE,pathlen:0", 2);
    root_pem = cert_pem(root_cert);
    int_pem = cert_pem(int_cert);
    int_key_pem = key_pem(int_key);

    st = store_new("ember-system");
    char *crt = testpki_b64(int_pem), *key = testpki_b64(int_key_pem), *ca = testpki_b64(root_pem);
    char *secret = xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":"
                             "\"ca-secret\",\"namespace\":\"ember-system\"},\"type\":"
                             "\"kubernetes.io/tls\",\"data\":{\"tls.crt\":\"%s\",\"tls.key\":"
                             "\"%s\",\"ca.crt\":\"%s\"}}",
                             crt, key, ca);
    store_add_json(secret);
    OPENSSL_cleanse(secret, strlen(secret));
    OPENSSL_cleanse(key, strlen(key));
    free(secret);
    free(crt);
    free(key);
    free(ca);
    store_add_json("{" API_V ",\"kind\":\"ClusterIssuer\",\"metadata\":{\"name\":\"ca\"},"
                   "\"spec\":{\"defaultPolicy\":\"web\",\"ca\":{\"secretName\":\"ca-secret\"}}}");
    store_add_json("{" API_V ",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"nosecret\","
                   "\"namespace\":\"team-a\"},\"spec\":{\"ca\":{\"secretName\":\"missing\"}}}");
    store_add_json("{" API_V ",\"kind\":\"IssuancePolicy\",\"metadata\":{\"name\":\"web\"},"
                   "\"spec\":{\"validity\":{\"max\":\"24h\",\"default\":\"1h\"},"
                   "\"sans\":{\"dnsNames\":{\"rule\":\"Optional\","
                   "\"allowed\":[\"[a-z0-9.-]+\\\\.example\\\\.com\"]}}}}");
    store_add_json("{" API_V ",\"kind\":\"IssuancePolicy\",\"metadata\":{\"name\":\"ca-ok\"},"
                   "\"spec\":{\"isCA\":true,\"usages\":[\"digital signature\",\"key encipherment\","
                   "\"cert sign\"],\"subject\":{\"commonName\":{\"rule\":\"Optional\"}},"
                   "\"sans\":{\"dnsNames\":{\"rule\":\"Optional\"}}}}");
    store_add_json("{" API_V ",\"kind\":\"IssuancePolicy\",\"metadata\":{\"name\":\"broken\"},"
                   "\"spec\":{\"validity\":{\"max\":\"1x\"}}}");
    store_resolve(st, NOW, on_report, NULL);

    api.env = (struct pipeline_env){
        .group = ISSUER_GROUP,
        .policy_annotations = annotations,
        .n_policy_annotations = 1,
        .synced = true, /* everything is loaded before serving (as main does) */
        .max_retry_s = 3600,
        .find_issuer = store_find_issuer,
        .find_policy = store_find_policy,
        .ud = st,
    };
    api.cluster_ns = xstrdup("ember-system");
    struct err e = {0};
    assert_int_equal(api_set_issuer(&api, "ClusterIssuer/ca", &e), 0);

    csr_ok_pem = make_csr_pem(NULL, "DNS:a.example.com", &csr_ok_pub);
    csr_evil_pem = make_csr_pem(NULL, "DNS:evil.com", NULL);
    csr_ok_b64 = testpki_b64(csr_ok_pem);
    csr_evil_b64 = testpki_b64(csr_evil_pem);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    api_free(&api);
    store_free(st);
    X509_free(root_cert);
    X509_free(int_cert);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(int_key);
    EVP_PKEY_free(csr_ok_pub);
    free(root_pem);
    free(int_pem);
    OPENSSL_cleanse(int_key_pem, strlen(int_key_pem));
    free(int_key_pem);
    free(csr_ok_pem);
    free(csr_evil_pem);
    free(csr_ok_b64);
    free(csr_evil_b64);
    return 0;
}

/* ---- helpers ---- */

static void assert_contains(const char *hay, const char *needle)
{
    if (hay == NULL || strstr(hay, needle) == NULL)
        fail_msg("\"%.2000s\" does not contain \"%s\"", hay ? hay : "(null)", needle);
}

/* A CertificateRequest JSON body; extra is inserted into spec (may be ""). */
static char *cr_body(const char *kind, const char *issuer, const char *policy, const char *request,
                     const char *extra_spec)
{
    char *ann =
        policy ? xasprintf("\"%s\":\"%s\"", PIPELINE_POLICY_ANNOTATION, policy) : xstrdup("");
    char *s = xasprintf("{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":\"CertificateRequest\","
                        "\"metadata\":{\"name\":\"req-1\",\"namespace\":\"team-a\","
                        "\"annotations\":{%s}},\"spec\":{%s\"request\":\"%s\",\"issuerRef\":{"
                        "\"group\":\"ember.issuer.dev\",\"kind\":\"%s\",\"name\":\"%s\"}}}",
                        ann, extra_spec, request, kind, issuer);
    free(ann);
    return s;
}

static cJSON *post_cr(const char *ctype, const char *body, struct api_response *out)
{
    api_handle_cr(&api, NULL, ctype, body, strlen(body), out);
    assert_non_null(out->body);
    cJSON *o = cJSON_Parse(out->body);
    if (o == NULL)
        fail_msg("response body is not JSON: %s", out->body);
    return o;
}

static cJSON *post_ff(const char *body, struct api_response *out)
{
    api_handle_firefly(&api, NULL, "application/json", body, strlen(body), out);
    assert_non_null(out->body);
    cJSON *o = cJSON_Parse(out->body);
    if (o == NULL)
        fail_msg("response body is not JSON: %s", out->body);
    return o;
}

static const cJSON *condition_of(const cJSON *obj, const char *type)
{
    const cJSON *conds = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "status"), "conditions");
    const cJSON *c;
    cJSON_ArrayForEach(c, conds)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "type");
        if (cJSON_IsString(t) && strcmp(t->valuestring, type) == 0)
            return c;
    }
    return NULL;
}

static const char *field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void assert_ready(const cJSON *obj, const char *status, const char *reason)
{
    const cJSON *r = condition_of(obj, "Ready");
    if (r == NULL)
        fail_msg("no Ready condition");
    assert_string_equal(field(r, "status"), status);
    assert_string_equal(field(r, "reason"), reason);
}

/* A Kubernetes Status error body with that code. */
static void assert_status_body(const cJSON *o, unsigned code, const char *msg_part)
{
    assert_string_equal(field(o, "kind"), "Status");
    assert_string_equal(field(o, "status"), "Failure");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "code");
    assert_true(cJSON_IsNumber(c));
    assert_int_equal((unsigned)c->valuedouble, code);
    assert_contains(field(o, "message"), msg_part);
}

static STACK_OF(X509) * pem_certs(const char *pem, size_t len)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        sk_X509_push(sk, x);
    ERR_clear_error();
    BIO_free(b);
    return sk;
}

static STACK_OF(X509) * b64_certs(const char *b64)
{
    assert_non_null(b64);
    unsigned char *pem = NULL;
    size_t len = 0;
    struct err e = {0};
    assert_int_equal(b64_decode(b64, strlen(b64), 1 << 20, &pem, &len, &e), 0);
    STACK_OF(X509) *sk = pem_certs((char *)pem, len);
    free(pem);
    return sk;
}

static long long lifetime(X509 *x)
{
    struct tm a, b;
    assert_int_equal(ASN1_TIME_to_tm(X509_get0_notBefore(x), &a), 1);
    assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(x), &b), 1);
    return (long long)(timegm(&b) - timegm(&a));
}

/* ---- POST /v1/certificaterequests ---- */

static void test_cr_issued_201(void **state)
{
    (void)state;
    char *body = cr_body("ClusterIssuer", "ca", "web", csr_ok_b64, "");
    struct api_response out;
    cJSON *o = post_cr("application/json", body, &out);
    assert_int_equal(out.status, 201);
    assert_int_equal(out.retry_after, 0);
    /* the same object, with its status */
    assert_string_equal(field(o, "kind"), "CertificateRequest");
    assert_string_equal(field(o, "apiVersion"), "cert-manager.io/v1");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    assert_string_equal(field(md, "name"), "req-1");
    assert_string_equal(field(md, "namespace"), "team-a");
    assert_string_equal(field(cJSON_GetObjectItemCaseSensitive(o, "spec"), "request"), csr_ok_b64);
    const cJSON *a = condition_of(o, "Approved");
    assert_non_null(a);
    assert_string_equal(field(a, "reason"), "ember.issuer.dev");
    assert_contains(field(a, "message"), "\"web\"");
    assert_ready(o, "True", "Issued");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(o, "status");
    STACK_OF(X509) *chain = b64_certs(field(status, "certificate"));
    assert_int_equal(sk_X509_num(chain), 2);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(chain, 0)), csr_ok_pub), 1);
    assert_int_equal(X509_cmp(sk_X509_value(chain, 1), int_cert), 0);
    assert_true(llabs(lifetime(sk_X509_value(chain, 0)) - 3600) <= 1); /* policy default 1h */
    STACK_OF(X509) *ca = b64_certs(field(status, "ca"));
    assert_int_equal(sk_X509_num(ca), 1);
    assert_int_equal(X509_cmp(sk_X509_value(ca, 0), root_cert), 0);
    assert_string_equal(out.log_object, "team-a/req-1");
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(ca, X509_free);
    cJSON_Delete(o);
    api_response_free(&out);
    free(body);
}

static void test_cr_yaml_and_content_type_parameters(void **state)
{
    (void)state;
    char *yaml = xasprintf("apiVersion: cert-manager.io/v1\n"
                           "kind: CertificateRequest\n"
                           "metadata:\n"
                           "  name: y1\n"
                           "  namespace: team-a\n"
                           "  annotations:\n"
                           "    ember.issuer.dev/policy-name: web\n"
                           "spec:\n"
                           "  duration: 2h\n"
                           "  request: %s\n"
                           "  issuerRef:\n"
                           "    group: ember.issuer.dev\n"
                           "    kind: ClusterIssuer\n"
                           "    name: ca\n",
                           csr_ok_b64);
    const char *types[] = {"application/yaml", "application/x-yaml; charset=utf-8", "text/yaml"};
    for (size_t i = 0; i < 3; i++) {
        struct api_response out;
        cJSON *o = post_cr(types[i], yaml, &out);
        assert_int_equal(out.status, 201);
        assert_string_equal(field(cJSON_GetObjectItemCaseSensitive(o, "metadata"), "name"), "y1");
        STACK_OF(X509) *chain =
            b64_certs(field(cJSON_GetObjectItemCaseSensitive(o, "status"), "certificate"));
        assert_true(llabs(lifetime(sk_X509_value(chain, 0)) - 7200) <= 1);
        sk_X509_pop_free(chain, X509_free);
        cJSON_Delete(o);
        api_response_free(&out);
    }
    free(yaml);

    char *body = cr_body("ClusterIssuer", "ca", "web", csr_ok_b64, "");
    struct api_response out;
    cJSON *o = post_cr("Application/JSON; charset=utf-8", body, &out);
    assert_int_equal(out.status, 201);
    cJSON_Delete(o);
    api_response_free(&out);
    free(body);
}

/* Without metadata.name the API names the request, from generateName as the API server does. */
static void test_cr_generated_name(void **state)
{
    (void)state;
    char *body = cr_body("ClusterIssuer", "ca", "web", csr_ok_b64, "");
    cJSON *in = cJSON_Parse(body);
    cJSON *md = cJSON_GetObjectItem(in, "metadata");
    cJSON_DeleteItemFromObject(md, "name");
    cJSON_AddStringToObject(md, "generateName", "istio-csr-");
    char *b1 = cJSON_PrintUnformatted(in);
    struct api_response out;
    cJSON *o = post_cr("application/json", b1, &out);
    assert_int_equal(out.status, 201);
    const char *name = field(cJSON_GetObjectItemCaseSensitive(o, "metadata"), "name");
    assert_non_null(name);
    assert_true(strncmp(name, "istio-csr-", 10) == 0);
    assert_true(strlen(name) > 10);
    cJSON_Delete(o);
    api_response_free(&out);
    free(b1);
    cJSON_DeleteItemFromObject(md, "generateName");
    b1 = cJSON_PrintUnformatted(in);
    o = post_cr("application/json", b1, &out);
    assert_int_equal(out.status, 201);
    name = field(cJSON_GetObjectItemCaseSensitive(o, "metadata"), "name");
    assert_non_null(name);
    assert_true(name[0] != '\0');
    cJSON_Delete(o);
    api_response_free(&out);
    free(b1);
    cJSON_Delete(in);
    free(body);
}

static void test_cr_denied_403(void **state)
{
    (void)state;
    char *body = cr_body("ClusterIssuer", "ca", "web", csr_evil_b64, "");
    struct api_response out;
    cJSON *o = post_cr("application/json", body, &out);
    assert_int_equal(out.status, 403);
    assert_int_equal(out.retry_after, 0);
    assert_string_equal(field(o, "kind"), "CertificateRequest");
    const cJSON *d = condition_of(o, "Denied");
    assert_non_null(d);
    assert_contains(field(d, "message"), "evil.com");
    assert_null(condition_of(o, "Approved"));
    assert_ready(o, "False", "Denied");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(o, "status");
    assert_non_null(field(status, "failureTime"));
    assert_null(field(status, "certificate"));
    assert_contains(out.log_message, "evil.com");
    cJSON_Delete(o);
    api_response_free(&out);
    free(body);
}

static void test_cr_unknown_policy_403(void **state)
{
    (void)state;
    char *body = cr_body("ClusterIssuer", "ca", "nosuch", csr_ok_b64, "");
    struct api_response out;
    cJSON *o = post_cr("application/json", body, &out);
    assert_int_equal(out.status, 403);
    assert_contains(field(condition_of(o, "Denied"), "message"), "does not exist");
    cJSON_Delete(o);
    api_response_free(&out);
    free(body);
}

static void test_cr_invalid_422(void **state)
{
    (void)state;
    char *notcsr = testpki_b64("definitely not a CSR");
    char *bad_csr = cr_body("ClusterIssuer", "ca", "web", notcsr, "");
    char *no_request = xasprintf(
        "{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":\"CertificateRequest\",\"metadata\":"
        "{\"name\":\"r\"},\"spec\":{\"issuerRef\":{\"group\":\"ember.issuer.dev\",\"kind\":"
        "\"ClusterIssuer\",\"name\":\"ca\"}}}");
    char *bad_duration = cr_body("ClusterIssuer", "ca", "web", csr_ok_b64, "\"duration\":\"1x\",");
    char *bad_usage = cr_body("ClusterIssuer", "ca", "web", csr_ok_b64, "\"usages\":[\"nope\"],");
    char *wrong_group = xasprintf(
        "{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":\"CertificateRequest\",\"metadata\":"
        "{\"name\":\"r\"},\"spec\":{\"request\":\"%s\",\"issuerRef\":{\"group\":"
        "\"cert-manager.io\",\"kind\":\"ClusterIssuer\",\"name\":\"ca\"}}}",
        csr_ok_b64);
    char *wrong_kind = cr_body("VaultIssuer", "ca", "web", csr_ok_b64, "");
    const struct {
        const char *body, *msg;
    } cases[] = {
        {bad_csr, "spec.request"},
        {no_request, "spec.request"},
        {bad_duration, "spec.duration"},
        {bad_usage, "spec.usages"},
        {wrong_group, "spec.issuerRef.group"},
        {wrong_kind, "spec.issuerRef.kind"},
        {"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}",
         "CertificateRequest"},
        {"{\"kind\":\"CertificateRequest\",\"metadata\":{\"name\":\"r\"},\"spec\":{}}", "spec."},
        {"{\"kind\":\"CertificateRequest\",\"metadata\":{\"name\":\"r\"}}", "spec"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct api_response out;
        cJSON *o = post_cr("application/json", cases[i].body, &out);
        if (out.status != 422)
            fail_msg("case %zu: status %u, body %s", i, out.status, out.body);
        assert_int_equal(out.retry_after, 0);
        assert_contains(out.body, cases[i].msg);
        assert_null(field(cJSON_GetObjectItemCaseSensitive(o, "status"), "certificate"));
        cJSON_Delete(o);
        api_response_free(&out);
    }
    free(notcsr);
    free(bad_csr);
    free(no_request);
    free(bad_duration);
    free(bad_usage);
    free(wrong_group);
    free(wrong_kind);
}

static void test_cr_failed_422(void **state)
{
    (void)state;
    /* approved by policy ca-ok, but the signing CA has pathlen:0: a permanent signer refusal
     * (a CA request names a subject: RFC 5280 wants one, csr_check_request refuses it else) */
    char *pem = make_csr_pem("a.example.com", "DNS:a.example.com", NULL);
    char *b64 = testpki_b64(pem);
    char *body = cr_body("ClusterIssuer", "ca", "ca-ok", b64, "\"isCA\":true,");
    free(pem);
    free(b64);
    struct api_response out;
    cJSON *o = post_cr("application/json", body, &out);
    assert_int_equal(out.status, 422);
    assert_string_equal(field(o, "kind"), "CertificateRequest");
    assert_non_null(condition_of(o, "Approved"));
    assert_ready(o, "False", "Failed");
    assert_non_null(field(cJSON_GetObjectItemCaseSensitive(o, "status"), "failureTime"));
    cJSON_Delete(o);
    api_response_free(&out);
    free(body);
}

static void test_cr_pending_503_with_retry_after(void **state)
{
    (void)state;
    char *body = cr_body("Issuer", "nosecret", "web", csr_ok_b64, "");
    struct api_response out;
    cJSON *o = post_cr("application/json", body, &out);
    assert_int_equal(out.status, 503);
    assert_true(out.retry_after > 0);
    /* the request's Pending status (design §5) */
    assert_string_equal(field(o, "kind"), "CertificateRequest");
    assert_ready(o, "False", "Pending");
    assert_contains(field(condition_of(o, "Ready"), "message"), "missing");
    assert_null(field(cJSON_GetObjectItemCaseSensitive(o, "status"), "failureTime"));
    cJSON_Delete(o);
    api_response_free(&out);
    free(body);

    /* an issuer that does not exist: Pending as well */
    body = cr_body("Issuer", "ghost", "web", csr_ok_b64, "");
    o = post_cr("application/json", body, &out);
    assert_int_equal(out.status, 503);
    assert_true(out.retry_after > 0);
    assert_contains(out.body, "Waiting for it to be created");
    cJSON_Delete(o);
    api_response_free(&out);
    free(body);
}

static void test_cr_invalid_policy_503(void **state)
{
    (void)state;
    char *body = cr_body("ClusterIssuer", "ca", "broken", csr_evil_b64, "");
    struct api_response out;
    cJSON *o = post_cr("application/json", body, &out);
    assert_int_equal(out.status, 503);
    assert_true(out.retry_after > 0);
    assert_contains(out.body, "broken");
    assert_null(condition_of(o, "Denied"));
    cJSON_Delete(o);
    api_response_free(&out);
    free(body);
}

static void test_cr_unparsable_400(void **state)
{
    (void)state;
    const struct {
        const char *ctype, *body;
    } cases[] = {
        {"application/json", "{\"apiVersion\": "},
        {"application/json", ""},
        {"application/yaml", "a: [1, 2\n"},
        {"application/yaml", "a: 1\n---\nb: 2\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct api_response out;
        cJSON *o = post_cr(cases[i].ctype, cases[i].body, &out);
        if (out.status != 400)
            fail_msg("case %zu: status %u, body %s", i, out.status, out.body);
        assert_status_body(o, 400, "");
        cJSON_Delete(o);
        api_response_free(&out);
    }
}

/* A body that is JSON but not an object: refused as unparsable or invalid, never signed. */
static void test_non_object_bodies(void **state)
{
    (void)state;
    const char *bodies[] = {"[1,2]", "\"x\"", "42", "null"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
        struct api_response out;
        cJSON *o = post_cr("application/json", bodies[i], &out);
        if (out.status != 400 && out.status != 422)
            fail_msg("CR %s: status %u", bodies[i], out.status);
        assert_string_equal(field(o, "kind"), "Status");
        cJSON_Delete(o);
        api_response_free(&out);
        o = post_ff(bodies[i], &out);
        if (out.status != 400 && out.status != 422)
            fail_msg("Firefly %s: status %u", bodies[i], out.status);
        assert_string_equal(field(o, "kind"), "Status");
        cJSON_Delete(o);
        api_response_free(&out);
    }
}

static void test_cr_other_content_types_415(void **state)
{
    (void)state;
    char *body = cr_body("ClusterIssuer", "ca", "web", csr_ok_b64, "");
    const char *types[] = {"text/plain", "application/jsonx", "application/x-www-form-urlencoded",
                           ""};
    for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++) {
        struct api_response out;
        cJSON *o = post_cr(types[i], body, &out);
        assert_int_equal(out.status, 415);
        assert_status_body(o, 415, "Content-Type");
        cJSON_Delete(o);
        api_response_free(&out);
    }
    struct api_response out;
    api_handle_cr(&api, NULL, NULL, body, strlen(body), &out);
    assert_int_equal(out.status, 415);
    api_response_free(&out);
    free(body);
}

static void test_cr_client_status_ignored(void **state)
{
    (void)state;
    /* a client's Approved + Issued + certificate do not get an evil CSR signed */
    char *base = cr_body("ClusterIssuer", "ca", "web", csr_evil_b64, "");
    cJSON *in = cJSON_Parse(base);
    cJSON *status = cJSON_AddObjectToObject(in, "status");
    cJSON_AddStringToObject(status, "certificate", "Zm9vYmFy");
    cJSON_AddStringToObject(status, "ca", "Zm9vYmFy");
    cJSON *conds = cJSON_AddArrayToObject(status, "conditions");
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "type", "Approved");
    cJSON_AddStringToObject(a, "status", "True");
    cJSON_AddStringToObject(a, "reason", "cert-manager.io");
    cJSON_AddItemToArray(conds, a);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "type", "Ready");
    cJSON_AddStringToObject(r, "status", "True");
    cJSON_AddStringToObject(r, "reason", "Issued");
    cJSON_AddItemToArray(conds, r);
    char *body = cJSON_PrintUnformatted(in);
    struct api_response out;
    cJSON *o = post_cr("application/json", body, &out);
    assert_int_equal(out.status, 403);
    assert_null(strstr(out.body, "Zm9vYmFy"));
    assert_null(condition_of(o, "Approved"));
    assert_ready(o, "False", "Denied");
    cJSON_Delete(o);
    api_response_free(&out);
    free(body);
    cJSON_Delete(in);
    free(base);

    /* a client's Denied does not stop a good request */
    base = cr_body("ClusterIssuer", "ca", "web", csr_ok_b64, "");
    in = cJSON_Parse(base);
    status = cJSON_AddObjectToObject(in, "status");
    conds = cJSON_AddArrayToObject(status, "conditions");
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "type", "Denied");
    cJSON_AddStringToObject(d, "status", "True");
    cJSON_AddStringToObject(d, "reason", "me");
    cJSON_AddItemToArray(conds, d);
    body = cJSON_PrintUnformatted(in);
    o = post_cr("application/json", body, &out);
    assert_int_equal(out.status, 201);
    assert_null(condition_of(o, "Denied"));
    assert_ready(o, "True", "Issued");
    cJSON_Delete(o);
    api_response_free(&out);
    free(body);
    cJSON_Delete(in);
    free(base);
}

/* The Content-Type picks the one parser: application/json is cJSON's, application/yaml
 * libyaml's, and neither body goes through the other. */
static void test_cr_content_type_chooses_the_parser(void **state)
{
    (void)state;
    char *yaml =
        xasprintf("apiVersion: cert-manager.io/v1\nkind: CertificateRequest\n"
                  "metadata: {name: y2, namespace: team-a}\n"
                  "spec:\n  request: %s\n"
                  "  issuerRef: {group: ember.issuer.dev, kind: ClusterIssuer, name: ca}\n",
                  csr_ok_b64);
    struct api_response out;
    cJSON *o = post_cr("application/json", yaml, &out);
    assert_int_equal(out.status, 400);
    assert_status_body(o, 400, "not one valid JSON object");
    assert_contains(out.body, "line 1 column 1: syntax error");
    assert_contains(out.body, "YAML goes as application/yaml");
    cJSON_Delete(o);
    api_response_free(&out);
    o = post_cr("application/yaml", yaml, &out);
    assert_int_equal(out.status, 201);
    cJSON_Delete(o);
    api_response_free(&out);
    free(yaml);

    /* JSON is YAML: a JSON body may go as application/yaml */
    char *json = cr_body("ClusterIssuer", "ca", "web", csr_ok_b64, "");
    o = post_cr("application/yaml", json, &out);
    assert_int_equal(out.status, 201);
    assert_ready(o, "True", "Issued");
    cJSON_Delete(o);
    api_response_free(&out);
    free(json);

    /* except what only JSON has: libyaml takes no UTF-16 surrogate escape, cJSON does */
    json = cr_body("ClusterIssuer", "ca", "web", csr_ok_b64, "");
    char *note = strstr(json, "\"annotations\":{") + strlen("\"annotations\":{");
    char *smile = xasprintf("%.*s\"note\":\"\\ud83d\\ude00\",%s", (int)(note - json), json, note);
    o = post_cr("application/json", smile, &out);
    assert_int_equal(out.status, 201);
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(o, "metadata"), "annotations");
    assert_string_equal(field(ann, "note"), "\xf0\x9f\x98\x80");
    cJSON_Delete(o);
    api_response_free(&out);
    o = post_cr("application/yaml", smile, &out);
    assert_int_equal(out.status, 400);
    assert_status_body(o, 400, "not one valid YAML object");
    assert_contains(out.body, "surrogate");
    cJSON_Delete(o);
    api_response_free(&out);
    free(smile);
    free(json);
}

/* What the YAML reader refuses in a JSON body, cJSON's reading refuses too. */
static void test_cr_json_rules(void **state)
{
    (void)state;
    char *json = cr_body("ClusterIssuer", "ca", "web", csr_ok_b64, "");
    char *dup = xasprintf("{\"kind\":\"CertificateRequest\",%s", json + 1);
    char *nul = xstrdup(json);
    char *name = strstr(nul, "\"req-1\"");
    memcpy(name, "\"\\u0000\"", 8);
    const struct {
        const char *body, *msg;
    } cases[] = {
        {dup, "duplicate key \"kind\""},
        {nul, "NUL character"},
        {"[{\"kind\":\"CertificateRequest\"}]", "the top level is not an object"},
        {"{\"a\":1} trailing", "more after the end"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct api_response out;
        cJSON *o = post_cr("application/json", cases[i].body, &out);
        if (out.status != 400)
            fail_msg("case %zu: status %u, body %s", i, out.status, out.body);
        assert_status_body(o, 400, cases[i].msg);
        cJSON_Delete(o);
        api_response_free(&out);
    }
    free(nul);
    free(dup);
    free(json);
}

/* ---- POST /v1/certificatesigningrequest (Firefly's shape) ---- */

static char *ff_body(const char *pem, const char *extra)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "request", pem);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (extra != NULL && extra[0] != '\0') {
        s[strlen(s) - 1] = '\0';
        char *t = xasprintf("%s,%s}", s, extra);
        free(s);
        s = t;
    }
    return s;
}

static void test_firefly_200_with_chain(void **state)
{
    (void)state;
    char *body = ff_body(csr_ok_pem, "\"policyName\":\"web\"");
    struct api_response out;
    cJSON *o = post_ff(body, &out);
    assert_int_equal(out.status, 200);
    assert_int_equal(out.retry_after, 0);
    const char *chain_pem = field(o, "certificateChain");
    assert_non_null(chain_pem);
    assert_true(strncmp(chain_pem, "-----BEGIN CERTIFICATE-----", 27) == 0);
    STACK_OF(X509) *chain = pem_certs(chain_pem, strlen(chain_pem));
    assert_true(sk_X509_num(chain) >= 2);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(chain, 0)), csr_ok_pub), 1);
    assert_int_equal(X509_cmp(sk_X509_value(chain, 1), int_cert), 0);
    assert_true(llabs(lifetime(sk_X509_value(chain, 0)) - 3600) <= 1);
    sk_X509_pop_free(chain, X509_free);
    cJSON_Delete(o);
    api_response_free(&out);
    free(body);

    /* no policyName: the issuer's defaultPolicy (web) */
    body = ff_body(csr_ok_pem, NULL);
    o = post_ff(body, &out);
    assert_int_equal(out.status, 200);
    cJSON_Delete(o);
    api_response_free(&out);
    free(body);
}

static void test_firefly_validity_period(void **state)
{
    (void)state;
    const struct {
        const char *extra;
        long long want;
    } ok[] = {
        {"\"validityPeriod\":\"PT2H\"", 7200},
        {"\"validityPeriod\":\"PT90M\"", 5400},
        {"\"validityPeriod\":\"P7D\"", 86400}, /* clamped to the policy's max (24h) */
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
        char *body = ff_body(csr_ok_pem, ok[i].extra);
        struct api_response out;
        cJSON *o = post_ff(body, &out);
        if (out.status != 200)
            fail_msg("%s: status %u %s", ok[i].extra, out.status, out.body);
        const char *pem = field(o, "certificateChain");
        STACK_OF(X509) *chain = pem_certs(pem, strlen(pem));
        assert_true(llabs(lifetime(sk_X509_value(chain, 0)) - ok[i].want) <= 1);
        sk_X509_pop_free(chain, X509_free);
        cJSON_Delete(o);
        api_response_free(&out);
        free(body);
    }
    const char *bad[] = {"\"validityPeriod\":\"bogus\"", "\"validityPeriod\":3600",
                         "\"validityPeriod\":\"PT0S\"", "\"validityPeriod\":\"1h\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        char *body = ff_body(csr_ok_pem, bad[i]);
        struct api_response out;
        cJSON *o = post_ff(body, &out);
        if (out.status != 422)
            fail_msg("%s: status %u %s", bad[i], out.status, out.body);
        assert_status_body(o, 422, "validityPeriod");
        cJSON_Delete(o);
        api_response_free(&out);
        free(body);
    }
}

static void test_firefly_errors(void **state)
{
    (void)state;
    char *unknown = ff_body(csr_ok_pem, "\"subject\":\"x\"");
    char *pol_num = ff_body(csr_ok_pem, "\"policyName\":5");
    char *evil = ff_body(csr_evil_pem, "\"policyName\":\"web\"");
    char *notcsr = ff_body("not a CSR", "\"policyName\":\"web\"");
    const struct {
        const char *body;
        unsigned code;
        const char *msg;
    } cases[] = {
        {unknown, 422, "subject"},
        {pol_num, 422, "policyName"},
        {"{\"policyName\":\"web\"}", 422, "request"},
        {"{\"request\":\"\"}", 422, "request"},
        {"{\"request\":7}", 422, "request"},
        {"{\"request\": ", 400, ""},
        {evil, 403, "evil.com"},
        {notcsr, 422, "spec.request"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct api_response out;
        cJSON *o = post_ff(cases[i].body, &out);
        if (out.status != cases[i].code)
            fail_msg("case %zu: status %u, want %u, body %s", i, out.status, cases[i].code,
                     out.body);
        assert_status_body(o, cases[i].code, cases[i].msg);
        assert_null(cJSON_GetObjectItemCaseSensitive(o, "certificateChain"));
        cJSON_Delete(o);
        api_response_free(&out);
    }
    free(unknown);
    free(pol_num);
    free(evil);
    free(notcsr);

    /* content type */
    struct api_response out;
    char *body = ff_body(csr_ok_pem, NULL);
    api_handle_firefly(&api, NULL, "text/plain", body, strlen(body), &out);
    assert_int_equal(out.status, 415);
    api_response_free(&out);
    free(body);
}

/* Firefly's shape in YAML, as application/yaml; not as application/json. */
static void test_firefly_yaml(void **state)
{
    (void)state;
    /* the PEM as a literal block, indented */
    char *indented = xstrdup("");
    for (const char *l = csr_ok_pem; *l != '\0';) {
        size_t n = strcspn(l, "\n");
        char *t = xasprintf("%s  %.*s\n", indented, (int)n, l);
        free(indented);
        indented = t;
        l += n + (l[n] == '\n');
    }
    char *yaml = xasprintf("policyName: web\nvalidityPeriod: PT2H\nrequest: |\n%s", indented);
    free(indented);
    struct api_response out;
    api_handle_firefly(&api, NULL, "application/yaml", yaml, strlen(yaml), &out);
    if (out.status != 200)
        fail_msg("status %u: %s", out.status, out.body);
    cJSON *o = cJSON_Parse(out.body);
    const char *pem = field(o, "certificateChain");
    assert_non_null(pem);
    STACK_OF(X509) *chain = pem_certs(pem, strlen(pem));
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(chain, 0)), csr_ok_pub), 1);
    assert_true(llabs(lifetime(sk_X509_value(chain, 0)) - 7200) <= 1);
    sk_X509_pop_free(chain, X509_free);
    cJSON_Delete(o);
    api_response_free(&out);

    api_handle_firefly(&api, NULL, "application/json", yaml, strlen(yaml), &out);
    assert_int_equal(out.status, 400);
    o = cJSON_Parse(out.body);
    assert_status_body(o, 400, "not one valid JSON object");
    cJSON_Delete(o);
    api_response_free(&out);
    free(yaml);
}

/* The Firefly endpoint's audit lines: the leaf's fields when issued, the CSR's when denied,
 * read from the PEM the request and the signer gave. */
static void test_firefly_audit(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_api.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = xasprintf("%s/audit.jsonl", dir);
    struct err e = {0};
    api.audit = audit_open(path, true, &e);
    if (api.audit == NULL)
        fail_msg("audit_open: %s", e.msg);
    const char *pems[] = {csr_ok_pem, csr_evil_pem};
    for (size_t i = 0; i < 2; i++) {
        char *body = ff_body(pems[i], "\"policyName\":\"web\"");
        struct api_response out;
        api_handle_firefly(&api, NULL, "application/json", body, strlen(body), &out);
        assert_int_equal(out.status, i == 0 ? 200 : 403);
        api_response_free(&out);
        free(body);
    }
    audit_close(api.audit);
    api.audit = NULL;

    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[16384];
    for (size_t i = 0; i < 2; i++) {
        assert_non_null(fgets(line, sizeof(line), f));
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        assert_string_equal(field(o, "outcome"), i == 0 ? "issued" : "denied");
        assert_string_equal(field(o, "issuer"), "ClusterIssuer/ca");
        assert_string_equal(field(o, "namespace"), "ember-system");
        assert_true(strncmp(field(o, "name"), "api-", 4) == 0);
        assert_int_equal(strlen(field(o, "public_key_sha256")), 64);
        const cJSON *dns =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "sans"), "dns");
        assert_string_equal(cJSON_GetArrayItem(dns, 0)->valuestring,
                            i == 0 ? "a.example.com" : "evil.com");
        if (i == 0) {
            assert_non_null(field(o, "serial"));
            assert_non_null(field(o, "not_after"));
            assert_contains(field(o, "certificate"), "-----BEGIN CERTIFICATE-----");
        } else {
            assert_null(field(o, "serial"));
        }
        cJSON_Delete(o);
    }
    assert_null(fgets(line, sizeof(line), f));
    fclose(f);
    unlink(path);
    rmdir(dir);
    free(path);
}

static void test_firefly_404_without_api_issuer(void **state)
{
    (void)state;
    struct api off = api;
    off.issuer_kind = off.issuer_namespace = off.issuer_name = NULL;
    char *body = ff_body(csr_ok_pem, NULL);
    struct api_response out;
    api_handle_firefly(&off, NULL, "application/json", body, strlen(body), &out);
    assert_int_equal(out.status, 404);
    cJSON *o = cJSON_Parse(out.body);
    assert_status_body(o, 404, "--api-issuer");
    cJSON_Delete(o);
    api_response_free(&out);
    free(body);
}

static void test_firefly_pending_503(void **state)
{
    (void)state;
    struct api other = api;
    other.issuer_kind = "Issuer";
    other.issuer_namespace = "team-a";
    other.issuer_name = "nosecret";
    char *body = ff_body(csr_ok_pem, "\"policyName\":\"web\"");
    struct api_response out;
    api_handle_firefly(&other, NULL, "application/json", body, strlen(body), &out);
    assert_int_equal(out.status, 503);
    assert_true(out.retry_after > 0);
    cJSON *o = cJSON_Parse(out.body);
    assert_non_null(o);
    assert_status_body(o, 503, "missing");
    cJSON_Delete(o);
    api_response_free(&out);
    free(body);
}

/* ---- --api-issuer ---- */

static void test_set_issuer(void **state)
{
    (void)state;
    struct api a = {0};
    struct err e = {0};
    assert_int_equal(api_set_issuer(&a, "", &e), 0);
    assert_null(a.issuer_kind);
    assert_int_equal(api_set_issuer(&a, NULL, &e), 0);
    assert_null(a.issuer_kind);

    assert_int_equal(api_set_issuer(&a, "Issuer/team-a/mesh-ca", &e), 0);
    assert_string_equal(a.issuer_kind, "Issuer");
    assert_string_equal(a.issuer_namespace, "team-a");
    assert_string_equal(a.issuer_name, "mesh-ca");
    api_free(&a);

    assert_int_equal(api_set_issuer(&a, "ClusterIssuer/dev-ca", &e), 0);
    assert_string_equal(a.issuer_kind, "ClusterIssuer");
    assert_string_equal(a.issuer_namespace, "");
    assert_string_equal(a.issuer_name, "dev-ca");
    api_free(&a);

    const char *bad[] = {
        "Issuer/mesh-ca", "ClusterIssuer/a/b", "ClusterIssuer/", "Issuer/ns/name/more",
        "Foo/x",          "clusterissuer/x",   "dev-ca",         "/",
        "Issuer//x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        struct api b = {0};
        err_clear(&e);
        if (api_set_issuer(&b, bad[i], &e) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_int_equal(e.kind, ERR_INVALID);
        assert_contains(e.msg, "--api-issuer");
        api_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cr_issued_201),
        cmocka_unit_test(test_cr_yaml_and_content_type_parameters),
        cmocka_unit_test(test_cr_generated_name),
        cmocka_unit_test(test_cr_denied_403),
        cmocka_unit_test(test_cr_unknown_policy_403),
        cmocka_unit_test(test_cr_invalid_422),
        cmocka_unit_test(test_cr_failed_422),
        cmocka_unit_test(test_cr_pending_503_with_retry_after),
        cmocka_unit_test(test_cr_invalid_policy_503),
        cmocka_unit_test(test_cr_unparsable_400),
        cmocka_unit_test(test_non_object_bodies),
        cmocka_unit_test(test_cr_other_content_types_415),
        cmocka_unit_test(test_cr_client_status_ignored),
        cmocka_unit_test(test_cr_content_type_chooses_the_parser),
        cmocka_unit_test(test_cr_json_rules),
        cmocka_unit_test(test_firefly_200_with_chain),
        cmocka_unit_test(test_firefly_validity_period),
        cmocka_unit_test(test_firefly_errors),
        cmocka_unit_test(test_firefly_yaml),
        cmocka_unit_test(test_firefly_audit),
        cmocka_unit_test(test_firefly_404_without_api_issuer),
        cmocka_unit_test(test_firefly_pending_503),
        cmocka_unit_test(test_set_issuer),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
