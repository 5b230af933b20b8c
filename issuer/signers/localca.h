/* localca.h -- the local sub-CA signer: a CA certificate, its chain and key, signing in-process. */
#ifndef EMBER_LOCALCA_H
#define EMBER_LOCALCA_H

#include "base/err.h"
#include "signers/signer.h"
#include "x509/csr.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <time.h>

struct localca; /* opaque; immutable after localca_load, so localca_sign is thread-safe */

#define LOCALCA_MAX_KEY_BYTES (64 * 1024) /* tls.key PEM; tls.crt and ca.crt: CHAIN_MAX_BYTES */

/* Loads a CA as found in a kubernetes.io/tls Secret: tls_crt = the CA certificate then its
 * chain (PEM), tls_key = its private key (PEM, PKCS#8 or traditional, unencrypted; RSA, EC
 * P-256/P-384/P-521 or Ed25519), ca_crt = optional root(s) (PEM; may be NULL/0; certificates
 * in it that issued none of tls.crt are ignored). Checks, with a message naming tls.crt /
 * tls.key / ca.crt: the key matches the certificate; the certificate has basicConstraints
 * CA:TRUE (and keyCertSign when keyUsage is present) and a non-empty subject (the issuer name
 * of what it signs); tls.crt (+ ca.crt) form one chain with
 * the CA certificate at the bottom (ERR_INVALID, or ERR_TOO_BIG past a limit); it is valid at
 * now (ERR_ISSUER_NOT_READY). The key is kept in memory only. Returns a new ca (localca_free it)
 * or NULL. Thread-safe. */
struct localca *localca_load(const char *tls_crt, size_t crt_len, const char *tls_key,
                             size_t key_len, const char *ca_crt, size_t ca_len, time_t now,
                             struct err *err) WUR;

/* The same CA from objects already in memory (the Vault sub-CA: its key never exists as PEM):
 * cert, its intermediates (up to, not including, the root; may be NULL), key and roots (the
 * trust anchor(s); may be NULL). Takes references of its own (the caller keeps and frees what
 * it passed). The same checks as localca_load, whose messages name tls.crt / tls.key / ca.crt
 * for what is wrong. Returns a new ca (localca_free it) or NULL. Thread-safe. */
struct localca *localca_from_parts(X509 *cert, STACK_OF(X509) * intermediates, EVP_PKEY *key,
                                   STACK_OF(X509) * roots, time_t now, struct err *err) WUR;

/* Issues a leaf (or sub-CA when p->is_ca) for csr, as design.md §3 says: subject, SANs and
 * public key from the CSR; random positive 128-bit serial; notBefore = now; notAfter = now +
 * duration clamped to the CA's notAfter; SKI, AKI; basicConstraints critical (with the CSR's
 * pathLenConstraint when p->is_ca, else p->path_len when p->has_path_len); SAN critical exactly
 * when the subject is empty; KU (critical, omitted when the usages grant no KU bit) and EKU from
 * usages; when p->is_ca the CSR's nameConstraints as requested, criticality included; no other CSR
 * extension is copied (csr_parse refuses the others). The result chain is normalised (leaf,
 * intermediates; root in ca_pem). Errors: ERR_ISSUER_NOT_READY when the CA is not valid at p->now;
 * ERR_PERMANENT when p->is_ca but the CA has pathlen:0, or the CSR's pathLen (or p->path_len) is
 * not below the CA's pathlen, or the certificate's names are outside the nameConstraints of a CA of
 * its chain (no client would accept it: x509/chain.h chain_check_names); ERR_INVALID for bad
 * parameters or a CSR without a usable key. Thread-safe on one ca. */
int localca_sign(const struct localca *ca, const struct csr *csr, const struct sign_params *p,
                 struct sign_result *out, struct err *err) WUR;

/* Checks the CA is still valid at now (not expired, not yet valid); ERR_ISSUER_NOT_READY
 * with the notBefore/notAfter date otherwise. Thread-safe. */
int localca_check(const struct localca *ca, time_t now, struct err *err) WUR;

time_t localca_not_after(const struct localca *ca);
/* Borrowed subject of the CA certificate, one-line RFC 2253 text. */
const char *localca_subject(const struct localca *ca);

/* spec.ca: where the CA is. */
struct localca_spec {
    char *secret_name; /* spec.ca.secretName: a kubernetes.io/tls Secret (tls.crt, tls.key,
                        * optional ca.crt) */
};

/* The local CA's row of the signer table: name "local" (the metrics label), spec key "ca".
 * parse checks spec.ca with base/jsonfield (secretName, a non-empty string, and nothing else).
 * load reads the Secret spec.ca.secretName (a message names it when it is missing or wrong) and
 * runs localca_load; check is localca_check; no in-place recheck (the controller reads the
 * Secret again, so a rotated CA is picked up); expiry is the CA certificate's notAfter. */
extern const struct signer_ops localca_row;

/* A loaded CA as a signer of localca_row; the signer owns ca afterwards (ops->free frees
 * it). */
struct signer localca_signer(struct localca *ca);

/* Wipes and frees; NULL is a no-op. */
void localca_free(struct localca *ca);

#endif
