/* fuzz_tokenrequest.c -- the TokenRequest answer parser and the request body builder on
 * arbitrary bytes: a clear error, or a token (a body) within the documented limits. */
#include "base/mem.h"
#include "kube/kube.h"
#include "kube/tokenrequest.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_parse(const char *s, size_t n)
{
    char *tok = (char *)"unset";
    struct err err = {0};
    int rc = tokenrequest_parse(s, n, &tok, &err);
    if (rc != 0) {
        if (rc != -1 || tok != NULL || err.kind != ERR_TRANSIENT || err.msg[0] == '\0')
            abort();
        return;
    }
    size_t tn = tok != NULL ? strlen(tok) : 0;
    if (tn == 0 || tn > KUBE_MAX_TOKEN_BYTES || n > TOKENREQUEST_MAX_ANSWER_BYTES)
        abort();
    for (size_t i = 0; i < tn; i++)
        if ((unsigned char)tok[i] < 0x21 || (unsigned char)tok[i] > 0x7e)
            abort();
    xfree_secret(tok, tn + 1);
}

/* The body for the audiences the input holds (NUL-separated, at most
 * TOKENREQUEST_MAX_AUDIENCES + 1 of them) is JSON carrying each one, or a clear error. */
static void fuzz_body(const char *s, size_t n)
{
    char *copy = xmalloc(n + 1);
    memcpy(copy, s, n);
    copy[n] = '\0';
    const char *auds[TOKENREQUEST_MAX_AUDIENCES + 1];
    size_t na = 0;
    for (char *p = copy; na < TOKENREQUEST_MAX_AUDIENCES + 1 && p <= copy + n;) {
        auds[na++] = p;
        p += strlen(p) + 1;
    }
    long exp = n > 0 ? 300 + 60 * (long)(unsigned char)s[0] : 600;
    struct err err = {0};
    char *body = tokenrequest_body(auds, na, exp, &err);
    if (body == NULL) {
        if (err.kind != ERR_INVALID || err.msg[0] == '\0')
            abort();
        free(copy);
        return;
    }
    cJSON *root = cJSON_Parse(body);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "spec"), "audiences");
    if (cJSON_GetArraySize(list) != (int)na)
        abort();
    for (size_t i = 0; i < na; i++) {
        const cJSON *a = cJSON_GetArrayItem(list, (int)i);
        if (!cJSON_IsString(a) || strcmp(a->valuestring, auds[i]) != 0)
            abort();
    }
    cJSON_Delete(root);
    free(body);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_parse((const char *)data, size);
    fuzz_body((const char *)data, size);
    return 0;
}
