/* api.h -- the signing API's request handling, independent of the HTTP server: a body in, a
 * status code and a body out. Thread-safe as long as the pipeline lookups are. */
#ifndef EMBER_API_H
#define EMBER_API_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "base/metrics.h"
#include "decide/audit.h"
#include "decide/caller.h"
#include "decide/pipeline.h"

#define API_PATH_CR "/v1/certificaterequests"
#define API_PATH_FIREFLY "/v1/certificatesigningrequest"
#define API_RETRY_AFTER_SECONDS 5

struct api {
    struct pipeline_env env; /* lookups, annotations, group, synced; now and approve are set
                                per call */
    char *issuer_kind;       /* --api-issuer, for the Firefly-shaped endpoint; NULL = off */
    char *issuer_namespace;  /* "" for a ClusterIssuer */
    char *issuer_name;
    char *cluster_ns;        /* namespace a ClusterIssuer's requests are evaluated in */
    struct metrics *metrics; /* may be NULL */
    /* When set, env.synced is asked at each request (the controller's caches). */
    bool (*synced)(void *ud);
    /* Authentication. With no method configured (auth_required false) every caller is
     * "anonymous" and policies need no spec.selector.requesters: the development mode, on
     * loopback or with --api-allow-unauthenticated. With one, a caller without valid
     * credentials gets 401, and only policies whose requesters admit it can be used. */
    bool auth_required;
    bool mtls; /* a verified client certificate (struct api_call.peer) authenticates */
    /* Checks a bearer token (NULL: tokens are not accepted): 0 with *out filled; -1 with
     * ERR_TRANSIENT (answer 503) or another kind (401). */
    int (*authenticate_token)(void *ud, const char *token, struct caller *out, struct err *err);
    void *token_ud;
    const char *token_audience; /* for messages */
    struct audit *audit;        /* one line per decision; NULL = off */
};

struct api_response {
    unsigned status;
    char *body;           /* owned, NUL-terminated JSON */
    int retry_after;      /* seconds; 0 = no Retry-After header */
    char log_object[600]; /* "namespace/name" of the request, for the log line */
    char log_message[POLICY_MAX_MESSAGE + 256];
};

/* What the HTTP layer knows of one request besides its body. */
struct api_call {
    const struct tls_peer *peer; /* the client certificate, NULL on plain HTTP */
    const char *authorization;   /* the Authorization header, NULL when absent */
    const char *remote_addr;     /* the client's address, for the audit log; may be NULL */
};

/* Parses --api-issuer: "Issuer/NAMESPACE/NAME" or "ClusterIssuer/NAME" ("" = off). */
int api_set_issuer(struct api *api, const char *ref, struct err *err) WUR;
/* Declares the API's metrics in api->metrics. */
void api_declare_metrics(struct api *api);

/* POST /v1/certificaterequests: a CertificateRequest in, the same object with its status out:
 * 201 Issued, 403 Denied, 422 invalid or Failed, 503 Pending (with Retry-After), 400
 * unparsable, 415 other content types. content_type picks the one parser (front/body.h: JSON
 * with cJSON, YAML with libyaml). Any status sent is ignored. call may be NULL (no
 * credentials, plain HTTP). */
void api_handle_cr(struct api *api, const struct api_call *call, const char *content_type,
                   const char *body, size_t len, struct api_response *out);
/* POST /v1/certificatesigningrequest: Firefly's REST shape {"request","policyName",
 * "validityPeriod"} in, {"certificateChain"} out (200), errors as for api_handle_cr. The PEM
 * CSR goes to the pipeline as it came and the chain comes back as the signer wrote it. */
void api_handle_firefly(struct api *api, const struct api_call *call, const char *content_type,
                        const char *body, size_t len, struct api_response *out);

/* A Kubernetes-style Status error body {"kind":"Status",...,"message","reason","code"}. */
void api_error(struct api_response *out, unsigned code, const char *fmt, ...) PRINTF_LIKE(3, 4);
void api_response_free(struct api_response *out);
void api_free(struct api *api);

#endif
