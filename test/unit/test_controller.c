/* test_controller.c -- the controller's reconcilers in-process: a controller made with ctl_new,
 * fed objects as its watches would feed them, its API calls answered by a fake kube_request
 * that records them. Every branch of design.md §2 is a row of one table, checked by what a
 * user sees: the status written, the Events posted, whether the request is looked at again.
 * Signing is real: a local CA (root + intermediate) made at test time, read from a Secret. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "base/b64.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timefmt.h"
#include "controller/controller_int.h"
#include "decide/pipeline.h"
#include "issuers/issuer.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS "team-a"
#define IV "ember.issuer.dev/v1alpha1"
#define RECHECK_S 300

static time_t NOW;

static EVP_PKEY *root_key, *int_key;
static X509 *root_cert, *int_cert;
static char *root_pem, *int_pem, *int_key_pem;
static char *csr_ok;   /* P-256, DNS a.example.com */
static char *csr_evil; /* P-256, DNS evil.org: "web" refuses it */

#include "testpki.h"

/* ---- a fake API server: records every call, answers as the test says ------------------- */

#define MAX_CALLS 256

static struct fake_api {
    struct fake_call {
        char method[8];
        char path[256];
        char *body;
    } calls[MAX_CALLS];
    size_t n_calls;
    long cr_write_code;    /* answer to a CertificateRequest status write */
    long event_patch_code; /* answer to an Event count update */
    long ns_get_code;      /* answer to GET /api/v1/namespaces/NAME; 0 = 404 */
    const char *ns_body;   /* its body when 200 */
    cJSON *cr;             /* the request the "server" holds: what a status write returns */
    int rv;                /* last resourceVersion handed out */
    char *secret;          /* the CA Secret team-a/ca-key-pair */
} api;

static void api_reset_calls(void)
{
    for (size_t i = 0; i < api.n_calls; i++)
        free(api.calls[i].body);
    api.n_calls = 0;
}

/* The request as a status write leaves it: status replaced, a new resourceVersion. */
static char *api_cr_written(const char *body)
{
    cJSON *patch = cJSON_Parse(body);
    assert_non_null(patch);
    cJSON *o = cJSON_Duplicate(api.cr, 1);
    cJSON_DeleteItemFromObject(o, "status");
    cJSON_AddItemToObject(o, "status", cJSON_DetachItemFromObject(patch, "status"));
    cJSON *md = cJSON_GetObjectItem(o, "metadata");
    char rv[16];
    snprintf(rv, sizeof(rv), "%d", ++api.rv);
    cJSON_ReplaceItemInObject(md, "resourceVersion", cJSON_CreateString(rv));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    cJSON_Delete(patch);
    return s;
}

static int fake_request(struct kube *k, const char *method, const char *path,
                        const char *content_type, const char *body, size_t len,
                        struct kube_response *out, struct err *err)
{
    (void)k;
    (void)content_type;
    (void)len;
    (void)err;
    assert_true(api.n_calls < MAX_CALLS);
    struct fake_call *call = &api.calls[api.n_calls++];
    snprintf(call->method, sizeof(call->method), "%s", method);
    snprintf(call->path, sizeof(call->path), "%s", path);
    call->body = body != NULL ? xstrdup(body) : NULL;
    memset(out, 0, sizeof(*out));
    const char *answer = "{}";
    char *owned = NULL;
    out->code = 200;
    if (strcmp(method, "GET") == 0 && strncmp(path, "/api/v1/namespaces/", 19) == 0 &&
        strchr(path + 19, '/') == NULL) {
        out->code = api.ns_get_code != 0 ? api.ns_get_code : 404;
        answer = out->code == 200   ? api.ns_body
                 : out->code == 403 ? "{\"kind\":\"Status\",\"code\":403,\"reason\":"
                                      "\"Forbidden\",\"message\":\"namespaces is forbidden\"}"
                                    : "{\"kind\":\"Status\",\"code\":404,\"reason\":"
                                      "\"NotFound\",\"message\":\"not found\"}";
    } else if (strcmp(method, "GET") == 0) {
        bool ca = strcmp(path, "/api/v1/namespaces/" NS "/secrets/ca-key-pair") == 0;
        out->code = ca ? 200 : 404;
        answer = ca ? api.secret : "{\"kind\":\"Status\",\"code\":404,\"message\":\"not found\"}";
    } else if (strstr(path, "/certificaterequests/") != NULL) {
        out->code = api.cr_write_code;
        if (out->code < 300)
            answer = owned = api_cr_written(body);
        else
            answer = "{\"kind\":\"Status\",\"message\":\"the object has been modified\"}";
    } else if (strcmp(method, "POST") == 0 && strstr(path, "/events") != NULL) {
        out->code = 201;
    } else if (strstr(path, "/events/") != NULL) {
        out->code = api.event_patch_code;
    }
    out->body = owned != NULL ? owned : xstrdup(answer);
    out->len = strlen(out->body);
    if (out->code >= 300)
        kube_status_parse(out->body, out->len, out->code, NULL, &out->status);
    return 0;
}

/* Calls whose method is method and whose path contains part. */
static size_t api_count(const char *method, const char *part)
{
    size_t n = 0;
    for (size_t i = 0; i < api.n_calls; i++)
        if (strcmp(api.calls[i].method, method) == 0 && strstr(api.calls[i].path, part) != NULL)
            n++;
    return n;
}

/* The body of the last call with method and part in its path, parsed (cJSON_Delete it). */
static cJSON *api_last_body(const char *method, const char *part)
{
    for (size_t i = api.n_calls; i-- > 0;)
        if (strcmp(api.calls[i].method, method) == 0 && strstr(api.calls[i].path, part) != NULL)
            return cJSON_Parse(api.calls[i].body);
    return NULL;
}

/* The reasons of the Events posted, in order, joined by ','. */
static void api_event_reasons(char *out, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0; i < api.n_calls; i++) {
        if (strcmp(api.calls[i].method, "POST") != 0 ||
            strstr(api.calls[i].path, "/events") == NULL)
            continue;
        cJSON *ev = cJSON_Parse(api.calls[i].body);
        const cJSON *r = cJSON_GetObjectItem(ev, "reason");
        size_t n = strlen(out);
        snprintf(out + n, len - n, "%s%s", n ? "," : "", cJSON_IsString(r) ? r->valuestring : "?");
        cJSON_Delete(ev);
    }
}

/* ---- a signer row that fails as its issuer's name says (retryable, permanent) ----------- */

static int fake_sign(void *ctx, const struct csr *csr, const struct sign_params *p,
                     struct sign_result *out, struct err *err)
{
    (void)csr;
    (void)p;
    (void)out;
    enum err_kind kind = *(const enum err_kind *)ctx;
    err_set(err, kind, "the backend said %s", err_kind_name(kind));
    return -1;
}

static int fake_check(void *ctx, time_t now, struct err *err)
{
    (void)ctx;
    (void)now;
    (void)err;
    return 0;
}

static void fake_free(void *ctx)
{
    (void)ctx;
}

static const struct signer_ops fake_ops = {
    .name = "fake", .sign = fake_sign, .check = fake_check, .free = fake_free};
static enum err_kind fail_transient = ERR_TRANSIENT, fail_permanent = ERR_PERMANENT;

/* ---- objects ----------------------------------------------------------------------------- */

static cJSON *parse(const char *json)
{
    cJSON *o = cJSON_Parse(json);
    if (o == NULL)
        fail_msg("not JSON: %s", json);
    return o;
}

static void feed(struct controller *c, enum ctl_kind kind, cJSON *obj)
{
    ctl_upsert(&c->feeds[kind], obj);
    cJSON_Delete(obj);
}

#define ISSUER_JSON(name, secret)                                                                  \
    "{\"apiVersion\":\"" IV "\",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"" name "\","          \
    "\"namespace\":\"" NS "\",\"uid\":\"uid-" name "\",\"generation\":1,"                          \
    "\"resourceVersion\":\"10\"},\"spec\":{\"defaultPolicy\":\"web\",\"ca\":{\"secretName\":"      \
    "\"" secret "\"}}}"

#define POLICY_JSON(name, gen, rv, dns_allowed)                                                    \
    "{\"apiVersion\":\"" IV "\",\"kind\":\"IssuancePolicy\",\"metadata\":{\"name\":\"" name "\","  \
    "\"uid\":\"uid-" name "\",\"generation\":" gen ",\"resourceVersion\":\"" rv "\"},"             \
    "\"spec\":{\"validity\":{\"max\":\"24h\",\"default\":\"1h\"},"                                 \
    "\"keyAlgorithms\":[\"EC_P256\"],\"subject\":{\"commonName\":{\"rule\":\"Optional\"}},"        \
    "\"sans\":{\"dnsNames\":{\"rule\":\"Optional\",\"allowed\":[\"" dns_allowed "\"]}}}}"
#define WEB_ALLOWED "[a-z0-9.-]+\\\\.example\\\\.com"

enum pre {
    PRE_NONE,
    PRE_ISSUED,         /* Ready=True Issued */
    PRE_FAILED,         /* Ready=False Failed */
    PRE_DENIED_DONE,    /* Ready=False Denied */
    PRE_DENIED,         /* Denied=True by someone, no Ready yet */
    PRE_APPROVED,       /* Approved=True by cert-manager's approver */
    PRE_APPROVED_OTHER, /* Approved=True by Ember under policy "other" */
};

static void cr_apply_pre(cJSON *o, enum pre pre)
{
    switch (pre) {
    case PRE_NONE: break;
    case PRE_ISSUED: testpki_add_condition(o, "Ready", "True", "Issued", "done"); break;
    case PRE_FAILED: testpki_add_condition(o, "Ready", "False", "Failed", "gave up"); break;
    case PRE_DENIED_DONE: testpki_add_condition(o, "Ready", "False", "Denied", "denied"); break;
    case PRE_DENIED:
        testpki_add_condition(o, "Denied", "True", "someone", "a human said no");
        break;
    case PRE_APPROVED:
        testpki_add_condition(o, "Approved", "True", "cert-manager.io",
                              "Certificate request has been approved by cert-manager.io");
        break;
    case PRE_APPROVED_OTHER:
        testpki_add_condition(o, "Approved", "True", PIPELINE_APPROVER,
                              "Approved by IssuancePolicy \"other\"");
        break;
    }
}

/* A CertificateRequest team-a/req as cert-manager makes it; policy NULL: no annotation. */
static cJSON *cr_json(const char *kind, const char *issuer, const char *policy, const char *csr,
                      enum pre pre, long age_s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", CR_API_VERSION);
    cJSON_AddStringToObject(o, "kind", CR_KIND);
    cJSON *md = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(md, "name", "req");
    cJSON_AddStringToObject(md, "namespace", NS);
    cJSON_AddStringToObject(md, "uid", "uid-req");
    cJSON_AddStringToObject(md, "resourceVersion", "100");
    char ts[TIMEFMT_LEN];
    timefmt_rfc3339(NOW - age_s, ts);
    cJSON_AddStringToObject(md, "creationTimestamp", ts);
    cJSON *ann = cJSON_AddObjectToObject(md, "annotations");
    cJSON_AddStringToObject(ann, "kubectl.kubernetes.io/last-applied-configuration", "{...}");
    if (policy != NULL)
        cJSON_AddStringToObject(ann, PIPELINE_POLICY_ANNOTATION, policy);
    cJSON *spec = cJSON_AddObjectToObject(o, "spec");
    cJSON_AddStringToObject(spec, "request", csr);
    cJSON *ref = cJSON_AddObjectToObject(spec, "issuerRef");
    cJSON_AddStringToObject(ref, "group", ISSUER_GROUP);
    cJSON_AddStringToObject(ref, "kind", kind);
    cJSON_AddStringToObject(ref, "name", issuer);
    cr_apply_pre(o, pre);
    return o;
}

/* Feeds a request and makes it what the fake server holds. */
static void feed_cr(struct controller *c, cJSON *o)
{
    cJSON_Delete(api.cr);
    api.cr = cJSON_Duplicate(o, 1);
    api.rv = 100;
    feed(c, CTL_CR, o);
}

/* ---- a controller with issuers and policies reconciled ---------------------------------- */

static const char *const annotations[] = {PIPELINE_POLICY_ANNOTATION};

static struct controller *new_controller(bool approve)
{
    struct controller_config cfg = {
        .policy_annotations = annotations,
        .n_policy_annotations = 1,
        .approve = approve,
        .max_retry_s = 3600,
        .cluster_ns = "ember",
        .issuer_recheck_s = RECHECK_S,
        .instance = "ember-0",
        .request = fake_request,
    };
    struct controller *c = ctl_new(&cfg);
    assert_non_null(c);
    return c;
}

/* Pops every key ready now without reconciling it; returns how many there were. */
static size_t drain(struct controller *c)
{
    size_t n = 0;
    char qkey[QUEUE_KEY_SIZE];
    while (queue_len(c->q) > 0 && queue_get(c->q, qkey, sizeof(qkey)) == 1) {
        queue_done(c->q, qkey);
        queue_forget(c->q, qkey);
        n++;
    }
    return n;
}

/* An issuer whose signer is the fake row failing with *kind, published as a live slot. */
static void publish_fake_issuer(struct controller *c, const char *name, enum err_kind *kind)
{
    char json[512], key[CR_ISSUER_REF_MAX];
    snprintf(json, sizeof(json),
             "{\"apiVersion\":\"" IV "\",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"" NS "\"},\"spec\":{\"ca\":{\"secretName\":\"unused\"}}}",
             name);
    cJSON *o = parse(json);
    struct err e = {0};
    struct issuer *is = issuer_from_json(o, &e);
    cJSON_Delete(o);
    assert_non_null(is);
    issuer_set_signer(is, (struct signer){&fake_ops, kind});
    assert_true(cr_issuer_ref("Issuer", NS, name, key, sizeof(key)));
    ctl_slot_publish(c, CTL_ISSUER, key, is, 1, (uint64_t)clock_mono_ms() + 3600000u, 0);
    issuer_unref(is);
}

/* Issuer team-a/ca (the local CA, defaultPolicy web), policies web, other and broken, all
 * reconciled; the fake issuers flaky and refuses; then the record and the queue emptied. */
static struct controller *ready_controller(bool approve)
{
    struct controller *c = new_controller(approve);
    feed(c, CTL_ISSUER, parse(ISSUER_JSON("ca", "ca-key-pair")));
    struct ctl_next n = ctl_reconcile_issuer(c, "Issuer/" NS "/ca");
    assert_int_equal(n.kind, CTL_NEXT_AFTER);
    feed(c, CTL_POLICY, parse(POLICY_JSON("web", "1", "20", WEB_ALLOWED)));
    feed(c, CTL_POLICY, parse(POLICY_JSON("other", "1", "21", "[a-z]+\\\\.example\\\\.org")));
    feed(c, CTL_POLICY,
         parse("{\"apiVersion\":\"" IV "\",\"kind\":\"IssuancePolicy\",\"metadata\":{\"name\":"
               "\"broken\",\"uid\":\"uid-broken\",\"generation\":1},\"spec\":{\"validity\":{"
               "\"max\":\"1x\"}}}"));
    ctl_reconcile_policy(c, "web");
    ctl_reconcile_policy(c, "other");
    ctl_reconcile_policy(c, "broken");
    publish_fake_issuer(c, "flaky", &fail_transient);
    publish_fake_issuer(c, "refuses", &fail_permanent);
    drain(c);
    api_reset_calls();
    return c;
}

/* ---- the CertificateRequest state machine (design.md §2), one row per branch ------------- */

/* What a row starts from. */
struct cr_given {
    bool approve;       /* Ember acts as the approver */
    const char *kind;   /* issuerRef.kind */
    const char *issuer; /* ca: the local CA; flaky, refuses: fake signers; missing */
    const char *policy; /* the annotation, NULL: none */
    bool evil;          /* the CSR asks for evil.org, which "web" refuses */
    enum pre pre;       /* conditions it already has */
    long age_s;         /* how old it is */
    long write_code;    /* the API server's answer to the status write */
};

/* The status write a row expects (when there is one). */
struct cr_write {
    const char *ready_status, *ready_reason;
    const char *approved, *denied; /* status of those conditions, NULL: absent */
    bool certificate;              /* status.certificate and status.ca set, and verified */
    bool failure_time;
    const char *message; /* in Ready's or Denied's message */
};

struct cr_case {
    const char *name;
    struct cr_given given;
    bool written; /* one status write, as write says; else none */
    struct cr_write write;
    const char *events; /* reasons of the Events posted, in order */
    enum ctl_next_kind next;
    unsigned long after_ms; /* for CTL_NEXT_AFTER */
};

#define APPROVED "True", NULL /* Approved=True, no Denied */
#define FORGET CTL_NEXT_FORGET, 0
#define RETRY CTL_NEXT_RETRY, 0
#define WAIT_1S CTL_NEXT_AFTER, CTL_WAIT_RETRY_MS

// clang-format off
static const struct cr_case cr_cases[] = {
    /* 1. already final: nothing to do */
    {"final: issued", {true, "Issuer", "ca", "web", false, PRE_ISSUED, 10, 200},
     false, {0}, "", FORGET},
    {"final: failed", {true, "Issuer", "ca", "web", false, PRE_FAILED, 10, 200},
     false, {0}, "", FORGET},
    {"final: denied", {true, "Issuer", "ca", "web", false, PRE_DENIED_DONE, 10, 200},
     false, {0}, "", FORGET},
    /* 2. Denied=True: Ready=False Denied with failureTime */
    {"denied by someone", {true, "Issuer", "ca", "web", false, PRE_DENIED, 10, 200},
     true, {"False", "Denied", NULL, "True", false, true, "will never be Ready"},
     "Denied", FORGET},
    /* 3. approval by policy: approve (and sign in the same write) or deny */
    {"approve and sign", {true, "Issuer", "ca", "web", false, PRE_NONE, 10, 200},
     true, {"True", "Issued", APPROVED, true, false, "Succeeded signing"},
     "Approved,Issued", FORGET},
    {"approve by the issuer's defaultPolicy", {true, "Issuer", "ca", NULL, false, PRE_NONE, 10, 200},
     true, {"True", "Issued", APPROVED, true, false, "Succeeded signing"},
     "Approved,Issued", FORGET},
    {"deny: a policy violation", {true, "Issuer", "ca", "web", true, PRE_NONE, 10, 200},
     true, {"False", "Denied", NULL, "True", false, true, "evil.org"},
     "Denied", FORGET},
    {"deny: no such policy", {true, "Issuer", "ca", "nope", false, PRE_NONE, 10, 200},
     true, {"False", "Denied", NULL, "True", false, true, "does not exist"},
     "Denied", FORGET},
    {"wait: an invalid policy never denies", {true, "Issuer", "ca", "broken", false, PRE_NONE, 10, 200},
     false, {0}, "PolicyNotReady", WAIT_1S},
    /* 4. not approved (approval off): no write, WaitingForApproval */
    {"wait: not approved yet", {false, "Issuer", "ca", "web", false, PRE_NONE, 10, 200},
     false, {0}, "WaitingForApproval", FORGET},
    /* 5. issuer missing: Pending, retried with backoff */
    {"issuer missing", {true, "Issuer", "missing", "web", false, PRE_APPROVED, 10, 200},
     true, {"False", "Pending", APPROVED, false, false, "Issuer/team-a/missing not found"},
     "WaitingForIssuerExist", RETRY},
    {"ClusterIssuer missing", {true, "ClusterIssuer", "ca", "web", false, PRE_APPROVED, 10, 200},
     true, {"False", "Pending", APPROVED, false, false, "ClusterIssuer/ca not found"},
     "WaitingForIssuerExist", RETRY},
    {"issuer missing, its defaultPolicy needed to approve",
     {true, "Issuer", "missing", NULL, false, PRE_NONE, 10, 200},
     false, {0}, "WaitingForIssuerExist", WAIT_1S},
    /* 6. the policy checked again at signing */
    {"policy changed since approval", {true, "Issuer", "ca", "web", false, PRE_APPROVED_OTHER, 10, 200},
     true, {"False", "Failed", APPROVED, false, true, "approved under policy \"other\""},
     "PermanentError", FORGET},
    {"sign: a violation at signing fails", {false, "Issuer", "ca", "web", true, PRE_APPROVED, 10, 200},
     true, {"False", "Failed", APPROVED, false, true, "evil.org"},
     "PermanentError", FORGET},
    /* 7. sign: issued, retryable, permanent */
    {"sign: approved by someone else", {false, "Issuer", "ca", "web", false, PRE_APPROVED, 10, 200},
     true, {"True", "Issued", APPROVED, true, false, "Succeeded signing"},
     "Issued", FORGET},
    {"retryable signer failure", {true, "Issuer", "flaky", "web", false, PRE_APPROVED, 10, 200},
     true, {"False", "Pending", APPROVED, false, false, "will retry"},
     "RetryableError", RETRY},
    {"retryable past --max-retry-duration", {true, "Issuer", "flaky", "web", false, PRE_APPROVED, 7200, 200},
     true, {"False", "Failed", APPROVED, false, true, "gave up after 1h"},
     "PermanentError", FORGET},
    {"permanent signer failure", {true, "Issuer", "refuses", "web", false, PRE_APPROVED, 10, 200},
     true, {"False", "Failed", APPROVED, false, true, "Failed permanently"},
     "PermanentError", FORGET},
    /* the status write refused: no Event, no audit; 409 and 5xx again, other 4xx not */
    {"409 on the status write", {true, "Issuer", "ca", "web", false, PRE_NONE, 10, 409},
     true, {"True", "Issued", APPROVED, true, false, "Succeeded signing"},
     "", RETRY},
    {"500 on the status write", {true, "Issuer", "ca", "web", false, PRE_NONE, 10, 500},
     true, {"True", "Issued", APPROVED, true, false, "Succeeded signing"},
     "", RETRY},
    {"422 on the status write", {true, "Issuer", "ca", "web", false, PRE_NONE, 10, 422},
     true, {"True", "Issued", APPROVED, true, false, "Succeeded signing"},
     "", FORGET},
    /* not ours */
    {"not our kind of issuer", {true, "Foo", "ca", "web", false, PRE_NONE, 10, 200},
     false, {0}, "", FORGET},
};
// clang-format on

static const char *cond_field(const cJSON *status, const char *type, const char *field)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(status, "conditions"))
    {
        const cJSON *t = cJSON_GetObjectItem(c, "type");
        if (cJSON_IsString(t) && strcmp(t->valuestring, type) == 0) {
            const cJSON *v = cJSON_GetObjectItem(c, field);
            return cJSON_IsString(v) ? v->valuestring : NULL;
        }
    }
    return NULL;
}

static void expect_str(const struct cr_case *k, const char *what, const char *got, const char *want)
{
    if ((got == NULL) != (want == NULL) || (got != NULL && strcmp(got, want) != 0))
        fail_msg("%s: %s is \"%s\", expected \"%s\"", k->name, what, got ? got : "(absent)",
                 want ? want : "(absent)");
}

static char *b64_text(const char *b64)
{
    unsigned char *out = NULL;
    size_t len = 0;
    struct err e = {0};
    assert_int_equal(b64_decode(b64, strlen(b64), 1 << 20, &out, &len, &e), 0);
    char *s = xstrndup((const char *)out, len);
    free(out);
    return s;
}

/* status.certificate: a leaf for a.example.com signed by the intermediate, then the
 * intermediate; status.ca: the root. */
static void expect_chain(const struct cr_case *k, const cJSON *status)
{
    const cJSON *crt = cJSON_GetObjectItem(status, "certificate");
    const cJSON *ca = cJSON_GetObjectItem(status, "ca");
    if (!cJSON_IsString(crt) || !cJSON_IsString(ca))
        fail_msg("%s: status.certificate or status.ca missing", k->name);
    char *chain = b64_text(crt->valuestring), *root = b64_text(ca->valuestring);
    assert_string_equal(root, root_pem);
    const char *second = strstr(chain + 1, "-----BEGIN CERTIFICATE-----");
    assert_non_null(second);
    assert_string_equal(second, int_pem);
    BIO *b = BIO_new_mem_buf(chain, -1);
    X509 *leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
    assert_non_null(leaf);
    assert_int_equal(X509_verify(leaf, int_key), 1);
    assert_int_equal(X509_check_host(leaf, "a.example.com", 0, 0, NULL), 1);
    X509_free(leaf);
    BIO_free(b);
    free(chain);
    free(root);
}

static void expect_write(const struct cr_case *k)
{
    size_t writes = api_count("PATCH", "/certificaterequests/req/status");
    if (writes != (k->written ? 1 : 0))
        fail_msg("%s: %zu status writes, expected %d", k->name, writes, k->written ? 1 : 0);
    if (!k->written)
        return;
    cJSON *patch = api_last_body("PATCH", "/certificaterequests/req/status");
    const cJSON *rv =
        cJSON_GetObjectItem(cJSON_GetObjectItem(patch, "metadata"), "resourceVersion");
    expect_str(k, "metadata.resourceVersion", cJSON_IsString(rv) ? rv->valuestring : NULL, "100");
    const cJSON *status = cJSON_GetObjectItem(patch, "status");
    expect_str(k, "Ready status", cond_field(status, "Ready", "status"), k->write.ready_status);
    expect_str(k, "Ready reason", cond_field(status, "Ready", "reason"), k->write.ready_reason);
    expect_str(k, "Approved", cond_field(status, "Approved", "status"), k->write.approved);
    expect_str(k, "Denied", cond_field(status, "Denied", "status"), k->write.denied);
    const char *msg = cond_field(
        status, k->write.denied && !k->write.failure_time ? "Denied" : "Ready", "message");
    const char *denial = cond_field(status, "Denied", "message");
    if ((msg == NULL || strstr(msg, k->write.message) == NULL) &&
        (denial == NULL || strstr(denial, k->write.message) == NULL))
        fail_msg("%s: message \"%s\" does not say \"%s\"", k->name, msg ? msg : "",
                 k->write.message);
    if (k->write.certificate)
        expect_chain(k, status);
    else if (cJSON_GetObjectItem(status, "certificate") != NULL)
        fail_msg("%s: status.certificate set", k->name);
    if ((cJSON_GetObjectItem(status, "failureTime") != NULL) != k->write.failure_time)
        fail_msg("%s: failureTime %s", k->name, k->write.failure_time ? "missing" : "set");
    cJSON_Delete(patch);
}

static void run_cr_case(const struct cr_case *k)
{
    struct controller *c = ready_controller(k->given.approve);
    api.cr_write_code = k->given.write_code;
    feed_cr(c, cr_json(k->given.kind, k->given.issuer, k->given.policy,
                       k->given.evil ? csr_evil : csr_ok, k->given.pre, k->given.age_s));
    struct ctl_next next = ctl_reconcile_cr(c, NS "/req");
    expect_write(k);
    char events[256];
    api_event_reasons(events, sizeof(events));
    expect_str(k, "Events", events, k->events);
    if (next.kind != k->next)
        fail_msg("%s: next is %d, expected %d", k->name, next.kind, k->next);
    if (k->next == CTL_NEXT_AFTER && next.after_ms != k->after_ms)
        fail_msg("%s: again after %lu ms, expected %lu", k->name, next.after_ms, k->after_ms);
    ctl_free(c);
    api_reset_calls();
    api.cr_write_code = 200;
}

static void test_cr_state_machine(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cr_cases) / sizeof(cr_cases[0]); i++)
        run_cr_case(&cr_cases[i]);
}

/* ---- more of the CertificateRequest reconciler ------------------------------------------ */

/* After a write the cache holds the object as written: the next pass sees it final. A 409
 * leaves the cache as it was, and the next pass decides again. */
static void test_cr_written_object_is_cached(void **state)
{
    (void)state;
    struct controller *c = ready_controller(true);
    api.cr_write_code = 409;
    feed_cr(c, cr_json("Issuer", "ca", "web", csr_ok, PRE_NONE, 10));
    assert_int_equal(ctl_reconcile_cr(c, NS "/req").kind, CTL_NEXT_RETRY);
    api.cr_write_code = 200;
    assert_int_equal(ctl_reconcile_cr(c, NS "/req").kind, CTL_NEXT_FORGET);
    assert_int_equal(api_count("PATCH", "/certificaterequests/"), 2);
    api_reset_calls();
    struct cr cr;
    char *why = NULL;
    assert_int_equal(ctl_cache_take_cr(c, NS "/req", &cr, &why), CTL_TAKE_FINAL);
    assert_int_equal(ctl_reconcile_cr(c, NS "/req").kind, CTL_NEXT_FORGET);
    assert_int_equal(api.n_calls, 0);
    ctl_free(c);
}

/* A request is parsed once and kept small: its policy annotation, not the others. */
static void test_cr_cache_keeps_what_the_reconciler_needs(void **state)
{
    (void)state;
    struct controller *c = new_controller(true);
    feed_cr(c, cr_json("Issuer", "ca", "web", csr_ok, PRE_APPROVED, 10));
    struct cr cr;
    char *why = NULL;
    assert_int_equal(ctl_cache_take_cr(c, NS "/req", &cr, &why), CTL_TAKE_OK);
    assert_string_equal(cr_annotation(&cr, PIPELINE_POLICY_ANNOTATION), "web");
    assert_null(cr_annotation(&cr, "kubectl.kubernetes.io/last-applied-configuration"));
    assert_string_equal(cr.request_b64, csr_ok);
    assert_true(cr_condition_true(&cr, "Approved"));
    cr_free(&cr);
    /* Not ours: not cached at all. Unreadable: kept with the reason. */
    cJSON *other = cr_json("Issuer", "ca", "web", csr_ok, PRE_NONE, 10);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(cJSON_GetObjectItem(other, "spec"), "issuerRef"),
                              "group", cJSON_CreateString("cert-manager.io"));
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(other, "metadata"), "name",
                              cJSON_CreateString("theirs"));
    feed(c, CTL_CR, other);
    assert_int_equal(ctl_cache_take_cr(c, NS "/theirs", &cr, &why), CTL_TAKE_GONE);
    api_reset_calls();
    cJSON *bad = parse("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"bad2\",\"namespace\":\"" NS
                       "\"},\"spec\":{\"issuerRef\":{\"group\":\"" ISSUER_GROUP "\"}}}");
    feed(c, CTL_CR, bad);
    assert_int_equal(ctl_cache_take_cr(c, NS "/bad2", &cr, &why), CTL_TAKE_UNREADABLE);
    assert_non_null(strstr(why, "expected apiVersion"));
    free(why);
    assert_int_equal(ctl_reconcile_cr(c, NS "/bad2").kind, CTL_NEXT_FORGET);
    assert_int_equal(ctl_reconcile_cr(c, NS "/gone").kind, CTL_NEXT_FORGET);
    assert_int_equal(api.n_calls, 0);
    ctl_free(c);
}

/* An issuer listed but not reconciled yet: the request waits for it (not "not found"). */
static void test_cr_waits_for_an_unchecked_issuer(void **state)
{
    (void)state;
    struct controller *c = ready_controller(true);
    feed(c, CTL_ISSUER, parse(ISSUER_JSON("late", "ca-key-pair")));
    feed_cr(c, cr_json("Issuer", "late", "web", csr_ok, PRE_APPROVED, 10));
    struct ctl_next n = ctl_reconcile_cr(c, NS "/req");
    assert_int_equal(n.kind, CTL_NEXT_AFTER);
    assert_int_equal(n.after_ms, CTL_ISSUER_PENDING_RETRY_MS);
    assert_int_equal(api.n_calls, 0);
    assert_int_equal(ctl_reconcile_issuer(c, "Issuer/" NS "/late").kind, CTL_NEXT_AFTER);
    api_reset_calls();
    assert_int_equal(ctl_reconcile_cr(c, NS "/req").kind, CTL_NEXT_FORGET);
    assert_int_equal(api_count("PATCH", "/certificaterequests/req/status"), 1);
    ctl_free(c);
}

/* The worker's step applies what the reconciler said; a follower writes nothing. */
static void test_process_applies_next_and_followers_write_nothing(void **state)
{
    (void)state;
    struct controller *c = ready_controller(true);
    feed_cr(c, cr_json("Issuer", "flaky", "web", csr_ok, PRE_APPROVED, 10));
    drain(c);
    ctl_process(c, "cr:" NS "/req");
    assert_int_equal(queue_num_requeues(c->q, "cr:" NS "/req"), 1);
    assert_int_equal(api_count("PATCH", "/certificaterequests/"), 1);
    api_reset_calls();
    controller_set_leader(c, false);
    ctl_process(c, "cr:" NS "/req");
    assert_int_equal(api.n_calls, 0);
    assert_int_equal(queue_num_requeues(c->q, "cr:" NS "/req"), 0);
    /* Leading again: everything not final is queued again. */
    controller_set_leader(c, true);
    assert_true(drain(c) >= 2); /* the request, the issuer, the policies */
    ctl_free(c);
}

/* ---- Issuers ----------------------------------------------------------------------------- */

static void expect_ready_write(const char *part, const char *status, const char *reason,
                               const char *message)
{
    cJSON *patch = api_last_body("PATCH", part);
    assert_non_null(patch);
    const cJSON *st = cJSON_GetObjectItem(patch, "status");
    assert_string_equal(cond_field(st, "Ready", "status"), status);
    assert_string_equal(cond_field(st, "Ready", "reason"), reason);
    const char *msg = cond_field(st, "Ready", "message");
    if (msg == NULL || strstr(msg, message) == NULL)
        fail_msg("Ready message \"%s\" does not say \"%s\"", msg ? msg : "", message);
    cJSON_Delete(patch);
}

static void test_issuer_ready_echo_and_recheck(void **state)
{
    (void)state;
    struct controller *c = new_controller(true);
    feed(c, CTL_ISSUER, parse(ISSUER_JSON("ca", "ca-key-pair")));
    struct ctl_next n = ctl_reconcile_issuer(c, "Issuer/" NS "/ca");
    assert_int_equal(n.kind, CTL_NEXT_AFTER);
    assert_int_equal(n.after_ms, RECHECK_S * 1000);
    assert_int_equal(api_count("GET", "/secrets/ca-key-pair"), 1);
    expect_ready_write("/issuers/ca/status", "True", "Checked", "Succeeded checking");
    char events[256];
    api_event_reasons(events, sizeof(events));
    assert_string_equal(events, "Checked");
    struct issuer *is = controller_find_issuer(c, "Issuer", NS, "ca");
    assert_non_null(is);
    issuer_unref(is);
    /* Our write comes back through the watch: nothing is loaded or written again, and the
     * re-check keeps its time. */
    api_reset_calls();
    cJSON *echo = parse(ISSUER_JSON("ca", "ca-key-pair"));
    testpki_add_condition(echo, "Ready", "True", "Checked", "Succeeded checking the issuer");
    feed(c, CTL_ISSUER, echo);
    n = ctl_reconcile_issuer(c, "Issuer/" NS "/ca");
    assert_int_equal(n.kind, CTL_NEXT_AFTER);
    assert_true(n.after_ms > 0 && n.after_ms <= RECHECK_S * 1000);
    assert_int_equal(api.n_calls, 0);
    /* Deleted: gone for requests too. */
    cJSON *gone = parse(ISSUER_JSON("ca", "ca-key-pair"));
    ctl_remove(&c->feeds[CTL_ISSUER], gone);
    cJSON_Delete(gone);
    assert_int_equal(ctl_reconcile_issuer(c, "Issuer/" NS "/ca").kind, CTL_NEXT_FORGET);
    assert_null(controller_find_issuer(c, "Issuer", NS, "ca"));
    ctl_free(c);
}

static void test_issuer_not_ready_and_invalid(void **state)
{
    (void)state;
    struct controller *c = new_controller(true);
    feed(c, CTL_ISSUER, parse(ISSUER_JSON("nosecret", "absent")));
    struct ctl_next n = ctl_reconcile_issuer(c, "Issuer/" NS "/nosecret");
    assert_int_equal(n.kind, CTL_NEXT_AFTER);
    assert_int_equal(n.after_ms, 2000); /* backoff 2^1 s, under the re-check period */
    expect_ready_write("/issuers/nosecret/status", "False", "Pending", "Secret team-a/absent");
    feed(c, CTL_ISSUER,
         parse("{\"apiVersion\":\"" IV "\",\"kind\":\"Issuer\",\"metadata\":{\"name\":\"bad\","
               "\"namespace\":\"" NS "\"},\"spec\":{\"acme\":{}}}"));
    assert_int_equal(ctl_reconcile_issuer(c, "Issuer/" NS "/bad").kind, CTL_NEXT_FORGET);
    expect_ready_write("/issuers/bad/status", "False", "Failed", "spec");
    assert_null(controller_find_issuer(c, "Issuer", NS, "bad"));
    /* Checked: requests naming it are decided (not found) rather than kept waiting. */
    pthread_mutex_lock(&c->lock);
    assert_true((*ctl_map_find(&c->objs[CTL_ISSUER], "Issuer/" NS "/bad"))->checked);
    pthread_mutex_unlock(&c->lock);
    ctl_free(c);
}

/* ---- IssuancePolicies -------------------------------------------------------------------- */

static const struct policy *find_policy(struct controller *c, const char *name)
{
    const struct policy *p = NULL;
    const char *invalid = NULL;
    int rc = controller_find_policy(c, name, &p, &invalid);
    if (rc != 0)
        controller_release_policy(c, p, invalid);
    return rc == 1 ? p : NULL;
}

/* The echo of its own Ready write recompiles nothing and queues no request (issue 12). */
static void test_policy_ignores_its_own_echo(void **state)
{
    (void)state;
    struct controller *c = new_controller(false);
    static const char *const names[] = {"r1", "r2", "r3"};
    for (size_t i = 0; i < 3; i++) {
        cJSON *o = cr_json("Issuer", "ca", "web", csr_ok, PRE_NONE, 10);
        cJSON_ReplaceItemInObject(cJSON_GetObjectItem(o, "metadata"), "name",
                                  cJSON_CreateString(names[i]));
        feed(c, CTL_CR, o);
    }
    feed(c, CTL_CR, cr_json("Issuer", "ca", "web", csr_ok, PRE_ISSUED, 10)); /* final */
    feed(c, CTL_POLICY, parse(POLICY_JSON("web", "1", "20", WEB_ALLOWED)));
    drain(c);
    assert_int_equal(ctl_reconcile_policy(c, "web").kind, CTL_NEXT_FORGET);
    expect_ready_write("/issuancepolicies/web/status", "True", "Valid", "The policy is valid");
    assert_int_equal(drain(c), 3); /* every request not final looks at it again */
    const struct policy *compiled = find_policy(c, "web");
    assert_non_null(compiled);

    /* The watch brings our write back: same uid and generation, a new resourceVersion. */
    api_reset_calls();
    cJSON *echo = parse(POLICY_JSON("web", "1", "21", WEB_ALLOWED));
    testpki_add_condition(echo, "Ready", "True", "Valid", "The policy is valid");
    cJSON_AddNumberToObject(
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(echo, "status"), "conditions"),
                           0),
        "observedGeneration", 1);
    feed(c, CTL_POLICY, echo);
    assert_int_equal(drain(c), 1); /* the policy's own key */
    assert_int_equal(ctl_reconcile_policy(c, "web").kind, CTL_NEXT_FORGET);
    assert_int_equal(drain(c), 0);                     /* no request queued again */
    assert_ptr_equal(find_policy(c, "web"), compiled); /* nothing compiled again */
    assert_int_equal(api.n_calls, 0);                  /* nothing written */

    /* A spec change (generation 2) is no echo. */
    feed(c, CTL_POLICY, parse(POLICY_JSON("web", "2", "22", "[a-z]+\\\\.example\\\\.net")));
    drain(c);
    ctl_reconcile_policy(c, "web");
    assert_int_equal(drain(c), 3);
    assert_ptr_not_equal(find_policy(c, "web"), compiled);
    assert_int_equal(api_count("PATCH", "/issuancepolicies/web/status"), 1);
    ctl_free(c);
}

static void test_policy_invalid_and_deleted(void **state)
{
    (void)state;
    struct controller *c = new_controller(true);
    feed(c, CTL_POLICY,
         parse("{\"apiVersion\":\"" IV "\",\"kind\":\"IssuancePolicy\",\"metadata\":{\"name\":"
               "\"broken\",\"uid\":\"u\",\"generation\":1},\"spec\":{\"validity\":{\"max\":"
               "\"1x\"}}}"));
    ctl_reconcile_policy(c, "broken");
    expect_ready_write("/issuancepolicies/broken/status", "False", "Invalid", "spec.validity");
    char events[256];
    api_event_reasons(events, sizeof(events));
    assert_string_equal(events, "Invalid");
    const struct policy *p = NULL;
    const char *invalid = NULL;
    assert_int_equal(controller_find_policy(c, "broken", &p, &invalid), -1);
    assert_non_null(strstr(invalid, "spec.validity"));
    controller_release_policy(c, p, invalid);
    cJSON *gone = parse("{\"metadata\":{\"name\":\"broken\"}}");
    ctl_remove(&c->feeds[CTL_POLICY], gone);
    cJSON_Delete(gone);
    ctl_reconcile_policy(c, "broken");
    assert_int_equal(controller_find_policy(c, "broken", &p, &invalid), 0);
    ctl_free(c);
}

/* ---- the Event recorder ------------------------------------------------------------------ */

static void test_events_aggregate(void **state)
{
    (void)state;
    struct controller *c = new_controller(true);
    api.event_patch_code = 200;
    struct ctl_objref ref = {CR_KIND, CR_API_VERSION, "req", NS, "uid-req", "5"};
    ctl_event(c, &ref, "Normal", "WaitingForApproval", "waiting");
    ctl_event(c, &ref, "Normal", "WaitingForApproval", "waiting"); /* a requeue: nothing new */
    assert_int_equal(api_count("POST", "/api/v1/namespaces/" NS "/events"), 1);
    assert_int_equal(api_count("PATCH", "/events/"), 0);
    cJSON *ev = api_last_body("POST", "/events");
    const cJSON *inv = cJSON_GetObjectItem(ev, "involvedObject");
    assert_string_equal(cJSON_GetObjectItem(inv, "uid")->valuestring, "uid-req");
    assert_string_equal(cJSON_GetObjectItem(ev, "reportingInstance")->valuestring, "ember-0");
    char name[300];
    snprintf(name, sizeof(name), "/events/%s",
             cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "metadata"), "name")->valuestring);
    cJSON_Delete(ev);
    ref.rv = "6"; /* the same Event about a newer version: its count goes up */
    ctl_event(c, &ref, "Normal", "WaitingForApproval", "waiting");
    assert_int_equal(api_count("PATCH", name), 1);
    cJSON *patch = api_last_body("PATCH", name);
    assert_int_equal(cJSON_GetObjectItem(patch, "count")->valueint, 2);
    cJSON_Delete(patch);
    api.event_patch_code = 404; /* expired: recorded anew */
    ref.rv = "7";
    ctl_event(c, &ref, "Normal", "WaitingForApproval", "waiting");
    assert_int_equal(api_count("POST", "/events"), 2);
    /* Cluster-scoped objects: Events in default, no involvedObject.namespace. */
    struct ctl_objref cl = {POLICY_KIND, POLICY_GROUP_VERSION, "web", NULL, "uid-web", "1"};
    ctl_event(c, &cl, "Normal", "Valid", "ok");
    assert_int_equal(api_count("POST", "/api/v1/namespaces/default/events"), 1);
    ev = api_last_body("POST", "/events");
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "involvedObject"), "namespace"));
    cJSON_Delete(ev);
    api.event_patch_code = 200;
    ctl_free(c);
}

/* ---- setup ------------------------------------------------------------------------------- */

static char *make_csr_b64(const char *dns)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    char san[128];
    snprintf(san, sizeof(san), "DNS:%s", dns);
    char *b64 = testpki_csr_b64(k, dns, san);
    EVP_PKEY_free(k);
    return b64;
}

static int group_setup(void **state)
{
    (void)state;
    log_init(LOG_FORMAT_JSON, LOG_ERROR, 2); /* the reconcilers' info lines are no news here */
    NOW = time(NULL);
    testpki_now = &NOW;
    root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    int_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    root_cert = make_ca_cert("Test Root", root_key, NULL, NULL, "critical,CA:TRUE", 1);
    int_cert = make_ca_cert("Test Intermediate", int_key, root_cert, root_key,
                            "critical,CA:TRUE,pathlen:0", 2);
    root_pem = cert_pem(root_cert);
    int_pem = cert_pem(int_cert);
    int_key_pem = key_pem(int_key);
    char *crt = b64_encode(int_pem, strlen(int_pem));
    char *key = b64_encode(int_key_pem, strlen(int_key_pem));
    char *ca = b64_encode(root_pem, strlen(root_pem));
    api.secret = xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":"
                           "\"ca-key-pair\",\"namespace\":\"" NS "\"},\"data\":{\"tls.crt\":"
                           "\"%s\",\"tls.key\":\"%s\",\"ca.crt\":\"%s\"}}",
                           crt, key, ca);
    free(crt);
    OPENSSL_cleanse(key, strlen(key));
    free(key);
    free(ca);
    api.cr_write_code = 200;
    api.event_patch_code = 200;
    csr_ok = make_csr_b64("a.example.com");
    csr_evil = make_csr_b64("evil.org");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    api_reset_calls();
    cJSON_Delete(api.cr);
    OPENSSL_cleanse(api.secret, strlen(api.secret));
    free(api.secret);
    OPENSSL_cleanse(int_key_pem, strlen(int_key_pem));
    free(int_key_pem);
    free(root_pem);
    free(int_pem);
    X509_free(root_cert);
    X509_free(int_cert);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(int_key);
    free(csr_ok);
    free(csr_evil);
    return 0;
}

static int test_teardown(void **state)
{
    (void)state;
    api_reset_calls();
    api.cr_write_code = 200;
    api.event_patch_code = 200;
    api.ns_get_code = 0;
    api.ns_body = NULL;
    return 0;
}

/* ---- issue 14 section 4: the labels of Namespaces (namespaces.c) ------------------------- */

#define NS_LABELLED                                                                                \
    "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" NS "\","             \
    "\"resourceVersion\":\"7\",\"labels\":{\"certs\":\"yes\"}}}"

/* A controller with the policy labelled (namespaceSelector certs=yes) reconciled. */
static struct controller *labelled_controller(void)
{
    struct controller *c = ready_controller(true);
    feed(c, CTL_POLICY,
         parse("{\"apiVersion\":\"" IV "\",\"kind\":\"IssuancePolicy\",\"metadata\":{\"name\":"
               "\"labelled\",\"uid\":\"uid-labelled\",\"generation\":1},\"spec\":{\"selector\":"
               "{\"namespaceSelector\":{\"matchLabels\":{\"certs\":\"yes\"}}},\"subject\":{"
               "\"commonName\":{\"rule\":\"Optional\"}},\"sans\":{\"dnsNames\":{\"rule\":"
               "\"Optional\"}}}}"));
    ctl_reconcile_policy(c, "labelled");
    drain(c);
    api_reset_calls();
    return c;
}

/* The request team-a/req under labelled reconciled once: what comes next, and the status
 * write's text (NULL when nothing was written; free it). */
static char *run_labelled(struct controller *c, enum ctl_next_kind want_next)
{
    feed_cr(c, cr_json("Issuer", "ca", "labelled", csr_ok, PRE_NONE, 10));
    assert_int_equal(ctl_reconcile_cr(c, NS "/req").kind, want_next);
    cJSON *patch = api_last_body("PATCH", "/certificaterequests/req/status");
    char *text = patch != NULL ? cJSON_PrintUnformatted(patch) : NULL;
    cJSON_Delete(patch);
    return text;
}

static void assert_has(const char *text, const char *want)
{
    if (text == NULL || strstr(text, want) == NULL)
        fail_msg("%s lacks %s", text != NULL ? text : "(nothing)", want);
}

/* The cache answers, a GET answers what it lacks: 404 is the only "not known". */
static void test_namespace_selector_uses_the_namespace_cache(void **state)
{
    (void)state;
    struct controller *c = labelled_controller();
    assert_true(controller_synced(c)); /* no watch of Namespaces started: nothing to wait for */
    char *text = run_labelled(c, CTL_NEXT_FORGET);
    assert_has(text, "namespace \\\"" NS "\\\" is not known to Ember (no Namespace object)");
    free(text);
    assert_int_equal(api_count("GET", "/api/v1/namespaces/" NS), 1); /* 404: not known */
    ctl_free(c);

    /* The watch has brought it: no GET. */
    c = labelled_controller();
    cJSON *ns = parse(NS_LABELLED);
    struct err e = {0};
    assert_int_equal(nslabels_put(c->ns, ns, &e), 0);
    cJSON_Delete(ns);
    text = run_labelled(c, CTL_NEXT_FORGET);
    assert_has(text, "\"reason\":\"Issued\"");
    free(text);
    assert_int_equal(api_count("GET", "/api/v1/namespaces/" NS), 0);
    ctl_free(c);

    /* The watch lags (a Namespace created with the request): the GET decides, issued. Before
     * the watch of Namespaces has listed, the answer is not kept. */
    c = labelled_controller();
    api.ns_get_code = 200;
    api.ns_body = NS_LABELLED;
    text = run_labelled(c, CTL_NEXT_FORGET);
    assert_has(text, "\"reason\":\"Issued\"");
    free(text);
    assert_int_equal(api_count("GET", "/api/v1/namespaces/" NS), 1);
    assert_int_equal(nslabels_count(c->ns), 0);
    /* Once it has, the answer is kept (its events keep it current): one GET for two asks. */
    c->ns_synced = true;
    api_reset_calls();
    struct strv l = {0};
    assert_int_equal(controller_namespace_labels(c, NS, &l, &e), PIPELINE_NS_KNOWN);
    assert_int_equal(controller_namespace_labels(c, NS, &l, &e), PIPELINE_NS_KNOWN);
    assert_int_equal(api_count("GET", "/api/v1/namespaces/" NS), 1);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0], "certs=yes");
    strv_free(&l);
    /* A name no Namespace can have is not asked for (nor put into a path). */
    assert_int_equal(controller_namespace_labels(c, "../secrets", &l, &e), PIPELINE_NS_NOT_FOUND);
    assert_int_equal(api_count("GET", "secrets"), 0);
    ctl_free(c);
}

/* GET forbidden and the cache lacking the Namespace: the request waits (no status write, a
 * NamespaceUnavailable Event), is not asked about again at once, and is issued once the watch
 * brings the Namespace. */
static void test_namespace_unreadable_waits(void **state)
{
    (void)state;
    struct controller *c = labelled_controller();
    api.ns_get_code = 403;
    char *text = run_labelled(c, CTL_NEXT_AFTER);
    assert_null(text);
    char reasons[256];
    api_event_reasons(reasons, sizeof(reasons));
    assert_string_equal(reasons, "NamespaceUnavailable");
    cJSON *ev = api_last_body("POST", "/events");
    assert_string_equal(cJSON_GetObjectItem(ev, "message")->valuestring,
                        "policy \"labelled\": namespace \"" NS "\": its labels could not be read "
                        "(403 Forbidden on GET namespaces/" NS "); the request waits");
    cJSON_Delete(ev);
    assert_int_equal(api_count("GET", "/api/v1/namespaces/" NS), 1);
    /* Asked again at once: the failure is remembered, no second GET. */
    struct strv l = {0};
    struct err e = {0};
    assert_int_equal(controller_namespace_labels(c, NS, &l, &e), PIPELINE_NS_UNAVAILABLE);
    assert_string_equal(e.msg, "403 Forbidden on GET namespaces/" NS);
    /* Nor for another Namespace: the reason says which GET failed, and when. */
    assert_int_equal(controller_namespace_labels(c, "team-q", &l, &e), PIPELINE_NS_UNAVAILABLE);
    assert_string_equal(e.msg, "403 Forbidden on GET namespaces/" NS
                               ", moments ago; not asked again for 2 s");
    assert_int_equal(api_count("GET", "/api/v1/namespaces/"), 1);
    /* The watch brings it: issued. */
    cJSON *ns = parse(NS_LABELLED);
    assert_int_equal(nslabels_put(c->ns, ns, &e), 0);
    cJSON_Delete(ns);
    api_reset_calls();
    assert_int_equal(ctl_reconcile_cr(c, NS "/req").kind, CTL_NEXT_FORGET);
    cJSON *patch = api_last_body("PATCH", "/certificaterequests/req/status");
    text = cJSON_PrintUnformatted(patch);
    cJSON_Delete(patch);
    assert_has(text, "\"reason\":\"Issued\"");
    free(text);
    ctl_free(c);
}

/* A GET's answer never overrides the watch: not kept after a put or remove since the GET
 * began, never over an entry; and dropped by a list that does not confirm it. */
static void test_namespace_get_lets_the_watch_win(void **state)
{
    (void)state;
    struct nslabels *t = nslabels_new();
    cJSON *got = parse(NS_LABELLED);
    cJSON *newer = parse("{\"metadata\":{\"name\":\"" NS "\",\"labels\":{\"certs\":\"no\"}}}");
    cJSON *other = parse("{\"metadata\":{\"name\":\"team-z\"}}");
    struct err e = {0};
    struct strv l = {0};
    /* The watch deleted the Namespace while the GET was under way: not brought back. */
    unsigned long seq = nslabels_seq(t);
    nslabels_remove(t, NS);
    assert_int_equal(nslabels_offer(t, got, NS, true, seq, &l, &e), 0);
    assert_int_equal(l.n, 1); /* the caller still gets what the GET read */
    strv_free(&l);
    assert_false(nslabels_get(t, NS, &l));
    /* The watch put a newer state meanwhile: kept, not the GET's. */
    seq = nslabels_seq(t);
    assert_int_equal(nslabels_put(t, newer, &e), 0);
    assert_int_equal(nslabels_offer(t, got, NS, true, seq, &l, &e), 0);
    strv_free(&l);
    assert_true(nslabels_get(t, NS, &l));
    assert_string_equal(l.v[0], "certs=no");
    strv_free(&l);
    /* An entry is never overwritten, even with no change since seq. */
    seq = nslabels_seq(t);
    assert_int_equal(nslabels_offer(t, got, NS, true, seq, &l, &e), 0);
    strv_free(&l);
    assert_true(nslabels_get(t, NS, &l));
    assert_string_equal(l.v[0], "certs=no");
    strv_free(&l);
    /* A name that is not the one asked for is refused. */
    assert_int_equal(nslabels_offer(t, other, NS, true, seq, &l, &e), -1);
    assert_int_equal(l.n, 0);
    /* Kept into a gap; a complete list drops it unless it confirmed it. */
    nslabels_remove(t, NS);
    seq = nslabels_seq(t);
    assert_int_equal(nslabels_offer(t, got, NS, true, seq, &l, &e), 0);
    strv_free(&l);
    assert_int_equal(nslabels_offer(t, other, "team-z", true, seq, &l, &e), 0);
    assert_int_equal(nslabels_count(t), 2);
    assert_int_equal(nslabels_put(t, newer, &e), 0); /* the list confirms team-a */
    assert_int_equal(nslabels_drop_provisional(t), 1);
    assert_true(nslabels_get(t, NS, &l));
    strv_free(&l);
    assert_false(nslabels_get(t, "team-z", &l));
    cJSON_Delete(got);
    cJSON_Delete(newer);
    cJSON_Delete(other);
    nslabels_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_cr_state_machine, test_teardown),
        cmocka_unit_test_teardown(test_cr_written_object_is_cached, test_teardown),
        cmocka_unit_test_teardown(test_cr_cache_keeps_what_the_reconciler_needs, test_teardown),
        cmocka_unit_test_teardown(test_cr_waits_for_an_unchecked_issuer, test_teardown),
        cmocka_unit_test_teardown(test_process_applies_next_and_followers_write_nothing,
                                  test_teardown),
        cmocka_unit_test_teardown(test_issuer_ready_echo_and_recheck, test_teardown),
        cmocka_unit_test_teardown(test_issuer_not_ready_and_invalid, test_teardown),
        cmocka_unit_test_teardown(test_policy_ignores_its_own_echo, test_teardown),
        cmocka_unit_test_teardown(test_policy_invalid_and_deleted, test_teardown),
        cmocka_unit_test_teardown(test_namespace_selector_uses_the_namespace_cache, test_teardown),
        cmocka_unit_test_teardown(test_namespace_unreadable_waits, test_teardown),
        cmocka_unit_test_teardown(test_namespace_get_lets_the_watch_win, test_teardown),
        cmocka_unit_test_teardown(test_events_aggregate, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
