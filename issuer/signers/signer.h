/* signer.h -- the signer table: one row per kind of signer (local CA, Vault, ...), each doing
 * the whole job of a signer: its part of an Issuer's spec, loading itself with the functions the
 * layer above injects, checks, expiry, signing, and the name the metrics carry. Nothing outside
 * signers/ knows the kinds: a new signer is one new file defining its row (a `const struct
 * signer_ops`) and one line in signer.c's table. */
#ifndef EMBER_SIGNER_H
#define EMBER_SIGNER_H

#include <cjson/cJSON.h>
#include <openssl/asn1.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/err.h"
#include "x509/csr.h"
#include "x509/usage.h"

struct metrics;

/* What to issue. The subject, SANs and public key come from the CSR. */
struct sign_params {
    long long duration_s; /* wanted lifetime, already clamped by policy */
    /* The policy's spec.validity.min (0 = none): a signer that would issue a shorter lifetime
     * (cut to its CA's notAfter, or to a Vault role's max_ttl) refuses, ERR_PERMANENT. */
    long long min_duration_s;
    bool is_ca;
    usage_set usages; /* 0 = cert-manager's default */
    time_t now;
    /* A CA whose CSR asks for no pathLenConstraint is issued with path_len (the policy's
     * spec.ca.maxPathLen) when has_path_len; a signer that cannot add it refuses the request. */
    bool has_path_len;
    long path_len;
};

/* What was issued, normalised as chain_normalise() says. Both owned by the caller. */
struct sign_result {
    char *chain_pem; /* leaf first, then intermediates, no self-signed root */
    char *ca_pem;    /* trust anchor */
};

void sign_result_free(struct sign_result *r);

/* The most audiences a row asks get_token for (the TokenRequest API's limit as the controller
 * sends it; controller/reconcile_issuer.c checks the two agree). */
#define SIGNER_TOKEN_MAX_AUDIENCES 16

/* What the layer above injects into the signers it loads. Signers sit below the Kubernetes
 * client (kube/) and the standalone store, and reach Secrets and tokens only through these
 * functions. A loaded signer keeps a copy and may call them later from signing threads (a Vault
 * login reads its secret_id again): ud must outlive every signer loaded with it. */
struct signer_env {
    /* The Secret ns/name as a core/v1 object (the caller deletes it with secret_delete), or
     * NULL with err: ERR_ISSUER_NOT_READY when it does not exist (or may not be read),
     * ERR_TRANSIENT when it could not be read now. Thread-safe. Required. */
    cJSON *(*get_secret)(void *ud, const char *ns, const char *name, struct err *err);
    /* The token source, for Vault's Kubernetes auth with serviceAccountRef (issue 13): a token
     * of the service account ns/service_account for these audiences, valid expiration_s
     * seconds, as the TokenRequest API makes it (the controller provides it; signers never
     * include kube/). *token: a new NUL-terminated string (xfree_secret it). Errors:
     * ERR_ISSUER_NOT_READY when refused (no such service account, RBAC), ERR_TRANSIENT when it
     * cannot be had now. Thread-safe. NULL where there is none (standalone mode; the controller
     * fills it: kube/tokenrequest): a row that needs it fails to load, saying so. */
    int (*get_token)(void *ud, const char *ns, const char *service_account,
                     const char *const *audiences, size_t n_audiences, long expiration_s,
                     char **token, struct err *err);
    void *ud;
};

/* Where and for whom a signer is loaded. */
struct signer_where {
    const char *ns;  /* the namespace its Secrets (and service accounts) are in */
    const char *ref; /* "Issuer/ns/name" or "ClusterIssuer/name", for messages */
    /* The issuer itself (Vault's Kubernetes auth names it in a token audience): its namespace,
     * "" for a ClusterIssuer, and metadata.name. */
    const char *issuer_ns;
    const char *issuer_name;
};

/* One row of the table. spec: what parse made; ctx: what load made (the loaded signer). */
struct signer_ops {
    /* The signer="..." label of the metrics ("local", "vault"): lowercase letters, digits and
     * '-', so it needs no escaping. */
    const char *name;
    /* The field of an Issuer's spec that selects this signer ("ca", "vault"); exactly one row's
     * field must be set. */
    const char *spec_key;
    /* Reads spec.<spec_key> (an object) into a new parsed spec (*out; free_spec frees it).
     * ERR_INVALID naming the field, or with cert-manager's message where it has one. Pure. */
    int (*parse)(const cJSON *obj, void **out, struct err *err);
    void (*free_spec)(void *spec);
    /* Builds the signer from a parsed spec (copying what it keeps), reading its Secrets through
     * env in where->ns, at now. *ctx: the new signer (free frees it). Errors name the Secret
     * and what is wrong: ERR_PERMANENT when the spec can never load as written (the issuer is
     * Failed), any other kind while something may still be fixed (Pending). No signing yet. */
    int (*load)(const void *spec, const struct signer_env *env, const struct signer_where *where,
                time_t now, void **ctx, struct err *err);
    /* Signs; thread-safe. Errors carry the kind that decides retry (transient) or fail. */
    int (*sign)(void *ctx, const struct csr *csr, const struct sign_params *p,
                struct sign_result *out, struct err *err);
    /* Checks the signer can sign now (key matches, CA valid, backend reachable); thread-safe. */
    int (*check)(void *ctx, time_t now, struct err *err);
    /* The controller's periodic re-check of a loaded signer, in place (Vault: keeps its cached
     * token and logs in only if needed); NULL when the controller loads the signer again from
     * its Secrets instead (local CA: its Secret may have been rotated). Returns 0 or -1 as
     * check does, or 1 (err untouched) when the signer must be loaded again: a Secret it read
     * at load changed (Vault: signers/secretwatch.h). Thread-safe. */
    int (*recheck)(void *ctx, time_t now, struct err *err);
    /* notAfter of the CA that signs (Unix seconds), or 0 while it is not known: the
     * ember_ca_expiry_timestamp_seconds gauge. Thread-safe. */
    time_t (*expiry)(void *ctx);
    void (*free)(void *ctx);
    /* Optional (NULL: the default "Succeeded checking the issuer"): the Ready message of a
     * loaded signer that checked ok, into buf (len bytes). Thread-safe. */
    void (*ready_message)(void *ctx, char *buf, size_t len);
    /* Optional: declares the row's own metrics once (no ctx), and publishes a loaded signer's
     * with labels (issuer="..."), each time the issuers' metrics are published; true when it
     * set the per-issuer gauges named in gauges (a Vault signer in per-certificate mode has
     * none). Thread-safe. */
    void (*declare_metrics)(struct metrics *m);
    bool (*publish_metrics)(void *ctx, struct metrics *m, const char *labels);
    /* The per-issuer gauges publish_metrics sets (NULL-terminated; NULL: none). After each pass
     * the issuers' publishing drops their series of every issuer whose signer did not set them
     * (deleted, or no longer in the mode that has them). */
    const char *const *gauges;
};

/* A loaded signer: its row and what the row's load made. */
struct signer {
    const struct signer_ops *ops;
    void *ctx;
};

#define SIGNER_MAX_ROWS 8 /* rows the table may have */

/* The i-th row of the table (0, 1, ...), NULL past the last (at most SIGNER_MAX_ROWS). */
const struct signer_ops *signer_row(size_t i);

/* ---- helpers the rows share ---- */

/* A copy of the string member key of obj, whose path is path, into *out (replacing what *out
 * held), read with jsonfield_string: absent or null leaves *out as it was; any other type is
 * ERR_INVALID in jsonfield's shape ("PATH.KEY: expected a string, got a number"). Rows check
 * their object with jsonfield_check first and copy what they keep with this. */
int signer_spec_copy(const cJSON *obj, const char *path, const char *key, char **out,
                     struct err *err) WUR;

/* The value of key in the Secret ns/name, read through env: *out a new NUL-terminated buffer
 * (xfree_secret(*out, *len) it). field names the spec field that names the Secret, for the
 * messages: "Secret ns/name (field): <why>", "Secret ns/name (field) has no key K",
 * "Secret ns/name: <why>"; the getter's kind when it could not read the Secret, else
 * ERR_ISSUER_NOT_READY. Thread-safe when env's getter is. */
int signer_secret_key(const struct signer_env *env, const char *ns, const char *name,
                      const char *key, const char *field, char **out, size_t *len,
                      struct err *err) WUR;

/* An ASN1_TIME as Unix seconds; -1 when it cannot be read. */
int signer_asn1_time(const ASN1_TIME *t, time_t *out) WUR;
/* notAfter of the certificate that issued the leaf of r: the second certificate of chain_pem,
 * else the first of ca_pem (a leaf issued by the root itself). -1 when r holds neither. */
int signer_issuer_not_after(const struct sign_result *r, time_t *out) WUR;

#endif
