/* log.c -- one line per event: controller-runtime JSON or text, capped, written atomically. */
#include "base/log.h"
#include "base/utf8.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Caps for the short fields, so the message keeps most of the line. */
#define LOG_LOGGER_MAX 128
#define LOG_OBJECT_MAX 1024
#define LOG_ERROR_MAX 4096
#define LOG_CUT_MARK "..."

static int log_format_cur = LOG_FORMAT_JSON; /* __atomic, as the other settings */
static int log_level_cur = LOG_INFO;
static int log_fd = 2;
/* Held around write(2): a pipe only guarantees atomic writes up to PIPE_BUF bytes. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

void log_init(enum log_format fmt, enum log_level level, int fd)
{
    __atomic_store_n(&log_format_cur, (int)fmt, __ATOMIC_SEQ_CST);
    __atomic_store_n(&log_level_cur, (int)level, __ATOMIC_SEQ_CST);
    __atomic_store_n(&log_fd, fd >= 0 ? fd : 2, __ATOMIC_SEQ_CST);
}

bool log_enabled(enum log_level level)
{
    return (int)level >= __atomic_load_n(&log_level_cur, __ATOMIC_SEQ_CST);
}

enum log_esc_mode {
    ESC_JSON,        /* inside a JSON string */
    ESC_TEXT,        /* text format, unquoted: control characters only */
    ESC_TEXT_QUOTED, /* text format, inside "...": also quotes and backslashes */
};

/* Escapes in[0..n) into out (cap bytes, NUL-terminated) one whole character or escape at a
 * time; when it does not all fit (or cut is set), ends with LOG_CUT_MARK. Returns the length. */
static size_t log_escape(const char *in, size_t n, char *out, size_t cap, enum log_esc_mode mode,
                         bool cut)
{
    if (cap == 0)
        return 0;
    size_t room = cap > sizeof(LOG_CUT_MARK) ? cap - sizeof(LOG_CUT_MARK) : 0;
    size_t len = 0;
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0;
    while (i < n) {
        char tmp[8];
        const char *piece = tmp;
        size_t plen;
        size_t adv = 1;
        unsigned char c = s[i];
        bool json = mode == ESC_JSON;
        if (c == '"' && mode != ESC_TEXT) {
            piece = "\\\"", plen = 2;
        } else if (c == '\\' && mode != ESC_TEXT) {
            piece = "\\\\", plen = 2;
        } else if (c == '\n') {
            piece = "\\n", plen = 2;
        } else if (c == '\r') {
            piece = "\\r", plen = 2;
        } else if (c == '\t') {
            piece = "\\t", plen = 2;
        } else if (c < 0x20 || c == 0x7f) {
            plen = (size_t)snprintf(tmp, sizeof(tmp), json ? "\\u%04x" : "\\x%02x", c);
        } else {
            adv = utf8_seq_len(s + i, n - i);
            if (adv == 0) {
                adv = 1;
                if (json)
                    piece = "\\ufffd", plen = 6;
                else
                    plen = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", c);
            } else {
                piece = in + i, plen = adv;
            }
        }
        if (len + plen > room) {
            cut = true;
            break;
        }
        memcpy(out + len, piece, plen);
        len += plen;
        i += adv;
    }
    if (cut && len + sizeof(LOG_CUT_MARK) <= cap) {
        memcpy(out + len, LOG_CUT_MARK, sizeof(LOG_CUT_MARK) - 1);
        len += sizeof(LOG_CUT_MARK) - 1;
    }
    out[len] = '\0';
    return len;
}

static const char *log_level_name(enum log_level level, bool upper)
{
    switch (level) {
    case LOG_DEBUG: return upper ? "DEBUG" : "debug";
    case LOG_INFO: return upper ? "INFO" : "info";
    case LOG_WARN: return upper ? "WARN" : "warn";
    case LOG_ERROR: return upper ? "ERROR" : "error";
    }
    return upper ? "ERROR" : "error";
}

static void log_emit(const char *line, size_t len)
{
    int fd = __atomic_load_n(&log_fd, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&log_mu);
    while (len > 0) {
        ssize_t w = write(fd, line, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* nowhere left to report a logging failure */
        line += w;
        len -= (size_t)w;
    }
    pthread_mutex_unlock(&log_mu);
}

/* Appends a literal to line (callers size the literals to always fit). */
static void log_put(char *line, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n < LOG_LINE_MAX) {
        memcpy(line + *len, s, n);
        *len += n;
        line[*len] = '\0';
    }
}

void log_write(enum log_level level, const char *logger, const char *object, const char *error,
               const char *fmt, ...)
{
    char msg[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int mlen = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    bool msg_cut = mlen >= (int)sizeof(msg);
    size_t msg_len = mlen < 0 ? 0 : msg_cut ? sizeof(msg) - 1 : (size_t)mlen;

    bool json = __atomic_load_n(&log_format_cur, __ATOMIC_SEQ_CST) == LOG_FORMAT_JSON;
    enum log_esc_mode plain = json ? ESC_JSON : ESC_TEXT;
    enum log_esc_mode quoted = json ? ESC_JSON : ESC_TEXT_QUOTED;
    char lg[LOG_LOGGER_MAX], ob[LOG_OBJECT_MAX], er[LOG_ERROR_MAX];
    if (logger != NULL)
        log_escape(logger, strlen(logger), lg, sizeof(lg), plain, false);
    if (object != NULL)
        log_escape(object, strlen(object), ob, sizeof(ob), plain, false);
    if (error != NULL)
        log_escape(error, strlen(error), er, sizeof(er), quoted, false);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char head[64];
    if (json) {
        snprintf(head, sizeof(head), "{\"level\":\"%s\",\"ts\":%lld.%06ld",
                 log_level_name(level, false), (long long)ts.tv_sec, ts.tv_nsec / 1000);
    } else {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        char date[32];
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(head, sizeof(head), "%s.%03ldZ %-5s ", date, ts.tv_nsec / 1000000,
                 log_level_name(level, true));
    }

    /* Everything but the message is bounded above, so the message gets what is left. */
    char line[LOG_LINE_MAX];
    size_t len = 0;
    line[0] = '\0';
    log_put(line, &len, head);
    if (logger != NULL) {
        log_put(line, &len, json ? ",\"logger\":\"" : "");
        log_put(line, &len, lg);
        log_put(line, &len, json ? "\"" : ": ");
    }
    log_put(line, &len, json ? ",\"msg\":\"" : "");
    size_t tail = 0;
    if (object != NULL)
        tail += strlen(ob) + 16;
    if (error != NULL)
        tail += strlen(er) + 16;
    tail += 8; /* closing quote, brace, newline, NUL */
    size_t room = LOG_LINE_MAX - len - tail;
    len += log_escape(msg, msg_len, line + len, room, plain, msg_cut);
    log_put(line, &len, json ? "\"" : "");
    if (object != NULL) {
        log_put(line, &len, json ? ",\"object\":\"" : " object=");
        log_put(line, &len, ob);
        log_put(line, &len, json ? "\"" : "");
    }
    if (error != NULL) {
        log_put(line, &len, json ? ",\"error\":\"" : " error=\"");
        log_put(line, &len, er);
        log_put(line, &len, "\"");
    }
    log_put(line, &len, json ? "}\n" : "\n");
    log_emit(line, len);
}
