/* main.c -- ember-issuer: flags, start-up, the listeners, clean shutdown on SIGTERM. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "config.h"
#include "controller/controller.h"
#include "decide/audit.h"
#include "decide/pipeline.h"
#include "front/api.h"
#include "front/http.h"
#include "issuers/issuer.h"
#include "kube/kube.h"
#include "kube/lease.h"
#include "kube/tokenreview.h"
#include "signers/devca.h"
#include "signers/subca.h"
#include "standalone/store.h"

extern char **environ;

static void main_usage_error(const char *msg)
{
    fprintf(stderr, "ember-issuer: %s\nRun 'ember-issuer --help' for the flags.\n", msg);
}

/* ember-issuer dev-ca --output FILE [--namespace NS] [--name NAME] */
static int main_dev_ca(int argc, char **argv)
{
    const char *output = NULL, *ns = "default", *name = "dev-ca";
    for (int i = 1; i < argc; i++) {
        const char **dst = strcmp(argv[i], "--output") == 0      ? &output
                           : strcmp(argv[i], "--namespace") == 0 ? &ns
                           : strcmp(argv[i], "--name") == 0      ? &name
                                                                 : NULL;
        if (dst == NULL || i + 1 >= argc) {
            fprintf(stderr,
                    "ember-issuer dev-ca: %s %s\nUsage: ember-issuer dev-ca --output FILE "
                    "[--namespace NS] [--name NAME]\n",
                    dst == NULL ? "unknown argument" : "missing value for", argv[i]);
            return 2;
        }
        *dst = argv[++i];
    }
    if (output == NULL) {
        fprintf(stderr, "ember-issuer dev-ca: --output FILE is required\n");
        return 2;
    }
    struct err e = {0};
    char *yaml = NULL;
    if (devca_generate(ns, name, time(NULL), &yaml, &e) != 0) {
        fprintf(stderr, "ember-issuer dev-ca: %s\n", e.msg);
        return 1;
    }
    /* The file holds a private key: a new file readable by its owner only, never through a
     * symbolic link, renamed into place once complete. */
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", output) >= (int)sizeof(tmp)) {
        fprintf(stderr, "ember-issuer dev-ca: --output: the path is too long\n");
        xfree_secret(yaml, strlen(yaml));
        return 2;
    }
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    size_t len = strlen(yaml), done = 0;
    while (fd >= 0 && done < len) {
        ssize_t n = write(fd, yaml + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    bool ok = fd >= 0 && done == len && fsync(fd) == 0;
    int saved = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (ok && rename(tmp, output) != 0) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        fprintf(stderr, "ember-issuer dev-ca: cannot write %s: %s%s\n", output, strerror(saved),
                fd < 0 && saved == EEXIST ? " (a leftover .tmp file is in the way: remove it)"
                                          : "");
        if (fd >= 0)
            unlink(tmp); /* ours: it may hold part of the key */
        rc = 1;
    }
    xfree_secret(yaml, strlen(yaml));
    if (rc == 0)
        fprintf(stderr, "ember-issuer dev-ca: wrote Secret %s/%s to %s (development only)\n", ns,
                name, output);
    return rc;
}

static void main_report(void *ud, const char *object, const char *problem)
{
    (void)ud;
    LOG(LOG_WARN, "store", object[0] ? object : NULL, NULL, "%s", problem);
}

/* What answers the lookups: the standalone store, or the controller's caches. */
struct main_backend {
    struct store *st;
    struct kube *kube;
    struct controller *ctl;
    struct lease *lease;
    struct tokenreview *tr; /* --api-token-auth */
    struct kube *tr_kube;   /* its client */
    struct audit *audit;    /* --audit-log */
};

/* How long a signing API caller may wait for the API server to review its token (then 503). */
#define MAIN_TOKENREVIEW_TIMEOUT_MS 10000

/* api.authenticate_token: a TokenReview (cached). */
static int main_token_auth(void *ud, const char *token, struct caller *out, struct err *err)
{
    return tokenreview_check(ud, token, out, err);
}

/* lease_config.on_change: only the leader writes. */
static void main_leader_changed(void *ud, bool leader)
{
    struct main_backend *be = ud;
    LOG(LOG_INFO, "leader", NULL, NULL, "%s",
        leader ? "leading: writing" : "following: not writing");
    if (be->ctl != NULL)
        controller_set_leader(be->ctl, leader);
}

static bool main_ready(void *ud)
{
    const struct main_backend *be = ud;
    if (be->ctl != NULL)
        return controller_synced(be->ctl);
    for (size_t i = 0; i < store_count_issuers(be->st); i++)
        if (issuer_is_ready(store_issuer_at(be->st, i)))
            return true;
    return false;
}

static bool main_controller_synced(void *ud)
{
    return controller_synced(ud);
}

/* A Kubernetes client: a kubeconfig (--kubeconfig, else the first file of $KUBECONFIG) or
 * the in-cluster service account. request_timeout_ms 0 keeps the default. */
static int main_kube(const struct config *cfg, const char *why, long request_timeout_ms,
                     struct kube **out)
{
    struct kube_config kc;
    struct err e = {0};
    char path[4096] = "";
    const char *env = getenv("KUBECONFIG");
    const char *paths = cfg->kubeconfig[0] ? cfg->kubeconfig : env ? env : "";
    size_t n = strcspn(paths, ":"); /* $KUBECONFIG may list several files: the first wins */
    if (n >= sizeof(path)) {
        LOG(LOG_ERROR, "main", NULL, NULL, "the kubeconfig path is longer than %zu bytes",
            sizeof(path) - 1);
        return -1;
    }
    memcpy(path, paths, n);
    path[n] = '\0';
    int rc = path[0] ? kube_config_from_kubeconfig(path, NULL, &kc, &e)
                     : kube_config_in_cluster(NULL, &kc, &e);
    if (rc != 0) {
        LOG(LOG_ERROR, "main", NULL, e.msg, "%s", why);
        return -1;
    }
    kc.token_reread_s = (long)cfg->token_reread_s;
    if (request_timeout_ms > 0)
        kc.request_timeout_ms = request_timeout_ms;
    *out = kube_new(&kc, &e);
    LOG(LOG_INFO, "main", NULL, NULL, "Kubernetes API server: %s", kc.server);
    kube_config_free(&kc);
    if (*out == NULL) {
        LOG(LOG_ERROR, "main", NULL, e.msg, "cannot set up the Kubernetes client");
        return -1;
    }
    return 0;
}

/* Controller mode. */
static int main_start_controller(const struct config *cfg, const char *const *keys, size_t nkeys,
                                 struct metrics *m, struct main_backend *be)
{
    struct err e = {0};
    if (main_kube(cfg,
                  "no cluster to watch: give --kubeconfig (or $KUBECONFIG), run in a pod, or "
                  "serve --manifests standalone",
                  0, &be->kube) != 0)
        return -1;
    char host[256] = "ember-issuer";
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "ember-issuer");
    host[sizeof(host) - 1] = '\0';
    const char **nss = (const char **)cfg->namespaces.v;
    struct controller_config cc = {
        .kube = be->kube,
        .policy_annotations = keys,
        .n_policy_annotations = nkeys,
        .approve = cfg->approve,
        .max_retry_s = cfg->max_retry_duration_s,
        .cluster_ns = cfg->cluster_resource_namespace,
        .workers = cfg->workers,
        .issuer_recheck_s = cfg->issuer_recheck_period_s,
        .watch_min_s = (long)cfg->watch_timeout_s,
        .watch_max_s = (long)(2 * cfg->watch_timeout_s),
        .namespaces = nss,
        .n_namespaces = cfg->namespaces.n,
        .start_as_follower = cfg->leader_elect,
        .instance = host,
        .metrics = m,
        .audit = be->audit,
    };
    be->ctl = controller_start(&cc, &e);
    if (be->ctl == NULL) {
        LOG(LOG_ERROR, "main", NULL, e.msg, "cannot start the controller");
        return -1;
    }
    if (!cfg->leader_elect)
        return 0;
    unsigned char rnd[4] = {0};
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        memset(rnd, 0, sizeof(rnd));
    char identity[320]; /* the Lease holder: never cut (host is at most 255 bytes) */
    if (snprintf(identity, sizeof(identity), "%s_%02x%02x%02x%02x", host, rnd[0], rnd[1], rnd[2],
                 rnd[3]) >= (int)sizeof(identity)) {
        LOG(LOG_ERROR, "main", NULL, NULL, "the leader election identity is too long");
        return -1;
    }
    struct lease_config lc = {
        .kube = be->kube,
        .ns = cfg->leader_election_namespace[0] ? cfg->leader_election_namespace
                                                : cfg->cluster_resource_namespace,
        .name = "ember-issuer-leader",
        .identity = identity,
        .lease_duration_s = (long)cfg->lease_duration_s,
        .renew_deadline_s = (long)cfg->renew_deadline_s,
        .retry_period_s = (long)cfg->retry_period_s,
        .on_change = main_leader_changed,
        .ud = be,
    };
    be->lease = lease_start(&lc, &e);
    if (be->lease == NULL) {
        LOG(LOG_ERROR, "main", NULL, e.msg, "cannot start leader election");
        return -1;
    }
    return 0;
}

static void main_declare_metrics(struct metrics *m)
{
    issuer_declare_metrics(m);
    metrics_declare(m, "ember_build_info", "gauge", "Ember's version.");
    metrics_gauge_set(m, "ember_build_info", "version=\"" EMBER_VERSION "\"", 1);
    metrics_declare(m, "ember_secure_heap_locked", "gauge",
                    "1 when the secure heap holding sub-CA keys is locked in memory, else 0.");
    metrics_gauge_set(m, "ember_secure_heap_locked", NULL, subca_heap_state() == 1 ? 1 : 0);
}

static void main_issuer_metrics(struct metrics *m, const struct store *st)
{
    issuer_publish_metrics(m, store_issuers(st), store_count_issuers(st));
}

/* Re-checks issuers in the background: every --issuer-recheck-period when all are Ready,
 * sooner (1 s doubling up to the period) while some are not. */
struct main_recheck {
    struct store *st;
    struct metrics *m;
    long long period_s;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
};

static void *main_recheck_thread(void *arg)
{
    struct main_recheck *rc = arg;
    long long wait_s = 1;
    pthread_mutex_lock(&rc->lock);
    while (!rc->stop) {
        struct timespec until = clock_deadline(wait_s * 1000);
        pthread_cond_timedwait(&rc->cond, &rc->lock, &until);
        if (rc->stop)
            break;
        pthread_mutex_unlock(&rc->lock);
        size_t not_ready = store_recheck(rc->st, time(NULL), main_report, NULL);
        main_issuer_metrics(rc->m, rc->st);
        pthread_mutex_lock(&rc->lock);
        wait_s = not_ready == 0              ? rc->period_s
                 : wait_s * 2 > rc->period_s ? rc->period_s
                                             : wait_s * 2;
    }
    pthread_mutex_unlock(&rc->lock);
    return NULL;
}

/* The three listeners; bind "0" turns one off. */
static int main_listen(const struct config *cfg, struct api *api, struct metrics *m,
                       struct main_backend *be, struct http_listener *out[3])
{
    const struct {
        const char *name, *bind;
        bool api, metrics;
    } spec[3] = {
        {"api", cfg->api_bind_address, true, false},
        {"probes", cfg->health_probe_bind_address, false, false},
        {"metrics", cfg->metrics_bind_address, false, true},
    };
    for (int i = 0; i < 3; i++) {
        out[i] = NULL;
        if (strcmp(spec[i].bind, "0") == 0)
            continue;
        struct http_routes r = {
            .name = spec[i].name,
            .api = spec[i].api ? api : NULL,
            .metrics = m,
            .serve_metrics = spec[i].metrics,
            .ready = main_ready,
            .ready_ud = be,
            .max_body = (size_t)cfg->api_max_body_bytes,
            .threads = spec[i].api ? cfg->http_threads : 1,
            .max_conns = (unsigned)cfg->http_max_conns,
            .max_conns_per_addr = (unsigned)cfg->http_max_conns_per_addr,
            .header_timeout_s = (int)cfg->http_header_timeout_s,
            .request_timeout_s = (int)cfg->http_read_timeout_s,
            .tls_cert_file = spec[i].api ? cfg->api_tls_cert_file : "",
            .tls_key_file = spec[i].api ? cfg->api_tls_key_file : "",
            .client_ca_file = spec[i].api ? cfg->api_client_ca_file : "",
        };
        struct err e = {0};
        out[i] = http_listen(spec[i].bind, &r, &e);
        if (out[i] == NULL) {
            LOG(LOG_ERROR, "http", NULL, e.msg, "cannot start the %s listener", spec[i].name);
            return -1;
        }
        LOG(LOG_INFO, "http", NULL, NULL, "serving %s on %s", spec[i].name, spec[i].bind);
    }
    return 0;
}

/* The signing API must not be reachable beyond this machine without authentication. */
static int main_check_api_exposure(const struct config *cfg)
{
    if (strcmp(cfg->api_bind_address, "0") == 0)
        return 0;
    struct sockaddr_storage ss;
    socklen_t len;
    bool loopback = false;
    struct err e = {0};
    if (http_parse_bind(cfg->api_bind_address, &ss, &len, &loopback, &e) != 0) {
        char msg[ERR_MSG_MAX + 64];
        snprintf(msg, sizeof(msg), "--api-bind-address: %s", e.msg);
        main_usage_error(msg);
        return -1;
    }
    bool tls = cfg->api_tls_cert_file[0] != '\0',
         auth = cfg->api_client_ca_file[0] || cfg->api_token_auth;
    if ((cfg->api_tls_cert_file[0] != '\0') != (cfg->api_tls_key_file[0] != '\0')) {
        main_usage_error("--api-tls-cert-file and --api-tls-key-file go together");
        return -1;
    }
    if (cfg->api_client_ca_file[0] != '\0' && !tls) {
        main_usage_error("--api-client-ca-file needs --api-tls-cert-file and --api-tls-key-file "
                         "(client certificates are only asked for over HTTPS)");
        return -1;
    }
    if (cfg->api_allow_unauthenticated && !auth)
        LOG(LOG_WARN, "api", NULL, NULL,
            "THE SIGNING API ON %s IS UNAUTHENTICATED (--api-allow-unauthenticated): anyone who "
            "can reach it can get certificates for any policy; for development only",
            cfg->api_bind_address);
    if (cfg->api_token_auth && !tls && !loopback) {
        if (!cfg->api_allow_plaintext_tokens) {
            char msg[512];
            snprintf(msg, sizeof(msg),
                     "refusing to take bearer tokens in clear text on %.200s, beyond loopback: "
                     "add --api-tls-cert-file and --api-tls-key-file (HTTPS), bind it to "
                     "127.0.0.1, or pass --api-allow-plaintext-tokens when something else "
                     "encrypts the traffic (a service mesh)",
                     cfg->api_bind_address);
            main_usage_error(msg);
            return -1;
        }
        LOG(LOG_WARN, "api", NULL, NULL,
            "BEARER TOKENS REACH THE SIGNING API ON %s IN CLEAR TEXT "
            "(--api-allow-plaintext-tokens): only safe when something else encrypts the traffic",
            cfg->api_bind_address);
    }
    if (loopback || auth)
        return 0;
    if (!cfg->api_allow_unauthenticated) {
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "refusing to serve the signing API on %.200s, beyond loopback, without "
                 "authentication: configure --api-client-ca-file (with --api-tls-cert-file) or "
                 "--api-token-auth, bind it to 127.0.0.1, or pass --api-allow-unauthenticated "
                 "(development only)",
                 cfg->api_bind_address);
        main_usage_error(msg);
        return -1;
    }
    return 0;
}

/* Everything main() starts, stopped in reverse by main_stop. */
struct main_run {
    struct config cfg;
    const char **keys; /* policy annotations: PIPELINE_POLICY_ANNOTATION, --policy-annotation */
    size_t nkeys;
    struct metrics *m;
    struct main_backend be;
    struct http_listener *listeners[3];
    struct main_recheck rc;
    pthread_t recheck_thread;
    bool recheck_started;
    struct api api;
};

/* OpenSSL's secure heap for the Vault sub-CA keys (signers/subca.h), before any thread: says
 * once whether it is locked in memory, and what RLIMIT_MEMLOCK allows. */
static void main_secure_heap(long long bytes)
{
    int heap = subca_heap_init((size_t)bytes);
    struct rlimit rl = {0, 0};
    char limit[64] = "unknown";
    int got = getrlimit(RLIMIT_MEMLOCK, &rl);
    if (got == 0 && rl.rlim_cur == RLIM_INFINITY)
        snprintf(limit, sizeof(limit), "unlimited");
    else if (got == 0)
        snprintf(limit, sizeof(limit), "%llu bytes", (unsigned long long)rl.rlim_cur);
    if (heap == 1)
        LOG(LOG_INFO, "main", NULL, NULL,
            "secure heap of %lld bytes for sub-CA keys: locked in memory (RLIMIT_MEMLOCK %s)",
            bytes, limit);
    else
        LOG(LOG_WARN, "main", NULL, NULL,
            "secure heap of %lld bytes for sub-CA keys: %s (RLIMIT_MEMLOCK %s); raise the limit, "
            "grant CAP_IPC_LOCK or lower --secure-heap-bytes to keep keys out of swap",
            bytes, heap == 2 ? "NOT locked in memory" : "could not be set up", limit);
}

/* Reads the flags, sets up the logger and libcurl, and checks the signing API's exposure.
 * Returns true to go on, else false with *exit_code (0 after --help or --version). */
static bool main_configure(struct main_run *r, int argc, char **argv, int *exit_code)
{
    struct err e = {0};
    int parsed = config_parse(&r->cfg, argc, argv, environ, stdout, &e);
    if (parsed != 0) {
        if (parsed < 0)
            main_usage_error(e.msg);
        config_free(&r->cfg);
        *exit_code = parsed < 0 ? 2 : 0;
        return false;
    }
    log_init(r->cfg.log_format, r->cfg.log_level, 2);
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread exists: it is not thread-safe */
    main_secure_heap(r->cfg.secure_heap_bytes);
    if (main_check_api_exposure(&r->cfg) != 0) {
        config_free(&r->cfg);
        *exit_code = 2;
        return false;
    }
    return true;
}

/* Signals are taken by sigwait in main(); every thread started later inherits the mask. */
static void main_block_signals(sigset_t *sigs)
{
    sigemptyset(sigs);
    sigaddset(sigs, SIGTERM);
    sigaddset(sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* The policy annotation keys, the metrics, the re-check's lock and the signing API, before
 * anything starts. */
static void main_init(struct main_run *r)
{
    const struct config *cfg = &r->cfg;
    r->nkeys = cfg->policy_annotations.n + 1;
    r->keys = xcalloc(r->nkeys, sizeof(*r->keys));
    r->keys[0] = PIPELINE_POLICY_ANNOTATION;
    for (size_t i = 0; i < cfg->policy_annotations.n; i++)
        r->keys[i + 1] = cfg->policy_annotations.v[i];
    r->m = metrics_new();
    r->rc = (struct main_recheck){.m = r->m, .period_s = cfg->issuer_recheck_period_s};
    pthread_mutex_init(&r->rc.lock, NULL);
    if (clock_cond_init(&r->rc.cond) != 0)
        abort(); /* as xcalloc does when memory runs out: nothing to go on with */
    r->api = (struct api){
        .env =
            {
                .group = ISSUER_GROUP,
                .policy_annotations = r->keys,
                .n_policy_annotations = r->nkeys,
                .max_retry_s = cfg->max_retry_duration_s,
            },
        .cluster_ns = xstrdup(cfg->cluster_resource_namespace),
        .metrics = r->m,
        .auth_required = cfg->api_client_ca_file[0] != '\0' || cfg->api_token_auth,
        .mtls = cfg->api_client_ca_file[0] != '\0',
        .token_audience = cfg->api_token_audience,
    };
    api_declare_metrics(&r->api);
    http_declare_metrics(r->m);
    main_declare_metrics(r->m);
}

/* --audit-log: opened before anything can issue. Returns 0 or the exit code. */
static int main_open_audit(struct main_run *r)
{
    if (r->cfg.audit_log[0] == '\0')
        return 0;
    struct err e = {0};
    r->be.audit = audit_open(r->cfg.audit_log, r->cfg.audit_log_include_certificate, &e);
    if (r->be.audit == NULL) {
        LOG(LOG_ERROR, "main", NULL, e.msg, "cannot open --audit-log %s", r->cfg.audit_log);
        return 2;
    }
    r->api.audit = r->be.audit;
    return 0;
}

/* Standalone: everything is loaded before serving; issuers are re-checked in the background.
 * Returns 0 or the exit code. */
static int main_start_standalone(struct main_run *r)
{
    const struct config *cfg = &r->cfg;
    struct err e = {0};
    r->be.st = store_new(cfg->cluster_resource_namespace);
    for (size_t i = 0; i < cfg->manifests.n; i++) {
        if (store_load_path(r->be.st, cfg->manifests.v[i], &e) != 0) {
            LOG(LOG_ERROR, "store", NULL, e.msg, "cannot load --manifests %s", cfg->manifests.v[i]);
            return 2;
        }
    }
    store_resolve(r->be.st, time(NULL), main_report, NULL);
    LOG(LOG_INFO, "store", NULL, NULL, "loaded %zu issuers and %zu policies",
        store_count_issuers(r->be.st), store_count_policies(r->be.st));
    r->api.env.synced = true;
    r->api.env.find_issuer = store_find_issuer;
    r->api.env.find_policy = store_find_policy;
    r->api.env.namespace_labels = store_namespace_labels;
    r->api.env.ud = r->be.st;
    if (r->api.issuer_kind != NULL) {
        struct issuer *is = store_find_issuer(r->be.st, r->api.issuer_kind, r->api.issuer_namespace,
                                              r->api.issuer_name);
        if (is == NULL)
            LOG(LOG_WARN, "api", NULL, NULL,
                "--api-issuer %s names no issuer in --manifests: %s answers 503", cfg->api_issuer,
                API_PATH_FIREFLY);
        issuer_unref(is);
    }
    main_issuer_metrics(r->m, r->be.st);
    r->rc.st = r->be.st;
    r->recheck_started = pthread_create(&r->recheck_thread, NULL, main_recheck_thread, &r->rc) == 0;
    return 0;
}

/* Controller mode: the lookups answer from the controller's caches. Returns 0 or the exit
 * code. */
static int main_start_controller_mode(struct main_run *r)
{
    if (main_start_controller(&r->cfg, r->keys, r->nkeys, r->m, &r->be) != 0)
        return 1;
    r->api.env.find_issuer = controller_find_issuer;
    r->api.env.find_policy = controller_find_policy;
    r->api.env.release_policy = controller_release_policy;
    r->api.env.namespace_labels = controller_namespace_labels;
    r->api.env.ud = r->be.ctl;
    r->api.synced = main_controller_synced;
    return 0;
}

/* --api-token-auth: bearer tokens checked with TokenReviews, through a client of its own with a
 * short timeout (a caller waits for the review). Returns 0 or the exit code. */
static int main_start_token_auth(struct main_run *r)
{
    if (!r->cfg.api_token_auth)
        return 0;
    if (main_kube(&r->cfg,
                  "--api-token-auth checks tokens with TokenReviews: give --kubeconfig (or "
                  "$KUBECONFIG) or run in a pod",
                  MAIN_TOKENREVIEW_TIMEOUT_MS, &r->be.tr_kube) != 0)
        return 1;
    r->be.tr = tokenreview_new(r->be.tr_kube, r->cfg.api_token_audience,
                               r->cfg.api_token_cache_ttl_s, r->m);
    if (r->be.tr == NULL) {
        main_usage_error("--api-token-audience must be 1 to 256 printable ASCII characters "
                         "without spaces");
        return 2;
    }
    r->api.authenticate_token = main_token_auth;
    r->api.token_ud = r->be.tr;
    return 0;
}

/* Starts everything, in order. Returns 0 once serving, else the exit code. */
static int main_start(struct main_run *r)
{
    struct err e = {0};
    if (api_set_issuer(&r->api, r->cfg.api_issuer, &e) != 0) {
        main_usage_error(e.msg);
        return 2;
    }
    int code = main_open_audit(r);
    if (code == 0)
        code = r->cfg.manifests.n > 0 ? main_start_standalone(r) : main_start_controller_mode(r);
    if (code == 0)
        code = main_start_token_auth(r);
    if (code == 0 && main_listen(&r->cfg, &r->api, r->m, &r->be, r->listeners) != 0)
        code = 1;
    return code;
}

/* Stops and frees what main_init and main_start set up (whatever part of it started). */
static void main_stop(struct main_run *r)
{
    for (int i = 0; i < 3; i++)
        http_stop(r->listeners[i]);
    if (r->recheck_started) {
        pthread_mutex_lock(&r->rc.lock);
        r->rc.stop = true;
        pthread_cond_signal(&r->rc.cond);
        pthread_mutex_unlock(&r->rc.lock);
        pthread_join(r->recheck_thread, NULL);
    }
    pthread_cond_destroy(&r->rc.cond);
    pthread_mutex_destroy(&r->rc.lock);
    if (r->be.lease != NULL) {
        /* Stop writing, then release the Lease so another replica takes over at once (the
         * lease thread is joined, so no callback reaches the controller after this). */
        if (r->be.ctl != NULL)
            controller_set_leader(r->be.ctl, false);
        lease_stop(r->be.lease);
    }
    controller_stop(r->be.ctl);
    tokenreview_free(r->be.tr);
    kube_free(r->be.tr_kube);
    kube_free(r->be.kube);
    audit_close(r->be.audit);
    api_free(&r->api);
    metrics_free(r->m);
    free(r->keys);
    store_free(r->be.st);
    config_free(&r->cfg);
    curl_global_cleanup();
    /* The signers are freed: the secure heap holds no key any more (a no-op if it was never set
     * up; it refuses while anything is still allocated in it). */
    CRYPTO_secure_malloc_done();
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "dev-ca") == 0)
        return main_dev_ca(argc - 1, argv + 1);
    struct main_run r = {0};
    int exit_code = 0;
    if (!main_configure(&r, argc, argv, &exit_code))
        return exit_code;
    sigset_t sigs;
    main_block_signals(&sigs);
    main_init(&r);
    exit_code = main_start(&r);
    if (exit_code == 0) {
        LOG(LOG_INFO, "main", NULL, NULL, "ember-issuer %s ready", EMBER_VERSION);
        int sig = 0;
        sigwait(&sigs, &sig);
        LOG(LOG_INFO, "main", NULL, NULL, "received %s, shutting down",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    }
    main_stop(&r);
    return exit_code;
}
