/* policy.c -- IssuancePolicy: load and validate a CRD-shaped object (its regexes:
 * policy_regex.c; evaluating requests: policy_check.c). */
#include "decide/policy.h"

#include "base/duration.h"
#include "base/jsonfield.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "decide/policy_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Smallest and largest RSA modulus a keyAlgorithms entry may name. */
#define POLICY_RSA_MIN_BITS 2048
#define POLICY_RSA_MAX_BITS 16384

const struct policy_field_info policy_fields[POLICY_F_COUNT] = {
    [POLICY_F_CN] = {"subject", "commonName", offsetof(struct csr, common_name)},
    [POLICY_F_O] = {"subject", "organization", offsetof(struct csr, organization)},
    [POLICY_F_OU] = {"subject", "organizationalUnit", offsetof(struct csr, organizational_unit)},
    [POLICY_F_C] = {"subject", "country", offsetof(struct csr, country)},
    [POLICY_F_ST] = {"subject", "province", offsetof(struct csr, province)},
    [POLICY_F_L] = {"subject", "locality", offsetof(struct csr, locality)},
    [POLICY_F_STREET] = {"subject", "streetAddress", offsetof(struct csr, street_address)},
    [POLICY_F_POSTAL] = {"subject", "postalCode", offsetof(struct csr, postal_code)},
    [POLICY_F_SERIAL] = {"subject", "serialNumber", offsetof(struct csr, serial_number)},
    [POLICY_F_DNS] = {"sans", "dnsNames", offsetof(struct csr, dns_names)},
    [POLICY_F_IP] = {"sans", "ipAddresses", offsetof(struct csr, ip_addresses)},
    [POLICY_F_URI] = {"sans", "uris", offsetof(struct csr, uris)},
    [POLICY_F_EMAIL] = {"sans", "emailAddresses", offsetof(struct csr, email_addresses)},
};

static const char *const policy_fixed_key_algs[] = {"RSA_2048", "RSA_3072", "RSA_4096",  "EC_P256",
                                                    "EC_P384",  "EC_P521",  "EC_ED25519"};
#define POLICY_N_FIXED_KEY_ALGS (sizeof(policy_fixed_key_algs) / sizeof(policy_fixed_key_algs[0]))

/* A rule's names, in the order messages list them, and the kind each stands for. */
static const char *const policy_rule_names[] = {"Required", "Optional", "Forbidden", NULL};
static const enum policy_rule_kind policy_rule_kinds[] = {
    POLICY_RULE_REQUIRED, POLICY_RULE_OPTIONAL, POLICY_RULE_FORBIDDEN};

/* The members of each object of a policy's spec (spec.subject and spec.sans: policy_fields). */
static const struct jsonfield policy_spec_fields[] = {
    {.name = "selector", .type = JSONFIELD_OBJECT},
    {.name = "validity", .type = JSONFIELD_OBJECT, .want = "an object ({max, default, min})"},
    {.name = "keyAlgorithms", .type = JSONFIELD_STRINGS},
    {.name = "subject", .type = JSONFIELD_OBJECT},
    {.name = "sans", .type = JSONFIELD_OBJECT},
    {.name = "usages", .type = JSONFIELD_STRINGS},
    {.name = "isCA", .type = JSONFIELD_BOOL},
    {.name = "ca", .type = JSONFIELD_OBJECT, .want = "an object ({maxPathLen, nameConstraints})"},
    {.name = "keySizes", .type = JSONFIELD_OBJECT, .want = "an object ({rsa: {min, max}})"},
    {.name = "requiredUsages", .type = JSONFIELD_STRINGS},
    {0},
};
static const struct jsonfield policy_selector_fields[] = {
    {.name = "namespaces", .type = JSONFIELD_STRINGS},
    {.name = "issuers", .type = JSONFIELD_STRINGS},
    {.name = "requesters", .type = JSONFIELD_OBJECT},
    {.name = "namespaceSelector",
     .type = JSONFIELD_OBJECT,
     .want = "an object ({matchLabels, matchExpressions})"},
    {0},
};
static const struct jsonfield policy_requester_fields[] = {
    {.name = "users", .type = JSONFIELD_STRINGS},
    {.name = "serviceAccounts", .type = JSONFIELD_STRINGS},
    {.name = "groups", .type = JSONFIELD_STRINGS},
    {.name = "certificates", .type = JSONFIELD_STRINGS},
    {0},
};
#define POLICY_DURATION_WANT "a Go duration string (e.g. \"24h\")"
static const struct jsonfield policy_validity_fields[] = {
    {.name = "max", .type = JSONFIELD_STRING, .want = POLICY_DURATION_WANT},
    {.name = "default", .type = JSONFIELD_STRING, .want = POLICY_DURATION_WANT},
    {.name = "min", .type = JSONFIELD_STRING, .want = POLICY_DURATION_WANT},
    {0},
};
static const struct jsonfield policy_rule_fields[] = {
    {.name = "rule", .type = JSONFIELD_STRING, .required = true, .choices = policy_rule_names},
    {.name = "allowed", .type = JSONFIELD_STRINGS},
    {.name = "min", .type = JSONFIELD_INTEGER},
    {.name = "max", .type = JSONFIELD_INTEGER},
    {0},
};

/* A non-empty list of at most POLICY_MAX_LIST strings of at most maxlen bytes at obj.key, or
 * *out NULL when absent; an empty list is "PATH.KEY: empty list HINT". */
static int policy_strings(const cJSON *obj, const char *path, const char *key, size_t maxlen,
                          const char *hint, const cJSON **out, struct err *err)
{
    if (jsonfield_strings(obj, path, key, POLICY_MAX_LIST, maxlen, out, err) != 0)
        return -1;
    if (*out == NULL || (*out)->child != NULL)
        return 0;
    char p[JSONFIELD_PATH_MAX];
    if (jsonfield_path(p, sizeof(p), path, key, err) != 0)
        return -1;
    err_set(err, ERR_INVALID, "%s: empty list %s", p, hint);
    return -1;
}

/* ---- spec.subject and spec.sans: one rule per field ---- */

void policy_rule_free(struct policy_rule *r)
{
    for (size_t i = 0; i < r->n_pat; i++)
        policy_pattern_free(&r->pat[i]);
    free(r->pat);
    free(r->cidr);
    memset(r, 0, sizeof(*r));
}

/* A rule's kind, min and max, and whether they make sense together. */
int policy_parse_bounds(const cJSON *j, const char *path, struct policy_rule *r, struct err *err)
{
    int k = 0;
    if (jsonfield_choice(j, path, "rule", policy_rule_names, &k, err) != 0)
        return -1;
    r->kind = policy_rule_kinds[k];
    bool has_min, has_max;
    r->min = r->kind == POLICY_RULE_REQUIRED ? 1 : 0;
    r->max = -1;
    if (jsonfield_int(j, path, "min", 0, POLICY_MAX_COUNT, &r->min, &has_min, err) != 0 ||
        jsonfield_int(j, path, "max", 0, POLICY_MAX_COUNT, &r->max, &has_max, err) != 0)
        return -1;
    bool has_allowed = jsonfield_get(j, "allowed") != NULL;
    if (r->kind == POLICY_RULE_FORBIDDEN && (has_min || has_max || has_allowed)) {
        err_set(err, ERR_INVALID, "%s.%s: not meaningful with rule Forbidden (remove it)", path,
                has_min   ? "min"
                : has_max ? "max"
                          : "allowed");
        return -1;
    }
    if (has_min && r->kind != POLICY_RULE_REQUIRED) {
        err_set(err, ERR_INVALID, "%s.min: only meaningful with rule Required", path);
        return -1;
    }
    if (r->kind == POLICY_RULE_REQUIRED && r->min < 1) {
        err_set(err, ERR_INVALID, "%s.min: must be at least 1 with rule Required (or use Optional)",
                path);
        return -1;
    }
    if (r->max >= 0 && r->min > r->max) {
        err_set(err, ERR_INVALID, "%s: min (%lld) is more than max (%lld)", path, r->min, r->max);
        return -1;
    }
    return 0;
}

/* One CIDR of an ipAddresses rule's allowed list, or "PATH: invalid CIDR ...". */
static int policy_parse_cidr(const char *s, const char *path, struct cidr *c, struct err *err)
{
    if (cidr_parse(s, c) == 0)
        return 0;
    char q[UTF8_ESCAPE_SIZE(POLICY_MAX_VALUE_ECHO)];
    utf8_escape(s, POLICY_MAX_VALUE_ECHO, true, q, sizeof(q));
    err_set(err, ERR_INVALID,
            "%s: invalid CIDR %s (expected e.g. \"10.0.0.0/8\", \"2001:db8::/32\" or an address)",
            path, q);
    return -1;
}

/* A rule's allowed list: CIDRs for ipAddresses, regexes for every other field. */
int policy_parse_allowed(const cJSON *j, const char *path, bool is_ip, struct policy_rule *r,
                         long long *budget, unsigned *vars, struct err *err)
{
    const cJSON *aj;
    if (policy_strings(j, path, "allowed", POLICY_MAX_PATTERN,
                       "allows no value (omit `allowed` to allow any value, or use rule "
                       "Forbidden)",
                       &aj, err) != 0)
        return -1;
    r->any = aj == NULL;
    if (aj == NULL)
        return 0;
    char p[JSONFIELD_PATH_MAX];
    if (jsonfield_path(p, sizeof(p), path, "allowed", err) != 0)
        return -1;
    size_t n = (size_t)cJSON_GetArraySize(aj);
    if (is_ip)
        r->cidr = xcalloc(n, sizeof(*r->cidr));
    else
        r->pat = xcalloc(n, sizeof(*r->pat));
    size_t i = 0;
    for (const cJSON *c = aj->child; c != NULL; c = c->next, i++) {
        char ip[JSONFIELD_PATH_MAX];
        if (jsonfield_path_index(ip, sizeof(ip), p, i, err) != 0)
            return -1;
        if (is_ip) {
            if (policy_parse_cidr(c->valuestring, ip, &r->cidr[i], err) != 0)
                return -1;
            r->n_cidr++;
        } else {
            if (policy_pattern_compile(c->valuestring, ip, &r->pat[i], budget, vars, err) != 0)
                return -1;
            r->n_pat++;
        }
    }
    return 0;
}

static int policy_parse_rule_group(const cJSON *spec, const char *group, enum policy_field first,
                                   enum policy_field end, struct policy *p, long long *budget,
                                   struct err *err)
{
    const cJSON *g;
    char path[JSONFIELD_PATH_MAX];
    if (jsonfield_object(spec, "spec", group, &g, err) != 0 ||
        jsonfield_path(path, sizeof(path), "spec", group, err) != 0)
        return -1;
    if (g == NULL)
        return 0; /* every field Forbidden */
    struct jsonfield known[POLICY_F_COUNT + 2] = {{0}};
    for (enum policy_field f = first; f < end; f++)
        known[f - first] = (struct jsonfield){.name = policy_fields[f].name,
                                              .type = JSONFIELD_OBJECT,
                                              .want = "an object ({rule, allowed, min, max})"};
    /* By OID, beside the named fields (policy_oid.c). */
    bool sans = first == POLICY_F_FIRST_SAN;
    known[end - first] =
        sans ? (struct jsonfield){.name = "otherNames",
                                  .type = JSONFIELD_OBJECT,
                                  .want = "an object ({rule, allowed, min, max})"}
             : (struct jsonfield){.name = "otherAttributes",
                                  .type = JSONFIELD_ARRAY,
                                  .want = "a list of {oid, rule, allowed, min, max}"};
    if (jsonfield_check(g, path, known, 0, err) != 0)
        return -1;
    if (sans ? policy_parse_other_names(jsonfield_get(g, "otherNames"), p, budget, err) != 0
             : policy_parse_other_attrs(jsonfield_get(g, "otherAttributes"), p, budget, err) != 0)
        return -1;
    for (enum policy_field f = first; f < end; f++) {
        const cJSON *fj = jsonfield_get(g, policy_fields[f].name);
        if (fj == NULL)
            continue;
        char fp[JSONFIELD_PATH_MAX];
        if (jsonfield_path(fp, sizeof(fp), path, policy_fields[f].name, err) != 0 ||
            jsonfield_check(fj, fp, policy_rule_fields, 0, err) != 0 ||
            policy_parse_bounds(fj, fp, &p->rules[f], err) != 0 ||
            policy_parse_allowed(fj, fp, f == POLICY_F_IP, &p->rules[f], budget, &p->vars, err) !=
                0)
            return -1;
    }
    return 0;
}

/* ---- spec.selector ---- */

/* One list under spec.selector.requesters: non-empty globs, appended to out. */
static int policy_parse_requester_list(const cJSON *rq, const char *key, struct strv *out,
                                       struct err *err)
{
    const cJSON *j;
    if (policy_strings(rq, "spec.selector.requesters", key, POLICY_MAX_PATTERN,
                       "admits no one (list who may use the policy, or leave it out)", &j,
                       err) != 0)
        return -1;
    if (j == NULL)
        return 0;
    int i = 0;
    for (const cJSON *c = j->child; c != NULL; c = c->next, i++) {
        if (c->valuestring[0] == '\0') {
            err_set(err, ERR_INVALID,
                    "spec.selector.requesters.%s[%d]: empty (a glob such as \"*\" admits "
                    "everyone)",
                    key, i);
            return -1;
        }
        strv_push(out, c->valuestring);
    }
    return 0;
}

/* serviceAccounts entries "<namespace glob>/<name glob>", split into the policy's two lists. */
static int policy_split_service_accounts(const struct strv *sas, struct policy *p, struct err *err)
{
    for (size_t i = 0; i < sas->n; i++) {
        const char *v = sas->v[i];
        const char *slash = strchr(v, '/');
        if (slash == NULL || slash == v || slash[1] == '\0' || strchr(slash + 1, '/') != NULL) {
            char q[UTF8_ESCAPE_SIZE(POLICY_KEY_ECHO)];
            utf8_escape(v, POLICY_KEY_ECHO, true, q, sizeof(q));
            err_set(err, ERR_INVALID,
                    "spec.selector.requesters.serviceAccounts[%zu]: %s must be <namespace>/<name> "
                    "(either may be a glob, e.g. \"team-a/*\")",
                    i, q);
            return -1;
        }
        strv_push_take(&p->req_sa_ns, xstrndup(v, (size_t)(slash - v)));
        strv_push(&p->req_sa_name, slash + 1);
    }
    return 0;
}

static int policy_parse_requesters(const cJSON *sel, struct policy *p, struct err *err)
{
    const cJSON *rq;
    if (jsonfield_object(sel, "spec.selector", "requesters", &rq, err) != 0)
        return -1;
    if (rq == NULL)
        return 0;
    if (jsonfield_check(rq, "spec.selector.requesters", policy_requester_fields, 0, err) != 0)
        return -1;
    struct strv sas = {0};
    int rc = -1;
    if (policy_parse_requester_list(rq, "users", &p->req_users, err) == 0 &&
        policy_parse_requester_list(rq, "serviceAccounts", &sas, err) == 0 &&
        policy_parse_requester_list(rq, "groups", &p->req_groups, err) == 0 &&
        policy_parse_requester_list(rq, "certificates", &p->req_certs, err) == 0)
        rc = policy_split_service_accounts(&sas, p, err);
    strv_free(&sas);
    if (rc != 0)
        return -1;
    if (p->req_users.n + p->req_sa_ns.n + p->req_groups.n + p->req_certs.n == 0) {
        err_set(err, ERR_INVALID,
                "spec.selector.requesters: names no users, serviceAccounts, groups or "
                "certificates (say who, or leave requesters out)");
        return -1;
    }
    p->has_requesters = true;
    return 0;
}

/* spec.selector.issuers: "Issuer/<glob>" or "ClusterIssuer/<glob>". */
static int policy_parse_issuers(const cJSON *s, struct policy *p, struct err *err)
{
    const cJSON *is;
    if (policy_strings(s, "spec.selector", "issuers", POLICY_MAX_PATTERN,
                       "selects no issuer (omit it to select every issuer)", &is, err) != 0)
        return -1;
    if (is == NULL)
        return 0;
    p->has_sel_issuers = true;
    int i = 0;
    for (const cJSON *c = is->child; c != NULL; c = c->next, i++) {
        const char *v = c->valuestring;
        const char *glob = NULL;
        if (strncmp(v, "Issuer/", 7) == 0)
            glob = v + 7;
        else if (strncmp(v, "ClusterIssuer/", 14) == 0)
            glob = v + 14;
        if (glob == NULL || *glob == '\0') {
            char q[UTF8_ESCAPE_SIZE(POLICY_KEY_ECHO)];
            utf8_escape(v, POLICY_KEY_ECHO, true, q, sizeof(q));
            err_set(err, ERR_INVALID,
                    "spec.selector.issuers[%d]: %s must be Issuer/<name> or "
                    "ClusterIssuer/<name> (the name may be a glob)",
                    i, q);
            return -1;
        }
        strv_push(&p->sel_issuers, v);
    }
    return 0;
}

static int policy_parse_selector(const cJSON *spec, struct policy *p, struct err *err)
{
    const cJSON *s, *ns;
    if (jsonfield_object(spec, "spec", "selector", &s, err) != 0)
        return -1;
    if (s == NULL)
        return 0;
    if (jsonfield_check(s, "spec.selector", policy_selector_fields, 0, err) != 0 ||
        policy_strings(s, "spec.selector", "namespaces", POLICY_MAX_PATTERN,
                       "selects no namespace (omit it to select every namespace)", &ns, err) != 0)
        return -1;
    if (ns != NULL) {
        p->has_sel_ns = true;
        for (const cJSON *c = ns->child; c != NULL; c = c->next)
            strv_push(&p->sel_ns, c->valuestring);
    }
    if (policy_parse_issuers(s, p, err) != 0)
        return -1;
    const cJSON *nsel;
    if (jsonfield_object(s, "spec.selector", "namespaceSelector", &nsel, err) != 0 ||
        (nsel != NULL && policy_labels_parse(nsel, &p->ns_sel, err) != 0))
        return -1;
    return policy_parse_requesters(s, p, err);
}

/* ---- spec.validity, spec.keyAlgorithms, spec.usages ---- */

static int policy_parse_duration(const cJSON *v, const char *key, long long *out, bool *present,
                                 struct err *err)
{
    char path[JSONFIELD_PATH_MAX];
    const char *s;
    if (jsonfield_path(path, sizeof(path), "spec.validity", key, err) != 0 ||
        jsonfield_string(v, "spec.validity", key, &s, err) != 0)
        return -1;
    *present = s != NULL;
    if (s == NULL)
        return 0;
    if (duration_parse_go(s, out, err) != 0) {
        err_prefix(err, "%s", path);
        return -1;
    }
    if (*out <= 0) {
        err_set(err, ERR_INVALID, "%s: must be longer than 0s", path);
        return -1;
    }
    return 0;
}

/* spec.validity.min: at most max and at most default (a request naming no duration gets
 * default, else max, and must not be below min). */
static int policy_parse_validity_min(const cJSON *v, struct policy *p, bool has_max,
                                     struct err *err)
{
    bool has_min;
    if (policy_parse_duration(v, "min", &p->min_s, &has_min, err) != 0)
        return -1;
    if (!has_min)
        return 0;
    bool over_default = p->default_s > 0 && p->min_s > p->default_s;
    if (p->min_s > p->max_s || over_default) {
        char mn[32], o[32];
        duration_format_go(p->min_s, mn, sizeof(mn));
        duration_format_go(over_default ? p->default_s : p->max_s, o, sizeof(o));
        err_set(err, ERR_INVALID,
                "spec.validity.min (%s) is longer than %s (%s): a request naming no duration "
                "gets that, so it could never be issued",
                mn,
                over_default ? "spec.validity.default"
                : has_max    ? "spec.validity.max"
                             : "the default maximum",
                o);
        return -1;
    }
    return 0;
}

static int policy_parse_validity(const cJSON *spec, struct policy *p, struct err *err)
{
    p->max_s = POLICY_DEFAULT_MAX_SECONDS;
    p->default_s = 0;
    const cJSON *v;
    if (jsonfield_object(spec, "spec", "validity", &v, err) != 0)
        return -1;
    if (v == NULL)
        return 0;
    if (jsonfield_check(v, "spec.validity", policy_validity_fields, 0, err) != 0)
        return -1;
    bool has_max, has_default;
    if (policy_parse_duration(v, "max", &p->max_s, &has_max, err) != 0 ||
        policy_parse_duration(v, "default", &p->default_s, &has_default, err) != 0)
        return -1;
    if (has_default && p->default_s > p->max_s) {
        char d[32], m[32];
        duration_format_go(p->default_s, d, sizeof(d));
        duration_format_go(p->max_s, m, sizeof(m));
        err_set(err, ERR_INVALID, "spec.validity.default (%s) is longer than %s (%s)", d,
                has_max ? "spec.validity.max" : "the default maximum", m);
        return -1;
    }
    return policy_parse_validity_min(v, p, has_max, err);
}

/* Returns true when name is RSA_<n> with 2048 <= n <= 16384 written without leading zeros. */
static bool policy_key_alg_is_rsa(const char *name)
{
    if (strncmp(name, "RSA_", 4) != 0)
        return false;
    const char *d = name + 4;
    size_t n = strlen(d);
    if (n == 0 || n > 5 || d[0] == '0')
        return false;
    long bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9')
            return false;
        bits = bits * 10 + (d[i] - '0');
    }
    return bits >= POLICY_RSA_MIN_BITS && bits <= POLICY_RSA_MAX_BITS;
}

bool policy_key_alg_supported(const char *name)
{
    for (size_t i = 0; i < POLICY_N_FIXED_KEY_ALGS; i++)
        if (strcmp(policy_fixed_key_algs[i], name) == 0)
            return true;
    return policy_key_alg_is_rsa(name);
}

static int policy_parse_key_algs(const cJSON *spec, struct policy *p, struct err *err)
{
    const cJSON *k;
    if (policy_strings(spec, "spec", "keyAlgorithms", POLICY_KEY_ECHO,
                       "allows no key (omit it to allow every supported key)", &k, err) != 0)
        return -1;
    if (k == NULL)
        return 0;
    p->has_key_algs = true;
    int i = 0;
    for (const cJSON *c = k->child; c != NULL; c = c->next, i++) {
        if (!policy_key_alg_supported(c->valuestring)) {
            char q[UTF8_ESCAPE_SIZE(POLICY_KEY_ECHO)];
            utf8_escape(c->valuestring, POLICY_KEY_ECHO, true, q, sizeof(q));
            err_set(err, ERR_INVALID,
                    "spec.keyAlgorithms[%d]: unknown key algorithm %s (one of RSA_2048, RSA_3072, "
                    "RSA_4096, RSA_<bits> up to %d, EC_P256, EC_P384, EC_P521, EC_ED25519)",
                    i, q, POLICY_RSA_MAX_BITS);
            return -1;
        }
        if (!strv_contains(&p->key_algs, c->valuestring))
            strv_push(&p->key_algs, c->valuestring);
    }
    return 0;
}

static int policy_parse_usages(const cJSON *spec, struct policy *p, struct err *err)
{
    p->usages = USAGE_DEFAULT;
    const cJSON *u;
    if (policy_strings(spec, "spec", "usages", POLICY_KEY_ECHO,
                       "allows no usage (omit it for digital signature, key encipherment)", &u,
                       err) != 0)
        return -1;
    if (u == NULL)
        return 0;
    p->usages = 0;
    int i = 0;
    for (const cJSON *c = u->child; c != NULL; c = c->next, i++) {
        int b = usage_from_name(c->valuestring);
        if (b < 0) {
            char q[UTF8_ESCAPE_SIZE(POLICY_KEY_ECHO)];
            utf8_escape(c->valuestring, POLICY_KEY_ECHO, true, q, sizeof(q));
            err_set(err, ERR_INVALID,
                    "spec.usages[%d]: unknown usage %s (cert-manager names, e.g. \"digital "
                    "signature\", \"key encipherment\", \"server auth\", \"client auth\")",
                    i, q);
            return -1;
        }
        p->usages |= USAGE_BIT(b);
    }
    return 0;
}

/* ---- spec.keySizes, spec.requiredUsages ---- */

static const struct jsonfield policy_key_sizes_fields[] = {
    {.name = "rsa", .type = JSONFIELD_OBJECT, .want = "an object ({min, max})"},
    {0},
};
static const struct jsonfield policy_key_size_fields[] = {
    {.name = "min", .type = JSONFIELD_INTEGER},
    {.name = "max", .type = JSONFIELD_INTEGER},
    {0},
};

/* spec.keySizes.rsa: {min, max} in bits, each within what Ember signs, min <= max. */
static int policy_parse_key_sizes(const cJSON *spec, struct policy *p, struct err *err)
{
    const cJSON *ks, *rsa;
    if (jsonfield_object(spec, "spec", "keySizes", &ks, err) != 0)
        return -1;
    if (ks == NULL)
        return 0;
    if (jsonfield_check(ks, "spec.keySizes", policy_key_sizes_fields, 0, err) != 0 ||
        jsonfield_object(ks, "spec.keySizes", "rsa", &rsa, err) != 0)
        return -1;
    if (rsa == NULL) {
        err_set(err, ERR_INVALID, "spec.keySizes: names no key type (give rsa, or leave it out)");
        return -1;
    }
    long long mn = 0, mx = 0;
    bool has_min, has_max;
    if (jsonfield_check(rsa, "spec.keySizes.rsa", policy_key_size_fields, 0, err) != 0 ||
        jsonfield_int(rsa, "spec.keySizes.rsa", "min", POLICY_RSA_MIN_BITS, POLICY_RSA_MAX_BITS,
                      &mn, &has_min, err) != 0 ||
        jsonfield_int(rsa, "spec.keySizes.rsa", "max", POLICY_RSA_MIN_BITS, POLICY_RSA_MAX_BITS,
                      &mx, &has_max, err) != 0)
        return -1;
    if (!has_min && !has_max) {
        err_set(err, ERR_INVALID, "spec.keySizes.rsa: give min or max (bits), or leave it out");
        return -1;
    }
    if (has_min && has_max && mn > mx) {
        err_set(err, ERR_INVALID, "spec.keySizes.rsa: min (%lld) is more than max (%lld)", mn, mx);
        return -1;
    }
    p->rsa_min_bits = (int)mn;
    p->rsa_max_bits = (int)mx;
    return 0;
}

/* Usages a usage stands for: cert-manager names two of them twice. */
static usage_set policy_usage_aliases(usage_set s)
{
    if (s & (USAGE_BIT(USAGE_SIGNING) | USAGE_BIT(USAGE_DIGITAL_SIGNATURE)))
        s |= USAGE_BIT(USAGE_SIGNING) | USAGE_BIT(USAGE_DIGITAL_SIGNATURE);
    if (s & (USAGE_BIT(USAGE_SMIME) | USAGE_BIT(USAGE_EMAIL_PROTECTION)))
        s |= USAGE_BIT(USAGE_SMIME) | USAGE_BIT(USAGE_EMAIL_PROTECTION);
    return s;
}

/* spec.requiredUsages: usages every request must ask for; each must be allowed by spec.usages
 * (read first). */
static int policy_parse_required_usages(const cJSON *spec, struct policy *p, struct err *err)
{
    const cJSON *u;
    if (policy_strings(spec, "spec", "requiredUsages", POLICY_KEY_ECHO,
                       "requires no usage (leave it out)", &u, err) != 0)
        return -1;
    usage_set allowed = policy_usage_aliases(p->usages);
    if (p->is_ca)
        allowed |= USAGE_BIT(USAGE_CERT_SIGN);
    int i = 0;
    for (const cJSON *c = u != NULL ? u->child : NULL; c != NULL; c = c->next, i++) {
        int b = usage_from_name(c->valuestring);
        char q[UTF8_ESCAPE_SIZE(POLICY_KEY_ECHO)];
        utf8_escape(c->valuestring, POLICY_KEY_ECHO, true, q, sizeof(q));
        if (b < 0) {
            err_set(err, ERR_INVALID,
                    "spec.requiredUsages[%d]: unknown usage %s (cert-manager names, as in "
                    "spec.usages)",
                    i, q);
            return -1;
        }
        if (!(allowed & USAGE_BIT(b))) {
            char list[512];
            usage_format(p->usages, list, sizeof(list));
            err_set(err, ERR_INVALID,
                    "spec.requiredUsages[%d]: %s is not allowed by spec.usages (allowed: %s); "
                    "add it there too",
                    i, q, list);
            return -1;
        }
        p->required_usages |= USAGE_BIT(b);
    }
    return 0;
}

/* ---- the object ---- */

static int policy_parse_header(const cJSON *obj, struct policy *p, struct err *err)
{
    if (!cJSON_IsObject(obj))
        return jsonfield_expected("IssuancePolicy", "an object", obj, err);
    const cJSON *av = jsonfield_get(obj, "apiVersion");
    if (!cJSON_IsString(av) || av->valuestring == NULL ||
        strcmp(av->valuestring, POLICY_GROUP_VERSION) != 0) {
        err_set(err, ERR_INVALID, "apiVersion: expected \"%s\"", POLICY_GROUP_VERSION);
        return -1;
    }
    const cJSON *k = jsonfield_get(obj, "kind");
    if (!cJSON_IsString(k) || k->valuestring == NULL || strcmp(k->valuestring, POLICY_KIND) != 0) {
        err_set(err, ERR_INVALID, "kind: expected \"%s\"", POLICY_KIND);
        return -1;
    }
    const cJSON *md;
    const char *name = NULL;
    if (jsonfield_object(obj, "", "metadata", &md, err) != 0 ||
        (md != NULL && jsonfield_string(md, "metadata", "name", &name, err) != 0))
        return -1;
    if (name == NULL)
        return jsonfield_missing("metadata.name", "a string", err);
    size_t n = strlen(name);
    if (n == 0 || n > POLICY_MAX_NAME) {
        err_set(err, ERR_INVALID, "metadata.name: must be 1 to %d bytes", POLICY_MAX_NAME);
        return -1;
    }
    p->name = xstrdup(name);
    return 0;
}

static int policy_parse_spec(const cJSON *obj, struct policy *p, struct err *err)
{
    const cJSON *spec;
    if (jsonfield_object(obj, "", "spec", &spec, err) != 0)
        return -1;
    if (spec == NULL)
        return jsonfield_missing("spec", "an object", err);
    if (jsonfield_check(spec, "spec", policy_spec_fields, 0, err) != 0)
        return -1;
    long long budget = POLICY_MAX_REGEX_TOTAL;
    if (policy_parse_selector(spec, p, err) != 0 || policy_parse_validity(spec, p, err) != 0 ||
        policy_parse_key_algs(spec, p, err) != 0 ||
        policy_parse_rule_group(spec, "subject", POLICY_F_CN, POLICY_F_FIRST_SAN, p, &budget,
                                err) != 0 ||
        policy_parse_rule_group(spec, "sans", POLICY_F_FIRST_SAN, POLICY_F_COUNT, p, &budget,
                                err) != 0 ||
        policy_parse_usages(spec, p, err) != 0 ||
        jsonfield_bool(spec, "spec", "isCA", &p->is_ca, err) != 0 ||
        policy_parse_key_sizes(spec, p, err) != 0)
        return -1;
    if (policy_ca_parse(spec, p->is_ca, &p->ca, err) != 0)
        return -1;
    return policy_parse_required_usages(spec, p, err);
}

struct policy *policy_from_json(const cJSON *obj, struct err *err)
{
    struct policy *p = xcalloc(1, sizeof(*p));
    for (int f = 0; f < POLICY_F_COUNT; f++)
        p->rules[f].kind = POLICY_RULE_FORBIDDEN;
    p->other_names_rule.kind = POLICY_RULE_FORBIDDEN;
    p->max_s = POLICY_DEFAULT_MAX_SECONDS;
    p->usages = USAGE_DEFAULT;
    if (obj == NULL) {
        err_set(err, ERR_INVALID, "IssuancePolicy: no object");
        policy_free(p);
        return NULL;
    }
    if (policy_parse_header(obj, p, err) != 0 || policy_parse_spec(obj, p, err) != 0) {
        policy_free(p);
        return NULL;
    }
    return p;
}

void policy_free(struct policy *p)
{
    if (p == NULL)
        return;
    free(p->name);
    strv_free(&p->sel_ns);
    strv_free(&p->sel_issuers);
    strv_free(&p->req_users);
    strv_free(&p->req_sa_ns);
    strv_free(&p->req_sa_name);
    strv_free(&p->req_groups);
    strv_free(&p->req_certs);
    strv_free(&p->key_algs);
    policy_labels_free(p->ns_sel);
    for (int f = 0; f < POLICY_F_COUNT; f++)
        policy_rule_free(&p->rules[f]);
    policy_ca_free(&p->ca);
    policy_oid_free(p);
    free(p);
}

long long policy_min_validity(const struct policy *p)
{
    return p->min_s;
}

const char *policy_name(const struct policy *p)
{
    return p->name;
}

bool policy_has_requesters(const struct policy *p)
{
    return p->has_requesters;
}

bool policy_depends_on_namespace(const struct policy *p)
{
    return (p->vars & POLICY_VAR_BIT(POLICY_VAR_NAMESPACE)) != 0 || p->has_sel_ns ||
           p->ns_sel != NULL;
}

bool policy_has_namespace_selector(const struct policy *p)
{
    return p->ns_sel != NULL;
}
