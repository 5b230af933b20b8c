/* test_localca.c -- the local sub-CA signer: loading checks, the certificate it issues, its chain.
 */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "base/mem.h"
#include "base/timefmt.h"
#include "signers/localca.h"
#include "signers/secret.h"
#include "x509/csr.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY 86400L

static time_t NOW;
static long serial_counter = 100;

/* ---- test PKI helpers (keys and certificates made in-process) ---- */

static EVP_PKEY *key_ec(const char *curve)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
    assert_non_null(k);
    return k;
}

static EVP_PKEY *key_rsa(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    assert_non_null(k);
    return k;
}

static EVP_PKEY *key_ed25519(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(k);
    return k;
}

static const EVP_MD *md_for(EVP_PKEY *k)
{
    return EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

struct spec {
    const char *cn;
    EVP_PKEY *key;
    X509 *issuer; /* NULL: self-signed */
    EVP_PKEY *ikey;
    const char *bc; /* basicConstraints value, or NULL for none */
    const char *ku; /* keyUsage value, or NULL for none */
    long nb, na;    /* seconds from NOW */
};

static X509 *mkcert(const struct spec *s)
{
    X509 *x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial_counter++), 1);
    X509_NAME *name = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                                (const unsigned char *)s->cn, -1, -1, 0),
                     1);
    assert_int_equal(X509_set_issuer_name(x, s->issuer ? X509_get_subject_name(s->issuer) : name),
                     1);
    assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), NOW + s->nb));
    assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), NOW + s->na));
    assert_int_equal(X509_set_pubkey(x, s->key), 1);
    if (s->bc)
        add_ext(x, NULL, NID_basic_constraints, s->bc);
    if (s->ku)
        add_ext(x, NULL, NID_key_usage, s->ku);
    add_ext(x, NULL, NID_subject_key_identifier, "hash");
    add_ext(x, s->issuer ? s->issuer : x, NID_authority_key_identifier, "keyid:always");
    EVP_PKEY *signer = s->issuer ? s->ikey : s->key;
    assert_true(X509_sign(x, signer, md_for(signer)) > 0);
    return x;
}

static X509 *mkroot(const char *cn, EVP_PKEY *k)
{
    struct spec s = {
        cn, k, NULL, NULL, "critical,CA:TRUE", "critical,keyCertSign,cRLSign", -DAY, 3650 * DAY};
    return mkcert(&s);
}

static X509 *mksub(const char *cn, EVP_PKEY *k, X509 *issuer, EVP_PKEY *ikey, long na)
{
    struct spec s = {cn,   k, issuer, ikey, "critical,CA:TRUE", "critical,keyCertSign,cRLSign",
                     -DAY, na};
    return mkcert(&s);
}

static char *pem_cert(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *s = xstrndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

static char *pem_key(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *s = xstrndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

static char *cat2(const char *a, const char *b)
{
    return xasprintf("%s%s", a, b ? b : "");
}

/* A CSR for key with an optional CN and SAN (OpenSSL config syntax), plus extra requested
 * extensions "nid=value;" none when NULL. */
static X509_REQ *mkreq(EVP_PKEY *key, const char *cn, const char *san, int extra_nid,
                       const char *extra_value)
{
    X509_REQ *r = X509_REQ_new();
    assert_non_null(r);
    assert_int_equal(X509_REQ_set_version(r, 0), 1);
    if (cn)
        assert_int_equal(X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "CN",
                                                    MBSTRING_UTF8, (const unsigned char *)cn, -1,
                                                    -1, 0),
                         1);
    assert_int_equal(X509_REQ_set_pubkey(r, key), 1);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    if (san) {
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
        assert_non_null(e);
        sk_X509_EXTENSION_push(exts, e);
    }
    if (extra_nid != NID_undef) {
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, extra_nid, extra_value);
        assert_non_null(e);
        sk_X509_EXTENSION_push(exts, e);
    }
    if (sk_X509_EXTENSION_num(exts) > 0)
        assert_int_equal(X509_REQ_add_extensions(r, exts), 1);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    assert_true(X509_REQ_sign(r, key, md_for(key)) > 0);
    return r;
}

/* csr_parse is another module's job: fill the fields localca_sign reads by hand. */
static struct csr *mkcsr(EVP_PKEY *key, const char *cn, const char *san)
{
    struct csr *c = xcalloc(1, sizeof(*c));
    c->req = mkreq(key, cn, san, NID_undef, NULL);
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        c->key_type = CSR_KEY_RSA;
        snprintf(c->key_alg, sizeof(c->key_alg), "RSA_2048");
        break;
    case EVP_PKEY_ED25519:
        c->key_type = CSR_KEY_ED25519;
        snprintf(c->key_alg, sizeof(c->key_alg), "EC_ED25519");
        break;
    default: c->key_type = CSR_KEY_EC; snprintf(c->key_alg, sizeof(c->key_alg), "EC_P256");
    }
    c->key_bits = EVP_PKEY_get_bits(key);
    c->subject_empty = cn == NULL;
    return c;
}

static void freecsr(struct csr *c)
{
    X509_REQ_free(c->req);
    free(c);
}

static X509 *parse_pem(const char *pem, int index)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = NULL;
    for (int i = 0; i <= index; i++) {
        X509_free(x);
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        if (x == NULL)
            break;
    }
    BIO_free(b);
    return x;
}

static int count_certs(const char *pem)
{
    int n = 0;
    for (const char *p = pem; (p = strstr(p, "-----BEGIN CERTIFICATE-----")) != NULL; p++)
        n++;
    return n;
}

/* X509_verify_cert in strict mode with root as the only trust anchor and the rest of chain_pem
 * untrusted. */
static int verify_chain(const char *chain_pem, X509 *root, time_t at)
{
    X509 *leaf = parse_pem(chain_pem, 0);
    assert_non_null(leaf);
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    for (int i = 1;; i++) {
        X509 *x = parse_pem(chain_pem, i);
        if (x == NULL)
            break;
        sk_X509_push(untrusted, x);
    }
    X509_STORE *store = X509_STORE_new();
    assert_int_equal(X509_STORE_add_cert(store, root), 1);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, untrusted), 1);
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), at);
    /* RFC 5280's rules on every certificate, as openssl verify -x509_strict. */
    X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_X509_STRICT);
    int ok = X509_verify_cert(ctx);
    if (ok != 1)
        fprintf(stderr, "verify: %s\n",
                X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_pop_free(untrusted, X509_free);
    X509_free(leaf);
    return ok;
}

static time_t asn1_to_time(const ASN1_TIME *t)
{
    struct tm tm;
    assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
    return timegm(&tm);
}

/* ---- the fixture: root -> sub-CA, tls.crt = sub-CA, ca.crt = root ---- */

struct fx {
    EVP_PKEY *kroot, *ksub, *kleaf;
    X509 *root, *sub;
    char *root_pem, *sub_pem, *sub_key;
    struct localca *ca;
};
static struct fx F;

static int setup(void **state)
{
    (void)state;
    NOW = time(NULL);
    F.kroot = key_ec("P-256");
    F.ksub = key_ec("P-256");
    F.kleaf = key_ec("P-256");
    F.root = mkroot("Test Root", F.kroot);
    F.sub = mksub("Test Sub-CA", F.ksub, F.root, F.kroot, 365 * DAY);
    F.root_pem = pem_cert(F.root);
    F.sub_pem = pem_cert(F.sub);
    F.sub_key = pem_key(F.ksub);
    struct err err = {0};
    F.ca = localca_load(F.sub_pem, strlen(F.sub_pem), F.sub_key, strlen(F.sub_key), F.root_pem,
                        strlen(F.root_pem), NOW, &err);
    if (F.ca == NULL)
        fail_msg("localca_load: %s", err.msg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    localca_free(F.ca);
    EVP_PKEY_free(F.kroot);
    EVP_PKEY_free(F.ksub);
    EVP_PKEY_free(F.kleaf);
    X509_free(F.root);
    X509_free(F.sub);
    free(F.root_pem);
    free(F.sub_pem);
    free(F.sub_key);
    return 0;
}

/* Signs csr with F.ca (or ca when given) and returns the leaf; out keeps the PEM. */
static X509 *sign_ok(const struct localca *ca, const struct csr *csr, const struct sign_params *p,
                     struct sign_result *out)
{
    struct err err = {0};
    if (localca_sign(ca ? ca : F.ca, csr, p, out, &err) != 0)
        fail_msg("localca_sign: %s", err.msg);
    X509 *leaf = parse_pem(out->chain_pem, 0);
    assert_non_null(leaf);
    return leaf;
}

static struct sign_params params(long long duration, bool is_ca, usage_set usages)
{
    return (struct sign_params){
        .duration_s = duration, .is_ca = is_ca, .usages = usages, .now = NOW};
}

static void test_leaf_verifies_against_root(void **state)
{
    (void)state;
    struct csr *csr = mkcsr(F.kleaf, "app.example", "DNS:app.example");
    struct sign_params p = params(90 * DAY, false, 0);
    struct sign_result out = {0};
    X509 *leaf = sign_ok(NULL, csr, &p, &out);
    assert_int_equal(verify_chain(out.chain_pem, F.root, NOW + 60), 1);
    /* chain = leaf + sub-CA, ca = root */
    assert_int_equal(count_certs(out.chain_pem), 2);
    assert_non_null(strstr(out.chain_pem, F.sub_pem));
    assert_null(strstr(out.chain_pem, F.root_pem));
    assert_string_equal(out.ca_pem, F.root_pem);
    assert_int_equal(X509_get_version(leaf), X509_VERSION_3);
    assert_int_equal(
        X509_NAME_cmp(X509_get_subject_name(leaf), X509_REQ_get_subject_name(csr->req)), 0);
    assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(F.sub)), 0);
    assert_int_equal(asn1_to_time(X509_get0_notBefore(leaf)), NOW);
    assert_int_equal(asn1_to_time(X509_get0_notAfter(leaf)), NOW + 90 * DAY);
    assert_int_equal(X509_get_signature_nid(leaf), NID_ecdsa_with_SHA256);
    X509_free(leaf);
    sign_result_free(&out);
    assert_null(out.chain_pem);
    freecsr(csr);
}

static void test_serial_is_random_positive_128_bit(void **state)
{
    (void)state;
    struct csr *csr = mkcsr(F.kleaf, "app", NULL);
    struct sign_params p = params(DAY, false, 0);
    struct sign_result o1 = {0}, o2 = {0};
    X509 *a = sign_ok(NULL, csr, &p, &o1);
    X509 *b = sign_ok(NULL, csr, &p, &o2);
    BIGNUM *sa = ASN1_INTEGER_to_BN(X509_get0_serialNumber(a), NULL);
    BIGNUM *sb = ASN1_INTEGER_to_BN(X509_get0_serialNumber(b), NULL);
    assert_false(BN_is_negative(sa));
    assert_false(BN_is_zero(sa));
    assert_true(BN_num_bits(sa) <= 128);
    /* 127 random bits: below 100 bits has probability 2^-27 */
    assert_true(BN_num_bits(sa) > 100);
    assert_int_not_equal(BN_cmp(sa, sb), 0);
    BN_free(sa);
    BN_free(sb);
    X509_free(a);
    X509_free(b);
    sign_result_free(&o1);
    sign_result_free(&o2);
    freecsr(csr);
}

static void test_ski_and_aki(void **state)
{
    (void)state;
    struct csr *csr = mkcsr(F.kleaf, "app", NULL);
    struct sign_params p = params(DAY, false, 0);
    struct sign_result out = {0};
    X509 *leaf = sign_ok(NULL, csr, &p, &out);
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(leaf);
    assert_non_null(ski);
    /* RFC 5280 method 1: SHA-1 of the subjectPublicKey bits */
    const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(leaf);
    unsigned char md[20];
    SHA1(ASN1_STRING_get0_data(bits), (size_t)ASN1_STRING_length(bits), md);
    assert_int_equal(ASN1_STRING_length(ski), 20);
    assert_memory_equal(ASN1_STRING_get0_data(ski), md, 20);
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(leaf);
    assert_non_null(aki);
    assert_int_equal(ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(F.sub)), 0);
    X509_free(leaf);
    sign_result_free(&out);
    freecsr(csr);
}

/* The leaf's PEM is byte for byte what PEM_write_bio_X509 writes, whatever the DER's length
 * modulo 48 (one 64-column line), and the CA's chain follows it unchanged. */
static void test_leaf_pem_as_openssl_writes_it(void **state)
{
    (void)state;
    bool seen_full_line = false;
    /* ECDSA signatures vary in length: go on until one DER filled its last line exactly. */
    for (int i = 0; i < 60 || (!seen_full_line && i < 600); i++) {
        char san[128];
        snprintf(san, sizeof(san), "DNS:%.*s.example", i % 60 + 1,
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        struct csr *csr = mkcsr(F.kleaf, NULL, san);
        struct sign_params p = params(DAY, false, 0);
        struct sign_result out = {0};
        X509 *leaf = sign_ok(NULL, csr, &p, &out);
        seen_full_line = seen_full_line || i2d_X509(leaf, NULL) % 48 == 0;
        BIO *b = BIO_new(BIO_s_mem());
        assert_int_equal(PEM_write_bio_X509(b, leaf), 1);
        char *want = NULL;
        long wn = BIO_get_mem_data(b, &want);
        assert_true(strlen(out.chain_pem) >= (size_t)wn);
        assert_memory_equal(out.chain_pem, want, (size_t)wn);
        /* F.ca is a sub-CA under a root: its own certificate follows the leaf. */
        X509 *next = parse_pem(out.chain_pem, 1);
        assert_non_null(next);
        assert_int_equal(X509_cmp(next, F.sub), 0);
        X509_free(next);
        BIO_free(b);
        X509_free(leaf);
        sign_result_free(&out);
        freecsr(csr);
    }
    assert_true(seen_full_line);
}

/* Extensions in a fixed order: SKI, AKI, basicConstraints, keyUsage, extKeyUsage, SAN. */
static void test_extension_order(void **state)
{
    (void)state;
    int want[] = {NID_subject_key_identifier, NID_authority_key_identifier,
                  NID_basic_constraints,      NID_key_usage,
                  NID_ext_key_usage,          NID_subject_alt_name};
    for (int is_ca = 0; is_ca < 2; is_ca++) {
        struct csr *csr = mkcsr(F.kleaf, "app", "DNS:app.example");
        struct sign_params p = params(DAY, is_ca, USAGE_DEFAULT | USAGE_BIT(USAGE_SERVER_AUTH));
        struct sign_result out = {0};
        X509 *leaf = sign_ok(NULL, csr, &p, &out);
        assert_int_equal(X509_get_ext_count(leaf), 6);
        for (int i = 0; i < 6; i++)
            assert_int_equal(OBJ_obj2nid(X509_EXTENSION_get_object(X509_get_ext(leaf, i))),
                             want[i]);
        assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(leaf, 1)), 0);
        assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(leaf, 2)), 1);
        BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(leaf, NID_basic_constraints, NULL, NULL);
        assert_non_null(bc);
        assert_int_equal(bc->ca != 0, is_ca);
        assert_null(bc->pathlen);
        BASIC_CONSTRAINTS_free(bc);
        X509_free(leaf);
        sign_result_free(&out);
        freecsr(csr);
    }
}

static void test_basic_constraints_and_default_key_usage(void **state)
{
    (void)state;
    struct csr *csr = mkcsr(F.kleaf, "app", NULL);
    struct sign_params p = params(DAY, false, 0);
    struct sign_result out = {0};
    X509 *leaf = sign_ok(NULL, csr, &p, &out);
    int crit = 0;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(leaf, NID_basic_constraints, &crit, NULL);
    assert_non_null(bc);
    assert_int_equal(crit, 1);
    assert_int_equal(bc->ca, 0);
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING *ku = X509_get_ext_d2i(leaf, NID_key_usage, &crit, NULL);
    assert_non_null(ku);
    assert_int_equal(crit, 1);
    ASN1_BIT_STRING_free(ku);
    assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
    assert_int_equal(X509_get_ext_by_NID(leaf, NID_ext_key_usage, -1), -1);
    X509_free(leaf);
    sign_result_free(&out);
    freecsr(csr);
}

static void test_usages_map_to_ku_and_eku(void **state)
{
    (void)state;
    struct csr *csr = mkcsr(F.kleaf, "app", NULL);
    usage_set u = USAGE_BIT(USAGE_DIGITAL_SIGNATURE) | USAGE_BIT(USAGE_CONTENT_COMMITMENT) |
                  USAGE_BIT(USAGE_DECIPHER_ONLY) | USAGE_BIT(USAGE_KEY_AGREEMENT) |
                  USAGE_BIT(USAGE_SERVER_AUTH) | USAGE_BIT(USAGE_CLIENT_AUTH);
    struct sign_params p = params(DAY, false, u);
    struct sign_result out = {0};
    X509 *leaf = sign_ok(NULL, csr, &p, &out);
    assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION |
                                                   KU_DECIPHER_ONLY | KU_KEY_AGREEMENT);
    int crit = -2;
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(leaf, NID_ext_key_usage, &crit, NULL);
    assert_non_null(eku);
    assert_int_equal(crit, 0);
    assert_int_equal(sk_ASN1_OBJECT_num(eku), 2);
    assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)), NID_server_auth);
    assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 1)), NID_client_auth);
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    X509_free(leaf);
    sign_result_free(&out);

    /* Only an EKU: no keyUsage extension at all (an empty one is invalid). */
    p = params(DAY, false, USAGE_BIT(USAGE_SERVER_AUTH));
    leaf = sign_ok(NULL, csr, &p, &out);
    assert_int_equal(X509_get_ext_by_NID(leaf, NID_key_usage, -1), -1);
    assert_true(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER);
    X509_free(leaf);
    sign_result_free(&out);
    freecsr(csr);
}

static void expect_san_copied(const char *cn, int want_critical)
{
    const char *san = "DNS:a.example,DNS:*.b.example,IP:10.0.0.1,IP:2001:db8::1,"
                      "URI:spiffe://cluster.local/ns/x/sa/y,email:ops@example.com";
    struct csr *csr = mkcsr(F.kleaf, cn, san);
    struct sign_params p = params(DAY, false, 0);
    struct sign_result out = {0};
    X509 *leaf = sign_ok(NULL, csr, &p, &out);
    int idx = X509_get_ext_by_NID(leaf, NID_subject_alt_name, -1);
    assert_true(idx >= 0);
    assert_int_equal(X509_get_ext_by_NID(leaf, NID_subject_alt_name, idx), -1);
    X509_EXTENSION *got = X509_get_ext(leaf, idx);
    assert_int_equal(X509_EXTENSION_get_critical(got), want_critical);
    STACK_OF(X509_EXTENSION) *req_exts = X509_REQ_get_extensions(csr->req);
    X509_EXTENSION *want = sk_X509_EXTENSION_value(req_exts, 0);
    const ASN1_OCTET_STRING *g = X509_EXTENSION_get_data(got);
    const ASN1_OCTET_STRING *w = X509_EXTENSION_get_data(want);
    assert_int_equal(ASN1_STRING_length(g), ASN1_STRING_length(w));
    assert_memory_equal(ASN1_STRING_get0_data(g), ASN1_STRING_get0_data(w),
                        (size_t)ASN1_STRING_length(w));
    sk_X509_EXTENSION_pop_free(req_exts, X509_EXTENSION_free);
    assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(leaf)), cn ? 1 : 0);
    X509_free(leaf);
    sign_result_free(&out);
    freecsr(csr);
}

static void test_san_copied_exactly(void **state)
{
    (void)state;
    expect_san_copied("app", 0);
}

static void test_san_critical_when_subject_empty(void **state)
{
    (void)state;
    expect_san_copied(NULL, 1);
}

static void test_validity_clamped_to_ca(void **state)
{
    (void)state;
    EVP_PKEY *k = key_ec("P-256");
    X509 *shortca = mksub("Short-lived CA", k, F.root, F.kroot, 2 * DAY);
    char *crt = pem_cert(shortca), *key = pem_key(k);
    struct err err = {0};
    struct localca *ca = localca_load(crt, strlen(crt), key, strlen(key), NULL, 0, NOW, &err);
    assert_non_null(ca);
    assert_int_equal(localca_not_after(ca), NOW + 2 * DAY);
    struct csr *csr = mkcsr(F.kleaf, "app", NULL);
    struct sign_params p = params(90 * DAY, false, 0);
    struct sign_result out = {0};
    X509 *leaf = sign_ok(ca, csr, &p, &out);
    assert_int_equal(asn1_to_time(X509_get0_notAfter(leaf)), NOW + 2 * DAY);
    X509_free(leaf);
    sign_result_free(&out);
    /* an absurd duration does not overflow */
    p = params(INT64_MAX, false, 0);
    leaf = sign_ok(ca, csr, &p, &out);
    assert_int_equal(asn1_to_time(X509_get0_notAfter(leaf)), NOW + 2 * DAY);
    X509_free(leaf);
    sign_result_free(&out);
    /* shorter than the CA: as asked */
    p = params(3600, false, 0);
    leaf = sign_ok(ca, csr, &p, &out);
    assert_int_equal(asn1_to_time(X509_get0_notAfter(leaf)), NOW + 3600);
    X509_free(leaf);
    sign_result_free(&out);
    freecsr(csr);
    localca_free(ca);
    free(crt);
    free(key);
    X509_free(shortca);
    EVP_PKEY_free(k);
}

/* spec.validity.min holds after approval: a lifetime cut to the CA's notAfter below it is
 * refused, naming the minimum and the CA's notAfter. */
static void test_validity_min_not_undercut(void **state)
{
    (void)state;
    EVP_PKEY *k = key_ec("P-256");
    X509 *shortca = mksub("Short-lived CA", k, F.root, F.kroot, 2 * DAY);
    char *crt = pem_cert(shortca), *key = pem_key(k);
    struct err err = {0};
    struct localca *ca = localca_load(crt, strlen(crt), key, strlen(key), NULL, 0, NOW, &err);
    assert_non_null(ca);
    struct csr *csr = mkcsr(F.kleaf, "app", NULL);
    struct sign_params p = params(90 * DAY, false, 0);
    p.min_duration_s = 7 * DAY;
    struct sign_result out = {0};
    assert_int_equal(localca_sign(ca, csr, &p, &out, &err), -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_null(out.chain_pem);
    char when[TIMEFMT_LEN], want[256];
    timefmt_rfc3339(NOW + 2 * DAY, when);
    snprintf(want, sizeof(want),
             "the certificate would live only 48h0m0s, less than the policy's "
             "spec.validity.min 168h0m0s: the CA (CN=Short-lived CA) expires at %s",
             when);
    if (strstr(err.msg, want) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);
    /* A minimum the CA can still give: issued, cut to the CA. */
    p.min_duration_s = 2 * DAY;
    X509 *leaf = sign_ok(ca, csr, &p, &out);
    assert_int_equal(asn1_to_time(X509_get0_notAfter(leaf)), NOW + 2 * DAY);
    X509_free(leaf);
    sign_result_free(&out);
    /* Not cut: the minimum is the policy's business, the lifetime as approved. */
    p = params(3600, false, 0);
    p.min_duration_s = 3600;
    leaf = sign_ok(ca, csr, &p, &out);
    X509_free(leaf);
    sign_result_free(&out);
    freecsr(csr);
    localca_free(ca);
    free(crt);
    free(key);
    X509_free(shortca);
    EVP_PKEY_free(k);
}

/* RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 on. */
static void test_validity_encoding(void **state)
{
    (void)state;
    EVP_PKEY *k = key_ec("P-256");
    time_t y2049 = 2524607999; /* 2049-12-31T23:59:59Z */
    struct spec s = {"Long CA",
                     k,
                     F.root,
                     F.kroot,
                     "critical,CA:TRUE",
                     "critical,keyCertSign",
                     -DAY,
                     (long)(y2049 - NOW) + 2 * 365 * DAY};
    X509 *x = mkcert(&s);
    char *crt = pem_cert(x), *key = pem_key(k);
    struct err err = {0};
    struct localca *ca = localca_load(crt, strlen(crt), key, strlen(key), NULL, 0, NOW, &err);
    if (ca == NULL)
        fail_msg("localca_load: %s", err.msg);
    struct csr *csr = mkcsr(F.kleaf, "app", "DNS:app");
    long long until_2049 = (long long)(y2049 - NOW);
    struct sign_params p = params(until_2049, false, 0);
    struct sign_result out = {0};
    X509 *leaf = sign_ok(ca, csr, &p, &out);
    assert_int_equal(ASN1_STRING_type(X509_get0_notBefore(leaf)), V_ASN1_UTCTIME);
    assert_int_equal(ASN1_STRING_type(X509_get0_notAfter(leaf)), V_ASN1_UTCTIME);
    X509_free(leaf);
    sign_result_free(&out);
    p.duration_s = until_2049 + 1; /* 2050-01-01T00:00:00Z */
    leaf = sign_ok(ca, csr, &p, &out);
    assert_int_equal(ASN1_STRING_type(X509_get0_notAfter(leaf)), V_ASN1_GENERALIZEDTIME);
    assert_int_equal(ASN1_STRING_length(X509_get0_notAfter(leaf)), 15); /* YYYYMMDDHHMMSSZ */
    X509_free(leaf);
    sign_result_free(&out);
    freecsr(csr);
    localca_free(ca);
    free(crt);
    free(key);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void expect_same_public_key(EVP_PKEY *k)
{
    struct csr *csr = mkcsr(k, "key test", NULL);
    struct sign_params p = params(DAY, false, 0);
    struct sign_result out = {0};
    X509 *leaf = sign_ok(NULL, csr, &p, &out);
    unsigned char *a = NULL, *b = NULL;
    int la = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &a);
    int lb = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(csr->req), &b);
    assert_true(la > 0);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, (size_t)la);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(leaf), k), 1);
    assert_int_equal(verify_chain(out.chain_pem, F.root, NOW + 1), 1);
    OPENSSL_free(a);
    OPENSSL_free(b);
    X509_free(leaf);
    sign_result_free(&out);
    freecsr(csr);
}

static void test_public_key_equals_csr(void **state)
{
    (void)state;
    EVP_PKEY *keys[] = {key_ec("P-256"), key_ec("P-384"), key_ec("P-521"), key_rsa(),
                        key_ed25519()};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        expect_same_public_key(keys[i]);
        EVP_PKEY_free(keys[i]);
    }
}

static void test_is_ca_leaf(void **state)
{
    (void)state;
    struct csr *csr = mkcsr(F.kleaf, "nested CA", NULL);
    struct sign_params p = params(DAY, true, USAGE_BIT(USAGE_DIGITAL_SIGNATURE));
    struct sign_result out = {0};
    X509 *leaf = sign_ok(NULL, csr, &p, &out);
    int crit = 0;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(leaf, NID_basic_constraints, &crit, NULL);
    assert_non_null(bc);
    assert_int_equal(crit, 1);
    assert_int_not_equal(bc->ca, 0);
    assert_null(bc->pathlen);
    BASIC_CONSTRAINTS_free(bc);
    assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN);
    assert_int_equal(X509_check_ca(leaf), 1);
    X509_free(leaf);
    sign_result_free(&out);
    freecsr(csr);
}

static void test_other_csr_extensions_not_copied(void **state)
{
    (void)state;
    struct csr csr = {0};
    csr.req = mkreq(F.kleaf, "app", "DNS:app", NID_basic_constraints, "critical,CA:TRUE");
    csr.key_type = CSR_KEY_EC;
    struct sign_params p = params(DAY, false, 0);
    struct sign_result out = {0};
    X509 *leaf = sign_ok(NULL, &csr, &p, &out);
    assert_int_equal(X509_check_ca(leaf), 0);
    /* BC, KU, SKI, AKI, SAN and nothing else */
    assert_int_equal(X509_get_ext_count(leaf), 5);
    X509_free(leaf);
    sign_result_free(&out);
    X509_REQ_free(csr.req);
}

/* r through csr_parse, as the pipeline hands CSRs to localca_sign; r is freed. */
static struct csr *parsed_csr(X509_REQ *r)
{
    unsigned char *der = NULL;
    int n = i2d_X509_REQ(r, &der);
    assert_true(n > 0);
    X509_REQ_free(r);
    struct err err = {0};
    struct csr *c = csr_parse(der, (size_t)n, &err);
    OPENSSL_free(der);
    if (c == NULL)
        fail_msg("csr_parse: %s", err.msg);
    return c;
}

/* The DER of the extension nid in x (NULL when absent) and its criticality. */
static const ASN1_OCTET_STRING *ext_data(X509 *x, int nid, int *critical)
{
    int i = X509_get_ext_by_NID(x, nid, -1);
    if (i < 0)
        return NULL;
    X509_EXTENSION *e = X509_get_ext(x, i);
    *critical = X509_EXTENSION_get_critical(e);
    return X509_EXTENSION_get_data(e);
}

/* A CA request's nameConstraints reach the certificate as requested, bytes and criticality
 * (cert-manager writes spec.nameConstraints there, not critical by default). */
static void test_name_constraints_copied(void **state)
{
    (void)state;
    const char *values[] = {"permitted;DNS:.team.example,excluded;IP:10.0.0.0/255.0.0.0",
                            "critical,permitted;URI:.team.example"};
    for (int i = 0; i < 2; i++) {
        X509_REQ *r = mkreq(F.kleaf, "Team CA", NULL, NID_name_constraints, values[i]);
        int want_crit = 0;
        const ASN1_OCTET_STRING *want = NULL;
        STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(r);
        X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, 0);
        want_crit = X509_EXTENSION_get_critical(e);
        want = ASN1_OCTET_STRING_dup(X509_EXTENSION_get_data(e));
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        struct csr *csr = parsed_csr(r);
        struct sign_params p = params(DAY, true, 0);
        struct sign_result out = {0};
        X509 *leaf = sign_ok(NULL, csr, &p, &out);
        int crit = -1;
        const ASN1_OCTET_STRING *got = ext_data(leaf, NID_name_constraints, &crit);
        if (got == NULL)
            fail_msg("%s: the certificate has no nameConstraints", values[i]);
        assert_int_equal(ASN1_OCTET_STRING_cmp(got, want), 0);
        assert_int_equal(crit, want_crit);
        assert_int_equal(crit, i == 1);
        assert_int_equal(verify_chain(out.chain_pem, F.root, NOW), 1);
        ASN1_OCTET_STRING_free((ASN1_OCTET_STRING *)want);
        X509_free(leaf);
        sign_result_free(&out);
        csr_free(csr);
    }
}

/* A CA whose chain carries nameConstraints (here its root's) signs names inside them and
 * refuses the others, naming the CA: no client would accept such a certificate. */
static void test_chain_name_constraints(void **state)
{
    (void)state;
    EVP_PKEY *kr = key_ec("P-256"), *ks = key_ec("P-256");
    X509 *root = mkroot("NC Root", kr);
    add_ext(root, root, NID_name_constraints, "critical,permitted;DNS:example.com");
    assert_true(X509_sign(root, kr, EVP_sha256()) > 0);
    X509 *sub = mksub("NC Sub", ks, root, kr, 365 * DAY);
    char *crt = pem_cert(sub), *key = pem_key(ks), *anchor = pem_cert(root);
    struct err err = {0};
    struct localca *ca =
        localca_load(crt, strlen(crt), key, strlen(key), anchor, strlen(anchor), NOW, &err);
    if (ca == NULL)
        fail_msg("localca_load: %s", err.msg);
    struct sign_params p = params(DAY, false, 0);
    struct sign_result out = {0};
    struct csr *in = mkcsr(F.kleaf, "www.example.com", "DNS:www.example.com");
    X509 *leaf = sign_ok(ca, in, &p, &out);
    assert_int_equal(verify_chain(out.chain_pem, root, NOW), 1);
    X509_free(leaf);
    sign_result_free(&out);
    const char *outside[][2] = {{"www.example.org", "DNS:www.example.org"},
                                {"web", "DNS:api.example.net"},
                                {"www.example.org", NULL}}; /* a DNS-like CN without SAN */
    for (size_t i = 0; i < 3; i++) {
        struct csr *c = mkcsr(F.kleaf, outside[i][0], outside[i][1]);
        err_clear(&err);
        assert_int_equal(localca_sign(ca, c, &p, &out, &err), -1);
        assert_null(out.chain_pem);
        assert_int_equal(err.kind, ERR_PERMANENT);
        if (strstr(err.msg, "outside the name constraints of /CN=NC Root") == NULL)
            fail_msg("case %zu: \"%s\"", i, err.msg);
        freecsr(c);
    }
    freecsr(in);
    localca_free(ca);
    free(crt);
    free(key);
    free(anchor);
    X509_free(sub);
    X509_free(root);
    EVP_PKEY_free(kr);
    EVP_PKEY_free(ks);
}

/* A CA request's pathLenConstraint is kept; one the signing CA's own pathlen cannot give is
 * refused rather than issued as a CA that claims more than its chain allows. */
static void test_path_len_copied_and_bounded(void **state)
{
    (void)state;
    struct csr *csr = parsed_csr(
        mkreq(F.kleaf, "Team CA", NULL, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
    struct sign_params p = params(DAY, true, 0);
    struct sign_result out = {0};
    X509 *leaf = sign_ok(NULL, csr, &p, &out);
    assert_int_equal(X509_get_pathlen(leaf), 0);
    X509_free(leaf);
    sign_result_free(&out);

    EVP_PKEY *k = key_ec("P-256");
    struct spec s = {
        "Pathlen1", k,       F.root, F.kroot, "critical,CA:TRUE,pathlen:1", "critical,keyCertSign",
        -DAY,       30 * DAY};
    X509 *x = mkcert(&s);
    char *crt = pem_cert(x), *key = pem_key(k);
    struct err err = {0};
    struct localca *ca = localca_load(crt, strlen(crt), key, strlen(key), NULL, 0, NOW, &err);
    assert_non_null(ca);
    leaf = sign_ok(ca, csr, &p, &out); /* pathlen 0 under pathlen 1: fine */
    assert_int_equal(X509_get_pathlen(leaf), 0);
    X509_free(leaf);
    sign_result_free(&out);
    csr_free(csr);
    csr = parsed_csr(
        mkreq(F.kleaf, "Team CA", NULL, NID_basic_constraints, "critical,CA:TRUE,pathlen:1"));
    assert_int_equal(localca_sign(ca, csr, &p, &out, &err), -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    if (strstr(err.msg, "pathLen 1") == NULL || strstr(err.msg, "allows 1 CA(s) below") == NULL)
        fail_msg("unexpected message: %s", err.msg);
    csr_free(csr);
    localca_free(ca);
    free(crt);
    free(key);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* A CA request that asks for no pathLen gets the policy's (sign_params.path_len); one the signing
 * CA's own pathlen cannot give is refused, naming spec.ca.maxPathLen; the CSR's own pathLen wins
 * over the policy's (the policy has already checked it). */
static void test_policy_path_len_added(void **state)
{
    (void)state;
    struct csr *csr =
        parsed_csr(mkreq(F.kleaf, "Team CA", NULL, NID_basic_constraints, "critical,CA:TRUE"));
    struct sign_params p = params(DAY, true, 0);
    struct sign_result out = {0};
    X509 *leaf = sign_ok(NULL, csr, &p, &out);
    assert_int_equal(X509_get_pathlen(leaf), -1); /* no policy value: none */
    X509_free(leaf);
    sign_result_free(&out);
    p.has_path_len = true;
    p.path_len = 2;
    leaf = sign_ok(NULL, csr, &p, &out);
    assert_int_equal(X509_get_pathlen(leaf), 2);
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(leaf, NID_basic_constraints, NULL, NULL);
    assert_non_null(bc);
    assert_true(bc->ca);
    BASIC_CONSTRAINTS_free(bc);
    assert_int_equal(X509_get_extension_flags(leaf) & EXFLAG_CRITICAL, 0); /* no unknown ones */
    X509_free(leaf);
    sign_result_free(&out);

    /* A leaf never gets one. */
    struct csr *lcsr = parsed_csr(mkreq(F.kleaf, "leaf", "DNS:a.example.com", NID_undef, NULL));
    struct sign_params lp = params(DAY, false, 0);
    lp.has_path_len = true;
    lp.path_len = 2;
    leaf = sign_ok(NULL, lcsr, &lp, &out);
    assert_int_equal(X509_get_pathlen(leaf), -1);
    X509_free(leaf);
    sign_result_free(&out);
    csr_free(lcsr);

    /* Under a CA with pathlen:1, the policy's 1 cannot be given; 0 can. */
    EVP_PKEY *k = key_ec("P-256");
    struct spec s = {
        "Pathlen1", k,       F.root, F.kroot, "critical,CA:TRUE,pathlen:1", "critical,keyCertSign",
        -DAY,       30 * DAY};
    X509 *x = mkcert(&s);
    char *crt = pem_cert(x), *key = pem_key(k);
    struct err err = {0};
    struct localca *ca = localca_load(crt, strlen(crt), key, strlen(key), NULL, 0, NOW, &err);
    assert_non_null(ca);
    p.path_len = 1;
    assert_int_equal(localca_sign(ca, csr, &p, &out, &err), -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    if (strstr(err.msg, "spec.ca.maxPathLen") == NULL || strstr(err.msg, "pathLen 1") == NULL)
        fail_msg("unexpected message: %s", err.msg);
    p.path_len = 0;
    leaf = sign_ok(ca, csr, &p, &out);
    assert_int_equal(X509_get_pathlen(leaf), 0);
    X509_free(leaf);
    sign_result_free(&out);
    csr_free(csr);

    /* The CSR's own pathLen is what is issued. */
    csr = parsed_csr(
        mkreq(F.kleaf, "Team CA", NULL, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
    p.path_len = 5;
    leaf = sign_ok(ca, csr, &p, &out);
    assert_int_equal(X509_get_pathlen(leaf), 0);
    X509_free(leaf);
    sign_result_free(&out);
    csr_free(csr);
    localca_free(ca);
    free(crt);
    free(key);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* SPIRE's UpstreamAuthority asks for its CA as C=US, O=SPIFFE, serialNumber=<decimal>: the
 * subject, serialNumber included, is copied as requested, byte for byte. */
static void test_subject_serial_number_kept(void **state)
{
    (void)state;
    static const char serial[] = "283745098234750982347509823745";
    struct csr csr = {0};
    csr.req = mkreq(F.kleaf, NULL, "URI:spiffe://example.org", NID_undef, NULL);
    X509_NAME *name = X509_REQ_get_subject_name(csr.req);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "C", MBSTRING_UTF8,
                                                (const unsigned char *)"US", -1, -1, 0),
                     1);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                                (const unsigned char *)"SPIFFE", -1, -1, 0),
                     1);
    assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_serialNumber, MBSTRING_UTF8,
                                                (const unsigned char *)serial, -1, -1, 0),
                     1);
    assert_true(X509_REQ_sign(csr.req, F.kleaf, md_for(F.kleaf)) > 0);
    csr.key_type = CSR_KEY_EC;
    snprintf(csr.key_alg, sizeof(csr.key_alg), "EC_P256");
    struct sign_params p = params(DAY, true, 0);
    struct sign_result out = {0};
    X509 *leaf = sign_ok(NULL, &csr, &p, &out);

    const X509_NAME *got = X509_get_subject_name(leaf);
    assert_int_equal(X509_NAME_cmp(got, X509_REQ_get_subject_name(csr.req)), 0);
    unsigned char *want_der = NULL, *got_der = NULL;
    int want_len = i2d_X509_NAME(X509_REQ_get_subject_name(csr.req), &want_der);
    int got_len = i2d_X509_NAME(got, &got_der);
    assert_true(want_len > 0);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got_der, want_der, (size_t)want_len);
    OPENSSL_free(want_der);
    OPENSSL_free(got_der);
    assert_int_equal(X509_NAME_entry_count(got), 3);
    int idx = X509_NAME_get_index_by_NID(got, NID_serialNumber, -1);
    assert_int_equal(idx, 2);
    const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(got, idx));
    assert_int_equal(ASN1_STRING_length(v), (int)strlen(serial));
    assert_memory_equal(ASN1_STRING_get0_data(v), serial, strlen(serial));
    /* The attribute is not the certificate's serial, which stays Ember's random one. */
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
    char *dec = BN_bn2dec(bn);
    assert_string_not_equal(dec, serial);
    OPENSSL_free(dec);
    BN_free(bn);
    assert_int_equal(X509_check_ca(leaf), 1);
    assert_int_equal(verify_chain(out.chain_pem, F.root, NOW), 1);
    X509_free(leaf);
    sign_result_free(&out);
    X509_REQ_free(csr.req);
}

/* ---- issue 14 section 2: literal subjects and otherName SANs ---- */

/* Adds one attribute as the given ASN.1 string type (not re-encoded as UTF-8); set -1 joins the
 * previous RDN (a multi-valued RDN). */
static void add_attr(X509_NAME *n, const char *field, int type, const char *v, int set)
{
    assert_int_equal(X509_NAME_add_entry_by_txt(n, field, type, (const unsigned char *)v,
                                                (int)strlen(v), -1, set),
                     1);
}

/* cert-manager's literalSubject arrives as the CSR's subject DER: the certificate's subject is
 * those bytes, whatever their order, string types and multi-valued RDNs. */
static void test_literal_subject_byte_for_byte(void **state)
{
    (void)state;
    X509_REQ *r = mkreq(F.kleaf, NULL,
                        "DNS:app.example,otherName:1.3.6.1.4.1.311.20.2.3;"
                        "UTF8:bob@example.com",
                        NID_undef, NULL);
    X509_NAME *name = X509_REQ_get_subject_name(r);
    add_attr(name, "CN", V_ASN1_UTF8STRING, "app", 0); /* CN first: odd order */
    add_attr(name, "O", V_ASN1_UTF8STRING, "a", 0);
    add_attr(name, "OU", V_ASN1_PRINTABLESTRING, "b", -1); /* O=a+OU=b */
    add_attr(name, "OU", V_ASN1_UTF8STRING, "b2", 0);      /* repeated */
    add_attr(name, "C", V_ASN1_PRINTABLESTRING, "DE", 0);
    add_attr(name, "street", V_ASN1_UTF8STRING, "Main St 1", 0);
    add_attr(name, "postalCode", V_ASN1_PRINTABLESTRING, "10997", 0);
    add_attr(name, "title", V_ASN1_UTF8STRING, "boss", 0);
    add_attr(name, "C", V_ASN1_PRINTABLESTRING, "NL", 0);
    assert_true(X509_REQ_sign(r, F.kleaf, md_for(F.kleaf)) > 0);
    unsigned char *want = NULL;
    int want_len = i2d_X509_NAME(name, &want);
    assert_true(want_len > 0);
    struct csr *c = parsed_csr(r);
    struct sign_params p = params(DAY, false, 0);
    struct sign_result out = {0};
    X509 *leaf = sign_ok(NULL, c, &p, &out);
    /* leaf was read from the PEM Ember wrote: i2d gives the bytes of the certificate. */
    unsigned char *got = NULL;
    int got_len = i2d_X509_NAME(X509_get_subject_name(leaf), &got);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, (size_t)want_len);
    const X509_NAME *gn = X509_get_subject_name(leaf);
    assert_int_equal(X509_NAME_entry_count(gn), 9);
    /* O and OU share an RDN; the string types are the CSR's. */
    assert_int_equal(X509_NAME_ENTRY_set(X509_NAME_get_entry(gn, 1)),
                     X509_NAME_ENTRY_set(X509_NAME_get_entry(gn, 2)));
    assert_int_not_equal(X509_NAME_ENTRY_set(X509_NAME_get_entry(gn, 2)),
                         X509_NAME_ENTRY_set(X509_NAME_get_entry(gn, 3)));
    assert_int_equal(ASN1_STRING_type(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(gn, 2))),
                     V_ASN1_PRINTABLESTRING);
    assert_int_equal(ASN1_STRING_type(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(gn, 3))),
                     V_ASN1_UTF8STRING);
    /* The otherName SAN is in the certificate as requested. */
    int crit = -1;
    const ASN1_OCTET_STRING *san = ext_data(leaf, NID_subject_alt_name, &crit);
    assert_non_null(san);
    GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    assert_int_equal(sk_GENERAL_NAME_num(gens), 2);
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, 1);
    assert_int_equal(g->type, GEN_OTHERNAME);
    char oid[64];
    OBJ_obj2txt(oid, sizeof(oid), g->d.otherName->type_id, 1);
    assert_string_equal(oid, "1.3.6.1.4.1.311.20.2.3");
    assert_int_equal(g->d.otherName->value->type, V_ASN1_UTF8STRING);
    const ASN1_STRING *u = g->d.otherName->value->value.utf8string;
    assert_int_equal(ASN1_STRING_length(u), 15);
    assert_memory_equal(ASN1_STRING_get0_data(u), "bob@example.com", 15);
    GENERAL_NAMES_free(gens);
    assert_int_equal(verify_chain(out.chain_pem, F.root, NOW), 1);
    OPENSSL_free(want);
    OPENSSL_free(got);
    X509_free(leaf);
    sign_result_free(&out);
    csr_free(c);
}

/* Each supported CA key type signs with its digest and the leaf verifies. */
static void test_ca_key_types(void **state)
{
    (void)state;
    struct {
        EVP_PKEY *key;
        int sig_nid;
    } cases[] = {
        {key_rsa(), NID_sha256WithRSAEncryption},
        {key_ec("P-384"), NID_ecdsa_with_SHA384},
        {key_ec("P-521"), NID_ecdsa_with_SHA512},
        {key_ed25519(), NID_ED25519},
    };
    struct csr *csr = mkcsr(F.kleaf, "app", "DNS:app");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509 *cacert = mkroot("Typed Root", cases[i].key);
        char *crt = pem_cert(cacert), *key = pem_key(cases[i].key);
        struct err err = {0};
        struct localca *ca = localca_load(crt, strlen(crt), key, strlen(key), NULL, 0, NOW, &err);
        if (ca == NULL)
            fail_msg("localca_load case %zu: %s", i, err.msg);
        struct sign_params p = params(DAY, false, 0);
        struct sign_result out = {0};
        X509 *leaf = sign_ok(ca, csr, &p, &out);
        assert_int_equal(X509_get_signature_nid(leaf), cases[i].sig_nid);
        assert_int_equal(verify_chain(out.chain_pem, cacert, NOW + 1), 1);
        /* A root CA: the chain is the leaf alone and the root is the CA. */
        assert_int_equal(count_certs(out.chain_pem), 1);
        assert_string_equal(out.ca_pem, crt);
        X509_free(leaf);
        sign_result_free(&out);
        localca_free(ca);
        free(crt);
        free(key);
        X509_free(cacert);
        EVP_PKEY_free(cases[i].key);
    }
    freecsr(csr);
}

static void expect_load_error(const char *crt, const char *key, const char *cacrt, time_t at,
                              enum err_kind kind, const char *substr)
{
    struct err err = {0};
    struct localca *ca = localca_load(crt, crt ? strlen(crt) : 0, key, key ? strlen(key) : 0, cacrt,
                                      cacrt ? strlen(cacrt) : 0, at, &err);
    assert_null(ca);
    if (err.kind != kind)
        fail_msg("kind %s, want %s (%s)", err_kind_name(err.kind), err_kind_name(kind), err.msg);
    if (strstr(err.msg, substr) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, substr);
}

static void test_load_rejects_mismatched_key(void **state)
{
    (void)state;
    char *other = pem_key(F.kleaf);
    expect_load_error(F.sub_pem, other, NULL, NOW, ERR_INVALID,
                      "tls.key does not match the certificate in tls.crt");
    free(other);
}

static void test_load_rejects_non_ca(void **state)
{
    (void)state;
    struct spec s = {"leafy", F.kleaf, F.root, F.kroot, "critical,CA:FALSE", NULL, -DAY, DAY};
    X509 *x = mkcert(&s);
    char *crt = pem_cert(x), *key = pem_key(F.kleaf);
    expect_load_error(crt, key, NULL, NOW, ERR_INVALID,
                      "tls.crt is not a CA certificate (basicConstraints CA:FALSE)");
    X509_free(x);
    free(crt);
    struct spec s2 = {"no bc", F.kleaf, F.root, F.kroot, NULL, NULL, -DAY, DAY};
    x = mkcert(&s2);
    crt = pem_cert(x);
    expect_load_error(crt, key, NULL, NOW, ERR_INVALID, "not a CA certificate");
    X509_free(x);
    free(crt);
    struct spec s3 = {
        "no certsign", F.kleaf, F.root, F.kroot, "critical,CA:TRUE", "critical,digitalSignature",
        -DAY,          DAY};
    x = mkcert(&s3);
    crt = pem_cert(x);
    expect_load_error(crt, key, NULL, NOW, ERR_INVALID, "keyCertSign");
    X509_free(x);
    free(crt);
    free(key);
}

/* RFC 5280 4.1.2.4: a certificate's issuer MUST be non-empty, and it is the CA's subject. */
static void test_load_rejects_empty_subject(void **state)
{
    (void)state;
    struct spec s = {
        "unnamed", F.kleaf, F.root, F.kroot, "critical,CA:TRUE", "critical,keyCertSign", -DAY, DAY};
    X509 *x = mkcert(&s);
    X509_NAME *empty = X509_NAME_new();
    assert_int_equal(X509_set_subject_name(x, empty), 1);
    X509_NAME_free(empty);
    assert_true(X509_sign(x, F.kroot, EVP_sha256()) > 0);
    char *crt = pem_cert(x), *key = pem_key(F.kleaf);
    expect_load_error(crt, key, NULL, NOW, ERR_INVALID,
                      "tls.crt: the CA certificate's subject is empty");
    X509_free(x);
    free(crt);
    free(key);
}

static void test_load_rejects_expired_and_not_yet_valid(void **state)
{
    (void)state;
    expect_load_error(F.sub_pem, F.sub_key, F.root_pem, NOW + 400 * DAY, ERR_ISSUER_NOT_READY,
                      "expired at ");
    char when[64];
    struct tm tm;
    time_t na = NOW + 365 * DAY;
    gmtime_r(&na, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    expect_load_error(F.sub_pem, F.sub_key, F.root_pem, NOW + 400 * DAY, ERR_ISSUER_NOT_READY,
                      when);
    expect_load_error(F.sub_pem, F.sub_key, F.root_pem, NOW - 2 * DAY, ERR_ISSUER_NOT_READY,
                      "not valid before");
    struct err err = {0};
    assert_int_equal(localca_check(F.ca, NOW + 400 * DAY, &err), -1);
    assert_int_equal(err.kind, ERR_ISSUER_NOT_READY);
    assert_int_equal(localca_check(F.ca, NOW, &err), 0);
}

static void test_load_rejects_garbage(void **state)
{
    (void)state;
    expect_load_error("garbage", F.sub_key, NULL, NOW, ERR_INVALID, "tls.crt");
    expect_load_error(NULL, F.sub_key, NULL, NOW, ERR_INVALID, "tls.crt is empty");
    expect_load_error(F.sub_pem, "garbage", NULL, NOW, ERR_INVALID, "tls.key: no PEM private key");
    expect_load_error(F.sub_pem, NULL, NULL, NOW, ERR_INVALID, "tls.key is empty");
    expect_load_error(F.sub_pem, F.sub_key, "garbage", NOW, ERR_INVALID, "ca.crt");
    char *key_in_crt = cat2(F.sub_pem, F.sub_key);
    expect_load_error(key_in_crt, F.sub_key, NULL, NOW, ERR_INVALID, "PRIVATE KEY");
    free(key_in_crt);
}

static void test_load_rejects_encrypted_key(void **state)
{
    (void)state;
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(
        PEM_write_bio_PKCS8PrivateKey(b, F.ksub, EVP_aes_128_cbc(), "pw", 2, NULL, NULL), 1);
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *enc = xstrndup(p, (size_t)n);
    BIO_free(b);
    expect_load_error(F.sub_pem, enc, NULL, NOW, ERR_INVALID, "tls.key is encrypted");
    free(enc);
}

static void test_load_rejects_wrong_ca_crt(void **state)
{
    (void)state;
    EVP_PKEY *k = key_ec("P-256");
    X509 *other = mkroot("Other Root", k);
    char *other_pem = pem_cert(other);
    expect_load_error(F.sub_pem, F.sub_key, other_pem, NOW, ERR_INVALID, "ca.crt: none");
    /* a bundle with the right root among others is fine */
    char *bundle = cat2(other_pem, F.root_pem);
    struct err err = {0};
    struct localca *ca = localca_load(F.sub_pem, strlen(F.sub_pem), F.sub_key, strlen(F.sub_key),
                                      bundle, strlen(bundle), NOW, &err);
    assert_non_null(ca);
    struct csr *csr = mkcsr(F.kleaf, "app", NULL);
    struct sign_params p = params(DAY, false, 0);
    struct sign_result out = {0};
    X509 *leaf = sign_ok(ca, csr, &p, &out);
    assert_string_equal(out.ca_pem, F.root_pem);
    X509_free(leaf);
    sign_result_free(&out);
    freecsr(csr);
    localca_free(ca);
    free(bundle);
    free(other_pem);
    X509_free(other);
    EVP_PKEY_free(k);
}

/* tls.crt must start with the signing CA: a certificate it issued cannot come after it. */
static void test_load_rejects_ca_not_first(void **state)
{
    (void)state;
    EVP_PKEY *k = key_ec("P-256");
    X509 *below = mksub("Below", k, F.sub, F.ksub, 30 * DAY);
    char *below_pem = pem_cert(below);
    char *crt = cat2(F.sub_pem, below_pem);
    expect_load_error(crt, F.sub_key, F.root_pem, NOW, ERR_INVALID, "first certificate");
    free(crt);
    free(below_pem);
    X509_free(below);
    EVP_PKEY_free(k);
}

static void test_three_level_hierarchy(void **state)
{
    (void)state;
    EVP_PKEY *kint = key_ec("P-384"), *ksub = key_ec("P-256");
    X509 *inter = mksub("Intermediate", kint, F.root, F.kroot, 1000 * DAY);
    X509 *sub = mksub("Sub-CA", ksub, inter, kint, 300 * DAY);
    char *inter_pem = pem_cert(inter), *sub_pem = pem_cert(sub), *key = pem_key(ksub);
    char *crt = cat2(sub_pem, inter_pem);
    struct err err = {0};
    struct localca *ca =
        localca_load(crt, strlen(crt), key, strlen(key), F.root_pem, strlen(F.root_pem), NOW, &err);
    if (ca == NULL)
        fail_msg("localca_load: %s", err.msg);
    struct csr *csr = mkcsr(F.kleaf, "deep", "DNS:deep.example");
    struct sign_params p = params(DAY, false, 0);
    struct sign_result out = {0};
    X509 *leaf = sign_ok(ca, csr, &p, &out);
    char *leaf_pem = pem_cert(leaf);
    char *want = xasprintf("%s%s%s", leaf_pem, sub_pem, inter_pem);
    assert_string_equal(out.chain_pem, want);
    assert_string_equal(out.ca_pem, F.root_pem);
    assert_int_equal(verify_chain(out.chain_pem, F.root, NOW + 1), 1);
    X509_free(leaf);
    sign_result_free(&out);
    localca_free(ca);

    /* Without ca.crt the topmost certificate (the intermediate) is the CA. */
    ca = localca_load(crt, strlen(crt), key, strlen(key), NULL, 0, NOW, &err);
    assert_non_null(ca);
    leaf = sign_ok(ca, csr, &p, &out);
    assert_int_equal(count_certs(out.chain_pem), 3);
    assert_string_equal(out.ca_pem, inter_pem);
    X509_free(leaf);
    sign_result_free(&out);
    localca_free(ca);

    /* Root also in tls.crt, in any order: the same normalised result. */
    char *crt2 = xasprintf("%s%s%s", sub_pem, F.root_pem, inter_pem);
    ca = localca_load(crt2, strlen(crt2), key, strlen(key), NULL, 0, NOW, &err);
    assert_non_null(ca);
    leaf = sign_ok(ca, csr, &p, &out);
    assert_int_equal(count_certs(out.chain_pem), 3);
    assert_string_equal(out.ca_pem, F.root_pem);
    X509_free(leaf);
    sign_result_free(&out);
    localca_free(ca);

    free(crt2);
    free(leaf_pem);
    free(want);
    freecsr(csr);
    free(crt);
    free(inter_pem);
    free(sub_pem);
    free(key);
    X509_free(inter);
    X509_free(sub);
    EVP_PKEY_free(kint);
    EVP_PKEY_free(ksub);
}

static void test_sign_refuses_when_expired(void **state)
{
    (void)state;
    struct csr *csr = mkcsr(F.kleaf, "app", NULL);
    struct sign_params p = params(DAY, false, 0);
    p.now = NOW + 366 * DAY;
    struct sign_result out = {0};
    struct err err = {0};
    assert_int_equal(localca_sign(F.ca, csr, &p, &out, &err), -1);
    assert_int_equal(err.kind, ERR_ISSUER_NOT_READY);
    assert_null(out.chain_pem);
    p = params(0, false, 0);
    assert_int_equal(localca_sign(F.ca, csr, &p, &out, &err), -1);
    assert_int_equal(err.kind, ERR_INVALID);
    freecsr(csr);
}

/* A pathlen set higher up the chain binds the signing CA too (RFC 5280 6.1.4): under a root with
 * pathlen:1, an intermediate without one may not issue a CA (it would be the second CA below
 * the root, and path validation refuses the leaves of such a sub-CA). */
static void test_pathlen_of_a_ca_above_binds(void **state)
{
    (void)state;
    EVP_PKEY *kr = key_ec("P-256"), *ki = key_ec("P-256");
    struct spec rs = {"Root pathlen 1",       kr,   NULL,      NULL, "critical,CA:TRUE,pathlen:1",
                      "critical,keyCertSign", -DAY, 3650 * DAY};
    X509 *root = mkcert(&rs);
    X509 *inter = mksub("Inter", ki, root, kr, 30 * DAY);
    char *crt = pem_cert(inter), *key = pem_key(ki), *ca_crt = pem_cert(root);
    struct err err = {0};
    struct localca *ca =
        localca_load(crt, strlen(crt), key, strlen(key), ca_crt, strlen(ca_crt), NOW, &err);
    assert_non_null(ca);
    struct csr *csr = mkcsr(F.kleaf, "team-ca", NULL);
    struct sign_params p = params(DAY, true, 0);
    struct sign_result out = {0};
    assert_int_equal(localca_sign(ca, csr, &p, &out, &err), -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    if (strstr(err.msg, "a CA above it allows no CA below it") == NULL)
        fail_msg("unexpected message: %s", err.msg);
    p.is_ca = false; /* leaves are fine */
    X509 *leaf = sign_ok(ca, csr, &p, &out);
    X509_free(leaf);
    sign_result_free(&out);
    csr_free(csr);
    localca_free(ca);
    free(crt);
    free(key);
    free(ca_crt);
    X509_free(inter);
    X509_free(root);
    EVP_PKEY_free(ki);
    EVP_PKEY_free(kr);
}

static void test_pathlen_zero_refuses_ca_leaf(void **state)
{
    (void)state;
    EVP_PKEY *k = key_ec("P-256");
    struct spec s = {
        "Pathlen0", k,       F.root, F.kroot, "critical,CA:TRUE,pathlen:0", "critical,keyCertSign",
        -DAY,       30 * DAY};
    X509 *x = mkcert(&s);
    char *crt = pem_cert(x), *key = pem_key(k);
    struct err err = {0};
    struct localca *ca = localca_load(crt, strlen(crt), key, strlen(key), NULL, 0, NOW, &err);
    assert_non_null(ca);
    struct csr *csr = mkcsr(F.kleaf, "app", NULL);
    struct sign_params p = params(DAY, true, 0);
    struct sign_result out = {0};
    assert_int_equal(localca_sign(ca, csr, &p, &out, &err), -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_non_null(strstr(err.msg, "pathlen:0"));
    p.is_ca = false;
    X509 *leaf = sign_ok(ca, csr, &p, &out);
    X509_free(leaf);
    sign_result_free(&out);
    freecsr(csr);
    localca_free(ca);
    free(crt);
    free(key);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void test_signer_row(void **state)
{
    (void)state;
    struct err err = {0};
    struct localca *ca = localca_load(F.sub_pem, strlen(F.sub_pem), F.sub_key, strlen(F.sub_key),
                                      F.root_pem, strlen(F.root_pem), NOW, &err);
    assert_non_null(ca);
    assert_string_equal(localca_subject(ca), "CN=Test Sub-CA");
    struct signer s = localca_signer(ca);
    assert_string_equal(s.ops->name, "local"); /* the metrics label */
    assert_int_equal(s.ops->check(s.ctx, NOW, &err), 0);
    assert_int_equal(s.ops->check(s.ctx, NOW + 400 * DAY, &err), -1);
    struct csr *csr = mkcsr(F.kleaf, "app", NULL);
    struct sign_params p = params(DAY, false, 0);
    struct sign_result out = {0};
    assert_int_equal(s.ops->sign(s.ctx, csr, &p, &out, &err), 0);
    assert_int_equal(verify_chain(out.chain_pem, F.root, NOW + 1), 1);
    sign_result_free(&out);
    sign_result_free(NULL);
    freecsr(csr);
    s.ops->free(s.ctx);
    localca_free(NULL);
}

/* ---- the row's spec and load, through an injected Secret getter ---- */

static cJSON *row_secret; /* what the fake getter returns a copy of; NULL: not found */
static char row_asked[128];

static cJSON *row_get_secret(void *ud, const char *ns, const char *name, struct err *err)
{
    assert_ptr_equal(ud, &row_secret);
    snprintf(row_asked, sizeof(row_asked), "%s/%s", ns, name);
    if (row_secret == NULL) {
        err_set(err, ERR_ISSUER_NOT_READY, "not found");
        return NULL;
    }
    return cJSON_Duplicate(row_secret, 1);
}

static cJSON *tls_secret(const char *crt, const char *key, const char *ca)
{
    cJSON *s = cJSON_CreateObject();
    cJSON *d = cJSON_AddObjectToObject(s, "stringData");
    if (crt != NULL)
        cJSON_AddStringToObject(d, "tls.crt", crt);
    if (key != NULL)
        cJSON_AddStringToObject(d, "tls.key", key);
    if (ca != NULL)
        cJSON_AddStringToObject(d, "ca.crt", ca);
    return s;
}

static void test_row_parse(void **state)
{
    (void)state;
    const struct signer_ops *r = &localca_row;
    assert_string_equal(r->spec_key, "ca");
    void *spec = NULL;
    struct err err = {0};
    cJSON *o = cJSON_Parse("{\"secretName\":\"sub-ca\"}");
    assert_int_equal(r->parse(o, &spec, &err), 0);
    assert_string_equal(((struct localca_spec *)spec)->secret_name, "sub-ca");
    r->free_spec(spec);
    cJSON_Delete(o);
    const char *bad[][2] = {
        {"{}", "spec.ca.secretName: missing (expected a string)"},
        {"{\"secretName\":null}", "spec.ca.secretName: missing (expected a string)"},
        {"{\"secretName\":\"\"}", "spec.ca.secretName: empty (expected a string)"},
        {"{\"secretName\":1}", "spec.ca.secretName: expected a string, got a number"},
        {"{\"secretName\":\"s\",\"x\":1}", "spec.ca.x: unknown field (known: secretName)"},
        {"{\"secretName\":\"s\",\"secretName\":\"t\"}", "spec.ca.secretName: duplicate field"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        o = cJSON_Parse(bad[i][0]);
        spec = NULL;
        assert_int_equal(r->parse(o, &spec, &err), -1);
        assert_null(spec);
        assert_int_equal(err.kind, ERR_INVALID);
        assert_string_equal(err.msg, bad[i][1]);
        cJSON_Delete(o);
    }
}

static void test_row_load(void **state)
{
    (void)state;
    const struct signer_ops *r = &localca_row;
    struct localca_spec spec = {.secret_name = "sub-ca"};
    struct signer_env env = {.get_secret = row_get_secret, .ud = &row_secret};
    struct signer_where where = {.ns = "team-a", .ref = "Issuer/team-a/ca"};
    void *ctx = NULL;
    struct err err = {0};
    /* no Secret: Pending (never ERR_PERMANENT), naming it */
    row_secret = NULL;
    assert_int_equal(r->load(&spec, &env, &where, NOW, &ctx, &err), -1);
    assert_int_not_equal(err.kind, ERR_PERMANENT);
    assert_string_equal(row_asked, "team-a/sub-ca");
    assert_string_equal(err.msg, "Secret team-a/sub-ca named by spec.ca.secretName: not found");
    /* a key missing */
    row_secret = tls_secret(F.sub_pem, NULL, F.root_pem);
    assert_int_equal(r->load(&spec, &env, &where, NOW, &ctx, &err), -1);
    assert_int_not_equal(err.kind, ERR_PERMANENT);
    assert_string_equal(err.msg, "Secret team-a/sub-ca: it needs the keys tls.crt and tls.key");
    secret_delete(row_secret);
    /* localca_load's own refusal, after the Secret's name: an expired CA */
    row_secret = tls_secret(F.sub_pem, F.sub_key, F.root_pem);
    assert_int_equal(r->load(&spec, &env, &where, NOW + 400 * DAY, &ctx, &err), -1);
    assert_int_equal(err.kind, ERR_ISSUER_NOT_READY);
    assert_true(strncmp(err.msg, "Secret team-a/sub-ca: the CA certificate in tls.crt expired",
                        strlen("Secret team-a/sub-ca: the CA certificate in tls.crt expired")) ==
                0);
    /* loaded: the row signs, checks, and knows its CA's notAfter */
    assert_int_equal(r->load(&spec, &env, &where, NOW, &ctx, &err), 0);
    secret_delete(row_secret);
    row_secret = NULL;
    assert_non_null(ctx);
    assert_int_equal(r->check(ctx, NOW, &err), 0);
    assert_int_equal(r->expiry(ctx), asn1_to_time(X509_get0_notAfter(F.sub)));
    assert_null(r->recheck); /* the controller reads the Secret again: rotation */
    struct csr *csr = mkcsr(F.kleaf, "app", NULL);
    struct sign_params p = params(DAY, false, 0);
    struct sign_result out = {0};
    assert_int_equal(r->sign(ctx, csr, &p, &out, &err), 0);
    assert_int_equal(verify_chain(out.chain_pem, F.root, NOW + 1), 1);
    /* the CA that issued the leaf: the sub-CA, second in the chain */
    time_t na = 0;
    assert_int_equal(signer_issuer_not_after(&out, &na), 0);
    assert_int_equal(na, asn1_to_time(X509_get0_notAfter(F.sub)));
    sign_result_free(&out);
    freecsr(csr);
    r->free(ctx);
}

/* signer_issuer_not_after: the second certificate of the chain, else the first of ca_pem. */
static void test_issuer_not_after(void **state)
{
    (void)state;
    time_t na = 0;
    char *leaf_only = xstrdup(F.sub_pem), *root = xstrdup(F.root_pem);
    struct sign_result r = {.chain_pem = leaf_only, .ca_pem = root};
    assert_int_equal(signer_issuer_not_after(&r, &na), 0);
    assert_int_equal(na, asn1_to_time(X509_get0_notAfter(F.root)));
    r.ca_pem[0] = '\0'; /* a lone leaf, issuer unknown */
    assert_int_equal(signer_issuer_not_after(&r, &na), -1);
    struct sign_result none = {0};
    assert_int_equal(signer_issuer_not_after(&none, &na), -1);
    sign_result_free(&r);
}

#define THREADS 4
#define PER_THREAD 25

struct worker {
    struct csr *csr;
    int verified;
    char serials[PER_THREAD][64];
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        struct sign_params p = params(DAY, false, USAGE_BIT(USAGE_SERVER_AUTH));
        struct sign_result out = {0};
        struct err err = {0};
        if (localca_sign(F.ca, w->csr, &p, &out, &err) != 0)
            continue;
        X509 *leaf = parse_pem(out.chain_pem, 0);
        if (leaf != NULL) {
            char *hex = i2s_ASN1_INTEGER(NULL, X509_get0_serialNumber(leaf));
            snprintf(w->serials[i], sizeof(w->serials[i]), "%s", hex);
            OPENSSL_free(hex);
            X509_free(leaf);
        }
        if (verify_chain(out.chain_pem, F.root, NOW + 1) == 1)
            w->verified++;
        sign_result_free(&out);
    }
    return NULL;
}

static void test_concurrent_signing(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    struct worker w[THREADS];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < THREADS; i++) {
        w[i].csr = mkcsr(F.kleaf, "threaded", "DNS:threaded.example");
        assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(w[i].verified, PER_THREAD);
        freecsr(w[i].csr);
    }
    for (int a = 0; a < THREADS * PER_THREAD; a++)
        for (int b = a + 1; b < THREADS * PER_THREAD; b++)
            assert_string_not_equal(w[a / PER_THREAD].serials[a % PER_THREAD],
                                    w[b / PER_THREAD].serials[b % PER_THREAD]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leaf_verifies_against_root),
        cmocka_unit_test(test_serial_is_random_positive_128_bit),
        cmocka_unit_test(test_ski_and_aki),
        cmocka_unit_test(test_leaf_pem_as_openssl_writes_it),
        cmocka_unit_test(test_extension_order),
        cmocka_unit_test(test_basic_constraints_and_default_key_usage),
        cmocka_unit_test(test_usages_map_to_ku_and_eku),
        cmocka_unit_test(test_san_copied_exactly),
        cmocka_unit_test(test_san_critical_when_subject_empty),
        cmocka_unit_test(test_validity_clamped_to_ca),
        cmocka_unit_test(test_validity_min_not_undercut),
        cmocka_unit_test(test_validity_encoding),
        cmocka_unit_test(test_public_key_equals_csr),
        cmocka_unit_test(test_is_ca_leaf),
        cmocka_unit_test(test_other_csr_extensions_not_copied),
        cmocka_unit_test(test_name_constraints_copied),
        cmocka_unit_test(test_chain_name_constraints),
        cmocka_unit_test(test_path_len_copied_and_bounded),
        cmocka_unit_test(test_policy_path_len_added),
        cmocka_unit_test(test_subject_serial_number_kept),
        cmocka_unit_test(test_literal_subject_byte_for_byte),
        cmocka_unit_test(test_ca_key_types),
        cmocka_unit_test(test_load_rejects_mismatched_key),
        cmocka_unit_test(test_load_rejects_non_ca),
        cmocka_unit_test(test_load_rejects_empty_subject),
        cmocka_unit_test(test_load_rejects_expired_and_not_yet_valid),
        cmocka_unit_test(test_load_rejects_garbage),
        cmocka_unit_test(test_load_rejects_encrypted_key),
        cmocka_unit_test(test_load_rejects_wrong_ca_crt),
        cmocka_unit_test(test_load_rejects_ca_not_first),
        cmocka_unit_test(test_three_level_hierarchy),
        cmocka_unit_test(test_sign_refuses_when_expired),
        cmocka_unit_test(test_pathlen_zero_refuses_ca_leaf),
        cmocka_unit_test(test_pathlen_of_a_ca_above_binds),
        cmocka_unit_test(test_signer_row),
        cmocka_unit_test(test_row_parse),
        cmocka_unit_test(test_row_load),
        cmocka_unit_test(test_issuer_not_after),
        cmocka_unit_test(test_concurrent_signing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
