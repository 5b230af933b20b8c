/* issuer.c -- Issuer and ClusterIssuer: spec, signer, readiness. */
#include "issuer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

static int issuer_check_keys(const cJSON *obj, const char *path, const char *const *allowed,
                             struct err *err)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, obj)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL; i++)
            ok = ok || strcmp(c->string, allowed[i]) == 0;
        if (!ok) {
            err_set(err, ERR_INVALID, "%s.%.64s: unknown field", path, c->string);
            return -1;
        }
    }
    return 0;
}

static int issuer_read_string(const cJSON *obj, const char *key, const char *path, bool required,
                              char **out, struct err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v == NULL || cJSON_IsNull(v)) {
        if (required) {
            err_set(err, ERR_INVALID, "%s.%s is required", path, key);
            return -1;
        }
        return 0;
    }
    if (!cJSON_IsString(v)) {
        err_set(err, ERR_INVALID, "%s.%s must be a string", path, key);
        return -1;
    }
    if (required && v->valuestring[0] == '\0') {
        err_set(err, ERR_INVALID, "%s.%s must not be empty", path, key);
        return -1;
    }
    *out = xstrdup(v->valuestring);
    return 0;
}

static int issuer_read_spec(struct issuer *is, const cJSON *spec, struct err *err)
{
    static const char *const spec_keys[] = {"defaultPolicy", "ca", "vault", NULL};
    static const char *const ca_keys[] = {"secretName", NULL};
    if (issuer_check_keys(spec, "spec", spec_keys, err) != 0)
        return -1;
    if (issuer_read_string(spec, "defaultPolicy", "spec", false, &is->default_policy, err) != 0)
        return -1;
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(spec, "ca");
    const cJSON *vault = cJSON_GetObjectItemCaseSensitive(spec, "vault");
    if ((ca != NULL) == (vault != NULL)) {
        err_set(err, ERR_INVALID, "spec must set exactly one signer: ca or vault");
        return -1;
    }
    if (ca != NULL) {
        if (!cJSON_IsObject(ca)) {
            err_set(err, ERR_INVALID, "spec.ca must be an object");
            return -1;
        }
        if (issuer_check_keys(ca, "spec.ca", ca_keys, err) != 0)
            return -1;
        is->signer_kind = ISSUER_SIGNER_CA;
        return issuer_read_string(ca, "secretName", "spec.ca", true, &is->ca_secret_name, err);
    }
    if (!cJSON_IsObject(vault)) {
        err_set(err, ERR_INVALID, "spec.vault must be an object");
        return -1;
    }
    is->signer_kind = ISSUER_SIGNER_VAULT;
    return 0;
}

struct issuer *issuer_from_json(const cJSON *obj, struct err *err)
{
    const cJSON *api = cJSON_GetObjectItemCaseSensitive(obj, "apiVersion");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    if (!cJSON_IsString(api) || strcmp(api->valuestring, ISSUER_API_VERSION) != 0) {
        err_set(err, ERR_INVALID, "apiVersion must be %s", ISSUER_API_VERSION);
        return NULL;
    }
    if (!cJSON_IsString(kind) || (strcmp(kind->valuestring, "Issuer") != 0 &&
                                  strcmp(kind->valuestring, "ClusterIssuer") != 0)) {
        err_set(err, ERR_INVALID, "kind must be Issuer or ClusterIssuer");
        return NULL;
    }
    bool cluster = strcmp(kind->valuestring, "ClusterIssuer") == 0;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(meta, "generation");
    if (!cJSON_IsString(name) || name->valuestring[0] == '\0') {
        err_set(err, ERR_INVALID, "metadata.name is required");
        return NULL;
    }
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    if (!cJSON_IsObject(spec)) {
        err_set(err, ERR_INVALID, "%s %s: spec is required", kind->valuestring, name->valuestring);
        return NULL;
    }
    struct issuer *is = xcalloc(1, sizeof(*is));
    is->refs = 1;
    is->kind = xstrdup(kind->valuestring);
    is->name = xstrdup(name->valuestring);
    is->namespace = xstrdup(cluster ? ""
                            : cJSON_IsString(ns) && ns->valuestring[0] ? ns->valuestring
                                                                       : "default");
    is->generation = cJSON_IsNumber(gen) ? (long long)gen->valuedouble : 1;
    if (issuer_read_spec(is, spec, err) != 0) {
        char ref[512];
        issuer_format_ref(is, ref, sizeof(ref));
        err_prefix(err, "%s", ref);
        issuer_unref(is);
        return NULL;
    }
    issuer_set_not_ready(is, "Pending", "the signer has not been loaded yet");
    return is;
}

void issuer_format_ref(const struct issuer *is, char *out, size_t outlen)
{
    if (is->namespace[0] == '\0')
        snprintf(out, outlen, "%s/%s", is->kind, is->name);
    else
        snprintf(out, outlen, "%s/%s/%s", is->kind, is->namespace, is->name);
}

const char *issuer_secret_namespace(const struct issuer *is, const char *cluster_ns)
{
    return is->namespace[0] != '\0' ? is->namespace : cluster_ns;
}

void issuer_set_signer(struct issuer *is, struct signer s)
{
    if (is->signer.ops != NULL)
        is->signer.ops->free(is->signer.ctx);
    is->signer = s;
    is->ready = true;
    snprintf(is->reason, sizeof(is->reason), "Checked");
    snprintf(is->message, sizeof(is->message), "Succeeded checking the issuer");
}

void issuer_set_not_ready(struct issuer *is, const char *reason, const char *fmt, ...)
{
    is->ready = false;
    snprintf(is->reason, sizeof(is->reason), "%s", reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(is->message, sizeof(is->message), fmt, ap);
    va_end(ap);
}

struct issuer *issuer_ref(struct issuer *is)
{
    __atomic_add_fetch(&is->refs, 1, __ATOMIC_RELAXED);
    return is;
}

void issuer_unref(struct issuer *is)
{
    if (is == NULL || __atomic_sub_fetch(&is->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (is->signer.ops != NULL)
        is->signer.ops->free(is->signer.ctx);
    free(is->kind);
    free(is->namespace);
    free(is->name);
    free(is->default_policy);
    free(is->ca_secret_name);
    free(is);
}
