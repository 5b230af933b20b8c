/* secret.c -- core/v1 Secrets: read a key's value, delete a Secret's JSON wiping it. */
#include "signers/secret.h"

#include <openssl/crypto.h>
#include <string.h>

#include "base/b64.h"
#include "base/mem.h"

static const char *secret_str(const cJSON *obj, const char *field, const char *key)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, field), key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int secret_value(const cJSON *secret, const char *key, char **out, size_t *len, struct err *err)
{
    *out = NULL;
    *len = 0;
    const char *v = secret_str(secret, "stringData", key);
    if (v != NULL) {
        if (strlen(v) > SECRET_MAX_VALUE) {
            err_set(err, ERR_TOO_BIG, "stringData.%s is larger than %d bytes", key,
                    SECRET_MAX_VALUE);
            return -1;
        }
        *out = xstrdup(v);
        *len = strlen(v);
        return 0;
    }
    v = secret_str(secret, "data", key);
    if (v == NULL)
        return 0;
    unsigned char *p = NULL;
    if (b64_decode(v, strlen(v), SECRET_MAX_VALUE, &p, len, err) != 0) {
        err_prefix(err, "data.%s", key);
        return -1;
    }
    *out = (char *)p;
    return 0;
}

/* Manifests and API objects are at most a few dozen levels deep, so recursion is bounded. */
static void secret_wipe(cJSON *node)
{
    for (cJSON *c = node; c != NULL; c = c->next) {
        if (cJSON_IsString(c) && c->valuestring != NULL)
            OPENSSL_cleanse(c->valuestring, strlen(c->valuestring));
        if (c->child != NULL)
            secret_wipe(c->child);
    }
}

void secret_delete(cJSON *secret)
{
    if (secret == NULL)
        return;
    secret_wipe(secret->child);
    cJSON_Delete(secret);
}
