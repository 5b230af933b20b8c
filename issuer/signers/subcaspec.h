/* subcaspec.h -- the Vault sub-CA's pure parts: spec.vault.subCA, the key and CSR Ember makes,
 * the sign-intermediate request body, Vault's answer and the checks it must pass before use.
 * No I/O, no logging, no globals: every function is thread-safe. */
#ifndef EMBER_SUBCASPEC_H
#define EMBER_SUBCASPEC_H

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/err.h"

#define SUBCASPEC_MAX_NAMES 16       /* subject.organizations / organizationalUnits entries */
#define SUBCASPEC_MAX_NAME_LEN 64    /* bytes of one of them (X.520 upper bound) */
#define SUBCASPEC_MAX_DOMAINS 64     /* permittedDNSDomains entries */
#define SUBCASPEC_MAX_DOMAIN_LEN 254 /* bytes of one (a DNS name, with a leading '.') */
#define SUBCASPEC_MAX_PREFIX 32      /* bytes of commonNamePrefix */
#define SUBCASPEC_CN_MAX 64          /* ub-common-name: the whole CN */
#define SUBCASPEC_MAX_CHAIN 16       /* certificates of Vault's answer (ca_chain + issuing_ca) */

enum subcaspec_key_alg {
    SUBCASPEC_ECDSA_P256,
    SUBCASPEC_ECDSA_P384,
    SUBCASPEC_RSA2048,
    SUBCASPEC_RSA3072,
    SUBCASPEC_RSA4096,
    SUBCASPEC_ED25519,
};

/* spec.vault.subCA once enabled (enabled: false is parsed as absent: per-certificate mode). */
struct subca_spec {
    char *path;          /* "pki_int/issuer/ember/sign-intermediate": POST /v1/<path> */
    int key_alg;         /* enum subcaspec_key_alg */
    char *duration_text; /* as written ("168h"): sent as ttl, so a policy can pin it */
    long long duration_s, renew_before_s, max_leaf_s;
    char *cn_prefix; /* default "Ember sub-CA" */
    char **orgs, **ous, **domains;
    size_t n_orgs, n_ous, n_domains;
    char *bundle_name, *bundle_key; /* caBundleSecretRef (key default ca.crt), or NULL */
    bool require_locked;            /* requireLockedMemory */
};

/* Reads spec.vault.subCA (obj, an object) into *out: a new spec, or NULL when enabled is
 * false. Members are checked with base/jsonfield (unknown, repeated, wrong type, keyAlgorithm
 * one of ECDSAP256 ECDSAP384 RSA2048 RSA3072 RSA4096 Ed25519), then: path required, without a
 * leading '/', ending in "/sign-intermediate"; durations in Go syntax, positive; maxLeafDuration
 * (default 24h) < duration (default 168h); renewBefore (default max(duration/3,
 * min(maxLeafDuration+1h, (duration+maxLeafDuration)/2))) >= maxLeafDuration and < duration;
 * commonNamePrefix non-empty, printable, at most SUBCASPEC_MAX_PREFIX bytes; permittedDNSDomains
 * DNS names (letters, digits, '-', '.'; a leading '.' allowed). ERR_INVALID naming the field. */
int subcaspec_parse(const cJSON *obj, struct subca_spec **out, struct err *err) WUR;
/* A deep copy. */
struct subca_spec *subcaspec_dup(const struct subca_spec *s);
void subcaspec_free(struct subca_spec *s);

/* The name of a key algorithm ("ECDSAP256"). */
const char *subcaspec_alg_name(int alg);

/* A new private key of alg (its secret numbers in OpenSSL's secure heap when one is set up), or
 * NULL with ERR_INTERNAL. */
EVP_PKEY *subcaspec_keygen(int alg, struct err *err) WUR;

/* The common name of generation n: "<prefix> <host>-<n>", host cut so the whole fits in
 * SUBCASPEC_CN_MAX bytes. */
void subcaspec_common_name(const char *prefix, const char *host, unsigned long n, char *out,
                           size_t outlen);

/* The CSR (PEM, a new string) for key: subject CN = cn, O and OU from the spec, no extension,
 * no SAN; signed by key. NULL with ERR_INTERNAL. */
char *subcaspec_csr_pem(const struct subca_spec *s, EVP_PKEY *key, const char *cn,
                        struct err *err) WUR;

/* The sign-intermediate body, every value a JSON string: csr, common_name, ttl (duration as
 * written), max_path_length "0", exclude_cn_from_sans "true", format "pem", use_csr_values
 * "false", and when set organization, ou (the subject's O and OU: Vault does not take them from
 * the CSR) and permitted_dns_domains, comma lists. A new string. */
char *subcaspec_request_body(const struct subca_spec *s, const char *csr_pem, const char *cn);

/* What Vault answered, parsed: the new certificate, and the other certificates it sent
 * (issuing_ca, ca_chain; duplicates and the certificate itself dropped), split into
 * self-signed roots and the rest. */
struct subcaspec_answer {
    X509 *cert;
    STACK_OF(X509) * upstream; /* not self-signed */
    STACK_OF(X509) * roots;    /* self-signed */
    char warnings[512];        /* Vault's warnings joined with "; ", or "" */
};

/* Parses a 2xx sign-intermediate answer (data.certificate required; data.issuing_ca and
 * data.ca_chain, at most SUBCASPEC_MAX_CHAIN certificates in all). ERR_INVALID saying what is
 * missing or malformed. Fills a (subcaspec_answer_free it, also on error). */
int subcaspec_read_answer(const char *body, size_t len, struct subcaspec_answer *a,
                          struct err *err) WUR;
void subcaspec_answer_free(struct subcaspec_answer *a);

/* The strict checks of a sub-CA before use. cert must be CA:TRUE with pathLen 0, keyUsage with
 * keyCertSign, well-formed extensions, carry key's public key, and chain through upstream (may
 * be NULL) to one of anchors (self-signed or not: the trust anchors) at now with
 * X509_V_FLAG_X509_STRICT; its usable life, the earliest notAfter of the chain (*not_after), must
 * leave more than max_leaf_s seconds after now. On success *chain (when not NULL) is the verified
 * chain, cert first, anchor last (sk_X509_pop_free it). ERR_INVALID (no anchor:
 * ERR_ISSUER_NOT_READY) with a message saying what is wrong. */
int subcaspec_verify(X509 *cert, STACK_OF(X509) * upstream, STACK_OF(X509) * anchors, EVP_PKEY *key,
                     time_t now, long long max_leaf_s, time_t *not_after, STACK_OF(X509) * *chain,
                     struct err *err) WUR;

/* With n > 0 domains: cert must carry a critical nameConstraints extension permitting exactly
 * those DNS domains (case-insensitive, in any order), nothing else, and excluding nothing; with
 * n == 0 nothing is checked. ERR_INVALID saying what differs. */
int subcaspec_check_constraints(X509 *cert, char *const *domains, size_t n, struct err *err) WUR;

/* Whether the DNS name is inside one of the n permitted domains as RFC 5280 name constraints
 * read them (case-insensitive): "example.com" permits itself and every name under it,
 * ".example.com" only the names under it. n == 0 permits everything. */
bool subcaspec_dns_permitted(char *const *domains, size_t n, const char *name);

/* A leaf's lifetime from the wanted one: at most max_leaf_s, and ending no later than
 * not_after (the sub-CA chain's); *cut says whether it was shortened. */
long long subcaspec_leaf_duration(long long want_s, time_t now, long long max_leaf_s,
                                  time_t not_after, bool *cut);

/* When to renew a sub-CA usable until not_after, installed at now (wall-clock seconds):
 * renew_before_s before not_after, moved by jitter_s, never later than max_leaf_s before it.
 * When that is already past (Vault signed a sub-CA living less than renewBefore: the mount's
 * max_lease_ttl, a parent expiring soon), *shortened is set and the renewal is halfway to the
 * point where leaves would be cut, at least min_wait_s from now: never a loop of requests. */
time_t subcaspec_renew_at(time_t not_after, time_t now, long long renew_before_s,
                          long long max_leaf_s, long long jitter_s, long long min_wait_s,
                          bool *shortened);

#endif
