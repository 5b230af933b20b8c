/* jsonfield.c -- JSON members checked against a table, and typed getters (see jsonfield.h). */
#include "base/jsonfield.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/utf8.h"

/* What each type is called in a message. */
static const char *const jsonfield_type_words[] = {
    [JSONFIELD_ANY] = "anything",
    [JSONFIELD_STRING] = "a string",
    [JSONFIELD_BOOL] = "a boolean",
    [JSONFIELD_INTEGER] = "an integer",
    [JSONFIELD_OBJECT] = "an object",
    [JSONFIELD_ARRAY] = "a list",
    [JSONFIELD_STRINGS] = "a list of strings",
};

const char *jsonfield_type_name(const cJSON *got)
{
    if (cJSON_IsString(got))
        return "a string";
    if (cJSON_IsNumber(got))
        return "a number";
    if (cJSON_IsBool(got))
        return "a boolean";
    if (cJSON_IsArray(got))
        return "a list";
    if (cJSON_IsObject(got))
        return "an object";
    if (cJSON_IsNull(got))
        return "null";
    return "something else";
}

int jsonfield_expected(const char *path, const char *want, const cJSON *got, struct err *err)
{
    err_set(err, ERR_INVALID, "%s%sexpected %s, got %s", path, path[0] != '\0' ? ": " : "", want,
            jsonfield_type_name(got));
    return -1;
}

int jsonfield_missing(const char *path, const char *want, struct err *err)
{
    err_set(err, ERR_INVALID, "%s: missing (expected %s)", path, want);
    return -1;
}

int jsonfield_empty(const char *path, const char *want, struct err *err)
{
    err_set(err, ERR_INVALID, "%s: empty (expected %s)", path, want);
    return -1;
}

/* n is what snprintf returned for a path under path into outlen bytes: 0 when it fit, else -1
 * with ERR_INVALID (a cut path would name another field). */
static int jsonfield_fit(int n, size_t outlen, const char *path, struct err *err)
{
    if (n >= 0 && (size_t)n < outlen)
        return 0;
    char shown[JSONFIELD_KEY_ECHO + 1];
    utf8_copy_printable(shown, sizeof(shown), path, JSONFIELD_KEY_ECHO);
    err_set(err, ERR_INVALID, "%s...: path longer than %zu bytes", shown, outlen - 1);
    return -1;
}

int jsonfield_path(char *out, size_t outlen, const char *path, const char *key, struct err *err)
{
    int n = snprintf(out, outlen, "%s%s%s", path, path[0] != '\0' ? "." : "", key);
    return jsonfield_fit(n, outlen, path, err);
}

int jsonfield_path_index(char *out, size_t outlen, const char *path, size_t index, struct err *err)
{
    int n = snprintf(out, outlen, "%s[%zu]", path, index);
    return jsonfield_fit(n, outlen, path, err);
}

const cJSON *jsonfield_get(const cJSON *obj, const char *key)
{
    if (!cJSON_IsObject(obj))
        return NULL;
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNull(j) ? NULL : j;
}

/* ---- the table check ---- */

/* Appends ", "-separated s to out (cap bytes); a list that does not fit ends in "...". */
static void jsonfield_list_add(char *out, size_t cap, const char *s)
{
    size_t used = strlen(out);
    int n = snprintf(out + used, cap - used, "%s%s", used > 0 ? ", " : "", s);
    if (n < 0 || (size_t)n >= cap - used)
        memcpy(out + cap - 4, "...", 4);
}

static int jsonfield_index(const char *const *choices, const char *s)
{
    for (int i = 0; choices[i] != NULL; i++)
        if (strcmp(choices[i], s) == 0)
            return i;
    return -1;
}

/* The member's path, its name from the input escaped and cut. */
static int jsonfield_member_path(char *out, size_t outlen, const char *path, const char *key,
                                 struct err *err)
{
    char ek[UTF8_ESCAPE_SIZE(JSONFIELD_KEY_ECHO)];
    utf8_escape(key, JSONFIELD_KEY_ECHO, false, ek, sizeof(ek));
    return jsonfield_path(out, outlen, path, ek, err);
}

/* Every member named in fields, and once. */
static int jsonfield_check_names(const cJSON *obj, const char *path, const struct jsonfield *fields,
                                 struct err *err)
{
    uint64_t seen = 0; /* one bit per row */
    for (const cJSON *c = obj->child; c != NULL; c = c->next) {
        const char *key = c->string != NULL ? c->string : "";
        int idx = -1;
        for (int k = 0; fields[k].name != NULL && idx < 0; k++)
            if (strcmp(fields[k].name, key) == 0)
                idx = k;
        if (idx >= 0 && !(seen & (UINT64_C(1) << idx))) {
            seen |= UINT64_C(1) << idx;
            continue;
        }
        char p[JSONFIELD_PATH_MAX];
        if (jsonfield_member_path(p, sizeof(p), path, key, err) != 0)
            return -1;
        if (idx >= 0) {
            err_set(err, ERR_INVALID, "%s: duplicate field", p);
            return -1;
        }
        char known[512] = "";
        for (int k = 0; fields[k].name != NULL; k++)
            jsonfield_list_add(known, sizeof(known), fields[k].name);
        err_set(err, ERR_INVALID, "%s: unknown field (known: %s)", p, known);
        return -1;
    }
    return 0;
}

static bool jsonfield_type_ok(enum jsonfield_type t, const cJSON *v)
{
    switch (t) {
    case JSONFIELD_ANY: return true;
    case JSONFIELD_STRING: return cJSON_IsString(v) && v->valuestring != NULL;
    case JSONFIELD_BOOL: return cJSON_IsBool(v);
    case JSONFIELD_INTEGER: return cJSON_IsNumber(v);
    case JSONFIELD_OBJECT: return cJSON_IsObject(v);
    case JSONFIELD_ARRAY:
    case JSONFIELD_STRINGS: return cJSON_IsArray(v);
    }
    return false;
}

/* "A, B, C" into out (cap bytes). */
static void jsonfield_choices_list(const char *const *choices, char *out, size_t cap)
{
    out[0] = '\0';
    for (int i = 0; choices[i] != NULL; i++)
        jsonfield_list_add(out, cap, choices[i]);
}

/* What a row expects, for "missing" and "empty": its want, its choices or its type. */
static void jsonfield_want(const struct jsonfield *f, char *out, size_t cap)
{
    if (f->want != NULL || f->choices == NULL) {
        snprintf(out, cap, "%s", f->want != NULL ? f->want : jsonfield_type_words[f->type]);
        return;
    }
    char list[256];
    jsonfield_choices_list(f->choices, list, sizeof(list));
    snprintf(out, cap, "one of %s", list);
}

/* "PATH: "VALUE" is not one of A, B, C". */
static int jsonfield_not_a_choice(const char *p, const char *v, const char *const *choices,
                                  struct err *err)
{
    char q[UTF8_ESCAPE_SIZE(JSONFIELD_KEY_ECHO)];
    utf8_escape(v, JSONFIELD_KEY_ECHO, true, q, sizeof(q));
    char list[256];
    jsonfield_choices_list(choices, list, sizeof(list));
    err_set(err, ERR_INVALID, "%s: %s is not one of %s", p, q, list);
    return -1;
}

enum jsonfield_problem {
    JSONFIELD_OK,
    JSONFIELD_MISSING,
    JSONFIELD_WRONG_TYPE,
    JSONFIELD_NO_CHOICE,
    JSONFIELD_EMPTY
};

/* What is wrong with member v (NULL: absent) of row f. */
static enum jsonfield_problem jsonfield_row_problem(const struct jsonfield *f, const cJSON *v)
{
    if (v == NULL)
        return f->required ? JSONFIELD_MISSING : JSONFIELD_OK;
    if (!jsonfield_type_ok(f->type, v))
        return JSONFIELD_WRONG_TYPE;
    if (f->type != JSONFIELD_STRING)
        return JSONFIELD_OK;
    if (f->choices != NULL && jsonfield_index(f->choices, v->valuestring) < 0)
        return JSONFIELD_NO_CHOICE;
    if (f->required && v->valuestring[0] == '\0')
        return JSONFIELD_EMPTY;
    return JSONFIELD_OK;
}

/* One row: present when required, of its type, one of its choices, not empty. */
static int jsonfield_check_row(const cJSON *obj, const char *path, const struct jsonfield *f,
                               unsigned flags, struct err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f->name);
    if (cJSON_IsNull(v) && !(flags & JSONFIELD_NULL_REFUSED))
        v = NULL;
    enum jsonfield_problem problem = jsonfield_row_problem(f, v);
    if (problem == JSONFIELD_OK)
        return 0;
    char p[JSONFIELD_PATH_MAX];
    if (jsonfield_path(p, sizeof(p), path, f->name, err) != 0)
        return -1;
    char want[320];
    if (v == NULL) { /* JSONFIELD_MISSING */
        jsonfield_want(f, want, sizeof(want));
        return jsonfield_missing(p, want, err);
    }
    if (problem == JSONFIELD_WRONG_TYPE)
        return jsonfield_expected(p, f->want != NULL ? f->want : jsonfield_type_words[f->type], v,
                                  err);
    if (problem == JSONFIELD_NO_CHOICE)
        return jsonfield_not_a_choice(p, v->valuestring, f->choices, err);
    jsonfield_want(f, want, sizeof(want));
    return jsonfield_empty(p, want, err);
}

int jsonfield_check(const cJSON *obj, const char *path, const struct jsonfield *fields,
                    unsigned flags, struct err *err)
{
    if (!cJSON_IsObject(obj))
        return jsonfield_expected(path, "an object", obj, err);
    size_t n = 0;
    while (fields[n].name != NULL)
        n++;
    if (n > JSONFIELD_MAX_FIELDS) {
        err_set(err, ERR_INTERNAL, "%s: a table of %zu fields, at most %d", path, n,
                JSONFIELD_MAX_FIELDS);
        return -1;
    }
    if (jsonfield_check_names(obj, path, fields, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (jsonfield_check_row(obj, path, &fields[i], flags, err) != 0)
            return -1;
    return 0;
}

/* ---- getters ---- */

/* Member key of obj when it has type t: 0 (*out NULL when absent), or -1. */
static int jsonfield_typed(const cJSON *obj, const char *path, const char *key,
                           enum jsonfield_type t, const cJSON **out, struct err *err)
{
    *out = jsonfield_get(obj, key);
    if (*out == NULL || jsonfield_type_ok(t, *out))
        return 0;
    char p[JSONFIELD_PATH_MAX];
    if (jsonfield_path(p, sizeof(p), path, key, err) != 0)
        return -1;
    return jsonfield_expected(p, jsonfield_type_words[t], *out, err);
}

int jsonfield_string(const cJSON *obj, const char *path, const char *key, const char **out,
                     struct err *err)
{
    const cJSON *j;
    if (jsonfield_typed(obj, path, key, JSONFIELD_STRING, &j, err) != 0)
        return -1;
    *out = j != NULL ? j->valuestring : NULL;
    return 0;
}

int jsonfield_bool(const cJSON *obj, const char *path, const char *key, bool *out, struct err *err)
{
    const cJSON *j;
    if (jsonfield_typed(obj, path, key, JSONFIELD_BOOL, &j, err) != 0)
        return -1;
    if (j != NULL)
        *out = cJSON_IsTrue(j);
    return 0;
}

int jsonfield_int(const cJSON *obj, const char *path, const char *key, long long lo, long long hi,
                  long long *out, bool *present, struct err *err)
{
    const cJSON *j;
    if (jsonfield_typed(obj, path, key, JSONFIELD_INTEGER, &j, err) != 0)
        return -1;
    if (present != NULL)
        *present = j != NULL;
    if (j == NULL)
        return 0;
    double d = j->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi) {
        char p[JSONFIELD_PATH_MAX];
        if (jsonfield_path(p, sizeof(p), path, key, err) != 0)
            return -1;
        err_set(err, ERR_INVALID, "%s: must be a whole number from %lld to %lld", p, lo, hi);
        return -1;
    }
    *out = (long long)d;
    return 0;
}

int jsonfield_object(const cJSON *obj, const char *path, const char *key, const cJSON **out,
                     struct err *err)
{
    return jsonfield_typed(obj, path, key, JSONFIELD_OBJECT, out, err);
}

int jsonfield_array(const cJSON *obj, const char *path, const char *key, const cJSON **out,
                    struct err *err)
{
    return jsonfield_typed(obj, path, key, JSONFIELD_ARRAY, out, err);
}

int jsonfield_strings(const cJSON *obj, const char *path, const char *key, size_t max_n,
                      size_t max_len, const cJSON **out, struct err *err)
{
    if (jsonfield_typed(obj, path, key, JSONFIELD_STRINGS, out, err) != 0)
        return -1;
    if (*out == NULL)
        return 0;
    char p[JSONFIELD_PATH_MAX];
    if (jsonfield_path(p, sizeof(p), path, key, err) != 0)
        return -1;
    int n = cJSON_GetArraySize(*out);
    if ((size_t)n > max_n) {
        err_set(err, ERR_INVALID, "%s: %d entries, at most %zu allowed", p, n, max_n);
        return -1;
    }
    size_t i = 0;
    for (const cJSON *c = (*out)->child; c != NULL; c = c->next, i++) {
        char pi[JSONFIELD_PATH_MAX];
        if (jsonfield_path_index(pi, sizeof(pi), p, i, err) != 0)
            return -1;
        if (!jsonfield_type_ok(JSONFIELD_STRING, c))
            return jsonfield_expected(pi, "a string", c, err);
        if (strlen(c->valuestring) > max_len) {
            err_set(err, ERR_INVALID, "%s: longer than %zu bytes", pi, max_len);
            return -1;
        }
    }
    return 0;
}

int jsonfield_choice(const cJSON *obj, const char *path, const char *key,
                     const char *const *choices, int *out, struct err *err)
{
    const char *s;
    if (jsonfield_string(obj, path, key, &s, err) != 0)
        return -1;
    if (s == NULL)
        return 0;
    int i = jsonfield_index(choices, s);
    if (i < 0) {
        char p[JSONFIELD_PATH_MAX];
        if (jsonfield_path(p, sizeof(p), path, key, err) != 0)
            return -1;
        return jsonfield_not_a_choice(p, s, choices, err);
    }
    *out = i;
    return 0;
}
