/* b64.c -- strict standard base64. */
#include "b64.h"

#include <openssl/evp.h>
#include <string.h>

#include "mem.h"

static int b64_valid_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int b64_decode(const char *s, size_t len, size_t max, unsigned char **out, size_t *out_len,
               struct err *err)
{
    if (len % 4 != 0) {
        err_set(err, ERR_INVALID, "not base64: length %zu is not a multiple of 4", len);
        return -1;
    }
    size_t pad = 0;
    if (len >= 1 && s[len - 1] == '=')
        pad++;
    if (len >= 2 && s[len - 2] == '=')
        pad++;
    for (size_t i = 0; i < len - pad; i++) {
        if (!b64_valid_char((unsigned char)s[i])) {
            err_set(err, ERR_INVALID, "not base64: unexpected character at offset %zu", i);
            return -1;
        }
    }
    size_t n = len / 4 * 3 - pad;
    if (n > max) {
        err_set(err, ERR_TOO_BIG, "decoded size %zu exceeds the limit of %zu bytes", n, max);
        return -1;
    }
    unsigned char *p = xmalloc(len / 4 * 3 + 1);
    if (len > 0 && EVP_DecodeBlock(p, (const unsigned char *)s, (int)len) < 0) {
        free(p);
        err_set(err, ERR_INVALID, "not base64");
        return -1;
    }
    p[n] = '\0';
    *out = p;
    *out_len = n;
    return 0;
}

char *b64_encode(const void *p, size_t n)
{
    char *s = xmalloc((n + 2) / 3 * 4 + 1);
    EVP_EncodeBlock((unsigned char *)s, p, (int)n);
    return s;
}
