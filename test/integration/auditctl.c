/* auditctl.c -- runs issuer/controller.c with an audit log, as main.c will once it wires
 * --audit-log, for test_audit_controller.sh.
 *
 * auditctl --kubeconfig F --audit-log PATH [--include-certificate] [--cluster-ns NS]
 *          [--ready-file F]
 * Watches the cluster of the kubeconfig with 2 workers and writes one audit line per
 * CertificateRequest decision to PATH ("-" = stderr). --ready-file is written once the
 * caches are synced. SIGTERM or SIGINT stop it: exit 0. Exit 2 on a usage or config error
 * (message on stderr), 1 when the controller cannot start. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "controller.h"
#include "kube.h"
#include "log.h"
#include "pipeline.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: auditctl --kubeconfig F --audit-log PATH [--include-certificate] "
                    "[--cluster-ns NS] [--ready-file F]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *kubeconfig = NULL, *audit_path = NULL, *cluster_ns = "ember", *ready = NULL;
    bool include_cert = false;
    for (int i = 1; i < argc; i++) {
        bool more = i + 1 < argc;
        if (strcmp(argv[i], "--kubeconfig") == 0 && more)
            kubeconfig = argv[++i];
        else if (strcmp(argv[i], "--audit-log") == 0 && more)
            audit_path = argv[++i];
        else if (strcmp(argv[i], "--cluster-ns") == 0 && more)
            cluster_ns = argv[++i];
        else if (strcmp(argv[i], "--ready-file") == 0 && more)
            ready = argv[++i];
        else if (strcmp(argv[i], "--include-certificate") == 0)
            include_cert = true;
        else
            return usage();
    }
    if (kubeconfig == NULL || audit_path == NULL)
        return usage();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    log_init(LOG_FORMAT_JSON, LOG_DEBUG, 2);

    struct err e = {0};
    struct audit *audit = audit_open(audit_path, include_cert, &e);
    if (audit == NULL) {
        fprintf(stderr, "auditctl: %s\n", e.msg);
        return 2;
    }
    struct kube_config kc;
    if (kube_config_from_kubeconfig(kubeconfig, NULL, &kc, &e) != 0) {
        fprintf(stderr, "auditctl: %s\n", e.msg);
        audit_close(audit);
        return 2;
    }
    struct kube *kube = kube_new(&kc, &e);
    kube_config_free(&kc);
    if (kube == NULL) {
        fprintf(stderr, "auditctl: %s\n", e.msg);
        audit_close(audit);
        return 1;
    }
    static const char *const keys[] = {PIPELINE_POLICY_ANNOTATION};
    struct controller_config cc = {
        .kube = kube,
        .policy_annotations = keys,
        .n_policy_annotations = 1,
        .approve = true,
        .max_retry_s = 300,
        .cluster_ns = cluster_ns,
        .workers = 2,
        .issuer_recheck_s = 2,
        .watch_min_s = 5,
        .watch_max_s = 10,
        .backoff_base_ms = 50,
        .backoff_cap_ms = 2000,
        .instance = "auditctl",
        .audit = audit,
    };
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct controller *c = controller_start(&cc, &e);
    if (c == NULL) {
        fprintf(stderr, "auditctl: %s\n", e.msg);
        kube_free(kube);
        audit_close(audit);
        return 1;
    }
    bool wrote_ready = false;
    while (!stop) {
        if (!wrote_ready && ready != NULL && controller_synced(c)) {
            FILE *f = fopen(ready, "w");
            if (f != NULL) {
                fputs("synced\n", f);
                fclose(f);
            }
            wrote_ready = true;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    controller_stop(c);
    kube_free(kube);
    audit_close(audit);
    curl_global_cleanup();
    return 0;
}
