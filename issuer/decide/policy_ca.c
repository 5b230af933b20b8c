/* policy_ca.c -- an IssuancePolicy's spec.ca: which CAs a policy with isCA: true allows (their
 * pathLen and name constraints): load, containment of name constraints (RFC 5280 4.2.1.10), and
 * the violations of a CA request. */
#include "decide/policy_priv.h"

#include "base/buf.h"
#include "base/jsonfield.h"
#include "base/mem.h"
#include "base/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The kinds of a nameConstraints list: their cert-manager names, in the order messages list
 * them. */
static const char *const policy_ca_kind_names[POLICY_NC_KINDS] = {
    [POLICY_NC_DNS] = "dnsDomains",
    [POLICY_NC_IP] = "ipRanges",
    [POLICY_NC_EMAIL] = "emailAddresses",
    [POLICY_NC_URI] = "uriDomains",
};

static const struct jsonfield policy_ca_fields[] = {
    {.name = "maxPathLen", .type = JSONFIELD_INTEGER},
    {.name = "nameConstraints",
     .type = JSONFIELD_OBJECT,
     .want = "an object ({required, permitted, excluded})"},
    {0},
};
static const struct jsonfield policy_ca_nc_fields[] = {
    {.name = "required", .type = JSONFIELD_BOOL},
    {.name = "permitted",
     .type = JSONFIELD_OBJECT,
     .want = "an object ({dnsDomains, ipRanges, emailAddresses, uriDomains})"},
    {.name = "excluded",
     .type = JSONFIELD_OBJECT,
     .want = "an object ({dnsDomains, ipRanges, emailAddresses, uriDomains})"},
    {0},
};
static const struct jsonfield policy_ca_list_fields[] = {
    {.name = "dnsDomains", .type = JSONFIELD_STRINGS},
    {.name = "ipRanges", .type = JSONFIELD_STRINGS},
    {.name = "emailAddresses", .type = JSONFIELD_STRINGS},
    {.name = "uriDomains", .type = JSONFIELD_STRINGS},
    {0},
};

/* ---- containment ---- */

/* True when host is dom or a subdomain of it (strict: only a subdomain), case-insensitively
 * and at a label boundary ("badexample.com" is not under "example.com"). */
static bool policy_ca_host_under(const char *host, const char *dom, bool strict)
{
    size_t hl = strlen(host), dl = strlen(dom);
    if (hl == dl)
        return !strict && strcasecmp(host, dom) == 0;
    if (dl == 0)
        return true;
    return hl > dl && host[hl - dl - 1] == '.' && strcasecmp(host + hl - dl, dom) == 0;
}

/* DNS: "example.com" stands for itself and its subdomains, ".example.com" (as Go and OpenSSL
 * read it) for its subdomains only, "" for every name. */
static bool policy_ca_dns_within(const char *r, const char *p)
{
    bool rd = r[0] == '.', pd = p[0] == '.';
    const char *rb = r + rd, *pb = p + pd;
    if (p[0] == '\0')
        return true;
    if (r[0] == '\0')
        return false;
    if (!pd)
        return policy_ca_host_under(rb, pb, false);
    return policy_ca_host_under(rb, pb, true) || (rd && strcasecmp(rb, pb) == 0);
}

/* Email and URI constraints other than a mailbox: "host" stands for that host only (RFC 5280;
 * Go also admits its subdomains, so only the stricter reading is ever granted), ".domain" for
 * every host below it. */
static bool policy_ca_host_within(const char *r, const char *p)
{
    if (p[0] != '.')
        return r[0] != '.' && strcasecmp(r, p) == 0;
    if (r[0] != '.')
        return policy_ca_host_under(r, p + 1, true);
    return policy_ca_host_under(r + 1, p + 1, false);
}

/* Email: a mailbox "user@host" stands for itself (the local part compared exactly), a host for
 * every mailbox on it, ".domain" for every mailbox on a host below it. */
static bool policy_ca_email_within(const char *r, const char *p)
{
    const char *ra = strrchr(r, '@'), *pa = strrchr(p, '@');
    if (pa != NULL)
        return ra != NULL && (size_t)(ra - r) == (size_t)(pa - p) &&
               strncmp(r, p, (size_t)(pa - p)) == 0 && strcasecmp(ra + 1, pa + 1) == 0;
    return policy_ca_host_within(ra != NULL ? ra + 1 : r, p);
}

/* IP: the CIDR r lies inside the CIDR p (same family, no shorter prefix). */
static bool policy_ca_ip_within(const char *r, const char *p)
{
    struct cidr rc, pc;
    if (cidr_parse(r, &rc) != 0 || cidr_parse(p, &pc) != 0)
        return false;
    return rc.family == pc.family && rc.prefix >= pc.prefix &&
           cidr_contains(&pc, rc.family, rc.addr);
}

bool policy_ca_within(enum policy_nc_kind kind, const char *r, const char *p)
{
    switch (kind) {
    case POLICY_NC_DNS: return policy_ca_dns_within(r, p);
    case POLICY_NC_IP: return policy_ca_ip_within(r, p);
    case POLICY_NC_EMAIL: return policy_ca_email_within(r, p);
    case POLICY_NC_URI: return policy_ca_host_within(r, p);
    default: return false;
    }
}

/* ---- load ---- */

/* Whether s is a host name (labels of letters, digits, '-', '_', '*' joined by single dots),
 * optionally after one leading dot when dot_ok. */
static bool policy_ca_host_ok(const char *s, bool dot_ok)
{
    if (dot_ok && s[0] == '.')
        s++;
    if (s[0] == '\0' || s[0] == '.')
        return false;
    for (const char *c = s; *c != '\0'; c++) {
        bool label = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '*';
        if (!label && !(*c == '.' && c[1] != '\0' && c[1] != '.'))
            return false;
    }
    return true;
}

/* One entry of a kind: a DNS domain or URI host ("example.com", ".example.com"), an email
 * constraint (also "user@host"), or a CIDR. */
static bool policy_ca_entry_ok(enum policy_nc_kind kind, const char *v)
{
    if (kind == POLICY_NC_IP) {
        struct cidr c;
        return cidr_parse(v, &c) == 0;
    }
    const char *at = strrchr(v, '@');
    if (kind != POLICY_NC_EMAIL || at == NULL)
        return policy_ca_host_ok(v, true);
    if (at == v || memchr(v, '@', (size_t)(at - v)) != NULL)
        return false;
    for (const char *c = v; c < at; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
            return false;
    return policy_ca_host_ok(at + 1, false);
}

static const char *policy_ca_entry_want(enum policy_nc_kind kind)
{
    switch (kind) {
    case POLICY_NC_DNS: return "a DNS domain, e.g. \"example.com\" or \".example.com\"";
    case POLICY_NC_IP: return "a CIDR, e.g. \"10.0.0.0/8\" or \"2001:db8::/32\"";
    case POLICY_NC_EMAIL:
        return "a mailbox, host or domain, e.g. \"admin@example.com\", \"example.com\" or "
               "\".example.com\"";
    default: return "a host or domain, e.g. \"example.com\" or \".example.com\"";
    }
}

/* spec.ca.nameConstraints.<which>: each kind's list, checked entry by entry. */
static int policy_ca_parse_list(const cJSON *nc, const char *which, struct policy_nc_list *out,
                                struct err *err)
{
    char path[JSONFIELD_PATH_MAX];
    const cJSON *l;
    if (jsonfield_path(path, sizeof(path), "spec.ca.nameConstraints", which, err) != 0 ||
        jsonfield_object(nc, "spec.ca.nameConstraints", which, &l, err) != 0)
        return -1;
    if (l == NULL)
        return 0;
    if (jsonfield_check(l, path, policy_ca_list_fields, 0, err) != 0)
        return -1;
    for (int k = 0; k < POLICY_NC_KINDS; k++) {
        const cJSON *j;
        if (jsonfield_strings(l, path, policy_ca_kind_names[k], POLICY_MAX_LIST, POLICY_MAX_PATTERN,
                              &j, err) != 0)
            return -1;
        if (j == NULL)
            continue;
        if (j->child == NULL) {
            err_set(err, ERR_INVALID, "%s.%s: empty list (omit it instead)", path,
                    policy_ca_kind_names[k]);
            return -1;
        }
        int i = 0;
        for (const cJSON *c = j->child; c != NULL; c = c->next, i++) {
            if (!policy_ca_entry_ok((enum policy_nc_kind)k, c->valuestring)) {
                char q[UTF8_ESCAPE_SIZE(POLICY_MAX_VALUE_ECHO)];
                utf8_escape(c->valuestring, POLICY_MAX_VALUE_ECHO, true, q, sizeof(q));
                err_set(err, ERR_INVALID, "%s.%s[%d]: %s is not %s", path, policy_ca_kind_names[k],
                        i, q, policy_ca_entry_want((enum policy_nc_kind)k));
                return -1;
            }
            strv_push(&out->v[k], c->valuestring);
        }
    }
    if (policy_ca_list_empty(out)) {
        err_set(err, ERR_INVALID,
                "%s: names no dnsDomains, ipRanges, emailAddresses or uriDomains (leave it out)",
                path);
        return -1;
    }
    return 0;
}

static int policy_ca_parse_nc(const cJSON *ca, struct policy_ca *out, struct err *err)
{
    const cJSON *nc;
    if (jsonfield_object(ca, "spec.ca", "nameConstraints", &nc, err) != 0)
        return -1;
    if (nc == NULL)
        return 0;
    if (jsonfield_check(nc, "spec.ca.nameConstraints", policy_ca_nc_fields, 0, err) != 0 ||
        jsonfield_bool(nc, "spec.ca.nameConstraints", "required", &out->nc_required, err) != 0 ||
        policy_ca_parse_list(nc, "permitted", &out->permitted, err) != 0 ||
        policy_ca_parse_list(nc, "excluded", &out->excluded, err) != 0)
        return -1;
    out->has_nc = true;
    if (!out->nc_required && policy_ca_list_empty(&out->permitted) &&
        policy_ca_list_empty(&out->excluded)) {
        err_set(err, ERR_INVALID,
                "spec.ca.nameConstraints: says nothing (give permitted, excluded or required: "
                "true, or leave it out)");
        return -1;
    }
    return 0;
}

int policy_ca_parse(const cJSON *spec, bool is_ca, struct policy_ca *out, struct err *err)
{
    const cJSON *ca;
    if (jsonfield_object(spec, "spec", "ca", &ca, err) != 0)
        return -1;
    if (ca == NULL)
        return 0;
    if (!is_ca) {
        err_set(err, ERR_INVALID,
                "spec.ca: only meaningful with spec.isCA: true (set isCA: true, or remove ca)");
        return -1;
    }
    long long mpl = 0;
    if (jsonfield_check(ca, "spec.ca", policy_ca_fields, 0, err) != 0 ||
        jsonfield_int(ca, "spec.ca", "maxPathLen", 0, CSR_MAX_PATH_LEN, &mpl,
                      &out->has_max_path_len, err) != 0 ||
        policy_ca_parse_nc(ca, out, err) != 0)
        return -1;
    out->max_path_len = (long)mpl;
    if (!out->has_max_path_len && !out->has_nc) {
        err_set(err, ERR_INVALID,
                "spec.ca: names neither maxPathLen nor nameConstraints (leave it out)");
        return -1;
    }
    return 0;
}

bool policy_ca_list_empty(const struct policy_nc_list *l)
{
    for (int k = 0; k < POLICY_NC_KINDS; k++)
        if (l->v[k].n > 0)
            return false;
    return true;
}

void policy_ca_free(struct policy_ca *ca)
{
    for (int k = 0; k < POLICY_NC_KINDS; k++) {
        strv_free(&ca->permitted.v[k]);
        strv_free(&ca->excluded.v[k]);
    }
}

bool policy_ca_max_path_len(const struct policy *p, long *out)
{
    if (!p->is_ca || !p->ca.has_max_path_len)
        return false;
    *out = p->ca.max_path_len;
    return true;
}

/* ---- evaluation ---- */

/* Appends s to b; what passes the buffer's cap is left out (the message is cut anyway). */
static void policy_ca_put(struct buf *b, const char *s)
{
    if (buf_append_str(b, s, NULL) != 0)
        return;
}

/* Appends ` "a", "b", and 3 more` (at most POLICY_MAX_GROUP_ECHO values) to b. */
static void policy_ca_put_list(struct buf *b, const struct strv *sv, const bool *pick)
{
    size_t shown = 0, more = 0;
    for (size_t i = 0; i < sv->n; i++) {
        if (pick != NULL && !pick[i])
            continue;
        if (shown == POLICY_MAX_GROUP_ECHO) {
            more++;
            continue;
        }
        char q[UTF8_ESCAPE_SIZE(POLICY_MAX_VALUE_ECHO)];
        utf8_escape(sv->v[i], POLICY_MAX_VALUE_ECHO, true, q, sizeof(q));
        policy_ca_put(b, shown > 0 ? ", " : " ");
        policy_ca_put(b, q);
        shown++;
    }
    if (more > 0) {
        char m[48];
        snprintf(m, sizeof(m), ", and %zu more", more);
        policy_ca_put(b, m);
    }
}

/* True when v (of kind k) is within one entry of list. */
static bool policy_ca_any(enum policy_nc_kind k, const char *v, const struct strv *list)
{
    for (size_t i = 0; i < list->n; i++)
        if (policy_ca_within(k, v, list->v[i]))
            return true;
    return false;
}

static void policy_ca_push(struct strv *items, struct buf *b)
{
    strv_push_take(items, buf_take(b, NULL));
}

/* One kind of the policy's permitted entries against the request's. */
static void policy_ca_check_permitted(const struct policy_ca *ca, enum policy_nc_kind k,
                                      const struct strv *req, struct strv *items)
{
    const struct strv *pol = &ca->permitted.v[k];
    if (pol->n == 0)
        return;
    struct buf b;
    buf_init(&b, POLICY_MAX_MESSAGE);
    if (req->n == 0) {
        policy_ca_put(&b, "ca.nameConstraints.permitted.");
        policy_ca_put(&b, policy_ca_kind_names[k]);
        policy_ca_put(&b, ": none requested (allowed:");
        policy_ca_put_list(&b, pol, NULL);
        policy_ca_put(&b, ")");
        policy_ca_push(items, &b);
        return;
    }
    bool *bad = xcalloc(req->n, sizeof(*bad));
    bool any = false;
    for (size_t i = 0; i < req->n; i++) {
        bad[i] = !policy_ca_any(k, req->v[i], pol);
        any = any || bad[i];
    }
    if (any) {
        policy_ca_put(&b, "ca.nameConstraints.permitted.");
        policy_ca_put(&b, policy_ca_kind_names[k]);
        policy_ca_put_list(&b, req, bad);
        policy_ca_put(&b, " not within the policy's (allowed:");
        policy_ca_put_list(&b, pol, NULL);
        policy_ca_put(&b, ")");
        policy_ca_push(items, &b);
    }
    free(bad);
    buf_free(&b);
}

/* One kind of the policy's excluded entries: each must be covered by a requested one. */
static void policy_ca_check_excluded(const struct policy_ca *ca, enum policy_nc_kind k,
                                     const struct strv *req, struct strv *items)
{
    const struct strv *pol = &ca->excluded.v[k];
    if (pol->n == 0)
        return;
    bool *missing = xcalloc(pol->n, sizeof(*missing));
    bool any = false;
    for (size_t i = 0; i < pol->n; i++) {
        missing[i] = !policy_ca_any(k, pol->v[i], req);
        any = any || missing[i];
    }
    if (any) {
        struct buf b;
        buf_init(&b, POLICY_MAX_MESSAGE);
        policy_ca_put(&b, "ca.nameConstraints.excluded.");
        policy_ca_put(&b, policy_ca_kind_names[k]);
        policy_ca_put(&b, ": the request must exclude");
        policy_ca_put_list(&b, pol, missing);
        policy_ca_put(&b, " (the policy's excluded entries)");
        policy_ca_push(items, &b);
    }
    free(missing);
}

void policy_ca_check(const struct policy *p, const struct csr *csr, struct strv *items)
{
    const struct policy_ca *ca = &p->ca;
    if (ca->has_max_path_len && csr->bc_has_path_len && csr->bc_path_len > ca->max_path_len) {
        char m[96];
        snprintf(m, sizeof(m), "ca.maxPathLen: pathLen %ld requested, at most %ld allowed",
                 csr->bc_path_len, ca->max_path_len);
        strv_push(items, m);
    }
    if (!ca->has_nc)
        return;
    if (!csr->has_name_constraints) {
        if (ca->nc_required)
            strv_push(items, "ca.nameConstraints: required, none requested");
        return;
    }
    const struct strv *perm[POLICY_NC_KINDS] = {[POLICY_NC_DNS] = &csr->nc_permitted.dns,
                                                [POLICY_NC_IP] = &csr->nc_permitted.ip,
                                                [POLICY_NC_EMAIL] = &csr->nc_permitted.email,
                                                [POLICY_NC_URI] = &csr->nc_permitted.uri};
    const struct strv *excl[POLICY_NC_KINDS] = {[POLICY_NC_DNS] = &csr->nc_excluded.dns,
                                                [POLICY_NC_IP] = &csr->nc_excluded.ip,
                                                [POLICY_NC_EMAIL] = &csr->nc_excluded.email,
                                                [POLICY_NC_URI] = &csr->nc_excluded.uri};
    for (int k = 0; k < POLICY_NC_KINDS; k++)
        policy_ca_check_permitted(ca, (enum policy_nc_kind)k, perm[k], items);
    for (int k = 0; k < POLICY_NC_KINDS; k++)
        policy_ca_check_excluded(ca, (enum policy_nc_kind)k, excl[k], items);
}
