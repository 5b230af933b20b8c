/* body.c -- a signing API request body: JSON through cJSON, YAML through libyaml. */
#include "front/body.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/manifest.h"
#include "base/mem.h"
#include "base/utf8.h"

enum body_type body_type(const char *content_type)
{
    if (content_type == NULL)
        return BODY_OTHER;
    size_t n = strcspn(content_type, ";");
    while (n > 0 && content_type[n - 1] == ' ')
        n--;
    static const char *const json[] = {"application/json"};
    static const char *const yaml[] = {"application/yaml", "application/x-yaml", "text/yaml"};
    for (size_t i = 0; i < sizeof(json) / sizeof(*json); i++)
        if (strlen(json[i]) == n && strncasecmp(content_type, json[i], n) == 0)
            return BODY_JSON;
    for (size_t i = 0; i < sizeof(yaml) / sizeof(*yaml); i++)
        if (strlen(yaml[i]) == n && strncasecmp(content_type, yaml[i], n) == 0)
            return BODY_YAML;
    return BODY_OTHER;
}

/* A pass over JSON text: where it is (byte offset; line and column, 1-based, in characters),
 * how deep, and how many nodes (values and keys, as the YAML reader counts them) it has seen
 * at most: one, plus one per '{', '[', ',' and ':'. */
struct body_scan {
    const unsigned char *p;
    size_t len, off, line, col;
    int depth;
    size_t nodes;
};

static int body_scan_fail(const struct body_scan *s, enum err_kind kind, struct err *err,
                          const char *fmt, ...) PRINTF_LIKE(4, 5);
static int body_scan_fail(const struct body_scan *s, enum err_kind kind, struct err *err,
                          const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    err_set(err, kind, "line %zu column %zu: %s", s->line, s->col, msg);
    return -1;
}

/* Moves past the n bytes of one character (or of an escape such as \n) at s->off. */
static void body_scan_advance(struct body_scan *s, size_t n)
{
    unsigned char c = s->p[s->off];
    if (c == '\n') {
        s->line++;
        s->col = 1;
    } else {
        s->col += c >= 0x80 ? 1 : n;
    }
    s->off += n;
}

/* One character inside a string: how many bytes it (or the escape there) takes, or 0 after
 * failing. Sets *end at the closing quote. */
static size_t body_scan_string(struct body_scan *s, bool *end, struct err *err)
{
    const unsigned char *c = s->p + s->off;
    size_t left = s->len - s->off;
    if (*c == '"') {
        *end = true;
        return 1;
    }
    if (*c == '\\') {
        /* cJSON would cut the string at an escaped NUL, so the name read would not be the
         * name sent; the YAML reader refuses a NUL as well. */
        if (left >= 6 && memcmp(c, "\\u0000", 6) == 0) {
            body_scan_fail(s, ERR_INVALID, err, "a string contains a NUL character (\\u0000)");
            return 0;
        }
        return left >= 2 ? 2 : 1; /* an escaped quote does not end the string */
    }
    if (*c < 0x20) {
        body_scan_fail(s, ERR_INVALID, err,
                       "a control character (0x%02X) in a string: JSON wants it escaped", *c);
        return 0;
    }
    size_t n = *c < 0x80 ? 1 : utf8_seq_len(c, left);
    if (n == 0)
        body_scan_fail(s, ERR_INVALID, err, "invalid UTF-8 in a string");
    return n;
}

/* Checks, up to byte stop, what cJSON does not: bytes RFC 8259 allows, and the limits a body
 * of any type has, before cJSON allocates. The syntax is cJSON's to check. */
static int body_scan_json(struct body_scan *s, size_t stop, struct err *err)
{
    bool in_string = false;
    while (s->off < stop) {
        unsigned char c = s->p[s->off];
        size_t n = 1;
        if (in_string) {
            bool end = false;
            if ((n = body_scan_string(s, &end, err)) == 0)
                return -1;
            in_string = !end;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++s->depth > MANIFEST_MAX_DEPTH)
                return body_scan_fail(s, ERR_TOO_BIG, err,
                                      "more than %d levels of nesting (MANIFEST_MAX_DEPTH)",
                                      MANIFEST_MAX_DEPTH);
            s->nodes++;
        } else if (c == '}' || c == ']') {
            s->depth -= s->depth > 0;
        } else if (c == ',' || c == ':') {
            s->nodes++;
        } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            return body_scan_fail(s, ERR_INVALID, err, "a control character (0x%02X)", c);
        }
        if (s->nodes > MANIFEST_MAX_NODES)
            return body_scan_fail(s, ERR_TOO_BIG, err, "more than %d nodes (MANIFEST_MAX_NODES)",
                                  MANIFEST_MAX_NODES);
        body_scan_advance(s, n);
    }
    return 0;
}

static int body_key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first key, in sorted order, that one object of the tree has twice; NULL when none.
 * Recursion is bounded by MANIFEST_MAX_DEPTH (body_scan_json). */
static const char *body_duplicate_key(const cJSON *node)
{
    const char *dup = NULL;
    if (cJSON_IsObject(node)) {
        size_t n = 0;
        for (const cJSON *c = node->child; c != NULL; c = c->next)
            n++;
        const char **keys = xmalloc((n ? n : 1) * sizeof(*keys));
        n = 0;
        for (const cJSON *c = node->child; c != NULL; c = c->next)
            keys[n++] = c->string;
        qsort(keys, n, sizeof(*keys), body_key_cmp);
        for (size_t i = 1; i < n && dup == NULL; i++)
            if (strcmp(keys[i - 1], keys[i]) == 0)
                dup = keys[i];
        free(keys);
    }
    for (const cJSON *c = node->child; c != NULL && dup == NULL; c = c->next)
        dup = body_duplicate_key(c);
    return dup;
}

/* The place of byte off of a text body_scan_json accepted, for an error message. */
static void body_scan_locate(struct body_scan *s, size_t off)
{
    struct err ignored = {0};
    *s = (struct body_scan){.p = s->p, .len = s->len, .line = 1, .col = 1};
    if (body_scan_json(s, off < s->len ? off : s->len, &ignored) != 0)
        s->off = off; /* cannot happen: the whole text passed */
}

static cJSON *body_parse_json(const char *data, size_t len, struct err *err)
{
    struct body_scan s = {.p = (const unsigned char *)data, .len = len, .line = 1, .col = 1};
    s.nodes = 1;
    if (body_scan_json(&s, len, err) != 0)
        return NULL;
    /* The place of a failure comes back in end (cJSON also keeps it in a global for
     * cJSON_GetErrorPtr, which nothing here reads: parses on other threads do not matter). */
    const char *end = NULL;
    cJSON *root = len > 0 ? cJSON_ParseWithLengthOpts(data, len, &end, false) : NULL;
    if (root == NULL) {
        body_scan_locate(&s, end != NULL ? (size_t)(end - data) : 0);
        body_scan_fail(&s, ERR_INVALID, err, len > 0 ? "syntax error" : "empty");
        return NULL;
    }
    size_t off = (size_t)(end - data);
    while (off < len &&
           (data[off] == ' ' || data[off] == '\t' || data[off] == '\r' || data[off] == '\n'))
        off++;
    const char *dup = off == len ? body_duplicate_key(root) : NULL;
    char echo[72];
    if (off < len) {
        body_scan_locate(&s, off);
        body_scan_fail(&s, ERR_INVALID, err, "more after the end of the JSON value");
    } else if (dup != NULL) {
        utf8_copy_printable(echo, sizeof(echo), dup, 64);
        err_set(err, ERR_INVALID, "duplicate key \"%s\"%s", echo, strlen(dup) > 64 ? "..." : "");
    } else if (!cJSON_IsObject(root)) {
        err_set(err, ERR_INVALID, "the top level is not an object");
    } else {
        return root;
    }
    cJSON_Delete(root);
    return NULL;
}

cJSON *body_parse(enum body_type type, const char *data, size_t len, struct err *err)
{
    switch (type) {
    case BODY_JSON: return body_parse_json(data != NULL ? data : "", data != NULL ? len : 0, err);
    case BODY_YAML: return manifest_parse_one(data, len, err);
    default: err_set(err, ERR_INVALID, "not JSON nor YAML"); return NULL;
    }
}
