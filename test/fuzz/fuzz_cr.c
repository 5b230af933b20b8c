/* fuzz_cr.c -- arbitrary JSON into cr_from_json; when it is read, the status survives a round
 * trip through cr_status_to_json and cr_from_json unchanged, and the condition helpers keep the
 * object consistent. */
#include "base/mem.h"
#include "decide/cr.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_cr: invariant violated: %s\n", what);
        abort();
    }
}

static char *status_text(const struct cr *cr)
{
    cJSON *s = cr_status_to_json(cr);
    check(s != NULL, "status object");
    char *t = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    check(t != NULL, "status prints");
    return t;
}

/* Every field the pipeline reads without checking is set. */
static void check_read(const struct cr *cr)
{
    check(cr->name != NULL && cr->name[0] != '\0', "name set");
    check(cr->namespace != NULL && cr->namespace[0] != '\0', "namespace set");
    check(cr->annotations != NULL && cJSON_IsObject(cr->annotations), "annotations object");
    check(cr->issuer_group != NULL, "issuer_group set");
    check(cr->issuer_kind != NULL && cr->issuer_kind[0] != '\0', "issuer_kind set");
    check(cr->issuer_name != NULL, "issuer_name set");
    check(cr->spec_error != NULL || cr->request_b64 != NULL, "request or a spec error");
    check(cr->request_b64 == NULL || strlen(cr->request_b64) <= CR_MAX_REQUEST_B64,
          "request within its limit");
    check(cr->n_conds <= CR_MAX_CONDITIONS, "conditions within the limit");
    for (size_t i = 0; i < cr->n_conds; i++)
        check(cr->conds[i].type != NULL, "condition type set");
    check(cr->duration_s >= 0, "duration not negative");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *obj = cJSON_ParseWithLength((const char *)data, size);
    if (obj == NULL)
        return 0;
    struct cr cr;
    struct err e = {0};
    if (cr_from_json(obj, &cr, &e) != 0) {
        check(e.kind == ERR_INVALID, "failures are ERR_INVALID");
        check(e.msg[0] != '\0', "failures say why");
        cr_free(&cr);
        cJSON_Delete(obj);
        return 0;
    }
    check_read(&cr);

    /* round trip: the status written back reads as the same status */
    char *first = status_text(&cr);
    cJSON *copy = cJSON_Duplicate(obj, 1);
    /* cJSON keeps duplicate keys: drop every "status" */
    while (cJSON_GetObjectItemCaseSensitive(copy, "status") != NULL)
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "status");
    cJSON_AddItemToObject(copy, "status", cJSON_Parse(first));
    struct cr again;
    check(cr_from_json(copy, &again, &e) == 0, "a written status reads back");
    char *second = status_text(&again);
    check(strcmp(first, second) == 0, "status round trip is stable");
    free(second);
    cr_free(&again);
    cJSON_Delete(copy);

    /* the helpers keep it consistent */
    size_t n = cr.n_conds;
    bool had_ready = cr_condition(&cr, "Ready") != NULL;
    cr_set_condition(&cr, "Ready", "False", "Pending", "fuzz", 1735689600);
    const struct cr_condition *r = cr_condition(&cr, "Ready");
    if (had_ready || n < CR_MAX_CONDITIONS) {
        check(r != NULL, "Ready set");
        check(strcmp(r->status, "False") == 0 && strcmp(r->reason, "Pending") == 0, "Ready value");
        check(r->last_transition_time != NULL, "Ready has a time");
        check(cr.n_conds == n + (had_ready ? 0 : 1), "one condition per type");
    }
    cr_set_status_field(&cr.failure_time, "2025-01-01T00:00:00Z");
    char *third = status_text(&cr);
    cJSON *parsed = cJSON_Parse(third);
    check(parsed != NULL, "status JSON parses");
    cJSON_Delete(parsed);
    free(third);
    cr_clear_status(&cr);
    check(cr.n_conds == 0 && cr.certificate == NULL && cr.ca == NULL && cr.failure_time == NULL,
          "cleared");

    free(first);
    cr_free(&cr);
    cJSON_Delete(obj);
    return 0;
}
