/* httpc.h -- the one libcurl client: requests over a pool of kept-alive connections, timeouts,
 * TLS always verified, bounded bodies, failures sorted into classes. The Kubernetes client
 * (kube/) and the Vault signer (signers/vault) use it; they build URLs and headers and read the
 * status and body it returns. Call curl_global_init() before httpc_new(), while the process has
 * one thread.
 *
 * Thread safety: any thread may call httpc_request() on one handle at any time, concurrently.
 * Each call takes an idle libcurl handle from the handle's pool (or makes one) and gives it back
 * afterwards, with its open connections: a connection serves one request at a time, and a later
 * request to the same server reuses it (keep-alive). libcurl's shared connection cache is not
 * used: it is not safe across threads (curl's KNOWN_BUGS, "A shared connection cache is not
 * thread-safe"); the DNS and TLS session caches are shared, under locks. httpc_new() and
 * httpc_free() run on one thread with no request in flight. */
#ifndef EMBER_HTTPC_H
#define EMBER_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define HTTPC_DETAIL_MAX 256     /* libcurl's own explanation of a failure (CURL_ERROR_SIZE) */
#define HTTPC_RETRY_AFTER_MAX 32 /* a Retry-After value kept; longer ones are cut */
#define HTTPC_DEFAULT_POOL_MAX 8 /* idle libcurl handles kept when opts->pool_max is 0 */

/* How a handle talks to its servers. Every pointer is copied by httpc_new(). */
struct httpc_opts {
    bool plain_http;    /* http:// only (loopback tests); false: https:// only */
    const char *ca_pem; /* CA bundle (PEM) that verifies servers; NULL = the system's CAs */
    size_t ca_len;
    const char *client_cert_pem; /* client certificate chain (PEM) or NULL */
    size_t client_cert_len;
    const char *client_key_pem; /* its key (PEM); required with a certificate; wiped when freed */
    size_t client_key_len;
    /* The name servers' TLS certificates are verified against and sent as SNI, instead of the
     * URL's host (Go's tls.Config.ServerName); NULL = the URL's host. Each request still
     * connects to the URL's host and port and sends its Host header. A relative 3xx Location
     * resolves against the URL as given (the server's host, not this name). Letters, digits, '.',
     * '-' and '_' only. */
    const char *server_name;
    long connect_timeout_ms; /* > 0 */
    size_t pool_max;         /* idle libcurl handles kept; 0 = HTTPC_DEFAULT_POOL_MAX */
    const char *user_agent;  /* NULL = no User-Agent header */
    bool decompress;         /* offer the encodings libcurl decodes (Accept-Encoding) */
};

/* Why a request failed. Each class has one err kind, as both callers have always used them. */
enum httpc_fail {
    HTTPC_OK = 0,
    HTTPC_FAIL_CONNECT,    /* no connection: name not resolved, refused, unreachable (transient) */
    HTTPC_FAIL_TIMEOUT,    /* the connect or the total timeout passed (transient) */
    HTTPC_FAIL_TLS_VERIFY, /* the server's certificate did not verify (transient) */
    HTTPC_FAIL_TRANSPORT,  /* any other failure of the exchange (transient) */
    HTTPC_FAIL_TOO_BIG,    /* the body passed req->max_body (too-big) */
    HTTPC_FAIL_STOPPED,    /* req->stop said so (transient) */
    HTTPC_FAIL_CALLBACK,   /* req->data refused a piece (its own error is returned) */
    HTTPC_FAIL_SETUP,      /* libcurl could not be set up for the request (internal) */
};

/* One request: method, url, timeout_ms and max_body are required. */
struct httpc_req {
    const char *method;         /* "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD" */
    const char *url;            /* scheme as the handle's opts say */
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may hold secrets: the
                                   copies libcurl gets are wiped afterwards */
    const char *body; /* sent when not NULL, or as an empty body for POST, PUT and PATCH */
    size_t body_len;
    long timeout_ms; /* the whole request; > 0 */
    size_t max_body; /* cap on a buffered body (every body when data is NULL); > 0 */
    /* When set, a 2xx body goes here piece by piece instead of into out->body (a watch);
     * return -1 with err set to abort. Other answers are still buffered (max_body). */
    int (*data)(void *ud, const char *p, size_t n, struct err *err);
    /* When set, polled at least once a second; true aborts (HTTPC_FAIL_STOPPED). */
    bool (*stop)(void *ud);
    void *ud;
};

/* What came back. Owned strings: free with httpc_resp_free (or _secret). */
struct httpc_resp {
    long code;  /* HTTP status of the last answer; 0 when none arrived */
    char *body; /* NUL-terminated buffered body ("" for a streamed 2xx); NULL after a failure */
    size_t len;
    char retry_after[HTTPC_RETRY_AFTER_MAX]; /* the Retry-After header's value; "" when absent */
    char *location;       /* a 3xx answer's Location, resolved against the URL; else NULL. Redirects
                             are never followed: the caller decides. libcurl caps header lines. */
    enum httpc_fail fail; /* HTTPC_OK when the request returned 0 */
    char detail[HTTPC_DETAIL_MAX]; /* libcurl's explanation of a failure, or "" */
};

/* Whether s may be httpc_opts.server_name: a DNS name (or an IPv4 address) of 1 to 253 bytes of
 * letters, digits, '.', '-' and '_', so that it cannot change the URL or the CONNECT_TO entry it
 * goes in. */
bool httpc_is_server_name(const char *s);

/* A handle for o (copied). NULL with ERR_INVALID for a certificate without its key, a
 * server_name that is not a host name or a connect timeout <= 0, or ERR_INTERNAL when libcurl
 * cannot be set up. */
struct httpc *httpc_new(const struct httpc_opts *o, struct err *err) WUR;
/* Closes every kept connection and wipes the client key. NULL is a no-op; no request may be
 * running. */
void httpc_free(struct httpc *c);

/* Sends req and fills *out (always; free it also after a failure). Returns 0 when a server
 * answered, whatever the HTTP status; or -1 with out->fail saying why and err set:
 * ERR_TRANSIENT with libcurl's short message ("Couldn't connect to server", "Timeout was
 * reached", ...; out->detail has the longer one) for a connection, timeout, TLS or transport
 * failure, ERR_TRANSIENT "stopped" when req->stop asked, ERR_TOO_BIG "response body is larger
 * than N bytes" past req->max_body (the partial body freed), req->data's own error when it
 * aborted, ERR_INTERNAL when libcurl could not be set up or req is incomplete. out->code keeps
 * the status of an answer that ended badly. */
int httpc_request(struct httpc *c, const struct httpc_req *req, struct httpc_resp *out,
                  struct err *err) WUR;

/* Frees what out owns and zeroes it; _secret wipes the body first (tokens in it). NULL is a
 * no-op. */
void httpc_resp_free(struct httpc_resp *out);
void httpc_resp_free_secret(struct httpc_resp *out);

#endif
