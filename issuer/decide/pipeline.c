/* pipeline.c -- approve or deny by policy, sign, and the resulting CertificateRequest status. */
#include "decide/pipeline.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/b64.h"
#include "base/duration.h"
#include "base/mem.h"
#include "base/timefmt.h"
#include "x509/csr.h"

#define APPROVED_PREFIX "Approved by IssuancePolicy \""

enum pipeline_check_outcome {
    PIPELINE_CHECK_OK,
    PIPELINE_CHECK_VIOLATION,
    PIPELINE_CHECK_NO_POLICY,
    PIPELINE_CHECK_POLICY_INVALID,
    PIPELINE_CHECK_BAD_REQUEST,
    PIPELINE_CHECK_NS_UNAVAILABLE /* the labels of the request's Namespace cannot be read now */
};

/* What one request asks for, checked against one policy. */
struct pipeline_check {
    enum pipeline_check_outcome outcome;
    const struct policy *policy;
    struct csr *csr;
    char msg[POLICY_MAX_MESSAGE];
};

static void pipeline_event(struct pipeline_result *res, const char *type, const char *reason,
                           const char *fmt, ...) PRINTF_LIKE(4, 5);
static void pipeline_event(struct pipeline_result *res, const char *type, const char *reason,
                           const char *fmt, ...)
{
    if (res->n_events == sizeof(res->events) / sizeof(res->events[0]))
        return;
    struct pipeline_event *ev = &res->events[res->n_events++];
    ev->type = type;
    snprintf(ev->reason, sizeof(ev->reason), "%s", reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev->message, sizeof(ev->message), fmt, ap);
    va_end(ap);
}

const char *pipeline_policy_annotation(const struct pipeline_env *env, const struct cr *cr)
{
    for (size_t i = 0; i < env->n_policy_annotations; i++) {
        const char *v = cr_annotation(cr, env->policy_annotations[i]);
        if (v != NULL && v[0] != '\0')
            return v;
    }
    return "";
}

static void pipeline_check_free(const struct pipeline_env *env, struct pipeline_check *c)
{
    csr_free(c->csr);
    c->csr = NULL;
    if (c->policy != NULL && env->release_policy != NULL)
        env->release_policy(env->ud, c->policy, NULL);
    c->policy = NULL;
}

/* The request's CSR: the PEM a front door gave as it is, else spec.request decoded. NULL with
 * err when there is none or it does not parse. */
static struct csr *pipeline_parse_csr(const struct cr *cr, struct err *err)
{
    if (cr->request_pem != NULL) {
        size_t n = strlen(cr->request_pem);
        if (n > CSR_MAX_BYTES) {
            err_set(err, ERR_TOO_BIG, "the CSR is larger than %d bytes", CSR_MAX_BYTES);
            return NULL;
        }
        return csr_parse((const unsigned char *)cr->request_pem, n, err);
    }
    if (cr->request_b64 == NULL) {
        err_set(err, ERR_INVALID, "no CSR");
        return NULL;
    }
    unsigned char *pem = NULL;
    size_t pem_len = 0;
    if (b64_decode(cr->request_b64, strlen(cr->request_b64), CSR_MAX_BYTES, &pem, &pem_len, err) !=
        0)
        return NULL;
    struct csr *csr = csr_parse(pem, pem_len, err);
    free(pem);
    return csr;
}

/* The labels of the request's Namespace when c->policy has a namespaceSelector, *known when
 * it exists. False, with c's outcome and message set, when they cannot be read now. */
static bool pipeline_namespace_labels(const struct pipeline_env *env, const struct cr *cr,
                                      const char *policy_name, struct strv *labels, bool *known,
                                      struct pipeline_check *c)
{
    *known = false;
    if (!policy_has_namespace_selector(c->policy) || env->namespace_labels == NULL)
        return true;
    const char *ns = cr->namespace != NULL ? cr->namespace : "";
    struct err why = {0};
    switch (env->namespace_labels(env->ud, ns, labels, &why)) {
    case PIPELINE_NS_KNOWN: *known = true; return true;
    case PIPELINE_NS_NOT_FOUND: return true;
    case PIPELINE_NS_UNAVAILABLE: break;
    }
    c->outcome = PIPELINE_CHECK_NS_UNAVAILABLE;
    snprintf(c->msg, sizeof(c->msg),
             "policy \"%.253s\": namespace \"%.63s\": its labels could not be read (%s); the "
             "request waits",
             policy_name, ns, why.msg[0] != '\0' ? why.msg : "no reason given");
    return false;
}

/* Parses the request's CSR and evaluates it against the named policy. */
static void pipeline_check(const struct pipeline_env *env, const struct cr *cr,
                           const char *policy_name, struct pipeline_check *c)
{
    memset(c, 0, sizeof(*c));
    const char *invalid = NULL;
    int found = env->find_policy(env->ud, policy_name, &c->policy, &invalid);
    if (found == 0) {
        c->outcome = PIPELINE_CHECK_NO_POLICY;
        snprintf(c->msg, sizeof(c->msg), "policy \"%.253s\" does not exist", policy_name);
        return;
    }
    if (found < 0) {
        c->outcome = PIPELINE_CHECK_POLICY_INVALID;
        snprintf(c->msg, sizeof(c->msg), "policy \"%.253s\" is not valid: %s", policy_name,
                 invalid ? invalid : "unknown problem");
        if (env->release_policy != NULL)
            env->release_policy(env->ud, NULL, invalid);
        c->policy = NULL;
        return;
    }
    if (cr->spec_error != NULL) {
        c->outcome = PIPELINE_CHECK_BAD_REQUEST;
        snprintf(c->msg, sizeof(c->msg), "policy \"%.253s\": %s", policy_name, cr->spec_error);
        return;
    }
    struct err e = {0};
    c->csr = pipeline_parse_csr(cr, &e);
    if (c->csr == NULL || csr_check_request(c->csr, cr->is_ca, cr->usages, &e) != 0) {
        c->outcome = PIPELINE_CHECK_BAD_REQUEST;
        snprintf(c->msg, sizeof(c->msg), "policy \"%.253s\": spec.request: %s", policy_name, e.msg);
        return;
    }
    char sa_ns[64];
    const char *sa = NULL;
    bool is_sa = caller_service_account(&cr->requester, sa_ns, sizeof(sa_ns), &sa);
    struct strv labels = {0};
    bool ns_known = false;
    if (!pipeline_namespace_labels(env, cr, policy_name, &labels, &ns_known, c)) {
        strv_free(&labels);
        return;
    }
    struct policy_request r = {
        .csr = c->csr,
        .namespace_labels = &labels,
        .namespace_known = ns_known,
        .duration_s = cr->duration_s,
        .is_ca = cr->is_ca,
        .usages = cr->usages,
        .namespace = cr->namespace,
        .issuer_kind = cr->issuer_kind,
        .issuer_name = cr->issuer_name,
        .requester = &cr->requester,
        .require_requesters = env->require_requesters,
        .service_account = is_sa ? sa : NULL,
        .service_account_namespace = is_sa ? sa_ns : NULL,
        .namespace_claimed = env->namespace_claimed,
    };
    c->outcome = policy_evaluate(c->policy, &r, c->msg, sizeof(c->msg)) == 0
                     ? PIPELINE_CHECK_OK
                     : PIPELINE_CHECK_VIOLATION;
    strv_free(&labels);
}

/* Sets Ready and says whether anything changed (so unchanged Pending states are not rewritten). */
static bool pipeline_set_ready(const struct pipeline_env *env, struct cr *cr, const char *status,
                               const char *reason, const char *message)
{
    const struct cr_condition *c = cr_condition(cr, "Ready");
    if (c != NULL && c->status && c->reason && c->message && strcmp(c->status, status) == 0 &&
        strcmp(c->reason, reason) == 0 && strcmp(c->message, message) == 0)
        return false;
    cr_set_condition(cr, "Ready", status, reason, message, env->now);
    return true;
}

static void pipeline_fail(const struct pipeline_env *env, struct cr *cr,
                          struct pipeline_result *res, const char *reason, const char *message)
{
    char ts[TIMEFMT_LEN];
    timefmt_rfc3339(env->now, ts);
    pipeline_set_ready(env, cr, "False", reason, message);
    cr_set_status_field(&cr->failure_time, ts);
    res->action = PIPELINE_WRITE;
    res->state = strcmp(reason, "Denied") == 0 ? PIPELINE_STATE_DENIED : PIPELINE_STATE_FAILED;
    res->requeue = false;
}

/* A permanent failure: Ready=False, reason Failed, with a PermanentError Event saying why. */
static void pipeline_fail_permanent(const struct pipeline_env *env, struct cr *cr,
                                    struct pipeline_result *res, const char *message)
{
    pipeline_fail(env, cr, res, "Failed", message);
    pipeline_event(res, "Warning", "PermanentError", "%s", message);
}

static void pipeline_pending(const struct pipeline_env *env, struct cr *cr,
                             struct pipeline_result *res, const char *event_type,
                             const char *event_reason, const char *message)
{
    res->state = PIPELINE_STATE_PENDING;
    res->requeue = true;
    if (pipeline_set_ready(env, cr, "False", "Pending", message)) {
        res->action = PIPELINE_WRITE;
        pipeline_event(res, event_type, event_reason, "%s", message);
    } else if (res->action != PIPELINE_WRITE) {
        res->action = PIPELINE_WAIT;
    }
}

/* The policy name recorded in our Approved message, or NULL when someone else approved. */
static bool pipeline_recorded_policy(const struct cr *cr, char *out, size_t outlen)
{
    const struct cr_condition *a = cr_condition(cr, "Approved");
    if (a == NULL || a->reason == NULL || strcmp(a->reason, PIPELINE_APPROVER) != 0 ||
        a->message == NULL || strncmp(a->message, APPROVED_PREFIX, strlen(APPROVED_PREFIX)) != 0)
        return false;
    const char *start = a->message + strlen(APPROVED_PREFIX);
    const char *end = strchr(start, '"');
    if (end == NULL || (size_t)(end - start) >= outlen)
        return false;
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    return true;
}

/* Keeps a signed chain in cr: as PEM for a request given as PEM (its front door answers with
 * the chain itself), else base64 in status.certificate and status.ca. Takes out's strings. */
static void pipeline_keep_chain(struct cr *cr, struct sign_result *out)
{
    if (cr->request_pem != NULL) {
        free(cr->chain_pem);
        cr->chain_pem = out->chain_pem;
        out->chain_pem = NULL;
    } else {
        char *chain = b64_encode(out->chain_pem, strlen(out->chain_pem));
        char *ca = out->ca_pem ? b64_encode(out->ca_pem, strlen(out->ca_pem)) : NULL;
        cr_set_status_field(&cr->certificate, chain);
        cr_set_status_field(&cr->ca, ca);
        free(chain);
        free(ca);
    }
    sign_result_free(out);
}

static void pipeline_sign(const struct pipeline_env *env, struct cr *cr, struct issuer *is,
                          const struct pipeline_check *c, struct pipeline_result *res)
{
    struct sign_params p = {
        .duration_s = policy_validity(c->policy, cr->duration_s),
        .min_duration_s = policy_min_validity(c->policy),
        .is_ca = cr->is_ca,
        .usages = cr->usages,
        .now = env->now,
    };
    /* The one addition to a request: a CA that asks for no pathLen gets the policy's. */
    if (p.is_ca && !c->csr->bc_has_path_len)
        p.has_path_len = policy_ca_max_path_len(c->policy, &p.path_len);
    struct sign_result out = {0};
    struct err e = {0};
    if (is->signer.ops->sign(is->signer.ctx, c->csr, &p, &out, &e) == 0) {
        pipeline_keep_chain(cr, &out);
        pipeline_set_ready(env, cr, "True", "Issued", "Succeeded signing the CertificateRequest");
        res->action = PIPELINE_WRITE;
        res->state = PIPELINE_STATE_ISSUED;
        res->requeue = false;
        res->signer = is->signer.ops->name;
        pipeline_event(res, "Normal", "Issued", "Succeeded signing the CertificateRequest");
        return;
    }
    char msg[ERR_MSG_MAX + 128];
    time_t created = 0;
    switch (e.kind) {
    case ERR_TRANSIENT:
    case ERR_INTERNAL: /* a library failure may pass; retry it like the network */
        if (cr->creation_timestamp != NULL &&
            timefmt_parse_rfc3339(cr->creation_timestamp, &created) == 0 &&
            env->now - created > env->max_retry_s) {
            char d[32];
            duration_format_go(env->max_retry_s, d, sizeof(d));
            snprintf(msg, sizeof(msg), "Failed to sign CertificateRequest, gave up after %s: %s", d,
                     e.msg);
            pipeline_fail_permanent(env, cr, res, msg);
            return;
        }
        snprintf(msg, sizeof(msg), "Failed to sign CertificateRequest, will retry: %s", e.msg);
        res->retryable = true;
        pipeline_pending(env, cr, res, "Warning", "RetryableError", msg);
        return;
    case ERR_PENDING:
    case ERR_ISSUER_NOT_READY:
        snprintf(msg, sizeof(msg), "Waiting for the issuer: %s", e.msg);
        res->retryable = true;
        pipeline_pending(env, cr, res, "Warning", "RetryableError", msg);
        return;
    default:
        snprintf(msg, sizeof(msg), "Failed permanently to sign CertificateRequest: %s", e.msg);
        pipeline_fail_permanent(env, cr, res, msg);
        return;
    }
}

/* Looks up the request's issuer (a reference, or NULL) and writes its "Kind/ns/name" into ref. */
static struct issuer *pipeline_find_issuer(const struct pipeline_env *env, const struct cr *cr,
                                           char *ref, size_t reflen)
{
    bool cluster = strcmp(cr->issuer_kind, "ClusterIssuer") == 0;
    (void)cr_issuer_ref(cr->issuer_kind, cr->namespace, cr->issuer_name, ref, reflen);
    return env->find_issuer(env->ud, cr->issuer_kind, cluster ? "" : cr->namespace,
                            cr->issuer_name);
}

/* An approved request: issuer ready? policy still the one approved and still satisfied? sign.
 * checked is the evaluation made by this same pass's approval, or NULL. */
static void pipeline_sign_step(const struct pipeline_env *env, struct cr *cr,
                               struct pipeline_result *res, const struct pipeline_check *checked)
{
    char ref[600];
    struct issuer *is = pipeline_find_issuer(env, cr, ref, sizeof(ref));
    char msg[POLICY_MAX_MESSAGE + 1024];
    if (is == NULL) {
        snprintf(msg, sizeof(msg), "%s not found. Waiting for it to be created.", ref);
        pipeline_pending(env, cr, res, "Normal", "WaitingForIssuerExist", msg);
        return;
    }
    struct issuer_state state;
    issuer_get_state(is, &state);
    if (!state.ready || is->signer.ops == NULL) {
        snprintf(
            msg, sizeof(msg),
            "Waiting for issuer to become ready. Current issuer ready condition is \"%s\": %s.",
            state.reason, state.message);
        pipeline_pending(env, cr, res, "Normal", "WaitingForIssuerReady", msg);
        issuer_unref(is);
        return;
    }
    struct pipeline_check own;
    const struct pipeline_check *c = checked;
    if (c == NULL) {
        const char *current = pipeline_policy_annotation(env, cr);
        if (current[0] == '\0' && is->default_policy != NULL)
            current = is->default_policy;
        char recorded[256];
        if (pipeline_recorded_policy(cr, recorded, sizeof(recorded)) &&
            strcmp(recorded, current) != 0) {
            snprintf(
                msg, sizeof(msg),
                "the request was approved under policy \"%s\" but now names policy \"%.253s\"; "
                "create a new request to use another policy",
                recorded, current);
            pipeline_fail_permanent(env, cr, res, msg);
            issuer_unref(is);
            return;
        }
        if (current[0] == '\0') {
            snprintf(msg, sizeof(msg),
                     "no policy: the request has no %s annotation and %s has no spec.defaultPolicy",
                     PIPELINE_POLICY_ANNOTATION, ref);
            pipeline_fail_permanent(env, cr, res, msg);
            issuer_unref(is);
            return;
        }
        snprintf(res->policy, sizeof(res->policy), "%.253s", current);
        pipeline_check(env, cr, current, &own);
        c = &own;
    }
    switch (c->outcome) {
    case PIPELINE_CHECK_OK: pipeline_sign(env, cr, is, c, res); break;
    case PIPELINE_CHECK_POLICY_INVALID:
        snprintf(msg, sizeof(msg), "Waiting for a valid policy: %s", c->msg);
        pipeline_pending(env, cr, res, "Warning", "PolicyNotReady", msg);
        break;
    case PIPELINE_CHECK_NS_UNAVAILABLE:
        pipeline_pending(env, cr, res, "Warning", "NamespaceUnavailable", c->msg);
        break;
    default:
        res->bad_request = c->outcome == PIPELINE_CHECK_BAD_REQUEST;
        pipeline_fail_permanent(env, cr, res, c->msg);
        break;
    }
    if (c == &own)
        pipeline_check_free(env, &own);
    issuer_unref(is);
}

static void pipeline_deny(const struct pipeline_env *env, struct cr *cr,
                          struct pipeline_result *res, const char *msg)
{
    cr_set_condition(cr, "Denied", "True", PIPELINE_APPROVER, msg, env->now);
    pipeline_fail(env, cr, res, "Denied",
                  "Detected that the CertificateRequest is denied, so it will never be Ready.");
    pipeline_event(res, "Warning", "Denied", "%s", msg);
}

static void pipeline_wait(struct pipeline_result *res)
{
    res->action = PIPELINE_WAIT;
    res->state = PIPELINE_STATE_WAITING;
    res->requeue = true;
}

static void pipeline_approve_step(const struct pipeline_env *env, struct cr *cr,
                                  struct pipeline_result *res)
{
    char msg[POLICY_MAX_MESSAGE + 256];
    const char *name = pipeline_policy_annotation(env, cr);
    char fallback[256];
    if (name[0] == '\0') {
        char ref[600];
        struct issuer *is = pipeline_find_issuer(env, cr, ref, sizeof(ref));
        if (is == NULL) {
            /* Its defaultPolicy decides: wait for the issuer rather than deny. */
            pipeline_wait(res);
            pipeline_event(res, "Normal", "WaitingForIssuerExist",
                           "%s not found. Waiting for it to be created (its spec.defaultPolicy "
                           "decides, as the request names no policy).",
                           ref);
            return;
        }
        if (is->default_policy == NULL) {
            snprintf(msg, sizeof(msg),
                     "no policy: the request has no %s annotation and %s has no spec.defaultPolicy",
                     PIPELINE_POLICY_ANNOTATION, ref);
            issuer_unref(is);
            pipeline_deny(env, cr, res, msg);
            return;
        }
        snprintf(fallback, sizeof(fallback), "%s", is->default_policy);
        issuer_unref(is);
        name = fallback;
    }
    struct pipeline_check c;
    snprintf(res->policy, sizeof(res->policy), "%.253s", name);
    pipeline_check(env, cr, name, &c);
    if (c.outcome == PIPELINE_CHECK_POLICY_INVALID) {
        pipeline_wait(res);
        pipeline_event(res, "Warning", "PolicyNotReady", "%s; the request waits until it is fixed",
                       c.msg);
    } else if (c.outcome == PIPELINE_CHECK_NS_UNAVAILABLE) {
        pipeline_wait(res);
        pipeline_event(res, "Warning", "NamespaceUnavailable", "%s", c.msg);
    } else if (c.outcome != PIPELINE_CHECK_OK) {
        res->bad_request = c.outcome == PIPELINE_CHECK_BAD_REQUEST;
        pipeline_deny(env, cr, res, c.msg);
    } else {
        snprintf(msg, sizeof(msg), APPROVED_PREFIX "%s\"", policy_name(c.policy));
        cr_set_condition(cr, "Approved", "True", PIPELINE_APPROVER, msg, env->now);
        res->action = PIPELINE_WRITE;
        pipeline_event(res, "Normal", "Approved", "%s", msg);
        /* Sign in the same pass: one status write carries Approved and Ready. */
        pipeline_sign_step(env, cr, res, &c);
        res->action = PIPELINE_WRITE;
    }
    pipeline_check_free(env, &c);
}

enum pipeline_state pipeline_final_state(const struct cr *cr)
{
    const struct cr_condition *ready = cr_condition(cr, "Ready");
    if (ready != NULL && ready->status != NULL && ready->reason != NULL) {
        if (strcmp(ready->status, "True") == 0)
            return PIPELINE_STATE_ISSUED;
        if (strcmp(ready->reason, "Failed") == 0)
            return PIPELINE_STATE_FAILED;
        if (strcmp(ready->reason, "Denied") == 0)
            return PIPELINE_STATE_DENIED;
    }
    if (cr_condition_true(cr, "InvalidRequest"))
        return PIPELINE_STATE_FAILED;
    return PIPELINE_STATE_NONE;
}

void pipeline_run(const struct pipeline_env *env, struct cr *cr, struct pipeline_result *res)
{
    memset(res, 0, sizeof(*res));
    res->action = PIPELINE_NOOP;
    if (strcmp(cr->issuer_group, env->group) != 0 ||
        (strcmp(cr->issuer_kind, "Issuer") != 0 && strcmp(cr->issuer_kind, "ClusterIssuer") != 0)) {
        res->action = PIPELINE_IGNORE;
        return;
    }
    enum pipeline_state final = pipeline_final_state(cr);
    if (final != PIPELINE_STATE_NONE) {
        res->state = final;
        return;
    }
    if (cr_condition_true(cr, "Denied")) {
        pipeline_fail(env, cr, res, "Denied",
                      "Detected that the CertificateRequest is denied, so it will never be Ready.");
        pipeline_event(
            res, "Warning", "Denied",
            "Detected that the CertificateRequest is denied, so it will never be Ready.");
        return;
    }
    /* Until issuers and policies are loaded, a missing one means "not seen yet": never
     * approve, deny, sign or fail on that. */
    if (!env->synced) {
        pipeline_wait(res);
        return;
    }
    if (!cr_condition_true(cr, "Approved")) {
        if (env->approve) {
            pipeline_approve_step(env, cr, res);
            return;
        }
        res->action = PIPELINE_WAIT;
        res->state = PIPELINE_STATE_WAITING;
        pipeline_event(res, "Normal", "WaitingForApproval",
                       "Waiting for the CertificateRequest to be approved");
        return;
    }
    pipeline_sign_step(env, cr, res, NULL);
}

void pipeline_declare_metrics(struct metrics *m)
{
    if (m != NULL)
        metrics_declare(m, "ember_signing_duration_seconds", "histogram",
                        "Time to evaluate policy and sign one request, by signer.");
}

void pipeline_observe_signing(struct metrics *m, const struct pipeline_result *res, double seconds)
{
    char label[64]; /* a table name needs no escaping */
    if (m != NULL && res->state == PIPELINE_STATE_ISSUED && res->signer != NULL &&
        (size_t)snprintf(label, sizeof(label), "signer=\"%s\"", res->signer) < sizeof(label))
        metrics_histogram_observe(m, "ember_signing_duration_seconds", label, seconds);
}
