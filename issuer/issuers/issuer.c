/* issuer.c -- Issuer and ClusterIssuer: spec, signer, readiness. */
#include "issuers/issuer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/b64.h"
#include "base/jsonfield.h"
#include "base/mem.h"
#include "issuers/secret.h"
#include "signers/localca.h"
#include "signers/vault.h"

/* The members of each object of an Issuer's spec, cert-manager's names for spec.vault. */
static const struct jsonfield issuer_spec_fields[] = {
    {.name = "defaultPolicy", .type = JSONFIELD_STRING},
    {.name = "ca", .type = JSONFIELD_OBJECT},
    {.name = "vault", .type = JSONFIELD_OBJECT},
    {0},
};
static const struct jsonfield issuer_ca_fields[] = {
    {.name = "secretName", .type = JSONFIELD_STRING, .required = true},
    {0},
};
static const struct jsonfield issuer_vault_fields[] = {
    {.name = "server", .type = JSONFIELD_STRING},
    {.name = "path", .type = JSONFIELD_STRING},
    {.name = "namespace", .type = JSONFIELD_STRING},
    {.name = "caBundle", .type = JSONFIELD_STRING},
    {.name = "caBundleSecretRef", .type = JSONFIELD_OBJECT},
    {.name = "auth", .type = JSONFIELD_OBJECT},
    {0},
};
static const struct jsonfield issuer_bundle_ref_fields[] = {
    {.name = "name", .type = JSONFIELD_STRING, .required = true},
    {.name = "key", .type = JSONFIELD_STRING},
    {0},
};
static const struct jsonfield issuer_auth_fields[] = {
    {.name = "appRole", .type = JSONFIELD_OBJECT},
    {0},
};
static const struct jsonfield issuer_approle_fields[] = {
    {.name = "path", .type = JSONFIELD_STRING},
    {.name = "roleId", .type = JSONFIELD_STRING},
    {.name = "secretRef", .type = JSONFIELD_OBJECT},
    {0},
};
static const struct jsonfield issuer_secret_ref_fields[] = {
    {.name = "name", .type = JSONFIELD_STRING},
    {.name = "key", .type = JSONFIELD_STRING},
    {0},
};

/* A copy of the string member key of obj into *out; absent leaves *out NULL. */
static int issuer_read_string(const cJSON *obj, const char *path, const char *key, char **out,
                              struct err *err)
{
    const char *s;
    if (jsonfield_string(obj, path, key, &s, err) != 0)
        return -1;
    if (s != NULL)
        *out = xstrdup(s);
    return 0;
}

/* spec.vault.caBundle or spec.vault.caBundleSecretRef (at most one of them). */
static int issuer_read_bundle(struct issuer_vault *v, const cJSON *vault, struct err *err)
{
    char *bundle = NULL;
    if (issuer_read_string(vault, "spec.vault", "caBundle", &bundle, err) != 0)
        return -1;
    const cJSON *bref = jsonfield_get(vault, "caBundleSecretRef");
    if (bundle != NULL && bref != NULL) {
        free(bundle);
        err_set(err, ERR_INVALID,
                "specified caBundle and caBundleSecretRef cannot be used together");
        return -1;
    }
    if (bundle != NULL) {
        int rc = b64_decode(bundle, strlen(bundle), ISSUER_MAX_CA_BUNDLE, &v->ca_bundle,
                            &v->ca_bundle_len, err);
        free(bundle);
        if (rc != 0) {
            err_prefix(err, "spec.vault.caBundle");
            return -1;
        }
    }
    if (bref != NULL) {
        if (jsonfield_check(bref, "spec.vault.caBundleSecretRef", issuer_bundle_ref_fields, 0,
                            err) != 0 ||
            issuer_read_string(bref, "spec.vault.caBundleSecretRef", "name",
                               &v->ca_bundle_secret_name, err) != 0 ||
            issuer_read_string(bref, "spec.vault.caBundleSecretRef", "key",
                               &v->ca_bundle_secret_key, err) != 0)
            return -1;
        if (v->ca_bundle_secret_key == NULL)
            v->ca_bundle_secret_key = xstrdup("ca.crt");
    }
    return 0;
}

/* spec.vault.auth: AppRole, the one method Ember supports. */
static int issuer_read_approle(struct issuer_vault *v, const cJSON *vault, struct err *err)
{
    static const char *const unsupported[] = {"tokenSecretRef", "kubernetes", "clientCertificate",
                                              "aws", NULL};
    const cJSON *auth = jsonfield_get(vault, "auth");
    const cJSON *approle = jsonfield_get(auth, "appRole");
    for (size_t i = 0; unsupported[i] != NULL; i++) {
        if (cJSON_GetObjectItemCaseSensitive(auth, unsupported[i]) != NULL) {
            err_set(err, ERR_INVALID,
                    "spec.vault.auth.%s: Ember supports AppRole only (spec.vault.auth.appRole)",
                    unsupported[i]);
            return -1;
        }
    }
    if (approle == NULL) {
        err_set(err, ERR_INVALID, "Vault appRole auth is required (spec.vault.auth.appRole)");
        return -1;
    }
    const cJSON *sref = jsonfield_get(approle, "secretRef");
    if (jsonfield_check(auth, "spec.vault.auth", issuer_auth_fields, 0, err) != 0 ||
        jsonfield_check(approle, "spec.vault.auth.appRole", issuer_approle_fields, 0, err) != 0 ||
        issuer_read_string(approle, "spec.vault.auth.appRole", "path", &v->approle_path, err) !=
            0 ||
        issuer_read_string(approle, "spec.vault.auth.appRole", "roleId", &v->role_id, err) != 0)
        return -1;
    if (sref != NULL && (jsonfield_check(sref, "spec.vault.auth.appRole.secretRef",
                                         issuer_secret_ref_fields, 0, err) != 0 ||
                         issuer_read_string(sref, "spec.vault.auth.appRole.secretRef", "name",
                                            &v->secret_name, err) != 0 ||
                         issuer_read_string(sref, "spec.vault.auth.appRole.secretRef", "key",
                                            &v->secret_key, err) != 0))
        return -1;
    if (v->role_id == NULL || v->role_id[0] == '\0' || v->secret_name == NULL ||
        v->secret_name[0] == '\0') {
        err_set(err, ERR_INVALID, "Vault AppRole auth requires both roleId and secretRef.name");
        return -1;
    }
    if (v->secret_key == NULL || v->secret_key[0] == '\0') {
        err_set(err, ERR_INVALID, "Vault AppRole auth requires secretRef.key");
        return -1;
    }
    if (v->approle_path == NULL || v->approle_path[0] == '\0') {
        free(v->approle_path);
        v->approle_path = xstrdup("approle");
    }
    return 0;
}

/* spec.vault, with cert-manager's Vault issuer messages where they apply. */
static int issuer_read_vault(struct issuer *is, const cJSON *vault, struct err *err)
{
    struct issuer_vault *v = &is->vault;
    if (jsonfield_check(vault, "spec.vault", issuer_vault_fields, 0, err) != 0 ||
        issuer_read_string(vault, "spec.vault", "server", &v->server, err) != 0 ||
        issuer_read_string(vault, "spec.vault", "path", &v->path, err) != 0 ||
        issuer_read_string(vault, "spec.vault", "namespace", &v->namespace, err) != 0)
        return -1;
    if (v->server == NULL || v->server[0] == '\0' || v->path == NULL || v->path[0] == '\0') {
        err_set(err, ERR_INVALID, "Vault server and path are required fields");
        return -1;
    }
    if (strncmp(v->server, "https://", 8) != 0 && strncmp(v->server, "http://", 7) != 0) {
        err_set(err, ERR_INVALID, "spec.vault.server must be an https:// URL, not \"%.200s\"",
                v->server);
        return -1;
    }
    if (v->path[0] == '/') {
        err_set(err, ERR_INVALID,
                "spec.vault.path is used after /v1/: write \"pki_int/sign/ROLE\", not \"%.200s\"",
                v->path);
        return -1;
    }
    if (issuer_read_bundle(v, vault, err) != 0)
        return -1;
    return issuer_read_approle(v, vault, err);
}

static int issuer_read_spec(struct issuer *is, const cJSON *spec, struct err *err)
{
    if (jsonfield_check(spec, "spec", issuer_spec_fields, 0, err) != 0 ||
        issuer_read_string(spec, "spec", "defaultPolicy", &is->default_policy, err) != 0)
        return -1;
    const cJSON *ca = jsonfield_get(spec, "ca");
    const cJSON *vault = jsonfield_get(spec, "vault");
    if ((ca != NULL) == (vault != NULL)) {
        err_set(err, ERR_INVALID, "spec must set exactly one signer: ca or vault");
        return -1;
    }
    if (ca != NULL) {
        if (jsonfield_check(ca, "spec.ca", issuer_ca_fields, 0, err) != 0)
            return -1;
        is->signer_kind = ISSUER_SIGNER_CA;
        return issuer_read_string(ca, "spec.ca", "secretName", &is->ca_secret_name, err);
    }
    is->signer_kind = ISSUER_SIGNER_VAULT;
    return issuer_read_vault(is, vault, err);
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
    pthread_mutex_init(&is->lock, NULL);
    is->kind = xstrdup(kind->valuestring);
    is->name = xstrdup(name->valuestring);
    is->namespace = xstrdup(cluster                                    ? ""
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
    issuer_set_ready(is);
}

void issuer_set_ready(struct issuer *is)
{
    pthread_mutex_lock(&is->lock);
    is->state.ready = true;
    snprintf(is->state.reason, sizeof(is->state.reason), "Checked");
    snprintf(is->state.message, sizeof(is->state.message), "Succeeded checking the issuer");
    pthread_mutex_unlock(&is->lock);
}

void issuer_set_not_ready(struct issuer *is, const char *reason, const char *fmt, ...)
{
    pthread_mutex_lock(&is->lock);
    is->state.ready = false;
    snprintf(is->state.reason, sizeof(is->state.reason), "%s", reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(is->state.message, sizeof(is->state.message), fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&is->lock);
}

void issuer_get_state(struct issuer *is, struct issuer_state *out)
{
    pthread_mutex_lock(&is->lock);
    *out = is->state;
    pthread_mutex_unlock(&is->lock);
}

bool issuer_is_ready(struct issuer *is)
{
    pthread_mutex_lock(&is->lock);
    bool ready = is->state.ready;
    pthread_mutex_unlock(&is->lock);
    return ready;
}

/* Where a Vault issuer's secret_id is read from at each login; owned by the issuer. */
struct issuer_secret_ref {
    struct issuer_secrets src;
    char *ns, *name, *key;
};

static void issuer_secret_ref_free(void *p)
{
    struct issuer_secret_ref *ref = p;
    if (ref == NULL)
        return;
    free(ref->ns);
    free(ref->name);
    free(ref->key);
    free(ref);
}

/* The value of one key of a Secret, or an error naming the Secret and what is wrong. */
static int issuer_secret_key(const struct issuer_secrets *src, const char *ns, const char *name,
                             const char *key, const char *field, char **out, size_t *len,
                             struct err *err)
{
    cJSON *secret = src->get(src->ud, ns, name, err);
    if (secret == NULL) {
        err_prefix(err, "Secret %s/%s (%s)", ns, name, field);
        return -1;
    }
    int rc = secret_value(secret, key, out, len, err);
    secret_delete(secret);
    if (rc != 0) {
        err_prefix(err, "Secret %s/%s", ns, name);
        err->kind = ERR_ISSUER_NOT_READY;
        return -1;
    }
    if (*out == NULL) {
        err_set(err, ERR_ISSUER_NOT_READY, "Secret %s/%s (%s) has no key %s", ns, name, field, key);
        return -1;
    }
    return 0;
}

/* vault_secret_fn: the AppRole secret_id, read again at each login. */
static int issuer_vault_secret(void *ud, char **out, size_t *len, struct err *err)
{
    const struct issuer_secret_ref *ref = ud;
    if (issuer_secret_key(&ref->src, ref->ns, ref->name, ref->key,
                          "spec.vault.auth.appRole.secretRef", out, len, err) != 0) {
        err->kind = ERR_ISSUER_NOT_READY;
        return -1;
    }
    /* Secrets written by hand often end in a newline; Vault compares the exact string. */
    while (*len > 0 &&
           ((*out)[*len - 1] == '\n' || (*out)[*len - 1] == '\r' || (*out)[*len - 1] == ' '))
        (*out)[--*len] = '\0';
    return 0;
}

static void issuer_load_ca(struct issuer *is, const struct issuer_secrets *src, const char *ns,
                           time_t now)
{
    struct err e = {0};
    cJSON *secret = src->get(src->ud, ns, is->ca_secret_name, &e);
    if (secret == NULL) {
        issuer_set_not_ready(is, "Pending", "Secret %s/%s named by spec.ca.secretName: %s", ns,
                             is->ca_secret_name, e.msg[0] ? e.msg : "not found");
        return;
    }
    char *crt = NULL, *key = NULL, *ca = NULL;
    size_t crt_len = 0, key_len = 0, ca_len = 0;
    if (secret_value(secret, "tls.crt", &crt, &crt_len, &e) == 0 &&
        secret_value(secret, "tls.key", &key, &key_len, &e) == 0 &&
        secret_value(secret, "ca.crt", &ca, &ca_len, &e) == 0) {
        if (crt == NULL || key == NULL) {
            err_set(&e, ERR_INVALID, "it needs the keys tls.crt and tls.key");
        } else {
            struct localca *loaded = localca_load(crt, crt_len, key, key_len, ca, ca_len, now, &e);
            if (loaded != NULL)
                issuer_set_signer(is, localca_signer(loaded));
        }
    }
    secret_delete(secret);
    if (is->signer.ops == NULL)
        issuer_set_not_ready(is, "Pending", "Secret %s/%s: %s", ns, is->ca_secret_name, e.msg);
    xfree_secret(crt, crt_len);
    xfree_secret(key, key_len);
    xfree_secret(ca, ca_len);
}

static void issuer_load_vault(struct issuer *is, const struct issuer_secrets *src, const char *ns)
{
    const struct issuer_vault *v = &is->vault;
    char *bundle = NULL;
    size_t bundle_len = 0;
    struct err e = {0};
    if (v->ca_bundle_secret_name != NULL &&
        issuer_secret_key(src, ns, v->ca_bundle_secret_name, v->ca_bundle_secret_key,
                          "spec.vault.caBundleSecretRef", &bundle, &bundle_len, &e) != 0) {
        issuer_set_not_ready(is, "Pending", "%s", e.msg);
        return;
    }
    struct issuer_secret_ref *ref = xcalloc(1, sizeof(*ref));
    ref->src = *src;
    ref->ns = xstrdup(ns);
    ref->name = xstrdup(v->secret_name);
    ref->key = xstrdup(v->secret_key);
    char name[600], secret_name[600];
    issuer_format_ref(is, name, sizeof(name));
    snprintf(secret_name, sizeof(secret_name), "%s/%s", ns, v->secret_name);
    struct vault_config cfg = {
        .server = v->server,
        .path = v->path,
        .namespace = v->namespace,
        .ca_bundle_pem = bundle ? bundle : (const char *)v->ca_bundle,
        .ca_bundle_len = bundle ? bundle_len : v->ca_bundle_len,
        .approle_path = v->approle_path,
        .role_id = v->role_id,
        .secret_id = issuer_vault_secret,
        .secret_ud = ref,
        .secret_name = secret_name,
        .name = name,
    };
    struct vault *client = vault_new(&cfg, &e);
    free(bundle);
    if (client == NULL) {
        issuer_secret_ref_free(ref);
        issuer_set_not_ready(is, "Failed", "%s", e.msg);
        return;
    }
    is->signer_aux = ref;
    issuer_set_signer(is, vault_signer(client));
}

void issuer_load_signer(struct issuer *is, const struct issuer_secrets *src, const char *cluster_ns,
                        time_t now)
{
    const char *ns = issuer_secret_namespace(is, cluster_ns);
    if (is->signer_kind == ISSUER_SIGNER_CA)
        issuer_load_ca(is, src, ns, now);
    else
        issuer_load_vault(is, src, ns);
    issuer_check(is, now);
}

bool issuer_check(struct issuer *is, time_t now)
{
    struct issuer_state before;
    issuer_get_state(is, &before);
    if (is->signer.ops == NULL)
        return false;
    struct err e = {0};
    if (is->signer.ops->check(is->signer.ctx, now, &e) == 0)
        issuer_set_ready(is);
    else
        issuer_set_not_ready(
            is, e.kind == ERR_PERMANENT || e.kind == ERR_INVALID ? "Failed" : "Pending", "%s",
            e.msg);
    struct issuer_state after;
    issuer_get_state(is, &after);
    return before.ready != after.ready || strcmp(before.message, after.message) != 0;
}

bool issuer_has_signer(const struct issuer *is)
{
    return is->signer.ops != NULL;
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
    issuer_secret_ref_free(is->signer_aux);
    free(is->kind);
    free(is->namespace);
    free(is->name);
    free(is->default_policy);
    free(is->ca_secret_name);
    free(is->vault.server);
    free(is->vault.path);
    free(is->vault.namespace);
    free(is->vault.ca_bundle);
    free(is->vault.ca_bundle_secret_name);
    free(is->vault.ca_bundle_secret_key);
    free(is->vault.approle_path);
    free(is->vault.role_id);
    free(is->vault.secret_name);
    free(is->vault.secret_key);
    pthread_mutex_destroy(&is->lock);
    free(is);
}
