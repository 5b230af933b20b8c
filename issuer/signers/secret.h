/* secret.h -- core/v1 Secrets: read a key's value, delete a Secret's JSON wiping it. Pure. */
#ifndef EMBER_SECRET_H
#define EMBER_SECRET_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "base/err.h"

#define SECRET_MAX_VALUE (4 * 1024 * 1024) /* one decoded key */

/* The bytes of key in a Secret object: stringData wins over data (base64), as the API server
 * merges them on write. *out is a new NUL-terminated buffer (free it with xfree_secret(*out,
 * *len)), or NULL with *len 0 when the key is absent. ERR_INVALID when data.<key> is not
 * base64, ERR_TOO_BIG past SECRET_MAX_VALUE. */
int secret_value(const cJSON *secret, const char *key, char **out, size_t *len,
                 struct err *err) WUR;
/* Wipes every string of the tree (keys, tokens) and deletes it. NULL is a no-op. */
void secret_delete(cJSON *secret);

#endif
