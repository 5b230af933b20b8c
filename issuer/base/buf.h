/* buf.h -- growable byte buffers with a hard size cap (for anything fed from outside). */
#ifndef EMBER_BUF_H
#define EMBER_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "base/err.h"

struct buf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap; /* allocated */
    size_t max; /* hard limit on len; appends beyond it fail */
};

/* Initialises an empty buffer that may hold at most max bytes. Not thread-safe. */
void buf_init(struct buf *b, size_t max);
/* Appends n bytes; returns 0, or -1 (ERR_TOO_BIG, buffer unchanged) when len would pass max. */
int buf_append(struct buf *b, const void *p, size_t n, struct err *err) WUR;
int buf_append_str(struct buf *b, const char *s, struct err *err) WUR;
int buf_printf(struct buf *b, struct err *err, const char *fmt, ...) PRINTF_LIKE(3, 4) WUR;
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Hands the NUL-terminated data to the caller (free() it) and leaves b empty. Never NULL. */
char *buf_take(struct buf *b, size_t *len);
/* Frees the data; buf_free_secret wipes it first (keys, tokens, Secret manifests). */
void buf_free(struct buf *b);
void buf_free_secret(struct buf *b);

#endif
