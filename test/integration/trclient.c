/* trclient.c -- drives issuer/kube/tokenreview.c against the fake API server for test_tokenreview.sh.
 *
 * trclient --kubeconfig F [--audience A] [--ttl S] [--timeout-ms MS] check ARG...
 *   Each ARG is a file holding a client token (checked with tokenreview_check; the token is
 *   read from the file so it never shows in argv) or "sleep=MS". One line per check:
 *     "<n> ok calls=<reviews so far> user=<username> groups=<g1,g2,...>"
 *     "<n> permanent calls=<reviews so far> msg=<err->msg>"      (the caller would answer 401)
 *     "<n> transient calls=<reviews so far> msg=<err->msg>"      (503)
 *   then "calls=<n>" and the ember_tokenreview_* lines of the metrics registry.
 * Exit 0 when every check ran (whatever their outcome), 2 on a usage or config error. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "base/metrics.h"
#include "kube/kube.h"
#include "kube/tokenreview.h"

static int usage(void)
{
    fprintf(stderr, "usage: trclient --kubeconfig F [--audience A] [--ttl S] [--timeout-ms MS] "
                    "check TOKENFILE|sleep=MS...\n");
    return 2;
}

/* The token in path without its trailing newline (free with xfree_secret), or NULL. */
static char *read_token(const char *path, size_t *cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    *cap = KUBE_MAX_TOKEN_BYTES + 64;
    char *t = xcalloc(1, *cap);
    size_t n = fread(t, 1, *cap - 1, f);
    fclose(f);
    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r'))
        t[--n] = '\0';
    return t;
}

int main(int argc, char **argv)
{
    const char *kubeconfig = NULL, *audience = "ember";
    long long ttl = 10;
    long timeout_ms = 0;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc)
            return usage();
        const char *v = argv[i + 1];
        if (!strcmp(argv[i], "--kubeconfig"))
            kubeconfig = v;
        else if (!strcmp(argv[i], "--audience"))
            audience = v;
        else if (!strcmp(argv[i], "--ttl"))
            ttl = strtoll(v, NULL, 10);
        else if (!strcmp(argv[i], "--timeout-ms"))
            timeout_ms = strtol(v, NULL, 10);
        else
            return usage();
    }
    if (!kubeconfig || i >= argc || strcmp(argv[i], "check") != 0)
        return usage();
    i++;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct err err = {0};
    struct kube_config cfg;
    if (kube_config_from_kubeconfig(kubeconfig, NULL, &cfg, &err) < 0) {
        fprintf(stderr, "config error (%s): %s\n", err_kind_name(err.kind), err.msg);
        curl_global_cleanup();
        return 2;
    }
    if (timeout_ms > 0) {
        cfg.request_timeout_ms = timeout_ms;
        cfg.connect_timeout_ms = timeout_ms;
    }
    int ret = 2;
    struct metrics *m = metrics_new();
    struct tokenreview *tr = NULL;
    struct kube *k = kube_new(&cfg, &err);
    if (!k) {
        fprintf(stderr, "kube_new: %s\n", err.msg);
        goto out;
    }
    tr = tokenreview_new(k, audience, ttl, m);
    if (!tr) {
        fprintf(stderr, "tokenreview_new: audience refused\n");
        goto out;
    }
    int n = 0;
    for (; i < argc; i++) {
        if (!strncmp(argv[i], "sleep=", 6)) {
            long ms = strtol(argv[i] + 6, NULL, 10);
            struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        size_t cap = 0;
        char *token = read_token(argv[i], &cap);
        if (!token) {
            perror(argv[i]);
            goto out;
        }
        struct caller c;
        int rc = tokenreview_check(tr, token, &c, &err);
        xfree_secret(token, cap);
        n++;
        if (rc == 0) {
            printf("%d ok calls=%lu user=%s groups=", n, tokenreview_calls(tr), c.username);
            for (size_t g = 0; g < c.groups.n; g++)
                printf("%s%s", g ? "," : "", c.groups.v[g]);
            printf(" method=%s\n", caller_method_name(c.method));
        } else {
            printf("%d %s calls=%lu msg=%s\n", n,
                   err.kind == ERR_PERMANENT   ? "permanent"
                   : err.kind == ERR_TRANSIENT ? "transient"
                                               : err_kind_name(err.kind),
                   tokenreview_calls(tr), err.msg);
        }
        caller_free(&c);
        fflush(stdout);
    }
    printf("calls=%lu\n", tokenreview_calls(tr));
    char *text = metrics_render(m);
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (!strncmp(line, "ember_tokenreview_", 18))
            printf("%s\n", line);
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    ret = 0;
out:
    tokenreview_free(tr);
    kube_free(k);
    kube_config_free(&cfg);
    metrics_free(m);
    curl_global_cleanup();
    return ret;
}
