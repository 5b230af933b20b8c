/* fuzz_api.c -- arbitrary request bodies into both signing endpoints (api_handle_cr and
 * api_handle_firefly), over a store with one CA-backed ClusterIssuer and a policy.
 * The first byte picks the Content-Type: 'j' JSON, 'y' YAML, 't' text/plain, otherwise its low
 * bit (JSON or YAML). Invariants: a known status code, a body that is valid JSON, Retry-After
 * exactly on 503, a certificate only on success. */
#include "base/b64.h"
#include "base/mem.h"
#include "front/api.h"
#include "issuers/issuer.h"
#include "standalone/store.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_api: invariant violated: %s\n", what);
        abort();
    }
}

static char *bio_text(BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *s = xstrndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

static void add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    check(e != NULL, "test CA extension");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* A self-signed EC P-256 CA valid for a year, as a Secret object (data: base64). */
static cJSON *make_ca_secret(time_t now)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    check(k != NULL, "keygen");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz CA", -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    X509_NAME_free(n);
    X509_time_adj_ex(X509_getm_notBefore(x), 0, -3600, &now);
    X509_time_adj_ex(X509_getm_notAfter(x), 365, 0, &now);
    X509_set_pubkey(x, k);
    add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(x, NID_subject_key_identifier, "hash");
    check(X509_sign(x, k, EVP_sha256()) > 0, "sign CA");
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *crt = bio_text(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    char *key = bio_text(b);
    X509_free(x);
    EVP_PKEY_free(k);

    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "apiVersion", "v1");
    cJSON_AddStringToObject(s, "kind", "Secret");
    cJSON *md = cJSON_AddObjectToObject(s, "metadata");
    cJSON_AddStringToObject(md, "name", "fuzz-ca");
    cJSON_AddStringToObject(md, "namespace", "ember-system");
    cJSON *data = cJSON_AddObjectToObject(s, "data");
    char *c64 = b64_encode(crt, strlen(crt)), *k64 = b64_encode(key, strlen(key));
    cJSON_AddStringToObject(data, "tls.crt", c64);
    cJSON_AddStringToObject(data, "tls.key", k64);
    free(c64);
    xfree_secret(k64, strlen(k64));
    free(crt);
    xfree_secret(key, strlen(key));
    return s;
}

static struct api api;
static struct store *st;
static const char *const annotations[] = {PIPELINE_POLICY_ANNOTATION};

static void no_report(void *ud, const char *object, const char *problem)
{
    (void)ud;
    (void)object;
    (void)problem;
}

static void fuzz_init(void)
{
    time_t now = time(NULL);
    st = store_new("ember-system");
    struct err e = {0};
    cJSON *secret = make_ca_secret(now);
    check(store_add_object(st, secret, "fuzz", &e) == 0, "add Secret");
    cJSON_Delete(secret);
    const char *objs[] = {
        "{\"apiVersion\":\"ember.issuer.dev/v1alpha1\",\"kind\":\"ClusterIssuer\",\"metadata\":"
        "{\"name\":\"ca\"},\"spec\":{\"defaultPolicy\":\"web\",\"ca\":{\"secretName\":"
        "\"fuzz-ca\"}}}",
        "{\"apiVersion\":\"ember.issuer.dev/v1alpha1\",\"kind\":\"IssuancePolicy\",\"metadata\":"
        "{\"name\":\"web\"},\"spec\":{\"validity\":{\"max\":\"24h\",\"default\":\"1h\"},"
        "\"subject\":{\"commonName\":{\"rule\":\"Optional\"}},\"sans\":{\"dnsNames\":{\"rule\":"
        "\"Optional\",\"allowed\":[\"[a-z0-9.-]+\\\\.example\\\\.com\"],\"max\":10}}}}",
        "{\"apiVersion\":\"ember.issuer.dev/v1alpha1\",\"kind\":\"IssuancePolicy\",\"metadata\":"
        "{\"name\":\"broken\"},\"spec\":{\"validity\":{\"max\":\"1x\"}}}",
    };
    for (size_t i = 0; i < sizeof(objs) / sizeof(*objs); i++) {
        cJSON *o = cJSON_Parse(objs[i]);
        check(o != NULL && store_add_object(st, o, "fuzz", &e) == 0, "add object");
        cJSON_Delete(o);
    }
    store_resolve(st, now, no_report, NULL);
    struct issuer *is = store_find_issuer(st, "ClusterIssuer", "", "ca");
    check(is != NULL && issuer_is_ready(is), "the fuzz CA loads");
    issuer_unref(is);
    api.env = (struct pipeline_env){
        .group = ISSUER_GROUP,
        .policy_annotations = annotations,
        .n_policy_annotations = 1,
        .approve = true,
        .synced = true,
        .max_retry_s = 3600,
        .find_issuer = store_find_issuer,
        .find_policy = store_find_policy,
        .ud = st,
    };
    api.cluster_ns = xstrdup("ember-system");
    check(api_set_issuer(&api, "ClusterIssuer/ca", &e) == 0, "api issuer");
}

static void check_response(const struct api_response *out, bool firefly)
{
    static const unsigned codes[] = {200, 201, 400, 403, 413, 415, 422, 503};
    bool known = false;
    for (size_t i = 0; i < sizeof(codes) / sizeof(*codes); i++)
        known = known || out->status == codes[i];
    check(known, "status code is one of 200/201/400/403/413/415/422/503");
    check(firefly ? out->status != 201 : out->status != 200, "endpoint's success code");
    check(out->body != NULL, "a body");
    check((out->retry_after > 0) == (out->status == 503), "Retry-After exactly on 503");
    cJSON *o = cJSON_Parse(out->body);
    check(o != NULL, "the body is valid JSON");
    check(cJSON_IsObject(o), "the body is an object");
    if (firefly) {
        const cJSON *chain = cJSON_GetObjectItemCaseSensitive(o, "certificateChain");
        check((out->status == 200) == cJSON_IsString(chain), "certificateChain exactly on 200");
    } else {
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(o, "status");
        const cJSON *cert = cJSON_GetObjectItemCaseSensitive(status, "certificate");
        check(out->status == 201 || cert == NULL, "status.certificate only on 201");
        check(out->status != 201 || cJSON_IsString(cert), "status.certificate on 201");
    }
    cJSON_Delete(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (st == NULL)
        fuzz_init();
    if (size == 0)
        return 0;
    const char *ctype;
    switch (data[0]) {
    case 'j': ctype = "application/json"; break;
    case 'y': ctype = "application/yaml"; break;
    case 't': ctype = "text/plain"; break;
    default:
        ctype = (data[0] & 1) ? "application/json; charset=utf-8" : "application/x-yaml";
        break;
    }
    const char *body = (const char *)data + 1;
    size_t len = size - 1;

    struct api_response out;
    api_handle_cr(&api, NULL, ctype, body, len, &out);
    check_response(&out, false);
    api_response_free(&out);

    api_handle_firefly(&api, NULL, ctype, body, len, &out);
    check_response(&out, true);
    api_response_free(&out);
    return 0;
}
