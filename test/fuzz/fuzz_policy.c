/* fuzz_policy.c -- arbitrary JSON into policy_from_json, then evaluation of a fixed request. */
#include "base/duration.h"
#include "base/strv.h"
#include "decide/policy.h"
#include "x509/csr.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_policy: invariant violated: %s\n", what);
        abort();
    }
}

static void fill(struct strv *sv, const char *const *vals, size_t n)
{
    for (size_t i = 0; i < n; i++)
        strv_push(sv, vals[i]);
}

/* A small hand-made CSR touching every field the policy reads. */
static void csr_build(struct csr *c)
{
    static const char *const cn[] = {"istiod.istio-system.svc"};
    static const char *const org[] = {"Acme", "caf\xc3\xa9"};
    static const char *const serial[] = {"283745098234750982347509823745"};
    static const char *const other_oids[] = {"2.5.4.12", "1.2.3.4", "2.5.4.12"};
    static const char *const other_vals[] = {"boss", "x", "engineer"};
    static const char *const street[] = {"Main St 1"};
    static const char *const on_oids[] = {"1.3.6.1.4.1.311.20.2.3", "1.2.3"};
    static const char *const on_vals[] = {"bob@example.com", "v\xc3\xa9"};
    static const char *const dns[] = {"istiod.istio-system.svc", "a.b.svc.cluster.local",
                                      "evil.com", ""};
    static const char *const ips[] = {"10.0.0.1", "2001:db8::1", "not-an-ip"};
    static const char *const uris[] = {"spiffe://cluster.local/ns/istio-system/sa/istiod"};
    static const char *const mails[] = {"a@b.c\n\"x\""};
    memset(c, 0, sizeof(*c));
    snprintf(c->key_alg, sizeof(c->key_alg), "EC_P256");
    fill(&c->common_name, cn, 1);
    fill(&c->organization, org, 2);
    fill(&c->serial_number, serial, 1);
    fill(&c->other_subject_oids, other_oids, 3);
    fill(&c->other_subject_values, other_vals, 3);
    fill(&c->street_address, street, 1);
    fill(&c->postal_code, street, 1);
    fill(&c->other_name_oids, on_oids, 2);
    fill(&c->other_name_values, on_vals, 2);
    fill(&c->dns_names, dns, 4);
    fill(&c->ip_addresses, ips, 3);
    fill(&c->uris, uris, 1);
    fill(&c->email_addresses, mails, 1);
    /* A CA's requested pathLen and nameConstraints, for spec.ca. */
    static const char *const nc_dns[] = {"team-a.example.com", ".example.org", "", "EVIL.com"};
    static const char *const nc_ip[] = {"10.1.0.0/16", "2001:db8::/32", "0.0.0.0/0", "bad"};
    static const char *const nc_mail[] = {"a@example.com", ".example.com", "example.com", "@"};
    static const char *const nc_uri[] = {"example.com", ".example.io", "."};
    c->has_basic_constraints = c->bc_is_ca = c->bc_has_path_len = true;
    c->bc_path_len = 2;
    c->has_name_constraints = true;
    fill(&c->nc_permitted.dns, nc_dns, 4);
    fill(&c->nc_permitted.ip, nc_ip, 4);
    fill(&c->nc_permitted.email, nc_mail, 4);
    fill(&c->nc_permitted.uri, nc_uri, 3);
    fill(&c->nc_excluded.dns, nc_dns, 2);
    fill(&c->nc_excluded.ip, nc_ip + 2, 2);
    fill(&c->nc_excluded.email, nc_mail + 1, 3);
    fill(&c->nc_excluded.uri, nc_uri + 1, 2);
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
    struct csr_subtrees *nc[2] = {&c->nc_permitted, &c->nc_excluded};
    for (int i = 0; i < 2; i++) {
        strv_free(&nc[i]->dns);
        strv_free(&nc[i]->ip);
        strv_free(&nc[i]->email);
        strv_free(&nc[i]->uri);
    }
}

static void eval_checked(const struct policy *p, const struct policy_request *r, size_t msglen)
{
    char msg[POLICY_MAX_MESSAGE + 64];
    memset(msg, 'Z', sizeof(msg));
    int n = policy_evaluate(p, r, msg, msglen);
    check(n >= 0, "negative violation count");
    if (msglen == 0)
        return;
    check(memchr(msg, '\0', msglen) != NULL, "message not terminated within msglen");
    size_t len = strlen(msg);
    check(len <= POLICY_MAX_MESSAGE, "message longer than POLICY_MAX_MESSAGE");
    check((n == 0) == (len == 0), "message present iff violations");
    if (n > 0 && msglen > 16)
        check(strncmp(msg, "policy \"", 8) == 0, "message does not name the policy");
    check(memchr(msg, '\n', len) == NULL, "raw newline in message");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    struct err err = {0};
    struct policy *p = policy_from_json(j, &err);
    cJSON_Delete(j);
    if (p == NULL) {
        check(err.kind == ERR_INVALID, "rejected without ERR_INVALID");
        check(err.msg[0] != '\0', "rejected without a message");
        return 0;
    }
    check(policy_name(p) != NULL && policy_name(p)[0] != '\0', "policy without a name");
    long long v0 = policy_validity(p, 0);
    check(v0 > 0 && v0 <= DURATION_MAX_SECONDS, "default validity out of range");
    check(policy_validity(p, 1) == 1, "a 1s request is not granted");
    check(policy_validity(p, DURATION_MAX_SECONDS * 2) <= DURATION_MAX_SECONDS,
          "validity not clamped");

    struct csr c;
    csr_build(&c);
    struct strv labels = {0};
    static const char *const lv[] = {"team=a", "env=dev", "ember.issuer.dev/certs=yes", "empty="};
    fill(&labels, lv, 4);
    struct policy_request r = {.csr = &c,
                               .namespace_labels = &labels,
                               .namespace_known = true,
                               .duration_s = 3600,
                               .namespace = "istio-system",
                               .issuer_kind = "Issuer",
                               .issuer_name = "mesh-ca",
                               .usages = USAGE_DEFAULT | USAGE_BIT(USAGE_SERVER_AUTH)};
    eval_checked(p, &r, POLICY_MAX_MESSAGE + 64);
    eval_checked(p, &r, 17);
    /* ${serviceAccount}... with values full of regex metacharacters, a claimed namespace; the
     * second evaluation (from the patterns' cache) must agree with the first. */
    r.service_account = "a.b+(c)*[d]{2}|^$\\";
    r.service_account_namespace = "team-a";
    r.namespace_claimed = true;
    int first = policy_evaluate(p, &r, NULL, 0);
    eval_checked(p, &r, 300);
    check(policy_evaluate(p, &r, NULL, 0) == first, "a cached evaluation differs");
    r.service_account = r.service_account_namespace = NULL;
    r.namespace_claimed = false;
    /* An RSA key (keySizes), an unknown namespace (namespaceSelector), a short duration
     * (validity.min). */
    snprintf(c.key_alg, sizeof(c.key_alg), "RSA_2048");
    c.key_bits = 2048;
    r.namespace_known = false;
    r.duration_s = 60;
    eval_checked(p, &r, POLICY_MAX_MESSAGE + 64);
    r.namespace_labels = NULL;
    r.namespace_known = true;
    eval_checked(p, &r, 100);
    r.is_ca = true;
    r.issuer_kind = "";
    r.namespace = NULL;
    r.usages = 0;
    eval_checked(p, &r, 200);
    long mpl = -1;
    if (policy_ca_max_path_len(p, &mpl))
        check(mpl >= 0 && mpl <= CSR_MAX_PATH_LEN, "ca.maxPathLen out of range");
    /* A CA asking for no pathLen and no nameConstraints. */
    c.bc_has_path_len = false;
    c.has_name_constraints = false;
    eval_checked(p, &r, POLICY_MAX_MESSAGE + 64);
    r.csr = NULL;
    eval_checked(p, &r, 64);
    eval_checked(p, &r, 0);
    csr_clear(&c);
    strv_free(&labels);
    policy_free(p);
    return 0;
}
