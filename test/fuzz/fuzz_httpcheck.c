/* fuzz_httpcheck.c -- request framing checks on arbitrary header lines: no crash, a verdict of
 * 0, 400 or 501 with a printable message exactly when refused, and no request passes whose body
 * length could be read two ways. Input layout: byte 0 picks the version (bit 0: HTTP/1.0), the
 * rest is header lines separated by '\n', each split at its first ':' (a line without one is a
 * name with an empty value). */
#include "front/httpcheck.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool name_is(const char *s, size_t n, const char *want)
{
    return n == strlen(want) && strncasecmp(s, want, n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *version = data[0] & 1 ? "HTTP/1.0" : "HTTP/1.1";
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    struct httpcheck c;
    httpcheck_init(&c);
    unsigned lengths = 0, encodings = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl != NULL ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        const char *name_end = colon != NULL ? colon : line_end;
        const char *value = colon != NULL ? colon + 1 : line_end;
        lengths += name_is(p, (size_t)(name_end - p), "Content-Length");
        encodings += name_is(p, (size_t)(name_end - p), "Transfer-Encoding");
        httpcheck_header(&c, p, (size_t)(name_end - p), value, (size_t)(line_end - value));
        p = nl != NULL ? nl + 1 : end;
    }
    unsigned s = httpcheck_verdict(&c, version);
    if (s != 0 && s != 400 && s != 501)
        abort();
    const char *nul = memchr(c.msg, '\0', sizeof(c.msg));
    if (nul == NULL || (s != 0) != (c.msg[0] != '\0'))
        abort();
    for (const char *q = c.msg; q < nul; q++)
        if ((unsigned char)*q < 0x20 || (unsigned char)*q == 0x7f)
            abort();
    /* Passed: one framing only, and chunked when encoded. */
    if (s == 0 && ((lengths > 0 && encodings > 0) || (encodings > 0 && !c.chunked_seen)))
        abort();
    return 0;
}
