/* vault.c -- the HashiCorp Vault signer: AppRole login with a cached token, PKI sign, health. */
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
    char *approle_path;
    char *role_id;
    vault_secret_fn secret_fn;
    void *secret_ud;
    char *secret_desc; /* names the Secret in messages */
    char *name;
    long total_ms;
    bool https;
    struct httpc *http; /* keeps connections alive between requests */

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

/* The client for Vault: its scheme, CA bundle and connect timeout. */
static struct httpc *vault_http_new(const struct vault_config *cfg, bool https, struct err *err)
{
    bool ca = cfg->ca_bundle_pem != NULL && cfg->ca_bundle_len > 0;
    struct httpc_opts o = {
        .plain_http = !https,
        .ca_pem = ca ? cfg->ca_bundle_pem : NULL,
        .ca_len = ca ? cfg->ca_bundle_len : 0,
        .connect_timeout_ms =
            cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : VAULT_CONNECT_TIMEOUT_MS,
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

struct vault *vault_new(const struct vault_config *cfg, struct err *err)
{
    const char *server = cfg->server != NULL ? cfg->server : "";
    bool https = false;
    if (vault_server_check(server, &https, err) != 0)
        return NULL;
    const char *path = cfg->path != NULL ? cfg->path : "";
    while (*path == '/')
        path++;
    if (path[0] == '\0' || !vault_clean(path, "\"<>\\^`{|}?#")) {
        err_set(err, ERR_INVALID,
                "spec.vault.path must be a Vault API path such as \"pki_int/sign/ROLE\", not "
                "\"%.200s\"",
                cfg->path != NULL ? cfg->path : "");
        return NULL;
    }
    if (cfg->namespace != NULL && cfg->namespace[0] != '\0' &&
        !vault_clean(cfg->namespace, "\"<>\\^`{|}?#")) {
        err_set(err, ERR_INVALID, "spec.vault.namespace \"%.200s\" contains invalid characters",
                cfg->namespace);
        return NULL;
    }
    const char *mount =
        cfg->approle_path != NULL && cfg->approle_path[0] != '\0' ? cfg->approle_path : "approle";
    if (!vault_clean(mount, "\"<>\\^`{|}?#")) {
        err_set(err, ERR_INVALID, "spec.vault.auth.appRole.path \"%.200s\" is not a valid path",
                mount);
        return NULL;
    }
    if (cfg->role_id == NULL || cfg->role_id[0] == '\0') {
        err_set(err, ERR_INVALID, "AppRole auth requires spec.vault.auth.appRole.roleId");
        return NULL;
    }
    if (cfg->secret_id == NULL) {
        err_set(err, ERR_INVALID, "AppRole auth requires spec.vault.auth.appRole.secretRef");
        return NULL;
    }
    if (cfg->connect_timeout_ms < 0 || cfg->total_timeout_ms < 0) {
        err_set(err, ERR_INVALID, "Vault timeouts must not be negative");
        return NULL;
    }
    struct vault *v = xcalloc(1, sizeof(*v));
    v->server = vault_strip(server, false, true);
    v->path = xstrdup(path);
    v->ns = cfg->namespace != NULL && cfg->namespace[0] != '\0' ? xstrdup(cfg->namespace) : NULL;
    v->approle_path = vault_strip(mount, true, true);
    v->role_id = xstrdup(cfg->role_id);
    v->secret_fn = cfg->secret_id;
    v->secret_ud = cfg->secret_ud;
    v->secret_desc = xstrdup(cfg->secret_name != NULL && cfg->secret_name[0] != '\0'
                                 ? cfg->secret_name
                                 : "the AppRole secret_id Secret");
    v->name = xstrdup(cfg->name != NULL ? cfg->name : "vault");
    v->total_ms = cfg->total_timeout_ms > 0 ? cfg->total_timeout_ms : VAULT_TOTAL_TIMEOUT_MS;
    v->https = https;
    v->uses_left = -1;
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->cv, NULL);
    v->http = vault_http_new(cfg, https, err);
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

/* The error of a request that got no answer, as Vault's messages have always put it. */
static void vault_http_error(const char *method, const char *api_path, const struct httpc_resp *hr,
                             struct err *err)
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
                "spec.vault.caBundle): %s",
                method, api_path, hr->detail);
        break;
    case HTTPC_FAIL_SETUP: err_prefix(err, "Vault %s /v1/%s", method, api_path); break;
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

/* Sends one request (GET when body is NULL, else POST) to /v1/<api_path>, following 307/308
 * from a standby by hand (same method, body and token, same scheme and CA trust) at most
 * VAULT_MAX_REDIRECTS times. Fills r (vault_resp_free it, also on error). Returns 0 with any
 * HTTP status, or -1 with ERR_TRANSIENT for network errors, timeouts, a too large answer or a
 * bad redirect. */
static int vault_http(struct vault *v, const char *api_path, const char *token, bool with_ns,
                      const char *body, size_t body_len, long total_ms, struct vault_resp *r,
                      struct err *err)
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
                            .max_body = VAULT_MAX_RESPONSE};
    int rc = -1;
    for (int hop = 0;; hop++) {
        struct httpc_resp hr;
        req.url = url;
        int hrc = httpc_request(v->http, &req, &hr, err);
        if (hr.fail != HTTPC_FAIL_SETUP)
            __atomic_fetch_add(&v->round_trips, 1, __ATOMIC_RELAXED);
        r->status = hr.code;
        if (hrc != 0) {
            vault_http_error(method, api_path, &hr, err);
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

/* POST auth/<mount>/login once; fills t->token, lease, renewable, batch. */
static int vault_login_once(struct vault *v, struct vault_tok *t, struct err *err)
{
    char *secret = NULL;
    size_t slen = 0;
    struct err se = {0};
    if (v->secret_fn(v->secret_ud, &secret, &slen, &se) != 0) {
        xfree_secret(secret, slen);
        if (se.msg[0] != '\0')
            err_set(err, ERR_ISSUER_NOT_READY, "%s", se.msg);
        else
            err_set(err, ERR_ISSUER_NOT_READY, "cannot read %s", v->secret_desc);
        return -1;
    }
    char *body = NULL;
    size_t blen = 0;
    int rc = vaultmsg_login_body(v->role_id, secret, slen, &body, &blen, err);
    xfree_secret(secret, slen);
    if (rc != 0) {
        if (err != NULL)
            err->kind = ERR_ISSUER_NOT_READY;
        err_prefix(err, "AppRole login with %s", v->secret_desc);
        return -1;
    }
    char *api = xasprintf("auth/%s/login", v->approle_path);
    struct vault_resp r;
    rc = vault_http(v, api, NULL, true, body, blen, v->total_ms, &r, err);
    xfree_secret(body, blen);
    if (rc != 0) {
        err_prefix(err, "AppRole login");
        goto out;
    }
    rc = -1;
    if (r.status == 400 || r.status == 403 || r.status == 401) {
        char msg[VAULTMSG_MAX_ERROR_TEXT];
        vault_errors(&r, msg, sizeof(msg));
        err_set(err, ERR_ISSUER_NOT_READY,
                "Vault refused the AppRole login at /v1/%s (HTTP %ld): %s; check "
                "spec.vault.auth.appRole.roleId and %s",
                api, r.status, msg, v->secret_desc);
        goto out;
    }
    if (r.status < 200 || r.status > 299) {
        char msg[VAULTMSG_MAX_ERROR_TEXT];
        vault_errors(&r, msg, sizeof(msg));
        err_set(err, r.status == 404 || r.status == 405 ? ERR_ISSUER_NOT_READY : ERR_TRANSIENT,
                "Vault AppRole login at /v1/%s failed (HTTP %ld): %s%s", api, r.status, msg,
                r.status == 404 ? "; check spec.vault.auth.appRole.path" : "");
        goto out;
    }
    struct vaultmsg_login lg;
    if (vaultmsg_parse_login(r.body.data, r.body.len, &lg, err) != 0) {
        if (err != NULL && err->kind != ERR_TRANSIENT)
            err->kind = ERR_ISSUER_NOT_READY;
        err_prefix(err, "AppRole login");
        goto out;
    }
    t->token = lg.client_token;
    lg.client_token = NULL;
    t->lease = lg.lease_duration;
    t->renewable = lg.renewable;
    t->batch = strcmp(lg.token_type, "batch") == 0 || strncmp(t->token, "hvb.", 4) == 0;
    t->uses = lg.has_num_uses && lg.num_uses > 0 ? lg.num_uses : -1;
    t->login_uses = lg.has_num_uses;
    vaultmsg_login_clear(&lg);
    rc = 0;
out:
    vault_resp_free(&r, true);
    free(api);
    return rc;
}

/* A new token: login, then learn its use limit. Only the busy thread calls this. */
static int vault_login(struct vault *v, struct vault_tok *t, struct err *err)
{
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
            "the AppRole role gives single-use Vault tokens: every request needs a new login");
        pthread_mutex_lock(&v->mu);
        v->single_use_role = true;
        pthread_mutex_unlock(&v->mu);
        vault_tok_clear(t);
        if (vault_login_once(v, t, err) != 0)
            return -1;
        t->uses = 1;
    }
    LOG(LOG_INFO, "vault", v->name, NULL,
        "logged in to Vault with AppRole (token lease %llds, %s, %s uses)", t->lease,
        t->renewable && !t->batch ? "renewable" : "not renewable",
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
            if (f->usable && v->gen == f->old_gen && v->uses_left != 0 && !v->batch)
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
                "the AppRole role gives single-use Vault tokens: every request needs a new "
                "login");
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
        if (!v->batch)
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
        if (r->status == 403 && attempt == 0) {
            LOG(LOG_INFO, "vault", v->name, NULL,
                "Vault answered 403 to a sign request; logging in again");
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
    } else if (r->status == 403) {
        hint = " (even after a new AppRole login: does the role's policy allow this path?)";
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

void vault_free(struct vault *v)
{
    if (v == NULL)
        return;
    pthread_mutex_lock(&v->mu);
    char *tok = NULL;
    /* A batch token cannot be revoked; a used-up one is gone already. */
    if (v->token != NULL && v->uses_left != 0 && !v->batch &&
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
    free(v->approle_path);
    free(v->role_id);
    free(v->secret_desc);
    free(v->name);
    free(v);
}
