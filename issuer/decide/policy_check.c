/* policy_check.c -- an IssuancePolicy against a request: evaluation, and the one message that
 * names every violation. */
#include "decide/policy_priv.h"

#include "base/duration.h"
#include "base/utf8.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- the message writer ---- */

/* A bounded message writer: keeps what fits and marks the cut with "..." at the end. */
struct policy_check_msg {
    char *out;
    size_t cap; /* bytes available including the NUL; 0 = count only */
    size_t len;
    bool cut;
    int n; /* violations so far */
    const struct policy *p;
};

static void policy_check_put(struct policy_check_msg *w, const char *s, size_t n)
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

static void policy_check_str(struct policy_check_msg *w, const char *s)
{
    policy_check_put(w, s, strlen(s));
}

static void policy_check_printf(struct policy_check_msg *w, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void policy_check_printf(struct policy_check_msg *w, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    policy_check_put(w, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void policy_check_quote(struct policy_check_msg *w, const char *v)
{
    char q[UTF8_ESCAPE_SIZE(POLICY_MAX_VALUE_ECHO)];
    utf8_escape(v, POLICY_MAX_VALUE_ECHO, true, q, sizeof(q));
    policy_check_str(w, q);
}

/* Starts the next violation: the `policy "name": ` header or the "; " separator. */
static void policy_check_begin(struct policy_check_msg *w)
{
    if (w->n == 0) {
        policy_check_str(w, "policy ");
        policy_check_quote(w, w->p->name);
        policy_check_str(w, ": ");
    } else {
        policy_check_str(w, "; ");
    }
    w->n++;
}

static void policy_check_finish(struct policy_check_msg *w)
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

/* ---- evaluation ---- */

static bool policy_check_value_allowed(const struct policy_rule *r, const struct policy_request *rq,
                                       bool is_ip, const char *v)
{
    if (r->any)
        return true;
    if (is_ip) {
        unsigned char addr[16];
        int fam = cidr_parse_ip(v, addr);
        for (size_t i = 0; fam != 0 && i < r->n_cidr; i++)
            if (cidr_contains(&r->cidr[i], fam, addr))
                return true;
        return false;
    }
    for (size_t i = 0; i < r->n_pat; i++)
        if (policy_pattern_match(&r->pat[i], rq, v))
            return true;
    return false;
}

/* The count of a rule: "LABEL: required, none given", "at least", "at most". */
static void policy_check_count(struct policy_check_msg *w, const struct policy_rule *r,
                               const char *label, size_t n)
{
    if (r->kind == POLICY_RULE_REQUIRED && (long long)n < r->min) {
        policy_check_begin(w);
        if (n == 0)
            policy_check_printf(w, "%s: required, none given", label);
        else
            policy_check_printf(w, "%s: %zu value%s, at least %lld required", label, n,
                                n == 1 ? "" : "s", r->min);
    }
    if (r->max >= 0 && (long long)n > r->max) {
        policy_check_begin(w);
        policy_check_printf(w, "%s: %zu value%s, at most %lld allowed", label, n, n == 1 ? "" : "s",
                            r->max);
    }
}

/* "LABEL: forbidden, got " and every value, each after its OID when oids is set. */
static void policy_check_forbidden(struct policy_check_msg *w, const char *label,
                                   const struct strv *oids, const struct strv *vals)
{
    policy_check_begin(w);
    policy_check_printf(w, "%s: forbidden, got ", label);
    for (size_t i = 0; i < vals->n; i++) {
        if (i > 0)
            policy_check_str(w, ", ");
        if (oids != NULL)
            policy_check_printf(w, "%s ", oids->v[i]);
        policy_check_quote(w, vals->v[i]);
    }
}

/* One value of the item "LABEL v1, v2 not allowed": *first opens the item; oid (when set)
 * comes before the value. The caller ends the item with " not allowed" once *first is false. */
static void policy_check_denied(struct policy_check_msg *w, const char *label, bool *first,
                                const char *oid, const char *v)
{
    if (*first) {
        policy_check_begin(w);
        policy_check_printf(w, "%s ", label);
        *first = false;
    } else {
        policy_check_str(w, ", ");
    }
    if (oid != NULL)
        policy_check_printf(w, "%s ", oid);
    policy_check_quote(w, v);
}

/* One rule against the values vals (a field's, or one OID's) named label in messages. */
static void policy_check_values(struct policy_check_msg *w, const struct policy_request *rq,
                                const struct policy_rule *r, const char *label, bool is_ip,
                                const struct strv *vals)
{
    size_t n = vals->n;
    if (r->kind == POLICY_RULE_FORBIDDEN) {
        if (n > 0)
            policy_check_forbidden(w, label, NULL, vals);
        return;
    }
    policy_check_count(w, r, label, n);
    bool first = true;
    for (size_t i = 0; i < n; i++)
        if (!policy_check_value_allowed(r, rq, is_ip, vals->v[i]))
            policy_check_denied(w, label, &first, NULL, vals->v[i]);
    if (!first)
        policy_check_str(w, " not allowed");
}

static void policy_check_field(struct policy_check_msg *w, const struct policy *p,
                               const struct policy_request *rq, enum policy_field f,
                               const struct strv *vals)
{
    char label[48];
    snprintf(label, sizeof(label), "%s.%s", policy_fields[f].group, policy_fields[f].name);
    policy_check_values(w, rq, &p->rules[f], label, f == POLICY_F_IP, vals);
}

/* spec.subject.otherAttributes: each listed OID's rule against that OID's values, in policy
 * order; then one item naming every attribute no rule lists. */
static void policy_check_other_attrs(struct policy_check_msg *w, const struct policy *p,
                                     const struct policy_request *rq, const struct csr *csr)
{
    const struct strv *oids = &csr->other_subject_oids;
    for (size_t k = 0; k < p->n_other_attrs; k++) {
        const struct policy_other_attr *a = &p->other_attrs[k];
        struct strv vals = {0};
        for (size_t i = 0; i < oids->n; i++)
            if (strcmp(oids->v[i], a->oid) == 0)
                strv_push(&vals, csr->other_subject_values.v[i]);
        policy_check_values(w, rq, &a->rule, a->label, false, &vals);
        strv_free(&vals);
    }
    bool first = true;
    for (size_t i = 0; i < oids->n; i++) {
        bool listed = false, seen = false;
        for (size_t k = 0; k < p->n_other_attrs && !listed; k++)
            listed = strcmp(p->other_attrs[k].oid, oids->v[i]) == 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(oids->v[j], oids->v[i]) == 0;
        if (listed || seen)
            continue;
        char label[160];
        policy_oid_label(oids->v[i], label, sizeof(label));
        if (first) {
            policy_check_begin(w);
            policy_check_str(w, "subject ");
            first = false;
        } else {
            policy_check_str(w, ", ");
        }
        policy_check_str(w, label + strlen("subject "));
    }
    if (!first)
        policy_check_str(w, " not allowed (not in spec.subject.otherAttributes)");
}

/* spec.sans.otherNames: the rule's count, then every otherName no allowed entry matches. */
static void policy_check_other_names(struct policy_check_msg *w, const struct policy *p,
                                     const struct policy_request *rq, const struct csr *csr)
{
    const struct policy_rule *r = &p->other_names_rule;
    const struct strv *oids = &csr->other_name_oids, *vals = &csr->other_name_values;
    static const char label[] = "sans.otherNames";
    if (r->kind == POLICY_RULE_FORBIDDEN) {
        if (oids->n > 0)
            policy_check_forbidden(w, label, oids, vals);
        return;
    }
    policy_check_count(w, r, label, oids->n);
    bool first = true;
    for (size_t i = 0; i < oids->n; i++)
        if (!policy_other_name_allowed(p, rq, oids->v[i], vals->v[i]))
            policy_check_denied(w, label, &first, oids->v[i], vals->v[i]);
    if (!first)
        policy_check_str(w, " not allowed");
}

static bool policy_check_glob_any(const struct strv *globs, const char *v, int flags)
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
static bool policy_check_cert_glob_any(const struct strv *globs, const char *v, int flags, bool uri)
{
    for (size_t i = 0; i < globs->n; i++)
        if ((strstr(globs->v[i], "://") != NULL) == uri && fnmatch(globs->v[i], v, flags) == 0)
            return true;
    return false;
}

/* A serviceAccounts entry against a username system:serviceaccount:NS:NAME (as Kubernetes
 * writes it; NS and NAME are DNS names and never hold ':'). */
static bool policy_check_sa_admitted(const struct policy *p, const char *username)
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

static bool policy_check_admitted(const struct policy *p, const struct caller *c)
{
    switch (c->method) {
    case CALLER_TOKEN:
    case CALLER_CERT_MANAGER:
        if (c->username == NULL)
            return false;
        if (policy_check_glob_any(&p->req_users, c->username, 0) ||
            policy_check_sa_admitted(p, c->username))
            return true;
        for (size_t i = 0; i < c->groups.n; i++)
            if (policy_check_glob_any(&p->req_groups, c->groups.v[i], 0))
                return true;
        return false;
    case CALLER_MTLS:
        /* A certificate's one identity (caller.h), against certificates only: its other names
         * (a CN that reads like another team's SPIFFE ID or like a service account) are not
         * who it is. */
        switch (caller_mtls_identity(c)) {
        case CALLER_ID_URI:
            return policy_check_cert_glob_any(&p->req_certs, c->username, FNM_PATHNAME, true);
        case CALLER_ID_CN:
            return policy_check_cert_glob_any(&p->req_certs, c->username, FNM_PATHNAME, false);
        case CALLER_ID_DNS:
            return policy_check_cert_glob_any(&p->req_certs, c->username,
                                              FNM_PATHNAME | FNM_CASEFOLD, false);
        default: return false;
        }
    default: return false; /* NONE, ANONYMOUS */
    }
}

/* Writes `LABEL "a", "b", and 3 more` (at most POLICY_MAX_GROUP_ECHO values). */
static void policy_check_list(struct policy_check_msg *w, const char *label, const struct strv *sv)
{
    policy_check_str(w, label);
    for (size_t i = 0; i < sv->n && i < POLICY_MAX_GROUP_ECHO; i++) {
        policy_check_str(w, i > 0 ? ", " : " ");
        policy_check_quote(w, sv->v[i]);
    }
    if (sv->n > POLICY_MAX_GROUP_ECHO)
        policy_check_printf(w, ", and %zu more", sv->n - POLICY_MAX_GROUP_ECHO);
}

/* `requester "NAME" (what else is known of it)`. */
static void policy_check_who(struct policy_check_msg *w, const struct caller *c)
{
    if (c == NULL || c->method == CALLER_NONE) {
        policy_check_str(w, "requester unknown (spec.username is not set)");
        return;
    }
    if (c->method == CALLER_ANONYMOUS) {
        policy_check_str(w, "requester \"anonymous\" (not authenticated)");
        return;
    }
    policy_check_str(w, "requester ");
    if (c->username != NULL)
        policy_check_quote(w, c->username);
    else
        policy_check_str(w, "unknown");
    if (c->method != CALLER_MTLS) {
        if (c->groups.n == 0)
            policy_check_str(w, " (no groups)");
        else {
            policy_check_str(w, " (");
            policy_check_list(w, "groups", &c->groups);
            policy_check_str(w, ")");
        }
        return;
    }
    policy_check_str(w, " (client certificate");
    if (c->uris.n == 0 && c->dns_names.n == 0 && c->common_name == NULL) {
        policy_check_str(w, " without names)");
        return;
    }
    /* ", " between the kinds of names: "; " separates violations. */
    const char *sep = ": ";
    if (c->uris.n > 0) {
        policy_check_str(w, sep);
        policy_check_list(w, "URIs", &c->uris);
        sep = ", ";
    }
    if (c->dns_names.n > 0) {
        policy_check_str(w, sep);
        policy_check_list(w, "DNS names", &c->dns_names);
        sep = ", ";
    }
    if (c->common_name != NULL) {
        policy_check_str(w, sep);
        policy_check_str(w, "CN ");
        policy_check_quote(w, c->common_name);
    }
    policy_check_str(w, ")");
}

static void policy_check_requester(struct policy_check_msg *w, const struct policy *p,
                                   const struct policy_request *r)
{
    if (!p->has_requesters) {
        if (r->require_requesters) {
            policy_check_begin(w);
            policy_check_str(
                w, "spec.selector.requesters is not set, so the policy is not usable from the "
                   "signing API");
        }
        return;
    }
    if (r->requester == NULL && !r->require_requesters)
        return;
    if (r->requester != NULL && policy_check_admitted(p, r->requester))
        return;
    policy_check_begin(w);
    policy_check_who(w, r->requester);
    policy_check_str(w, " is not admitted by spec.selector.requesters");
}

/* The signing API's metadata.namespace is the caller's word: under a policy that depends on
 * it (${namespace}, selector.namespaces, selector.namespaceSelector), a service account may
 * only claim its own, or it could forge the variable or pick the namespace a selector sees. */
static void policy_check_claimed_namespace(struct policy_check_msg *w, const struct policy *p,
                                           const struct policy_request *r)
{
    const char *sa_ns = r->service_account_namespace;
    if (!r->namespace_claimed || !policy_depends_on_namespace(p) || sa_ns == NULL ||
        sa_ns[0] == '\0')
        return;
    const char *ns = r->namespace != NULL ? r->namespace : "";
    if (strcmp(ns, sa_ns) == 0)
        return;
    policy_check_begin(w);
    policy_check_str(w, (p->vars & POLICY_VAR_BIT(POLICY_VAR_NAMESPACE)) != 0
                            ? "it uses ${namespace}"
                            : "it selects by namespace");
    policy_check_str(w, ": a service account of namespace ");
    policy_check_quote(w, sa_ns);
    policy_check_str(w, " may only request in namespace ");
    policy_check_quote(w, sa_ns);
    policy_check_str(w, ", not ");
    policy_check_quote(w, ns);
}

/* spec.selector.namespaceSelector against the labels of the request's Namespace. */
static void policy_check_ns_labels(struct policy_check_msg *w, const struct policy *p,
                                   const struct policy_request *r)
{
    if (p->ns_sel == NULL)
        return;
    const char *ns = r->namespace != NULL ? r->namespace : "";
    if (r->namespace_known && policy_labels_match(p->ns_sel, r->namespace_labels))
        return;
    policy_check_begin(w);
    policy_check_str(w, "namespace ");
    policy_check_quote(w, ns);
    if (!r->namespace_known) {
        policy_check_str(w, " is not known to Ember (no Namespace object), so "
                            "spec.selector.namespaceSelector matches nothing");
        return;
    }
    policy_check_str(w, " is not selected by spec.selector.namespaceSelector (");
    if (r->namespace_labels == NULL || r->namespace_labels->n == 0)
        policy_check_str(w, "it has no labels)");
    else {
        policy_check_list(w, "its labels", r->namespace_labels);
        policy_check_str(w, ")");
    }
}

static void policy_check_selector(struct policy_check_msg *w, const struct policy *p,
                                  const struct policy_request *r)
{
    policy_check_requester(w, p, r);
    if (p->has_sel_ns) {
        const char *ns = r->namespace != NULL ? r->namespace : "";
        if (!policy_check_glob_any(&p->sel_ns, ns, 0)) {
            policy_check_begin(w);
            policy_check_str(w, "namespace ");
            policy_check_quote(w, ns);
            policy_check_str(w, " is not selected by spec.selector.namespaces");
        }
    }
    policy_check_ns_labels(w, p, r);
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
            policy_check_begin(w);
            policy_check_str(w, "issuer ");
            policy_check_quote(w, both);
            policy_check_str(w, " is not selected by spec.selector.issuers");
        }
    }
}

static void policy_check_key_alg(struct policy_check_msg *w, const struct policy *p,
                                 const struct csr *csr)
{
    char alg[sizeof(csr->key_alg) + 1];
    size_t al = strnlen(csr->key_alg, sizeof(csr->key_alg));
    memcpy(alg, csr->key_alg, al);
    alg[al] = '\0';
    bool ok = p->has_key_algs ? strv_contains(&p->key_algs, alg) : policy_key_alg_supported(alg);
    if (ok)
        return;
    char ea[UTF8_ESCAPE_SIZE(sizeof(alg))];
    utf8_escape(alg, sizeof(alg), false, ea, sizeof(ea));
    policy_check_begin(w);
    policy_check_printf(w, "keyAlgorithm %s not allowed (allowed: ", ea[0] != '\0' ? ea : "(none)");
    if (!p->has_key_algs) {
        policy_check_str(w, "RSA_2048 or larger, EC_P256, EC_P384, EC_P521, EC_ED25519)");
        return;
    }
    for (size_t i = 0; i < p->key_algs.n; i++) {
        if (i > 0)
            policy_check_str(w, ", ");
        policy_check_str(w, p->key_algs.v[i]);
    }
    policy_check_str(w, ")");
}

/* spec.validity.min against a requested duration (none requested: default or max, never
 * below min, as policy.c checks). */
static void policy_check_validity(struct policy_check_msg *w, const struct policy *p,
                                  const struct policy_request *r)
{
    if (p->min_s <= 0 || r->duration_s <= 0 || r->duration_s >= p->min_s)
        return;
    char got[32], mn[32];
    duration_format_go(r->duration_s, got, sizeof(got));
    duration_format_go(p->min_s, mn, sizeof(mn));
    policy_check_begin(w);
    policy_check_printf(w, "validity: %s requested, at least %s (spec.validity.min)", got, mn);
}

/* spec.keySizes.rsa against an RSA key's modulus (other keys are not RSA: unaffected). */
static void policy_check_key_size(struct policy_check_msg *w, const struct policy *p,
                                  const struct csr *csr)
{
    if (strncmp(csr->key_alg, "RSA_", 4) != 0)
        return;
    if (p->rsa_min_bits > 0 && csr->key_bits < p->rsa_min_bits) {
        policy_check_begin(w);
        policy_check_printf(w, "keySize RSA %d bits, at least %d (spec.keySizes.rsa.min)",
                            csr->key_bits, p->rsa_min_bits);
    }
    if (p->rsa_max_bits > 0 && csr->key_bits > p->rsa_max_bits) {
        policy_check_begin(w);
        policy_check_printf(w, "keySize RSA %d bits, at most %d (spec.keySizes.rsa.max)",
                            csr->key_bits, p->rsa_max_bits);
    }
}

/* cert-manager names two usages twice; either spelling grants the same X.509 bits. */
static usage_set policy_check_usage_aliases(usage_set s)
{
    if (s & (USAGE_BIT(USAGE_SIGNING) | USAGE_BIT(USAGE_DIGITAL_SIGNATURE)))
        s |= USAGE_BIT(USAGE_SIGNING) | USAGE_BIT(USAGE_DIGITAL_SIGNATURE);
    if (s & (USAGE_BIT(USAGE_SMIME) | USAGE_BIT(USAGE_EMAIL_PROTECTION)))
        s |= USAGE_BIT(USAGE_SMIME) | USAGE_BIT(USAGE_EMAIL_PROTECTION);
    return s;
}

static void policy_check_usages(struct policy_check_msg *w, const struct policy *p,
                                const struct policy_request *r, bool req_ca)
{
    usage_set want = r->usages != 0 ? r->usages : USAGE_DEFAULT;
    usage_set allowed = policy_check_usage_aliases(p->usages);
    /* A CA certificate gets "cert sign" with isCA; the policy's isCA already decides that. */
    if (req_ca && p->is_ca)
        allowed |= USAGE_BIT(USAGE_CERT_SIGN);
    usage_set bad = want & ~allowed;
    if (bad == 0)
        return;
    policy_check_begin(w);
    policy_check_str(w, "usages ");
    bool first = true;
    for (int u = 0; u < USAGE_COUNT; u++) {
        if (!(bad & USAGE_BIT(u)))
            continue;
        if (!first)
            policy_check_str(w, ", ");
        policy_check_quote(w, usage_name((enum usage)u));
        first = false;
    }
    char list[512];
    usage_format(p->usages, list, sizeof(list));
    policy_check_printf(w, " not allowed (allowed: %s)", list);
}

/* spec.requiredUsages: each must be among the request's usages (cert-manager's default when
 * it names none), either spelling of an aliased usage counting, and "cert sign" for a CA. */
static void policy_check_required_usages(struct policy_check_msg *w, const struct policy *p,
                                         const struct policy_request *r, bool req_ca)
{
    usage_set want = policy_check_usage_aliases(r->usages != 0 ? r->usages : USAGE_DEFAULT);
    /* cert-manager never lists "cert sign" for a CA request, yet the CA it gets has it. */
    if (req_ca)
        want |= USAGE_BIT(USAGE_CERT_SIGN);
    usage_set missing = p->required_usages & ~want;
    if (missing == 0)
        return;
    char have[512], list[512];
    usage_format(missing, list, sizeof(list));
    usage_format(r->usages != 0 ? r->usages : USAGE_DEFAULT, have, sizeof(have));
    policy_check_begin(w);
    policy_check_printf(w,
                        "usages %s required by spec.requiredUsages, not requested (requested: "
                        "%s%s)",
                        list, have, r->usages != 0 ? "" : ", the default");
}

int policy_evaluate(const struct policy *p, const struct policy_request *r, char *msg,
                    size_t msglen)
{
    struct policy_check_msg w = {.out = msg, .p = p};
    w.cap = msglen < POLICY_MAX_MESSAGE + 1 ? msglen : POLICY_MAX_MESSAGE + 1;
    if (msg == NULL)
        w.cap = 0;
    if (w.cap > 0)
        msg[0] = '\0';

    policy_check_selector(&w, p, r);
    policy_check_claimed_namespace(&w, p, r);
    policy_check_validity(&w, p, r);
    const struct csr *csr = r->csr;
    if (csr == NULL) {
        policy_check_begin(&w);
        policy_check_str(&w, "no CSR to evaluate");
    } else {
        policy_check_key_alg(&w, p, csr);
        policy_check_key_size(&w, p, csr);
        for (int f = POLICY_F_CN; f < POLICY_F_FIRST_SAN; f++)
            policy_check_field(&w, p, r, (enum policy_field)f,
                               (const struct strv *)((const char *)csr + policy_fields[f].off));
        policy_check_other_attrs(&w, p, r, csr);
        for (int f = POLICY_F_FIRST_SAN; f < POLICY_F_COUNT; f++)
            policy_check_field(&w, p, r, (enum policy_field)f,
                               (const struct strv *)((const char *)csr + policy_fields[f].off));
        policy_check_other_names(&w, p, r, csr);
    }
    bool req_ca = r->is_ca || (csr != NULL && csr->has_basic_constraints && csr->bc_is_ca);
    policy_check_usages(&w, p, r, req_ca);
    policy_check_required_usages(&w, p, r, req_ca);
    if (req_ca && !p->is_ca) {
        policy_check_begin(&w);
        policy_check_str(&w, "isCA not allowed (spec.isCA is false)");
    }
    if (req_ca && p->is_ca && csr != NULL) {
        struct strv items = {0};
        policy_ca_check(p, csr, &items);
        for (size_t i = 0; i < items.n; i++) {
            policy_check_begin(&w);
            policy_check_str(&w, items.v[i]);
        }
        strv_free(&items);
    }
    policy_check_finish(&w);
    return w.n;
}

long long policy_validity(const struct policy *p, long long requested_s)
{
    if (requested_s <= 0)
        return p->default_s > 0 ? p->default_s : p->max_s;
    return requested_s < p->max_s ? requested_s : p->max_s;
}
