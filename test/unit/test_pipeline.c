/* test_pipeline.c -- the CertificateRequest decision: scope, approval, denial, signing, failures,
 * as design.md §2 and contract.md §1.3, §3.1, §7 describe it. A real CA (root + intermediate)
 * and real CSRs are made in-process; a fake signer row drives the failure classes. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "base/b64.h"
#include "base/mem.h"
#include "base/timefmt.h"
#include "decide/cr.h"
#include "decide/pipeline.h"
#include "decide/policy.h"
#include "issuers/issuer.h"
#include "signers/localca.h"
#include "x509/csr.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS "team-a"
#define HOUR 3600LL

static time_t NOW;

/* ---- in-process PKI: a root, an intermediate CA (the signer), CSRs ---- */

static EVP_PKEY *root_key, *int_key;
static X509 *root_cert, *int_cert;
static char *int_pem, *int_key_pem, *root_pem;

#include "testpki.h"

/* A CSR with a subject CN, DNS SANs and optional extra extensions (conf text or NULL), as
 * base64 of PEM (spec.request). */
static char *make_csr_b64(const char *curve, const char *cn, const char *sans, const char *ku,
                          const char *bc)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
    assert_non_null(k);
    char *pem = testpki_csr_pem(k, cn, sans, ku, bc);
    char *b64 = testpki_b64(pem);
    free(pem);
    EVP_PKEY_free(k);
    return b64;
}

/* ---- a fake signer row whose sign fails as the test says ---- */

static struct fake_state {
    enum err_kind fail; /* ERR_NONE: sign "succeeds" with a fixed chain */
    int calls;
    struct sign_params last; /* what the last sign call was given */
} fake;

static int fake_sign(void *ctx, const struct csr *csr, const struct sign_params *p,
                     struct sign_result *out, struct err *err)
{
    (void)csr;
    struct fake_state *f = ctx;
    f->calls++;
    f->last = *p;
    if (f->fail != ERR_NONE) {
        err_set(err, f->fail, "fake backend said %s", err_kind_name(f->fail));
        return -1;
    }
    out->chain_pem = xstrdup(int_pem);
    out->ca_pem = xstrdup(root_pem);
    return 0;
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

/* ---- issuer and policy tables, lookups ---- */

static struct issuer *issuers[8];
static size_t n_issuers;
static int issuer_lookups;
static char last_lookup[256];

static struct {
    const char *name;
    struct policy *p;
    const char *invalid;
} policies[8];
static size_t n_policies;

static struct issuer *t_find_issuer(void *ud, const char *kind, const char *ns, const char *name)
{
    (void)ud;
    issuer_lookups++;
    snprintf(last_lookup, sizeof(last_lookup), "%s|%s|%s", kind, ns, name);
    for (size_t i = 0; i < n_issuers; i++) {
        struct issuer *is = issuers[i];
        if (strcmp(is->kind, kind) == 0 && strcmp(is->namespace, ns) == 0 &&
            strcmp(is->name, name) == 0)
            return issuer_ref(is);
    }
    return NULL;
}

static int t_find_policy(void *ud, const char *name, const struct policy **p,
                         const char **invalid_msg)
{
    (void)ud;
    for (size_t i = 0; i < n_policies; i++) {
        if (strcmp(policies[i].name, name) != 0)
            continue;
        if (policies[i].p == NULL) {
            *invalid_msg = policies[i].invalid;
            return -1;
        }
        *p = policies[i].p;
        return 1;
    }
    return 0;
}

static struct issuer *add_issuer(const char *json)
{
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    struct err e = {0};
    struct issuer *is = issuer_from_json(o, &e);
    cJSON_Delete(o);
    if (is == NULL)
        fail_msg("issuer_from_json: %s", e.msg);
    issuers[n_issuers++] = is;
    return is;
}

static void set_ca_signer(struct issuer *is)
{
    struct err e = {0};
    struct localca *ca = localca_load(int_pem, strlen(int_pem), int_key_pem, strlen(int_key_pem),
                                      root_pem, strlen(root_pem), NOW, &e);
    if (ca == NULL)
        fail_msg("localca_load: %s", e.msg);
    issuer_set_signer(is, localca_signer(ca));
}

static void add_policy(const char *name, const char *json)
{
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    struct err e = {0};
    struct policy *p = policy_from_json(o, &e);
    cJSON_Delete(o);
    if (p == NULL)
        fail_msg("policy_from_json %s: %s", name, e.msg);
    policies[n_policies].name = name;
    policies[n_policies++].p = p;
}

#define POLICY_JSON(name, dns_allowed)                                                             \
    "{\"apiVersion\":\"ember.issuer.dev/v1alpha1\",\"kind\":\"IssuancePolicy\","                   \
    "\"metadata\":{\"name\":\"" name "\"},\"spec\":{\"validity\":{\"max\":\"24h\","                \
    "\"default\":\"1h\"},\"keyAlgorithms\":[\"EC_P256\"],"                                         \
    "\"subject\":{\"commonName\":{\"rule\":\"Optional\"}},"                                        \
    "\"sans\":{\"dnsNames\":{\"rule\":\"Optional\",\"allowed\":[\"" dns_allowed "\"],"             \
    "\"max\":5}}}}"

/* "web" with spec.selector.requesters: team-a's service accounts and the group "releasers". */
#define TEAM_POLICY_JSON                                                                           \
    "{\"apiVersion\":\"ember.issuer.dev/v1alpha1\",\"kind\":\"IssuancePolicy\","                   \
    "\"metadata\":{\"name\":\"team-a\"},\"spec\":{\"selector\":{\"requesters\":{"                  \
    "\"serviceAccounts\":[\"team-a/*\"],\"groups\":[\"releasers\"]}},"                             \
    "\"subject\":{\"commonName\":{\"rule\":\"Optional\"}},"                                        \
    "\"sans\":{\"dnsNames\":{\"rule\":\"Optional\",\"allowed\":[\"[a-z0-9.-]+\\\\.example\\\\."    \
    "com\"]}}}}"

/* CA requests, with spec.ca.maxPathLen 2. */
#define CA_POLICY_JSON                                                                             \
    "{\"apiVersion\":\"ember.issuer.dev/v1alpha1\",\"kind\":\"IssuancePolicy\","                   \
    "\"metadata\":{\"name\":\"ca-pl\"},\"spec\":{\"isCA\":true,\"ca\":{\"maxPathLen\":2},"         \
    "\"subject\":{\"commonName\":{\"rule\":\"Optional\"}},"                                        \
    "\"sans\":{\"dnsNames\":{\"rule\":\"Optional\"}}}}"

/* Issue 14 section 4: "labelled" selects namespaces labelled certs=yes. */
#define LABELLED_POLICY_JSON                                                                       \
    "{\"apiVersion\":\"ember.issuer.dev/v1alpha1\",\"kind\":\"IssuancePolicy\","                   \
    "\"metadata\":{\"name\":\"labelled\"},\"spec\":{\"selector\":{\"namespaceSelector\":{"         \
    "\"matchLabels\":{\"certs\":\"yes\"}}},\"subject\":{\"commonName\":{\"rule\":\"Optional\"}},"  \
    "\"sans\":{\"dnsNames\":{\"rule\":\"Optional\"}}}}"

static char *csr_ok;    /* P-256, CN + DNS a.example.com, b.example.com */
static char *csr_evil;  /* P-384 (not allowed by "web") with DNS evil.com */
static char *csr_ku;    /* P-256 with a keyUsage that does not match the default usages */
static char *csr_other; /* P-256, DNS other.example.org: only "other" allows it */

static struct issuer *is_ca, *is_cluster, *is_fake, *is_notready;

static int group_setup(void **state)
{
    (void)state;
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

    is_ca = add_issuer("{\"apiVersion\":\"ember.issuer.dev/v1alpha1\",\"kind\":\"Issuer\","
                       "\"metadata\":{\"name\":\"ca\",\"namespace\":\"" NS "\"},"
                       "\"spec\":{\"defaultPolicy\":\"web\",\"ca\":{\"secretName\":\"s\"}}}");
    set_ca_signer(is_ca);
    is_cluster = add_issuer("{\"apiVersion\":\"ember.issuer.dev/v1alpha1\",\"kind\":"
                            "\"ClusterIssuer\",\"metadata\":{\"name\":\"cluster-ca\"},"
                            "\"spec\":{\"ca\":{\"secretName\":\"s\"}}}");
    set_ca_signer(is_cluster);
    is_fake = add_issuer("{\"apiVersion\":\"ember.issuer.dev/v1alpha1\",\"kind\":\"Issuer\","
                         "\"metadata\":{\"name\":\"fake\",\"namespace\":\"" NS "\"},"
                         "\"spec\":{\"defaultPolicy\":\"web\",\"ca\":{\"secretName\":\"s\"}}}");
    issuer_set_signer(is_fake, (struct signer){&fake_ops, &fake});
    is_notready = add_issuer("{\"apiVersion\":\"ember.issuer.dev/v1alpha1\",\"kind\":\"Issuer\","
                             "\"metadata\":{\"name\":\"notready\",\"namespace\":\"" NS "\"},"
                             "\"spec\":{\"defaultPolicy\":\"web\",\"ca\":{\"secretName\":\"s\"}}}");
    issuer_set_not_ready(is_notready, "Pending", "Secret team-a/s not found");

    add_policy("web", POLICY_JSON("web", "[a-z0-9.-]+\\\\.example\\\\.com"));
    add_policy("other", POLICY_JSON("other", "[a-z0-9.-]+\\\\.example\\\\.org"));
    add_policy("team-a", TEAM_POLICY_JSON);
    add_policy("ca-pl", CA_POLICY_JSON);
    add_policy("labelled", LABELLED_POLICY_JSON);
    policies[n_policies].name = "broken";
    policies[n_policies++].invalid = "spec.validity.max: invalid duration \"1x\"";

    csr_ok =
        make_csr_b64("P-256", "a.example.com", "DNS:a.example.com,DNS:b.example.com", NULL, NULL);
    csr_evil = make_csr_b64("P-384", NULL, "DNS:evil.com,DNS:ok.example.com", NULL, NULL);
    csr_ku = make_csr_b64("P-256", NULL, "DNS:a.example.com", "critical,keyCertSign", NULL);
    csr_other = make_csr_b64("P-256", NULL, "DNS:x.example.org", NULL, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < n_issuers; i++)
        issuer_unref(issuers[i]);
    for (size_t i = 0; i < n_policies; i++)
        policy_free(policies[i].p);
    X509_free(root_cert);
    X509_free(int_cert);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(int_key);
    free(root_pem);
    free(int_pem);
    OPENSSL_cleanse(int_key_pem, strlen(int_key_pem));
    free(int_key_pem);
    free(csr_ok);
    free(csr_evil);
    free(csr_ku);
    free(csr_other);
    return 0;
}

static int test_setup(void **state)
{
    (void)state;
    fake.fail = ERR_NONE;
    fake.calls = 0;
    issuer_lookups = 0;
    last_lookup[0] = '\0';
    return 0;
}

/* ---- environment and request builders ---- */

static const char *const default_annotations[] = {PIPELINE_POLICY_ANNOTATION};

static struct pipeline_env env_default(void)
{
    return (struct pipeline_env){
        .group = ISSUER_GROUP,
        .policy_annotations = default_annotations,
        .n_policy_annotations = 1,
        .approve = true,
        .synced = true,
        .now = NOW,
        .max_retry_s = HOUR,
        .find_issuer = t_find_issuer,
        .find_policy = t_find_policy,
        .ud = NULL,
    };
}

/* A CertificateRequest object; policy NULL = no annotation. */
static cJSON *cr_obj(const char *group, const char *kind, const char *issuer, const char *policy,
                     const char *request)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "cert-manager.io/v1");
    cJSON_AddStringToObject(o, "kind", "CertificateRequest");
    cJSON *md = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(md, "name", "req-1");
    cJSON_AddStringToObject(md, "namespace", NS);
    char ts[TIMEFMT_LEN];
    timefmt_rfc3339(NOW - 10, ts);
    cJSON_AddStringToObject(md, "creationTimestamp", ts);
    cJSON *ann = cJSON_AddObjectToObject(md, "annotations");
    if (policy != NULL)
        cJSON_AddStringToObject(ann, PIPELINE_POLICY_ANNOTATION, policy);
    cJSON *spec = cJSON_AddObjectToObject(o, "spec");
    cJSON_AddStringToObject(spec, "request", request);
    cJSON *ref = cJSON_AddObjectToObject(spec, "issuerRef");
    if (group != NULL)
        cJSON_AddStringToObject(ref, "group", group);
    if (kind != NULL)
        cJSON_AddStringToObject(ref, "kind", kind);
    cJSON_AddStringToObject(ref, "name", issuer);
    return o;
}

static void obj_approve_by_cert_manager(cJSON *o)
{
    testpki_add_condition(o, "Approved", "True", "cert-manager.io",
                          "Certificate request has been approved by cert-manager.io");
}

/* Reads o into cr and deletes o. */
static void load(cJSON *o, struct cr *cr)
{
    struct err e = {0};
    int rc = cr_from_json(o, cr, &e);
    cJSON_Delete(o);
    if (rc != 0)
        fail_msg("cr_from_json: %s", e.msg);
}

/* The status as JSON text, to check that nothing changed. */
static char *status_text(const struct cr *cr)
{
    cJSON *s = cr_status_to_json(cr);
    char *t = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    return t;
}

static const struct cr_condition *cond(const struct cr *cr, const char *type)
{
    const struct cr_condition *c = cr_condition(cr, type);
    if (c == NULL)
        fail_msg("no %s condition", type);
    return c;
}

static void assert_ready(const struct cr *cr, const char *status, const char *reason)
{
    const struct cr_condition *r = cond(cr, "Ready");
    assert_string_equal(r->status, status);
    assert_string_equal(r->reason, reason);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (hay == NULL || strstr(hay, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", hay ? hay : "(null)", needle);
}

/* Ready=False Failed/Denied always comes with failureTime (contract §1.2, §7.19). */
static void assert_failure_time_now(const struct cr *cr)
{
    assert_non_null(cr->failure_time);
    time_t t = 0;
    assert_int_equal(timefmt_parse_rfc3339(cr->failure_time, &t), 0);
    assert_true(t == NOW);
}

static bool has_event(const struct pipeline_result *res, const char *type, const char *reason)
{
    for (size_t i = 0; i < res->n_events; i++)
        if (strcmp(res->events[i].type, type) == 0 && strcmp(res->events[i].reason, reason) == 0)
            return true;
    return false;
}

/* Decodes base64 PEM certificates into a stack. */
static STACK_OF(X509) * decode_certs(const char *b64)
{
    assert_non_null(b64);
    unsigned char *pem = NULL;
    size_t len = 0;
    struct err e = {0};
    assert_int_equal(b64_decode(b64, strlen(b64), 1 << 20, &pem, &len, &e), 0);
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        sk_X509_push(sk, x);
    ERR_clear_error();
    BIO_free(b);
    free(pem);
    return sk;
}

static EVP_PKEY *csr_key(const char *b64)
{
    unsigned char *pem = NULL;
    size_t len = 0;
    struct err e = {0};
    assert_int_equal(b64_decode(b64, strlen(b64), 1 << 20, &pem, &len, &e), 0);
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509_REQ *r = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
    assert_non_null(r);
    EVP_PKEY *k = X509_REQ_get_pubkey(r);
    X509_REQ_free(r);
    BIO_free(b);
    free(pem);
    return k;
}

/* Runs one step on a request whose status must not change, and checks it did not. */
static void run_unchanged(const struct pipeline_env *env, struct cr *cr,
                          struct pipeline_result *res)
{
    char *before = status_text(cr);
    pipeline_run(env, cr, res);
    char *after = status_text(cr);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* ---- scope (contract §7 items 1-3) ---- */

static void test_other_groups_are_ignored(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    const char *groups[] = {NULL, "", "cert-manager.io", "example.com", "EMBER.ISSUER.DEV"};
    for (size_t i = 0; i < sizeof(groups) / sizeof(*groups); i++) {
        struct cr cr;
        load(cr_obj(groups[i], "Issuer", "ca", "web", csr_ok), &cr);
        struct pipeline_result res;
        run_unchanged(&env, &cr, &res);
        assert_int_equal(res.action, PIPELINE_IGNORE);
        assert_int_equal(res.n_events, 0);
        assert_int_equal(cr.n_conds, 0);
        cr_free(&cr);
    }
}

static void test_other_groups_ignored_even_when_denied(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    cJSON *o = cr_obj("cert-manager.io", "Issuer", "ca", "web", csr_ok);
    testpki_add_condition(o, "Denied", "True", "someone", "no");
    struct cr cr;
    load(o, &cr);
    struct pipeline_result res;
    run_unchanged(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_IGNORE);
    assert_null(cr.failure_time);
    cr_free(&cr);
}

static void test_unknown_kind_in_our_group_is_ignored(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    struct cr cr;
    load(cr_obj(ISSUER_GROUP, "VaultIssuer", "ca", "web", csr_ok), &cr);
    struct pipeline_result res;
    run_unchanged(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_IGNORE);
    assert_int_equal(res.n_events, 0);
    cr_free(&cr);
}

static void test_empty_kind_means_issuer_in_request_namespace(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    struct cr cr;
    load(cr_obj(ISSUER_GROUP, "", "ca", "web", csr_ok), &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WRITE);
    assert_int_equal(res.state, PIPELINE_STATE_ISSUED);
    assert_string_equal(last_lookup, "Issuer|" NS "|ca");
    cr_free(&cr);
}

static void test_cluster_issuer_resolves_by_name_only(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    struct cr cr;
    load(cr_obj(ISSUER_GROUP, "ClusterIssuer", "cluster-ca", "web", csr_ok), &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_ISSUED);
    assert_string_equal(last_lookup, "ClusterIssuer||cluster-ca");
    cr_free(&cr);
}

/* ---- already final (§7.11) ---- */

static void test_final_states_are_noop(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    const struct {
        const char *status, *reason;
        bool approved, denied;
    } cases[] = {
        {"True", "Issued", true, false},
        {"False", "Failed", true, false},
        {"False", "Denied", false, true},
        {"False", "Failed", false, false}, /* Failed without any approval */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        cJSON *o = cr_obj(ISSUER_GROUP, "Issuer", "fake", "web", csr_ok);
        if (cases[i].approved)
            obj_approve_by_cert_manager(o);
        if (cases[i].denied)
            testpki_add_condition(o, "Denied", "True", "someone", "no");
        testpki_add_condition(o, "Ready", cases[i].status, cases[i].reason, "done");
        struct cr cr;
        load(o, &cr);
        struct pipeline_result res;
        run_unchanged(&env, &cr, &res);
        assert_int_equal(res.action, PIPELINE_NOOP);
        assert_false(res.requeue);
        assert_int_equal(res.n_events, 0);
        assert_int_equal(fake.calls, 0);
        cr_free(&cr);
    }
}

/* InvalidRequest=True is terminal too (contract §1.4): never signed, never written. */
static void test_invalid_request_condition_is_final(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    cJSON *o = cr_obj(ISSUER_GROUP, "Issuer", "fake", "web", csr_ok);
    obj_approve_by_cert_manager(o);
    testpki_add_condition(o, "InvalidRequest", "True", "someone", "bad");
    struct cr cr;
    load(o, &cr);
    struct pipeline_result res;
    run_unchanged(&env, &cr, &res);
    assert_int_not_equal(res.action, PIPELINE_WRITE);
    assert_int_equal(fake.calls, 0);
    cr_free(&cr);
}

/* ---- Denied by someone else (§2 step 2, §7.10) ---- */

static void test_denied_by_other_becomes_ready_denied_with_failure_time(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    cJSON *o = cr_obj(ISSUER_GROUP, "Issuer", "fake", "web", csr_ok);
    testpki_add_condition(o, "Denied", "True", "policy.cert-manager.io", "nope");
    struct cr cr;
    load(o, &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WRITE);
    assert_int_equal(res.state, PIPELINE_STATE_DENIED);
    assert_ready(&cr, "False", "Denied");
    assert_failure_time_now(&cr);
    assert_int_equal(fake.calls, 0);
    assert_null(cr.certificate);
    /* the Denied condition is someone else's: untouched */
    const struct cr_condition *d = cond(&cr, "Denied");
    assert_string_equal(d->reason, "policy.cert-manager.io");
    assert_string_equal(d->message, "nope");
    assert_string_equal(d->last_transition_time, "2024-01-01T00:00:00Z");
    assert_null(cr_condition(&cr, "Approved"));
    /* next step: final, nothing more */
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_NOOP);
    cr_free(&cr);
}

/* design.md §2.8 and contract §7.21: every state change emits one event (Warning for errors). */
static void test_denied_by_other_emits_one_event(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    cJSON *o = cr_obj(ISSUER_GROUP, "Issuer", "fake", "web", csr_ok);
    testpki_add_condition(o, "Denied", "True", "policy.cert-manager.io", "nope");
    struct cr cr;
    load(o, &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WRITE);
    assert_int_equal(res.n_events, 1);
    assert_string_equal(res.events[0].type, "Warning");
    cr_free(&cr);
}

/* ---- approval (§2 step 3, §7 items 4-6) ---- */

static void test_approve_and_issue_in_one_step(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    struct cr cr;
    load(cr_obj(ISSUER_GROUP, "Issuer", "ca", "web", csr_ok), &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WRITE);
    assert_int_equal(res.state, PIPELINE_STATE_ISSUED);
    assert_false(res.requeue);
    const struct cr_condition *a = cond(&cr, "Approved");
    assert_string_equal(a->status, "True");
    assert_string_equal(a->reason, "ember.issuer.dev");
    assert_contains(a->message, "\"web\"");
    assert_null(cr_condition(&cr, "Denied"));
    assert_ready(&cr, "True", "Issued");
    assert_null(cr.failure_time);
    assert_true(has_event(&res, "Normal", "Issued"));

    /* certificate: leaf then the intermediate, no self-signed root; ca: the root */
    STACK_OF(X509) *chain = decode_certs(cr.certificate);
    assert_int_equal(sk_X509_num(chain), 2);
    X509 *leaf = sk_X509_value(chain, 0);
    assert_int_equal(X509_check_ca(leaf), 0);
    EVP_PKEY *want = csr_key(csr_ok);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(leaf), want), 1);
    EVP_PKEY_free(want);
    assert_int_equal(X509_cmp(sk_X509_value(chain, 1), int_cert), 0);
    STACK_OF(X509) *ca = decode_certs(cr.ca);
    assert_int_equal(sk_X509_num(ca), 1);
    assert_int_equal(X509_cmp(sk_X509_value(ca, 0), root_cert), 0);

    /* SANs exactly as requested (§7.16) */
    GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    assert_non_null(gens);
    assert_int_equal(sk_GENERAL_NAME_num(gens), 2);
    const char *want_dns[] = {"a.example.com", "b.example.com"};
    for (int i = 0; i < 2; i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        assert_int_equal(g->type, GEN_DNS);
        assert_string_equal((const char *)ASN1_STRING_get0_data(g->d.dNSName), want_dns[i]);
    }
    GENERAL_NAMES_free(gens);
    /* default validity of the policy: 1h */
    int days = 0, secs = 0;
    assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(leaf)), 1);
    time_t now_real = time(NULL);
    long long left = (long long)days * 86400 + secs;
    assert_true(llabs(left - (HOUR - (long long)(now_real - NOW))) <= 5);
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(ca, X509_free);

    /* next step: final */
    char *before = status_text(&cr);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_NOOP);
    char *after = status_text(&cr);
    assert_string_equal(before, after);
    free(before);
    free(after);
    cr_free(&cr);
}

static void test_violations_are_denied_with_every_violation(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    struct cr cr;
    load(cr_obj(ISSUER_GROUP, "Issuer", "fake", "web", csr_evil), &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WRITE);
    assert_int_equal(res.state, PIPELINE_STATE_DENIED);
    assert_false(res.bad_request);
    assert_int_equal(fake.calls, 0);
    const struct cr_condition *d = cond(&cr, "Denied");
    assert_string_equal(d->status, "True");
    assert_string_equal(d->reason, "ember.issuer.dev");
    assert_contains(d->message, "\"web\"");
    assert_contains(d->message, "evil.com");
    assert_contains(d->message, "EC_P384");
    assert_null(strstr(d->message, "ok.example.com")); /* an allowed value is not a violation */
    assert_null(cr_condition(&cr, "Approved"));
    assert_ready(&cr, "False", "Denied");
    assert_failure_time_now(&cr);
    assert_null(cr.certificate);
    assert_true(has_event(&res, "Warning", "Denied"));
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_NOOP);
    cr_free(&cr);
}

static void test_unknown_policy_is_denied(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    struct cr cr;
    load(cr_obj(ISSUER_GROUP, "Issuer", "fake", "nosuch", csr_ok), &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_DENIED);
    const struct cr_condition *d = cond(&cr, "Denied");
    assert_contains(d->message, "nosuch");
    assert_contains(d->message, "does not exist");
    assert_ready(&cr, "False", "Denied");
    assert_failure_time_now(&cr);
    assert_int_equal(fake.calls, 0);
    cr_free(&cr);
}

static void test_no_annotation_uses_issuer_default_policy(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    struct cr cr;
    load(cr_obj(ISSUER_GROUP, "Issuer", "ca", NULL, csr_ok), &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_ISSUED);
    assert_contains(cond(&cr, "Approved")->message, "\"web\"");
    cr_free(&cr);

    /* the default policy is enforced too */
    load(cr_obj(ISSUER_GROUP, "Issuer", "ca", NULL, csr_other), &cr);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_DENIED);
    assert_contains(cond(&cr, "Denied")->message, "\"web\"");
    cr_free(&cr);
}

static void test_no_annotation_no_default_is_denied(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    struct cr cr;
    load(cr_obj(ISSUER_GROUP, "ClusterIssuer", "cluster-ca", NULL, csr_ok), &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WRITE);
    assert_int_equal(res.state, PIPELINE_STATE_DENIED);
    assert_contains(cond(&cr, "Denied")->message, "no policy");
    assert_ready(&cr, "False", "Denied");
    assert_failure_time_now(&cr);
    assert_null(cr.certificate);
    cr_free(&cr);
}

static void test_no_annotation_issuer_missing_waits(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    struct cr cr;
    load(cr_obj(ISSUER_GROUP, "Issuer", "not-yet", NULL, csr_ok), &cr);
    struct pipeline_result res;
    run_unchanged(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WAIT);
    assert_int_equal(cr.n_conds, 0);
    assert_null(cr.failure_time);
    cr_free(&cr);
}

static void test_not_synced_waits_and_never_denies(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    env.synced = false;
    const char *names[] = {"nosuch", "web", NULL};
    const char *reqs[] = {csr_ok, csr_evil, csr_ok};
    for (size_t i = 0; i < 3; i++) {
        struct cr cr;
        load(cr_obj(ISSUER_GROUP, "Issuer", i == 2 ? "ghost" : "fake", names[i], reqs[i]), &cr);
        struct pipeline_result res;
        run_unchanged(&env, &cr, &res);
        assert_int_equal(res.action, PIPELINE_WAIT);
        assert_int_not_equal(res.state, PIPELINE_STATE_DENIED);
        assert_int_equal(cr.n_conds, 0);
        assert_int_equal(fake.calls, 0);
        cr_free(&cr);
    }
}

static void test_invalid_policy_waits_with_event(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    struct cr cr;
    load(cr_obj(ISSUER_GROUP, "Issuer", "fake", "broken", csr_evil), &cr);
    struct pipeline_result res;
    run_unchanged(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WAIT);
    assert_int_equal(res.state, PIPELINE_STATE_WAITING);
    assert_int_equal(cr.n_conds, 0);
    assert_true(has_event(&res, "Warning", "PolicyNotReady"));
    assert_contains(res.events[0].message, "broken");
    assert_contains(res.events[0].message, "invalid duration");
    assert_int_equal(fake.calls, 0);
    cr_free(&cr);
}

static void test_approve_off_waits_for_approval(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    env.approve = false;
    struct cr cr;
    load(cr_obj(ISSUER_GROUP, "Issuer", "fake", "nosuch", csr_evil), &cr);
    struct pipeline_result res;
    run_unchanged(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WAIT);
    assert_int_equal(res.n_events, 1);
    assert_string_equal(res.events[0].type, "Normal");
    assert_string_equal(res.events[0].reason, "WaitingForApproval");
    assert_int_equal(cr.n_conds, 0);
    assert_int_equal(fake.calls, 0);
    cr_free(&cr);
}

static void test_approve_off_signs_what_others_approved(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    env.approve = false;
    cJSON *o = cr_obj(ISSUER_GROUP, "Issuer", "ca", "web", csr_ok);
    obj_approve_by_cert_manager(o);
    struct cr cr;
    load(o, &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_ISSUED);
    assert_ready(&cr, "True", "Issued");
    cr_free(&cr);
}

/* ---- signing-time policy check (§2 step 6) ---- */

static void test_approved_by_other_with_violation_fails(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    cJSON *o = cr_obj(ISSUER_GROUP, "Issuer", "fake", "web", csr_evil);
    obj_approve_by_cert_manager(o);
    struct cr cr;
    load(o, &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WRITE);
    assert_int_equal(res.state, PIPELINE_STATE_FAILED);
    assert_ready(&cr, "False", "Failed");
    assert_contains(cond(&cr, "Ready")->message, "evil.com");
    assert_failure_time_now(&cr);
    assert_null(cr_condition(&cr, "Denied"));
    assert_int_equal(fake.calls, 0);
    assert_null(cr.certificate);
    assert_true(res.n_events >= 1);
    assert_string_equal(res.events[res.n_events - 1].type, "Warning");
    cr_free(&cr);
}

static void test_policy_changed_after_our_approval_fails(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    struct cr cr;
    /* approved by us under "web"; the signer fails transiently, so it stays Pending */
    load(cr_obj(ISSUER_GROUP, "Issuer", "fake", "web", csr_ok), &cr);
    fake.fail = ERR_TRANSIENT;
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_PENDING);
    assert_contains(cond(&cr, "Approved")->message, "\"web\"");
    assert_int_equal(fake.calls, 1);
    /* the annotation is edited to name another policy; the signer is back */
    cJSON_ReplaceItemInObject(cr.annotations, PIPELINE_POLICY_ANNOTATION,
                              cJSON_CreateString("other"));
    fake.fail = ERR_NONE;
    env.now = NOW + 5;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WRITE);
    assert_int_equal(res.state, PIPELINE_STATE_FAILED);
    assert_ready(&cr, "False", "Failed");
    assert_contains(cond(&cr, "Ready")->message, "\"web\"");
    assert_contains(cond(&cr, "Ready")->message, "\"other\"");
    assert_non_null(cr.failure_time);
    assert_null(cr.certificate);
    assert_int_equal(fake.calls, 1); /* never signed under the other policy */
    cr_free(&cr);
}

/* ---- issuer problems (§2 step 5, §7.13, §7.14) ---- */

static void test_issuer_missing_after_approval_is_pending(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    cJSON *o = cr_obj(ISSUER_GROUP, "Issuer", "ghost", "web", csr_ok);
    obj_approve_by_cert_manager(o);
    struct cr cr;
    load(o, &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WRITE);
    assert_int_equal(res.state, PIPELINE_STATE_PENDING);
    assert_true(res.requeue);
    assert_ready(&cr, "False", "Pending");
    assert_contains(cond(&cr, "Ready")->message, "Waiting for it to be created");
    assert_null(cr.failure_time);
    assert_int_equal(res.n_events, 1);
    assert_string_equal(res.events[0].type, "Normal");
    cr_free(&cr);
}

static void test_issuer_not_ready_is_pending_with_its_reason(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    cJSON *o = cr_obj(ISSUER_GROUP, "Issuer", "notready", "web", csr_ok);
    obj_approve_by_cert_manager(o);
    struct cr cr;
    load(o, &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_PENDING);
    assert_true(res.requeue);
    assert_ready(&cr, "False", "Pending");
    assert_contains(cond(&cr, "Ready")->message, "Pending");
    assert_contains(cond(&cr, "Ready")->message, "Secret team-a/s not found");
    assert_null(cr.failure_time);
    cr_free(&cr);
}

static void test_same_pending_twice_is_not_rewritten(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    cJSON *o = cr_obj(ISSUER_GROUP, "Issuer", "notready", "web", csr_ok);
    obj_approve_by_cert_manager(o);
    struct cr cr;
    load(o, &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WRITE);
    env.now = NOW + 30;
    run_unchanged(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WAIT);
    assert_int_equal(res.state, PIPELINE_STATE_PENDING);
    assert_true(res.requeue);
    assert_int_equal(res.n_events, 0); /* no repeated identical event (§7.21) */
    cr_free(&cr);
}

/* ---- signer failures (§2 step 7, §7.17, §7.19) ---- */

static struct cr approved_for_fake(void)
{
    cJSON *o = cr_obj(ISSUER_GROUP, "Issuer", "fake", "web", csr_ok);
    obj_approve_by_cert_manager(o);
    struct cr cr;
    load(o, &cr);
    return cr;
}

static void test_transient_error_is_pending_and_retried(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    fake.fail = ERR_TRANSIENT;
    struct cr cr = approved_for_fake();
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(fake.calls, 1);
    assert_int_equal(res.action, PIPELINE_WRITE);
    assert_int_equal(res.state, PIPELINE_STATE_PENDING);
    assert_true(res.requeue);
    assert_true(res.retryable);
    assert_ready(&cr, "False", "Pending");
    assert_contains(cond(&cr, "Ready")->message, "will retry");
    assert_contains(cond(&cr, "Ready")->message, "fake backend said transient");
    assert_null(cr.failure_time);
    assert_int_equal(res.n_events, 1);
    assert_string_equal(res.events[0].type, "Warning");

    /* back: issued */
    fake.fail = ERR_NONE;
    env.now = NOW + 5;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_ISSUED);
    assert_ready(&cr, "True", "Issued");
    cr_free(&cr);
}

static void test_transient_error_past_max_retry_fails(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    env.max_retry_s = 60;
    env.now = NOW + 120; /* created at NOW - 10 */
    fake.fail = ERR_TRANSIENT;
    struct cr cr = approved_for_fake();
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WRITE);
    assert_int_equal(res.state, PIPELINE_STATE_FAILED);
    assert_false(res.requeue);
    assert_ready(&cr, "False", "Failed");
    assert_non_null(cr.failure_time);
    time_t t = 0;
    assert_int_equal(timefmt_parse_rfc3339(cr.failure_time, &t), 0);
    assert_true(t == NOW + 120);
    assert_contains(cond(&cr, "Ready")->message, "fake backend said transient");
    cr_free(&cr);

    /* just inside the window: still retried */
    env.now = NOW + 40;
    cr = approved_for_fake();
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_PENDING);
    cr_free(&cr);
}

static void test_permanent_error_fails_with_failure_time(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    fake.fail = ERR_PERMANENT;
    struct cr cr = approved_for_fake();
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WRITE);
    assert_int_equal(res.state, PIPELINE_STATE_FAILED);
    assert_false(res.requeue);
    assert_false(res.retryable);
    assert_ready(&cr, "False", "Failed");
    assert_contains(cond(&cr, "Ready")->message, "fake backend said permanent");
    assert_failure_time_now(&cr);
    assert_null(cr.certificate);
    assert_int_equal(res.n_events, 1);
    assert_string_equal(res.events[0].type, "Warning");
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_NOOP);
    assert_int_equal(fake.calls, 1);
    cr_free(&cr);
}

/* A CA request that asks for no pathLen is signed with the policy's ca.maxPathLen; one that asks
 * for its own, and a leaf, are signed without it. */
static void test_ca_max_path_len_given_to_the_signer(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    static const struct {
        const char *bc;
        bool is_ca, want;
    } cases[] = {
        {"critical,CA:TRUE", true, true},
        {"critical,CA:TRUE,pathlen:1", true, false},
        {NULL, false, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *csr = make_csr_b64("P-256", "team-ca", "DNS:ca.example.com", NULL, cases[i].bc);
        cJSON *o = cr_obj(ISSUER_GROUP, "Issuer", "fake", "ca-pl", csr);
        cJSON_AddBoolToObject(cJSON_GetObjectItem(o, "spec"), "isCA", cases[i].is_ca);
        struct cr cr;
        load(o, &cr);
        memset(&fake.last, 0, sizeof(fake.last));
        fake.last.path_len = -1;
        struct pipeline_result res;
        pipeline_run(&env, &cr, &res);
        assert_int_equal(res.state, PIPELINE_STATE_ISSUED);
        assert_int_equal(fake.last.is_ca, cases[i].is_ca);
        assert_int_equal(fake.last.has_path_len, cases[i].want);
        if (cases[i].want)
            assert_int_equal(fake.last.path_len, 2);
        cr_free(&cr);
        free(csr);
    }
}

static void test_issuer_not_ready_from_signer_waits(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    fake.fail = ERR_ISSUER_NOT_READY;
    struct cr cr = approved_for_fake();
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_PENDING);
    assert_true(res.requeue);
    assert_ready(&cr, "False", "Pending");
    assert_null(cr.failure_time);
    cr_free(&cr);

    /* an issuer problem is not the request's: it never fails it (§7.20) */
    env.max_retry_s = 1;
    env.now = NOW + 1000;
    cr = approved_for_fake();
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_PENDING);
    assert_null(cr.failure_time);
    cr_free(&cr);
}

/* ---- condition times and the approver's condition (§3.1 condition-time rule, §2.1) ---- */

static void test_last_transition_time_rule(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    fake.fail = ERR_TRANSIENT;
    struct cr cr = approved_for_fake();
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    char t0[TIMEFMT_LEN];
    timefmt_rfc3339(NOW, t0);
    assert_string_equal(cond(&cr, "Ready")->last_transition_time, t0);

    /* Pending -> Pending with another message: time kept */
    fake.fail = ERR_ISSUER_NOT_READY;
    env.now = NOW + 100;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WRITE);
    assert_contains(cond(&cr, "Ready")->message, "issuer-not-ready");
    assert_string_equal(cond(&cr, "Ready")->last_transition_time, t0);

    /* Pending -> Issued: status changes, time changes */
    fake.fail = ERR_NONE;
    env.now = NOW + 200;
    pipeline_run(&env, &cr, &res);
    assert_ready(&cr, "True", "Issued");
    char t2[TIMEFMT_LEN];
    timefmt_rfc3339(NOW + 200, t2);
    assert_string_equal(cond(&cr, "Ready")->last_transition_time, t2);
    cr_free(&cr);
}

static char *cond_text(const struct cr_condition *c)
{
    return xasprintf("%s|%s|%s|%s|%s", c->type, c->status, c->reason, c->message,
                     c->last_transition_time);
}

static void test_approved_condition_never_modified(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    struct cr cr;
    /* approved by us; pending on a transient error of the fake signer */
    load(cr_obj(ISSUER_GROUP, "Issuer", "fake", "web", csr_ok), &cr);
    fake.fail = ERR_TRANSIENT;
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_PENDING);
    char *approved = cond_text(cond(&cr, "Approved"));
    const enum err_kind steps[] = {ERR_TRANSIENT, ERR_ISSUER_NOT_READY, ERR_PERMANENT};
    for (size_t i = 0; i < 3; i++) {
        fake.fail = steps[i];
        env.now = NOW + 10 * (time_t)(i + 1);
        pipeline_run(&env, &cr, &res);
        char *now_text = cond_text(cond(&cr, "Approved"));
        assert_string_equal(approved, now_text);
        free(now_text);
    }
    assert_ready(&cr, "False", "Failed");
    free(approved);
    cr_free(&cr);

    /* someone else's approval is kept byte for byte through to Issued */
    cr = approved_for_fake();
    approved = cond_text(cond(&cr, "Approved"));
    fake.fail = ERR_TRANSIENT;
    pipeline_run(&env, &cr, &res);
    fake.fail = ERR_NONE;
    pipeline_run(&env, &cr, &res);
    assert_ready(&cr, "True", "Issued");
    char *after = cond_text(cond(&cr, "Approved"));
    assert_string_equal(approved, after);
    free(after);
    free(approved);
    cr_free(&cr);
}

/* ---- malformed requests (§2 step 7, last sentence) ---- */

static void test_bad_csr_denied_by_our_approver(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    char *not_csr = b64_encode("hello, not a CSR", 16);
    const char *reqs[] = {"!!!not-base64!!!", not_csr, csr_ku};
    for (size_t i = 0; i < 3; i++) {
        struct cr cr;
        load(cr_obj(ISSUER_GROUP, "Issuer", "fake", "web", reqs[i]), &cr);
        struct pipeline_result res;
        pipeline_run(&env, &cr, &res);
        assert_int_equal(res.action, PIPELINE_WRITE);
        assert_int_equal(res.state, PIPELINE_STATE_DENIED);
        assert_true(res.bad_request);
        assert_string_equal(cond(&cr, "Denied")->reason, "ember.issuer.dev");
        assert_contains(cond(&cr, "Denied")->message, "spec.request");
        assert_ready(&cr, "False", "Denied");
        assert_failure_time_now(&cr);
        assert_null(cr_condition(&cr, "Approved"));
        assert_int_equal(fake.calls, 0);
        cr_free(&cr);
    }
    free(not_csr);
}

static void test_bad_csr_approved_by_other_fails(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    char *not_csr = b64_encode("hello, not a CSR", 16);
    const char *reqs[] = {"!!!not-base64!!!", not_csr, csr_ku};
    for (size_t i = 0; i < 3; i++) {
        cJSON *o = cr_obj(ISSUER_GROUP, "Issuer", "fake", "web", reqs[i]);
        obj_approve_by_cert_manager(o);
        struct cr cr;
        load(o, &cr);
        struct pipeline_result res;
        pipeline_run(&env, &cr, &res);
        assert_int_equal(res.action, PIPELINE_WRITE);
        assert_int_equal(res.state, PIPELINE_STATE_FAILED);
        assert_true(res.bad_request);
        assert_ready(&cr, "False", "Failed");
        assert_contains(cond(&cr, "Ready")->message, "spec.request");
        assert_failure_time_now(&cr);
        assert_null(cr_condition(&cr, "Denied"));
        assert_int_equal(fake.calls, 0);
        cr_free(&cr);
    }
    free(not_csr);
}

static void test_spec_error_denied(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    cJSON *o = cr_obj(ISSUER_GROUP, "Issuer", "fake", "web", csr_ok);
    cJSON_AddStringToObject(cJSON_GetObjectItem(o, "spec"), "duration", "forever");
    struct cr cr;
    load(o, &cr);
    assert_non_null(cr.spec_error);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_DENIED);
    assert_true(res.bad_request);
    assert_contains(cond(&cr, "Denied")->message, "spec.duration");
    assert_failure_time_now(&cr);
    cr_free(&cr);
}

/* ---- spec.selector.requesters: spec.username / spec.groups, or the signing API's caller ---- */

/* Sets spec.username (NULL: none) and spec.groups (NULL-terminated) as cert-manager's webhook. */
static cJSON *with_requester(cJSON *o, const char *user, ...)
{
    cJSON *spec = cJSON_GetObjectItem(o, "spec");
    if (user != NULL)
        cJSON_AddStringToObject(spec, "username", user);
    cJSON *groups = cJSON_AddArrayToObject(spec, "groups");
    va_list ap;
    va_start(ap, user);
    for (const char *g = va_arg(ap, const char *); g != NULL; g = va_arg(ap, const char *))
        cJSON_AddItemToArray(groups, cJSON_CreateString(g));
    va_end(ap);
    return o;
}

static void test_requester_admitted_is_issued(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    struct cr cr;
    load(with_requester(cr_obj(ISSUER_GROUP, "Issuer", "fake", "team-a", csr_ok),
                        "system:serviceaccount:team-a:builder", "system:serviceaccounts",
                        "system:serviceaccounts:team-a", NULL),
         &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_ISSUED);
    assert_string_equal(cond(&cr, "Approved")->message, "Approved by IssuancePolicy \"team-a\"");
    assert_ready(&cr, "True", "Issued");
    assert_int_equal(fake.calls, 1);
    cr_free(&cr);

    /* by a group */
    load(with_requester(cr_obj(ISSUER_GROUP, "Issuer", "fake", "team-a", csr_ok), "carol", "devs",
                        "releasers", NULL),
         &cr);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_ISSUED);
    cr_free(&cr);
}

static void test_requester_not_admitted_is_denied(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    struct cr cr;
    load(with_requester(cr_obj(ISSUER_GROUP, "Issuer", "fake", "team-a", csr_ok),
                        "system:serviceaccount:team-b:builder", "system:serviceaccounts",
                        "system:serviceaccounts:team-b", NULL),
         &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WRITE);
    assert_int_equal(res.state, PIPELINE_STATE_DENIED);
    assert_false(res.bad_request); /* a policy decision, not a malformed request (403) */
    assert_string_equal(cond(&cr, "Denied")->message,
                        "policy \"team-a\": requester \"system:serviceaccount:team-b:builder\" "
                        "(groups \"system:serviceaccounts\", \"system:serviceaccounts:team-b\") is "
                        "not admitted by spec.selector.requesters");
    assert_ready(&cr, "False", "Denied");
    assert_failure_time_now(&cr);
    assert_null(cr_condition(&cr, "Approved"));
    assert_true(has_event(&res, "Warning", "Denied"));
    assert_int_equal(fake.calls, 0);
    cr_free(&cr);

    /* No spec.username (made past cert-manager's webhook): nobody the policy could admit. */
    load(cr_obj(ISSUER_GROUP, "Issuer", "fake", "team-a", csr_ok), &cr);
    assert_int_equal(cr.requester.method, CALLER_NONE);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_DENIED);
    assert_string_equal(cond(&cr, "Denied")->message,
                        "policy \"team-a\": requester unknown (spec.username is not set) is not "
                        "admitted by spec.selector.requesters");
    cr_free(&cr);

    /* Every violation, the requester first. */
    load(with_requester(cr_obj(ISSUER_GROUP, "Issuer", "fake", "team-a", csr_other), "mallory",
                        NULL),
         &cr);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_DENIED);
    assert_string_equal(cond(&cr, "Denied")->message,
                        "policy \"team-a\": requester \"mallory\" (no groups) is not admitted by "
                        "spec.selector.requesters; sans.dnsNames \"x.example.org\" not allowed");
    assert_int_equal(fake.calls, 0);
    cr_free(&cr);

    /* A policy without requesters does not look at who asks. */
    load(with_requester(cr_obj(ISSUER_GROUP, "Issuer", "fake", "web", csr_ok), "mallory", NULL),
         &cr);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_ISSUED);
    cr_free(&cr);
}

static void test_requester_checked_again_at_signing(void **state)
{
    (void)state;
    /* Approved by someone else (cert-manager's auto-approver): the policy still decides who. */
    struct pipeline_env env = env_default();
    env.approve = false;
    cJSON *o = with_requester(cr_obj(ISSUER_GROUP, "Issuer", "fake", "team-a", csr_ok),
                              "system:serviceaccount:team-b:builder", NULL);
    obj_approve_by_cert_manager(o);
    struct cr cr;
    load(o, &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_FAILED);
    assert_ready(&cr, "False", "Failed");
    assert_contains(cond(&cr, "Ready")->message,
                    "requester \"system:serviceaccount:team-b:builder\" (no groups) is not "
                    "admitted by spec.selector.requesters");
    assert_failure_time_now(&cr);
    assert_int_equal(fake.calls, 0);
    cr_free(&cr);
}

static void test_require_requesters_for_the_signing_api(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    env.require_requesters = true;
    struct cr cr;
    struct pipeline_result res;
    /* a policy without requesters is not usable at all */
    load(with_requester(cr_obj(ISSUER_GROUP, "Issuer", "fake", "web", csr_ok),
                        "system:serviceaccount:team-a:builder", NULL),
         &cr);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_DENIED);
    assert_false(res.bad_request);
    assert_string_equal(cond(&cr, "Denied")->message,
                        "policy \"web\": spec.selector.requesters is not set, so the policy is not "
                        "usable from the signing API");
    cr_free(&cr);

    /* The signing API replaces the requester with the authenticated caller. */
    load(with_requester(cr_obj(ISSUER_GROUP, "Issuer", "fake", "team-a", csr_ok),
                        "system:serviceaccount:team-a:builder", NULL),
         &cr);
    struct caller token = {.method = CALLER_TOKEN,
                           .username = "system:serviceaccount:team-z:intruder"};
    caller_free(&cr.requester);
    caller_copy(&cr.requester, &token);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_DENIED);
    assert_contains(cond(&cr, "Denied")->message,
                    "requester \"system:serviceaccount:team-z:intruder\" (no groups) is not "
                    "admitted");
    cr_free(&cr);

    load(cr_obj(ISSUER_GROUP, "Issuer", "fake", "team-a", csr_ok), &cr);
    token.username = "system:serviceaccount:team-a:deployer";
    caller_free(&cr.requester);
    caller_copy(&cr.requester, &token);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_ISSUED);
    assert_int_equal(fake.calls, 1);
    cr_free(&cr);
}

/* ---- extra policy annotations (--policy-annotation) ---- */

static void test_extra_policy_annotation_and_precedence(void **state)
{
    (void)state;
    static const char *const keys[] = {PIPELINE_POLICY_ANNOTATION,
                                       "firefly.venafi.com/policy-name"};
    struct pipeline_env env = env_default();
    env.policy_annotations = keys;
    env.n_policy_annotations = 2;

    /* only the Firefly key: it selects the policy */
    cJSON *o = cr_obj(ISSUER_GROUP, "Issuer", "ca", NULL, csr_other);
    cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "annotations");
    cJSON_AddStringToObject(ann, "firefly.venafi.com/policy-name", "other");
    struct cr cr;
    load(o, &cr);
    assert_string_equal(pipeline_policy_annotation(&env, &cr), "other");
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_ISSUED);
    assert_contains(cond(&cr, "Approved")->message, "\"other\"");
    cr_free(&cr);

    /* both keys: the first one wins */
    o = cr_obj(ISSUER_GROUP, "Issuer", "ca", "web", csr_other);
    ann = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "annotations");
    cJSON_AddStringToObject(ann, "firefly.venafi.com/policy-name", "other");
    load(o, &cr);
    assert_string_equal(pipeline_policy_annotation(&env, &cr), "web");
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_DENIED);
    assert_contains(cond(&cr, "Denied")->message, "\"web\"");
    cr_free(&cr);

    /* the Firefly key means nothing unless configured */
    env = env_default();
    o = cr_obj(ISSUER_GROUP, "ClusterIssuer", "cluster-ca", NULL, csr_other);
    ann = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "annotations");
    cJSON_AddStringToObject(ann, "firefly.venafi.com/policy-name", "other");
    load(o, &cr);
    assert_string_equal(pipeline_policy_annotation(&env, &cr), "");
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_DENIED);
    assert_contains(cond(&cr, "Denied")->message, "no policy");
    cr_free(&cr);
}

/* ---- validity (design §1: a request asking for more than max gets max) ---- */

static void test_duration_clamped_to_policy_max(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    cJSON *o = cr_obj(ISSUER_GROUP, "Issuer", "ca", "web", csr_ok);
    cJSON_AddStringToObject(cJSON_GetObjectItem(o, "spec"), "duration", "2160h");
    struct cr cr;
    load(o, &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_ISSUED);
    STACK_OF(X509) *chain = decode_certs(cr.certificate);
    X509 *leaf = sk_X509_value(chain, 0);
    time_t na = 0;
    struct tm tm;
    assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm), 1);
    na = timegm(&tm);
    assert_true(llabs((long long)(na - NOW) - 24 * HOUR) <= 1);
    sk_X509_pop_free(chain, X509_free);
    cr_free(&cr);

    /* a shorter request is kept */
    o = cr_obj(ISSUER_GROUP, "Issuer", "ca", "web", csr_ok);
    cJSON_AddStringToObject(cJSON_GetObjectItem(o, "spec"), "duration", "2h");
    load(o, &cr);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_ISSUED);
    chain = decode_certs(cr.certificate);
    assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(sk_X509_value(chain, 0)), &tm), 1);
    na = timegm(&tm);
    assert_true(llabs((long long)(na - NOW) - 2 * HOUR) <= 1);
    sk_X509_pop_free(chain, X509_free);
    cr_free(&cr);
}

/* ---- one step carries the approval and the first Ready (one status write) ---- */

static void test_approval_and_pending_in_one_step(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    struct cr cr;
    load(cr_obj(ISSUER_GROUP, "Issuer", "notready", "web", csr_ok), &cr);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WRITE);
    assert_int_equal(res.state, PIPELINE_STATE_PENDING);
    assert_true(res.requeue);
    assert_true(cr_condition_true(&cr, "Approved"));
    assert_ready(&cr, "False", "Pending");
    assert_true(has_event(&res, "Normal", "Approved"));
    cr_free(&cr);

    /* a missing issuer named with a policy: approved, then Pending waiting for it */
    load(cr_obj(ISSUER_GROUP, "Issuer", "ghost", "web", csr_ok), &cr);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WRITE);
    assert_true(cr_condition_true(&cr, "Approved"));
    assert_ready(&cr, "False", "Pending");
    assert_contains(cond(&cr, "Ready")->message, "Waiting for it to be created");
    cr_free(&cr);
}

/* ---- a request given as PEM (the signing API's Firefly endpoint) ---- */

/* Turns cr's spec.request into the PEM it holds, as a front door that has the PEM gives it. */
static void use_pem(struct cr *cr, const char *pem)
{
    free(cr->request_b64);
    cr->request_b64 = NULL;
    cr->request_pem = xstrdup(pem);
}

static char *pem_of(const char *b64)
{
    unsigned char *pem = NULL;
    size_t len = 0;
    struct err e = {0};
    assert_int_equal(b64_decode(b64, strlen(b64), 1 << 20, &pem, &len, &e), 0);
    return (char *)pem;
}

static void test_pem_request_gets_pem_chain(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    struct cr cr;
    load(cr_obj(ISSUER_GROUP, "Issuer", "ca", "web", csr_ok), &cr);
    char *pem = pem_of(csr_ok);
    use_pem(&cr, pem);
    free(pem);
    struct pipeline_result res;
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_ISSUED);
    assert_ready(&cr, "True", "Issued");
    /* the chain as the signer wrote it, and no base64 status */
    assert_null(cr.certificate);
    assert_null(cr.ca);
    assert_non_null(cr.chain_pem);
    assert_true(strncmp(cr.chain_pem, "-----BEGIN CERTIFICATE-----", 27) == 0);
    BIO *b = BIO_new_mem_buf(cr.chain_pem, -1);
    X509 *leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
    X509 *next = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(leaf);
    assert_non_null(next);
    EVP_PKEY *want = csr_key(csr_ok);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(leaf), want), 1);
    assert_int_equal(X509_cmp(next, int_cert), 0);
    EVP_PKEY_free(want);
    X509_free(leaf);
    X509_free(next);
    /* the status written is the usual one, without certificate and ca */
    char *status = status_text(&cr);
    assert_null(strstr(status, "\"certificate\""));
    free(status);
    cr_clear_status(&cr);
    assert_null(cr.chain_pem);
    cr_free(&cr);
}

static void test_pem_request_checked_as_spec_request(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    char *evil = pem_of(csr_evil);
    char *big = xmalloc(CSR_MAX_BYTES + 2);
    memset(big, 'A', CSR_MAX_BYTES + 1);
    big[CSR_MAX_BYTES + 1] = '\0';
    const struct {
        const char *pem; /* NULL: neither PEM nor spec.request */
        bool bad_request;
        const char *msg;
    } cases[] = {
        {evil, false, "evil.com"},
        {"hello, not a CSR", true, "policy \"web\": spec.request: "},
        {big, true, "larger than 65536 bytes"},
        {NULL, true, "spec.request: no CSR"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct cr cr;
        load(cr_obj(ISSUER_GROUP, "Issuer", "fake", "web", csr_ok), &cr);
        if (cases[i].pem != NULL) {
            use_pem(&cr, cases[i].pem);
        } else {
            free(cr.request_b64);
            cr.request_b64 = NULL;
        }
        struct pipeline_result res;
        pipeline_run(&env, &cr, &res);
        assert_int_equal(res.state, PIPELINE_STATE_DENIED);
        assert_int_equal(res.bad_request, cases[i].bad_request);
        assert_contains(cond(&cr, "Denied")->message, cases[i].msg);
        assert_null(cr.chain_pem);
        assert_int_equal(fake.calls, 0);
        cr_free(&cr);
    }
    free(big);
    free(evil);
}

/* ---- issue 14 section 4: the namespace labels a front door provides ---- */

static int ns_lookups;
static char ns_asked[64];

/* team-a is labelled certs=yes, team-b has no labels, team-u cannot be read now (a 403, say),
 * every other namespace does not exist. */
static enum pipeline_ns t_namespace_labels(void *ud, const char *ns, struct strv *labels,
                                           struct err *why)
{
    (void)ud;
    ns_lookups++;
    snprintf(ns_asked, sizeof(ns_asked), "%s", ns);
    if (strcmp(ns, "team-a") == 0) {
        strv_push(labels, "certs=yes");
        return PIPELINE_NS_KNOWN;
    }
    if (strcmp(ns, "team-u") == 0) {
        err_set(why, ERR_TRANSIENT, "403 Forbidden on GET namespaces/team-u");
        return PIPELINE_NS_UNAVAILABLE;
    }
    return strcmp(ns, "team-b") == 0 ? PIPELINE_NS_KNOWN : PIPELINE_NS_NOT_FOUND;
}

static void test_namespace_labels_from_the_front_door(void **state)
{
    (void)state;
    struct pipeline_env env = env_default();
    env.namespace_labels = t_namespace_labels;
    struct cr cr;
    struct pipeline_result res;
    ns_lookups = 0;
    load(cr_obj(ISSUER_GROUP, "Issuer", "fake", "labelled", csr_ok), &cr);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_ISSUED);
    assert_true(ns_lookups >= 1);
    assert_string_equal(ns_asked, NS);
    cr_free(&cr);

    /* A policy without namespaceSelector never asks. */
    ns_lookups = 0;
    load(cr_obj(ISSUER_GROUP, "Issuer", "fake", "web", csr_ok), &cr);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_ISSUED);
    assert_int_equal(ns_lookups, 0);
    cr_free(&cr);

    /* A ClusterIssuer request in team-b (known, no labels) and in team-x (unknown). */
    cJSON *o = cr_obj(ISSUER_GROUP, "ClusterIssuer", "cluster-ca", "labelled", csr_ok);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(o, "metadata"), "namespace",
                              cJSON_CreateString("team-b"));
    load(o, &cr);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_DENIED);
    assert_string_equal(cond(&cr, "Denied")->message,
                        "policy \"labelled\": namespace \"team-b\" is not selected by "
                        "spec.selector.namespaceSelector (it has no labels)");
    cr_free(&cr);
    o = cr_obj(ISSUER_GROUP, "ClusterIssuer", "cluster-ca", "labelled", csr_ok);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(o, "metadata"), "namespace",
                              cJSON_CreateString("team-x"));
    load(o, &cr);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_DENIED);
    assert_string_equal(cond(&cr, "Denied")->message,
                        "policy \"labelled\": namespace \"team-x\" is not known to Ember (no "
                        "Namespace object), so spec.selector.namespaceSelector matches nothing");
    cr_free(&cr);

    /* Labels that cannot be read now: the request waits (nothing written, an Event saying
     * why), never Denied; once they can be read, it is decided. */
    o = cr_obj(ISSUER_GROUP, "ClusterIssuer", "cluster-ca", "labelled", csr_ok);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(o, "metadata"), "namespace",
                              cJSON_CreateString("team-u"));
    load(o, &cr);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.action, PIPELINE_WAIT);
    assert_int_equal(res.state, PIPELINE_STATE_WAITING);
    assert_true(res.requeue);
    assert_null(cr_condition(&cr, "Denied"));
    assert_null(cr_condition(&cr, "Approved"));
    assert_int_equal(res.n_events, 1);
    assert_string_equal(res.events[0].reason, "NamespaceUnavailable");
    assert_string_equal(res.events[0].message,
                        "policy \"labelled\": namespace \"team-u\": its labels could not be read "
                        "(403 Forbidden on GET namespaces/team-u); the request waits");
    /* Approved by someone else: at signing it is Pending (retried), not Failed. */
    cr_set_condition(&cr, "Approved", "True", "someone", "ok", env.now);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_PENDING);
    assert_true(res.requeue);
    assert_string_equal(cond(&cr, "Ready")->reason, "Pending");
    assert_contains(cond(&cr, "Ready")->message, "its labels could not be read");
    assert_null(cr.chain_pem);
    cr_free(&cr);

    /* A front door without the lookup knows no Namespace. */
    env.namespace_labels = NULL;
    load(cr_obj(ISSUER_GROUP, "Issuer", "fake", "labelled", csr_ok), &cr);
    pipeline_run(&env, &cr, &res);
    assert_int_equal(res.state, PIPELINE_STATE_DENIED);
    assert_contains(cond(&cr, "Denied")->message, "is not known to Ember");
    cr_free(&cr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, test_setup)
        T(test_other_groups_are_ignored),
        T(test_other_groups_ignored_even_when_denied),
        T(test_unknown_kind_in_our_group_is_ignored),
        T(test_empty_kind_means_issuer_in_request_namespace),
        T(test_cluster_issuer_resolves_by_name_only),
        T(test_final_states_are_noop),
        T(test_invalid_request_condition_is_final),
        T(test_denied_by_other_becomes_ready_denied_with_failure_time),
        T(test_denied_by_other_emits_one_event),
        T(test_approve_and_issue_in_one_step),
        T(test_violations_are_denied_with_every_violation),
        T(test_unknown_policy_is_denied),
        T(test_no_annotation_uses_issuer_default_policy),
        T(test_no_annotation_no_default_is_denied),
        T(test_no_annotation_issuer_missing_waits),
        T(test_not_synced_waits_and_never_denies),
        T(test_invalid_policy_waits_with_event),
        T(test_approve_off_waits_for_approval),
        T(test_approve_off_signs_what_others_approved),
        T(test_approved_by_other_with_violation_fails),
        T(test_policy_changed_after_our_approval_fails),
        T(test_issuer_missing_after_approval_is_pending),
        T(test_issuer_not_ready_is_pending_with_its_reason),
        T(test_same_pending_twice_is_not_rewritten),
        T(test_transient_error_is_pending_and_retried),
        T(test_transient_error_past_max_retry_fails),
        T(test_permanent_error_fails_with_failure_time),
        T(test_ca_max_path_len_given_to_the_signer),
        T(test_issuer_not_ready_from_signer_waits),
        T(test_last_transition_time_rule),
        T(test_approved_condition_never_modified),
        T(test_bad_csr_denied_by_our_approver),
        T(test_bad_csr_approved_by_other_fails),
        T(test_spec_error_denied),
        T(test_requester_admitted_is_issued),
        T(test_namespace_labels_from_the_front_door),
        T(test_requester_not_admitted_is_denied),
        T(test_requester_checked_again_at_signing),
        T(test_require_requesters_for_the_signing_api),
        T(test_extra_policy_annotation_and_precedence),
        T(test_duration_clamped_to_policy_max),
        T(test_approval_and_pending_in_one_step),
        T(test_pem_request_gets_pem_chain),
        T(test_pem_request_checked_as_spec_request),
#undef T
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
