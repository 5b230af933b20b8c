/* chain.c -- certificate chain normalisation: one chain, leaf first, root apart. */
#include "x509/chain.h"

#include "base/buf.h"
#include "base/mem.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

/* Room for one name in a message; longer names are cut. */
#define CHAIN_NAME_TEXT 256

static void chain_name_text(const X509_NAME *name, char *out, size_t outlen)
{
    out[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL)
        return;
    if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        if (n > 0 && p != NULL) {
            size_t len = (size_t)n < outlen - 1 ? (size_t)n : outlen - 1;
            memcpy(out, p, len);
            out[len] = '\0';
        }
    }
    BIO_free(b);
    if (out[0] == '\0')
        snprintf(out, outlen, "(empty name)");
}

int chain_parse_pem(const char *pem, size_t len, const char *what, STACK_OF(X509) * *out,
                    struct err *err)
{
    *out = NULL;
    if (len > CHAIN_MAX_BYTES) {
        err_set(err, ERR_TOO_BIG, "%s: %zu bytes of PEM, more than the limit of %d", what, len,
                CHAIN_MAX_BYTES);
        return -1;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509) *certs = sk_X509_new_null();
    if (bio == NULL || certs == NULL) {
        err_set(err, ERR_INTERNAL, "%s: out of memory", what);
        goto fail;
    }
    ERR_clear_error();
    for (int block = 1;; block++) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long dlen = 0;
        if (PEM_read_bio(bio, &name, &header, &data, &dlen) != 1) {
            unsigned long e = ERR_peek_last_error();
            bool at_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
            ERR_clear_error();
            if (at_end)
                break;
            err_set(err, ERR_INVALID, "%s: PEM block %d is malformed (bad base64 or no END line)",
                    what, block);
            goto fail;
        }
        int rc = 0;
        if (block > CHAIN_MAX_BLOCKS) {
            err_set(err, ERR_TOO_BIG, "%s: more than %d PEM blocks", what, CHAIN_MAX_BLOCKS);
            rc = -1;
        } else if (strcmp(name, "CERTIFICATE") != 0) {
            err_set(err, ERR_INVALID,
                    "%s: PEM block %d is a \"%.40s\", expected only CERTIFICATE blocks", what,
                    block, name);
            rc = -1;
        } else if (header != NULL && header[0] != '\0') {
            err_set(err, ERR_INVALID,
                    "%s: PEM block %d carries PEM headers; certificates have none", what, block);
            rc = -1;
        } else {
            const unsigned char *p = data;
            X509 *x = d2i_X509(NULL, &p, dlen);
            if (x == NULL || p != data + dlen) {
                X509_free(x);
                ERR_clear_error();
                err_set(err, ERR_INVALID, "%s: PEM block %d is not a valid X.509 certificate", what,
                        block);
                rc = -1;
            } else if (sk_X509_push(certs, x) <= 0) {
                X509_free(x);
                err_set(err, ERR_INTERNAL, "%s: out of memory", what);
                rc = -1;
            }
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        if (rc != 0)
            goto fail;
    }
    if (sk_X509_num(certs) == 0) {
        err_set(err, ERR_INVALID, "%s: no PEM CERTIFICATE block found", what);
        goto fail;
    }
    BIO_free(bio);
    *out = certs;
    return 0;
fail:
    BIO_free(bio);
    sk_X509_pop_free(certs, X509_free);
    return -1;
}

bool chain_issued_by(X509 *child, X509 *parent)
{
    /* Names, key identifiers and keyCertSign first: cheap, and they rule out almost every
     * pair before the signature is checked. */
    if (X509_check_issued(parent, child) != X509_V_OK)
        return false;
    if (X509_get_version(parent) != X509_VERSION_1 && X509_check_ca(parent) != 1)
        return false;
    EVP_PKEY *pkey = X509_get0_pubkey(parent);
    bool ok = pkey != NULL && X509_verify(child, pkey) == 1;
    ERR_clear_error();
    return ok;
}

struct chain_node {
    X509 *cert;
    unsigned char *der;
    int der_len;
    int parent;   /* index of the issuer, or -1 */
    int children; /* how many certificates in the set it issued */
    bool self_signed;
};

static WUR int chain_append_pem(struct buf *b, X509 *x, struct err *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_X509(bio, x) != 1) {
        BIO_free(bio);
        ERR_clear_error();
        err_set(err, ERR_INTERNAL, "cannot encode a certificate as PEM");
        return -1;
    }
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    int rc = buf_append(b, p, (size_t)n, err);
    BIO_free(bio);
    return rc;
}

/* Explains why the set is not one chain, naming a certificate the user can look for. */
static void chain_explain(const struct chain_node *nodes, int n, struct err *err)
{
    char subj[CHAIN_NAME_TEXT], iss[CHAIN_NAME_TEXT];
    int tops = 0, leaves = 0, gap = -1, leaf1 = -1, leaf2 = -1;
    for (int i = 0; i < n; i++) {
        if (nodes[i].parent < 0) {
            tops++;
            if (!nodes[i].self_signed && gap < 0)
                gap = i;
        }
        if (nodes[i].children == 0) {
            leaves++;
            if (leaf1 < 0)
                leaf1 = i;
            else if (leaf2 < 0)
                leaf2 = i;
        }
    }
    if (leaves == 0) {
        err_set(err, ERR_INVALID,
                "certificate chain is broken: the %d certificates issue each other in a loop and "
                "none is an end certificate",
                n);
    } else if (tops > 1 && gap >= 0) {
        chain_name_text(X509_get_subject_name(nodes[gap].cert), subj, sizeof(subj));
        chain_name_text(X509_get_issuer_name(nodes[gap].cert), iss, sizeof(iss));
        err_set(err, ERR_INVALID,
                "broken chain, or the certificates form more than one chain: the issuer \"%s\" "
                "of \"%s\" is not among them",
                iss, subj);
    } else if (tops > 1) {
        err_set(err, ERR_INVALID,
                "certificates form more than one chain: %d separate self-signed roots", tops);
    } else if (leaves > 1) {
        chain_name_text(X509_get_subject_name(nodes[leaf1].cert), subj, sizeof(subj));
        chain_name_text(X509_get_subject_name(nodes[leaf2].cert), iss, sizeof(iss));
        err_set(err, ERR_INVALID,
                "certificates form more than one chain: \"%s\" and \"%s\" are both end "
                "certificates",
                subj, iss);
    } else {
        err_set(err, ERR_INVALID, "certificate chain is broken");
    }
}

/* Fills nodes[0..*n) with the certificates of certs, de-duplicated by DER (the first occurrence
 * kept). */
static WUR int chain_dedup(STACK_OF(X509) * certs, struct chain_node *nodes, int *n,
                           struct err *err)
{
    int total = sk_X509_num(certs);
    for (int i = 0; i < total; i++) {
        X509 *x = sk_X509_value(certs, i);
        unsigned char *der = NULL;
        int der_len = i2d_X509(x, &der);
        if (der_len <= 0) {
            ERR_clear_error();
            err_set(err, ERR_INVALID, "certificate %d cannot be re-encoded", i + 1);
            return -1;
        }
        bool dup = false;
        for (int j = 0; j < *n && !dup; j++)
            dup = nodes[j].der_len == der_len && memcmp(nodes[j].der, der, (size_t)der_len) == 0;
        if (dup) {
            OPENSSL_free(der);
            continue;
        }
        if (*n == CHAIN_MAX_CERTS) {
            OPENSSL_free(der);
            err_set(err, ERR_TOO_BIG, "certificate chain holds more than %d distinct certificates",
                    CHAIN_MAX_CERTS);
            return -1;
        }
        nodes[*n] = (struct chain_node){.cert = x, .der = der, .der_len = der_len, .parent = -1};
        (*n)++;
    }
    return 0;
}

/* Links each certificate to its issuer: a self-signed certificate ends its chain; any other
 * takes the first issuer found. */
static void chain_link(struct chain_node *nodes, int n)
{
    for (int i = 0; i < n; i++)
        nodes[i].self_signed = chain_issued_by(nodes[i].cert, nodes[i].cert);
    for (int i = 0; i < n; i++) {
        if (nodes[i].self_signed)
            continue;
        for (int j = 0; j < n; j++) {
            if (j != i && chain_issued_by(nodes[i].cert, nodes[j].cert)) {
                nodes[i].parent = j;
                nodes[j].children++;
                break;
            }
        }
    }
}

/* True when the linked certificates form one chain: a single leaf (*leaf) whose walk up to
 * *top visits every certificate exactly once. */
static bool chain_is_one(const struct chain_node *nodes, int n, int *leaf, int *top)
{
    int leaves = 0;
    *leaf = -1;
    *top = -1;
    for (int i = 0; i < n; i++) {
        if (nodes[i].children == 0) {
            leaves++;
            *leaf = i;
        }
    }
    if (leaves != 1)
        return false;
    int visited = 0;
    for (int i = *leaf; i >= 0 && visited <= n; i = nodes[i].parent) {
        *top = i;
        visited++;
    }
    return visited == n;
}

int chain_normalise(const char *pem, size_t len, char **chain_pem, char **ca_pem, struct err *err)
{
    *chain_pem = NULL;
    *ca_pem = NULL;
    STACK_OF(X509) *certs = NULL;
    if (chain_parse_pem(pem, len, "certificate chain", &certs, err) != 0)
        return -1;

    int n = 0, rc = -1, leaf = -1, top = -1;
    struct chain_node *nodes = xcalloc((size_t)sk_X509_num(certs), sizeof(*nodes));
    struct buf chain, ca;
    buf_init(&chain, CHAIN_MAX_BYTES * 2);
    buf_init(&ca, CHAIN_MAX_BYTES);
    if (chain_dedup(certs, nodes, &n, err) != 0)
        goto out;
    chain_link(nodes, n);
    if (!chain_is_one(nodes, n, &leaf, &top)) {
        chain_explain(nodes, n, err);
        goto out;
    }
    for (int i = leaf; i >= 0; i = nodes[i].parent) {
        if (i == top && nodes[i].self_signed && i != leaf)
            break;
        if (chain_append_pem(&chain, nodes[i].cert, err) != 0)
            goto out;
    }
    /* A lone certificate is its own CA only when it is self-signed. */
    if (top != leaf || nodes[top].self_signed) {
        if (chain_append_pem(&ca, nodes[top].cert, err) != 0)
            goto out;
    }
    *chain_pem = buf_take(&chain, NULL);
    *ca_pem = buf_take(&ca, NULL);
    rc = 0;
out:
    for (int i = 0; i < n; i++)
        OPENSSL_free(nodes[i].der);
    free(nodes);
    buf_free(&chain);
    buf_free(&ca);
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

int chain_check_names(X509 *leaf, STACK_OF(X509) * cas, struct err *err)
{
    (void)X509_get_extension_flags(leaf); /* NAME_CONSTRAINTS_check reads the cached SAN */
    for (int i = 0; i < sk_X509_num(cas); i++) {
        X509 *ca = sk_X509_value(cas, i);
        NAME_CONSTRAINTS *nc = X509_get_ext_d2i(ca, NID_name_constraints, NULL, NULL);
        if (nc == NULL)
            continue;
        int rc = NAME_CONSTRAINTS_check(leaf, nc);
        if (rc == X509_V_OK)
            rc = NAME_CONSTRAINTS_check_CN(leaf, nc);
        NAME_CONSTRAINTS_free(nc);
        if (rc == X509_V_OK)
            continue;
        char subject[256];
        X509_NAME_oneline(X509_get_subject_name(ca), subject, sizeof(subject));
        err_set(err, ERR_PERMANENT,
                "the certificate's names are outside the name constraints of %s in the chain (%s): "
                "no client would accept it; ask for names that CA permits",
                subject, X509_verify_cert_error_string(rc));
        ERR_clear_error();
        return -1;
    }
    ERR_clear_error();
    return 0;
}
