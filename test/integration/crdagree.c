/* crdagree.c -- runs Ember's own loaders (issuer_from_json, policy_from_json) over objects, so
 * test_crds.sh can check that the CRD schemas and the C code accept and refuse the same things.
 * Reads a JSON array of objects on stdin; prints a JSON array with, for each object in order,
 * {"ok": true} or {"ok": false, "error": "<message>"} ({"ok": null} for kinds it does not
 * load). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "decide/policy.h"
#include "issuers/issuer.h"

#define CRDAGREE_MAX_INPUT (16 * 1024 * 1024) /* bytes read from stdin */

/* Loads obj with the loader for its kind; fills res. */
static void crdagree_load(const cJSON *obj, cJSON *res)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    const char *k = cJSON_IsString(kind) ? kind->valuestring : "";
    struct err err = {0};
    if (strcmp(k, "Issuer") == 0 || strcmp(k, "ClusterIssuer") == 0) {
        struct issuer *is = issuer_from_json(obj, &err);
        cJSON_AddBoolToObject(res, "ok", is != NULL);
        issuer_unref(is);
    } else if (strcmp(k, "IssuancePolicy") == 0) {
        struct policy *p = policy_from_json(obj, &err);
        cJSON_AddBoolToObject(res, "ok", p != NULL);
        policy_free(p);
    } else {
        cJSON_AddNullToObject(res, "ok");
        return;
    }
    if (err.kind != ERR_NONE)
        cJSON_AddStringToObject(res, "error", err.msg);
}

int main(void)
{
    char *buf = xmalloc(CRDAGREE_MAX_INPUT + 1);
    size_t len = fread(buf, 1, CRDAGREE_MAX_INPUT + 1, stdin);
    if (ferror(stdin) || len > CRDAGREE_MAX_INPUT) {
        fprintf(stderr, "crdagree: %s\n",
                ferror(stdin) ? "read error on stdin" : "input larger than CRDAGREE_MAX_INPUT");
        free(buf);
        return 2;
    }
    buf[len] = '\0';
    cJSON *in = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!cJSON_IsArray(in)) {
        fputs("crdagree: stdin must hold a JSON array of objects\n", stderr);
        cJSON_Delete(in);
        return 2;
    }
    cJSON *out = cJSON_CreateArray();
    const cJSON *obj;
    cJSON_ArrayForEach(obj, in)
    {
        cJSON *res = cJSON_CreateObject();
        crdagree_load(obj, res);
        cJSON_AddItemToArray(out, res);
    }
    char *s = cJSON_PrintUnformatted(out);
    int rc = 0;
    if (s == NULL) {
        fputs("crdagree: out of memory\n", stderr);
        rc = 1;
    } else {
        puts(s);
        free(s);
    }
    cJSON_Delete(out);
    cJSON_Delete(in);
    return rc;
}
