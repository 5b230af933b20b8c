/* httpcheck.h -- how a request's body is framed (RFC 9112 sections 3.2, 5.1, 6.1-6.3), checked on
 * its header lines before a byte of the body is read, so that no request can hide in another's
 * body. Pure: no I/O, no allocation, no logging. */
#ifndef EMBER_HTTPCHECK_H
#define EMBER_HTTPCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define HTTPCHECK_MSG_MAX 200

/* What has been seen of one request's header lines. Zero it with httpcheck_init. */
struct httpcheck {
    unsigned hosts;              /* Host lines */
    unsigned content_lengths;    /* Content-Length lines */
    unsigned long long length;   /* the first Content-Length's value */
    unsigned transfer_encodings; /* Transfer-Encoding lines */
    bool chunked_seen;           /* a chunked coding was listed (it must be the last one) */
    unsigned status;             /* 0, else the answer: 400 (bad framing) or 501 (a coding) */
    char msg[HTTPCHECK_MSG_MAX]; /* why, when status != 0 */
};

/* Empties c for a new request. */
void httpcheck_init(struct httpcheck *c);
/* Takes one header line as received: name (without the colon) and value, neither
 * NUL-terminated, any bytes. Lines must come in the order they were received. */
void httpcheck_header(struct httpcheck *c, const char *name, size_t name_len, const char *value,
                      size_t value_len);
/* The verdict once every line is in, for a request of this version ("HTTP/1.1", "HTTP/1.0"):
 * 0 when the framing is unambiguous, else the status to answer (400 or 501, the connection to be
 * closed after it) with why in c->msg. A failing check outranks a 501. */
unsigned httpcheck_verdict(struct httpcheck *c, const char *version) WUR;

#endif
