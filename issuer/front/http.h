/* http.h -- the HTTP listeners (libmicrohttpd): probes, metrics and the signing API. */
#ifndef EMBER_HTTP_H
#define EMBER_HTTP_H

#include <stdbool.h>
#include <sys/socket.h>

#include "base/err.h"
#include "base/metrics.h"
#include "front/api.h"

/* What one listener serves. /healthz and /readyz are always served. */
struct http_routes {
    const char *name;        /* "api", "probes", "metrics": logs and metric labels */
    struct api *api;         /* the signing endpoints, or NULL */
    struct metrics *metrics; /* counts requests; rendered on /metrics when serve_metrics */
    bool serve_metrics;
    bool (*ready)(void *ud); /* /readyz */
    void *ready_ud;
    size_t max_body; /* request bodies beyond this get 413 */
    int threads;     /* 0: a thread per connection; N: a pool of N */
    /* Ember's accept loop (accept.h): connections served at once in all and per client
     * address (over a cap: 503 with Retry-After), and how long a request may take to arrive,
     * its headers and whole (0: the HTTP_DEFAULT_* values). */
    unsigned max_conns;
    unsigned max_conns_per_addr;
    int header_timeout_s;
    int request_timeout_s;
    /* HTTPS: PEM files read at start and again whenever they change on disk ("" = plain
     * HTTP; see tls.h). With client_ca_file, clients are asked for a certificate and each
     * request's struct api_call carries what was verified of it (struct tls_peer); on HTTPS
     * without it, a peer that presented nothing; on plain HTTP, NULL. */
    const char *tls_cert_file;
    const char *tls_key_file;
    const char *client_ca_file;
};

#define HTTP_DEFAULT_MAX_CONNS 1024
#define HTTP_DEFAULT_MAX_CONNS_PER_ADDR 64
#define HTTP_DEFAULT_HEADER_TIMEOUT_S 10
#define HTTP_DEFAULT_REQUEST_TIMEOUT_S 30
#define HTTP_IDLE_TIMEOUT_S 30 /* a connection with no traffic this long is closed */

struct http_listener;

/* Parses "HOST:PORT", ":PORT" (all addresses) or "[V6]:PORT". *loopback tells whether only
 * this machine can reach it (127.0.0.0/8, ::1). ERR_INVALID with the problem. */
int http_parse_bind(const char *bind, struct sockaddr_storage *ss, socklen_t *len, bool *loopback,
                    struct err *err) WUR;

/* Starts serving on bind in background threads. Returns the listener or NULL (ERR_INVALID for
 * a bad address or a bad or missing TLS file, naming it; ERR_TRANSIENT when the port cannot be
 * bound). One HTTPS listener at a time per process (libmicrohttpd's certificate callback has
 * no closure pointer). */
struct http_listener *http_listen(const char *bind, const struct http_routes *routes,
                                  struct err *err) WUR;
/* Declares the HTTP metrics in m. */
void http_declare_metrics(struct metrics *m);
/* Stops accepting, finishes in-flight requests, frees. NULL is a no-op. */
void http_stop(struct http_listener *l);

#endif
