/* tokenreview.h -- authenticates Kubernetes bearer tokens with a TokenReview
 * (authentication.k8s.io/v1, api-auth.md §2): the audience must be confirmed in status.audiences,
 * positive answers are cached briefly under SHA-256(token) and the audience, never the token. */
#ifndef EMBER_TOKENREVIEW_H
#define EMBER_TOKENREVIEW_H

#include <stddef.h>

#include "base/err.h"
#include "decide/caller.h"

struct kube;
struct kube_response;
struct metrics;

#define TOKENREVIEW_PATH "/apis/authentication.k8s.io/v1/tokenreviews"
#define TOKENREVIEW_CACHE_MAX 4096         /* cached identities; the least recently used go first */
#define TOKENREVIEW_MAX_TTL_S 86400        /* a larger cache_ttl_s is cut to this */
#define TOKENREVIEW_MAX_AUDIENCE_BYTES 256 /* longest audience tokenreview_new accepts */
#define TOKENREVIEW_MAX_NAME_BYTES 1024    /* longest username kept; longer groups are dropped */
#define TOKENREVIEW_MAX_ERROR_BYTES 200    /* of status.error quoted in a message */

struct tokenreview; /* opaque, thread-safe */

/* A token authenticator. audience: required in status.audiences (non-empty, printable, at most
 * TOKENREVIEW_MAX_AUDIENCE_BYTES, copied); cache_ttl_s: how long a positive answer is reused (0 =
 * never; capped at TOKENREVIEW_MAX_TTL_S). k: Ember's Kubernetes client (borrowed, must outlive
 * the authenticator; its own service-account token authenticates the TokenReview). m may be NULL
 * (else declares/counts ember_tokenreview_requests_total{result} and
 * ember_tokenreview_cache_hits_total). NULL when the audience is not acceptable. */
struct tokenreview *tokenreview_new(struct kube *k, const char *audience, long long cache_ttl_s,
                                    struct metrics *m) WUR;

/* Authenticates a bearer token. 0: *out filled (method CALLER_TOKEN, username, groups; free it
 * with caller_free). -1 with *out zeroed:
 *   ERR_PERMANENT when the token is not valid for Ember (unauthenticated, another audience,
 *     status.error, a malformed answer, or a token that is empty, longer than
 *     KUBE_MAX_TOKEN_BYTES or holds a byte outside '!'..'~' -- the last three without asking
 *     the API server): answer 401 with err->msg, which never holds the token;
 *   ERR_TRANSIENT when the API server could not answer (network, timeouts, 5xx, 429, 401/403 to
 *     Ember's own credentials, any other non-2xx): answer 503, never a pass.
 * Thread-safe; the token is never logged, kept or used as a cache key. */
int tokenreview_check(struct tokenreview *tr, const char *token, struct caller *out,
                      struct err *err) WUR;

/* TokenReviews sent so far (cache hits and tokens refused locally are not counted). */
unsigned long tokenreview_calls(struct tokenreview *tr);

/* NULL is a no-op. No check may be running. */
void tokenreview_free(struct tokenreview *tr);

/* Pure, for tests: reads a TokenReview answer body (HTTP 201/200). 0 with *out filled as
 * tokenreview_check does, or -1 (ERR_PERMANENT, *out zeroed) when status.authenticated is not
 * true, status.error is set, status.audiences is absent, empty or lacks audience, the username
 * is missing, or the body is not a TokenReview. Groups beyond CALLER_MAX_NAMES are dropped. */
int tokenreview_parse(const char *body, size_t len, const char *audience, struct caller *out,
                      struct err *err) WUR;

/* Pure: the exp claim (seconds since the epoch) of a JWT, read from its payload (the middle
 * base64url segment) WITHOUT verifying anything: only ever use it to shorten a lifetime. 0 with
 * *exp set, -1 when the token is not a JWT or has no numeric exp. */
int tokenreview_token_exp(const char *token, long long *exp) WUR;

/* For tests. The clock gives milliseconds since the Unix epoch and stands for both of the
 * authenticator's clocks: the one that times cached answers (default: CLOCK_MONOTONIC) and the
 * one a token's exp is compared with (default: CLOCK_REALTIME). post replaces kube_request for
 * the POST of one review (body of len bytes, holding the token: the hook must not keep it); it
 * fills *out as kube_request does (body malloc()ed) or returns -1 with err set. NULL keeps the
 * default. Call before the first check; not thread-safe. */
typedef long long (*tokenreview_clock_fn)(void *ud);
typedef int (*tokenreview_post_fn)(void *ud, const char *body, size_t len,
                                   struct kube_response *out, struct err *err);
void tokenreview_set_hooks(struct tokenreview *tr, tokenreview_clock_fn clock,
                           tokenreview_post_fn post, void *ud);
/* Cached identities now, expired ones included until they are dropped. */
size_t tokenreview_cache_size(struct tokenreview *tr);

#endif
