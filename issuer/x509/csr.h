/* csr.h -- PKCS#10 certificate signing requests: parse, check, describe. Pure, thread-safe. */
#ifndef EMBER_CSR_H
#define EMBER_CSR_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "base/strv.h"
#include "x509/usage.h"

/* Named limits on hostile input. */
#define CSR_MAX_BYTES (64 * 1024) /* PEM or DER as received */
#define CSR_MAX_SANS 1000         /* all SAN entries together */
#define CSR_MAX_NAME 1024         /* bytes in one SAN or subject value */
#define CSR_MAX_PATH_LEN 64       /* basicConstraints pathLenConstraint */

enum csr_key_type { CSR_KEY_RSA, CSR_KEY_EC, CSR_KEY_ED25519 };

struct csr {
    X509_REQ *req;  /* owned; the self-signature has been verified. Its encoding is the
                     * DER received. The key inside is not decoded a second time:
                     * X509_REQ_get0_pubkey(req) is NULL, use pkey below; copy the
                     * SubjectPublicKeyInfo with X509_REQ_get_X509_PUBKEY(req). req was
                     * decoded in a library context without providers: anything that fetches
                     * algorithms through it must name the default one, e.g.
                     * X509_REQ_verify_ex(req, pkey, NULL, NULL). */
    EVP_PKEY *pkey; /* owned; the request's public key (provider key) */
    enum csr_key_type key_type;
    int key_bits;     /* RSA modulus bits; EC field bits; 256 for Ed25519 */
    char key_alg[16]; /* policy name: RSA_2048, RSA_<bits>, EC_P256, EC_P384, EC_P521, EC_ED25519 */

    /* Subject, each attribute's values in CSR order (UTF-8). */
    struct strv common_name, organization, organizational_unit, country, province, locality;
    struct strv street_address, postal_code;
    struct strv serial_number; /* serialNumber (2.5.4.5), not the certificate serial */
    /* Every other subject attribute, in CSR order: its dotted OID ("2.5.4.12") and its value
     * as UTF-8, at the same index. */
    struct strv other_subject_oids, other_subject_values;
    bool subject_empty;

    /* subjectAltName from the extensionRequest attribute. IPs in canonical text
     * (inet_ntop: "10.0.0.1", "2001:db8::1"). */
    struct strv dns_names, ip_addresses, uris, email_addresses;
    /* otherName SANs (their value a UTF8String, as cert-manager's otherNames): dotted type OID
     * and value (UTF-8, no NUL, within CSR_MAX_NAME) at the same index, in CSR order. */
    struct strv other_name_oids, other_name_values;

    /* Requested extensions other than SAN (cert-manager's webhook compares them with the spec). */
    bool has_basic_constraints, bc_is_ca;
    bool bc_has_path_len; /* pathLenConstraint requested (only with CA:TRUE) */
    long bc_path_len;     /* 0 .. CSR_MAX_PATH_LEN */
    /* nameConstraints requested (DNS, IP, email and URI subtrees only): the local CA copies the
     * extension as it is, criticality included; csr_check_request admits it only with isCA. */
    bool has_name_constraints, name_constraints_critical;
    /* Its subtrees by kind, in CSR order, for a policy to check (spec.ca.nameConstraints): DNS
     * names, email and URI constraints as written (IA5 text, e.g. "example.com",
     * ".example.com", "user@example.com"); IP ranges as CIDR text ("10.0.0.0/8",
     * "2001:db8::/32"). Empty unless has_name_constraints. */
    struct csr_subtrees {
        struct strv dns, ip, email, uri;
    } nc_permitted, nc_excluded;
    bool has_key_usage;
    uint32_t key_usage; /* OpenSSL KU_* bits */
    bool has_ext_key_usage;
    int ext_key_usage[USAGE_COUNT]; /* NIDs; an unknown EKU OID makes the CSR invalid */
    size_t n_ext_key_usage;
};

/* Parses a CSR given as PEM ("-----BEGIN CERTIFICATE REQUEST-----", also the "NEW" variant)
 * or DER. Checks, each with an ERR_INVALID message a user can act on: size (ERR_TOO_BIG past
 * CSR_MAX_BYTES), one request only, version, the proof-of-possession signature, the key
 * (RSA >= 2048 bits, EC P-256/P-384/P-521, Ed25519; nothing else), SAN types (DNS, IP, URI,
 * email, and otherName whose value is a UTF8String; at least one when the extension is
 * present), subject values (strings, as UTF-8), CSR_MAX_SANS and CSR_MAX_NAME, and
 * the requested extensions: only
 * subjectAltName, basicConstraints (pathLenConstraint only with CA:TRUE, at most
 * CSR_MAX_PATH_LEN), keyUsage, extKeyUsage and nameConstraints (non-empty; DNS, IP, email and
 * URI subtrees without minimum/maximum; at most CSR_MAX_SANS of them) are accepted, critical
 * or not: any other one would be missing from the certificate, so it is refused. Also refused:
 * BER or other non-canonical DER, an extension requested twice, MD5/MD4/MD2 signatures, and
 * names with NUL or (in IA5 SANs: DNS, URI, email) control or non-ASCII bytes, an empty
 * otherName, and a subjectAltName extension that is not DER (it is copied as it is). Limits on
 * SANs and names are ERR_INVALID. Returns a new csr (csr_free it) or NULL. Thread-safe. */
struct csr *csr_parse(const unsigned char *data, size_t len, struct err *err) WUR;

/* Checks that the request can give a valid certificate, whatever a policy allows: it names an
 * identity (a subject commonName or a subjectAltName); RFC 5280's rules that depend on the
 * request: a non-empty subject with is_ca or "crl sign" (4.1.2.6), "cert sign" only with
 * is_ca (4.2.1.3), nameConstraints only with is_ca (4.2.1.10); and checks the requested extensions
 * against a request's isCA and usages as cert-manager's webhook does: a CSR basicConstraints
 * must equal is_ca; a CSR keyUsage/extKeyUsage must equal what usages (USAGE_DEFAULT when
 * usages is 0) and is_ca map to. ERR_INVALID with a message saying what to change. */
int csr_check_request(const struct csr *csr, bool is_ca, usage_set usages, struct err *err) WUR;

void csr_free(struct csr *csr);

#endif
