/* tokenrequest.h -- tokens of a service account made by the API server's TokenRequest
 * (authentication.k8s.io/v1, POST .../serviceaccounts/NAME/token): the token source of Vault's
 * Kubernetes auth with serviceAccountRef (issue 13). */
#ifndef EMBER_TOKENREQUEST_H
#define EMBER_TOKENREQUEST_H

#include <stddef.h>

#include "base/err.h"

struct kube_response;

#define TOKENREQUEST_MAX_ANSWER_BYTES (64u * 1024) /* a TokenRequest answer read at all */
#define TOKENREQUEST_MAX_AUDIENCES 16              /* audiences one request may ask for */
#define TOKENREQUEST_MAX_AUDIENCE_BYTES 1024       /* one audience */
#define TOKENREQUEST_MIN_EXPIRATION_S 600          /* the API server's own floor (10 minutes) */
#define TOKENREQUEST_MAX_EXPIRATION_S (1LL << 32)  /* and its ceiling */
#define TOKENREQUEST_MAX_QUOTE_BYTES 300           /* of the API server's message in ours */

/* Pure: the path of the TokenRequest of service account ns/name into out (cap bytes).
 * ERR_INVALID when ns is not a DNS-1123 label or name not a DNS-1123 subdomain (so neither can
 * reach another path), ERR_TOO_BIG when it does not fit. */
int tokenrequest_path(const char *ns, const char *name, char *out, size_t cap, struct err *err) WUR;

/* Pure: the request body {"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest",
 * "spec":{"audiences":[...],"expirationSeconds":N}} as a new string (free() it; it holds no
 * secret). ERR_INVALID when there is no audience or more than TOKENREQUEST_MAX_AUDIENCES, one is
 * empty, longer than TOKENREQUEST_MAX_AUDIENCE_BYTES or holds a control character, or
 * expiration_s is outside the API server's [TOKENREQUEST_MIN_EXPIRATION_S,
 * TOKENREQUEST_MAX_EXPIRATION_S]. */
char *tokenrequest_body(const char *const *audiences, size_t n_audiences, long expiration_s,
                        struct err *err) WUR;

/* Pure: reads the answer to a TokenRequest (HTTP 201/200, len bytes of any content). 0 with
 * *token a new NUL-terminated copy of status.token (xfree_secret(*token, strlen + 1) it), or -1
 * with *token NULL and ERR_TRANSIENT when the body is longer than TOKENREQUEST_MAX_ANSWER_BYTES,
 * not JSON, not a TokenRequest, or its status.token is absent, empty, longer than
 * KUBE_MAX_TOKEN_BYTES or holds a byte outside '!'..'~'. Every copy of the token it made is
 * wiped; the caller wipes body. Messages never quote the answer. */
int tokenrequest_parse(const char *body, size_t len, char **token, struct err *err) WUR;

/* Pure: err for a non-2xx answer r to the TokenRequest of ns/name, saying what to fix:
 *   403 -> ERR_ISSUER_NOT_READY: grant Ember's service account create on serviceaccounts/token
 *          in ns (for name);
 *   404 -> ERR_ISSUER_NOT_READY: the service account ns/name does not exist;
 *   400, 422 -> ERR_ISSUER_NOT_READY: the API server refused the request as written;
 *   401, 429, 5xx and any other -> ERR_TRANSIENT.
 * The API server's message is quoted (printable, cut); it never holds a token (none was made). */
void tokenrequest_answer_error(const struct kube_response *r, const char *ns, const char *name,
                               struct err *err);

/* Sends one request: POST path with body (len bytes, application/json); fills *out as
 * kube_request does (0 when the server answered, any code) or returns -1 with err set. */
typedef int (*tokenrequest_post_fn)(void *ud, const char *path, const char *body, size_t len,
                                    struct kube_response *out, struct err *err);

/* A token of service account ns/name for audiences, valid expiration_s seconds, made by the API
 * server: the signer_env.get_token contract (signers/signer.h). post sends the request (ud its
 * argument; the controller's goes through ctl_request). 0 with *token a new string (xfree_secret
 * it), or -1 with *token NULL: ERR_ISSUER_NOT_READY when refused (bad name or audiences, no such
 * service account, RBAC, an invalid request), ERR_TRANSIENT when it cannot be had now (network,
 * 5xx, 429, a malformed answer). The answer's body is wiped before it is freed. Thread-safe when
 * post is. */
int tokenrequest_create(tokenrequest_post_fn post, void *ud, const char *ns, const char *name,
                        const char *const *audiences, size_t n_audiences, long expiration_s,
                        char **token, struct err *err) WUR;

#endif
