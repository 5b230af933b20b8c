/* kube.c -- Kubernetes API client: configuration, HTTPS requests (base/httpc), token re-reading. */
#include "kube/kube.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/b64.h"
#include "base/clock.h"
#include "base/httpc.h"
#include "base/jsonfield.h"
#include "base/log.h"
#include "base/manifest.h"
#include "base/mem.h"
#include "base/utf8.h"

/* ---- files ------------------------------------------------------------------------------- */

/* Reads at most max bytes of path into a new NUL-terminated buffer. */
static WUR int kube_read_file_capped(const char *path, size_t max, char **out, size_t *out_len,
                                     const char *what, struct err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(err, ERR_INVALID, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    struct buf b;
    buf_init(&b, max);
    char tmp[8192];
    for (;;) {
        ssize_t n = read(fd, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err_set(err, ERR_INVALID, "%s %s: %s", what, path, strerror(errno));
            break;
        }
        if (n == 0) {
            close(fd);
            *out = buf_take(&b, out_len);
            OPENSSL_cleanse(tmp, sizeof tmp);
            return 0;
        }
        if (buf_append(&b, tmp, (size_t)n, NULL) < 0) {
            err_set(err, ERR_TOO_BIG, "%s %s is larger than %zu bytes", what, path, max);
            break;
        }
    }
    close(fd);
    OPENSSL_cleanse(tmp, sizeof tmp);
    buf_free_secret(&b);
    return -1;
}

/* A token file's content without surrounding white space; ERR_INVALID when empty. */
static WUR int kube_read_token_file(const char *path, char **out, struct err *err)
{
    char *data = NULL;
    size_t len = 0;
    if (kube_read_file_capped(path, KUBE_MAX_TOKEN_BYTES, &data, &len, "token file", err) < 0)
        return -1;
    size_t s = 0, e = len;
    while (s < e && isspace((unsigned char)data[s]))
        s++;
    while (e > s && isspace((unsigned char)data[e - 1]))
        e--;
    for (size_t i = s; i < e; i++) {
        if ((unsigned char)data[i] < 0x21 || (unsigned char)data[i] > 0x7e) {
            xfree_secret(data, len);
            err_set(err, ERR_INVALID, "token file %s holds a character not allowed in a token",
                    path);
            return -1;
        }
    }
    if (s == e) {
        xfree_secret(data, len);
        err_set(err, ERR_INVALID, "token file %s is empty", path);
        return -1;
    }
    *out = xstrndup(data + s, e - s);
    xfree_secret(data, len);
    return 0;
}

static WUR char *kube_path_join(const char *dir, const char *name)
{
    if (name[0] == '/' || !dir || !dir[0])
        return xstrdup(name);
    return xasprintf("%s/%s", dir, name);
}

/* ---- configuration ----------------------------------------------------------------------- */

void kube_config_init(struct kube_config *c)
{
    memset(c, 0, sizeof *c);
    c->token_reread_s = 60;
    c->connect_timeout_ms = 10000;
    c->request_timeout_ms = 60000;
}

void kube_config_free(struct kube_config *c)
{
    if (!c)
        return;
    free(c->server);
    free(c->ca_pem);
    if (c->token)
        xfree_secret(c->token, strlen(c->token));
    free(c->token_file);
    free(c->client_cert_pem);
    if (c->client_key_pem)
        xfree_secret(c->client_key_pem, c->client_key_len);
    free(c->namespace);
    memset(c, 0, sizeof *c);
}

static WUR const cJSON *kube_named_entry(const cJSON *root, const char *list, const char *inner,
                                         const char *name, struct err *err)
{
    const cJSON *arr = NULL;
    const cJSON *it;
    if (jsonfield_array(root, "", list, &arr, err) != 0) {
        err_prefix(err, "kubeconfig");
        return NULL;
    }
    cJSON_ArrayForEach(it, arr)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, inner);
            if (!cJSON_IsObject(v)) {
                err_set(err, ERR_INVALID, "kubeconfig: %s entry %.200s has no %s mapping", list,
                        name, inner);
                return NULL;
            }
            return v;
        }
    }
    err_set(err, ERR_INVALID, "kubeconfig: no entry named %.200s in %s", name, list);
    return NULL;
}

/* A string field: NULL when absent; -1 when present but not a string. */
static WUR int kube_opt_string(const cJSON *obj, const char *key, const char *where,
                               const char **out, struct err *err)
{
    if (jsonfield_string(obj, where, key, out, err) != 0) {
        err_prefix(err, "kubeconfig");
        return -1;
    }
    return 0;
}

/* Reads PEM material from key-data (base64) or key (a file); both absent leaves *out NULL. */
static WUR int kube_pem_field(const cJSON *obj, const char *where, const char *data_key,
                              const char *file_key, const char *base_dir, char **out,
                              size_t *out_len, struct err *err)
{
    const char *data, *file;
    if (kube_opt_string(obj, data_key, where, &data, err) < 0 ||
        kube_opt_string(obj, file_key, where, &file, err) < 0)
        return -1;
    if (data && data[0]) {
        unsigned char *dec = NULL;
        if (b64_decode(data, strlen(data), KUBE_MAX_FILE_BYTES, &dec, out_len, err) < 0) {
            err_prefix(err, "kubeconfig: %s.%s", where, data_key);
            return -1;
        }
        *out = (char *)dec;
        return 0;
    }
    if (file && file[0]) {
        char *p = kube_path_join(base_dir, file);
        int rc = kube_read_file_capped(p, KUBE_MAX_FILE_BYTES, out, out_len, file_key, err);
        free(p);
        if (rc < 0)
            err_prefix(err, "kubeconfig: %s.%s", where, file_key);
        return rc;
    }
    return 0;
}

/* The cluster entry named cluster_name: its https:// server (trailing '/' dropped) and CA. */
static WUR int kube_parse_cluster(const cJSON *root, const char *cluster_name, const char *base_dir,
                                  struct kube_config *c, struct err *err)
{
    const cJSON *cl = kube_named_entry(root, "clusters", "cluster", cluster_name, err);
    if (!cl)
        return -1;
    const char *server;
    if (kube_opt_string(cl, "server", "cluster", &server, err) < 0)
        return -1;
    if (!server || strncmp(server, "https://", 8) != 0 || !server[8]) {
        err_set(err, ERR_INVALID,
                "kubeconfig: cluster %.200s: server must be an https:// URL (Ember always uses "
                "verified TLS)",
                cluster_name);
        return -1;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cl, "insecure-skip-tls-verify"))) {
        err_set(err, ERR_INVALID,
                "kubeconfig: cluster %.200s: insecure-skip-tls-verify is not supported: Ember "
                "always verifies TLS; set certificate-authority-data",
                cluster_name);
        return -1;
    }
    static const char *const unsupported_cluster[] = {"tls-server-name", "proxy-url"};
    for (size_t i = 0; i < sizeof unsupported_cluster / sizeof *unsupported_cluster; i++) {
        const char *v;
        if (kube_opt_string(cl, unsupported_cluster[i], "cluster", &v, err) < 0)
            return -1;
        if (v && v[0]) {
            err_set(err, ERR_INVALID, "kubeconfig: cluster %.200s: %s is not supported",
                    cluster_name, unsupported_cluster[i]);
            return -1;
        }
    }
    size_t sl = strlen(server);
    while (sl > 8 && server[sl - 1] == '/')
        sl--;
    c->server = xstrndup(server, sl);
    return kube_pem_field(cl, "cluster", "certificate-authority-data", "certificate-authority",
                          base_dir, &c->ca_pem, &c->ca_len, err);
}

/* Refuses the ways of logging in Ember does not support: exec plugins, auth providers and
 * basic auth. */
static WUR int kube_user_supported(const cJSON *u, const char *user_name, struct err *err)
{
    if (cJSON_GetObjectItemCaseSensitive(u, "exec")) {
        err_set(err, ERR_INVALID,
                "kubeconfig: user %.200s uses an exec credential plugin, which Ember does not "
                "support; use a token, tokenFile or client certificate (e.g. a service "
                "account token)",
                user_name);
        return -1;
    }
    if (cJSON_GetObjectItemCaseSensitive(u, "auth-provider")) {
        err_set(err, ERR_INVALID,
                "kubeconfig: user %.200s uses an auth-provider, which Ember does not support; "
                "use a token, tokenFile or client certificate",
                user_name);
        return -1;
    }
    if (cJSON_GetObjectItemCaseSensitive(u, "username") ||
        cJSON_GetObjectItemCaseSensitive(u, "password")) {
        err_set(err, ERR_INVALID,
                "kubeconfig: user %.200s uses username/password (basic auth), which Ember "
                "does not support; use a token or client certificate",
                user_name);
        return -1;
    }
    return 0;
}

/* The user entry named user_name: its token or token file (read once to check it), and its
 * client certificate and key, which come together or not at all. */
static WUR int kube_parse_user(const cJSON *root, const char *user_name, const char *base_dir,
                               struct kube_config *c, struct err *err)
{
    const cJSON *u = kube_named_entry(root, "users", "user", user_name, err);
    if (!u || kube_user_supported(u, user_name, err) < 0)
        return -1;
    const char *tok, *tok_file;
    if (kube_opt_string(u, "token", "user", &tok, err) < 0 ||
        kube_opt_string(u, "tokenFile", "user", &tok_file, err) < 0)
        return -1;
    if (tok && strlen(tok) >= KUBE_MAX_TOKEN_BYTES) {
        err_set(err, ERR_TOO_BIG, "kubeconfig: user %.200s: token is longer than %d bytes",
                user_name, KUBE_MAX_TOKEN_BYTES);
        return -1;
    }
    if (tok && tok[0])
        c->token = xstrdup(tok);
    if (tok_file && tok_file[0]) {
        c->token_file = kube_path_join(base_dir, tok_file);
        char *t = NULL;
        if (kube_read_token_file(c->token_file, &t, err) < 0) {
            err_prefix(err, "kubeconfig: user %.200s: tokenFile", user_name);
            return -1;
        }
        xfree_secret(t, strlen(t));
    }
    if (kube_pem_field(u, "user", "client-certificate-data", "client-certificate", base_dir,
                       &c->client_cert_pem, &c->client_cert_len, err) < 0 ||
        kube_pem_field(u, "user", "client-key-data", "client-key", base_dir, &c->client_key_pem,
                       &c->client_key_len, err) < 0)
        return -1;
    if (!c->client_cert_pem != !c->client_key_pem) {
        err_set(err, ERR_INVALID,
                "kubeconfig: user %.200s: client-certificate and client-key must be given "
                "together",
                user_name);
        return -1;
    }
    return 0;
}

/* A kubeconfig's context (the current one unless named): its cluster, user and namespace. */
static WUR int kube_parse_kubeconfig_obj(const cJSON *root, const char *base_dir,
                                         const char *context, struct kube_config *c,
                                         struct err *err)
{
    if (!cJSON_IsObject(root)) {
        err_set(err, ERR_INVALID, "kubeconfig: the document must be a mapping");
        return -1;
    }
    if (!context) {
        const cJSON *cur = cJSON_GetObjectItemCaseSensitive(root, "current-context");
        if (!cJSON_IsString(cur) || !cur->valuestring[0]) {
            err_set(err, ERR_INVALID, "kubeconfig: no current-context set and no context given");
            return -1;
        }
        context = cur->valuestring;
    }
    const cJSON *ctx = kube_named_entry(root, "contexts", "context", context, err);
    if (!ctx)
        return -1;
    const char *cluster_name, *user_name, *ns;
    if (kube_opt_string(ctx, "cluster", "context", &cluster_name, err) < 0 ||
        kube_opt_string(ctx, "user", "context", &user_name, err) < 0 ||
        kube_opt_string(ctx, "namespace", "context", &ns, err) < 0)
        return -1;
    if (!cluster_name) {
        err_set(err, ERR_INVALID, "kubeconfig: context %.200s names no cluster", context);
        return -1;
    }
    if (kube_parse_cluster(root, cluster_name, base_dir, c, err) < 0 ||
        (user_name && kube_parse_user(root, user_name, base_dir, c, err) < 0))
        return -1;
    c->namespace = xstrdup(ns && ns[0] ? ns : "default");
    return 0;
}

int kube_config_parse_kubeconfig(const char *data, size_t len, const char *base_dir,
                                 const char *context, struct kube_config *out, struct err *err)
{
    kube_config_init(out);
    cJSON *root = manifest_parse_one(data, len, err);
    if (!root) {
        err_prefix(err, "kubeconfig");
        return -1;
    }
    int rc = kube_parse_kubeconfig_obj(root, base_dir, context, out, err);
    /* The tree holds the token and key data: wipe string values before freeing. */
    cJSON *stack[MANIFEST_MAX_DEPTH + 2];
    size_t sp = 0;
    stack[sp++] = root;
    while (sp) {
        cJSON *n = stack[--sp];
        for (cJSON *ch = n->child; ch; ch = ch->next) {
            if (cJSON_IsString(ch) && ch->valuestring)
                OPENSSL_cleanse(ch->valuestring, strlen(ch->valuestring));
            else if (ch->child && sp < sizeof stack / sizeof *stack)
                stack[sp++] = ch;
        }
    }
    cJSON_Delete(root);
    if (rc < 0) {
        kube_config_free(out);
        kube_config_init(out);
    }
    return rc;
}

int kube_config_from_kubeconfig(const char *path, const char *context, struct kube_config *out,
                                struct err *err)
{
    kube_config_init(out);
    char *data = NULL;
    size_t len = 0;
    if (kube_read_file_capped(path, KUBE_MAX_FILE_BYTES, &data, &len, "kubeconfig", err) < 0)
        return -1;
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int rc = kube_config_parse_kubeconfig(data, len, slash ? (dir[0] ? dir : "/") : NULL, context,
                                          out, err);
    free(dir);
    xfree_secret(data, len);
    if (rc < 0)
        err_prefix(err, "%s", path);
    return rc;
}

int kube_config_in_cluster(const char *sa_dir, struct kube_config *out, struct err *err)
{
    kube_config_init(out);
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !host[0] || !port || !port[0]) {
        err_set(err, ERR_INVALID,
                "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                "must be set (or give a kubeconfig)");
        return -1;
    }
    if (strlen(host) > 255 || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port)) {
        err_set(err, ERR_INVALID, "KUBERNETES_SERVICE_HOST/PORT are not a host and port");
        return -1;
    }
    if (!sa_dir)
        sa_dir = KUBE_DEFAULT_SA_DIR;
    out->server = strchr(host, ':') ? xasprintf("https://[%s]:%s", host, port)
                                    : xasprintf("https://%s:%s", host, port);
    char *p = kube_path_join(sa_dir, "ca.crt");
    int rc = kube_read_file_capped(p, KUBE_MAX_FILE_BYTES, &out->ca_pem, &out->ca_len,
                                   "service account CA", err);
    free(p);
    if (rc < 0)
        goto fail;
    out->token_file = kube_path_join(sa_dir, "token");
    char *t = NULL;
    if (kube_read_token_file(out->token_file, &t, err) < 0)
        goto fail;
    xfree_secret(t, strlen(t));
    p = kube_path_join(sa_dir, "namespace");
    char *ns = NULL;
    size_t nslen = 0;
    struct err ignored;
    if (kube_read_file_capped(p, 256, &ns, &nslen, "namespace", &ignored) == 0) {
        while (nslen && isspace((unsigned char)ns[nslen - 1]))
            ns[--nslen] = '\0';
        out->namespace = nslen ? ns : (free(ns), xstrdup("default"));
    } else {
        out->namespace = xstrdup("default");
    }
    free(p);
    return 0;
fail:
    kube_config_free(out);
    kube_config_init(out);
    return -1;
}

/* ---- Status, URLs, backoff (pure) -------------------------------------------------------- */

static long kube_parse_retry_after(const char *s)
{
    if (!s)
        return 0;
    while (*s == ' ' || *s == '\t')
        s++;
    long v = 0;
    if (!isdigit((unsigned char)*s))
        return 0;
    while (isdigit((unsigned char)*s)) {
        if (v < KUBE_RETRY_AFTER_MAX_S)
            v = v * 10 + (*s - '0');
        s++;
    }
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    if (*s)
        return 0;
    return v > KUBE_RETRY_AFTER_MAX_S ? KUBE_RETRY_AFTER_MAX_S : v;
}

void kube_status_from_json(const cJSON *obj, long http_code, struct kube_status *st)
{
    memset(st, 0, sizeof *st);
    st->code = http_code;
    if (!cJSON_IsObject(obj))
        return;
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
    if (cJSON_IsNumber(code) && code->valuedouble >= 100 && code->valuedouble <= 599)
        st->code = (long)code->valuedouble;
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(obj, "reason");
    if (cJSON_IsString(reason))
        utf8_copy_printable(st->reason, sizeof st->reason, reason->valuestring, SIZE_MAX);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(obj, "message");
    if (cJSON_IsString(msg))
        utf8_copy_printable(st->message, sizeof st->message, msg->valuestring, SIZE_MAX);
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(obj, "details");
    const cJSON *ra = cJSON_GetObjectItemCaseSensitive(details, "retryAfterSeconds");
    if (cJSON_IsNumber(ra) && ra->valuedouble > 0)
        st->retry_after_s = ra->valuedouble > KUBE_RETRY_AFTER_MAX_S ? KUBE_RETRY_AFTER_MAX_S
                                                                     : (long)ra->valuedouble;
    const cJSON *causes = cJSON_GetObjectItemCaseSensitive(details, "causes");
    const cJSON *cause;
    if (!cJSON_IsArray(causes))
        causes = NULL;
    cJSON_ArrayForEach(cause, causes)
    {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(cause, "reason");
        if (cJSON_IsString(r) && strcmp(r->valuestring, "ResourceVersionTooLarge") == 0)
            st->too_large_rv = true;
    }
}

void kube_status_parse(const char *body, size_t len, long http_code, const char *retry_after,
                       struct kube_status *st)
{
    cJSON *obj = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    kube_status_from_json(cJSON_IsString(kind) && strcmp(kind->valuestring, "Status") == 0 ? obj
                                                                                           : NULL,
                          http_code, st);
    cJSON_Delete(obj);
    long h = kube_parse_retry_after(retry_after);
    if (h > 0)
        st->retry_after_s = h;
}

int kube_query_add(struct buf *b, const char *key, const char *value, struct err *err)
{
    const char *sep = (b->data && memchr(b->data, '?', b->len)) ? "&" : "?";
    if (buf_printf(b, err, "%s%s=", sep, key) < 0)
        return -1;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        int rc = (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~')
                     ? buf_append(b, p, 1, err)
                     : buf_printf(b, err, "%%%02X", *p);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static char *kube_path_finish(struct buf *b, struct err *err)
{
    buf_free(b);
    err_set(err, ERR_TOO_BIG, "request path is longer than %d bytes", KUBE_MAX_PATH_BYTES);
    return NULL;
}

char *kube_path_list(const char *base, long limit, const char *rv, const char *cont,
                     struct err *err)
{
    struct buf b;
    buf_init(&b, KUBE_MAX_PATH_BYTES);
    char num[32];
    snprintf(num, sizeof num, "%ld", limit);
    if (buf_append_str(&b, base, NULL) < 0 ||
        (limit > 0 && kube_query_add(&b, "limit", num, NULL) < 0) ||
        (rv && kube_query_add(&b, "resourceVersion", rv, NULL) < 0) ||
        (cont && cont[0] && kube_query_add(&b, "continue", cont, NULL) < 0))
        return kube_path_finish(&b, err);
    return buf_take(&b, NULL);
}

char *kube_path_watch(const char *base, const char *rv, long timeout_s, struct err *err)
{
    struct buf b;
    buf_init(&b, KUBE_MAX_PATH_BYTES);
    char num[32];
    snprintf(num, sizeof num, "%ld", timeout_s);
    if (buf_append_str(&b, base, NULL) < 0 || kube_query_add(&b, "watch", "1", NULL) < 0 ||
        (rv && rv[0] && kube_query_add(&b, "resourceVersion", rv, NULL) < 0) ||
        kube_query_add(&b, "allowWatchBookmarks", "true", NULL) < 0 ||
        kube_query_add(&b, "timeoutSeconds", num, NULL) < 0)
        return kube_path_finish(&b, err);
    return buf_take(&b, NULL);
}

void kube_backoff_init(struct kube_backoff *b, long base_ms, long cap_ms, long reset_ms)
{
    b->base_ms = base_ms > 0 ? base_ms : 1;
    b->cap_ms = cap_ms >= b->base_ms ? cap_ms : b->base_ms;
    b->reset_ms = reset_ms;
    b->cur_ms = 0;
    b->last_ms = -1;
}

long kube_backoff_next(struct kube_backoff *b, long now_ms, double u)
{
    if (b->last_ms < 0 || b->cur_ms <= 0 || now_ms - b->last_ms > b->reset_ms)
        b->cur_ms = b->base_ms;
    b->last_ms = now_ms;
    long d = b->cur_ms;
    if (u < 0)
        u = 0;
    if (u >= 1)
        u = 0.999999;
    long j = d + (long)((double)d * u);
    if (j > b->cap_ms)
        j = b->cap_ms;
    b->cur_ms = d > b->cap_ms / 2 ? b->cap_ms : d * 2;
    return j;
}

/* ---- client ------------------------------------------------------------------------------ */

struct kube {
    struct kube_config cfg; /* server, token, token file, namespace, timeouts (TLS: in http) */
    struct httpc *http;
    pthread_mutex_t lock; /* token, stats */
    char *token;
    int64_t token_read_ms; /* clock_mono_ms() of the last read */
    struct kube_stats stats;
};

/* Re-reads the token file (lock held). force: regardless of the period. */
static WUR int kube_token_refresh_locked(struct kube *k, bool force, struct err *err)
{
    if (!k->cfg.token_file)
        return 0;
    int64_t now = clock_mono_ms();
    if (!force && k->token && now - k->token_read_ms < (int64_t)k->cfg.token_reread_s * 1000)
        return 0;
    char *t = NULL;
    if (kube_read_token_file(k->cfg.token_file, &t, err) < 0)
        return -1;
    if (k->token)
        xfree_secret(k->token, strlen(k->token));
    k->token = t;
    k->token_read_ms = now;
    k->stats.token_reads++;
    return 0;
}

/* The libcurl client for cfg's server: its CA, client certificate and connect timeout. */
static WUR struct httpc *kube_http_new(const struct kube_config *cfg, long connect_ms,
                                       struct err *err)
{
    struct httpc_opts o = {
        .ca_pem = cfg->ca_pem,
        .ca_len = cfg->ca_len,
        .client_cert_pem = cfg->client_cert_pem,
        .client_cert_len = cfg->client_cert_len,
        .client_key_pem = cfg->client_key_pem,
        .client_key_len = cfg->client_key_len,
        .connect_timeout_ms = connect_ms,
        .pool_max = KUBE_MAX_CONNECTIONS,
        .user_agent = "ember-issuer",
        .decompress = true,
    };
    struct httpc *h = httpc_new(&o, err);
    if (!h)
        err_prefix(err, "kube");
    return h;
}

struct kube *kube_new(const struct kube_config *cfg, struct err *err)
{
    if (!cfg->server) {
        err_set(err, ERR_INVALID, "kube: no server configured");
        return NULL;
    }
    struct kube *k = xcalloc(1, sizeof *k);
    k->cfg.server = xstrdup(cfg->server);
    k->cfg.token = cfg->token ? xstrdup(cfg->token) : NULL;
    k->cfg.token_file = cfg->token_file ? xstrdup(cfg->token_file) : NULL;
    k->cfg.namespace = xstrdup(cfg->namespace ? cfg->namespace : "default");
    k->cfg.token_reread_s = cfg->token_reread_s > 0 ? cfg->token_reread_s : 60;
    k->cfg.connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 10000;
    k->cfg.request_timeout_ms = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 60000;
    pthread_mutex_init(&k->lock, NULL);
    if (k->cfg.token)
        k->token = xstrdup(k->cfg.token);
    if (kube_token_refresh_locked(k, true, err) < 0) {
        kube_free(k);
        return NULL;
    }
    k->http = kube_http_new(cfg, k->cfg.connect_timeout_ms, err);
    if (!k->http) {
        kube_free(k);
        return NULL;
    }
    return k;
}

void kube_free(struct kube *k)
{
    if (!k)
        return;
    httpc_free(k->http);
    if (k->token)
        xfree_secret(k->token, strlen(k->token));
    kube_config_free(&k->cfg);
    pthread_mutex_destroy(&k->lock);
    free(k);
}

const char *kube_namespace(const struct kube *k)
{
    return k->cfg.namespace;
}

void kube_response_free(struct kube_response *r)
{
    if (!r)
        return;
    free(r->body);
    memset(r, 0, sizeof *r);
}

void kube_get_stats(struct kube *k, struct kube_stats *out)
{
    pthread_mutex_lock(&k->lock);
    *out = k->stats;
    pthread_mutex_unlock(&k->lock);
}

/* "Authorization: Bearer <token>" (wipe it with xfree_secret) or NULL without a token; re-reads
 * the token file when its period is over, and counts the request. */
static char *kube_auth_header(struct kube *k)
{
    char *auth = NULL;
    pthread_mutex_lock(&k->lock);
    struct err terr;
    if (kube_token_refresh_locked(k, false, &terr) < 0)
        LOG(LOG_WARN, "kube", NULL, terr.msg, "token re-read failed, keeping the previous token");
    if (k->token)
        auth = xasprintf("Authorization: Bearer %s", k->token);
    k->stats.requests++;
    pthread_mutex_unlock(&k->lock);
    return auth;
}

/* One attempt. Returns 0 with out filled, or -1 (out->code still says how an answer that ended
 * badly began). */
static WUR int kube_attempt(struct kube *k, const char *method, const char *path, const char *ctype,
                            const char *body, size_t len, long timeout_ms,
                            const struct kube_stream_ops *ops, void *ud, struct kube_response *out,
                            struct err *err)
{
    memset(out, 0, sizeof *out);
    if (strlen(path) >= KUBE_MAX_PATH_BYTES || path[0] != '/') {
        err_set(err, ERR_INVALID, "request path must start with '/' and be shorter than %d bytes",
                KUBE_MAX_PATH_BYTES);
        return -1;
    }
    char *url = xasprintf("%s%s", k->cfg.server, path);
    char *auth = kube_auth_header(k);
    char *ct = ctype ? xasprintf("Content-Type: %s", ctype) : NULL;
    const char *hdrs[4] = {"Accept: application/json", NULL, NULL, NULL};
    size_t n = 1;
    if (auth)
        hdrs[n++] = auth;
    if (ct)
        hdrs[n++] = ct;
    bool stream = ops && ops->data;
    struct httpc_req req = {
        .method = method,
        .url = url,
        .headers = hdrs,
        .body = body,
        .body_len = len,
        .timeout_ms = timeout_ms > 0 ? timeout_ms : k->cfg.request_timeout_ms,
        .max_body = stream ? KUBE_MAX_ERROR_BODY_BYTES : KUBE_MAX_BODY_BYTES,
        .data = stream ? ops->data : NULL,
        .stop = ops ? ops->stop : NULL,
        .ud = ud,
    };
    struct httpc_resp r;
    int ret = httpc_request(k->http, &req, &r, err);
    if (auth)
        xfree_secret(auth, strlen(auth));
    free(ct);
    if (ret < 0) {
        /* A failed exchange names the server; what Ember stopped or refused, the path. */
        bool net = r.fail == HTTPC_FAIL_CONNECT || r.fail == HTTPC_FAIL_TIMEOUT ||
                   r.fail == HTTPC_FAIL_TLS_VERIFY || r.fail == HTTPC_FAIL_TRANSPORT;
        err_prefix(err, "%s %s", method, net ? url : path);
    }
    out->code = r.code;
    out->body = r.body;
    out->len = r.len;
    r.body = NULL;
    if (out->code >= 300)
        kube_status_parse(out->body, out->len, out->code, r.retry_after[0] ? r.retry_after : NULL,
                          &out->status);
    httpc_resp_free(&r);
    free(url);
    return ret;
}

static WUR int kube_request_retrying(struct kube *k, const char *method, const char *path,
                                     const char *ctype, const char *body, size_t len,
                                     long timeout_ms, const struct kube_stream_ops *ops, void *ud,
                                     struct kube_response *out, struct err *err)
{
    if (kube_attempt(k, method, path, ctype, body, len, timeout_ms, ops, ud, out, err) < 0)
        return -1;
    if (out->code != 401 || !k->cfg.token_file)
        return 0;
    pthread_mutex_lock(&k->lock);
    struct err terr;
    int rc = kube_token_refresh_locked(k, true, &terr);
    k->stats.unauthorized_retries++;
    pthread_mutex_unlock(&k->lock);
    if (rc < 0) {
        LOG(LOG_WARN, "kube", NULL, terr.msg, "token re-read after 401 failed");
        return 0;
    }
    LOG(LOG_DEBUG, "kube", NULL, NULL, "401 on %s %s: token re-read, retrying once", method, path);
    kube_response_free(out);
    return kube_attempt(k, method, path, ctype, body, len, timeout_ms, ops, ud, out, err);
}

int kube_request(struct kube *k, const char *method, const char *path, const char *content_type,
                 const char *body, size_t len, struct kube_response *out, struct err *err)
{
    return kube_request_retrying(k, method, path, content_type, body, len, 0, NULL, NULL, out, err);
}

int kube_get_stream(struct kube *k, const char *path, long timeout_ms,
                    const struct kube_stream_ops *ops, void *ud, struct kube_response *out,
                    struct err *err)
{
    return kube_request_retrying(k, "GET", path, NULL, NULL, 0, timeout_ms, ops, ud, out, err);
}
