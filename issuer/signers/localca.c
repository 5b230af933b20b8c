/* localca.c -- the local sub-CA signer: loads a CA Secret once, then signs leaves in-process. */
#include "signers/localca.h"

#include "base/buf.h"
#include "base/duration.h"
#include "base/jsonfield.h"
#include "base/mem.h"
#include "base/timefmt.h"
#include "signers/secret.h"
#include "x509/chain.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#define CA_SERIAL_BYTES 16

struct localca {
    X509 *cert;
    EVP_PKEY *key;
    const EVP_MD *md;               /* NULL for Ed25519 */
    STACK_OF(X509) * intermediates; /* tls.crt after the first certificate */
    STACK_OF(X509) * roots;         /* ca.crt, as given */
    ASN1_OCTET_STRING *keyid;       /* the CA's key identifier, for leaves' AKI */
    X509_EXTENSION *ext_aki;        /* every leaf's authorityKeyIdentifier, encoded once */
    X509_EXTENSION *ext_bc[2];      /* basicConstraints (critical): [0] CA:FALSE, [1] CA:TRUE */
    long pathlen;                   /* -1: no limit */
    STACK_OF(X509) * constrained;   /* the chain's CAs with nameConstraints, or NULL */
    char *tail_pem;                 /* what follows the leaf in every chain */
    size_t tail_len;
    char *anchor_pem; /* every result's ca_pem */
    char *subject;
    time_t not_before, not_after;
};

/* Never prompts for a pass phrase; records that one was wanted. */
static int localca_no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    *(int *)u = 1;
    return -1;
}

static char *localca_name_text(const X509_NAME *name)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL)
        return xstrdup("");
    char *s = NULL;
    if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        s = xstrndup(p ? p : "", n > 0 ? (size_t)n : 0);
    }
    BIO_free(b);
    return s ? s : xstrdup("");
}

#define CA_PEM_BEGIN "-----BEGIN CERTIFICATE-----\n"
#define CA_PEM_END "-----END CERTIFICATE-----\n"
#define CA_PEM_LINE 48 /* DER bytes per 64-column line */

/* PEM of x, as PEM_write_bio_X509 writes it, encoded straight from one i2d_X509. */
static char *localca_pem_of(X509 *x, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    if (n <= 0) {
        ERR_clear_error();
        return NULL;
    }
    size_t lines = ((size_t)n + CA_PEM_LINE - 1) / CA_PEM_LINE;
    size_t cap = strlen(CA_PEM_BEGIN) + ((size_t)n + 2) / 3 * 4 + lines + strlen(CA_PEM_END) + 1;
    char *s = xmalloc(cap);
    size_t o = strlen(CA_PEM_BEGIN);
    memcpy(s, CA_PEM_BEGIN, o);
    for (size_t i = 0; i < (size_t)n; i += CA_PEM_LINE) {
        size_t chunk = (size_t)n - i < CA_PEM_LINE ? (size_t)n - i : CA_PEM_LINE;
        o += (size_t)EVP_EncodeBlock((unsigned char *)s + o, der + i, (int)chunk);
        s[o++] = '\n';
    }
    memcpy(s + o, CA_PEM_END, strlen(CA_PEM_END) + 1);
    o += strlen(CA_PEM_END);
    OPENSSL_free(der);
    if (len != NULL)
        *len = o;
    return s;
}

/* Picks the signature digest for the CA key, or fails for a key type we do not sign with. */
static int localca_pick_digest(struct localca *ca, struct err *err)
{
    switch (EVP_PKEY_get_base_id(ca->key)) {
    case EVP_PKEY_RSA:
        if (EVP_PKEY_get_bits(ca->key) < 2048) {
            err_set(err, ERR_INVALID, "tls.key: RSA key of %d bits; at least 2048 are needed",
                    EVP_PKEY_get_bits(ca->key));
            return -1;
        }
        ca->md = EVP_sha256();
        return 0;
    case EVP_PKEY_EC: {
        char group[64] = "";
        size_t glen = 0;
        if (EVP_PKEY_get_utf8_string_param(ca->key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                           sizeof(group), &glen) != 1) {
            ERR_clear_error();
            err_set(err, ERR_INVALID, "tls.key: EC key without a named curve");
            return -1;
        }
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
            ca->md = EVP_sha256();
        else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
            ca->md = EVP_sha384();
        else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
            ca->md = EVP_sha512();
        else {
            err_set(err, ERR_INVALID,
                    "tls.key: EC curve %.40s is not supported (use P-256, P-384 or P-521)", group);
            return -1;
        }
        return 0;
    }
    case EVP_PKEY_ED25519: ca->md = NULL; return 0;
    default:
        err_set(err, ERR_INVALID,
                "tls.key: key type %.40s is not supported (use RSA, EC P-256/P-384/P-521 or "
                "Ed25519)",
                OBJ_nid2sn(EVP_PKEY_get_base_id(ca->key)));
        return -1;
    }
}

static int localca_load_key(struct localca *ca, const char *tls_key, size_t key_len,
                            struct err *err)
{
    if (tls_key == NULL || key_len == 0) {
        err_set(err, ERR_INVALID, "tls.key is empty");
        return -1;
    }
    if (key_len > LOCALCA_MAX_KEY_BYTES) {
        err_set(err, ERR_TOO_BIG, "tls.key: %zu bytes, more than the limit of %d", key_len,
                LOCALCA_MAX_KEY_BYTES);
        return -1;
    }
    /* A read-only BIO over the caller's bytes: no copy of the key to wipe. */
    BIO *bio = BIO_new_mem_buf(tls_key, (int)key_len);
    if (bio == NULL) {
        err_set(err, ERR_INTERNAL, "tls.key: out of memory");
        return -1;
    }
    int wanted_password = 0;
    ERR_clear_error();
    ca->key = PEM_read_bio_PrivateKey(bio, NULL, localca_no_password, &wanted_password);
    BIO_free(bio);
    ERR_clear_error();
    if (ca->key == NULL) {
        if (wanted_password)
            err_set(err, ERR_INVALID, "tls.key is encrypted; Ember needs an unencrypted key");
        else
            err_set(err, ERR_INVALID,
                    "tls.key: no PEM private key found (expected \"PRIVATE KEY\", \"RSA PRIVATE "
                    "KEY\" or \"EC PRIVATE KEY\")");
        return -1;
    }
    return localca_pick_digest(ca, err);
}

/* basicConstraints CA:TRUE, keyCertSign when keyUsage is present. */
static int localca_check_is_ca(struct localca *ca, struct err *err)
{
    int crit = 0;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(ca->cert, NID_basic_constraints, &crit, NULL);
    if (bc == NULL) {
        ERR_clear_error();
        err_set(err, ERR_INVALID,
                crit == -1 ? "tls.crt is not a CA certificate (no basicConstraints extension)"
                           : "tls.crt: the basicConstraints extension is malformed or repeated");
        return -1;
    }
    bool is_ca = bc->ca != 0;
    BASIC_CONSTRAINTS_free(bc);
    if (!is_ca) {
        err_set(err, ERR_INVALID, "tls.crt is not a CA certificate (basicConstraints CA:FALSE)");
        return -1;
    }
    uint32_t flags = X509_get_extension_flags(ca->cert);
    if (flags & EXFLAG_INVALID) {
        err_set(err, ERR_INVALID, "tls.crt: the CA certificate has malformed extensions");
        return -1;
    }
    if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(ca->cert) & KU_KEY_CERT_SIGN)) {
        err_set(err, ERR_INVALID,
                "tls.crt: the CA certificate's keyUsage lacks keyCertSign (cert sign)");
        return -1;
    }
    ca->pathlen = X509_get_pathlen(ca->cert);
    return 0;
}

/* The key identifier leaves name in their AKI: the CA's SKI, else SHA-1 of its key bits. */
static int localca_set_keyid(struct localca *ca, struct err *err)
{
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca->cert);
    if (ski != NULL) {
        ca->keyid = ASN1_OCTET_STRING_dup(ski);
    } else {
        unsigned char md[SHA_DIGEST_LENGTH];
        const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(ca->cert);
        if (bits == NULL) {
            err_set(err, ERR_INVALID, "tls.crt: the CA certificate has no public key");
            return -1;
        }
        SHA1(ASN1_STRING_get0_data(bits), (size_t)ASN1_STRING_length(bits), md);
        ca->keyid = ASN1_OCTET_STRING_new();
        if (ca->keyid != NULL && ASN1_OCTET_STRING_set(ca->keyid, md, sizeof(md)) != 1) {
            ASN1_OCTET_STRING_free(ca->keyid);
            ca->keyid = NULL;
        }
    }
    if (ca->keyid == NULL) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return -1;
    }
    /* The extensions every leaf carries unchanged are encoded here once; localca_sign copies. */
    AUTHORITY_KEYID akid = {.keyid = ca->keyid};
    BASIC_CONSTRAINTS bc_leaf = {.ca = 0, .pathlen = NULL};
    BASIC_CONSTRAINTS bc_ca = {.ca = 0xff, .pathlen = NULL};
    ca->ext_aki = X509V3_EXT_i2d(NID_authority_key_identifier, 0, &akid);
    ca->ext_bc[0] = X509V3_EXT_i2d(NID_basic_constraints, 1, &bc_leaf);
    ca->ext_bc[1] = X509V3_EXT_i2d(NID_basic_constraints, 1, &bc_ca);
    if (ca->ext_aki == NULL || ca->ext_bc[0] == NULL || ca->ext_bc[1] == NULL) {
        ERR_clear_error();
        err_set(err, ERR_INTERNAL,
                "cannot encode the leaves' authorityKeyIdentifier and basicConstraints");
        return -1;
    }
    return 0;
}

static bool localca_stack_has(STACK_OF(X509) * sk, X509 *x)
{
    for (int i = 0; i < sk_X509_num(sk); i++)
        if (X509_cmp(sk_X509_value(sk, i), x) == 0)
            return true;
    return false;
}

/* The issuer of x among the CA's intermediates and roots, or NULL. */
static X509 *localca_parent_of(const struct localca *ca, X509 *x)
{
    const STACK_OF(X509) * sets[2] = {ca->intermediates, ca->roots};
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < sk_X509_num(sets[s]); i++) {
            X509 *p = sk_X509_value(sets[s], i);
            if (p != x && chain_issued_by(x, p))
                return p;
        }
    return NULL;
}

/* A CA of the chain (up-referenced into ca->constrained) when it carries nameConstraints: every
 * leaf is checked against them, as a client's path validation would. */
static void localca_note_constraints(struct localca *ca, X509 *x)
{
    if (X509_get_ext_by_NID(x, NID_name_constraints, -1) < 0)
        return;
    if (ca->constrained == NULL && (ca->constrained = sk_X509_new_null()) == NULL)
        abort(); /* out of memory: the allocators abort too */
    if (X509_up_ref(x) != 1 || sk_X509_push(ca->constrained, x) <= 0)
        abort();
}

/* What the CA's whole chain imposes on what it signs, walked once at load. How many CAs may
 * stand below the signing CA (RFC 5280 6.1.4 (l), (m)): a CA k steps above it with pathlen:P
 * leaves P - k, and the smallest limit wins, so a sub-CA it issues is never refused by path
 * validation for a limit set higher up. And the CAs whose name constraints a leaf must meet. */
static void localca_chain_limits(struct localca *ca)
{
    long eff = X509_get_pathlen(ca->cert);
    X509 *cur = ca->cert;
    localca_note_constraints(ca, cur);
    long most = (long)sk_X509_num(ca->intermediates) + sk_X509_num(ca->roots); /* no loops */
    for (long k = 1; k <= most && !chain_issued_by(cur, cur); k++) {
        X509 *p = localca_parent_of(ca, cur);
        if (p == NULL)
            break;
        long pl = X509_get_pathlen(p);
        if (pl >= 0) {
            long left = pl - k > 0 ? pl - k : 0;
            eff = eff < 0 || left < eff ? left : eff;
        }
        localca_note_constraints(ca, p);
        cur = p;
    }
    ca->pathlen = eff;
}

/* Normalises the CA's own chain once, so that each localca_sign only prepends the leaf. */
/* True when root issued a certificate of set. */
static bool localca_issued_one(STACK_OF(X509) * set, X509 *root)
{
    for (int i = 0; i < sk_X509_num(set); i++)
        if (chain_issued_by(sk_X509_value(set, i), root))
            return true;
    return false;
}

/* The certificates of the chain: the CA, tls.crt's intermediates, and from ca.crt those that
 * issued one already in the set, repeatedly, so a bundle of several roots only contributes the
 * one (or ones) above this CA (*from_ca_crt counts them). NULL when out of memory. */
static STACK_OF(X509) *
    localca_chain_set(const struct localca *ca, int *from_ca_crt, struct err *err)
{
    STACK_OF(X509) *set = sk_X509_new_null();
    bool ok = set != NULL && sk_X509_push(set, ca->cert) > 0;
    for (int i = 0; ok && i < sk_X509_num(ca->intermediates); i++)
        ok = sk_X509_push(set, sk_X509_value(ca->intermediates, i)) > 0;
    *from_ca_crt = 0;
    for (bool grew = ok; grew;) {
        grew = false;
        for (int r = 0; ok && r < sk_X509_num(ca->roots); r++) {
            X509 *root = sk_X509_value(ca->roots, r);
            if (localca_stack_has(set, root) || !localca_issued_one(set, root))
                continue;
            ok = sk_X509_push(set, root) > 0;
            (*from_ca_crt)++;
            grew = true;
        }
    }
    if (!ok) {
        sk_X509_free(set);
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    return set;
}

/* The PEM of every certificate of set, appended to all. */
static int localca_set_pem(STACK_OF(X509) * set, struct buf *all, struct err *err)
{
    for (int i = 0; i < sk_X509_num(set); i++) {
        size_t n = 0;
        char *p = localca_pem_of(sk_X509_value(set, i), &n);
        int arc = p ? buf_append(all, p, n, err) : -1;
        free(p);
        if (arc != 0) {
            if (p == NULL)
                err_set(err, ERR_INTERNAL, "cannot encode a certificate as PEM");
            return -1;
        }
    }
    return 0;
}

static int localca_build_chain(struct localca *ca, struct err *err)
{
    int rc = -1;
    struct buf all;
    buf_init(&all, CHAIN_MAX_BYTES);
    char *chain = NULL, *anchor = NULL, *mine = NULL;
    int from_ca_crt = 0, already_known = 0;
    STACK_OF(X509) *set = localca_chain_set(ca, &from_ca_crt, err);
    if (set == NULL)
        goto out;
    for (int r = 0; r < sk_X509_num(ca->roots); r++)
        already_known += localca_stack_has(set, sk_X509_value(ca->roots, r)) ? 1 : 0;
    bool ca_self_signed = chain_issued_by(ca->cert, ca->cert);
    if (localca_set_pem(set, &all, err) != 0)
        goto out;
    if (chain_normalise(all.data, all.len, &chain, &anchor, err) != 0) {
        err_prefix(err, sk_X509_num(ca->roots) > 0 ? "tls.crt and ca.crt" : "tls.crt");
        goto out;
    }
    size_t mine_len = 0;
    mine = localca_pem_of(ca->cert, &mine_len);
    if (mine == NULL || strncmp(chain, mine, mine_len) != 0) {
        err_set(err, ERR_INVALID,
                "tls.crt: its first certificate must be the signing CA, the lowest of the chain; "
                "another certificate given was issued by it");
        goto out;
    }
    /* A ca.crt that adds nothing to a chain without a root names the wrong root. */
    bool has_root = false;
    for (int i = 0; i < sk_X509_num(set) && !has_root; i++)
        has_root = chain_issued_by(sk_X509_value(set, i), sk_X509_value(set, i));
    if (sk_X509_num(ca->roots) > 0 && from_ca_crt == 0 && already_known == 0 && !has_root) {
        err_set(err, ERR_INVALID,
                "ca.crt: none of its certificates issued the top certificate of tls.crt");
        goto out;
    }
    if (ca_self_signed) {
        /* Leaves of a root CA: the chain is the leaf alone, the root is the CA. */
        ca->tail_pem = xstrdup("");
        ca->anchor_pem = xstrdup(anchor[0] ? anchor : chain);
    } else {
        ca->tail_pem = xstrdup(chain);
        /* Without a root the topmost certificate is the trust anchor, as for any chain. */
        ca->anchor_pem = xstrdup(anchor[0] ? anchor : chain);
    }
    ca->tail_len = strlen(ca->tail_pem);
    rc = 0;
out:
    sk_X509_free(set);
    buf_free(&all);
    free(chain);
    free(anchor);
    free(mine);
    return rc;
}

static int localca_finish(struct localca *ca, time_t now, struct err *err);

struct localca *localca_load(const char *tls_crt, size_t crt_len, const char *tls_key,
                             size_t key_len, const char *ca_crt, size_t ca_len, time_t now,
                             struct err *err)
{
    struct localca *ca = xcalloc(1, sizeof(*ca));
    if (tls_crt == NULL || crt_len == 0) {
        err_set(err, ERR_INVALID, "tls.crt is empty");
        goto fail;
    }
    if (chain_parse_pem(tls_crt, crt_len, "tls.crt", &ca->intermediates, err) != 0)
        goto fail;
    ca->cert = sk_X509_shift(ca->intermediates);
    if (ca_crt != NULL && ca_len > 0 &&
        chain_parse_pem(ca_crt, ca_len, "ca.crt", &ca->roots, err) != 0)
        goto fail;
    if (ca->roots == NULL)
        ca->roots = sk_X509_new_null();
    if (ca->roots == NULL) {
        err_set(err, ERR_INTERNAL, "out of memory");
        goto fail;
    }
    if (localca_load_key(ca, tls_key, key_len, err) != 0 || localca_finish(ca, now, err) != 0)
        goto fail;
    return ca;
fail:
    localca_free(ca);
    return NULL;
}

struct localca *localca_from_parts(X509 *cert, STACK_OF(X509) * intermediates, EVP_PKEY *key,
                                   STACK_OF(X509) * roots, time_t now, struct err *err)
{
    struct localca *ca = xcalloc(1, sizeof(*ca));
    ca->intermediates =
        intermediates != NULL ? X509_chain_up_ref(intermediates) : sk_X509_new_null();
    ca->roots = roots != NULL ? X509_chain_up_ref(roots) : sk_X509_new_null();
    if (cert != NULL && X509_up_ref(cert) == 1)
        ca->cert = cert;
    if (key != NULL && EVP_PKEY_up_ref(key) == 1)
        ca->key = key;
    if (ca->cert == NULL || ca->key == NULL || ca->intermediates == NULL || ca->roots == NULL) {
        err_set(err, ERR_INTERNAL, "the CA from memory: no certificate or key, or out of memory");
        localca_free(ca);
        return NULL;
    }
    if (localca_pick_digest(ca, err) != 0 || localca_finish(ca, now, err) != 0) {
        localca_free(ca);
        return NULL;
    }
    return ca;
}

/* The checks and precomputations common to both constructors, once cert, key, intermediates
 * and roots are set. */
static int localca_finish(struct localca *ca, time_t now, struct err *err)
{
    if (X509_check_private_key(ca->cert, ca->key) != 1) {
        ERR_clear_error();
        err_set(err, ERR_INVALID, "tls.key does not match the certificate in tls.crt");
        return -1;
    }
    if (localca_check_is_ca(ca, err) != 0)
        return -1;
    if (X509_NAME_entry_count(X509_get_subject_name(ca->cert)) == 0) {
        err_set(err, ERR_INVALID,
                "tls.crt: the CA certificate's subject is empty; it would be the issuer name of "
                "every certificate Ember signs, which RFC 5280 requires to be non-empty");
        return -1;
    }
    if (signer_asn1_time(X509_get0_notBefore(ca->cert), &ca->not_before) != 0 ||
        signer_asn1_time(X509_get0_notAfter(ca->cert), &ca->not_after) != 0) {
        err_set(err, ERR_INVALID, "tls.crt: the CA certificate's validity dates are malformed");
        return -1;
    }
    if (localca_set_keyid(ca, err) != 0)
        return -1;
    if (localca_build_chain(ca, err) != 0)
        return -1;
    localca_chain_limits(ca);
    ca->subject = localca_name_text(X509_get_subject_name(ca->cert));
    return localca_check(ca, now, err);
}

int localca_check(const struct localca *ca, time_t now, struct err *err)
{
    char when[TIMEFMT_LEN];
    if (now >= ca->not_after) {
        timefmt_rfc3339(ca->not_after, when);
        err_set(err, ERR_ISSUER_NOT_READY, "the CA certificate in tls.crt expired at %s (notAfter)",
                when);
        return -1;
    }
    if (now < ca->not_before) {
        timefmt_rfc3339(ca->not_before, when);
        err_set(err, ERR_ISSUER_NOT_READY,
                "the CA certificate in tls.crt is not valid before %s (notBefore)", when);
        return -1;
    }
    return 0;
}

time_t localca_not_after(const struct localca *ca)
{
    return ca->not_after;
}

const char *localca_subject(const struct localca *ca)
{
    return ca->subject;
}

/* 128 random bits, top bit cleared so the INTEGER is positive, never zero. */
static int localca_set_serial(X509 *x)
{
    unsigned char b[CA_SERIAL_BYTES];
    bool zero = true;
    while (zero) {
        if (RAND_bytes(b, sizeof(b)) != 1)
            return -1;
        b[0] &= 0x7f;
        for (size_t i = 0; i < sizeof(b) && zero; i++)
            zero = b[i] == 0;
    }
    BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
    int rc = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL ? 0 : -1;
    BN_free(bn);
    return rc;
}

/* Copies the CSR's SubjectPublicKeyInfo as it is (no decode and re-encode of the key) and
 * adds the SKI computed from it. */
static int localca_copy_pubkey(X509 *x, X509_REQ *req, struct err *err)
{
    X509_PUBKEY *src = X509_REQ_get_X509_PUBKEY(req);
    X509_PUBKEY *dst = X509_get_X509_PUBKEY(x);
    ASN1_OBJECT *alg_obj = NULL;
    const unsigned char *bits = NULL;
    int bits_len = 0;
    X509_ALGOR *alg = NULL;
    if (src == NULL || dst == NULL ||
        X509_PUBKEY_get0_param(&alg_obj, &bits, &bits_len, &alg, src) != 1 || bits == NULL ||
        bits_len <= 0) {
        ERR_clear_error();
        err_set(err, ERR_INVALID, "the CSR has no usable public key");
        return -1;
    }
    const ASN1_OBJECT *obj = NULL;
    int ptype = V_ASN1_UNDEF;
    const void *pval = NULL;
    X509_ALGOR_get0(&obj, &ptype, &pval, alg);
    void *param = NULL;
    switch (ptype) {
    case V_ASN1_UNDEF:
    case V_ASN1_NULL: break;
    case V_ASN1_OBJECT: param = OBJ_dup(pval); break;
    case V_ASN1_BOOLEAN:
        err_set(err, ERR_INVALID, "the CSR's public key algorithm parameters are malformed");
        return -1;
    default: param = ASN1_STRING_dup(pval); break;
    }
    ASN1_OBJECT *obj_copy = OBJ_dup(obj);
    unsigned char *bits_copy = OPENSSL_memdup(bits, (size_t)bits_len);
    if ((ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL && param == NULL) || obj_copy == NULL ||
        bits_copy == NULL) {
        goto nomem;
    }
    if (X509_PUBKEY_set0_param(dst, obj_copy, ptype, param, bits_copy, bits_len) != 1)
        goto nomem;

    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1(bits, (size_t)bits_len, md);
    ASN1_OCTET_STRING ski = {.length = sizeof(md), .type = V_ASN1_OCTET_STRING, .data = md};
    if (X509_add1_ext_i2d(x, NID_subject_key_identifier, &ski, 0, X509V3_ADD_DEFAULT) != 1) {
        ERR_clear_error();
        err_set(err, ERR_INTERNAL, "cannot add the subjectKeyIdentifier");
        return -1;
    }
    return 0;
nomem:
    if (ptype == V_ASN1_OBJECT)
        ASN1_OBJECT_free(param);
    else
        ASN1_STRING_free(param);
    ASN1_OBJECT_free(obj_copy);
    OPENSSL_free(bits_copy);
    ERR_clear_error();
    err_set(err, ERR_INTERNAL, "cannot copy the CSR's public key");
    return -1;
}

/* The KeyUsage BIT STRING for OpenSSL KU_* bits: bit n of the extension is 0x80 >> n of the
 * first byte (n < 8), decipherOnly (n = 8) is KU_DECIPHER_ONLY. */
static int localca_add_key_usage(X509 *x, uint32_t ku)
{
    ASN1_BIT_STRING *bs = ASN1_BIT_STRING_new();
    int rc = bs != NULL ? 0 : -1;
    for (int n = 0; n < 9 && rc == 0; n++) {
        uint32_t bit = n < 8 ? 0x80u >> n : KU_DECIPHER_ONLY;
        if ((ku & bit) && ASN1_BIT_STRING_set_bit(bs, n, 1) != 1)
            rc = -1;
    }
    if (rc == 0 && X509_add1_ext_i2d(x, NID_key_usage, bs, 1, X509V3_ADD_DEFAULT) != 1)
        rc = -1;
    ASN1_BIT_STRING_free(bs);
    return rc;
}

static int localca_add_ext_key_usage(X509 *x, const struct usage_x509 *ux)
{
    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
    int rc = eku != NULL ? 0 : -1;
    for (size_t i = 0; i < ux->n_eku && rc == 0; i++) {
        ASN1_OBJECT *o = OBJ_nid2obj(ux->eku[i]);
        if (o == NULL || sk_ASN1_OBJECT_push(eku, o) <= 0)
            rc = -1;
    }
    if (rc == 0 && X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) != 1)
        rc = -1;
    /* The NID objects are OpenSSL's static ones: free the stack only. */
    sk_ASN1_OBJECT_free(eku);
    return rc;
}

/* Copies the requested extension nid from the CSR, bytes unchanged; critical is 0 or 1, or -1
 * to keep the CSR's. */
static int localca_copy_ext(X509 *x, X509_REQ *req, int nid, int critical, struct err *err)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    int rc = 0, found = 0;
    for (int i = 0; i < sk_X509_EXTENSION_num(exts) && rc == 0; i++) {
        X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) != nid)
            continue;
        if (++found > 1) {
            err_set(err, ERR_INVALID, "the CSR requests %s more than once", OBJ_nid2sn(nid));
            rc = -1;
        } else if ((critical >= 0 && X509_EXTENSION_set_critical(e, critical) != 1) ||
                   X509_add_ext(x, e, -1) != 1) {
            err_set(err, ERR_INTERNAL, "cannot add the %s", OBJ_nid2sn(nid));
            rc = -1;
        }
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ERR_clear_error();
    return rc;
}

/* basicConstraints CA:TRUE with the pathLenConstraint the CSR asked for, or the policy's for a
 * CSR that asks for none (critical). */
static int localca_add_path_len(X509 *x, long path_len)
{
    BASIC_CONSTRAINTS bc = {.ca = 0xff, .pathlen = ASN1_INTEGER_new()};
    int rc = bc.pathlen != NULL && ASN1_INTEGER_set(bc.pathlen, path_len) == 1 &&
                     X509_add1_ext_i2d(x, NID_basic_constraints, &bc, 1, X509V3_ADD_DEFAULT) == 1
                 ? 0
                 : -1;
    ASN1_INTEGER_free(bc.pathlen);
    return rc;
}

static X509 *localca_build_leaf(const struct localca *ca, const struct csr *csr,
                                const struct sign_params *p, struct err *err)
{
    X509_REQ *req = csr->req;
    X509 *x = X509_new();
    if (x == NULL) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    const char *step = "version";
    if (X509_set_version(x, X509_VERSION_3) != 1)
        goto fail;
    step = "serial number";
    if (localca_set_serial(x) != 0)
        goto fail;
    step = "subject";
    const X509_NAME *subject = X509_REQ_get_subject_name(req);
    if (subject == NULL || X509_set_subject_name(x, subject) != 1)
        goto fail;
    step = "issuer";
    if (X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) != 1)
        goto fail;

    step = "validity";
    time_t not_after = ca->not_after;
    if (p->duration_s < (long long)(ca->not_after - p->now))
        not_after = p->now + (time_t)p->duration_s;
    if (ASN1_TIME_set(X509_getm_notBefore(x), p->now) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), not_after) == NULL)
        goto fail;

    if (localca_copy_pubkey(x, req, err) != 0)
        goto fail_set;

    step = "authorityKeyIdentifier";
    if (X509_add_ext(x, ca->ext_aki, -1) != 1)
        goto fail;
    step = "basicConstraints";
    long path_len = -1;
    if (p->is_ca)
        path_len = csr->bc_has_path_len ? csr->bc_path_len : p->has_path_len ? p->path_len : -1;
    if (path_len >= 0 ? localca_add_path_len(x, path_len) != 0
                      : X509_add_ext(x, ca->ext_bc[p->is_ca ? 1 : 0], -1) != 1)
        goto fail;
    struct usage_x509 ux;
    usage_to_x509(p->usages ? p->usages : USAGE_DEFAULT, p->is_ca, &ux);
    step = "keyUsage";
    if (ux.ku != 0 && localca_add_key_usage(x, ux.ku) != 0)
        goto fail;
    step = "extKeyUsage";
    if (ux.n_eku > 0 && localca_add_ext_key_usage(x, &ux) != 0)
        goto fail;
    /* RFC 5280 4.2.1.6: critical exactly when the subject is empty. */
    if (localca_copy_ext(x, req, NID_subject_alt_name, X509_NAME_entry_count(subject) == 0 ? 1 : 0,
                         err) != 0)
        goto fail_set;
    /* As requested, criticality included (cert-manager's default is not critical). */
    if (p->is_ca && csr->has_name_constraints &&
        localca_copy_ext(x, req, NID_name_constraints, -1, err) != 0)
        goto fail_set;

    step = "signature";
    if (X509_sign(x, ca->key, ca->md) <= 0)
        goto fail;
    return x;
fail:
    err_set(err, ERR_INTERNAL, "cannot build the certificate (%s)", step);
    err_append_openssl(err);
fail_set:
    ERR_clear_error();
    X509_free(x);
    return NULL;
}

/* The leaf's lifetime is duration_s cut to the CA's notAfter (localca_build_leaf): refuses
 * one shorter than the policy's spec.validity.min. */
static WUR int localca_check_min(const struct localca *ca, const struct sign_params *p,
                                 struct err *err)
{
    long long life = (long long)(ca->not_after - p->now);
    bool cut = p->duration_s > life;
    if (!cut)
        life = p->duration_s;
    if (p->min_duration_s <= 0 || life >= p->min_duration_s)
        return 0;
    char got[32], want[32], when[TIMEFMT_LEN];
    duration_format_go(life, got, sizeof(got));
    duration_format_go(p->min_duration_s, want, sizeof(want));
    timefmt_rfc3339(ca->not_after, when);
    if (cut)
        err_set(err, ERR_PERMANENT,
                "the certificate would live only %s, less than the policy's spec.validity.min "
                "%s: the CA (%s) expires at %s (its notAfter) and no certificate it signs can "
                "outlive it; renew the CA or lower spec.validity.min",
                got, want, ca->subject, when);
    else
        err_set(err, ERR_PERMANENT,
                "the certificate would live only %s, less than the policy's spec.validity.min "
                "%s; lower spec.validity.min or allow a longer lifetime",
                got, want);
    return -1;
}

int localca_sign(const struct localca *ca, const struct csr *csr, const struct sign_params *p,
                 struct sign_result *out, struct err *err)
{
    out->chain_pem = NULL;
    out->ca_pem = NULL;
    if (csr == NULL || csr->req == NULL) {
        err_set(err, ERR_INVALID, "no CSR to sign");
        return -1;
    }
    if (p->duration_s <= 0) {
        err_set(err, ERR_INVALID, "duration must be positive, got %lld s", p->duration_s);
        return -1;
    }
    if (localca_check(ca, p->now, err) != 0)
        return -1;
    if (p->is_ca && ca->pathlen == 0) {
        long own = X509_get_pathlen(ca->cert);
        if (own == 0)
            err_set(err, ERR_PERMANENT,
                    "the CA (%s) cannot issue CA certificates (isCA: true): it has "
                    "basicConstraints pathlen:0",
                    ca->subject);
        else
            err_set(err, ERR_PERMANENT,
                    "the CA (%s) cannot issue CA certificates (isCA: true): the basicConstraints "
                    "pathlen of a CA above it allows no CA below it",
                    ca->subject);
        return -1;
    }
    if (p->is_ca && csr->bc_has_path_len && ca->pathlen >= 0 && csr->bc_path_len >= ca->pathlen) {
        err_set(err, ERR_PERMANENT,
                "the CSR asks for a CA with pathLen %ld, but the CA (%s) allows %ld CA(s) below "
                "it (the basicConstraints pathlen of it or of a CA above it), so a CA it signs "
                "can have at most pathLen %ld; request a smaller pathLen",
                csr->bc_path_len, ca->subject, ca->pathlen, ca->pathlen - 1);
        return -1;
    }
    if (p->is_ca && !csr->bc_has_path_len && p->has_path_len && ca->pathlen >= 0 &&
        p->path_len >= ca->pathlen) {
        err_set(err, ERR_PERMANENT,
                "the policy gives this CA pathLen %ld (spec.ca.maxPathLen), but the CA (%s) "
                "allows %ld CA(s) below it (the basicConstraints pathlen of it or of a CA above "
                "it), so a CA it signs can have at most pathLen %ld; lower the policy's "
                "ca.maxPathLen or request a smaller pathLen in the CSR",
                p->path_len, ca->subject, ca->pathlen, ca->pathlen - 1);
        return -1;
    }
    if (localca_check_min(ca, p, err) != 0)
        return -1;
    X509 *leaf = localca_build_leaf(ca, csr, p, err);
    if (leaf == NULL)
        return -1;
    if (ca->constrained != NULL && chain_check_names(leaf, ca->constrained, err) != 0) {
        X509_free(leaf);
        return -1;
    }
    size_t leaf_len = 0;
    char *leaf_pem = localca_pem_of(leaf, &leaf_len);
    X509_free(leaf);
    if (leaf_pem == NULL) {
        err_set(err, ERR_INTERNAL, "cannot encode the certificate as PEM");
        return -1;
    }
    char *chain = xmalloc(leaf_len + ca->tail_len + 1);
    memcpy(chain, leaf_pem, leaf_len);
    memcpy(chain + leaf_len, ca->tail_pem, ca->tail_len + 1);
    free(leaf_pem);
    out->chain_pem = chain;
    out->ca_pem = xstrdup(ca->anchor_pem);
    return 0;
}

void localca_free(struct localca *ca)
{
    if (ca == NULL)
        return;
    EVP_PKEY_free(ca->key); /* wipes the key material */
    X509_free(ca->cert);
    sk_X509_pop_free(ca->intermediates, X509_free);
    sk_X509_pop_free(ca->roots, X509_free);
    sk_X509_pop_free(ca->constrained, X509_free);
    ASN1_OCTET_STRING_free(ca->keyid);
    X509_EXTENSION_free(ca->ext_aki);
    X509_EXTENSION_free(ca->ext_bc[0]);
    X509_EXTENSION_free(ca->ext_bc[1]);
    free(ca->tail_pem);
    free(ca->anchor_pem);
    free(ca->subject);
    free(ca);
}

/* ---- the row of the signer table ---- */

static void localca_row_free_spec(void *spec)
{
    struct localca_spec *s = spec;
    if (s == NULL)
        return;
    free(s->secret_name);
    free(s);
}

/* spec.ca's members. */
static const struct jsonfield localca_spec_fields[] = {
    {.name = "secretName", .type = JSONFIELD_STRING, .required = true},
    {0},
};

static int localca_row_parse(const cJSON *obj, void **out, struct err *err)
{
    struct localca_spec *s = xcalloc(1, sizeof(*s));
    if (jsonfield_check(obj, "spec.ca", localca_spec_fields, 0, err) != 0 ||
        signer_spec_copy(obj, "spec.ca", "secretName", &s->secret_name, err) != 0) {
        localca_row_free_spec(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* The CA from the Secret's tls.crt, tls.key and ca.crt; NULL with e. */
static struct localca *localca_from_secret(const cJSON *secret, time_t now, struct err *e)
{
    char *crt = NULL, *key = NULL, *ca = NULL;
    size_t crt_len = 0, key_len = 0, ca_len = 0;
    struct localca *loaded = NULL;
    if (secret_value(secret, "tls.crt", &crt, &crt_len, e) == 0 &&
        secret_value(secret, "tls.key", &key, &key_len, e) == 0 &&
        secret_value(secret, "ca.crt", &ca, &ca_len, e) == 0) {
        if (crt == NULL || key == NULL)
            err_set(e, ERR_INVALID, "it needs the keys tls.crt and tls.key");
        else
            loaded = localca_load(crt, crt_len, key, key_len, ca, ca_len, now, e);
    }
    xfree_secret(crt, crt_len);
    xfree_secret(key, key_len);
    xfree_secret(ca, ca_len);
    return loaded;
}

static int localca_row_load(const void *spec, const struct signer_env *env,
                            const struct signer_where *where, time_t now, void **ctx,
                            struct err *err)
{
    const struct localca_spec *s = spec;
    struct err e = {0};
    cJSON *secret = env->get_secret(env->ud, where->ns, s->secret_name, &e);
    if (secret == NULL) {
        err_set(err, e.kind == ERR_TRANSIENT ? ERR_TRANSIENT : ERR_ISSUER_NOT_READY,
                "Secret %s/%s named by spec.ca.secretName: %s", where->ns, s->secret_name,
                e.msg[0] ? e.msg : "not found");
        return -1;
    }
    struct localca *ca = localca_from_secret(secret, now, &e);
    secret_delete(secret);
    if (ca == NULL) {
        /* A CA Secret can be fixed: never ERR_PERMANENT (the issuer stays Pending). */
        err_set(err, e.kind == ERR_PERMANENT ? ERR_INVALID : e.kind, "Secret %s/%s: %s", where->ns,
                s->secret_name, e.msg);
        return -1;
    }
    *ctx = ca;
    return 0;
}

static int localca_row_sign(void *ctx, const struct csr *csr, const struct sign_params *p,
                            struct sign_result *out, struct err *err)
{
    return localca_sign(ctx, csr, p, out, err);
}

static int localca_row_check(void *ctx, time_t now, struct err *err)
{
    return localca_check(ctx, now, err);
}

static time_t localca_row_expiry(void *ctx)
{
    return localca_not_after(ctx);
}

static void localca_row_free(void *ctx)
{
    localca_free(ctx);
}

const struct signer_ops localca_row = {
    .name = "local",
    .spec_key = "ca",
    .parse = localca_row_parse,
    .free_spec = localca_row_free_spec,
    .load = localca_row_load,
    .sign = localca_row_sign,
    .check = localca_row_check,
    .recheck = NULL,
    .expiry = localca_row_expiry,
    .free = localca_row_free,
};

struct signer localca_signer(struct localca *ca)
{
    return (struct signer){.ops = &localca_row, .ctx = ca};
}
