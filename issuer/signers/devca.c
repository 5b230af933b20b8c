/* devca.c -- a throwaway development root and sub-CA, as a Secret manifest for `make run`. */
#include "signers/devca.h"

#include "base/b64.h"
#include "base/mem.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEVCA_DAY 86400L
#define DEVCA_BACKDATE 3600L /* notBefore an hour early: nodes whose clock lags still accept it */

static bool devca_label_ok(const char *s, size_t len)
{
    if (len == 0 || len > 63)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (c != '-' || i == 0 || i == len - 1))
            return false;
    }
    return true;
}

static bool devca_subdomain_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > DEVCA_MAX_NAME)
        return false;
    for (const char *p = s;;) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (!devca_label_ok(p, l))
            return false;
        if (dot == NULL)
            return true;
        p = dot + 1;
    }
}

static int devca_add_ext(X509 *x, int nid, void *value, int critical)
{
    return X509_add1_ext_i2d(x, nid, value, critical, X509V3_ADD_DEFAULT) == 1 ? 0 : -1;
}

/* A CA certificate for key, issued by issuer/ikey (self-signed when issuer is NULL). */
static X509 *devca_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, time_t now,
                        long days, long pathlen)
{
    X509 *x = X509_new();
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    ASN1_INTEGER *plen = pathlen >= 0 ? ASN1_INTEGER_new() : NULL;
    BIGNUM *serial = NULL;
    unsigned char rnd[16];
    bool ok = x != NULL && ku != NULL && (pathlen < 0 || plen != NULL) &&
              RAND_bytes(rnd, sizeof(rnd)) == 1;
    if (ok) {
        rnd[0] = (unsigned char)((rnd[0] & 0x7f) | 0x40); /* positive, never zero */
        serial = BN_bin2bn(rnd, sizeof(rnd), NULL);
    }
    ok = ok && serial != NULL && X509_set_version(x, X509_VERSION_3) == 1 &&
         BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) != NULL &&
         X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                                    (const unsigned char *)cn, -1, -1, 0) == 1 &&
         X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x)) == 1 &&
         ASN1_TIME_set(X509_getm_notBefore(x), now - DEVCA_BACKDATE) != NULL &&
         ASN1_TIME_set(X509_getm_notAfter(x), now + days * DEVCA_DAY) != NULL &&
         X509_set_pubkey(x, key) == 1;

    BASIC_CONSTRAINTS bc = {.ca = 0xff, .pathlen = plen};
    ok = ok && (plen == NULL || ASN1_INTEGER_set(plen, pathlen) == 1) &&
         devca_add_ext(x, NID_basic_constraints, &bc, 1) == 0;
    ok = ok && ASN1_BIT_STRING_set_bit(ku, 5, 1) == 1 && /* keyCertSign */
         ASN1_BIT_STRING_set_bit(ku, 6, 1) == 1 &&       /* cRLSign */
         devca_add_ext(x, NID_key_usage, ku, 1) == 0;

    unsigned char md[SHA_DIGEST_LENGTH];
    const ASN1_BIT_STRING *bits = ok ? X509_get0_pubkey_bitstr(x) : NULL;
    ok = ok && bits != NULL;
    if (ok) {
        SHA1(ASN1_STRING_get0_data(bits), (size_t)ASN1_STRING_length(bits), md);
        ASN1_OCTET_STRING ski = {.length = sizeof(md), .type = V_ASN1_OCTET_STRING, .data = md};
        ok = devca_add_ext(x, NID_subject_key_identifier, &ski, 0) == 0;
        /* AKI: the issuer's SKI (our own for the self-signed root). */
        const ASN1_OCTET_STRING *iski = issuer ? X509_get0_subject_key_id(issuer) : &ski;
        AUTHORITY_KEYID akid = {.keyid = (ASN1_OCTET_STRING *)iski};
        ok = ok && iski != NULL && devca_add_ext(x, NID_authority_key_identifier, &akid, 0) == 0;
    }
    ok = ok && X509_sign(x, issuer ? ikey : key, EVP_sha256()) > 0;
    BN_free(serial);
    ASN1_BIT_STRING_free(ku);
    ASN1_INTEGER_free(plen);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static char *devca_b64_cert(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (b != NULL && PEM_write_bio_X509(b, x) == 1) {
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        out = b64_encode(p, (size_t)n);
    }
    BIO_free(b);
    return out;
}

/* PKCS#8 PEM of key, base64-encoded; the PEM lives in a BIO that wipes itself on free. */
static char *devca_b64_key(EVP_PKEY *key, size_t *len)
{
    BIO *b = BIO_new(BIO_s_secmem());
    char *out = NULL;
    if (b != NULL && PEM_write_bio_PKCS8PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1) {
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        out = b64_encode(p, (size_t)n);
        *len = strlen(out);
    }
    BIO_free(b);
    return out;
}

static const char devca_yaml_fmt[] =
    "# Ember DEVELOPMENT CA -- NOT FOR PRODUCTION.\n"
    "# A throwaway root \"" DEVCA_ROOT_CN "\" (its private key was discarded) and the sub-CA\n"
    "# \"" DEVCA_SUB_CN "\" it issued, whose private key is in clear below. Use it for\n"
    "# local tests only; anyone holding this file can issue certificates it trusts.\n"
    "apiVersion: v1\n"
    "kind: Secret\n"
    "type: kubernetes.io/tls\n"
    "metadata:\n"
    "  name: \"%s\"\n"
    "  namespace: \"%s\"\n"
    "data:\n"
    "  tls.crt: %s\n"
    "  tls.key: %s\n"
    "  ca.crt: %s\n";

int devca_generate(const char *namespace, const char *name, time_t now, char **yaml,
                   struct err *err)
{
    *yaml = NULL;
    if (namespace == NULL || !devca_label_ok(namespace, strlen(namespace))) {
        err_set(err, ERR_INVALID,
                "namespace \"%.80s\" is not a valid Kubernetes namespace (lowercase letters, "
                "digits and '-', at most %d characters)",
                namespace ? namespace : "", DEVCA_MAX_NAMESPACE);
        return -1;
    }
    if (name == NULL || !devca_subdomain_ok(name)) {
        err_set(err, ERR_INVALID,
                "Secret name \"%.80s\" is not a valid Kubernetes name (lowercase letters, digits, "
                "'-' and '.', at most %d characters)",
                name ? name : "", DEVCA_MAX_NAME);
        return -1;
    }
    int rc = -1;
    EVP_PKEY *root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *sub_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *root = NULL, *sub = NULL;
    char *crt = NULL, *key = NULL, *ca = NULL;
    size_t key_len = 0;
    if (root_key == NULL || sub_key == NULL)
        goto out;
    root = devca_cert(DEVCA_ROOT_CN, root_key, NULL, NULL, now, DEVCA_ROOT_DAYS, -1);
    if (root == NULL)
        goto out;
    sub = devca_cert(DEVCA_SUB_CN, sub_key, root, root_key, now, DEVCA_SUB_DAYS, 0);
    if (sub == NULL)
        goto out;
    /* The root key goes now: nothing else will ever sign with it. */
    EVP_PKEY_free(root_key);
    root_key = NULL;
    crt = devca_b64_cert(sub);
    ca = devca_b64_cert(root);
    key = devca_b64_key(sub_key, &key_len);
    if (crt == NULL || ca == NULL || key == NULL)
        goto out;
    /* Sized exactly in one allocation, so no stray copy of the key is left behind. */
    int n = snprintf(NULL, 0, devca_yaml_fmt, name, namespace, crt, key, ca);
    if (n < 0)
        goto out;
    *yaml = xmalloc((size_t)n + 1);
    snprintf(*yaml, (size_t)n + 1, devca_yaml_fmt, name, namespace, crt, key, ca);
    rc = 0;
out:
    if (rc != 0) {
        err_set(err, ERR_INTERNAL, "cannot generate the development CA");
        err_append_openssl(err);
    }
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(sub_key);
    X509_free(root);
    X509_free(sub);
    free(crt);
    free(ca);
    if (key != NULL)
        xfree_secret(key, key_len);
    return rc;
}
