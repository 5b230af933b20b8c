/* policy.c -- IssuancePolicy: load and validate a CRD-shaped object, evaluate requests. */
#include "decide/policy.h"

#include "base/duration.h"
#include "base/mem.h"
#include "base/strv.h"
#include "base/utf8.h"

#include <arpa/inet.h>
#include <fnmatch.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keys echoed in error messages are cut to this many bytes. */
#define POLICY_KEY_ECHO 64
/* Smallest and largest RSA modulus a keyAlgorithms entry may name. */
#define POLICY_RSA_MIN_BITS 2048
#define POLICY_RSA_MAX_BITS 16384

enum rule_kind { RULE_FORBIDDEN, RULE_OPTIONAL, RULE_REQUIRED };

struct cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned prefix;
};

struct rule {
    enum rule_kind kind;
    long long min;
    long long max; /* < 0: no bound */
    bool any;      /* no `allowed` list: any value */
    regex_t *re;   /* anchored "^(...)$" */
    size_t n_re;
    struct cidr *cidr; /* ipAddresses only */
    size_t n_cidr;
};

/* Subject attributes then SAN types, in the order violations are reported. */
enum field { F_CN, F_O, F_OU, F_C, F_ST, F_L, F_SERIAL, F_DNS, F_IP, F_URI, F_EMAIL, F_COUNT };
#define F_FIRST_SAN F_DNS

static const struct {
    const char *group;
    const char *name;
    size_t off; /* of the struct strv in struct csr */
} policy_fields[F_COUNT] = {
    [F_CN] = {"subject", "commonName", offsetof(struct csr, common_name)},
    [F_O] = {"subject", "organization", offsetof(struct csr, organization)},
    [F_OU] = {"subject", "organizationalUnit", offsetof(struct csr, organizational_unit)},
    [F_C] = {"subject", "country", offsetof(struct csr, country)},
    [F_ST] = {"subject", "province", offsetof(struct csr, province)},
    [F_L] = {"subject", "locality", offsetof(struct csr, locality)},
    [F_SERIAL] = {"subject", "serialNumber", offsetof(struct csr, serial_number)},
    [F_DNS] = {"sans", "dnsNames", offsetof(struct csr, dns_names)},
    [F_IP] = {"sans", "ipAddresses", offsetof(struct csr, ip_addresses)},
    [F_URI] = {"sans", "uris", offsetof(struct csr, uris)},
    [F_EMAIL] = {"sans", "emailAddresses", offsetof(struct csr, email_addresses)},
};

struct policy {
    char *name;
    bool has_sel_ns, has_sel_issuers;
    struct strv sel_ns;      /* fnmatch globs */
    struct strv sel_issuers; /* "Issuer/<glob>" or "ClusterIssuer/<glob>" */
    /* spec.selector.requesters (fnmatch globs; see policy_request.requester) */
    bool has_requesters;
    struct strv req_users;
    struct strv req_sa_ns, req_sa_name; /* serviceAccounts split at the '/', same index */
    struct strv req_groups;
    struct strv req_certs;
    long long max_s, default_s; /* default_s 0: none, max_s applies */
    bool has_key_algs;
    struct strv key_algs; /* canonical names, no duplicates */
    struct rule rules[F_COUNT];
    usage_set usages;
    bool is_ca;
};

static const char *const fixed_key_algs[] = {"RSA_2048", "RSA_3072", "RSA_4096",  "EC_P256",
                                             "EC_P384",  "EC_P521",  "EC_ED25519"};
#define N_FIXED_KEY_ALGS (sizeof(fixed_key_algs) / sizeof(fixed_key_algs[0]))

/* ---- quoting: user-visible echoes of untrusted bytes ---- */

/* Writes s into out, escaping '"', '\\', control bytes and invalid UTF-8 (\xNN), reading at
 * most cut bytes of s and marking a cut with "...", in double quotes when quote is set.
 * out must hold cut * 4 + 8 bytes for the result to be complete; it is always terminated. */
static void policy_escape(const char *s, size_t cut, bool quote, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen == 0)
        return;
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s);
    size_t lim = len < cut ? len : cut;
    if (quote && o + 1 < outlen)
        out[o++] = '"';
    size_t i = 0;
    while (i < lim) {
        char tmp[8];
        size_t tn;
        size_t seq = u[i] >= 0x80 ? utf8_seq_len(u + i, lim - i) : 0;
        if (u[i] == '"' || u[i] == '\\') {
            tmp[0] = '\\', tmp[1] = (char)u[i], tn = 2;
        } else if (u[i] < 0x20 || u[i] == 0x7f || (u[i] >= 0x80 && seq == 0)) {
            snprintf(tmp, sizeof(tmp), "\\x%02x", u[i]);
            tn = 4;
        } else if (seq > 0) {
            memcpy(tmp, u + i, seq);
            tn = seq;
        } else {
            tmp[0] = (char)u[i], tn = 1;
        }
        if (o + tn + 5 > outlen)
            break;
        memcpy(out + o, tmp, tn);
        o += tn;
        i += seq > 0 ? seq : 1;
    }
    if (i < len && o + 4 < outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    if (quote && o + 1 < outlen)
        out[o++] = '"';
    out[o] = '\0';
}

/* ---- JSON helpers ---- */

static const char *json_type(const cJSON *j)
{
    if (cJSON_IsString(j))
        return "a string";
    if (cJSON_IsNumber(j))
        return "a number";
    if (cJSON_IsBool(j))
        return "a boolean";
    if (cJSON_IsArray(j))
        return "a list";
    if (cJSON_IsObject(j))
        return "an object";
    if (cJSON_IsNull(j))
        return "null";
    return "something else";
}

static int type_error(const char *path, const char *want, const cJSON *j, struct err *err)
{
    err_set(err, ERR_INVALID, "%s: expected %s, got %s", path, want, json_type(j));
    return -1;
}

/* Member key of obj (case-sensitive), with JSON null treated as absent. */
static const cJSON *json_get(const cJSON *obj, const char *key)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNull(j) ? NULL : j;
}

/* Rejects members of obj that are not in known (NULL-terminated) or appear twice. */
static int check_fields(const cJSON *obj, const char *path, const char *const *known,
                        struct err *err)
{
    unsigned seen = 0; /* one bit per known key */
    for (const cJSON *c = obj->child; c != NULL; c = c->next) {
        const char *key = c->string != NULL ? c->string : "";
        int idx = -1;
        for (int k = 0; known[k] != NULL; k++)
            if (strcmp(known[k], key) == 0)
                idx = k;
        char ek[POLICY_KEY_ECHO * 4 + 8];
        policy_escape(key, POLICY_KEY_ECHO, false, ek, sizeof(ek));
        if (idx < 0) {
            char list[256] = "";
            size_t used = 0;
            for (int k = 0; known[k] != NULL && used < sizeof(list); k++) {
                int n = snprintf(list + used, sizeof(list) - used, "%s%s", k ? ", " : "", known[k]);
                if (n < 0)
                    break;
                used += (size_t)n;
            }
            err_set(err, ERR_INVALID, "%s.%s: unknown field (known: %s)", path, ek, list);
            return -1;
        }
        if (seen & (1u << idx)) {
            err_set(err, ERR_INVALID, "%s.%s: duplicate field", path, ek);
            return -1;
        }
        seen |= 1u << idx;
    }
    return 0;
}

/* Checks that j is a list of at most POLICY_MAX_LIST strings of at most maxlen bytes. */
static int check_string_list(const cJSON *j, const char *path, size_t maxlen, bool allow_empty,
                             const char *empty_hint, struct err *err)
{
    if (!cJSON_IsArray(j))
        return type_error(path, "a list of strings", j, err);
    int n = cJSON_GetArraySize(j);
    if (n == 0 && !allow_empty) {
        err_set(err, ERR_INVALID, "%s: empty list %s", path, empty_hint);
        return -1;
    }
    if (n > POLICY_MAX_LIST) {
        err_set(err, ERR_INVALID, "%s: %d entries, at most %d allowed", path, n, POLICY_MAX_LIST);
        return -1;
    }
    int i = 0;
    for (const cJSON *c = j->child; c != NULL; c = c->next, i++) {
        char p[160];
        snprintf(p, sizeof(p), "%s[%d]", path, i);
        if (!cJSON_IsString(c) || c->valuestring == NULL)
            return type_error(p, "a string", c, err);
        if (strlen(c->valuestring) > maxlen) {
            err_set(err, ERR_INVALID, "%s: longer than %zu bytes", p, maxlen);
            return -1;
        }
    }
    return 0;
}

/* Reads an optional integer count in [0, POLICY_MAX_COUNT]; *out untouched when absent. */
static int get_count(const cJSON *obj, const char *key, const char *path, long long *out,
                     bool *present, struct err *err)
{
    const cJSON *j = json_get(obj, key);
    *present = j != NULL;
    if (j == NULL)
        return 0;
    char p[160];
    snprintf(p, sizeof(p), "%s.%s", path, key);
    if (!cJSON_IsNumber(j))
        return type_error(p, "an integer", j, err);
    double d = j->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < 0 || d > POLICY_MAX_COUNT) {
        err_set(err, ERR_INVALID, "%s: must be a whole number from 0 to %d", p, POLICY_MAX_COUNT);
        return -1;
    }
    *out = (long long)d;
    return 0;
}

/* ---- regexes and CIDRs ---- */

/* Rough size of a POSIX ERE once glibc has expanded its repeats: "{n,m}" copies the preceding
 * atom or group m times and "+" once more, so nesting multiplies. Saturates past the limit.
 * Sets *unsupported to a reason for what is rejected outright: back-references (not POSIX
 * ERE, and the anchoring group would renumber them) and stacked repeats such as "a**" or
 * "a{2}+" (undefined in POSIX, and glibc's compile time grows exponentially with them). */
static long long regex_cost(const char *p, const char **unsupported)
{
    enum { DEPTH = 64 };
    const long long cap = (long long)POLICY_MAX_REGEX_COST * 4;
    long long acc[DEPTH] = {0};
    int depth = 0;
    long long last = 0; /* cost of the atom a following repeat applies to */
    bool after_repeat = false;
    for (size_t i = 0; p[i] != '\0'; i++) {
        char c = p[i];
        long long mult = 1;
        bool repeat = false;
        if (c == '\\') {
            if (p[i + 1] >= '1' && p[i + 1] <= '9')
                *unsupported = "uses a back-reference (\\1..\\9), which is not supported";
            if (p[i + 1] != '\0')
                i++;
            last = 1;
            acc[depth] += 1;
        } else if (c == '[') {
            size_t j = i + 1;
            if (p[j] == '^')
                j++;
            if (p[j] == ']')
                j++;
            while (p[j] != '\0' && p[j] != ']') {
                if (p[j] == '[' && (p[j + 1] == ':' || p[j + 1] == '.' || p[j + 1] == '=')) {
                    char end = p[j + 1];
                    j += 2;
                    while (p[j] != '\0' && !(p[j] == end && p[j + 1] == ']'))
                        j++;
                    if (p[j] != '\0')
                        j++;
                }
                if (p[j] != '\0')
                    j++;
            }
            i = p[j] != '\0' ? j : j - 1;
            last = 1;
            acc[depth] += 1;
        } else if (c == '(') {
            if (depth + 1 >= DEPTH)
                return cap;
            acc[++depth] = 0;
            last = 0;
        } else if (c == ')' && depth > 0) {
            last = acc[depth--] + 1;
            acc[depth] += last;
        } else if (c == '+') {
            mult = 2;
            repeat = true;
        } else if (c == '{') {
            long long lo = 0, hi;
            size_t j = i + 1;
            bool digits = false;
            for (; p[j] >= '0' && p[j] <= '9'; j++, digits = true)
                lo = lo < cap ? lo * 10 + (p[j] - '0') : cap;
            hi = lo;
            if (p[j] == ',') {
                j++;
                hi = -1;
                for (; p[j] >= '0' && p[j] <= '9'; j++, digits = true)
                    hi = (hi < 0 ? 0 : hi < cap ? hi * 10 : cap) + (p[j] - '0');
            }
            if (digits && p[j] == '}') {
                mult = hi < 0 ? lo + 1 : (hi > lo ? hi : lo);
                if (mult < 1)
                    mult = 1;
                i = j;
                repeat = true;
            } else {
                last = 1;
                acc[depth] += 1;
            }
        } else if (c == '*' || c == '?') {
            /* a loop or an alternative: no copy, and a following repeat still copies `last` */
            acc[depth] += 1;
            repeat = true;
        } else {
            last = 1;
            acc[depth] += 1;
        }
        if (repeat && after_repeat)
            *unsupported = "has repeat operators in a row (e.g. \"a**\" or \"a{2}+\"), which "
                           "are not supported";
        after_repeat = repeat;
        if (mult > 1) {
            acc[depth] += last * (mult - 1);
            last *= mult;
        }
        if (acc[depth] > cap || last > cap)
            return cap;
    }
    long long total = 0;
    for (int d = 0; d <= depth; d++)
        total += acc[d];
    return total > cap ? cap : total;
}

static int compile_allowed_regex(const char *pat, const char *path, regex_t *out, long long *budget,
                                 struct err *err)
{
    char q[POLICY_MAX_VALUE_ECHO * 4 + 8];
    policy_escape(pat, POLICY_MAX_VALUE_ECHO, true, q, sizeof(q));
    const char *unsupported = NULL;
    long long cost = regex_cost(pat, &unsupported);
    if (unsupported != NULL) {
        err_set(err, ERR_INVALID, "%s: regex %s %s", path, q, unsupported);
        return -1;
    }
    if (cost > POLICY_MAX_REGEX_COST) {
        err_set(err, ERR_INVALID,
                "%s: regex %s is too large once its repeats are expanded (limit %d)", path, q,
                POLICY_MAX_REGEX_COST);
        return -1;
    }
    if (cost > *budget) {
        err_set(err, ERR_INVALID,
                "%s: the policy's regexes together are too large once expanded (limit %d)", path,
                POLICY_MAX_REGEX_TOTAL);
        return -1;
    }
    *budget -= cost;
    /* Compile alone first: "a)|(b" must not escape the anchoring wrapper below. */
    regex_t probe;
    int rc = regcomp(&probe, pat, REG_EXTENDED | REG_NOSUB);
    if (rc == 0) {
        regfree(&probe);
        char *wrapped = xasprintf("^(%s)$", pat);
        rc = regcomp(out, wrapped, REG_EXTENDED | REG_NOSUB);
        free(wrapped);
        if (rc == 0)
            return 0;
        char why[256];
        regerror(rc, out, why, sizeof(why));
        err_set(err, ERR_INVALID, "%s: invalid regex %s: %s", path, q, why);
        return -1;
    }
    char why[256];
    regerror(rc, &probe, why, sizeof(why));
    err_set(err, ERR_INVALID, "%s: invalid regex %s: %s", path, q, why);
    return -1;
}

/* Parses an IPv4 or IPv6 address in text form; returns the family or 0. */
static int ip_parse(const char *s, unsigned char addr[16])
{
    if (inet_pton(AF_INET, s, addr) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, s, addr) == 1)
        return AF_INET6;
    return 0;
}

static int cidr_parse(const char *s, const char *path, struct cidr *c, struct err *err)
{
    char q[POLICY_MAX_VALUE_ECHO * 4 + 8];
    policy_escape(s, POLICY_MAX_VALUE_ECHO, true, q, sizeof(q));
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
    memset(c, 0, sizeof(*c));
    if (alen == 0 || alen >= sizeof(addr))
        goto bad;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    c->family = ip_parse(addr, c->addr);
    if (c->family == 0)
        goto bad;
    unsigned maxp = c->family == AF_INET ? 32 : 128;
    c->prefix = maxp;
    if (slash != NULL) {
        const char *d = slash + 1;
        size_t dn = strlen(d);
        if (dn == 0 || dn > 3 || (dn > 1 && d[0] == '0'))
            goto bad;
        unsigned v = 0;
        for (size_t i = 0; i < dn; i++) {
            if (d[i] < '0' || d[i] > '9')
                goto bad;
            v = v * 10 + (unsigned)(d[i] - '0');
        }
        if (v > maxp)
            goto bad;
        c->prefix = v;
    }
    /* Host bits are ignored, as Go's net.ParseCIDR does. */
    for (unsigned bit = c->prefix; bit < maxp; bit++)
        c->addr[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    return 0;
bad:
    err_set(err, ERR_INVALID,
            "%s: invalid CIDR %s (expected e.g. \"10.0.0.0/8\", \"2001:db8::/32\" or an address)",
            path, q);
    return -1;
}

static bool cidr_contains(const struct cidr *c, int family, const unsigned char *addr)
{
    if (c->family != family)
        return false;
    unsigned full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr, addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xffu << (8 - rest));
    return (addr[full] & mask) == (c->addr[full] & mask);
}

/* ---- loading ---- */

static void rule_free(struct rule *r)
{
    for (size_t i = 0; i < r->n_re; i++)
        regfree(&r->re[i]);
    free(r->re);
    free(r->cidr);
    memset(r, 0, sizeof(*r));
}

static int parse_rule(const cJSON *j, const char *path, bool is_ip, struct rule *r,
                      long long *budget, struct err *err)
{
    static const char *const known[] = {"rule", "allowed", "min", "max", NULL};
    if (!cJSON_IsObject(j))
        return type_error(path, "an object ({rule, allowed, min, max})", j, err);
    if (check_fields(j, path, known, err) != 0)
        return -1;
    char p[160];
    const cJSON *rj = json_get(j, "rule");
    snprintf(p, sizeof(p), "%s.rule", path);
    if (rj == NULL) {
        err_set(err, ERR_INVALID, "%s: missing (Required, Optional or Forbidden)", p);
        return -1;
    }
    if (!cJSON_IsString(rj) || rj->valuestring == NULL)
        return type_error(p, "a string", rj, err);
    if (strcmp(rj->valuestring, "Required") == 0) {
        r->kind = RULE_REQUIRED;
    } else if (strcmp(rj->valuestring, "Optional") == 0) {
        r->kind = RULE_OPTIONAL;
    } else if (strcmp(rj->valuestring, "Forbidden") == 0) {
        r->kind = RULE_FORBIDDEN;
    } else {
        char q[POLICY_KEY_ECHO * 4 + 8];
        policy_escape(rj->valuestring, POLICY_KEY_ECHO, true, q, sizeof(q));
        err_set(err, ERR_INVALID, "%s: %s is not one of Required, Optional, Forbidden", p, q);
        return -1;
    }

    bool has_min, has_max;
    r->min = r->kind == RULE_REQUIRED ? 1 : 0;
    r->max = -1;
    if (get_count(j, "min", path, &r->min, &has_min, err) != 0 ||
        get_count(j, "max", path, &r->max, &has_max, err) != 0)
        return -1;
    const cJSON *aj = json_get(j, "allowed");
    if (r->kind == RULE_FORBIDDEN && (has_min || has_max || aj != NULL)) {
        err_set(err, ERR_INVALID, "%s.%s: not meaningful with rule Forbidden (remove it)", path,
                has_min   ? "min"
                : has_max ? "max"
                          : "allowed");
        return -1;
    }
    if (has_min && r->kind != RULE_REQUIRED) {
        err_set(err, ERR_INVALID, "%s.min: only meaningful with rule Required", path);
        return -1;
    }
    if (r->kind == RULE_REQUIRED && r->min < 1) {
        err_set(err, ERR_INVALID, "%s.min: must be at least 1 with rule Required (or use Optional)",
                path);
        return -1;
    }
    if (r->max >= 0 && r->min > r->max) {
        err_set(err, ERR_INVALID, "%s: min (%lld) is more than max (%lld)", path, r->min, r->max);
        return -1;
    }

    r->any = aj == NULL;
    if (aj == NULL)
        return 0;
    snprintf(p, sizeof(p), "%s.allowed", path);
    if (check_string_list(aj, p, POLICY_MAX_PATTERN, false,
                          "allows no value (omit `allowed` to allow any value, or use rule "
                          "Forbidden)",
                          err) != 0)
        return -1;
    size_t n = (size_t)cJSON_GetArraySize(aj);
    if (is_ip)
        r->cidr = xcalloc(n, sizeof(*r->cidr));
    else
        r->re = xcalloc(n, sizeof(*r->re));
    size_t i = 0;
    for (const cJSON *c = aj->child; c != NULL; c = c->next, i++) {
        char ip[180];
        snprintf(ip, sizeof(ip), "%s[%zu]", p, i);
        if (is_ip) {
            if (cidr_parse(c->valuestring, ip, &r->cidr[i], err) != 0)
                return -1;
            r->n_cidr++;
        } else {
            if (compile_allowed_regex(c->valuestring, ip, &r->re[i], budget, err) != 0)
                return -1;
            r->n_re++;
        }
    }
    return 0;
}

static int parse_rule_group(const cJSON *spec, const char *group, enum field first, enum field end,
                            struct policy *p, long long *budget, struct err *err)
{
    const char *known[F_COUNT + 1];
    size_t nk = 0;
    for (enum field f = first; f < end; f++)
        known[nk++] = policy_fields[f].name;
    known[nk] = NULL;
    char path[64];
    snprintf(path, sizeof(path), "spec.%s", group);
    const cJSON *g = json_get(spec, group);
    if (g == NULL)
        return 0; /* every field Forbidden */
    if (!cJSON_IsObject(g))
        return type_error(path, "an object", g, err);
    if (check_fields(g, path, known, err) != 0)
        return -1;
    for (enum field f = first; f < end; f++) {
        const cJSON *fj = json_get(g, policy_fields[f].name);
        if (fj == NULL)
            continue;
        char fp[96];
        snprintf(fp, sizeof(fp), "%s.%s", path, policy_fields[f].name);
        if (parse_rule(fj, fp, f == F_IP, &p->rules[f], budget, err) != 0)
            return -1;
    }
    return 0;
}

/* One list under spec.selector.requesters: non-empty globs, appended to out. */
static int parse_requester_list(const cJSON *rq, const char *key, struct strv *out, struct err *err)
{
    const cJSON *j = json_get(rq, key);
    if (j == NULL)
        return 0;
    char path[96];
    snprintf(path, sizeof(path), "spec.selector.requesters.%s", key);
    if (check_string_list(j, path, POLICY_MAX_PATTERN, false,
                          "admits no one (list who may use the policy, or leave it out)", err) != 0)
        return -1;
    int i = 0;
    for (const cJSON *c = j->child; c != NULL; c = c->next, i++) {
        if (c->valuestring[0] == '\0') {
            err_set(err, ERR_INVALID, "%s[%d]: empty (a glob such as \"*\" admits everyone)", path,
                    i);
            return -1;
        }
        strv_push(out, c->valuestring);
    }
    return 0;
}

static int parse_requesters(const cJSON *sel, struct policy *p, struct err *err)
{
    static const char *const known[] = {"users", "serviceAccounts", "groups", "certificates", NULL};
    const cJSON *rq = json_get(sel, "requesters");
    if (rq == NULL)
        return 0;
    if (!cJSON_IsObject(rq))
        return type_error("spec.selector.requesters", "an object", rq, err);
    if (check_fields(rq, "spec.selector.requesters", known, err) != 0)
        return -1;
    struct strv sas = {0};
    if (parse_requester_list(rq, "users", &p->req_users, err) != 0 ||
        parse_requester_list(rq, "serviceAccounts", &sas, err) != 0 ||
        parse_requester_list(rq, "groups", &p->req_groups, err) != 0 ||
        parse_requester_list(rq, "certificates", &p->req_certs, err) != 0) {
        strv_free(&sas);
        return -1;
    }
    for (size_t i = 0; i < sas.n; i++) {
        const char *v = sas.v[i];
        const char *slash = strchr(v, '/');
        if (slash == NULL || slash == v || slash[1] == '\0' || strchr(slash + 1, '/') != NULL) {
            char q[POLICY_KEY_ECHO * 4 + 8];
            policy_escape(v, POLICY_KEY_ECHO, true, q, sizeof(q));
            err_set(err, ERR_INVALID,
                    "spec.selector.requesters.serviceAccounts[%zu]: %s must be <namespace>/<name> "
                    "(either may be a glob, e.g. \"team-a/*\")",
                    i, q);
            strv_free(&sas);
            return -1;
        }
        strv_push_take(&p->req_sa_ns, xstrndup(v, (size_t)(slash - v)));
        strv_push(&p->req_sa_name, slash + 1);
    }
    strv_free(&sas);
    if (p->req_users.n + p->req_sa_ns.n + p->req_groups.n + p->req_certs.n == 0) {
        err_set(err, ERR_INVALID,
                "spec.selector.requesters: names no users, serviceAccounts, groups or "
                "certificates (say who, or leave requesters out)");
        return -1;
    }
    p->has_requesters = true;
    return 0;
}

static int parse_selector(const cJSON *spec, struct policy *p, struct err *err)
{
    static const char *const known[] = {"namespaces", "issuers", "requesters", NULL};
    const cJSON *s = json_get(spec, "selector");
    if (s == NULL)
        return 0;
    if (!cJSON_IsObject(s))
        return type_error("spec.selector", "an object", s, err);
    if (check_fields(s, "spec.selector", known, err) != 0)
        return -1;
    const cJSON *ns = json_get(s, "namespaces");
    if (ns != NULL) {
        if (check_string_list(ns, "spec.selector.namespaces", POLICY_MAX_PATTERN, false,
                              "selects no namespace (omit it to select every namespace)", err) != 0)
            return -1;
        p->has_sel_ns = true;
        for (const cJSON *c = ns->child; c != NULL; c = c->next)
            strv_push(&p->sel_ns, c->valuestring);
    }
    const cJSON *is = json_get(s, "issuers");
    if (is != NULL) {
        if (check_string_list(is, "spec.selector.issuers", POLICY_MAX_PATTERN, false,
                              "selects no issuer (omit it to select every issuer)", err) != 0)
            return -1;
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
                char q[POLICY_KEY_ECHO * 4 + 8];
                policy_escape(v, POLICY_KEY_ECHO, true, q, sizeof(q));
                err_set(err, ERR_INVALID,
                        "spec.selector.issuers[%d]: %s must be Issuer/<name> or "
                        "ClusterIssuer/<name> (the name may be a glob)",
                        i, q);
                return -1;
            }
            strv_push(&p->sel_issuers, v);
        }
    }
    return parse_requesters(s, p, err);
}

static int parse_duration_field(const cJSON *v, const char *key, long long *out, bool *present,
                                struct err *err)
{
    char path[64];
    snprintf(path, sizeof(path), "spec.validity.%s", key);
    const cJSON *j = json_get(v, key);
    *present = j != NULL;
    if (j == NULL)
        return 0;
    if (!cJSON_IsString(j) || j->valuestring == NULL)
        return type_error(path, "a Go duration string (e.g. \"24h\")", j, err);
    if (duration_parse_go(j->valuestring, out, err) != 0) {
        err_prefix(err, "%s", path);
        return -1;
    }
    if (*out <= 0) {
        err_set(err, ERR_INVALID, "%s: must be longer than 0s", path);
        return -1;
    }
    return 0;
}

static int parse_validity(const cJSON *spec, struct policy *p, struct err *err)
{
    static const char *const known[] = {"max", "default", NULL};
    p->max_s = POLICY_DEFAULT_MAX_SECONDS;
    p->default_s = 0;
    const cJSON *v = json_get(spec, "validity");
    if (v == NULL)
        return 0;
    if (!cJSON_IsObject(v))
        return type_error("spec.validity", "an object ({max, default})", v, err);
    if (check_fields(v, "spec.validity", known, err) != 0)
        return -1;
    bool has_max, has_default;
    if (parse_duration_field(v, "max", &p->max_s, &has_max, err) != 0 ||
        parse_duration_field(v, "default", &p->default_s, &has_default, err) != 0)
        return -1;
    if (has_default && p->default_s > p->max_s) {
        char d[32], m[32];
        duration_format_go(p->default_s, d, sizeof(d));
        duration_format_go(p->max_s, m, sizeof(m));
        err_set(err, ERR_INVALID, "spec.validity.default (%s) is longer than %s (%s)", d,
                has_max ? "spec.validity.max" : "the default maximum", m);
        return -1;
    }
    return 0;
}

/* Returns true when name is RSA_<n> with 2048 <= n <= 16384 written without leading zeros. */
static bool key_alg_is_rsa(const char *name)
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

static bool key_alg_supported(const char *name)
{
    for (size_t i = 0; i < N_FIXED_KEY_ALGS; i++)
        if (strcmp(fixed_key_algs[i], name) == 0)
            return true;
    return key_alg_is_rsa(name);
}

static int parse_key_algs(const cJSON *spec, struct policy *p, struct err *err)
{
    const cJSON *k = json_get(spec, "keyAlgorithms");
    if (k == NULL)
        return 0;
    if (check_string_list(k, "spec.keyAlgorithms", POLICY_KEY_ECHO, false,
                          "allows no key (omit it to allow every supported key)", err) != 0)
        return -1;
    p->has_key_algs = true;
    int i = 0;
    for (const cJSON *c = k->child; c != NULL; c = c->next, i++) {
        if (!key_alg_supported(c->valuestring)) {
            char q[POLICY_KEY_ECHO * 4 + 8];
            policy_escape(c->valuestring, POLICY_KEY_ECHO, true, q, sizeof(q));
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

static int parse_usages(const cJSON *spec, struct policy *p, struct err *err)
{
    p->usages = USAGE_DEFAULT;
    const cJSON *u = json_get(spec, "usages");
    if (u == NULL)
        return 0;
    if (check_string_list(u, "spec.usages", POLICY_KEY_ECHO, false,
                          "allows no usage (omit it for digital signature, key encipherment)",
                          err) != 0)
        return -1;
    p->usages = 0;
    int i = 0;
    for (const cJSON *c = u->child; c != NULL; c = c->next, i++) {
        int b = usage_from_name(c->valuestring);
        if (b < 0) {
            char q[POLICY_KEY_ECHO * 4 + 8];
            policy_escape(c->valuestring, POLICY_KEY_ECHO, true, q, sizeof(q));
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

static int parse_header(const cJSON *obj, struct policy *p, struct err *err)
{
    if (!cJSON_IsObject(obj))
        return type_error("IssuancePolicy", "an object", obj, err);
    const cJSON *av = json_get(obj, "apiVersion");
    if (!cJSON_IsString(av) || av->valuestring == NULL ||
        strcmp(av->valuestring, POLICY_GROUP_VERSION) != 0) {
        err_set(err, ERR_INVALID, "apiVersion: expected \"%s\"", POLICY_GROUP_VERSION);
        return -1;
    }
    const cJSON *k = json_get(obj, "kind");
    if (!cJSON_IsString(k) || k->valuestring == NULL || strcmp(k->valuestring, POLICY_KIND) != 0) {
        err_set(err, ERR_INVALID, "kind: expected \"%s\"", POLICY_KIND);
        return -1;
    }
    const cJSON *md = json_get(obj, "metadata");
    if (md == NULL) {
        err_set(err, ERR_INVALID, "metadata.name: missing");
        return -1;
    }
    if (!cJSON_IsObject(md))
        return type_error("metadata", "an object", md, err);
    const cJSON *name = json_get(md, "name");
    if (name == NULL) {
        err_set(err, ERR_INVALID, "metadata.name: missing");
        return -1;
    }
    if (!cJSON_IsString(name) || name->valuestring == NULL)
        return type_error("metadata.name", "a string", name, err);
    size_t n = strlen(name->valuestring);
    if (n == 0 || n > POLICY_MAX_NAME) {
        err_set(err, ERR_INVALID, "metadata.name: must be 1 to %d bytes", POLICY_MAX_NAME);
        return -1;
    }
    p->name = xstrdup(name->valuestring);
    return 0;
}

static int parse_spec(const cJSON *obj, struct policy *p, struct err *err)
{
    static const char *const known[] = {"selector", "validity", "keyAlgorithms", "subject",
                                        "sans",     "usages",   "isCA",          NULL};
    const cJSON *spec = json_get(obj, "spec");
    if (spec == NULL) {
        err_set(err, ERR_INVALID, "spec: missing");
        return -1;
    }
    if (!cJSON_IsObject(spec))
        return type_error("spec", "an object", spec, err);
    if (check_fields(spec, "spec", known, err) != 0)
        return -1;
    long long budget = POLICY_MAX_REGEX_TOTAL;
    if (parse_selector(spec, p, err) != 0 || parse_validity(spec, p, err) != 0 ||
        parse_key_algs(spec, p, err) != 0 ||
        parse_rule_group(spec, "subject", F_CN, F_FIRST_SAN, p, &budget, err) != 0 ||
        parse_rule_group(spec, "sans", F_FIRST_SAN, F_COUNT, p, &budget, err) != 0 ||
        parse_usages(spec, p, err) != 0)
        return -1;
    const cJSON *ca = json_get(spec, "isCA");
    if (ca != NULL) {
        if (!cJSON_IsBool(ca))
            return type_error("spec.isCA", "a boolean", ca, err);
        p->is_ca = cJSON_IsTrue(ca);
    }
    return 0;
}

struct policy *policy_from_json(const cJSON *obj, struct err *err)
{
    struct policy *p = xcalloc(1, sizeof(*p));
    for (int f = 0; f < F_COUNT; f++)
        p->rules[f].kind = RULE_FORBIDDEN;
    p->max_s = POLICY_DEFAULT_MAX_SECONDS;
    p->usages = USAGE_DEFAULT;
    if (obj == NULL) {
        err_set(err, ERR_INVALID, "IssuancePolicy: no object");
        policy_free(p);
        return NULL;
    }
    if (parse_header(obj, p, err) != 0 || parse_spec(obj, p, err) != 0) {
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
    for (int f = 0; f < F_COUNT; f++)
        rule_free(&p->rules[f]);
    free(p);
}

const char *policy_name(const struct policy *p)
{
    return p->name;
}

bool policy_has_requesters(const struct policy *p)
{
    return p->has_requesters;
}

long long policy_validity(const struct policy *p, long long requested_s)
{
    if (requested_s <= 0)
        return p->default_s > 0 ? p->default_s : p->max_s;
    return requested_s < p->max_s ? requested_s : p->max_s;
}

/* ---- evaluation ---- */

/* A bounded message writer: keeps what fits and marks the cut with "..." at the end. */
struct msgw {
    char *out;
    size_t cap; /* bytes available including the NUL; 0 = count only */
    size_t len;
    bool cut;
    int n; /* violations so far */
    const struct policy *p;
};

static void mw_raw(struct msgw *w, const char *s, size_t n)
{
    if (w->cap == 0 || w->cut)
        return;
    size_t avail = w->cap - 1 - w->len;
    if (n > avail) {
        n = avail;
        w->cut = true;
    }
    memcpy(w->out + w->len, s, n);
    w->len += n;
    w->out[w->len] = '\0';
}

static void mw_str(struct msgw *w, const char *s)
{
    mw_raw(w, s, strlen(s));
}

static void mw_printf(struct msgw *w, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void mw_printf(struct msgw *w, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    mw_raw(w, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void mw_quote(struct msgw *w, const char *v)
{
    char q[POLICY_MAX_VALUE_ECHO * 4 + 8];
    policy_escape(v, POLICY_MAX_VALUE_ECHO, true, q, sizeof(q));
    mw_str(w, q);
}

/* Starts the next violation: the `policy "name": ` header or the "; " separator. */
static void mw_begin(struct msgw *w)
{
    if (w->n == 0) {
        mw_str(w, "policy ");
        mw_quote(w, w->p->name);
        mw_str(w, ": ");
    } else {
        mw_str(w, "; ");
    }
    w->n++;
}

static void mw_finish(struct msgw *w)
{
    if (w->cap == 0 || !w->cut || w->cap < 4)
        return;
    size_t at = w->len - 3;
    /* Never leave half a UTF-8 sequence before the "...". */
    while (at > 0 && ((unsigned char)w->out[at] & 0xc0) == 0x80)
        at--;
    memcpy(w->out + at, "...", 4);
    w->len = at + 3;
}

static bool value_allowed(const struct rule *r, bool is_ip, const char *v)
{
    if (r->any)
        return true;
    if (is_ip) {
        unsigned char addr[16];
        int fam = ip_parse(v, addr);
        for (size_t i = 0; fam != 0 && i < r->n_cidr; i++)
            if (cidr_contains(&r->cidr[i], fam, addr))
                return true;
        return false;
    }
    for (size_t i = 0; i < r->n_re; i++)
        if (regexec(&r->re[i], v, 0, NULL, 0) == 0)
            return true;
    return false;
}

static void eval_field(struct msgw *w, const struct policy *p, enum field f,
                       const struct strv *vals)
{
    const struct rule *r = &p->rules[f];
    char label[48];
    snprintf(label, sizeof(label), "%s.%s", policy_fields[f].group, policy_fields[f].name);
    size_t n = vals->n;
    if (r->kind == RULE_FORBIDDEN) {
        if (n == 0)
            return;
        mw_begin(w);
        mw_printf(w, "%s: forbidden, got ", label);
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                mw_str(w, ", ");
            mw_quote(w, vals->v[i]);
        }
        return;
    }
    if (r->kind == RULE_REQUIRED && (long long)n < r->min) {
        mw_begin(w);
        if (n == 0)
            mw_printf(w, "%s: required, none given", label);
        else
            mw_printf(w, "%s: %zu value%s, at least %lld required", label, n, n == 1 ? "" : "s",
                      r->min);
    }
    if (r->max >= 0 && (long long)n > r->max) {
        mw_begin(w);
        mw_printf(w, "%s: %zu value%s, at most %lld allowed", label, n, n == 1 ? "" : "s", r->max);
    }
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (value_allowed(r, f == F_IP, vals->v[i]))
            continue;
        if (first) {
            mw_begin(w);
            mw_printf(w, "%s ", label);
            first = false;
        } else {
            mw_str(w, ", ");
        }
        mw_quote(w, vals->v[i]);
    }
    if (!first)
        mw_str(w, " not allowed");
}

static bool glob_any(const struct strv *globs, const char *v, int flags)
{
    for (size_t i = 0; i < globs->n; i++)
        if (fnmatch(globs->v[i], v, flags) == 0)
            return true;
    return false;
}

/* requesters.certificates against a certificate's identity: a pattern with "://" names URIs
 * (SPIFFE IDs) and matches only a URI identity; any other pattern matches only a DNS name or a
 * CN. So a certificate without a URI SAN whose CN or DNS name reads "spiffe://..." is not taken
 * for that SPIFFE ID. */
static bool cert_glob_any(const struct strv *globs, const char *v, int flags, bool uri)
{
    for (size_t i = 0; i < globs->n; i++)
        if ((strstr(globs->v[i], "://") != NULL) == uri && fnmatch(globs->v[i], v, flags) == 0)
            return true;
    return false;
}

/* A serviceAccounts entry against a username system:serviceaccount:NS:NAME (as Kubernetes
 * writes it; NS and NAME are DNS names and never hold ':'). */
static bool sa_admitted(const struct policy *p, const char *username)
{
    static const char prefix[] = "system:serviceaccount:";
    if (p->req_sa_ns.n == 0 || strncmp(username, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *ns = username + sizeof(prefix) - 1;
    const char *colon = strchr(ns, ':');
    if (colon == NULL || colon == ns || colon[1] == '\0' || strchr(colon + 1, ':') != NULL)
        return false;
    char nsbuf[256];
    size_t nl = (size_t)(colon - ns);
    if (nl >= sizeof(nsbuf))
        return false; /* longer than any namespace (63 bytes) */
    memcpy(nsbuf, ns, nl);
    nsbuf[nl] = '\0';
    for (size_t i = 0; i < p->req_sa_ns.n; i++)
        if (fnmatch(p->req_sa_ns.v[i], nsbuf, 0) == 0 &&
            fnmatch(p->req_sa_name.v[i], colon + 1, 0) == 0)
            return true;
    return false;
}

static bool requester_admitted(const struct policy *p, const struct caller *c)
{
    switch (c->method) {
    case CALLER_TOKEN:
    case CALLER_CERT_MANAGER:
        if (c->username == NULL)
            return false;
        if (glob_any(&p->req_users, c->username, 0) || sa_admitted(p, c->username))
            return true;
        for (size_t i = 0; i < c->groups.n; i++)
            if (glob_any(&p->req_groups, c->groups.v[i], 0))
                return true;
        return false;
    case CALLER_MTLS:
        /* A certificate's one identity (caller.h), against certificates only: its other names
         * (a CN that reads like another team's SPIFFE ID or like a service account) are not
         * who it is. */
        switch (caller_mtls_identity(c)) {
        case CALLER_ID_URI: return cert_glob_any(&p->req_certs, c->username, FNM_PATHNAME, true);
        case CALLER_ID_CN: return cert_glob_any(&p->req_certs, c->username, FNM_PATHNAME, false);
        case CALLER_ID_DNS:
            return cert_glob_any(&p->req_certs, c->username, FNM_PATHNAME | FNM_CASEFOLD, false);
        default: return false;
        }
    default: return false; /* NONE, ANONYMOUS */
    }
}

/* Writes `LABEL "a", "b", and 3 more` (at most POLICY_MAX_GROUP_ECHO values). */
static void mw_list(struct msgw *w, const char *label, const struct strv *sv)
{
    mw_str(w, label);
    for (size_t i = 0; i < sv->n && i < POLICY_MAX_GROUP_ECHO; i++) {
        mw_str(w, i > 0 ? ", " : " ");
        mw_quote(w, sv->v[i]);
    }
    if (sv->n > POLICY_MAX_GROUP_ECHO)
        mw_printf(w, ", and %zu more", sv->n - POLICY_MAX_GROUP_ECHO);
}

/* `requester "NAME" (what else is known of it)`. */
static void mw_requester(struct msgw *w, const struct caller *c)
{
    if (c == NULL || c->method == CALLER_NONE) {
        mw_str(w, "requester unknown (spec.username is not set)");
        return;
    }
    if (c->method == CALLER_ANONYMOUS) {
        mw_str(w, "requester \"anonymous\" (not authenticated)");
        return;
    }
    mw_str(w, "requester ");
    if (c->username != NULL)
        mw_quote(w, c->username);
    else
        mw_str(w, "unknown");
    if (c->method != CALLER_MTLS) {
        if (c->groups.n == 0)
            mw_str(w, " (no groups)");
        else {
            mw_str(w, " (");
            mw_list(w, "groups", &c->groups);
            mw_str(w, ")");
        }
        return;
    }
    mw_str(w, " (client certificate");
    if (c->uris.n == 0 && c->dns_names.n == 0 && c->common_name == NULL) {
        mw_str(w, " without names)");
        return;
    }
    /* ", " between the kinds of names: "; " separates violations. */
    const char *sep = ": ";
    if (c->uris.n > 0) {
        mw_str(w, sep);
        mw_list(w, "URIs", &c->uris);
        sep = ", ";
    }
    if (c->dns_names.n > 0) {
        mw_str(w, sep);
        mw_list(w, "DNS names", &c->dns_names);
        sep = ", ";
    }
    if (c->common_name != NULL) {
        mw_str(w, sep);
        mw_str(w, "CN ");
        mw_quote(w, c->common_name);
    }
    mw_str(w, ")");
}

static void eval_requester(struct msgw *w, const struct policy *p, const struct policy_request *r)
{
    if (!p->has_requesters) {
        if (r->require_requesters) {
            mw_begin(w);
            mw_str(w, "spec.selector.requesters is not set, so the policy is not usable from the "
                      "signing API");
        }
        return;
    }
    if (r->requester == NULL && !r->require_requesters)
        return;
    if (r->requester != NULL && requester_admitted(p, r->requester))
        return;
    mw_begin(w);
    mw_requester(w, r->requester);
    mw_str(w, " is not admitted by spec.selector.requesters");
}

static void eval_selector(struct msgw *w, const struct policy *p, const struct policy_request *r)
{
    eval_requester(w, p, r);
    if (p->has_sel_ns) {
        const char *ns = r->namespace != NULL ? r->namespace : "";
        if (!glob_any(&p->sel_ns, ns, 0)) {
            mw_begin(w);
            mw_str(w, "namespace ");
            mw_quote(w, ns);
            mw_str(w, " is not selected by spec.selector.namespaces");
        }
    }
    if (p->has_sel_issuers) {
        /* An empty kind means Issuer, as in cert-manager's issuerRef. */
        const char *kind =
            r->issuer_kind != NULL && r->issuer_kind[0] != '\0' ? r->issuer_kind : "Issuer";
        const char *name = r->issuer_name != NULL ? r->issuer_name : "";
        size_t kl = strlen(kind);
        bool ok = false;
        for (size_t i = 0; i < p->sel_issuers.n && !ok; i++) {
            const char *s = p->sel_issuers.v[i];
            ok = strncmp(s, kind, kl) == 0 && s[kl] == '/' && fnmatch(s + kl + 1, name, 0) == 0;
        }
        if (!ok) {
            char both[POLICY_MAX_VALUE_ECHO * 2 + 2];
            snprintf(both, sizeof(both), "%.64s/%.128s", kind, name);
            mw_begin(w);
            mw_str(w, "issuer ");
            mw_quote(w, both);
            mw_str(w, " is not selected by spec.selector.issuers");
        }
    }
}

static void eval_key_alg(struct msgw *w, const struct policy *p, const struct csr *csr)
{
    char alg[sizeof(csr->key_alg) + 1];
    size_t al = strnlen(csr->key_alg, sizeof(csr->key_alg));
    memcpy(alg, csr->key_alg, al);
    alg[al] = '\0';
    bool ok = p->has_key_algs ? strv_contains(&p->key_algs, alg) : key_alg_supported(alg);
    if (ok)
        return;
    char ea[sizeof(alg) * 4 + 8];
    policy_escape(alg, sizeof(alg), false, ea, sizeof(ea));
    mw_begin(w);
    mw_printf(w, "keyAlgorithm %s not allowed (allowed: ", ea[0] != '\0' ? ea : "(none)");
    if (!p->has_key_algs) {
        mw_str(w, "RSA_2048 or larger, EC_P256, EC_P384, EC_P521, EC_ED25519)");
        return;
    }
    for (size_t i = 0; i < p->key_algs.n; i++) {
        if (i > 0)
            mw_str(w, ", ");
        mw_str(w, p->key_algs.v[i]);
    }
    mw_str(w, ")");
}

/* cert-manager names two usages twice; either spelling grants the same X.509 bits. */
static usage_set usage_aliases(usage_set s)
{
    if (s & (USAGE_BIT(USAGE_SIGNING) | USAGE_BIT(USAGE_DIGITAL_SIGNATURE)))
        s |= USAGE_BIT(USAGE_SIGNING) | USAGE_BIT(USAGE_DIGITAL_SIGNATURE);
    if (s & (USAGE_BIT(USAGE_SMIME) | USAGE_BIT(USAGE_EMAIL_PROTECTION)))
        s |= USAGE_BIT(USAGE_SMIME) | USAGE_BIT(USAGE_EMAIL_PROTECTION);
    return s;
}

static void eval_usages(struct msgw *w, const struct policy *p, const struct policy_request *r,
                        bool req_ca)
{
    usage_set want = r->usages != 0 ? r->usages : USAGE_DEFAULT;
    usage_set allowed = usage_aliases(p->usages);
    /* A CA certificate gets "cert sign" with isCA; the policy's isCA already decides that. */
    if (req_ca && p->is_ca)
        allowed |= USAGE_BIT(USAGE_CERT_SIGN);
    usage_set bad = want & ~allowed;
    if (bad == 0)
        return;
    mw_begin(w);
    mw_str(w, "usages ");
    bool first = true;
    for (int u = 0; u < USAGE_COUNT; u++) {
        if (!(bad & USAGE_BIT(u)))
            continue;
        if (!first)
            mw_str(w, ", ");
        mw_quote(w, usage_name((enum usage)u));
        first = false;
    }
    char list[512];
    usage_format(p->usages, list, sizeof(list));
    mw_printf(w, " not allowed (allowed: %s)", list);
}

int policy_evaluate(const struct policy *p, const struct policy_request *r, char *msg,
                    size_t msglen)
{
    struct msgw w = {.out = msg, .p = p};
    w.cap = msglen < POLICY_MAX_MESSAGE + 1 ? msglen : POLICY_MAX_MESSAGE + 1;
    if (msg == NULL)
        w.cap = 0;
    if (w.cap > 0)
        msg[0] = '\0';

    eval_selector(&w, p, r);
    const struct csr *csr = r->csr;
    if (csr == NULL) {
        mw_begin(&w);
        mw_str(&w, "no CSR to evaluate");
    } else {
        eval_key_alg(&w, p, csr);
        for (int f = F_CN; f < F_FIRST_SAN; f++)
            eval_field(&w, p, (enum field)f,
                       (const struct strv *)((const char *)csr + policy_fields[f].off));
        if (csr->other_subject.n > 0) {
            mw_begin(&w);
            mw_str(&w, csr->other_subject.n == 1 ? "subject attribute " : "subject attributes ");
            for (size_t i = 0; i < csr->other_subject.n; i++) {
                if (i > 0)
                    mw_str(&w, ", ");
                mw_quote(&w, csr->other_subject.v[i]);
            }
            mw_str(&w, " not allowed");
        }
        for (int f = F_FIRST_SAN; f < F_COUNT; f++)
            eval_field(&w, p, (enum field)f,
                       (const struct strv *)((const char *)csr + policy_fields[f].off));
    }
    bool req_ca = r->is_ca || (csr != NULL && csr->has_basic_constraints && csr->bc_is_ca);
    eval_usages(&w, p, r, req_ca);
    if (req_ca && !p->is_ca) {
        mw_begin(&w);
        mw_str(&w, "isCA not allowed (spec.isCA is false)");
    }
    mw_finish(&w);
    return w.n;
}
