/* b64.h -- encodings: strict standard base64 (RFC 4648, padded), as Kubernetes encodes []byte
 * fields; lowercase hex; the inside of a JSON string written into a buffer sized beforehand. */
#ifndef EMBER_B64_H
#define EMBER_B64_H

#include <stddef.h>

#include "base/err.h"

/* Decodes s (len bytes; whitespace is not allowed) into a new NUL-terminated buffer *out
 * (free() it) of *out_len bytes. Fails with ERR_TOO_BIG past max decoded bytes and with
 * ERR_INVALID on any character or padding that is not standard base64. Thread-safe. */
int b64_decode(const char *s, size_t len, size_t max, unsigned char **out, size_t *out_len,
               struct err *err) WUR;
/* Returns a new NUL-terminated base64 string of n bytes at p (free() it). Never NULL. */
char *b64_encode(const void *p, size_t n);

/* Writes 2n lowercase hex digits of p and a NUL at out (2n + 1 bytes). */
void hex_encode(const unsigned char *p, size_t n, char *out);

/* Writes the n bytes of s, escaped as the inside of a JSON string ('"', '\\' and control
 * bytes), at dst and returns the end. dst needs room for 6n bytes at most; for secrets, whose
 * buffer the caller sizes and wipes itself. */
char *json_escape_into(char *dst, const char *s, size_t n);

#endif
