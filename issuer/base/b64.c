/* b64.c -- strict standard base64. */
#include "base/b64.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#include "base/mem.h"

/* Each byte's 6-bit value in the standard alphabet, -1 for any other byte. */
// clang-format off
static const signed char b64_value[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};
// clang-format on

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
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len - pad; i++) {
        if (b64_value[u[i]] < 0) {
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
    size_t o = 0;
    /* Every byte before the padding is valid (checked above); '=' counts as zero bits. */
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++)
            v = v << 6 | (u[i + j] == '=' ? 0u : (uint32_t)b64_value[u[i + j]]);
        p[o++] = (unsigned char)(v >> 16);
        p[o++] = (unsigned char)(v >> 8);
        p[o++] = (unsigned char)v;
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

void hex_encode(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

char *json_escape_into(char *dst, const char *s, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *dst++ = '\\';
            *dst++ = (char)c;
        } else if (c < 0x20) {
            memcpy(dst, "\\u00", 4);
            dst[4] = digits[c >> 4];
            dst[5] = digits[c & 0x0f];
            dst += 6;
        } else {
            *dst++ = (char)c;
        }
    }
    return dst;
}
