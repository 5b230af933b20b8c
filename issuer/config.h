/* config.h -- the ember-issuer flag table: command line, EMBER_* environment, generated --help. */
#ifndef EMBER_CONFIG_H
#define EMBER_CONFIG_H

#include "base/err.h"
#include "base/log.h"
#include "base/strv.h"

#include <stdbool.h>
#include <stdio.h>

#ifndef EMBER_VERSION
#define EMBER_VERSION "0.1.0"
#endif

/* Where Kubernetes mounts the pod's namespace (the default --cluster-resource-namespace). */
#define CONFIG_NAMESPACE_FILE "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
/* Longest value accepted for any flag or environment variable, in bytes. */
#define CONFIG_VALUE_MAX 4096

struct config {
    char *api_bind_address;          /* --api-bind-address, default "127.0.0.1:8080"; "0" = off */
    char *health_probe_bind_address; /* --health-probe-bind-address, default ":8081"; "0" = off */
    char *metrics_bind_address;      /* --metrics-bind-address, default ":8082"; "0" = off */
    char *api_issuer;                /* --api-issuer, default "" (Issuer/NAMESPACE/NAME or
                                        ClusterIssuer/NAME) */
    bool api_allow_unauthenticated;  /* --api-allow-unauthenticated, default false */
    bool api_allow_plaintext_tokens; /* --api-allow-plaintext-tokens, default false */
    long long api_max_body_bytes;    /* --api-max-body-bytes, default 1048576, 1024..16777216 */
    char *api_tls_cert_file;         /* --api-tls-cert-file, "" = plain HTTP */
    char *api_tls_key_file;          /* --api-tls-key-file */
    char *api_client_ca_file;        /* --api-client-ca-file, "" = no mTLS */
    bool api_token_auth;             /* --api-token-auth, default false */
    char *api_token_audience;        /* --api-token-audience, default "ember" */
    long long api_token_cache_ttl_s; /* --api-token-cache-ttl, default 10s, 0s..1h */
    char *audit_log;                 /* --audit-log FILE, "-" = stderr, "" = off */
    bool audit_log_include_certificate; /* --audit-log-include-certificate, default false */
    int http_threads;                   /* --http-threads, default 0 (a thread per connection),
                                           N > 0: a pool of N, bounds 0..64 */
    long long http_header_timeout_s;    /* --http-read-header-timeout, default 10s, 1s..10m */
    long long http_read_timeout_s;      /* --http-read-timeout, default 30s, 1s..1h */
    int http_max_conns;                 /* --http-max-connections, default 1024, 1..65536 */
    int http_max_conns_per_addr;        /* --http-max-connections-per-address, default 64 */
    struct strv manifests;              /* --manifests PATH, repeatable: file or directory */
    char *kubeconfig;                  /* --kubeconfig FILE, default "" ($KUBECONFIG, in cluster) */
    int workers;                       /* --workers, default 4, 1..64 */
    long long watch_timeout_s;         /* --watch-timeout, default 5m */
    long long token_reread_s;          /* --token-reread-period, default 1m */
    struct strv namespaces;            /* --namespace NS, repeatable; empty = all */
    bool leader_elect;                 /* --leader-elect, default false */
    char *leader_election_namespace;   /* --leader-election-namespace, "" = cluster resource ns */
    long long lease_duration_s;        /* --leader-election-lease-duration, 60s */
    long long renew_deadline_s;        /* --leader-election-renew-deadline, 40s */
    long long retry_period_s;          /* --leader-election-retry-period, 15s */
    char *cluster_resource_namespace;  /* --cluster-resource-namespace; when not given: the pod's
                                          namespace file, else "default" (never "" after parse) */
    struct strv policy_annotations;    /* --policy-annotation KEY, repeatable */
    bool approve;                      /* --approve, default true */
    long long max_retry_duration_s;    /* --max-retry-duration, Go duration, default 1h, 1s..720h */
    long long issuer_recheck_period_s; /* --issuer-recheck-period, default 5m, 1s..24h */
    long long secure_heap_bytes;       /* --secure-heap-bytes, default 262144, a power of two,
                                          16384..67108864 */
    enum log_format log_format;        /* --log-format json|text, default json */
    enum log_level log_level;          /* --log-level debug|info|warn|error, default info */
};

/* Parses argv (argv[0], the program name, is skipped) and the environment envp (NULL = none).
 * Forms: --flag value, --flag=value, boolean --flag / --flag=true|false|1|0. Each flag also
 * reads EMBER_<NAME_UPPER_WITH_UNDERSCORES>; a flag given on the command line wins over its
 * environment variable; a repeatable flag's environment value is comma-separated; an empty
 * environment value counts as unset. Unknown EMBER_* variables are ignored (Kubernetes injects
 * EMBER_*_SERVICE_HOST style variables for Services named ember-...).
 * Fills cfg with defaults first. Returns 0; 1 when --help or --version was handled (text
 * written to out, stdout when NULL); -1 with err (ERR_INVALID, message names the flag or variable).
 * On 1 and -1 cfg holds nothing (calling config_free on it is still safe). Not thread-safe. */
int config_parse(struct config *cfg, int argc, char **argv, char **envp, FILE *out,
                 struct err *err) WUR;
/* Frees what cfg owns and zeroes it; safe on a zeroed or already freed config. */
void config_free(struct config *cfg);
/* Writes the --help text generated from the flag table: usage lines, then one line per flag
 * "  --name VALUE   help (default: x) [env EMBER_X]". */
void config_print_help(FILE *out);
/* Reads a namespace name from path (the service account namespace file): returns an owned
 * string, or NULL when the file is missing, empty, too long or not a DNS-1123 label. */
char *config_read_namespace_file(const char *path) WUR;

#endif
