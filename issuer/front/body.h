/* body.h -- a signing API request body: one object, read by the parser its Content-Type names
 * (JSON with cJSON, YAML with libyaml), never by the other. Pure. */
#ifndef EMBER_BODY_H
#define EMBER_BODY_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "base/err.h"

enum body_type {
    BODY_JSON,  /* application/json */
    BODY_YAML,  /* application/yaml, application/x-yaml, text/yaml */
    BODY_OTHER, /* anything else, or no Content-Type: the API answers 415 */
};

/* The body type a Content-Type header names (case-insensitive, parameters such as
 * "; charset=utf-8" ignored); content_type may be NULL. */
enum body_type body_type(const char *content_type);

/* Parses data (len bytes, no NUL needed) as one object, with type's parser only:
 * - BODY_JSON: JSON through cJSON, with the rules the YAML reader keeps too: UTF-8,
 *   no NUL character (not even escaped as \u0000), no duplicate key in an object, at most
 *   MANIFEST_MAX_DEPTH levels and MANIFEST_MAX_NODES nodes (values and keys); nothing but
 *   white space after the object. The limits are checked before cJSON allocates anything.
 * - BODY_YAML: manifest_parse_one (libyaml), whose rules are in base/manifest.h.
 * Returns the object (cJSON_Delete it), or NULL with err: ERR_INVALID or ERR_TOO_BIG, the
 * message "line L column C: ..." where the problem has a place. Thread-safe. */
cJSON *body_parse(enum body_type type, const char *data, size_t len, struct err *err) WUR;

#endif
