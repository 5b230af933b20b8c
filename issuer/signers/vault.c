/* vault.c -- the HashiCorp Vault signer: a cached token from a login (AppRole, TLS certificate,
 * Kubernetes) or a static token, PKI sign, health. The public API (vault.h): configuration,
 * health check, sign, post, cancel, free; the HTTP exchange is in vaulthttp.c, the logins in
 * vaultlogin.c, the token life cycle in vaulttoken.c (vault_int.h: what they share). */
#include "signers/vault.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/duration.h"
#include "base/httpc.h"
#include "base/log.h"
#include "base/mem.h"
#include "signers/vault_int.h"
#include "signers/vaultmsg.h"
#include "signers/vaultnames.h"
#include "x509/chain.h"

/* ---- configuration ---- */

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
    if (host[0] == '\0' || host[0] == '/' || !vaulthttp_clean(server, "\"<>\\^`{|}?#")) {
        err_set(err, ERR_INVALID, "spec.vault.server \"%.200s\" is not a valid URL", server);
        return -1;
    }
    if (http && !vaulthttp_loopback_host(host)) {
        err_set(err, ERR_INVALID,
                "spec.vault.server must use https:// (plain http:// is allowed only to a "
                "loopback address): \"%.200s\"",
                server);
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
    if (path[0] == '\0' || !vaulthttp_clean(path, "\"<>\\^`{|}?#")) {
        err_set(err, ERR_INVALID,
                "spec.vault.path must be a Vault API path such as \"pki_int/sign/ROLE\", not "
                "\"%.200s\"",
                cfg->path != NULL ? cfg->path : "");
        return -1;
    }
    if (cfg->namespace != NULL && cfg->namespace[0] != '\0' &&
        !vaulthttp_clean(cfg->namespace, "\"<>\\^`{|}?#")) {
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

struct vault *vault_new(const struct vault_config *cfg, struct err *err)
{
    bool https = false;
    char *login_api = NULL;
    if (vault_config_check(cfg, &https, err) != 0 || vaultlogin_setup(cfg, &login_api, err) != 0)
        return NULL;
    const char *path = cfg->path;
    while (*path == '/')
        path++;
    struct vault *v = xcalloc(1, sizeof(*v));
    v->server = vaulthttp_strip(cfg->server, false, true);
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
                                 : vaultlogin_default_desc(cfg->auth));
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
    v->http = vaulthttp_client(v, cfg->client_cert_pem, cfg->client_cert_len, cfg->client_key_pem,
                               cfg->client_key_len, err);
    if (v->http == NULL) {
        vault_free(v);
        return NULL;
    }
    return v;
}

/* ---- health, sign ---- */

int vault_check(struct vault *v, struct err *err)
{
    unsigned long gen = 0;
    if (vaulttoken_get(v, false, NULL, &gen, err) != 0)
        return -1;
    struct vault_resp r;
    if (vaulthttp_request(v, "sys/health", NULL, false, NULL, 0, v->total_ms, &r, err) != 0) {
        err_prefix(err, "Failed to verify Vault is initialized and unsealed");
        vaulthttp_resp_free(&r, false);
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
        vaulthttp_errors(&r, msg, sizeof(msg));
        err_set(err, ERR_TRANSIENT,
                "Failed to verify Vault is initialized and unsealed: error calling Vault "
                "/v1/sys/health: HTTP %ld: %s",
                r.status, msg);
        break;
    }
    }
    vaulthttp_resp_free(&r, false);
    return rc;
}

/* Tolerated difference between Vault's clock and Ember's when a lifetime is checked against
 * spec.validity.min (Vault starts the lifetime when it signs, a little after Ember's now). */
#define VAULT_MIN_SKEW_S 120

/* -1 when the leaf lives (from now) less than the policy's spec.validity.min: Vault caps the
 * TTL at its role's max_ttl (and at its CA's notAfter with leaf_not_after_behavior truncate). */
static WUR int vault_check_min(X509 *x, const struct sign_params *p, time_t now, struct err *err)
{
    time_t na = 0;
    if (p->min_duration_s <= 0)
        return 0;
    if (signer_asn1_time(X509_get0_notAfter(x), &na) != 0) {
        err_set(err, ERR_PERMANENT, "cannot read the notAfter of the certificate Vault issued");
        return -1;
    }
    long long life = (long long)(na - now);
    if (life + VAULT_MIN_SKEW_S >= p->min_duration_s)
        return 0;
    char got[32], want[32];
    duration_format_go(life > 0 ? life : 0, got, sizeof(got));
    duration_format_go(p->min_duration_s, want, sizeof(want));
    err_set(err, ERR_PERMANENT,
            "Vault issued a certificate that lives only %s, less than the policy's "
            "spec.validity.min %s (Vault caps the TTL at its role's max_ttl, and at its CA's "
            "notAfter with leaf_not_after_behavior truncate); raise the role's max_ttl or lower "
            "spec.validity.min",
            got, want);
    return -1;
}

/* Checks what Vault issued against the request: cert-manager refuses (and retries forever) a
 * certificate whose key is not the CSR's or that is already expired; one without an approved
 * otherName or subject attribute, or with a subject attribute the CSR lacks, is not what was
 * approved (vaultnames.h); nor is one shorter than spec.validity.min. */
static int vault_check_leaf(const char *chain_pem, const struct csr *csr,
                            const struct sign_params *p, time_t now, struct err *err)
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
    if (vaultnames_check_leaf(x, csr, err) != 0 || vault_check_min(x, p, now, err) != 0)
        goto out;
    rc = 0;
out:
    X509_free(x);
    ERR_clear_error();
    return rc;
}

/* Forgets the token gen after a 403 and keeps it in refused (at most two) for vault_exchange to
 * revoke once the answer is known, off the retry's path; more are only wiped. */
static void vault_refused_keep(struct vault *v, unsigned long gen, char *refused[2], int *n)
{
    char *dead = vaulttoken_drop(v, gen);
    if (dead != NULL && *n < 2)
        refused[(*n)++] = dead;
    else if (dead != NULL)
        vaulttoken_wipe_str(&dead);
}

/* POSTs body to api_path with a token, and once more with a new one when Vault answers 403 (a
 * used-up or revoked token), then revokes the tokens Vault refused. r holds the last answer
 * (vaulthttp_resp_free it, also on error). -1 when no token or no answer. */
static WUR int vault_exchange(struct vault *v, const char *api_path, const char *body,
                              struct vault_resp *r, struct err *err)
{
    char *refused[2] = {NULL, NULL};
    int n = 0, rc = -1;
    buf_init(&r->body, VAULT_MAX_RESPONSE);
    for (int attempt = 0;; attempt++) {
        char *tok = NULL;
        unsigned long gen = 0;
        vaulthttp_resp_free(r, false);
        buf_init(&r->body, VAULT_MAX_RESPONSE);
        if (vaulttoken_get(v, true, &tok, &gen, err) != 0)
            break;
        int hr = vaulthttp_request(v, api_path, tok, true, body, strlen(body), v->total_ms, r, err);
        vaulttoken_wipe_str(&tok);
        if (hr != 0)
            break;
        vaulttoken_outcome(v, gen, r->status == 403);
        if (r->status == 403)
            vault_refused_keep(v, gen, refused, &n);
        if (r->status == 403 && attempt == 0 && !vaulthttp_stopped(v)) {
            LOG(LOG_INFO, "vault", v->name, NULL, "%s",
                v->auth == VAULT_AUTH_TOKEN
                    ? "Vault answered 403 to a sign request; reading the token again from its "
                      "Secret"
                    : "Vault answered 403 to a sign request; logging in again");
            continue;
        }
        rc = 0;
        break;
    }
    for (int i = 0; i < n; i++)
        vaulttoken_revoke(v, refused[i]);
    return rc;
}

/* The error for a sign answer that is not 2xx: permanent for what retrying cannot change (400,
 * 404, 405 and most other 4xx), transient for the rest, with a hint where one helps. */
static void vault_sign_http_error(const struct vault *v, const struct vault_resp *r,
                                  struct err *err)
{
    char msg[VAULTMSG_MAX_ERROR_TEXT];
    vaulthttp_errors(r, msg, sizeof(msg));
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
    if (vault_check_leaf(out->chain_pem, csr, p, p->now != 0 ? p->now : time(NULL), err) != 0) {
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
    if (p->is_ca && p->has_path_len) {
        err_set(err, ERR_PERMANENT,
                "the policy gives this CA request pathLen %ld (spec.ca.maxPathLen), which a Vault "
                "issuer cannot add (Vault builds basicConstraints from its role, not from the "
                "request); use an issuer with spec.ca, or a policy without ca.maxPathLen",
                p->path_len);
        return -1;
    }
    if (vaultnames_refuse(csr, err) != 0)
        return -1;
    char *body = NULL;
    if (vaultmsg_sign_body(csr, p->duration_s, &body, err) != 0)
        return -1;
    struct vault_resp r = {0};
    int rc = vault_exchange(v, v->path, body, &r, err);
    if (rc == 0 && (r.status < 200 || r.status > 299)) {
        vault_sign_http_error(v, &r, err);
        rc = -1;
    }
    if (rc == 0)
        rc = vault_sign_result(&r, csr, p, out, err);
    vaulthttp_resp_free(&r, false);
    free(body);
    return rc;
}

int vault_post(struct vault *v, const char *api_path, const char *body, long *status, char **resp,
               size_t *resp_len, struct err *err)
{
    *resp = NULL;
    *resp_len = 0;
    *status = 0;
    struct vault_resp r = {0};
    int rc = vault_exchange(v, api_path, body, &r, err);
    if (rc == 0) {
        *status = r.status;
        *resp = xstrndup(r.body.data != NULL ? r.body.data : "", r.body.len);
        *resp_len = r.body.len;
    }
    vaulthttp_resp_free(&r, false);
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
        vaulttoken_revoke(v, tok);
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
