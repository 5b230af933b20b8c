/* duration.c -- Go duration strings and ISO-8601 periods, in whole seconds. */
#include "base/duration.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Input echoed in error messages is cut to this many bytes. */
#define DURATION_ECHO_MAX 64

/* Go keeps durations as int64 nanoseconds; overflow is judged against that, as Go does. */
#define GO_MAX_NS ((uint64_t)1 << 63)
#define NS_PER_S 1000000000ULL

/* Writes s into out quoted, printable ASCII as is, other bytes as \xNN, cut with "...". */
static void duration_quote(const char *s, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen < 8) {
        if (outlen > 0)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    size_t i = 0;
    for (; s[i] != '\0' && i < DURATION_ECHO_MAX && o + 9 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (s[i] != '\0') {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}

static WUR int duration_fail(const char *s, const char *why, struct err *err)
{
    char q[DURATION_ECHO_MAX * 4 + 8];
    duration_quote(s, q, sizeof(q));
    err_set(err, ERR_INVALID, "invalid duration %s: %s", q, why);
    return -1;
}

static WUR int duration_check_max(const char *s, uint64_t secs, long long *seconds, struct err *err)
{
    if (secs > (uint64_t)DURATION_MAX_SECONDS) {
        char why[96];
        snprintf(why, sizeof(why), "more than the limit of %lld seconds (100 years)",
                 DURATION_MAX_SECONDS);
        return duration_fail(s, why, err);
    }
    *seconds = (long long)secs;
    return 0;
}

static const struct {
    const char *name;
    uint64_t ns;
} duration_go_units[] = {
    {"ns", 1},           {"us", 1000},    {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000},                                       /* U+03BC greek small letter mu */
    {"ms", 1000000},     {"s", NS_PER_S}, {"m", 60 * NS_PER_S}, {"h", 3600 * NS_PER_S},
};

static bool duration_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The digits at *sp (maybe none) as *v, at most GO_MAX_NS; *sp moves past them. */
static WUR int duration_go_int(const char **sp, const char *orig, uint64_t *v, struct err *err)
{
    const char *s = *sp;
    *v = 0;
    for (; duration_is_digit(*s); s++) {
        if (*v > GO_MAX_NS / 10)
            return duration_fail(orig, "number too large", err);
        *v = *v * 10 + (uint64_t)(*s - '0');
        if (*v > GO_MAX_NS)
            return duration_fail(orig, "number too large", err);
    }
    *sp = s;
    return 0;
}

/* The digits after a '.' at *sp as the fraction f / scale; like Go, digits past what fits are
 * ignored, not an error. *sp moves past them. Returns whether there was a digit. */
static bool duration_go_fraction(const char **sp, uint64_t *f, double *scale)
{
    const char *s = *sp, *start = s;
    bool overflow = false;
    *f = 0;
    *scale = 1.0;
    for (; duration_is_digit(*s); s++) {
        if (overflow)
            continue;
        if (*f > (GO_MAX_NS - 1) / 10) {
            overflow = true;
            continue;
        }
        uint64_t y = *f * 10 + (uint64_t)(*s - '0');
        if (y > GO_MAX_NS) {
            overflow = true;
            continue;
        }
        *f = y;
        *scale *= 10;
    }
    *sp = s;
    return s != start;
}

/* The unit at *sp, in nanoseconds; *sp moves past it. */
static WUR int duration_go_unit(const char **sp, const char *orig, uint64_t *unit, struct err *err)
{
    const char *s = *sp;
    size_t ulen = 0;
    while (s[ulen] != '\0' && s[ulen] != '.' && !duration_is_digit(s[ulen]))
        ulen++;
    if (ulen == 0)
        return duration_fail(orig, "missing unit (one of ns, us, ms, s, m, h)", err);
    *unit = 0;
    for (size_t i = 0; i < sizeof(duration_go_units) / sizeof(duration_go_units[0]); i++)
        if (strlen(duration_go_units[i].name) == ulen &&
            memcmp(duration_go_units[i].name, s, ulen) == 0)
            *unit = duration_go_units[i].ns;
    if (*unit == 0)
        return duration_fail(orig, "unknown unit (one of ns, us, ms, s, m, h)", err);
    *sp = s + ulen;
    return 0;
}

/* One "<number><unit>" of a Go duration at *sp, in nanoseconds (at most GO_MAX_NS); *sp moves
 * past it. */
static WUR int duration_go_component(const char **sp, const char *orig, uint64_t *ns,
                                     struct err *err)
{
    const char *s = *sp;
    if (!(*s == '.' || duration_is_digit(*s)))
        return duration_fail(orig, "expected a number", err);
    uint64_t v = 0, f = 0, unit = 0;
    const char *start = s;
    if (duration_go_int(&s, orig, &v, err) != 0)
        return -1;
    bool pre = s != start;
    bool post = false;
    double scale = 1.0;
    if (*s == '.') {
        s++;
        post = duration_go_fraction(&s, &f, &scale);
    }
    if (!pre && !post)
        return duration_fail(orig, "expected digits around \".\"", err);
    if (duration_go_unit(&s, orig, &unit, err) != 0)
        return -1;
    if (v > GO_MAX_NS / unit)
        return duration_fail(orig, "too large", err);
    v *= unit;
    if (f > 0) {
        v += (uint64_t)((double)f * ((double)unit / scale));
        if (v > GO_MAX_NS)
            return duration_fail(orig, "too large", err);
    }
    *ns = v;
    *sp = s;
    return 0;
}

int duration_parse_go(const char *s, long long *seconds, struct err *err)
{
    const char *orig = s;
    if (s == NULL || *s == '\0')
        return duration_fail("", "empty (use e.g. \"24h\" or \"90m\")", err);
    if (*s == '-')
        return duration_fail(orig, "negative durations are not allowed", err);
    if (*s == '+')
        s++;
    if (strcmp(s, "0") == 0) {
        *seconds = 0;
        return 0;
    }
    if (*s == '\0')
        return duration_fail(orig, "no number", err);

    uint64_t total = 0;
    while (*s != '\0') {
        uint64_t v = 0;
        if (duration_go_component(&s, orig, &v, err) != 0)
            return -1;
        total += v;
        if (total > GO_MAX_NS - 1)
            return duration_fail(orig, "too large", err);
    }
    return duration_check_max(orig, total / NS_PER_S, seconds, err);
}

/* ISO-8601 designators in the order they must appear, with their length in seconds. */
static const struct {
    char c;
    bool time; /* after 'T' */
    uint64_t secs;
} duration_iso_parts[] = {
    {'Y', false, 365ULL * 86400},
    {'M', false, 30ULL * 86400},
    {'W', false, 7ULL * 86400},
    {'D', false, 86400},
    {'H', true, 3600},
    {'M', true, 60},
    {'S', true, 1},
};
#define ISO_NPARTS (sizeof(duration_iso_parts) / sizeof(duration_iso_parts[0]))

/* The number of one ISO-8601 component at *sp: whole part *v and fraction *num / *den (*den 1
 * when there is none); *sp moves past it. */
static WUR int duration_iso_number(const char **sp, const char *orig, uint64_t *v, uint64_t *num,
                                   uint64_t *den, struct err *err)
{
    const char *s = *sp;
    if (!duration_is_digit(*s))
        return duration_fail(orig, "expected a number", err);
    *v = 0;
    for (; duration_is_digit(*s); s++) {
        if (*v > (uint64_t)DURATION_MAX_SECONDS)
            return duration_fail(orig, "number too large", err);
        *v = *v * 10 + (uint64_t)(*s - '0');
    }
    *num = 0;
    *den = 1;
    if (*s == '.' || *s == ',') {
        s++;
        if (!duration_is_digit(*s))
            return duration_fail(orig, "expected digits after the decimal mark", err);
        for (; duration_is_digit(*s); s++) {
            /* Digits beyond nanosecond precision cannot change whole seconds. */
            if (*den < 1000000000000ULL) {
                *num = *num * 10 + (uint64_t)(*s - '0');
                *den *= 10;
            }
        }
    }
    *sp = s;
    return 0;
}

/* The index in duration_iso_parts of designator c: at or after next, on in_time's side of "T". */
static WUR int duration_iso_designator(char c, bool in_time, size_t next, const char *orig,
                                       size_t *out, struct err *err)
{
    if (c == '\0')
        return duration_fail(orig, "number without a designator (Y, M, W, D, H, M or S)", err);
    size_t i = next;
    while (i < ISO_NPARTS &&
           !(duration_iso_parts[i].c == c && duration_iso_parts[i].time == in_time))
        i++;
    if (i == ISO_NPARTS) {
        bool known = false;
        for (size_t k = 0; k < ISO_NPARTS; k++)
            known = known || duration_iso_parts[k].c == c;
        return duration_fail(orig,
                             known ? "designators out of order or on the wrong side of \"T\""
                                   : "unknown designator (use PnYnMnWnDTnHnMnS)",
                             err);
    }
    *out = i;
    return 0;
}

int duration_parse_iso8601(const char *s, long long *seconds, struct err *err)
{
    const char *orig = s;
    if (s == NULL || *s == '\0')
        return duration_fail("", "empty (use e.g. \"PT1H\" or \"P7D\")", err);
    if (*s == '-')
        return duration_fail(orig, "negative durations are not allowed", err);
    if (*s != 'P')
        return duration_fail(orig, "ISO-8601 durations start with \"P\" (e.g. \"PT1H\")", err);
    s++;

    bool in_time = false, time_part = false, fraction_seen = false;
    size_t next = 0; /* index in duration_iso_parts of the earliest designator still allowed */
    size_t parts = 0;
    uint64_t total = 0; /* whole seconds */
    while (*s != '\0') {
        if (*s == 'T') {
            if (in_time)
                return duration_fail(orig, "\"T\" appears twice", err);
            in_time = true;
            s++;
            if (*s == '\0')
                return duration_fail(orig, "nothing after \"T\"", err);
            continue;
        }
        if (fraction_seen)
            return duration_fail(orig, "only the last component may have a fraction", err);
        uint64_t v = 0, frac_num = 0, frac_den = 1;
        size_t i = 0;
        if (duration_iso_number(&s, orig, &v, &frac_num, &frac_den, err) != 0 ||
            duration_iso_designator(*s, in_time, next, orig, &i, err) != 0)
            return -1;
        fraction_seen = frac_den > 1;
        uint64_t unit = duration_iso_parts[i].secs;
        if (v > (uint64_t)DURATION_MAX_SECONDS / unit)
            return duration_fail(orig, "too large", err);
        uint64_t add = v * unit;
        /* frac_num < frac_den <= 10^12 and unit <= 3.2e7: the product fits in 64 bits. */
        add += (uint64_t)((double)frac_num * (double)unit / (double)frac_den);
        total += add;
        if (total > (uint64_t)DURATION_MAX_SECONDS)
            return duration_check_max(orig, total, seconds, err);
        if (in_time)
            time_part = true;
        next = i + 1;
        parts++;
        s++;
    }
    if (parts == 0)
        return duration_fail(orig, "no components (use e.g. \"PT1H\" or \"P7D\")", err);
    if (in_time && !time_part)
        return duration_fail(orig, "nothing after \"T\"", err);
    return duration_check_max(orig, total, seconds, err);
}

void duration_format_go(long long seconds, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    const char *sign = "";
    unsigned long long u;
    if (seconds < 0) {
        sign = "-";
        u = 0ULL - (unsigned long long)seconds;
    } else {
        u = (unsigned long long)seconds;
    }
    unsigned long long h = u / 3600, m = (u % 3600) / 60, sec = u % 60;
    if (h > 0)
        snprintf(out, outlen, "%s%lluh%llum%llus", sign, h, m, sec);
    else if (m > 0)
        snprintf(out, outlen, "%s%llum%llus", sign, m, sec);
    else
        snprintf(out, outlen, "%s%llus", sign, sec);
}
