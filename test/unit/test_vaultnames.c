/* test_vaultnames.c -- what a Vault issuer cannot honour of a CSR's names, and the check that
 * the certificate Vault issued carries every approved otherName and subject attribute. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "signers/vaultnames.h"
#include "x509/csr.h"

#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static EVP_PKEY *k_leaf;

static int keys_setup(void **state)
{
    (void)state;
    k_leaf = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    return k_leaf != NULL ? 0 : -1;
}

static int keys_teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(k_leaf);
    return 0;
}

/* Adds "/F=v/F=v..." (subj, '/'-separated field=value pairs) to name. */
static void add_subject(X509_NAME *name, const char *subj)
{
    char *copy = strdup(subj), *save = NULL;
    for (char *kv = strtok_r(copy, "/", &save); kv != NULL; kv = strtok_r(NULL, "/", &save)) {
        char *eq = strchr(kv, '=');
        assert_non_null(eq);
        *eq = '\0';
        /* An empty value as Go writes it (OpenSSL's string table refuses an empty O). */
        int type = eq[1] == '\0' ? V_ASN1_UTF8STRING : MBSTRING_UTF8;
        assert_int_equal(
            X509_NAME_add_entry_by_txt(name, kv, type, (const unsigned char *)eq + 1, -1, -1, 0),
            1);
    }
    free(copy);
}

/* A parsed CSR with subject subj and the SANs (openssl.cnf syntax). */
static struct csr *mkcsr(const char *subj, const char *sans)
{
    X509_REQ *r = X509_REQ_new();
    assert_int_equal(X509_REQ_set_version(r, X509_REQ_VERSION_1), 1);
    assert_int_equal(X509_REQ_set_pubkey(r, k_leaf), 1);
    add_subject(X509_REQ_get_subject_name(r), subj);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans);
    assert_non_null(e);
    sk_X509_EXTENSION_push(exts, e);
    assert_int_equal(X509_REQ_add_extensions(r, exts), 1);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    assert_true(X509_REQ_sign(r, k_leaf, EVP_sha256()) > 0);
    unsigned char *der = NULL;
    int n = i2d_X509_REQ(r, &der);
    X509_REQ_free(r);
    struct err err = {0};
    struct csr *c = csr_parse(der, (size_t)n, &err);
    OPENSSL_free(der);
    if (c == NULL)
        fail_msg("csr_parse: %s", err.msg);
    return c;
}

/* A certificate as Vault might issue it: subject subj and the SANs (self-signed: only its
 * names are read). */
static X509 *mkleaf(const char *subj, const char *sans)
{
    X509 *x = X509_new();
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    add_subject(X509_get_subject_name(x), subj);
    assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(x)), 1);
    assert_int_equal(X509_set_pubkey(x, k_leaf), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, sans);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
    assert_true(X509_sign(x, k_leaf, EVP_sha256()) > 0);
    return x;
}

static void expect_leaf(const char *csr_subj, const char *csr_sans, const char *leaf_subj,
                        const char *leaf_sans, const char *want)
{
    struct csr *c = mkcsr(csr_subj, csr_sans);
    X509 *x = mkleaf(leaf_subj, leaf_sans);
    struct err err = {0};
    int rc = vaultnames_check_leaf(x, c, &err);
    if (want == NULL) {
        if (rc != 0)
            fail_msg("refused: %s", err.msg);
    } else {
        assert_int_equal(rc, -1);
        assert_int_equal(err.kind, ERR_PERMANENT);
        if (strstr(err.msg, want) == NULL)
            fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);
    }
    X509_free(x);
    csr_free(c);
}

#define UPN "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:"

static void test_leaf_with_every_requested_name(void **state)
{
    (void)state;
    /* Order does not matter. */
    expect_leaf("/CN=a.example.com/O=Acme/street=Main St 1/postalCode=10997/serialNumber=SN-1",
                "DNS:a.example.com," UPN "bob@example.com",
                "/O=Acme/street=Main St 1/postalCode=10997/CN=a.example.com/serialNumber=SN-1",
                UPN "bob@example.com,DNS:a.example.com", NULL);
    /* A CSR without a CN: Vault (require_cn false) issues none. */
    expect_leaf("", "DNS:a.example.com", "", "DNS:a.example.com", NULL);
}

static void test_leaf_with_extra_subject_attribute(void **state)
{
    (void)state;
    /* Vault builds O, OU, C, ST, L, street and postalCode from its role, not from the CSR. */
    expect_leaf("/CN=a.example.com", "DNS:a.example.com", "/O=Acme/CN=a.example.com",
                "DNS:a.example.com",
                "Vault added subject O \"Acme\" that the request did not ask for (the role's "
                "organization); the policy never approved it: clear the role's organization or "
                "request it");
    static const struct {
        const char *leaf, *want;
    } cases[] = {
        {"/OU=Ops/CN=a.example.com", "subject OU \"Ops\" that the request did not ask for (the "
                                     "role's ou)"},
        {"/C=DE/CN=a.example.com", "subject C \"DE\" that the request did not ask for (the "
                                   "role's country)"},
        {"/ST=Berlin/CN=a.example.com", "(the role's province)"},
        {"/L=Berlin/CN=a.example.com", "(the role's locality)"},
        {"/street=Main St 1/CN=a.example.com", "subject street \"Main St 1\""},
        {"/postalCode=10997/CN=a.example.com", "(the role's postal_code)"},
        {"/CN=a.example.com/serialNumber=SN-9", "subject serialNumber \"SN-9\""},
        {"/CN=a.example.com/CN=b.example.com", "subject CN \"b.example.com\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_leaf("/CN=a.example.com", "DNS:a.example.com", cases[i].leaf, "DNS:a.example.com",
                    cases[i].want);
    /* A multiset: one requested O does not cover two issued, nor another value. */
    expect_leaf("/CN=a.example.com/O=Acme", "DNS:a.example.com", "/O=Acme/O=Acme/CN=a.example.com",
                "DNS:a.example.com", "Vault added subject O \"Acme\"");
    expect_leaf("/CN=a.example.com/O=Acme", "DNS:a.example.com", "/O=Acme/O=Evil/CN=a.example.com",
                "DNS:a.example.com", "Vault added subject O \"Evil\"");
    /* The same value under another attribute is not it. */
    expect_leaf("/CN=a.example.com/OU=Acme", "DNS:a.example.com",
                "/O=Acme/OU=Acme/CN=a.example.com", "DNS:a.example.com",
                "Vault added subject O \"Acme\"");
    /* No CN requested: a CN Vault made up is extra. */
    expect_leaf("", "DNS:a.example.com", "/CN=a.example.com", "DNS:a.example.com",
                "Vault added subject CN \"a.example.com\"");
}

static void test_leaf_missing_other_name(void **state)
{
    (void)state;
    expect_leaf("/CN=a.example.com", "DNS:a.example.com," UPN "bob@example.com",
                "/CN=a.example.com", "DNS:a.example.com",
                "without the requested otherName SAN 1.3.6.1.4.1.311.20.2.3 \"bob@example.com\"");
    /* Another value, or the value under another OID, is not it. */
    expect_leaf("/CN=a.example.com", "DNS:a.example.com," UPN "bob@example.com",
                "/CN=a.example.com", "DNS:a.example.com," UPN "eve@example.com",
                "without the requested otherName SAN");
    expect_leaf("/CN=a.example.com", "DNS:a.example.com," UPN "bob@example.com",
                "/CN=a.example.com", "DNS:a.example.com,otherName:1.2.3.4;UTF8:bob@example.com",
                "without the requested otherName SAN");
}

static void test_leaf_missing_subject_attribute(void **state)
{
    (void)state;
    expect_leaf("/CN=a.example.com/street=Main St 1", "DNS:a.example.com", "/CN=a.example.com",
                "DNS:a.example.com",
                "lacks the requested streetAddress \"Main St 1\" (Vault takes it from its role's "
                "street_address)");
    expect_leaf("/CN=a.example.com/postalCode=10997", "DNS:a.example.com",
                "/CN=a.example.com/postalCode=10999", "DNS:a.example.com",
                "lacks the requested postalCode \"10997\"");
    expect_leaf("/CN=a.example.com/serialNumber=SN-1", "DNS:a.example.com", "/CN=a.example.com",
                "DNS:a.example.com", "lacks the requested serialNumber \"SN-1\"");
    /* A requested O the role does not set: Vault leaves it out. */
    expect_leaf("/CN=a.example.com/O=Acme", "DNS:a.example.com", "/CN=a.example.com",
                "DNS:a.example.com",
                "lacks the requested organization \"Acme\" (Vault takes it from its role's "
                "organization)");
    expect_leaf("/CN=a.example.com/OU=Ops", "DNS:a.example.com", "/CN=a.example.com",
                "DNS:a.example.com", "lacks the requested organizationalUnit \"Ops\"");
    expect_leaf("/CN=a.example.com/C=DE", "DNS:a.example.com", "/CN=a.example.com",
                "DNS:a.example.com", "lacks the requested country \"DE\"");
    expect_leaf("/CN=a.example.com", "DNS:a.example.com", "", "DNS:a.example.com",
                "lacks the requested commonName \"a.example.com\"");
    /* Istio's empty "O=" asks for nothing: Vault dropping it is no loss. */
    expect_leaf("/O=", "URI:spiffe://cluster.local/ns/a/sa/b", "",
                "URI:spiffe://cluster.local/ns/a/sa/b", NULL);
}

static void test_refuse_other_attributes(void **state)
{
    (void)state;
    struct csr *c = mkcsr("/CN=a.example.com/street=Main St 1", "DNS:a.example.com");
    struct err err = {0};
    assert_int_equal(vaultnames_refuse(c, &err), 0);
    csr_free(c);
    c = mkcsr("/CN=a.example.com/title=boss", "DNS:a.example.com");
    assert_int_equal(vaultnames_refuse(c, &err), -1);
    assert_int_equal(err.kind, ERR_PERMANENT);
    assert_non_null(strstr(err.msg, "subject holds 2.5.4.12 (title), which a Vault issuer "
                                    "cannot honour"));
    csr_free(c);
    c = mkcsr("/CN=a.example.com/1.2.3.4=x", "DNS:a.example.com");
    assert_int_equal(vaultnames_refuse(c, &err), -1);
    assert_non_null(strstr(err.msg, "subject holds 1.2.3.4, which"));
    csr_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leaf_with_every_requested_name),
        cmocka_unit_test(test_leaf_with_extra_subject_attribute),
        cmocka_unit_test(test_leaf_missing_other_name),
        cmocka_unit_test(test_leaf_missing_subject_attribute),
        cmocka_unit_test(test_refuse_other_attributes),
    };
    return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
