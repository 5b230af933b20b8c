/* kube.h -- Kubernetes API client: configuration (in cluster or kubeconfig) and one-shot or
 * streamed HTTPS requests (base/httpc, libcurl), bearer-token re-reading, and the pure helpers the
 * reflector uses (URL building, Status parsing, backoff). Call curl_global_init() before
 * kube_new(), while the process has one thread. */
#ifndef EMBER_KUBE_H
#define EMBER_KUBE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "base/buf.h"
#include "base/err.h"

/* Named limits. */
#define KUBE_MAX_FILE_BYTES (1024 * 1024)       /* kubeconfig, CA, client cert/key files */
#define KUBE_MAX_TOKEN_BYTES 16384              /* a bearer token */
#define KUBE_MAX_BODY_BYTES (64u * 1024 * 1024) /* one non-watch response body (a list page) */
#define KUBE_MAX_ERROR_BODY_BYTES (256u * 1024) /* body of a non-2xx answer to a stream */
#define KUBE_MAX_PATH_BYTES 8192                /* a request path with its query */
#define KUBE_STATUS_REASON_MAX 64
#define KUBE_STATUS_MESSAGE_MAX 512
#define KUBE_RETRY_AFTER_MAX_S 600 /* a larger Retry-After is cut to this */
/* Idle connections kept for reuse (httpc's pool: one libcurl handle each): every open watch
 * holds one while it runs, so a cap below watches + workers would close a connection after
 * each request and every write would pay a new TCP and TLS handshake. */
#define KUBE_MAX_CONNECTIONS 256
#define KUBE_DEFAULT_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Where and how to talk to the API server. Every string is owned (kube_config_free); secrets
 * (token, client key) are wiped when freed. */
struct kube_config {
    char *server; /* "https://host:port[/prefix]", no trailing '/' */
    char *ca_pem; /* CA bundle (PEM) to verify the server; NULL = system CAs */
    size_t ca_len;
    char *token;           /* static bearer token, or NULL */
    char *token_file;      /* re-read every token_reread_s and after a 401; wins over token */
    char *client_cert_pem; /* client certificate chain (PEM) or NULL */
    size_t client_cert_len;
    char *client_key_pem; /* its key (PEM) or NULL */
    size_t client_key_len;
    char *namespace;     /* the context's (or service account's) namespace, "default" if unset */
    long token_reread_s; /* token file re-read period, default 60 */
    long connect_timeout_ms; /* default 10000 */
    long request_timeout_ms; /* whole non-watch request, default 60000 */
};

/* Sets the defaults (timeouts, re-read period) on a zeroed config. */
void kube_config_init(struct kube_config *c);
/* Frees every string (secrets wiped) and zeroes c; NULL is a no-op. */
void kube_config_free(struct kube_config *c);

/* Fills *out from a kubeconfig held in data (YAML or JSON). context NULL = current-context.
 * Relative file names (certificate-authority, client-certificate, client-key, tokenFile) are
 * resolved against base_dir (NULL = the working directory); tokenFile is only checked to be
 * readable now. Refused with ERR_INVALID and a message naming the field: exec and
 * auth-provider users, username/password, insecure-skip-tls-verify: true, non-https servers,
 * tls-server-name, proxy-url, a certificate without its key. On error *out is left zeroed. */
int kube_config_parse_kubeconfig(const char *data, size_t len, const char *base_dir,
                                 const char *context, struct kube_config *out, struct err *err) WUR;
/* Reads the kubeconfig file at path (at most KUBE_MAX_FILE_BYTES) and parses it as above,
 * relative names resolved against the file's directory. */
int kube_config_from_kubeconfig(const char *path, const char *context, struct kube_config *out,
                                struct err *err) WUR;
/* In-cluster: server from KUBERNETES_SERVICE_HOST/PORT (IPv6 bracketed), CA sa_dir/ca.crt,
 * token file sa_dir/token (must be readable now), namespace sa_dir/namespace. sa_dir NULL =
 * KUBE_DEFAULT_SA_DIR. ERR_INVALID "not running in a cluster" when the variables are unset. */
int kube_config_in_cluster(const char *sa_dir, struct kube_config *out, struct err *err) WUR;

/* A Kubernetes Status as found in an error body (or built from the HTTP code alone). */
struct kube_status {
    long code;                             /* Status.code, else the HTTP code */
    char reason[KUBE_STATUS_REASON_MAX];   /* "NotFound", ...; "" when absent */
    char message[KUBE_STATUS_MESSAGE_MAX]; /* control characters replaced by '?' */
    long retry_after_s; /* Retry-After header, else details.retryAfterSeconds, else 0 */
    bool too_large_rv;  /* a cause with reason ResourceVersionTooLarge */
};

/* Pure: parses body (may be NULL or not JSON) of an answer with HTTP code http_code and the
 * Retry-After header value (NULL when absent; only delta-seconds are understood, capped at
 * KUBE_RETRY_AFTER_MAX_S). Never fails. */
void kube_status_parse(const char *body, size_t len, long http_code, const char *retry_after,
                       struct kube_status *st);
/* Same, from an already parsed Status object (a watch ERROR event's object); NULL allowed. */
void kube_status_from_json(const cJSON *obj, long http_code, struct kube_status *st);

/* Pure: appends "?k=v" or "&k=v" (depending on whether b already holds a '?') to b, with v
 * percent-encoded (RFC 3986 unreserved characters kept). ERR_TOO_BIG past b's cap. */
int kube_query_add(struct buf *b, const char *key, const char *value, struct err *err) WUR;
/* Pure: the path of one list page: base (a collection path, may hold a query) plus limit (0 =
 * none), resourceVersion (NULL = omitted) and continue (NULL or "" = omitted). Returns a new
 * string (free() it) or NULL with ERR_TOO_BIG past KUBE_MAX_PATH_BYTES. */
char *kube_path_list(const char *base, long limit, const char *rv, const char *cont,
                     struct err *err) WUR;
/* Pure: the path of a watch: base plus watch=1, resourceVersion=rv (omitted when ""),
 * allowWatchBookmarks=true and timeoutSeconds. Returns a new string or NULL (ERR_TOO_BIG). */
char *kube_path_watch(const char *base, const char *rv, long timeout_s, struct err *err) WUR;

/* Exponential backoff with jitter (client-go's: factor 2, jitter 1.0, reset after quiet). */
struct kube_backoff {
    long base_ms, cap_ms, reset_ms; /* e.g. 800, 30000, 120000 */
    long cur_ms;                    /* next un-jittered delay; 0 = base */
    long last_ms;                   /* time of the last failure, -1 = none */
};
void kube_backoff_init(struct kube_backoff *b, long base_ms, long cap_ms, long reset_ms);
/* Pure: the delay before the next attempt after a failure at now_ms; u in [0,1) is the random
 * draw. The delay d is in [cur, min(2*cur, cap)] where cur starts at base and doubles up to cap
 * per failure; more than reset_ms after the previous failure cur starts again at base. */
long kube_backoff_next(struct kube_backoff *b, long now_ms, double u);

struct kube; /* opaque; thread-safe: any thread may call kube_request on it */

/* A client for cfg (copied). NULL with an error when curl cannot be set up or the token file
 * cannot be read. */
struct kube *kube_new(const struct kube_config *cfg, struct err *err) WUR;
/* NULL is a no-op. No request may be running. */
void kube_free(struct kube *k);
/* Borrowed: the configured namespace. */
const char *kube_namespace(const struct kube *k);

struct kube_response {
    long code;  /* HTTP status */
    char *body; /* NUL-terminated (free() it with kube_response_free); for streams only the
                   body of a non-2xx answer */
    size_t len;
    struct kube_status status; /* filled when code >= 300 */
};
void kube_response_free(struct kube_response *r);

/* One request: method, path (starting with '/', query included), optional body of len bytes
 * with content_type. Returns 0 when the server answered (any HTTP code: check out->code), or -1
 * (ERR_TRANSIENT: connection/TLS/timeout; ERR_TOO_BIG: body past KUBE_MAX_BODY_BYTES). A 401 makes
 * the client re-read the token file and retry once. */
int kube_request(struct kube *k, const char *method, const char *path, const char *content_type,
                 const char *body, size_t len, struct kube_response *out, struct err *err) WUR;

/* A streamed GET (a watch) or a buffered one that can be cancelled. */
struct kube_stream_ops {
    /* A 2xx body piece; return -1 (with err set) to abort. NULL: the body is buffered in out. */
    int (*data)(void *ud, const char *p, size_t n, struct err *err);
    /* Polled at least once a second; true aborts the transfer (-1, ERR_TRANSIENT "stopped"). */
    bool (*stop)(void *ud);
};
/* GET path. timeout_ms 0 = the config's request timeout. Returns as kube_request; a 401 is
 * retried once after a token re-read. When data aborts, its error is returned. */
int kube_get_stream(struct kube *k, const char *path, long timeout_ms,
                    const struct kube_stream_ops *ops, void *ud, struct kube_response *out,
                    struct err *err) WUR;

struct kube_stats {
    unsigned long requests, token_reads, unauthorized_retries;
};
void kube_get_stats(struct kube *k, struct kube_stats *out);

#endif
