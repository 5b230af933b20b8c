/* yaml2json.c -- prints the documents of YAML files as one JSON array of {file, docs}, read
 * with Ember's own manifest_parse (the rules sigs.k8s.io/yaml uses), for test_crds.sh. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/manifest.h"
#include "base/mem.h"

/* Reads at most MANIFEST_MAX_BYTES + 1 bytes of path into a new buffer; NULL on error. */
static char *yaml2json_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "yaml2json: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = MANIFEST_MAX_BYTES + 1;
    char *buf = xmalloc(cap);
    *len = fread(buf, 1, cap, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || *len == cap) {
        fprintf(stderr, "yaml2json: %s: %s\n", path,
                bad ? "read error" : "larger than MANIFEST_MAX_BYTES");
        free(buf);
        return NULL;
    }
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: yaml2json FILE.yaml...\n"
              "prints [{\"file\": FILE, \"docs\": [...]}, ...] as JSON\n",
              stderr);
        return 2;
    }
    cJSON *out = cJSON_CreateArray();
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        size_t len = 0;
        char *data = yaml2json_read_file(argv[i], &len);
        if (data == NULL) {
            rc = 1;
            break;
        }
        struct err err = {0};
        cJSON *docs = manifest_parse(data, len, &err);
        free(data);
        if (docs == NULL) {
            fprintf(stderr, "yaml2json: %s: %s\n", argv[i], err.msg);
            rc = 1;
            break;
        }
        cJSON *entry = cJSON_CreateObject();
        cJSON_AddStringToObject(entry, "file", argv[i]);
        cJSON_AddItemToObject(entry, "docs", docs);
        cJSON_AddItemToArray(out, entry);
    }
    if (rc == 0) {
        char *s = cJSON_PrintUnformatted(out);
        if (s == NULL) {
            fputs("yaml2json: out of memory\n", stderr);
            rc = 1;
        } else {
            puts(s);
            free(s);
        }
    }
    cJSON_Delete(out);
    return rc;
}
