/* ca.h -- the local sub-CA signer: a CA certificate, its chain and key, signing in-process. */
#ifndef EMBER_CA_H
#define EMBER_CA_H

#include <stddef.h>
#include <time.h>

#include "csr.h"
#include "err.h"
#include "signer.h"

struct ca; /* opaque; immutable after ca_load, so ca_sign is thread-safe */

/* Loads a CA as found in a kubernetes.io/tls Secret: tls_crt = the CA certificate then its
 * chain (PEM), tls_key = its private key (PEM, PKCS#8 or traditional, unencrypted), ca_crt =
 * optional root(s) (PEM; may be NULL/0). Checks (ERR_INVALID / ERR_ISSUER_NOT_READY with a
 * message naming tls.crt / tls.key / ca.crt): the key matches the certificate; the
 * certificate has basicConstraints CA:TRUE (and keyCertSign when keyUsage is present); it is
 * valid at now. The key is kept in memory only. Returns a new ca (ca_free it) or NULL. */
struct ca *ca_load(const char *tls_crt, size_t crt_len, const char *tls_key, size_t key_len,
                   const char *ca_crt, size_t ca_len, time_t now, struct err *err) WUR;

/* Issues a leaf (or sub-CA when p->is_ca) for csr, as design.md §3 says: subject, SANs and
 * public key from the CSR; random positive 128-bit serial; notBefore = now; notAfter = now +
 * duration clamped to the CA's notAfter; SKI, AKI; basicConstraints critical; SAN critical
 * when the subject is empty; KU (critical) and EKU from usages; no other CSR extension is
 * copied. The result chain is normalised (leaf, intermediates; root in ca_pem). */
int ca_sign(const struct ca *ca, const struct csr *csr, const struct sign_params *p,
            struct sign_result *out, struct err *err) WUR;

/* Checks the CA is still valid at now (not expired, not yet valid). */
int ca_check(const struct ca *ca, time_t now, struct err *err) WUR;

time_t ca_not_after(const struct ca *ca);
/* Borrowed subject of the CA certificate, one-line RFC 2253 text. */
const char *ca_subject(const struct ca *ca);

/* The signer row for a loaded CA; the signer owns ca afterwards (ops->free frees it). */
struct signer ca_signer(struct ca *ca);

/* Wipes and frees; NULL is a no-op. */
void ca_free(struct ca *ca);

#endif
