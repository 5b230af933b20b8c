/* chain.h -- certificate chain normalisation as cert-manager's ParseSingleCertificateChainPEM.
 * Pure. */
#ifndef EMBER_CHAIN_H
#define EMBER_CHAIN_H

#include "base/err.h"

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

#define CHAIN_MAX_CERTS 1000                   /* distinct certificates in one input */
#define CHAIN_MAX_BLOCKS (4 * CHAIN_MAX_CERTS) /* PEM blocks, duplicates included */
#define CHAIN_MAX_BYTES (4 * 1024 * 1024)      /* PEM text in one input */

/* Takes any number of PEM certificates (any order, duplicates and CRLF allowed), builds the
 * single chain from the leaf upwards and returns:
 *   *chain_pem: leaf, then each intermediate up to the highest certificate that is not
 *               self-signed (a self-signed root is dropped);
 *   *ca_pem:    the self-signed root when present, else the topmost certificate of the chain,
 *               else "" for a lone certificate that is not self-signed (a lone self-signed
 *               certificate is both the chain and the CA).
 * Both are new NUL-terminated strings (free() them), PEM with "\n" line ends.
 * ERR_INVALID when there is no certificate, a block is not a certificate, the certificates
 * form more than one chain or a broken chain; ERR_TOO_BIG past CHAIN_MAX_CERTS,
 * CHAIN_MAX_BLOCKS or CHAIN_MAX_BYTES. Thread-safe. */
int chain_normalise(const char *pem, size_t len, char **chain_pem, char **ca_pem,
                    struct err *err) WUR;

/* Parses every PEM "CERTIFICATE" block of pem (CRLF, blank lines and text between blocks are
 * tolerated; any other block type is an error) into a new stack in input order, duplicates
 * kept (sk_X509_pop_free(*out, X509_free) it). what names the input in messages ("tls.crt").
 * ERR_INVALID when there is no certificate or a block is bad; ERR_TOO_BIG past
 * CHAIN_MAX_BLOCKS or CHAIN_MAX_BYTES. Thread-safe. */
int chain_parse_pem(const char *pem, size_t len, const char *what, STACK_OF(X509) * *out,
                    struct err *err) WUR;

/* True when parent issued child: child's issuer name is parent's subject (and the key
 * identifiers agree), parent may sign certificates (basicConstraints CA:TRUE, or a v1
 * certificate; keyCertSign when keyUsage is present) and child's signature verifies with
 * parent's key. chain_issued_by(c, c) tells whether c is self-signed. */
bool chain_issued_by(X509 *child, X509 *parent);

/* Checks leaf against the name constraints of every certificate of cas (SAN names, and a
 * DNS-like CN without a DNS SAN, as OpenSSL's verification does). ERR_PERMANENT naming the
 * certificate whose constraints refuse it: no client would accept the leaf. Thread-safe. */
int chain_check_names(X509 *leaf, STACK_OF(X509) * cas, struct err *err) WUR;

#endif
