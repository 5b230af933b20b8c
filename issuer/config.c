/* config.c -- one table drives every flag: parsing, environment, defaults, bounds and --help. */
#include "config.h"

#include "base/duration.h"
#include "base/k8sname.h"
#include "base/mem.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_ENV_PREFIX "EMBER_"
/* Longest flag name in the table is well below this; used for environment variable names. */
#define CONFIG_NAME_MAX 64

enum cfg_type { CFG_STRING, CFG_BOOL, CFG_INT, CFG_LLONG, CFG_DURATION, CFG_ENUM, CFG_STRV };

struct cfg_flag {
    const char *name;
    enum cfg_type type;
    size_t offset;              /* of the field in struct config */
    const char *def;            /* default, parsed like a user value; NULL = none */
    long long min, max;         /* CFG_INT, CFG_LLONG, CFG_DURATION (seconds) */
    const char *const *choices; /* CFG_ENUM: NULL-terminated, index = value */
    int (*check)(const char *value, struct err *err); /* CFG_STRING, CFG_STRV items */
    const char *metavar;                              /* NULL for booleans */
    const char *help;
    const char *def_help; /* shown in --help instead of def */
};

_Static_assert(sizeof(enum log_format) == sizeof(int), "enum fields are written as int");
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum fields are written as int");

static const char *const cfg_log_format_names[] = {"json", "text", NULL};
static const char *const cfg_log_level_names[] = {"debug", "info", "warn", "error", NULL};

static WUR int cfg_check_bind_address(const char *v, struct err *err);
static WUR int cfg_check_issuer_ref(const char *v, struct err *err);
static WUR int cfg_check_namespace(const char *v, struct err *err);
static WUR int cfg_check_annotation_key(const char *v, struct err *err);
static WUR int cfg_check_path(const char *v, struct err *err);

#define OFF(field) offsetof(struct config, field)

static const struct cfg_flag cfg_flags[] = {
    {.name = "api-bind-address",
     .type = CFG_STRING,
     .offset = OFF(api_bind_address),
     .def = "127.0.0.1:8080",
     .check = cfg_check_bind_address,
     .metavar = "ADDR",
     .help = "address of the signing API, HOST:PORT (0 turns it off)"},
    {.name = "health-probe-bind-address",
     .type = CFG_STRING,
     .offset = OFF(health_probe_bind_address),
     .def = ":8081",
     .check = cfg_check_bind_address,
     .metavar = "ADDR",
     .help = "address of /healthz and /readyz (0 turns it off)"},
    {.name = "metrics-bind-address",
     .type = CFG_STRING,
     .offset = OFF(metrics_bind_address),
     .def = ":8082",
     .check = cfg_check_bind_address,
     .metavar = "ADDR",
     .help = "address of /metrics (0 turns it off)"},
    {.name = "api-issuer",
     .type = CFG_STRING,
     .offset = OFF(api_issuer),
     .def = "",
     .check = cfg_check_issuer_ref,
     .metavar = "REF",
     .help = "issuer the Firefly-style API signs with: Issuer/NAMESPACE/NAME or "
             "ClusterIssuer/NAME"},
    {.name = "api-allow-unauthenticated",
     .type = CFG_BOOL,
     .offset = OFF(api_allow_unauthenticated),
     .def = "false",
     .help = "let the signing API listen beyond loopback without authentication (unsafe)"},
    {.name = "api-allow-plaintext-tokens",
     .type = CFG_BOOL,
     .offset = OFF(api_allow_plaintext_tokens),
     .def = "false",
     .help = "let --api-token-auth accept bearer tokens over plain HTTP beyond loopback, when "
             "something else encrypts the traffic (a service mesh); unsafe otherwise"},
    {.name = "api-max-body-bytes",
     .type = CFG_LLONG,
     .offset = OFF(api_max_body_bytes),
     .def = "1048576",
     .min = 1024,
     .max = 16777216,
     .metavar = "BYTES",
     .help = "largest HTTP request body accepted (1024..16777216)"},
    {.name = "api-tls-cert-file",
     .type = CFG_STRING,
     .offset = OFF(api_tls_cert_file),
     .def = "",
     .metavar = "FILE",
     .help = "serve the signing API over HTTPS with this PEM certificate (chain); read again when "
             "it changes on disk, as a mounted Secret does"},
    {.name = "api-tls-key-file",
     .type = CFG_STRING,
     .offset = OFF(api_tls_key_file),
     .def = "",
     .metavar = "FILE",
     .help = "the PEM private key (ECDSA or RSA) of --api-tls-cert-file"},
    {.name = "api-client-ca-file",
     .type = CFG_STRING,
     .offset = OFF(api_client_ca_file),
     .def = "",
     .metavar = "FILE",
     .help = "authenticate signing API callers by client certificates issued by these PEM CAs "
             "(mTLS; needs --api-tls-cert-file); read again when it changes on disk"},
    {.name = "api-token-auth",
     .type = CFG_BOOL,
     .offset = OFF(api_token_auth),
     .def = "false",
     .help = "authenticate signing API callers by Kubernetes service account tokens "
             "(Authorization: Bearer), checked with a TokenReview"},
    {.name = "api-token-audience",
     .type = CFG_STRING,
     .offset = OFF(api_token_audience),
     .def = "ember",
     .metavar = "AUDIENCE",
     .help = "the audience a token must be meant for (the TokenReview's status.audiences must "
             "hold it)"},
    {.name = "api-token-cache-ttl",
     .type = CFG_DURATION,
     .offset = OFF(api_token_cache_ttl_s),
     .def = "10s",
     .min = 0,
     .max = 3600,
     .metavar = "DURATION",
     .help = "how long a TokenReview's positive answer is reused for the same token (0s..1h; "
             "kept by a hash of the token, never the token)"},
    {.name = "audit-log",
     .type = CFG_STRING,
     .offset = OFF(audit_log),
     .def = "",
     .metavar = "FILE",
     .help = "write one JSON line per decision on either front door to FILE (- for stderr)"},
    {.name = "audit-log-include-certificate",
     .type = CFG_BOOL,
     .offset = OFF(audit_log_include_certificate),
     .def = "false",
     .help = "add the issued certificate's PEM to its audit line"},
    {.name = "http-threads",
     .type = CFG_INT,
     .offset = OFF(http_threads),
     .def = "0",
     .min = 0,
     .max = 64,
     .metavar = "N",
     .help = "signing API threads: 0 serves each connection on its own thread, N > 0 shares a "
             "pool of N (0..64)"},
    {.name = "http-read-header-timeout",
     .type = CFG_DURATION,
     .offset = OFF(http_header_timeout_s),
     .def = "10s",
     .min = 1,
     .max = 600,
     .metavar = "DURATION",
     .help = "a request's line and headers must arrive within this of the connection's start "
             "(or of the previous request's end, then at least the 30 s idle timeout), else the "
             "connection is closed; on every listener (1s..10m)"},
    {.name = "http-read-timeout",
     .type = CFG_DURATION,
     .offset = OFF(http_read_timeout_s),
     .def = "30s",
     .min = 1,
     .max = 3600,
     .metavar = "DURATION",
     .help = "the same for the whole request, body too (at least --http-read-header-timeout) "
             "(1s..1h)"},
    {.name = "http-max-connections",
     .type = CFG_INT,
     .offset = OFF(http_max_conns),
     .def = "1024",
     .min = 1,
     .max = 65536,
     .metavar = "N",
     .help = "connections each listener serves at once; one more is answered 503 with "
             "Retry-After (1..65536)"},
    {.name = "http-max-connections-per-address",
     .type = CFG_INT,
     .offset = OFF(http_max_conns_per_addr),
     .def = "64",
     .min = 1,
     .max = 65536,
     .metavar = "N",
     .help = "connections each listener serves at once from one client address; one more is "
             "answered 503 with Retry-After (1..65536)"},
    {.name = "manifests",
     .type = CFG_STRV,
     .offset = OFF(manifests),
     .check = cfg_check_path,
     .metavar = "PATH",
     .help = "read Issuers, ClusterIssuers, IssuancePolicies and Secrets from a file or a "
             "directory (*.yaml, *.yml, *.json) instead of the Kubernetes API; repeatable "
             "(comma-separated in the environment)"},
    {.name = "kubeconfig",
     .type = CFG_STRING,
     .offset = OFF(kubeconfig),
     .def = "",
     .metavar = "FILE",
     .help = "kubeconfig of the cluster to watch when not in a pod (also $KUBECONFIG); without "
             "it and without --manifests, the in-cluster service account is used"},
    {.name = "workers",
     .type = CFG_INT,
     .offset = OFF(workers),
     .def = "4",
     .min = 1,
     .max = 64,
     .metavar = "N",
     .help = "controller threads reconciling requests and issuers (1..64)"},
    {.name = "watch-timeout",
     .type = CFG_DURATION,
     .offset = OFF(watch_timeout_s),
     .def = "5m",
     .min = 1,
     .max = 3600,
     .metavar = "DURATION",
     .help = "shortest watch before the API server ends it; each watch asks for a random time "
             "between this and twice this, as client-go does (1s..1h)"},
    {.name = "token-reread-period",
     .type = CFG_DURATION,
     .offset = OFF(token_reread_s),
     .def = "1m",
     .min = 1,
     .max = 3600,
     .metavar = "DURATION",
     .help = "how often the service account token file is read again (it is also read after a "
             "401) (1s..1h)"},
    {.name = "namespace",
     .type = CFG_STRV,
     .offset = OFF(namespaces),
     .check = cfg_check_namespace,
     .metavar = "NS",
     .help = "watch CertificateRequests and Issuers in this namespace only; repeatable "
             "(comma-separated in the environment); default: all namespaces"},
    {.name = "leader-elect",
     .type = CFG_BOOL,
     .offset = OFF(leader_elect),
     .def = "false",
     .help = "elect a leader with a coordination.k8s.io Lease: only the leader writes (run 2 "
             "replicas with it)"},
    {.name = "leader-election-namespace",
     .type = CFG_STRING,
     .offset = OFF(leader_election_namespace),
     .def = "",
     .check = cfg_check_namespace,
     .metavar = "NS",
     .help = "namespace of the Lease",
     .def_help = "the cluster resource namespace"},
    {.name = "leader-election-lease-duration",
     .type = CFG_DURATION,
     .offset = OFF(lease_duration_s),
     .def = "60s",
     .min = 2,
     .max = 3600,
     .metavar = "DURATION",
     .help = "how long followers wait after the last renewal before taking over (2s..1h)"},
    {.name = "leader-election-renew-deadline",
     .type = CFG_DURATION,
     .offset = OFF(renew_deadline_s),
     .def = "40s",
     .min = 1,
     .max = 3600,
     .metavar = "DURATION",
     .help = "how long the leader keeps trying to renew before it stops leading; shorter than "
             "the lease duration (1s..1h)"},
    {.name = "leader-election-retry-period",
     .type = CFG_DURATION,
     .offset = OFF(retry_period_s),
     .def = "15s",
     .min = 1,
     .max = 3600,
     .metavar = "DURATION",
     .help = "how often to try to acquire or renew the Lease (1s..1h)"},
    {.name = "cluster-resource-namespace",
     .type = CFG_STRING,
     .offset = OFF(cluster_resource_namespace),
     .def = "",
     .check = cfg_check_namespace,
     .metavar = "NS",
     .help = "namespace of the Secrets a ClusterIssuer names",
     .def_help = "the pod's namespace, else default"},
    {.name = "policy-annotation",
     .type = CFG_STRV,
     .offset = OFF(policy_annotations),
     .check = cfg_check_annotation_key,
     .metavar = "KEY",
     .help = "another annotation naming a request's IssuancePolicy, besides "
             "ember.issuer.dev/policy-name; repeatable (comma-separated in the environment)"},
    {.name = "approve",
     .type = CFG_BOOL,
     .offset = OFF(approve),
     .def = "true",
     .help = "approve or deny requests against their IssuancePolicy (--approve=false leaves it "
             "to another approver)"},
    {.name = "max-retry-duration",
     .type = CFG_DURATION,
     .offset = OFF(max_retry_duration_s),
     .def = "1h",
     .min = 1,
     .max = 720 * 3600,
     .metavar = "DURATION",
     .help = "how long retryable signing failures are retried before Failed (1s..720h)"},
    {.name = "issuer-recheck-period",
     .type = CFG_DURATION,
     .offset = OFF(issuer_recheck_period_s),
     .def = "5m",
     .min = 1,
     .max = 24 * 3600,
     .metavar = "DURATION",
     .help = "how often Ready issuers are checked again (CA expiry, Vault login and health); "
             "issuers that are not Ready are retried sooner, with backoff up to this (1s..24h)"},
    {.name = "secure-heap-bytes",
     .type = CFG_LLONG,
     .offset = OFF(secure_heap_bytes),
     .def = "262144",
     .min = 16384,
     .max = 67108864,
     .metavar = "BYTES",
     .help = "size of OpenSSL's secure heap, locked in memory, that holds the Vault sub-CA keys: "
             "a power of two (16384..67108864); RLIMIT_MEMLOCK must allow it for the lock"},
    {.name = "log-format",
     .type = CFG_ENUM,
     .offset = OFF(log_format),
     .def = "json",
     .choices = cfg_log_format_names,
     .metavar = "FORMAT",
     .help = "json or text"},
    {.name = "log-level",
     .type = CFG_ENUM,
     .offset = OFF(log_level),
     .def = "info",
     .choices = cfg_log_level_names,
     .metavar = "LEVEL",
     .help = "debug, info, warn or error"},
};

#define CFG_NFLAGS (sizeof(cfg_flags) / sizeof(cfg_flags[0]))

/* ---- validators (messages do not name the flag: the caller prefixes it) ---- */

static bool cfg_is_port(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)p[i]))
            return false;
    return strtol(p, NULL, 10) <= 65535;
}

static WUR int cfg_check_bind_address(const char *v, struct err *err)
{
    if (strcmp(v, "0") == 0)
        return 0;
    const char *colon = strrchr(v, ':');
    bool ok = colon != NULL && cfg_is_port(colon + 1);
    if (ok && v[0] == '[') {
        /* IPv6 literal: [::1]:8080 */
        ok = colon > v + 1 && colon[-1] == ']';
    } else if (ok) {
        ok = memchr(v, ':', (size_t)(colon - v)) == NULL;
    }
    for (const char *p = v; ok && p < colon; p++)
        if (isspace((unsigned char)*p) || *p == '/')
            ok = false;
    if (!ok) {
        err_set(err, ERR_INVALID, "\"%s\" is not HOST:PORT, :PORT or 0 (off)", v);
        return -1;
    }
    return 0;
}

static WUR int cfg_check_issuer_ref(const char *v, struct err *err)
{
    if (v[0] == '\0')
        return 0;
    bool ok = false;
    if (strncmp(v, "Issuer/", 7) == 0) {
        const char *ns = v + 7;
        const char *slash = strchr(ns, '/');
        ok = slash != NULL && k8sname_is_label(ns, (size_t)(slash - ns)) &&
             k8sname_is_subdomain(slash + 1, strlen(slash + 1));
    } else if (strncmp(v, "ClusterIssuer/", 14) == 0) {
        ok = k8sname_is_subdomain(v + 14, strlen(v + 14));
    }
    if (!ok) {
        err_set(err, ERR_INVALID, "\"%s\" is not Issuer/NAMESPACE/NAME or ClusterIssuer/NAME", v);
        return -1;
    }
    return 0;
}

static WUR int cfg_check_namespace(const char *v, struct err *err)
{
    if (v[0] == '\0' || k8sname_is_label(v, strlen(v)))
        return 0;
    err_set(err, ERR_INVALID,
            "\"%s\" is not a namespace name (up to 63 lowercase letters, digits and '-')", v);
    return -1;
}

static WUR int cfg_check_annotation_key(const char *v, struct err *err)
{
    const char *slash = strchr(v, '/');
    const char *name = slash ? slash + 1 : v;
    bool ok = strchr(name, '/') == NULL;
    if (ok && slash != NULL)
        ok = k8sname_is_subdomain(v, (size_t)(slash - v));
    size_t n = strlen(name);
    ok = ok && n > 0 && n <= 63 && isalnum((unsigned char)name[0]) &&
         isalnum((unsigned char)name[n - 1]);
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
    }
    if (!ok) {
        err_set(err, ERR_INVALID,
                "\"%s\" is not an annotation key (an optional DNS prefix and '/', then up to 63 "
                "letters, digits, '-', '_' or '.')",
                v);
        return -1;
    }
    return 0;
}

static WUR int cfg_check_path(const char *v, struct err *err)
{
    if (v[0] == '\0') {
        err_set(err, ERR_INVALID, "empty path");
        return -1;
    }
    return 0;
}

/* ---- values ---- */

static WUR int cfg_parse_bool(const char *v, bool *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        *out = false;
        return 0;
    }
    return -1;
}

static WUR int cfg_parse_integer(const char *v, long long *out)
{
    /* strtoll accepts leading blanks and "+"; a flag value should be exactly a number. */
    if (v[0] == '\0' || !(isdigit((unsigned char)v[0]) || v[0] == '-'))
        return -1;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0')
        return -1;
    *out = n;
    return 0;
}

static void *cfg_field(struct config *cfg, const struct cfg_flag *f)
{
    return (char *)cfg + f->offset;
}

/* An integer value of flag f, within its bounds, into field (an int or a long long). */
static WUR int cfg_set_integer(const struct cfg_flag *f, void *field, const char *src,
                               const char *v, struct err *err)
{
    long long n = 0;
    if (cfg_parse_integer(v, &n) != 0) {
        err_set(err, ERR_INVALID, "%s: \"%s\" is not an integer", src, v);
        return -1;
    }
    if (n < f->min) {
        err_set(err, ERR_INVALID, "%s: %lld is below the minimum %lld", src, n, f->min);
        return -1;
    }
    if (n > f->max) {
        err_set(err, ERR_INVALID, "%s: %lld is above the maximum %lld", src, n, f->max);
        return -1;
    }
    if (f->type == CFG_INT)
        *(int *)field = (int)n;
    else
        *(long long *)field = n;
    return 0;
}

/* A Go duration value of flag f, within its bounds, into field (seconds, a long long). */
static WUR int cfg_set_duration(const struct cfg_flag *f, void *field, const char *src,
                                const char *v, struct err *err)
{
    long long s = 0;
    if (duration_parse_go(v, &s, err) != 0) {
        err_prefix(err, "%s", src);
        return -1;
    }
    char bound[32];
    if (s < f->min || s > f->max) {
        duration_format_go(s < f->min ? f->min : f->max, bound, sizeof(bound));
        err_set(err, ERR_INVALID, "%s: %s is %s %s", src, v,
                s < f->min ? "below the minimum" : "above the maximum", bound);
        return -1;
    }
    *(long long *)field = s;
    return 0;
}

/* One of flag f's choices, as its index into field (an int). */
static WUR int cfg_set_enum(const struct cfg_flag *f, void *field, const char *src, const char *v,
                            struct err *err)
{
    for (int i = 0; f->choices[i] != NULL; i++) {
        if (strcmp(v, f->choices[i]) == 0) {
            *(int *)field = i;
            return 0;
        }
    }
    char list[256] = "";
    size_t len = 0;
    for (int i = 0; f->choices[i] != NULL && len < sizeof(list); i++)
        len +=
            (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", f->choices[i]);
    err_set(err, ERR_INVALID, "%s: must be one of %s", src, list);
    return -1;
}

/* Sets one value of flag f; src ("--name" or "EMBER_NAME") prefixes error messages. */
static WUR int cfg_set(struct config *cfg, const struct cfg_flag *f, const char *src, const char *v,
                       struct err *err)
{
    if (strlen(v) > CONFIG_VALUE_MAX) {
        err_set(err, ERR_INVALID, "%s: value longer than %d bytes", src, CONFIG_VALUE_MAX);
        return -1;
    }
    void *field = cfg_field(cfg, f);
    switch (f->type) {
    case CFG_STRING:
    case CFG_STRV:
        if (f->check != NULL && f->check(v, err) != 0) {
            err_prefix(err, "%s", src);
            return -1;
        }
        if (f->type == CFG_STRING) {
            char **s = field;
            free(*s);
            *s = xstrdup(v);
        } else {
            strv_push(field, v);
        }
        return 0;
    case CFG_BOOL:
        if (cfg_parse_bool(v, field) != 0) {
            err_set(err, ERR_INVALID, "%s: \"%s\" is not a boolean (true, false, 1 or 0)", src, v);
            return -1;
        }
        return 0;
    case CFG_INT:
    case CFG_LLONG: return cfg_set_integer(f, field, src, v, err);
    case CFG_DURATION: return cfg_set_duration(f, field, src, v, err);
    case CFG_ENUM: return cfg_set_enum(f, field, src, v, err);
    }
    err_set(err, ERR_INTERNAL, "%s: unknown flag type", src);
    return -1;
}

/* A repeatable flag's environment value: comma-separated, blanks around items and empty items
 * ignored. */
static WUR int cfg_set_list(struct config *cfg, const struct cfg_flag *f, const char *src,
                            const char *v, struct err *err)
{
    const char *p = v;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *a = p;
        const char *b = end;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a) {
            char *item = xstrndup(a, (size_t)(b - a));
            int rc = cfg_set(cfg, f, src, item, err);
            free(item);
            if (rc != 0)
                return -1;
        }
        p = comma ? comma + 1 : end;
    }
    return 0;
}

/* Writes flag f's environment variable name (EMBER_API_BIND_ADDRESS) into out; -1 when it
 * does not fit (a flag name too long for CONFIG_NAME_MAX: a bug in the table). */
static WUR int cfg_env_name(const struct cfg_flag *f, char *out, size_t outlen)
{
    if (strlen(CONFIG_ENV_PREFIX) + strlen(f->name) >= outlen)
        return -1;
    size_t n = 0;
    for (const char *p = CONFIG_ENV_PREFIX; *p != '\0'; p++)
        out[n++] = *p;
    for (const char *p = f->name; *p != '\0'; p++)
        out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
    return 0;
}

static const char *cfg_getenv(char **envp, const char *name)
{
    if (envp == NULL)
        return NULL;
    size_t n = strlen(name);
    for (char **e = envp; *e != NULL; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static const struct cfg_flag *cfg_lookup(const char *name, size_t n)
{
    for (size_t i = 0; i < CFG_NFLAGS; i++)
        if (strlen(cfg_flags[i].name) == n && strncmp(cfg_flags[i].name, name, n) == 0)
            return &cfg_flags[i];
    return NULL;
}

static void cfg_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < CFG_NFLAGS; i++) {
        const struct cfg_flag *f = &cfg_flags[i];
        if (f->def == NULL)
            continue;
        struct err e;
        /* The table's own defaults always pass their checks; a failure is a bug in the table. */
        if (cfg_set(cfg, f, f->name, f->def, &e) != 0) {
            fprintf(stderr, "ember: bad default in the flag table: %s\n", e.msg);
            abort();
        }
    }
}

char *config_read_namespace_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return NULL;
    char buf[K8SNAME_LABEL_MAX + 3];
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    if (!k8sname_is_label(buf, n))
        return NULL;
    return xstrdup(buf);
}

/* One flag seen on the command line, applied after the environment. */
struct cfg_arg {
    const struct cfg_flag *f;
    const char *value;
};

/* The error for argv's a, which is not a flag: an unknown short flag, a value given to the
 * boolean before it (prev_bool) without '=', or a stray argument. */
static void cfg_not_a_flag(const char *a, const struct cfg_flag *prev_bool, struct err *err)
{
    bool b;
    if (a[0] == '-' && a[1] != '\0' && strcmp(a, "--") != 0)
        err_set(err, ERR_INVALID, "unknown flag %.64s", a);
    else if (prev_bool != NULL && cfg_parse_bool(a, &b) == 0)
        err_set(err, ERR_INVALID,
                "unexpected argument \"%.64s\" (a boolean takes its value as --%s=%s)", a,
                prev_bool->name, a);
    else
        err_set(err, ERR_INVALID, "unexpected argument \"%.64s\"", a);
}

/* Pass 1 over argv: syntax only, so --help works even when the environment holds a bad value.
 * Fills args[*nargs] and given[]. Returns 0, 1 after --help or --version (written to out), or
 * -1 with err. */
static WUR int cfg_read_args(int argc, char **argv, FILE *out, struct cfg_arg *args, size_t *nargs,
                             bool given[CFG_NFLAGS], struct err *err)
{
    const struct cfg_flag *prev_bool = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            config_print_help(out);
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            fprintf(out, "ember-issuer %s\n", EMBER_VERSION);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            cfg_not_a_flag(a, prev_bool, err);
            return -1;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct cfg_flag *f = cfg_lookup(name, nlen);
        if (f == NULL) {
            err_set(err, ERR_INVALID, "unknown flag --%.*s", (int)(nlen > 64 ? 64 : nlen), name);
            return -1;
        }
        prev_bool = NULL;
        const char *value;
        if (eq != NULL) {
            value = eq + 1;
        } else if (f->type == CFG_BOOL) {
            value = "true";
            prev_bool = f;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            err_set(err, ERR_INVALID, "--%s: missing value (%s)", f->name, f->metavar);
            return -1;
        }
        args[*nargs] = (struct cfg_arg){.f = f, .value = value};
        (*nargs)++;
        given[f - cfg_flags] = true;
    }
    return 0;
}

/* Pass 2: the environment, for flags not given on the command line. */
static WUR int cfg_read_env(struct config *cfg, char **envp, const bool given[CFG_NFLAGS],
                            struct err *err)
{
    for (size_t i = 0; i < CFG_NFLAGS; i++) {
        const struct cfg_flag *f = &cfg_flags[i];
        char env[CONFIG_NAME_MAX];
        if (cfg_env_name(f, env, sizeof(env)) != 0) {
            err_set(err, ERR_INTERNAL,
                    "--%.64s: the flag name is too long for an environment "
                    "variable",
                    f->name);
            return -1;
        }
        const char *v = cfg_getenv(envp, env);
        if (given[i] || v == NULL || v[0] == '\0')
            continue;
        int r =
            f->type == CFG_STRV ? cfg_set_list(cfg, f, env, v, err) : cfg_set(cfg, f, env, v, err);
        if (r != 0)
            return -1;
    }
    return 0;
}

int config_parse(struct config *cfg, int argc, char **argv, char **envp, FILE *out, struct err *err)
{
    cfg_defaults(cfg);
    if (out == NULL)
        out = stdout;
    struct cfg_arg *args = xcalloc(argc > 0 ? (size_t)argc : 1, sizeof(*args));
    size_t nargs = 0;
    bool given[CFG_NFLAGS] = {false};
    int rc = cfg_read_args(argc, argv, out, args, &nargs, given, err);
    if (rc == 0 && cfg_read_env(cfg, envp, given, err) != 0)
        rc = -1;
    /* Pass 3: the command line, in order (the last of a repeated single-value flag wins). */
    for (size_t i = 0; rc == 0 && i < nargs; i++) {
        char src[CONFIG_NAME_MAX];
        snprintf(src, sizeof(src), "--%s", args[i].f->name);
        if (cfg_set(cfg, args[i].f, src, args[i].value, err) != 0)
            rc = -1;
    }
    if (rc == 0 && (cfg->secure_heap_bytes & (cfg->secure_heap_bytes - 1)) != 0) {
        err_set(err, ERR_INVALID,
                "--secure-heap-bytes: must be a power of two (such as 65536 or 262144), got %lld",
                cfg->secure_heap_bytes);
        rc = -1;
    }
    if (rc == 0 && cfg->cluster_resource_namespace[0] == '\0') {
        char *ns = config_read_namespace_file(CONFIG_NAMESPACE_FILE);
        free(cfg->cluster_resource_namespace);
        cfg->cluster_resource_namespace = ns ? ns : xstrdup("default");
    }
    free(args);
    if (rc != 0)
        config_free(cfg);
    return rc;
}

void config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < CFG_NFLAGS; i++) {
        const struct cfg_flag *f = &cfg_flags[i];
        if (f->type == CFG_STRING) {
            char **s = cfg_field(cfg, f);
            free(*s);
            *s = NULL;
        } else if (f->type == CFG_STRV) {
            strv_free(cfg_field(cfg, f));
        }
    }
    memset(cfg, 0, sizeof(*cfg));
}

static void cfg_help_line(FILE *out, int width, const char *left, const char *help, const char *def,
                          const char *env)
{
    fprintf(out, "  %-*s %s", width, left, help);
    if (def != NULL)
        fprintf(out, " (default: %s)", def);
    if (env != NULL)
        fprintf(out, " [env %s]", env);
    fputc('\n', out);
}

void config_print_help(FILE *out)
{
    fputs("Usage: ember-issuer [flags]\n"
          "       ember-issuer dev-ca --output FILE [--namespace NS] [--name NAME]\n"
          "\n"
          "cert-manager external issuer: approves CertificateRequests against IssuancePolicies\n"
          "and signs them with a local sub-CA. dev-ca writes a development root and sub-CA as\n"
          "a kubernetes.io/tls Secret manifest (default: default/dev-ca) for --manifests.\n"
          "Secrets (CA keys, Vault credentials) are read from Secrets, never from flags.\n"
          "\n"
          "Flags (each also read from its environment variable; the command line wins):\n",
          out);
    char left[CFG_NFLAGS][CONFIG_NAME_MAX + 16];
    int width = 0;
    for (size_t i = 0; i < CFG_NFLAGS; i++) {
        const struct cfg_flag *f = &cfg_flags[i];
        int n = snprintf(left[i], sizeof(left[i]), "--%s%s%s", f->name, f->metavar ? " " : "",
                         f->metavar ? f->metavar : "");
        if (n > width)
            width = n;
    }
    width += 2;
    for (size_t i = 0; i < CFG_NFLAGS; i++) {
        const struct cfg_flag *f = &cfg_flags[i];
        char env[CONFIG_NAME_MAX];
        bool has_env = cfg_env_name(f, env, sizeof(env)) == 0;
        const char *def = f->def_help;
        if (def == NULL && f->def != NULL && f->def[0] != '\0')
            def = f->def;
        cfg_help_line(out, width, left[i], f->help, def, has_env ? env : NULL);
    }
    cfg_help_line(out, width, "-h, --help", "print this help and exit", NULL, NULL);
    cfg_help_line(out, width, "--version", "print the version and exit", NULL, NULL);
}
