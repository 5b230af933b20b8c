/* vaultmsg.h -- Vault request bodies and response parsing (AppRole login, lookup-self, PKI sign,
 * error lists). Pure: no I/O, no logging, no globals; every function is thread-safe. */
#ifndef EMBER_VAULTMSG_H
#define EMBER_VAULTMSG_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "x509/csr.h"

/* Named limits on what Vault (or anything posing as Vault) may send or what we send. */
#define VAULTMSG_MAX_BODY (1024 * 1024) /* a response body handed to a parse function */
#define VAULTMSG_MAX_TOKEN 4096         /* auth.client_token bytes */
#define VAULTMSG_MAX_ROLE_ID 4096       /* role_id bytes, after trimming */
#define VAULTMSG_MAX_SECRET_ID 4096     /* secret_id bytes, after trimming */
#define VAULTMSG_MAX_JWT 65536          /* a Kubernetes service account token, after trimming */
#define VAULTMSG_MAX_CHAIN 100          /* data.ca_chain entries */
#define VAULTMSG_MAX_ERRORS 32          /* "errors" entries joined into one message */
#define VAULTMSG_MAX_ERROR_TEXT 512     /* bytes of the joined "errors" message, NUL included */
#define VAULTMSG_TOKEN_TYPE_MAX 16      /* auth.token_type bytes, NUL included */

/* The "auth" block of a login or renew-self answer. */
struct vaultmsg_login {
    char *client_token;       /* owned; printable ASCII only (safe in a header); secret */
    long long lease_duration; /* seconds the token lives; 0 = no expiry */
    bool renewable;
    char token_type[VAULTMSG_TOKEN_TYPE_MAX]; /* "service", "batch", or "" when not sent */
    /* auth.num_uses: the uses the new token has (0 = unlimited); has_num_uses is false when the
     * answer does not carry it (older servers), and the client asks lookup-self instead. */
    long long num_uses;
    bool has_num_uses;
};

/* The parts of lookup-self's "data" the client needs. */
struct vaultmsg_lookup {
    long long num_uses; /* as Vault reports it: 0 = unlimited, > 0 = uses left, -1 = used up */
    long long ttl;      /* seconds left; 0 = no expiry */
    bool renewable;     /* data.renewable; false when absent */
};

/* Builds the AppRole login body {"role_id": ..., "secret_id": ...}, both trimmed of surrounding
 * white space as cert-manager does. The body is allocated once with its exact size so no copy
 * of the secret is left behind; the caller wipes it: xfree_secret(*json, *len). ERR_INVALID
 * for an empty role_id/secret_id or a NUL inside one; ERR_TOO_BIG past VAULTMSG_MAX_ROLE_ID /
 * VAULTMSG_MAX_SECRET_ID. Never puts the secret in err. */
int vaultmsg_login_body(const char *role_id, const char *secret_id, size_t secret_len, char **json,
                        size_t *len, struct err *err) WUR;

/* Builds the Kubernetes auth login body {"role": ..., "jwt": ...}: role as given, the JWT
 * trimmed of surrounding white space (a token file or Secret value ending in a newline). Exact
 * size and wiping as vaultmsg_login_body. ERR_INVALID for an empty role or JWT or a NUL in the
 * JWT; ERR_TOO_BIG past VAULTMSG_MAX_ROLE_ID / VAULTMSG_MAX_JWT. Never puts the JWT in err. */
int vaultmsg_kubernetes_login_body(const char *role, const char *jwt, size_t jwt_len, char **json,
                                   size_t *len, struct err *err) WUR;

/* Builds the TLS certificate auth login body: {"name": name}, or {} when name is NULL or
 * empty (Vault then tries every cert role). *json: free() it. ERR_TOO_BIG past
 * VAULTMSG_MAX_ROLE_ID. */
int vaultmsg_cert_login_body(const char *name, char **json, size_t *len, struct err *err) WUR;

/* Parses a login or renew-self answer into out (vaultmsg_login_clear it). The token's copy
 * inside the parsed JSON is wiped; the caller still owns (and should wipe) body.
 * ERR_TRANSIENT when body is not JSON; ERR_INVALID when "auth" or auth.client_token is missing,
 * empty or of the wrong type, or a field has the wrong type or range; ERR_TOO_BIG past
 * VAULTMSG_MAX_BODY or VAULTMSG_MAX_TOKEN. On error out is left cleared. */
int vaultmsg_parse_login(const char *body, size_t len, struct vaultmsg_login *out,
                         struct err *err) WUR;

/* Wipes and frees the token; out may be reused. NULL is a no-op. */
void vaultmsg_login_clear(struct vaultmsg_login *l);

/* Parses a lookup-self answer ("data.num_uses", "data.ttl", "data.renewable"); the token copy in
 * "data.id" is wiped. ERR_TRANSIENT when not JSON; ERR_INVALID when data or num_uses is missing or
 * mistyped (renewable not a boolean), num_uses < -1 or ttl < 0; ERR_TOO_BIG past VAULTMSG_MAX_BODY.
 */
int vaultmsg_parse_lookup(const char *body, size_t len, struct vaultmsg_lookup *out,
                          struct err *err) WUR;

/* Builds the PKI sign body as cert-manager does, every value a JSON string: csr (PEM of
 * csr->req), common_name (the CSR's first CN or ""), alt_names (DNS names comma-joined),
 * ip_sans, uri_sans, ttl (Go duration of ttl_s), exclude_cn_from_sans "true", and when the
 * CSR has otherNames other_sans, a list of "<oid>;UTF8:<value>" (Vault reads them from the
 * CSR when its role has use_csr_sans, from other_sans otherwise). *json is a new
 * string (free() it). ERR_INVALID when ttl_s <= 0 or a SAN contains a comma (Vault's lists
 * are comma-separated, so it would be split into other names). */
int vaultmsg_sign_body(const struct csr *csr, long long ttl_s, char **json, struct err *err) WUR;

/* Parses a PKI sign answer: data.certificate (required, PEM), data.issuing_ca and
 * data.ca_chain[] (optional) joined, in that order, into one PEM bundle (*pem, free() it) to
 * hand to chain_normalise(). ERR_TRANSIENT when body is not JSON; ERR_INVALID when data or
 * data.certificate is missing, empty, not PEM (a role with format=der) or a field is
 * mistyped; ERR_TOO_BIG past VAULTMSG_MAX_BODY or VAULTMSG_MAX_CHAIN. */
int vaultmsg_parse_sign(const char *body, size_t len, char **pem, struct err *err) WUR;

/* Joins the strings of Vault's {"errors": [...]} with "; " into out (always NUL-terminated,
 * at most min(outlen, VAULTMSG_MAX_ERROR_TEXT) bytes, "..." marks a cut), at most
 * VAULTMSG_MAX_ERRORS entries, control characters and non-ASCII bytes escaped as \n, \t,
 * \xNN. Returns the number of entries joined: 0 when body is not JSON or has no error
 * strings (out is then ""). */
size_t vaultmsg_errors(const char *body, size_t len, char *out, size_t outlen);

#endif
