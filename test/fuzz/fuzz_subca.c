/* fuzz_subca.c -- the two parsers of the Vault sub-CA mode on arbitrary bytes: Vault's
 * sign-intermediate answer (subcaspec_read_answer: a clear ERR_INVALID, or a certificate and at
 * most SUBCASPEC_MAX_CHAIN in all) and spec.vault.subCA (subcaspec_parse: a clear ERR_INVALID,
 * or a spec whose durations keep the rules it documents). */
#include "signers/subcaspec.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_answer(const char *s, size_t n)
{
    struct subcaspec_answer a;
    struct err err = {0};
    int rc = subcaspec_read_answer(s, n, &a, &err);
    if (rc != 0) {
        if (rc != -1 || err.msg[0] == '\0')
            abort();
    } else {
        int up = a.upstream != NULL ? sk_X509_num(a.upstream) : 0;
        int roots = a.roots != NULL ? sk_X509_num(a.roots) : 0;
        if (a.cert == NULL || up + roots + 1 > SUBCASPEC_MAX_CHAIN + 1 ||
            memchr(a.warnings, '\0', sizeof(a.warnings)) == NULL)
            abort();
    }
    subcaspec_answer_free(&a);
}

static void fuzz_spec(const char *s, size_t n)
{
    cJSON *obj = cJSON_ParseWithLength(s, n);
    if (obj == NULL)
        return;
    struct subca_spec *spec = NULL;
    struct err err = {0};
    if (subcaspec_parse(obj, &spec, &err) != 0) {
        if (spec != NULL || err.msg[0] == '\0')
            abort();
    } else if (spec != NULL) { /* NULL: enabled: false */
        if (spec->max_leaf_s <= 0 || spec->max_leaf_s >= spec->duration_s ||
            spec->renew_before_s < spec->max_leaf_s || spec->renew_before_s >= spec->duration_s ||
            spec->path == NULL || spec->cn_prefix == NULL || spec->cn_prefix[0] == '\0')
            abort();
        subcaspec_free(spec);
    }
    cJSON_Delete(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_answer((const char *)data, size);
    fuzz_spec((const char *)data, size);
    return 0;
}
