/* csr.c -- PKCS#10 certificate signing requests: one-pass parse, proof of possession, checks. */
#include "x509/csr.h"

#include "base/b64.h"
#include "base/mem.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSR_PEM_LABEL_MAX 64
/* OpenSSL refuses to verify with larger RSA moduli; each one costs milliseconds. */
#define CSR_RSA_MAX_BITS 16384

static bool csr_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool csr_is_b64(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
}

static bool csr_starts(const unsigned char *p, const unsigned char *end, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(end - p) >= n && memcmp(p, s, n) == 0;
}

/* What a PEM label holds, for a message that tells the user what they pasted. */
static const char *csr_pem_label_kind(const char *label)
{
    size_t n = strlen(label);
    if (strcmp(label, "CERTIFICATE") == 0 || strcmp(label, "X509 CERTIFICATE") == 0 ||
        strcmp(label, "TRUSTED CERTIFICATE") == 0)
        return "a certificate";
    if (n >= 11 && strcmp(label + n - 11, "PRIVATE KEY") == 0)
        return "a private key";
    if (n >= 10 && strcmp(label + n - 10, "PUBLIC KEY") == 0)
        return "a public key";
    if (strcmp(label, "X509 CRL") == 0)
        return "a CRL";
    if (n >= 10 && strcmp(label + n - 10, "PARAMETERS") == 0)
        return "key parameters";
    return NULL;
}

/* Reads the BEGIN line of the PEM block at *pp (white space before it is skipped) and its label
 * into label, which must name a CSR; *pp moves past the line. */
static WUR int csr_pem_begin(const unsigned char **pp, const unsigned char *end,
                             char label[CSR_PEM_LABEL_MAX + 1], struct err *err)
{
    const unsigned char *p = *pp;
    while (p < end && csr_is_space(*p))
        p++;
    if (!csr_starts(p, end, "-----BEGIN ")) {
        err_set(err, ERR_INVALID, "CSR: unexpected text before the PEM BEGIN line");
        return -1;
    }
    p += strlen("-----BEGIN ");
    size_t ln = 0;
    while (p < end && *p != '-' && *p != '\n' && ln < CSR_PEM_LABEL_MAX)
        label[ln++] = (char)*p++;
    label[ln] = '\0';
    if (!csr_starts(p, end, "-----")) {
        err_set(err, ERR_INVALID, "CSR: malformed PEM BEGIN line");
        return -1;
    }
    p += 5;
    if (strcmp(label, "CERTIFICATE REQUEST") != 0 &&
        strcmp(label, "NEW CERTIFICATE REQUEST") != 0) {
        const char *kind = csr_pem_label_kind(label);
        if (kind != NULL)
            err_set(err, ERR_INVALID, "CSR: the PEM block holds %s (%s), not a CERTIFICATE REQUEST",
                    kind, label);
        else
            err_set(err, ERR_INVALID, "CSR: PEM block type \"%s\" is not a CERTIFICATE REQUEST",
                    label);
        return -1;
    }
    if (p < end && *p == '\r')
        p++;
    if (p < end && *p != '\n') {
        err_set(err, ERR_INVALID, "CSR: unexpected text after the PEM BEGIN line");
        return -1;
    }
    *pp = p;
    return 0;
}

/* Gathers the base64 characters of the body at *pp, up to the END line of label, into a new
 * string *b64 of *n bytes (free() it); *pp moves past the END line. No PEM headers: CSRs are
 * never encrypted. */
static WUR int csr_pem_body(const unsigned char **pp, const unsigned char *end, const char *label,
                            char **b64, size_t *n, struct err *err)
{
    const unsigned char *p = *pp;
    char want[CSR_PEM_LABEL_MAX + 16];
    if (snprintf(want, sizeof(want), "-----END %s-----", label) >= (int)sizeof(want)) {
        err_set(err, ERR_INTERNAL, "CSR: the PEM label is too long");
        return -1;
    }
    char *out = xmalloc((size_t)(end - p) + 1);
    size_t k = 0;
    int line = 1;
    while (p < end && *p != '-') {
        if (*p == '\n')
            line++;
        if (csr_is_space(*p)) {
            p++;
            continue;
        }
        if (!csr_is_b64(*p)) {
            free(out);
            err_set(err, ERR_INVALID, "CSR: PEM body line %d holds a character that is not base64",
                    line);
            return -1;
        }
        out[k++] = (char)*p++;
    }
    if (p == end) {
        free(out);
        err_set(err, ERR_INVALID, "CSR: PEM block has no -----END %s----- line", label);
        return -1;
    }
    if (!csr_starts(p, end, want)) {
        free(out);
        err_set(err, ERR_INVALID, "CSR: malformed PEM END line (expected %s)", want);
        return -1;
    }
    *pp = p + strlen(want);
    *b64 = out;
    *n = k;
    return 0;
}

/* Decodes the one PEM block in data into DER (free() it). Only whitespace may surround it. */
static WUR int csr_pem_to_der(const unsigned char *data, size_t len, unsigned char **der,
                              size_t *der_len, struct err *err)
{
    const unsigned char *p = data, *end = data + len;
    char label[CSR_PEM_LABEL_MAX + 1];
    char *b64 = NULL;
    size_t n = 0;
    if (csr_pem_begin(&p, end, label, err) != 0 || csr_pem_body(&p, end, label, &b64, &n, err) != 0)
        return -1;
    while (p < end && csr_is_space(*p))
        p++;
    if (p < end) {
        free(b64);
        if (csr_starts(p, end, "-----BEGIN"))
            err_set(err, ERR_INVALID,
                    "CSR: more than one PEM block; give exactly one CERTIFICATE REQUEST");
        else
            err_set(err, ERR_INVALID, "CSR: trailing data after the PEM END line");
        return -1;
    }
    int rc = b64_decode(b64, n, CSR_MAX_BYTES, der, der_len, err);
    free(b64);
    if (rc != 0) {
        err_prefix(err, "CSR: PEM body");
        return -1;
    }
    return 0;
}

/* Writes an object's short name (or dotted OID) into buf. */
static const char *csr_obj_name(const ASN1_OBJECT *obj, char *buf, size_t len)
{
    int nid = OBJ_obj2nid(obj);
    const char *sn = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
    if (sn != NULL) {
        snprintf(buf, len, "%s", sn);
        return buf;
    }
    if (OBJ_obj2txt(buf, (int)len, obj, 1) <= 0)
        snprintf(buf, len, "unknown OID");
    return buf;
}

/* Where a DER request keeps what its parse needs: the signed part and the key's algorithm OID. */
struct csr_layout {
    size_t tbs_off, tbs_len;
    size_t oid_tlv_off, oid_tlv_len; /* the OBJECT IDENTIFIER inside SubjectPublicKeyInfo */
    size_t oid_off, oid_len;         /* its content octets */
};

/* Reads one definite-length header at *p; returns the content length or -1. */
static WUR long csr_der_header(const unsigned char **p, const unsigned char *end, int want_tag,
                               bool constructed)
{
    long len = 0;
    int tag = 0, cls = 0;
    int rc = ASN1_get_object(p, &len, &tag, &cls, (long)(end - *p));
    if ((rc & 0x80) || rc == 0x21 || cls != V_ASN1_UNIVERSAL || tag != want_tag ||
        ((rc & V_ASN1_CONSTRUCTED) != 0) != constructed || len > end - *p)
        return -1;
    return len;
}

/* Walks CertificationRequest -> CertificationRequestInfo -> version, subject ->
 * SubjectPublicKeyInfo -> AlgorithmIdentifier -> OID. */
static WUR int csr_der_layout(const unsigned char *der, size_t der_len, struct csr_layout *lo)
{
    const unsigned char *p = der, *end = der + der_len;
    if (csr_der_header(&p, end, V_ASN1_SEQUENCE, true) < 0)
        return -1;
    const unsigned char *tbs = p;
    long l = csr_der_header(&p, end, V_ASN1_SEQUENCE, true);
    if (l < 0)
        return -1;
    lo->tbs_off = (size_t)(tbs - der);
    lo->tbs_len = (size_t)(p - tbs) + (size_t)l;
    if ((l = csr_der_header(&p, end, V_ASN1_INTEGER, false)) < 0)
        return -1;
    p += l;
    if ((l = csr_der_header(&p, end, V_ASN1_SEQUENCE, true)) < 0)
        return -1;
    p += l;
    if (csr_der_header(&p, end, V_ASN1_SEQUENCE, true) < 0 ||
        csr_der_header(&p, end, V_ASN1_SEQUENCE, true) < 0)
        return -1;
    const unsigned char *tlv = p;
    if ((l = csr_der_header(&p, end, V_ASN1_OBJECT, false)) < 2)
        return -1;
    lo->oid_tlv_off = (size_t)(tlv - der);
    lo->oid_off = (size_t)(p - der);
    lo->oid_len = (size_t)l;
    lo->oid_tlv_len = lo->oid_off - lo->oid_tlv_off + lo->oid_len;
    return 0;
}

/* Made once per process and never changed afterwards, so sharing them is thread-safe. */
static struct {
    pthread_once_t once;
    OSSL_LIB_CTX *bare;     /* only the null provider: nothing decodes keys in it */
    EVP_PKEY *ec_params[3]; /* P-256, P-384, P-521: group only, dup'd for each request's key */
} csr_cache = {.once = PTHREAD_ONCE_INIT};

static const int csr_ec_curves[3] = {NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1};

static void csr_cache_init(void)
{
    OSSL_LIB_CTX *bare = OSSL_LIB_CTX_new();
    /* Loading a provider explicitly stops the library from loading "default" into it. */
    if (bare != NULL && OSSL_PROVIDER_load(bare, "null") == NULL) {
        OSSL_LIB_CTX_free(bare);
        bare = NULL;
    }
    csr_cache.bare = bare;
    for (size_t i = 0; i < sizeof(csr_ec_curves) / sizeof(csr_ec_curves[0]); i++) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                             (char *)OBJ_nid2sn(csr_ec_curves[i]), 0),
            OSSL_PARAM_construct_end(),
        };
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        EVP_PKEY *pkey = NULL;
        if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEY_PARAMETERS, params) != 1)
            pkey = NULL;
        EVP_PKEY_CTX_free(ctx);
        csr_cache.ec_params[i] = pkey;
    }
    /* Without the cache every request takes the slower general paths below. */
    ERR_clear_error();
}

/* d2i_X509_REQ would build a whole OSSL_DECODER context for the public key (OpenSSL 3.0),
 * which costs more than the signature check, only to find the key it cannot decode is not
 * needed: csr_build_key builds it straight from its parameters. So the request is decoded in
 * a library context without providers, where that search finds nothing at once. */
static WUR X509_REQ *csr_decode_der(const unsigned char *der, size_t der_len, struct err *err)
{
    struct csr_layout lo;
    if (csr_der_layout(der, der_len, &lo) != 0) {
        err_set(err, ERR_INVALID, "CSR does not decode as a DER PKCS#10 certificate request");
        ERR_clear_error();
        return NULL;
    }
    const unsigned char *op = der + lo.oid_tlv_off;
    ASN1_OBJECT *alg = d2i_ASN1_OBJECT(NULL, &op, (long)lo.oid_tlv_len);
    if (alg == NULL) {
        err_set(err, ERR_INVALID, "CSR: the public key algorithm OID does not decode");
        ERR_clear_error();
        return NULL;
    }
    ASN1_OBJECT_free(alg);
    pthread_once(&csr_cache.once, csr_cache_init);
    const unsigned char *p = der;
    X509_REQ *req = csr_cache.bare != NULL ? (X509_REQ *)ASN1_item_d2i_ex(NULL, &p, (long)der_len,
                                                                          ASN1_ITEM_rptr(X509_REQ),
                                                                          csr_cache.bare, NULL)
                                           : d2i_X509_REQ(NULL, &p, (long)der_len);
    if (req == NULL) {
        err_set(err, ERR_INVALID, "CSR does not decode as a PKCS#10 certificate request");
        err_append_openssl(err);
        return NULL;
    }
    if (p != der + der_len) {
        X509_REQ_free(req);
        err_set(err, ERR_INVALID, "CSR: trailing data after the DER request");
        return NULL;
    }
    /* The structure must re-encode to the bytes that were signed: no BER, no odd encodings,
     * so whoever copies from req copies what the requester signed. */
    unsigned char *enc = NULL;
    int n = i2d_re_X509_REQ_tbs(req, &enc);
    bool same = n > 0 && (size_t)n == lo.tbs_len && memcmp(enc, der + lo.tbs_off, lo.tbs_len) == 0;
    OPENSSL_free(enc);
    if (!same) {
        X509_REQ_free(req);
        err_set(err, ERR_INVALID, "CSR is not in canonical DER encoding");
        ERR_clear_error();
        return NULL;
    }
    return req;
}

static WUR EVP_PKEY *csr_key_fromdata(const char *type, OSSL_PARAM *params)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

/* A public key on a named curve. EC_POINT_oct2point, under both paths, refuses a point that
 * is not on the curve. */
static WUR EVP_PKEY *csr_key_ec(int curve, const unsigned char *pk, int pklen)
{
    EVP_PKEY *tmpl = NULL;
    for (size_t i = 0; i < sizeof(csr_ec_curves) / sizeof(csr_ec_curves[0]); i++)
        if (csr_ec_curves[i] == curve)
            tmpl = csr_cache.ec_params[i];
    if (tmpl != NULL) {
        /* Copying a ready group costs far less than building it from its name. */
        EVP_PKEY *pkey = EVP_PKEY_dup(tmpl);
        if (pkey != NULL && EVP_PKEY_set1_encoded_public_key(pkey, pk, (size_t)pklen) == 1)
            return pkey;
        EVP_PKEY_free(pkey);
        return NULL;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)OBJ_nid2sn(curve), 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pk, (size_t)pklen),
        OSSL_PARAM_construct_end(),
    };
    return csr_key_fromdata("EC", params);
}

/* RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }, both positive. */
static WUR EVP_PKEY *csr_key_rsa(const unsigned char *pk, int pklen, int *bits)
{
    const unsigned char *p = pk;
    ASN1_SEQUENCE_ANY *seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, pklen);
    EVP_PKEY *pkey = NULL;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    if (seq == NULL || p != pk + pklen || sk_ASN1_TYPE_num(seq) != 2)
        goto out;
    const ASN1_TYPE *tn = sk_ASN1_TYPE_value(seq, 0), *te = sk_ASN1_TYPE_value(seq, 1);
    if (tn->type != V_ASN1_INTEGER || te->type != V_ASN1_INTEGER)
        goto out;
    n = ASN1_INTEGER_to_BN(tn->value.integer, NULL);
    e = ASN1_INTEGER_to_BN(te->value.integer, NULL);
    /* An even or tiny exponent makes the proof of possession meaningless. */
    if (n == NULL || e == NULL || !BN_is_odd(e) || BN_is_one(e) || !BN_is_odd(n))
        goto out;
    *bits = BN_num_bits(n);
    if (*bits < 2048 || *bits > CSR_RSA_MAX_BITS) {
        pkey = NULL;
        goto out;
    }
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
        goto out;
    pkey = csr_key_fromdata("RSA", params);
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    return pkey;
}

/* An RSA key: c->pkey from the RSAPublicKey pk (pklen bytes), at least 2048 bits. */
static WUR int csr_build_rsa(struct csr *c, int ptype, const unsigned char *pk, int pklen,
                             struct err *err)
{
    int bits = 0;
    if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF) {
        err_set(err, ERR_INVALID, "CSR: the RSA key has unexpected algorithm parameters");
        return -1;
    }
    c->pkey = csr_key_rsa(pk, pklen, &bits);
    if (bits != 0 && bits < 2048) {
        err_set(err, ERR_INVALID,
                "CSR: key algorithm RSA with %d bits is not allowed: RSA "
                "keys need at least 2048 bits",
                bits);
        return -1;
    }
    if (bits > CSR_RSA_MAX_BITS) {
        err_set(err, ERR_INVALID,
                "CSR: key algorithm RSA with %d bits is not allowed: at most "
                "%d bits",
                bits, CSR_RSA_MAX_BITS);
        return -1;
    }
    if (c->pkey == NULL) {
        err_set(err, ERR_INVALID, "CSR: the RSA public key does not decode or is not valid");
        ERR_clear_error();
        return -1;
    }
    c->key_type = CSR_KEY_RSA;
    c->key_bits = bits;
    snprintf(c->key_alg, sizeof(c->key_alg), "RSA_%d", bits);
    return 0;
}

/* An EC key on a named curve pval (P-256, P-384 or P-521): c->pkey from the point pk. */
static WUR int csr_build_ec(struct csr *c, int ptype, const void *pval, const unsigned char *pk,
                            int pklen, struct err *err)
{
    if (ptype != V_ASN1_OBJECT || pval == NULL) {
        err_set(err, ERR_INVALID,
                "CSR: EC key with explicit curve parameters is not allowed: "
                "use a named curve (P-256, P-384 or P-521)");
        return -1;
    }
    int curve = OBJ_obj2nid(pval);
    c->key_type = CSR_KEY_EC;
    switch (curve) {
    case NID_X9_62_prime256v1:
        c->key_bits = 256;
        snprintf(c->key_alg, sizeof(c->key_alg), "EC_P256");
        break;
    case NID_secp384r1:
        c->key_bits = 384;
        snprintf(c->key_alg, sizeof(c->key_alg), "EC_P384");
        break;
    case NID_secp521r1:
        c->key_bits = 521;
        snprintf(c->key_alg, sizeof(c->key_alg), "EC_P521");
        break;
    default: {
        char name[80];
        err_set(err, ERR_INVALID,
                "CSR: key algorithm EC on curve %s is not allowed: use "
                "P-256, P-384 or P-521",
                csr_obj_name(pval, name, sizeof(name)));
        return -1;
    }
    }
    c->pkey = pklen > 0 ? csr_key_ec(curve, pk, pklen) : NULL;
    if (c->pkey == NULL) {
        err_set(err, ERR_INVALID, "CSR: the EC public key is not a point on %s", OBJ_nid2sn(curve));
        ERR_clear_error();
        return -1;
    }
    return 0;
}

/* An Ed25519 key: c->pkey from the 32 bytes of pk. */
static WUR int csr_build_ed25519(struct csr *c, int ptype, const unsigned char *pk, int pklen,
                                 struct err *err)
{
    if (ptype != V_ASN1_UNDEF || pklen != 32) {
        err_set(err, ERR_INVALID, "CSR: the Ed25519 public key is malformed");
        return -1;
    }
    c->pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, pk, 32);
    if (c->pkey == NULL) {
        err_set(err, ERR_INTERNAL, "CSR: cannot load the Ed25519 public key");
        err_append_openssl(err);
        return -1;
    }
    c->key_type = CSR_KEY_ED25519;
    c->key_bits = 256;
    snprintf(c->key_alg, sizeof(c->key_alg), "EC_ED25519");
    return 0;
}

/* Classifies the key (naming what is not allowed) and builds c->pkey from its parameters. */
static WUR int csr_build_key(struct csr *c, struct err *err)
{
    const ASN1_OBJECT *alg = NULL;
    const unsigned char *pk = NULL;
    int pklen = 0;
    const void *pval = NULL;
    int ptype = V_ASN1_UNDEF;
    X509_ALGOR *algor = NULL;
    X509_PUBKEY *xpk = X509_REQ_get_X509_PUBKEY(c->req);
    if (xpk == NULL ||
        X509_PUBKEY_get0_param((ASN1_OBJECT **)&alg, &pk, &pklen, &algor, xpk) != 1 ||
        alg == NULL) {
        err_set(err, ERR_INVALID, "CSR: no public key");
        return -1;
    }
    X509_ALGOR_get0(NULL, &ptype, &pval, algor);
    int nid = OBJ_obj2nid(alg);
    switch (nid) {
    case NID_rsaEncryption: return csr_build_rsa(c, ptype, pk, pklen, err);
    case NID_X9_62_id_ecPublicKey: return csr_build_ec(c, ptype, pval, pk, pklen, err);
    case NID_ED25519: return csr_build_ed25519(c, ptype, pk, pklen, err);
    default: {
        char name[80];
        const char *n = nid == NID_dsa         ? "DSA"
                        : nid == NID_rsassaPss ? "RSASSA-PSS"
                        : nid == NID_ED448     ? "Ed448"
                        : nid == NID_X25519    ? "X25519"
                        : nid == NID_X448      ? "X448"
                                               : csr_obj_name(alg, name, sizeof(name));
        err_set(err, ERR_INVALID,
                "CSR: key algorithm %s is not allowed: use RSA (2048 bits or "
                "more), EC P-256, P-384 or P-521, or Ed25519",
                n);
        return -1;
    }
    }
}

static WUR int csr_verify_signature(struct csr *c, struct err *err)
{
    const X509_ALGOR *sigalg = NULL;
    X509_REQ_get0_signature(c->req, NULL, &sigalg);
    int sig_nid = OBJ_obj2nid(sigalg->algorithm);
    int md_nid = NID_undef, pk_nid = NID_undef;
    if (sig_nid != NID_undef && OBJ_find_sigid_algs(sig_nid, &md_nid, &pk_nid) &&
        (md_nid == NID_md5 || md_nid == NID_md4 || md_nid == NID_md2 || md_nid == NID_mdc2)) {
        err_set(err, ERR_INVALID, "CSR: signature algorithm %s is too weak; sign with SHA-256",
                OBJ_nid2sn(sig_nid));
        return -1;
    }
    /* The default library context: req was decoded in one without providers. */
    if (X509_REQ_verify_ex(c->req, c->pkey, NULL, NULL) != 1) {
        err_set(err, ERR_INVALID,
                "CSR: the signature does not verify with the CSR's public key "
                "(proof of possession failed)");
        ERR_clear_error();
        return -1;
    }
    return 0;
}

/* Copies a subject value as UTF-8, refusing NUL bytes and over-long values. */
static WUR char *csr_string_utf8(const ASN1_STRING *s, const char *what, struct err *err)
{
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, s);
    if (n < 0) {
        ERR_clear_error();
        err_set(err, ERR_INVALID, "CSR: %s is not a valid string", what);
        return NULL;
    }
    if ((size_t)n > CSR_MAX_NAME) {
        OPENSSL_free(utf8);
        err_set(err, ERR_INVALID, "CSR: %s is %d bytes long; the limit is %d bytes", what, n,
                CSR_MAX_NAME);
        return NULL;
    }
    if (memchr(utf8, '\0', (size_t)n) != NULL) {
        OPENSSL_free(utf8);
        err_set(err, ERR_INVALID, "CSR: %s contains a NUL byte", what);
        return NULL;
    }
    char *out = xstrndup((const char *)utf8, (size_t)n);
    OPENSSL_free(utf8);
    return out;
}

/* The label of a subject attribute for messages: "subject CN", or "subject 2.5.4.12 (title)"
 * for one without a field of its own. */
static void csr_subject_label(const ASN1_OBJECT *obj, bool other, char *buf, size_t len)
{
    char sn[80], oid[80];
    csr_obj_name(obj, sn, sizeof(sn));
    if (!other) {
        snprintf(buf, len, "subject %s", sn);
        return;
    }
    if (OBJ_obj2txt(oid, (int)sizeof(oid), obj, 1) <= 0)
        snprintf(oid, sizeof(oid), "unknown OID");
    if (strcmp(sn, oid) == 0)
        snprintf(buf, len, "subject %s", oid);
    else
        snprintf(buf, len, "subject %s (%s)", oid, sn);
}

/* Where a subject attribute's values go: its own field, or NULL for the other attributes. */
static struct strv *csr_subject_field(struct csr *c, int nid)
{
    switch (nid) {
    case NID_commonName: return &c->common_name;
    case NID_organizationName: return &c->organization;
    case NID_organizationalUnitName: return &c->organizational_unit;
    case NID_countryName: return &c->country;
    case NID_stateOrProvinceName: return &c->province;
    case NID_localityName: return &c->locality;
    case NID_streetAddress: return &c->street_address;
    case NID_postalCode: return &c->postal_code;
    case NID_serialNumber: return &c->serial_number;
    default: return NULL;
    }
}

static WUR int csr_read_subject(struct csr *c, struct err *err)
{
    const X509_NAME *name = X509_REQ_get_subject_name(c->req);
    int count = name != NULL ? X509_NAME_entry_count(name) : 0;
    c->subject_empty = count == 0;
    for (int i = 0; i < count; i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
        struct strv *dst = csr_subject_field(c, OBJ_obj2nid(obj));
        char label[192];
        csr_subject_label(obj, dst == NULL, label, sizeof(label));
        char *v = csr_string_utf8(X509_NAME_ENTRY_get_data(e), label, err);
        if (v == NULL)
            return -1;
        if (dst != NULL) {
            strv_push_take(dst, v);
            continue;
        }
        char oid[80];
        if (OBJ_obj2txt(oid, (int)sizeof(oid), obj, 1) <= 0 ||
            (size_t)OBJ_obj2txt(NULL, 0, obj, 1) >= sizeof(oid)) {
            free(v);
            ERR_clear_error();
            err_set(err, ERR_INVALID, "CSR: a subject attribute's OID is malformed or too long");
            return -1;
        }
        strv_push(&c->other_subject_oids, oid);
        strv_push_take(&c->other_subject_values, v);
    }
    return 0;
}

/* A SAN value: IA5 text without NUL or control bytes, non-empty, within CSR_MAX_NAME. */
static WUR int csr_push_ia5(struct strv *dst, const ASN1_STRING *s, const char *what,
                            struct err *err)
{
    int n = ASN1_STRING_length(s);
    const unsigned char *d = ASN1_STRING_get0_data(s);
    if (n <= 0) {
        err_set(err, ERR_INVALID, "CSR: subjectAltName %s is empty", what);
        return -1;
    }
    if ((size_t)n > CSR_MAX_NAME) {
        err_set(err, ERR_INVALID, "CSR: subjectAltName %s is %d bytes long; the limit is %d bytes",
                what, n, CSR_MAX_NAME);
        return -1;
    }
    if (memchr(d, '\0', (size_t)n) != NULL) {
        err_set(err, ERR_INVALID, "CSR: subjectAltName %s contains a NUL byte", what);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (d[i] < 0x20 || d[i] >= 0x7f) {
            err_set(err, ERR_INVALID,
                    "CSR: subjectAltName %s contains a control or non-ASCII byte (0x%02x)", what,
                    d[i]);
            return -1;
        }
    }
    strv_push_take(dst, xstrndup((const char *)d, (size_t)n));
    return 0;
}

static const char *csr_gen_type_name(int type)
{
    switch (type) {
    case GEN_OTHERNAME: return "otherName";
    case GEN_EMAIL: return "email";
    case GEN_DNS: return "DNS";
    case GEN_X400: return "x400Address";
    case GEN_DIRNAME: return "directoryName";
    case GEN_EDIPARTY: return "ediPartyName";
    case GEN_URI: return "URI";
    case GEN_IPADD: return "IP address";
    case GEN_RID: return "registeredID";
    }
    return "unknown";
}

/* 0 when the decoded val re-encodes to the bytes of value (DER), else -1. */
static int csr_is_der(ASN1_VALUE *val, const ASN1_ITEM *it, const ASN1_OCTET_STRING *value)
{
    unsigned char *der = NULL;
    int n = ASN1_item_i2d(val, &der, it);
    int rc =
        n == ASN1_STRING_length(value) && memcmp(der, ASN1_STRING_get0_data(value), (size_t)n) == 0
            ? 0
            : -1;
    OPENSSL_free(der);
    ERR_clear_error();
    return rc;
}

/* An otherName SAN: its type OID and its value, which must be a UTF8String (what cert-manager's
 * otherNames hold: [0] EXPLICIT UTF8String). */
static WUR int csr_read_other_name(struct csr *c, const OTHERNAME *on, struct err *err)
{
    char oid[80], label[128];
    if (on == NULL || on->type_id == NULL || on->value == NULL ||
        OBJ_obj2txt(oid, (int)sizeof(oid), on->type_id, 1) <= 0 ||
        (size_t)OBJ_obj2txt(NULL, 0, on->type_id, 1) >= sizeof(oid)) {
        ERR_clear_error();
        err_set(err, ERR_INVALID,
                "CSR: a subjectAltName otherName has a malformed or too long OID");
        return -1;
    }
    if (on->value->type != V_ASN1_UTF8STRING) {
        const char *t = ASN1_tag2str(on->value->type);
        err_set(
            err, ERR_INVALID,
            "CSR: subjectAltName otherName %s has a value of type %s; only UTF8String values are "
            "supported (cert-manager's otherNames utf8Value)",
            oid, t != NULL ? t : "value of unknown type");
        return -1;
    }
    snprintf(label, sizeof(label), "subjectAltName otherName %s", oid);
    if (ASN1_STRING_length(on->value->value.utf8string) <= 0) {
        err_set(err, ERR_INVALID, "CSR: %s is empty", label);
        return -1;
    }
    char *v = csr_string_utf8(on->value->value.utf8string, label, err);
    if (v == NULL)
        return -1;
    strv_push(&c->other_name_oids, oid);
    strv_push_take(&c->other_name_values, v);
    return 0;
}

static WUR int csr_read_sans(struct csr *c, const ASN1_OCTET_STRING *value, struct err *err)
{
    const unsigned char *p = ASN1_STRING_get0_data(value);
    long len = ASN1_STRING_length(value);
    GENERAL_NAMES *gens = d2i_GENERAL_NAMES(NULL, &p, len);
    if (gens == NULL || p != ASN1_STRING_get0_data(value) + len) {
        GENERAL_NAMES_free(gens);
        ERR_clear_error();
        err_set(err, ERR_INVALID, "CSR: the subjectAltName extension does not decode");
        return -1;
    }
    int n = sk_GENERAL_NAME_num(gens);
    int rc = 0;
    if (n <= 0) {
        err_set(err, ERR_INVALID,
                "CSR: the subjectAltName extension holds no names; RFC 5280 requires at least "
                "one (add a name or leave the extension out)");
        rc = -1;
    } else if (n > CSR_MAX_SANS) {
        err_set(err, ERR_INVALID, "CSR: %d subjectAltNames; the limit is %d", n, CSR_MAX_SANS);
        rc = -1;
    } else if (csr_is_der((ASN1_VALUE *)gens, ASN1_ITEM_rptr(GENERAL_NAMES), value) != 0) {
        /* The local CA copies the extension as it is: an otherName's value must be DER too. */
        err_set(err, ERR_INVALID,
                "CSR: the subjectAltName extension is not DER-encoded (BER or a non-minimal "
                "length); encode it as DER");
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        switch (g->type) {
        case GEN_DNS: rc = csr_push_ia5(&c->dns_names, g->d.dNSName, "DNS name", err); break;
        case GEN_URI:
            rc = csr_push_ia5(&c->uris, g->d.uniformResourceIdentifier, "URI", err);
            break;
        case GEN_EMAIL:
            rc = csr_push_ia5(&c->email_addresses, g->d.rfc822Name, "email", err);
            break;
        case GEN_IPADD: {
            int alen = ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *a = ASN1_STRING_get0_data(g->d.iPAddress);
            char text[INET6_ADDRSTRLEN];
            if ((alen != 4 && alen != 16) ||
                inet_ntop(alen == 4 ? AF_INET : AF_INET6, a, text, sizeof(text)) == NULL) {
                err_set(err, ERR_INVALID,
                        "CSR: subjectAltName IP address has %d bytes; expected 4 or 16", alen);
                rc = -1;
                break;
            }
            strv_push(&c->ip_addresses, text);
            break;
        }
        case GEN_OTHERNAME: rc = csr_read_other_name(c, g->d.otherName, err); break;
        default:
            err_set(err, ERR_INVALID,
                    "CSR: subjectAltName of type %s is not supported: only DNS "
                    "names, IP addresses, URIs, email addresses and otherNames with a "
                    "UTF8String value",
                    csr_gen_type_name(g->type));
            rc = -1;
            break;
        }
    }
    GENERAL_NAMES_free(gens);
    return rc;
}

/* Decodes value with d2i, requiring that it consumes every byte; when it does not decode,
 * fills err naming the extension and returns -1 from the calling function. */
#define CSR_D2I_ALL_OR_RETURN(type, d2i, value, out, ext_name, err)                                \
    do {                                                                                           \
        const unsigned char *p_ = ASN1_STRING_get0_data(value);                                    \
        long l_ = ASN1_STRING_length(value);                                                       \
        (out) = d2i(NULL, &p_, l_);                                                                \
        if ((out) != NULL && p_ != ASN1_STRING_get0_data(value) + l_) {                            \
            type##_free(out);                                                                      \
            (out) = NULL;                                                                          \
        }                                                                                          \
        if ((out) == NULL) {                                                                       \
            ERR_clear_error();                                                                     \
            err_set(err, ERR_INVALID, "CSR: the %s extension does not decode", ext_name);          \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

static WUR int csr_read_ext_key_usage(struct csr *c, const ASN1_OCTET_STRING *value,
                                      struct err *err)
{
    EXTENDED_KEY_USAGE *eku;
    CSR_D2I_ALL_OR_RETURN(EXTENDED_KEY_USAGE, d2i_EXTENDED_KEY_USAGE, value, eku, "extKeyUsage",
                          err);
    /* Every OID cert-manager has a usage name for. */
    struct usage_x509 known;
    usage_to_x509((usage_set)((1u << USAGE_COUNT) - 1), false, &known);
    c->has_ext_key_usage = true;
    int rc = 0;
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
        const ASN1_OBJECT *obj = sk_ASN1_OBJECT_value(eku, i);
        int nid = OBJ_obj2nid(obj);
        bool ok = false;
        for (size_t j = 0; j < known.n_eku && !ok; j++)
            ok = nid != NID_undef && known.eku[j] == nid;
        if (!ok) {
            char name[80];
            if (OBJ_obj2txt(name, sizeof(name), obj, 1) <= 0)
                snprintf(name, sizeof(name), "?");
            err_set(err, ERR_INVALID, "CSR: extKeyUsage %s is not a usage cert-manager knows",
                    name);
            rc = -1;
            break;
        }
        bool seen = false;
        for (size_t j = 0; j < c->n_ext_key_usage; j++)
            seen = seen || c->ext_key_usage[j] == nid;
        if (!seen && c->n_ext_key_usage < USAGE_COUNT)
            c->ext_key_usage[c->n_ext_key_usage++] = nid;
    }
    EXTENDED_KEY_USAGE_free(eku);
    return rc;
}

static WUR int csr_read_path_len(struct csr *c, const ASN1_INTEGER *pathlen, struct err *err)
{
    if (!c->bc_is_ca) {
        err_set(err, ERR_INVALID,
                "CSR: basicConstraints has a pathLenConstraint with CA:FALSE; RFC 5280 allows "
                "it only with CA:TRUE");
        return -1;
    }
    long v = ASN1_INTEGER_get(pathlen);
    if (v < 0 || v > CSR_MAX_PATH_LEN) {
        ERR_clear_error();
        err_set(err, ERR_INVALID,
                "CSR: basicConstraints pathLenConstraint must be a whole number from 0 to %d",
                CSR_MAX_PATH_LEN);
        return -1;
    }
    c->bc_has_path_len = true;
    c->bc_path_len = v;
    return 0;
}

/* One subtree of a requested nameConstraints: a name form cert-manager can ask for, and no
 * minimum or maximum (RFC 5280 4.2.1.10: minimum MUST be zero, maximum MUST be absent). */
static WUR int csr_check_subtree(const GENERAL_SUBTREE *st, struct err *err)
{
    if (st->minimum != NULL || st->maximum != NULL) {
        err_set(err, ERR_INVALID,
                "CSR: a nameConstraints subtree has a minimum or maximum; RFC 5280 allows "
                "neither");
        return -1;
    }
    const GENERAL_NAME *g = st->base;
    switch (g->type) {
    case GEN_DNS:
    case GEN_EMAIL:
    case GEN_URI: {
        int n = ASN1_STRING_length(g->d.ia5);
        if (n > CSR_MAX_NAME ||
            memchr(ASN1_STRING_get0_data(g->d.ia5), '\0', (size_t)(n > 0 ? n : 0)) != NULL) {
            err_set(err, ERR_INVALID,
                    "CSR: a nameConstraints %s is longer than %d bytes or holds a NUL byte",
                    csr_gen_type_name(g->type), CSR_MAX_NAME);
            return -1;
        }
        return 0;
    }
    case GEN_IPADD: {
        int n = ASN1_STRING_length(g->d.iPAddress);
        if (n != 8 && n != 32) {
            err_set(err, ERR_INVALID,
                    "CSR: a nameConstraints IP address range has %d bytes; expected 8 (IPv4 "
                    "address and mask) or 32 (IPv6)",
                    n);
            return -1;
        }
        /* A CIDR range: the mask's ones first, and no address bit outside it (Go's x509 and
         * others refuse to parse a CA certificate that breaks either). */
        const unsigned char *ip = ASN1_STRING_get0_data(g->d.iPAddress);
        const unsigned char *mask = ip + n / 2;
        bool zeros = false, ok = true;
        for (int i = 0; i < n / 2 && ok; i++) {
            for (int bit = 7; bit >= 0; bit--) {
                bool one = (mask[i] >> bit) & 1;
                if (one && zeros)
                    ok = false;
                zeros = zeros || !one;
            }
            if ((ip[i] & (unsigned char)~mask[i]) != 0)
                ok = false;
        }
        if (!ok) {
            err_set(err, ERR_INVALID,
                    "CSR: a nameConstraints IP address range is not a CIDR range (its mask is "
                    "not ones then zeros, or the address has bits outside the mask)");
            return -1;
        }
        return 0;
    }
    default:
        err_set(err, ERR_INVALID,
                "CSR: nameConstraints of type %s are not supported: only DNS names, IP address "
                "ranges, email addresses and URIs (what cert-manager's spec.nameConstraints "
                "holds)",
                csr_gen_type_name(g->type));
        return -1;
    }
}

/* Records one checked subtree (csr_check_subtree passed it) in out, by kind: IA5 text as it
 * is, an IP range as CIDR text ("ADDR/PREFIX"; the mask is ones then zeros). */
static void csr_record_subtree(struct csr_subtrees *out, const GENERAL_SUBTREE *st)
{
    const GENERAL_NAME *g = st->base;
    struct strv *dst = g->type == GEN_DNS     ? &out->dns
                       : g->type == GEN_EMAIL ? &out->email
                                              : &out->uri;
    if (g->type != GEN_IPADD) {
        const ASN1_IA5STRING *s = g->d.ia5;
        strv_push_take(
            dst, xstrndup((const char *)ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s)));
        return;
    }
    const unsigned char *ip = ASN1_STRING_get0_data(g->d.iPAddress);
    int half = ASN1_STRING_length(g->d.iPAddress) / 2;
    int prefix = 0;
    for (int i = 0; i < half; i++)
        for (int bit = 7; bit >= 0; bit--)
            prefix += (ip[half + i] >> bit) & 1;
    char addr[INET6_ADDRSTRLEN];
    if (inet_ntop(half == 4 ? AF_INET : AF_INET6, ip, addr, sizeof(addr)) == NULL)
        addr[0] = '\0'; /* cannot happen with 4 or 16 bytes */
    char cidr[INET6_ADDRSTRLEN + 8];
    snprintf(cidr, sizeof(cidr), "%s/%d", addr, prefix);
    strv_push(&out->ip, cidr);
}

/* OpenSSL declares no d2i_NAME_CONSTRAINTS; this is it, for CSR_D2I_ALL_OR_RETURN. */
static NAME_CONSTRAINTS *csr_d2i_name_constraints(NAME_CONSTRAINTS **a, const unsigned char **p,
                                                  long len)
{
    return (NAME_CONSTRAINTS *)ASN1_item_d2i((ASN1_VALUE **)a, p, len,
                                             ASN1_ITEM_rptr(NAME_CONSTRAINTS));
}

static WUR int csr_read_name_constraints(struct csr *c, const ASN1_OCTET_STRING *value,
                                         struct err *err)
{
    NAME_CONSTRAINTS *nc;
    CSR_D2I_ALL_OR_RETURN(NAME_CONSTRAINTS, csr_d2i_name_constraints, value, nc, "nameConstraints",
                          err);
    const STACK_OF(GENERAL_SUBTREE) * trees[2] = {nc->permittedSubtrees, nc->excludedSubtrees};
    int total = sk_GENERAL_SUBTREE_num(trees[0]) + sk_GENERAL_SUBTREE_num(trees[1]);
    int rc = 0;
    if (sk_GENERAL_SUBTREE_num(trees[0]) <= 0 && sk_GENERAL_SUBTREE_num(trees[1]) <= 0) {
        err_set(err, ERR_INVALID,
                "CSR: nameConstraints is empty (no permitted or excluded subtrees); RFC 5280 "
                "does not allow that");
        rc = -1;
    } else if (total > CSR_MAX_SANS) {
        err_set(err, ERR_INVALID, "CSR: %d nameConstraints subtrees; the limit is %d", total,
                CSR_MAX_SANS);
        rc = -1;
    }
    for (int t = 0; t < 2 && rc == 0; t++)
        for (int i = 0; i < sk_GENERAL_SUBTREE_num(trees[t]) && rc == 0; i++)
            rc = csr_check_subtree(sk_GENERAL_SUBTREE_value(trees[t], i), err);
    if (rc == 0) {
        /* The bytes are copied into the certificate as they are: they must be DER, which the
         * request's own DER check does not look inside. */
        unsigned char *der = NULL;
        int n = ASN1_item_i2d((ASN1_VALUE *)nc, &der, ASN1_ITEM_rptr(NAME_CONSTRAINTS));
        if (n != ASN1_STRING_length(value) ||
            memcmp(der, ASN1_STRING_get0_data(value), (size_t)n) != 0) {
            err_set(err, ERR_INVALID,
                    "CSR: the nameConstraints extension is not DER-encoded (BER or a "
                    "non-minimal length); encode it as DER");
            rc = -1;
        }
        OPENSSL_free(der);
    }
    struct csr_subtrees *rec[2] = {&c->nc_permitted, &c->nc_excluded};
    for (int t = 0; t < 2 && rc == 0; t++)
        for (int i = 0; i < sk_GENERAL_SUBTREE_num(trees[t]); i++)
            csr_record_subtree(rec[t], sk_GENERAL_SUBTREE_value(trees[t], i));
    NAME_CONSTRAINTS_free(nc);
    if (rc == 0)
        c->has_name_constraints = true;
    return rc;
}

static WUR int csr_read_extension(struct csr *c, const X509_EXTENSION *ext, struct err *err)
{
    const ASN1_OBJECT *obj = X509_EXTENSION_get_object((X509_EXTENSION *)ext);
    const ASN1_OCTET_STRING *value = X509_EXTENSION_get_data((X509_EXTENSION *)ext);
    int nid = OBJ_obj2nid(obj);
    switch (nid) {
    case NID_subject_alt_name: return csr_read_sans(c, value, err);
    case NID_basic_constraints: {
        BASIC_CONSTRAINTS *bc;
        CSR_D2I_ALL_OR_RETURN(BASIC_CONSTRAINTS, d2i_BASIC_CONSTRAINTS, value, bc,
                              "basicConstraints", err);
        c->has_basic_constraints = true;
        c->bc_is_ca = bc->ca != 0;
        int rc = bc->pathlen != NULL ? csr_read_path_len(c, bc->pathlen, err) : 0;
        BASIC_CONSTRAINTS_free(bc);
        return rc;
    }
    case NID_name_constraints:
        c->name_constraints_critical = X509_EXTENSION_get_critical(ext) != 0;
        return csr_read_name_constraints(c, value, err);
    case NID_key_usage: {
        ASN1_BIT_STRING *ku;
        CSR_D2I_ALL_OR_RETURN(ASN1_BIT_STRING, d2i_ASN1_BIT_STRING, value, ku, "keyUsage", err);
        const unsigned char *d = ASN1_STRING_get0_data(ku);
        int n = ASN1_STRING_length(ku);
        /* OpenSSL's KU_* layout: first octet in the low byte, second in the high byte. */
        c->key_usage = (n > 0 ? d[0] : 0u) | (n > 1 ? (uint32_t)d[1] << 8 : 0u);
        c->has_key_usage = true;
        ASN1_BIT_STRING_free(ku);
        return 0;
    }
    case NID_ext_key_usage: return csr_read_ext_key_usage(c, value, err);
    default: {
        /* Copying it blindly could make the certificate more than was approved; leaving it out
         * would issue something other than what was requested: refuse, naming it. */
        char name[80];
        if (X509_EXTENSION_get_critical(ext))
            err_set(err, ERR_INVALID,
                    "CSR: requested extension %s is marked critical and is not supported",
                    csr_obj_name(obj, name, sizeof(name)));
        else
            err_set(err, ERR_INVALID,
                    "CSR: requested extension %s is not supported and the certificate would not "
                    "carry it; a CSR may request subjectAltName, keyUsage, extKeyUsage, "
                    "basicConstraints and nameConstraints only: remove it from the CSR",
                    csr_obj_name(obj, name, sizeof(name)));
        return -1;
    }
    }
}

/* Reads the (single) extensionRequest attribute, refusing duplicates that could hide names. */
static WUR int csr_read_extensions(struct csr *c, struct err *err)
{
    const ASN1_TYPE *found = NULL;
    int nattr = X509_REQ_get_attr_count(c->req);
    for (int i = 0; i < nattr; i++) {
        X509_ATTRIBUTE *a = X509_REQ_get_attr(c->req, i);
        int nid = OBJ_obj2nid(X509_ATTRIBUTE_get0_object(a));
        if (nid != NID_ext_req && nid != NID_ms_ext_req)
            continue;
        if (found != NULL || X509_ATTRIBUTE_count(a) != 1) {
            err_set(err, ERR_INVALID, "CSR: more than one extensionRequest value");
            return -1;
        }
        found = X509_ATTRIBUTE_get0_type(a, 0);
    }
    if (found == NULL)
        return 0;
    if (found->type != V_ASN1_SEQUENCE) {
        err_set(err, ERR_INVALID, "CSR: the extensionRequest attribute is not a SEQUENCE");
        return -1;
    }
    const unsigned char *p = found->value.sequence->data;
    long len = found->value.sequence->length;
    const unsigned char *start = p;
    X509_EXTENSIONS *exts = d2i_X509_EXTENSIONS(NULL, &p, len);
    if (exts == NULL || p != start + len) {
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        ERR_clear_error();
        err_set(err, ERR_INVALID, "CSR: the extensionRequest attribute does not decode");
        return -1;
    }
    int rc = 0;
    int n = sk_X509_EXTENSION_num(exts);
    for (int i = 0; rc == 0 && i < n; i++) {
        const X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
        const ASN1_OBJECT *obj = X509_EXTENSION_get_object((X509_EXTENSION *)ext);
        for (int j = 0; j < i; j++) {
            const X509_EXTENSION *prev = sk_X509_EXTENSION_value(exts, j);
            if (OBJ_cmp(obj, X509_EXTENSION_get_object((X509_EXTENSION *)prev)) == 0) {
                char name[80];
                err_set(err, ERR_INVALID, "CSR: extension %s is requested more than once",
                        csr_obj_name(obj, name, sizeof(name)));
                rc = -1;
                break;
            }
        }
        if (rc == 0)
            rc = csr_read_extension(c, ext, err);
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return rc;
}

static size_t csr_san_count(const struct csr *c)
{
    return c->dns_names.n + c->ip_addresses.n + c->uris.n + c->email_addresses.n +
           c->other_name_oids.n;
}

struct csr *csr_parse(const unsigned char *data, size_t len, struct err *err)
{
    if (len > CSR_MAX_BYTES) {
        err_set(err, ERR_TOO_BIG, "CSR is %zu bytes; the limit is %d bytes", len, CSR_MAX_BYTES);
        return NULL;
    }
    size_t i = 0;
    while (i < len && csr_is_space(data[i]))
        i++;
    if (i == len) {
        err_set(err, ERR_INVALID, "CSR is empty");
        return NULL;
    }
    unsigned char *der = NULL;
    size_t der_len = 0;
    X509_REQ *req = NULL;
    if (data[i] == '-') {
        if (csr_pem_to_der(data, len, &der, &der_len, err) != 0)
            return NULL;
        req = csr_decode_der(der, der_len, err);
        free(der);
    } else if (data[0] == 0x30) {
        req = csr_decode_der(data, len, err);
    } else {
        err_set(err, ERR_INVALID,
                "CSR is neither PEM (-----BEGIN CERTIFICATE REQUEST-----) nor "
                "DER");
        return NULL;
    }
    if (req == NULL)
        return NULL;

    struct csr *c = xcalloc(1, sizeof(*c));
    c->req = req;
    long version = X509_REQ_get_version(req);
    if (version != X509_REQ_VERSION_1) {
        err_set(err, ERR_INVALID, "CSR: version %ld is not supported; PKCS#10 has version 1 (0)",
                version);
        goto fail;
    }
    if (csr_build_key(c, err) != 0 || csr_verify_signature(c, err) != 0 ||
        csr_read_subject(c, err) != 0 || csr_read_extensions(c, err) != 0)
        goto fail;
    size_t sans = csr_san_count(c);
    if (sans > CSR_MAX_SANS) {
        err_set(err, ERR_INVALID, "CSR: %zu subjectAltNames; the limit is %d", sans, CSR_MAX_SANS);
        goto fail;
    }
    return c;
fail:
    ERR_clear_error();
    csr_free(c);
    return NULL;
}

/* The cert-manager usages a KU mask / EKU list stand for, for messages. */
static usage_set csr_usages_of(uint32_t ku, const int *eku, size_t n_eku)
{
    usage_set set = 0;
    for (int u = 0; u < USAGE_COUNT; u++) {
        if (u == USAGE_SIGNING || u == USAGE_SMIME)
            continue; /* aliases of digital signature / email protection */
        struct usage_x509 x;
        usage_to_x509(USAGE_BIT(u), false, &x);
        if (x.ku != 0 && (ku & x.ku) == x.ku)
            set |= USAGE_BIT(u);
        for (size_t i = 0; i < n_eku && x.n_eku == 1; i++)
            if (eku[i] == x.eku[0])
                set |= USAGE_BIT(u);
    }
    return set;
}

int csr_check_request(const struct csr *csr, bool is_ca, usage_set usages, struct err *err)
{
    /* RFC 5280 4.1.2.6: a certificate names its subject in the subject or in subjectAltName;
     * one with neither is rejected by strict verifiers (openssl verify -x509_strict). */
    if (csr->common_name.n == 0 && csr_san_count(csr) == 0) {
        err_set(err, ERR_INVALID,
                "CSR has no identity: no subject commonName and no subjectAltName; request a "
                "commonName or at least one DNS name, IP address, URI, email address or otherName");
        return -1;
    }
    /* RFC 5280 4.1.2.6: a CA's subject names the issuer of what it signs; a CRL's issuer too. */
    if (csr->subject_empty && is_ca) {
        err_set(err, ERR_INVALID,
                "spec.isCA true needs a subject: RFC 5280 requires a CA certificate's subject to "
                "be non-empty (it is the issuer name of every certificate the CA signs); request "
                "a commonName or another subject attribute");
        return -1;
    }
    if (csr->subject_empty && (usages & USAGE_BIT(USAGE_CRL_SIGN))) {
        err_set(err, ERR_INVALID,
                "usage crl sign needs a subject: RFC 5280 requires a CRL issuer's subject to be "
                "non-empty; request a commonName or another subject attribute");
        return -1;
    }
    /* RFC 5280 4.2.1.3: keyCertSign only with cA TRUE. */
    if (!is_ca && (usages & USAGE_BIT(USAGE_CERT_SIGN))) {
        err_set(err, ERR_INVALID,
                "usage cert sign needs spec.isCA true: RFC 5280 allows keyCertSign only in a CA "
                "certificate; set isCA or remove cert sign from the usages");
        return -1;
    }
    if (csr->has_name_constraints && !is_ca) {
        err_set(err, ERR_INVALID,
                "CSR requests nameConstraints, which only a CA certificate may carry (RFC 5280 "
                "4.2.1.10); set spec.isCA true or remove them from the CSR");
        return -1;
    }
    if (csr->has_basic_constraints && csr->bc_is_ca != is_ca) {
        err_set(err, ERR_INVALID, "CSR basicConstraints CA:%s does not match spec.isCA %s",
                csr->bc_is_ca ? "TRUE" : "FALSE", is_ca ? "true" : "false");
        return -1;
    }
    if (usages == 0)
        usages = USAGE_DEFAULT;
    struct usage_x509 want, got;
    usage_to_x509(usages, is_ca, &want);
    /* Only what the CSR requests is compared; an absent extension takes the spec's value. */
    got = want;
    if (csr->has_key_usage)
        got.ku = csr->key_usage;
    if (csr->has_ext_key_usage) {
        got.n_eku = csr->n_ext_key_usage;
        memcpy(got.eku, csr->ext_key_usage, csr->n_ext_key_usage * sizeof(got.eku[0]));
    }
    if (usage_x509_equal(&got, &want))
        return 0;

    char spec[512], have[512];
    usage_format(usages, spec, sizeof(spec));
    const char *ca_note = is_ca ? " and spec.isCA true (cert sign)" : "";
    struct usage_x509 want_ku_only = want, got_ku_only = got;
    want_ku_only.n_eku = got_ku_only.n_eku = 0;
    if (!usage_x509_equal(&got_ku_only, &want_ku_only)) {
        usage_format(csr_usages_of(got.ku, NULL, 0), have, sizeof(have));
        err_set(err, ERR_INVALID, "CSR keyUsage (%s) does not match spec.usages (%s)%s",
                have[0] ? have : "none", spec, ca_note);
        return -1;
    }
    usage_format(csr_usages_of(0, got.eku, got.n_eku), have, sizeof(have));
    err_set(err, ERR_INVALID, "CSR extKeyUsage (%s) does not match spec.usages (%s)%s",
            have[0] ? have : "none", spec, ca_note);
    return -1;
}

void csr_free(struct csr *csr)
{
    if (csr == NULL)
        return;
    X509_REQ_free(csr->req);
    EVP_PKEY_free(csr->pkey);
    struct strv *all[] = {&csr->common_name,
                          &csr->organization,
                          &csr->organizational_unit,
                          &csr->country,
                          &csr->province,
                          &csr->locality,
                          &csr->street_address,
                          &csr->postal_code,
                          &csr->serial_number,
                          &csr->other_subject_oids,
                          &csr->other_subject_values,
                          &csr->dns_names,
                          &csr->ip_addresses,
                          &csr->uris,
                          &csr->email_addresses,
                          &csr->other_name_oids,
                          &csr->other_name_values};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        strv_free(all[i]);
    struct csr_subtrees *nc[2] = {&csr->nc_permitted, &csr->nc_excluded};
    for (int t = 0; t < 2; t++) {
        strv_free(&nc[t]->dns);
        strv_free(&nc[t]->ip);
        strv_free(&nc[t]->email);
        strv_free(&nc[t]->uri);
    }
    free(csr);
}
