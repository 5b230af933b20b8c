/* vault.c -- the HashiCorp Vault signer: a cached token from a login (AppRole, TLS certificate,
 * Kubernetes) or a static token, PKI sign, health. */
#include "signers/vault.h"

#include <math.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/httpc.h"
#include "base/log.h"
#include "base/mem.h"
#include "signers/vaultmsg.h"
#include "x509/chain.h"

/* Idle connections kept for reuse (httpc's pool), so a steady stream of signs costs one round
 * trip each, not a TCP and TLS handshake each. */
#define VAULT_POOL_MAX 8
/* revoke-self at shutdown or for a replaced token must not hold anything up. */
#define VAULT_REVOKE_TIMEOUT_MS 2000
/* After a failed renewal or login while the old token still works, wait this long before
 * trying again. */
#define VAULT_REFRESH_RETRY_S 10.0
/* A token is not used in the last 10% of its lifetime (at most this many seconds). */
#define VAULT_EXPIRY_MARGIN_S 30.0

/*
 * num_uses: how Vault counts (hashicorp/vault vault/token_store.go, UseToken and handleLookup).
 * Every request made with a token first goes through UseToken, which decrements the stored
 * num_uses, or, on the last use, sets it to -1 ("revocation pending") and revokes the token
 * when the request ends. Only then does the handler run; lookup-self reads the entry with
 * tainted=true, so it reports the count AFTER its own use:
 *   num_uses  0  -> the token is unlimited;
 *   num_uses  N  -> N more requests may be made with it (the lookup already spent one);
 *   num_uses -1  -> the lookup spent the last use: the role hands out single-use tokens.
 * The login answer itself says how many uses the new token has (auth.num_uses, from the role's
 * token_num_uses; hashicorp/vault sdk/logical/translate_response.go HTTPAuth): when it is there
 * the client takes it and makes no lookup; lookup-self is only for answers without it.
 * The client mirrors that count in uses_left (-1 = unlimited), decrements it for every
 * authenticated request it sends (sign, renew-self, lookup-self, revoke-self) and logs in again
 * instead of sending a request when it has reached 0, so it never spends a request on a dead
 * token. When a lookup shows single-use tokens, the client stops calling lookup-self (it would
 * eat the only use) and treats every later token of this role as good for one request.
 */

struct vault {
    char *server; /* no trailing '/' */
    char *path;   /* no leading '/' */
    char *ns;     /* NULL = no X-Vault-Namespace */
    enum vault_auth auth;
    char *login_api; /* "auth/approle/login", "auth/kubernetes/login", ...; NULL for a token */
    char *role_id;   /* AppRole roleId, Kubernetes role, cert role name */
    vault_secret_fn secret_fn;
    void *secret_ud;
    vault_identity_fn identity_fn;
    char *secret_desc; /* names the Secret in messages */
    char *name;
    long total_ms;
    bool https;
    struct httpc *http; /* keeps connections alive between requests */
    bool mtls;          /* http presents a client certificate */
    /* What a login-only client (a cert login with its own identity) is made with. */
    char *ca_pem, *server_name;
    size_t ca_len;
    long connect_ms;

    /* Token state, under mu. busy: one thread is logging in or renewing; others wait on cv when
     * they have no usable token, or keep using the current one. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *token;           /* NULL = none */
    unsigned long gen;     /* bumped for every new token */
    double refresh_at;     /* monotonic seconds; 0 = never */
    double expires_at;     /* monotonic seconds; 0 = never */
    long long login_lease; /* lease of the last login, seconds */
    bool renewable, batch;
    long long uses_left; /* -1 = unlimited */
    bool busy;
    /* What the role's tokens are worth (see the num_uses comment above). */
    bool single_use_role;          /* lookup-self showed single-use tokens: no more lookups */
    bool suspect_single;           /* a token lookup-self called unlimited was refused at once */
    unsigned long probe_unlimited; /* gen whose lookup said unlimited, first use pending */
    unsigned long probe_single;    /* gen presumed single-use on suspicion, first use pending */
    unsigned long login_seq;
    bool login_failed;
    struct err login_err;

    unsigned long round_trips; /* __atomic */
    bool cancelled;            /* __atomic: vault_cancel was called */
};

/* One HTTP answer. */
struct vault_resp {
    long status;
    struct buf body;
};

/* ---- configuration ---- */

/* True when s has no byte that could break a URL or a header line. */
static bool vault_clean(const char *s, const char *forbidden)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p <= 0x20 || *p >= 0x7f || strchr(forbidden, *p) != NULL)
            return false;
    return true;
}

static bool vault_loopback_host(const char *after_scheme)
{
    static const char *const hosts[] = {"127.", "localhost:", "localhost/", "[::1]"};
    if (strcmp(after_scheme, "localhost") == 0)
        return true;
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
        if (strncmp(after_scheme, hosts[i], strlen(hosts[i])) == 0)
            return true;
    return false;
}

static char *vault_strip(const char *s, bool leading, bool trailing)
{
    while (leading && *s == '/')
        s++;
    size_t n = strlen(s);
    while (trailing && n > 0 && s[n - 1] == '/')
        n--;
    return xstrndup(s, n);
}

/* A client for Vault: its scheme, CA bundle, server name and connect timeout, presenting the
 * certificate cert (PEM chain) with its key when cert is not NULL. */
static struct httpc *vault_http_client(const struct vault *v, const char *cert, size_t cert_len,
                                       const char *key, size_t key_len, struct err *err)
{
    struct httpc_opts o = {
        .plain_http = !v->https,
        .ca_pem = v->ca_pem,
        .ca_len = v->ca_len,
        .client_cert_pem = cert,
        .client_cert_len = cert != NULL ? cert_len : 0,
        .client_key_pem = cert != NULL ? key : NULL,
        .client_key_len = cert != NULL ? key_len : 0,
        .server_name = v->server_name,
        .connect_timeout_ms = v->connect_ms,
        .pool_max = VAULT_POOL_MAX,
    };
    struct httpc *h = httpc_new(&o, err);
    if (h == NULL)
        err_prefix(err, "Vault client");
    return h;
}

/* spec.vault.server: an https:// URL, or http:// to a loopback address; *https says which. */
static int vault_server_check(const char *server, bool *https, struct err *err)
{
    *https = strncmp(server, "https://", 8) == 0;
    bool http = strncmp(server, "http://", 7) == 0;
    if (!*https && !http) {
        err_set(err, ERR_INVALID, "spec.vault.server must be an https:// URL, not \"%.200s\"",
                server);
        return -1;
    }
    const char *host = server + (*https ? 8 : 7);
    if (host[0] == '\0' || host[0] == '/' || !vault_clean(server, "\"<>\\^`{|}?#")) {
        err_set(err, ERR_INVALID, "spec.vault.server \"%.200s\" is not a valid URL", server);
        return -1;
    }
    if (http && !vault_loopback_host(host)) {
        err_set(err, ERR_INVALID,
                "spec.vault.server must use https:// (plain http:// is allowed only to a "
                "loopback address): \"%.200s\"",
                server);
        return -1;
    }
    return 0;
}

/* A mount path (after /v1/) that is safe in a URL: cleaned of leading and trailing '/'. NULL
 * with ERR_INVALID naming field when it is empty or has a byte a URL cannot carry. */
static char *vault_mount(const char *mount, const char *field, struct err *err)
{
    char *m = vault_strip(mount != NULL ? mount : "", true, true);
    if (m[0] == '\0' || !vault_clean(m, "\"<>\\^`{|}?#")) {
        err_set(err, ERR_INVALID, "%s \"%.200s\" is not a valid path", field,
                mount != NULL ? mount : "");
        free(m);
        return NULL;
    }
    return m;
}

/* The login path of cfg's method, which logs in (not a static token). -1 with ERR_INVALID naming
 * the mount's field. */
static int vault_login_api(const struct vault_config *cfg, char **login_api, struct err *err)
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
    char *m = vault_mount(mount, field, err);
    if (m == NULL)
        return -1;
    *login_api =
        cfg->auth == VAULT_AUTH_APPROLE ? xasprintf("auth/%s/login", m) : xasprintf("%s/login", m);
    free(m);
    return 0;
}

/* What cfg's method lacks (cert-manager's words where it has them), or NULL. */
static const char *vault_auth_missing(const struct vault_config *cfg)
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
static int vault_auth_setup(const struct vault_config *cfg, char **login_api, struct err *err)
{
    *login_api = NULL;
    if (cfg->auth != VAULT_AUTH_TOKEN && vault_login_api(cfg, login_api, err) != 0)
        return -1;
    const char *missing = vault_auth_missing(cfg);
    if (missing != NULL) {
        err_set(err, ERR_INVALID, "%s", missing);
        free(*login_api);
        *login_api = NULL;
        return -1;
    }
    return 0;
}

/* spec.vault.server, path and namespace, and the timeouts; *https says the scheme. */
static int vault_config_check(const struct vault_config *cfg, bool *https, struct err *err)
{
    if (vault_server_check(cfg->server != NULL ? cfg->server : "", https, err) != 0)
        return -1;
    const char *path = cfg->path != NULL ? cfg->path : "";
    while (*path == '/')
        path++;
    if (path[0] == '\0' || !vault_clean(path, "\"<>\\^`{|}?#")) {
        err_set(err, ERR_INVALID,
                "spec.vault.path must be a Vault API path such as \"pki_int/sign/ROLE\", not "
                "\"%.200s\"",
                cfg->path != NULL ? cfg->path : "");
        return -1;
    }
    if (cfg->namespace != NULL && cfg->namespace[0] != '\0' &&
        !vault_clean(cfg->namespace, "\"<>\\^`{|}?#")) {
        err_set(err, ERR_INVALID, "spec.vault.namespace \"%.200s\" contains invalid characters",
                cfg->namespace);
        return -1;
    }
    if ((cfg->client_cert_pem == NULL) != (cfg->client_key_pem == NULL)) {
        err_set(err, ERR_INVALID,
                "spec.vault.clientCertSecretRef and clientKeySecretRef go together");
        return -1;
    }
    if (cfg->connect_timeout_ms < 0 || cfg->total_timeout_ms < 0) {
        err_set(err, ERR_INVALID, "Vault timeouts must not be negative");
        return -1;
    }
    return 0;
}

static const char *vault_default_desc(enum vault_auth auth)
{
    switch (auth) {
    case VAULT_AUTH_TOKEN: return "the tokenSecretRef Secret";
    case VAULT_AUTH_CERT: return "the client certificate";
    case VAULT_AUTH_KUBERNETES: return "the service account token";
    default: return "the AppRole secret_id Secret";
    }
}

struct vault *vault_new(const struct vault_config *cfg, struct err *err)
{
    bool https = false;
    char *login_api = NULL;
    if (vault_config_check(cfg, &https, err) != 0 || vault_auth_setup(cfg, &login_api, err) != 0)
        return NULL;
    const char *path = cfg->path;
    while (*path == '/')
        path++;
    struct vault *v = xcalloc(1, sizeof(*v));
    v->server = vault_strip(cfg->server, false, true);
    v->path = xstrdup(path);
    v->ns = cfg->namespace != NULL && cfg->namespace[0] != '\0' ? xstrdup(cfg->namespace) : NULL;
    v->auth = cfg->auth;
    v->login_api = login_api;
    v->role_id = xstrdup(cfg->role_id != NULL ? cfg->role_id : "");
    v->secret_fn = cfg->secret_id;
    v->secret_ud = cfg->secret_ud;
    v->identity_fn = cfg->identity;
    v->secret_desc = xstrdup(cfg->secret_name != NULL && cfg->secret_name[0] != '\0'
                                 ? cfg->secret_name
                                 : vault_default_desc(cfg->auth));
    v->name = xstrdup(cfg->name != NULL ? cfg->name : "vault");
    v->total_ms = cfg->total_timeout_ms > 0 ? cfg->total_timeout_ms : VAULT_TOTAL_TIMEOUT_MS;
    v->https = https;
    v->uses_left = -1;
    if (cfg->ca_bundle_pem != NULL && cfg->ca_bundle_len > 0) {
        v->ca_pem = xmalloc(cfg->ca_bundle_len);
        memcpy(v->ca_pem, cfg->ca_bundle_pem, cfg->ca_bundle_len);
        v->ca_len = cfg->ca_bundle_len;
    }
    v->server_name =
        cfg->server_name != NULL && cfg->server_name[0] != '\0' ? xstrdup(cfg->server_name) : NULL;
    v->connect_ms =
        cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : VAULT_CONNECT_TIMEOUT_MS;
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->cv, NULL);
    v->mtls = cfg->client_cert_pem != NULL;
    v->http = vault_http_client(v, cfg->client_cert_pem, cfg->client_cert_len, cfg->client_key_pem,
                                cfg->client_key_len, err);
    if (v->http == NULL) {
        vault_free(v);
        return NULL;
    }
    return v;
}

/* ---- HTTP ---- */

static void vault_resp_free(struct vault_resp *r, bool secret)
{
    if (secret)
        buf_free_secret(&r->body);
    else
        buf_free(&r->body);
}

/* The error of a request that got no answer, as Vault's messages have always put it. bare: the
 * request went over TLS without a client certificate (a transport failure may then be Vault's
 * listener refusing the handshake for want of one). */
static void vault_http_error(const char *method, const char *api_path, const struct httpc_resp *hr,
                             bool bare, struct err *err)
{
    switch (hr->fail) {
    case HTTPC_FAIL_TOO_BIG:
        err_set(err, ERR_TRANSIENT, "Vault %s /v1/%s: response larger than %d bytes", method,
                api_path, VAULT_MAX_RESPONSE);
        break;
    case HTTPC_FAIL_TIMEOUT:
        err_set(err, ERR_TRANSIENT, "Vault %s /v1/%s: timed out (%s)", method, api_path,
                hr->detail);
        break;
    case HTTPC_FAIL_TLS_VERIFY:
        err_set(err, ERR_TRANSIENT,
                "Vault %s /v1/%s: Vault's TLS certificate is not trusted (check "
                "spec.vault.caBundle and spec.vault.serverName): %s",
                method, api_path, hr->detail);
        break;
    case HTTPC_FAIL_SETUP: err_prefix(err, "Vault %s /v1/%s", method, api_path); break;
    case HTTPC_FAIL_TRANSPORT:
        err_set(err, ERR_TRANSIENT, "Vault %s /v1/%s: %s%s", method, api_path, hr->detail,
                bare ? " (if Vault requires a client certificate, set "
                       "spec.vault.clientCertSecretRef and clientKeySecretRef)"
                     : "");
        break;
    default:
        err_set(err, ERR_TRANSIENT, "Vault %s /v1/%s: %s", method, api_path, hr->detail);
        break;
    }
}

/* Checks the Location of a 307/308 (hop redirects followed so far) and returns a copy of it,
 * or NULL with ERR_TRANSIENT: none, too many, or another scheme or a suspicious URL. */
static char *vault_redirect(const struct vault *v, const char *method, const char *api_path,
                            int hop, const struct httpc_resp *hr, struct err *err)
{
    const char *loc = hr->location;
    if (loc == NULL || loc[0] == '\0') {
        err_set(err, ERR_TRANSIENT, "Vault %s /v1/%s: HTTP %ld redirect without a Location", method,
                api_path, hr->code);
        return NULL;
    }
    if (hop >= VAULT_MAX_REDIRECTS) {
        err_set(err, ERR_TRANSIENT, "Vault %s /v1/%s: more than %d redirects", method, api_path,
                VAULT_MAX_REDIRECTS);
        return NULL;
    }
    const char *scheme = v->https ? "https://" : "http://";
    if (strncmp(loc, scheme, strlen(scheme)) != 0 || !vault_clean(loc, "\"<>\\^`{|}")) {
        err_set(err, ERR_TRANSIENT, "Vault %s /v1/%s: refusing a redirect to \"%.200s\" (not %s)",
                method, api_path, loc, scheme);
        return NULL;
    }
    /* Plain HTTP is only allowed to loopback: a redirect must not carry the token or a login's
     * secret_id in clear text to another host. */
    if (!v->https && !vault_loopback_host(loc + strlen(scheme))) {
        err_set(err, ERR_TRANSIENT,
                "Vault %s /v1/%s: refusing a redirect to \"%.200s\" (plain HTTP is for loopback "
                "only)",
                method, api_path, loc);
        return NULL;
    }
    return xstrdup(loc);
}

/* httpc's stop poll: true once vault_cancel was called. */
static bool vault_stopped(void *ud)
{
    const struct vault *v = ud;
    return __atomic_load_n(&v->cancelled, __ATOMIC_ACQUIRE);
}

/* Sends one request (GET when body is NULL, else POST) to /v1/<api_path> through the client
 * via, following 307/308 from a standby by hand (same method, body and token, same scheme, CA
 * trust and TLS identity) at most VAULT_MAX_REDIRECTS times. Fills r (vault_resp_free it, also
 * on error). Returns 0 with any HTTP status, or -1 with ERR_TRANSIENT for network errors,
 * timeouts, a too large answer or a bad redirect. */
static int vault_http_via(struct vault *v, struct httpc *via, const char *api_path,
                          const char *token, bool with_ns, const char *body, size_t body_len,
                          long total_ms, struct vault_resp *r, struct err *err)
{
    r->status = 0;
    buf_init(&r->body, VAULT_MAX_RESPONSE);
    const char *method = body != NULL ? "POST" : "GET";
    char *url = xasprintf("%s/v1/%s", v->server, api_path);
    char *tok_line = token != NULL ? xasprintf("X-Vault-Token: %s", token) : NULL;
    char *ns_line = with_ns && v->ns != NULL ? xasprintf("X-Vault-Namespace: %s", v->ns) : NULL;
    const char *hdrs[6];
    size_t n = 0;
    hdrs[n++] = "X-Vault-Request: true";
    if (tok_line != NULL)
        hdrs[n++] = tok_line;
    if (ns_line != NULL)
        hdrs[n++] = ns_line;
    if (body != NULL)
        hdrs[n++] = "Content-Type: application/json";
    /* libcurl adds "Expect: 100-continue" to big POSTs; Vault does not need the extra wait. */
    hdrs[n++] = "Expect:";
    hdrs[n] = NULL;
    struct httpc_req req = {.method = method,
                            .headers = hdrs,
                            .body = body,
                            .body_len = body_len,
                            .timeout_ms = total_ms,
                            .max_body = VAULT_MAX_RESPONSE,
                            .stop = vault_stopped,
                            .ud = v};
    int rc = -1;
    for (int hop = 0;; hop++) {
        struct httpc_resp hr;
        req.url = url;
        int hrc = httpc_request(via, &req, &hr, err);
        if (hr.fail != HTTPC_FAIL_SETUP)
            __atomic_fetch_add(&v->round_trips, 1, __ATOMIC_RELAXED);
        r->status = hr.code;
        if (hrc != 0) {
            vault_http_error(method, api_path, &hr, v->https && !v->mtls && via == v->http, err);
            httpc_resp_free_secret(&hr);
            break;
        }
        if (hr.code != 307 && hr.code != 308) {
            /* Within the same cap as httpc's: cannot fail. */
            rc = buf_append(&r->body, hr.body, hr.len, err);
            httpc_resp_free_secret(&hr);
            break;
        }
        char *next = vault_redirect(v, method, api_path, hop, &hr, err);
        httpc_resp_free(&hr);
        if (next == NULL)
            break;
        free(url);
        url = next;
    }
    if (tok_line != NULL)
        xfree_secret(tok_line, strlen(tok_line));
    free(ns_line);
    free(url);
    return rc;
}

/* vault_http_via through the client every request shares (v->http). */
static int vault_http(struct vault *v, const char *api_path, const char *token, bool with_ns,
                      const char *body, size_t body_len, long total_ms, struct vault_resp *r,
                      struct err *err)
{
    return vault_http_via(v, v->http, api_path, token, with_ns, body, body_len, total_ms, r, err);
}

/* Vault's "errors" of an answer, or "HTTP <status>" when it has none. */
static void vault_errors(const struct vault_resp *r, char *out, size_t outlen)
{
    if (vaultmsg_errors(r->body.data, r->body.len, out, outlen) == 0)
        snprintf(out, outlen, "no error message in the answer");
}

/* ---- token life cycle ---- */

struct vault_tok {
    char *token;
    long long lease;
    bool renewable, batch;
    long long uses;        /* -1 = unlimited */
    bool login_uses;       /* the login answer said how many (auth.num_uses): no lookup needed */
    bool looked_unlimited; /* lookup-self said num_uses 0 */
    bool presumed_single;  /* no lookup: taken as single-use on suspicion */
};

static void vault_tok_clear(struct vault_tok *t)
{
    if (t->token != NULL)
        xfree_secret(t->token, strlen(t->token));
    memset(t, 0, sizeof(*t));
}

static void vault_wipe_str(char **s)
{
    if (*s != NULL)
        xfree_secret(*s, strlen(*s));
    *s = NULL;
}

/* Best-effort revoke-self of token (taken and wiped). */
static void vault_revoke(struct vault *v, char *token)
{
    struct vault_resp r;
    struct err e = {0};
    if (vault_http(v, "auth/token/revoke-self", token, true, "{}", 2, VAULT_REVOKE_TIMEOUT_MS, &r,
                   &e) != 0)
        LOG(LOG_DEBUG, "vault", v->name, e.msg, "revoke-self of the old Vault token failed");
    else if (r.status != 200 && r.status != 204)
        LOG(LOG_DEBUG, "vault", v->name, NULL, "revoke-self of the old Vault token: HTTP %ld",
            r.status);
    vault_resp_free(&r, true);
    xfree_secret(token, strlen(token));
}

/* Applies lookup-self's num_uses rule (see the comment at the top) to a new token t. Returns 1
 * when the lookup used the token up (single-use role), else 0. */
static int vault_lookup_uses(struct vault *v, struct vault_tok *t)
{
    struct vault_resp r;
    struct err e = {0};
    struct vaultmsg_lookup lk;
    t->uses = -1;
    t->looked_unlimited = false;
    if (vault_http(v, "auth/token/lookup-self", t->token, true, NULL, 0, v->total_ms, &r, &e) !=
        0) {
        LOG(LOG_WARN, "vault", v->name, e.msg,
            "lookup-self failed; assuming the Vault token has no use limit");
    } else if (r.status != 200) {
        char msg[VAULTMSG_MAX_ERROR_TEXT];
        vault_errors(&r, msg, sizeof(msg));
        LOG(LOG_WARN, "vault", v->name, msg,
            "lookup-self answered HTTP %ld; assuming the Vault token has no use limit", r.status);
    } else if (vaultmsg_parse_lookup(r.body.data, r.body.len, &lk, &e) != 0) {
        LOG(LOG_WARN, "vault", v->name, e.msg,
            "cannot read lookup-self; assuming the Vault token has no use limit");
    } else if (lk.num_uses < 0) {
        vault_resp_free(&r, true);
        return 1;
    } else {
        t->uses = lk.num_uses == 0 ? -1 : lk.num_uses;
        t->looked_unlimited = lk.num_uses == 0;
    }
    vault_resp_free(&r, true);
    return 0;
}

/* ---- logins: one function per method builds what it sends ---- */

/* What one login sends: its body (a secret: wiped), and the client to send it with. */
struct vault_login_req {
    char *body;
    size_t len;
    struct httpc *via; /* a login-only client (freed after the login), or NULL = v->http */
};

static void vault_login_req_free(struct vault_login_req *q)
{
    if (q->body != NULL)
        xfree_secret(q->body, q->len);
    httpc_free(q->via);
    memset(q, 0, sizeof(*q));
}

/* The method's secret (secret_id, JWT, token) through secret_fn; *out: wipe it. */
static int vault_read_secret(struct vault *v, char **out, size_t *len, struct err *err)
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
static int vault_approle_body(struct vault *v, struct vault_login_req *q, struct err *err)
{
    char *secret;
    size_t slen;
    if (vault_read_secret(v, &secret, &slen, err) != 0)
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
static int vault_kubernetes_body(struct vault *v, struct vault_login_req *q, struct err *err)
{
    char *jwt;
    size_t jlen;
    if (vault_read_secret(v, &jwt, &jlen, err) != 0)
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
static int vault_cert_body(struct vault *v, struct vault_login_req *q, struct err *err)
{
    if (v->identity_fn != NULL) {
        char *cert = NULL, *key = NULL;
        size_t clen = 0, klen = 0;
        struct err se = {0};
        int rc = v->identity_fn(v->secret_ud, &cert, &clen, &key, &klen, &se);
        if (rc == 0)
            q->via = vault_http_client(v, cert, clen, key, klen, err);
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

static const struct vault_method {
    const char *label;       /* "logged in to Vault with <label>" */
    const char *fix;         /* what to check, before the Secret, when Vault refuses */
    const char *mount_field; /* what to check on a 404 */
    int (*build)(struct vault *v, struct vault_login_req *q, struct err *err);
} vault_methods[] = {
    [VAULT_AUTH_APPROLE] = {"AppRole", "spec.vault.auth.appRole.roleId and",
                            "spec.vault.auth.appRole.path", vault_approle_body},
    [VAULT_AUTH_CERT] = {"TLS certificate", "spec.vault.auth.clientCertificate.name and",
                         "spec.vault.auth.clientCertificate.mountPath", vault_cert_body},
    [VAULT_AUTH_KUBERNETES] = {"Kubernetes", "spec.vault.auth.kubernetes.role and",
                               "spec.vault.auth.kubernetes.mountPath", vault_kubernetes_body},
};

/* Reads a login answer r into t: the token, lease, renewable, batch and uses. */
static int vault_login_answer(struct vault *v, const struct vault_method *m,
                              const struct vault_resp *r, struct vault_tok *t, struct err *err)
{
    char msg[VAULTMSG_MAX_ERROR_TEXT];
    if (r->status == 400 || r->status == 403 || r->status == 401) {
        vault_errors(r, msg, sizeof(msg));
        err_set(err, ERR_ISSUER_NOT_READY,
                "Vault refused the %s login at /v1/%s (HTTP %ld): %s; check %s %s", m->label,
                v->login_api, r->status, msg, m->fix, v->secret_desc);
        return -1;
    }
    if (r->status < 200 || r->status > 299) {
        vault_errors(r, msg, sizeof(msg));
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
static int vault_login_once(struct vault *v, struct vault_tok *t, struct err *err)
{
    const struct vault_method *m = &vault_methods[v->auth];
    struct vault_login_req q = {0};
    if (m->build(v, &q, err) != 0) {
        vault_login_req_free(&q);
        return -1;
    }
    struct vault_resp r;
    int rc = vault_http_via(v, q.via != NULL ? q.via : v->http, v->login_api, NULL, true, q.body,
                            q.len, v->total_ms, &r, err);
    vault_login_req_free(&q);
    if (rc != 0)
        err_prefix(err, "%s login", m->label);
    else
        rc = vault_login_answer(v, m, &r, t, err);
    vault_resp_free(&r, true);
    return rc;
}

/* lookup-self of the static token t->token: fills t's lease (its TTL), renewable (only with a
 * TTL) and uses. Vault's refusal is ERR_ISSUER_NOT_READY naming the Secret. */
static int vault_token_lookup(struct vault *v, struct vault_tok *t, struct err *err)
{
    struct vault_resp r;
    if (vault_http(v, "auth/token/lookup-self", t->token, true, NULL, 0, v->total_ms, &r, err) !=
        0) {
        err_prefix(err, "looking up the Vault token of %s", v->secret_desc);
        vault_resp_free(&r, true);
        return -1;
    }
    struct vaultmsg_lookup lk;
    int rc = -1;
    char msg[VAULTMSG_MAX_ERROR_TEXT];
    if (r.status != 200) {
        vault_errors(&r, msg, sizeof(msg));
        err_set(err, r.status == 403 || r.status == 401 ? ERR_ISSUER_NOT_READY : ERR_TRANSIENT,
                "Vault refused the token of %s (HTTP %ld from lookup-self): %s; check "
                "spec.vault.auth.tokenSecretRef",
                v->secret_desc, r.status, msg);
    } else if (vaultmsg_parse_lookup(r.body.data, r.body.len, &lk, err) != 0) {
        err_prefix(err, "looking up the Vault token of %s", v->secret_desc);
    } else if (lk.num_uses < 0) {
        err_set(err, ERR_ISSUER_NOT_READY, "the Vault token of %s has no uses left",
                v->secret_desc);
    } else {
        t->lease = lk.ttl;
        t->renewable = lk.renewable && lk.ttl > 0;
        t->batch = strncmp(t->token, "hvb.", 4) == 0 || strncmp(t->token, "b.", 2) == 0;
        t->uses = lk.num_uses == 0 ? -1 : lk.num_uses;
        rc = 0;
    }
    vault_resp_free(&r, true);
    return rc;
}

/* A static token (tokenSecretRef), read from its Secret, and what lookup-self says of it: its TTL
 * (renewed with renew-self only when renewable and it has one) and uses. Never a login. */
static int vault_token_read(struct vault *v, struct vault_tok *t, struct err *err)
{
    char *raw;
    size_t n;
    if (vault_read_secret(v, &raw, &n, err) != 0)
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
    if (vault_token_lookup(v, t, err) != 0) {
        vault_tok_clear(t);
        return -1;
    }
    LOG(LOG_INFO, "vault", v->name, NULL, "using the Vault token of %s (ttl %llds, %s, %s uses)",
        v->secret_desc, t->lease, t->renewable && !t->batch ? "renewable" : "not renewed",
        t->uses < 0 ? "unlimited" : "limited");
    return 0;
}

/* A new token: login, then learn its use limit. Only the busy thread calls this. */
static int vault_login(struct vault *v, struct vault_tok *t, struct err *err)
{
    if (v->auth == VAULT_AUTH_TOKEN)
        return vault_token_read(v, t, err);
    if (vault_login_once(v, t, err) != 0)
        return -1;
    pthread_mutex_lock(&v->mu);
    bool single = v->single_use_role, suspect = v->suspect_single;
    pthread_mutex_unlock(&v->mu);
    if (t->login_uses) {
        /* The login said how many uses the token has: nothing to look up. */
    } else if (single || suspect) {
        t->uses = 1;
        t->presumed_single = !single;
    } else if (vault_lookup_uses(v, t) != 0) {
        /* The lookup ate the only use: log in once more and keep that token for one request,
         * and skip the lookup from now on (it would eat the only use every time). */
        LOG(LOG_INFO, "vault", v->name, NULL,
            "the Vault role gives single-use tokens: every request needs a new login");
        pthread_mutex_lock(&v->mu);
        v->single_use_role = true;
        pthread_mutex_unlock(&v->mu);
        vault_tok_clear(t);
        if (vault_login_once(v, t, err) != 0)
            return -1;
        t->uses = 1;
    }
    LOG(LOG_INFO, "vault", v->name, NULL,
        "logged in to Vault with %s (token lease %llds, %s, %s uses)", vault_methods[v->auth].label,
        t->lease, t->renewable && !t->batch ? "renewable" : "not renewable",
        t->uses < 0 ? "unlimited" : "limited");
    return 0;
}

/* renew-self of token; fills t's lease and renewable (not the token). */
static int vault_renew(struct vault *v, const char *token, struct vault_tok *t, struct err *err)
{
    struct vault_resp r;
    if (vault_http(v, "auth/token/renew-self", token, true, "{}", 2, v->total_ms, &r, err) != 0) {
        vault_resp_free(&r, true);
        return -1;
    }
    int rc = -1;
    if (r.status != 200) {
        char msg[VAULTMSG_MAX_ERROR_TEXT];
        vault_errors(&r, msg, sizeof(msg));
        err_set(err, ERR_TRANSIENT, "renew-self answered HTTP %ld: %s", r.status, msg);
    } else {
        struct vaultmsg_login lg;
        if (vaultmsg_parse_login(r.body.data, r.body.len, &lg, err) == 0) {
            t->lease = lg.lease_duration;
            t->renewable = lg.renewable;
            vaultmsg_login_clear(&lg);
            rc = 0;
        }
    }
    vault_resp_free(&r, true);
    return rc;
}

static void vault_set_times(struct vault *v, double t0, long long lease)
{
    if (lease <= 0) {
        v->refresh_at = 0;
        v->expires_at = 0;
        return;
    }
    double l = (double)lease;
    v->refresh_at = t0 + l * 2.0 / 3.0;
    v->expires_at = t0 + l - fmin(l / 10.0, VAULT_EXPIRY_MARGIN_S);
}

/* Called with mu held. */
static bool vault_tok_usable(const struct vault *v, double now)
{
    return v->token != NULL && v->uses_left != 0 && (v->expires_at == 0 || now < v->expires_at);
}

/* One renewal or login, made by the thread that set busy: what it started from and got. */
struct vault_refresh {
    double now;            /* when the thread found the token due or unusable */
    bool usable;           /* the cached token could still be used then */
    bool renew;            /* try renew-self of old first */
    char *old;             /* copy of the cached token (NULL when not usable); wiped */
    unsigned long old_gen; /* its generation */
    double t0;             /* when the request that gave t was sent */
    bool renewed;          /* t is old, renewed */
    int rc;                /* 0: t holds the new lease (and token, unless renewed) */
    struct vault_tok t;
    struct err e;
};

/* Hands out the cached token (mu held): counts one use with reserve, copies it to *tok and its
 * generation to *gen (either may be NULL). */
static void vault_token_take(struct vault *v, bool reserve, char **tok, unsigned long *gen)
{
    if (reserve && v->uses_left > 0)
        v->uses_left--;
    if (tok != NULL)
        *tok = xstrdup(v->token);
    if (gen != NULL)
        *gen = v->gen;
}

/* Renews f->old when f->renew, else (or when that fails) logs in; mu not held. */
static void vault_refresh_run(struct vault *v, struct vault_refresh *f)
{
    f->t0 = clock_mono_seconds();
    f->rc = -1;
    if (f->renew) {
        f->rc = vault_renew(v, f->old, &f->t, &f->e);
        f->renewed = f->rc == 0;
        if (f->rc != 0)
            LOG(LOG_INFO, "vault", v->name, f->e.msg,
                "renewing the Vault token failed; logging in again");
        else
            LOG(LOG_DEBUG, "vault", v->name, NULL, "renewed the Vault token (lease %llds)",
                f->t.lease);
    }
    if (f->rc != 0) {
        err_clear(&f->e);
        f->t0 = clock_mono_seconds();
        f->rc = vault_login(v, &f->t, &f->e);
    }
}

/* Stores what vault_refresh_run got (mu held): the renewed lease, or the new token (taken from
 * f->t), or the failure. Returns the token it replaced while still valid, for the caller to
 * revoke, else NULL. */
static char *vault_refresh_store(struct vault *v, struct vault_refresh *f)
{
    char *revoke = NULL;
    if (f->rc == 0 && f->renewed) {
        if (v->token != NULL && v->gen == f->old_gen) {
            vault_set_times(v, f->t0, f->t.lease);
            /* Close to the role's max TTL, Vault renews for less and less: then log in. */
            v->renewable = f->t.renewable && f->t.lease * 3 >= v->login_lease;
        }
        v->login_failed = false;
    } else if (f->rc == 0) {
        if (v->token != NULL) {
            if (f->usable && v->gen == f->old_gen && v->uses_left != 0 && !v->batch &&
                v->auth != VAULT_AUTH_TOKEN)
                revoke = v->token; /* replaced while still valid: revoke it below */
            else
                xfree_secret(v->token, strlen(v->token));
        }
        v->token = f->t.token;
        f->t.token = NULL;
        v->gen++;
        v->login_lease = f->t.lease;
        vault_set_times(v, f->t0, f->t.lease);
        v->renewable = f->t.renewable;
        v->batch = f->t.batch;
        v->uses_left = f->t.uses;
        v->probe_unlimited = f->t.looked_unlimited ? v->gen : 0;
        v->probe_single = f->t.presumed_single ? v->gen : 0;
        v->login_failed = false;
    } else {
        v->login_failed = true;
        v->login_err = f->e;
        if (f->usable && v->token != NULL && v->gen == f->old_gen)
            v->refresh_at = f->now + VAULT_REFRESH_RETRY_S;
    }
    return revoke;
}

/* Gets a token to use: the cached one, or a renewed or new one. With reserve, counts one use
 * of it. *tok (when tok is not NULL) is a copy to wipe with xfree_secret; *gen identifies the
 * token for vault_token_drop. */
static WUR int vault_token_get(struct vault *v, bool reserve, char **tok, unsigned long *gen,
                               struct err *err)
{
    pthread_mutex_lock(&v->mu);
    unsigned long seen = v->login_seq;
    bool waited = false;
    for (;;) {
        struct vault_refresh f = {.now = clock_mono_seconds()};
        f.usable = vault_tok_usable(v, f.now);
        bool due = f.usable && v->refresh_at > 0 && f.now >= v->refresh_at;
        if (f.usable && (!due || v->busy)) {
            vault_token_take(v, reserve, tok, gen);
            pthread_mutex_unlock(&v->mu);
            return 0;
        }
        if (v->busy) {
            waited = true;
            pthread_cond_wait(&v->cv, &v->mu);
            continue;
        }
        if (waited && v->login_seq != seen && v->login_failed) {
            /* The login this thread waited for failed: share its error instead of sending
             * Vault one more login per waiting thread. */
            if (err != NULL)
                *err = v->login_err;
            pthread_mutex_unlock(&v->mu);
            return -1;
        }
        v->busy = true;
        f.renew = f.usable && v->renewable && !v->batch && (v->uses_left < 0 || v->uses_left > 1);
        f.old = f.usable ? xstrdup(v->token) : NULL;
        f.old_gen = v->gen;
        if (f.renew && v->uses_left > 0)
            v->uses_left--;
        pthread_mutex_unlock(&v->mu);

        vault_refresh_run(v, &f);

        pthread_mutex_lock(&v->mu);
        v->busy = false;
        v->login_seq++;
        seen = v->login_seq;
        char *revoke = vault_refresh_store(v, &f);
        pthread_cond_broadcast(&v->cv);
        pthread_mutex_unlock(&v->mu);

        vault_tok_clear(&f.t);
        vault_wipe_str(&f.old);
        if (revoke != NULL)
            vault_revoke(v, revoke);
        pthread_mutex_lock(&v->mu);
        if (f.rc != 0 && !vault_tok_usable(v, clock_mono_seconds())) {
            if (err != NULL)
                *err = f.e;
            pthread_mutex_unlock(&v->mu);
            return -1;
        }
        if (f.rc != 0)
            LOG(LOG_WARN, "vault", v->name, f.e.msg,
                "refreshing the Vault token failed; using the current token while it lasts");
        waited = false;
    }
}

/* Records how Vault took the first request made with token gen (denied: a 403). Some servers
 * (and fakes) report a single-use token as num_uses 0 after lookup-self spent its only use,
 * which reads as "unlimited"; a 403 on the first request after such a lookup makes the next
 * token be taken as single-use without a lookup, and if that one works the role is single-use.
 * A 403 on that one too means the policy is the problem: lookups resume. */
static void vault_token_outcome(struct vault *v, unsigned long gen, bool denied)
{
    pthread_mutex_lock(&v->mu);
    if (gen != 0 && gen == v->probe_unlimited) {
        v->probe_unlimited = 0;
        if (denied)
            v->suspect_single = true;
    }
    if (gen != 0 && gen == v->probe_single) {
        v->probe_single = 0;
        if (!denied && v->suspect_single) {
            v->single_use_role = true;
            LOG(LOG_INFO, "vault", v->name, NULL,
                "the Vault role gives single-use tokens: every request needs a new login");
        }
        v->suspect_single = false;
    }
    pthread_mutex_unlock(&v->mu);
}

/* Forgets the token gen after Vault refused it (403), unless a newer one replaced it. Returns
 * the token unless it is a batch token: it may still be alive (refused for its policy, and then
 * our use count means nothing), so the caller revokes it, best effort, so that refused tokens
 * do not pile up as leases; else NULL. */
static char *vault_token_drop(struct vault *v, unsigned long gen)
{
    char *revoke = NULL;
    pthread_mutex_lock(&v->mu);
    if (v->token != NULL && v->gen == gen) {
        if (!v->batch && v->auth != VAULT_AUTH_TOKEN)
            revoke = v->token;
        else
            xfree_secret(v->token, strlen(v->token));
        v->token = NULL;
    }
    pthread_mutex_unlock(&v->mu);
    return revoke;
}

/* ---- health, sign ---- */

int vault_check(struct vault *v, struct err *err)
{
    unsigned long gen = 0;
    if (vault_token_get(v, false, NULL, &gen, err) != 0)
        return -1;
    struct vault_resp r;
    if (vault_http(v, "sys/health", NULL, false, NULL, 0, v->total_ms, &r, err) != 0) {
        err_prefix(err, "Failed to verify Vault is initialized and unsealed");
        vault_resp_free(&r, false);
        return -1;
    }
    int rc = -1;
    switch (r.status) {
    case 200:
    case 429:
    case 472:
    case 473: rc = 0; break;
    case 501: err_set(err, ERR_TRANSIENT, "Vault is not initialized"); break;
    case 503: err_set(err, ERR_TRANSIENT, "Vault is sealed"); break;
    default: {
        char msg[VAULTMSG_MAX_ERROR_TEXT];
        vault_errors(&r, msg, sizeof(msg));
        err_set(err, ERR_TRANSIENT,
                "Failed to verify Vault is initialized and unsealed: error calling Vault "
                "/v1/sys/health: HTTP %ld: %s",
                r.status, msg);
        break;
    }
    }
    vault_resp_free(&r, false);
    return rc;
}

/* Checks what Vault issued against the request: cert-manager refuses (and retries forever) a
 * certificate whose key is not the CSR's or that is already expired. */
static int vault_check_leaf(const char *chain_pem, const struct csr *csr, time_t now,
                            struct err *err)
{
    BIO *b = BIO_new_mem_buf(chain_pem, -1);
    X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    int rc = -1;
    if (x == NULL) {
        err_set(err, ERR_PERMANENT, "cannot read the certificate Vault issued");
        err_append_openssl(err);
        goto out;
    }
    EVP_PKEY *pk = X509_get0_pubkey(x);
    if (pk == NULL || csr->pkey == NULL || EVP_PKEY_eq(pk, csr->pkey) != 1) {
        err_set(err, ERR_PERMANENT,
                "Vault issued a certificate whose public key is not the CSR's (is "
                "spec.vault.path a sign endpoint?)");
        goto out;
    }
    if (X509_cmp_time(X509_get0_notAfter(x), &now) <= 0) {
        err_set(err, ERR_PERMANENT,
                "Vault issued a certificate that is already expired (is Vault's issuing CA "
                "expired? see leaf_not_after_behavior)");
        goto out;
    }
    rc = 0;
out:
    X509_free(x);
    ERR_clear_error();
    return rc;
}

/* Tokens Vault refused during one sign, revoked once the answer is known (off the retry's
 * path); more than fit are only wiped. */
struct vault_refused {
    char *tok[2];
    int n;
};

/* POSTs body to the sign path with a token, and once more with a new one when Vault answers
 * 403 (a used-up or revoked token); r holds the last answer. -1 when no token or no answer. */
static WUR int vault_sign_post(struct vault *v, const char *api_path, const char *body, size_t blen,
                               struct vault_resp *r, struct vault_refused *refused, struct err *err)
{
    for (int attempt = 0;; attempt++) {
        char *tok = NULL;
        unsigned long gen = 0;
        vault_resp_free(r, false);
        buf_init(&r->body, VAULT_MAX_RESPONSE);
        if (vault_token_get(v, true, &tok, &gen, err) != 0)
            return -1;
        int hr = vault_http(v, api_path, tok, true, body, blen, v->total_ms, r, err);
        vault_wipe_str(&tok);
        if (hr != 0)
            return -1;
        vault_token_outcome(v, gen, r->status == 403);
        if (r->status == 403) {
            char *dead = vault_token_drop(v, gen);
            if (dead != NULL) {
                if (refused->n < 2)
                    refused->tok[refused->n++] = dead;
                else
                    vault_wipe_str(&dead);
            }
        }
        if (r->status == 403 && attempt == 0 && !vault_stopped(v)) {
            LOG(LOG_INFO, "vault", v->name, NULL, "%s",
                v->auth == VAULT_AUTH_TOKEN
                    ? "Vault answered 403 to a sign request; reading the token again from its "
                      "Secret"
                    : "Vault answered 403 to a sign request; logging in again");
            continue;
        }
        return 0;
    }
}

/* The error for a sign answer that is not 2xx: permanent for what retrying cannot change (400,
 * 404, 405 and most other 4xx), transient for the rest, with a hint where one helps. */
static void vault_sign_http_error(const struct vault *v, const struct vault_resp *r,
                                  struct err *err)
{
    char msg[VAULTMSG_MAX_ERROR_TEXT];
    vault_errors(r, msg, sizeof(msg));
    enum err_kind kind = ERR_TRANSIENT;
    const char *hint = "";
    if (r->status == 400) {
        kind = ERR_PERMANENT;
    } else if (r->status == 403 && v->auth == VAULT_AUTH_TOKEN) {
        hint = " (even with the token read again from its Secret: does its policy allow this "
               "path?)";
    } else if (r->status == 403) {
        hint = v->auth == VAULT_AUTH_APPROLE
                   ? " (even after a new AppRole login: does the role's policy allow this path?)"
                   : " (even after a new login: does the role's policy allow this path?)";
    } else if (r->status == 404 || r->status == 405) {
        kind = ERR_PERMANENT;
        hint = " (check spec.vault.path)";
    } else if (r->status >= 300 && r->status < 400) {
        hint = " (unexpected redirect)";
    } else if (r->status > 400 && r->status < 500 && r->status != 412 && r->status != 429) {
        kind = ERR_PERMANENT;
    }
    err_set(err, kind, "Vault %s to sign (HTTP %ld from POST /v1/%s): %s%s",
            r->status < 500 ? "refused" : "failed", r->status, v->path, msg, hint);
}

/* The chain of a 2xx sign answer, normalised into out and checked against the request. */
static WUR int vault_sign_result(const struct vault_resp *r, const struct csr *csr,
                                 const struct sign_params *p, struct sign_result *out,
                                 struct err *err)
{
    char *pem = NULL;
    if (vaultmsg_parse_sign(r->body.data, r->body.len, &pem, err) != 0) {
        if (err != NULL && err->kind != ERR_TRANSIENT)
            err->kind = ERR_PERMANENT;
        return -1;
    }
    if (chain_normalise(pem, strlen(pem), &out->chain_pem, &out->ca_pem, err) != 0) {
        free(pem);
        if (err != NULL)
            err->kind = ERR_PERMANENT;
        err_prefix(err, "the certificate chain Vault returned");
        return -1;
    }
    free(pem);
    if (vault_check_leaf(out->chain_pem, csr, p->now != 0 ? p->now : time(NULL), err) != 0) {
        sign_result_free(out);
        return -1;
    }
    return 0;
}

int vault_sign(struct vault *v, const struct csr *csr, const struct sign_params *p,
               struct sign_result *out, struct err *err)
{
    out->chain_pem = NULL;
    out->ca_pem = NULL;
    /* Vault's sign endpoints build extensions from the role, not the CSR: these would be lost. */
    if (csr->has_name_constraints || csr->bc_has_path_len) {
        err_set(err, ERR_PERMANENT,
                "the CSR requests %s, which a Vault issuer cannot honour (Vault builds the "
                "certificate's extensions from its role, not from the CSR); use an issuer with "
                "spec.ca, or remove them from the CSR",
                csr->has_name_constraints ? "nameConstraints" : "a basicConstraints pathLen");
        return -1;
    }
    char *body = NULL;
    if (vaultmsg_sign_body(csr, p->duration_s, &body, err) != 0)
        return -1;
    struct vault_refused refused = {{NULL, NULL}, 0};
    struct vault_resp r = {0};
    buf_init(&r.body, VAULT_MAX_RESPONSE);
    int rc = vault_sign_post(v, v->path, body, strlen(body), &r, &refused, err);
    if (rc == 0 && (r.status < 200 || r.status > 299)) {
        vault_sign_http_error(v, &r, err);
        rc = -1;
    }
    if (rc == 0)
        rc = vault_sign_result(&r, csr, p, out, err);
    vault_resp_free(&r, false);
    free(body);
    for (int i = 0; i < refused.n; i++)
        vault_revoke(v, refused.tok[i]);
    return rc;
}

int vault_post(struct vault *v, const char *api_path, const char *body, long *status, char **resp,
               size_t *resp_len, struct err *err)
{
    *resp = NULL;
    *resp_len = 0;
    *status = 0;
    struct vault_refused refused = {{NULL, NULL}, 0};
    struct vault_resp r = {0};
    buf_init(&r.body, VAULT_MAX_RESPONSE);
    int rc = vault_sign_post(v, api_path, body, strlen(body), &r, &refused, err);
    if (rc == 0) {
        *status = r.status;
        *resp = xstrndup(r.body.data != NULL ? r.body.data : "", r.body.len);
        *resp_len = r.body.len;
    }
    vault_resp_free(&r, false);
    for (int i = 0; i < refused.n; i++)
        vault_revoke(v, refused.tok[i]);
    return rc;
}

unsigned long vault_round_trips(const struct vault *v)
{
    return __atomic_load_n(&((const struct vault *)v)->round_trips, __ATOMIC_RELAXED);
}

/* ---- free ---- */

void vault_cancel(struct vault *v)
{
    if (v != NULL)
        __atomic_store_n(&v->cancelled, true, __ATOMIC_RELEASE);
}

void vault_free(struct vault *v)
{
    if (v == NULL)
        return;
    /* No other thread uses v now: the revoke-self below may be sent (within its own 2 s). */
    __atomic_store_n(&v->cancelled, false, __ATOMIC_RELEASE);
    pthread_mutex_lock(&v->mu);
    char *tok = NULL;
    /* A batch token cannot be revoked; a used-up one is gone already; a static token is the
     * user's (cert-manager never revokes it either). */
    if (v->token != NULL && v->uses_left != 0 && !v->batch && v->auth != VAULT_AUTH_TOKEN &&
        (v->expires_at == 0 || clock_mono_seconds() < v->expires_at))
        tok = v->token;
    else if (v->token != NULL)
        xfree_secret(v->token, strlen(v->token));
    v->token = NULL;
    pthread_mutex_unlock(&v->mu);
    if (tok != NULL)
        vault_revoke(v, tok);
    httpc_free(v->http);
    pthread_cond_destroy(&v->cv);
    pthread_mutex_destroy(&v->mu);
    free(v->server);
    free(v->path);
    free(v->ns);
    free(v->login_api);
    free(v->role_id);
    free(v->ca_pem);
    free(v->server_name);
    free(v->secret_desc);
    free(v->name);
    free(v);
}
