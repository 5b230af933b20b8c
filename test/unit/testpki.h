/* testpki.h -- test-only helpers: in-process CA certificates and PEM, shared by unit tests.
 * Include after <cmocka.h>; the including file defines the clock to issue at (testpki_now). */
#ifndef EMBER_TESTPKI_H
#define EMBER_TESTPKI_H

#include <cjson/cJSON.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <time.h>

#include "base/b64.h"
#include "base/mem.h"

/* The time certificates are issued at, owned by the including test. */
static time_t *testpki_now __attribute__((unused));

static inline void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

static inline X509 *make_ca_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
                                 const char *bc, long serial)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509_NAME_free(n);
    X509_time_adj_ex(X509_getm_notBefore(x), 0, -3600, testpki_now);
    X509_time_adj_ex(X509_getm_notAfter(x), 365, 0, testpki_now);
    X509_set_pubkey(x, key);
    X509 *signer_cert = issuer ? issuer : x;
    add_ext(x, signer_cert, NID_basic_constraints, bc);
    add_ext(x, signer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(x, signer_cert, NID_subject_key_identifier, "hash");
    add_ext(x, signer_cert, NID_authority_key_identifier, "keyid:always");
    assert_true(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
    return x;
}

static inline char *bio_take(BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *s = xstrndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

static inline char *cert_pem(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    return bio_take(b);
}

static inline char *key_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    return bio_take(b);
}

/* A bare certificate for cn with key, issued by issuer/ikey (self-signed when issuer is NULL),
 * valid from an hour ago for a day: basicConstraints only, no key identifiers, so issuer links
 * rest on names and signatures alone. Serials count up from 1. */
static inline X509 *make_bare_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
                                   int ca)
{
    static long serial_counter = 1;
    X509 *x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial_counter++), 1);
    X509_NAME *name = X509_get_subject_name(x);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0),
        1);
    assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    bc->ca = ca ? 0xff : 0;
    assert_int_equal(X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, 0), 1);
    BASIC_CONSTRAINTS_free(bc);
    assert_true(X509_sign(x, issuer ? ikey : key, EVP_sha256()) > 0);
    return x;
}

/* A CSR (PEM) for key k with subject CN cn (none when NULL) and the extensions given as OpenSSL
 * conf text: SANs, keyUsage and basicConstraints, each left out when NULL. */
static inline char *testpki_csr_pem(EVP_PKEY *k, const char *cn, const char *sans, const char *ku,
                                    const char *bc)
{
    X509_REQ *r = X509_REQ_new();
    X509_REQ_set_version(r, 0);
    if (cn != NULL)
        assert_int_equal(X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "CN",
                                                    MBSTRING_UTF8, (const unsigned char *)cn, -1,
                                                    -1, 0),
                         1);
    X509_REQ_set_pubkey(r, k);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    const struct {
        int nid;
        const char *v;
    } want[] = {{NID_subject_alt_name, sans}, {NID_key_usage, ku}, {NID_basic_constraints, bc}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (want[i].v == NULL)
            continue;
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, NULL, NULL, r, NULL, 0);
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, want[i].nid, want[i].v);
        assert_non_null(e);
        sk_X509_EXTENSION_push(exts, e);
    }
    if (sk_X509_EXTENSION_num(exts) > 0)
        assert_int_equal(X509_REQ_add_extensions(r, exts), 1);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    assert_true(X509_REQ_sign(r, k, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509_REQ(b, r), 1);
    X509_REQ_free(r);
    return bio_take(b);
}

/* s as base64 (a Secret's data, spec.request). */
static inline char *testpki_b64(const char *s)
{
    return b64_encode(s, strlen(s));
}

/* A CSR for key k with CN cn and the SANs (OpenSSL conf text, or NULL), as base64 of PEM. */
static inline char *testpki_csr_b64(EVP_PKEY *k, const char *cn, const char *sans)
{
    char *pem = testpki_csr_pem(k, cn, sans, NULL, NULL);
    char *out = testpki_b64(pem);
    free(pem);
    return out;
}

/* Appends a condition (lastTransitionTime fixed) to o's status.conditions, creating both. */
static inline void testpki_add_condition(cJSON *o, const char *type, const char *status,
                                         const char *reason, const char *message)
{
    cJSON *st = cJSON_GetObjectItem(o, "status");
    if (st == NULL)
        st = cJSON_AddObjectToObject(o, "status");
    cJSON *conds = cJSON_GetObjectItem(st, "conditions");
    if (conds == NULL)
        conds = cJSON_AddArrayToObject(st, "conditions");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "type", type);
    cJSON_AddStringToObject(c, "status", status);
    cJSON_AddStringToObject(c, "reason", reason);
    cJSON_AddStringToObject(c, "message", message);
    cJSON_AddStringToObject(c, "lastTransitionTime", "2024-01-01T00:00:00Z");
    cJSON_AddItemToArray(conds, c);
}

#endif
