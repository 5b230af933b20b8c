/* vaultspec.c -- the Vault signer's row: spec.vault, the client it loads, the CA expiry. */
#include "signers/vaultspec.h"

#include <stdlib.h>
#include <string.h>

#include "base/b64.h"
#include "base/httpc.h"
#include "base/jsonfield.h"
#include "base/log.h"
#include "base/mem.h"
#include "signers/secretwatch.h"
#include "signers/subca.h"
#include "signers/vault.h"

/* The objects of spec.vault, cert-manager's names. What cert-manager's Vault issuer requires
 * (server, path, roleId, secretRef.name, ...) is not required in these tables: the checks after
 * them say so in cert-manager's words. */
#define VAULTSPEC_BUNDLE_REF "spec.vault.caBundleSecretRef"

static const struct jsonfield vaultspec_fields[] = {
    {.name = "server", .type = JSONFIELD_STRING},
    {.name = "path", .type = JSONFIELD_STRING},
    {.name = "namespace", .type = JSONFIELD_STRING},
    {.name = "caBundle", .type = JSONFIELD_STRING},
    {.name = "caBundleSecretRef", .type = JSONFIELD_OBJECT},
    {.name = "auth", .type = JSONFIELD_OBJECT},
    {.name = "serverName", .type = JSONFIELD_STRING},
    {.name = "clientCertSecretRef", .type = JSONFIELD_OBJECT},
    {.name = "clientKeySecretRef", .type = JSONFIELD_OBJECT},
    {.name = "subCA", .type = JSONFIELD_OBJECT},
    {0},
};
static const struct jsonfield vaultspec_bundle_ref_fields[] = {
    {.name = "name", .type = JSONFIELD_STRING, .required = true},
    {.name = "key", .type = JSONFIELD_STRING},
    {0},
};
/* spec.vault's members, then subCA (signers/subcaspec.h), its server, path and namespace; in
 * sub-CA mode path is not used, so not required. */
static int vaultspec_read_server(struct vault_spec *v, const cJSON *vault, struct err *err)
{
    const cJSON *subca;
    if (jsonfield_check(vault, "spec.vault", vaultspec_fields, 0, err) != 0 ||
        jsonfield_object(vault, "spec.vault", "subCA", &subca, err) != 0 ||
        (subca != NULL && subcaspec_parse(subca, &v->subca, err) != 0) ||
        signer_spec_copy(vault, "spec.vault", "server", &v->server, err) != 0 ||
        signer_spec_copy(vault, "spec.vault", "path", &v->path, err) != 0 ||
        signer_spec_copy(vault, "spec.vault", "namespace", &v->namespace, err) != 0)
        return -1;
    if (v->subca != NULL && (v->path == NULL || v->path[0] == '\0')) {
        free(v->path);
        v->path = xstrdup(v->subca->path);
    }
    if (v->server == NULL || v->server[0] == '\0' || v->path == NULL || v->path[0] == '\0') {
        err_set(err, ERR_INVALID,
                v->subca != NULL ? "Vault server is a required field"
                                 : "Vault server and path are required fields");
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
    return 0;
}

/* spec.vault.caBundle or caBundleSecretRef (at most one of them). */
static int vaultspec_read_bundle(struct vault_spec *v, const cJSON *vault, struct err *err)
{
    const char *bundle;
    const cJSON *bref;
    if (jsonfield_string(vault, "spec.vault", "caBundle", &bundle, err) != 0 ||
        jsonfield_object(vault, "spec.vault", "caBundleSecretRef", &bref, err) != 0)
        return -1;
    if (bundle != NULL && bref != NULL) {
        err_set(err, ERR_INVALID,
                "specified caBundle and caBundleSecretRef cannot be used together");
        return -1;
    }
    if (bundle != NULL && b64_decode(bundle, strlen(bundle), VAULTSPEC_MAX_CA_BUNDLE, &v->ca_bundle,
                                     &v->ca_bundle_len, err) != 0) {
        err_prefix(err, "spec.vault.caBundle");
        return -1;
    }
    if (bref == NULL)
        return 0;
    if (jsonfield_check(bref, VAULTSPEC_BUNDLE_REF, vaultspec_bundle_ref_fields, 0, err) != 0 ||
        signer_spec_copy(bref, VAULTSPEC_BUNDLE_REF, "name", &v->ca_bundle_secret_name, err) != 0 ||
        signer_spec_copy(bref, VAULTSPEC_BUNDLE_REF, "key", &v->ca_bundle_secret_key, err) != 0)
        return -1;
    if (v->ca_bundle_secret_key == NULL)
        v->ca_bundle_secret_key = xstrdup("ca.crt");
    return 0;
}

/* spec.vault.serverName: a host name (it goes in the TLS handshake and a CONNECT_TO entry). */
static int vaultspec_read_server_name(struct vault_spec *v, const cJSON *vault, struct err *err)
{
    if (signer_spec_copy(vault, "spec.vault", "serverName", &v->server_name, err) != 0)
        return -1;
    if (v->server_name == NULL)
        return 0;
    if (!httpc_is_server_name(v->server_name)) {
        err_set(err, ERR_INVALID,
                "spec.vault.serverName must be a host name such as \"vault.internal\", not "
                "\"%.200s\"",
                v->server_name);
        return -1;
    }
    if (strncmp(v->server, "http://", 7) == 0) {
        err_set(err, ERR_INVALID, "spec.vault.serverName needs an https:// spec.vault.server");
        return -1;
    }
    return 0;
}

static void vaultspec_free_spec(void *spec)
{
    struct vault_spec *v = spec;
    if (v == NULL)
        return;
    free(v->server);
    free(v->path);
    free(v->namespace);
    free(v->ca_bundle);
    free(v->ca_bundle_secret_name);
    free(v->ca_bundle_secret_key);
    free(v->server_name);
    vaultauth_spec_clear(&v->auth);
    subcaspec_free(v->subca);
    free(v);
}

static int vaultspec_parse(const cJSON *obj, void **out, struct err *err)
{
    struct vault_spec *v = xcalloc(1, sizeof(*v));
    if (vaultspec_read_server(v, obj, err) != 0 || vaultspec_read_bundle(v, obj, err) != 0 ||
        vaultspec_read_server_name(v, obj, err) != 0 || vaultauth_parse(obj, &v->auth, err) != 0) {
        vaultspec_free_spec(v);
        return -1;
    }
    *out = v;
    return 0;
}

/* ---- the loaded signer ---- */

struct vaultspec_signer {
    struct vault *client;
    struct vaultauth *auth; /* what the client's logins read through */
    time_t ca_not_after;    /* atomic; 0 until a certificate was signed */
    struct subca *subca;    /* spec.vault.subCA: signs leaves itself through client */
    /* The Secrets load read (caBundleSecretRef, the mTLS identity, subCA.caBundleSecretRef):
     * recheck loads the issuer again when one changed. auth's logins read through it too. */
    struct secretwatch *watch;
    char *ref; /* "Issuer/ns/name", for the log */
};

static void vaultspec_signer_free(struct vaultspec_signer *s)
{
    if (s == NULL)
        return;
    subca_free(s->subca); /* first: its thread uses the client */
    vault_free(s->client);
    vaultauth_free(s->auth);
    secretwatch_free(s->watch); /* last: auth's env points to it */
    free(s->ref);
    free(s);
}

/* load, reading the Secrets through env (the watch's). */
static int vaultspec_load_watched(const struct vault_spec *v, const struct signer_env *env,
                                  const struct signer_where *where, struct vaultspec_signer *s,
                                  struct err *err)
{
    char *bundle = NULL;
    size_t bundle_len = 0;
    if (v->ca_bundle_secret_name != NULL &&
        signer_secret_key(env, where->ns, v->ca_bundle_secret_name, v->ca_bundle_secret_key,
                          "spec.vault.caBundleSecretRef", &bundle, &bundle_len, err) != 0) {
        if (err->kind == ERR_PERMANENT)
            err->kind = ERR_ISSUER_NOT_READY;
        return -1;
    }
    struct vault_config cfg = {
        .server = v->server,
        .path = v->path,
        .namespace = v->namespace,
        .ca_bundle_pem = bundle ? bundle : (const char *)v->ca_bundle,
        .ca_bundle_len = bundle ? bundle_len : v->ca_bundle_len,
        .server_name = v->server_name,
        .name = where->ref,
    };
    if (vaultauth_load(&v->auth, env, where, v->server, &cfg, &s->auth, err) != 0) {
        xfree_secret(bundle, bundle_len);
        return -1;
    }
    s->client = vault_new(&cfg, err);
    xfree_secret(bundle, bundle_len);
    vaultauth_drop_identity(s->auth); /* vault_new copied it (or failed) */
    if (s->client == NULL) {
        err->kind = ERR_PERMANENT; /* the spec as written: it fails the same way every time */
        return -1;
    }
    if (v->subca != NULL &&
        (s->subca = subca_new(v->subca, s->client, env, where->ns, where->ref, err)) == NULL)
        return -1;
    return 0;
}

static int vaultspec_load(const void *spec, const struct signer_env *env,
                          const struct signer_where *where, time_t now, void **ctx, struct err *err)
{
    (void)now;
    struct vaultspec_signer *s = xcalloc(1, sizeof(*s));
    s->ref = xstrdup(where->ref);
    s->watch = secretwatch_new(env);
    struct signer_env watched;
    secretwatch_env(s->watch, &watched);
    secretwatch_start(s->watch);
    int rc = vaultspec_load_watched(spec, &watched, where, s, err);
    secretwatch_stop(s->watch);
    if (rc != 0) {
        vaultspec_signer_free(s);
        return -1;
    }
    *ctx = s;
    return 0;
}

static int vaultspec_sign(void *ctx, const struct csr *csr, const struct sign_params *p,
                          struct sign_result *out, struct err *err)
{
    struct vaultspec_signer *s = ctx;
    if (s->subca != NULL)
        return subca_sign(s->subca, csr, p, out, err);
    if (vault_sign(s->client, csr, p, out, err) != 0)
        return -1;
    time_t not_after;
    if (signer_issuer_not_after(out, &not_after) == 0)
        __atomic_store_n(&s->ca_not_after, not_after, __ATOMIC_RELAXED);
    return 0;
}

static int vaultspec_check(void *ctx, time_t now, struct err *err)
{
    struct vaultspec_signer *s = ctx;
    if (s->subca != NULL)
        return subca_check(s->subca, now, err);
    return vault_check(s->client, err);
}

/* The Secrets load read first: when one changed (a rotated CA bundle or client certificate),
 * 1 asks the controller to load the issuer again, reading them anew; for a sub-CA issuer that
 * means a new sub-CA key and certificate, as after a restart. Else the check in place. */
static int vaultspec_recheck(void *ctx, time_t now, struct err *err)
{
    struct vaultspec_signer *s = ctx;
    char which[600];
    if (secretwatch_changed(s->watch, which, sizeof(which))) {
        LOG(LOG_INFO, "vault", s->ref, NULL, "Secret %s changed: loading the issuer again", which);
        return 1;
    }
    return vaultspec_check(ctx, now, err);
}

static time_t vaultspec_expiry(void *ctx)
{
    struct vaultspec_signer *s = ctx;
    if (s->subca != NULL)
        return subca_expiry(s->subca);
    return __atomic_load_n(&s->ca_not_after, __ATOMIC_RELAXED);
}

static void vaultspec_free(void *ctx)
{
    vaultspec_signer_free(ctx);
}

static void vaultspec_ready_message(void *ctx, char *buf, size_t len)
{
    struct vaultspec_signer *s = ctx;
    if (s->subca != NULL)
        subca_ready_message(s->subca, buf, len);
}

static bool vaultspec_publish_metrics(void *ctx, struct metrics *m, const char *labels)
{
    struct vaultspec_signer *s = ctx;
    if (s->subca == NULL)
        return false;
    subca_publish_metrics(s->subca, m, labels);
    return true;
}

static const char *const vaultspec_gauges[] = {SUBCA_GAUGES, NULL};

const struct signer_ops vault_row = {
    .name = "vault",
    .spec_key = "vault",
    .parse = vaultspec_parse,
    .free_spec = vaultspec_free_spec,
    .load = vaultspec_load,
    .sign = vaultspec_sign,
    .check = vaultspec_check,
    .recheck = vaultspec_recheck,
    .expiry = vaultspec_expiry,
    .free = vaultspec_free,
    .ready_message = vaultspec_ready_message,
    .declare_metrics = subca_declare_metrics,
    .publish_metrics = vaultspec_publish_metrics,
    .gauges = vaultspec_gauges,
};
