/* kubeclient.c -- drives issuer/kube/kube.c and issuer/kube/reflector.c for test_kube_client.sh.
 *
 * kubeclient [--kubeconfig F [--context C] | --in-cluster SA_DIR] [--token-reread S]
 *            [--page-limit N] [--watch-min S] [--watch-max S] [--backoff-base MS]
 *            [--backoff-cap MS] COMMAND ...
 *   check                          load the config; print "server=... namespace=..."
 *   request METHOD PATH [BODYFILE] one request; prints "code=C reason=R retry_after=S
 *                                  elapsed_ms=T len=L" and writes the body to stdout after it
 *   loop PATH INTERVAL_MS OUT STOP GETs every INTERVAL_MS, one "code" line per request to OUT,
 *                                  until the file STOP exists
 *   reflect PATH EVENTS STATS STOP runs a reflector; EVENTS gets "UPSERT key rv" / "REMOVE key" /
 *                                  "SYNCED" lines; STATS is rewritten every 100 ms (key=value)
 * Exit 0 on success, 2 on a config error (message on stderr), 1 otherwise. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "kube/kube.h"
#include "kube/reflector.h"

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int usage(void)
{
    fprintf(stderr, "usage: kubeclient [--kubeconfig F [--context C] | --in-cluster DIR] "
                    "[options] check|request|loop|reflect ...\n");
    return 2;
}

static FILE *events_fp;

static void key_of(const cJSON *obj, char *out, size_t cap, const char **rv)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(md, "namespace");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
    snprintf(out, cap, "%s/%s", cJSON_IsString(ns) ? ns->valuestring : "",
             cJSON_IsString(name) ? name->valuestring : "?");
    *rv = cJSON_IsString(r) ? r->valuestring : "";
}

static void on_upsert(void *ud, const cJSON *obj)
{
    (void)ud;
    char key[512];
    const char *rv;
    key_of(obj, key, sizeof key, &rv);
    fprintf(events_fp, "UPSERT %s %s\n", key, rv);
    fflush(events_fp);
}

static void on_remove(void *ud, const cJSON *obj)
{
    (void)ud;
    char key[512];
    const char *rv;
    key_of(obj, key, sizeof key, &rv);
    fprintf(events_fp, "REMOVE %s\n", key);
    fflush(events_fp);
}

static void on_synced(void *ud)
{
    (void)ud;
    fprintf(events_fp, "SYNCED\n");
    fflush(events_fp);
}

static void write_stats(const char *path, struct reflector *r, struct kube *k)
{
    struct reflector_stats s;
    struct kube_stats ks;
    reflector_get_stats(r, &s);
    kube_get_stats(k, &ks);
    char *tmp = xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f) {
        fprintf(f,
                "lists=%lu\nrelists=%lu\nlist_pages=%lu\nwatches=%lu\nwatch_restarts=%lu\n"
                "events=%lu\nbookmarks=%lu\nexpired=%lu\nthrottled=%lu\nerrors=%lu\nobjects=%zu\n"
                "last_rv=%s\nrequests=%lu\ntoken_reads=%lu\nunauthorized_retries=%lu\n",
                s.lists, s.relists, s.list_pages, s.watches, s.watch_restarts, s.events,
                s.bookmarks, s.expired, s.throttled, s.errors, s.objects, s.last_rv, ks.requests,
                ks.token_reads, ks.unauthorized_retries);
        fclose(f);
        if (rename(tmp, path) != 0)
            perror("rename");
    }
    free(tmp);
}

int main(int argc, char **argv)
{
    const char *kubeconfig = NULL, *context = NULL, *sa_dir = NULL;
    long reread = 0;
    struct reflector_opts ro = {0};
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc)
            return usage();
        const char *v = argv[i + 1];
        if (!strcmp(argv[i], "--kubeconfig"))
            kubeconfig = v;
        else if (!strcmp(argv[i], "--context"))
            context = v;
        else if (!strcmp(argv[i], "--in-cluster"))
            sa_dir = v;
        else if (!strcmp(argv[i], "--token-reread"))
            reread = strtol(v, NULL, 10);
        else if (!strcmp(argv[i], "--page-limit"))
            ro.page_limit = strtol(v, NULL, 10);
        else if (!strcmp(argv[i], "--watch-min"))
            ro.watch_min_s = strtol(v, NULL, 10);
        else if (!strcmp(argv[i], "--watch-max"))
            ro.watch_max_s = strtol(v, NULL, 10);
        else if (!strcmp(argv[i], "--backoff-base"))
            ro.backoff_base_ms = strtol(v, NULL, 10);
        else if (!strcmp(argv[i], "--backoff-cap"))
            ro.backoff_cap_ms = strtol(v, NULL, 10);
        else
            return usage();
    }
    if (i >= argc || (!kubeconfig == !sa_dir))
        return usage();
    const char *cmd = argv[i++];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct err err = {0};
    struct kube_config cfg;
    int rc = kubeconfig ? kube_config_from_kubeconfig(kubeconfig, context, &cfg, &err)
                        : kube_config_in_cluster(sa_dir, &cfg, &err);
    if (rc < 0) {
        fprintf(stderr, "config error (%s): %s\n", err_kind_name(err.kind), err.msg);
        curl_global_cleanup();
        return 2;
    }
    if (reread > 0)
        cfg.token_reread_s = reread;
    struct kube *k = kube_new(&cfg, &err);
    int ret = 1;
    if (!k) {
        fprintf(stderr, "kube_new: %s\n", err.msg);
        goto out;
    }
    if (!strcmp(cmd, "check")) {
        printf("server=%s namespace=%s ca=%s token=%s client_cert=%s\n", cfg.server,
               kube_namespace(k), cfg.ca_pem ? "yes" : "no",
               (cfg.token || cfg.token_file) ? "yes" : "no", cfg.client_cert_pem ? "yes" : "no");
        ret = 0;
    } else if (!strcmp(cmd, "request") && i + 1 < argc) {
        const char *method = argv[i], *path = argv[i + 1];
        char *body = NULL;
        size_t blen = 0;
        if (i + 2 < argc) {
            FILE *f = fopen(argv[i + 2], "rb");
            if (!f) {
                perror(argv[i + 2]);
                goto out;
            }
            body = xmalloc(1 << 20);
            blen = fread(body, 1, 1 << 20, f);
            fclose(f);
        }
        struct kube_response resp;
        long t0 = mono_ms();
        rc = kube_request(k, method, path, body ? "application/json" : NULL, body, blen, &resp,
                          &err);
        long el = mono_ms() - t0;
        free(body);
        if (rc < 0) {
            printf("error=%s %s elapsed_ms=%ld\n", err_kind_name(err.kind), err.msg, el);
        } else {
            printf("code=%ld reason=%s retry_after=%ld elapsed_ms=%ld len=%zu message=%s\n",
                   resp.code, resp.status.reason, resp.status.retry_after_s, el, resp.len,
                   resp.status.message);
            fwrite(resp.body, 1, resp.len, stdout);
            printf("\n");
            ret = 0;
        }
        kube_response_free(&resp);
    } else if (!strcmp(cmd, "loop") && i + 3 < argc) {
        long interval = strtol(argv[i + 1], NULL, 10);
        FILE *out = fopen(argv[i + 2], "w");
        if (!out)
            goto out;
        while (access(argv[i + 3], F_OK) != 0) {
            struct kube_response resp;
            if (kube_request(k, "GET", argv[i], NULL, NULL, 0, &resp, &err) < 0)
                fprintf(out, "error %s\n", err.msg);
            else
                fprintf(out, "%ld\n", resp.code);
            fflush(out);
            kube_response_free(&resp);
            sleep_ms(interval);
        }
        fclose(out);
        ret = 0;
    } else if (!strcmp(cmd, "reflect") && i + 3 < argc) {
        events_fp = fopen(argv[i + 1], "w");
        if (!events_fp)
            goto out;
        struct reflector_ops ops = {on_upsert, on_remove, on_synced};
        struct reflector *r = reflector_start(k, argv[i], &ops, NULL, &ro, &err);
        if (!r) {
            fprintf(stderr, "reflector_start: %s\n", err.msg);
            fclose(events_fp);
            goto out;
        }
        while (access(argv[i + 3], F_OK) != 0) {
            write_stats(argv[i + 2], r, k);
            sleep_ms(100);
        }
        long t0 = mono_ms();
        write_stats(argv[i + 2], r, k);
        reflector_stop(r);
        printf("stopped_ms=%ld\n", mono_ms() - t0);
        fclose(events_fp);
        ret = 0;
    } else {
        ret = usage();
    }
out:
    kube_free(k);
    kube_config_free(&cfg);
    curl_global_cleanup();
    return ret;
}
