/* policy_oid.c -- an IssuancePolicy's rules by OID: spec.sans.otherNames (otherName SANs, an
 * OID and a UTF-8 value) and spec.subject.otherAttributes (subject attributes without a field
 * of their own). */
#include "decide/policy_priv.h"

#include "base/mem.h"
#include "base/utf8.h"

#include <openssl/objects.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest dotted OID a policy may name (CSRs' OIDs are read into 80 bytes). */
#define POLICY_OID_MAX 64

static const char *const policy_oid_rule_names[] = {"Required", "Optional", "Forbidden", NULL};
static const struct jsonfield policy_oid_names_fields[] = {
    {.name = "rule", .type = JSONFIELD_STRING, .required = true, .choices = policy_oid_rule_names},
    {.name = "allowed", .type = JSONFIELD_ARRAY, .want = "a list of {oid, value}"},
    {.name = "min", .type = JSONFIELD_INTEGER},
    {.name = "max", .type = JSONFIELD_INTEGER},
    {0},
};
static const struct jsonfield policy_oid_name_fields[] = {
    {.name = "oid", .type = JSONFIELD_STRING, .required = true},
    {.name = "value", .type = JSONFIELD_STRING, .required = true},
    {0},
};
static const struct jsonfield policy_oid_attr_fields[] = {
    {.name = "oid", .type = JSONFIELD_STRING, .required = true},
    {.name = "rule", .type = JSONFIELD_STRING, .required = true, .choices = policy_oid_rule_names},
    {.name = "allowed", .type = JSONFIELD_STRINGS},
    {.name = "min", .type = JSONFIELD_INTEGER},
    {.name = "max", .type = JSONFIELD_INTEGER},
    {0},
};

/* Subject attributes with a field of their own under spec.subject. */
static const struct {
    const char *oid, *field;
} policy_oid_named[] = {
    {"2.5.4.3", "commonName"},    {"2.5.4.10", "organization"}, {"2.5.4.11", "organizationalUnit"},
    {"2.5.4.6", "country"},       {"2.5.4.8", "province"},      {"2.5.4.7", "locality"},
    {"2.5.4.9", "streetAddress"}, {"2.5.4.17", "postalCode"},   {"2.5.4.5", "serialNumber"},
};

/* True when s is a dotted OID as OpenSSL writes one: at least two arcs, digits without leading
 * zeros, the first arc 0, 1 or 2 and, under 0 or 1, the second below 40. */
static bool policy_oid_valid(const char *s)
{
    size_t n = strlen(s), arcs = 0;
    if (n == 0 || n > POLICY_OID_MAX)
        return false;
    const char *p = s;
    while (*p != '\0') {
        const char *start = p;
        unsigned long v = 0;
        while (*p >= '0' && *p <= '9') {
            v = v * 10 + (unsigned long)(*p - '0');
            p++;
        }
        size_t len = (size_t)(p - start);
        if (len == 0 || len > 18 || (len > 1 && *start == '0'))
            return false;
        if ((arcs == 0 && v > 2) || (arcs == 1 && s[0] != '2' && v >= 40))
            return false;
        arcs++;
        if (*p == '.' && p[1] != '\0')
            p++;
        else if (*p != '\0')
            return false;
    }
    return arcs >= 2;
}

/* The `oid` of entry j (path names it): a valid dotted OID, or ERR_INVALID. */
static int policy_oid_read(const cJSON *j, const char *path, const char **out, struct err *err)
{
    if (jsonfield_string(j, path, "oid", out, err) != 0)
        return -1;
    if (*out != NULL && policy_oid_valid(*out))
        return 0;
    char q[UTF8_ESCAPE_SIZE(POLICY_KEY_ECHO)];
    utf8_escape(*out != NULL ? *out : "", POLICY_KEY_ECHO, true, q, sizeof(q));
    err_set(err, ERR_INVALID,
            "%s.oid: %s is not a dotted OID (e.g. \"1.3.6.1.4.1.311.20.2.3\", at most %d bytes)",
            path, q, POLICY_OID_MAX);
    return -1;
}

void policy_oid_label(const char *oid, char *buf, size_t len)
{
    int nid = OBJ_txt2nid(oid);
    const char *sn = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
    if (sn != NULL && strcmp(sn, oid) != 0)
        snprintf(buf, len, "subject %s (%s)", oid, sn);
    else
        snprintf(buf, len, "subject %s", oid);
}

/* spec.sans.otherNames.allowed[i] ({oid, value}) into p->other_names[i]. */
static int policy_oid_name_entry(const cJSON *e, const char *path, struct policy *p,
                                 long long *budget, struct err *err)
{
    const char *oid = NULL, *value = NULL;
    if (jsonfield_check(e, path, policy_oid_name_fields, 0, err) != 0 ||
        policy_oid_read(e, path, &oid, err) != 0 ||
        jsonfield_string(e, path, "value", &value, err) != 0)
        return -1;
    char vp[JSONFIELD_PATH_MAX];
    if (jsonfield_path(vp, sizeof(vp), path, "value", err) != 0)
        return -1;
    if (strlen(value) > POLICY_MAX_PATTERN) {
        err_set(err, ERR_INVALID, "%s: longer than %d bytes", vp, POLICY_MAX_PATTERN);
        return -1;
    }
    struct policy_other_name *on = &p->other_names[p->n_other_names];
    if (policy_pattern_compile(value, vp, &on->pat, budget, &p->vars, err) != 0)
        return -1;
    on->oid = xstrdup(oid);
    p->n_other_names++;
    return 0;
}

int policy_parse_other_names(const cJSON *j, struct policy *p, long long *budget, struct err *err)
{
    static const char path[] = "spec.sans.otherNames";
    if (j == NULL)
        return 0; /* Forbidden */
    if (jsonfield_check(j, path, policy_oid_names_fields, 0, err) != 0 ||
        policy_parse_bounds(j, path, &p->other_names_rule, err) != 0)
        return -1;
    const cJSON *aj;
    if (jsonfield_array(j, path, "allowed", &aj, err) != 0)
        return -1;
    p->other_names_rule.any = aj == NULL;
    if (aj == NULL)
        return 0;
    size_t n = (size_t)cJSON_GetArraySize(aj);
    if (n == 0 || n > POLICY_MAX_LIST) {
        err_set(err, ERR_INVALID,
                n == 0 ? "%s.allowed: empty list allows no otherName (omit `allowed` to allow "
                         "any, or use rule Forbidden)"
                       : "%s.allowed: more than %d entries",
                path, POLICY_MAX_LIST);
        return -1;
    }
    p->other_names = xcalloc(n, sizeof(*p->other_names));
    size_t i = 0;
    for (const cJSON *e = aj->child; e != NULL; e = e->next, i++) {
        char ep[JSONFIELD_PATH_MAX];
        if (jsonfield_path_index(ep, sizeof(ep), "spec.sans.otherNames.allowed", i, err) != 0 ||
            policy_oid_name_entry(e, ep, p, budget, err) != 0)
            return -1;
    }
    return 0;
}

/* An otherAttributes OID: not one with its own field, not listed twice. */
static int policy_oid_attr_unique(const struct policy *p, const char *oid, const char *path,
                                  struct err *err)
{
    for (size_t k = 0; k < sizeof(policy_oid_named) / sizeof(policy_oid_named[0]); k++) {
        if (strcmp(policy_oid_named[k].oid, oid) == 0) {
            err_set(err, ERR_INVALID, "%s.oid: %s is spec.subject.%s: set that field instead", path,
                    oid, policy_oid_named[k].field);
            return -1;
        }
    }
    for (size_t k = 0; k < p->n_other_attrs; k++) {
        if (strcmp(p->other_attrs[k].oid, oid) == 0) {
            err_set(err, ERR_INVALID,
                    "%s.oid: %s is listed twice (one entry per OID; put every allowed value in "
                    "its `allowed`)",
                    path, oid);
            return -1;
        }
    }
    return 0;
}

int policy_parse_other_attrs(const cJSON *j, struct policy *p, long long *budget, struct err *err)
{
    static const char path[] = "spec.subject.otherAttributes";
    if (j == NULL)
        return 0;
    size_t n = (size_t)cJSON_GetArraySize(j);
    if (n == 0 || n > POLICY_MAX_LIST) {
        err_set(err, ERR_INVALID,
                n == 0 ? "%s: empty list (leave it out: every attribute without a field of its "
                         "own is then denied)"
                       : "%s: more than %d entries",
                path, POLICY_MAX_LIST);
        return -1;
    }
    p->other_attrs = xcalloc(n, sizeof(*p->other_attrs));
    size_t i = 0;
    for (const cJSON *e = j->child; e != NULL; e = e->next, i++) {
        char ep[JSONFIELD_PATH_MAX];
        const char *oid = NULL;
        if (jsonfield_path_index(ep, sizeof(ep), path, i, err) != 0 ||
            jsonfield_check(e, ep, policy_oid_attr_fields, 0, err) != 0 ||
            policy_oid_read(e, ep, &oid, err) != 0 || policy_oid_attr_unique(p, oid, ep, err) != 0)
            return -1;
        struct policy_other_attr *a = &p->other_attrs[p->n_other_attrs++];
        a->oid = xstrdup(oid);
        char label[POLICY_OID_MAX + 80];
        policy_oid_label(oid, label, sizeof(label));
        a->label = xstrdup(label);
        if (policy_parse_bounds(e, ep, &a->rule, err) != 0 ||
            policy_parse_allowed(e, ep, false, &a->rule, budget, &p->vars, err) != 0)
            return -1;
    }
    return 0;
}

void policy_oid_free(struct policy *p)
{
    for (size_t i = 0; i < p->n_other_names; i++) {
        free(p->other_names[i].oid);
        policy_pattern_free(&p->other_names[i].pat);
    }
    free(p->other_names);
    for (size_t i = 0; i < p->n_other_attrs; i++) {
        free(p->other_attrs[i].oid);
        free(p->other_attrs[i].label);
        policy_rule_free(&p->other_attrs[i].rule);
    }
    free(p->other_attrs);
    policy_rule_free(&p->other_names_rule);
}

bool policy_other_name_allowed(const struct policy *p, const struct policy_request *r,
                               const char *oid, const char *value)
{
    if (p->other_names_rule.any)
        return true;
    for (size_t i = 0; i < p->n_other_names; i++)
        if (strcmp(p->other_names[i].oid, oid) == 0 &&
            policy_pattern_match(&p->other_names[i].pat, r, value))
            return true;
    return false;
}
