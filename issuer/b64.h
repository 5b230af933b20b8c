/* b64.h -- strict standard base64 (RFC 4648, padded), as Kubernetes encodes []byte fields. */
#ifndef EMBER_B64_H
#define EMBER_B64_H

#include <stddef.h>

#include "err.h"

/* Decodes s (len bytes; whitespace is not allowed) into a new NUL-terminated buffer *out
 * (free() it) of *out_len bytes. Fails with ERR_TOO_BIG past max decoded bytes and with
 * ERR_INVALID on any character or padding that is not standard base64. Thread-safe. */
int b64_decode(const char *s, size_t len, size_t max, unsigned char **out, size_t *out_len,
               struct err *err) WUR;
/* Returns a new NUL-terminated base64 string of n bytes at p (free() it). Never NULL. */
char *b64_encode(const void *p, size_t n);

#endif
