/* err.c -- error kinds and bounded messages. */
#include "base/err.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void err_set(struct err *err, enum err_kind kind, const char *fmt, ...)
{
    if (err == NULL)
        return;
    err->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

void err_prefix(struct err *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    char prefix[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    char old[ERR_MSG_MAX];
    memcpy(old, err->msg, sizeof(old));
    if (snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old) >= (int)sizeof(err->msg))
        memcpy(err->msg + sizeof(err->msg) - 4, "...", 4); /* cut, and say so */
}

void err_clear(struct err *err)
{
    if (err == NULL)
        return;
    err->kind = ERR_NONE;
    err->msg[0] = '\0';
}

const char *err_kind_name(enum err_kind kind)
{
    switch (kind) {
    case ERR_NONE: return "none";
    case ERR_INVALID: return "invalid";
    case ERR_TOO_BIG: return "too-big";
    case ERR_PERMANENT: return "permanent";
    case ERR_TRANSIENT: return "transient";
    case ERR_PENDING: return "pending";
    case ERR_ISSUER_NOT_READY: return "issuer-not-ready";
    case ERR_INTERNAL: return "internal";
    }
    return "unknown";
}

void err_append_openssl(struct err *err)
{
    unsigned long e = ERR_get_error();
    if (err != NULL && e != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        size_t len = strlen(err->msg);
        if (len + 3 < sizeof(err->msg))
            snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", buf);
    }
    ERR_clear_error();
}
