/* test_csr.c -- unit tests for csr.c: keys, names, limits and rejections of PKCS#10 requests. */
/* cmocka needs these four first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "x509/csr.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keys are made once per run: RSA key generation dominates the test time otherwise. */
static EVP_PKEY *k_p256, *k_p384, *k_p521, *k_k256, *k_rsa2048, *k_rsa1024, *k_ed25519, *k_ed448,
    *k_x25519, *k_dsa;

static EVP_PKEY *gen_dsa(void)
{
    EVP_PKEY *params = NULL, *key = NULL;
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "DSA", NULL);
    if (pctx == NULL || EVP_PKEY_paramgen_init(pctx) != 1 ||
        EVP_PKEY_CTX_set_dsa_paramgen_bits(pctx, 1024) != 1 ||
        EVP_PKEY_paramgen(pctx, &params) != 1) {
        EVP_PKEY_CTX_free(pctx);
        return NULL;
    }
    EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
    if (kctx == NULL || EVP_PKEY_keygen_init(kctx) != 1 || EVP_PKEY_keygen(kctx, &key) != 1)
        key = NULL;
    EVP_PKEY_CTX_free(kctx);
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(params);
    return key;
}

static int keys_setup(void **state)
{
    (void)state;
    k_p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    k_p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    k_p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    k_k256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    k_rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    k_rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    k_ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    k_ed448 = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
    k_x25519 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    k_dsa = gen_dsa();
    return k_p256 && k_p384 && k_p521 && k_k256 && k_rsa2048 && k_rsa1024 && k_ed25519 && k_ed448 &&
                   k_x25519 && k_dsa
               ? 0
               : -1;
}

static int keys_teardown(void **state)
{
    (void)state;
    EVP_PKEY *all[] = {k_p256,    k_p384,    k_p521,  k_k256,   k_rsa2048,
                       k_rsa1024, k_ed25519, k_ed448, k_x25519, k_dsa};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        EVP_PKEY_free(all[i]);
    return 0;
}

/* A request under construction. */
struct builder {
    X509_REQ *req;
    STACK_OF(X509_EXTENSION) * exts;
};

static void b_init(struct builder *b, EVP_PKEY *key)
{
    b->req = X509_REQ_new();
    b->exts = sk_X509_EXTENSION_new_null();
    assert_non_null(b->req);
    assert_int_equal(X509_REQ_set_version(b->req, X509_REQ_VERSION_1), 1);
    assert_int_equal(X509_REQ_set_pubkey(b->req, key), 1);
}

static void b_subject(struct builder *b, const char *field, const char *value)
{
    X509_NAME *name = X509_REQ_get_subject_name(b->req);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                                (const unsigned char *)value, -1, -1, 0),
                     1);
}

static void b_ext(struct builder *b, X509_EXTENSION *ext)
{
    assert_non_null(ext);
    sk_X509_EXTENSION_push(b->exts, ext);
}

/* value in openssl.cnf syntax, e.g. "critical,DNS:a.example,IP:10.0.0.1". */
static void b_ext_conf(struct builder *b, int nid, const char *value)
{
    b_ext(b, X509V3_EXT_conf_nid(NULL, NULL, nid, value));
}

static void b_san_names(struct builder *b, GENERAL_NAMES *gens)
{
    b_ext(b, X509V3_EXT_i2d(NID_subject_alt_name, 0, gens));
    GENERAL_NAMES_free(gens);
}

static GENERAL_NAME *gen_ia5(int type, const char *s, size_t len)
{
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    assert_int_equal(ASN1_STRING_set(ia5, s, (int)len), 1);
    GENERAL_NAME *g = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(g, type, ia5);
    return g;
}

/* Signs with signer (the request's own key unless another is given) and returns the DER. */
static unsigned char *b_der(struct builder *b, EVP_PKEY *signer, size_t *len)
{
    if (sk_X509_EXTENSION_num(b->exts) > 0)
        assert_int_equal(X509_REQ_add_extensions(b->req, b->exts), 1);
    const EVP_MD *md =
        EVP_PKEY_is_a(signer, "ED25519") || EVP_PKEY_is_a(signer, "ED448") ? NULL : EVP_sha256();
    assert_true(X509_REQ_sign(b->req, signer, md) > 0);
    unsigned char *der = NULL;
    int n = i2d_X509_REQ(b->req, &der);
    assert_true(n > 0);
    *len = (size_t)n;
    sk_X509_EXTENSION_pop_free(b->exts, X509_EXTENSION_free);
    X509_REQ_free(b->req);
    unsigned char *copy = malloc(*len);
    memcpy(copy, der, *len);
    OPENSSL_free(der);
    return copy;
}

static char *der_to_pem(const unsigned char *der, size_t len, const char *label, bool crlf)
{
    BIO *bio = BIO_new(BIO_s_mem());
    assert_true(PEM_write_bio(bio, label, "", der, (long)len) > 0);
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    char *out = malloc((size_t)n * 2 + 1);
    size_t o = 0;
    for (long i = 0; i < n; i++) {
        if (crlf && p[i] == '\n')
            out[o++] = '\r';
        out[o++] = p[i];
    }
    out[o] = '\0';
    BIO_free(bio);
    return out;
}

static struct csr *parse_str(const char *s, struct err *err)
{
    return csr_parse((const unsigned char *)s, strlen(s), err);
}

/* Parses der and expects it to fail with kind and a message holding needle. */
static void expect_reject_der(const unsigned char *der, size_t len, enum err_kind kind,
                              const char *needle)
{
    struct err err = {0};
    struct csr *c = csr_parse(der, len, &err);
    if (c != NULL || err.kind != kind || strstr(err.msg, needle) == NULL)
        print_error("want %s with \"%s\", got %s: %s\n", err_kind_name(kind), needle,
                    err_kind_name(err.kind), err.msg);
    csr_free(c);
    assert_null(c);
    assert_int_equal(err.kind, kind);
    assert_non_null(strstr(err.msg, needle));
}

static struct csr *expect_parse_der(const unsigned char *der, size_t len)
{
    struct err err = {0};
    struct csr *c = csr_parse(der, len, &err);
    if (c == NULL)
        print_error("unexpected rejection: %s\n", err.msg);
    assert_non_null(c);
    return c;
}

/* A minimal request for key, CN test.svc, signed by itself. */
static unsigned char *simple_der(EVP_PKEY *key, size_t *len)
{
    struct builder b;
    b_init(&b, key);
    b_subject(&b, "CN", "test.svc");
    return b_der(&b, key, len);
}

static unsigned char *full_der(size_t *len)
{
    struct builder b;
    b_init(&b, k_p256);
    b_subject(&b, "C", "DE");
    b_subject(&b, "ST", "Berlin");
    b_subject(&b, "L", "Kreuzberg");
    b_subject(&b, "O", "Ember");
    b_subject(&b, "OU", "Mesh");
    b_subject(&b, "OU", "Platform");
    b_subject(&b, "CN", "web.default.svc");
    b_subject(&b, "street", "Main St 1");
    b_subject(&b, "serialNumber", "42");
    b_subject(&b, "title", "Chief");
    b_subject(&b, "serialNumber", "0017");
    b_subject(&b, "postalCode", "10997");
    b_subject(&b, "1.2.3.4.5", "custom");
    b_ext_conf(&b, NID_subject_alt_name,
               "DNS:web.default.svc,DNS:web.default.svc.cluster.local,IP:10.0.0.1,"
               "IP:2001:0db8:0:0::1,URI:spiffe://cluster.local/ns/default/sa/web,"
               "email:ops@example.com");
    b_ext_conf(&b, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    b_ext_conf(&b, NID_ext_key_usage, "serverAuth,clientAuth");
    b_ext_conf(&b, NID_basic_constraints, "critical,CA:FALSE");
    return b_der(&b, k_p256, len);
}

static void test_full_request_fields(void **state)
{
    (void)state;
    size_t len;
    unsigned char *der = full_der(&len);
    char *pem = der_to_pem(der, len, "CERTIFICATE REQUEST", false);
    struct err err = {0};
    struct csr *c = parse_str(pem, &err);
    assert_non_null(c);
    assert_string_equal(c->key_alg, "EC_P256");
    assert_int_equal(c->key_type, CSR_KEY_EC);
    assert_int_equal(c->key_bits, 256);
    assert_non_null(c->pkey);
    assert_true(EVP_PKEY_eq(c->pkey, k_p256) == 1);
    assert_non_null(X509_REQ_get_X509_PUBKEY(c->req));
    assert_false(c->subject_empty);
    assert_int_equal(c->common_name.n, 1);
    assert_string_equal(c->common_name.v[0], "web.default.svc");
    assert_string_equal(c->organization.v[0], "Ember");
    assert_int_equal(c->organizational_unit.n, 2);
    assert_string_equal(c->organizational_unit.v[1], "Platform");
    assert_string_equal(c->country.v[0], "DE");
    assert_string_equal(c->province.v[0], "Berlin");
    assert_string_equal(c->locality.v[0], "Kreuzberg");
    /* serialNumber (2.5.4.5) is a field of its own, values in CSR order, text as sent. */
    assert_int_equal(c->serial_number.n, 2);
    assert_string_equal(c->serial_number.v[0], "42");
    assert_string_equal(c->serial_number.v[1], "0017");
    assert_int_equal(c->street_address.n, 1);
    assert_string_equal(c->street_address.v[0], "Main St 1");
    assert_int_equal(c->postal_code.n, 1);
    assert_string_equal(c->postal_code.v[0], "10997");
    /* Any other attribute: its dotted OID and value, same index, CSR order. */
    assert_int_equal(c->other_subject_oids.n, 2);
    assert_int_equal(c->other_subject_values.n, 2);
    assert_string_equal(c->other_subject_oids.v[0], "2.5.4.12");
    assert_string_equal(c->other_subject_values.v[0], "Chief");
    assert_string_equal(c->other_subject_oids.v[1], "1.2.3.4.5");
    assert_string_equal(c->other_subject_values.v[1], "custom");
    assert_int_equal(c->other_name_oids.n, 0);
    assert_int_equal(c->dns_names.n, 2);
    assert_string_equal(c->dns_names.v[1], "web.default.svc.cluster.local");
    assert_int_equal(c->ip_addresses.n, 2);
    assert_string_equal(c->ip_addresses.v[0], "10.0.0.1");
    assert_string_equal(c->ip_addresses.v[1], "2001:db8::1");
    assert_string_equal(c->uris.v[0], "spiffe://cluster.local/ns/default/sa/web");
    assert_string_equal(c->email_addresses.v[0], "ops@example.com");
    assert_true(c->has_key_usage);
    assert_int_equal(c->key_usage, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
    assert_true(c->has_ext_key_usage);
    assert_int_equal(c->n_ext_key_usage, 2);
    assert_int_equal(c->ext_key_usage[0], NID_server_auth);
    assert_int_equal(c->ext_key_usage[1], NID_client_auth);
    assert_true(c->has_basic_constraints);
    assert_false(c->bc_is_ca);
    /* The kept request is the one received, byte for byte. */
    unsigned char *again = NULL;
    int n = i2d_X509_REQ(c->req, &again);
    assert_int_equal(n, (int)len);
    assert_memory_equal(again, der, len);
    OPENSSL_free(again);
    csr_free(c);
    free(pem);
    free(der);
}

static void test_der_accepted(void **state)
{
    (void)state;
    size_t len;
    unsigned char *der = full_der(&len);
    struct csr *c = expect_parse_der(der, len);
    assert_string_equal(c->common_name.v[0], "web.default.svc");
    assert_int_equal(c->dns_names.n, 2);
    csr_free(c);
    free(der);
}

static void test_pem_crlf_and_new_label_accepted(void **state)
{
    (void)state;
    size_t len;
    unsigned char *der = simple_der(k_p256, &len);
    char *crlf = der_to_pem(der, len, "CERTIFICATE REQUEST", true);
    assert_non_null(strstr(crlf, "\r\n"));
    struct err err = {0};
    struct csr *c = parse_str(crlf, &err);
    assert_non_null(c);
    assert_string_equal(c->common_name.v[0], "test.svc");
    csr_free(c);
    char *newlabel = der_to_pem(der, len, "NEW CERTIFICATE REQUEST", false);
    c = parse_str(newlabel, &err);
    assert_non_null(c);
    csr_free(c);
    free(newlabel);
    free(crlf);
    free(der);
}

static void check_key(EVP_PKEY *key, const char *alg, enum csr_key_type type, int bits)
{
    size_t len;
    unsigned char *der = simple_der(key, &len);
    struct csr *c = expect_parse_der(der, len);
    assert_string_equal(c->key_alg, alg);
    assert_int_equal(c->key_type, type);
    assert_int_equal(c->key_bits, bits);
    assert_true(EVP_PKEY_eq(c->pkey, key) == 1);
    csr_free(c);
    free(der);
}

static void test_allowed_keys(void **state)
{
    (void)state;
    check_key(k_p256, "EC_P256", CSR_KEY_EC, 256);
    check_key(k_p384, "EC_P384", CSR_KEY_EC, 384);
    check_key(k_p521, "EC_P521", CSR_KEY_EC, 521);
    check_key(k_rsa2048, "RSA_2048", CSR_KEY_RSA, 2048);
    check_key(k_ed25519, "EC_ED25519", CSR_KEY_ED25519, 256);
}

static void test_rsa_4096_allowed(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
    assert_non_null(k);
    check_key(k, "RSA_4096", CSR_KEY_RSA, 4096);
    EVP_PKEY_free(k);
}

static void reject_key(EVP_PKEY *key, EVP_PKEY *signer, const char *needle)
{
    struct builder b;
    b_init(&b, key);
    b_subject(&b, "CN", "test.svc");
    size_t len;
    unsigned char *der = b_der(&b, signer, &len);
    expect_reject_der(der, len, ERR_INVALID, needle);
    free(der);
}

static void test_rsa_1024_rejected(void **state)
{
    (void)state;
    reject_key(k_rsa1024, k_rsa1024, "RSA with 1024 bits is not allowed");
}

static void test_ec_other_curve_rejected(void **state)
{
    (void)state;
    reject_key(k_k256, k_k256, "curve secp256k1 is not allowed");
}

static void test_dsa_rejected(void **state)
{
    (void)state;
    reject_key(k_dsa, k_dsa, "key algorithm DSA is not allowed");
}

static void test_ed448_rejected(void **state)
{
    (void)state;
    reject_key(k_ed448, k_ed448, "key algorithm Ed448 is not allowed");
}

static void test_x25519_rejected(void **state)
{
    (void)state;
    /* X25519 cannot sign: another key signs, the key check comes first anyway. */
    reject_key(k_x25519, k_ed25519, "key algorithm X25519 is not allowed");
}

static void test_tampered_signature_rejected(void **state)
{
    (void)state;
    size_t len;
    unsigned char *der = simple_der(k_p256, &len);
    der[len - 5] ^= 0x01; /* inside the signature BIT STRING, the last element */
    expect_reject_der(der, len, ERR_INVALID, "proof of possession failed");
    free(der);
    der = simple_der(k_rsa2048, &len);
    der[len - 1] ^= 0x80;
    expect_reject_der(der, len, ERR_INVALID, "signature does not verify");
    free(der);
}

static void test_tampered_subject_rejected(void **state)
{
    (void)state;
    size_t len;
    unsigned char *der = simple_der(k_ed25519, &len);
    unsigned char *cn = memmem(der, len, "test.svc", 8);
    assert_non_null(cn);
    cn[0] = 'b';
    expect_reject_der(der, len, ERR_INVALID, "proof of possession failed");
    free(der);
}

static void test_signed_by_other_key_rejected(void **state)
{
    (void)state;
    struct builder b;
    b_init(&b, k_p256);
    size_t len;
    unsigned char *der = b_der(&b, k_p384, &len);
    expect_reject_der(der, len, ERR_INVALID, "signature does not verify");
    free(der);
}

static void test_two_pem_blocks_rejected(void **state)
{
    (void)state;
    size_t len;
    unsigned char *der = simple_der(k_p256, &len);
    char *pem = der_to_pem(der, len, "CERTIFICATE REQUEST", false);
    size_t n = strlen(pem);
    char *two = malloc(2 * n + 1);
    memcpy(two, pem, n);
    memcpy(two + n, pem, n + 1);
    struct err err = {0};
    assert_null(parse_str(two, &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.msg, "more than one PEM block"));
    memcpy(two + n, "garbage\n", 9);
    assert_null(parse_str(two, &err));
    assert_non_null(strstr(err.msg, "trailing data after the PEM END line"));
    free(two);
    free(pem);
    free(der);
}

static void test_der_trailing_garbage_rejected(void **state)
{
    (void)state;
    size_t len;
    unsigned char *der = simple_der(k_p256, &len);
    unsigned char *more = malloc(len + 3);
    memcpy(more, der, len);
    memcpy(more + len, "\x00\x01\x02", 3);
    expect_reject_der(more, len + 3, ERR_INVALID, "trailing data after the DER request");
    free(more);
    free(der);
}

static void test_certificate_and_key_pem_rejected(void **state)
{
    (void)state;
    X509 *x = X509_new();
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k_p256);
    assert_true(X509_sign(x, k_p256, EVP_sha256()) > 0);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(bio, x), 1);
    assert_int_equal(BIO_write(bio, "", 1), 1);
    char *p = NULL;
    BIO_get_mem_data(bio, &p);
    struct err err = {0};
    assert_null(parse_str(p, &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.msg, "holds a certificate"));
    BIO_free(bio);
    X509_free(x);

    bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(bio, k_p256, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(BIO_write(bio, "", 1), 1);
    BIO_get_mem_data(bio, &p);
    assert_null(parse_str(p, &err));
    assert_non_null(strstr(err.msg, "holds a private key"));
    BIO_free(bio);

    bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(bio, k_p256), 1);
    assert_int_equal(BIO_write(bio, "", 1), 1);
    BIO_get_mem_data(bio, &p);
    assert_null(parse_str(p, &err));
    assert_non_null(strstr(err.msg, "holds a public key"));
    BIO_free(bio);
}

static void test_not_pem_or_der_rejected(void **state)
{
    (void)state;
    struct err err = {0};
    assert_null(parse_str("hello", &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.msg, "neither PEM"));
    assert_null(parse_str("  \n", &err));
    assert_non_null(strstr(err.msg, "empty"));
    assert_null(csr_parse((const unsigned char *)"\x30\x03\x02\x01\x00", 5, &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_null(parse_str("-----BEGIN CERTIFICATE REQUEST-----\nMIIB!!\n"
                          "-----END CERTIFICATE REQUEST-----\n",
                          &err));
    assert_non_null(strstr(err.msg, "not base64"));
    assert_null(parse_str("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", &err));
    assert_non_null(strstr(err.msg, "no -----END"));
}

static void test_too_big_rejected(void **state)
{
    (void)state;
    size_t n = CSR_MAX_BYTES + 1;
    unsigned char *big = calloc(1, n);
    big[0] = 0x30;
    expect_reject_der(big, n, ERR_TOO_BIG, "limit is 65536 bytes");
    free(big);
}

static unsigned char *many_sans_der(int count, size_t *len)
{
    struct builder b;
    b_init(&b, k_p256);
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    for (int i = 0; i < count; i++) {
        char name[32];
        snprintf(name, sizeof(name), "h%d.svc", i);
        sk_GENERAL_NAME_push(gens, gen_ia5(GEN_DNS, name, strlen(name)));
    }
    b_san_names(&b, gens);
    return b_der(&b, k_p256, len);
}

static void test_san_count_limit(void **state)
{
    (void)state;
    size_t len;
    unsigned char *der = many_sans_der(CSR_MAX_SANS, &len);
    struct csr *c = expect_parse_der(der, len);
    assert_int_equal(c->dns_names.n, CSR_MAX_SANS);
    assert_true(c->subject_empty);
    csr_free(c);
    free(der);
    der = many_sans_der(CSR_MAX_SANS + 1, &len);
    expect_reject_der(der, len, ERR_INVALID, "1001 subjectAltNames; the limit is 1000");
    free(der);
}

static unsigned char *one_san_der(int type, const char *s, size_t slen, size_t *len)
{
    struct builder b;
    b_init(&b, k_p256);
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    sk_GENERAL_NAME_push(gens, gen_ia5(type, s, slen));
    b_san_names(&b, gens);
    return b_der(&b, k_p256, len);
}

static void test_name_length_limit(void **state)
{
    (void)state;
    char *name = malloc(CSR_MAX_NAME + 2);
    memset(name, 'a', CSR_MAX_NAME + 1);
    name[CSR_MAX_NAME + 1] = '\0';
    size_t len;
    unsigned char *der = one_san_der(GEN_DNS, name, CSR_MAX_NAME, &len);
    struct csr *c = expect_parse_der(der, len);
    assert_int_equal(strlen(c->dns_names.v[0]), CSR_MAX_NAME);
    csr_free(c);
    free(der);
    der = one_san_der(GEN_DNS, name, CSR_MAX_NAME + 1, &len);
    expect_reject_der(der, len, ERR_INVALID, "DNS name is 1025 bytes long; the limit is 1024");
    free(der);

    struct builder b;
    b_init(&b, k_p256);
    /* A typed string: OpenSSL's own upper bounds apply only to MBSTRING_* input. */
    assert_int_equal(X509_NAME_add_entry_by_NID(
                         X509_REQ_get_subject_name(b.req), NID_organizationName, V_ASN1_UTF8STRING,
                         (const unsigned char *)name, CSR_MAX_NAME + 1, -1, 0),
                     1);
    der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "subject O is 1025 bytes long");
    free(der);
    free(name);
}

static void test_embedded_nul_rejected(void **state)
{
    (void)state;
    size_t len;
    unsigned char *der = one_san_der(GEN_DNS, "good.svc\0.evil.com", 18, &len);
    expect_reject_der(der, len, ERR_INVALID, "DNS name contains a NUL byte");
    free(der);
    der = one_san_der(GEN_URI, "spiffe://a\0b", 12, &len);
    expect_reject_der(der, len, ERR_INVALID, "URI contains a NUL byte");
    free(der);

    struct builder b;
    b_init(&b, k_p256);
    X509_NAME *name = X509_REQ_get_subject_name(b.req);
    assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_commonName, V_ASN1_UTF8STRING,
                                                (const unsigned char *)"a.svc\0b", 7, -1, 0),
                     1);
    der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "subject CN contains a NUL byte");
    free(der);
}

/* ---- issue 14: otherName SANs and the whole subject ---- */

static void test_other_names_read(void **state)
{
    (void)state;
    struct builder b;
    size_t len;
    b_init(&b, k_p256);
    b_ext_conf(&b, NID_subject_alt_name,
               "DNS:a.svc,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:bob@example.com,"
               "otherName:1.2.3.4;UTF8:gr\xc3\xbc\xc3\x9f");
    unsigned char *der = b_der(&b, k_p256, &len);
    struct csr *c = expect_parse_der(der, len);
    assert_int_equal(c->other_name_oids.n, 2);
    assert_int_equal(c->other_name_values.n, 2);
    assert_string_equal(c->other_name_oids.v[0], "1.3.6.1.4.1.311.20.2.3");
    assert_string_equal(c->other_name_values.v[0], "bob@example.com");
    assert_string_equal(c->other_name_oids.v[1], "1.2.3.4");
    assert_int_equal(c->dns_names.n, 1);
    /* An otherName alone is an identity. */
    struct err err = {0};
    assert_int_equal(csr_check_request(c, false, 0, &err), 0);
    csr_free(c);
    free(der);
}

/* A UTF8String otherName holding a NUL, or empty, or over CSR_MAX_NAME, is refused. */
static unsigned char *other_name_der(const char *v, size_t vlen, size_t *len)
{
    struct builder b;
    b_init(&b, k_p256);
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_TYPE *val = ASN1_TYPE_new();
    ASN1_UTF8STRING *u = ASN1_UTF8STRING_new();
    assert_int_equal(ASN1_STRING_set(u, v, (int)vlen), 1);
    ASN1_TYPE_set(val, V_ASN1_UTF8STRING, u);
    assert_int_equal(GENERAL_NAME_set0_othername(g, OBJ_txt2obj("1.3.6.1.4.1.311.20.2.3", 1), val),
                     1);
    sk_GENERAL_NAME_push(gens, g);
    b_san_names(&b, gens);
    return b_der(&b, k_p256, len);
}

static void test_other_name_limits(void **state)
{
    (void)state;
    size_t len;
    unsigned char *der = other_name_der("a\0b", 3, &len);
    expect_reject_der(der, len, ERR_INVALID, "otherName 1.3.6.1.4.1.311.20.2.3 contains a NUL");
    free(der);
    der = other_name_der("", 0, &len);
    expect_reject_der(der, len, ERR_INVALID, "otherName 1.3.6.1.4.1.311.20.2.3 is empty");
    free(der);
    char big[CSR_MAX_NAME + 2];
    memset(big, 'a', sizeof(big));
    der = other_name_der(big, CSR_MAX_NAME + 1, &len);
    expect_reject_der(der, len, ERR_INVALID, "is 1025 bytes long");
    free(der);
    der = other_name_der(big, CSR_MAX_NAME, &len);
    struct csr *c = expect_parse_der(der, len);
    csr_free(c);
    free(der);
}

/* otherNames count within CSR_MAX_SANS with the other SANs. */
static void test_other_names_count_as_sans(void **state)
{
    (void)state;
    struct builder b;
    size_t len;
    b_init(&b, k_p256);
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    for (int i = 0; i <= CSR_MAX_SANS; i++) {
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_TYPE *val = ASN1_TYPE_new();
        ASN1_UTF8STRING *u = ASN1_UTF8STRING_new();
        assert_int_equal(ASN1_STRING_set(u, "x", 1), 1);
        ASN1_TYPE_set(val, V_ASN1_UTF8STRING, u);
        assert_int_equal(GENERAL_NAME_set0_othername(g, OBJ_txt2obj("1.2.3", 1), val), 1);
        sk_GENERAL_NAME_push(gens, g);
    }
    b_san_names(&b, gens);
    unsigned char *der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "1001 subjectAltNames; the limit is 1000");
    free(der);
}

/* Another attribute's value in any string type is read as UTF-8, by OID (a value that is not
 * a string does not decode at all: OpenSSL reads names as strings). */
static void test_subject_other_attribute_bmp(void **state)
{
    (void)state;
    struct builder b;
    size_t len;
    b_init(&b, k_p256);
    b_subject(&b, "CN", "x.svc");
    X509_NAME *name = X509_REQ_get_subject_name(b.req);
    assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_title, V_ASN1_BMPSTRING,
                                                (const unsigned char *)"\0b\0o\0s\0s", 8, -1, 0),
                     1);
    unsigned char *der = b_der(&b, k_p256, &len);
    struct csr *c = expect_parse_der(der, len);
    assert_int_equal(c->other_subject_oids.n, 1);
    assert_string_equal(c->other_subject_oids.v[0], "2.5.4.12");
    assert_string_equal(c->other_subject_values.v[0], "boss");
    csr_free(c);
    free(der);
}

/* A multi-valued RDN: every attribute read, in order. */
static void test_subject_multi_valued_rdn(void **state)
{
    (void)state;
    struct builder b;
    size_t len;
    b_init(&b, k_p256);
    X509_NAME *name = X509_REQ_get_subject_name(b.req);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"a", -1, -1, 0),
        1);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8,
                                                (const unsigned char *)"b", -1, -1, 1),
                     1);
    b_subject(&b, "CN", "x.svc");
    unsigned char *der = b_der(&b, k_p256, &len);
    struct csr *c = expect_parse_der(der, len);
    assert_string_equal(c->organization.v[0], "a");
    assert_string_equal(c->organizational_unit.v[0], "b");
    assert_string_equal(c->common_name.v[0], "x.svc");
    csr_free(c);
    free(der);
}

static void test_unsupported_san_types_rejected(void **state)
{
    (void)state;
    struct builder b;
    size_t len;
    unsigned char *der;

    /* An otherName whose value is not a UTF8String: named with its OID and type. */
    b_init(&b, k_p256);
    b_ext_conf(&b, NID_subject_alt_name, "DNS:a.svc,otherName:1.2.3.4;IA5STRING:u@x");
    der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "otherName 1.2.3.4 has a value of type IA5STRING");
    free(der);

    b_init(&b, k_p256);
    b_ext_conf(&b, NID_subject_alt_name, "RID:1.2.3.4");
    der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "type registeredID is not supported");
    free(der);

    b_init(&b, k_p256);
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    GENERAL_NAME *g = GENERAL_NAME_new();
    X509_NAME *dn = X509_NAME_new();
    X509_NAME_add_entry_by_txt(dn, "CN", MBSTRING_ASC, (const unsigned char *)"x", -1, -1, 0);
    GENERAL_NAME_set0_value(g, GEN_DIRNAME, dn);
    sk_GENERAL_NAME_push(gens, g);
    b_san_names(&b, gens);
    der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "type directoryName is not supported");
    free(der);

    /* An IP address SAN of 8 bytes is a name-constraint form, not an address. */
    b_init(&b, k_p256);
    gens = GENERAL_NAMES_new();
    g = GENERAL_NAME_new();
    ASN1_OCTET_STRING *ip = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(ip, (const unsigned char *)"\x0a\x00\x00\x00\xff\x00\x00\x00", 8);
    GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
    sk_GENERAL_NAME_push(gens, g);
    b_san_names(&b, gens);
    der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "IP address has 8 bytes");
    free(der);
}

static X509_EXTENSION *raw_ext(const char *oid, int critical)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(os, (const unsigned char *)"\x05\x00", 2);
    X509_EXTENSION *ext = X509_EXTENSION_create_by_OBJ(NULL, obj, critical, os);
    ASN1_OBJECT_free(obj);
    ASN1_OCTET_STRING_free(os);
    return ext;
}

static void test_critical_extensions(void **state)
{
    (void)state;
    struct builder b;
    size_t len;
    b_init(&b, k_p256);
    b_ext(&b, raw_ext("1.2.3.4", 1));
    unsigned char *der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "1.2.3.4 is marked critical");
    free(der);

    b_init(&b, k_p256);
    b_ext_conf(&b, NID_subject_key_identifier, "critical,0102030405");
    der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "subjectKeyIdentifier is marked critical");
    free(der);

    /* Critical SAN / EKU: fine. */
    b_init(&b, k_p256);
    b_ext_conf(&b, NID_subject_alt_name, "critical,DNS:a.svc");
    b_ext_conf(&b, NID_ext_key_usage, "critical,serverAuth");
    der = b_der(&b, k_p256, &len);
    struct csr *c = expect_parse_der(der, len);
    assert_string_equal(c->dns_names.v[0], "a.svc");
    csr_free(c);
    free(der);
}

static void test_duplicate_extension_rejected(void **state)
{
    (void)state;
    struct builder b;
    size_t len;
    b_init(&b, k_p256);
    b_ext_conf(&b, NID_subject_alt_name, "DNS:a.svc");
    b_ext_conf(&b, NID_subject_alt_name, "DNS:evil.com");
    unsigned char *der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "subjectAltName is requested more than once");
    free(der);
}

static void test_unknown_eku_rejected(void **state)
{
    (void)state;
    struct builder b;
    size_t len;
    b_init(&b, k_p256);
    b_ext_conf(&b, NID_ext_key_usage, "serverAuth,1.2.3.4.5");
    unsigned char *der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "extKeyUsage 1.2.3.4.5 is not a usage");
    free(der);
}

static struct csr *ext_csr(const char *ku, const char *eku, const char *bc)
{
    struct builder b;
    b_init(&b, k_p256);
    b_subject(&b, "CN", "x.svc");
    if (ku != NULL)
        b_ext_conf(&b, NID_key_usage, ku);
    if (eku != NULL)
        b_ext_conf(&b, NID_ext_key_usage, eku);
    if (bc != NULL)
        b_ext_conf(&b, NID_basic_constraints, bc);
    size_t len;
    unsigned char *der = b_der(&b, k_p256, &len);
    struct csr *c = expect_parse_der(der, len);
    free(der);
    return c;
}

static usage_set usages(int a, int b, int c)
{
    usage_set s = 0;
    int v[] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (v[i] >= 0)
            s |= USAGE_BIT(v[i]);
    return s;
}

static void test_check_request_matching(void **state)
{
    (void)state;
    struct err err = {0};
    struct csr *c = ext_csr("digitalSignature,keyEncipherment", "serverAuth", "CA:FALSE");
    assert_int_equal(csr_check_request(
                         c, false,
                         usages(USAGE_DIGITAL_SIGNATURE, USAGE_KEY_ENCIPHERMENT, USAGE_SERVER_AUTH),
                         &err),
                     0);
    csr_free(c);
    /* No requested extensions: nothing to compare. */
    c = ext_csr(NULL, NULL, NULL);
    assert_int_equal(csr_check_request(c, true, usages(USAGE_CLIENT_AUTH, -1, -1), &err), 0);
    csr_free(c);
}

static void test_check_request_key_usage_mismatch(void **state)
{
    (void)state;
    struct err err = {0};
    struct csr *c = ext_csr("digitalSignature", NULL, NULL);
    assert_int_equal(csr_check_request(c, false, 0, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_string_equal(err.msg, "CSR keyUsage (digital signature) does not match spec.usages "
                                 "(digital signature, key encipherment)");
    csr_free(c);
}

static void test_check_request_ext_key_usage_mismatch(void **state)
{
    (void)state;
    struct err err = {0};
    struct csr *c = ext_csr(NULL, "serverAuth,clientAuth", NULL);
    assert_int_equal(csr_check_request(
                         c, false,
                         usages(USAGE_DIGITAL_SIGNATURE, USAGE_KEY_ENCIPHERMENT, USAGE_SERVER_AUTH),
                         &err),
                     -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.msg, "CSR extKeyUsage (server auth, client auth) does not match"));
    assert_int_equal(
        csr_check_request(c, false,
                          USAGE_DEFAULT | usages(USAGE_SERVER_AUTH, USAGE_CLIENT_AUTH, -1), &err),
        0);
    csr_free(c);
}

static void test_check_request_basic_constraints_mismatch(void **state)
{
    (void)state;
    struct err err = {0};
    struct csr *c = ext_csr(NULL, NULL, "critical,CA:TRUE");
    assert_true(c->bc_is_ca);
    assert_int_equal(csr_check_request(c, false, 0, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_string_equal(err.msg, "CSR basicConstraints CA:TRUE does not match spec.isCA false");
    csr_free(c);
}

static void test_check_request_default_usages(void **state)
{
    (void)state;
    struct err err = {0};
    struct csr *c = ext_csr("critical,digitalSignature,keyEncipherment", NULL, NULL);
    assert_int_equal(csr_check_request(c, false, 0, &err), 0);
    assert_int_equal(csr_check_request(c, false, USAGE_DEFAULT, &err), 0);
    csr_free(c);
}

static void test_check_request_is_ca_adds_cert_sign(void **state)
{
    (void)state;
    struct err err = {0};
    struct csr *c =
        ext_csr("critical,digitalSignature,keyEncipherment,keyCertSign", NULL, "critical,CA:TRUE");
    assert_int_equal(csr_check_request(c, true, 0, &err), 0);
    /* The same CSR without isCA: the extra cert sign bit and CA:TRUE do not match. */
    assert_int_equal(csr_check_request(c, false, 0, &err), -1);
    csr_free(c);
    c = ext_csr("critical,digitalSignature,keyEncipherment", NULL, "critical,CA:TRUE");
    assert_int_equal(csr_check_request(c, true, 0, &err), -1);
    assert_non_null(strstr(err.msg, "CSR keyUsage (digital signature, key encipherment) does "
                                    "not match spec.usages (digital signature, key "
                                    "encipherment) and spec.isCA true"));
    csr_free(c);
}

/* An extension Ember neither copies nor checks would be missing from the certificate: refused
 * even when not critical, naming it, instead of being dropped silently. */
static void test_unsupported_extensions_rejected(void **state)
{
    (void)state;
    struct builder b;
    size_t len;
    b_init(&b, k_p256);
    b_subject(&b, "CN", "a.svc");
    b_ext(&b, raw_ext("1.2.3.4", 0));
    unsigned char *der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "extension 1.2.3.4 is not supported");
    free(der);

    b_init(&b, k_p256);
    b_subject(&b, "CN", "a.svc");
    b_ext(&b, raw_ext("2.5.29.32", 0)); /* certificatePolicies */
    der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "extension certificatePolicies is not supported");
    free(der);

    b_init(&b, k_p256);
    b_subject(&b, "CN", "a.svc");
    b_ext_conf(&b, NID_subject_key_identifier, "0102030405");
    der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "extension subjectKeyIdentifier is not supported");
    free(der);
}

/* The CSR nameConstraints cert-manager writes (spec.nameConstraints: DNS, IP, email, URI; not
 * critical unless asked) parse; what RFC 5280 4.2.1.10 forbids or Ember cannot copy as asked
 * is refused with a message. */
static void test_name_constraints(void **state)
{
    (void)state;
    static const struct {
        const char *value, *needle; /* needle NULL: accepted */
    } cases[] = {
        {"permitted;DNS:.example.com,permitted;IP:10.0.0.0/255.0.0.0,excluded;email:.example.org,"
         "excluded;URI:.example.net",
         NULL},
        {"critical,permitted;DNS:.example.com", NULL},
        {"permitted;dirName:dir_sect", "directoryName"},
        {"permitted;RID:1.2.3", "registeredID"},
        {"permitted;IP:10.0.0.0/255.0.255.0", "not a CIDR range"},
        {"permitted;IP:10.0.0.1/255.0.0.0", "not a CIDR range"},
        {"permitted;IP:fd00::/ffff:ffff::", NULL},
        {"permitted;IP:fd00::1/ffff:ffff::", "not a CIDR range"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct builder b;
        size_t len;
        b_init(&b, k_p256);
        b_subject(&b, "CN", "team-ca");
        b_ext_conf(&b, NID_basic_constraints, "critical,CA:TRUE");
        if (strstr(cases[i].value, "dirName") != NULL) {
            /* X509V3_EXT_conf_nid needs a config section for a directoryName. */
            X509_NAME *n = X509_NAME_new();
            X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"x", -1, -1,
                                       0);
            NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();
            GENERAL_SUBTREE *st = GENERAL_SUBTREE_new();
            st->base->type = GEN_DIRNAME;
            st->base->d.directoryName = n;
            nc->permittedSubtrees = sk_GENERAL_SUBTREE_new_null();
            sk_GENERAL_SUBTREE_push(nc->permittedSubtrees, st);
            b_ext(&b, X509V3_EXT_i2d(NID_name_constraints, 0, nc));
            NAME_CONSTRAINTS_free(nc);
        } else {
            b_ext_conf(&b, NID_name_constraints, cases[i].value);
        }
        unsigned char *der = b_der(&b, k_p256, &len);
        if (cases[i].needle == NULL) {
            struct csr *c = expect_parse_der(der, len);
            struct err err = {0};
            if (csr_check_request(c, true, 0, &err) != 0)
                print_error("%s: %s\n", cases[i].value, err.msg);
            assert_int_equal(csr_check_request(c, true, 0, &err), 0);
            csr_free(c);
        } else {
            expect_reject_der(der, len, ERR_INVALID, cases[i].needle);
        }
        free(der);
    }

    /* An empty NameConstraints (neither permitted nor excluded subtrees): RFC 5280 says MUST NOT.
     */
    struct builder b;
    size_t len;
    b_init(&b, k_p256);
    b_subject(&b, "CN", "team-ca");
    NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();
    b_ext(&b, X509V3_EXT_i2d(NID_name_constraints, 0, nc));
    NAME_CONSTRAINTS_free(nc);
    unsigned char *der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "nameConstraints is empty");
    free(der);

    /* Copied byte for byte, so it must be DER: the same constraint with a non-minimal length
     * (permitted DNS "a.example", the outer SEQUENCE's length 15 written as 0x81 0x0f). */
    static const unsigned char ber[] = {0x30, 0x81, 0x0f, 0xa0, 0x0d, 0x30, 0x0b, 0x82, 0x09,
                                        'a',  '.',  'e',  'x',  'a',  'm',  'p',  'l',  'e'};
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    assert_int_equal(ASN1_OCTET_STRING_set(os, ber, sizeof(ber)), 1);
    b_init(&b, k_p256);
    b_subject(&b, "CN", "team-ca");
    b_ext_conf(&b, NID_basic_constraints, "critical,CA:TRUE");
    b_ext(&b, X509_EXTENSION_create_by_NID(NULL, NID_name_constraints, 0, os));
    ASN1_OCTET_STRING_free(os);
    der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "not DER-encoded");
    free(der);
}

/* The requested subtrees reach struct csr by kind, for spec.ca.nameConstraints: IA5 text as it
 * is, IP ranges as CIDR text (IPv4 and IPv6). */
static void test_name_constraints_recorded(void **state)
{
    (void)state;
    struct builder b;
    size_t len;
    b_init(&b, k_p256);
    b_subject(&b, "CN", "team-ca");
    b_ext_conf(&b, NID_basic_constraints, "critical,CA:TRUE");
    b_ext_conf(&b, NID_name_constraints,
               "permitted;DNS:team-a.example.com,permitted;DNS:.team-b.example.com,"
               "permitted;IP:10.1.0.0/255.255.0.0,permitted;IP:fd00::/ffff:ffff::,"
               "permitted;email:.example.org,permitted;URI:api.example.net,"
               "excluded;DNS:secret.team-a.example.com,excluded;IP:10.1.2.0/255.255.255.0,"
               "excluded;email:root@example.org,excluded;URI:.internal.example.net");
    unsigned char *der = b_der(&b, k_p256, &len);
    struct csr *c = expect_parse_der(der, len);
    assert_true(c->has_name_constraints);
    assert_int_equal(c->nc_permitted.dns.n, 2);
    assert_string_equal(c->nc_permitted.dns.v[0], "team-a.example.com");
    assert_string_equal(c->nc_permitted.dns.v[1], ".team-b.example.com");
    assert_int_equal(c->nc_permitted.ip.n, 2);
    assert_string_equal(c->nc_permitted.ip.v[0], "10.1.0.0/16");
    assert_string_equal(c->nc_permitted.ip.v[1], "fd00::/32");
    assert_int_equal(c->nc_permitted.email.n, 1);
    assert_string_equal(c->nc_permitted.email.v[0], ".example.org");
    assert_int_equal(c->nc_permitted.uri.n, 1);
    assert_string_equal(c->nc_permitted.uri.v[0], "api.example.net");
    assert_int_equal(c->nc_excluded.dns.n, 1);
    assert_string_equal(c->nc_excluded.dns.v[0], "secret.team-a.example.com");
    assert_int_equal(c->nc_excluded.ip.n, 1);
    assert_string_equal(c->nc_excluded.ip.v[0], "10.1.2.0/24");
    assert_string_equal(c->nc_excluded.email.v[0], "root@example.org");
    assert_string_equal(c->nc_excluded.uri.v[0], ".internal.example.net");
    csr_free(c);
    free(der);

    /* Only excluded subtrees: nothing permitted is recorded. */
    b_init(&b, k_p256);
    b_subject(&b, "CN", "team-ca");
    b_ext_conf(&b, NID_basic_constraints, "critical,CA:TRUE");
    b_ext_conf(&b, NID_name_constraints, "excluded;IP:0.0.0.0/0.0.0.0");
    der = b_der(&b, k_p256, &len);
    c = expect_parse_der(der, len);
    assert_int_equal(c->nc_permitted.dns.n + c->nc_permitted.ip.n, 0);
    assert_string_equal(c->nc_excluded.ip.v[0], "0.0.0.0/0");
    csr_free(c);
    free(der);
}

/* nameConstraints belong in a CA certificate only (RFC 5280 4.2.1.10). */
static void test_check_request_name_constraints_need_is_ca(void **state)
{
    (void)state;
    struct builder b;
    size_t len;
    b_init(&b, k_p256);
    b_subject(&b, "CN", "x.svc");
    b_ext_conf(&b, NID_name_constraints, "permitted;DNS:.example.com");
    unsigned char *der = b_der(&b, k_p256, &len);
    struct csr *c = expect_parse_der(der, len);
    struct err err = {0};
    assert_int_equal(csr_check_request(c, false, 0, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.msg, "nameConstraints"));
    assert_non_null(strstr(err.msg, "spec.isCA"));
    assert_int_equal(csr_check_request(c, true, 0, &err), 0);
    csr_free(c);
    free(der);
}

/* basicConstraints pathLenConstraint: meaningful only with CA:TRUE (RFC 5280 4.2.1.9). */
static void test_path_len(void **state)
{
    (void)state;
    struct builder b;
    size_t len;
    b_init(&b, k_p256);
    b_subject(&b, "CN", "x.svc");
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    bc->ca = 0;
    bc->pathlen = ASN1_INTEGER_new();
    ASN1_INTEGER_set(bc->pathlen, 1);
    b_ext(&b, X509V3_EXT_i2d(NID_basic_constraints, 1, bc));
    BASIC_CONSTRAINTS_free(bc);
    unsigned char *der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "pathLenConstraint");
    free(der);

    struct csr *c = ext_csr(NULL, NULL, "critical,CA:TRUE,pathlen:2");
    struct err err = {0};
    assert_int_equal(csr_check_request(c, true, 0, &err), 0);
    csr_free(c);
}

/* A subjectAltName extension with no names: RFC 5280 4.2.1.6 requires at least one entry, and
 * copying it would give a certificate strict verifiers reject. */
static void test_empty_san_rejected(void **state)
{
    (void)state;
    struct builder b;
    size_t len;
    b_init(&b, k_p256);
    b_subject(&b, "CN", "x.svc");
    b_san_names(&b, GENERAL_NAMES_new());
    unsigned char *der = b_der(&b, k_p256, &len);
    expect_reject_der(der, len, ERR_INVALID, "subjectAltName extension holds no names");
    free(der);
}

/* RFC 5280 MUSTs that depend on the request, not the policy: a CA (4.1.2.6) and a CRL signer
 * need a non-empty subject; keyCertSign only in a CA (4.2.1.3). */
static void test_check_request_rfc5280_rules(void **state)
{
    (void)state;
    struct builder b;
    size_t len;
    b_init(&b, k_p256);
    b_ext_conf(&b, NID_subject_alt_name, "critical,URI:spiffe://example.org");
    unsigned char *der = b_der(&b, k_p256, &len);
    struct csr *empty = expect_parse_der(der, len);
    free(der);
    struct csr *named = ext_csr(NULL, NULL, NULL);
    static const struct {
        bool empty_subject, is_ca;
        usage_set usages;
        const char *needle1, *needle2; /* NULL: accepted */
    } cases[] = {
        {true, true, 0, "spec.isCA", "subject"},
        {true, false, USAGE_BIT(USAGE_DIGITAL_SIGNATURE) | USAGE_BIT(USAGE_CRL_SIGN), "crl sign",
         "subject"},
        {false, false, USAGE_BIT(USAGE_DIGITAL_SIGNATURE) | USAGE_BIT(USAGE_CERT_SIGN), "cert sign",
         "spec.isCA"},
        {false, true, USAGE_BIT(USAGE_CERT_SIGN) | USAGE_BIT(USAGE_CRL_SIGN), NULL, NULL},
        {true, false, USAGE_DEFAULT, NULL, NULL},
        {false, false, USAGE_BIT(USAGE_DIGITAL_SIGNATURE) | USAGE_BIT(USAGE_CRL_SIGN), NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct err err = {0};
        int rc = csr_check_request(cases[i].empty_subject ? empty : named, cases[i].is_ca,
                                   cases[i].usages, &err);
        if (cases[i].needle1 == NULL) {
            if (rc != 0)
                print_error("case %zu: unexpected refusal: %s\n", i, err.msg);
            assert_int_equal(rc, 0);
            continue;
        }
        if (rc != -1 || strstr(err.msg, cases[i].needle1) == NULL ||
            strstr(err.msg, cases[i].needle2) == NULL)
            print_error("case %zu: want a refusal naming %s and %s, got %d: %s\n", i,
                        cases[i].needle1, cases[i].needle2, rc, err.msg);
        assert_int_equal(rc, -1);
        assert_int_equal(err.kind, ERR_INVALID);
        assert_non_null(strstr(err.msg, cases[i].needle1));
        assert_non_null(strstr(err.msg, cases[i].needle2));
    }
    csr_free(empty);
    csr_free(named);
}

/* A request that names nothing (no commonName, no subjectAltName) gives a certificate with no
 * identity, which RFC 5280 4.1.2.6 does not allow: refused whatever isCA and usages say. */
static void test_check_request_no_identity(void **state)
{
    (void)state;
    struct err err = {0};
    struct builder b;
    size_t len;
    const char *orgs[] = {NULL, "Acme"};
    for (size_t i = 0; i < 2; i++) {
        b_init(&b, k_p256);
        if (orgs[i] != NULL)
            b_subject(&b, "O", orgs[i]);
        unsigned char *der = b_der(&b, k_p256, &len);
        struct csr *c = expect_parse_der(der, len);
        err = (struct err){0};
        assert_int_equal(csr_check_request(c, false, 0, &err), -1);
        assert_int_equal(err.kind, ERR_INVALID);
        if (strstr(err.msg, "no identity") == NULL || strstr(err.msg, "commonName") == NULL)
            print_error("unexpected message: %s\n", err.msg);
        assert_non_null(strstr(err.msg, "no identity"));
        assert_non_null(strstr(err.msg, "commonName"));
        csr_free(c);
        free(der);
    }
    /* A SAN alone or a commonName alone is an identity. */
    b_init(&b, k_p256);
    b_ext_conf(&b, NID_subject_alt_name, "critical,URI:spiffe://cluster.local/ns/a/sa/b");
    unsigned char *der = b_der(&b, k_p256, &len);
    struct csr *c = expect_parse_der(der, len);
    assert_int_equal(csr_check_request(c, false, 0, &err), 0);
    csr_free(c);
    free(der);
    c = ext_csr(NULL, NULL, NULL);
    assert_int_equal(csr_check_request(c, false, 0, &err), 0);
    csr_free(c);
}

/* The key's point as it sits in a CSR: uncompressed, or compressed when asked. */
static size_t ec_point(EVP_PKEY *key, unsigned char *buf, size_t cap)
{
    size_t n = 0;
    assert_int_equal(
        EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf, cap, &n), 1);
    return n;
}

/* A point moved off its curve is refused before the signature is even looked at, on every
 * allowed curve. */
static void test_ec_point_off_curve_rejected(void **state)
{
    (void)state;
    EVP_PKEY *keys[] = {k_p256, k_p384, k_p521};
    const char *curves[] = {"prime256v1", "secp384r1", "secp521r1"};
    for (size_t k = 0; k < 3; k++) {
        size_t len;
        unsigned char *der = simple_der(keys[k], &len);
        unsigned char pt[200];
        size_t n = ec_point(keys[k], pt, sizeof(pt));
        unsigned char *at = memmem(der, len, pt, n);
        assert_non_null(at);
        at[n - 1] ^= 0x01; /* y changes, x stays: not on the curve */
        char want[80];
        snprintf(want, sizeof(want), "CSR: the EC public key is not a point on %s", curves[k]);
        expect_reject_der(der, len, ERR_INVALID, want);
        at[n - 1] ^= 0x01;
        struct csr *c = expect_parse_der(der, len); /* and the untouched request passes */
        csr_free(c);
        free(der);
    }
}

/* A compressed point (02/03 || x) names the same key. */
static void test_ec_compressed_point_accepted(void **state)
{
    (void)state;
    EVP_PKEY *keys[] = {k_p256, k_p384, k_p521};
    int nids[] = {NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1};
    for (size_t k = 0; k < 3; k++) {
        unsigned char pt[200];
        size_t n = ec_point(keys[k], pt, sizeof(pt));
        assert_int_equal(pt[0], 0x04);
        size_t clen = 1 + (n - 1) / 2;
        unsigned char *comp = OPENSSL_malloc(clen);
        assert_non_null(comp);
        comp[0] = (unsigned char)(0x02 | (pt[n - 1] & 1));
        memcpy(comp + 1, pt + 1, clen - 1);
        unsigned char want[200];
        memcpy(want, comp, clen);
        struct builder b;
        b_init(&b, keys[k]);
        b_subject(&b, "CN", "test.svc");
        assert_int_equal(X509_PUBKEY_set0_param(
                             X509_REQ_get_X509_PUBKEY(b.req), OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
                             V_ASN1_OBJECT, OBJ_nid2obj(nids[k]), comp, (int)clen),
                         1);
        size_t len;
        unsigned char *der = b_der(&b, keys[k], &len);
        assert_non_null(memmem(der, len, want, clen));
        assert_null(memmem(der, len, pt, n));
        struct csr *c = expect_parse_der(der, len);
        assert_true(EVP_PKEY_eq(c->pkey, keys[k]) == 1);
        csr_free(c);
        free(der);
    }
}

struct parse_job {
    const unsigned char *der[3];
    size_t len[3];
    int ok;
};

static void *parse_many(void *arg)
{
    struct parse_job *j = arg;
    for (int i = 0; i < 30; i++) {
        struct csr *c = csr_parse(j->der[i % 3], j->len[i % 3], NULL);
        j->ok += c != NULL && c->pkey != NULL;
        csr_free(c);
    }
    return NULL;
}

/* Parsing from several threads at once, from the first request on, gives every key. */
static void test_parse_concurrent(void **state)
{
    (void)state;
    struct parse_job jobs[4];
    unsigned char *ders[3];
    size_t lens[3];
    EVP_PKEY *keys[] = {k_p256, k_p384, k_p521};
    for (size_t k = 0; k < 3; k++)
        ders[k] = simple_der(keys[k], &lens[k]);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 3; k++) {
            jobs[i].der[k] = ders[k];
            jobs[i].len[k] = lens[k];
        }
        jobs[i].ok = 0;
        assert_int_equal(pthread_create(&t[i], NULL, parse_many, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(jobs[i].ok, 30);
    }
    for (size_t k = 0; k < 3; k++)
        free(ders[k]);
}

static void test_free_null(void **state)
{
    (void)state;
    csr_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_request_fields),
        cmocka_unit_test(test_der_accepted),
        cmocka_unit_test(test_pem_crlf_and_new_label_accepted),
        cmocka_unit_test(test_allowed_keys),
        cmocka_unit_test(test_rsa_4096_allowed),
        cmocka_unit_test(test_rsa_1024_rejected),
        cmocka_unit_test(test_ec_other_curve_rejected),
        cmocka_unit_test(test_dsa_rejected),
        cmocka_unit_test(test_ed448_rejected),
        cmocka_unit_test(test_x25519_rejected),
        cmocka_unit_test(test_tampered_signature_rejected),
        cmocka_unit_test(test_tampered_subject_rejected),
        cmocka_unit_test(test_signed_by_other_key_rejected),
        cmocka_unit_test(test_two_pem_blocks_rejected),
        cmocka_unit_test(test_der_trailing_garbage_rejected),
        cmocka_unit_test(test_certificate_and_key_pem_rejected),
        cmocka_unit_test(test_not_pem_or_der_rejected),
        cmocka_unit_test(test_too_big_rejected),
        cmocka_unit_test(test_san_count_limit),
        cmocka_unit_test(test_name_length_limit),
        cmocka_unit_test(test_embedded_nul_rejected),
        cmocka_unit_test(test_unsupported_san_types_rejected),
        cmocka_unit_test(test_other_names_read),
        cmocka_unit_test(test_other_name_limits),
        cmocka_unit_test(test_other_names_count_as_sans),
        cmocka_unit_test(test_subject_other_attribute_bmp),
        cmocka_unit_test(test_subject_multi_valued_rdn),
        cmocka_unit_test(test_critical_extensions),
        cmocka_unit_test(test_unsupported_extensions_rejected),
        cmocka_unit_test(test_name_constraints),
        cmocka_unit_test(test_name_constraints_recorded),
        cmocka_unit_test(test_check_request_name_constraints_need_is_ca),
        cmocka_unit_test(test_path_len),
        cmocka_unit_test(test_duplicate_extension_rejected),
        cmocka_unit_test(test_unknown_eku_rejected),
        cmocka_unit_test(test_check_request_matching),
        cmocka_unit_test(test_check_request_key_usage_mismatch),
        cmocka_unit_test(test_check_request_ext_key_usage_mismatch),
        cmocka_unit_test(test_check_request_basic_constraints_mismatch),
        cmocka_unit_test(test_check_request_default_usages),
        cmocka_unit_test(test_check_request_is_ca_adds_cert_sign),
        cmocka_unit_test(test_check_request_no_identity),
        cmocka_unit_test(test_empty_san_rejected),
        cmocka_unit_test(test_check_request_rfc5280_rules),
        cmocka_unit_test(test_ec_point_off_curve_rejected),
        cmocka_unit_test(test_ec_compressed_point_accepted),
        cmocka_unit_test(test_parse_concurrent),
        cmocka_unit_test(test_free_null),
    };
    return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
