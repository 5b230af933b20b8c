/* test_cr.c -- CertificateRequest objects: reading (cr_from_json), copying, conditions, status
 * JSON, the issuer reference formatter. */
/* cmocka.h needs these headers first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "base/mem.h"
#include "base/timefmt.h"
#include "decide/cr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 ((time_t)1735689600) /* 2025-01-01T00:00:00Z */

static int parse(const char *json, struct cr *cr, struct err *e)
{
    cJSON *o = cJSON_Parse(json);
    if (o == NULL)
        fail_msg("test JSON does not parse: %s", json);
    int rc = cr_from_json(o, cr, e);
    cJSON_Delete(o);
    return rc;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (hay == NULL || strstr(hay, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", hay ? hay : "(null)", needle);
}

#define HEAD "\"apiVersion\":\"cert-manager.io/v1\",\"kind\":\"CertificateRequest\""
#define SPEC_OK "\"spec\":{\"request\":\"QUJD\",\"issuerRef\":{\"name\":\"ca\"}}"

static void test_full_object_is_read(void **state)
{
    (void)state;
    struct cr cr;
    struct err e = {0};
    assert_int_equal(
        parse(
            "{" HEAD ",\"metadata\":{\"name\":\"r1\",\"namespace\":\"ns1\",\"uid\":\"u-1\","
            "\"resourceVersion\":\"42\",\"creationTimestamp\":\"2025-01-01T00:00:00Z\","
            "\"annotations\":{\"ember.issuer.dev/policy-name\":\"web\",\"n\":1}},"
            "\"spec\":{\"request\":\"QUJD\",\"duration\":\"2h30m\",\"isCA\":true,"
            "\"usages\":[\"server auth\",\"digital signature\"],"
            "\"issuerRef\":{\"group\":\"ember.issuer.dev\",\"kind\":\"ClusterIssuer\","
            "\"name\":\"ca\"}},"
            "\"status\":{\"conditions\":[{\"type\":\"Approved\",\"status\":\"True\","
            "\"reason\":\"r\",\"message\":\"m\",\"lastTransitionTime\":\"2025-01-01T00:00:00Z\"}],"
            "\"certificate\":\"Y2VydA==\",\"ca\":\"Y2E=\",\"failureTime\":\"2025-01-02T00:00:00Z\"}"
            "}",
            &cr, &e),
        0);
    assert_string_equal(cr.name, "r1");
    assert_string_equal(cr.namespace, "ns1");
    assert_string_equal(cr.uid, "u-1");
    assert_string_equal(cr.resource_version, "42");
    assert_string_equal(cr.creation_timestamp, "2025-01-01T00:00:00Z");
    assert_string_equal(cr_annotation(&cr, "ember.issuer.dev/policy-name"), "web");
    assert_null(cr_annotation(&cr, "n")); /* not a string */
    assert_null(cr_annotation(&cr, "missing"));
    assert_string_equal(cr.issuer_group, "ember.issuer.dev");
    assert_string_equal(cr.issuer_kind, "ClusterIssuer");
    assert_string_equal(cr.issuer_name, "ca");
    assert_string_equal(cr.request_b64, "QUJD");
    assert_int_equal(cr.duration_s, 9000);
    assert_true(cr.is_ca);
    assert_int_equal(cr.usages, USAGE_BIT(USAGE_SERVER_AUTH) | USAGE_BIT(USAGE_DIGITAL_SIGNATURE));
    assert_null(cr.spec_error);
    assert_int_equal(cr.n_conds, 1);
    const struct cr_condition *c = cr_condition(&cr, "Approved");
    assert_non_null(c);
    assert_string_equal(c->status, "True");
    assert_string_equal(c->reason, "r");
    assert_string_equal(c->message, "m");
    assert_string_equal(c->last_transition_time, "2025-01-01T00:00:00Z");
    assert_true(cr_condition_true(&cr, "Approved"));
    assert_false(cr_condition_true(&cr, "Denied"));
    assert_null(cr_condition(&cr, "Ready"));
    assert_string_equal(cr.certificate, "Y2VydA==");
    assert_string_equal(cr.ca, "Y2E=");
    assert_string_equal(cr.failure_time, "2025-01-02T00:00:00Z");
    cr_free(&cr);
}

static void test_defaults(void **state)
{
    (void)state;
    struct cr cr;
    struct err e = {0};
    /* apiVersion/kind may be absent; namespace defaults to "default"; group "" ; kind Issuer */
    assert_int_equal(parse("{\"metadata\":{\"name\":\"r\"}," SPEC_OK "}", &cr, &e), 0);
    assert_string_equal(cr.namespace, "default");
    assert_string_equal(cr.issuer_group, "");
    assert_string_equal(cr.issuer_kind, "Issuer");
    assert_int_equal(cr.duration_s, 0);
    assert_false(cr.is_ca);
    assert_int_equal(cr.usages, 0);
    assert_int_equal(cr.n_conds, 0);
    assert_null(cr.certificate);
    assert_null(cr.failure_time);
    assert_non_null(cr.annotations);
    assert_null(cr_annotation(&cr, "ember.issuer.dev/policy-name"));
    cr_free(&cr);

    /* empty namespace and empty kind count as absent */
    assert_int_equal(parse("{\"metadata\":{\"name\":\"r\",\"namespace\":\"\"},\"spec\":{"
                           "\"request\":\"QUJD\",\"issuerRef\":{\"name\":\"ca\",\"kind\":\"\"}}}",
                           &cr, &e),
                     0);
    assert_string_equal(cr.namespace, "default");
    assert_string_equal(cr.issuer_kind, "Issuer");
    cr_free(&cr);
}

static void test_not_a_certificate_request(void **state)
{
    (void)state;
    const struct {
        const char *json, *msg;
    } cases[] = {
        {"[]", "object"},
        {"\"x\"", "object"},
        {"{\"apiVersion\":\"v1\",\"kind\":\"CertificateRequest\",\"metadata\":{\"name\":\"r\"}"
         "," SPEC_OK "}",
         "cert-manager.io/v1"},
        {"{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":\"Certificate\",\"metadata\":{\"name\":"
         "\"r\"}," SPEC_OK "}",
         "Certificate"},
        {"{\"apiVersion\":1," SPEC_OK ",\"metadata\":{\"name\":\"r\"}}", "apiVersion"},
        {"{" HEAD "," SPEC_OK "}", "metadata.name"},
        {"{" HEAD ",\"metadata\":{\"name\":\"\"}," SPEC_OK "}", "metadata.name"},
        {"{" HEAD ",\"metadata\":{\"name\":7}," SPEC_OK "}", "metadata.name"},
        {"{" HEAD ",\"metadata\":{\"name\":\"r\"}}", "spec"},
        {"{" HEAD ",\"metadata\":{\"name\":\"r\"},\"spec\":[]}", "spec"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct cr cr;
        struct err e = {0};
        assert_int_equal(parse(cases[i].json, &cr, &e), -1);
        assert_int_equal(e.kind, ERR_INVALID);
        assert_contains(e.msg, cases[i].msg);
        cr_free(&cr);
    }
    /* a NULL object */
    struct cr cr;
    struct err e = {0};
    assert_int_equal(cr_from_json(NULL, &cr, &e), -1);
    cr_free(&cr);
}

static void test_spec_errors_are_recorded_not_fatal(void **state)
{
    (void)state;
    const struct {
        const char *spec, *msg;
    } cases[] = {
        {"{\"issuerRef\":{\"name\":\"ca\"}}", "spec.request"},
        {"{\"request\":\"\",\"issuerRef\":{\"name\":\"ca\"}}", "spec.request"},
        {"{\"request\":5,\"issuerRef\":{\"name\":\"ca\"}}", "spec.request"},
        {"{\"request\":\"QUJD\"}", "spec.issuerRef.name"},
        {"{\"request\":\"QUJD\",\"issuerRef\":{\"name\":\"\"}}", "spec.issuerRef.name"},
        {"{\"request\":\"QUJD\",\"issuerRef\":{\"name\":\"ca\"},\"duration\":\"1x\"}",
         "spec.duration"},
        {"{\"request\":\"QUJD\",\"issuerRef\":{\"name\":\"ca\"},\"duration\":3600}",
         "spec.duration: expected a string such as \"2160h\", got a number"},
        {"{\"request\":\"QUJD\",\"issuerRef\":{\"name\":\"ca\"},\"duration\":\"-1h\"}",
         "spec.duration"},
        {"{\"request\":\"QUJD\",\"issuerRef\":{\"name\":\"ca\"},\"duration\":\"0s\"}",
         "spec.duration"},
        {"{\"request\":\"QUJD\",\"issuerRef\":{\"name\":\"ca\"},\"isCA\":\"yes\"}",
         "spec.isCA: expected a boolean, got a string"},
        {"{\"request\":\"QUJD\",\"issuerRef\":{\"name\":\"ca\"},\"usages\":\"server auth\"}",
         "spec.usages: expected a list of usage names, got a string"},
        {"{\"request\":\"QUJD\",\"issuerRef\":{\"name\":\"ca\"},\"usages\":[\"server auth\","
         "\"teleport\"]}",
         "teleport"},
        {"{\"request\":\"QUJD\",\"issuerRef\":{\"name\":\"ca\"},\"usages\":[1]}", "spec.usages[0]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char *json =
            xasprintf("{" HEAD ",\"metadata\":{\"name\":\"r\"},\"spec\":%s}", cases[i].spec);
        struct cr cr;
        struct err e = {0};
        assert_int_equal(parse(json, &cr, &e), 0);
        assert_non_null(cr.spec_error);
        assert_contains(cr.spec_error, cases[i].msg);
        /* the rest is still usable (the pipeline needs name, issuerRef) */
        assert_string_equal(cr.name, "r");
        assert_non_null(cr.issuer_name);
        assert_non_null(cr.issuer_kind);
        assert_non_null(cr.issuer_group);
        cr_free(&cr);
        free(json);
    }
}

/* spec.username / spec.groups as cert-manager's webhook writes them. */
static void test_requester_from_username_and_groups(void **state)
{
    (void)state;
    struct cr cr;
    struct err e = {0};
    assert_int_equal(
        parse("{" HEAD ",\"metadata\":{\"name\":\"r\"},\"spec\":{\"request\":\"QUJD\","
              "\"issuerRef\":{\"name\":\"ca\"},\"username\":\"system:serviceaccount:team-a:"
              "builder\",\"uid\":\"u-1\",\"groups\":[\"system:serviceaccounts\","
              "\"system:serviceaccounts:team-a\",\"system:authenticated\"],"
              "\"extra\":{\"k\":[\"v\"]}}}",
              &cr, &e),
        0);
    assert_null(cr.spec_error);
    assert_int_equal(cr.requester.method, CALLER_CERT_MANAGER);
    assert_string_equal(cr.requester.username, "system:serviceaccount:team-a:builder");
    assert_int_equal(cr.requester.groups.n, 3);
    assert_string_equal(cr.requester.groups.v[0], "system:serviceaccounts");
    assert_string_equal(cr.requester.groups.v[2], "system:authenticated");
    assert_int_equal(cr.requester.uris.n, 0);
    assert_null(cr.requester.common_name);
    cr_free(&cr);
    assert_int_equal(cr.requester.method, CALLER_NONE); /* cr_free zeroes */

    /* no groups */
    assert_int_equal(parse("{" HEAD ",\"metadata\":{\"name\":\"r\"},\"spec\":{\"request\":"
                           "\"QUJD\",\"issuerRef\":{\"name\":\"ca\"},\"username\":\"alice\"}}",
                           &cr, &e),
                     0);
    assert_int_equal(cr.requester.method, CALLER_CERT_MANAGER);
    assert_string_equal(cr.requester.username, "alice");
    assert_int_equal(cr.requester.groups.n, 0);
    cr_free(&cr);

    /* absent, null or "" username: nobody known (groups alone name no one) */
    const char *const none[] = {"", ",\"username\":null", ",\"username\":\"\"",
                                ",\"groups\":[\"system:masters\"]"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        char *json = xasprintf("{" HEAD ",\"metadata\":{\"name\":\"r\"},\"spec\":{\"request\":"
                               "\"QUJD\",\"issuerRef\":{\"name\":\"ca\"}%s}}",
                               none[i]);
        assert_int_equal(parse(json, &cr, &e), 0);
        assert_null(cr.spec_error);
        assert_int_equal(cr.requester.method, CALLER_NONE);
        assert_null(cr.requester.username);
        assert_int_equal(cr.requester.groups.n, 0);
        cr_free(&cr);
        free(json);
    }
}

static void test_requester_bounded_and_typed(void **state)
{
    (void)state;
    struct cr cr;
    struct err e = {0};
    /* more than CALLER_MAX_NAMES groups: the first ones are kept */
    char *groups = xstrdup("");
    for (int i = 0; i < CALLER_MAX_NAMES + 5; i++) {
        char *next = xasprintf("%s%s\"g%d\"", groups, i ? "," : "", i);
        free(groups);
        groups = next;
    }
    char *json = xasprintf("{" HEAD ",\"metadata\":{\"name\":\"r\"},\"spec\":{\"request\":"
                           "\"QUJD\",\"issuerRef\":{\"name\":\"ca\"},\"username\":\"u\","
                           "\"groups\":[%s]}}",
                           groups);
    free(groups);
    assert_int_equal(parse(json, &cr, &e), 0);
    free(json);
    assert_null(cr.spec_error);
    assert_int_equal(cr.requester.groups.n, CALLER_MAX_NAMES);
    assert_string_equal(cr.requester.groups.v[CALLER_MAX_NAMES - 1], "g63");
    cr_free(&cr);

    /* too long or the wrong type: a spec error, and nobody known */
    char *longv = xmalloc(CR_MAX_USER_NAME + 2);
    memset(longv, 'x', CR_MAX_USER_NAME + 1);
    longv[CR_MAX_USER_NAME + 1] = '\0';
    char *long_user = xasprintf(",\"username\":\"%s\"", longv);
    char *long_group = xasprintf(",\"username\":\"u\",\"groups\":[\"a\",\"%s\"]", longv);
    const struct {
        const char *extra, *msg;
    } cases[] = {
        {long_user, "spec.username is longer than 1024 bytes"},
        {long_group, "spec.groups[1] is longer than 1024 bytes"},
        {",\"username\":5", "spec.username: expected a string, got a number"},
        {",\"username\":\"u\",\"groups\":\"g\"", "spec.groups: expected a list, got a string"},
        {",\"username\":\"u\",\"groups\":[\"g\",[]]",
         "spec.groups[1]: expected a string, got a list"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json = xasprintf("{" HEAD ",\"metadata\":{\"name\":\"r\"},\"spec\":{\"request\":"
                         "\"QUJD\",\"issuerRef\":{\"name\":\"ca\"}%s}}",
                         cases[i].extra);
        assert_int_equal(parse(json, &cr, &e), 0);
        assert_string_equal(cr.spec_error, cases[i].msg);
        assert_int_equal(cr.requester.method, CALLER_NONE);
        assert_null(cr.requester.username);
        assert_int_equal(cr.requester.groups.n, 0);
        cr_free(&cr);
        free(json);
    }
    /* exactly at the limit is fine */
    longv[CR_MAX_USER_NAME] = '\0';
    json = xasprintf("{" HEAD ",\"metadata\":{\"name\":\"r\"},\"spec\":{\"request\":\"QUJD\","
                     "\"issuerRef\":{\"name\":\"ca\"},\"username\":\"%s\",\"groups\":[\"%s\"]}}",
                     longv, longv);
    assert_int_equal(parse(json, &cr, &e), 0);
    assert_null(cr.spec_error);
    assert_int_equal(strlen(cr.requester.username), CR_MAX_USER_NAME);
    cr_free(&cr);
    free(json);
    free(long_user);
    free(long_group);
    free(longv);
}

static void test_request_size_limit(void **state)
{
    (void)state;
    size_t n = CR_MAX_REQUEST_B64 + 4;
    char *big = xmalloc(n + 1);
    memset(big, 'A', n);
    big[n] = '\0';
    char *json = xasprintf("{" HEAD ",\"metadata\":{\"name\":\"r\"},\"spec\":{\"request\":\"%s\","
                           "\"issuerRef\":{\"name\":\"ca\"}}}",
                           big);
    struct cr cr;
    struct err e = {0};
    assert_int_equal(parse(json, &cr, &e), 0);
    assert_non_null(cr.spec_error);
    assert_contains(cr.spec_error, "spec.request");
    assert_null(cr.request_b64);
    cr_free(&cr);
    free(json);
    /* exactly at the limit is fine */
    big[CR_MAX_REQUEST_B64] = '\0';
    json = xasprintf("{" HEAD ",\"metadata\":{\"name\":\"r\"},\"spec\":{\"request\":\"%s\","
                     "\"issuerRef\":{\"name\":\"ca\"}}}",
                     big);
    assert_int_equal(parse(json, &cr, &e), 0);
    assert_null(cr.spec_error);
    cr_free(&cr);
    free(json);
    free(big);
}

static char *with_conditions(size_t n)
{
    char *conds = xstrdup("");
    for (size_t i = 0; i < n; i++) {
        char *next =
            xasprintf("%s%s{\"type\":\"T%zu\",\"status\":\"True\"}", conds, i ? "," : "", i);
        free(conds);
        conds = next;
    }
    char *json = xasprintf("{" HEAD ",\"metadata\":{\"name\":\"r\"}," SPEC_OK
                           ",\"status\":{\"conditions\":[%s]}}",
                           conds);
    free(conds);
    return json;
}

static void test_condition_limit(void **state)
{
    (void)state;
    struct cr cr;
    struct err e = {0};
    char *json = with_conditions(CR_MAX_CONDITIONS);
    assert_int_equal(parse(json, &cr, &e), 0);
    assert_int_equal(cr.n_conds, CR_MAX_CONDITIONS);
    cr_free(&cr);
    free(json);

    json = with_conditions(CR_MAX_CONDITIONS + 1);
    assert_int_equal(parse(json, &cr, &e), -1);
    assert_int_equal(e.kind, ERR_INVALID);
    assert_contains(e.msg, "status.conditions");
    cr_free(&cr);
    free(json);
}

static void test_set_condition_time_rule(void **state)
{
    (void)state;
    struct cr cr;
    struct err e = {0};
    assert_int_equal(parse("{\"metadata\":{\"name\":\"r\"}," SPEC_OK "}", &cr, &e), 0);
    char t0[TIMEFMT_LEN], t1[TIMEFMT_LEN];
    timefmt_rfc3339(T0, t0);
    timefmt_rfc3339(T0 + 60, t1);

    cr_set_condition(&cr, "Ready", "False", "Pending", "waiting", T0);
    const struct cr_condition *c = cr_condition(&cr, "Ready");
    assert_non_null(c);
    assert_string_equal(c->last_transition_time, "2025-01-01T00:00:00Z");
    assert_int_equal(cr.n_conds, 1);

    /* same status, other reason/message: time kept, texts replaced */
    cr_set_condition(&cr, "Ready", "False", "Failed", "boom", T0 + 60);
    c = cr_condition(&cr, "Ready");
    assert_string_equal(c->reason, "Failed");
    assert_string_equal(c->message, "boom");
    assert_string_equal(c->last_transition_time, t0);
    assert_int_equal(cr.n_conds, 1);

    /* status changes: time changes */
    cr_set_condition(&cr, "Ready", "True", "Issued", "ok", T0 + 60);
    c = cr_condition(&cr, "Ready");
    assert_string_equal(c->status, "True");
    assert_string_equal(c->last_transition_time, t1);

    /* another type is a new entry */
    cr_set_condition(&cr, "Approved", "True", "x", "y", T0);
    assert_int_equal(cr.n_conds, 2);
    assert_true(cr_condition_true(&cr, "Approved"));
    cr_free(&cr);
}

static void test_set_condition_without_time_gets_one(void **state)
{
    (void)state;
    struct cr cr;
    struct err e = {0};
    assert_int_equal(parse("{\"metadata\":{\"name\":\"r\"}," SPEC_OK ",\"status\":{\"conditions\":"
                           "[{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"Pending\"}]}}",
                           &cr, &e),
                     0);
    assert_null(cr_condition(&cr, "Ready")->last_transition_time);
    cr_set_condition(&cr, "Ready", "False", "Pending", "m", T0);
    assert_string_equal(cr_condition(&cr, "Ready")->last_transition_time, "2025-01-01T00:00:00Z");
    cr_free(&cr);
}

static void test_status_to_json_shape(void **state)
{
    (void)state;
    struct cr cr;
    struct err e = {0};
    assert_int_equal(parse("{\"metadata\":{\"name\":\"r\"}," SPEC_OK "}", &cr, &e), 0);

    /* empty status: an empty conditions list and nothing else */
    cJSON *s = cr_status_to_json(&cr);
    char *txt = cJSON_PrintUnformatted(s);
    assert_string_equal(txt, "{\"conditions\":[]}");
    free(txt);
    cJSON_Delete(s);

    cr_set_condition(&cr, "Approved", "True", "ember.issuer.dev", "ok", T0);
    cr_set_condition(&cr, "Ready", "False", "Failed", "no", T0);
    cr_set_status_field(&cr.failure_time, "2025-01-01T00:00:00Z");
    cr_set_status_field(&cr.certificate, "Y2VydA==");
    cr_set_status_field(&cr.ca, "Y2E=");
    s = cr_status_to_json(&cr);
    const cJSON *conds = cJSON_GetObjectItemCaseSensitive(s, "conditions");
    assert_true(cJSON_IsArray(conds));
    assert_int_equal(cJSON_GetArraySize(conds), 2);
    const cJSON *a = cJSON_GetArrayItem(conds, 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(a, "type")->valuestring, "Approved");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(a, "status")->valuestring, "True");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(a, "reason")->valuestring,
                        "ember.issuer.dev");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(a, "message")->valuestring, "ok");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(a, "lastTransitionTime")->valuestring,
                        "2025-01-01T00:00:00Z");
    /* CR conditions have no observedGeneration (contract §1.2) */
    assert_null(cJSON_GetObjectItemCaseSensitive(a, "observedGeneration"));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(s, "failureTime")->valuestring,
                        "2025-01-01T00:00:00Z");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(s, "certificate")->valuestring,
                        "Y2VydA==");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(s, "ca")->valuestring, "Y2E=");
    cJSON_Delete(s);

    /* NULL removes a field */
    cr_set_status_field(&cr.ca, NULL);
    s = cr_status_to_json(&cr);
    assert_null(cJSON_GetObjectItemCaseSensitive(s, "ca"));
    cJSON_Delete(s);
    cr_free(&cr);
}

static void test_status_round_trip(void **state)
{
    (void)state;
    struct cr cr;
    struct err e = {0};
    const char *status = "{\"conditions\":[{\"type\":\"Approved\",\"status\":\"True\",\"reason\":"
                         "\"a\",\"message\":\"b\",\"lastTransitionTime\":\"2025-01-01T00:00:00Z\"},"
                         "{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"Pending\","
                         "\"message\":\"m\",\"lastTransitionTime\":\"2025-01-01T00:00:01Z\"}],"
                         "\"certificate\":\"Y2VydA==\",\"ca\":\"Y2E=\"}";
    char *json = xasprintf("{\"metadata\":{\"name\":\"r\"}," SPEC_OK ",\"status\":%s}", status);
    assert_int_equal(parse(json, &cr, &e), 0);
    cJSON *s = cr_status_to_json(&cr);
    char *txt = cJSON_PrintUnformatted(s);
    assert_string_equal(txt, status);
    free(txt);
    cJSON_Delete(s);
    cr_free(&cr);
    free(json);
}

static void test_clear_status(void **state)
{
    (void)state;
    struct cr cr;
    struct err e = {0};
    assert_int_equal(parse("{\"metadata\":{\"name\":\"r\"}," SPEC_OK ",\"status\":{\"conditions\":"
                           "[{\"type\":\"Approved\",\"status\":\"True\"},{\"type\":\"Ready\","
                           "\"status\":\"True\"}],\"certificate\":\"eA==\",\"ca\":\"eA==\","
                           "\"failureTime\":\"2025-01-01T00:00:00Z\"}}",
                           &cr, &e),
                     0);
    assert_int_equal(cr.n_conds, 2);
    cr_clear_status(&cr);
    assert_int_equal(cr.n_conds, 0);
    assert_null(cr_condition(&cr, "Approved"));
    assert_null(cr.certificate);
    assert_null(cr.ca);
    assert_null(cr.failure_time);
    /* spec and metadata untouched */
    assert_string_equal(cr.name, "r");
    assert_string_equal(cr.request_b64, "QUJD");
    /* usable afterwards */
    cr_set_condition(&cr, "Ready", "False", "Pending", "m", T0);
    assert_int_equal(cr.n_conds, 1);
    cr_free(&cr);
}

static void test_conditions_without_type_are_skipped(void **state)
{
    (void)state;
    struct cr cr;
    struct err e = {0};
    assert_int_equal(parse("{\"metadata\":{\"name\":\"r\"}," SPEC_OK ",\"status\":{\"conditions\":"
                           "[{\"status\":\"True\"},7,{\"type\":\"Denied\",\"status\":\"True\"}]}}",
                           &cr, &e),
                     0);
    assert_int_equal(cr.n_conds, 1);
    assert_true(cr_condition_true(&cr, "Denied"));
    cr_free(&cr);
}

/* A copy owns everything: changing or freeing the original leaves it whole. */
static void test_copy_is_deep(void **state)
{
    (void)state;
    struct cr cr, copy;
    struct err e = {0};
    assert_int_equal(
        parse("{\"metadata\":{\"name\":\"r\",\"namespace\":\"ns\",\"uid\":\"u\","
              "\"resourceVersion\":\"7\",\"creationTimestamp\":\"2025-01-01T00:00:00Z\","
              "\"annotations\":{\"a\":\"1\"}},\"spec\":{\"request\":\"QUJD\",\"issuerRef\":{"
              "\"group\":\"g\",\"kind\":\"ClusterIssuer\",\"name\":\"ca\"},\"duration\":\"1h\","
              "\"isCA\":true,\"usages\":[\"server auth\"],\"username\":\"alice\",\"groups\":["
              "\"devs\"]},\"status\":{\"conditions\":[{\"type\":\"Approved\",\"status\":\"True\","
              "\"reason\":\"r\",\"message\":\"m\",\"lastTransitionTime\":\"t\"}],"
              "\"certificate\":\"Yw==\",\"ca\":\"YQ==\",\"failureTime\":\"f\"}}",
              &cr, &e),
        0);
    cr_copy(&copy, &cr);
    cJSON *a = cr_status_to_json(&cr), *b = cr_status_to_json(&copy);
    assert_true(cJSON_Compare(a, b, 1));
    cJSON_Delete(a);
    cJSON_Delete(b);
    cr_set_condition(&cr, "Approved", "False", "x", "y", T0);
    cr_free(&cr);
    assert_string_equal(copy.name, "r");
    assert_string_equal(copy.namespace, "ns");
    assert_string_equal(copy.uid, "u");
    assert_string_equal(copy.resource_version, "7");
    assert_string_equal(copy.creation_timestamp, "2025-01-01T00:00:00Z");
    assert_string_equal(cr_annotation(&copy, "a"), "1");
    assert_string_equal(copy.issuer_group, "g");
    assert_string_equal(copy.issuer_kind, "ClusterIssuer");
    assert_string_equal(copy.issuer_name, "ca");
    assert_string_equal(copy.request_b64, "QUJD");
    assert_int_equal(copy.duration_s, 3600);
    assert_true(copy.is_ca);
    assert_int_not_equal(copy.usages, 0);
    assert_int_equal(copy.requester.method, CALLER_CERT_MANAGER);
    assert_string_equal(copy.requester.username, "alice");
    assert_int_equal(copy.requester.groups.n, 1);
    assert_true(cr_condition_true(&copy, "Approved"));
    assert_string_equal(cr_condition(&copy, "Approved")->last_transition_time, "t");
    assert_string_equal(copy.certificate, "Yw==");
    assert_string_equal(copy.ca, "YQ==");
    assert_string_equal(copy.failure_time, "f");
    /* A copy's status grows on its own. */
    cr_set_condition(&copy, "Ready", "True", "Issued", "ok", T0);
    assert_int_equal(copy.n_conds, 2);
    cr_free(&copy);
    /* A spec error is copied too. */
    assert_int_equal(parse("{\"metadata\":{\"name\":\"r\"},\"spec\":{}}", &cr, &e), 0);
    cr_copy(&copy, &cr);
    assert_string_equal(copy.spec_error, cr.spec_error);
    cr_free(&cr);
    cr_free(&copy);
}

static void test_keep_annotations(void **state)
{
    (void)state;
    struct cr cr;
    struct err e = {0};
    assert_int_equal(parse("{\"metadata\":{\"name\":\"r\",\"annotations\":{\"big\":\"xxxx\","
                           "\"p\":\"web\",\"q\":\"mesh\",\"n\":7}}," SPEC_OK "}",
                           &cr, &e),
                     0);
    static const char *const keys[] = {"q", "missing", "p", "q"};
    cr_keep_annotations(&cr, keys, 4);
    assert_string_equal(cr_annotation(&cr, "p"), "web");
    assert_string_equal(cr_annotation(&cr, "q"), "mesh");
    assert_null(cr_annotation(&cr, "big"));
    assert_int_equal(cJSON_GetArraySize(cr.annotations), 2);
    cr_keep_annotations(&cr, NULL, 0);
    assert_int_equal(cJSON_GetArraySize(cr.annotations), 0);
    assert_null(cr_annotation(&cr, "p"));
    cr_free(&cr);
}

/* One spelling of "Kind/ns/name" for messages, audit lines and cache keys. */
static void test_issuer_ref(void **state)
{
    (void)state;
    char out[CR_ISSUER_REF_MAX];
    assert_true(cr_issuer_ref("Issuer", "team-a", "ca", out, sizeof(out)));
    assert_string_equal(out, "Issuer/team-a/ca");
    assert_true(cr_issuer_ref("ClusterIssuer", "team-a", "ca", out, sizeof(out)));
    assert_string_equal(out, "ClusterIssuer/ca");
    assert_true(cr_issuer_ref("Foo", "ns", "x", out, sizeof(out))); /* other kinds: as Issuer */
    assert_string_equal(out, "Issuer/ns/x");
    /* Parts longer than any Kubernetes name are cut (and said to be). */
    char big[400];
    memset(big, 'n', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_false(cr_issuer_ref("Issuer", big, "ca", out, sizeof(out)));
    assert_int_equal(strlen(out), 7 + CR_REF_PART_MAX + 3);
    assert_false(cr_issuer_ref("ClusterIssuer", "", big, out, sizeof(out)));
    assert_int_equal(strlen(out), 14 + CR_REF_PART_MAX);
    big[CR_REF_PART_MAX] = '\0';
    assert_true(cr_issuer_ref("Issuer", big, big, out, sizeof(out))); /* the longest fits */
    assert_int_equal(strlen(out), 7 + 2 * CR_REF_PART_MAX + 1);
    /* A buffer too small: cut, false. */
    char small[12];
    assert_false(cr_issuer_ref("Issuer", "team-a", "ca", small, sizeof(small)));
    assert_string_equal(small, "Issuer/team");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_object_is_read),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_not_a_certificate_request),
        cmocka_unit_test(test_spec_errors_are_recorded_not_fatal),
        cmocka_unit_test(test_requester_from_username_and_groups),
        cmocka_unit_test(test_requester_bounded_and_typed),
        cmocka_unit_test(test_request_size_limit),
        cmocka_unit_test(test_condition_limit),
        cmocka_unit_test(test_set_condition_time_rule),
        cmocka_unit_test(test_set_condition_without_time_gets_one),
        cmocka_unit_test(test_status_to_json_shape),
        cmocka_unit_test(test_status_round_trip),
        cmocka_unit_test(test_clear_status),
        cmocka_unit_test(test_conditions_without_type_are_skipped),
        cmocka_unit_test(test_copy_is_deep),
        cmocka_unit_test(test_keep_annotations),
        cmocka_unit_test(test_issuer_ref),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
