/* vaulthttp.c -- the Vault signer's HTTP exchange: the clients (CA trust, server name, mTLS
 * identity, a pool of kept-alive connections), one request with its headers, a standby's
 * redirects followed by hand, and the errors of a request that got no answer. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "signers/vault_int.h"
#include "signers/vaultmsg.h"

/* Idle connections kept for reuse (httpc's pool), so a steady stream of signs costs one round
 * trip each, not a TCP and TLS handshake each. */
#define VAULT_POOL_MAX 8

/* True when s has no byte that could break a URL or a header line. */
bool vaulthttp_clean(const char *s, const char *forbidden)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p <= 0x20 || *p >= 0x7f || strchr(forbidden, *p) != NULL)
            return false;
    return true;
}

bool vaulthttp_loopback_host(const char *after_scheme)
{
    /* The host part: up to the port, the path or the end. */
    size_t n = strcspn(after_scheme, ":/?#");
    if (strncmp(after_scheme, "[::1]", 5) == 0)
        return after_scheme[5] == '\0' || strchr(":/?#", after_scheme[5]) != NULL;
    if (n == 9 && strncmp(after_scheme, "localhost", 9) == 0)
        return true;
    /* 127.0.0.0/8 as a dotted quad ("127.attacker.example" is a name, not loopback). */
    char host[16];
    struct in_addr a;
    if (n >= sizeof(host))
        return false;
    memcpy(host, after_scheme, n);
    host[n] = '\0';
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

char *vaulthttp_strip(const char *s, bool leading, bool trailing)
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
struct httpc *vaulthttp_client(const struct vault *v, const char *cert, size_t cert_len,
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

void vaulthttp_resp_free(struct vault_resp *r, bool secret)
{
    if (secret)
        buf_free_secret(&r->body);
    else
        buf_free(&r->body);
}

/* The error of a request that got no answer, as Vault's messages have always put it. bare: the
 * request went over TLS without a client certificate (a transport failure may then be Vault's
 * listener refusing the handshake for want of one). */
static void vaulthttp_error(const char *method, const char *api_path, const struct httpc_resp *hr,
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
    case HTTPC_FAIL_CONNECT:
    case HTTPC_FAIL_TRANSPORT:
        /* A TLS 1.3 server that requires a client certificate drops the connection after the
         * handshake, which libcurl reports as a transport error or, depending on when it reads
         * the drop, as a failed connect ("getpeername() failed with errno 107"): both say what
         * to set when no client certificate is configured. */
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
static char *vaulthttp_redirect(const struct vault *v, const char *method, const char *api_path,
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
    if (strncmp(loc, scheme, strlen(scheme)) != 0 || !vaulthttp_clean(loc, "\"<>\\^`{|}")) {
        err_set(err, ERR_TRANSIENT, "Vault %s /v1/%s: refusing a redirect to \"%.200s\" (not %s)",
                method, api_path, loc, scheme);
        return NULL;
    }
    /* Plain HTTP is only allowed to loopback: a redirect must not carry the token or a login's
     * secret_id in clear text to another host. */
    if (!v->https && !vaulthttp_loopback_host(loc + strlen(scheme))) {
        err_set(err, ERR_TRANSIENT,
                "Vault %s /v1/%s: refusing a redirect to \"%.200s\" (plain HTTP is for loopback "
                "only)",
                method, api_path, loc);
        return NULL;
    }
    return xstrdup(loc);
}

/* httpc's stop poll: true once vault_cancel was called. */
bool vaulthttp_stopped(void *ud)
{
    const struct vault *v = ud;
    return __atomic_load_n(&v->cancelled, __ATOMIC_ACQUIRE);
}

/* Sends one request (GET when body is NULL, else POST) to /v1/<api_path> through the client
 * via, following 307/308 from a standby by hand (same method, body and token, same scheme, CA
 * trust and TLS identity) at most VAULT_MAX_REDIRECTS times. Fills r (vaulthttp_resp_free it, also
 * on error). Returns 0 with any HTTP status, or -1 with ERR_TRANSIENT for network errors,
 * timeouts, a too large answer or a bad redirect. */
int vaulthttp_via(struct vault *v, struct httpc *via, const char *api_path, const char *token,
                  bool with_ns, const char *body, size_t body_len, long total_ms,
                  struct vault_resp *r, struct err *err)
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
                            .stop = vaulthttp_stopped,
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
            vaulthttp_error(method, api_path, &hr, v->https && !v->mtls && via == v->http, err);
            httpc_resp_free_secret(&hr);
            break;
        }
        if (hr.code != 307 && hr.code != 308) {
            /* Within the same cap as httpc's: cannot fail. */
            rc = buf_append(&r->body, hr.body, hr.len, err);
            httpc_resp_free_secret(&hr);
            break;
        }
        char *next = vaulthttp_redirect(v, method, api_path, hop, &hr, err);
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

/* vaulthttp_via through the client every request shares (v->http). */
int vaulthttp_request(struct vault *v, const char *api_path, const char *token, bool with_ns,
                      const char *body, size_t body_len, long total_ms, struct vault_resp *r,
                      struct err *err)
{
    return vaulthttp_via(v, v->http, api_path, token, with_ns, body, body_len, total_ms, r, err);
}

/* Vault's "errors" of an answer, or "HTTP <status>" when it has none. */
void vaulthttp_errors(const struct vault_resp *r, char *out, size_t outlen)
{
    if (vaultmsg_errors(r->body.data, r->body.len, out, outlen) == 0)
        snprintf(out, outlen, "no error message in the answer");
}
