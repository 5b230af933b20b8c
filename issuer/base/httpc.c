/* httpc.c -- the one libcurl client: a pool of kept-alive handles, TLS verified, bounded bodies. */
#include "base/httpc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "base/buf.h"
#include "base/mem.h"

_Static_assert(HTTPC_DETAIL_MAX >= CURL_ERROR_SIZE, "libcurl's error buffer must fit in detail");

struct httpc {
    bool plain_http;
    char *ca_pem; /* NULL = system CAs */
    size_t ca_len;
    char *cert_pem; /* NULL = no client certificate */
    size_t cert_len;
    char *key_pem;
    size_t key_len;
    char *server_name; /* NULL = the URL's host */
    long connect_ms;
    char *user_agent;
    bool decompress;
    CURLSH *share; /* DNS and TLS sessions; never connections (not thread-safe in libcurl) */
    pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock;
    CURL **pool; /* idle handles, each with its open connections; the last is the warmest */
    size_t npool, pool_max;
};

/* One request in flight. */
struct httpc_xfer {
    CURL *h;
    const struct httpc_req *req;
    struct httpc_resp *out;
    struct buf body;
    bool checked;   /* the status of the current answer has been looked at */
    bool streaming; /* a 2xx answer goes to req->data */
    bool too_big;
    bool stopped;
    struct err cb_err; /* req->data's error */
};

/* ---- handle ------------------------------------------------------------------------------ */

static void httpc_share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    (void)h;
    (void)access;
    struct httpc *c = ud;
    pthread_mutex_lock(&c->share_lock[data < CURL_LOCK_DATA_LAST ? data : 0]);
}

static void httpc_share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    (void)h;
    struct httpc *c = ud;
    pthread_mutex_unlock(&c->share_lock[data < CURL_LOCK_DATA_LAST ? data : 0]);
}

static char *httpc_dup(const char *p, size_t n)
{
    if (p == NULL)
        return NULL;
    char *d = xmalloc(n + 1);
    memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

static int httpc_share_init(struct httpc *c, struct err *err)
{
    c->share = curl_share_init();
    if (c->share == NULL) {
        err_set(err, ERR_INTERNAL, "curl_share_init failed");
        return -1;
    }
    if (curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, httpc_share_lock) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, httpc_share_unlock) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_USERDATA, c) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        err_set(err, ERR_INTERNAL, "curl_share_setopt failed");
        return -1;
    }
    return 0;
}

bool httpc_is_server_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == '_'))
            return false;
    }
    return true;
}

struct httpc *httpc_new(const struct httpc_opts *o, struct err *err)
{
    if (o->client_cert_pem != NULL && o->client_key_pem == NULL) {
        err_set(err, ERR_INVALID, "a client certificate needs its key");
        return NULL;
    }
    if (o->connect_timeout_ms <= 0) {
        err_set(err, ERR_INVALID, "the connect timeout must be positive");
        return NULL;
    }
    if (o->server_name != NULL && !httpc_is_server_name(o->server_name)) {
        err_set(err, ERR_INVALID, "server name \"%.200s\" is not a host name", o->server_name);
        return NULL;
    }
    struct httpc *c = xcalloc(1, sizeof(*c));
    c->server_name = o->server_name != NULL ? xstrdup(o->server_name) : NULL;
    c->plain_http = o->plain_http;
    c->ca_pem = httpc_dup(o->ca_pem, o->ca_len);
    c->ca_len = o->ca_len;
    if (o->client_cert_pem != NULL) {
        c->cert_pem = httpc_dup(o->client_cert_pem, o->client_cert_len);
        c->cert_len = o->client_cert_len;
        c->key_pem = httpc_dup(o->client_key_pem, o->client_key_len);
        c->key_len = o->client_key_len;
    }
    c->connect_ms = o->connect_timeout_ms;
    c->user_agent = o->user_agent != NULL ? xstrdup(o->user_agent) : NULL;
    c->decompress = o->decompress;
    c->pool_max = o->pool_max > 0 ? o->pool_max : HTTPC_DEFAULT_POOL_MAX;
    c->pool = xcalloc(c->pool_max, sizeof(*c->pool));
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_lock[i], NULL);
    pthread_mutex_init(&c->pool_lock, NULL);
    if (httpc_share_init(c, err) != 0) {
        httpc_free(c);
        return NULL;
    }
    return c;
}

void httpc_free(struct httpc *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->npool; i++)
        curl_easy_cleanup(c->pool[i]);
    free(c->pool);
    if (c->share != NULL)
        curl_share_cleanup(c->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->share_lock[i]);
    pthread_mutex_destroy(&c->pool_lock);
    free(c->ca_pem);
    free(c->cert_pem);
    free(c->server_name);
    xfree_secret(c->key_pem, c->key_len);
    free(c->user_agent);
    free(c);
}

/* An idle handle (the one used last: its connection is the likeliest to be alive) or a new
 * one; NULL when libcurl cannot make one. */
static CURL *httpc_handle_get(struct httpc *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->pool_lock);
    if (c->npool > 0)
        h = c->pool[--c->npool];
    pthread_mutex_unlock(&c->pool_lock);
    return h != NULL ? h : curl_easy_init();
}

static void httpc_handle_put(struct httpc *c, CURL *h)
{
    /* Forgets every option (the header list, the error buffer) but keeps the connections. */
    curl_easy_reset(h);
    pthread_mutex_lock(&c->pool_lock);
    if (c->npool < c->pool_max) {
        c->pool[c->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_lock);
    if (h != NULL)
        curl_easy_cleanup(h);
}

/* ---- callbacks --------------------------------------------------------------------------- */

static size_t httpc_on_write(char *p, size_t size, size_t n, void *ud)
{
    struct httpc_xfer *x = ud;
    size_t len = size * n;
    if (!x->checked) {
        long code = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
        x->streaming = x->req->data != NULL && code >= 200 && code < 300;
        x->checked = true;
    }
    if (x->streaming)
        return x->req->data(x->req->ud, p, len, &x->cb_err) < 0 ? 0 : len;
    if (buf_append(&x->body, p, len, NULL) < 0) {
        x->too_big = true;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    return len;
}

/* Keeps value (a header's, after the colon) without surrounding white space in out. */
static void httpc_copy_value(char *out, size_t cap, const char *value, size_t n)
{
    while (n > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        n--;
    }
    while (n > 0 && strchr(" \t\r\n", value[n - 1]) != NULL)
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, value, n);
    out[n] = '\0';
}

static size_t httpc_on_header(char *p, size_t size, size_t n, void *ud)
{
    struct httpc_xfer *x = ud;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0)
        httpc_copy_value(x->out->retry_after, sizeof(x->out->retry_after), p + sizeof(name) - 1,
                         len - (sizeof(name) - 1));
    /* A new answer (after 100 Continue) starts over. */
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0)
        x->checked = false;
    return len;
}

static int httpc_on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    struct httpc_xfer *x = ud;
    if (x->req->stop(x->req->ud)) {
        x->stopped = true;
        return 1;
    }
    return 0;
}

/* ---- request ----------------------------------------------------------------------------- */

/* TLS: the peer and its name always verified; the handle's CA bundle and client certificate.
 * The blobs stay the handle's (NOCOPY): libcurl makes no copy of the key. */
static CURLcode httpc_setup_tls(const struct httpc *c, CURL *h)
{
    CURLcode rc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (rc == CURLE_OK && c->ca_pem != NULL) {
        struct curl_blob ca = {.data = c->ca_pem, .len = c->ca_len, .flags = CURL_BLOB_NOCOPY};
        rc = curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
    }
    if (rc == CURLE_OK && c->cert_pem != NULL) {
        struct curl_blob cb = {.data = c->cert_pem, .len = c->cert_len, .flags = CURL_BLOB_NOCOPY};
        struct curl_blob kb = {.data = c->key_pem, .len = c->key_len, .flags = CURL_BLOB_NOCOPY};
        rc = curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cb);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kb);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    return rc;
}

static void httpc_setup_method(CURL *h, const struct httpc_req *req)
{
    const char *m = req->method;
    bool get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;
    if (req->body != NULL || post || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    if (!get && !post)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
}

/* Every option of one request on h (freshly reset). Fails only on what must not be skipped:
 * the scheme and TLS verification. */
static CURLcode httpc_setup(const struct httpc *c, struct httpc_xfer *x, struct curl_slist *hdrs,
                            char *errbuf)
{
    CURL *h = x->h;
    const struct httpc_req *req = x->req;
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_SHARE, c->share);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (c->user_agent != NULL)
        curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    if (c->decompress)
        curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, httpc_on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, httpc_on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    /* A Content-Length past the cap is refused before the body comes (not for a stream; not
     * for HEAD, whose Content-Length announces a body that never comes). */
    if (req->data == NULL && strcmp(req->method, "HEAD") != 0)
        curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_body);
    if (req->stop != NULL) {
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, httpc_on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
    httpc_setup_method(h, req);
    CURLcode rc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, c->plain_http ? "http" : "https");
    return rc == CURLE_OK ? httpc_setup_tls(c, h) : rc;
}

/* A copy of lines for libcurl; aborts when out of memory, as xmalloc does. */
static struct curl_slist *httpc_headers(const char *const *lines)
{
    struct curl_slist *list = NULL;
    for (size_t i = 0; lines != NULL && lines[i] != NULL; i++) {
        struct curl_slist *n = curl_slist_append(list, lines[i]);
        if (n == NULL) {
            fprintf(stderr, "out of memory adding an HTTP header\n");
            abort();
        }
        list = n;
    }
    return list;
}

/* Frees a header list after wiping every entry (tokens). */
static void httpc_headers_free(struct curl_slist *list)
{
    for (struct curl_slist *p = list; p != NULL; p = p->next)
        if (p->data != NULL)
            OPENSSL_cleanse(p->data, strlen(p->data));
    curl_slist_free_all(list);
}

static enum httpc_fail httpc_class(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT: return HTTPC_FAIL_CONNECT;
    case CURLE_OPERATION_TIMEDOUT: return HTTPC_FAIL_TIMEOUT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE: return HTTPC_FAIL_TLS_VERIFY;
    case CURLE_FILESIZE_EXCEEDED: return HTTPC_FAIL_TOO_BIG;
    default: return HTTPC_FAIL_TRANSPORT;
    }
}

/* Sorts the outcome of a transfer into out->fail and err; hands the body over on success. */
static int httpc_finish(struct httpc_xfer *x, CURLcode rc, const char *errbuf, struct err *err)
{
    struct httpc_resp *out = x->out;
    if (x->stopped) {
        out->fail = HTTPC_FAIL_STOPPED;
        err_set(err, ERR_TRANSIENT, "stopped");
    } else if (x->cb_err.kind != ERR_NONE) {
        out->fail = HTTPC_FAIL_CALLBACK;
        if (err != NULL)
            *err = x->cb_err;
    } else if (x->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        out->fail = HTTPC_FAIL_TOO_BIG;
        err_set(err, ERR_TOO_BIG, "response body is larger than %zu bytes", x->body.max);
    } else if (rc != CURLE_OK) {
        out->fail = httpc_class(rc);
        err_set(err, ERR_TRANSIENT, "%s", curl_easy_strerror(rc));
        snprintf(out->detail, sizeof(out->detail), "%s",
                 errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
    } else {
        out->body = buf_take(&x->body, &out->len);
        return 0;
    }
    /* What came of an answer that ended badly may hold secrets (a login): wiped. */
    buf_free_secret(&x->body);
    return -1;
}

/* A request's route under a server name: libcurl is given the URL with the server name as its
 * host, so that SNI and certificate verification use it, and CONNECT_TO sends that name's
 * connection to the URL's own host and port (libcurl has no separate SNI option; CONNECT_TO
 * also keys kept connections by both names, so one is never reused for another server). The
 * Host header keeps the URL's authority, as Go's client sends it with tls.Config.ServerName. */
struct httpc_route {
    char *url;                     /* NULL = req->url as it is */
    struct curl_slist *connect_to; /* "NAME:PORT:HOST:PORT" */
    char *host_line;               /* "Host: HOST[:PORT]" */
};

static void httpc_route_free(struct httpc_route *r)
{
    curl_free(r->url);
    curl_slist_free_all(r->connect_to);
    free(r->host_line);
    memset(r, 0, sizeof(*r));
}

static int httpc_route_make(const struct httpc *c, const char *url, struct httpc_route *r,
                            struct err *err)
{
    memset(r, 0, sizeof(*r));
    if (c->server_name == NULL || c->plain_http)
        return 0;
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *given = NULL;
    int rc = -1;
    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        err_set(err, ERR_INTERNAL, "cannot read the host of \"%.200s\"", url);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PORT, &given, 0) != CURLUE_OK)
        given = NULL; /* no port in the URL: the Host header has none either */
    if (curl_url_set(u, CURLUPART_HOST, c->server_name, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &r->url, 0) != CURLUE_OK) {
        err_set(err, ERR_INTERNAL, "cannot route \"%.200s\" through server name %s", url,
                c->server_name);
        goto out;
    }
    char *entry = xasprintf("%s:%s:%s:%s", c->server_name, port, host, port);
    r->connect_to = httpc_headers((const char *const[]){entry, NULL});
    free(entry);
    r->host_line =
        given != NULL ? xasprintf("Host: %s:%s", host, given) : xasprintf("Host: %s", host);
    rc = 0;
out:
    curl_free(host);
    curl_free(port);
    curl_free(given);
    curl_url_cleanup(u);
    if (rc != 0)
        httpc_route_free(r);
    return rc;
}

/* The Location of a 3xx answer resolved against base (the URL as the caller gave it), NULL when
 * there is none. Not CURLINFO_REDIRECT_URL: with a server_name, libcurl resolves against the
 * rewritten URL (the server name as host), and a relative Location would then send the next
 * request to the server name's DNS address instead of the server's. */
static char *httpc_location(CURL *h, long code, const char *base)
{
    struct curl_header *hd = NULL;
    if (code < 300 || code > 399 ||
        curl_easy_header(h, "Location", 0, CURLH_HEADER, -1, &hd) != CURLHE_OK || hd == NULL ||
        hd->value == NULL || hd->value[0] == '\0')
        return NULL;
    CURLU *u = curl_url();
    char *loc = NULL, *out = NULL;
    if (u == NULL)
        abort(); /* out of memory, as xmalloc */
    /* hd->value belongs to the handle and changes with its next request. */
    if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, hd->value, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &loc, 0) == CURLUE_OK)
        out = xstrdup(loc);
    curl_free(loc);
    curl_url_cleanup(u);
    return out;
}

int httpc_request(struct httpc *c, const struct httpc_req *req, struct httpc_resp *out,
                  struct err *err)
{
    memset(out, 0, sizeof(*out));
    if (req->method == NULL || req->url == NULL || req->max_body == 0 || req->timeout_ms <= 0) {
        out->fail = HTTPC_FAIL_SETUP;
        err_set(err, ERR_INTERNAL, "an HTTP request needs a method, a URL, a timeout and a cap");
        return -1;
    }
    struct httpc_route route;
    if (httpc_route_make(c, req->url, &route, err) != 0) {
        out->fail = HTTPC_FAIL_SETUP;
        return -1;
    }
    CURL *h = httpc_handle_get(c);
    if (h == NULL) {
        out->fail = HTTPC_FAIL_SETUP;
        err_set(err, ERR_INTERNAL, "curl_easy_init failed");
        httpc_route_free(&route);
        return -1;
    }
    struct curl_slist *hdrs = httpc_headers(req->headers);
    if (route.host_line != NULL) {
        struct curl_slist *with_host = curl_slist_append(hdrs, route.host_line);
        if (with_host == NULL)
            abort(); /* out of memory, as xmalloc */
        hdrs = with_host;
    }
    struct httpc_xfer x = {.h = h, .req = req, .out = out};
    buf_init(&x.body, req->max_body);
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode rc = httpc_setup(c, &x, hdrs, errbuf);
    if (rc == CURLE_OK && route.url != NULL) {
        rc = curl_easy_setopt(h, CURLOPT_URL, route.url);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(h, CURLOPT_CONNECT_TO, route.connect_to);
    }
    int ret;
    if (rc != CURLE_OK) {
        out->fail = HTTPC_FAIL_SETUP;
        err_set(err, ERR_INTERNAL, "libcurl refused a TLS or protocol option: %s",
                curl_easy_strerror(rc));
        ret = -1;
    } else {
        rc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->code);
        ret = httpc_finish(&x, rc, errbuf, err);
        if (ret == 0)
            out->location = httpc_location(h, out->code, req->url);
    }
    buf_free(&x.body);
    httpc_handle_put(c, h);
    httpc_headers_free(hdrs);
    httpc_route_free(&route);
    return ret;
}

void httpc_resp_free(struct httpc_resp *out)
{
    if (out == NULL)
        return;
    free(out->body);
    free(out->location);
    memset(out, 0, sizeof(*out));
}

void httpc_resp_free_secret(struct httpc_resp *out)
{
    if (out == NULL)
        return;
    if (out->body != NULL)
        OPENSSL_cleanse(out->body, out->len);
    httpc_resp_free(out);
}
