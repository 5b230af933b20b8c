/* vaultauth.c -- spec.vault.auth and the mTLS identity: parsed, then loaded into a vault_config. */
#include "signers/vaultauth.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonfield.h"
#include "base/mem.h"

#define VAULTAUTH_AUTH "spec.vault.auth"
#define VAULTAUTH_TOKEN "spec.vault.auth.tokenSecretRef"
#define VAULTAUTH_APPROLE "spec.vault.auth.appRole"
#define VAULTAUTH_CERT "spec.vault.auth.clientCertificate"
#define VAULTAUTH_KUBE "spec.vault.auth.kubernetes"

/* The methods in cert-manager's order of precedence; aws last (refused). */
static const char *const vaultauth_methods[] = {"tokenSecretRef", "appRole", "clientCertificate",
                                                "kubernetes", "aws"};
static const enum vault_auth vaultauth_kinds[] = {VAULT_AUTH_TOKEN, VAULT_AUTH_APPROLE,
                                                  VAULT_AUTH_CERT, VAULT_AUTH_KUBERNETES};

static const struct jsonfield vaultauth_fields[] = {
    {.name = "tokenSecretRef", .type = JSONFIELD_OBJECT},
    {.name = "appRole", .type = JSONFIELD_OBJECT},
    {.name = "clientCertificate", .type = JSONFIELD_OBJECT},
    {.name = "kubernetes", .type = JSONFIELD_OBJECT},
    {.name = "aws", .type = JSONFIELD_OBJECT},
    {0},
};
static const struct jsonfield vaultauth_ref_fields[] = {
    {.name = "name", .type = JSONFIELD_STRING},
    {.name = "key", .type = JSONFIELD_STRING},
    {0},
};
static const struct jsonfield vaultauth_approle_fields[] = {
    {.name = "path", .type = JSONFIELD_STRING},
    {.name = "roleId", .type = JSONFIELD_STRING},
    {.name = "secretRef", .type = JSONFIELD_OBJECT},
    {0},
};
static const struct jsonfield vaultauth_cert_fields[] = {
    {.name = "mountPath", .type = JSONFIELD_STRING},
    {.name = "secretName", .type = JSONFIELD_STRING},
    {.name = "name", .type = JSONFIELD_STRING},
    {0},
};
static const struct jsonfield vaultauth_kube_fields[] = {
    {.name = "mountPath", .type = JSONFIELD_STRING},
    {.name = "role", .type = JSONFIELD_STRING},
    {.name = "secretRef", .type = JSONFIELD_OBJECT},
    {.name = "serviceAccountRef", .type = JSONFIELD_OBJECT},
    {0},
};
static const struct jsonfield vaultauth_sa_fields[] = {
    {.name = "name", .type = JSONFIELD_STRING, .required = true},
    {.name = "audiences", .type = JSONFIELD_STRINGS},
    {0},
};

static void vaultauth_ref_clear(struct vaultauth_ref *r)
{
    free(r->name);
    free(r->key);
    r->name = r->key = NULL;
}

void vaultauth_spec_clear(struct vaultauth_spec *a)
{
    if (a == NULL)
        return;
    vaultauth_ref_clear(&a->secret);
    vaultauth_ref_clear(&a->client_cert);
    vaultauth_ref_clear(&a->client_key);
    free(a->approle_path);
    free(a->role);
    free(a->mount);
    free(a->cert_secret);
    free(a->sa_name);
    for (size_t i = 0; i < a->n_audiences; i++)
        free(a->audiences[i]);
    free(a->audiences);
    memset(a, 0, sizeof(*a));
}

/* ---- parse ---- */

/* The object member key of obj (path) as a {name, key} reference; *present says whether it was
 * there. The key defaults to def (NULL: none). */
static int vaultauth_read_ref(const cJSON *obj, const char *path, const char *member,
                              const char *def, struct vaultauth_ref *r, bool *present,
                              struct err *err)
{
    const cJSON *ref;
    char rpath[JSONFIELD_PATH_MAX];
    *present = false;
    if (jsonfield_object(obj, path, member, &ref, err) != 0 ||
        jsonfield_path(rpath, sizeof(rpath), path, member, err) != 0)
        return -1;
    if (ref == NULL)
        return 0;
    *present = true;
    if (jsonfield_check(ref, rpath, vaultauth_ref_fields, 0, err) != 0 ||
        signer_spec_copy(ref, rpath, "name", &r->name, err) != 0 ||
        signer_spec_copy(ref, rpath, "key", &r->key, err) != 0)
        return -1;
    if ((r->key == NULL || r->key[0] == '\0') && def != NULL) {
        free(r->key);
        r->key = xstrdup(def);
    }
    return 0;
}

/* A cert-manager mountPath ("/v1/auth/kubernetes"; it posts to <mountPath>/login) as the API
 * path after /v1/ ("auth/kubernetes"); def when absent or empty. */
static int vaultauth_read_mount(const cJSON *obj, const char *path, const char *def, char **out,
                                struct err *err)
{
    const char *m;
    if (jsonfield_string(obj, path, "mountPath", &m, err) != 0)
        return -1;
    if (m == NULL || m[0] == '\0')
        m = def;
    size_t n = strlen(m);
    while (n > 1 && m[n - 1] == '/')
        n--;
    bool dots = strstr(m, "/../") != NULL || strstr(m, "/./") != NULL || strstr(m, "//") != NULL ||
                (n >= 3 && strncmp(m + n - 3, "/..", 3) == 0);
    if (strncmp(m, "/v1/", 4) != 0 || n <= 4 || dots) {
        err_set(err, ERR_INVALID,
                "%s.mountPath must be a path starting with \"/v1/\" as in cert-manager (it "
                "posts to <mountPath>/login), such as \"%s\", not \"%.200s\"",
                path, def, m);
        return -1;
    }
    *out = xstrndup(m + 4, n - 4);
    return 0;
}

static int vaultauth_read_token(struct vaultauth_spec *a, const cJSON *auth, struct err *err)
{
    bool present;
    if (vaultauth_read_ref(auth, VAULTAUTH_AUTH, "tokenSecretRef", "token", &a->secret, &present,
                           err) != 0)
        return -1;
    if (a->secret.name == NULL || a->secret.name[0] == '\0') {
        err_set(err, ERR_INVALID, "Vault Token auth requires tokenSecretRef.name");
        return -1;
    }
    return 0;
}

static int vaultauth_read_approle(struct vaultauth_spec *a, const cJSON *approle, struct err *err)
{
    bool present;
    if (jsonfield_check(approle, VAULTAUTH_APPROLE, vaultauth_approle_fields, 0, err) != 0 ||
        signer_spec_copy(approle, VAULTAUTH_APPROLE, "path", &a->approle_path, err) != 0 ||
        signer_spec_copy(approle, VAULTAUTH_APPROLE, "roleId", &a->role, err) != 0 ||
        vaultauth_read_ref(approle, VAULTAUTH_APPROLE, "secretRef", NULL, &a->secret, &present,
                           err) != 0)
        return -1;
    if (a->role == NULL || a->role[0] == '\0' || a->secret.name == NULL ||
        a->secret.name[0] == '\0') {
        err_set(err, ERR_INVALID, "Vault AppRole auth requires both roleId and secretRef.name");
        return -1;
    }
    if (a->secret.key == NULL || a->secret.key[0] == '\0') {
        err_set(err, ERR_INVALID, "Vault AppRole auth requires secretRef.key");
        return -1;
    }
    if (a->approle_path == NULL || a->approle_path[0] == '\0') {
        free(a->approle_path);
        a->approle_path = xstrdup("approle");
    }
    return 0;
}

static int vaultauth_read_cert(struct vaultauth_spec *a, const cJSON *cert, struct err *err)
{
    if (jsonfield_check(cert, VAULTAUTH_CERT, vaultauth_cert_fields, 0, err) != 0 ||
        vaultauth_read_mount(cert, VAULTAUTH_CERT, "/v1/auth/cert", &a->mount, err) != 0 ||
        signer_spec_copy(cert, VAULTAUTH_CERT, "secretName", &a->cert_secret, err) != 0 ||
        signer_spec_copy(cert, VAULTAUTH_CERT, "name", &a->role, err) != 0)
        return -1;
    if (a->cert_secret != NULL && a->cert_secret[0] == '\0') {
        free(a->cert_secret);
        a->cert_secret = NULL;
    }
    if (a->role == NULL)
        a->role = xstrdup("");
    /* cert-manager: without secretName the transport's client certificate logs in. */
    if (a->cert_secret == NULL && a->client_cert.name == NULL) {
        err_set(err, ERR_INVALID,
                "Vault clientCertificate auth needs a certificate to log in with: set "
                "spec.vault.auth.clientCertificate.secretName (a kubernetes.io/tls Secret), or "
                "spec.vault.clientCertSecretRef and clientKeySecretRef");
        return -1;
    }
    return 0;
}

/* kubernetes.serviceAccountRef: its name and audiences. */
static int vaultauth_read_sa(struct vaultauth_spec *a, const cJSON *sa, struct err *err)
{
    static const char path[] = VAULTAUTH_KUBE ".serviceAccountRef";
    const cJSON *aud;
    if (jsonfield_check(sa, path, vaultauth_sa_fields, 0, err) != 0 ||
        signer_spec_copy(sa, path, "name", &a->sa_name, err) != 0 ||
        jsonfield_strings(sa, path, "audiences", VAULTAUTH_MAX_AUDIENCES, VAULTAUTH_MAX_AUDIENCE,
                          &aud, err) != 0)
        return -1;
    size_t n = aud != NULL ? (size_t)cJSON_GetArraySize(aud) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = cJSON_GetArrayItem(aud, (int)i)->valuestring;
        bool bad = v[0] == '\0';
        for (const char *c = v; *c != '\0' && !bad; c++)
            bad = (unsigned char)*c < 0x20 || *c == 0x7f;
        if (bad) {
            err_set(err, ERR_INVALID, "%s.audiences[%zu]: %s", path, i,
                    v[0] == '\0' ? "empty (an audience is a non-empty string)"
                                 : "has a control character");
            return -1;
        }
    }
    a->audiences = xcalloc(n + 1, sizeof(*a->audiences));
    for (size_t i = 0; i < n; i++)
        a->audiences[a->n_audiences++] = xstrdup(cJSON_GetArrayItem(aud, (int)i)->valuestring);
    return 0;
}

static int vaultauth_read_kube(struct vaultauth_spec *a, const cJSON *kube, struct err *err)
{
    const cJSON *sa;
    bool has_secret;
    if (jsonfield_check(kube, VAULTAUTH_KUBE, vaultauth_kube_fields, 0, err) != 0 ||
        vaultauth_read_mount(kube, VAULTAUTH_KUBE, "/v1/auth/kubernetes", &a->mount, err) != 0 ||
        signer_spec_copy(kube, VAULTAUTH_KUBE, "role", &a->role, err) != 0 ||
        vaultauth_read_ref(kube, VAULTAUTH_KUBE, "secretRef", "token", &a->secret, &has_secret,
                           err) != 0 ||
        jsonfield_object(kube, VAULTAUTH_KUBE, "serviceAccountRef", &sa, err) != 0)
        return -1;
    if (a->role == NULL || a->role[0] == '\0') {
        err_set(err, ERR_INVALID, "Vault Kubernetes auth requires a role to be set");
        return -1;
    }
    bool secret = a->secret.name != NULL && a->secret.name[0] != '\0';
    if (!secret && sa == NULL) {
        err_set(err, ERR_INVALID,
                "Vault Kubernetes auth requires either secretRef.name or "
                "serviceAccountRef.name to be set");
        return -1;
    }
    if (secret && sa != NULL) {
        err_set(err, ERR_INVALID,
                "Vault Kubernetes auth cannot be used with both secretRef.name "
                "and serviceAccountRef.name");
        return -1;
    }
    return sa != NULL ? vaultauth_read_sa(a, sa, err) : 0;
}

/* spec.vault.clientCertSecretRef and clientKeySecretRef: both or neither. */
static int vaultauth_read_tls(struct vaultauth_spec *a, const cJSON *vault, struct err *err)
{
    bool cert, key;
    if (vaultauth_read_ref(vault, "spec.vault", "clientCertSecretRef", "tls.crt", &a->client_cert,
                           &cert, err) != 0 ||
        vaultauth_read_ref(vault, "spec.vault", "clientKeySecretRef", "tls.key", &a->client_key,
                           &key, err) != 0)
        return -1;
    if (cert != key) {
        err_set(err, ERR_INVALID,
                "spec.vault.clientCertSecretRef and clientKeySecretRef go together (the client "
                "certificate and its key for mTLS to Vault): %s is missing",
                cert ? "clientKeySecretRef" : "clientCertSecretRef");
        return -1;
    }
    const struct vaultauth_ref *refs[] = {&a->client_cert, &a->client_key};
    for (size_t i = 0; cert && i < 2; i++) {
        if (refs[i]->name == NULL || refs[i]->name[0] == '\0') {
            err_set(err, ERR_INVALID, "spec.vault.%s.name is required",
                    i == 0 ? "clientCertSecretRef" : "clientKeySecretRef");
            return -1;
        }
    }
    return 0;
}

/* Which method spec.vault.auth sets (an index of vaultauth_methods): exactly one. */
static int vaultauth_pick(const cJSON *auth, size_t *which, struct err *err)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof(vaultauth_methods) / sizeof(vaultauth_methods[0]); i++) {
        if (jsonfield_get(auth, vaultauth_methods[i]) != NULL) {
            *which = i;
            n++;
        }
    }
    if (n == 0) {
        err_set(err, ERR_INVALID,
                "Vault tokenSecretRef, appRole, clientCertificate, or kubernetes is required");
        return -1;
    }
    if (n > 1) {
        err_set(err, ERR_INVALID, "Multiple auth methods cannot be set on the same Vault issuer");
        return -1;
    }
    if (strcmp(vaultauth_methods[*which], "aws") == 0) {
        err_set(err, ERR_INVALID,
                "spec.vault.auth.aws: Vault's AWS IAM auth is out of scope for Ember (OpenBao's "
                "core has no AWS auth method); use kubernetes, appRole, clientCertificate or "
                "tokenSecretRef");
        return -1;
    }
    return 0;
}

int vaultauth_parse(const cJSON *vault, struct vaultauth_spec *a, struct err *err)
{
    memset(a, 0, sizeof(*a));
    const cJSON *auth;
    size_t which = 0;
    if (vaultauth_read_tls(a, vault, err) != 0 ||
        jsonfield_object(vault, "spec.vault", "auth", &auth, err) != 0)
        return -1;
    if (auth != NULL && jsonfield_check(auth, VAULTAUTH_AUTH, vaultauth_fields, 0, err) != 0)
        return -1;
    if (vaultauth_pick(auth, &which, err) != 0)
        return -1;
    a->method = vaultauth_kinds[which];
    const cJSON *m = jsonfield_get(auth, vaultauth_methods[which]);
    switch (a->method) {
    case VAULT_AUTH_TOKEN: return vaultauth_read_token(a, auth, err);
    case VAULT_AUTH_APPROLE: return vaultauth_read_approle(a, m, err);
    case VAULT_AUTH_CERT: return vaultauth_read_cert(a, m, err);
    case VAULT_AUTH_KUBERNETES: return vaultauth_read_kube(a, m, err);
    }
    return -1;
}

/* ---- load ---- */

struct vaultauth {
    struct signer_env env;
    enum vault_auth method;
    char *ns;                 /* where the Secrets and the service account are */
    struct vaultauth_ref ref; /* the method's Secret (token, secret_id, JWT), or cert_secret */
    char *sa_name;            /* kubernetes.serviceAccountRef.name */
    char **audiences;         /* the token's: the spec's, vault://..., spec.vault.server */
    size_t n_audiences;
    char desc[600];           /* names where the secret comes from, for messages */
    char *tls_cert, *tls_key; /* the mTLS identity until vault_new copied it */
    size_t tls_cert_len, tls_key_len;
};

/* Checks that cert (a PEM chain) and key (PEM) parse and belong together; what names the
 * Secrets for the message. ERR_ISSUER_NOT_READY: the Secrets' content can be fixed. */
static int vaultauth_check_pair(const char *cert, size_t clen, const char *key, size_t klen,
                                const char *what, struct err *err)
{
    BIO *cb = BIO_new_mem_buf(cert, (int)clen), *kb = BIO_new_mem_buf(key, (int)klen);
    X509 *x = cb != NULL ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = kb != NULL ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    int rc = -1;
    if (x == NULL)
        err_set(err, ERR_ISSUER_NOT_READY, "%s: the certificate is not PEM", what);
    else if (k == NULL)
        err_set(err, ERR_ISSUER_NOT_READY, "%s: the private key is not PEM", what);
    else if (X509_check_private_key(x, k) != 1)
        err_set(err, ERR_ISSUER_NOT_READY, "%s: the private key does not match the certificate",
                what);
    else
        rc = 0;
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(cb);
    BIO_free(kb);
    ERR_clear_error();
    return rc;
}

/* Reads the certificate and key of cref/kref (in ns) and checks them; what names them. */
static int vaultauth_read_pair(const struct signer_env *env, const char *ns,
                               const struct vaultauth_ref *cref, const char *cfield,
                               const struct vaultauth_ref *kref, const char *kfield,
                               const char *what, char **cert, size_t *clen, char **key,
                               size_t *klen, struct err *err)
{
    *cert = *key = NULL;
    if (signer_secret_key(env, ns, cref->name, cref->key, cfield, cert, clen, err) != 0)
        return -1;
    if (signer_secret_key(env, ns, kref->name, kref->key, kfield, key, klen, err) != 0 ||
        vaultauth_check_pair(*cert, *clen, *key, *klen, what, err) != 0) {
        free(*cert);
        xfree_secret(*key, *klen);
        *cert = *key = NULL;
        return -1;
    }
    return 0;
}

/* vault_secret_fn: the Secret value of the method (secret_id, static token, JWT), trimmed of
 * trailing white space (a Secret written by hand ends in a newline). */
static int vaultauth_secret(void *ud, char **out, size_t *len, struct err *err)
{
    const struct vaultauth *l = ud;
    const char *field = l->method == VAULT_AUTH_TOKEN     ? "spec.vault.auth.tokenSecretRef"
                        : l->method == VAULT_AUTH_APPROLE ? "spec.vault.auth.appRole.secretRef"
                                                          : "spec.vault.auth.kubernetes.secretRef";
    if (signer_secret_key(&l->env, l->ns, l->ref.name, l->ref.key, field, out, len, err) != 0) {
        if (err != NULL && err->kind == ERR_PERMANENT)
            err->kind = ERR_ISSUER_NOT_READY;
        return -1;
    }
    while (*len > 0 && strchr(" \t\r\n", (*out)[*len - 1]) != NULL)
        (*out)[--*len] = '\0';
    return 0;
}

/* vault_secret_fn: a new token of the service account, for this issuer's audiences. */
static int vaultauth_sa_token(void *ud, char **out, size_t *len, struct err *err)
{
    const struct vaultauth *l = ud;
    *out = NULL;
    if (l->env.get_token(l->env.ud, l->ns, l->sa_name, (const char *const *)l->audiences,
                         l->n_audiences, VAULTAUTH_TOKEN_EXPIRATION, out, err) != 0) {
        err_prefix(err,
                   "requesting a token for service account %s/%s "
                   "(spec.vault.auth.kubernetes.serviceAccountRef)",
                   l->ns, l->sa_name);
        return -1;
    }
    *len = strlen(*out);
    return 0;
}

/* vault_identity_fn: tls.crt and tls.key of clientCertificate.secretName, read again. */
static int vaultauth_identity(void *ud, char **cert, size_t *clen, char **key, size_t *klen,
                              struct err *err)
{
    const struct vaultauth *l = ud;
    const struct vaultauth_ref c = {.name = l->ref.name, .key = "tls.crt"};
    const struct vaultauth_ref k = {.name = l->ref.name, .key = "tls.key"};
    return vaultauth_read_pair(&l->env, l->ns, &c, "spec.vault.auth.clientCertificate.secretName",
                               &k, "spec.vault.auth.clientCertificate.secretName", l->desc, cert,
                               clen, key, klen, err);
}

/* The audiences of a requested token: the spec's, then "vault://<ns>/<issuer>" (an Issuer) or
 * "vault://<issuer>" (a ClusterIssuer), then spec.vault.server, as cert-manager asks. */
static void vaultauth_audiences(struct vaultauth *l, const struct vaultauth_spec *a,
                                const struct signer_where *where, const char *server)
{
    l->audiences = xcalloc(a->n_audiences + 3, sizeof(*l->audiences));
    for (size_t i = 0; i < a->n_audiences; i++)
        l->audiences[l->n_audiences++] = xstrdup(a->audiences[i]);
    const char *ins = where->issuer_ns != NULL ? where->issuer_ns : "";
    const char *name = where->issuer_name != NULL ? where->issuer_name : "";
    l->audiences[l->n_audiences++] =
        ins[0] != '\0' ? xasprintf("vault://%s/%s", ins, name) : xasprintf("vault://%s", name);
    l->audiences[l->n_audiences++] = xstrdup(server);
}

/* Where the method's secret comes from (l->desc) and its callbacks in cfg. */
static int vaultauth_source(struct vaultauth *l, const struct vaultauth_spec *a,
                            const struct signer_where *where, const char *server,
                            struct vault_config *cfg, struct err *err)
{
    cfg->secret_ud = l;
    if (a->method == VAULT_AUTH_CERT) {
        if (a->cert_secret != NULL) {
            l->ref.name = xstrdup(a->cert_secret);
            snprintf(l->desc, sizeof(l->desc), "Secret %s/%s (tls.crt, tls.key)", l->ns,
                     a->cert_secret);
            cfg->identity = vaultauth_identity;
        } else {
            snprintf(l->desc, sizeof(l->desc),
                     "the client certificate of spec.vault.clientCertSecretRef (Secret %s/%s)",
                     l->ns, a->client_cert.name);
        }
        return 0;
    }
    if (a->sa_name == NULL) {
        l->ref.name = xstrdup(a->secret.name);
        l->ref.key = xstrdup(a->secret.key);
        snprintf(l->desc, sizeof(l->desc), "Secret %s/%s key %s", l->ns, a->secret.name,
                 a->secret.key);
        cfg->secret_id = vaultauth_secret;
        return 0;
    }
    if (l->env.get_token == NULL) {
        err_set(err, ERR_PERMANENT,
                "spec.vault.auth.kubernetes.serviceAccountRef needs the Kubernetes API (a "
                "TokenRequest for service account %s/%s): not available in standalone mode; use "
                "spec.vault.auth.kubernetes.secretRef",
                l->ns, a->sa_name);
        return -1;
    }
    l->sa_name = xstrdup(a->sa_name);
    vaultauth_audiences(l, a, where, server);
    snprintf(l->desc, sizeof(l->desc), "a token of service account %s/%s", l->ns, a->sa_name);
    cfg->secret_id = vaultauth_sa_token;
    return 0;
}

int vaultauth_load(const struct vaultauth_spec *a, const struct signer_env *env,
                   const struct signer_where *where, const char *server, struct vault_config *cfg,
                   struct vaultauth **out, struct err *err)
{
    struct vaultauth *l = xcalloc(1, sizeof(*l));
    l->env = *env;
    l->method = a->method;
    l->ns = xstrdup(where->ns);
    if (vaultauth_source(l, a, where, server, cfg, err) != 0) {
        vaultauth_free(l); /* the spec as written cannot load here (ERR_PERMANENT) */
        return -1;
    }
    if (a->client_cert.name != NULL) {
        char what[600];
        snprintf(what, sizeof(what),
                 "Secrets %s/%s and %s/%s (spec.vault.clientCertSecretRef, "
                 "clientKeySecretRef)",
                 l->ns, a->client_cert.name, l->ns, a->client_key.name);
        if (vaultauth_read_pair(env, l->ns, &a->client_cert, "spec.vault.clientCertSecretRef",
                                &a->client_key, "spec.vault.clientKeySecretRef", what, &l->tls_cert,
                                &l->tls_cert_len, &l->tls_key, &l->tls_key_len, err) != 0)
            goto fail;
        cfg->client_cert_pem = l->tls_cert;
        cfg->client_cert_len = l->tls_cert_len;
        cfg->client_key_pem = l->tls_key;
        cfg->client_key_len = l->tls_key_len;
    }
    cfg->auth = a->method;
    cfg->approle_path = a->approle_path;
    cfg->mount_path = a->mount;
    cfg->role_id = a->role;
    cfg->secret_name = l->desc;
    *out = l;
    return 0;
fail:
    if (err != NULL && err->kind != ERR_TRANSIENT)
        err->kind = ERR_ISSUER_NOT_READY; /* the Secrets may still be fixed: Pending */
    vaultauth_free(l);
    return -1;
}

void vaultauth_drop_identity(struct vaultauth *l)
{
    if (l == NULL)
        return;
    free(l->tls_cert);
    if (l->tls_key != NULL)
        xfree_secret(l->tls_key, l->tls_key_len);
    l->tls_cert = l->tls_key = NULL;
}

void vaultauth_free(struct vaultauth *l)
{
    if (l == NULL)
        return;
    vaultauth_drop_identity(l);
    free(l->ns);
    vaultauth_ref_clear(&l->ref);
    free(l->sa_name);
    for (size_t i = 0; i < l->n_audiences; i++)
        free(l->audiences[i]);
    free(l->audiences);
    free(l);
}
