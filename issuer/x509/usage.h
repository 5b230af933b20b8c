/* usage.h -- cert-manager key usage names and their X.509 KeyUsage / ExtKeyUsage meaning. */
#ifndef EMBER_USAGE_H
#define EMBER_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* One bit per cert-manager usage name (cert-manager.io/v1 KeyUsage). */
enum usage {
    USAGE_SIGNING,
    USAGE_DIGITAL_SIGNATURE,
    USAGE_CONTENT_COMMITMENT,
    USAGE_KEY_ENCIPHERMENT,
    USAGE_KEY_AGREEMENT,
    USAGE_DATA_ENCIPHERMENT,
    USAGE_CERT_SIGN,
    USAGE_CRL_SIGN,
    USAGE_ENCIPHER_ONLY,
    USAGE_DECIPHER_ONLY,
    USAGE_ANY,
    USAGE_SERVER_AUTH,
    USAGE_CLIENT_AUTH,
    USAGE_CODE_SIGNING,
    USAGE_EMAIL_PROTECTION,
    USAGE_SMIME,
    USAGE_IPSEC_END_SYSTEM,
    USAGE_IPSEC_TUNNEL,
    USAGE_IPSEC_USER,
    USAGE_TIMESTAMPING,
    USAGE_OCSP_SIGNING,
    USAGE_MICROSOFT_SGC,
    USAGE_NETSCAPE_SGC,
    USAGE_COUNT
};

typedef uint32_t usage_set;
#define USAGE_BIT(u) ((usage_set)1u << (u))
/* cert-manager's default when spec.usages is empty. */
#define USAGE_DEFAULT (USAGE_BIT(USAGE_DIGITAL_SIGNATURE) | USAGE_BIT(USAGE_KEY_ENCIPHERMENT))

/* Returns the usage for a cert-manager name ("server auth"), or -1. Thread-safe. */
int usage_from_name(const char *name) WUR;
/* Static cert-manager name of u. */
const char *usage_name(enum usage u);

/* The X.509 form of a usage set. ku is a mask of OpenSSL's KU_* bits (openssl/x509v3.h);
 * eku lists OpenSSL NIDs (NID_server_auth, ...) without duplicates, in usage order. */
struct usage_x509 {
    uint32_t ku;
    int eku[USAGE_COUNT];
    size_t n_eku;
};
/* Maps a usage set to X.509; is_ca adds "cert sign" as cert-manager does. */
void usage_to_x509(usage_set set, bool is_ca, struct usage_x509 *out);
/* True when a and b grant the same KeyUsage bits and the same ExtKeyUsage set. */
bool usage_x509_equal(const struct usage_x509 *a, const struct usage_x509 *b);
/* Writes "digital signature, key encipherment" style text of set into out (bounded). */
void usage_format(usage_set set, char *out, size_t outlen);

#endif
