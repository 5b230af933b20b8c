/* jsonfield.h -- the members of a JSON object checked against a table (unknown, repeated,
 * wrong type, missing), with one message shape, and typed getters. Pure.
 *
 * Every message starts with the path of what it is about: PATH.NAME, or NAME alone when PATH
 * is "" (a document's top level), a member name from the input escaped and cut to
 * JSONFIELD_KEY_ECHO bytes. The shapes:
 *   PATH.NAME: unknown field (known: a, b, c)
 *   PATH.NAME: duplicate field
 *   PATH.NAME: expected WANT, got TYPE      (TYPE: a string, a number, a boolean, a list,
 *                                             an object, null)
 *   PATH.NAME: missing (expected WANT)
 *   PATH.NAME: empty (expected WANT)
 *   PATH.NAME: "VALUE" is not one of A, B, C
 *   PATH.NAME: must be a whole number from LO to HI
 *   PATH.NAME: N entries, at most M allowed
 *   PATH.NAME[I]: longer than L bytes
 * All are ERR_INVALID. JSON null counts as absent (the Kubernetes API server drops it), unless
 * a check says JSONFIELD_NULL_REFUSED. */
#ifndef EMBER_JSONFIELD_H
#define EMBER_JSONFIELD_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define JSONFIELD_KEY_ECHO 64   /* bytes of a member name or value quoted in a message */
#define JSONFIELD_MAX_FIELDS 64 /* rows in one table */
#define JSONFIELD_PATH_MAX 512  /* bytes of a path in a message, NUL included */

enum jsonfield_type {
    JSONFIELD_ANY,     /* any value: the caller reads it */
    JSONFIELD_STRING,  /* "a string" */
    JSONFIELD_BOOL,    /* "a boolean" */
    JSONFIELD_INTEGER, /* "an integer": a number (jsonfield_int checks it is whole, in range) */
    JSONFIELD_OBJECT,  /* "an object" */
    JSONFIELD_ARRAY,   /* "a list" */
    JSONFIELD_STRINGS, /* "a list of strings" (jsonfield_strings checks the entries) */
};

/* One row of a table; a table ends with a row whose name is NULL. */
struct jsonfield {
    const char *name;
    enum jsonfield_type type;
    bool required;              /* absent (or null), or for a string empty, is an error */
    const char *want;           /* what a message says is expected; NULL: the type's words */
    const char *const *choices; /* a string's allowed values (NULL-terminated), or NULL */
};

/* jsonfield_check's flags. */
#define JSONFIELD_NULL_REFUSED 1u /* JSON null is a wrong type, not absent */

/* Checks obj, whose path is path, against the table fields: first that every member is named
 * in fields and appears once, then row by row that a member has its type, is there when
 * required (and for a string not empty) and is one of the choices. Returns 0, or -1 with the
 * first problem found in err; obj not an object is "PATH: expected an object, got TYPE". */
int jsonfield_check(const cJSON *obj, const char *path, const struct jsonfield *fields,
                    unsigned flags, struct err *err) WUR;

/* Sets err to "PATH: expected WANT, got TYPE" (no "PATH: " when path is "") and returns -1. */
int jsonfield_expected(const char *path, const char *want, const cJSON *got, struct err *err);

/* Sets err to "PATH: missing (expected WANT)" and returns -1: a member that must be there. */
int jsonfield_missing(const char *path, const char *want, struct err *err);

/* Sets err to "PATH: empty (expected WANT)" and returns -1: a string that must not be "". */
int jsonfield_empty(const char *path, const char *want, struct err *err);

/* What got is, in a message's words: "a string", "a number", ..., "null" (static). */
const char *jsonfield_type_name(const cJSON *got);

/* Writes path.key (key alone when path is "") into out. Returns 0, or -1 with ERR_INVALID
 * when it does not fit in outlen bytes. */
int jsonfield_path(char *out, size_t outlen, const char *path, const char *key,
                   struct err *err) WUR;
/* The same for path[index]. */
int jsonfield_path_index(char *out, size_t outlen, const char *path, size_t index,
                         struct err *err) WUR;

/* Member key of obj (case-sensitive), or NULL when it is absent or JSON null, or obj is not an
 * object. Borrowed from obj. */
const cJSON *jsonfield_get(const cJSON *obj, const char *key);

/* The getters read member key of obj (whose path is path). Absent or null: they return 0 and
 * set a pointer *out to NULL, and leave a bool or an integer *out as it was (its default).
 * Wrong type or value: -1 with a message above. What *out points to is borrowed from obj. */
int jsonfield_string(const cJSON *obj, const char *path, const char *key, const char **out,
                     struct err *err) WUR;
int jsonfield_bool(const cJSON *obj, const char *path, const char *key, bool *out,
                   struct err *err) WUR;
/* A whole number from lo to hi; *present (when not NULL) says whether it was there. */
int jsonfield_int(const cJSON *obj, const char *path, const char *key, long long lo, long long hi,
                  long long *out, bool *present, struct err *err) WUR;
int jsonfield_object(const cJSON *obj, const char *path, const char *key, const cJSON **out,
                     struct err *err) WUR;
int jsonfield_array(const cJSON *obj, const char *path, const char *key, const cJSON **out,
                    struct err *err) WUR;
/* A list of at most max_n strings of at most max_len bytes each. */
int jsonfield_strings(const cJSON *obj, const char *path, const char *key, size_t max_n,
                      size_t max_len, const cJSON **out, struct err *err) WUR;
/* A string that is one of choices (NULL-terminated): *out its index. */
int jsonfield_choice(const cJSON *obj, const char *path, const char *key,
                     const char *const *choices, int *out, struct err *err) WUR;

#endif
