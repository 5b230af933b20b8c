/* http.c -- the HTTP listeners (libmicrohttpd): probes, metrics and the signing API. */
#include "front/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "front/accept.h"
#include "front/httpcheck.h"
#include "front/tls.h"

/* Request bodies buffered at once across all connections: slow clients cannot make us hold
 * more (beyond it, 503 with Retry-After). */
#define HTTP_BODY_BUDGET (64 * 1024 * 1024)

static size_t http_body_bytes; /* atomic: bytes buffered by requests in flight */

struct http_listener {
    struct MHD_Daemon *daemon;
    struct http_routes routes;
    struct tls_server *tls;  /* HTTPS: the certificate, key and client CAs; NULL on HTTP */
    struct accept_loop *acc; /* accepts, caps and deadlines; hands sockets to daemon */
    char *reject_response;   /* plain HTTP: the 503 written over a cap */
};

/* One per HTTP request, freed in the completed callback. */
struct http_request {
    struct buf body;
    bool too_big;
    bool over_budget; /* the server-wide HTTP_BODY_BUDGET was reached */
    size_t charged;   /* bytes counted in http_body_bytes */
};

int http_parse_bind(const char *bind, struct sockaddr_storage *ss, socklen_t *len, bool *loopback,
                    struct err *err)
{
    memset(ss, 0, sizeof(*ss));
    const char *colon = strrchr(bind, ':');
    if (colon == NULL) {
        err_set(err, ERR_INVALID, "\"%.100s\": expected HOST:PORT, :PORT or [V6]:PORT", bind);
        return -1;
    }
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535) {
        err_set(err, ERR_INVALID, "\"%.100s\": the port must be a number from 1 to 65535", bind);
        return -1;
    }
    size_t hostlen = (size_t)(colon - bind);
    char host[64];
    if (hostlen >= sizeof(host)) {
        err_set(err, ERR_INVALID, "\"%.100s\": the host is too long", bind);
        return -1;
    }
    memcpy(host, bind, hostlen);
    host[hostlen] = '\0';
    if (hostlen == 0) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_any;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        *loopback = false;
        return 0;
    }
    if (host[0] == '[' && hostlen >= 2 && host[hostlen - 1] == ']') {
        host[hostlen - 1] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1) {
            err_set(err, ERR_INVALID, "\"%.100s\": not an IPv6 address", bind);
            return -1;
        }
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        *loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
        err_set(err, ERR_INVALID, "\"%.100s\": the host must be an IP address (or localhost)",
                bind);
        return -1;
    }
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof(*a4);
    *loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
    return 0;
}

void http_declare_metrics(struct metrics *m)
{
    metrics_declare(m, "ember_http_requests_total", "counter",
                    "HTTP requests by listener, path and status code.");
    accept_declare_metrics(m);
}

static const char *http_path_label(const char *url)
{
    static const char *const known[] = {"/healthz", "/readyz", "/metrics", API_PATH_CR,
                                        API_PATH_FIREFLY};
    for (size_t i = 0; i < sizeof(known) / sizeof(*known); i++)
        if (strcmp(url, known[i]) == 0)
            return known[i];
    return "other";
}

/* Counts an answer in ember_http_requests_total. The listener's name is one of main.c's and the
 * path one of http_path_label's, so the labels always fit; a series key is never cut. */
static void http_count(struct http_listener *l, const char *url, unsigned status)
{
    char labels[160];
    if (l->routes.metrics == NULL ||
        snprintf(labels, sizeof(labels), "listener=\"%s\",path=\"%s\",code=\"%u\"", l->routes.name,
                 http_path_label(url), status) >= (int)sizeof(labels))
        return;
    metrics_counter_add(l->routes.metrics, "ember_http_requests_total", labels, 1);
}

/* Queues body (taken) with status; close: the connection ends after this answer. */
static enum MHD_Result http_queue(struct http_listener *l, struct MHD_Connection *conn,
                                  const char *url, unsigned status, const char *content_type,
                                  char *body, int retry_after, bool close)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (close)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    http_count(l, url, status);
    return r;
}

static enum MHD_Result http_send(struct http_listener *l, struct MHD_Connection *conn,
                                 const char *url, unsigned status, const char *content_type,
                                 char *body, int retry_after)
{
    return http_queue(l, conn, url, status, content_type, body, retry_after, false);
}

static enum MHD_Result http_send_error(struct http_listener *l, struct MHD_Connection *conn,
                                       const char *url, unsigned status, const char *fmt, ...)
    PRINTF_LIKE(5, 6);
static enum MHD_Result http_send_error(struct http_listener *l, struct MHD_Connection *conn,
                                       const char *url, unsigned status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct api_response out = {0};
    api_error(&out, status, "%s", msg);
    return http_send(l, conn, url, status, "application/json", out.body, 0);
}

/* "ip:port" ("[v6]:port") of the client, or "" when unknown. */
static void http_remote_addr(struct MHD_Connection *conn, char *out, size_t n)
{
    out[0] = '\0';
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL)
        return;
    char ip[INET6_ADDRSTRLEN];
    if (ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)ci->client_addr;
        if (inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip)) != NULL)
            snprintf(out, n, "%s:%u", ip, (unsigned)ntohs(a4->sin_port));
    } else if (ci->client_addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ci->client_addr;
        unsigned port = ntohs(a6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr)) {
            /* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d. */
            if (inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], ip, sizeof(ip)) != NULL)
                snprintf(out, n, "%s:%u", ip, port);
        } else if (inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip)) != NULL) {
            snprintf(out, n, "[%s]:%u", ip, port);
        }
    }
}

/* What TLS saw of the client's certificate (NULL on plain HTTP). The verdict is kept in the
 * connection's context, so keep-alive requests reuse it until the client CAs change. */
static const struct tls_peer *http_peer(struct http_listener *l, struct MHD_Connection *conn,
                                        const char *addr)
{
    if (l->tls == NULL)
        return NULL;
    const union MHD_ConnectionInfo *sc =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const union MHD_ConnectionInfo *si =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    struct tls_conn *tc = sc != NULL ? sc->socket_context : NULL;
    if (tc == NULL) {
        /* Never reached: the context is made when the connection starts. */
        static const struct tls_peer none = {0};
        return &none;
    }
    const struct tls_peer *p =
        tls_server_peer(l->tls, si != NULL ? (gnutls_session_t)si->tls_session : NULL, tc);
    if (!tls_server_wants_clients(l->tls))
        return p;
    if (!p->presented)
        LOG(LOG_DEBUG, "http", NULL, NULL, "TLS client %s: no client certificate", addr);
    else if (p->verified)
        LOG(LOG_DEBUG, "http", NULL, NULL, "TLS client %s: client certificate verified (%s, %s)",
            addr,
            p->uris.n > 0        ? p->uris.v[0]
            : p->dns_names.n > 0 ? p->dns_names.v[0]
            : p->common_name     ? p->common_name
                                 : "no name",
            p->fingerprint);
    else
        LOG(LOG_DEBUG, "http", NULL, NULL,
            "TLS client %s: client certificate not verified: %s (%s)", addr, p->why,
            p->fingerprint);
    return p;
}

static enum MHD_Result http_dispatch(struct http_listener *l, struct MHD_Connection *conn,
                                     const char *url, const char *method, struct http_request *rq)
{
    bool is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0) {
        if (!is_get)
            return http_send_error(l, conn, url, 405, "%.200s accepts GET only", url);
        bool ok = strcmp(url, "/healthz") == 0 || l->routes.ready == NULL ||
                  l->routes.ready(l->routes.ready_ud);
        return http_send(l, conn, url, ok ? 200 : 503, "text/plain; charset=utf-8",
                         xstrdup(ok ? "ok\n" : "not ready\n"), 0);
    }
    if (l->routes.serve_metrics && strcmp(url, "/metrics") == 0) {
        if (!is_get)
            return http_send_error(l, conn, url, 405, "%.200s accepts GET only", url);
        return http_send(l, conn, url, 200, METRICS_CONTENT_TYPE, metrics_render(l->routes.metrics),
                         0);
    }
    bool cr = strcmp(url, API_PATH_CR) == 0, firefly = strcmp(url, API_PATH_FIREFLY) == 0;
    if (l->routes.api == NULL || (!cr && !firefly))
        return http_send_error(l, conn, url, 404, "no such path: %.200s", url);
    if (strcmp(method, "POST") != 0)
        return http_send_error(l, conn, url, 405, "%.200s accepts POST only", url);
    if (rq->too_big)
        return http_send_error(l, conn, url, 413, "the body is larger than the limit of %zu bytes",
                               l->routes.max_body);
    if (rq->over_budget) {
        struct api_response out = {0};
        api_error(&out, 503, "the server is busy receiving other requests; retry later");
        return http_send(l, conn, url, 503, "application/json", out.body, API_RETRY_AFTER_SECONDS);
    }
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    struct api_response out;
    const char *body = rq->body.data ? rq->body.data : "";
    char addr[INET6_ADDRSTRLEN + 16];
    http_remote_addr(conn, addr, sizeof(addr));
    struct api_call call = {
        .peer = http_peer(l, conn, addr),
        .authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"),
        .remote_addr = addr[0] != '\0' ? addr : NULL,
    };
    if (cr)
        api_handle_cr(l->routes.api, &call, ct, body, rq->body.len, &out);
    else
        api_handle_firefly(l->routes.api, &call, ct, body, rq->body.len, &out);
    enum log_level lvl = out.status < 300 ? LOG_INFO : out.status >= 500 ? LOG_WARN : LOG_INFO;
    LOG(lvl, "api", out.log_object[0] ? out.log_object : NULL, NULL, "POST %s: %u %s", url,
        out.status, out.log_message);
    enum MHD_Result r =
        http_send(l, conn, url, out.status, "application/json", out.body, out.retry_after);
    out.body = NULL; /* handed to libmicrohttpd */
    return r;
}

static enum MHD_Result http_check_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                         size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    httpcheck_header(cls, key, key_size, value != NULL ? value : "", value_size);
    return MHD_YES;
}

/* A request whose body framing is ambiguous (RFC 9112 sections 6.3 and 5.1: another request
 * could hide in its body) is answered before its body is read, and its connection closed, so
 * nothing after its head is ever read as a request. Returns 0 when the framing is sound. */
static WUR int http_check_framing(struct http_listener *l, struct MHD_Connection *conn,
                                  const char *url, const char *method, const char *version,
                                  enum MHD_Result *result)
{
    struct httpcheck hc;
    httpcheck_init(&hc);
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, http_check_header, &hc);
    unsigned status = httpcheck_verdict(&hc, version);
    if (status == 0)
        return 0;
    char addr[INET6_ADDRSTRLEN + 16];
    http_remote_addr(conn, addr, sizeof(addr));
    LOG(LOG_INFO, "http", NULL, NULL, "%.16s %.200s from %s refused, connection closed: %u %s",
        method, url, addr[0] ? addr : "unknown", status, hc.msg);
    struct api_response out = {0};
    api_error(&out, status, "%s", hc.msg);
    *result = http_queue(l, conn, url, status, "application/json", out.body, 0, true);
    return -1;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    struct http_listener *l = cls;
    struct http_request *rq = *con_cls;
    if (rq == NULL) {
        rq = xcalloc(1, sizeof(*rq));
        buf_init(&rq->body, l->routes.max_body);
        *con_cls = rq;
        enum MHD_Result refused;
        if (http_check_framing(l, conn, url, method, version, &refused) != 0) {
            rq->too_big = true; /* keep none of what may still arrive */
            return refused;
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl != NULL && strtoull(cl, NULL, 10) > l->routes.max_body) {
            /* Answer before reading a byte of it; libmicrohttpd then closes the connection. */
            rq->too_big = true;
            return http_dispatch(l, conn, url, method, rq);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->too_big || rq->over_budget)
            return MHD_YES; /* drain what is already in flight, keep none of it */
        if (__atomic_add_fetch(&http_body_bytes, n, __ATOMIC_RELAXED) > HTTP_BODY_BUDGET) {
            __atomic_sub_fetch(&http_body_bytes, n, __ATOMIC_RELAXED);
            rq->over_budget = true;
            return MHD_YES;
        }
        rq->charged += n;
        if (buf_append(&rq->body, upload_data, n, NULL) != 0)
            rq->too_big = true;
        return MHD_YES;
    }
    return http_dispatch(l, conn, url, method, rq);
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct http_request *rq = *con_cls;
    if (rq == NULL)
        return;
    __atomic_sub_fetch(&http_body_bytes, rq->charged, __ATOMIC_RELAXED);
    buf_free(&rq->body);
    free(rq);
    *con_cls = NULL;
}

/* ---- the connection layer: what the accept loop (accept.h) is told of each connection ---- */

/* The descriptor the accept loop handed the connection off with. */
static int http_conn_fd(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci != NULL ? ci->connect_fd : -1;
}

/* 503 for a connection over a cap that the accept loop could not answer itself (HTTPS). */
static enum MHD_Result http_refuse(struct http_listener *l, struct MHD_Connection *conn,
                                   const char *url)
{
    struct api_response out = {0};
    api_error(&out, 503, "too many connections; retry later");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(out.body), out.body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    char ra[16];
    snprintf(ra, sizeof(ra), "%d", API_RETRY_AFTER_SECONDS);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    enum MHD_Result r = MHD_queue_response(conn, 503, resp);
    MHD_destroy_response(resp);
    http_count(l, url, 503);
    return r;
}

/* libmicrohttpd's request handler: tells the accept loop when a request's headers are in (the
 * first call) and when it is in whole (a call with no more body), then runs http_access. */
static enum MHD_Result http_access_front(void *cls, struct MHD_Connection *conn, const char *url,
                                         const char *method, const char *version,
                                         const char *upload_data, size_t *upload_data_size,
                                         void **con_cls)
{
    struct http_listener *l = cls;
    if (*con_cls == NULL) {
        if (accept_headers(l->acc, http_conn_fd(conn)))
            return http_refuse(l, conn, url);
    } else if (*upload_data_size == 0) {
        accept_arrived(l->acc, http_conn_fd(conn));
    }
    return http_access(cls, conn, url, method, version, upload_data, upload_data_size, con_cls);
}

/* A request was answered: the next one on the connection gets its own deadline. */
static void http_completed_front(void *cls, struct MHD_Connection *conn, void **con_cls,
                                 enum MHD_RequestTerminationCode toe)
{
    struct http_listener *l = cls;
    accept_completed(l->acc, http_conn_fd(conn));
    http_completed(cls, conn, con_cls, toe);
}

/* A TLS connection's context: its client certificate verdict (struct tls_conn), made before the
 * connection's handshake. At the close, the accept loop forgets the connection (before
 * libmicrohttpd closes its descriptor). */
static void http_notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                                   enum MHD_ConnectionNotificationCode toe)
{
    struct http_listener *l = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED && l->tls != NULL) {
        *socket_context = xcalloc(1, sizeof(struct tls_conn));
        const union MHD_ConnectionInfo *si =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (si != NULL)
            tls_server_session_init(l->tls, (gnutls_session_t)si->tls_session);
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        accept_closed(l->acc, http_conn_fd(conn));
        if (*socket_context != NULL) {
            tls_conn_clear(*socket_context);
            free(*socket_context);
            *socket_context = NULL;
        }
    }
}

/* accept_ops.handoff: the daemon takes an admitted socket (and closes it when it refuses). */
static int http_handoff(void *ud, int fd, const struct sockaddr *addr, socklen_t len)
{
    struct http_listener *l = ud;
    return MHD_add_connection(l->daemon, fd, addr, len) == MHD_YES ? 0 : -1;
}

/* The whole response the accept loop writes on plain HTTP to a connection over a cap. */
static char *http_reject_response(void)
{
    struct api_response out = {0};
    api_error(&out, 503, "too many connections; retry later");
    char *r = xasprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\nRetry-After: %d\r\nConnection: close\r\n"
                        "X-Content-Type-Options: nosniff\r\n\r\n%s",
                        strlen(out.body), API_RETRY_AFTER_SECONDS, out.body);
    api_response_free(&out);
    return r;
}

static void http_log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    LOG(LOG_DEBUG, "http", NULL, NULL, "%s", msg);
}

/* Validates the HTTPS files of routes and loads them into l->tls (left NULL for plain HTTP). */
static WUR int http_setup_tls(struct http_listener *l, const struct http_routes *routes,
                              struct err *err)
{
    struct tls_files files = {
        .cert_file = routes->tls_cert_file != NULL ? routes->tls_cert_file : "",
        .key_file = routes->tls_key_file != NULL ? routes->tls_key_file : "",
        .client_ca_file = routes->client_ca_file != NULL ? routes->client_ca_file : "",
    };
    if (files.cert_file[0] == '\0' && files.key_file[0] == '\0' && files.client_ca_file[0] == '\0')
        return 0;
    if (files.cert_file[0] != '\0' &&
        (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
         MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) != MHD_YES)) {
        err_set(err, ERR_INVALID,
                "--api-tls-cert-file: this libmicrohttpd was built without HTTPS or without its "
                "certificate callback (MHD_FEATURE_TLS, MHD_FEATURE_HTTPS_CERT_CALLBACK)");
        return -1;
    }
    l->tls = tls_server_new(&files, err); /* also refuses a CA or a key without a certificate */
    if (l->tls == NULL)
        return -1;
    if (tls_server_activate(l->tls, err) != 0) {
        tls_server_free(l->tls);
        l->tls = NULL;
        return -1;
    }
    return 0;
}

static void http_free(struct http_listener *l)
{
    accept_free(l->acc);
    free(l->reject_response);
    if (l->tls != NULL) {
        tls_server_deactivate(l->tls);
        tls_server_free(l->tls);
    }
    free(l);
}

/* The accept loop's settings for routes (zeros take the HTTP_DEFAULT_* values). */
static struct accept_config http_accept_config(const struct http_routes *routes)
{
    return (struct accept_config){
        .name = routes->name,
        .max_conns = routes->max_conns > 0 ? routes->max_conns : HTTP_DEFAULT_MAX_CONNS,
        .max_per_addr = routes->max_conns_per_addr > 0 ? routes->max_conns_per_addr
                                                       : HTTP_DEFAULT_MAX_CONNS_PER_ADDR,
        .header_ms = 1000LL * (routes->header_timeout_s > 0 ? routes->header_timeout_s
                                                            : HTTP_DEFAULT_HEADER_TIMEOUT_S),
        .request_ms = 1000LL * (routes->request_timeout_s > 0 ? routes->request_timeout_s
                                                              : HTTP_DEFAULT_REQUEST_TIMEOUT_S),
        .idle_ms = 1000LL * HTTP_IDLE_TIMEOUT_S,
        .metrics = routes->metrics,
    };
}

/* Starts l's daemon, which listens on nothing itself: Ember's accept loop hands it its sockets
 * (accept.h); poll or epoll, as descriptors go beyond select's 1024. max_conns is the loop's
 * cap. */
static WUR int http_start_daemon(struct http_listener *l, unsigned max_conns, const char *bind,
                                 struct err *err)
{
    unsigned flags =
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    /* threads 0: a thread per connection, so two busy keep-alive clients never queue behind
     * each other on one pool thread (the connection limits bound the threads). A pool of one
     * is no pool: libmicrohttpd warns on stderr, so it becomes a single polling thread. */
    unsigned threads = (unsigned)(l->routes.threads > 0 ? l->routes.threads : 0);
    if (threads == 0)
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    struct MHD_OptionItem opts[16] = {
        /* The caps are the accept loop's; the daemon's limit is never the one reached. */
        {MHD_OPTION_CONNECTION_LIMIT, max_conns + ACCEPT_MAX_REFUSING + 16, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_TIMEOUT_S, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)http_completed_front, l},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)http_notify_connection, l},
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)http_log_mhd, NULL},
    };
    size_t n = 5;
    if (threads > 1)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, threads, NULL};
    if (l->tls != NULL) {
        flags |= MHD_USE_TLS;
        /* The chain and key come from the callback at each handshake, so a renewed
         * certificate is served without a restart; TLS 1.2 and 1.3 only. */
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
                                            (void *)tls_server_retrieve_cert};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES};
        /* libmicrohttpd only requests a client certificate when it has a trust list, and never
         * checks it: http_peer verifies it against the current CA list (and the request names
         * no CA: tls_server_session_init). */
        if (tls_server_wants_clients(l->tls))
            opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0,
                                                (void *)tls_server_client_ca_pem(l->tls)};
    }
    opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    l->daemon = MHD_start_daemon(flags, 0, NULL, NULL, http_access_front, l, MHD_OPTION_ARRAY, opts,
                                 MHD_OPTION_END);
    if (l->daemon != NULL)
        return 0;
    if (l->tls != NULL)
        err_set(err, ERR_TRANSIENT,
                "cannot serve HTTPS on %s (a TLS setting libmicrohttpd refused, or no thread "
                "could start: see the debug log)",
                bind);
    else
        err_set(err, ERR_TRANSIENT, "cannot serve %s (no thread could start: see the debug log)",
                bind);
    return -1;
}

struct http_listener *http_listen(const char *bind, const struct http_routes *routes,
                                  struct err *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    bool loopback;
    if (http_parse_bind(bind, &ss, &len, &loopback, err) != 0)
        return NULL;
    struct http_listener *l = xcalloc(1, sizeof(*l));
    l->routes = *routes;
    if (http_setup_tls(l, routes, err) != 0) {
        free(l);
        return NULL;
    }
    struct accept_config ac = http_accept_config(&l->routes);
    if (http_start_daemon(l, ac.max_conns, bind, err) != 0) {
        http_free(l);
        return NULL;
    }
    /* Over a cap, plain HTTP is answered by the loop itself; HTTPS by the daemon (http_refuse). */
    if (l->tls == NULL)
        l->reject_response = http_reject_response();
    ac.reject_response = l->reject_response;
    struct accept_ops ops = {.handoff = http_handoff, .ud = l};
    /* l->acc is set before the loop's thread starts: the daemon's callbacks use it. */
    l->acc = accept_new((const struct sockaddr *)&ss, len, &ac, &ops, err);
    if (l->acc == NULL) {
        err_prefix(err, "cannot listen on %s", bind);
        MHD_stop_daemon(l->daemon);
        http_free(l);
        return NULL;
    }
    if (accept_start(l->acc, err) != 0) {
        MHD_stop_daemon(l->daemon);
        http_free(l);
        return NULL;
    }
    return l;
}

void http_stop(struct http_listener *l)
{
    if (l == NULL)
        return;
    accept_stop(l->acc);        /* no new connection */
    MHD_stop_daemon(l->daemon); /* no handshake or request runs after this */
    http_free(l);
}
