/* audit.h -- the audit log: one JSON line per issuance decision, on either front door (the
 * signing API and the CertificateRequest controller), written whole to a file or stderr.
 *
 * A line holds only what is derived from the request and its result: who asked, which policy
 * and issuer, the request's namespace/name, the SHA-256 of the public key, the leaf's serial
 * and notAfter, the SANs, the outcome and its reason, and (when asked) the issued certificate.
 * Never the raw CSR, a token, a private key or a secret_id: a record never receives tokens or
 * secrets, and reasons are scrubbed of PEM blocks and long token-like runs before they are
 * written. Every field is capped (the limits below), so a line stays bounded. */
#ifndef EMBER_AUDIT_H
#define EMBER_AUDIT_H

#include <stdbool.h>

#include "base/err.h"
#include "decide/caller.h"
#include "decide/cr.h"

#define AUDIT_REASON_MAX 1024       /* bytes of a reason kept; longer ones end with "..." */
#define AUDIT_FIELD_MAX 512         /* bytes of any other string (name, SAN, group) kept */
#define AUDIT_MAX_SANS 100          /* SAN entries written (all types); then "sans_truncated" */
#define AUDIT_CERT_MAX (256 * 1024) /* a leaf PEM longer than this is not written */

struct audit; /* thread-safe */

/* Opens the audit log: path "-" writes to stderr; any other path is opened for appending
 * (created with mode 0600 when missing; an existing file keeps its mode). include_certificate
 * adds the issued leaf certificate's PEM to "issued" lines. Returns NULL with err
 * (ERR_INVALID, naming the path and the reason) when the file cannot be opened. */
struct audit *audit_open(const char *path, bool include_certificate, struct err *err) WUR;

/* One decision. Every pointer is borrowed for the call and may be NULL (a field that is NULL
 * or "" is left out of the line, except caller, written as {"method":"none"}). */
struct audit_record {
    const char *front_door;      /* "api" or "controller" */
    const struct caller *caller; /* who asked */
    const char *policy;          /* the policy the request used or named */
    const char *issuer;          /* "ClusterIssuer/NAME" or "Issuer/NS/NAME" */
    const char *ns, *name;       /* the request's namespace/name (none for the Firefly shape) */
    const char *uid;             /* the request's metadata.uid (none before it is stored) */
    const char *csr_b64;         /* spec.request as sent (base64 of a PEM CSR) */
    const char *csr_pem;         /* or the PEM CSR itself (the Firefly endpoint) */
    const char *certificate_b64; /* status.certificate (base64 of a PEM chain, leaf first) */
    const char *chain_pem;       /* or the PEM chain itself (the Firefly endpoint) */
    const char *outcome;         /* "issued", "denied", "failed", "pending", "unauthenticated",
                                    "forbidden", "invalid" */
    const char *reason;          /* the condition message or the HTTP error message */
};

/* The record of a decision on the request cr (NULL when it was refused before it could be
 * read): its issuer, namespace, name and CSR come from cr, the certificate only when the
 * outcome is "issued". */
void audit_request(struct audit *a, const char *front_door, const struct caller *caller,
                   const struct cr *cr, const char *policy, const char *outcome,
                   const char *reason);

/* Writes one line for r:
 *   {"ts":"2025-01-02T03:04:05.123456Z","log":"audit","front_door","caller":{"method",
 *    "username","groups":[...],"uris":[...],"dns_names":[...],"common_name"},"policy","issuer",
 *    "namespace","name","public_key_sha256","serial","not_after","sans":{"dns":[],"ip":[],
 *    "uri":[],"email":[],"other":["<oid>;UTF8:<value>"]},"outcome","reason","certificate"}
 * uris/dns_names/common_name only for an mTLS caller. The key hash, serial, notAfter and SANs
 * come from the leaf of certificate_b64 when it parses, else (no serial, no notAfter) from
 * csr_b64 when that is a valid CSR; what cannot be computed is left out. The line is written
 * with one write(2) under a lock, so lines from several threads never interleave; a write
 * that fails is reported with LOG once per run of failures. Thread-safe. chain_pem and csr_pem,
 * when set, stand for certificate_b64 and csr_b64. */
void audit_record(struct audit *a, const struct audit_record *r);

/* Closes the file (stderr stays open) and frees a. NULL is a no-op. */
void audit_close(struct audit *a);

#endif
