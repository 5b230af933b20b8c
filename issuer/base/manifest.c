/* manifest.c -- Kubernetes manifests (multi-document YAML, or JSON) to cJSON, resolving
 * scalars the way sigs.k8s.io/yaml does (go-yaml v2 rules, then JSON). */
#include "base/manifest.h"

#include "base/mem.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define TAG_PREFIX "tag:yaml.org,2002:"
#define SHOW_MAX 60 /* bytes of a scalar quoted in an error message */

enum manifest_scalar_kind { SK_NULL, SK_BOOL, SK_INT, SK_FLOAT, SK_STR };

/* A resolved scalar. SK_INT keeps the exact magnitude; overflow marks an integer that does
 * not fit in 64 bits. */
struct manifest_scalar {
    enum manifest_scalar_kind kind;
    bool b;
    bool neg;
    bool overflow;
    uint64_t mag;
    double d;
};

/* A key already seen in an open mapping, for the duplicate check at the mapping's end. */
struct manifest_keyrec {
    const char *key; /* the cJSON item's own string: alive while the parse runs */
    size_t seq;      /* order of appearance */
    yaml_mark_t mark;
};

struct manifest_frame {
    cJSON *node;
    bool is_map;
    char *key; /* mapping: converted key awaiting its value (owned), or NULL */
    yaml_mark_t key_mark;
    size_t rec_start; /* this mapping's first entry in ctx.recs */
};

struct manifest_ctx {
    struct manifest_frame stack[MANIFEST_MAX_DEPTH];
    int depth;
    struct manifest_keyrec *recs;
    size_t nrecs, caprecs, seq;
    size_t nodes, docs;
    cJSON *out;  /* the result array */
    cJSON *root; /* the current document's object, not yet in out */
    yaml_mark_t root_mark;
    struct err *err;
};

static cJSON *manifest_must(cJSON *p)
{
    if (p == NULL) {
        fputs("ember: out of memory in cJSON\n", stderr);
        abort();
    }
    return p;
}

/* Copies at most SHOW_MAX bytes of s into buf for a message, replacing control bytes. */
static const char *manifest_show(const char *s, size_t n, char *buf, size_t cap)
{
    size_t k = n < SHOW_MAX ? n : SHOW_MAX;
    if (k > cap - 4)
        k = cap - 4;
    for (size_t i = 0; i < k; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    if (k < n) {
        memcpy(buf + k, "...", 4);
    } else {
        buf[k] = '\0';
    }
    return buf;
}

static void manifest_ctx_fail(struct manifest_ctx *c, enum err_kind kind, yaml_mark_t mark,
                              const char *fmt, ...) PRINTF_LIKE(4, 5);

static void manifest_ctx_fail(struct manifest_ctx *c, enum err_kind kind, yaml_mark_t mark,
                              const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    err_set(c->err, kind, "line %zu column %zu: %s", mark.line + 1, mark.column + 1, msg);
}

/* A tag as a user wrote it: "!!str" for the core schema's long form. */
static const char *manifest_tag_show(const char *tag, char *buf, size_t cap)
{
    if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0) {
        const char *rest = tag + strlen(TAG_PREFIX);
        char tmp[SHOW_MAX + 8];
        snprintf(buf, cap, "!!%s", manifest_show(rest, strlen(rest), tmp, sizeof(tmp)));
        return buf;
    }
    return manifest_show(tag, strlen(tag), buf, cap);
}

/* ---- scalar resolution (go-yaml v2 resolve.go, re-implemented) ---- */

static bool manifest_eq(const char *s, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

static bool manifest_eq_any(const char *s, size_t n, const char *const *list)
{
    for (; *list != NULL; list++)
        if (manifest_eq(s, n, *list))
            return true;
    return false;
}

static int manifest_digit_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return 99;
}

/* Go's strconv.ParseInt/ParseUint with base 0 (sign, 0x, 0o, 0b, leading 0 = octal) on s,
 * which has no underscores. Returns true when s is an integer. */
static bool manifest_parse_int(const char *s, size_t n, struct manifest_scalar *out)
{
    bool neg = false;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s++;
        n--;
    }
    if (n == 0)
        return false;
    unsigned base = 10;
    if (s[0] == '0') {
        char p = n >= 3 ? (char)(s[1] | 0x20) : 0;
        if (p == 'x' || p == 'o' || p == 'b') {
            base = p == 'x' ? 16 : p == 'o' ? 8 : 2;
            s += 2;
            n -= 2;
        } else {
            base = 8;
            s++;
            n--;
        }
    }
    uint64_t v = 0;
    bool overflow = false;
    for (size_t i = 0; i < n; i++) {
        int dv = manifest_digit_value(s[i]);
        if (dv >= (int)base)
            return false;
        if (v > (UINT64_MAX - (uint64_t)dv) / base)
            overflow = true;
        else
            v = v * base + (uint64_t)dv;
    }
    out->kind = SK_INT;
    out->neg = neg && v != 0;
    out->mag = v;
    out->overflow = overflow;
    return true;
}

/* go-yaml's yamlStyleFloat: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static bool manifest_float_syntax(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    size_t d0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == d0) {
        if (i >= n || s[i] != '.')
            return false;
        i++;
        size_t f0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == f0)
            return false;
    } else if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t e0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == e0)
            return false;
    }
    return i == n;
}

static bool manifest_parse_float(const char *s, size_t n, struct manifest_scalar *out)
{
    if (!manifest_float_syntax(s, n))
        return false;
    char *tmp = xstrndup(s, n);
    double d = strtod(tmp, NULL);
    free(tmp);
    if (isinf(d)) /* ParseFloat's range error: go-yaml then keeps the string */
        return false;
    out->kind = SK_FLOAT;
    out->d = d;
    return true;
}

/* Resolves a plain scalar (or one with an explicit core tag) like go-yaml v2. */
static void manifest_resolve_plain(const char *s, size_t n, struct manifest_scalar *out)
{
    static const char *const yes[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                      "True", "TRUE", "on",  "On",  "ON",  NULL};
    static const char *const no[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                     "False", "FALSE", "off", "Off", "OFF", NULL};
    static const char *const null[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const nan[] = {".nan", ".NaN", ".NAN", NULL};
    static const char *const pinf[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
    static const char *const ninf[] = {"-.inf", "-.Inf", "-.INF", NULL};

    memset(out, 0, sizeof(*out));
    out->kind = SK_STR;
    if (manifest_eq_any(s, n, yes) || manifest_eq_any(s, n, no)) {
        out->kind = SK_BOOL;
        out->b = manifest_eq_any(s, n, yes);
        return;
    }
    if (manifest_eq_any(s, n, null)) {
        out->kind = SK_NULL;
        return;
    }
    if (manifest_eq_any(s, n, nan) || manifest_eq_any(s, n, pinf) || manifest_eq_any(s, n, ninf)) {
        out->kind = SK_FLOAT;
        out->d = manifest_eq_any(s, n, nan)    ? NAN
                 : manifest_eq_any(s, n, pinf) ? INFINITY
                                               : -INFINITY;
        return;
    }
    char c0 = s[0];
    if (c0 == '.') {
        (void)manifest_parse_float(s, n, out);
        return;
    }
    if (!(c0 == '+' || c0 == '-' || (c0 >= '0' && c0 <= '9')))
        return;
    /* go-yaml drops every underscore before trying the numeric forms */
    char *plain = xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '_')
            plain[k++] = s[i];
    plain[k] = '\0';
    if (!manifest_parse_int(plain, k, out))
        (void)manifest_parse_float(plain, k, out);
    free(plain);
}

/* Resolves a scalar event's value with its tag and style. Returns 0, or -1 on a bad tag. */
static WUR int manifest_resolve_scalar(struct manifest_ctx *c, const yaml_event_t *ev,
                                       struct manifest_scalar *out)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    char shown[SHOW_MAX + 16];

    memset(out, 0, sizeof(*out));
    out->kind = SK_STR;
    if (tag == NULL) {
        if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
            manifest_resolve_plain(s, n, out);
        return 0;
    }
    if (strcmp(tag, "!") == 0 || strcmp(tag, TAG_PREFIX "str") == 0 ||
        strcmp(tag, TAG_PREFIX "binary") == 0)
        return 0;
    enum manifest_scalar_kind want;
    if (strcmp(tag, TAG_PREFIX "int") == 0) {
        want = SK_INT;
    } else if (strcmp(tag, TAG_PREFIX "float") == 0) {
        want = SK_FLOAT;
    } else if (strcmp(tag, TAG_PREFIX "bool") == 0) {
        want = SK_BOOL;
    } else if (strcmp(tag, TAG_PREFIX "null") == 0) {
        want = SK_NULL;
    } else {
        manifest_ctx_fail(c, ERR_INVALID, ev->start_mark, "unsupported tag \"%s\" on a scalar",
                          manifest_tag_show(tag, shown, sizeof(shown)));
        return -1;
    }
    manifest_resolve_plain(s, n, out);
    if (want == SK_FLOAT && out->kind == SK_INT && !out->overflow) {
        out->kind = SK_FLOAT;
        out->d = out->neg ? -(double)out->mag : (double)out->mag;
    }
    if (out->kind != want) {
        manifest_ctx_fail(c, ERR_INVALID, ev->start_mark, "cannot decode \"%s\" as !!%s",
                          manifest_show(s, n, shown, sizeof(shown)), tag + strlen(TAG_PREFIX));
        return -1;
    }
    return 0;
}

/* The scalar as a JSON value, or NULL with the error set (non-finite, inexact integer). */
static WUR cJSON *manifest_scalar_to_json(struct manifest_ctx *c, const yaml_event_t *ev,
                                          const struct manifest_scalar *sc)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    char shown[SHOW_MAX + 16];

    switch (sc->kind) {
    case SK_NULL: return manifest_must(cJSON_CreateNull());
    case SK_BOOL: return manifest_must(cJSON_CreateBool(sc->b));
    case SK_INT: {
        double d = (double)sc->mag;
        /* Only integers a double holds exactly: never change a number silently. */
        if (sc->overflow || d >= 18446744073709551616.0 || (uint64_t)d != sc->mag) {
            manifest_ctx_fail(c, ERR_INVALID, ev->start_mark,
                              "integer out of range: %s cannot be stored exactly in a JSON number "
                              "(beyond 2^53); quote it to make it a string",
                              manifest_show(s, n, shown, sizeof(shown)));
            return NULL;
        }
        return manifest_must(cJSON_CreateNumber(sc->neg ? -d : d));
    }
    case SK_FLOAT:
        if (!isfinite(sc->d)) {
            manifest_ctx_fail(c, ERR_INVALID, ev->start_mark,
                              "%s is not representable in JSON; quote it to make it a string",
                              manifest_show(s, n, shown, sizeof(shown)));
            return NULL;
        }
        /* -0.0 would print as "-0", which reads back as the integer 0 */
        return manifest_must(cJSON_CreateNumber(sc->d == 0 ? 0.0 : sc->d));
    case SK_STR: break;
    }
    return manifest_must(cJSON_CreateString(s));
}

/* strconv.FormatFloat(d, 'g', -1, 32), which sigs.k8s.io/yaml uses for float keys. */
static void manifest_format_float32(double d, char *buf, size_t cap)
{
    float f = (float)d;
    if (isnan(f)) {
        snprintf(buf, cap, ".nan");
        return;
    }
    if (isinf(f)) {
        snprintf(buf, cap, f > 0 ? ".inf" : "-.inf");
        return;
    }
    char tmp[64];
    int p = 1;
    for (; p < 9; p++) {
        snprintf(tmp, sizeof(tmp), "%.*e", p - 1, (double)f);
        if (strtof(tmp, NULL) == f)
            break;
    }
    snprintf(tmp, sizeof(tmp), "%.*e", p - 1, (double)f);
    const char *e = strchr(tmp, 'e');
    long exp = e != NULL ? strtol(e + 1, NULL, 10) : 0;
    if (exp < -4 || exp >= 6) {
        snprintf(buf, cap, "%s", tmp);
    } else {
        int decimals = p - 1 - (int)exp;
        snprintf(buf, cap, "%.*f", decimals > 0 ? decimals : 0, (double)f);
    }
}

/* The text of a mapping key (owned), converted as sigs.k8s.io/yaml converts non-string
 * keys; NULL with the error set. */
static WUR char *manifest_key_text(struct manifest_ctx *c, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    struct manifest_scalar sc;

    if (ev->data.scalar.tag == NULL && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        manifest_eq(s, n, "<<")) {
        manifest_ctx_fail(c, ERR_INVALID, ev->start_mark,
                          "YAML anchors and aliases are not supported (merge key \"<<\")");
        return NULL;
    }
    if (manifest_resolve_scalar(c, ev, &sc) != 0)
        return NULL;
    char buf[64];
    switch (sc.kind) {
    case SK_NULL:
        manifest_ctx_fail(c, ERR_INVALID, ev->start_mark, "a mapping key is null; quote it");
        return NULL;
    case SK_BOOL: return xstrdup(sc.b ? "true" : "false");
    case SK_INT:
        if (sc.overflow)
            return xstrndup(s, n);
        if (snprintf(buf, sizeof(buf), "%s%" PRIu64, sc.neg ? "-" : "", sc.mag) >=
            (int)sizeof(buf)) {
            manifest_ctx_fail(c, ERR_INTERNAL, ev->start_mark, "an integer key is too long");
            return NULL;
        }
        return xstrdup(buf);
    case SK_FLOAT: manifest_format_float32(sc.d, buf, sizeof(buf)); return xstrdup(buf);
    case SK_STR: break;
    }
    return xstrndup(s, n);
}

/* ---- building the tree ---- */

static const char *manifest_json_type_name(const cJSON *item)
{
    if (cJSON_IsArray(item))
        return "a sequence";
    if (cJSON_IsString(item))
        return "a string";
    if (cJSON_IsNumber(item))
        return "a number";
    if (cJSON_IsBool(item))
        return "a boolean";
    return "a scalar";
}

/* Hangs item (owned) under the open collection, or makes it the document's root. */
static WUR int manifest_ctx_attach(struct manifest_ctx *c, cJSON *item, yaml_mark_t mark)
{
    if (c->depth == 0) {
        if (cJSON_IsObject(item)) {
            c->root = item;
            c->root_mark = mark;
            return 0;
        }
        bool null = cJSON_IsNull(item);
        if (!null)
            manifest_ctx_fail(c, ERR_INVALID, mark, "document %zu is not an object (found %s)",
                              c->docs, manifest_json_type_name(item));
        cJSON_Delete(item);
        return null ? 0 : -1;
    }
    struct manifest_frame *f = &c->stack[c->depth - 1];
    if (!f->is_map) {
        if (!cJSON_AddItemToArray(f->node, item))
            manifest_must(NULL);
        return 0;
    }
    if (!cJSON_AddItemToObject(f->node, f->key, item))
        manifest_must(NULL);
    if (c->nrecs == c->caprecs) {
        c->caprecs = c->caprecs ? c->caprecs * 2 : 64;
        c->recs = xrealloc(c->recs, c->caprecs * sizeof(*c->recs));
    }
    c->recs[c->nrecs++] =
        (struct manifest_keyrec){.key = item->string, .seq = c->seq++, .mark = f->key_mark};
    free(f->key);
    f->key = NULL;
    return 0;
}

static int manifest_keyrec_cmp(const void *a, const void *b)
{
    const struct manifest_keyrec *x = a, *y = b;
    int r = strcmp(x->key, y->key);
    if (r != 0)
        return r;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sorting instead of hashing: O(n log n) whatever keys a hostile input picks. */
static WUR int manifest_ctx_check_duplicates(struct manifest_ctx *c, size_t start)
{
    size_t n = c->nrecs - start;
    const struct manifest_keyrec *dup = NULL;
    char shown[SHOW_MAX + 16];

    if (n > 1) {
        struct manifest_keyrec *r = c->recs + start;
        qsort(r, n, sizeof(*r), manifest_keyrec_cmp);
        for (size_t i = 1; i < n; i++)
            if (strcmp(r[i - 1].key, r[i].key) == 0 && (dup == NULL || r[i].seq < dup->seq))
                dup = &r[i];
    }
    if (dup != NULL) {
        manifest_ctx_fail(c, ERR_INVALID, dup->mark, "duplicate key \"%s\"",
                          manifest_show(dup->key, strlen(dup->key), shown, sizeof(shown)));
        return -1;
    }
    c->nrecs = start;
    return 0;
}

static bool manifest_ends_with_list(const char *kind)
{
    size_t n = strlen(kind);
    return n >= 4 && strcmp(kind + n - 4, "List") == 0;
}

/* Appends obj (owned) to out, expanding "kind: List" (and FooList with items) into its items.
 * level bounds the recursion for lists of lists. */
static WUR int manifest_ctx_emit(struct manifest_ctx *c, cJSON *obj, int level)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    cJSON *items = cJSON_GetObjectItemCaseSensitive(obj, "items");
    bool list = cJSON_IsString(kind) && manifest_ends_with_list(kind->valuestring);
    bool plain_list = list && strcmp(kind->valuestring, "List") == 0;

    if (list && !cJSON_IsArray(items)) {
        if (!plain_list) {
            list = false;
        } else if (items != NULL && !cJSON_IsNull(items)) {
            manifest_ctx_fail(c, ERR_INVALID, c->root_mark,
                              "document %zu: kind List needs items to be a sequence", c->docs);
            cJSON_Delete(obj);
            return -1;
        }
    }
    if (!list) {
        if (!cJSON_AddItemToArray(c->out, obj))
            manifest_must(NULL);
        return 0;
    }
    int i = 0;
    cJSON *it = items != NULL ? items->child : NULL;
    while (it != NULL) {
        cJSON *next = it->next;
        cJSON_DetachItemViaPointer(items, it);
        if (!cJSON_IsObject(it) || level >= MANIFEST_MAX_DEPTH) {
            manifest_ctx_fail(c, ERR_INVALID, c->root_mark,
                              "document %zu (kind %s): items[%d] is not an object", c->docs,
                              kind->valuestring, i);
            cJSON_Delete(it);
            cJSON_Delete(obj);
            return -1;
        }
        if (manifest_ctx_emit(c, it, level + 1) != 0) {
            cJSON_Delete(obj);
            return -1;
        }
        it = next;
        i++;
    }
    cJSON_Delete(obj);
    return 0;
}

static WUR int manifest_ctx_count_node(struct manifest_ctx *c, yaml_mark_t mark)
{
    if (++c->nodes > MANIFEST_MAX_NODES) {
        manifest_ctx_fail(c, ERR_TOO_BIG, mark, "more than %d nodes (MANIFEST_MAX_NODES)",
                          MANIFEST_MAX_NODES);
        return -1;
    }
    return 0;
}

static WUR int manifest_ctx_collection_start(struct manifest_ctx *c, const yaml_event_t *ev,
                                             bool is_map)
{
    const yaml_char_t *anchor =
        is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    const char *tag =
        (const char *)(is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
    const char *what = is_map ? "mapping" : "sequence";
    char shown[SHOW_MAX + 16];

    if (anchor != NULL) {
        manifest_ctx_fail(c, ERR_INVALID, ev->start_mark,
                          "YAML anchors and aliases are not supported");
        return -1;
    }
    if (tag != NULL && strcmp(tag, "!") != 0 &&
        strcmp(tag, is_map ? TAG_PREFIX "map" : TAG_PREFIX "seq") != 0) {
        manifest_ctx_fail(c, ERR_INVALID, ev->start_mark, "unsupported tag \"%s\" on a %s",
                          manifest_tag_show(tag, shown, sizeof(shown)), what);
        return -1;
    }
    if (manifest_ctx_count_node(c, ev->start_mark) != 0)
        return -1;
    if (c->depth > 0 && c->stack[c->depth - 1].is_map && c->stack[c->depth - 1].key == NULL) {
        manifest_ctx_fail(c, ERR_INVALID, ev->start_mark,
                          "a mapping key must be a scalar, found a %s", what);
        return -1;
    }
    if (c->depth == 0 && !is_map) {
        manifest_ctx_fail(c, ERR_INVALID, ev->start_mark,
                          "document %zu is not an object (found a sequence)", c->docs);
        return -1;
    }
    if (c->depth == MANIFEST_MAX_DEPTH) {
        manifest_ctx_fail(c, ERR_TOO_BIG, ev->start_mark,
                          "more than %d levels of nesting (MANIFEST_MAX_DEPTH)",
                          MANIFEST_MAX_DEPTH);
        return -1;
    }
    cJSON *node = manifest_must(is_map ? cJSON_CreateObject() : cJSON_CreateArray());
    if (manifest_ctx_attach(c, node, ev->start_mark) != 0)
        return -1;
    c->stack[c->depth++] =
        (struct manifest_frame){.node = node, .is_map = is_map, .rec_start = c->nrecs};
    return 0;
}

static WUR int manifest_ctx_scalar(struct manifest_ctx *c, const yaml_event_t *ev)
{
    if (ev->data.scalar.anchor != NULL) {
        manifest_ctx_fail(c, ERR_INVALID, ev->start_mark,
                          "YAML anchors and aliases are not supported");
        return -1;
    }
    if (manifest_ctx_count_node(c, ev->start_mark) != 0)
        return -1;
    if (memchr(ev->data.scalar.value, 0, ev->data.scalar.length) != NULL) {
        manifest_ctx_fail(c, ERR_INVALID, ev->start_mark,
                          "a string contains a NUL character (\\0)");
        return -1;
    }
    struct manifest_frame *f = c->depth > 0 ? &c->stack[c->depth - 1] : NULL;
    if (f != NULL && f->is_map && f->key == NULL) {
        f->key = manifest_key_text(c, ev);
        f->key_mark = ev->start_mark;
        return f->key != NULL ? 0 : -1;
    }
    struct manifest_scalar sc;
    if (manifest_resolve_scalar(c, ev, &sc) != 0)
        return -1;
    cJSON *item = manifest_scalar_to_json(c, ev, &sc);
    if (item == NULL)
        return -1;
    return manifest_ctx_attach(c, item, ev->start_mark);
}

static WUR int manifest_ctx_event(struct manifest_ctx *c, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_NO_EVENT:
    case YAML_STREAM_START_EVENT:
    case YAML_STREAM_END_EVENT: return 0;
    case YAML_DOCUMENT_START_EVENT:
        if (++c->docs > MANIFEST_MAX_DOCS) {
            manifest_ctx_fail(c, ERR_TOO_BIG, ev->start_mark,
                              "more than %d documents (MANIFEST_MAX_DOCS)", MANIFEST_MAX_DOCS);
            return -1;
        }
        return 0;
    case YAML_DOCUMENT_END_EVENT: {
        cJSON *root = c->root;
        c->root = NULL;
        return root != NULL ? manifest_ctx_emit(c, root, 0) : 0;
    }
    case YAML_ALIAS_EVENT:
        manifest_ctx_fail(c, ERR_INVALID, ev->start_mark,
                          "YAML anchors and aliases are not supported");
        return -1;
    case YAML_SCALAR_EVENT: return manifest_ctx_scalar(c, ev);
    case YAML_SEQUENCE_START_EVENT: return manifest_ctx_collection_start(c, ev, false);
    case YAML_MAPPING_START_EVENT: return manifest_ctx_collection_start(c, ev, true);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        /* libyaml balances start and end events; an end without a start would be its bug, and
           must not read stack[-1] (gcc -fanalyzer's use-of-uninitialized-value). */
        if (c->depth == 0) {
            manifest_ctx_fail(c, ERR_INTERNAL, ev->start_mark,
                              "an end of a collection that never started");
            return -1;
        }
        struct manifest_frame *f = &c->stack[c->depth - 1];
        if (f->is_map && manifest_ctx_check_duplicates(c, f->rec_start) != 0)
            return -1;
        c->depth--;
        return 0;
    }
    }
    return 0;
}

/* Line and column (1-based) of a byte offset, for reader errors that carry no mark. */
static void manifest_offset_position(const char *data, size_t len, size_t off, size_t *line,
                                     size_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (data[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)data[i] & 0xc0) != 0x80) {
            (*col)++;
        }
    }
}

static void manifest_parser_error(const yaml_parser_t *p, const char *data, size_t len,
                                  struct err *err)
{
    const char *problem = p->problem != NULL ? p->problem : "invalid YAML";
    if (p->error == YAML_MEMORY_ERROR) {
        fputs("ember: out of memory in libyaml\n", stderr);
        abort();
    }
    if (p->error == YAML_READER_ERROR) {
        size_t line, col;
        manifest_offset_position(data, len, p->problem_offset, &line, &col);
        if (p->problem_value != -1)
            err_set(err, ERR_INVALID, "line %zu column %zu: %s (#x%X)", line, col, problem,
                    (unsigned)p->problem_value);
        else
            err_set(err, ERR_INVALID, "line %zu column %zu: %s", line, col, problem);
        return;
    }
    /* libyaml decodes \u escapes one at a time, so JSON's surrogate pairs fail there */
    const char *hint = strcmp(problem, "found invalid Unicode character escape code") == 0
                           ? " (UTF-16 surrogate escapes such as \\ud83d\\ude00 are not "
                             "supported: write the character in UTF-8, or as \\U0001f600)"
                           : "";
    if (p->context != NULL)
        err_set(err, ERR_INVALID,
                "line %zu column %zu: %s %s that started at line %zu column %zu%s",
                p->problem_mark.line + 1, p->problem_mark.column + 1, problem, p->context,
                p->context_mark.line + 1, p->context_mark.column + 1, hint);
    else
        err_set(err, ERR_INVALID, "line %zu column %zu: %s%s", p->problem_mark.line + 1,
                p->problem_mark.column + 1, problem, hint);
}

cJSON *manifest_parse(const char *data, size_t len, struct err *err)
{
    if (len > MANIFEST_MAX_BYTES) {
        err_set(err, ERR_TOO_BIG, "input is %zu bytes, more than %d (MANIFEST_MAX_BYTES)", len,
                MANIFEST_MAX_BYTES);
        return NULL;
    }
    if (data == NULL)
        len = 0;
    struct manifest_ctx c = {.err = err};
    c.out = manifest_must(cJSON_CreateArray());

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fputs("ember: out of memory in libyaml\n", stderr);
        abort();
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)(data != NULL ? data : ""), len);

    int rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            manifest_parser_error(&parser, data, len, err);
            rc = -1;
            break;
        }
        rc = manifest_ctx_event(&c, &ev);
        bool end = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (rc != 0 || end)
            break;
    }
    yaml_parser_delete(&parser);

    for (int i = 0; i < c.depth; i++)
        free(c.stack[i].key);
    cJSON_Delete(c.root);
    free(c.recs);
    if (rc != 0) {
        cJSON_Delete(c.out);
        return NULL;
    }
    return c.out;
}

cJSON *manifest_parse_one(const char *data, size_t len, struct err *err)
{
    cJSON *docs = manifest_parse(data, len, err);
    if (docs == NULL)
        return NULL;
    int n = cJSON_GetArraySize(docs);
    if (n != 1) {
        err_set(err, ERR_INVALID, "expected one object, found %d documents", n);
        cJSON_Delete(docs);
        return NULL;
    }
    cJSON *obj = cJSON_DetachItemFromArray(docs, 0);
    cJSON_Delete(docs);
    return obj;
}
