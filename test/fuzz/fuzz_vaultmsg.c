/* fuzz_vaultmsg.c -- every Vault answer parser (and the login body) on arbitrary bytes: a clear
 * error, or output within the documented limits. */
#include "base/duration.h"
#include "base/mem.h"
#include "signers/vaultmsg.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_err(int rc, const struct err *err)
{
    if (rc != -1 || err->kind == ERR_NONE || err->msg[0] == '\0' ||
        memchr(err->msg, '\0', sizeof(err->msg)) == NULL)
        abort();
}

static void fuzz_login(const char *s, size_t n)
{
    struct vaultmsg_login l;
    struct err err = {0};
    int rc = vaultmsg_parse_login(s, n, &l, &err);
    if (rc != 0) {
        fuzz_check_err(rc, &err);
        if (l.client_token != NULL)
            abort();
        return;
    }
    size_t tn = l.client_token != NULL ? strlen(l.client_token) : 0;
    if (tn == 0 || tn > VAULTMSG_MAX_TOKEN)
        abort();
    for (size_t i = 0; i < tn; i++)
        if ((unsigned char)l.client_token[i] <= 0x20 || (unsigned char)l.client_token[i] >= 0x7f)
            abort();
    if (l.lease_duration < 0 || l.lease_duration > DURATION_MAX_SECONDS)
        abort();
    if (strcmp(l.token_type, "") != 0 && strcmp(l.token_type, "service") != 0 &&
        strcmp(l.token_type, "batch") != 0)
        abort();
    vaultmsg_login_clear(&l);
}

static void fuzz_lookup(const char *s, size_t n)
{
    struct vaultmsg_lookup lk;
    struct err err = {0};
    int rc = vaultmsg_parse_lookup(s, n, &lk, &err);
    if (rc != 0) {
        fuzz_check_err(rc, &err);
        return;
    }
    if (lk.num_uses < -1 || lk.ttl < 0 || lk.ttl > DURATION_MAX_SECONDS)
        abort();
}

static void fuzz_sign(const char *s, size_t n)
{
    char *pem = NULL;
    struct err err = {0};
    int rc = vaultmsg_parse_sign(s, n, &pem, &err);
    if (rc != 0) {
        fuzz_check_err(rc, &err);
        if (pem != NULL)
            abort();
        return;
    }
    if (pem == NULL || strstr(pem, "-----BEGIN ") == NULL)
        abort();
    free(pem);
}

static void fuzz_errors(const char *s, size_t n)
{
    char out[VAULTMSG_MAX_ERROR_TEXT + 64];
    memset(out, 'Z', sizeof(out));
    size_t count = vaultmsg_errors(s, n, out, sizeof(out));
    size_t len = strnlen(out, sizeof(out));
    if (len >= VAULTMSG_MAX_ERROR_TEXT || count > VAULTMSG_MAX_ERRORS || (count == 0 && len != 0))
        abort();
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] >= 0x7f)
            abort();
    /* A tiny buffer is never overrun. */
    char tiny[9];
    memset(tiny, 'Z', sizeof(tiny));
    (void)vaultmsg_errors(s, n, tiny, 8);
    if (memchr(tiny, '\0', 8) == NULL || tiny[8] != 'Z')
        abort();
}

/* The login body of (role = bytes before the first NUL, secret = the rest) is valid JSON
 * carrying both values, or a clear error. */
static void fuzz_login_body(const uint8_t *data, size_t size)
{
    const char *nul = memchr(data, '\0', size);
    if (nul == NULL)
        return;
    const char *role = (const char *)data;
    const char *secret = nul + 1;
    size_t slen = size - (size_t)(secret - role);
    char *json = NULL;
    size_t len = 0;
    struct err err = {0};
    int rc = vaultmsg_login_body(role, secret, slen, &json, &len, &err);
    if (rc != 0) {
        fuzz_check_err(rc, &err);
        if (json != NULL)
            abort();
        return;
    }
    if (json == NULL || strlen(json) != len)
        abort();
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (root == NULL) {
        /* Only invalid UTF-8 passed through may make cJSON balk; it parses bytes, so no. */
        abort();
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "role_id");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "secret_id");
    if (!cJSON_IsString(r) || !cJSON_IsString(s) || r->valuestring[0] == '\0' ||
        s->valuestring[0] == '\0')
        abort();
    cJSON_Delete(root);
    xfree_secret(json, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    fuzz_login(s, size);
    fuzz_lookup(s, size);
    fuzz_sign(s, size);
    fuzz_errors(s, size);
    fuzz_login_body(data, size);
    return 0;
}
