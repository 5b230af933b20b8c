/* cr.c -- cert-manager CertificateRequest: read from JSON, status to JSON. */
#include "decide/cr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/duration.h"
#include "base/jsonfield.h"
#include "base/mem.h"
#include "base/timefmt.h"

static char *cr_dup_string(const cJSON *parent, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(parent, key);
    return cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
}

static void cr_spec_error(struct cr *cr, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void cr_spec_error(struct cr *cr, const char *fmt, ...)
{
    if (cr->spec_error != NULL)
        return; /* the first problem is the one to fix first */
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cr->spec_error = xstrdup(msg);
}

/* Records "PATH: expected WANT, got TYPE" (base/jsonfield's shape) as the spec's error. */
static void cr_spec_expected(struct cr *cr, const char *path, const char *want, const cJSON *got)
{
    struct err e = {0};
    (void)jsonfield_expected(path, want, got, &e);
    cr_spec_error(cr, "%s", e.msg);
}

/* spec.username and spec.groups into cr->requester (see cr.h). */
static void cr_read_requester(struct cr *cr, const cJSON *spec)
{
    struct err e = {0};
    const char *user = NULL;
    if (jsonfield_string(spec, "spec", "username", &user, &e) != 0) {
        cr_spec_error(cr, "%s", e.msg);
        return;
    }
    if (user == NULL)
        return;
    if (strlen(user) > CR_MAX_USER_NAME) {
        cr_spec_error(cr, "spec.username is longer than %d bytes", CR_MAX_USER_NAME);
        return;
    }
    if (user[0] == '\0')
        return;
    const cJSON *groups = NULL;
    if (jsonfield_array(spec, "spec", "groups", &groups, &e) != 0) {
        cr_spec_error(cr, "%s", e.msg);
        return;
    }
    if (groups != NULL) {
        int i = 0;
        const cJSON *g;
        cJSON_ArrayForEach(g, groups)
        {
            if (!cJSON_IsString(g)) {
                char path[32];
                snprintf(path, sizeof(path), "spec.groups[%d]", i);
                cr_spec_expected(cr, path, "a string", g);
                strv_free(&cr->requester.groups);
                return;
            }
            if (strlen(g->valuestring) > CR_MAX_USER_NAME) {
                cr_spec_error(cr, "spec.groups[%d] is longer than %d bytes", i, CR_MAX_USER_NAME);
                strv_free(&cr->requester.groups);
                return;
            }
            if (cr->requester.groups.n < CALLER_MAX_NAMES)
                strv_push(&cr->requester.groups, g->valuestring);
            i++;
        }
    }
    cr->requester.method = CALLER_CERT_MANAGER;
    cr->requester.username = xstrdup(user);
}

static void cr_read_spec(struct cr *cr, const cJSON *spec)
{
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(spec, "issuerRef");
    if (cJSON_IsObject(ref)) {
        cr->issuer_group = cr_dup_string(ref, "group");
        cr->issuer_kind = cr_dup_string(ref, "kind");
        cr->issuer_name = cr_dup_string(ref, "name");
    }
    if (cr->issuer_group == NULL)
        cr->issuer_group = xstrdup("");
    if (cr->issuer_kind == NULL || cr->issuer_kind[0] == '\0') {
        free(cr->issuer_kind);
        cr->issuer_kind = xstrdup("Issuer");
    }
    if (cr->issuer_name == NULL || cr->issuer_name[0] == '\0') {
        free(cr->issuer_name);
        cr->issuer_name = xstrdup("");
        cr_spec_error(cr, "spec.issuerRef.name is required");
    }

    const cJSON *req = cJSON_GetObjectItemCaseSensitive(spec, "request");
    if (!cJSON_IsString(req) || req->valuestring[0] == '\0')
        cr_spec_error(cr, "spec.request is required (base64 of a PEM CSR)");
    else if (strlen(req->valuestring) > CR_MAX_REQUEST_B64)
        cr_spec_error(cr, "spec.request is larger than %d bytes", CR_MAX_REQUEST_B64);
    else
        cr->request_b64 = xstrdup(req->valuestring);

    struct err e = {0};
    const cJSON *dur = jsonfield_get(spec, "duration");
    if (dur != NULL) {
        if (!cJSON_IsString(dur))
            cr_spec_expected(cr, "spec.duration", "a string such as \"2160h\"", dur);
        else if (duration_parse_go(dur->valuestring, &cr->duration_s, &e) != 0)
            cr_spec_error(cr, "spec.duration: %s", e.msg);
        else if (cr->duration_s == 0)
            cr_spec_error(cr, "spec.duration must be positive");
    }

    if (jsonfield_bool(spec, "spec", "isCA", &cr->is_ca, &e) != 0)
        cr_spec_error(cr, "%s", e.msg);

    const cJSON *usages = jsonfield_get(spec, "usages");
    if (usages != NULL) {
        if (!cJSON_IsArray(usages)) {
            cr_spec_expected(cr, "spec.usages", "a list of usage names", usages);
        } else {
            int i = 0;
            const cJSON *u;
            cJSON_ArrayForEach(u, usages)
            {
                int bit = cJSON_IsString(u) ? usage_from_name(u->valuestring) : -1;
                if (bit < 0) {
                    cr_spec_error(cr, "spec.usages[%d]: unknown usage %s%.64s%s", i,
                                  cJSON_IsString(u) ? "\"" : "",
                                  cJSON_IsString(u) ? u->valuestring : "(not a string)",
                                  cJSON_IsString(u) ? "\"" : "");
                    break;
                }
                cr->usages |= USAGE_BIT(bit);
                i++;
            }
        }
    }
    cr_read_requester(cr, spec);
}

/* A new, zeroed condition at the end of the list. */
static struct cr_condition *cr_add_condition(struct cr *cr)
{
    if (cr->n_conds == cr->cap_conds) {
        cr->cap_conds = cr->cap_conds ? cr->cap_conds * 2 : 4;
        cr->conds = xrealloc(cr->conds, cr->cap_conds * sizeof(*cr->conds));
    }
    struct cr_condition *c = &cr->conds[cr->n_conds++];
    memset(c, 0, sizeof(*c));
    return c;
}

static int cr_read_status(struct cr *cr, const cJSON *status, struct err *err)
{
    const cJSON *conds = cJSON_GetObjectItemCaseSensitive(status, "conditions");
    if (cJSON_IsArray(conds)) {
        const cJSON *c;
        cJSON_ArrayForEach(c, conds)
        {
            char *type = cr_dup_string(c, "type");
            if (type == NULL)
                continue;
            if (cr->n_conds == CR_MAX_CONDITIONS) {
                free(type);
                err_set(err, ERR_INVALID, "status.conditions: more than %d conditions",
                        CR_MAX_CONDITIONS);
                return -1;
            }
            struct cr_condition *dst = cr_add_condition(cr);
            dst->type = type;
            dst->status = cr_dup_string(c, "status");
            dst->reason = cr_dup_string(c, "reason");
            dst->message = cr_dup_string(c, "message");
            dst->last_transition_time = cr_dup_string(c, "lastTransitionTime");
        }
    }
    cr->certificate = cr_dup_string(status, "certificate");
    cr->ca = cr_dup_string(status, "ca");
    cr->failure_time = cr_dup_string(status, "failureTime");
    return 0;
}

int cr_from_json(const cJSON *obj, struct cr *cr, struct err *err)
{
    memset(cr, 0, sizeof(*cr));
    if (!cJSON_IsObject(obj)) {
        err_set(err, ERR_INVALID, "a CertificateRequest must be a JSON or YAML object");
        return -1;
    }
    const cJSON *api = cJSON_GetObjectItemCaseSensitive(obj, "apiVersion");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    bool api_ok =
        api == NULL || (cJSON_IsString(api) && strcmp(api->valuestring, CR_API_VERSION) == 0);
    bool kind_ok =
        kind == NULL || (cJSON_IsString(kind) && strcmp(kind->valuestring, CR_KIND) == 0);
    if (!api_ok || !kind_ok) {
        err_set(err, ERR_INVALID, "expected apiVersion %s, kind %s; got %.64s %.64s",
                CR_API_VERSION, CR_KIND, cJSON_IsString(api) ? api->valuestring : "(none)",
                cJSON_IsString(kind) ? kind->valuestring : "(none)");
        return -1;
    }
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    cr->name = cr_dup_string(meta, "name");
    if (cr->name == NULL || cr->name[0] == '\0') {
        err_set(err, ERR_INVALID, "metadata.name is required");
        return -1;
    }
    cr->namespace = cr_dup_string(meta, "namespace");
    if (cr->namespace == NULL || cr->namespace[0] == '\0') {
        free(cr->namespace);
        cr->namespace = xstrdup("default");
    }
    cr->uid = cr_dup_string(meta, "uid");
    cr->resource_version = cr_dup_string(meta, "resourceVersion");
    cr->creation_timestamp = cr_dup_string(meta, "creationTimestamp");
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(meta, "annotations");
    cr->annotations = cJSON_IsObject(ann) ? cJSON_Duplicate(ann, 1) : cJSON_CreateObject();

    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    if (!cJSON_IsObject(spec)) {
        err_set(err, ERR_INVALID, "spec is required");
        return -1;
    }
    cr_read_spec(cr, spec);
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(obj, "status");
    if (cJSON_IsObject(status) && cr_read_status(cr, status, err) != 0)
        return -1;
    return 0;
}

static void cr_condition_free(struct cr_condition *c)
{
    free(c->type);
    free(c->status);
    free(c->reason);
    free(c->message);
    free(c->last_transition_time);
    memset(c, 0, sizeof(*c));
}

void cr_clear_status(struct cr *cr)
{
    for (size_t i = 0; i < cr->n_conds; i++)
        cr_condition_free(&cr->conds[i]);
    cr->n_conds = 0;
    cr_set_status_field(&cr->certificate, NULL);
    cr_set_status_field(&cr->ca, NULL);
    cr_set_status_field(&cr->failure_time, NULL);
    cr_set_status_field(&cr->chain_pem, NULL);
}

void cr_free(struct cr *cr)
{
    free(cr->name);
    free(cr->namespace);
    free(cr->uid);
    free(cr->resource_version);
    free(cr->creation_timestamp);
    cJSON_Delete(cr->annotations);
    free(cr->issuer_group);
    free(cr->issuer_kind);
    free(cr->issuer_name);
    free(cr->request_b64);
    free(cr->request_pem);
    free(cr->spec_error);
    caller_free(&cr->requester);
    cr_clear_status(cr);
    free(cr->conds);
    memset(cr, 0, sizeof(*cr));
}

static char *cr_dup_or_null(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

void cr_copy(struct cr *dst, const struct cr *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->name = cr_dup_or_null(src->name);
    dst->namespace = cr_dup_or_null(src->namespace);
    dst->uid = cr_dup_or_null(src->uid);
    dst->resource_version = cr_dup_or_null(src->resource_version);
    dst->creation_timestamp = cr_dup_or_null(src->creation_timestamp);
    dst->annotations = src->annotations != NULL ? cJSON_Duplicate(src->annotations, 1) : NULL;
    dst->issuer_group = cr_dup_or_null(src->issuer_group);
    dst->issuer_kind = cr_dup_or_null(src->issuer_kind);
    dst->issuer_name = cr_dup_or_null(src->issuer_name);
    dst->request_b64 = cr_dup_or_null(src->request_b64);
    dst->request_pem = cr_dup_or_null(src->request_pem);
    dst->duration_s = src->duration_s;
    dst->is_ca = src->is_ca;
    dst->usages = src->usages;
    caller_copy(&dst->requester, &src->requester);
    dst->spec_error = cr_dup_or_null(src->spec_error);
    for (size_t i = 0; i < src->n_conds; i++) {
        const struct cr_condition *c = &src->conds[i];
        struct cr_condition *d = cr_add_condition(dst);
        d->type = cr_dup_or_null(c->type);
        d->status = cr_dup_or_null(c->status);
        d->reason = cr_dup_or_null(c->reason);
        d->message = cr_dup_or_null(c->message);
        d->last_transition_time = cr_dup_or_null(c->last_transition_time);
    }
    dst->certificate = cr_dup_or_null(src->certificate);
    dst->ca = cr_dup_or_null(src->ca);
    dst->chain_pem = cr_dup_or_null(src->chain_pem);
    dst->failure_time = cr_dup_or_null(src->failure_time);
}

void cr_keep_annotations(struct cr *cr, const char *const *keys, size_t n)
{
    cJSON *kept = cJSON_CreateObject();
    for (size_t i = 0; i < n; i++) {
        cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(cr->annotations, keys[i]);
        if (v != NULL && cJSON_GetObjectItemCaseSensitive(kept, keys[i]) == NULL)
            cJSON_AddItemToObject(kept, keys[i], v);
        else
            cJSON_Delete(v);
    }
    cJSON_Delete(cr->annotations);
    cr->annotations = kept;
}

bool cr_issuer_ref(const char *kind, const char *ns, const char *name, char *out, size_t len)
{
    bool cut = strlen(name) > CR_REF_PART_MAX;
    int n;
    if (strcmp(kind, "ClusterIssuer") == 0) {
        n = snprintf(out, len, "ClusterIssuer/%.*s", CR_REF_PART_MAX, name);
    } else {
        cut = cut || strlen(ns) > CR_REF_PART_MAX;
        n = snprintf(out, len, "Issuer/%.*s/%.*s", CR_REF_PART_MAX, ns, CR_REF_PART_MAX, name);
    }
    return !cut && n >= 0 && (size_t)n < len;
}

const char *cr_annotation(const struct cr *cr, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cr->annotations, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const struct cr_condition *cr_condition(const struct cr *cr, const char *type)
{
    for (size_t i = 0; i < cr->n_conds; i++)
        if (strcmp(cr->conds[i].type, type) == 0)
            return &cr->conds[i];
    return NULL;
}

bool cr_condition_true(const struct cr *cr, const char *type)
{
    const struct cr_condition *c = cr_condition(cr, type);
    return c != NULL && c->status != NULL && strcmp(c->status, "True") == 0;
}

void cr_set_condition(struct cr *cr, const char *type, const char *status, const char *reason,
                      const char *message, time_t now)
{
    struct cr_condition *c = (struct cr_condition *)cr_condition(cr, type);
    char ts[TIMEFMT_LEN];
    timefmt_rfc3339(now, ts);
    if (c == NULL) {
        c = cr_add_condition(cr);
        c->type = xstrdup(type);
    }
    if (c->status == NULL || strcmp(c->status, status) != 0 || c->last_transition_time == NULL) {
        free(c->last_transition_time);
        c->last_transition_time = xstrdup(ts);
    }
    free(c->status);
    free(c->reason);
    free(c->message);
    c->status = xstrdup(status);
    c->reason = xstrdup(reason);
    c->message = xstrdup(message);
}

void cr_set_status_field(char **field, const char *value)
{
    free(*field);
    *field = value ? xstrdup(value) : NULL;
}

static void cr_add_string(cJSON *obj, const char *key, const char *value)
{
    if (value != NULL)
        cJSON_AddStringToObject(obj, key, value);
}

cJSON *cr_status_to_json(const struct cr *cr)
{
    cJSON *status = cJSON_CreateObject();
    cJSON *conds = cJSON_AddArrayToObject(status, "conditions");
    for (size_t i = 0; i < cr->n_conds; i++) {
        const struct cr_condition *c = &cr->conds[i];
        cJSON *o = cJSON_CreateObject();
        cr_add_string(o, "type", c->type);
        cr_add_string(o, "status", c->status);
        cr_add_string(o, "reason", c->reason);
        cr_add_string(o, "message", c->message);
        cr_add_string(o, "lastTransitionTime", c->last_transition_time);
        cJSON_AddItemToArray(conds, o);
    }
    cr_add_string(status, "certificate", cr->certificate);
    cr_add_string(status, "ca", cr->ca);
    cr_add_string(status, "failureTime", cr->failure_time);
    return status;
}
