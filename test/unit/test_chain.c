/* test_chain.c -- chain_normalise: order, duplicates, line ends, roots, broken and split chains. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "base/buf.h"
#include "base/mem.h"
#include "testpki.h"
#include "x509/chain.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static EVP_PKEY *mkkey(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    return k;
}

static char *pem_of(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *s = xstrndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

/* Concatenates the PEM of a NULL-terminated list of certificates. */
static char *pems(X509 *first, ...)
{
    struct buf b;
    buf_init(&b, 64 << 20);
    va_list ap;
    va_start(ap, first);
    for (X509 *x = first; x != NULL; x = va_arg(ap, X509 *)) {
        char *p = pem_of(x);
        assert_int_equal(buf_append_str(&b, p, NULL), 0);
        free(p);
    }
    va_end(ap);
    return buf_take(&b, NULL);
}

/* root -> int1 -> int2 -> leaf, shared by every test. */
struct fx {
    EVP_PKEY *kroot, *kint1, *kint2, *kleaf;
    X509 *root, *int1, *int2, *leaf;
};
static struct fx F;

static int setup(void **state)
{
    (void)state;
    F.kroot = mkkey();
    F.kint1 = mkkey();
    F.kint2 = mkkey();
    F.kleaf = mkkey();
    F.root = make_bare_cert("root", F.kroot, NULL, NULL, 1);
    F.int1 = make_bare_cert("int1", F.kint1, F.root, F.kroot, 1);
    F.int2 = make_bare_cert("int2", F.kint2, F.int1, F.kint1, 1);
    F.leaf = make_bare_cert("leaf", F.kleaf, F.int2, F.kint2, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    X509_free(F.root);
    X509_free(F.int1);
    X509_free(F.int2);
    X509_free(F.leaf);
    EVP_PKEY_free(F.kroot);
    EVP_PKEY_free(F.kint1);
    EVP_PKEY_free(F.kint2);
    EVP_PKEY_free(F.kleaf);
    return 0;
}

/* Normalises in and checks the outputs against the expected PEM text. */
static void expect_ok(const char *in, const char *want_chain, const char *want_ca)
{
    char *chain = NULL, *ca = NULL;
    struct err err = {0};
    int rc = chain_normalise(in, strlen(in), &chain, &ca, &err);
    if (rc != 0)
        fail_msg("chain_normalise failed: %s", err.msg);
    assert_string_equal(chain, want_chain);
    assert_string_equal(ca, want_ca);
    free(chain);
    free(ca);
}

static void expect_err(const char *in, size_t len, enum err_kind kind, const char *substr)
{
    char *chain = (char *)"x", *ca = (char *)"x";
    struct err err = {0};
    assert_int_equal(chain_normalise(in, len, &chain, &ca, &err), -1);
    assert_null(chain);
    assert_null(ca);
    assert_int_equal(err.kind, kind);
    if (strstr(err.msg, substr) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, substr);
}

static void test_ordered_chain_drops_root(void **state)
{
    (void)state;
    char *in = pems(F.leaf, F.int2, F.int1, F.root, NULL);
    char *want = pems(F.leaf, F.int2, F.int1, NULL);
    char *want_ca = pems(F.root, NULL);
    expect_ok(in, want, want_ca);
    free(in);
    free(want);
    free(want_ca);
}

static void test_shuffled_order(void **state)
{
    (void)state;
    char *in = pems(F.root, F.int1, F.leaf, F.int2, NULL);
    char *want = pems(F.leaf, F.int2, F.int1, NULL);
    char *want_ca = pems(F.root, NULL);
    expect_ok(in, want, want_ca);
    free(in);
    free(want);
    free(want_ca);
}

static void test_duplicates_removed(void **state)
{
    (void)state;
    char *in = pems(F.int2, F.leaf, F.int2, F.root, F.int1, F.leaf, F.root, NULL);
    char *want = pems(F.leaf, F.int2, F.int1, NULL);
    char *want_ca = pems(F.root, NULL);
    expect_ok(in, want, want_ca);
    free(in);
    free(want);
    free(want_ca);
}

/* CRLF line ends, blank lines and comments between blocks are all accepted. */
static void test_crlf_and_text_between_blocks(void **state)
{
    (void)state;
    char *plain = pems(F.int1, F.leaf, F.int2, F.root, NULL);
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_append_str(&b, "subject=CN=whatever\r\n\r\n", NULL), 0);
    for (const char *p = plain; *p; p++) {
        if (*p == '\n') {
            assert_int_equal(buf_append_str(&b, "\r\n", NULL), 0);
            if (strncmp(p + 1, "-----BEGIN", 10) == 0)
                assert_int_equal(buf_append_str(&b, "\r\n# a comment\r\n\r\n", NULL), 0);
        } else {
            assert_int_equal(buf_append(&b, p, 1, NULL), 0);
        }
    }
    char *in = buf_take(&b, NULL);
    assert_non_null(strstr(in, "\r\n"));
    char *want = pems(F.leaf, F.int2, F.int1, NULL);
    char *want_ca = pems(F.root, NULL);
    expect_ok(in, want, want_ca);
    assert_null(strchr(want, '\r'));
    free(plain);
    free(in);
    free(want);
    free(want_ca);
}

/* Without a self-signed root the topmost certificate stays in the chain and is the CA. */
static void test_no_root_topmost_is_ca(void **state)
{
    (void)state;
    char *in = pems(F.int1, F.leaf, F.int2, NULL);
    char *want = pems(F.leaf, F.int2, F.int1, NULL);
    char *want_ca = pems(F.int1, NULL);
    expect_ok(in, want, want_ca);
    free(in);
    free(want);
    free(want_ca);
}

static void test_leaf_and_root_only(void **state)
{
    (void)state;
    EVP_PKEY *k = mkkey();
    X509 *direct = make_bare_cert("direct", k, F.root, F.kroot, 0);
    char *in = pems(F.root, direct, NULL);
    char *want = pems(direct, NULL);
    char *want_ca = pems(F.root, NULL);
    expect_ok(in, want, want_ca);
    free(in);
    free(want);
    free(want_ca);
    X509_free(direct);
    EVP_PKEY_free(k);
}

static void test_lone_leaf_has_no_ca(void **state)
{
    (void)state;
    char *in = pems(F.leaf, NULL);
    expect_ok(in, in, "");
    free(in);
}

static void test_lone_root_is_chain_and_ca(void **state)
{
    (void)state;
    char *in = pems(F.root, F.root, NULL);
    char *want = pems(F.root, NULL);
    expect_ok(in, want, want);
    free(in);
    free(want);
}

static void test_two_unrelated_chains_rejected(void **state)
{
    (void)state;
    EVP_PKEY *k1 = mkkey(), *k2 = mkkey();
    X509 *root2 = make_bare_cert("other root", k1, NULL, NULL, 1);
    X509 *leaf2 = make_bare_cert("other leaf", k2, root2, k1, 0);
    char *in = pems(F.leaf, F.int2, F.int1, F.root, leaf2, root2, NULL);
    expect_err(in, strlen(in), ERR_INVALID, "more than one chain");
    free(in);
    X509_free(root2);
    X509_free(leaf2);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
}

static void test_two_leaves_rejected(void **state)
{
    (void)state;
    EVP_PKEY *k = mkkey();
    X509 *sibling = make_bare_cert("sibling", k, F.int2, F.kint2, 0);
    char *in = pems(F.leaf, sibling, F.int2, F.int1, NULL);
    expect_err(in, strlen(in), ERR_INVALID, "more than one chain");
    free(in);
    X509_free(sibling);
    EVP_PKEY_free(k);
}

static void test_gap_rejected(void **state)
{
    (void)state;
    char *in = pems(F.leaf, F.int1, F.root, NULL);
    expect_err(in, strlen(in), ERR_INVALID, "broken chain");
    free(in);
}

/* A certificate with the right name but another key is not the issuer. */
static void test_name_match_without_signature_rejected(void **state)
{
    (void)state;
    EVP_PKEY *k = mkkey();
    X509 *impostor = make_bare_cert("int2", k, F.int1, F.kint1, 1);
    char *in = pems(F.leaf, impostor, F.int1, F.root, NULL);
    expect_err(in, strlen(in), ERR_INVALID, "broken chain");
    free(in);
    X509_free(impostor);
    EVP_PKEY_free(k);
}

static void test_garbage_rejected(void **state)
{
    (void)state;
    const char *junk = "hello, this is not a certificate\n";
    expect_err(junk, strlen(junk), ERR_INVALID, "no PEM CERTIFICATE block");
    expect_err("", 0, ERR_INVALID, "no PEM CERTIFICATE block");
    const char *bad64 = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    expect_err(bad64, strlen(bad64), ERR_INVALID, "malformed");
    const char *notx509 = "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
    expect_err(notx509, strlen(notx509), ERR_INVALID, "not a valid X.509 certificate");
    const unsigned char bin[] = {0x30, 0x82, 0xff, 0xff, 0x00, 0x01};
    expect_err((const char *)bin, sizeof(bin), ERR_INVALID, "no PEM");
}

static void test_other_block_type_rejected(void **state)
{
    (void)state;
    char *cert = pems(F.leaf, NULL);
    char *in = xasprintf("%s-----BEGIN "
                         "PRIVATE KEY-----\naGVsbG8=\n-----END "
                         "PRIVATE KEY-----\n",
                         cert);
    expect_err(in, strlen(in), ERR_INVALID, "block 2 is a \"PRIVATE KEY\"");
    free(cert);
    free(in);
}

static void test_more_than_max_certs_rejected(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, CHAIN_MAX_BYTES);
    for (int i = 0; i < CHAIN_MAX_CERTS + 1; i++) {
        X509 *x = make_bare_cert("many", F.kleaf, F.int2, F.kint2, 0);
        char *p = pem_of(x);
        assert_int_equal(buf_append_str(&b, p, NULL), 0);
        free(p);
        X509_free(x);
    }
    expect_err(b.data, b.len, ERR_TOO_BIG, "more than 1000");
    buf_free(&b);
}

/* Many copies of one certificate are fine: the limit counts distinct certificates. */
static void test_many_duplicates_accepted(void **state)
{
    (void)state;
    char *one = pems(F.root, NULL);
    struct buf b;
    buf_init(&b, CHAIN_MAX_BYTES);
    for (int i = 0; i < CHAIN_MAX_CERTS + 100; i++)
        assert_int_equal(buf_append_str(&b, one, NULL), 0);
    expect_ok(b.data, one, one);
    buf_free(&b);
    free(one);
}

static void test_input_size_limit(void **state)
{
    (void)state;
    char c = 0;
    expect_err(&c, (size_t)CHAIN_MAX_BYTES + 1, ERR_TOO_BIG, "bytes of PEM");
}

static void test_issued_by(void **state)
{
    (void)state;
    assert_true(chain_issued_by(F.leaf, F.int2));
    assert_false(chain_issued_by(F.leaf, F.int1));
    assert_false(chain_issued_by(F.int2, F.leaf));
    assert_true(chain_issued_by(F.root, F.root));
    assert_false(chain_issued_by(F.int1, F.int1));
    /* A CA:FALSE certificate cannot issue, even when names and signature would match. */
    EVP_PKEY *k = mkkey();
    X509 *notca = make_bare_cert("notca", k, NULL, NULL, 0);
    X509 *child = make_bare_cert("child", F.kleaf, notca, k, 0);
    assert_false(chain_issued_by(child, notca));
    assert_false(chain_issued_by(notca, notca));
    X509_free(notca);
    X509_free(child);
    EVP_PKEY_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ordered_chain_drops_root),
        cmocka_unit_test(test_shuffled_order),
        cmocka_unit_test(test_duplicates_removed),
        cmocka_unit_test(test_crlf_and_text_between_blocks),
        cmocka_unit_test(test_no_root_topmost_is_ca),
        cmocka_unit_test(test_leaf_and_root_only),
        cmocka_unit_test(test_lone_leaf_has_no_ca),
        cmocka_unit_test(test_lone_root_is_chain_and_ca),
        cmocka_unit_test(test_two_unrelated_chains_rejected),
        cmocka_unit_test(test_two_leaves_rejected),
        cmocka_unit_test(test_gap_rejected),
        cmocka_unit_test(test_name_match_without_signature_rejected),
        cmocka_unit_test(test_garbage_rejected),
        cmocka_unit_test(test_other_block_type_rejected),
        cmocka_unit_test(test_more_than_max_certs_rejected),
        cmocka_unit_test(test_many_duplicates_accepted),
        cmocka_unit_test(test_input_size_limit),
        cmocka_unit_test(test_issued_by),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
