/* policy_priv.h -- what the files of an IssuancePolicy share: the loaded policy's struct, its
 * rules and fields, and the helpers one file gives the others. Only decide/policy*.c include
 * it; everyone else uses policy.h. */
#ifndef EMBER_POLICY_PRIV_H
#define EMBER_POLICY_PRIV_H

#include "base/cidr.h"
#include "base/err.h"
#include "base/jsonfield.h"
#include "base/strv.h"
#include "decide/policy.h"
#include "x509/usage.h"

#include <cjson/cJSON.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

/* Keys and names echoed in error messages are cut to this many bytes. */
#define POLICY_KEY_ECHO 64

enum policy_rule_kind { POLICY_RULE_FORBIDDEN, POLICY_RULE_OPTIONAL, POLICY_RULE_REQUIRED };

/* The request's own values an `allowed` regex may name as ${...} (policy_vars.c). */
enum policy_var { POLICY_VAR_NAMESPACE, POLICY_VAR_SA, POLICY_VAR_SA_NAMESPACE, POLICY_VAR_COUNT };
#define POLICY_VAR_BIT(v) (1u << (v))

struct policy_vars_template; /* policy_vars.c */

/* One `allowed` regex, compiled: without variables the anchored regex itself, with variables a
 * template whose expansions are compiled on first use and cached (policy_pattern_match). */
struct policy_pattern {
    bool has_re;
    regex_t re;                       /* anchored "^(...)$" when has_re */
    struct policy_vars_template *tpl; /* NULL: no variables */
};

/* One subject attribute's or SAN type's rule. */
struct policy_rule {
    enum policy_rule_kind kind;
    long long min;
    long long max; /* < 0: no bound */
    bool any;      /* no `allowed` list: any value */
    struct policy_pattern *pat;
    size_t n_pat;
    struct cidr *cidr; /* ipAddresses only */
    size_t n_cidr;
};

/* Subject attributes then SAN types, in the order violations are reported. */
enum policy_field {
    POLICY_F_CN,
    POLICY_F_O,
    POLICY_F_OU,
    POLICY_F_C,
    POLICY_F_ST,
    POLICY_F_L,
    POLICY_F_STREET,
    POLICY_F_POSTAL,
    POLICY_F_SERIAL,
    POLICY_F_DNS,
    POLICY_F_IP,
    POLICY_F_URI,
    POLICY_F_EMAIL,
    POLICY_F_COUNT
};
#define POLICY_F_FIRST_SAN POLICY_F_DNS

/* Where each field sits: spec.<group>.<name>, and the struct strv of its values in a CSR. */
struct policy_field_info {
    const char *group;
    const char *name;
    size_t off; /* of the struct strv in struct csr */
};
extern const struct policy_field_info policy_fields[POLICY_F_COUNT];

/* The kinds of a spec.ca.nameConstraints list (cert-manager's names: policy_ca.c). */
enum policy_nc_kind {
    POLICY_NC_DNS,
    POLICY_NC_IP,
    POLICY_NC_EMAIL,
    POLICY_NC_URI,
    POLICY_NC_KINDS
};

/* spec.ca.nameConstraints.permitted or .excluded: each kind's entries as written (IP ranges as
 * CIDR text); a kind without entries is absent. */
struct policy_nc_list {
    struct strv v[POLICY_NC_KINDS];
};

/* spec.ca (policy_ca.c): only with isCA. */
struct policy_ca {
    bool has_max_path_len;
    long max_path_len; /* 0 .. CSR_MAX_PATH_LEN */
    bool has_nc;       /* spec.ca.nameConstraints given */
    bool nc_required;
    struct policy_nc_list permitted, excluded;
};

/* spec.sans.otherNames.allowed[i]: an otherName type OID and a pattern for its value. */
struct policy_other_name {
    char *oid; /* dotted */
    struct policy_pattern pat;
};

/* spec.subject.otherAttributes[i]: the rule for one subject attribute, by OID. */
struct policy_other_attr {
    char *oid;   /* dotted, unique within the list */
    char *label; /* "subject 2.5.4.12 (title)": what messages call it */
    struct policy_rule rule;
};

/* spec.selector.namespaceSelector (policy_labels.c): a Kubernetes LabelSelector. */
enum policy_label_op {
    POLICY_LABEL_IN,
    POLICY_LABEL_NOT_IN,
    POLICY_LABEL_EXISTS,
    POLICY_LABEL_DOES_NOT_EXIST
};
struct policy_label_expr {
    char *key;
    enum policy_label_op op;
    struct strv values;
};
struct policy_label_sel {
    struct strv keys, values; /* matchLabels, same index */
    struct policy_label_expr *exprs;
    size_t n_exprs;
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
    struct policy_rule rules[POLICY_F_COUNT];
    /* spec.sans.otherNames: kind, min, max and `any` in other_names_rule (its re unused);
     * its allowed entries in other_names. */
    struct policy_rule other_names_rule;
    struct policy_other_name *other_names;
    size_t n_other_names;
    struct policy_other_attr *other_attrs; /* spec.subject.otherAttributes, in policy order */
    size_t n_other_attrs;
    usage_set usages;
    bool is_ca;
    unsigned vars; /* POLICY_VAR_BIT()s of the variables its patterns use */
    struct policy_ca ca;
    /* issue 14 section 4: the smaller constraints */
    long long min_s;                 /* spec.validity.min; 0: none */
    int rsa_min_bits, rsa_max_bits;  /* spec.keySizes.rsa; 0: no bound */
    usage_set required_usages;       /* spec.requiredUsages; 0: none */
    struct policy_label_sel *ns_sel; /* spec.selector.namespaceSelector, or NULL */
};

/* policy.c: true when name is a key algorithm Ember signs (RSA_2048..RSA_16384, EC_*). */
bool policy_key_alg_supported(const char *name);

/* policy.c: a rule's kind, min and max at j (path names it), checked together; and its
 * `allowed` list (CIDRs when is_ip, else regexes within *budget). Shared with policy_oid.c. */
int policy_parse_bounds(const cJSON *j, const char *path, struct policy_rule *r,
                        struct err *err) WUR;
int policy_parse_allowed(const cJSON *j, const char *path, bool is_ip, struct policy_rule *r,
                         long long *budget, unsigned *vars, struct err *err) WUR;
void policy_rule_free(struct policy_rule *r);

/* policy_oid.c: spec.sans.otherNames (j: its object, or NULL) and spec.subject.otherAttributes
 * (j: its list, or NULL) into p; 0, or -1 with ERR_INVALID naming the field path. */
int policy_parse_other_names(const cJSON *j, struct policy *p, long long *budget,
                             struct err *err) WUR;
int policy_parse_other_attrs(const cJSON *j, struct policy *p, long long *budget,
                             struct err *err) WUR;
/* "subject OID (shortName)", or "subject OID" when OpenSSL has no name for it, into buf. */
void policy_oid_label(const char *oid, char *buf, size_t len);
/* Frees what the two above filled in p. */
void policy_oid_free(struct policy *p);
/* True when the otherName (oid, value) of request r matches one of spec.sans.otherNames.allowed
 * (its ${namespace}-style variables expanded from r). */
bool policy_other_name_allowed(const struct policy *p, const struct policy_request *r,
                               const char *oid, const char *value);

/* policy_regex.c: compiles one `allowed` regex anchored as "^(pat)$" into out, after checking
 * its cost against POLICY_MAX_REGEX_COST and what is left of *budget (which it lowers).
 * Returns 0, or -1 with ERR_INVALID naming path. */
int policy_regex_compile(const char *pat, const char *path, regex_t *out, long long *budget,
                         struct err *err) WUR;
/* policy_regex.c: the end of the bracket expression that starts at p[i] ('['): the index of
 * its ']', or of its last byte when it is not closed. */
size_t policy_regex_bracket_end(const char *p, size_t i);
/* The same for a regex costed and compiled as pat but named as shown in errors (a template's
 * expansion, named by the template). */
int policy_regex_compile_as(const char *pat, const char *shown, const char *path, regex_t *out,
                            long long *budget, struct err *err) WUR;

/* policy_vars.c: compiles one `allowed` regex into out. A regex with ${namespace},
 * ${serviceAccount} or ${serviceAccountNamespace} is a template: checked at load with each
 * variable at its longest value (cost against POLICY_MAX_REGEX_COST and *budget, syntax by a
 * test compile), its variables ORed into *vars. Any other "${" (unknown name, not closed,
 * inside a bracket expression) is ERR_INVALID naming path. A regex without variables is
 * policy_regex_compile. Returns 0, or -1 (out then needs no policy_pattern_free). */
int policy_pattern_compile(const char *pat, const char *path, struct policy_pattern *out,
                           long long *budget, unsigned *vars, struct err *err) WUR;
/* True when value matches pt for request r: a template is expanded with r's values
 * (namespace, service_account, service_account_namespace), each quoted so that it matches
 * itself; a variable without a value (NULL, empty, or longer than any Kubernetes name) makes
 * the template match nothing. Expansions are compiled once and cached per template (a bounded
 * cache). Thread-safe. */
bool policy_pattern_match(const struct policy_pattern *pt, const struct policy_request *r,
                          const char *value);
/* Frees what pt holds (its cache included); safe on a zeroed pattern. */
void policy_pattern_free(struct policy_pattern *pt);

/* policy_ca.c: reads spec.ca of spec into out (is_ca: spec.isCA, which it requires). Returns
 * 0, or -1 with ERR_INVALID naming the field. */
int policy_ca_parse(const cJSON *spec, bool is_ca, struct policy_ca *out, struct err *err) WUR;
void policy_ca_free(struct policy_ca *ca);
/* True when l has no entry of any kind. */
bool policy_ca_list_empty(const struct policy_nc_list *l);
/* True when the requested name constraint r (of kind k) lies within the constraint p: every name
 * r admits, p admits (RFC 5280 4.2.1.10, read as strictly as any verifier does). */
bool policy_ca_within(enum policy_nc_kind k, const char *r, const char *p);
/* The violations of spec.ca by a CA request's csr, one new string each (pushed onto items, in
 * the order policy_evaluate reports them: maxPathLen, then nameConstraints: required, each
 * kind's permitted, each kind's excluded). */
void policy_ca_check(const struct policy *p, const struct csr *csr, struct strv *items);

/* policy_labels.c: spec.selector.namespaceSelector (sel, an object) into *out (free it with
 * policy_labels_free), validated as Kubernetes validates a LabelSelector. Returns 0, or -1 with
 * ERR_INVALID naming the field. */
int policy_labels_parse(const cJSON *sel, struct policy_label_sel **out, struct err *err) WUR;
/* Whether labels ("key=value" strings) satisfy s, with Kubernetes' semantics. */
bool policy_labels_match(const struct policy_label_sel *s, const struct strv *labels);
void policy_labels_free(struct policy_label_sel *s);

#endif
