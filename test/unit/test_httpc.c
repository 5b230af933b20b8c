/* test_httpc.c -- base/httpc.c against real loopback servers started in-process with
 * libmicrohttpd (port 0): methods, headers and bodies, Retry-After and Location, the body cap
 * (known and unknown length), timeouts, a refused connection, keep-alive (accepts counted on the
 * server), concurrent callers, streaming and stopping, TLS verification against the right and a
 * wrong CA, client certificates. Certificates are made at run time with OpenSSL. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "base/httpc.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "testpki.h"

#define BIG_BYTES 4096       /* /big and /bigchunked send this many bytes */
#define ECHO_MAX (64 * 1024) /* the most /echo takes in */
#define SLOW_MS 3000         /* /slow answers after this long (or at shutdown) */
/* Timeouts that only bound a hung test: loading the system's CA bundle alone takes seconds
 * under valgrind. */
#define SLOW_ENV_MS 15000

/* ---- server ---- */

struct srv {
    struct MHD_Daemon *d;
    char base[64]; /* "http://127.0.0.1:PORT" */
    atomic_int accepts;
    atomic_int closing;
};

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)c, (void)socket_ctx;
    struct srv *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&s->accepts, 1);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_ctx,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    struct buf *b = *req_ctx;
    if (b != NULL) {
        buf_free(b);
        free(b);
    }
    *req_ctx = NULL;
}

static ssize_t big_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)cls;
    if (pos >= BIG_BYTES)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = BIG_BYTES - (size_t)pos;
    n = n < max ? n : max;
    n = n < 512 ? n : 512; /* several chunks */
    memset(out, 'y', n);
    return (ssize_t)n;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *body,
                             const char *hname, const char *hvalue)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (hname != NULL)
        MHD_add_response_header(r, hname, hvalue);
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

/* "cert" when the client showed a certificate the server's trust verifies, else "none". */
static const char *peer_cert(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (i == NULL || i->tls_session == NULL)
        return "none";
    gnutls_session_t tls = i->tls_session;
    unsigned n = 0, status = 1;
    if (gnutls_certificate_get_peers(tls, &n) == NULL || n == 0)
        return "none";
    return gnutls_certificate_verify_peers2(tls, &status) == 0 && status == 0 ? "cert" : "none";
}

static enum MHD_Result answer(struct srv *s, struct MHD_Connection *c, const char *url,
                              const char *method, struct buf *body)
{
    if (strcmp(url, "/echo") == 0) {
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Test");
        char *text =
            xasprintf("%s %s %s", method, h != NULL ? h : "-", body->data ? body->data : "");
        enum MHD_Result r = reply(c, 200, text, NULL, NULL);
        free(text);
        return r;
    }
    if (strcmp(url, "/big") == 0) {
        char big[BIG_BYTES + 1];
        memset(big, 'x', BIG_BYTES);
        big[BIG_BYTES] = '\0';
        return reply(c, 200, big, NULL, NULL);
    }
    if (strcmp(url, "/bigchunked") == 0) {
        struct MHD_Response *r =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, big_reader, NULL, NULL);
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(url, "/throttle") == 0)
        return reply(c, 429, "slow down", "Retry-After", " 7 ");
    if (strcmp(url, "/redirect") == 0)
        return reply(c, 307, "", "Location", "/echo");
    if (strcmp(url, "/slow") == 0) {
        long until = mono_ms() + SLOW_MS;
        while (mono_ms() < until && !atomic_load(&s->closing))
            usleep(10000);
        return reply(c, 200, "late", NULL, NULL);
    }
    if (strcmp(url, "/whoami") == 0)
        return reply(c, 200, peer_cert(c), NULL, NULL);
    if (strcmp(url, "/host") == 0) {
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
        return reply(c, 200, h != NULL ? h : "-", NULL, NULL);
    }
    return reply(c, 404, "no such thing", NULL, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **req_ctx)
{
    (void)version;
    struct buf *b = *req_ctx;
    if (b == NULL) {
        b = xcalloc(1, sizeof(*b));
        buf_init(b, ECHO_MAX);
        *req_ctx = b;
        return MHD_YES;
    }
    if (*data_size > 0) {
        if (buf_append(b, data, *data_size, NULL) != 0)
            return MHD_NO;
        *data_size = 0;
        return MHD_YES;
    }
    return answer(cls, c, url, method, b);
}

/* A server on 127.0.0.1, port 0: plain HTTP, or TLS with key/cert (PEM), asking for client
 * certificates that trust verifies when trust is set. */
static struct srv *srv_start(const char *key, const char *cert, const char *trust)
{
    struct srv *s = xcalloc(1, sizeof(*s));
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert},
        {trust != NULL ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, (void *)trust},
        {MHD_OPTION_END, 0, NULL},
    };
    if (key != NULL)
        flags |= MHD_USE_TLS;
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sin,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_ARRAY,
                            key != NULL ? tls : tls + 3, MHD_OPTION_END);
    assert_non_null(s->d);
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(i);
    assert_true(i->port > 0);
    snprintf(s->base, sizeof(s->base), "%s://127.0.0.1:%u", key != NULL ? "https" : "http",
             (unsigned)i->port);
    return s;
}

static void srv_stop(struct srv *s)
{
    atomic_store(&s->closing, 1);
    MHD_stop_daemon(s->d);
    free(s);
}

/* ---- client helpers ---- */

static struct httpc *client(bool plain, const char *ca, const char *cert, const char *key)
{
    struct httpc_opts o = {
        .plain_http = plain,
        .ca_pem = ca,
        .ca_len = ca != NULL ? strlen(ca) : 0,
        .client_cert_pem = cert,
        .client_cert_len = cert != NULL ? strlen(cert) : 0,
        .client_key_pem = key,
        .client_key_len = key != NULL ? strlen(key) : 0,
        .connect_timeout_ms = SLOW_ENV_MS,
        .user_agent = "ember-test",
    };
    struct err err = {0};
    struct httpc *c = httpc_new(&o, &err);
    assert_non_null(c);
    return c;
}

/* req (method GET unless set, a timeout of SLOW_ENV_MS unless set) to base+path. */
static int call(struct httpc *c, const struct srv *s, const char *path, struct httpc_req req,
                struct httpc_resp *out, struct err *err)
{
    char *url = xasprintf("%s%s", s->base, path);
    req.url = url;
    req.method = req.method != NULL ? req.method : "GET";
    req.timeout_ms = req.timeout_ms > 0 ? req.timeout_ms : SLOW_ENV_MS;
    int rc = httpc_request(c, &req, out, err);
    free(url);
    return rc;
}

/* GET base+path with a cap of cap bytes and a timeout of timeout_ms (0 = SLOW_ENV_MS). */
static int get(struct httpc *c, const struct srv *s, const char *path, long timeout_ms, size_t cap,
               struct httpc_resp *out, struct err *err)
{
    return call(c, s, path, (struct httpc_req){.timeout_ms = timeout_ms, .max_body = cap}, out,
                err);
}

/* A plain-HTTP server and a client for it, per test. */
struct fix {
    struct srv *s;
    struct httpc *c;
};

static int plain_setup(void **state)
{
    struct fix *f = xcalloc(1, sizeof(*f));
    f->s = srv_start(NULL, NULL, NULL);
    f->c = client(true, NULL, NULL, NULL);
    *state = f;
    return 0;
}

static int plain_teardown(void **state)
{
    struct fix *f = *state;
    httpc_free(f->c);
    srv_stop(f->s);
    free(f);
    return 0;
}

/* ---- plain HTTP ---- */

static void test_methods_headers_body(void **state)
{
    struct fix *f = *state;
    struct srv *s = f->s;
    struct httpc *c = f->c;
    struct httpc_resp r;
    struct err err = {0};
    assert_int_equal(get(c, s, "/echo", 0, 1024, &r, &err), 0);
    assert_int_equal(r.code, 200);
    assert_int_equal(r.fail, HTTPC_OK);
    assert_string_equal(r.body, "GET - ");
    assert_int_equal(r.len, strlen("GET - "));
    httpc_resp_free(&r);

    char *url = xasprintf("%s/echo", s->base);
    const char *hdrs[] = {"X-Test: v1", "Content-Type: text/plain", NULL};
    struct httpc_req req = {.method = "POST",
                            .url = url,
                            .headers = hdrs,
                            .body = "hello",
                            .body_len = 5,
                            .timeout_ms = SLOW_ENV_MS,
                            .max_body = 1024};
    assert_int_equal(httpc_request(c, &req, &r, &err), 0);
    assert_string_equal(r.body, "POST v1 hello");
    httpc_resp_free_secret(&r);
    const char *methods[] = {"PUT", "PATCH", "DELETE"};
    for (size_t i = 0; i < 3; i++) {
        struct httpc_req m = {.method = methods[i],
                              .url = url,
                              .headers = hdrs,
                              .timeout_ms = SLOW_ENV_MS,
                              .max_body = 1024};
        assert_int_equal(httpc_request(c, &m, &r, &err), 0);
        char *want = xasprintf("%s v1 ", methods[i]);
        assert_string_equal(r.body, want);
        free(want);
        httpc_resp_free(&r);
    }
    struct httpc_req head = {
        .method = "HEAD", .url = url, .timeout_ms = SLOW_ENV_MS, .max_body = 1};
    assert_int_equal(httpc_request(c, &head, &r, &err), 0);
    assert_int_equal(r.code, 200);
    assert_string_equal(r.body, "");
    httpc_resp_free(&r);
    free(url);
}

static void test_retry_after_and_location(void **state)
{
    struct fix *f = *state;
    struct srv *s = f->s;
    struct httpc *c = f->c;
    struct httpc_resp r;
    struct err err = {0};
    assert_int_equal(get(c, s, "/throttle", 0, 1024, &r, &err), 0);
    assert_int_equal(r.code, 429);
    assert_string_equal(r.retry_after, "7");
    assert_string_equal(r.body, "slow down");
    assert_null(r.location);
    httpc_resp_free(&r);
    /* Not followed: the caller decides; the Location comes back resolved. */
    assert_int_equal(get(c, s, "/redirect", 0, 1024, &r, &err), 0);
    assert_int_equal(r.code, 307);
    char *want = xasprintf("%s/echo", s->base);
    assert_non_null(r.location);
    assert_string_equal(r.location, want);
    assert_string_equal(r.retry_after, "");
    free(want);
    httpc_resp_free(&r);
    assert_null(r.location);
}

/* A body of BIG_BYTES: refused past a smaller cap (the partial body freed), taken at the cap. */
static void check_cap(struct httpc *c, const struct srv *s, const char *path)
{
    struct httpc_resp r;
    struct err err = {0};
    assert_int_equal(get(c, s, path, 0, BIG_BYTES - 1, &r, &err), -1);
    assert_int_equal(r.fail, HTTPC_FAIL_TOO_BIG);
    assert_int_equal(err.kind, ERR_TOO_BIG);
    char *want = xasprintf("response body is larger than %d bytes", BIG_BYTES - 1);
    assert_string_equal(err.msg, want);
    free(want);
    assert_null(r.body);
    assert_int_equal(r.len, 0);
    assert_int_equal(r.code, 200);
    httpc_resp_free(&r);
    assert_int_equal(get(c, s, path, 0, BIG_BYTES, &r, &err), 0);
    assert_int_equal(r.len, BIG_BYTES);
    httpc_resp_free(&r);
}

static void test_body_cap(void **state)
{
    struct fix *f = *state;
    struct srv *s = f->s;
    struct httpc *c = f->c;
    check_cap(c, s, "/big");        /* Content-Length: refused before the body */
    check_cap(c, s, "/bigchunked"); /* no length: refused as it comes */
}

static void test_timeout(void **state)
{
    struct fix *f = *state;
    struct srv *s = f->s;
    struct httpc *c = f->c;
    struct httpc_resp r;
    struct err err = {0};
    long t0 = mono_ms();
    assert_int_equal(get(c, s, "/slow", 300, 1024, &r, &err), -1);
    long took = mono_ms() - t0;
    assert_int_equal(r.fail, HTTPC_FAIL_TIMEOUT);
    assert_int_equal(err.kind, ERR_TRANSIENT);
    assert_string_equal(err.msg, "Timeout was reached");
    assert_true(r.detail[0] != '\0');
    assert_null(r.body);
    assert_true(took >= 250 && took < SLOW_MS);
    httpc_resp_free(&r);
}

static void test_refused(void **state)
{
    (void)state;
    /* A port bound but not listening: the kernel refuses connections to it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    struct srv s = {.d = NULL};
    snprintf(s.base, sizeof(s.base), "http://127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
    struct httpc *c = client(true, NULL, NULL, NULL);
    struct httpc_resp r;
    struct err err = {0};
    assert_int_equal(get(c, &s, "/echo", 0, 1024, &r, &err), -1);
    assert_int_equal(r.fail, HTTPC_FAIL_CONNECT);
    assert_int_equal(err.kind, ERR_TRANSIENT);
    assert_string_equal(err.msg, "Couldn't connect to server");
    assert_non_null(strstr(r.detail, "127.0.0.1"));
    assert_int_equal(r.code, 0);
    httpc_resp_free(&r);
    httpc_free(c);
    close(fd);
}

static void test_keep_alive(void **state)
{
    struct fix *f = *state;
    struct srv *s = f->s;
    struct httpc *c = f->c;
    struct httpc_resp r;
    struct err err = {0};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(get(c, s, "/echo", 0, 1024, &r, &err), 0);
        assert_int_equal(r.code, 200);
        httpc_resp_free(&r);
    }
    assert_int_equal(atomic_load(&s->accepts), 1); /* three requests, one connection */
    /* The counter sees connections: another handle has its own. */
    struct httpc *c2 = client(true, NULL, NULL, NULL);
    assert_int_equal(get(c2, s, "/echo", 0, 1024, &r, &err), 0);
    httpc_resp_free(&r);
    assert_int_equal(atomic_load(&s->accepts), 2);
    httpc_free(c2);
}

struct worker {
    struct httpc *c;
    const struct srv *s;
    int ok;
};

static void *worker_run(void *ud)
{
    struct worker *w = ud;
    for (int i = 0; i < 20; i++) {
        struct httpc_resp r;
        struct err err = {0};
        if (get(w->c, w->s, "/echo", 0, 1024, &r, &err) == 0 && r.code == 200 &&
            strcmp(r.body, "GET - ") == 0)
            w->ok++;
        httpc_resp_free(&r);
    }
    return NULL;
}

static void test_concurrent_callers(void **state)
{
    struct fix *f = *state;
    struct srv *s = f->s;
    struct httpc *c = f->c;
    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.c = c, .s = s};
        assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, 20);
    }
    /* At most one connection per caller at a time, each reused. */
    assert_true(atomic_load(&s->accepts) >= 1 && atomic_load(&s->accepts) <= 4);
}

/* ---- streaming, stopping ---- */

struct sink {
    size_t bytes;
    int calls;
    int fail_at; /* refuse the piece with this number (1-based); 0 = never */
    int polls;
};

static int sink_data(void *ud, const char *p, size_t n, struct err *err)
{
    (void)p;
    struct sink *k = ud;
    k->calls++;
    if (k->fail_at != 0 && k->calls == k->fail_at) {
        err_set(err, ERR_INVALID, "piece %d refused", k->calls);
        return -1;
    }
    k->bytes += n;
    return 0;
}

static bool sink_stop(void *ud)
{
    struct sink *k = ud;
    return ++k->polls > 1;
}

static int stream(struct httpc *c, const struct srv *s, const char *path, struct sink *k, bool stop,
                  struct httpc_resp *r, struct err *err)
{
    struct httpc_req req = {
        .max_body = 64, .data = sink_data, .stop = stop ? sink_stop : NULL, .ud = k};
    return call(c, s, path, req, r, err);
}

static void test_stream_and_stop(void **state)
{
    struct fix *f = *state;
    struct srv *s = f->s;
    struct httpc *c = f->c;
    struct httpc_resp r;
    struct err err = {0};
    struct sink k = {0};
    /* A 2xx goes to the callback, past max_body (which caps only what is buffered). */
    assert_int_equal(stream(c, s, "/bigchunked", &k, false, &r, &err), 0);
    assert_int_equal(k.bytes, BIG_BYTES);
    assert_string_equal(r.body, "");
    httpc_resp_free(&r);
    /* Other answers are buffered for the caller. */
    k = (struct sink){0};
    assert_int_equal(stream(c, s, "/missing", &k, false, &r, &err), 0);
    assert_int_equal(r.code, 404);
    assert_string_equal(r.body, "no such thing");
    assert_int_equal(k.calls, 0);
    httpc_resp_free(&r);
    /* The callback's refusal is the request's error. */
    k = (struct sink){.fail_at = 2};
    assert_int_equal(stream(c, s, "/bigchunked", &k, false, &r, &err), -1);
    assert_int_equal(r.fail, HTTPC_FAIL_CALLBACK);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_string_equal(err.msg, "piece 2 refused");
    httpc_resp_free(&r);
    /* stop ends a transfer that would take SLOW_MS. */
    k = (struct sink){0};
    long t0 = mono_ms();
    assert_int_equal(stream(c, s, "/slow", &k, true, &r, &err), -1);
    assert_true(mono_ms() - t0 < SLOW_MS - 500);
    assert_int_equal(r.fail, HTTPC_FAIL_STOPPED);
    assert_int_equal(err.kind, ERR_TRANSIENT);
    assert_string_equal(err.msg, "stopped");
    httpc_resp_free(&r);
}

static void test_refusals(void **state)
{
    (void)state;
    struct err err = {0};
    struct httpc_opts o = {
        .connect_timeout_ms = 1000, .client_cert_pem = "x", .client_cert_len = 1};
    assert_null(httpc_new(&o, &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_string_equal(err.msg, "a client certificate needs its key");
    struct httpc_opts o2 = {.connect_timeout_ms = 0};
    assert_null(httpc_new(&o2, &err));
    assert_int_equal(err.kind, ERR_INVALID);
    struct httpc *c = client(true, NULL, NULL, NULL);
    struct httpc_resp r;
    struct httpc_req no_cap = {.method = "GET", .url = "http://127.0.0.1:1/", .timeout_ms = 10};
    assert_int_equal(httpc_request(c, &no_cap, &r, &err), -1);
    assert_int_equal(r.fail, HTTPC_FAIL_SETUP);
    assert_int_equal(err.kind, ERR_INTERNAL);
    httpc_resp_free(&r);
    /* A plain-HTTP handle never speaks TLS, and the other way round. */
    struct httpc_req tls = {
        .method = "GET", .url = "https://127.0.0.1:1/", .timeout_ms = 1000, .max_body = 16};
    assert_int_equal(httpc_request(c, &tls, &r, &err), -1);
    assert_int_equal(r.fail, HTTPC_FAIL_TRANSPORT);
    assert_int_equal(err.kind, ERR_TRANSIENT);
    httpc_resp_free(&r);
    httpc_free(c);
    httpc_free(NULL);
    httpc_resp_free(NULL);
    httpc_resp_free_secret(NULL);
}

/* ---- TLS ---- */

/* A leaf for cn with key, signed by ca/cakey, with an extended key usage and SANs. */
static X509 *leaf(const char *cn, EVP_PKEY *key, X509 *ca, EVP_PKEY *cakey, const char *eku,
                  const char *san)
{
    X509 *x = make_bare_cert(cn, key, ca, cakey, 0);
    add_ext(x, ca, NID_ext_key_usage, eku);
    if (san != NULL)
        add_ext(x, ca, NID_subject_alt_name, san);
    assert_true(X509_sign(x, cakey, EVP_sha256()) > 0);
    return x;
}

struct pki {
    char *ca, *other_ca;      /* PEM: the CA that signed server and client; one that did not */
    char *srv_cert, *srv_key; /* for 127.0.0.1 */
    char *cli_cert, *cli_key; /* a client certificate */
    char *named_cert;         /* srv_key's, for DNS:vault.internal only */
};

static void pki_make(struct pki *p)
{
    EVP_PKEY *cak = EVP_EC_gen("P-256"), *ok = EVP_EC_gen("P-256");
    EVP_PKEY *sk = EVP_EC_gen("P-256"), *ck = EVP_EC_gen("P-256");
    assert_true(cak && ok && sk && ck);
    X509 *ca = make_ca_cert("httpc test CA", cak, NULL, NULL, "critical,CA:TRUE", 1);
    X509 *other = make_ca_cert("httpc other CA", ok, NULL, NULL, "critical,CA:TRUE", 2);
    X509 *srv = leaf("server", sk, ca, cak, "serverAuth", "IP:127.0.0.1");
    X509 *cli = leaf("client", ck, ca, cak, "clientAuth", NULL);
    X509 *named = leaf("vault.internal", sk, ca, cak, "serverAuth", "DNS:vault.internal");
    p->named_cert = cert_pem(named);
    X509_free(named);
    p->ca = cert_pem(ca);
    p->other_ca = cert_pem(other);
    p->srv_cert = cert_pem(srv);
    p->srv_key = key_pem(sk);
    p->cli_cert = cert_pem(cli);
    p->cli_key = key_pem(ck);
    X509_free(ca), X509_free(other), X509_free(srv), X509_free(cli);
    EVP_PKEY_free(cak), EVP_PKEY_free(ok), EVP_PKEY_free(sk), EVP_PKEY_free(ck);
}

static void pki_free(struct pki *p)
{
    free(p->ca), free(p->other_ca), free(p->srv_cert), free(p->srv_key);
    free(p->cli_cert), free(p->cli_key), free(p->named_cert);
}

static void test_tls_verification(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p);
    struct srv *s = srv_start(p.srv_key, p.srv_cert, NULL);
    struct httpc_resp r;
    struct err err = {0};
    struct httpc *good = client(false, p.ca, NULL, NULL);
    assert_int_equal(get(good, s, "/echo", 0, 1024, &r, &err), 0);
    assert_int_equal(r.code, 200);
    httpc_resp_free(&r);
    /* A CA that did not sign the server, and the system's CAs, both refuse it. */
    struct httpc *wrong = client(false, p.other_ca, NULL, NULL);
    struct httpc *sys = client(false, NULL, NULL, NULL);
    struct httpc *bad[] = {wrong, sys};
    for (int i = 0; i < 2; i++) {
        err_clear(&err);
        assert_int_equal(get(bad[i], s, "/echo", 0, 1024, &r, &err), -1);
        assert_int_equal(r.fail, HTTPC_FAIL_TLS_VERIFY);
        assert_int_equal(err.kind, ERR_TRANSIENT);
        assert_true(r.detail[0] != '\0');
        assert_int_equal(r.code, 0);
        httpc_resp_free(&r);
    }
    /* An https-only handle does not fall back to plain HTTP. */
    struct httpc_req plain = {
        .method = "GET", .url = "http://127.0.0.1:1/", .timeout_ms = 1000, .max_body = 16};
    assert_int_equal(httpc_request(good, &plain, &r, &err), -1);
    assert_int_equal(r.fail, HTTPC_FAIL_TRANSPORT);
    httpc_resp_free(&r);
    httpc_free(good), httpc_free(wrong), httpc_free(sys);
    srv_stop(s);
    pki_free(&p);
}

static void test_client_certificate(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p);
    struct srv *s = srv_start(p.srv_key, p.srv_cert, p.ca);
    struct httpc_resp r;
    struct err err = {0};
    struct httpc *with = client(false, p.ca, p.cli_cert, p.cli_key);
    assert_int_equal(get(with, s, "/whoami", 0, 1024, &r, &err), 0);
    assert_string_equal(r.body, "cert");
    httpc_resp_free(&r);
    /* Twice on one connection: the certificate stays with it. */
    assert_int_equal(get(with, s, "/whoami", 0, 1024, &r, &err), 0);
    assert_string_equal(r.body, "cert");
    httpc_resp_free(&r);
    assert_int_equal(atomic_load(&s->accepts), 1);
    struct httpc *without = client(false, p.ca, NULL, NULL);
    assert_int_equal(get(without, s, "/whoami", 0, 1024, &r, &err), 0);
    assert_string_equal(r.body, "none");
    httpc_resp_free(&r);
    httpc_free(with), httpc_free(without);
    srv_stop(s);
    pki_free(&p);
}

/* server_name: TLS verifies (and SNI names) it instead of the URL's host, while the request
 * still goes to the URL's address with the URL's Host header. */
static void test_server_name(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p);
    struct srv *s = srv_start(p.srv_key, p.named_cert, NULL);
    struct httpc_resp r;
    struct err err = {0};
    struct httpc *plain = client(false, p.ca, NULL, NULL);
    assert_int_equal(get(plain, s, "/host", 0, 1024, &r, &err), -1);
    assert_int_equal(r.fail, HTTPC_FAIL_TLS_VERIFY);
    httpc_resp_free(&r);
    struct httpc_opts o = {.ca_pem = p.ca,
                           .ca_len = strlen(p.ca),
                           .connect_timeout_ms = 5000,
                           .server_name = "vault.internal"};
    struct httpc *named = httpc_new(&o, &err);
    assert_non_null(named);
    int accepts = atomic_load(&s->accepts);
    for (int i = 0; i < 2; i++) { /* the second on the kept connection */
        assert_int_equal(get(named, s, "/host", 0, 1024, &r, &err), 0);
        assert_int_equal(r.code, 200);
        assert_string_equal(r.body, s->base + strlen("https://"));
        httpc_resp_free(&r);
    }
    assert_int_equal(atomic_load(&s->accepts), accepts + 1);
    /* A relative Location resolves against the URL as given (the server's address), not the
     * server name, which need not resolve at all. */
    assert_int_equal(get(named, s, "/redirect", 0, 1024, &r, &err), 0);
    assert_int_equal(r.code, 307);
    char want[256];
    snprintf(want, sizeof(want), "%s/echo", s->base);
    assert_non_null(r.location);
    assert_string_equal(r.location, want);
    httpc_resp_free(&r);
    o.server_name = "other.internal";
    struct httpc *other = httpc_new(&o, &err);
    assert_non_null(other);
    assert_int_equal(get(other, s, "/host", 0, 1024, &r, &err), -1);
    assert_int_equal(r.fail, HTTPC_FAIL_TLS_VERIFY);
    httpc_resp_free(&r);
    o.server_name = "vault.internal/x";
    err_clear(&err);
    assert_null(httpc_new(&o, &err));
    assert_int_equal(err.kind, ERR_INVALID);
    assert_string_equal(err.msg, "server name \"vault.internal/x\" is not a host name");
    httpc_free(plain), httpc_free(named), httpc_free(other);
    srv_stop(s);
    pki_free(&p);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_methods_headers_body, plain_setup, plain_teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_and_location, plain_setup, plain_teardown),
        cmocka_unit_test_setup_teardown(test_body_cap, plain_setup, plain_teardown),
        cmocka_unit_test_setup_teardown(test_timeout, plain_setup, plain_teardown),
        cmocka_unit_test(test_refused),
        cmocka_unit_test_setup_teardown(test_keep_alive, plain_setup, plain_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_callers, plain_setup, plain_teardown),
        cmocka_unit_test_setup_teardown(test_stream_and_stop, plain_setup, plain_teardown),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_tls_verification),
        cmocka_unit_test(test_server_name),
        cmocka_unit_test(test_client_certificate),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
