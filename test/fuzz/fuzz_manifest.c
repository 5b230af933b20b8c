/* fuzz_manifest.c -- arbitrary bytes through manifest_parse: either an error with a message
 * or an array of objects, and every object printed as JSON parses back to the same text. */
#include "base/manifest.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what, const char *detail)
{
    if (!ok) {
        fprintf(stderr, "fuzz_manifest: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
        abort();
    }
}

/* YAML 1.1 forbids raw DEL, C1 controls, U+FFFE/U+FFFF, and reads raw NEL, U+2028 and
 * U+2029 as line breaks; cJSON prints them unescaped, so such JSON is not YAML. */
static bool yaml_safe(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    for (; *p != 0; p++) {
        if (p[0] == 0x7f)
            return false;
        if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
            return false;
        if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
            return false;
        if (p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))
            return false;
    }
    return true;
}

/* YAML (so libyaml) refuses implicit keys longer than 1024 characters, and in JSON every
 * key is one: a document with a longer key prints as JSON that does not read back. */
static bool keys_short(const cJSON *node, int depth)
{
    check(depth <= MANIFEST_MAX_DEPTH, "tree deeper than MANIFEST_MAX_DEPTH", NULL);
    const cJSON *child;
    cJSON_ArrayForEach(child, node)
    {
        if (child->string != NULL) {
            size_t printed = 2;
            for (const unsigned char *p = (const unsigned char *)child->string; *p != 0; p++)
                printed += *p < 0x20 ? 6 : (*p == '"' || *p == '\\') ? 2 : 1;
            if (printed > 1000)
                return false;
        }
        if ((cJSON_IsObject(child) || cJSON_IsArray(child)) && !keys_short(child, depth + 1))
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err err = {0};
    cJSON *docs = manifest_parse((const char *)data, size, &err);
    if (docs == NULL) {
        check(err.kind != ERR_NONE, "NULL without an error kind", NULL);
        check(err.msg[0] != '\0', "NULL without a message", NULL);
        return 0;
    }
    check(cJSON_IsArray(docs), "result is not an array", NULL);
    check(err.kind == ERR_NONE, "success with an error set", err.msg);

    const cJSON *doc;
    cJSON_ArrayForEach(doc, docs)
    {
        check(cJSON_IsObject(doc), "a document is not an object", NULL);
        char *printed = cJSON_PrintUnformatted(doc);
        check(printed != NULL, "cJSON_PrintUnformatted failed", NULL);
        size_t len = strlen(printed);
        if (len <= MANIFEST_MAX_BYTES && yaml_safe(printed) && keys_short(doc, 1)) {
            struct err err2 = {0};
            cJSON *again = manifest_parse_one(printed, len, &err2);
            check(again != NULL, "printed JSON does not parse back", err2.msg);
            char *printed2 = cJSON_PrintUnformatted(again);
            check(printed2 != NULL, "cJSON_PrintUnformatted failed", NULL);
            if (strcmp(printed, printed2) != 0) {
                fprintf(stderr, "first:  %s\nsecond: %s\n", printed, printed2);
                check(false, "round trip changed the document", NULL);
            }
            free(printed2);
            cJSON_Delete(again);
        }
        free(printed);
    }
    cJSON_Delete(docs);
    return 0;
}
