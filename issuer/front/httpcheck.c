/* httpcheck.c -- a request's body framing checked on its header lines (see httpcheck.h). */
#include "front/httpcheck.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"

/* Longest Content-Length read: 18 digits always fit in an unsigned long long. */
#define HTTPCHECK_MAX_DIGITS 18

void httpcheck_init(struct httpcheck *c)
{
    memset(c, 0, sizeof(*c));
}

/* Records the first problem of a kind; a 400 replaces a 501 (framing before codings). */
static void httpcheck_fail(struct httpcheck *c, unsigned status, const char *fmt, ...)
    PRINTF_LIKE(3, 4);
static void httpcheck_fail(struct httpcheck *c, unsigned status, const char *fmt, ...)
{
    if (c->status == 400 || c->status == status)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
    va_end(ap);
    c->status = status;
}

/* RFC 9110 section 5.6.2: tchar. */
static bool httpcheck_tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static bool httpcheck_is_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!httpcheck_tchar((unsigned char)s[i]))
            return false;
    return true;
}

static bool httpcheck_name_is(const char *name, size_t n, const char *want)
{
    return n == strlen(want) && strncasecmp(name, want, n) == 0;
}

static void httpcheck_trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* A printable, bounded copy of untrusted bytes for a message. */
static void httpcheck_echo(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[o++] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : '?';
    }
    out[o] = '\0';
}

static void httpcheck_content_length(struct httpcheck *c, const char *v, size_t n)
{
    httpcheck_trim(&v, &n);
    char echo[40];
    httpcheck_echo(echo, sizeof(echo), v, n);
    if (n == 0 || n > HTTPCHECK_MAX_DIGITS) {
        httpcheck_fail(c, 400, "Content-Length \"%s\" is not a byte count", echo);
        return;
    }
    unsigned long long len = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') {
            httpcheck_fail(c, 400, "Content-Length \"%s\" is not a byte count", echo);
            return;
        }
        len = len * 10 + (unsigned long long)(v[i] - '0');
    }
    if (c->content_lengths++ == 0)
        c->length = len;
    else if (len != c->length)
        httpcheck_fail(c, 400, "two different Content-Lengths (%llu and %llu)", c->length, len);
}

/* One Transfer-Encoding line: a comma-separated list of codings, each maybe with parameters. */
static void httpcheck_transfer_encoding(struct httpcheck *c, const char *v, size_t n)
{
    c->transfer_encodings++;
    const char *whole = v;
    size_t whole_len = n;
    while (whole_len > 0 && (*whole == ' ' || *whole == '\t')) { /* as libmicrohttpd skips it */
        whole++;
        whole_len--;
    }
    bool any = false;
    while (n > 0) {
        const char *comma = memchr(v, ',', n);
        size_t len = comma != NULL ? (size_t)(comma - v) : n;
        const char *el = v, *semi = memchr(v, ';', len);
        size_t name_len = semi != NULL ? (size_t)(semi - v) : len;
        httpcheck_trim(&el, &name_len);
        size_t skip = comma != NULL ? len + 1 : len;
        v += skip;
        n -= skip;
        if (name_len == 0 && semi == NULL)
            continue; /* an empty list element, as RFC 9110 section 5.6.1 allows */
        any = true;
        char echo[40];
        httpcheck_echo(echo, sizeof(echo), el, name_len);
        if (!httpcheck_is_token(el, name_len)) {
            httpcheck_fail(c, 400, "Transfer-Encoding: \"%s\" is not a coding name", echo);
            continue;
        }
        if (c->chunked_seen) {
            httpcheck_fail(c, 400,
                           "Transfer-Encoding: chunked must be the last coding, not "
                           "followed by \"%s\"",
                           echo);
            continue;
        }
        if (httpcheck_name_is(el, name_len, "chunked")) {
            c->chunked_seen = true;
            if (semi != NULL)
                httpcheck_fail(c, 400, "Transfer-Encoding: chunked takes no parameters");
            continue;
        }
        httpcheck_fail(c, 501, "Transfer-Encoding \"%s\" is not supported (only chunked is)", echo);
    }
    if (!any)
        httpcheck_fail(c, 400, "Transfer-Encoding names no coding");
    /* libmicrohttpd decodes chunked only when the value is exactly "chunked" (no blank after it,
     * no empty list element): anything else that names chunked would be read another way. */
    else if (c->status == 0 && !httpcheck_name_is(whole, whole_len, "chunked"))
        httpcheck_fail(c, 400, "Transfer-Encoding must be exactly \"chunked\"");
}

void httpcheck_header(struct httpcheck *c, const char *name, size_t name_len, const char *value,
                      size_t value_len)
{
    if (!httpcheck_is_token(name, name_len)) {
        char echo[40];
        httpcheck_echo(echo, sizeof(echo), name, name_len);
        httpcheck_fail(c, 400,
                       "header name \"%s\" is not a token (white space before the colon, or "
                       "a character a name cannot hold)",
                       echo);
        return;
    }
    if (httpcheck_name_is(name, name_len, "Host"))
        c->hosts++;
    else if (httpcheck_name_is(name, name_len, "Content-Length"))
        httpcheck_content_length(c, value, value_len);
    else if (httpcheck_name_is(name, name_len, "Transfer-Encoding"))
        httpcheck_transfer_encoding(c, value, value_len);
}

unsigned httpcheck_verdict(struct httpcheck *c, const char *version)
{
    bool http10 = version != NULL && strcmp(version, "HTTP/1.0") == 0;
    if (c->hosts > 1)
        httpcheck_fail(c, 400, "%u Host header lines (one is allowed)", c->hosts);
    else if (c->hosts == 0 && !http10)
        httpcheck_fail(c, 400, "an HTTP/1.1 request must have a Host header");
    if (c->transfer_encodings > 0 && c->content_lengths > 0)
        httpcheck_fail(c, 400, "Content-Length together with Transfer-Encoding: send one of them");
    else if (c->transfer_encodings > 0 && http10)
        httpcheck_fail(c, 400, "Transfer-Encoding is not defined for HTTP/1.0");
    else if (c->transfer_encodings > 0 && !c->chunked_seen && c->status == 0)
        httpcheck_fail(c, 400, "Transfer-Encoding: the last coding must be chunked");
    return c->status;
}
