/* err.h -- error kinds and bounded messages filled by fallible functions. */
#ifndef EMBER_ERR_H
#define EMBER_ERR_H

#include <stddef.h>

#define WUR __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

/* The kind drives what the caller does next (retry, fail, deny, answer 4xx). */
enum err_kind {
    ERR_NONE = 0,
    ERR_INVALID,          /* bad input: never retried; 400/422, Denied or Failed */
    ERR_TOO_BIG,          /* a named limit was exceeded: 413 */
    ERR_PERMANENT,        /* signer refused for good: Failed */
    ERR_TRANSIENT,        /* network, 5xx, 429, sealed: retry with backoff */
    ERR_PENDING,          /* not yet possible (caches, issuer missing): requeue */
    ERR_ISSUER_NOT_READY, /* the issuer's own problem: issuer Ready=False */
    ERR_INTERNAL,         /* a bug or a library failure */
};

#define ERR_MSG_MAX 1024

struct err {
    enum err_kind kind;
    char msg[ERR_MSG_MAX];
};

/* Sets kind and a formatted message (truncated to ERR_MSG_MAX-1). err may be NULL. */
void err_set(struct err *err, enum err_kind kind, const char *fmt, ...) PRINTF_LIKE(3, 4);
/* Prepends "<prefix>: " to the message, keeping the kind. err may be NULL. */
void err_prefix(struct err *err, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Resets err to ERR_NONE and an empty message. err may be NULL. */
void err_clear(struct err *err);
/* Static name of a kind ("invalid", "too-big", ...). */
const char *err_kind_name(enum err_kind kind);
/* Appends the oldest OpenSSL error queue entry (if any) as ": <reason>" and clears the queue. */
void err_append_openssl(struct err *err);

#endif
