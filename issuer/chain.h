/* chain.h -- certificate chain normalisation as cert-manager's ParseSingleCertificateChainPEM. Pure. */
#ifndef EMBER_CHAIN_H
#define EMBER_CHAIN_H

#include <stddef.h>

#include "err.h"

#define CHAIN_MAX_CERTS 1000

/* Takes any number of PEM certificates (any order, duplicates and CRLF allowed), builds the
 * single chain from the leaf upwards and returns:
 *   *chain_pem: leaf, then each intermediate up to the highest certificate that is not
 *               self-signed (a self-signed root is dropped);
 *   *ca_pem:    the self-signed root when present, else the topmost certificate of the chain,
 *               else "" for a lone certificate.
 * Both are new NUL-terminated strings (free() them), PEM with "\n" line ends.
 * ERR_INVALID when there is no certificate, a block is not a certificate, the certificates
 * form more than one chain or a broken chain; ERR_TOO_BIG past CHAIN_MAX_CERTS. */
int chain_normalise(const char *pem, size_t len, char **chain_pem, char **ca_pem,
                    struct err *err) WUR;

#endif
