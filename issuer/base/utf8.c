/* utf8.c -- UTF-8 validation and escaping (see utf8.h). */
#include "base/utf8.h"

#include <stdio.h>
#include <string.h>

size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t len;
    unsigned int min, cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, min = 0x80, cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, min = 0x800, cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, min = 0x10000, cp = c & 0x07u;
    } else {
        return 0;
    }
    if (len > avail)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void utf8_copy_printable(char *dst, size_t cap, const char *src, size_t max)
{
    size_t full = strlen(src), n = full;
    if (n > max)
        n = max;
    if (n > cap - 1)
        n = cap - 1;
    while (n > 0 && n < full && ((unsigned char)src[n] & 0xC0) == 0x80)
        n--; /* not in the middle of a character */
    for (size_t i = 0; i < n; i++)
        dst[i] = ((unsigned char)src[i] < 0x20 || src[i] == 0x7f) ? '?' : src[i];
    dst[n] = '\0';
}

void utf8_escape(const char *s, size_t cut, bool quote, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen == 0)
        return;
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s);
    size_t lim = len < cut ? len : cut;
    if (quote && o + 1 < outlen)
        out[o++] = '"';
    size_t i = 0;
    while (i < lim) {
        char tmp[8];
        size_t tn;
        size_t seq = u[i] >= 0x80 ? utf8_seq_len(u + i, lim - i) : 0;
        if (u[i] == '"' || u[i] == '\\') {
            tmp[0] = '\\', tmp[1] = (char)u[i], tn = 2;
        } else if (u[i] < 0x20 || u[i] == 0x7f || (u[i] >= 0x80 && seq == 0)) {
            snprintf(tmp, sizeof(tmp), "\\x%02x", u[i]);
            tn = 4;
        } else if (seq > 0) {
            memcpy(tmp, u + i, seq);
            tn = seq;
        } else {
            tmp[0] = (char)u[i], tn = 1;
        }
        if (o + tn + 5 > outlen)
            break;
        memcpy(out + o, tmp, tn);
        o += tn;
        i += seq > 0 ? seq : 1;
    }
    if (i < len && o + 4 < outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    if (quote && o + 1 < outlen)
        out[o++] = '"';
    out[o] = '\0';
}
