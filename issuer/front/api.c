/* api.c -- the signing API's request handling: CertificateRequests and Firefly's REST shape. */
#include "front/api.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/clock.h"
#include "base/duration.h"
#include "base/jsonfield.h"
#include "base/k8sname.h"
#include "base/mem.h"
#include "base/timefmt.h"
#include "base/utf8.h"
#include "decide/cr.h"
#include "front/body.h"

static const char *api_reason(unsigned code)
{
    switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 413: return "RequestEntityTooLarge";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 501: return "NotImplemented";
    case 503: return "ServiceUnavailable";
    default: return "InternalError";
    }
}

void api_error(struct api_response *out, unsigned code, const char *fmt, ...)
{
    char msg[POLICY_MAX_MESSAGE + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "v1");
    cJSON_AddStringToObject(o, "kind", "Status");
    cJSON_AddStringToObject(o, "status", "Failure");
    cJSON_AddStringToObject(o, "message", msg);
    cJSON_AddStringToObject(o, "reason", api_reason(code));
    cJSON_AddNumberToObject(o, "code", code);
    free(out->body);
    out->body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    out->status = code;
    snprintf(out->log_message, sizeof(out->log_message), "%s", msg);
}

void api_response_free(struct api_response *out)
{
    free(out->body);
    out->body = NULL;
}

int api_set_issuer(struct api *api, const char *ref, struct err *err)
{
    if (ref == NULL || ref[0] == '\0')
        return 0;
    char *copy = xstrdup(ref);
    char *parts[4] = {0};
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, "/", &save); tok != NULL && n < 4;
         tok = strtok_r(NULL, "/", &save))
        parts[n++] = tok;
    int rc = -1;
    if (n == 3 && strcmp(parts[0], "Issuer") == 0) {
        api->issuer_kind = xstrdup("Issuer");
        api->issuer_namespace = xstrdup(parts[1]);
        api->issuer_name = xstrdup(parts[2]);
        rc = 0;
    } else if (n == 2 && strcmp(parts[0], "ClusterIssuer") == 0) {
        api->issuer_kind = xstrdup("ClusterIssuer");
        api->issuer_namespace = xstrdup("");
        api->issuer_name = xstrdup(parts[1]);
        rc = 0;
    } else {
        err_set(err, ERR_INVALID,
                "--api-issuer: \"%.200s\" is not Issuer/NAMESPACE/NAME or ClusterIssuer/NAME", ref);
    }
    free(copy);
    return rc;
}

void api_declare_metrics(struct api *api)
{
    if (api->metrics == NULL)
        return;
    metrics_declare(
        api->metrics, "ember_certificaterequests_total", "counter",
        "CertificateRequests handled, by outcome (issued, denied, failed, pending, invalid).");
    pipeline_declare_metrics(api->metrics);
}

static void api_count(struct api *api, const char *outcome)
{
    if (api->metrics == NULL)
        return;
    char labels[64];
    snprintf(labels, sizeof(labels), "outcome=\"%s\"", outcome);
    metrics_counter_add(api->metrics, "ember_certificaterequests_total", labels, 1);
}

/* One request on either endpoint: who asked, and whether its audit line is written. */
struct api_ctx {
    struct api *api;
    const struct api_call *call;
    struct caller caller;
    bool audited;
    bool namespace_claimed; /* the request's namespace is the body's (pipeline_env) */
};

/* Writes the request's one audit line (cr NULL when it was refused before being read; policy
 * the one evaluated, else NULL). */
static void api_audit(struct api_ctx *ctx, const struct cr *cr, const char *policy,
                      const struct api_response *out)
{
    if (ctx->audited)
        return;
    ctx->audited = true;
    if (ctx->api->audit == NULL)
        return;
    const char *outcome;
    switch (out->status) {
    case 200:
    case 201: outcome = "issued"; break;
    case 401: outcome = "unauthenticated"; break;
    case 403: outcome = "denied"; break;
    case 503: outcome = "pending"; break;
    default:
        outcome = cr != NULL && cr_condition(cr, "Ready") != NULL &&
                          cr_condition(cr, "Ready")->reason != NULL &&
                          strcmp(cr_condition(cr, "Ready")->reason, "Failed") == 0
                      ? "failed"
                      : "invalid";
    }
    audit_request(ctx->api->audit, "api", &ctx->caller, cr, policy, outcome, out->log_message);
}

/* "Bearer TOKEN" (the scheme in any case) -> TOKEN, else NULL. */
static const char *api_bearer(const char *authorization)
{
    if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    const char *t = authorization + 7;
    while (*t == ' ')
        t++;
    return *t ? t : NULL;
}

/* Names the caller, or answers 401 / 503 in out and returns -1. The first method that
 * succeeds wins: a verified client certificate, then a bearer token. */
static int api_authenticate(struct api_ctx *ctx, struct api_response *out)
{
    struct api *api = ctx->api;
    if (!api->auth_required) {
        ctx->caller.method = CALLER_ANONYMOUS;
        ctx->caller.username = xstrdup("anonymous");
        return 0;
    }
    const struct tls_peer *peer = ctx->call != NULL ? ctx->call->peer : NULL;
    if (api->mtls && peer != NULL && peer->verified) {
        caller_from_peer(&ctx->caller, peer);
        if (ctx->caller.username != NULL)
            return 0;
        caller_free(&ctx->caller);
    }
    const char *token = api_bearer(ctx->call != NULL ? ctx->call->authorization : NULL);
    char token_why[ERR_MSG_MAX] = "";
    if (token != NULL && api->authenticate_token != NULL) {
        struct err e = {0};
        if (api->authenticate_token(api->token_ud, token, &ctx->caller, &e) == 0)
            return 0;
        caller_free(&ctx->caller);
        if (e.kind == ERR_TRANSIENT) {
            /* The caller is not authenticated: the API server's address and the error are
             * for the log (log_message), not for whoever sent the request. */
            api_error(out, 503, "cannot check the bearer token now; retry later");
            snprintf(out->log_message, sizeof(out->log_message),
                     "cannot check the bearer token now: %s", e.msg);
            out->retry_after = API_RETRY_AFTER_SECONDS;
            return -1;
        }
        snprintf(token_why, sizeof(token_why), "%s", e.msg);
    }
    if (token_why[0] != '\0')
        api_error(out, 401, "the bearer token was refused: %s", token_why);
    else if (api->mtls && peer != NULL && peer->presented)
        api_error(out, 401, "the client certificate was refused: %s",
                  peer->why[0] ? peer->why : "it did not verify");
    else if (token != NULL)
        api_error(out, 401, "bearer tokens are not accepted here (start with --api-token-auth)%s",
                  api->mtls ? "; present a client certificate" : "");
    else if (api->mtls && api->authenticate_token != NULL)
        api_error(out, 401,
                  "no credentials: present a client certificate issued by a CA of "
                  "--api-client-ca-file, or a Kubernetes service account token for audience "
                  "\"%.100s\" (Authorization: Bearer)",
                  api->token_audience ? api->token_audience : "");
    else if (api->mtls)
        api_error(out, 401,
                  "no credentials: present a client certificate issued by a CA of "
                  "--api-client-ca-file");
    else
        api_error(out, 401,
                  "no credentials: present a Kubernetes service account token for audience "
                  "\"%.100s\" (Authorization: Bearer)",
                  api->token_audience ? api->token_audience : "");
    return -1;
}

/* Runs the pipeline for a request built or read by an endpoint, with approval on. */
static void api_run(const struct api_ctx *ctx, struct cr *cr, struct pipeline_result *res)
{
    struct api *api = ctx->api;
    struct pipeline_env env = api->env;
    env.namespace_claimed = ctx->namespace_claimed;
    env.now = time(NULL);
    env.approve = true; /* the API is its own approver: a client cannot bring an approval */
    env.require_requesters = api->auth_required;
    if (api->synced != NULL)
        env.synced = api->synced(env.ud);
    double t0 = clock_mono_seconds();
    pipeline_run(&env, cr, res);
    pipeline_observe_signing(api->metrics, res, clock_mono_seconds() - t0);
}

static const char *api_last_message(const struct pipeline_result *res, const struct cr *cr)
{
    const struct cr_condition *d = cr_condition(cr, "Denied");
    if (res->state == PIPELINE_STATE_DENIED && d != NULL && d->message != NULL)
        return d->message;
    const struct cr_condition *r = cr_condition(cr, "Ready");
    if (r != NULL && r->message != NULL)
        return r->message;
    return res->n_events > 0 ? res->events[res->n_events - 1].message : "";
}

/* Maps the pipeline's end state to an HTTP code and counts it. */
static unsigned api_outcome(struct api *api, const struct pipeline_result *res,
                            struct api_response *out)
{
    switch (res->state) {
    case PIPELINE_STATE_ISSUED: api_count(api, "issued"); return 201;
    case PIPELINE_STATE_DENIED:
        if (res->bad_request) {
            api_count(api, "invalid");
            return 422;
        }
        api_count(api, "denied");
        return 403;
    case PIPELINE_STATE_FAILED: api_count(api, "failed"); return 422;
    default:
        api_count(api, "pending");
        out->retry_after = API_RETRY_AFTER_SECONDS;
        return 503;
    }
}

/* The body as one object, read by the parser its Content-Type names; NULL with the 415 or 400
 * in out. */
static cJSON *api_parse_body(const char *content_type, const char *body, size_t len,
                             struct api_response *out)
{
    enum body_type type = body_type(content_type);
    if (type == BODY_OTHER) {
        api_error(out, 415, "Content-Type must be application/json or application/yaml, not %.100s",
                  content_type ? content_type : "(none)");
        return NULL;
    }
    struct err e = {0};
    cJSON *obj = body_parse(type, body, len, &e);
    if (obj == NULL && type == BODY_JSON)
        api_error(out, 400,
                  "the body is not one valid JSON object (Content-Type application/json is read "
                  "as JSON only; YAML goes as application/yaml): %s",
                  e.msg);
    else if (obj == NULL)
        api_error(out, 400, "the body is not one valid YAML object: %s", e.msg);
    return obj;
}

/* A random lowercase hex suffix for generated names. */
static void api_random_suffix(char *out, size_t n)
{
    unsigned char rnd[8];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        memset(rnd, 0, sizeof(rnd));
    for (size_t i = 0; i + 1 < n && i < 2 * sizeof(rnd); i++)
        out[i] = "0123456789abcdef"[(rnd[i / 2] >> (i % 2 ? 0 : 4)) & 0xf];
    out[n - 1 < 2 * sizeof(rnd) ? n - 1 : 2 * sizeof(rnd)] = '\0';
}

/* A name as the API server makes one from a generateName: the prefix (its first 200 bytes)
 * and five random hex digits. */
#define API_NAME_MAX 210
static void api_generate_name(const char *prefix, char buf[API_NAME_MAX])
{
    char suffix[6];
    api_random_suffix(suffix, sizeof(suffix));
    snprintf(buf, API_NAME_MAX, "%.200s%s", prefix, suffix);
}

/* Gives an object without metadata.name one from metadata.generateName (as the API server
 * does for istio-csr's requests) or "api-". */
static void api_name_object(cJSON *obj)
{
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    if (!cJSON_IsObject(meta)) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "metadata");
        meta = cJSON_AddObjectToObject(obj, "metadata");
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
    if (cJSON_IsString(name) && name->valuestring[0] != '\0')
        return;
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(meta, "generateName");
    char buf[API_NAME_MAX];
    api_generate_name(cJSON_IsString(gen) && gen->valuestring[0] ? gen->valuestring : "api-", buf);
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "name");
    cJSON_AddStringToObject(meta, "name", buf);
}

/* One name against one of Kubernetes' rules: 0, or -1 with a 422 in out that echoes a bounded,
 * printable prefix of it (a name may be a megabyte of control characters). */
static int api_check_name(const char *field, const char *v, bool (*valid)(const char *, size_t),
                          const char *rule, struct api_response *out)
{
    size_t n = strlen(v);
    if (valid(v, n))
        return 0;
    char echo[72];
    utf8_copy_printable(echo, sizeof(echo), v, 64);
    api_error(out, 422, "%s \"%s%s\" (%zu bytes) is not %s", field, echo, n > 64 ? "..." : "", n,
              rule);
    return -1;
}

/* Kubernetes' own limits on the names of the request (the API server refuses the same): a name
 * that is not one is never signed, nor logged or audited whole. Returns 0 or -1 (422 in out). */
static int api_check_names(const struct cr *cr, struct api_response *out)
{
    if (api_check_name("metadata.name", cr->name, k8sname_is_subdomain,
                       "a Kubernetes object name: a DNS-1123 subdomain of at most 253 bytes (a-z, "
                       "0-9, '-' and '.', each part starting and ending with a letter or digit)",
                       out) != 0)
        return -1;
    return api_check_name("metadata.namespace", cr->namespace, k8sname_is_label,
                          "a Kubernetes namespace: a DNS-1123 label of at most 63 bytes (a-z, 0-9 "
                          "and '-', starting and ending with a letter or digit)",
                          out);
}

/* Reads the CertificateRequest obj into cr, with a name of its own when it has none and no
 * status (a client's own, an Approved condition say, is never trusted, nor even read).
 * Returns 0, or -1 with the 422 in out, counted and audited (cr freed). */
static int api_read_cr(struct api_ctx *ctx, cJSON *obj, struct cr *cr, struct api_response *out)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
    if (cJSON_IsObject(obj))
        api_name_object(obj);
    struct err e = {0};
    if (cr_from_json(obj, cr, &e) == 0)
        return 0;
    api_error(out, 422, "%s", e.msg);
    api_count(ctx->api, "invalid");
    api_audit(ctx, NULL, NULL, out); /* a request that is not one has no fields */
    cr_free(cr);
    return -1;
}

/* The part both endpoints share: check the request cr, run the pipeline with a status of our
 * own, and map the end state to a code. Returns 0 when the pipeline ran (cr and res are
 * filled, cr to be freed), -1 when the request was refused (out holds the error, cr freed). */
static int api_process(struct api_ctx *ctx, struct cr *cr, struct pipeline_result *res,
                       struct api_response *out)
{
    struct api *api = ctx->api;
    bool named = false; /* not audited under a name that is not one */
    if (api_check_names(cr, out) != 0)
        goto invalid;
    named = true;
    snprintf(out->log_object, sizeof(out->log_object), "%s/%s", cr->namespace, cr->name);
    if (cr->spec_error != NULL) {
        api_error(out, 422, "%s", cr->spec_error);
        goto invalid;
    }
    if (strcmp(cr->issuer_group, api->env.group) != 0) {
        api_error(out, 422, "spec.issuerRef.group must be %s, not \"%.100s\"", api->env.group,
                  cr->issuer_group);
        goto invalid;
    }
    if (strcmp(cr->issuer_kind, "Issuer") != 0 && strcmp(cr->issuer_kind, "ClusterIssuer") != 0) {
        api_error(out, 422, "spec.issuerRef.kind must be Issuer or ClusterIssuer, not \"%.100s\"",
                  cr->issuer_kind);
        goto invalid;
    }
    /* The requester is who authenticated, whatever spec.username says (as cert-manager's
     * webhook overwrites it). */
    caller_free(&cr->requester);
    caller_copy(&cr->requester, &ctx->caller);
    /* The retry clock starts now, whatever the client claims. */
    char ts[TIMEFMT_LEN];
    timefmt_rfc3339(time(NULL), ts);
    cr_set_status_field(&cr->creation_timestamp, ts);

    api_run(ctx, cr, res);
    out->status = api_outcome(api, res, out);
    if (res->state == PIPELINE_STATE_WAITING) {
        /* Nothing was written to the request (an invalid policy, say): say why in a Status. */
        api_error(out, out->status, "%s",
                  res->n_events > 0 ? res->events[0].message : "the request cannot be handled yet");
        api_audit(ctx, cr, res->policy, out);
        cr_free(cr);
        return -1;
    }
    snprintf(out->log_message, sizeof(out->log_message), "%s", api_last_message(res, cr));
    api_audit(ctx, cr, res->policy, out);
    return 0;
invalid:
    api_count(api, "invalid");
    api_audit(ctx, named ? cr : NULL, named ? pipeline_policy_annotation(&api->env, cr) : NULL,
              out);
    cr_free(cr);
    return -1;
}

void api_handle_cr(struct api *api, const struct api_call *call, const char *content_type,
                   const char *body, size_t len, struct api_response *out)
{
    memset(out, 0, sizeof(*out));
    /* metadata.namespace is the body's: a service account may not claim another's namespace
     * under a policy that depends on it (${namespace}, selector.namespaces or
     * namespaceSelector: policy_depends_on_namespace). */
    struct api_ctx ctx = {.api = api, .call = call, .namespace_claimed = true};
    if (api_authenticate(&ctx, out) != 0) {
        api_count(api, "unauthenticated");
        goto done;
    }
    cJSON *obj = api_parse_body(content_type, body, len, out);
    if (obj == NULL) {
        api_count(api, "invalid");
        goto done;
    }
    struct cr cr;
    struct pipeline_result res;
    if (api_read_cr(&ctx, obj, &cr, out) == 0 && api_process(&ctx, &cr, &res, out) == 0) {
        cJSON_AddItemToObject(obj, "status", cr_status_to_json(&cr));
        out->body = cJSON_PrintUnformatted(obj);
        cr_free(&cr);
    }
    cJSON_Delete(obj);
done:
    api_audit(&ctx, NULL, NULL, out);
    caller_free(&ctx.caller);
}

/* The members of a Firefly-shaped body. A JSON null is refused: this is no Kubernetes object. */
static const struct jsonfield api_firefly_fields[] = {
    {.name = "request",
     .type = JSONFIELD_STRING,
     .required = true,
     .want = "the PEM CSR as a string"},
    {.name = "policyName", .type = JSONFIELD_STRING},
    {.name = "validityPeriod",
     .type = JSONFIELD_STRING,
     .want = "an ISO-8601 duration string such as PT1H"},
    {0},
};

/* The request a Firefly body stands for, built field by field: in the namespace of the
 * --api-issuer (a ClusterIssuer's: the cluster resource namespace, else "default", as a
 * request without one gets), policy the policyName or NULL, seconds 0 when not asked. */
static struct cr *api_firefly_request(const struct api *api, const char *pem, const char *policy,
                                      long long seconds)
{
    struct cr *cr = xcalloc(1, sizeof(*cr));
    char name[API_NAME_MAX];
    api_generate_name("api-", name);
    cr->name = xstrdup(name);
    const char *ns = api->issuer_namespace[0] ? api->issuer_namespace : api->cluster_ns;
    cr->namespace = xstrdup(ns != NULL && ns[0] != '\0' ? ns : "default");
    cr->annotations = cJSON_CreateObject();
    if (policy != NULL && policy[0] != '\0')
        cJSON_AddStringToObject(cr->annotations, PIPELINE_POLICY_ANNOTATION, policy);
    cr->issuer_group = xstrdup(api->env.group);
    cr->issuer_kind = xstrdup(api->issuer_kind);
    cr->issuer_name = xstrdup(api->issuer_name);
    cr->request_pem = xstrdup(pem);
    cr->duration_s = seconds;
    return cr;
}

/* 200 {"certificateChain": PEM}: the chain the signer returned, as it returned it. */
static void api_firefly_answer(const struct cr *cr, struct api_response *out)
{
    if (cr->chain_pem == NULL) { /* the pipeline keeps one for every issued PEM request */
        api_error(out, 500, "internal error: the request was issued without a chain");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "certificateChain", cr->chain_pem);
    out->body = cJSON_PrintUnformatted(o);
    out->status = 200;
    cJSON_Delete(o);
}

/* Builds the request a Firefly-shaped body stands for, as the pipeline reads it: the PEM CSR
 * as it came (no base64 in between), the issuer of --api-issuer, a generated name. Returns
 * the request (cr_free and free it), or NULL with a 422 in out. */
static struct cr *api_firefly_to_cr(struct api *api, const cJSON *in, struct api_response *out)
{
    struct err fe = {0};
    if (jsonfield_check(in, "", api_firefly_fields, JSONFIELD_NULL_REFUSED, &fe) != 0) {
        api_error(out, 422, "%s", fe.msg);
        return NULL;
    }
    const cJSON *req = jsonfield_get(in, "request");
    const cJSON *pol = jsonfield_get(in, "policyName");
    const cJSON *val = jsonfield_get(in, "validityPeriod");
    if (strlen(req->valuestring) > CSR_MAX_BYTES) {
        api_error(out, 422, "request: the CSR is larger than %d bytes", CSR_MAX_BYTES);
        return NULL;
    }
    long long seconds = 0;
    if (val != NULL) {
        struct err e = {0};
        if (duration_parse_iso8601(val->valuestring, &seconds, &e) != 0 || seconds == 0) {
            api_error(out, 422, "validityPeriod: %s",
                      seconds == 0 && e.msg[0] == '\0' ? "must be positive" : e.msg);
            return NULL;
        }
    }
    return api_firefly_request(api, req->valuestring, cJSON_IsString(pol) ? pol->valuestring : NULL,
                               seconds);
}

void api_handle_firefly(struct api *api, const struct api_call *call, const char *content_type,
                        const char *body, size_t len, struct api_response *out)
{
    memset(out, 0, sizeof(*out));
    struct api_ctx ctx = {.api = api, .call = call};
    if (api->issuer_kind == NULL) {
        api_error(out, 404, "this endpoint is off: start ember-issuer with --api-issuer");
        ctx.audited = true; /* not a decision on a request */
        goto done;
    }
    if (api_authenticate(&ctx, out) != 0) {
        api_count(api, "unauthenticated");
        goto done;
    }
    cJSON *in = api_parse_body(content_type, body, len, out);
    if (in == NULL) {
        api_count(api, "invalid");
        goto done;
    }
    struct cr *cr = NULL;
    if (!cJSON_IsObject(in))
        api_error(out, 422, "the body must be an object {\"request\": PEM, \"policyName\": ...}");
    else
        cr = api_firefly_to_cr(api, in, out);
    cJSON_Delete(in);
    if (cr == NULL) {
        api_count(api, "invalid");
        goto done;
    }
    struct pipeline_result res;
    if (api_process(&ctx, cr, &res, out) == 0) {
        if (out->status != 201)
            api_error(out, out->status, "%s", api_last_message(&res, cr));
        else
            api_firefly_answer(cr, out);
        cr_free(cr);
    }
    free(cr);
done:
    api_audit(&ctx, NULL, NULL, out);
    caller_free(&ctx.caller);
}

void api_free(struct api *api)
{
    free(api->issuer_kind);
    free(api->issuer_namespace);
    free(api->issuer_name);
    free(api->cluster_ns);
    api->issuer_kind = api->issuer_namespace = api->issuer_name = api->cluster_ns = NULL;
}
