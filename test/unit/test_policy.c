/* test_policy.c -- IssuancePolicy loading, validation and evaluation. */
#include "base/err.h"
#include "base/strv.h"
#include "decide/caller.h"
#include "decide/nslabels.h"
#include "decide/policy.h"
#include "x509/csr.h"
#include "x509/usage.h"

/* cmocka.h needs these first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Policies are written with ' for " to keep the literals readable; spec is the spec object. */
#define HDR                                                                                        \
    "{'apiVersion':'ember.issuer.dev/v1alpha1','kind':'IssuancePolicy',"                           \
    "'metadata':{'name':'mesh'},"

static char *unquote(const char *s)
{
    char *t = strdup(s);
    assert_non_null(t);
    for (char *c = t; *c != '\0'; c++)
        if (*c == '\'')
            *c = '"';
    return t;
}

static struct policy *load_spec(const char *spec, struct err *err)
{
    char *json = NULL;
    assert_true(asprintf(&json, HDR "'spec':%s}", spec) > 0);
    char *t = unquote(json);
    free(json);
    cJSON *j = cJSON_Parse(t);
    if (j == NULL)
        fail_msg("test JSON does not parse: %s", t);
    free(t);
    struct policy *p = policy_from_json(j, err);
    /* The policy must not borrow from the JSON. */
    cJSON_Delete(j);
    return p;
}

static struct policy *load_ok(const char *spec)
{
    struct err err = {0};
    struct policy *p = load_spec(spec, &err);
    if (p == NULL)
        fail_msg("policy rejected: %s\nspec: %s", err.msg, spec);
    return p;
}

static void bad_object(const char *json, const char *want)
{
    char *t = unquote(json);
    cJSON *j = cJSON_Parse(t);
    if (j == NULL)
        fail_msg("test JSON does not parse: %s", t);
    free(t);
    struct err err = {0};
    struct policy *p = policy_from_json(j, &err);
    cJSON_Delete(j);
    if (p != NULL) {
        policy_free(p);
        fail_msg("accepted: %s", json);
    }
    assert_int_equal(err.kind, ERR_INVALID);
    if (strstr(err.msg, want) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);
}

static void bad_spec(const char *spec, const char *want)
{
    char *json = NULL;
    assert_true(asprintf(&json, HDR "'spec':%s}", spec) > 0);
    bad_object(json, want);
    free(json);
}

/* A hand-made CSR: only the fields the policy reads. */
static void csr_init(struct csr *c, const char *key_alg)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->key_alg, sizeof(c->key_alg), "%s", key_alg);
}

static void add(struct strv *sv, ...)
{
    va_list ap;
    va_start(ap, sv);
    for (const char *s = va_arg(ap, const char *); s != NULL; s = va_arg(ap, const char *))
        strv_push(sv, s);
    va_end(ap);
}

static void csr_clear(struct csr *c)
{
    struct strv *all[] = {&c->common_name,   &c->organization,  &c->organizational_unit,
                          &c->country,       &c->province,      &c->locality,
                          &c->serial_number, &c->other_subject, &c->dns_names,
                          &c->ip_addresses,  &c->uris,          &c->email_addresses};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        strv_free(all[i]);
}

static struct policy_request req_for(const struct csr *c)
{
    struct policy_request r = {
        .csr = c, .namespace = "istio-system", .issuer_kind = "Issuer", .issuer_name = "mesh-ca"};
    return r;
}

/* Evaluates and checks the count and the exact message. */
static void expect_eval(const struct policy *p, const struct policy_request *r, int want_n,
                        const char *want_msg)
{
    char msg[POLICY_MAX_MESSAGE + 1];
    memset(msg, 'Z', sizeof(msg));
    int n = policy_evaluate(p, r, msg, sizeof(msg));
    if (strcmp(msg, want_msg) != 0)
        fail_msg("message\n  got:  %s\n  want: %s", msg, want_msg);
    assert_int_equal(n, want_n);
}

#define MESH_SPEC                                                                                  \
    "{'selector':{'namespaces':['istio-system'],'issuers':['Issuer/mesh-ca','ClusterIssuer/*']},"  \
    "'validity':{'max':'24h','default':'1h'},"                                                     \
    "'keyAlgorithms':['EC_P256','EC_P384','RSA_2048','RSA_3072','RSA_4096','EC_ED25519'],"         \
    "'subject':{'commonName':{'rule':'Optional','allowed':['[a-z0-9.-]+\\\\.svc'],'max':1},"       \
    "'organization':{'rule':'Forbidden'}},"                                                        \
    "'sans':{'dnsNames':{'rule':'Optional','allowed':['[a-z0-9.-]+\\\\.svc(\\\\.cluster\\\\."      \
    "local)?'],"                                                                                   \
    "'max':10},'ipAddresses':{'rule':'Forbidden'},"                                                \
    "'uris':{'rule':'Required','allowed':['spiffe://cluster\\\\.local/ns/[^/]+/sa/[^/"             \
    "]+'],'min':1,"                                                                                \
    "'max':1},'emailAddresses':{'rule':'Forbidden'}},"                                             \
    "'usages':['digital signature','key encipherment','server auth','client auth'],"               \
    "'isCA':false}"

static void test_design_example_allows_conforming_request(void **state)
{
    (void)state;
    struct policy *p = load_ok(MESH_SPEC);
    assert_string_equal(policy_name(p), "mesh");
    struct csr c;
    csr_init(&c, "EC_P256");
    add(&c.dns_names, "istiod.istio-system.svc", "istiod.istio-system.svc.cluster.local", NULL);
    add(&c.uris, "spiffe://cluster.local/ns/istio-system/sa/istiod", NULL);
    struct policy_request r = req_for(&c);
    r.usages = USAGE_BIT(USAGE_DIGITAL_SIGNATURE) | USAGE_BIT(USAGE_KEY_ENCIPHERMENT) |
               USAGE_BIT(USAGE_SERVER_AUTH) | USAGE_BIT(USAGE_CLIENT_AUTH);
    expect_eval(p, &r, 0, "");
    r.issuer_kind = "ClusterIssuer";
    r.issuer_name = "anything";
    expect_eval(p, &r, 0, "");
    csr_clear(&c);
    policy_free(p);
}

static void test_header_errors(void **state)
{
    (void)state;
    bad_object("{'apiVersion':'v1','kind':'IssuancePolicy','metadata':{'name':'x'},'spec':{}}",
               "apiVersion: expected \"ember.issuer.dev/v1alpha1\"");
    bad_object("{'apiVersion':'ember.issuer.dev/v1alpha1','kind':'Issuer','metadata':{'name':'x'},"
               "'spec':{}}",
               "kind: expected \"IssuancePolicy\"");
    bad_object("{'apiVersion':'ember.issuer.dev/v1alpha1','kind':'IssuancePolicy','spec':{}}",
               "metadata.name: missing");
    bad_object("{'apiVersion':'ember.issuer.dev/v1alpha1','kind':'IssuancePolicy',"
               "'metadata':{'namespace':'x'},'spec':{}}",
               "metadata.name: missing");
    bad_object("{'apiVersion':'ember.issuer.dev/v1alpha1','kind':'IssuancePolicy',"
               "'metadata':{'name':''},'spec':{}}",
               "metadata.name: must be 1 to 253 bytes");
    bad_object("{'apiVersion':'ember.issuer.dev/v1alpha1','kind':'IssuancePolicy',"
               "'metadata':{'name':7},'spec':{}}",
               "metadata.name: expected a string, got a number");
    bad_object("{'apiVersion':'ember.issuer.dev/v1alpha1','kind':'IssuancePolicy',"
               "'metadata':{'name':'x'}}",
               "spec: missing");
    bad_object("[1,2]", "IssuancePolicy: expected an object, got a list");
    struct err err = {0};
    assert_null(policy_from_json(NULL, &err));
    assert_int_equal(err.kind, ERR_INVALID);
}

static void test_metadata_keys_and_status_ignored(void **state)
{
    (void)state;
    char *t = unquote("{'apiVersion':'ember.issuer.dev/v1alpha1','kind':'IssuancePolicy',"
                      "'metadata':{'name':'m','uid':'1','labels':{'a':'b'},'generation':3},"
                      "'spec':{},'status':{'conditions':[{'type':'Ready'}],'junk':1}}");
    cJSON *j = cJSON_Parse(t);
    free(t);
    struct err err = {0};
    struct policy *p = policy_from_json(j, &err);
    cJSON_Delete(j);
    assert_non_null(p);
    assert_string_equal(policy_name(p), "m");
    policy_free(p);
}

static void test_unknown_fields_name_the_path(void **state)
{
    (void)state;
    bad_spec("{'sans':{'dnsName':{'rule':'Optional'}}}", "spec.sans.dnsName: unknown field");
    bad_spec("{'subject':{'title':{'rule':'Optional'}}}", "spec.subject.title: unknown field");
    bad_spec("{'maxValidity':'1h'}", "spec.maxValidity: unknown field");
    bad_spec("{'validity':{'least':'1h'}}",
             "spec.validity.least: unknown field (known: max, default, min)");
    bad_spec("{'selector':{'labels':{}}}", "spec.selector.labels: unknown field");
    bad_spec("{'sans':{'uris':{'rule':'Optional','regex':['x']}}}",
             "spec.sans.uris.regex: unknown field");
    bad_spec("{'IsCA':true}", "spec.IsCA: unknown field");
    bad_spec("{'isCA':true,'isCA':false}", "spec.isCA: duplicate field");
}

static void test_wrong_types_name_path_and_type(void **state)
{
    (void)state;
    bad_spec("{'isCA':'yes'}", "spec.isCA: expected a boolean, got a string");
    bad_spec("{'usages':'server auth'}", "spec.usages: expected a list of strings, got a string");
    bad_spec("{'usages':['server auth',3]}", "spec.usages[1]: expected a string, got a number");
    bad_spec("{'validity':{'max':24}}", "spec.validity.max: expected a Go duration string");
    bad_spec("{'validity':'24h'}", "spec.validity: expected an object");
    bad_spec("{'subject':[]}", "spec.subject: expected an object, got a list");
    bad_spec("{'sans':{'dnsNames':'Optional'}}", "spec.sans.dnsNames: expected an object");
    bad_spec("{'sans':{'dnsNames':{'rule':'Optional','max':'1'}}}",
             "spec.sans.dnsNames.max: expected an integer, got a string");
    bad_spec("{'sans':{'dnsNames':{'rule':'Optional','max':1.5}}}",
             "spec.sans.dnsNames.max: must be a whole number from 0 to 1000");
    bad_spec("{'sans':{'dnsNames':{'rule':'Optional','max':-1}}}",
             "spec.sans.dnsNames.max: must be a whole number");
    bad_spec("{'sans':{'dnsNames':{'rule':'Optional','max':1001}}}",
             "spec.sans.dnsNames.max: must be a whole number from 0 to 1000");
    bad_spec("{'sans':{'dnsNames':{'rule':true}}}",
             "spec.sans.dnsNames.rule: expected a string, got a boolean");
    bad_spec("{'sans':{'dnsNames':{'rule':'required'}}}",
             "spec.sans.dnsNames.rule: \"required\" is not one of Required, Optional, Forbidden");
    bad_spec("{'sans':{'dnsNames':{'allowed':['x']}}}", "spec.sans.dnsNames.rule: missing");
    bad_spec("{'selector':{'namespaces':'default'}}",
             "spec.selector.namespaces: expected a list of strings, got a string");
    bad_spec("[]", "spec: expected an object, got a list");
}

static void test_null_is_absent(void **state)
{
    (void)state;
    struct policy *p = load_ok("{'isCA':null,'validity':null,'sans':{'dnsNames':null}}");
    struct csr c;
    csr_init(&c, "EC_P256");
    struct policy_request r = req_for(&c);
    expect_eval(p, &r, 0, "");
    assert_int_equal(policy_validity(p, 0), POLICY_DEFAULT_MAX_SECONDS);
    policy_free(p);
}

static void test_bad_regex_names_path_index_and_reason(void **state)
{
    (void)state;
    struct err err = {0};
    struct policy *p =
        load_spec("{'sans':{'dnsNames':{'rule':'Optional','allowed':['ok','[']}}}", &err);
    assert_null(p);
    assert_int_equal(err.kind, ERR_INVALID);
    assert_non_null(strstr(err.msg, "spec.sans.dnsNames.allowed[1]: invalid regex \"[\": "));
    /* followed by regerror's text */
    assert_true(strlen(strstr(err.msg, "\"[\": ")) > 5);
    bad_spec("{'subject':{'commonName':{'rule':'Required','allowed':['a(']}}}",
             "spec.subject.commonName.allowed[0]: invalid regex \"a(\"");
    bad_spec("{'subject':{'commonName':{'rule':'Required','allowed':[]}}}",
             "spec.subject.commonName.allowed: empty list allows no value");
}

static void eval_dns(const struct policy *p, const char *name, int want)
{
    struct csr c;
    csr_init(&c, "EC_P256");
    add(&c.dns_names, name, NULL);
    struct policy_request r = req_for(&c);
    char msg[512];
    int n = policy_evaluate(p, &r, msg, sizeof(msg));
    if (n != want)
        fail_msg("%s: %d violations, want %d (%s)", name, n, want, msg);
    csr_clear(&c);
}

static void test_regex_breakout_backref_and_bombs_rejected(void **state)
{
    (void)state;
    /* Would become ^(a)|(b)$ and match anything starting with a or ending with b. */
    bad_spec("{'sans':{'dnsNames':{'rule':'Optional','allowed':['a)|(b']}}}",
             "spec.sans.dnsNames.allowed[0]: invalid regex \"a)|(b\"");
    bad_spec("{'sans':{'dnsNames':{'rule':'Optional','allowed':['(a)\\\\1']}}}",
             "spec.sans.dnsNames.allowed[0]: regex \"(a)\\\\1\" uses a back-reference");
    bad_spec("{'sans':{'dnsNames':{'rule':'Optional','allowed':['((a{100}){100}){100}']}}}",
             "is too large once its repeats are expanded");
    bad_spec("{'sans':{'dnsNames':{'rule':'Optional','allowed':['(((((((((((((((a+)+)+)+)+)+)+)+"
             ")+)+)+)+)+)+)+)+']}}}",
             "is too large once its repeats are expanded");
    bad_spec("{'sans':{'dnsNames':{'rule':'Optional','allowed':['((a{100})**+)+']}}}",
             "spec.sans.dnsNames.allowed[0]: regex \"((a{100})**+)+\" has repeat operators in a "
             "row");
    bad_spec("{'sans':{'dnsNames':{'rule':'Optional','allowed':['a{2}+']}}}",
             "has repeat operators in a row");
    /* A realistic, fairly large DNS pattern stays well inside the limits. */
    struct policy *p = load_ok("{'sans':{'dnsNames':{'rule':'Optional','allowed':["
                               "'([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\\\.){1,10}svc',"
                               "'[[:alnum:]*+?{}]+\\\\.example\\\\.com']}}}");
    eval_dns(p, "a-b.c.svc", 0);
    eval_dns(p, "a*+{.example.com", 0);
    eval_dns(p, "-a.svc", 1);
    policy_free(p);
    /* Many regexes that are each fine but together too large. */
    char spec[8192];
    size_t used =
        (size_t)snprintf(spec, sizeof(spec), "{'sans':{'dnsNames':{'rule':'Optional','allowed':[");
    for (int i = 0; i < 30; i++)
        used += (size_t)snprintf(spec + used, sizeof(spec) - used, "%s'(a{60}){60}'", i ? "," : "");
    snprintf(spec + used, sizeof(spec) - used, "]}}}");
    bad_spec(spec, "the policy's regexes together are too large");
    char longre[POLICY_MAX_PATTERN + 200];
    const char *pre = "{'sans':{'uris':{'rule':'Optional','allowed':['";
    memset(longre, 'a', sizeof(longre));
    memcpy(longre, pre, strlen(pre));
    memcpy(longre + sizeof(longre) - 6, "']}}}", 6);
    bad_spec(longre, "spec.sans.uris.allowed[0]: longer than 1024 bytes");
}

static void test_regex_matches_whole_value(void **state)
{
    (void)state;
    struct policy *p = load_ok("{'sans':{'dnsNames':{'rule':'Optional','allowed':"
                               "['[a-z0-9-]+\\\\.svc','a|b']}}}");
    eval_dns(p, "foo.svc", 0);
    eval_dns(p, "foo.svc.evil.com", 1);
    eval_dns(p, "evil.com.foo.svc", 1);
    eval_dns(p, "x.foo.svc", 1);
    eval_dns(p, "a", 0);
    eval_dns(p, "b", 0);
    eval_dns(p, "ab", 1);
    eval_dns(p, "xa", 1);
    eval_dns(p, "foo.svc\n", 1);
    policy_free(p);
}

static void eval_ip(const struct policy *p, const char *ip, int want)
{
    struct csr c;
    csr_init(&c, "EC_P256");
    add(&c.ip_addresses, ip, NULL);
    struct policy_request r = req_for(&c);
    char msg[512];
    int n = policy_evaluate(p, &r, msg, sizeof(msg));
    if (n != want)
        fail_msg("%s: %d violations, want %d (%s)", ip, n, want, msg);
    csr_clear(&c);
}

static void test_ip_addresses_allowed_as_cidrs(void **state)
{
    (void)state;
    struct policy *p = load_ok("{'sans':{'ipAddresses':{'rule':'Optional','allowed':['10.0.0.0/8',"
                               "'2001:db8::/32','192.168.1.5','172.16.0.9/12','fd00::1']}}}");
    eval_ip(p, "10.1.2.3", 0);
    eval_ip(p, "10.255.255.255", 0);
    eval_ip(p, "11.0.0.1", 1);
    eval_ip(p, "2001:db8::1", 0);
    eval_ip(p, "2001:db9::1", 1);
    eval_ip(p, "192.168.1.5", 0);
    eval_ip(p, "192.168.1.6", 1);
    eval_ip(p, "172.31.255.1", 0); /* host bits of 172.16.0.9/12 are ignored */
    eval_ip(p, "172.32.0.1", 1);
    eval_ip(p, "fd00::1", 0);
    eval_ip(p, "fd00::2", 1);
    eval_ip(p, "::ffff:10.0.0.1", 1); /* a mapped address is not an IPv4 address */
    eval_ip(p, "not-an-ip", 1);
    policy_free(p);

    const char *bad[] = {"10.0.0.0/33", "10.0.0/8", "abc",          "10.0.0.0/",   "10.0.0.0/08",
                         "::/129",      "/8",       "10.0.0.0/8/8", "10.0.0.0/-1", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char spec[256];
        snprintf(spec, sizeof(spec),
                 "{'sans':{'ipAddresses':{'rule':'Optional','allowed':['0.0.0.0/0','%s']}}}",
                 bad[i]);
        bad_spec(spec, "spec.sans.ipAddresses.allowed[1]: invalid CIDR");
    }
}

static void test_rule_counts_and_forbidden_messages(void **state)
{
    (void)state;
    struct policy *p = load_ok("{'subject':{'organization':{'rule':'Forbidden'}},"
                               "'sans':{'uris':{'rule':'Required','max':1}}}");
    struct csr c;
    csr_init(&c, "EC_P256");
    struct policy_request r = req_for(&c);
    expect_eval(p, &r, 1, "policy \"mesh\": sans.uris: required, none given");
    add(&c.uris, "spiffe://a", "spiffe://b", NULL);
    expect_eval(p, &r, 1, "policy \"mesh\": sans.uris: 2 values, at most 1 allowed");
    strv_free(&c.uris);
    add(&c.uris, "spiffe://a", NULL);
    add(&c.organization, "Acme", NULL);
    expect_eval(p, &r, 1, "policy \"mesh\": subject.organization: forbidden, got \"Acme\"");
    add(&c.organization, "Other", NULL);
    expect_eval(p, &r, 1,
                "policy \"mesh\": subject.organization: forbidden, got \"Acme\", \"Other\"");
    csr_clear(&c);
    policy_free(p);
}

static void test_required_min(void **state)
{
    (void)state;
    struct policy *p = load_ok("{'sans':{'dnsNames':{'rule':'Required','min':2,'max':3}}}");
    struct csr c;
    csr_init(&c, "EC_P256");
    add(&c.dns_names, "a.svc", NULL);
    struct policy_request r = req_for(&c);
    expect_eval(p, &r, 1, "policy \"mesh\": sans.dnsNames: 1 value, at least 2 required");
    add(&c.dns_names, "b.svc", NULL);
    expect_eval(p, &r, 0, "");
    csr_clear(&c);
    policy_free(p);
}

static void test_rule_option_combinations_validated(void **state)
{
    (void)state;
    bad_spec("{'sans':{'dnsNames':{'rule':'Required','min':3,'max':2}}}",
             "spec.sans.dnsNames: min (3) is more than max (2)");
    bad_spec("{'sans':{'dnsNames':{'rule':'Required','max':0}}}",
             "spec.sans.dnsNames: min (1) is more than max (0)");
    bad_spec("{'sans':{'dnsNames':{'rule':'Required','min':0}}}",
             "spec.sans.dnsNames.min: must be at least 1 with rule Required");
    bad_spec("{'sans':{'dnsNames':{'rule':'Optional','min':1}}}",
             "spec.sans.dnsNames.min: only meaningful with rule Required");
    bad_spec("{'sans':{'dnsNames':{'rule':'Forbidden','allowed':['x']}}}",
             "spec.sans.dnsNames.allowed: not meaningful with rule Forbidden");
    bad_spec("{'sans':{'dnsNames':{'rule':'Forbidden','max':3}}}",
             "spec.sans.dnsNames.max: not meaningful with rule Forbidden");
}

static void test_left_out_means_forbidden_and_allowed_left_out_means_any(void **state)
{
    (void)state;
    struct policy *p = load_ok("{}");
    struct csr c;
    csr_init(&c, "RSA_2048");
    add(&c.common_name, "x", NULL);
    add(&c.dns_names, "x.example.com", NULL);
    struct policy_request r = req_for(&c);
    expect_eval(p, &r, 2,
                "policy \"mesh\": subject.commonName: forbidden, got \"x\"; "
                "sans.dnsNames: forbidden, got \"x.example.com\"");
    policy_free(p);

    p = load_ok("{'subject':{'commonName':{'rule':'Optional'}},"
                "'sans':{'dnsNames':{'rule':'Required'}}}");
    expect_eval(p, &r, 0, "");
    csr_clear(&c);
    policy_free(p);
}

static void test_other_subject_attributes_denied(void **state)
{
    (void)state;
    struct policy *p = load_ok("{'subject':{'commonName':{'rule':'Optional'}}}");
    struct csr c;
    csr_init(&c, "EC_P256");
    add(&c.other_subject, "street", NULL);
    struct policy_request r = req_for(&c);
    expect_eval(p, &r, 1, "policy \"mesh\": subject attribute \"street\" not allowed");
    add(&c.other_subject, "title", NULL);
    expect_eval(p, &r, 1, "policy \"mesh\": subject attributes \"street\", \"title\" not allowed");
    csr_clear(&c);
    policy_free(p);
}

/* SPIRE's UpstreamAuthority asks for its CA with C=US, O=SPIFFE, serialNumber=<decimal>. */
static void test_serial_number_is_a_subject_field(void **state)
{
    (void)state;
    struct csr c;
    csr_init(&c, "EC_P256");
    add(&c.country, "US", NULL);
    add(&c.organization, "SPIFFE", NULL);
    add(&c.serial_number, "283745098234750982347509823745", NULL);
    struct policy_request r = req_for(&c);

    /* Left out: Forbidden, with the same message as the other subject fields. */
    struct policy *p = load_ok("{'subject':{'country':{'rule':'Optional'},"
                               "'organization':{'rule':'Optional'}}}");
    expect_eval(p, &r, 1,
                "policy \"mesh\": subject.serialNumber: forbidden, got "
                "\"283745098234750982347509823745\"");
    policy_free(p);

    /* Allowed by a rule. */
    p = load_ok("{'subject':{'country':{'rule':'Optional','allowed':['US']},"
                "'organization':{'rule':'Optional','allowed':['SPIFFE']},"
                "'serialNumber':{'rule':'Optional','allowed':['[0-9]{1,40}'],'max':1}}}");
    expect_eval(p, &r, 0, "");
    /* Not matching allowed; more than max. */
    strv_free(&c.serial_number);
    add(&c.serial_number, "12a", NULL);
    expect_eval(p, &r, 1, "policy \"mesh\": subject.serialNumber \"12a\" not allowed");
    strv_free(&c.serial_number);
    add(&c.serial_number, "1", "2", NULL);
    expect_eval(p, &r, 1, "policy \"mesh\": subject.serialNumber: 2 values, at most 1 allowed");
    /* Optional: a request without one passes. */
    strv_free(&c.serial_number);
    expect_eval(p, &r, 0, "");
    policy_free(p);

    /* Required, with min. */
    p = load_ok("{'subject':{'country':{'rule':'Optional'},'organization':{'rule':'Optional'},"
                "'serialNumber':{'rule':'Required','min':1}}}");
    expect_eval(p, &r, 1, "policy \"mesh\": subject.serialNumber: required, none given");
    add(&c.serial_number, "7", NULL);
    expect_eval(p, &r, 0, "");
    policy_free(p);

    /* Validated like the other rules. */
    bad_spec("{'subject':{'serialNumber':{'rule':'Forbidden','allowed':['x']}}}",
             "spec.subject.serialNumber.allowed: not meaningful with rule Forbidden");
    bad_spec("{'subject':{'serialNumber':{'rule':'Optional','allowed':['(']}}}",
             "spec.subject.serialNumber.allowed[0]");
    bad_spec("{'subject':{'serialNumber':{}}}", "spec.subject.serialNumber");
    csr_clear(&c);
}

static void expect_key(const struct policy *p, const char *alg, const char *want_msg)
{
    struct csr c;
    csr_init(&c, alg);
    struct policy_request r = req_for(&c);
    expect_eval(p, &r, want_msg[0] != '\0' ? 1 : 0, want_msg);
}

static void test_key_algorithms(void **state)
{
    (void)state;
    struct policy *p = load_ok("{'keyAlgorithms':['EC_P256']}");
    expect_key(p, "EC_P256", "");
    expect_key(p, "EC_P384",
               "policy \"mesh\": keyAlgorithm EC_P384 not allowed (allowed: EC_P256)");
    policy_free(p);

    p = load_ok("{'keyAlgorithms':['RSA_8192','EC_ED25519','RSA_8192']}");
    expect_key(p, "RSA_8192", "");
    expect_key(p, "EC_ED25519", "");
    expect_key(p, "RSA_2048",
               "policy \"mesh\": keyAlgorithm RSA_2048 not allowed (allowed: "
               "RSA_8192, EC_ED25519)");
    policy_free(p);

    /* Left out: every supported key. */
    p = load_ok("{}");
    const char *ok[] = {"RSA_2048", "RSA_3072", "RSA_4096", "RSA_8192",
                        "EC_P256",  "EC_P384",  "EC_P521",  "EC_ED25519"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        expect_key(p, ok[i], "");
    expect_key(p, "RSA_1024",
               "policy \"mesh\": keyAlgorithm RSA_1024 not allowed (allowed: "
               "RSA_2048 or larger, EC_P256, EC_P384, EC_P521, EC_ED25519)");
    policy_free(p);

    bad_spec("{'keyAlgorithms':['DSA_1024']}",
             "spec.keyAlgorithms[0]: unknown key algorithm \"DSA_1024\"");
    bad_spec("{'keyAlgorithms':['EC_P256','RSA_1024']}",
             "spec.keyAlgorithms[1]: unknown key algorithm \"RSA_1024\"");
    bad_spec("{'keyAlgorithms':['RSA_02048']}", "unknown key algorithm");
    bad_spec("{'keyAlgorithms':['ec_p256']}", "unknown key algorithm");
    bad_spec("{'keyAlgorithms':[]}", "spec.keyAlgorithms: empty list allows no key");
}

static void test_selector(void **state)
{
    (void)state;
    struct policy *p = load_ok("{'selector':{'namespaces':['istio-system','team-*'],"
                               "'issuers':['Issuer/mesh-*','ClusterIssuer/shared']}}");
    struct csr c;
    csr_init(&c, "EC_P256");
    struct policy_request r = req_for(&c);
    expect_eval(p, &r, 0, "");
    r.namespace = "team-a";
    expect_eval(p, &r, 0, "");
    r.namespace = "default";
    expect_eval(p, &r, 1,
                "policy \"mesh\": namespace \"default\" is not selected by "
                "spec.selector.namespaces");
    r.namespace = "team-a";
    r.issuer_kind = ""; /* empty kind means Issuer */
    r.issuer_name = "mesh-ca2";
    expect_eval(p, &r, 0, "");
    r.issuer_kind = "ClusterIssuer";
    r.issuer_name = "mesh-ca";
    expect_eval(p, &r, 1,
                "policy \"mesh\": issuer \"ClusterIssuer/mesh-ca\" is not selected by "
                "spec.selector.issuers");
    r.issuer_name = "shared";
    expect_eval(p, &r, 0, "");
    r.issuer_kind = "Issuers";
    expect_eval(p, &r, 1,
                "policy \"mesh\": issuer \"Issuers/shared\" is not selected by "
                "spec.selector.issuers");
    csr_clear(&c);
    policy_free(p);

    bad_spec("{'selector':{'issuers':['mesh-ca']}}",
             "spec.selector.issuers[0]: \"mesh-ca\" must be Issuer/<name> or ClusterIssuer/<name>");
    bad_spec("{'selector':{'issuers':['Issuer/']}}", "spec.selector.issuers[0]");
    bad_spec("{'selector':{'namespaces':[]}}",
             "spec.selector.namespaces: empty list selects no namespace");
}

/* ---- spec.selector.requesters ---- */

#define REQ_SPEC(lists) "{'selector':{'requesters':{" lists "}}}"

static void test_requesters_parse(void **state)
{
    (void)state;
    struct policy *p = load_ok(REQ_SPEC("'users':['alice','ci-*'],'serviceAccounts':['team-a/*',"
                                        "'*/builder'],'groups':['system:serviceaccounts:team-b'],"
                                        "'certificates':['spiffe://cluster.local/ns/x/sa/*']"));
    assert_true(policy_has_requesters(p));
    policy_free(p);
    p = load_ok(REQ_SPEC("'groups':['admins']"));
    assert_true(policy_has_requesters(p));
    policy_free(p);
    p = load_ok("{'selector':{'namespaces':['a']}}");
    assert_false(policy_has_requesters(p));
    policy_free(p);
    p = load_ok("{'selector':{'requesters':null}}");
    assert_false(policy_has_requesters(p));
    policy_free(p);

    bad_spec(REQ_SPEC(""), "spec.selector.requesters: names no users, serviceAccounts, groups or "
                           "certificates (say who, or leave requesters out)");
    bad_spec(REQ_SPEC("'users':null"), "say who, or leave requesters out");
    bad_spec(REQ_SPEC("'users':[]"),
             "spec.selector.requesters.users: empty list admits no one (list who may use the "
             "policy, or leave it out)");
    bad_spec(REQ_SPEC("'users':['a'],'certificates':[]"),
             "spec.selector.requesters.certificates: empty list admits no one");
    bad_spec(REQ_SPEC("'groups':[5]"),
             "spec.selector.requesters.groups[0]: expected a string, got a number");
    bad_spec(REQ_SPEC("'users':'alice'"),
             "spec.selector.requesters.users: expected a list of strings, got a string");
    bad_spec("{'selector':{'requesters':['alice']}}",
             "spec.selector.requesters: expected an object, got a list");
    bad_spec(REQ_SPEC("'users':['a'],'names':['b']"),
             "spec.selector.requesters.names: unknown field (known: users, serviceAccounts, "
             "groups, certificates)");
    bad_spec(REQ_SPEC("'users':['a'],'users':['b']"),
             "spec.selector.requesters.users: duplicate field");
    bad_spec(REQ_SPEC("'users':['a','']"),
             "spec.selector.requesters.users[1]: empty (a glob such as \"*\" admits everyone)");
    bad_spec(REQ_SPEC("'serviceAccounts':['builder']"),
             "spec.selector.requesters.serviceAccounts[0]: \"builder\" must be "
             "<namespace>/<name> (either may be a glob, e.g. \"team-a/*\")");
    bad_spec(REQ_SPEC("'serviceAccounts':['team-a/x','/x']"),
             "spec.selector.requesters.serviceAccounts[1]: \"/x\" must be <namespace>/<name>");
    bad_spec(REQ_SPEC("'serviceAccounts':['team-a/']"), "serviceAccounts[0]: \"team-a/\" must be");
    bad_spec(REQ_SPEC("'serviceAccounts':['a/b/c']"), "serviceAccounts[0]: \"a/b/c\" must be");

    /* Bounded: entries by POLICY_MAX_PATTERN bytes, lists by POLICY_MAX_LIST entries. */
    char *longv = malloc(POLICY_MAX_PATTERN + 2);
    assert_non_null(longv);
    memset(longv, 'u', POLICY_MAX_PATTERN + 1);
    longv[POLICY_MAX_PATTERN + 1] = '\0';
    char *spec = NULL;
    assert_true(asprintf(&spec, REQ_SPEC("'users':['%s']"), longv) > 0);
    bad_spec(spec, "spec.selector.requesters.users[0]: longer than 1024 bytes");
    free(spec);
    longv[POLICY_MAX_PATTERN] = '\0';
    assert_true(asprintf(&spec, REQ_SPEC("'users':['%s']"), longv) > 0);
    policy_free(load_ok(spec));
    free(spec);
    free(longv);
    size_t cap = (POLICY_MAX_LIST + 1) * 6 + 64;
    char *many = malloc(cap);
    assert_non_null(many);
    size_t used = (size_t)snprintf(many, cap, "{'selector':{'requesters':{'groups':[");
    for (int i = 0; i <= POLICY_MAX_LIST; i++)
        used += (size_t)snprintf(many + used, cap - used, "%s'g'", i ? "," : "");
    snprintf(many + used, cap - used, "]}}}");
    bad_spec(many, "spec.selector.requesters.groups: 1001 entries, at most 1000 allowed");
    free(many);
}

static void caller_user(struct caller *c, enum caller_method m, const char *user, ...)
{
    memset(c, 0, sizeof(*c));
    c->method = m;
    c->username = user ? strdup(user) : NULL;
    va_list ap;
    va_start(ap, user);
    for (const char *g = va_arg(ap, const char *); g != NULL; g = va_arg(ap, const char *))
        strv_push(&c->groups, g);
    va_end(ap);
}

/* A verified client certificate: uris and dns_names are NULL-terminated arrays (or NULL). */
static void caller_cert(struct caller *c, const char *const *uris, const char *const *dns,
                        const char *cn)
{
    struct tls_peer peer = {.presented = true, .verified = true};
    for (size_t i = 0; uris != NULL && uris[i] != NULL; i++)
        strv_push(&peer.uris, uris[i]);
    for (size_t i = 0; dns != NULL && dns[i] != NULL; i++)
        strv_push(&peer.dns_names, dns[i]);
    peer.common_name = cn ? strdup(cn) : NULL;
    caller_from_peer(c, &peer);
    tls_peer_free(&peer);
}

/* Evaluates c against p: 0 admitted, else 1 with the message in out. */
static int admits(const struct policy *p, const struct caller *c, char *out, size_t outlen)
{
    struct csr csr;
    csr_init(&csr, "EC_P256");
    struct policy_request r = req_for(&csr);
    r.requester = c;
    int n = policy_evaluate(p, &r, out, outlen);
    csr_clear(&csr);
    return n;
}

static void expect_admitted(const struct policy *p, const struct caller *c)
{
    char msg[POLICY_MAX_MESSAGE + 1];
    if (admits(p, c, msg, sizeof(msg)) != 0)
        fail_msg("not admitted: %s", msg);
}

static void expect_refused(const struct policy *p, const struct caller *c, const char *want)
{
    char msg[POLICY_MAX_MESSAGE + 1];
    int n = admits(p, c, msg, sizeof(msg));
    if (n != 1 || strcmp(msg, want) != 0)
        fail_msg("%d violations\n  got:  %s\n  want: %s", n, msg, want);
}

static void test_requesters_match_token_and_cert_manager(void **state)
{
    (void)state;
    struct policy *p = load_ok(REQ_SPEC("'users':['alice','ci-?'],'serviceAccounts':['team-a/*',"
                                        "'*/deployer'],'groups':['platform-*'],"
                                        "'certificates':['*']"));
    static const enum caller_method methods[] = {CALLER_TOKEN, CALLER_CERT_MANAGER};
    for (size_t m = 0; m < 2; m++) {
        struct caller c;
        caller_user(&c, methods[m], "alice", NULL);
        expect_admitted(p, &c);
        caller_free(&c);
        caller_user(&c, methods[m], "ci-7", NULL);
        expect_admitted(p, &c);
        caller_free(&c);
        caller_user(&c, methods[m], "ci-77", NULL);
        expect_refused(p, &c,
                       "policy \"mesh\": requester \"ci-77\" (no groups) is not admitted by "
                       "spec.selector.requesters");
        caller_free(&c);
        caller_user(&c, methods[m], "system:serviceaccount:team-a:builder",
                    "system:serviceaccounts", "system:serviceaccounts:team-a", NULL);
        expect_admitted(p, &c);
        caller_free(&c);
        caller_user(&c, methods[m], "system:serviceaccount:team-c:deployer", NULL);
        expect_admitted(p, &c);
        caller_free(&c);
        caller_user(&c, methods[m], "system:serviceaccount:team-b:builder",
                    "system:serviceaccounts", "system:serviceaccounts:team-b",
                    "system:authenticated", NULL);
        expect_refused(p, &c,
                       "policy \"mesh\": requester \"system:serviceaccount:team-b:builder\" "
                       "(groups \"system:serviceaccounts\", \"system:serviceaccounts:team-b\", "
                       "\"system:authenticated\") is not admitted by spec.selector.requesters");
        caller_free(&c);
        /* Only the exact service-account form: four parts, none empty. */
        const char *const not_sa[] = {
            "system:serviceaccount:team-a",          "system:serviceaccount:team-a:",
            "system:serviceaccount::deployer",       "system:serviceaccount:team-a:builder:extra",
            "system:serviceaccounts:team-a:builder", "team-a/builder",
            "x:system:serviceaccount:team-a:b"};
        for (size_t i = 0; i < sizeof(not_sa) / sizeof(not_sa[0]); i++) {
            caller_user(&c, methods[m], not_sa[i], NULL);
            char msg[POLICY_MAX_MESSAGE + 1];
            if (admits(p, &c, msg, sizeof(msg)) != 1)
                fail_msg("%s admitted", not_sa[i]);
            caller_free(&c);
        }
        /* groups */
        caller_user(&c, methods[m], "bob", "devs", "platform-oncall", NULL);
        expect_admitted(p, &c);
        caller_free(&c);
        /* certificates never apply to a username, however it looks */
        caller_user(&c, methods[m], "spiffe://cluster.local/ns/x/sa/y", NULL);
        expect_refused(p, &c,
                       "policy \"mesh\": requester \"spiffe://cluster.local/ns/x/sa/y\" (no "
                       "groups) is not admitted by spec.selector.requesters");
        caller_free(&c);
    }
    policy_free(p);
}

static void test_requesters_match_client_certificates(void **state)
{
    (void)state;
    struct policy *p = load_ok(REQ_SPEC("'certificates':['spiffe://cluster.local/ns/team-a/sa/*',"
                                        "'*.clients.example.com','CN=ignored','build-bot']"));
    struct caller c;
    const char *const u1[] = {"spiffe://cluster.local/ns/team-a/sa/builder", NULL};
    caller_cert(&c, u1, NULL, NULL);
    expect_admitted(p, &c);
    caller_free(&c);
    /* '*' stays within one path segment of a URI */
    const char *const u2[] = {"spiffe://cluster.local/ns/team-a/sa/x/../../../ns/kube-system/sa/y",
                              NULL};
    caller_cert(&c, u2, NULL, NULL);
    expect_refused(p, &c,
                   "policy \"mesh\": requester "
                   "\"spiffe://cluster.local/ns/team-a/sa/x/../../../ns/kube-system/sa/y\" "
                   "(client certificate: URIs "
                   "\"spiffe://cluster.local/ns/team-a/sa/x/../../../ns/kube-system/sa/y\") is "
                   "not admitted by spec.selector.requesters");
    caller_free(&c);
    /* One identity: the first URI SAN, else the first DNS SAN (case-insensitive), else the CN;
     * a later name never stands in for it */
    const char *const u3[] = {"spiffe://other/x", "spiffe://cluster.local/ns/team-a/sa/b", NULL};
    caller_cert(&c, u3, NULL, NULL);
    expect_refused(p, &c,
                   "policy \"mesh\": requester \"spiffe://other/x\" (client certificate: URIs "
                   "\"spiffe://other/x\", \"spiffe://cluster.local/ns/team-a/sa/b\") is not "
                   "admitted by spec.selector.requesters");
    caller_free(&c);
    const char *const d1[] = {"Node-1.Clients.Example.COM", "a.example.com", NULL};
    caller_cert(&c, NULL, d1, "whatever");
    expect_admitted(p, &c);
    caller_free(&c);
    const char *const d4[] = {"a.example.com", "Node-1.Clients.Example.COM", NULL};
    caller_cert(&c, NULL, d4, "build-bot");
    expect_refused(p, &c,
                   "policy \"mesh\": requester \"a.example.com\" (client certificate: DNS names "
                   "\"a.example.com\", \"Node-1.Clients.Example.COM\", CN \"build-bot\") is not "
                   "admitted by spec.selector.requesters");
    caller_free(&c);
    /* a CN that reads like an admitted SPIFFE ID, on a certificate whose URI is another's */
    const char *const u6[] = {"spiffe://cluster.local/ns/team-c/sa/robot", NULL};
    caller_cert(&c, u6, NULL, "spiffe://cluster.local/ns/team-a/sa/builder");
    expect_refused(p, &c,
                   "policy \"mesh\": requester \"spiffe://cluster.local/ns/team-c/sa/robot\" "
                   "(client certificate: URIs \"spiffe://cluster.local/ns/team-c/sa/robot\", CN "
                   "\"spiffe://cluster.local/ns/team-a/sa/builder\") is not admitted by "
                   "spec.selector.requesters");
    caller_free(&c);
    caller_cert(&c, NULL, NULL, "build-bot");
    expect_admitted(p, &c);
    caller_free(&c);
    const char *const d2[] = {"clients.example.com", NULL};
    caller_cert(&c, NULL, d2, "Build-Bot");
    expect_refused(p, &c,
                   "policy \"mesh\": requester \"clients.example.com\" (client certificate: DNS "
                   "names \"clients.example.com\", CN \"Build-Bot\") is not admitted by "
                   "spec.selector.requesters");
    caller_free(&c);
    const char *const u5[] = {"spiffe://other/a", "https://id.example/b", NULL};
    const char *const d3[] = {"host.example.net", NULL};
    caller_cert(&c, u5, d3, "client-a");
    expect_refused(p, &c,
                   "policy \"mesh\": requester \"spiffe://other/a\" (client certificate: URIs "
                   "\"spiffe://other/a\", \"https://id.example/b\", DNS names "
                   "\"host.example.net\", CN \"client-a\") is not admitted by "
                   "spec.selector.requesters");
    caller_free(&c);
    caller_cert(&c, NULL, NULL, NULL);
    expect_refused(p, &c,
                   "policy \"mesh\": requester unknown (client certificate without names) is not "
                   "admitted by spec.selector.requesters");
    caller_free(&c);
    policy_free(p);

    /* users, serviceAccounts and groups never match a certificate, however its names read */
    p = load_ok(REQ_SPEC("'users':['spiffe://td/*','system:serviceaccount:*'],"
                         "'serviceAccounts':['*/*'],'groups':['*']"));
    const char *const u4[] = {"spiffe://td/ns/a/sa/b", NULL};
    caller_cert(&c, u4, NULL, NULL);
    expect_refused(p, &c,
                   "policy \"mesh\": requester \"spiffe://td/ns/a/sa/b\" (client certificate: "
                   "URIs \"spiffe://td/ns/a/sa/b\") is not admitted by spec.selector.requesters");
    caller_free(&c);
    caller_cert(&c, NULL, NULL, "system:serviceaccount:kube-system:admin");
    expect_refused(p, &c,
                   "policy \"mesh\": requester \"system:serviceaccount:kube-system:admin\" "
                   "(client certificate: CN \"system:serviceaccount:kube-system:admin\") is not "
                   "admitted by spec.selector.requesters");
    caller_free(&c);
    policy_free(p);
}

static void test_requesters_anonymous_and_unknown_never_admitted(void **state)
{
    (void)state;
    struct policy *p = load_ok(REQ_SPEC("'users':['*'],'groups':['*'],'serviceAccounts':['*/*'],"
                                        "'certificates':['*']"));
    struct caller c;
    caller_user(&c, CALLER_ANONYMOUS, "anonymous", NULL);
    expect_refused(p, &c,
                   "policy \"mesh\": requester \"anonymous\" (not authenticated) is not admitted "
                   "by spec.selector.requesters");
    caller_free(&c);
    memset(&c, 0, sizeof(c)); /* CALLER_NONE: a CertificateRequest without spec.username */
    expect_refused(p, &c,
                   "policy \"mesh\": requester unknown (spec.username is not set) is not "
                   "admitted by spec.selector.requesters");
    /* A token caller without a username (never made by an authenticator) is not admitted. */
    caller_user(&c, CALLER_TOKEN, NULL, "g", NULL);
    char msg[POLICY_MAX_MESSAGE + 1];
    assert_int_equal(admits(p, &c, msg, sizeof(msg)), 1);
    caller_free(&c);
    policy_free(p);

    /* A policy without requesters does not look at the requester (controller front door). */
    p = load_ok("{}");
    caller_user(&c, CALLER_ANONYMOUS, "anonymous", NULL);
    expect_admitted(p, &c);
    caller_free(&c);
    memset(&c, 0, sizeof(c));
    expect_admitted(p, &c);
    policy_free(p);
}

static void test_requesters_message_first_and_bounded(void **state)
{
    (void)state;
    struct policy *p = load_ok("{'selector':{'namespaces':['istio-system'],'requesters':{"
                               "'groups':['admins']}}}");
    struct caller c;
    caller_user(&c, CALLER_TOKEN, "system:serviceaccount:team-a:builder", "g1", "g2", "g3", "g4",
                "g5", "g6", "g7", "g8", "g9", "g10", NULL);
    struct csr csr;
    csr_init(&csr, "EC_P256");
    add(&csr.dns_names, "a.example.com", NULL);
    struct policy_request r = req_for(&csr);
    r.namespace = "default";
    r.requester = &c;
    expect_eval(
        p, &r, 3,
        "policy \"mesh\": requester \"system:serviceaccount:team-a:builder\" (groups "
        "\"g1\", \"g2\", \"g3\", \"g4\", \"g5\", \"g6\", \"g7\", \"g8\", and 2 more) is not "
        "admitted by spec.selector.requesters; namespace \"default\" is not selected by "
        "spec.selector.namespaces; sans.dnsNames: forbidden, got \"a.example.com\"");
    caller_free(&c);
    /* Names are quoted, escaped and cut like any requested value. */
    char longv[300];
    memset(longv, 'n', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    caller_user(&c, CALLER_CERT_MANAGER, longv, "bad\n\"group\"", NULL);
    char msg[POLICY_MAX_MESSAGE + 1];
    assert_int_equal(policy_evaluate(p, &r, msg, sizeof(msg)), 3);
    char want[512];
    snprintf(want, sizeof(want), "requester \"%.128s...\" (groups \"bad\\x0a\\\"group\\\"\")",
             longv);
    if (strstr(msg, want) == NULL)
        fail_msg("%s\n lacks %s", msg, want);
    caller_free(&c);
    csr_clear(&csr);
    policy_free(p);
}

static void test_require_requesters(void **state)
{
    (void)state;
    struct csr csr;
    csr_init(&csr, "EC_P256");
    struct policy_request r = req_for(&csr);
    struct caller c;
    caller_user(&c, CALLER_TOKEN, "system:serviceaccount:team-a:builder", NULL);

    /* Without requesters the policy is not usable from the signing API, whoever asks. */
    struct policy *p = load_ok("{}");
    r.require_requesters = true;
    r.requester = &c;
    expect_eval(p, &r, 1,
                "policy \"mesh\": spec.selector.requesters is not set, so the policy is not "
                "usable from the signing API");
    r.requester = NULL;
    expect_eval(p, &r, 1,
                "policy \"mesh\": spec.selector.requesters is not set, so the policy is not "
                "usable from the signing API");
    r.require_requesters = false;
    expect_eval(p, &r, 0, "");
    policy_free(p);

    p = load_ok("{'selector':{'requesters':{'serviceAccounts':['team-a/*']}}}");
    r.require_requesters = true;
    r.requester = &c;
    expect_eval(p, &r, 0, "");
    /* Required, but nobody to check: counts as unknown, never as a pass. */
    r.requester = NULL;
    expect_eval(p, &r, 1,
                "policy \"mesh\": requester unknown (spec.username is not set) is not admitted by "
                "spec.selector.requesters");
    /* Not required and not given: not checked (callers that do not know the requester). */
    r.require_requesters = false;
    expect_eval(p, &r, 0, "");
    policy_free(p);
    caller_free(&c);
    csr_clear(&csr);
}

static void test_validity(void **state)
{
    (void)state;
    struct policy *p = load_ok("{'validity':{'max':'24h','default':'1h'}}");
    assert_int_equal(policy_validity(p, 0), 3600);
    assert_int_equal(policy_validity(p, 1800), 1800);
    assert_int_equal(policy_validity(p, 86400), 86400);
    assert_int_equal(policy_validity(p, 100000), 86400);
    /* A long duration is clamped, never a violation. */
    struct csr c;
    csr_init(&c, "EC_P256");
    struct policy_request r = req_for(&c);
    r.duration_s = 10LL * 86400;
    expect_eval(p, &r, 0, "");
    policy_free(p);

    p = load_ok("{'validity':{'max':'48h'}}");
    assert_int_equal(policy_validity(p, 0), 48 * 3600);
    policy_free(p);

    p = load_ok("{}");
    assert_int_equal(policy_validity(p, 0), POLICY_DEFAULT_MAX_SECONDS);
    assert_int_equal(policy_validity(p, 365LL * 86400), POLICY_DEFAULT_MAX_SECONDS);
    policy_free(p);

    p = load_ok("{'validity':{'default':'720h'}}");
    assert_int_equal(policy_validity(p, 0), 720 * 3600);
    assert_int_equal(policy_validity(p, 365LL * 86400), POLICY_DEFAULT_MAX_SECONDS);
    policy_free(p);

    bad_spec("{'validity':{'max':'1x'}}", "spec.validity.max: invalid duration \"1x\"");
    bad_spec("{'validity':{'max':'24h','default':'48h'}}",
             "spec.validity.default (48h0m0s) is longer than spec.validity.max (24h0m0s)");
    bad_spec("{'validity':{'default':'2161h'}}",
             "spec.validity.default (2161h0m0s) is longer than the default maximum (2160h0m0s)");
    bad_spec("{'validity':{'max':'0s'}}", "spec.validity.max: must be longer than 0s");
    bad_spec("{'validity':{'max':'500ms'}}", "spec.validity.max: must be longer than 0s");
    bad_spec("{'validity':{'default':'-1h'}}", "spec.validity.default: invalid duration");
}

static void expect_usages(const struct policy *p, usage_set u, bool is_ca, int want)
{
    struct csr c;
    csr_init(&c, "EC_P256");
    struct policy_request r = req_for(&c);
    r.usages = u;
    r.is_ca = is_ca;
    char msg[512];
    int n = policy_evaluate(p, &r, msg, sizeof(msg));
    if (n != want)
        fail_msg("usages 0x%x isCA %d: %d violations, want %d (%s)", u, is_ca, n, want, msg);
}

static void test_usages(void **state)
{
    (void)state;
    struct policy *p = load_ok("{}");
    expect_usages(p, 0, false, 0);
    expect_usages(p, USAGE_DEFAULT, false, 0);
    expect_usages(p, USAGE_BIT(USAGE_SIGNING), false, 0); /* alias of digital signature */
    struct csr c;
    csr_init(&c, "EC_P256");
    struct policy_request r = req_for(&c);
    r.usages = USAGE_DEFAULT | USAGE_BIT(USAGE_SERVER_AUTH) | USAGE_BIT(USAGE_CLIENT_AUTH);
    expect_eval(p, &r, 1,
                "policy \"mesh\": usages \"server auth\", \"client auth\" not allowed (allowed: "
                "digital signature, key encipherment)");
    policy_free(p);

    p = load_ok("{'usages':['digital signature','server auth','s/mime']}");
    expect_usages(p, USAGE_BIT(USAGE_SERVER_AUTH), false, 0);
    expect_usages(p, USAGE_BIT(USAGE_EMAIL_PROTECTION), false, 0);
    expect_usages(p, 0, false, 1); /* the default includes key encipherment */
    expect_usages(p, USAGE_BIT(USAGE_CERT_SIGN), false, 1);
    policy_free(p);

    bad_spec("{'usages':['server auth','serverAuth']}",
             "spec.usages[1]: unknown usage \"serverAuth\"");
    bad_spec("{'usages':[]}", "spec.usages: empty list allows no usage");
}

static void test_is_ca(void **state)
{
    (void)state;
    struct policy *p = load_ok("{'isCA':true,'usages':['digital signature','key encipherment']}");
    expect_usages(p, 0, true, 0);
    /* "cert sign" comes with isCA and need not be listed. */
    expect_usages(p, USAGE_DEFAULT | USAGE_BIT(USAGE_CERT_SIGN), true, 0);
    expect_usages(p, USAGE_DEFAULT | USAGE_BIT(USAGE_CERT_SIGN), false, 1);
    expect_usages(p, 0, false, 0);
    policy_free(p);

    p = load_ok("{}");
    struct csr c;
    csr_init(&c, "EC_P256");
    struct policy_request r = req_for(&c);
    r.is_ca = true;
    expect_eval(p, &r, 1, "policy \"mesh\": isCA not allowed (spec.isCA is false)");
    r.is_ca = false;
    c.has_basic_constraints = true;
    c.bc_is_ca = true;
    expect_eval(p, &r, 1, "policy \"mesh\": isCA not allowed (spec.isCA is false)");
    policy_free(p);
}

static void test_every_violation_in_fixed_order(void **state)
{
    (void)state;
    struct policy *p = load_ok(MESH_SPEC);
    struct csr c;
    csr_init(&c, "RSA_8192");
    add(&c.common_name, "evil.com", NULL);
    add(&c.organization, "Acme", NULL);
    add(&c.country, "NL", NULL);
    add(&c.serial_number, "42", NULL);
    add(&c.other_subject, "street", NULL);
    add(&c.dns_names, "ok.svc", "evil.com", "also.evil", NULL);
    add(&c.ip_addresses, "10.0.0.1", NULL);
    add(&c.email_addresses, "a@b.c", NULL);
    struct policy_request r = {.csr = &c,
                               .namespace = "default",
                               .issuer_kind = "Issuer",
                               .issuer_name = "other",
                               .usages = USAGE_BIT(USAGE_CODE_SIGNING),
                               .is_ca = true};
    const char *want =
        "policy \"mesh\": namespace \"default\" is not selected by spec.selector.namespaces; "
        "issuer \"Issuer/other\" is not selected by spec.selector.issuers; "
        "keyAlgorithm RSA_8192 not allowed (allowed: EC_P256, EC_P384, RSA_2048, RSA_3072, "
        "RSA_4096, EC_ED25519); "
        "subject.commonName \"evil.com\" not allowed; "
        "subject.organization: forbidden, got \"Acme\"; "
        "subject.country: forbidden, got \"NL\"; "
        "subject.serialNumber: forbidden, got \"42\"; "
        "subject attribute \"street\" not allowed; "
        "sans.dnsNames \"evil.com\", \"also.evil\" not allowed; "
        "sans.ipAddresses: forbidden, got \"10.0.0.1\"; "
        "sans.uris: required, none given; "
        "sans.emailAddresses: forbidden, got \"a@b.c\"; "
        "usages \"code signing\" not allowed (allowed: digital signature, key encipherment, "
        "server auth, client auth); "
        "isCA not allowed (spec.isCA is false)";
    expect_eval(p, &r, 14, want);
    /* Deterministic: the same answer every time. */
    expect_eval(p, &r, 14, want);
    /* Counting without a buffer. */
    assert_int_equal(policy_evaluate(p, &r, NULL, 0), 14);
    csr_clear(&c);
    policy_free(p);
}

static void test_missing_csr_is_a_violation(void **state)
{
    (void)state;
    struct policy *p = load_ok("{}");
    struct policy_request r = {.namespace = "x", .issuer_kind = "Issuer", .issuer_name = "y"};
    expect_eval(p, &r, 1, "policy \"mesh\": no CSR to evaluate");
    policy_free(p);
}

static void test_values_quoted_escaped_and_cut(void **state)
{
    (void)state;
    struct policy *p = load_ok("{}");
    struct csr c;
    csr_init(&c, "EC_P256");
    char longv[300];
    memset(longv, 'a', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    add(&c.dns_names, longv, "q\"\\\n\x01", "caf\xc3\xa9", "bad\xff", NULL);
    struct policy_request r = req_for(&c);
    char msg[POLICY_MAX_MESSAGE + 1];
    assert_int_equal(policy_evaluate(p, &r, msg, sizeof(msg)), 1);
    char want[512];
    snprintf(want, sizeof(want), "\"%.128s...\", ", longv);
    assert_non_null(strstr(msg, want));
    assert_null(strstr(msg, "aaaaaaaaa\"")); /* never longer than 128 bytes */
    assert_non_null(strstr(msg, "\"q\\\"\\\\\\x0a\\x01\""));
    assert_non_null(strstr(msg, "\"caf\xc3\xa9\""));
    assert_non_null(strstr(msg, "\"bad\\xff\""));
    assert_null(strchr(msg, '\n'));
    csr_clear(&c);
    policy_free(p);
}

static void test_message_bounded_with_ellipsis(void **state)
{
    (void)state;
    struct policy *p = load_ok("{}");
    struct csr c;
    csr_init(&c, "EC_P256");
    add(&c.common_name, "first", NULL);
    add(&c.dns_names, "a.example.com", NULL);
    struct policy_request r = req_for(&c);
    char small[40];
    memset(small, 'Z', sizeof(small));
    assert_int_equal(policy_evaluate(p, &r, small, sizeof(small)), 2);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_string_equal(small + sizeof(small) - 4, "...");
    assert_memory_equal(small, "policy \"mesh\": subject.commonName", 33);

    char tiny[1];
    assert_int_equal(policy_evaluate(p, &r, tiny, sizeof(tiny)), 2);
    assert_int_equal(tiny[0], '\0');

    /* Many long values: cut at POLICY_MAX_MESSAGE even with a larger buffer. */
    char v[200];
    for (int i = 0; i < 500; i++) {
        snprintf(v, sizeof(v), "%03d-%0150d.example.com", i, 0);
        strv_push(&c.dns_names, v);
    }
    char *big = malloc(3 * POLICY_MAX_MESSAGE);
    assert_non_null(big);
    assert_int_equal(policy_evaluate(p, &r, big, 3 * POLICY_MAX_MESSAGE), 2);
    assert_int_equal(strlen(big), POLICY_MAX_MESSAGE);
    assert_string_equal(big + POLICY_MAX_MESSAGE - 3, "...");
    free(big);
    csr_clear(&c);

    /* The cut never splits a UTF-8 sequence. */
    csr_init(&c, "EC_P256");
    add(&c.common_name, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", NULL);
    for (size_t len = 36; len < 60; len++) {
        char buf[64];
        assert_int_equal(policy_evaluate(p, &r, buf, len), 1);
        size_t l = strlen(buf);
        assert_string_equal(buf + l - 3, "...");
        unsigned char before = (unsigned char)buf[l - 4];
        assert_false(before >= 0xc0); /* no lead byte without its continuation */
    }
    csr_clear(&c);
    policy_free(p);
}

/* ---- issue 14 section 4: validity.min, keySizes, requiredUsages, namespaceSelector ---- */

static void test_validity_min(void **state)
{
    (void)state;
    bad_spec("{'validity':{'min':'2h','max':'1h'}}",
             "spec.validity.min (2h0m0s) is longer than spec.validity.max (1h0m0s)");
    bad_spec("{'validity':{'min':'2h','default':'1h'}}",
             "spec.validity.min (2h0m0s) is longer than spec.validity.default (1h0m0s)");
    bad_spec("{'validity':{'min':'2400h'}}", "is longer than the default maximum (2160h0m0s)");
    bad_spec("{'validity':{'min':'1x'}}", "spec.validity.min: invalid duration");
    bad_spec("{'validity':{'min':'0s'}}", "spec.validity.min: must be longer than 0s");
    bad_spec("{'validity':{'min':5}}", "spec.validity.min: expected a Go duration string");

    struct policy *p = load_ok("{'validity':{'min':'1h','max':'24h'}}");
    struct csr c;
    csr_init(&c, "EC_P256");
    struct policy_request r = req_for(&c);
    r.duration_s = 600;
    expect_eval(p, &r, 1,
                "policy \"mesh\": validity: 10m0s requested, at least 1h0m0s (spec.validity.min)");
    r.duration_s = 3600;
    expect_eval(p, &r, 0, "");
    /* None asked: max applies (24h), which is above min. */
    r.duration_s = 0;
    expect_eval(p, &r, 0, "");
    assert_int_equal(policy_validity(p, 0), 24 * 3600);
    /* Longer than max: clamped as before, not denied. */
    r.duration_s = 100 * 3600;
    expect_eval(p, &r, 0, "");
    assert_int_equal(policy_validity(p, 100 * 3600), 24 * 3600);
    policy_free(p);
}

static void expect_rsa(const struct policy *p, const char *alg, int bits, int want_n,
                       const char *want_msg)
{
    struct csr c;
    csr_init(&c, alg);
    c.key_bits = bits;
    struct policy_request r = req_for(&c);
    expect_eval(p, &r, want_n, want_msg);
}

static void test_key_sizes(void **state)
{
    (void)state;
    bad_spec("{'keySizes':{'rsa':{'min':4096,'max':3072}}}",
             "spec.keySizes.rsa: min (4096) is more than max (3072)");
    bad_spec("{'keySizes':{'rsa':{'min':1024}}}",
             "spec.keySizes.rsa.min: must be a whole number from 2048 to 16384");
    bad_spec("{'keySizes':{'rsa':{'max':32768}}}",
             "spec.keySizes.rsa.max: must be a whole number from 2048 to 16384");
    bad_spec("{'keySizes':{'rsa':{}}}", "spec.keySizes.rsa: give min or max");
    bad_spec("{'keySizes':{}}", "spec.keySizes: names no key type");
    bad_spec("{'keySizes':{'ec':{'min':256}}}", "spec.keySizes.ec: unknown field");
    bad_spec("{'keySizes':{'rsa':{'min':'3072'}}}", "spec.keySizes.rsa.min: expected");

    struct policy *p = load_ok("{'keySizes':{'rsa':{'min':3072,'max':4096}}}");
    expect_rsa(p, "RSA_2048", 2048, 1,
               "policy \"mesh\": keySize RSA 2048 bits, at least 3072 (spec.keySizes.rsa.min)");
    expect_rsa(p, "RSA_8192", 8192, 1,
               "policy \"mesh\": keySize RSA 8192 bits, at most 4096 (spec.keySizes.rsa.max)");
    expect_rsa(p, "RSA_3072", 3072, 0, "");
    expect_rsa(p, "RSA_4096", 4096, 0, "");
    /* EC and Ed25519 keys are not RSA: unaffected. */
    expect_rsa(p, "EC_P256", 256, 0, "");
    expect_rsa(p, "EC_ED25519", 256, 0, "");
    policy_free(p);

    /* Beside keyAlgorithms: both apply, each named. */
    p = load_ok("{'keyAlgorithms':['RSA_2048','EC_P256'],'keySizes':{'rsa':{'min':3072}}}");
    expect_rsa(p, "RSA_2048", 2048, 1,
               "policy \"mesh\": keySize RSA 2048 bits, at least 3072 (spec.keySizes.rsa.min)");
    expect_rsa(p, "RSA_4096", 4096, 1,
               "policy \"mesh\": keyAlgorithm RSA_4096 not allowed (allowed: RSA_2048, EC_P256)");
    policy_free(p);
}

static void test_required_usages(void **state)
{
    (void)state;
    bad_spec("{'requiredUsages':['client auth']}",
             "spec.requiredUsages[0]: \"client auth\" is not allowed by spec.usages (allowed: "
             "digital signature, key encipherment); add it there too");
    bad_spec("{'usages':['server auth'],'requiredUsages':['server auth','nope']}",
             "spec.requiredUsages[1]: unknown usage \"nope\"");
    bad_spec("{'requiredUsages':[]}", "spec.requiredUsages: empty list");

    struct policy *p =
        load_ok("{'usages':['digital signature','key encipherment','server auth','client auth'],"
                "'requiredUsages':['server auth','digital signature']}");
    struct csr c;
    csr_init(&c, "EC_P256");
    struct policy_request r = req_for(&c);
    r.usages = USAGE_BIT(USAGE_SERVER_AUTH) | USAGE_BIT(USAGE_DIGITAL_SIGNATURE);
    expect_eval(p, &r, 0, "");
    /* "signing" is cert-manager's other name of digital signature. */
    r.usages = USAGE_BIT(USAGE_SERVER_AUTH) | USAGE_BIT(USAGE_SIGNING);
    expect_eval(p, &r, 0, "");
    r.usages = USAGE_BIT(USAGE_CLIENT_AUTH);
    expect_eval(p, &r, 1,
                "policy \"mesh\": usages digital signature, server auth required by "
                "spec.requiredUsages, not requested (requested: client auth)");
    /* None requested: cert-manager's default, which lacks server auth. */
    r.usages = 0;
    expect_eval(p, &r, 1,
                "policy \"mesh\": usages server auth required by spec.requiredUsages, not "
                "requested (requested: digital signature, key encipherment, the default)");
    policy_free(p);

    /* A CA policy may require cert sign. */
    p = load_ok("{'isCA':true,'requiredUsages':['cert sign']}");
    policy_free(p);
}

static void test_namespace_selector_load(void **state)
{
    (void)state;
    bad_spec("{'selector':{'namespaceSelector':{}}}",
             "spec.selector.namespaceSelector: selects every namespace");
    bad_spec("{'selector':{'namespaceSelector':{'matchLabels':{}}}}", "selects every namespace");
    bad_spec("{'selector':{'namespaceSelector':{'matchLabels':{'-bad':'x'}}}}",
             "spec.selector.namespaceSelector.matchLabels: invalid label key \"-bad\"");
    bad_spec("{'selector':{'namespaceSelector':{'matchLabels':{'Ex.com/team':'a'}}}}",
             "invalid label key \"Ex.com/team\"");
    bad_spec("{'selector':{'namespaceSelector':{'matchLabels':{'team':'a b'}}}}",
             "spec.selector.namespaceSelector.matchLabels.team: invalid label value \"a b\"");
    bad_spec("{'selector':{'namespaceSelector':{'matchLabels':{'team':1}}}}",
             "spec.selector.namespaceSelector.matchLabels.team: expected a string");
    bad_spec("{'selector':{'namespaceSelector':{'matchExpressions':[{'key':'env',"
             "'operator':'In'}]}}}",
             "spec.selector.namespaceSelector.matchExpressions[0].values: required with "
             "operator In");
    bad_spec("{'selector':{'namespaceSelector':{'matchExpressions':[{'key':'env',"
             "'operator':'Exists','values':['a']}]}}}",
             "matchExpressions[0].values: must be empty with operator Exists");
    bad_spec("{'selector':{'namespaceSelector':{'matchExpressions':[{'key':'env',"
             "'operator':'Gt','values':['1']}]}}}",
             "matchExpressions[0].operator: \"Gt\" is not one of In, NotIn, Exists, DoesNotExist");
    bad_spec("{'selector':{'namespaceSelector':{'matchExpressions':[{'operator':'Exists'}]}}}",
             "matchExpressions[0].key: missing");
    bad_spec("{'selector':{'namespaceSelector':{'matchExpressions':[{'key':'env',"
             "'operator':'NotIn','values':['ok','no/t']}]}}}",
             "matchExpressions[0].values[1]: invalid label value \"no/t\"");
    bad_spec("{'selector':{'namespaceSelector':{'matchLabels':{'a':'b'},'other':1}}}",
             "spec.selector.namespaceSelector.other: unknown field");
    struct policy *p = load_ok(
        "{'selector':{'namespaceSelector':{'matchLabels':{'example.com/team':'a','tier':''},"
        "'matchExpressions':[{'key':'env','operator':'NotIn','values':['prod']},"
        "{'key':'frozen','operator':'DoesNotExist'}]}}}");
    assert_true(policy_has_namespace_selector(p));
    policy_free(p);
    p = load_ok("{}");
    assert_false(policy_has_namespace_selector(p));
    policy_free(p);
}

static void expect_ns(const struct policy *p, const char *ns, bool known, const struct strv *labels,
                      int want_n, const char *want_msg)
{
    struct csr c;
    csr_init(&c, "EC_P256");
    struct policy_request r = req_for(&c);
    r.namespace = ns;
    r.namespace_known = known;
    r.namespace_labels = labels;
    expect_eval(p, &r, want_n, want_msg);
}

static void test_namespace_selector_eval(void **state)
{
    (void)state;
    struct policy *p =
        load_ok("{'selector':{'namespaces':['team-*'],'namespaceSelector':{'matchLabels':"
                "{'ember.issuer.dev/certs':'yes'},'matchExpressions':[{'key':'env','operator':"
                "'In','values':['dev','test']},{'key':'frozen','operator':'DoesNotExist'}]}}}");
    struct strv ok = {0}, wrong_env = {0}, frozen = {0}, none = {0};
    add(&ok, "ember.issuer.dev/certs=yes", "env=dev", "other=x", NULL);
    add(&wrong_env, "ember.issuer.dev/certs=yes", "env=prod", NULL);
    add(&frozen, "ember.issuer.dev/certs=yes", "env=test", "frozen=", NULL);
    expect_ns(p, "team-a", true, &ok, 0, "");
    expect_ns(p, "team-a", true, &wrong_env, 1,
              "policy \"mesh\": namespace \"team-a\" is not selected by "
              "spec.selector.namespaceSelector (its labels \"ember.issuer.dev/certs=yes\", "
              "\"env=prod\")");
    expect_ns(p, "team-a", true, &frozen, 1,
              "policy \"mesh\": namespace \"team-a\" is not selected by "
              "spec.selector.namespaceSelector (its labels \"ember.issuer.dev/certs=yes\", "
              "\"env=test\", \"frozen=\")");
    expect_ns(p, "team-a", true, &none, 1,
              "policy \"mesh\": namespace \"team-a\" is not selected by "
              "spec.selector.namespaceSelector (it has no labels)");
    expect_ns(p, "team-a", true, NULL, 1,
              "policy \"mesh\": namespace \"team-a\" is not selected by "
              "spec.selector.namespaceSelector (it has no labels)");
    expect_ns(p, "team-x", false, NULL, 1,
              "policy \"mesh\": namespace \"team-x\" is not known to Ember (no Namespace "
              "object), so spec.selector.namespaceSelector matches nothing");
    /* Beside selector.namespaces: both must match, each named. */
    expect_ns(p, "other", true, &ok, 1,
              "policy \"mesh\": namespace \"other\" is not selected by spec.selector.namespaces");
    expect_ns(p, "other", false, NULL, 2,
              "policy \"mesh\": namespace \"other\" is not selected by "
              "spec.selector.namespaces; namespace \"other\" is not known to Ember (no "
              "Namespace object), so spec.selector.namespaceSelector matches nothing");
    policy_free(p);

    /* NotIn and Exists; a key with a label name that is a prefix of another. */
    p = load_ok("{'selector':{'namespaceSelector':{'matchExpressions':[{'key':'env','operator':"
                "'NotIn','values':['prod']},{'key':'team','operator':'Exists'}]}}}");
    struct strv a = {0}, b = {0}, c = {0};
    add(&a, "team=a", NULL);
    add(&b, "team=a", "env=prod", NULL);
    add(&c, "teams=a", "env=dev", NULL);
    expect_ns(p, "x", true, &a, 0, "");
    assert_int_equal(policy_evaluate(p, &(struct policy_request){0}, NULL, 0), 2);
    expect_ns(p, "x", true, &b, 1,
              "policy \"mesh\": namespace \"x\" is not selected by "
              "spec.selector.namespaceSelector (its labels \"team=a\", \"env=prod\")");
    expect_ns(p, "x", true, &c, 1,
              "policy \"mesh\": namespace \"x\" is not selected by "
              "spec.selector.namespaceSelector (its labels \"teams=a\", \"env=dev\")");
    policy_free(p);
    struct strv *all[] = {&ok, &wrong_env, &frozen, &none, &a, &b, &c};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        strv_free(all[i]);
}

static void test_nslabels_cache(void **state)
{
    (void)state;
    struct nslabels *t = nslabels_new();
    struct err e = {0};
    cJSON *ns = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{"
                            "\"name\":\"team-a\",\"labels\":{\"env\":\"dev\",\"team\":\"a\"}}}");
    assert_int_equal(nslabels_put(t, ns, &e), 0);
    struct strv out = {0};
    assert_true(nslabels_get(t, "team-a", &out));
    assert_int_equal(out.n, 2);
    assert_string_equal(out.v[0], "env=dev");
    assert_string_equal(out.v[1], "team=a");
    strv_free(&out);
    assert_false(nslabels_get(t, "team-b", &out));
    assert_int_equal(out.n, 0);
    /* A later version replaces the labels (a label added to the Namespace). */
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(ns, "metadata"), "labels",
                              cJSON_Parse("{\"ember\":\"yes\"}"));
    assert_int_equal(nslabels_put(t, ns, &e), 0);
    assert_true(nslabels_get(t, "team-a", &out));
    assert_int_equal(out.n, 1);
    assert_string_equal(out.v[0], "ember=yes");
    strv_free(&out);
    assert_int_equal(nslabels_count(t), 1);
    /* Too many labels: not kept at all (a cut set could satisfy NotIn wrongly). */
    cJSON *many = cJSON_CreateObject();
    for (int i = 0; i <= NSLABELS_MAX_LABELS; i++) {
        char k[32];
        snprintf(k, sizeof(k), "l%d", i);
        cJSON_AddStringToObject(many, k, "v");
    }
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(ns, "metadata"), "labels", many);
    assert_int_equal(nslabels_put(t, ns, &e), -1);
    assert_int_equal(e.kind, ERR_TOO_BIG);
    assert_false(nslabels_get(t, "team-a", &out));
    /* A label value that is not a string, a Namespace without a name. */
    cJSON *bad = cJSON_Parse("{\"metadata\":{\"name\":\"b\",\"labels\":{\"x\":1}}}");
    assert_int_equal(nslabels_put(t, bad, &e), -1);
    assert_non_null(strstr(e.msg, "not a string"));
    cJSON_Delete(bad);
    bad = cJSON_Parse("{\"metadata\":{\"labels\":{}}}");
    assert_int_equal(nslabels_put(t, bad, &e), -1);
    cJSON_Delete(bad);
    /* Without labels: known, with none. */
    bad = cJSON_Parse("{\"metadata\":{\"name\":\"plain\"}}");
    assert_int_equal(nslabels_put(t, bad, &e), 0);
    assert_true(nslabels_get(t, "plain", &out));
    assert_int_equal(out.n, 0);
    nslabels_remove(t, "plain");
    assert_false(nslabels_get(t, "plain", &out));
    assert_int_equal(nslabels_count(t), 0);
    cJSON_Delete(bad);
    cJSON_Delete(ns);
    nslabels_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_design_example_allows_conforming_request),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_metadata_keys_and_status_ignored),
        cmocka_unit_test(test_unknown_fields_name_the_path),
        cmocka_unit_test(test_wrong_types_name_path_and_type),
        cmocka_unit_test(test_null_is_absent),
        cmocka_unit_test(test_bad_regex_names_path_index_and_reason),
        cmocka_unit_test(test_regex_breakout_backref_and_bombs_rejected),
        cmocka_unit_test(test_regex_matches_whole_value),
        cmocka_unit_test(test_ip_addresses_allowed_as_cidrs),
        cmocka_unit_test(test_rule_counts_and_forbidden_messages),
        cmocka_unit_test(test_required_min),
        cmocka_unit_test(test_rule_option_combinations_validated),
        cmocka_unit_test(test_left_out_means_forbidden_and_allowed_left_out_means_any),
        cmocka_unit_test(test_other_subject_attributes_denied),
        cmocka_unit_test(test_serial_number_is_a_subject_field),
        cmocka_unit_test(test_key_algorithms),
        cmocka_unit_test(test_selector),
        cmocka_unit_test(test_requesters_parse),
        cmocka_unit_test(test_requesters_match_token_and_cert_manager),
        cmocka_unit_test(test_requesters_match_client_certificates),
        cmocka_unit_test(test_requesters_anonymous_and_unknown_never_admitted),
        cmocka_unit_test(test_requesters_message_first_and_bounded),
        cmocka_unit_test(test_require_requesters),
        cmocka_unit_test(test_validity),
        cmocka_unit_test(test_usages),
        cmocka_unit_test(test_is_ca),
        cmocka_unit_test(test_every_violation_in_fixed_order),
        cmocka_unit_test(test_missing_csr_is_a_violation),
        cmocka_unit_test(test_values_quoted_escaped_and_cut),
        cmocka_unit_test(test_message_bounded_with_ellipsis),
        cmocka_unit_test(test_validity_min),
        cmocka_unit_test(test_key_sizes),
        cmocka_unit_test(test_required_usages),
        cmocka_unit_test(test_namespace_selector_load),
        cmocka_unit_test(test_namespace_selector_eval),
        cmocka_unit_test(test_nslabels_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
