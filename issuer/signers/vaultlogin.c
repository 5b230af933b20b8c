/* vaultlogin.c -- the Vault signer's logins: what each method (AppRole, TLS certificate,
 * Kubernetes) needs and sends, what Vault's answer gives, the use limit of a new token, and the
 * static token (tokenSecretRef) read from its Secret and looked up instead of a login. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "signers/vault_int.h"
#include "signers/vaultmsg.h"

/* ---- configuration: what each method needs ---- */

/* A mount path (after /v1/) that is safe in a URL: cleaned of leading and trailing '/'. NULL
 * with ERR_INVALID naming field when it is empty or has a byte a URL cannot carry. */
static char *vaultlogin_mount(const char *mount, const char *field, struct err *err)
{
    char *m = vaulthttp_strip(mount != NULL ? mount : "", true, true);
    if (m[0] == '\0' || !vaulthttp_clean(m, "\"<>\\^`{|}?#")) {
        err_set(err, ERR_INVALID, "%s \"%.200s\" is not a valid path", field,
                mount != NULL ? mount : "");
        free(m);
        return NULL;
    }
    return m;
}

/* The login path of cfg's method, which logs in (not a static token). -1 with ERR_INVALID naming
 * the mount's field. */
static int vaultlogin_api(const struct vault_config *cfg, char **login_api, struct err *err)
{
    const char *mount = cfg->mount_path, *field;
    switch (cfg->auth) {
    case VAULT_AUTH_APPROLE:
        mount = cfg->approle_path != NULL && cfg->approle_path[0] != '\0' ? cfg->approle_path
                                                                          : "approle";
        field = "spec.vault.auth.appRole.path";
        break;
    case VAULT_AUTH_CERT: field = "spec.vault.auth.clientCertificate.mountPath"; break;
    case VAULT_AUTH_KUBERNETES: field = "spec.vault.auth.kubernetes.mountPath"; break;
    default: err_set(err, ERR_INVALID, "unknown Vault auth method %d", (int)cfg->auth); return -1;
    }
    char *m = vaultlogin_mount(mount, field, err);
    if (m == NULL)
        return -1;
    *login_api =
        cfg->auth == VAULT_AUTH_APPROLE ? xasprintf("auth/%s/login", m) : xasprintf("%s/login", m);
    free(m);
    return 0;
}

/* What cfg's method lacks (cert-manager's words where it has them), or NULL. */
static const char *vaultlogin_missing(const struct vault_config *cfg)
{
    bool role = cfg->role_id != NULL && cfg->role_id[0] != '\0';
    switch (cfg->auth) {
    case VAULT_AUTH_APPROLE:
        if (!role)
            return "AppRole auth requires spec.vault.auth.appRole.roleId";
        return cfg->secret_id == NULL ? "AppRole auth requires spec.vault.auth.appRole.secretRef"
                                      : NULL;
    case VAULT_AUTH_TOKEN:
        return cfg->secret_id == NULL ? "Vault Token auth requires tokenSecretRef.name" : NULL;
    case VAULT_AUTH_CERT:
        return cfg->identity == NULL && cfg->client_cert_pem == NULL
                   ? "Vault TLS certificate auth needs a certificate: set "
                     "spec.vault.auth.clientCertificate.secretName, or "
                     "spec.vault.clientCertSecretRef and clientKeySecretRef"
                   : NULL;
    case VAULT_AUTH_KUBERNETES:
        if (!role)
            return "Vault Kubernetes auth requires a role to be set";
        return cfg->secret_id == NULL ? "Vault Kubernetes auth requires either secretRef.name or "
                                        "serviceAccountRef.name to be set"
                                      : NULL;
    }
    return "unknown Vault auth method";
}

/* Checks what cfg's method needs; *login_api: its login path, NULL for a static token. */
int vaultlogin_setup(const struct vault_config *cfg, char **login_api, struct err *err)
{
    *login_api = NULL;
    if (cfg->auth != VAULT_AUTH_TOKEN && vaultlogin_api(cfg, login_api, err) != 0)
        return -1;
    const char *missing = vaultlogin_missing(cfg);
    if (missing != NULL) {
        err_set(err, ERR_INVALID, "%s", missing);
        free(*login_api);
        *login_api = NULL;
        return -1;
    }
    return 0;
}

const char *vaultlogin_default_desc(enum vault_auth auth)
{
    switch (auth) {
    case VAULT_AUTH_TOKEN: return "the tokenSecretRef Secret";
    case VAULT_AUTH_CERT: return "the client certificate";
    case VAULT_AUTH_KUBERNETES: return "the service account token";
    default: return "the AppRole secret_id Secret";
    }
}

/* Applies lookup-self's num_uses rule (see the num_uses comment in vault_int.h) to a new token t.
 * Returns 1 when the lookup used the token up (single-use role), else 0. */
static int vaultlogin_lookup_uses(struct vault *v, struct vault_tok *t)
{
    struct vault_resp r;
    struct err e = {0};
    struct vaultmsg_lookup lk;
    t->uses = -1;
    t->looked_unlimited = false;
    if (vaulthttp_request(v, "auth/token/lookup-self", t->token, true, NULL, 0, v->total_ms, &r,
                          &e) != 0) {
        LOG(LOG_WARN, "vault", v->name, e.msg,
            "lookup-self failed; assuming the Vault token has no use limit");
    } else if (r.status != 200) {
        char msg[VAULTMSG_MAX_ERROR_TEXT];
        vaulthttp_errors(&r, msg, sizeof(msg));
        LOG(LOG_WARN, "vault", v->name, msg,
            "lookup-self answered HTTP %ld; assuming the Vault token has no use limit", r.status);
    } else if (vaultmsg_parse_lookup(r.body.data, r.body.len, &lk, &e) != 0) {
        LOG(LOG_WARN, "vault", v->name, e.msg,
            "cannot read lookup-self; assuming the Vault token has no use limit");
    } else if (lk.num_uses < 0) {
        vaulthttp_resp_free(&r, true);
        return 1;
    } else {
        t->uses = lk.num_uses == 0 ? -1 : lk.num_uses;
        t->looked_unlimited = lk.num_uses == 0;
    }
    vaulthttp_resp_free(&r, true);
    return 0;
}

/* ---- logins: one function per method builds what it sends ---- */

/* What one login sends: its body (a secret: wiped), and the client to send it with. */
struct vaultlogin_req {
    char *body;
    size_t len;
    struct httpc *via; /* a login-only client (freed after the login), or NULL = v->http */
};

static void vaultlogin_req_free(struct vaultlogin_req *q)
{
    if (q->body != NULL)
        xfree_secret(q->body, q->len);
    httpc_free(q->via);
    memset(q, 0, sizeof(*q));
}

/* The method's secret (secret_id, JWT, token) through secret_fn; *out: wipe it. */
static int vaultlogin_read_secret(struct vault *v, char **out, size_t *len, struct err *err)
{
    struct err se = {0};
    *out = NULL;
    *len = 0;
    if (v->secret_fn(v->secret_ud, out, len, &se) == 0)
        return 0;
    if (*out != NULL)
        xfree_secret(*out, *len);
    *out = NULL;
    enum err_kind kind = se.kind == ERR_TRANSIENT ? ERR_TRANSIENT : ERR_ISSUER_NOT_READY;
    if (se.msg[0] != '\0')
        err_set(err, kind, "%s", se.msg);
    else
        err_set(err, kind, "cannot read %s", v->secret_desc);
    return -1;
}

/* AppRole: {role_id, secret_id} with the secret_id read again. */
static int vaultlogin_approle_body(struct vault *v, struct vaultlogin_req *q, struct err *err)
{
    char *secret;
    size_t slen;
    if (vaultlogin_read_secret(v, &secret, &slen, err) != 0)
        return -1;
    int rc = vaultmsg_login_body(v->role_id, secret, slen, &q->body, &q->len, err);
    xfree_secret(secret, slen);
    if (rc != 0) {
        if (err != NULL)
            err->kind = ERR_ISSUER_NOT_READY;
        err_prefix(err, "AppRole login with %s", v->secret_desc);
    }
    return rc;
}

/* Kubernetes: {role, jwt} with a JWT read again (a Secret, or a new service account token). */
static int vaultlogin_kubernetes_body(struct vault *v, struct vaultlogin_req *q, struct err *err)
{
    char *jwt;
    size_t jlen;
    if (vaultlogin_read_secret(v, &jwt, &jlen, err) != 0)
        return -1;
    int rc = vaultmsg_kubernetes_login_body(v->role_id, jwt, jlen, &q->body, &q->len, err);
    xfree_secret(jwt, jlen);
    if (rc != 0) {
        if (err != NULL)
            err->kind = ERR_ISSUER_NOT_READY;
        err_prefix(err, "Kubernetes login with %s", v->secret_desc);
    }
    return rc;
}

/* TLS certificate: {name}, sent over a connection presenting the login's own identity (read
 * again, on a login-only client), or the mTLS identity every request presents. */
static int vaultlogin_cert_body(struct vault *v, struct vaultlogin_req *q, struct err *err)
{
    if (v->identity_fn != NULL) {
        char *cert = NULL, *key = NULL;
        size_t clen = 0, klen = 0;
        struct err se = {0};
        int rc = v->identity_fn(v->secret_ud, &cert, &clen, &key, &klen, &se);
        if (rc == 0)
            q->via = vaulthttp_client(v, cert, clen, key, klen, err);
        free(cert);
        if (key != NULL)
            xfree_secret(key, klen);
        if (rc != 0) {
            err_set(err, se.kind == ERR_TRANSIENT ? ERR_TRANSIENT : ERR_ISSUER_NOT_READY, "%s",
                    se.msg[0] != '\0' ? se.msg : "cannot read the client certificate");
            return -1;
        }
        if (q->via == NULL)
            return -1;
    }
    return vaultmsg_cert_login_body(v->role_id, &q->body, &q->len, err);
}

static const struct vaultlogin_method {
    const char *label;       /* "logged in to Vault with <label>" */
    const char *fix;         /* what to check, before the Secret, when Vault refuses */
    const char *mount_field; /* what to check on a 404 */
    int (*build)(struct vault *v, struct vaultlogin_req *q, struct err *err);
} vaultlogin_methods[] = {
    [VAULT_AUTH_APPROLE] = {"AppRole", "spec.vault.auth.appRole.roleId and",
                            "spec.vault.auth.appRole.path", vaultlogin_approle_body},
    [VAULT_AUTH_CERT] = {"TLS certificate", "spec.vault.auth.clientCertificate.name and",
                         "spec.vault.auth.clientCertificate.mountPath", vaultlogin_cert_body},
    [VAULT_AUTH_KUBERNETES] = {"Kubernetes", "spec.vault.auth.kubernetes.role and",
                               "spec.vault.auth.kubernetes.mountPath", vaultlogin_kubernetes_body},
};

/* Reads a login answer r into t: the token, lease, renewable, batch and uses. */
static int vaultlogin_answer(struct vault *v, const struct vaultlogin_method *m,
                             const struct vault_resp *r, struct vault_tok *t, struct err *err)
{
    char msg[VAULTMSG_MAX_ERROR_TEXT];
    if (r->status == 400 || r->status == 403 || r->status == 401) {
        vaulthttp_errors(r, msg, sizeof(msg));
        err_set(err, ERR_ISSUER_NOT_READY,
                "Vault refused the %s login at /v1/%s (HTTP %ld): %s; check %s %s", m->label,
                v->login_api, r->status, msg, m->fix, v->secret_desc);
        return -1;
    }
    if (r->status < 200 || r->status > 299) {
        vaulthttp_errors(r, msg, sizeof(msg));
        err_set(err, r->status == 404 || r->status == 405 ? ERR_ISSUER_NOT_READY : ERR_TRANSIENT,
                "Vault %s login at /v1/%s failed (HTTP %ld): %s%s%s", m->label, v->login_api,
                r->status, msg, r->status == 404 ? "; check " : "",
                r->status == 404 ? m->mount_field : "");
        return -1;
    }
    struct vaultmsg_login lg;
    if (vaultmsg_parse_login(r->body.data, r->body.len, &lg, err) != 0) {
        if (err != NULL && err->kind != ERR_TRANSIENT)
            err->kind = ERR_ISSUER_NOT_READY;
        err_prefix(err, "%s login", m->label);
        return -1;
    }
    t->token = lg.client_token;
    lg.client_token = NULL;
    t->lease = lg.lease_duration;
    t->renewable = lg.renewable;
    t->batch = strcmp(lg.token_type, "batch") == 0 || strncmp(t->token, "hvb.", 4) == 0;
    t->uses = lg.has_num_uses && lg.num_uses > 0 ? lg.num_uses : -1;
    t->login_uses = lg.has_num_uses;
    vaultmsg_login_clear(&lg);
    return 0;
}

/* POST the method's login once; fills t (token, lease, renewable, batch). */
static int vaultlogin_once(struct vault *v, struct vault_tok *t, struct err *err)
{
    const struct vaultlogin_method *m = &vaultlogin_methods[v->auth];
    struct vaultlogin_req q = {0};
    if (m->build(v, &q, err) != 0) {
        vaultlogin_req_free(&q);
        return -1;
    }
    struct vault_resp r;
    int rc = vaulthttp_via(v, q.via != NULL ? q.via : v->http, v->login_api, NULL, true, q.body,
                           q.len, v->total_ms, &r, err);
    vaultlogin_req_free(&q);
    if (rc != 0)
        err_prefix(err, "%s login", m->label);
    else
        rc = vaultlogin_answer(v, m, &r, t, err);
    vaulthttp_resp_free(&r, true);
    return rc;
}

/* lookup-self of the static token t->token: fills t's lease (its TTL), renewable (only with a
 * TTL) and uses. Vault's refusal of the token itself ("invalid token") is ERR_ISSUER_NOT_READY
 * naming the Secret; a lookup its policy refuses leaves the token as is: no TTL, not renewed,
 * uses not counted (a warning says why); other failures are ERR_TRANSIENT. */
static int vaultlogin_token_lookup(struct vault *v, struct vault_tok *t, struct err *err)
{
    struct vault_resp r;
    if (vaulthttp_request(v, "auth/token/lookup-self", t->token, true, NULL, 0, v->total_ms, &r,
                          err) != 0) {
        err_prefix(err, "looking up the Vault token of %s", v->secret_desc);
        vaulthttp_resp_free(&r, true);
        return -1;
    }
    struct vaultmsg_lookup lk;
    int rc = -1;
    char msg[VAULTMSG_MAX_ERROR_TEXT] = "";
    /* A batch token, by its prefix (Vault's "hvb.", older "b."), is never renewed. */
    t->batch = strncmp(t->token, "hvb.", 4) == 0 || strncmp(t->token, "b.", 2) == 0;
    if (r.status == 403 || r.status == 401)
        vaulthttp_errors(&r, msg, sizeof(msg));
    if ((r.status == 403 || r.status == 401) && strstr(msg, "invalid token") == NULL) {
        /* Vault adds "invalid token" to the 403 of an unknown, expired or revoked token; without
         * it the token is valid and its policy leaves out auth/token/lookup-self (made with
         * -no-default-policy). That token still signs: use it as cert-manager does, as is, and
         * let the sign answer decide (a 403 there reads the Secret again and says so). */
        LOG(LOG_WARN, "vault", v->name, msg,
            "cannot look up the Vault token of %s (HTTP %ld from lookup-self): using it as is, "
            "never renewed, uses not counted; its policy needs \"read\" on "
            "auth/token/lookup-self (Vault's default policy) for that",
            v->secret_desc, r.status);
        t->lease = 0;
        t->renewable = false;
        t->uses = -1;
        rc = 0;
    } else if (r.status == 403 || r.status == 401) {
        err_set(err, ERR_ISSUER_NOT_READY,
                "Vault refused the token of %s (HTTP %ld from lookup-self): %s; check "
                "spec.vault.auth.tokenSecretRef",
                v->secret_desc, r.status, msg);
    } else if (r.status != 200) {
        vaulthttp_errors(&r, msg, sizeof(msg));
        err_set(err, ERR_TRANSIENT,
                "Vault could not look up the token of %s (HTTP %ld from lookup-self): %s",
                v->secret_desc, r.status, msg);
    } else if (vaultmsg_parse_lookup(r.body.data, r.body.len, &lk, err) != 0) {
        err_prefix(err, "looking up the Vault token of %s", v->secret_desc);
    } else if (lk.num_uses < 0) {
        err_set(err, ERR_ISSUER_NOT_READY, "the Vault token of %s has no uses left",
                v->secret_desc);
    } else {
        t->lease = lk.ttl;
        t->renewable = lk.renewable && lk.ttl > 0;
        t->uses = lk.num_uses == 0 ? -1 : lk.num_uses;
        rc = 0;
    }
    vaulthttp_resp_free(&r, true);
    return rc;
}

/* A static token (tokenSecretRef), read from its Secret, and what lookup-self says of it: its TTL
 * (renewed with renew-self only when renewable and it has one) and uses. Never a login. */
static int vaultlogin_token_read(struct vault *v, struct vault_tok *t, struct err *err)
{
    char *raw;
    size_t n;
    if (vaultlogin_read_secret(v, &raw, &n, err) != 0)
        return -1;
    /* Trimmed as cert-manager does (a Secret written by hand ends in a newline). */
    const char *p = raw;
    size_t len = n;
    while (len > 0 && strchr(" \t\r\n", p[0]) != NULL)
        p++, len--;
    while (len > 0 && strchr(" \t\r\n", p[len - 1]) != NULL)
        len--;
    bool printable = len > 0 && len <= VAULTMSG_MAX_TOKEN;
    for (size_t i = 0; printable && i < len; i++)
        printable = p[i] > 0x20 && p[i] < 0x7f;
    if (printable)
        t->token = xstrndup(p, len);
    xfree_secret(raw, n);
    if (!printable) {
        err_set(err, ERR_ISSUER_NOT_READY,
                "the Vault token in %s is %s (check spec.vault.auth.tokenSecretRef)",
                v->secret_desc,
                len == 0 ? "empty" : "not a token (blanks, control bytes or too long)");
        return -1;
    }
    if (vaultlogin_token_lookup(v, t, err) != 0) {
        vaulttoken_tok_clear(t);
        return -1;
    }
    LOG(LOG_INFO, "vault", v->name, NULL, "using the Vault token of %s (ttl %llds, %s, %s uses)",
        v->secret_desc, t->lease, t->renewable && !t->batch ? "renewable" : "not renewed",
        t->uses < 0 ? "unlimited" : "limited");
    return 0;
}

/* A new token: login, then learn its use limit. Only the busy thread calls this. */
int vaultlogin_new_token(struct vault *v, struct vault_tok *t, struct err *err)
{
    if (v->auth == VAULT_AUTH_TOKEN)
        return vaultlogin_token_read(v, t, err);
    if (vaultlogin_once(v, t, err) != 0)
        return -1;
    pthread_mutex_lock(&v->mu);
    bool single = v->single_use_role, suspect = v->suspect_single;
    pthread_mutex_unlock(&v->mu);
    if (t->login_uses) {
        /* The login said how many uses the token has: nothing to look up. */
    } else if (single || suspect) {
        t->uses = 1;
        t->presumed_single = !single;
    } else if (vaultlogin_lookup_uses(v, t) != 0) {
        /* The lookup ate the only use: log in once more and keep that token for one request,
         * and skip the lookup from now on (it would eat the only use every time). */
        LOG(LOG_INFO, "vault", v->name, NULL,
            "the Vault role gives single-use tokens: every request needs a new login");
        pthread_mutex_lock(&v->mu);
        v->single_use_role = true;
        pthread_mutex_unlock(&v->mu);
        vaulttoken_tok_clear(t);
        if (vaultlogin_once(v, t, err) != 0)
            return -1;
        t->uses = 1;
    }
    LOG(LOG_INFO, "vault", v->name, NULL,
        "logged in to Vault with %s (token lease %llds, %s, %s uses)",
        vaultlogin_methods[v->auth].label, t->lease,
        t->renewable && !t->batch ? "renewable" : "not renewable",
        t->uses < 0 ? "unlimited" : "limited");
    return 0;
}
