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
#include <pthread.h>
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
    struct strv *all[] = {&c->common_name,
                          &c->organization,
                          &c->organizational_unit,
                          &c->country,
                          &c->province,
                          &c->locality,
                          &c->street_address,
                          &c->postal_code,
                          &c->serial_number,
                          &c->other_subject_oids,
                          &c->other_subject_values,
                          &c->dns_names,
                          &c->ip_addresses,
                          &c->uris,
                          &c->email_addresses,
                          &c->other_name_oids,
                          &c->other_name_values};
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
    add(&c.other_subject_oids, "2.5.4.12", NULL);
    add(&c.other_subject_values, "boss", NULL);
    struct policy_request r = req_for(&c);
    expect_eval(p, &r, 1,
                "policy \"mesh\": subject 2.5.4.12 (title) not allowed (not in "
                "spec.subject.otherAttributes)");
    /* One item for every unlisted attribute, each OID once; no short name when OpenSSL has
     * none. */
    add(&c.other_subject_oids, "1.2.3.4", "2.5.4.12", NULL);
    add(&c.other_subject_values, "x", "chief", NULL);
    expect_eval(p, &r, 1,
                "policy \"mesh\": subject 2.5.4.12 (title), 1.2.3.4 not allowed (not in "
                "spec.subject.otherAttributes)");
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

/* ---- issue 14 section 2: otherNames, streetAddress, postalCode, otherAttributes ---- */

#define UPN "1.3.6.1.4.1.311.20.2.3"

static void test_other_names_policy(void **state)
{
    (void)state;
    struct policy *p = load_ok("{'sans':{'otherNames':{'rule':'Optional','max':1,'allowed':["
                               "{'oid':'" UPN "','value':'[a-z]+@example\\\\.com'}]}}}");
    struct csr c;
    csr_init(&c, "EC_P256");
    add(&c.other_name_oids, UPN, NULL);
    add(&c.other_name_values, "bob@example.com", NULL);
    struct policy_request r = req_for(&c);
    expect_eval(p, &r, 0, "");
    /* The value must match the pattern of an entry with the same OID (anchored). */
    csr_clear(&c);
    add(&c.other_name_oids, UPN, "1.2.3.4", NULL);
    add(&c.other_name_values, "bob@evil.com", "bob@example.com", NULL);
    expect_eval(p, &r, 2,
                "policy \"mesh\": sans.otherNames: 2 values, at most 1 allowed; "
                "sans.otherNames " UPN " \"bob@evil.com\", 1.2.3.4 \"bob@example.com\" not "
                "allowed");
    csr_clear(&c);
    add(&c.other_name_oids, UPN, NULL);
    add(&c.other_name_values, "xbob@example.com.evil", NULL);
    expect_eval(p, &r, 1,
                "policy \"mesh\": sans.otherNames " UPN " \"xbob@example.com.evil\" not allowed");
    csr_clear(&c);
    policy_free(p);

    /* Required with min; no allowed list: any otherName. */
    p = load_ok("{'sans':{'otherNames':{'rule':'Required','min':2}}}");
    add(&c.other_name_oids, "1.2.3", NULL);
    add(&c.other_name_values, "x", NULL);
    expect_eval(p, &r, 1, "policy \"mesh\": sans.otherNames: 1 value, at least 2 required");
    csr_clear(&c);
    expect_eval(p, &r, 1, "policy \"mesh\": sans.otherNames: required, none given");
    policy_free(p);
}

static void test_other_names_policy_invalid(void **state)
{
    (void)state;
    bad_spec("{'sans':{'otherNames':{'rule':'Optional','allowed':[{'oid':'1.2.x','value':'a'}]}}}",
             "spec.sans.otherNames.allowed[0].oid: \"1.2.x\" is not a dotted OID");
    bad_spec("{'sans':{'otherNames':{'rule':'Optional','allowed':[{'oid':'3.1','value':'a'}]}}}",
             "is not a dotted OID");
    bad_spec("{'sans':{'otherNames':{'rule':'Optional','allowed':[{'oid':'1.02','value':'a'}]}}}",
             "is not a dotted OID");
    bad_spec("{'sans':{'otherNames':{'rule':'Optional','allowed':[{'oid':'1.2.3'}]}}}",
             "spec.sans.otherNames.allowed[0].value: missing");
    bad_spec("{'sans':{'otherNames':{'rule':'Optional','allowed':[{'oid':'1.2.3','value':'['}]}}}",
             "spec.sans.otherNames.allowed[0].value: invalid regex");
    bad_spec("{'sans':{'otherNames':{'rule':'Optional','allowed':[{'oid':'1.2.3','value':'a',"
             "'x':1}]}}}",
             "spec.sans.otherNames.allowed[0].x: unknown field");
    bad_spec("{'sans':{'otherNames':{'rule':'Optional','allowed':[]}}}",
             "spec.sans.otherNames.allowed: empty list");
    bad_spec("{'sans':{'otherNames':{'rule':'Forbidden','max':1}}}",
             "spec.sans.otherNames.max: not meaningful with rule Forbidden");
    bad_spec("{'sans':{'otherNames':{'allowed':[]}}}", "spec.sans.otherNames.rule: missing");
    bad_spec("{'sans':{'otherNames':[]}}", "spec.sans.otherNames: expected an object");
    bad_spec("{'sans':{'otherNames':{'rule':'Optional','allowed':'x'}}}",
             "spec.sans.otherNames.allowed: expected a list of {oid, value}, got a string");
    bad_spec("{'sans':{'otherNames':{'rule':'Optional','allowed':['1.2.3']}}}",
             "spec.sans.otherNames.allowed[0]: expected an object");
}

static void test_street_postal_policy(void **state)
{
    (void)state;
    struct policy *p =
        load_ok("{'subject':{'commonName':{'rule':'Optional'},"
                "'streetAddress':{'rule':'Optional','allowed':['[A-Za-z ]+ [0-9]+']},"
                "'postalCode':{'rule':'Required','max':1}}}");
    struct csr c;
    csr_init(&c, "EC_P256");
    add(&c.street_address, "Main St 1", NULL);
    add(&c.postal_code, "10997", NULL);
    struct policy_request r = req_for(&c);
    expect_eval(p, &r, 0, "");
    add(&c.street_address, "Main St 1; DROP", NULL);
    add(&c.postal_code, "10999", NULL);
    expect_eval(p, &r, 2,
                "policy \"mesh\": subject.streetAddress \"Main St 1; DROP\" not allowed; "
                "subject.postalCode: 2 values, at most 1 allowed");
    csr_clear(&c);
    expect_eval(p, &r, 1, "policy \"mesh\": subject.postalCode: required, none given");
    policy_free(p);
}

static void test_other_attributes_policy(void **state)
{
    (void)state;
    struct policy *p =
        load_ok("{'subject':{'otherAttributes':["
                "{'oid':'2.5.4.12','rule':'Optional','allowed':['engineer|manager']},"
                "{'oid':'1.2.3.4','rule':'Required','max':1}]}}");
    struct csr c;
    csr_init(&c, "EC_P256");
    add(&c.other_subject_oids, "2.5.4.12", "1.2.3.4", NULL);
    add(&c.other_subject_values, "engineer", "anything", NULL);
    struct policy_request r = req_for(&c);
    expect_eval(p, &r, 0, "");
    add(&c.other_subject_oids, "2.5.4.12", "2.5.4.42", NULL);
    add(&c.other_subject_values, "boss", "Bob", NULL);
    expect_eval(p, &r, 2,
                "policy \"mesh\": subject 2.5.4.12 (title) \"boss\" not allowed; "
                "subject 2.5.4.42 (GN) not allowed (not in spec.subject.otherAttributes)");
    csr_clear(&c);
    expect_eval(p, &r, 1, "policy \"mesh\": subject 1.2.3.4: required, none given");
    policy_free(p);

    /* Forbidden names what it got. */
    p = load_ok("{'subject':{'otherAttributes':[{'oid':'2.5.4.12','rule':'Forbidden'}]}}");
    add(&c.other_subject_oids, "2.5.4.12", NULL);
    add(&c.other_subject_values, "boss", NULL);
    expect_eval(p, &r, 1, "policy \"mesh\": subject 2.5.4.12 (title): forbidden, got \"boss\"");
    csr_clear(&c);
    policy_free(p);
}

static void test_other_attributes_invalid(void **state)
{
    (void)state;
    bad_spec("{'subject':{'otherAttributes':[{'oid':'2.5.4.3','rule':'Optional'}]}}",
             "spec.subject.otherAttributes[0].oid: 2.5.4.3 is spec.subject.commonName: set that "
             "field instead");
    bad_spec("{'subject':{'otherAttributes':[{'oid':'2.5.4.9','rule':'Optional'}]}}",
             "is spec.subject.streetAddress");
    bad_spec("{'subject':{'otherAttributes':[{'oid':'1.2.3','rule':'Optional'},"
             "{'oid':'1.2.3','rule':'Forbidden'}]}}",
             "spec.subject.otherAttributes[1].oid: 1.2.3 is listed twice");
    bad_spec("{'subject':{'otherAttributes':[{'oid':'1.2.3','rule':'Sometimes'}]}}",
             "spec.subject.otherAttributes[0].rule: \"Sometimes\" is not one of");
    bad_spec("{'subject':{'otherAttributes':[{'rule':'Optional'}]}}",
             "spec.subject.otherAttributes[0].oid: missing");
    bad_spec("{'subject':{'otherAttributes':[{'oid':'1.2.3','rule':'Optional','allowed':['(']}]}}",
             "spec.subject.otherAttributes[0].allowed[0]: invalid regex");
    bad_spec("{'subject':{'otherAttributes':[]}}", "spec.subject.otherAttributes: empty list");
    bad_spec("{'subject':{'otherAttributes':{}}}", "spec.subject.otherAttributes: expected a list");
    bad_spec("{'subject':{'otherAttributes':['1.2.3']}}",
             "spec.subject.otherAttributes[0]: expected an object");
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
    add(&c.street_address, "Main St 1", NULL);
    add(&c.other_subject_oids, "2.5.4.12", NULL);
    add(&c.other_subject_values, "boss", NULL);
    add(&c.dns_names, "ok.svc", "evil.com", "also.evil", NULL);
    add(&c.other_name_oids, "1.3.6.1.4.1.311.20.2.3", NULL);
    add(&c.other_name_values, "bob@evil.com", NULL);
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
        "subject.streetAddress: forbidden, got \"Main St 1\"; "
        "subject.serialNumber: forbidden, got \"42\"; "
        "subject 2.5.4.12 (title) not allowed (not in spec.subject.otherAttributes); "
        "sans.dnsNames \"evil.com\", \"also.evil\" not allowed; "
        "sans.ipAddresses: forbidden, got \"10.0.0.1\"; "
        "sans.uris: required, none given; "
        "sans.emailAddresses: forbidden, got \"a@b.c\"; "
        "sans.otherNames: forbidden, got 1.3.6.1.4.1.311.20.2.3 \"bob@evil.com\"; "
        "usages \"code signing\" not allowed (allowed: digital signature, key encipherment, "
        "server auth, client auth); "
        "isCA not allowed (spec.isCA is false)";
    expect_eval(p, &r, 16, want);
    /* Deterministic: the same answer every time. */
    expect_eval(p, &r, 16, want);
    /* Counting without a buffer. */
    assert_int_equal(policy_evaluate(p, &r, NULL, 0), 16);
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

/* ---- issue 14 section 3: ${namespace}, ${serviceAccount}, ${serviceAccountNamespace} ---- */

/* One evaluation of a CSR with the given URI (or none) and CN (or none) for a requester in
 * namespace ns with service account sa_ns/sa (either NULL: none). */
static int eval_vars(const struct policy *p, const char *ns, const char *sa_ns, const char *sa,
                     const char *uri, const char *cn, char *msg, size_t msglen)
{
    struct csr c;
    csr_init(&c, "EC_P256");
    if (uri != NULL)
        add(&c.uris, uri, NULL);
    if (cn != NULL)
        add(&c.common_name, cn, NULL);
    struct policy_request r = req_for(&c);
    r.namespace = ns;
    r.service_account = sa;
    r.service_account_namespace = sa_ns;
    char local[512];
    if (msg == NULL) {
        msg = local;
        msglen = sizeof(local);
    }
    int n = policy_evaluate(p, &r, msg, msglen);
    csr_clear(&c);
    return n;
}

static void want_vars(const struct policy *p, const char *ns, const char *sa_ns, const char *sa,
                      const char *uri, const char *cn, int want)
{
    char msg[512];
    int n = eval_vars(p, ns, sa_ns, sa, uri, cn, msg, sizeof(msg));
    if (n != want)
        fail_msg("ns=%s sa=%s/%s uri=%s cn=%s: %d violations, want %d (%s)", ns ? ns : "(null)",
                 sa_ns ? sa_ns : "(null)", sa ? sa : "(null)", uri ? uri : "-", cn ? cn : "-", n,
                 want, msg);
}

#define MESH_VARS                                                                                  \
    "{'subject':{'commonName':{'rule':'Optional','allowed':['${serviceAccount}',"                  \
    "'${serviceAccountNamespace}-admin']}},"                                                       \
    "'sans':{'uris':{'rule':'Optional','allowed':"                                                 \
    "['spiffe://cluster\\\\.local/ns/${namespace}/sa/.+']},"                                       \
    "'dnsNames':{'rule':'Optional','allowed':['.*\\\\.${namespace}\\\\.svc']}}}"

static void test_vars_expand_to_the_request(void **state)
{
    (void)state;
    struct policy *p = load_ok(MESH_VARS);
    assert_true(policy_depends_on_namespace(p));
    want_vars(p, "team-a", NULL, NULL, "spiffe://cluster.local/ns/team-a/sa/web", NULL, 0);
    want_vars(p, "team-a", NULL, NULL, "spiffe://cluster.local/ns/team-b/sa/web", NULL, 1);
    want_vars(p, "team-b", NULL, NULL, "spiffe://cluster.local/ns/team-b/sa/web", NULL, 0);
    /* The value is the whole path segment: neither a prefix nor a longer name. */
    want_vars(p, "team-a", NULL, NULL, "spiffe://cluster.local/ns/team-aa/sa/web", NULL, 1);
    want_vars(p, "team", NULL, NULL, "spiffe://cluster.local/ns/team-a/sa/web", NULL, 1);
    /* The rest of the pattern stays a regex. */
    want_vars(p, "team-a", NULL, NULL, "spiffe://clusterXlocal/ns/team-a/sa/web", NULL, 1);
    want_vars(p, "team-a", NULL, NULL, "spiffe://cluster.local/ns/team-a/sa/", NULL, 1);

    struct csr c;
    csr_init(&c, "EC_P256");
    add(&c.dns_names, "web.team-a.svc", "api.team-a.svc", NULL);
    struct policy_request r = req_for(&c);
    r.namespace = "team-a";
    assert_int_equal(policy_evaluate(p, &r, NULL, 0), 0);
    r.namespace = "team-b";
    char msg[512];
    assert_int_equal(policy_evaluate(p, &r, msg, sizeof(msg)), 1);
    assert_non_null(
        strstr(msg, "sans.dnsNames \"web.team-a.svc\", \"api.team-a.svc\" not allowed"));
    csr_clear(&c);

    /* ${serviceAccount} is the NAME, ${serviceAccountNamespace} the NS. */
    want_vars(p, "team-a", "team-a", "web", NULL, "web", 0);
    want_vars(p, "team-a", "team-a", "web", NULL, "team-a-admin", 0);
    want_vars(p, "team-a", "team-a", "web", NULL, "api", 1);
    want_vars(p, "team-a", "team-b", "web", NULL, "team-a-admin", 1);
    policy_free(p);

    /* A policy whose patterns only name the service account does not use ${namespace}. */
    p = load_ok("{'subject':{'commonName':{'rule':'Optional','allowed':['${serviceAccount}']}}}");
    assert_false(policy_depends_on_namespace(p));
    policy_free(p);
    p = load_ok("{'subject':{'commonName':{'rule':'Optional','allowed':['a.*']}}}");
    assert_false(policy_depends_on_namespace(p));
    policy_free(p);
}

static void test_vars_values_are_quoted(void **state)
{
    (void)state;
    struct policy *p = load_ok("{'subject':{'commonName':{'rule':'Optional','allowed':"
                               "['${serviceAccount}','id-${serviceAccount}+']}}}");
    /* Username-derived values may hold any regex metacharacter: each matches only itself. */
    static const struct {
        const char *sa, *self, *other;
    } cases[] = {
        {"a.b", "a.b", "aXb"},
        {"x+", "x+", "xx"},
        {"s*", "s*", "sss"},
        {"p(q", "p(q", "pq"},
        {"[z]", "[z]", "z"},
        {"a|b", "a|b", "a"},
        {"c{2}", "c{2}", "cc"},
        {"^$", "^$", ""},
        {"back\\slash", "back\\slash", "backslash"},
        {"q?", "q?", "q"},
        {".*", ".*", "anything"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        want_vars(p, "team-a", "team-a", cases[i].sa, NULL, cases[i].self, 0);
        want_vars(p, "team-a", "team-a", cases[i].sa, NULL, cases[i].other, 1);
    }
    /* A variable is one group: a repeat after it repeats the whole value. */
    want_vars(p, "team-a", "team-a", "ab", NULL, "id-abab", 0);
    want_vars(p, "team-a", "team-a", "ab", NULL, "id-abb", 1);
    want_vars(p, "team-a", "team-a", "a.", NULL, "id-a.a.", 0);
    want_vars(p, "team-a", "team-a", "a.", NULL, "id-a.ab", 1);
    policy_free(p);
}

static void test_vars_parse_errors(void **state)
{
    (void)state;
    bad_spec("{'sans':{'uris':{'rule':'Optional','allowed':['a','spiffe://x/${names}']}}}",
             "spec.sans.uris.allowed[1]: unknown variable ${names} (known: ${namespace}, "
             "${serviceAccount}, ${serviceAccountNamespace}; a literal \"${\" is written \\$\\{ "
             "or [$][{])");
    bad_spec("{'subject':{'commonName':{'rule':'Optional','allowed':['x${namespace']}}}",
             "spec.subject.commonName.allowed[0]: regex \"x${namespace\" has a \"${\" that is not "
             "closed by '}'");
    bad_spec("{'subject':{'commonName':{'rule':'Optional','allowed':['${}']}}}",
             "unknown variable ${}");
    bad_spec("{'subject':{'commonName':{'rule':'Optional','allowed':['${Namespace}']}}}",
             "unknown variable ${Namespace}");
    /* A syntax error shows at load, named by the template. */
    bad_spec("{'sans':{'dnsNames':{'rule':'Optional','allowed':['(${namespace}']}}}",
             "spec.sans.dnsNames.allowed[0]: invalid regex \"(${namespace}\"");
    bad_spec("{'sans':{'dnsNames':{'rule':'Optional','allowed':['${namespace}**']}}}",
             "repeat operators in a row");
    /* ipAddresses are CIDRs, never templates. */
    bad_spec("{'sans':{'ipAddresses':{'rule':'Optional','allowed':['${namespace}']}}}",
             "invalid CIDR");

    /* A literal "${" escaped or in brackets is the regex's own, as before. */
    struct policy *p = load_ok("{'subject':{'commonName':{'rule':'Optional','allowed':"
                               "['a\\\\$\\\\{namespace\\\\}','b[$][{]namespace}','c[${]x']}}}");
    assert_false(policy_depends_on_namespace(p));
    want_vars(p, "team-a", NULL, NULL, NULL, "a${namespace}", 0);
    want_vars(p, "team-a", NULL, NULL, NULL, "b${namespace}", 0);
    want_vars(p, "team-a", NULL, NULL, NULL, "c{x", 0);
    want_vars(p, "team-a", NULL, NULL, NULL, "ateam-a", 1);
    policy_free(p);
}

static void test_vars_without_value_match_nothing(void **state)
{
    (void)state;
    struct policy *p = load_ok("{'subject':{'commonName':{'rule':'Optional','allowed':"
                               "['.*${serviceAccount}.*','ns-${namespace}.*','x']}}}");
    want_vars(p, "team-a", "team-a", "web", NULL, "a-web-b", 0);
    want_vars(p, "team-a", NULL, NULL, NULL, "a-web-b", 1);
    want_vars(p, "team-a", "team-a", "", NULL, "anything", 1);
    want_vars(p, "team-a", NULL, NULL, NULL, "ns-team-a", 0);
    want_vars(p, NULL, NULL, NULL, NULL, "ns-", 1);
    want_vars(p, "", NULL, NULL, NULL, "ns-", 1);
    want_vars(p, NULL, NULL, NULL, NULL, "x", 0); /* the other patterns still apply */
    /* Longer than any namespace: no value (the cost checked at load stays a bound). */
    char ns[80];
    memset(ns, 'n', 64);
    ns[64] = '\0';
    char cn[90];
    snprintf(cn, sizeof(cn), "ns-%s", ns);
    want_vars(p, ns, NULL, NULL, NULL, cn, 1);
    ns[63] = '\0';
    snprintf(cn, sizeof(cn), "ns-%s", ns);
    want_vars(p, ns, NULL, NULL, NULL, cn, 0);
    policy_free(p);
}

static void test_vars_cost_at_longest_value(void **state)
{
    (void)state;
    /* ${serviceAccount} counts 253 (+2 for its group): 20 copies exceed 5000. */
    bad_spec("{'subject':{'commonName':{'rule':'Optional','allowed':['(${serviceAccount}){20}']}}}",
             "spec.subject.commonName.allowed[0]: regex \"(${serviceAccount}){20}\" is too large "
             "once its repeats are expanded (limit 5000)");
    struct policy *p = load_ok(
        "{'subject':{'commonName':{'rule':'Optional','allowed':['(${serviceAccount}){15}']}}}");
    policy_free(p);
    /* ${namespace} counts 63 (+2): 80 copies exceed 5000, 60 do not. */
    bad_spec("{'subject':{'commonName':{'rule':'Optional','allowed':['(${namespace}){80}']}}}",
             "too large");
    p = load_ok("{'subject':{'commonName':{'rule':'Optional','allowed':['(${namespace}){60}']}}}");
    policy_free(p);
    /* Summed over the policy: 12 patterns of ~4300 exceed 50000. */
    char spec[2048] = "{'subject':{'commonName':{'rule':'Optional','allowed':[";
    for (int i = 0; i < 12; i++) {
        char one[64];
        snprintf(one, sizeof(one), "%s'(${serviceAccount}){17}%d'", i ? "," : "", i);
        strncat(spec, one, sizeof(spec) - strlen(spec) - 1);
    }
    strncat(spec, "]}}}", sizeof(spec) - strlen(spec) - 1);
    bad_spec(spec, "the policy's regexes together are too large once expanded (limit 50000)");
}

static void test_vars_cache(void **state)
{
    (void)state;
    struct policy *p = load_ok(MESH_VARS);
    /* The same request many times: the same answer (compiled once, then cached). */
    for (int i = 0; i < 1000; i++) {
        want_vars(p, "team-a", NULL, NULL, "spiffe://cluster.local/ns/team-a/sa/web", NULL, 0);
        want_vars(p, "team-a", NULL, NULL, "spiffe://cluster.local/ns/team-b/sa/web", NULL, 1);
    }
    /* Many more namespaces than the cache holds (256), each asked twice, interleaved: every
     * answer still right after evictions. */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 700; i++) {
            char ns[32], own[96], other[96];
            snprintf(ns, sizeof(ns), "ns-%d", i);
            snprintf(own, sizeof(own), "spiffe://cluster.local/ns/ns-%d/sa/web", i);
            snprintf(other, sizeof(other), "spiffe://cluster.local/ns/ns-%d/sa/web", i + 1);
            want_vars(p, ns, NULL, NULL, own, NULL, 0);
            want_vars(p, ns, NULL, NULL, other, NULL, 1);
        }
    }
    policy_free(p);
}

struct vars_thread {
    const struct policy *p;
    int id;
    int wrong;
};

static void *vars_thread_run(void *arg)
{
    struct vars_thread *t = arg;
    for (int i = 0; i < 2000; i++) {
        /* 300 namespaces shared by every thread: hits, misses and evictions race. */
        int k = (i * 7 + t->id * 13) % 300;
        char ns[32], own[96], other[96];
        snprintf(ns, sizeof(ns), "team-%d", k);
        snprintf(own, sizeof(own), "spiffe://cluster.local/ns/team-%d/sa/w%d", k, t->id);
        snprintf(other, sizeof(other), "spiffe://cluster.local/ns/team-%d/sa/w", k + 1);
        if (eval_vars(t->p, ns, NULL, NULL, own, NULL, NULL, 0) != 0)
            t->wrong++;
        if (eval_vars(t->p, ns, NULL, NULL, other, NULL, NULL, 0) != 1)
            t->wrong++;
    }
    return NULL;
}

static void test_vars_concurrent_evaluations(void **state)
{
    (void)state;
    struct policy *p = load_ok(MESH_VARS);
    enum { N = 4 };
    pthread_t th[N];
    struct vars_thread t[N];
    for (int i = 0; i < N; i++) {
        t[i] = (struct vars_thread){.p = p, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, vars_thread_run, &t[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(t[i].wrong, 0);
    }
    policy_free(p);
}

static void test_vars_claimed_namespace(void **state)
{
    (void)state;
    struct policy *p = load_ok(MESH_VARS);
    struct csr c;
    csr_init(&c, "EC_P256");
    add(&c.uris, "spiffe://cluster.local/ns/team-b/sa/web", NULL);
    struct policy_request r = req_for(&c);
    r.namespace = "team-b";
    r.service_account_namespace = "team-a";
    r.service_account = "ci";
    /* In the cluster the namespace is where the API server put the request: no rule. */
    assert_int_equal(policy_evaluate(p, &r, NULL, 0), 0);
    /* On the signing API it is the caller's word. */
    r.namespace_claimed = true;
    char msg[512];
    assert_int_equal(policy_evaluate(p, &r, msg, sizeof(msg)), 1);
    assert_string_equal(msg, "policy \"mesh\": it uses ${namespace}: a service account of "
                             "namespace \"team-a\" may only request in namespace \"team-a\", "
                             "not \"team-b\"");
    r.namespace = "team-a";
    assert_int_equal(policy_evaluate(p, &r, msg, sizeof(msg)), 1); /* now only the URI */
    assert_non_null(strstr(msg, "sans.uris \"spiffe://cluster.local/ns/team-b/sa/web\""));
    /* A caller that is no service account claims freely (its requesters decide). */
    r.namespace = "team-b";
    r.service_account_namespace = NULL;
    r.service_account = NULL;
    assert_int_equal(policy_evaluate(p, &r, NULL, 0), 0);
    policy_free(p);

    /* A policy that does not depend on the namespace: any namespace may be claimed. */
    p = load_ok("{'sans':{'uris':{'rule':'Optional','allowed':['spiffe://.+']}}}");
    assert_false(policy_depends_on_namespace(p));
    r.service_account_namespace = "team-a";
    assert_int_equal(policy_evaluate(p, &r, NULL, 0), 0);
    policy_free(p);

    /* Selecting by namespace depends on it too: the caller could pick what the selector sees. */
    static const char *const selecting[] = {
        "{'selector':{'namespaces':['team-*']},'sans':{'uris':{'rule':'Optional',"
        "'allowed':['spiffe://.+']}}}",
        "{'selector':{'namespaceSelector':{'matchLabels':{'team':'yes'}}},'sans':{'uris':"
        "{'rule':'Optional','allowed':['spiffe://.+']}}}",
    };
    static const char *const team_labels[] = {"team=yes"};
    struct strv labels = {.v = (char **)team_labels, .n = 1};
    for (size_t i = 0; i < sizeof(selecting) / sizeof(selecting[0]); i++) {
        p = load_ok(selecting[i]);
        assert_true(policy_depends_on_namespace(p));
        r.namespace = "team-a";
        r.namespace_known = true;
        r.namespace_labels = &labels;
        r.service_account_namespace = "team-b";
        r.service_account = "ci";
        assert_int_equal(policy_evaluate(p, &r, msg, sizeof(msg)), 1);
        assert_string_equal(msg, "policy \"mesh\": it selects by namespace: a service account "
                                 "of namespace \"team-b\" may only request in namespace "
                                 "\"team-b\", not \"team-a\"");
        r.service_account_namespace = "team-a";
        assert_int_equal(policy_evaluate(p, &r, NULL, 0), 0);
        policy_free(p);
    }
    csr_clear(&c);
}

static void test_caller_service_account(void **state)
{
    (void)state;
    struct caller c = {.method = CALLER_TOKEN};
    char ns[64];
    const char *name = NULL;
    static const struct {
        const char *user;
        bool ok;
    } cases[] = {
        {"system:serviceaccount:team-a:web", true},
        {"system:serviceaccount:team-a:", false},
        {"system:serviceaccount::web", false},
        {"system:serviceaccount:team-a", false},
        {"system:serviceaccount:a:b:c", false},
        {"system:serviceaccounts:team-a:web", false},
        {"alice", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        c.username = (char *)cases[i].user;
        if (caller_service_account(&c, ns, sizeof(ns), &name) != cases[i].ok)
            fail_msg("%s: want %s", cases[i].user, cases[i].ok ? "a service account" : "none");
    }
    c.username = (char *)"system:serviceaccount:team-a:web";
    assert_true(caller_service_account(&c, ns, sizeof(ns), &name));
    assert_string_equal(ns, "team-a");
    assert_string_equal(name, "web");
    c.method = CALLER_CERT_MANAGER;
    assert_true(caller_service_account(&c, ns, sizeof(ns), &name));
    /* A certificate never names a service account, however it reads. */
    c.method = CALLER_MTLS;
    assert_false(caller_service_account(&c, ns, sizeof(ns), &name));
    c.method = CALLER_TOKEN;
    assert_false(caller_service_account(&c, ns, 4, &name)); /* NS does not fit */
}

/* ---- spec.ca: maxPathLen and nameConstraints of CA requests (issue 14, section 1) ---- */

static void test_ca_parse_errors(void **state)
{
    (void)state;
    bad_spec("{'ca':{'maxPathLen':1}}", "spec.ca: only meaningful with spec.isCA: true");
    bad_spec("{'isCA':false,'ca':{'maxPathLen':1}}", "spec.ca: only meaningful with spec.isCA");
    bad_spec("{'isCA':true,'ca':{}}", "spec.ca: names neither maxPathLen nor nameConstraints");
    bad_spec("{'isCA':true,'ca':{'maxPathLen':65}}", "spec.ca.maxPathLen");
    bad_spec("{'isCA':true,'ca':{'maxPathLen':-1}}", "spec.ca.maxPathLen");
    bad_spec("{'isCA':true,'ca':{'maxPathLen':'1'}}", "spec.ca.maxPathLen");
    bad_spec("{'isCA':true,'ca':{'pathLen':1}}", "spec.ca.pathLen: unknown field");
    bad_spec("{'isCA':true,'ca':{'nameConstraints':{}}}", "spec.ca.nameConstraints: says nothing");
    bad_spec("{'isCA':true,'ca':{'nameConstraints':{'required':false}}}",
             "spec.ca.nameConstraints: says nothing");
    bad_spec("{'isCA':true,'ca':{'nameConstraints':{'permitted':{}}}}",
             "spec.ca.nameConstraints.permitted: names no dnsDomains");
    bad_spec("{'isCA':true,'ca':{'nameConstraints':{'permitted':{'dnsDomains':[]}}}}",
             "spec.ca.nameConstraints.permitted.dnsDomains: empty list");
    bad_spec("{'isCA':true,'ca':{'nameConstraints':{'permitted':{'dns':['a.com']}}}}",
             "spec.ca.nameConstraints.permitted.dns: unknown field");
    bad_spec("{'isCA':true,'ca':{'nameConstraints':{'required':'yes'}}}",
             "spec.ca.nameConstraints.required");
    bad_spec("{'isCA':true,'ca':{'nameConstraints':{'permitted':{'dnsDomains':['a..com']}}}}",
             "spec.ca.nameConstraints.permitted.dnsDomains[0]: \"a..com\" is not a DNS domain");
    bad_spec("{'isCA':true,'ca':{'nameConstraints':{'permitted':{'dnsDomains':['']}}}}",
             "permitted.dnsDomains[0]: \"\" is not a DNS domain");
    bad_spec("{'isCA':true,'ca':{'nameConstraints':{'excluded':{'ipRanges':['10.0.0.0/33']}}}}",
             "spec.ca.nameConstraints.excluded.ipRanges[0]: \"10.0.0.0/33\" is not a CIDR");
    bad_spec("{'isCA':true,'ca':{'nameConstraints':{'permitted':{'emailAddresses':['a@@b.com']}}}}",
             "permitted.emailAddresses[0]: \"a@@b.com\" is not a mailbox, host or domain");
    bad_spec(
        "{'isCA':true,'ca':{'nameConstraints':{'permitted':{'uriDomains':['https://a.com']}}}}",
        "permitted.uriDomains[0]: \"https://a.com\" is not a host or domain");
    /* What loads. */
    policy_free(load_ok("{'isCA':true,'ca':{'maxPathLen':0}}"));
    policy_free(load_ok("{'isCA':true,'ca':{'nameConstraints':{'required':true}}}"));
    policy_free(load_ok("{'isCA':true,'ca':{'maxPathLen':64,'nameConstraints':{'permitted':"
                        "{'dnsDomains':['example.com','.example.org'],'ipRanges':['10.0.0.0/8',"
                        "'2001:db8::/32'],'emailAddresses':['a@example.com','example.com',"
                        "'.example.com'],'uriDomains':['example.com','.example.com']},"
                        "'excluded':{'dnsDomains':['secret.example.com']}}}}"));
}

static void test_ca_max_path_len(void **state)
{
    (void)state;
    struct policy *p = load_ok("{'isCA':true,'ca':{'maxPathLen':1}}");
    long v = -1;
    assert_true(policy_ca_max_path_len(p, &v));
    assert_int_equal(v, 1);
    struct csr c;
    csr_init(&c, "EC_P256");
    struct policy_request r = req_for(&c);
    r.is_ca = true;
    c.has_basic_constraints = c.bc_is_ca = true;
    expect_eval(p, &r, 0, ""); /* none asked: the pipeline gives it maxPathLen */
    c.bc_has_path_len = true;
    c.bc_path_len = 1;
    expect_eval(p, &r, 0, "");
    c.bc_path_len = 0;
    expect_eval(p, &r, 0, "");
    c.bc_path_len = 3;
    expect_eval(p, &r, 1, "policy \"mesh\": ca.maxPathLen: pathLen 3 requested, at most 1 allowed");
    /* A leaf is not a CA: the CA rules are not its business. */
    r.is_ca = false;
    c.has_basic_constraints = false;
    c.bc_has_path_len = false;
    expect_eval(p, &r, 0, "");
    policy_free(p);
    p = load_ok("{'isCA':true}");
    assert_false(policy_ca_max_path_len(p, &v));
    policy_free(p);
}

/* A CA request whose CSR asks for these nameConstraints (NULL-terminated lists). */
static void nc_set(struct csr *c, const char *const *pdns, const char *const *pip,
                   const char *const *xdns)
{
    c->has_name_constraints = true;
    for (size_t i = 0; pdns != NULL && pdns[i] != NULL; i++)
        strv_push(&c->nc_permitted.dns, pdns[i]);
    for (size_t i = 0; pip != NULL && pip[i] != NULL; i++)
        strv_push(&c->nc_permitted.ip, pip[i]);
    for (size_t i = 0; xdns != NULL && xdns[i] != NULL; i++)
        strv_push(&c->nc_excluded.dns, xdns[i]);
}

static void nc_clear(struct csr *c)
{
    struct strv *all[] = {&c->nc_permitted.dns,  &c->nc_permitted.ip, &c->nc_permitted.email,
                          &c->nc_permitted.uri,  &c->nc_excluded.dns, &c->nc_excluded.ip,
                          &c->nc_excluded.email, &c->nc_excluded.uri};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        strv_free(all[i]);
    c->has_name_constraints = false;
}

/* Evaluates a CA request asking to permit one entry of kind (dns, ip, email, uri) under p. */
static void eval_nc1(const struct policy *p, const char *kind, const char *v, int want)
{
    struct csr c;
    csr_init(&c, "EC_P256");
    c.has_basic_constraints = c.bc_is_ca = true;
    c.has_name_constraints = true;
    struct strv *sv = strcmp(kind, "dns") == 0     ? &c.nc_permitted.dns
                      : strcmp(kind, "ip") == 0    ? &c.nc_permitted.ip
                      : strcmp(kind, "email") == 0 ? &c.nc_permitted.email
                                                   : &c.nc_permitted.uri;
    strv_push(sv, v);
    struct policy_request r = req_for(&c);
    r.is_ca = true;
    char msg[POLICY_MAX_MESSAGE + 1];
    int n = policy_evaluate(p, &r, msg, sizeof(msg));
    if (n != want)
        fail_msg("%s %s: %d violations, want %d (%s)", kind, v, n, want, msg);
    nc_clear(&c);
}

static void test_ca_name_constraints_dns(void **state)
{
    (void)state;
    struct policy *p = load_ok("{'isCA':true,'ca':{'nameConstraints':{'permitted':"
                               "{'dnsDomains':['example.com','.sub.example.org']}}}}");
    eval_nc1(p, "dns", "example.com", 0);
    eval_nc1(p, "dns", "EXAMPLE.com", 0);
    eval_nc1(p, "dns", ".example.com", 0);
    eval_nc1(p, "dns", "team-a.example.com", 0);
    eval_nc1(p, "dns", ".team-a.example.com", 0);
    eval_nc1(p, "dns", "badexample.com", 1); /* a label boundary, not a suffix */
    eval_nc1(p, "dns", ".badexample.com", 1);
    eval_nc1(p, "dns", "com", 1);
    eval_nc1(p, "dns", "", 1); /* every name */
    eval_nc1(p, "dns", "evil.com", 1);
    /* ".sub.example.org": its subdomains only, as Go and OpenSSL read the leading dot. */
    eval_nc1(p, "dns", "sub.example.org", 1);
    eval_nc1(p, "dns", ".sub.example.org", 0);
    eval_nc1(p, "dns", "a.sub.example.org", 0);
    eval_nc1(p, "dns", "example.org", 1);
    policy_free(p);
}

static void test_ca_name_constraints_ip_email_uri(void **state)
{
    (void)state;
    struct policy *p = load_ok("{'isCA':true,'ca':{'nameConstraints':{'permitted':{'ipRanges':"
                               "['10.1.0.0/16','2001:db8::/32']}}}}");
    eval_nc1(p, "ip", "10.1.0.0/16", 0);
    eval_nc1(p, "ip", "10.1.2.0/24", 0);
    eval_nc1(p, "ip", "10.1.2.3/32", 0);
    eval_nc1(p, "ip", "10.0.0.0/8", 1); /* wider */
    eval_nc1(p, "ip", "10.2.0.0/16", 1);
    eval_nc1(p, "ip", "2001:db8:1::/48", 0);
    eval_nc1(p, "ip", "2001:db9::/32", 1);
    eval_nc1(p, "ip", "::/0", 1);
    eval_nc1(p, "ip", "::ffff:10.1.0.0/112", 1); /* another family */
    policy_free(p);
    p = load_ok("{'isCA':true,'ca':{'nameConstraints':{'permitted':{'emailAddresses':"
                "['admin@example.com','example.net','.example.org']}}}}");
    /* email: a mailbox, a host, or ".domain" (RFC 5280 4.2.1.10). */
    eval_nc1(p, "email", "admin@example.com", 0);
    eval_nc1(p, "email", "admin@EXAMPLE.com", 0);
    eval_nc1(p, "email", "Admin@example.com", 1); /* local parts compare exactly */
    eval_nc1(p, "email", "root@example.com", 1);
    eval_nc1(p, "email", "example.com", 1);
    eval_nc1(p, "email", "example.net", 0);
    eval_nc1(p, "email", "anyone@example.net", 0);
    eval_nc1(p, "email", "mail.example.net", 1); /* a host stands for itself only */
    eval_nc1(p, "email", ".example.net", 1);
    eval_nc1(p, "email", ".example.org", 0);
    eval_nc1(p, "email", ".team.example.org", 0);
    eval_nc1(p, "email", "mail.example.org", 0);
    eval_nc1(p, "email", "a@mail.example.org", 0);
    eval_nc1(p, "email", "example.org", 1);
    eval_nc1(p, "email", "a@example.org", 1);
    eval_nc1(p, "email", "a@badexample.org", 1);
    policy_free(p);
    p = load_ok("{'isCA':true,'ca':{'nameConstraints':{'permitted':{'uriDomains':"
                "['example.com','.example.io']}}}}");
    /* URI: a host, or ".domain". */
    eval_nc1(p, "uri", "example.com", 0);
    eval_nc1(p, "uri", "www.example.com", 1);
    eval_nc1(p, "uri", ".example.com", 1);
    eval_nc1(p, "uri", ".example.io", 0);
    eval_nc1(p, "uri", "api.example.io", 0);
    eval_nc1(p, "uri", ".team.example.io", 0);
    eval_nc1(p, "uri", "example.io", 1);
    policy_free(p);
}

static void test_ca_name_constraints_messages(void **state)
{
    (void)state;
    struct policy *p = load_ok(
        "{'isCA':true,'ca':{'maxPathLen':1,'nameConstraints':{'required':true,"
        "'permitted':{'dnsDomains':['team-a.example.com'],'ipRanges':['10.1.0.0/16']},"
        "'excluded':{'dnsDomains':['secret.team-a.example.com','db.team-a.example.com']}}}}");
    struct csr c;
    csr_init(&c, "EC_P256");
    c.has_basic_constraints = c.bc_is_ca = true;
    struct policy_request r = req_for(&c);
    r.is_ca = true;
    expect_eval(p, &r, 1, "policy \"mesh\": ca.nameConstraints: required, none requested");

    /* Everything within, and the policy's exclusions covered (one by a wider exclusion). */
    const char *in_dns[] = {"team-a.example.com", "api.team-a.example.com", NULL};
    const char *in_ip[] = {"10.1.2.0/24", NULL};
    const char *x_dns[] = {"secret.team-a.example.com", "team-a.example.com", NULL};
    nc_set(&c, in_dns, in_ip, x_dns);
    expect_eval(p, &r, 0, "");
    nc_clear(&c);

    const char *bad_dns[] = {"evil.com", "team-a.example.com", "badteam-a.example.com", NULL};
    const char *x_some[] = {"secret.team-a.example.com", NULL};
    c.bc_has_path_len = true;
    c.bc_path_len = 2;
    nc_set(&c, bad_dns, NULL, x_some);
    expect_eval(p, &r, 4,
                "policy \"mesh\": ca.maxPathLen: pathLen 2 requested, at most 1 allowed; "
                "ca.nameConstraints.permitted.dnsDomains \"evil.com\", \"badteam-a.example.com\" "
                "not within the policy's (allowed: \"team-a.example.com\"); "
                "ca.nameConstraints.permitted.ipRanges: none requested (allowed: "
                "\"10.1.0.0/16\"); ca.nameConstraints.excluded.dnsDomains: the request must "
                "exclude \"db.team-a.example.com\" (the policy's excluded entries)");
    nc_clear(&c);
    csr_clear(&c);
    policy_free(p);

    /* Without required, a CA request without nameConstraints passes; without
     * ca.nameConstraints, any requested constraints pass (they only narrow the CA). */
    p = load_ok("{'isCA':true,'ca':{'nameConstraints':{'permitted':{'dnsDomains':['a.com']}}}}");
    csr_init(&c, "EC_P256");
    c.has_basic_constraints = c.bc_is_ca = true;
    expect_eval(p, &r, 0, "");
    policy_free(p);
    p = load_ok("{'isCA':true,'ca':{'maxPathLen':0}}");
    nc_set(&c, bad_dns, NULL, NULL);
    expect_eval(p, &r, 0, "");
    nc_clear(&c);
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

    /* A CA policy may require cert sign: cert-manager never lists it in a CA request's
     * usages, yet the CA it gets has it, so a CA request counts as asking for it. */
    p = load_ok("{'isCA':true,'requiredUsages':['cert sign']}");
    r.is_ca = true;
    r.usages = 0;
    expect_eval(p, &r, 0, "");
    r.usages = USAGE_BIT(USAGE_DIGITAL_SIGNATURE) | USAGE_BIT(USAGE_KEY_ENCIPHERMENT);
    expect_eval(p, &r, 0, "");
    /* A leaf request does not get it. */
    r.is_ca = false;
    expect_eval(p, &r, 1,
                "policy \"mesh\": usages cert sign required by spec.requiredUsages, not "
                "requested (requested: digital signature, key encipherment)");
    policy_free(p);
    csr_clear(&c);
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
    /* Labels Kubernetes would refuse: a key with '=' would read as another "key=value". */
    static const struct {
        const char *labels, *want;
    } invalid[] = {
        {"{\"team=a\":\"x\"}", "Namespace b: metadata.labels \"team=a\": invalid label key "
                               "(a label key is an optional DNS subdomain prefix"},
        {"{\"\":\"x\"}", "metadata.labels \"\": invalid label key"},
        {"{\"-team\":\"x\"}", "metadata.labels \"-team\": invalid label key"},
        {"{\"Ex.com/team\":\"x\"}", "metadata.labels \"Ex.com/team\": invalid label key"},
        {"{\"team\":\"a=b\"}", "Namespace b: metadata.labels \"team\": invalid label value "
                               "\"a=b\" (a label value is empty or at most 63"},
        {"{\"team\":\"a b\"}", "invalid label value \"a b\""},
        {"{\"team\":\"a\\nb\"}", "invalid label value \"a\\x0ab\""},
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        bad = cJSON_CreateObject();
        cJSON *md = cJSON_AddObjectToObject(bad, "metadata");
        cJSON_AddStringToObject(md, "name", "b");
        cJSON_AddItemToObject(md, "labels", cJSON_Parse(invalid[i].labels));
        e = (struct err){0};
        assert_int_equal(nslabels_put(t, bad, &e), -1);
        assert_int_equal(e.kind, ERR_INVALID);
        if (strstr(e.msg, invalid[i].want) == NULL)
            fail_msg("%s: \"%s\" lacks \"%s\"", invalid[i].labels, e.msg, invalid[i].want);
        assert_false(nslabels_get(t, "b", &out));
        cJSON_Delete(bad);
    }
    /* What Kubernetes accepts: a prefixed key, an empty value, '_', '.', '-' inside. */
    bad = cJSON_Parse("{\"metadata\":{\"name\":\"b\",\"labels\":{\"ember.issuer.dev/certs\":"
                      "\"\",\"a_b.c-d\":\"X_y.z-1\"}}}");
    assert_int_equal(nslabels_put(t, bad, &e), 0);
    nslabels_remove(t, "b");
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
        cmocka_unit_test(test_other_names_policy),
        cmocka_unit_test(test_other_names_policy_invalid),
        cmocka_unit_test(test_street_postal_policy),
        cmocka_unit_test(test_other_attributes_policy),
        cmocka_unit_test(test_other_attributes_invalid),
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
        /* issue 14 section 3 */
        cmocka_unit_test(test_vars_expand_to_the_request),
        cmocka_unit_test(test_vars_values_are_quoted),
        cmocka_unit_test(test_vars_parse_errors),
        cmocka_unit_test(test_vars_without_value_match_nothing),
        cmocka_unit_test(test_vars_cost_at_longest_value),
        cmocka_unit_test(test_vars_cache),
        cmocka_unit_test(test_vars_concurrent_evaluations),
        cmocka_unit_test(test_vars_claimed_namespace),
        cmocka_unit_test(test_caller_service_account),
        /* issue 14 section 1 */
        cmocka_unit_test(test_ca_parse_errors),
        cmocka_unit_test(test_ca_max_path_len),
        cmocka_unit_test(test_ca_name_constraints_dns),
        cmocka_unit_test(test_ca_name_constraints_ip_email_uri),
        cmocka_unit_test(test_ca_name_constraints_messages),
        cmocka_unit_test(test_validity_min),
        cmocka_unit_test(test_key_sizes),
        cmocka_unit_test(test_required_usages),
        cmocka_unit_test(test_namespace_selector_load),
        cmocka_unit_test(test_namespace_selector_eval),
        cmocka_unit_test(test_nslabels_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
