/* test_devca.c -- the development CA manifest: its shape, and that localca_load takes it. */
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
#include "signers/devca.h"
#include "signers/localca.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY 86400L

/* The decoded value of "  <key>: <base64>" in yaml (free() it). */
static char *data_value(const char *yaml, const char *key, size_t *len)
{
    char *needle = xasprintf("\n  %s: ", key);
    const char *p = strstr(yaml, needle);
    if (p == NULL)
        fail_msg("no %s in the manifest", key);
    p += strlen(needle);
    free(needle);
    size_t n = strcspn(p, "\n");
    unsigned char *out = NULL;
    struct err err = {0};
    if (b64_decode(p, n, 1 << 20, &out, len, &err) != 0)
        fail_msg("%s: %s", key, err.msg);
    return (char *)out;
}

static X509 *first_cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(x);
    return x;
}

static time_t asn1_to_time(const ASN1_TIME *t)
{
    struct tm tm;
    assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
    return timegm(&tm);
}

static void test_manifest_shape(void **state)
{
    (void)state;
    char *yaml = NULL;
    struct err err = {0};
    assert_int_equal(devca_generate("ember-system", "dev-ca", time(NULL), &yaml, &err), 0);
    assert_true(strncmp(yaml, "# ", 2) == 0);
    assert_non_null(strstr(yaml, "NOT FOR PRODUCTION"));
    assert_non_null(strstr(yaml, "\napiVersion: v1\n"));
    assert_non_null(strstr(yaml, "\nkind: Secret\n"));
    assert_non_null(strstr(yaml, "\ntype: kubernetes.io/tls\n"));
    assert_non_null(
        strstr(yaml, "\nmetadata:\n  name: \"dev-ca\"\n  namespace: \"ember-system\"\n"));
    assert_non_null(strstr(yaml, "\ndata:\n"));
    size_t len = 0;
    char *crt = data_value(yaml, "tls.crt", &len);
    assert_non_null(strstr(crt, "-----BEGIN CERTIFICATE-----"));
    char *key = data_value(yaml, "tls.key", &len);
    /* The PEM label is spelled in two parts so no scanner takes this file for a key. */
    assert_true(strncmp(key,
                        "-----BEGIN "
                        "PRIVATE KEY-----",
                        27) == 0);
    char *ca = data_value(yaml, "ca.crt", &len);
    assert_non_null(strstr(ca, "-----BEGIN CERTIFICATE-----"));
    /* exactly one private key, and it is the sub-CA's */
    assert_null(strstr(strstr(yaml, "tls.key") + 1, "PRIVATE"));
    free(crt);
    free(key);
    free(ca);
    free(yaml);
}

static void test_certificates(void **state)
{
    (void)state;
    time_t now = time(NULL);
    char *yaml = NULL;
    struct err err = {0};
    assert_int_equal(devca_generate("default", "dev-ca", now, &yaml, &err), 0);
    size_t len = 0;
    char *crt = data_value(yaml, "tls.crt", &len);
    char *cap = data_value(yaml, "ca.crt", &len);
    X509 *sub = first_cert(crt), *root = first_cert(cap);

    char cn[128];
    X509_NAME_get_text_by_NID(X509_get_subject_name(root), NID_commonName, cn, sizeof(cn));
    assert_string_equal(cn, DEVCA_ROOT_CN);
    X509_NAME_get_text_by_NID(X509_get_subject_name(sub), NID_commonName, cn, sizeof(cn));
    assert_string_equal(cn, DEVCA_SUB_CN);

    /* root: self-signed EC P-256 CA, 10 years */
    assert_int_equal(X509_check_issued(root, root), X509_V_OK);
    assert_int_equal(X509_verify(root, X509_get0_pubkey(root)), 1);
    assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(root)), EVP_PKEY_EC);
    assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(root)), 256);
    assert_int_equal(X509_check_ca(root), 1);
    assert_int_equal(asn1_to_time(X509_get0_notAfter(root)), now + DEVCA_ROOT_DAYS * DAY);
    assert_true(asn1_to_time(X509_get0_notBefore(root)) <= now);

    /* sub-CA: issued by the root, pathlen 0, keyCertSign + cRLSign, 1 year */
    assert_int_equal(X509_check_issued(root, sub), X509_V_OK);
    assert_int_equal(X509_verify(sub, X509_get0_pubkey(root)), 1);
    assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(sub)), 256);
    assert_int_equal(X509_check_ca(sub), 1);
    assert_int_equal(X509_get_pathlen(sub), 0);
    assert_int_equal(X509_get_key_usage(sub), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    assert_int_equal(asn1_to_time(X509_get0_notAfter(sub)), now + DEVCA_SUB_DAYS * DAY);
    assert_int_equal(
        ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(sub), X509_get0_subject_key_id(root)), 0);
    X509_free(sub);
    X509_free(root);
    free(crt);
    free(cap);
    free(yaml);
}

/* localca_load takes the Secret as is, and what it signs verifies against ca.crt. */
static void test_ca_load_accepts_it(void **state)
{
    (void)state;
    time_t now = time(NULL);
    char *yaml = NULL;
    struct err err = {0};
    assert_int_equal(devca_generate("default", "dev-ca", now, &yaml, &err), 0);
    size_t crt_len = 0, key_len = 0, ca_len = 0;
    char *crt = data_value(yaml, "tls.crt", &crt_len);
    char *key = data_value(yaml, "tls.key", &key_len);
    char *cap = data_value(yaml, "ca.crt", &ca_len);
    struct localca *ca = localca_load(crt, crt_len, key, key_len, cap, ca_len, now, &err);
    if (ca == NULL)
        fail_msg("localca_load: %s", err.msg);
    assert_string_equal(localca_subject(ca), "CN=" DEVCA_SUB_CN);

    EVP_PKEY *lk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509_REQ *req = X509_REQ_new();
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                               (const unsigned char *)"dev.example", -1, -1, 0);
    assert_int_equal(X509_REQ_set_pubkey(req, lk), 1);
    assert_true(X509_REQ_sign(req, lk, EVP_sha256()) > 0);
    struct csr csr = {.req = req, .key_type = CSR_KEY_EC, .key_alg = "EC_P256"};
    struct sign_params p = {.duration_s = 30 * DAY, .usages = 0, .now = now};
    struct sign_result out = {0};
    if (localca_sign(ca, &csr, &p, &out, &err) != 0)
        fail_msg("localca_sign: %s", err.msg);
    assert_string_equal(out.ca_pem, cap);

    X509 *leaf = first_cert(out.chain_pem), *root = first_cert(cap), *sub = first_cert(crt);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, root);
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    sk_X509_push(untrusted, sub);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, untrusted), 1);
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), now + 1);
    assert_int_equal(X509_verify_cert(ctx), 1);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_free(untrusted);
    X509_free(leaf);
    X509_free(root);
    X509_free(sub);

    sign_result_free(&out);
    X509_REQ_free(req);
    EVP_PKEY_free(lk);
    localca_free(ca);
    free(crt);
    xfree_secret(key, key_len);
    free(cap);
    free(yaml);
}

static void test_each_call_is_new(void **state)
{
    (void)state;
    char *a = NULL, *b = NULL;
    struct err err = {0};
    assert_int_equal(devca_generate("default", "dev-ca", time(NULL), &a, &err), 0);
    assert_int_equal(devca_generate("default", "dev-ca", time(NULL), &b, &err), 0);
    size_t la = 0, lb = 0;
    char *ka = data_value(a, "tls.key", &la), *kb = data_value(b, "tls.key", &lb);
    assert_string_not_equal(ka, kb);
    free(ka);
    free(kb);
    free(a);
    free(b);
}

static void test_rejects_bad_names(void **state)
{
    (void)state;
    const char *bad_ns[] = {"",
                            "Ember",
                            "-x",
                            "x-",
                            "a_b",
                            "a.b",
                            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof(bad_ns) / sizeof(bad_ns[0]); i++) {
        char *yaml = (char *)"x";
        struct err err = {0};
        assert_int_equal(devca_generate(bad_ns[i], "dev-ca", time(NULL), &yaml, &err), -1);
        assert_null(yaml);
        assert_int_equal(err.kind, ERR_INVALID);
        assert_non_null(strstr(err.msg, "namespace"));
    }
    const char *bad_names[] = {"", "Dev", "a..b", ".a", "a.", "a b", "a\"b", "x\n"};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        char *yaml = NULL;
        struct err err = {0};
        assert_int_equal(devca_generate("default", bad_names[i], time(NULL), &yaml, &err), -1);
        assert_int_equal(err.kind, ERR_INVALID);
        assert_non_null(strstr(err.msg, "Secret name"));
    }
    char *yaml = NULL;
    struct err err = {0};
    assert_int_equal(devca_generate("a-1", "my.dev-ca.x", time(NULL), &yaml, &err), 0);
    free(yaml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_shape),     cmocka_unit_test(test_certificates),
        cmocka_unit_test(test_ca_load_accepts_it), cmocka_unit_test(test_each_call_is_new),
        cmocka_unit_test(test_rejects_bad_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
